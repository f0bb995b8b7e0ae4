//! The spool stores typed events, not a sink's format: a batch spooled for
//! a sink is replayed on the next run as views again, which the sink
//! encodes its own way. Checked on the wire of a real HTTP server on
//! 127.0.0.1: OTLP logs and metrics (decoded with the reference
//! definitions), a sink of the application's own, keyed hashes,
//! objects and lists, and consent lowered between the runs.
//!
//! A "run" is a client that ends (it is dropped) before the next starts on
//! the same directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use serde_json::Value as Json;
use telemetry_runtime::sink::{HttpOptions, OtlpSink, PostHogSink};
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{
    Config, DropReason, Level, Properties, Telemetry, TelemetryEvent, TelemetryProperty,
};
use telemetry_tests::canary::Canary;
use telemetry_tests::custom::{envelope_events, Custom, Seen};
use telemetry_tests::{wait_until, Behaviour, Request, Sandbox, TestServer, API_KEY, SOON};

telemetry_runtime::counter! {
    /// Builds run, by outcome.
    static BUILDS = "builds", labels: [status: Status = ["ok", "failed"]];
}

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

/// A build finished.
#[derive(TelemetryEvent)]
struct BuildFinished {
    /// How many crates it built.
    crates: u32,
    /// Seconds it took.
    seconds: f64,
    /// The profiles it used, from the fixed set Cargo defines.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    profiles: Vec<String>,
}

/// A repository was opened.
#[derive(TelemetryEvent)]
struct RepoOpened {
    /// How many commits it has.
    commits: u32,
    /// Where it is: only a keyed hash, to count distinct repositories.
    #[telemetry(redact = "hash")]
    path: String,
}

/// How a step ended.
#[derive(TelemetryProperty, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Done,
    Failed,
}

/// Token counts.
#[derive(TelemetryProperty)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

/// One step of a plan.
#[derive(TelemetryProperty)]
struct Step {
    /// How it ended.
    outcome: Outcome,
    /// Seconds it took.
    seconds: f64,
    /// How much it changed the score.
    delta: i64,
    /// Its token counts, when the model reported them.
    usage: Option<Usage>,
    /// Where it ran: only a keyed hash.
    #[telemetry(redact = "hash")]
    host: String,
}

/// A plan ran.
#[derive(TelemetryEvent)]
struct PlanRan {
    /// Its steps, in order (each with a redacted field).
    #[telemetry(public)]
    steps: Vec<Step>,
    /// Token counts in all.
    total: Usage,
    /// Labels from the fixed set the application defines.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    labels: Vec<String>,
    /// The score after each pass.
    scores: Vec<f64>,
    /// Steps by outcome.
    by_outcome: BTreeMap<Outcome, u32>,
    /// The largest id it saw.
    largest: u64,
    /// Whether it finished.
    finished: bool,
}

/// A note was taken: the note itself only at full consent.
#[derive(TelemetryEvent)]
struct NoteTaken {
    /// Its length in words.
    words: u32,
    /// The note.
    #[telemetry(opt_in)]
    note: String,
}

/// The user shared their screen size: an event only sent at full consent.
#[derive(TelemetryEvent)]
#[telemetry(opt_in)]
struct ScreenShared {
    /// Its width in pixels.
    width: u32,
}

fn spool_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("cache").join("telemetry_spool"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Every byte of every file in the sandbox.
fn every_file(sandbox: &Sandbox) -> Vec<u8> {
    let mut bytes = Vec::new();
    for file in sandbox.files() {
        if let Ok(content) = std::fs::read(sandbox.path().join(file)) {
            bytes.extend(content);
        }
    }
    bytes
}

/// Options that give up at once, with short timeouts and no gzip.
fn quick(options: HttpOptions) -> HttpOptions {
    HttpOptions {
        max_retries: 0,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        gzip_above: None,
        ..telemetry_tests::fast(options)
    }
}

/// A custom sink posting envelopes to `server`.
fn envelope_sink(server: &TestServer) -> Custom {
    Custom::new("envelope", format!("{}/ingest", server.url()))
}

fn otlp_sink(server: &TestServer) -> OtlpSink {
    OtlpSink::new(&server.url()).unwrap().http(quick)
}

fn posthog_sink(server: &TestServer) -> PostHogSink {
    PostHogSink::new(API_KEY).and_then(|sink| sink.host(&server.url())).unwrap().http(quick)
}

/// Starts the next run on `dir` with `config`, and waits until it has
/// replayed the spool and delivered everything.
fn replay(dir: &Path, config: Config) -> Telemetry {
    let telemetry = Telemetry::new(config).unwrap();
    assert!(
        wait_until(SOON, || spool_files(dir).is_empty()),
        "the spool is replayed: {:?}",
        spool_files(dir)
    );
    let _ = telemetry.flush(SOON);
    telemetry
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<Any> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.clone())
}

