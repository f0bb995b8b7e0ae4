//! Dropping the last handle while the endpoint never answers: the drop
//! returns within the shutdown deadline, and the worker thread, stuck in
//! its request, ends as soon as the request does (here: the server goes
//! away) instead of living on.

use std::time::{Duration, Instant};

use telemetry_runtime::{Telemetry, TelemetryEvent};
use telemetry_tests::{posthog_sink, wait_until, worker_threads, Behaviour, Sandbox, TestServer};

/// A task ran.
#[derive(TelemetryEvent)]
struct TaskRan {
    ok: bool,
}

#[test]
fn a_hung_endpoint_does_not_hold_the_drop_past_its_deadline() {
    let server = TestServer::start();
    server.set_default(Behaviour::Hang);
    let sandbox = Sandbox::new();
    let deadline = Duration::from_millis(300);
    let telemetry =
        Telemetry::new(sandbox.config().shutdown_timeout(deadline).sink(posthog_sink(&server))).unwrap();
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
}
