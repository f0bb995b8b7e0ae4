//! Instrumented calls as spans for the user's own collector: a process of
//! its own (the global client, which instrumented functions report to, is
//! set up once) with four routes on real HTTP servers on 127.0.0.1:
//!
//! - the user's own OTLP collector (`Route::owned_by_user`): spans on
//!   `/v1/traces`, nested as the calls were on their thread;
//! - a vendor's OTLP collector (`Route::default()`): the same calls as log
//!   records, without trace or span ids;
//! - a vendor's OTLP collector that asks for spans (`Route::default().spans(true)`),
//!   in JSON: spans too;
//! - PostHog: the calls as events, as before, and no trace or span id.
//!
//! Every body is decoded with the official definitions.

use std::collections::BTreeMap;
use std::time::Duration;

use telemetry_runtime::sink::{OtlpSink, Protocol};
use telemetry_runtime::{requires_telemetry, Level, Route};
use telemetry_tests::otlp::{self, attribute, proto};
use telemetry_tests::{block_on, child, posthog_sink, Sandbox, TestServer, YieldOnce};

use proto::common::v1::any_value::Value as Any;
use proto::trace::v1::Span;

const SOON: Duration = Duration::from_secs(10);

/// Never recorded: arguments not named in `args(...)`.
const PATH_CANARY: &str = "CANARY-span-path-qzx";
const UNNAMED_NUMBER: u64 = 918_273_645_546_372;

#[derive(Debug)]
struct LookupError;

#[requires_telemetry(instrument, args(count))]
fn outer(count: u32, path: &str) -> usize {
    let mut found = 0;
    for n in 0..count {
        if inner(n, UNNAMED_NUMBER).is_ok() {
            found += 1;
        }
    }
    found + path.len()
}

#[requires_telemetry(instrument, args(n))]
fn inner(n: u32, secret: u64) -> Result<u32, LookupError> {
    let _ = secret;
    if n == 1 {
        return Err(LookupError);
    }
    Ok(n)
}

#[requires_telemetry(instrument)]
fn on_another_thread() -> u32 {
    7
}

#[requires_telemetry(instrument)]
fn panics() -> u32 {
    panic!("inside an instrumented call")
}

#[requires_telemetry(instrument, args(n))]
async fn later(n: u32) -> u32 {
    YieldOnce::default().await;
    n + 1
}

/// The calls: `outer` with three `inner` children (the second fails),
/// a call on another thread made from inside `outer`'s trace, one that
/// panics (its span still closes: the next call is a root again), and an
/// `async` call inside a sync one.
#[requires_telemetry(instrument)]
fn workload() -> usize {
    let found = outer(3, PATH_CANARY);
    let elsewhere = std::thread::spawn(on_another_thread).join().unwrap();
    let caught = std::panic::catch_unwind(panics).is_err();
    let async_result = block_on(later(1));
    found + elsewhere as usize + usize::from(caught) + async_result as usize
}

fn spans_of(server: &TestServer) -> Vec<Span> {
    let requests: Vec<_> = server.requests().into_iter().filter(|r| r.path == "/v1/traces").collect();
    requests
        .iter()
        .flat_map(|request| {
            let decoded = otlp::traces(request);
            assert_eq!(decoded.resource_spans.len(), 1);
            let resource = decoded.resource_spans[0].resource.clone().unwrap();
            assert_eq!(
                attribute(&resource.attributes, "service.name"),
                Some(&Any::StringValue("spanapp".into()))
            );
            decoded.resource_spans[0].scope_spans[0].spans.clone()
        })
        .collect()
}

fn log_event_names(server: &TestServer) -> Vec<String> {
    let requests: Vec<_> = server.requests().into_iter().filter(|r| r.path == "/v1/logs").collect();
    requests
        .iter()
        .flat_map(|request| {
            let decoded = otlp::logs(request);
            let records = decoded.resource_logs[0].scope_logs[0].log_records.clone();
            records.into_iter().map(|record| record.event_name)
        })
        .collect()
}

