//! Ending while the endpoint hangs: shutdown keeps its deadline, and every
//! event it could not deliver (in the unanswered request, or queued behind
//! it) is counted as dropped for `Shutdown` and named in one warning with
//! the deadline that expired. Nothing is lost silently.

use std::time::Duration;

use telemetry_runtime::{DropReason, Telemetry, TelemetryEvent};
use telemetry_tests::{logs, posthog_sink, Behaviour, Sandbox, TestServer, SOON};

/// A build step ran.
#[derive(TelemetryEvent)]
struct BuildStep {
    /// Its number.
    number: u32,
}

#[test]
fn events_behind_an_unanswered_request_are_counted_and_logged_at_exit() {
    logs::install();
    let server = TestServer::start();
    server.set_default(Behaviour::Hang);
    let sandbox = Sandbox::new();
    let sink = posthog_sink(&server).timeouts(Duration::from_secs(2), Duration::from_secs(60));
    let telemetry =
        Telemetry::new(sandbox.config().sink(sink).flush_interval(Duration::from_secs(120))).unwrap();
    telemetry.capture(&BuildStep { number: 0 });
    let _ = telemetry.flush(Duration::ZERO);
    assert!(server.wait_for_requests(1, SOON), "the worker is inside its request");
    for number in 1..=24 {
        telemetry.capture(&BuildStep { number });
    }

    assert!(!telemetry.shutdown(Duration::from_millis(300)), "the worker is still in its request");
    let stats = telemetry.stats();
    assert_eq!(stats.captured, 25, "{stats:?}");
    assert_eq!(stats.sent, 0, "{stats:?}");
    assert_eq!(stats.dropped(DropReason::Shutdown), 25, "one in the request, 24 behind it: {stats:?}");
    let warned = logs::containing("events not delivered");
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].message.contains("25 events") && warned[0].message.contains("300ms"), "{warned:?}");

    // The counters are final: a worker that stays stuck changes nothing.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(telemetry.stats(), stats);
}

#[test]
fn a_shutdown_in_time_counts_nothing_extra_and_logs_nothing() {
    logs::install();
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    for number in 0..5 {
        telemetry.capture(&BuildStep { number });
    }
    assert!(telemetry.shutdown(SOON));
    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped_total()), (5, 0), "{stats:?}");
}

/// A CLI that ends with `std::process::exit` never drops its guard: with
/// `telemetry_runtime::exit` instead, what it captured is delivered within
/// the shutdown deadline and the exit code is the one asked for. The
/// control: `std::process::exit` itself loses the event.
#[test]
fn exit_delivers_what_was_captured_and_ends_with_the_code_asked_for() {
    use telemetry_tests::child;
    if let Some(mode) = child::mode() {
        let url = std::env::var("EXIT_TEST_URL").unwrap();
        let dir = std::env::var("EXIT_TEST_DIR").unwrap();
        let sink = telemetry_runtime::sink::PostHogSink::new(telemetry_tests::API_KEY)
            .and_then(|sink| sink.host(&url))
            .unwrap();
        let config = Sandbox::spooling_config_in(std::path::Path::new(&dir))
            .spool(false)
            .sink(sink)
            .flush_interval(Duration::from_secs(120))
            .shutdown_timeout(Duration::from_secs(5));
        let _guard = telemetry_runtime::init(config).unwrap();
        telemetry_runtime::capture(&BuildStep { number: 7 });
        match mode.as_str() {
            "library" => telemetry_runtime::exit(3),
            _ => std::process::exit(3),
        }
    }
    for (mode, delivered) in [("library", 1), ("std", 0)] {
        let server = TestServer::start();
        let sandbox = Sandbox::new();
        let envs =
            [("EXIT_TEST_URL", &*child::os(server.url())), ("EXIT_TEST_DIR", &*child::os(sandbox.path()))];
        let test = "exit_delivers_what_was_captured_and_ends_with_the_code_asked_for";
        let output = child::run(test, mode, &envs, Duration::from_secs(30));
        assert_eq!(output.status.and_then(|s| s.code()), Some(3), "{mode}: {output:?}");
        assert_eq!(server.accepted_events().len(), delivered, "{mode}");
    }
}
