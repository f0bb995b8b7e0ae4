//! Permanent faults: the endpoint refuses (400) or stays unreachable past the
//! retry budget. Events are dropped and counted by reason, nothing is kept
//! (memory stays bounded by the queue), and the application goes on: later
//! events are delivered once the endpoint is back. A request that cannot be
//! made at all (a header or URL HTTP does not allow) is not retried, and the
//! spool does not keep it for a later run: no run could send it.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use telemetry_runtime::sink::{
    Backoff, Batch, EventView, HttpTransport, PostHogSink, Request, RequestEncoder, SendContext, Sink,
    SinkError,
};
use telemetry_runtime::{DropReason, Properties, Stats, Telemetry};
use telemetry_tests::{logs, posthog_sink, Behaviour, Gate, Sandbox, TestServer, API_KEY, SOON};

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

/// A custom sink's encoder whose requests carry `header` and go to `url`,
/// as an application's own code may build them: nothing checks them before
/// they are sent.
struct Raw {
    url: String,
    header: (&'static str, &'static str),
}

impl RequestEncoder for Raw {
    fn begin(&mut self, request: &mut Request, _first: &EventView<'_>) {
        request.url.push_str(&self.url);
        request.headers.push((self.header.0.to_owned(), self.header.1.to_owned()));
        request.body.push(b'[');
    }
    fn event(&mut self, request: &mut Request, index: usize, event: &EventView<'_>) {
        if index > 0 {
            request.body.push(b',');
        }
        request.body.extend_from_slice(format!("{{\"event\":\"{}\"}}", event.name()).as_bytes());
    }
    fn end(&mut self, request: &mut Request) {
        request.body.push(b']');
    }
}

/// A sink of the application's own on the library's transport.
struct RawSink {
    transport: HttpTransport,
    encoder: Raw,
    /// The threads it sent on (its client's worker): what they log is this
    /// sink's, whatever the other tests of the binary log meanwhile.
    senders: Arc<Mutex<Vec<ThreadId>>>,
}

impl Sink for RawSink {
    fn name(&self) -> &str {
        "raw"
    }
    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        let this = std::thread::current().id();
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if !senders.contains(&this) {
            senders.push(this);
        }
        drop(senders);
        let events: Vec<EventView<'_>> = batch.events().collect();
        self.transport.send(&events, cx, &mut self.encoder);
        Ok(())
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
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(posthog_sink(&server))
            .batch_size(10)
            .max_batch_size(10)
            .flush_interval(Duration::from_secs(120)),
    )
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
        .backoff(Backoff::default().base(Duration::from_millis(20)).max_retries(3))
        .timeouts(Duration::from_secs(1), Duration::from_secs(2));
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(sink)
            .batch_size(10)
            .max_batch_size(10)
            .flush_interval(Duration::from_secs(120)),
    )
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
        .max_retries(0)
        .timeouts(Duration::from_secs(1), Duration::from_secs(2));
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(sink)
            .queue_capacity(100)
            .batch_size(20)
            .flush_interval(Duration::from_millis(10)),
    )
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
    let sink =
        posthog_sink(&server).backoff(Backoff::default().base(Duration::from_millis(10)).max_retries(2));
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
    let sink =
        posthog_sink(&server).backoff(Backoff::default().base(Duration::from_millis(10)).max_retries(2));
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

