//! Per-sink routes: which events each sink sees and at which level, with
//! classification holding on every sink (ToolHive's dual-endpoint design).

use std::time::Duration;

use telemetry_runtime::sink::HttpSink;
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Level, Properties, Route, Telemetry, TelemetryEvent};
use telemetry_tests::{posthog_sink, Behaviour, Gate, Sandbox, TestServer};

const SOON: Duration = Duration::from_secs(5);
const SECRET: &str = "CANARY-route-secret-qz";
const QUERY: &str = "CANARY-route-query-qz";

telemetry_runtime::counter! {
    /// Tool calls, by outcome.
    static TOOL_CALLS = "routed_tool_calls", labels: [status: Status = ["ok"]];
}

telemetry_runtime::event! {
    /// An event the filtered sink keeps.
    static KEPT = "kept" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// An event the filtered sink leaves out.
    static OTHER = "other" {
        /// Its number.
        i: u64,
    }
}

/// A run, with every kind of field.
#[derive(TelemetryEvent)]
struct RoutedRun {
    steps: u32,
    /// The user's words.
    #[telemetry(opt_in)]
    query: String,
    /// Never sent anywhere.
    #[telemetry(redact)]
    token: String,
}

/// An event that exists only at full consent.
#[derive(TelemetryEvent)]
#[telemetry(opt_in)]
struct FullOnlyRun {
    steps: u32,
}

fn capture_everything(telemetry: &Telemetry) {
    telemetry.capture(&RoutedRun { steps: 3, query: QUERY.into(), token: SECRET.into() });
    telemetry.capture(&FullOnlyRun { steps: 4 });
    for _ in 0..10 {
        telemetry.add(&TOOL_CALLS, Status::Ok, 1);
    }
    assert!(telemetry.flush(SOON));
}

fn names(events: &[serde_json::Value]) -> Vec<String> {
    let mut names: Vec<String> = events.iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[test]
fn the_vendor_gets_anonymous_counts_and_the_user_collector_gets_what_the_user_allowed() {
    let sandbox = Sandbox::new();
    let vendor = TestServer::start();
    let own = TestServer::start();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .consent(Level::Full)
            .route(posthog_sink(&vendor), Route::counters_only().max_level(Level::Usage))
            .route(
                HttpSink::new(format!("{}/events", own.url()))
                    .unwrap()
                    .http(|h| telemetry_runtime::sink::HttpOptions { gzip_above: None, ..h }),
                Route::default(),
            ),
    )
    .unwrap();
    capture_everything(&telemetry);

    let vendor_events = vendor.accepted_events();
    assert_eq!(names(&vendor_events), ["routed_tool_calls"], "the vendor sees counters only");
    assert_eq!(vendor_events[0]["properties"]["count"], 10);
    let own_events = own.accepted_events();
    assert_eq!(names(&own_events), ["full_only_run", "routed_run", "routed_tool_calls"]);
    let run = own_events.iter().find(|e| e["event"] == "routed_run").unwrap();
    assert_eq!(run["properties"]["query"], QUERY, "full consent: the user's own collector gets the query");
    for server in [&vendor, &own] {
        assert!(!server.received(SECRET.as_bytes()), "a redacted value left the process");
    }
    assert!(!vendor.received(QUERY.as_bytes()));
}

#[test]
fn routing_matrix_of_consent_and_sink_levels() {
    for consent in [Level::Usage, Level::Full] {
        for sink_level in [Level::Usage, Level::Full] {
            let sandbox = Sandbox::new();
            let memory = MemorySink::new();
            let telemetry = Telemetry::new(
                sandbox
                    .config()
                    .consent(consent)
                    .route(memory.clone(), Route::default().max_level(sink_level)),
            )
            .unwrap();
            capture_everything(&telemetry);
            let seen = consent.min(sink_level);
            let events = memory.events();
            let raw = memory.raw().join("\n");
            let case = format!("consent {consent}, sink {sink_level}");
            assert!(!raw.contains(SECRET), "{case}: redacted value sent");
            assert_eq!(raw.contains(QUERY), seen == Level::Full, "{case}: opt-in field");
            assert_eq!(
                events.iter().any(|e| e["event"] == "full_only_run"),
                seen == Level::Full,
                "{case}: opt-in event"
            );
            assert!(events.iter().any(|e| e["event"] == "routed_run"), "{case}: the event itself");
            assert!(events.iter().any(|e| e["event"] == "routed_tool_calls"), "{case}: counters");
        }
    }
}

#[test]
fn an_allow_list_admits_only_the_named_events() {
    let sandbox = Sandbox::new();
    let listed = MemorySink::new();
    let everything = MemorySink::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .consent(Level::Full)
            .route(listed.clone(), Route::only(["routed_run", "routed_tool_calls"]))
            .sink(everything.clone()),
    )
    .unwrap();
    capture_everything(&telemetry);
    assert_eq!(names(&listed.events()), ["routed_run", "routed_tool_calls"]);
    assert_eq!(names(&everything.events()), ["full_only_run", "routed_run", "routed_tool_calls"]);
}

#[test]
fn a_filtered_sink_still_gets_full_batches_in_order() {
    let server = TestServer::start();
    let gate = Gate::new();
    server.script([Behaviour::Gate(gate.clone())]);
    let sandbox = Sandbox::new();
    let everything = MemorySink::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .consent(Level::Usage)
            .delivery(|d| telemetry_runtime::Delivery {
                batch_size: 10,
                max_batch_size: 10,
                flush_interval: Duration::from_secs(3600),
                ..d
            })
            .route(posthog_sink(&server), Route::only(["kept"]))
            .sink(everything.clone()),
    )
    .unwrap();
    // Hold the worker in a first request so that the next events queue up
    // together, whatever the thread timing.
    telemetry.capture_with(&KEPT, Properties::new().with("i", 1000u32));
    assert!(!telemetry.flush(Duration::ZERO));
    assert!(server.wait_for_requests(1, SOON));
    // One kept event in three: each batch of ten queued events holds only
    // three or four for the filtered sink, which must still get ten at a time.
    for i in 0..95u32 {
        let event = if i % 3 == 0 { &KEPT } else { &OTHER };
        telemetry.capture_with(event, Properties::new().with("i", i));
    }
    gate.open();
    assert!(telemetry.flush(SOON));
    let sizes: Vec<usize> = server.requests().iter().map(|r| r.events().len()).collect();
    assert_eq!(sizes, [1, 10, 10, 10, 2], "events per request");
    let kept: Vec<u64> =
        server.accepted_events().iter().map(|e| e["properties"]["i"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = std::iter::once(1000).chain((0..95).step_by(3)).collect();
    assert_eq!(kept, expected, "all kept events, in capture order");
    assert_eq!(everything.events().len(), 96);
}
