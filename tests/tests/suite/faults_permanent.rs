//! Permanent faults: the endpoint refuses (400) or stays unreachable past the
//! retry budget. Events are dropped and counted by reason, nothing is kept
//! (memory stays bounded by the queue), and the application goes on: later
//! events are delivered once the endpoint is back.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use telemetry_runtime::sink::PostHogSink;
use telemetry_runtime::{DropReason, Properties, Stats, Telemetry};
use telemetry_tests::{posthog_sink, Behaviour, Gate, Sandbox, TestServer, API_KEY, SOON};

telemetry_runtime::event! {
    /// Holds the worker in a first, accepted request.
    static WARM_UP = "warm_up" {}
}

telemetry_runtime::event! {
    /// Refused by the endpoint for good.
    static REFUSED = "refused" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// Captured once the endpoint accepts again.
    static ACCEPTED_LATER = "accepted_later" {}
}

telemetry_runtime::event! {
    /// Sent to a port where nothing listens.
    static NOWHERE = "nowhere" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// One of many events captured during a long outage.
    static OUTAGE = "outage" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// Sent to an endpoint that always answers 429.
    static THROTTLED = "throttled" {}
}

telemetry_runtime::event! {
    /// Sent to a server that resets every connection.
    static RESET_FOREVER = "reset_forever" {}
}

telemetry_runtime::event! {
    /// Sent in a request that cannot be made.
    static UNSENDABLE = "unsendable" {
        /// Its number.
        i: u64,
    }
}

/// Events the client accepted and has not yet delivered or given up on.
/// Every drop reason except `QueueFull` and `Invalid` is for an event that
/// was captured first (those two are counted instead of being captured).
fn in_flight(stats: &Stats) -> i128 {
    let captured_then_dropped =
        stats.dropped_total() - stats.dropped(DropReason::QueueFull) - stats.dropped(DropReason::Invalid);
    i128::from(stats.captured) - i128::from(stats.sent) - i128::from(captured_then_dropped)
}

/// A port with nothing listening (it was free a moment ago).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_400_drops_each_batch_once_as_rejected_and_later_events_still_go_out() {
    let server = TestServer::start();
    let gate = Gate::new();
    server.script([Behaviour::Gate(gate.clone())]).set_default(Behaviour::Status(400));
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server)).delivery(|d| {
        telemetry_runtime::Delivery { batch_size: 10, max_batch_size: 10, ..telemetry_tests::on_flush(d) }
    }))
    .unwrap();
    // Hold the worker in a first (accepted) request so that the 50 events
    // queue up together and go as five batches, whatever the thread timing.
    telemetry.capture_with(&WARM_UP, Properties::new());
    assert!(!telemetry.flush(Duration::ZERO));
    assert!(server.wait_for_requests(1, SOON));
    for i in 0..50u32 {
        telemetry.capture_with(&REFUSED, Properties::new().with("i", i));
    }
    gate.open();
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!(stats.dropped(DropReason::Rejected), 50, "{stats:?}");
    assert_eq!((stats.sent, stats.retried, stats.failed), (1, 0, 5), "one request per batch: {stats:?}");
    assert_eq!(server.requests().len(), 6, "a 400 is never retried");
    assert_eq!(in_flight(&stats), 0, "nothing is kept after a refusal: {stats:?}");

    // The application keeps running and the client keeps working.
    server.set_default(Behaviour::Status(200));
    telemetry.capture_with(&ACCEPTED_LATER, Properties::new());
    assert!(telemetry.flush(SOON));
    let accepted: Vec<String> =
        server.accepted_events().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(accepted, ["warm_up", "accepted_later"]);
    assert_eq!(telemetry.stats().sent, 2);
}

