//! A sink of the application's own, written against the public sink
//! contract (`telemetry_tests::custom`: it reads the typed views and posts
//! them with `ureq`), against a real HTTP server on 127.0.0.1. Checked: the
//! views such a sink is given never hold an opt-in value below `Full` nor a
//! redacted field's raw value, and the library keeps the books whatever the
//! sink reports (each event given up on is counted once, the rest by the
//! outcome of `send`, a panic as a sink error).

use std::sync::{Arc, Mutex};

use telemetry_runtime::sink::{Batch, SendContext, Sink, SinkError};
use telemetry_runtime::{DropReason, Level, Properties, Telemetry, TelemetryEvent};
use telemetry_tests::canary::Canary;
use telemetry_tests::custom::{envelope_events, json_of, Custom};
use telemetry_tests::{contains_bytes, on_flush, Sandbox, TestServer, SOON};

telemetry_runtime::event! {
    /// A page was viewed.
    static PAGE_VIEWED = "page_viewed" {
        /// The section of the application it belongs to, from a fixed set.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        section: String,
        /// Its number.
        n: u64,
    }
}

/// A file was opened.
#[derive(TelemetryEvent)]
struct FileOpened {
    /// Its size in bytes.
    bytes: u64,
    /// What the user searched for to find it: only at full consent.
    #[telemetry(opt_in)]
    query: String,
    /// Where it is: only a keyed hash, to count distinct files.
    #[telemetry(redact = "hash")]
    path: String,
}

#[test]
fn a_custom_sink_never_sees_an_opt_in_value_below_full_nor_a_redacted_raw_value() {
    for level in [Level::Usage, Level::Full] {
        let (query_canary, path_canary) = (Canary::new("query"), Canary::new("path"));
        let server = TestServer::start();
        let sandbox = Sandbox::new();
        let sink = Custom::new("envelope", format!("{}/ingest", server.url()));
        let log = sink.log();
        let telemetry =
            Telemetry::new(sandbox.config().consent(level).sink(sink).delivery(on_flush)).unwrap();
        telemetry.capture(&FileOpened { bytes: 2048, query: query_canary.text(), path: path_canary.text() });
        assert!(telemetry.flush(SOON), "{level}: {:?}", telemetry.stats());

        // What the sink was given.
        let seen = log.seen();
        assert_eq!(seen.len(), 1, "{level}");
        let properties = &seen[0].properties;
        assert_eq!(properties["bytes"], 2048, "{level}");
        assert_eq!(seen[0].hashed, ["path"], "{level}: the path comes as a keyed hash");
        let hash = properties["path"].as_str().unwrap().to_owned();
        assert!(hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{level}: {hash}");
        match level {
            Level::Full => assert_eq!(properties["query"], query_canary.text(), "{level}"),
            _ => assert!(!properties.contains_key("query"), "{level}: an opt-in value below full"),
        }
        let everything = serde_json::to_string(properties).unwrap();
        assert!(!path_canary.found_in_text(&everything), "{level}: the raw path reached a sink");

        // What it sent.
        let requests = server.requests();
        assert_eq!(requests.len(), 1, "{level}: one envelope");
        assert_eq!(envelope_events(&requests[0])[0]["properties"]["path"], hash.as_str());
        let wire = server.raw_bytes().concat();
        assert!(contains_bytes(&wire, hash.as_bytes()), "{level}: the hash on the wire");
        assert!(!path_canary.found_in(&wire), "{level}: the raw path on the wire");
        assert_eq!(
            query_canary.found_in(&wire),
            level == Level::Full,
            "{level}: the opt-in query on the wire"
        );
    }
}

/// A sink that gives up on the events whose `n` is in `give_up`, reporting
/// each of them `times` times, and then answers `outcome`.
struct Reporting {
    give_up: Vec<u64>,
    times: usize,
    outcome: fn() -> Result<(), SinkError>,
    calls: Arc<Mutex<usize>>,
}

impl Sink for Reporting {
    fn name(&self) -> &str {
        "reporting"
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        *self.calls.lock().unwrap() += 1;
        for event in batch.events() {
            let n = event
                .properties()
                .find(|(name, _)| *name == "n")
                .and_then(|(_, value)| json_of(value).as_u64());
            if n.is_some_and(|n| self.give_up.contains(&n)) {
                for _ in 0..self.times {
                    cx.drop_event(&event, DropReason::Rejected);
                }
            }
        }
        (self.outcome)()
    }
}

fn run(sink: Reporting, events: u64) -> telemetry_runtime::Stats {
    let sandbox = Sandbox::new();
    let telemetry =
        Telemetry::new(sandbox.config().consent(Level::Usage).sink(sink).delivery(on_flush)).unwrap();
    for n in 0..events {
        telemetry.capture_with(&PAGE_VIEWED, Properties::new().with("n", n));
    }
    let _ = telemetry.flush(SOON);
    telemetry.stats()
}

#[test]
fn an_event_a_sink_gives_up_on_is_counted_once_however_often_it_is_reported() {
    let calls = Arc::new(Mutex::new(0));
    let sink = Reporting { give_up: vec![1, 3], times: 5, outcome: || Ok(()), calls: Arc::clone(&calls) };
    let stats = run(sink, 5);
    assert_eq!(*calls.lock().unwrap(), 1, "one batch");
    assert_eq!(
        (stats.sent, stats.dropped(DropReason::Rejected), stats.dropped_total()),
        (3, 2, 2),
        "{stats:?}"
    );
}

#[test]
fn an_error_counts_the_events_the_sink_did_not_give_up_on_with_its_reason() {
    let calls = Arc::new(Mutex::new(0));
    let sink = Reporting {
        give_up: vec![0],
        times: 2,
        outcome: || Err(SinkError::new(DropReason::Undeliverable, "the endpoint is gone")),
        calls,
    };
    let stats = run(sink, 4);
    assert_eq!(stats.sent, 0, "{stats:?}");
    assert_eq!(
        (
            stats.dropped(DropReason::Rejected),
            stats.dropped(DropReason::Undeliverable),
            stats.dropped_total()
        ),
        (1, 3, 4),
        "{stats:?}"
    );
}

#[test]
fn a_panic_in_a_sink_counts_its_batch_as_a_sink_error_and_the_host_goes_on() {
    let calls = Arc::new(Mutex::new(0));
    let sink = Reporting { give_up: vec![], times: 0, outcome: || panic!("a bug in the sink"), calls };
    let stats = run(sink, 3);
    assert_eq!((stats.sent, stats.dropped(DropReason::SinkError)), (0, 3), "{stats:?}");
}
