//! What goes over the wire: PostHog's batch API exactly as its capture
//! service reads it, the generic HTTP JSON sink, and when batches leave
//! (by size, by interval, on flush).

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value as Json;
use telemetry_runtime::cli::Status;
use telemetry_runtime::sink::HttpSink;
use telemetry_runtime::{Properties, Telemetry, Value};

/// The library's name and version as events carry them (the tests' version
/// is the workspace's, the runtime's own).
const LIB_NAME: &str = "telemetry-runtime";
const LIB_VERSION: &str = env!("CARGO_PKG_VERSION");
use telemetry_tests::{is_rfc3339_utc, posthog_sink, Behaviour, Gate, Sandbox, TestServer, API_KEY, SOON};

telemetry_runtime::event! {
    /// A command ran: one property of each kind of value.
    static COMMAND_RUN = "command_run" {
        /// The subcommand, from a fixed list.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        command: String,
        /// Whether it worked.
        ok: bool,
        /// A number.
        count: u64,
        /// A float.
        ratio: f64,
        /// Absent here.
        missing: Option<u32>,
        /// Not a number here.
        nan: f64,
        /// Tags from a fixed set.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        tags: Vec<String>,
        /// The target triple's architecture.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        target: String,
    }
}

telemetry_runtime::event! {
    /// The second event of the batch.
    static SECOND_EVENT = "second_event" {}
}

telemetry_runtime::event! {
    /// An event.
    static E = "e" {}
}

telemetry_runtime::event! {
    /// Sent to the generic HTTP sink.
    static GENERIC = "generic" {
        /// A number.
        n: u8,
    }
}

telemetry_runtime::event! {
    /// One of the events that fill a batch.
    static SIZED = "sized" {}
}

telemetry_runtime::event! {
    /// Holds the worker in a first request.
    static WARM_UP = "warm_up" {}
}

telemetry_runtime::event! {
    /// One of the events queued behind the first request.
    static QUEUED = "queued" {}
}

telemetry_runtime::event! {
    /// Sent when the flush interval ends.
    static TICKED = "ticked" {}
}

telemetry_runtime::event! {
    /// The one event of a flush.
    static ONE = "one" {}
}

telemetry_runtime::event! {
    /// Sent to several sinks.
    static FAN_OUT = "fan_out" {}
}

telemetry_runtime::event! {
    /// A command that was retried.
    static RETRIED_COMMAND = "retried_command" {
        /// Which attempt.
        attempt: u8,
    }
}

/// A step finished: durations of each form a field can take.
#[derive(telemetry_runtime::TelemetryEvent)]
struct StepTimed {
    /// How long the step took.
    duration_ms: Duration,
    /// How long each try took.
    tries_ms: Vec<Duration>,
    /// How long it waited, when it did.
    wait_ms: Option<Duration>,
}

telemetry_runtime::event! {
    /// A step finished, its duration given at run time.
    static STEP_TIMED_DYNAMIC = "step_timed_dynamic" {
        /// How long the step took.
        duration_ms: Duration,
    }
}

