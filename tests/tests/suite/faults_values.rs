//! Values from outside the program (a server's headers, the configuration)
//! are used with checked arithmetic: whatever they say, the worker neither
//! panics nor overflows a clock, and what it gives up on is counted.

use std::time::Duration;

use telemetry_runtime::sink::HttpSink;
use telemetry_runtime::{DropReason, Stats, Telemetry, TelemetryEvent};
use telemetry_tests::{posthog_sink, Behaviour, Sandbox, TestServer, SOON};

/// One step of work finished.
#[derive(TelemetryEvent)]
struct StepDone {
    /// Which step.
    step: u32,
}

fn deliver(telemetry: &Telemetry) -> Stats {
    telemetry.capture(&StepDone { step: 1 });
    let delivered = telemetry.flush(SOON);
    let stats = telemetry.stats();
    // `flush` says whether everything was delivered.
    assert_eq!(delivered, stats.dropped_total() == 0, "{stats:?}");
    stats
}

#[test]
fn a_retry_after_no_clock_can_hold_is_not_a_panic() {
    // (header value, whether the worker retries at once or gives up)
    let cases: [(&'static str, bool); 5] = [
        // A year the date forms cannot hold: no date, the backoff decides.
        ("Sun, 06 Nov 300000000000 08:49:37 GMT", true),
        ("Sun, 06 Nov 1994 08:49:37 GMT", true),
        // Valid, but longer than the policy's 60 s: given up at once.
        ("Fri, 31 Dec 9999 23:59:59 GMT", false),
        ("18446744073709551615", false),
        ("99999999999999999999999999999999", false),
    ];
    for (value, retried) in cases {
        let server = TestServer::start();
        server.script([Behaviour::StatusWithHeaders(429, vec![("Retry-After", value)])]);
        let sandbox = Sandbox::new();
        let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
        let stats = deliver(&telemetry);
        assert_eq!(
            stats.dropped(DropReason::SinkError),
            0,
            "Retry-After: {value}: the sink failed: {stats:?}"
        );
        if retried {
            assert_eq!((stats.sent, server.requests().len()), (1, 2), "Retry-After: {value}: {stats:?}");
        } else {
            assert_eq!(stats.dropped(DropReason::Undeliverable), 1, "Retry-After: {value}: {stats:?}");
            assert_eq!(server.requests().len(), 1, "Retry-After: {value}");
        }
    }
}

#[test]
fn timeouts_and_backoffs_of_any_length_deliver() {
    let server = TestServer::start();
    server.script([Behaviour::Status(503)]);
    let sandbox = Sandbox::new();
    let sink = HttpSink::new(format!("{}/ingest", server.url()))
        .unwrap()
        .http(|h| telemetry_runtime::sink::HttpOptions {
            connect_timeout: Duration::MAX,
            request_timeout: Duration::MAX,
            ..h
        })
        .http(|h| telemetry_runtime::sink::HttpOptions {
            backoff_cap: Duration::MAX,
            max_retry_after: Duration::MAX,
            ..telemetry_tests::fast(h)
        });
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    let stats = deliver(&telemetry);
    assert_eq!(stats.dropped(DropReason::SinkError), 0, "the sink failed: {stats:?}");
    assert_eq!((stats.sent, stats.retried), (1, 1), "{stats:?}");
}