fn text(value: &str) -> Option<Any> {
    Some(Any::StringValue(value.to_owned()))
}

/// The requests to `path` the server accepted.
fn accepted_at(server: &TestServer, path: &str) -> Vec<Request> {
    server.requests().into_iter().filter(|r| r.accepted() && r.path == path).collect()
}

#[test]
fn a_batch_spooled_for_otlp_is_replayed_as_otlp_logs_and_metrics_with_the_same_ids() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.down();
    let memory = MemorySink::new();
    let config = || Sandbox::spooling_config_in(sandbox.path()).sink(otlp_sink(&server)).sink(memory.clone());
    let (captured_from, captured_until, first_run_id) = {
        let telemetry = Telemetry::new(config()).unwrap();
        let from = SystemTime::now();
        telemetry.capture(&BuildFinished {
            crates: 12,
            seconds: 1.0,
            profiles: vec!["dev".into(), "test".into()],
        });
        telemetry.capture(&BuildFinished { crates: 3, seconds: 0.25, profiles: vec![] });
        for _ in 0..3 {
            telemetry.add(&BUILDS, Status::Ok, 1);
        }
        telemetry.add(&BUILDS, Status::Failed, 1);
        let until = SystemTime::now();
        assert!(!telemetry.flush(SOON), "the collector is down");
        let stats = telemetry.stats();
        assert_eq!(stats.dropped(DropReason::Undeliverable), 4, "two events, two counter series: {stats:?}");
        (from, until, telemetry.session_id().to_owned())
    };
    assert_eq!(spool_files(sandbox.path()).len(), 1);
    // The ids the events were given (the memory sink got the same).
    let first: Vec<Json> = memory.events();
    let ids: Vec<&str> = first
        .iter()
        .filter(|e| e["event"] == "build_finished")
        .map(|e| e["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);

    server.up();
    let telemetry = replay(sandbox.path(), config());
    assert_eq!(telemetry.stats().sent, 4, "{:?}", telemetry.stats());
    assert_eq!(memory.events().len(), first.len(), "a local sink gets no replay");

    let logs = accepted_at(&server, "/v1/logs");
    assert_eq!(logs.len(), 1, "{:#?}", server.requests());
    let decoded: ExportLogsServiceRequest = telemetry_tests::otlp::decode(&logs[0]);
    let resource_logs = &decoded.resource_logs[0];
    let resource = &resource_logs.resource.as_ref().unwrap().attributes;
    assert_eq!(attribute(resource, "service.name"), text("testapp"));
    assert_eq!(attribute(resource, "service.version"), text("1.2.3"));
    let records = &resource_logs.scope_logs[0].log_records;
    let replayed: Vec<Option<Any>> = records.iter().map(|r| attribute(&r.attributes, "event.id")).collect();
    assert_eq!(replayed, ids.iter().map(|id| text(id)).collect::<Vec<_>>(), "the same ids");
    let nanos = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    for record in records {
        assert_eq!(record.event_name, "build_finished");
        let time = record.time_unix_nano;
        assert!((nanos(captured_from)..=nanos(captured_until)).contains(&time), "captured at {time}");
        // The context is the first run's, not the replaying one's.
        assert_eq!(attribute(&record.attributes, "$session_id"), text(&first_run_id));
        assert_ne!(first_run_id, telemetry.session_id());
    }
    let first_record = &records[0].attributes;
    assert_eq!(attribute(first_record, "crates"), Some(Any::IntValue(12)));
    assert_eq!(attribute(first_record, "seconds"), Some(Any::DoubleValue(1.0)));
    match attribute(first_record, "profiles") {
        Some(Any::ArrayValue(list)) => {
            let profiles: Vec<_> = list.values.iter().map(|v| v.value.clone()).collect();
            assert_eq!(
                profiles,
                [Some(Any::StringValue("dev".into())), Some(Any::StringValue("test".into()))]
            );
        }
        other => panic!("profiles: {other:?}"),
    }

    let metrics = accepted_at(&server, "/v1/metrics");
    assert_eq!(metrics.len(), 1, "{:#?}", server.requests());
    let decoded: ExportMetricsServiceRequest = telemetry_tests::otlp::decode(&metrics[0]);
    let mut counts = Vec::new();
    for metric in &decoded.resource_metrics[0].scope_metrics[0].metrics {
        assert_eq!(metric.name, "builds");
        let Some(Data::Sum(sum)) = &metric.data else { panic!("not a sum: {metric:?}") };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, 1, "delta");
        let point = &sum.data_points[0];
        let Some(number_data_point::Value::AsInt(count)) = point.value else { panic!("{point:?}") };
        let Some(Any::StringValue(status)) = attribute(&point.attributes, "status") else {
            panic!("{point:?}")
        };
        counts.push((status, count));
    }
    counts.sort();
    assert_eq!(counts, [("failed".to_owned(), 1), ("ok".to_owned(), 3)]);
}

