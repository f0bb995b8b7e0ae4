//! Wire privacy: for every classification (public, opt_in, redact as drop,
//! marker, length and hash) and every consent level (Off, Usage, Full), a
//! canary value in a redacted field never appears in any byte that leaves
//! the process, and one in an opt-in field only at Full. "Leaves" means:
//! every byte the PostHog and the generic HTTP test servers read (raw, per
//! connection, and each body after undoing its content encoding), the JSONL
//! file and every other file the client wrote, what the memory sink holds,
//! and every log record. With consent Off
//! the servers see no connection at all.
//!
//! Public canaries are positive controls: they must arrive, or the search
//! proves nothing.

use std::time::Duration;

use telemetry_runtime::sink::{HttpSink, JsonlSink};
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{DropReason, Level, Properties, Telemetry, TelemetryEvent, Value};
use telemetry_tests::canary::Canary;
use telemetry_tests::logs::EVENTS_LOG_TARGET;
use telemetry_tests::{logs, posthog_sink, wait_until, Behaviour, Sandbox, TestServer, SOON};

telemetry_runtime::event! {
    /// An event whose properties are built at run time.
    static DYNAMIC = "dynamic" {
        /// A value the code declared public.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        ok: String,
    }
}

/// A search ran: one field of every classification.
#[derive(TelemetryEvent)]
struct SearchRan {
    /// Which search mode, from a fixed list.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    mode: String,
    /// What the user typed: only with full consent.
    #[telemetry(opt_in)]
    phrase: String,
    /// Earlier phrases: only with full consent.
    #[telemetry(opt_in)]
    history: Vec<String>,
    /// Never sent.
    #[telemetry(redact)]
    secret_dropped: String,
    /// Sent as a marker.
    #[telemetry(redact = "marker")]
    secret_marked: String,
    /// Sent as its length.
    #[telemetry(redact = "length")]
    secret_measured: String,
    /// Sent as a keyed hash.
    #[telemetry(redact = "hash")]
    secret_hashed: String,
    /// Sent as a keyed hash when present.
    #[telemetry(redact = "hash")]
    secret_maybe: Option<String>,
    /// How many results.
    results: u32,
}

/// Diagnostics, only with full consent (the whole event).
#[derive(TelemetryEvent)]
#[telemetry(opt_in)]
struct FullDiagnostics {
    /// A detail that is fine to send, but only at Full.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    detail: String,
}

/// One canary per field.
struct Canaries {
    public: Canary,
    opt_in: Canary,
    opt_in_list: Canary,
    opt_in_event: Canary,
    dropped: Canary,
    marked: Canary,
    measured: Canary,
    hashed: Canary,
    maybe: Canary,
}

impl Canaries {
    fn new() -> Canaries {
        Canaries {
            public: Canary::new("public"),
            opt_in: Canary::new("optin"),
            opt_in_list: Canary::new("optin_list"),
            opt_in_event: Canary::new("optin_event"),
            dropped: Canary::new("redact_drop"),
            marked: Canary::new("redact_marker"),
            measured: Canary::new("redact_length"),
            hashed: Canary::new("redact_hash"),
            maybe: Canary::new("redact_hash_option"),
        }
    }

    fn search(&self) -> SearchRan {
        SearchRan {
            mode: self.public.text(),
            phrase: self.opt_in.text(),
            history: vec!["older".into(), self.opt_in_list.text()],
            secret_dropped: self.dropped.text(),
            secret_marked: self.marked.text(),
            secret_measured: self.measured.text(),
            secret_hashed: self.hashed.text(),
            secret_maybe: Some(self.maybe.text()),
            results: 3,
        }
    }

    fn diagnostics(&self) -> FullDiagnostics {
        FullDiagnostics { detail: self.opt_in_event.text() }
    }

