//! Delivery when the server says no: which answers are retried, how long the
//! client waits, what is resent, and how every lost event is counted.

use std::collections::HashSet;
use std::net::TcpListener;
use std::time::Duration;

use telemetry_runtime::sink::PostHogSink;
use telemetry_runtime::{DropReason, Properties, Stats, Telemetry, Value};
use telemetry_tests::{posthog_sink, Behaviour, Request, Sandbox, TestServer, API_KEY, SOON};

telemetry_runtime::event! {
    /// Delivered through the retry policy.
    static RETRY_TEST = "retry_test" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// Sent to a port where nothing listens.
    static NOWHERE = "sent_nowhere" {}
}

telemetry_runtime::event! {
    /// One of eight events in a batch the server finds too large.
    static SPLIT_ME = "split_me" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// A small event.
    static SMALL = "small" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// An event larger than the server accepts.
    static HUGE = "huge" {
        /// Filler text.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        blob: String,
    }
}

telemetry_runtime::event! {
    /// One of four events in a batch that is split.
    static HALF = "half" {}
}

telemetry_runtime::event! {
    /// An event within the size limit.
    static FITS = "fits" {}
}

telemetry_runtime::event! {
    /// An event over the client's size limit.
    static TOO_BIG = "too_big" {
        /// Filler text.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        blob: String,
    }
}

telemetry_runtime::event! {
    /// One of several events spread over size-bounded requests.
    static BOUNDED = "bounded" {
        /// Its number.
        i: u64,
    }
}

/// A client sending to `server` with `sink`, `events` captured and flushed.
fn deliver(server: &TestServer, sink: PostHogSink, events: usize) -> (Stats, Vec<Request>) {
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    for i in 0..events {
        telemetry.capture_with(&RETRY_TEST, Properties::new().with("i", i));
    }
    let delivered = telemetry.flush(SOON);
    let stats = telemetry.stats();
    // `flush` says whether everything was delivered.
    assert_eq!(delivered, stats.dropped_total() == 0, "{stats:?}");
    (stats, server.requests())
}

/// Every request carries the same events, byte for byte.
fn assert_same_events(requests: &[Request]) {
    let first = requests[0].json()["batch"].clone();
    assert!(!first.as_array().unwrap().is_empty());
    for request in requests {
        assert_eq!(request.json()["batch"], first, "events changed between attempts");
    }
}

#[test]
fn a_500_is_retried_and_the_batch_delivered_once() {
    let server = TestServer::start();
    server.script([Behaviour::Status(500)]);
    let (stats, requests) = deliver(&server, posthog_sink(&server), 3);
    assert_eq!(requests.len(), 2);
    assert_eq!(requests.iter().map(|r| r.status).collect::<Vec<_>>(), [Some(500), Some(200)]);
    // uuid and timestamp are fixed at capture: the server can de-duplicate.
    assert_same_events(&requests);
    assert_eq!(stats.sent, 3);
    assert!(stats.retried >= 1, "{stats:?}");
    assert_eq!(stats.failed, 1);
    assert_eq!(stats.dropped_total(), 0);
}

#[test]
fn retryable_statuses_are_retried() {
    for status in [408, 429, 500, 502, 503, 504] {
        let server = TestServer::start();
        server.script([Behaviour::Status(status)]);
        let (stats, requests) = deliver(&server, posthog_sink(&server), 1);
        assert_eq!(requests.len(), 2, "HTTP {status} is retried once, then succeeds");
        assert_same_events(&requests);
        assert_eq!((stats.sent, stats.retried, stats.dropped_total()), (1, 1, 0), "HTTP {status}: {stats:?}");
    }
}

#[test]
fn other_client_errors_are_not_retried() {
    for status in [400, 401, 403, 404, 422] {
        let server = TestServer::start();
        server.set_default(Behaviour::Status(status));
        let (stats, requests) = deliver(&server, posthog_sink(&server), 4);
        assert_eq!(requests.len(), 1, "HTTP {status} is final");
        assert_eq!(stats.sent, 0);
        assert_eq!(stats.retried, 0);
        assert_eq!(stats.dropped(DropReason::Rejected), 4, "HTTP {status}: {stats:?}");
        assert_eq!(stats.dropped_total(), 4);
    }
}

#[test]
fn retry_after_is_a_minimum_wait() {
    let server = TestServer::start();
    server.script([Behaviour::StatusWithHeaders(429, vec![("Retry-After", "1")])]);
    let (stats, requests) = deliver(&server, posthog_sink(&server), 1);
    assert_eq!(requests.len(), 2);
    // The backoff alone would wait 10-20 ms; the server asked for a second.
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    assert_same_events(&requests);
    assert_eq!(stats.sent, 1);
}

