//! The host is never held up: flush and shutdown keep their deadlines against
//! an endpoint that never answers, capture never blocks, a full queue drops
//! and counts, and many threads can capture at once.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use telemetry_runtime::sink::PostHogSink;
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{DropReason, Properties, Telemetry};
use telemetry_tests::{posthog_sink, Behaviour, Sandbox, TestServer, SOON};

telemetry_runtime::event! {
    /// The first event, which gets the worker into its first request.
    static FIRST = "first" {}
}

telemetry_runtime::event! {
    /// Queued behind a request that never ends.
    static SECOND = "second" {}
}

telemetry_runtime::event! {
    /// Queued behind a request that never ends, at shutdown.
    static QUEUED_BEHIND = "queued_behind" {}
}

telemetry_runtime::event! {
    /// Captured after shutdown: never sent.
    static AFTER = "after" {}
}

telemetry_runtime::event! {
    /// One of many events captured while the endpoint hangs.
    static WHILE_HUNG = "while_hung" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// Captured just before shutdown.
    static AT_EXIT = "at_exit" {}
}

telemetry_runtime::event! {
    /// Captured after shutdown: never sent.
    static IGNORED = "ignored" {}
}

telemetry_runtime::event! {
    /// Its delivery waits on a long Retry-After.
    static WAITING = "waiting" {}
}

telemetry_runtime::event! {
    /// One of many events captured from several threads.
    static THREADED = "threaded" {
        /// Which thread captured it.
        thread: u64,
        /// Its number in that thread.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// Flushed with an unbounded timeout.
    static PATIENT = "patient" {}
}

telemetry_runtime::event! {
    /// Delivered only when flushed.
    static MANUAL = "manual" {}
}

telemetry_runtime::event! {
    /// One of the events that fill a small queue.
    static FILLS_THE_QUEUE = "fills_the_queue" {}
}

/// A sink whose requests would wait 60 s for an answer: longer than any test.
fn patient_sink(server: &TestServer) -> PostHogSink {
    posthog_sink(server).http(|h| telemetry_runtime::sink::HttpOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(60),
        ..h
    })
}

/// A hung server and a client already stuck in its first request.
fn stuck_client(sandbox: &Sandbox, server: &TestServer) -> Telemetry {
    server.set_default(Behaviour::Hang);
    let telemetry =
        Telemetry::new(sandbox.config().sink(patient_sink(server)).delivery(telemetry_tests::on_flush))
            .unwrap();
    telemetry.capture_with(&FIRST, Properties::new());
    let _ = telemetry.flush(Duration::ZERO);
    assert!(server.wait_for_requests(1, SOON), "the worker reached the server");
    telemetry
}

#[test]
fn flush_returns_false_at_its_deadline_when_the_endpoint_hangs() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = stuck_client(&sandbox, &server);
    telemetry.capture_with(&SECOND, Properties::new());

    let started = Instant::now();
    let flushed = telemetry.flush(Duration::from_millis(300));
    let took = started.elapsed();
    assert!(!flushed, "nothing was delivered");
    assert!(took >= Duration::from_millis(300), "returned early: {took:?}");
    assert!(took < Duration::from_secs(3), "flush(300ms) took {took:?}");
}

#[test]
fn shutdown_returns_within_its_deadline_when_the_endpoint_hangs() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = stuck_client(&sandbox, &server);
    telemetry.capture_with(&QUEUED_BEHIND, Properties::new());

    let started = Instant::now();
    let finished = telemetry.shutdown(Duration::from_millis(300));
    let took = started.elapsed();
    assert!(!finished, "the worker is still stuck in its request");
    assert!(took < Duration::from_secs(3), "shutdown(300ms) took {took:?}");

    // Shut down: later calls return at once and capture nothing.
    let before = telemetry.stats();
    telemetry.capture_with(&AFTER, Properties::new());
    assert!(!telemetry.is_enabled());
    assert_eq!(telemetry.stats().captured, before.captured);
    // A second shutdown answers for the whole shutdown: events were given
    // up on, so `false`, at once with no time given.
    let started = Instant::now();
    assert!(!telemetry.shutdown(Duration::ZERO), "a second shutdown says what the first lost");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn captures_while_the_endpoint_hangs_finish_and_the_queue_cap_is_accounted() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    server.set_default(Behaviour::Hang);
    let telemetry = Telemetry::new(sandbox.config().sink(patient_sink(&server)).delivery(|d| {
        telemetry_runtime::Delivery { queue_capacity: 100, batch_size: 10, ..telemetry_tests::on_flush(d) }
    }))
    .unwrap();
    telemetry.capture_with(&FIRST, Properties::new());
    let _ = telemetry.flush(Duration::ZERO);
    assert!(server.wait_for_requests(1, SOON));

    let started = Instant::now();
    for i in 0..1000u32 {
        telemetry.capture_with(&WHILE_HUNG, Properties::new().with("i", i));
    }
    // Only that they finish (a blocked capture would never return); no timing claim.
    assert!(started.elapsed() < SOON);

    let stats = telemetry.stats();
    let queue_full = stats.dropped(DropReason::QueueFull);
    assert_eq!(stats.captured + queue_full, 1001, "{stats:?}");
    assert!(queue_full >= 800, "a 100-event queue behind a stuck worker drops most: {stats:?}");
    assert!(server.requests().len() == 1, "the worker is still stuck in its first request");
}