    fn redacted(&self) -> [(&'static str, &Canary); 5] {
        [
            ("redact(drop)", &self.dropped),
            ("redact(marker)", &self.marked),
            ("redact(length)", &self.measured),
            ("redact(hash)", &self.hashed),
            ("redact(hash) Option", &self.maybe),
        ]
    }

    fn opt_ins(&self) -> [(&'static str, &Canary); 3] {
        [("opt_in", &self.opt_in), ("opt_in Vec", &self.opt_in_list), ("opt_in event", &self.opt_in_event)]
    }
}

/// A client at `level` sending to every kind of sink.
struct Setup {
    sandbox: Sandbox,
    posthog: TestServer,
    http: TestServer,
    memory: MemorySink,
    telemetry: Telemetry,
    /// Where the log stood before the client was made.
    logged_from: logs::Mark,
}

impl Setup {
    fn new(level: Level) -> Setup {
        Setup::with_interval(level, Duration::from_millis(20))
    }

    fn with_interval(level: Level, interval: Duration) -> Setup {
        let logged_from = logs::mark();
        let sandbox = Sandbox::new();
        let (posthog, http) = (TestServer::start(), TestServer::start());
        let memory = MemorySink::new();
        let telemetry = Telemetry::new(
            sandbox
                .config()
                .consent(level)
                .sink(posthog_sink(&posthog))
                .sink(HttpSink::new(format!("{}/events", http.url())).unwrap().http(telemetry_tests::fast))
                .sink(JsonlSink::new(sandbox.path().join("out/events.jsonl")))
                .sink(memory.clone())
                .delivery(|d| telemetry_runtime::Delivery { flush_interval: interval, ..d }),
        )
        .unwrap();
        Setup { sandbox, posthog, http, memory, telemetry, logged_from }
    }

    /// Every place a value could have gone, with what it holds.
    fn everything_that_left(&self) -> Vec<(String, Vec<u8>)> {
        let mut places = Vec::new();
        for (name, server) in [("posthog", &self.posthog), ("http", &self.http)] {
            for (i, raw) in server.raw_bytes().into_iter().enumerate() {
                places.push((format!("{name} server, connection {i}, raw bytes"), raw));
            }
            for (i, request) in server.requests().iter().enumerate() {
                places.push((format!("{name} server, request {i}, decoded body"), request.decoded_body()));
            }
        }
        let jsonl = self.sandbox.path().join("out/events.jsonl");
        places.push(("jsonl file".into(), std::fs::read(jsonl).unwrap_or_default()));
        // Every other file the client wrote (id, keys, any record it keeps).
        for file in self.sandbox.files() {
            if let Ok(bytes) = std::fs::read(self.sandbox.path().join(&file)) {
                places.push((format!("file {}", file.display()), bytes));
            }
        }
        places.push(("memory sink".into(), self.memory.raw().join("\n").into_bytes()));
        // The per-event lines echo what is sent, at the host's request; every
        // other log record carries no value at all.
        let (echoed, log_text): (Vec<_>, Vec<_>) =
            logs::since(self.logged_from).into_iter().partition(|l| l.target == EVENTS_LOG_TARGET);
        let text = |lines: Vec<logs::Line>| lines.into_iter().map(|l| l.message + "\n").collect::<String>();
        places.push(("log records".into(), text(log_text).into_bytes()));
        places.push(("per-event log lines".into(), text(echoed).into_bytes()));
        places
    }

    /// The places `canary` reached.
    fn reached(&self, canary: &Canary) -> Vec<String> {
        self.everything_that_left()
            .into_iter()
            .filter(|(_, bytes)| canary.found_in(bytes))
            .map(|(n, _)| n)
            .collect()
    }

    fn assert_never_left(&self, what: &str, canary: &Canary) {
        let reached = self.reached(canary);
        assert!(reached.is_empty(), "the {what} canary left the process through: {reached:?}");
    }

    /// Positive control: the canary reached every sink.
    fn assert_reached_every_sink(&self, what: &str, canary: &Canary) {
        let reached = self.reached(canary);
        for place in ["posthog server", "http server", "jsonl file", "memory sink"] {
            assert!(reached.iter().any(|r| r.starts_with(place)), "the {what} canary never reached {place}");
        }
        assert!(!reached.iter().any(|r| r == "log records"), "the {what} value was logged");
    }
}

fn capture_everything(setup: &Setup, canaries: &Canaries) {
    setup.telemetry.capture(&canaries.search());
    setup.telemetry.capture(&canaries.diagnostics());
    let _ = setup.telemetry.flush(SOON);
}

#[test]
fn at_off_no_connection_no_file_no_byte() {
    logs::install();
    let canaries = Canaries::new();
    let setup = Setup::new(Level::Off);
    capture_everything(&setup, &canaries);
    std::thread::sleep(Duration::from_millis(60)); // two flush intervals
    assert!(setup.telemetry.shutdown(SOON));
    assert_eq!(setup.posthog.connections() + setup.http.connections(), 0, "no connection at all");
    assert!(setup.sandbox.files().is_empty(), "nothing written: {:?}", setup.sandbox.files());
    assert!(setup.memory.raw().is_empty());
    for (what, canary) in canaries.redacted().into_iter().chain(canaries.opt_ins()) {
        setup.assert_never_left(what, canary);
    }
    setup.assert_never_left("public", &canaries.public);
}

#[test]
fn at_usage_public_values_go_out_and_opt_in_and_redacted_values_never_do() {
    logs::install();
    let canaries = Canaries::new();
    let setup = Setup::new(Level::Usage);
    capture_everything(&setup, &canaries);
    setup.assert_reached_every_sink("public", &canaries.public);
    for (what, canary) in canaries.redacted().into_iter().chain(canaries.opt_ins()) {
        setup.assert_never_left(what, canary);
    }
    // What the redacted fields became, as the schema says.
    let events = setup.posthog.accepted_events();
    assert_eq!(events.len(), 1, "the opt-in event is not sent at Usage");
    let props = &events[0]["properties"];
    assert!(props.get("phrase").is_none() && props.get("history").is_none());
    assert!(props.get("secret_dropped").is_none());
    assert_eq!(props["secret_marked"], "[redacted]");
    assert_eq!(props["secret_measured"], canaries.measured.len());
    for field in ["secret_hashed", "secret_maybe"] {
        let hash = props[field].as_str().unwrap();
        assert!(hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{field}: {hash}");
    }
    assert_ne!(props["secret_hashed"], props["secret_maybe"]);
}

#[test]
fn at_full_opt_in_values_go_out_and_redacted_values_still_never_do() {
    logs::install();
    let canaries = Canaries::new();
    let setup = Setup::new(Level::Full);
    capture_everything(&setup, &canaries);
    setup.assert_reached_every_sink("public", &canaries.public);
    for (what, canary) in canaries.opt_ins() {
        setup.assert_reached_every_sink(what, canary);
    }
    for (what, canary) in canaries.redacted() {
        setup.assert_never_left(what, canary);
    }
    assert_eq!(setup.posthog.accepted_events().len(), 2);
}

#[test]
fn lowering_consent_before_delivery_keeps_opt_in_values_home() {
    logs::install();
    let canaries = Canaries::new();
    // Nothing leaves before the flush below.
    let setup = Setup::with_interval(Level::Full, Duration::from_secs(120));
    let telemetry = &setup.telemetry;
    telemetry.capture(&canaries.search());
    telemetry.capture(&canaries.diagnostics());
    // Captured at Full, but the user lowers consent before the batch leaves.
    telemetry.set_consent(Level::Usage);
    let _ = telemetry.flush(SOON);
    for (what, canary) in canaries.redacted().into_iter().chain(canaries.opt_ins()) {
        setup.assert_never_left(what, canary);
    }
    // The events still go, at the level the user now gives: without their
    // opt-in fields.
    assert!(!setup.posthog.accepted_events().is_empty());
}

#[test]
fn turning_consent_off_during_a_retry_wait_sends_nothing_more() {
    logs::install();
    let canaries = Canaries::new();
    let server = TestServer::start();
    server.script([Behaviour::StatusWithHeaders(503, vec![("Retry-After", "1")])]);
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    telemetry.capture(&canaries.search());
    let _ = telemetry.flush(Duration::ZERO);
    assert!(server.wait_for_requests(1, SOON));
    telemetry.set_consent(Level::Off);
    assert!(!telemetry.flush(SOON), "events were given up on");
    std::thread::sleep(Duration::from_millis(1200)); // past the Retry-After
    assert_eq!(server.requests().len(), 1, "no retry after the user said no");
    assert_eq!(telemetry.stats().dropped(DropReason::ConsentWithdrawn), 1);
    for (what, canary) in canaries.redacted() {
        assert!(
            !server.received(canary.text().as_bytes()) && !canary.found_in(&server.raw_bytes().concat()),
            "{what}"
        );
    }
}

#[test]
fn lowering_consent_from_full_during_a_retry_wait_keeps_opt_in_values_home() {
    logs::install();
    let canaries = Canaries::new();
    let server = TestServer::start();
    server.script([Behaviour::StatusWithHeaders(503, vec![("Retry-After", "1")])]);
    let sandbox = Sandbox::new();
    let telemetry =
        Telemetry::new(sandbox.config().consent(Level::Full).sink(posthog_sink(&server))).unwrap();
    telemetry.capture(&canaries.search());
    let _ = telemetry.flush(Duration::ZERO);
    // The first attempt carried the opt-in value, with the user's consent.
    assert!(server.wait_for_requests(1, SOON));
    assert!(canaries.opt_in.found_in(&server.requests()[0].body));
    // Then the user lowers consent to Usage while the worker waits to retry.
    telemetry.set_consent(Level::Usage);
    let _ = telemetry.flush(SOON);
    let _ = wait_until(Duration::from_millis(1500), || server.requests().len() > 1);
    for (i, request) in server.requests().iter().enumerate().skip(1) {
        for (what, canary) in canaries.opt_ins() {
            assert!(
                !canary.found_in(&request.body),
                "request {i}, after consent was lowered, carried the {what} value"
            );
        }
    }
    assert!(telemetry.stats().dropped(DropReason::ConsentWithdrawn) >= 1, "{:?}", telemetry.stats());
}

#[test]
fn warnings_about_dropped_events_name_the_event_never_the_values() {
    logs::install();
    let logged_from = logs::mark();
    let canaries = Canaries::new();
    let server = TestServer::start();
    server.set_default(Behaviour::Status(400));
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .consent(Level::Full)
            .sink(posthog_sink(&server))
            .delivery(|d| telemetry_runtime::Delivery { max_event_bytes: 2048, ..d }),
    )
    .unwrap();
    // Refused by the server, with every kind of field.
    telemetry.capture(&canaries.search());
    // Too large for the client, with an opt-in value in it.
    let big =
        SearchRan { phrase: format!("{}{}", canaries.opt_in.text(), "x".repeat(4000)), ..canaries.search() };
    telemetry.capture(&big);
    // A property built at run time that the code declared public.
    telemetry
        .capture_with(&DYNAMIC, Properties::new().with("ok", Value::Text(canaries.public.text().into())));
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!(
        (stats.dropped(DropReason::Oversized), stats.dropped(DropReason::Rejected)),
        (1, 2),
        "{stats:?}"
    );
    assert!(
        logs::wait_for(SOON, |l| l.message.contains("\"search_ran\"")).is_some(),
        "the oversized event is named"
    );
    let all: String = logs::since(logged_from)
        .into_iter()
        .filter(|l| l.target != EVENTS_LOG_TARGET)
        .map(|l| l.message + "\n")
        .collect();
    for (what, canary) in canaries.redacted().into_iter().chain(canaries.opt_ins()) {
        assert!(!canary.found_in_text(&all), "the {what} value is in the log");
    }
    assert!(!canaries.public.found_in_text(&all), "not even public values are logged");
}