#[test]
fn a_retry_after_beyond_the_policy_gives_up_at_once() {
    let server = TestServer::start();
    server.script([Behaviour::StatusWithHeaders(503, vec![("Retry-After", "3600")])]);
    let (stats, requests) = deliver(&server, posthog_sink(&server), 2);
    assert_eq!(requests.len(), 1, "an hour's wait is not held on the worker");
    assert_eq!(stats.dropped(DropReason::Undeliverable), 2);
}

#[test]
fn exhausted_retries_drop_the_batch_as_undeliverable() {
    let server = TestServer::start();
    server.set_default(Behaviour::Status(503));
    let sink = posthog_sink(&server)
        .http(|h| telemetry_runtime::sink::HttpOptions { max_retries: 2, ..telemetry_tests::fast(h) });
    let (stats, requests) = deliver(&server, sink, 5);
    assert_eq!(requests.len(), 3, "one attempt and two retries");
    assert_same_events(&requests);
    assert_eq!(stats.sent, 0);
    assert_eq!(stats.retried, 2);
    assert_eq!(stats.failed, 3);
    assert_eq!(stats.dropped(DropReason::Undeliverable), 5);
    assert_eq!(stats.dropped_total(), 5);
}

#[test]
fn default_policy_makes_four_attempts() {
    let server = TestServer::start();
    server.set_default(Behaviour::Status(500));
    // The default policy with a fast base: 3 retries, four requests in all.
    let sink = PostHogSink::new(API_KEY)
        .unwrap()
        .host(&server.url())
        .unwrap()
        .http(|h| telemetry_runtime::sink::HttpOptions { backoff_base: Duration::from_millis(10), ..h });
    let (stats, requests) = deliver(&server, sink, 1);
    assert_eq!(requests.len(), 4);
    assert_eq!(stats.dropped(DropReason::Undeliverable), 1);
}

#[test]
fn zero_retries_means_one_attempt() {
    let server = TestServer::start();
    server.set_default(Behaviour::Status(500));
    let (stats, requests) = deliver(
        &server,
        posthog_sink(&server).http(|h| telemetry_runtime::sink::HttpOptions { max_retries: 0, ..h }),
        1,
    );
    assert_eq!(requests.len(), 1);
    assert_eq!(stats.retried, 0);
    assert_eq!(stats.dropped(DropReason::Undeliverable), 1);
}

#[test]
fn a_connection_closed_without_answer_is_retried() {
    let server = TestServer::start();
    server.script([Behaviour::Close]);
    let (stats, requests) = deliver(&server, posthog_sink(&server), 2);
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].status, Some(200));
    assert_same_events(&requests);
    assert_eq!(stats.sent, 2);
    assert!(stats.retried >= 1, "{stats:?}");
    assert_eq!(server.accepted_uuids().len(), 2);
}