fn keys(value: &Json) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().expect("a JSON object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn posthog_batch_request_is_exactly_what_the_capture_api_expects() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    telemetry.capture_with(
        &COMMAND_RUN,
        Properties::new()
            .with("command", "build")
            .with("ok", true)
            .with("count", 3u32)
            .with("ratio", 0.5)
            .with("missing", None::<u32>)
            .with("nan", f64::NAN)
            .with("tags", vec!["a", "b"])
            .with("target", Value::Text(String::from("x86_64").into())),
    );
    telemetry.capture_with(&SECOND_EVENT, Properties::new());
    assert!(telemetry.flush(SOON));

    let requests = server.requests();
    assert_eq!(requests.len(), 1, "two events, one batch");
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/batch/");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(request.header("user-agent").is_some_and(|ua| ua.starts_with("telemetry-runtime/")));
    // No compression unless announced.
    assert_eq!(request.header("content-encoding"), None);

    let body = request.json();
    assert_eq!(keys(&body), ["api_key", "batch", "historical_migration", "sent_at"]);
    assert_eq!(body["api_key"], API_KEY);
    assert_eq!(body["historical_migration"], false);
    let sent_at = body["sent_at"].as_str().unwrap();
    assert!(is_rfc3339_utc(sent_at), "sent_at {sent_at:?}");

    let events = body["batch"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let session = telemetry.session_id();
    for event in events {
        assert_eq!(keys(event), ["distinct_id", "event", "properties", "timestamp", "uuid"]);
        let uuid = uuid::Uuid::parse_str(event["uuid"].as_str().unwrap()).expect("a valid uuid");
        let timestamp = event["timestamp"].as_str().unwrap();
        assert!(is_rfc3339_utc(timestamp), "timestamp {timestamp:?}");
        // A version 7 uuid, as PostHog's SDKs send: it holds the event's
        // own timestamp to the millisecond, and nothing else but randomness.
        assert_eq!(uuid.get_version(), Some(uuid::Version::SortRand), "{uuid}");
        let (seconds, nanos) = uuid.get_timestamp().expect("a time-ordered uuid").to_unix();
        let millis = seconds * 1000 + u64::from(nanos / 1_000_000);
        assert_eq!(Some(millis), telemetry_tests::rfc3339_unix_millis(timestamp), "{uuid} at {timestamp}");
        // Same format, so text order is time order: sent after it happened.
        assert!(timestamp <= sent_at, "{timestamp} > {sent_at}");
        let distinct_id = event["distinct_id"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(distinct_id).is_ok(), "anonymous install id {distinct_id:?}");
        let props = &event["properties"];
        assert_eq!(props["$lib"], LIB_NAME);
        assert_eq!(props["$lib"], "telemetry-runtime");
        assert_eq!(props["$lib_version"], LIB_VERSION);
        assert_eq!(props["$process_person_profile"], false);
        assert_eq!(props["$session_id"], session);
        assert_eq!(props["$app_version"], "1.2.3");
        assert_eq!(props["$os"], std::env::consts::OS);
        assert_eq!(props["$arch"], std::env::consts::ARCH);
        assert!(
            props.as_object().unwrap().values().all(|v| !v.is_null()),
            "null values are omitted: {props}"
        );
    }
    assert_ne!(events[0]["uuid"], events[1]["uuid"]);
    assert_eq!(events[0]["distinct_id"], events[1]["distinct_id"]);

    let first = &events[0];
    assert_eq!(first["event"], "command_run");
    let props = first["properties"].as_object().unwrap();
    assert_eq!(props["command"], "build");
    assert_eq!(props["ok"], true);
    assert_eq!(props["count"], 3);
    assert_eq!(props["ratio"], 0.5);
    assert_eq!(props["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(props["target"], "x86_64");
    assert!(!props.contains_key("missing"), "a None property is omitted, not null");
    assert!(!props.contains_key("nan"), "a NaN property is omitted");
    assert_eq!(events[1]["event"], "second_event");

    let stats = telemetry.stats();
    assert_eq!((stats.captured, stats.sent, stats.failed, stats.retried), (2, 2, 0, 0));
    assert_eq!(stats.dropped_total(), 0);
}

#[test]
fn posthog_host_with_a_trailing_slash_still_posts_to_batch() {
    let server = TestServer::start();
    let sink = telemetry_runtime::sink::PostHogSink::new(API_KEY)
        .unwrap()
        .host(&format!("{}/", server.url()))
        .unwrap();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    telemetry.capture_with(&E, Properties::new());
    assert!(telemetry.flush(SOON));
    assert_eq!(server.requests()[0].path, "/batch/");
}

#[test]
fn generic_http_sink_sends_sent_at_and_batch_with_custom_headers() {
    let server = TestServer::start();
    let sink = HttpSink::new(format!("{}/v1/events?src=test", server.url()))
        .unwrap()
        .header("Authorization", "Bearer secret-token")
        .unwrap()
        .header("X-Custom", "yes")
        .unwrap()
        .http(telemetry_tests::fast);
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    for _ in 0..3 {
        telemetry.capture_with(&GENERIC, Properties::new().with("n", 1u8));
    }
    assert!(telemetry.flush(SOON));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/events?src=test");
    assert_eq!(request.header("authorization"), Some("Bearer secret-token"));
    assert_eq!(request.header("x-custom"), Some("yes"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = request.json();
    assert_eq!(keys(&body), ["batch", "sent_at"], "no api_key outside PostHog");
    assert!(is_rfc3339_utc(body["sent_at"].as_str().unwrap()));
    let events = body["batch"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["event"] == "generic" && e["properties"]["n"] == 1));
    assert_eq!(telemetry.stats().sent, 3);
}

#[test]
fn a_full_batch_leaves_without_flush_and_a_partial_one_waits() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(posthog_sink(&server))
            .delivery(|d| telemetry_runtime::Delivery { batch_size: 10, ..telemetry_tests::on_flush(d) }),
    )
    .unwrap();
    for _ in 0..10 {
        telemetry.capture_with(&SIZED, Properties::new());
    }
    assert!(server.wait_for_requests(1, SOON), "a full batch is sent without flush or interval");
    assert_eq!(server.requests()[0].events().len(), 10);

    for _ in 0..5 {
        telemetry.capture_with(&SIZED, Properties::new());
    }
    // The interval is two minutes away: five events stay queued.
    assert!(!server.wait_for_requests(2, Duration::from_millis(300)));
    assert!(telemetry.flush(SOON));
    let sizes: Vec<usize> = server.requests().iter().map(|r| r.events().len()).collect();
    assert_eq!(sizes, [10, 5]);
}

#[test]
fn queued_events_go_in_requests_of_up_to_the_max_batch_size() {
    let server = TestServer::start();
    let gate = Gate::new();
    server.script([Behaviour::Gate(gate.clone())]);
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server)).delivery(|d| {
        telemetry_runtime::Delivery { batch_size: 10, max_batch_size: 20, ..telemetry_tests::on_flush(d) }
    }))
    .unwrap();
    // Hold the worker in a first request so the next 45 events queue up
    // together, whatever the thread timing.
    telemetry.capture_with(&WARM_UP, Properties::new());
    assert!(!telemetry.flush(Duration::ZERO));
    assert!(server.wait_for_requests(1, SOON));
    for _ in 0..45 {
        telemetry.capture_with(&QUEUED, Properties::new());
    }
    gate.open();
    assert!(telemetry.flush(SOON));

    let requests = server.requests();
    let sizes: Vec<usize> = requests.iter().map(|r| r.events().len()).collect();
    assert_eq!(sizes, [1, 20, 20, 5], "more than a batch waiting goes in fewer, larger requests");
    let uuids: HashSet<String> = requests.iter().flat_map(|r| r.event_uuids()).collect();
    assert_eq!(uuids.len(), 46, "no event sent twice");
    assert_eq!(telemetry.stats().sent, 46);
}