#[test]
fn instrumented_calls_are_nested_spans_for_the_users_collector_and_events_for_vendors() {
    child::isolated(
        "spans::instrumented_calls_are_nested_spans_for_the_users_collector_and_events_for_vendors",
        || {
            let sandbox = Sandbox::new();
            let own = TestServer::start();
            let vendor = TestServer::start();
            let asking = TestServer::start();
            let posthog = TestServer::start();
            let guard = telemetry_runtime::init(config_for(&sandbox, &own, &vendor, &asking, &posthog))
                .expect("init");
            assert_eq!(workload(), 2 + PATH_CANARY.len() + 7 + 1 + 2);
            assert!(guard.flush(SOON));

            // The user's own collector: one span per call, nothing as log records.
            let spans = spans_of(&own);
            let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(spans.len(), 7, "{names:?}");
            assert!(log_event_names(&own).is_empty(), "calls also sent as log records");
            let by_name = |name: &str| -> Vec<&Span> { spans.iter().filter(|s| s.name == name).collect() };
            let root = by_name("workload");
            assert_eq!(root.len(), 1);
            let root = root[0];
            assert!(root.parent_span_id.is_empty(), "the outermost call is a root");
            assert_eq!((root.trace_id.len(), root.span_id.len()), (16, 8));
            assert_ne!(root.trace_id, [0; 16]);
            let outer_span = by_name("outer")[0];
            assert_eq!((&outer_span.trace_id, &outer_span.parent_span_id), (&root.trace_id, &root.span_id));
            let inners = by_name("inner");
            assert_eq!(inners.len(), 3);
            for child in &inners {
                assert_eq!(child.trace_id, root.trace_id, "one trace");
                assert_eq!(child.parent_span_id, outer_span.span_id, "inner runs inside outer");
                assert!(child.start_time_unix_nano >= outer_span.start_time_unix_nano);
                assert!(child.end_time_unix_nano <= outer_span.end_time_unix_nano);
                assert!(child.start_time_unix_nano <= child.end_time_unix_nano);
                assert_eq!(child.kind, 1, "internal");
            }
            let ids: std::collections::BTreeSet<&Vec<u8>> = spans.iter().map(|s| &s.span_id).collect();
            assert_eq!(ids.len(), spans.len(), "distinct span ids");
            // The arguments named in args(...), and the call's own properties;
            // nothing else.
            let attributes = |span: &Span| otlp::attribute_map(&span.attributes);
            let ns: Vec<String> = inners.iter().map(|s| attributes(s)["n"].clone()).collect();
            assert_eq!(ns, ["IntValue(0)", "IntValue(1)", "IntValue(2)"]);
            let failed = inners.iter().find(|s| attributes(s)["n"] == "IntValue(1)").unwrap();
            let status = failed.status.as_ref().expect("an error status");
            assert_eq!(status.code, 2);
            assert!(status.message.contains("LookupError"), "{status:?}");
            assert_eq!(attributes(failed)["outcome"], "error");
            assert!(
                inners.iter().filter(|s| s.status.is_none()).count() == 2,
                "successes leave the status unset"
            );
            assert_eq!(attributes(outer_span)["count"], "IntValue(3)");
            assert!(!attributes(outer_span).contains_key("path"));
            assert!(attributes(outer_span).contains_key("duration_ms"));
            // Another thread: a trace of its own.
            let elsewhere = by_name("on_another_thread")[0];
            assert!(elsewhere.parent_span_id.is_empty());
            assert_ne!(elsewhere.trace_id, root.trace_id);
            // A panic ends its call's span like a return: the calls after it are
            // children of `workload` again.
            let panicked = by_name("panics");
            assert_eq!(panicked.len(), 0, "a call that panicked records nothing (as its event)");
            let async_span = by_name("later")[0];
            assert_eq!((&async_span.trace_id, &async_span.parent_span_id), (&root.trace_id, &root.span_id));
            assert_eq!(attributes(async_span)["n"], "IntValue(1)");

            // A vendor's OTLP route: the calls as log records, no traces.
            let vendor_names = log_event_names(&vendor);
            assert_eq!(vendor_names.len(), 7, "{vendor_names:?}");
            assert!(vendor.requests().iter().all(|r| r.path != "/v1/traces"));
            assert!(!vendor.received(&root.trace_id) && !vendor.received(&root.span_id));
            // A vendor's route that asks for spans gets them (in JSON here).
            let asked = spans_of(&asking);
            assert_eq!(asked.len(), 7);
            assert!(log_event_names(&asking).is_empty());
            // PostHog: the calls as events, without any id of the trace.
            let events: Vec<serde_json::Value> = posthog.requests().iter().flat_map(|r| r.events()).collect();
            let mut counts = BTreeMap::new();
            for event in &events {
                *counts.entry(event["event"].as_str().unwrap().to_owned()).or_insert(0) += 1;
            }
            assert_eq!(counts["inner"], 3);
            let hex: String = root.trace_id.iter().map(|b| format!("{b:02x}")).collect();
            assert!(!posthog.received(hex.as_bytes()) && !posthog.received(&root.trace_id));
            // Never the unnamed arguments, on any route.
            for server in [&own, &vendor, &asking, &posthog] {
                assert!(!server.received(PATH_CANARY.as_bytes()));
                assert!(!server.received(UNNAMED_NUMBER.to_string().as_bytes()));
                assert!(!server.received(&UNNAMED_NUMBER.to_le_bytes()));
            }
            drop(guard);
        },
    );
}

fn config_for(
    sandbox: &Sandbox,
    own: &TestServer,
    vendor: &TestServer,
    asking: &TestServer,
    posthog: &TestServer,
) -> telemetry_runtime::Config {
    telemetry_runtime::Config::new("spanapp", "2.0.0")
        .environment(|_| None)
        .dirs(|_| telemetry_runtime::Dirs {
            cache: Some(sandbox.cache_dir()),
            config: Some(sandbox.config_dir()),
            data: Some(sandbox.data_dir()),
        })
        .notice(|n| telemetry_runtime::Notice { enabled: false, ..n })
        .consent(Level::Usage)
        .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d })
        .route(OtlpSink::new(&own.url()).unwrap(), Route::default().owned_by_user())
        .route(OtlpSink::new(&vendor.url()).unwrap(), Route::default())
        .route(
            OtlpSink::new(&asking.url()).unwrap().protocol(Protocol::HttpJson),
            Route::default().spans(true),
        )
        .route(posthog_sink(posthog), Route::default())
}