#[test]
fn shutdown_delivers_what_is_queued() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(
        sandbox.config().sink(posthog_sink(&server)).sink(memory.clone()).delivery(telemetry_tests::on_flush),
    )
    .unwrap();
    for _ in 0..3 {
        telemetry.capture_with(&AT_EXIT, Properties::new());
    }
    assert!(telemetry.shutdown(SOON), "the worker exits in time");
    let stats = telemetry.stats();
    assert_eq!(memory.events().len(), 3, "queued events are delivered at shutdown: {stats:?}");
    assert_eq!(server.accepted_events().len(), 3);
    assert_eq!(stats.dropped(DropReason::ConsentWithdrawn), 0, "{stats:?}");
}

#[test]
fn shutdown_before_any_capture_is_immediate_and_final() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    assert!(telemetry.shutdown(Duration::from_millis(100)));
    telemetry.capture_with(&IGNORED, Properties::new());
    assert!(telemetry.flush(Duration::from_secs(1)));
    assert_eq!(telemetry.stats(), Default::default());
    assert_eq!(server.connections(), 0);
    assert!(sandbox.files().is_empty(), "no worker ran, no id was created: {:?}", sandbox.files());
}

#[test]
fn a_retry_wait_is_cut_short_by_shutdown() {
    let server = TestServer::start();
    // A long Retry-After, within the policy: the worker would wait 30 s.
    server.set_default(Behaviour::StatusWithHeaders(503, vec![("Retry-After", "30")]));
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    telemetry.capture_with(&WAITING, Properties::new());
    let _ = telemetry.flush(Duration::ZERO);
    assert!(server.wait_for_requests(1, SOON));

    // The worker must not sit out the 30 s: it exits as soon as it is told.
    let started = Instant::now();
    assert!(telemetry.shutdown(Duration::from_secs(5)), "the worker gives up the wait and exits");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(server.requests().len(), 1);
    assert_eq!(telemetry.stats().dropped_total(), 1, "the event is counted, not lost silently");
}

#[test]
fn eight_threads_capture_four_thousand_distinct_events() {
    let memory = MemorySink::new();
    let sandbox = Sandbox::new();
    let telemetry = Arc::new(Telemetry::new(sandbox.config().sink(memory.clone())).unwrap());
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let telemetry = Arc::clone(&telemetry);
            thread::spawn(move || {
                for i in 0..500u32 {
                    telemetry.capture_with(&THREADED, Properties::new().with("thread", t).with("i", i));
                }
            })
        })
        .collect();
    for handle in threads {
        handle.join().unwrap();
    }
    assert!(telemetry.flush(SOON));

    let events = memory.events();
    assert_eq!(events.len(), 4000);
    let uuids: HashSet<&str> = events.iter().map(|e| e["uuid"].as_str().unwrap()).collect();
    assert_eq!(uuids.len(), 4000, "event uuids are distinct across threads");
    let pairs: HashSet<(u64, u64)> = events
        .iter()
        .map(|e| (e["properties"]["thread"].as_u64().unwrap(), e["properties"]["i"].as_u64().unwrap()))
        .collect();
    assert_eq!(pairs.len(), 4000, "every capture arrived once");
    let stats = telemetry.stats();
    assert_eq!((stats.captured, stats.sent, stats.dropped_total()), (4000, 4000, 0));
}

#[test]
fn flush_and_shutdown_accept_an_unbounded_timeout() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
    telemetry.capture_with(&PATIENT, Properties::new());
    // "Wait as long as it takes" must not panic in the host.
    assert!(telemetry.flush(Duration::MAX));
    assert_eq!(memory.events().len(), 1);
    assert!(telemetry.shutdown(Duration::MAX));
}

#[test]
fn a_huge_flush_interval_still_delivers_on_flush() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    // "Only when I flush": a plausible way to switch the interval off.
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(memory.clone())
            .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::MAX, ..d }),
    )
    .unwrap();
    telemetry.capture_with(&MANUAL, Properties::new());
    assert!(telemetry.flush(SOON), "the worker is alive");
    assert_eq!(memory.events().len(), 1);
}

#[test]
fn a_full_queue_smaller_than_a_batch_wakes_the_worker() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(sandbox.config().sink(memory.clone()).delivery(|d| {
        telemetry_runtime::Delivery { queue_capacity: 5, batch_size: 100, ..telemetry_tests::on_flush(d) }
    }))
    .unwrap();
    for _ in 0..5 {
        telemetry.capture_with(&FILLS_THE_QUEUE, Properties::new());
    }
    // A full queue is as good as a full batch: the worker should take it.
    assert!(
        telemetry_tests::wait_until(SOON, || memory.events().len() == 5),
        "a full queue stayed queued: {:?}",
        telemetry.stats()
    );
}