#[test]
fn a_batch_spooled_for_a_sink_of_the_applications_own_is_replayed_through_it() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.down();
    let first = {
        let sink = envelope_sink(&server);
        let log = sink.log();
        let telemetry = Telemetry::new(Sandbox::spooling_config_in(sandbox.path()).sink(sink)).unwrap();
        for n in 0..3u32 {
            telemetry.capture_with(&PAGE_VIEWED, Properties::new().with("section", "Home").with("n", n));
        }
        assert!(!telemetry.flush(SOON), "the endpoint is down");
        log.seen()
    };
    assert_eq!(first.len(), 3);
    assert_eq!(spool_files(sandbox.path()).len(), 1);

    server.up();
    let sink = envelope_sink(&server);
    let log = sink.log();
    let telemetry = replay(sandbox.path(), Sandbox::spooling_config_in(sandbox.path()).sink(sink));
    assert_eq!(telemetry.stats().sent, 3);

    // The sink was given the same events, and it posted them.
    let key = |seen: &Seen| (seen.name.clone(), seen.uuid.clone(), seen.time_ms, seen.properties.clone());
    assert_eq!(log.seen().iter().map(key).collect::<Vec<_>>(), first.iter().map(key).collect::<Vec<_>>());
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!((requests[0].path.as_str(), requests[0].header("x-shape")), ("/ingest", Some("envelope")));
    let events = envelope_events(&requests[0]);
    for (event, seen) in events.iter().zip(&first) {
        assert_eq!(event["id"], seen.uuid.as_str());
        assert_eq!(event["name"], "page_viewed");
        assert_eq!(event["time_ms"], seen.time_ms as u64);
        assert_eq!(event["properties"], Json::Object(seen.properties.clone()));
    }
}