#[test]
fn an_unreachable_server_is_retried_then_counted_undeliverable() {
    // A port that was just free: connections are refused.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sink = PostHogSink::new(API_KEY)
        .unwrap()
        .host(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .http(|h| telemetry_runtime::sink::HttpOptions { max_retries: 2, ..telemetry_tests::fast(h) })
        .http(|h| telemetry_runtime::sink::HttpOptions {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            ..h
        });
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    telemetry.capture_with(&NOWHERE, Properties::new());
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!((stats.retried, stats.failed), (2, 3), "{stats:?}");
    assert_eq!(stats.dropped(DropReason::Undeliverable), 1);
}

#[test]
fn a_batch_answered_413_is_split_until_it_fits() {
    let server = TestServer::start();
    // Room for two events of about 330 bytes per request, not for eight.
    server.reject_bodies_over(1000);
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    let mut captured = HashSet::new();
    for i in 0..8 {
        telemetry.capture_with(&SPLIT_ME, Properties::new().with("i", i));
    }
    assert!(telemetry.flush(SOON));
    for request in server.requests() {
        captured.extend(request.event_uuids());
        if request.accepted() {
            assert!(request.body.len() <= 1000);
        } else {
            assert_eq!(request.status, Some(413));
        }
    }
    let delivered = server.accepted_uuids();
    assert_eq!(delivered.len(), 8, "every event delivered exactly once");
    assert_eq!(delivered.iter().collect::<HashSet<_>>().len(), 8);
    assert_eq!(captured.len(), 8);
    assert_eq!(server.requests()[0].status, Some(413), "the whole batch was tried first");
    let stats = telemetry.stats();
    assert_eq!(stats.sent, 8);
    assert_eq!(stats.dropped_total(), 0);
}

#[test]
fn a_single_event_answered_413_is_dropped_and_the_others_delivered() {
    let server = TestServer::start();
    server.reject_bodies_over(2000);
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    telemetry.capture_with(&SMALL, Properties::new().with("i", 0u8));
    telemetry.capture_with(&HUGE, Properties::new().with("blob", Value::Text("x".repeat(5000).into())));
    telemetry.capture_with(&SMALL, Properties::new().with("i", 1u8));
    telemetry.capture_with(&SMALL, Properties::new().with("i", 2u8));
    assert!(!telemetry.flush(SOON), "events were given up on");

    let delivered = server.accepted_events();
    let mut names: Vec<&str> = delivered.iter().map(|e| e["event"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["small", "small", "small"]);
    let stats = telemetry.stats();
    assert_eq!(stats.dropped(DropReason::Oversized), 1);
    assert_eq!(stats.sent, 3);
    assert_eq!(stats.dropped_total(), 1);
    // The lone oversized event was tried once on its own, not retried.
    let alone: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.events().len() == 1 && r.events()[0]["event"] == "huge")
        .collect();
    assert_eq!(alone.len(), 1);
}

#[test]
fn a_413_batch_split_still_retries_each_half() {
    let server = TestServer::start();
    // First the whole batch is too large, then the first half meets a 503.
    server.script([Behaviour::Status(413), Behaviour::Status(503)]);
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    for _ in 0..4 {
        telemetry.capture_with(&HALF, Properties::new());
    }
    assert!(telemetry.flush(SOON));
    let sizes: Vec<(usize, Option<u16>)> =
        server.requests().iter().map(|r| (r.events().len(), r.status)).collect();
    assert_eq!(sizes, [(4, Some(413)), (2, Some(503)), (2, Some(200)), (2, Some(200))]);
    assert_eq!(server.accepted_uuids().iter().collect::<HashSet<_>>().len(), 4);
    assert_eq!(telemetry.stats().sent, 4);
}

#[test]
fn events_over_max_event_bytes_are_dropped_before_sending() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(posthog_sink(&server))
            .delivery(|d| telemetry_runtime::Delivery { max_event_bytes: 1024, ..d }),
    )
    .unwrap();
    telemetry.capture_with(&FITS, Properties::new());
    telemetry.capture_with(&TOO_BIG, Properties::new().with("blob", Value::Text("y".repeat(2000).into())));
    assert!(!telemetry.flush(SOON), "events were given up on");
    let delivered = server.accepted_events();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["event"], "fits");
    assert!(server.requests().iter().all(|r| r.events().iter().all(|e| e["event"] != "too_big")));
    assert_eq!(telemetry.stats().dropped(DropReason::Oversized), 1);
}

#[test]
fn max_request_bytes_splits_a_batch_into_several_requests() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(
        posthog_sink(&server).http(|h| telemetry_runtime::sink::HttpOptions { max_request_bytes: 1500, ..h }),
    ))
    .unwrap();
    for i in 0..12 {
        telemetry.capture_with(&BOUNDED, Properties::new().with("i", i));
    }
    assert!(telemetry.flush(SOON));
    let requests = server.requests();
    assert!(requests.len() > 1, "12 events of ~330 bytes do not fit in 1500 bytes");
    assert!(requests.iter().all(|r| r.accepted()));
    assert_eq!(server.accepted_uuids().iter().collect::<HashSet<_>>().len(), 12);
}

#[test]
fn request_bodies_never_exceed_max_request_bytes() {
    // Measure one event as serialized (every event below has the same size),
    // then allow exactly three per request by the events' own bytes.
    let memory = telemetry_runtime::testing::MemorySink::new();
    let sandbox = Sandbox::new();
    let probe = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
    probe.capture_with(&BOUNDED, Properties::new().with("i", 7u8));
    assert!(probe.flush(SOON));
    let event_len = memory.raw()[0].len();
    let limit = 3 * (event_len + 1);

    let server = TestServer::start();
    let telemetry = Telemetry::new(
        sandbox.config().sink(
            posthog_sink(&server)
                .http(|h| telemetry_runtime::sink::HttpOptions { max_request_bytes: limit, ..h }),
        ),
    )
    .unwrap();
    for _ in 0..6 {
        telemetry.capture_with(&BOUNDED, Properties::new().with("i", 7u8));
    }
    assert!(telemetry.flush(SOON));
    for request in server.requests() {
        assert!(request.body.len() <= limit, "a {} byte body with a {limit} byte limit", request.body.len());
    }
}
