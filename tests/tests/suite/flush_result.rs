//! What `flush` returns: `true` only when everything captured was delivered,
//! `false` when something was given up on or the deadline came first.

use std::time::Duration;

use telemetry_runtime::{DropReason, Telemetry, TelemetryEvent};
use telemetry_tests::{posthog_sink, Behaviour, Sandbox, TestServer, SOON};

/// A job finished.
#[derive(TelemetryEvent)]
struct JobFinished {
    /// How many attempts it took.
    attempts: u32,
}

#[test]
fn flush_is_false_when_events_were_given_up_on_and_true_once_all_is_delivered() {
    let server = TestServer::start();
    server.script([Behaviour::Status(400), Behaviour::Status(200)]);
    let sandbox = Sandbox::new();
    let telemetry =
        Telemetry::new(sandbox.config().sink(posthog_sink(&server)).delivery(telemetry_tests::on_flush))
            .unwrap();
    telemetry.capture(&JobFinished { attempts: 1 });
    assert!(!telemetry.flush(SOON), "a rejected event was not delivered");
    assert_eq!(telemetry.stats().dropped(DropReason::Rejected), 1);
    // What was given up on is reported once: the next flush is about what
    // was captured since.
    telemetry.capture(&JobFinished { attempts: 2 });
    assert!(telemetry.flush(SOON), "the second event was delivered");
    assert!(telemetry.flush(SOON), "nothing new to deliver");
    assert_eq!(telemetry.stats().sent, 1);
}

#[test]
fn flush_is_false_when_the_deadline_comes_first() {
    let server = TestServer::start();
    server.set_default(Behaviour::Hang);
    let sandbox = Sandbox::new();
    let sink = posthog_sink(&server).http(|h| telemetry_runtime::sink::HttpOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(60),
        ..h
    });
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    telemetry.capture(&JobFinished { attempts: 1 });
    assert!(!telemetry.flush(Duration::from_millis(200)));
    assert_eq!(telemetry.stats().dropped_total(), 0, "nothing was given up on yet");
}

/// "Each call's result describes its own outcome": two flushes running at
/// once while an event is refused both answer `false`. (Before, they shared
/// one record of the drops seen, and the second to return missed the drop
/// the first had taken for itself.)
#[test]
fn flushes_running_at_once_each_see_the_drops_of_their_time() {
    let server = TestServer::start();
    // The refusal takes about a second to arrive: both flushes wait for it.
    server.script([Behaviour::Slow(400, Duration::from_millis(10))]);
    let sandbox = Sandbox::new();
    let telemetry =
        Telemetry::new(sandbox.config().sink(posthog_sink(&server)).delivery(telemetry_tests::on_flush))
            .unwrap();
    telemetry.capture(&JobFinished { attempts: 1 });
    let flushing = || {
        let telemetry = telemetry.clone();
        std::thread::spawn(move || telemetry.flush(SOON))
    };
    let first = flushing();
    assert!(server.wait_for_requests(1, SOON), "the request is on its way");
    let second = flushing();
    let (first, second) = (first.join().unwrap(), second.join().unwrap());
    assert_eq!(telemetry.stats().dropped(DropReason::Rejected), 1, "the event was refused");
    assert!(!first && !second, "a flush missed the refusal: first {first}, second {second}");
    assert!(telemetry.flush(SOON), "the next flush is about what came since");
}
