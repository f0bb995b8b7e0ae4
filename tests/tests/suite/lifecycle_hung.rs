//! Dropping the last handle while the endpoint never answers: the drop
//! returns within the shutdown deadline, and the worker thread, stuck in
//! its request, ends as soon as the request does (here: the server goes
//! away) instead of living on.

use std::time::{Duration, Instant};

use telemetry_runtime::{Telemetry, TelemetryEvent};
use telemetry_tests::{child, posthog_sink, wait_until, worker_threads, Behaviour, Sandbox, TestServer};

/// A task ran.
#[derive(TelemetryEvent)]
struct TaskRan {
    ok: bool,
}

#[test]
fn a_hung_endpoint_does_not_hold_the_drop_past_its_deadline() {
    child::isolated("lifecycle_hung::a_hung_endpoint_does_not_hold_the_drop_past_its_deadline", || {
        let server = TestServer::start();
        server.set_default(Behaviour::Hang);
        let sandbox = Sandbox::new();
        let deadline = Duration::from_millis(300);
        let telemetry = Telemetry::new(
            sandbox
                .config()
                .delivery(|d| telemetry_runtime::Delivery { shutdown_timeout: deadline, ..d })
                .sink(posthog_sink(&server)),
        )
        .unwrap();
        telemetry.capture(&TaskRan { ok: true });
        assert!(!telemetry.flush(Duration::from_millis(200)), "the endpoint never answers");
        assert!(server.wait_for_requests(1, Duration::from_secs(5)));
        assert!(
            wait_until(Duration::from_secs(5), || worker_threads().unwrap_or(1) == 1),
            "{:?} workers",
            worker_threads()
        );

        let started = Instant::now();
        drop(telemetry);
        let took = started.elapsed();
        assert!(took < deadline + Duration::from_millis(500), "the drop took {took:?}");

        // The worker is still in its request; once it ends, so does the thread.
        server.down();
        if worker_threads().is_some() {
            assert!(
                wait_until(Duration::from_secs(10), || worker_threads() == Some(0)),
                "the worker outlived its request"
            );
        }
    });
}

/// "Each call's result describes its own outcome": a shutdown whose
/// deadline cut events off answers `false`, and so does every later call,
/// at once or after the worker ended, since those events are gone; and a
/// call made while a first is still waiting answers by its own deadline.
/// (Before, every call after the first answered `true` at once.)
#[test]
fn a_later_shutdown_answers_for_the_whole_shutdown() {
    let server = TestServer::start();
    server.set_default(Behaviour::Hang);
    let sandbox = Sandbox::new();
    // The request ends (times out) 3 s after it started.
    let sink = posthog_sink(&server).http(|h| telemetry_runtime::sink::HttpOptions {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(3),
        ..h
    });
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    telemetry.capture(&TaskRan { ok: true });
    let _ = telemetry.flush(Duration::ZERO);
    assert!(server.wait_for_requests(1, Duration::from_secs(5)), "the worker is in its request");

    // A second call while the first still waits: its own, shorter, deadline.
    let first = {
        let telemetry = telemetry.clone();
        std::thread::spawn(move || telemetry.shutdown(Duration::from_millis(300)))
    };
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    assert!(!telemetry.shutdown(Duration::from_millis(100)), "the worker is still in its request");
    assert!(started.elapsed() < Duration::from_secs(2), "it kept its own deadline, not the worker's");
    assert!(!first.join().unwrap(), "the first call's deadline cut the event off");
    assert_eq!(telemetry.stats().dropped(telemetry_runtime::DropReason::Shutdown), 1);

    assert!(!telemetry.shutdown(Duration::ZERO), "a later call at once");
    // The request times out, the worker ends: the event is still lost.
    let started = Instant::now();
    assert!(!telemetry.shutdown(Duration::from_secs(20)), "a later call once the worker ended");
    assert!(started.elapsed() < Duration::from_secs(15), "it returned when the worker ended");
}

/// The positive control: a shutdown that delivered everything answers
/// `true`, and so does every later call.
#[test]
fn every_shutdown_after_a_complete_one_answers_true() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    telemetry.capture(&TaskRan { ok: true });
    assert!(telemetry.shutdown(Duration::from_secs(5)));
    assert!(telemetry.shutdown(Duration::ZERO));
    assert_eq!(server.accepted_events().len(), 1);
}