#[test]
fn events_leave_after_the_flush_interval_without_a_flush() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(posthog_sink(&server))
            .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_millis(100), ..d }),
    )
    .unwrap();
    for _ in 0..3 {
        telemetry.capture_with(&TICKED, Properties::new());
    }
    assert!(server.wait_for_accepted_events(3, SOON), "the interval sends a partial batch");
    assert_eq!(server.accepted_uuids().iter().collect::<HashSet<_>>().len(), 3);
}

#[test]
fn an_empty_flush_sends_nothing() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    assert!(telemetry.flush(SOON), "nothing captured: flushed at once");
    telemetry.capture_with(&ONE, Properties::new());
    assert!(telemetry.flush(SOON));
    assert!(telemetry.flush(SOON));
    assert_eq!(server.requests().len(), 1, "a flush with nothing queued sends no request");
}

#[test]
fn several_sinks_each_get_every_event() {
    let server = TestServer::start();
    let memory = telemetry_runtime::testing::MemorySink::new();
    let sandbox = Sandbox::new();
    let telemetry =
        Telemetry::new(sandbox.config().sink(posthog_sink(&server)).sink(memory.clone())).unwrap();
    assert_eq!(Status::of(&telemetry).sink_names.len(), 2);
    telemetry.capture_with(&FAN_OUT, Properties::new());
    assert!(telemetry.flush(SOON));
    let over_http = server.accepted_events();
    assert_eq!(over_http.len(), 1);
    // Both sinks see the same serialized event.
    assert_eq!(memory.events(), over_http);
    assert_eq!(telemetry.stats().sent, 2, "sent counts (event, sink) pairs");
}

#[test]
fn redirects_are_not_followed() {
    let server = TestServer::start();
    server.script([Behaviour::StatusWithHeaders(307, vec![("Location", "/elsewhere/")])]);
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    telemetry.capture_with(&E, Properties::new());
    assert!(!telemetry.flush(SOON), "events were given up on");
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/batch/"], "telemetry is never re-sent to a place the config did not name");
    assert_eq!(telemetry.stats().dropped(telemetry_runtime::DropReason::Rejected), 1);
}

#[test]
fn a_property_set_twice_is_sent_once_with_the_last_value() {
    let memory = telemetry_runtime::testing::MemorySink::new();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
    let properties = Properties::new().with("attempt", 1u8).with("attempt", 2u8);
    telemetry.capture_with(&RETRIED_COMMAND, properties);
    assert!(telemetry.flush(SOON));
    let raw = &memory.raw()[0];
    // JSON parsers disagree on duplicate keys (first wins, last wins, error).
    assert_eq!(raw.matches("\"attempt\":").count(), 1, "{raw}");
    assert_eq!(memory.events()[0]["properties"]["attempt"], 2);
}

/// Durations go out as milliseconds to the nearest microsecond: 102,624 ns
/// is `0.103`, not `0.10262399999999999` (its `as_secs_f64() * 1000.0`).
#[test]
fn durations_are_sent_as_milliseconds_to_the_microsecond() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    telemetry.capture(&StepTimed {
        duration_ms: Duration::from_nanos(102_624),
        tries_ms: vec![Duration::from_nanos(1_500), Duration::new(5, 1_999_499), Duration::from_millis(420)],
        wait_ms: Some(Duration::from_nanos(499)),
    });
    telemetry.capture_with(
        &STEP_TIMED_DYNAMIC,
        Properties::new().with("duration_ms", Duration::from_nanos(102_624)),
    );
    assert!(telemetry.flush(SOON));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let body = String::from_utf8(requests[0].decoded_body()).unwrap();
    assert!(
        body.contains(r#""duration_ms":0.103,"tries_ms":[0.002,5001.999,420.0],"wait_ms":0.0"#),
        "{body}"
    );
    let events = requests[0].events();
    assert_eq!(events.len(), 2, "{body}");
    assert_eq!(events[1]["event"], "step_timed_dynamic");
    assert_eq!(events[1]["properties"]["duration_ms"].as_f64(), Some(0.103), "{body}");
    assert!(!body.contains("0.10262399999999999"), "{body}");
}