#[test]
fn a_spooled_hashed_field_replays_the_keyed_hash_it_would_have_sent() {
    let canary = Canary::new("path");
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    // The first attempt reaches the server, which cannot take it yet.
    server.set_default(Behaviour::Status(503));
    let config = |envelope: Custom| {
        Sandbox::spooling_config_in(sandbox.path()).sink(posthog_sink(&server)).sink(envelope)
    };
    let first = envelope_sink(&server);
    let first_log = first.log();
    {
        let telemetry = Telemetry::new(config(first)).unwrap();
        telemetry.capture(&RepoOpened { commits: 40, path: canary.text() });
        assert!(!telemetry.flush(SOON), "the endpoint is unavailable");
    }
    let attempts = server.requests();
    assert_eq!(attempts.len(), 2, "one attempt per sink");
    let posthog_hash =
        attempts.iter().find(|r| r.path == "/batch/").unwrap().events()[0]["properties"]["path"].clone();
    let hash = posthog_hash.as_str().expect("a keyed hash").to_owned();
    assert!(hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
    let envelope = attempts.iter().find(|r| r.path == "/ingest").unwrap();
    assert_eq!(envelope_events(envelope)[0]["properties"]["path"], hash.as_str());
    assert_eq!(first_log.seen()[0].hashed, ["path"]);

    assert_eq!(spool_files(sandbox.path()).len(), 2, "one batch per sink");
    let on_disk = every_file(&sandbox);
    assert!(!canary.found_in(&on_disk), "the raw value is on disk");
    let spooled: Vec<u8> =
        spool_files(sandbox.path()).iter().flat_map(|f| std::fs::read(f).unwrap()).collect();
    assert!(telemetry_tests::contains_bytes(&spooled, hash.as_bytes()), "the keyed hash is spooled");

    server.set_default(Behaviour::Status(200));
    let second = envelope_sink(&server);
    let second_log = second.log();
    let telemetry = replay(sandbox.path(), config(second));
    // The same value captured again in this run, for comparison.
    telemetry.capture(&RepoOpened { commits: 41, path: canary.text() });
    assert!(telemetry.flush(SOON));

    let accepted: Vec<Request> = server.requests().into_iter().filter(|r| r.accepted()).collect();
    let posthog: Vec<Json> =
        accepted.iter().filter(|r| r.path == "/batch/").flat_map(|r| r.events()).collect();
    let envelopes: Vec<Json> =
        accepted.iter().filter(|r| r.path == "/ingest").flat_map(envelope_events).collect();
    assert_eq!(posthog.len(), 2, "the replay and the new capture");
    assert_eq!(envelopes.len(), 2, "the replay and the new capture");
    for (posthog, envelope) in posthog.iter().zip(&envelopes) {
        assert_eq!(posthog["properties"]["path"], hash.as_str(), "{posthog}");
        assert_eq!(envelope["properties"]["path"], hash.as_str(), "{envelope}");
    }
    let seen = second_log.seen();
    assert_eq!(seen.len(), 2);
    for seen in &seen {
        assert_eq!(seen.properties["path"], hash.as_str(), "{seen:?}");
    }
    // The replay gives the sink a keyed hash, as the first try did, not
    // text: the spool keeps each value's kind.
    assert_eq!(seen[0].hashed, ["path"], "replayed");
    assert_eq!(seen[1].hashed, ["path"], "captured in this run");
    assert!(!server.raw_bytes().iter().any(|raw| canary.found_in(raw)), "the raw value on the wire");
    assert!(!canary.found_in(&every_file(&sandbox)), "the raw value is on disk");
}

#[test]
fn objects_and_lists_round_trip_through_the_spool_with_equal_values() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.set_default(Behaviour::Status(503));
    let config = |envelope: Custom| {
        Sandbox::spooling_config_in(sandbox.path()).sink(posthog_sink(&server)).sink(envelope)
    };
    let first = envelope_sink(&server);
    let first_log = first.log();
    {
        let telemetry = Telemetry::new(config(first)).unwrap();
        let step =
            |outcome, seconds, delta, usage| Step { outcome, seconds, delta, usage, host: "build-3".into() };
        telemetry.capture(&PlanRan {
            steps: vec![
                step(Outcome::Done, 1.0, -3, Some(Usage { prompt_tokens: 120, completion_tokens: 8 })),
                step(Outcome::Failed, 0.5, 4, None),
            ],
            total: Usage { prompt_tokens: 120, completion_tokens: 8 },
            labels: vec!["nightly".into(), "été".into(), String::new()],
            scores: vec![0.25, 1.0, -2.5, 1e20],
            by_outcome: [(Outcome::Done, 1), (Outcome::Failed, 1)].into(),
            largest: u64::MAX,
            finished: false,
        });
        assert!(!telemetry.flush(SOON), "the endpoint is unavailable");
    }
    let attempt = server.requests().into_iter().find(|r| r.path == "/batch/").unwrap().events().remove(0);
    let first_seen = first_log.seen().remove(0);
    let properties = &attempt["properties"];
    assert_eq!(properties["steps"][0]["seconds"], serde_json::json!(1.0), "a float stays a float");
    assert_eq!(properties["steps"][1].get("usage"), None, "a null object is left out");
    assert_eq!(properties["largest"], u64::MAX);

    server.set_default(Behaviour::Status(200));
    let second = envelope_sink(&server);
    let second_log = second.log();
    replay(sandbox.path(), config(second));
    let replayed = server.accepted_events();
    assert_eq!(replayed.len(), 1);
    // Equal as JSON values: object keys may come back in another order.
    assert_eq!(replayed[0], attempt, "the event PostHog gets on the replay");
    let second_seen = second_log.seen();
    assert_eq!(second_seen.len(), 1);
    assert_eq!(second_seen[0].properties, first_seen.properties, "the views the custom sink gets");
    let envelope = server.requests().into_iter().find(|r| r.accepted() && r.path == "/ingest").unwrap();
    assert_eq!(envelope_events(&envelope)[0]["properties"], Json::Object(first_seen.properties));
}

#[test]
fn an_event_that_needed_full_is_not_replayed_at_usage() {
    let note = Canary::new("note");
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.down();
    {
        let telemetry = Telemetry::new(
            Sandbox::spooling_config_in(sandbox.path()).consent(Level::Full).sink(envelope_sink(&server)),
        )
        .unwrap();
        telemetry.capture(&NoteTaken { words: 3, note: note.text() });
        telemetry.capture(&ScreenShared { width: 1920 });
        telemetry.capture_with(&PAGE_VIEWED, Properties::new().with("section", "Home").with("n", 1u8));
        assert!(!telemetry.flush(SOON), "the endpoint is down");
    }
    assert_eq!(spool_files(sandbox.path()).len(), 1);

    server.up();
    // The user lowered consent to `Usage` between the runs.
    let telemetry = replay(
        sandbox.path(),
        Sandbox::spooling_config_in(sandbox.path()).consent(Level::Usage).sink(envelope_sink(&server)),
    );
    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped(DropReason::ConsentWithdrawn)), (1, 2), "{stats:?}");
    let names: Vec<Json> =
        server.requests().iter().flat_map(envelope_events).map(|e| e["name"].clone()).collect();
    assert_eq!(names, ["page_viewed"], "only what `Usage` allows");
    assert!(!server.raw_bytes().iter().any(|raw| note.found_in(raw)), "the note left at usage");
}