/// Three flushes of two events each through a [`RawSink`] to `url` with
/// `header`, the spool on: returns the stats, the files the spool kept, and
/// the warnings logged about the sink's endpoint.
fn send_raw(url: String, header: (&'static str, &'static str)) -> (Stats, usize, usize) {
    let sandbox = Sandbox::new();
    let senders = Arc::new(Mutex::new(Vec::new()));
    let sink = RawSink {
        transport: HttpTransport::new()
            .backoff(Backoff::default().base(Duration::from_millis(10)).max_retries(3)),
        encoder: Raw { url: url.clone(), header },
        senders: Arc::clone(&senders),
    };
    let telemetry = Telemetry::new(Sandbox::spooling_config_in(sandbox.path()).sink(sink)).unwrap();
    let mut flushed = Vec::new();
    for round in 0..3u64 {
        telemetry.capture_with(&UNSENDABLE, Properties::new().with("i", 2 * round));
        telemetry.capture_with(&UNSENDABLE, Properties::new().with("i", 2 * round + 1));
        flushed.push(telemetry.flush(SOON));
    }
    assert!(telemetry.shutdown(SOON));
    let spooled = std::fs::read_dir(sandbox.cache_dir().join("telemetry_spool")).map_or(0, |d| d.count());
    // Logs name the endpoint without its query, and a URL that cannot be
    // read not at all; each case has its own path.
    let shown = url.split('?').next().unwrap().to_owned();
    let senders = senders.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(!senders.is_empty(), "the sink was asked to send");
    let warnings = logs::lines()
        .iter()
        .filter(|l| senders.contains(&l.thread))
        .filter(|l| l.level == log::Level::Warn && l.message.contains("not delivered"))
        .filter(|l| l.message.contains(&shown) || l.message.contains("(an invalid URL)"))
        .count();
    let stats = telemetry.stats();
    eprintln!("{header:?} to {url}: flushed {flushed:?}, {stats:?}, {spooled} spooled, {warnings} warnings");
    (stats, spooled, warnings)
}

#[test]
fn a_request_http_does_not_allow_is_given_up_at_once_logged_once_and_never_spooled() {
    logs::install();
    let server = TestServer::start();
    // Control: the same sink with a header HTTP allows delivers, and an
    // endpoint that answers 503 has its events retried and spooled.
    let (stats, spooled, _) = send_raw(format!("{}/ok", server.url()), ("X-Run", "a b"));
    assert_eq!((stats.sent, stats.failed, spooled), (6, 0, 0), "{stats:?}");
    assert_eq!(server.requests().len(), 3);
    let unavailable = TestServer::start();
    unavailable.set_default(Behaviour::Status(503));
    let (stats, spooled, _) = send_raw(format!("{}/busy", unavailable.url()), ("X-Run", "a b"));
    assert_eq!((stats.dropped(DropReason::Undeliverable), stats.retried), (6, 9), "{stats:?}");
    assert!(spooled > 0, "what may heal is kept for the next run");

    // A line break in a header value (a `%0A` in a variable decodes to one),
    // a control character, and a URL HTTP does not allow: each request fails
    // before it is sent, every time.
    let port = server.url().rsplit(':').next().unwrap().to_owned();
    for (url, header) in [
        (format!("{}/line-break", server.url()), ("X-Run", "a\nb")),
        (format!("{}/control", server.url()), ("X-Run", "a\u{1}b")),
        (format!("{}/name", server.url()), ("X Run", "a")),
        (format!("http://127.0.0.1:{port}/in valid?key=s3cret"), ("X-Run", "a")),
    ] {
        let before = server.requests().len();
        let (stats, spooled, warnings) = send_raw(url.clone(), header);
        assert_eq!(stats.dropped(DropReason::Misconfigured), 6, "{url} {header:?}: {stats:?}");
        // One attempt per request, none retried, nothing sent or kept.
        assert_eq!((stats.sent, stats.failed, stats.retried), (0, 3, 0), "{url} {header:?}: {stats:?}");
        assert_eq!(stats.dropped(DropReason::Undeliverable), 0, "{stats:?}");
        assert_eq!(server.requests().len(), before, "nothing reached the server");
        assert_eq!(spooled, 0, "{url} {header:?}: a batch that no run can send is not spooled");
        assert_eq!(warnings, 1, "{url} {header:?}: one warning for three failures");
    }
    for line in logs::lines() {
        assert!(!line.message.contains("s3cret"), "a URL's query was logged: {line:?}");
    }
}