#[test]
fn an_endpoint_down_past_the_budget_drops_as_undeliverable_within_the_budget() {
    let port = closed_port();
    let sink = PostHogSink::new(API_KEY)
        .unwrap()
        .host(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .http(|h| telemetry_runtime::sink::HttpOptions {
            backoff_base: Duration::from_millis(20),
            max_retries: 3,
            ..h
        })
        .http(|h| telemetry_runtime::sink::HttpOptions {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            ..h
        });
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(sink).delivery(|d| telemetry_runtime::Delivery {
        batch_size: 10,
        max_batch_size: 10,
        ..telemetry_tests::on_flush(d)
    }))
    .unwrap();
    for i in 0..20u32 {
        telemetry.capture_with(&NOWHERE, Properties::new().with("i", i));
    }
    let started = Instant::now();
    assert!(!telemetry.flush(SOON), "events were given up on");
    let took = started.elapsed();
    let stats = telemetry.stats();
    assert_eq!(stats.dropped(DropReason::Undeliverable), 20, "{stats:?}");
    // Every request made 4 attempts (3 retries). The 20 events go as two
    // requests of 10, or as three when the worker wakes while some are
    // still being captured (10 + the rest of what it took, then the others).
    let requests = stats.failed / 4;
    assert!((2..=3).contains(&requests), "{stats:?}");
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 3 * requests, 4 * requests), "{stats:?}");
    assert_eq!(in_flight(&stats), 0, "{stats:?}");
    // At most three requests of three backoff waits of at most 20+40+80 ms,
    // no timeouts.
    eprintln!("two batches against a closed port gave up after {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_long_outage_keeps_memory_bounded_by_the_queue_and_counts_every_event() {
    // Capture far more than the queue holds while every attempt fails.
    let port = closed_port();
    let sink = PostHogSink::new(API_KEY)
        .unwrap()
        .host(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .http(|h| telemetry_runtime::sink::HttpOptions { max_retries: 0, ..h })
        .http(|h| telemetry_runtime::sink::HttpOptions {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            ..h
        });
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(sink).delivery(|d| telemetry_runtime::Delivery {
        queue_capacity: 100,
        batch_size: 20,
        flush_interval: Duration::from_millis(10),
        ..d
    }))
    .unwrap();
    for i in 0..20_000u32 {
        telemetry.capture_with(&OUTAGE, Properties::new().with("i", i));
    }
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!(stats.captured + stats.dropped(DropReason::QueueFull), 20_000, "{stats:?}");
    assert_eq!(stats.sent, 0);
    assert_eq!(stats.dropped(DropReason::Undeliverable), stats.captured, "{stats:?}");
    assert_eq!(in_flight(&stats), 0, "{stats:?}");
}

#[test]
fn a_429_that_never_clears_is_undeliverable_after_the_budget() {
    let server = TestServer::start();
    server.set_default(Behaviour::Status(429));
    let sandbox = Sandbox::new();
    let sink = posthog_sink(&server).http(|h| telemetry_runtime::sink::HttpOptions {
        backoff_base: Duration::from_millis(10),
        max_retries: 2,
        ..h
    });
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    for _ in 0..3 {
        telemetry.capture_with(&THROTTLED, Properties::new());
    }
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!(server.requests().len(), 3, "one attempt, two retries");
    assert_eq!(stats.dropped(DropReason::Undeliverable), 3, "{stats:?}");
    assert_eq!(in_flight(&stats), 0);
}

#[test]
fn a_server_that_resets_every_connection_is_undeliverable_after_the_budget() {
    let server = TestServer::start();
    server.set_default(Behaviour::ResetMidBody);
    let sandbox = Sandbox::new();
    let sink = posthog_sink(&server).http(|h| telemetry_runtime::sink::HttpOptions {
        backoff_base: Duration::from_millis(10),
        max_retries: 2,
        ..h
    });
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    telemetry.capture_with(&RESET_FOREVER, Properties::new());
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!(server.requests().len(), 3);
    assert!(server.requests().iter().all(|r| !r.complete));
    assert_eq!(stats.dropped(DropReason::Undeliverable), 1, "{stats:?}");
}

#[test]
fn every_refusing_status_is_final_and_counted_rejected() {
    for status in [400, 401, 403, 404, 405, 410, 422] {
        let server = TestServer::start();
        server.set_default(Behaviour::Status(status));
        let sandbox = Sandbox::new();
        let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
        telemetry.capture_with(&REFUSED, Properties::new());
        assert!(!telemetry.flush(SOON), "events were given up on");
        let stats = telemetry.stats();
        assert_eq!(server.requests().len(), 1, "HTTP {status}");
        assert_eq!((stats.dropped(DropReason::Rejected), stats.retried), (1, 0), "HTTP {status}: {stats:?}");
    }
}
