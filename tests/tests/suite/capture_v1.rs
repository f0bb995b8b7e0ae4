//! PostHog's capture Analytics V1 (`CaptureApi::AnalyticsV1`), rule by rule
//! of its protocol (`POSTHOG.md`, "Capture Analytics V1"), against a real
//! HTTP server on 127.0.0.1 that answers each event of a request.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use telemetry_runtime::sink::{CaptureApi, PostHogSink};
use telemetry_runtime::{DropReason, Level, Telemetry, TelemetryEvent};
use telemetry_tests::{
    is_rfc3339_utc, rfc3339_unix_millis, Answer, Answerer, Behaviour, Request, Sandbox, TestServer, API_KEY,
    SOON,
};

const PATH: &str = "/i/v1/analytics/events";

/// A step of a run, for the V1 tests.
#[derive(TelemetryEvent)]
struct CapturedStep {
    n: u32,
}

fn v1_sink(server: &TestServer) -> PostHogSink {
    PostHogSink::new(API_KEY)
        .and_then(|sink| sink.host(&server.url()))
        .expect("a PostHog sink")
        .capture_api(CaptureApi::AnalyticsV1)
        .http(telemetry_tests::fast)
        .http(|h| telemetry_runtime::sink::HttpOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            ..h
        })
        .http(|h| telemetry_runtime::sink::HttpOptions { gzip_above: None, ..h })
}

fn client(sandbox: &Sandbox, sink: PostHogSink) -> Telemetry {
    Telemetry::new(
        sandbox
            .config()
            .consent(Level::Usage)
            .sink(sink)
            .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d }),
    )
    .unwrap()
}

fn capture_steps(telemetry: &Telemetry, n: u32) {
    for n in 0..n {
        telemetry.capture(&CapturedStep { n });
    }
}

/// The events of a V1 body.
fn events(request: &Request) -> Vec<Value> {
    request.json()["batch"].as_array().cloned().unwrap_or_default()
}

fn uuids(request: &Request) -> Vec<String> {
    events(request).iter().map(|e| e["uuid"].as_str().unwrap().to_owned()).collect()
}

fn header(request: &Request, name: &str) -> String {
    request.header(name).unwrap_or_else(|| panic!("no {name} header: {:?}", request.headers)).to_owned()
}

/// A 200 whose results give event `n` (its `properties.n`) the result
/// `result_of(n)`.
fn results(
    result_of: impl Fn(u64) -> &'static str + Send + Sync + 'static,
    extra: Vec<(String, String)>,
) -> Behaviour {
    Behaviour::Answer(Answerer::new(move |request: &Request| {
        let mut results = serde_json::Map::new();
        for event in events(request) {
            let n = event["properties"]["n"].as_u64().unwrap();
            results.insert(
                event["uuid"].as_str().unwrap().to_owned(),
                json!({ "result": result_of(n), "details": "x" }),
            );
        }
        Answer { status: 200, headers: extra.clone(), body: json!({ "results": results }).to_string() }
    }))
}

#[test]
fn requests_go_to_the_v1_endpoint_with_the_key_in_a_bearer_header_and_v1_bodies() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = client(&sandbox, v1_sink(&server));
    capture_steps(&telemetry, 3);
    assert!(telemetry.flush(SOON));
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", PATH));
    assert_eq!(header(request, "authorization"), format!("Bearer {API_KEY}"));
    assert_eq!(header(request, "content-type"), "application/json");
    assert!(header(request, "user-agent").starts_with("telemetry-runtime/"));
    assert_eq!(
        header(request, "posthog-sdk-info"),
        format!("telemetry-runtime/{}", env!("CARGO_PKG_VERSION"))
    );
    assert!(uuid::Uuid::parse_str(&header(request, "posthog-request-id")).is_ok());
    assert_eq!(header(request, "posthog-attempt"), "1");
    assert!(is_rfc3339_utc(&header(request, "posthog-request-timestamp")));
    let body = request.json();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["batch", "created_at"], "no api_key, token, sent_at or historical_migration");
    assert!(is_rfc3339_utc(body["created_at"].as_str().unwrap()));
    assert!(!server.received(format!("\"{API_KEY}\"").as_bytes()), "the key only in the header");
    let events = events(request);
    assert_eq!(events.len(), 3);
    for (n, event) in events.iter().enumerate() {
        assert_eq!(event["event"], "captured_step");
        assert_eq!(event["properties"]["n"], n);
        assert!(event["distinct_id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(is_rfc3339_utc(event["timestamp"].as_str().unwrap()));
        assert!(uuid::Uuid::parse_str(event["uuid"].as_str().unwrap()).is_ok());
        // Unset options are left out; an anonymous event's person profile
        // is not processed.
        assert_eq!(event["options"], json!({ "process_person_profile": false }));
        assert_eq!(event["properties"]["$process_person_profile"], false);
    }
    for legacy in ["/batch", "/e", "/capture", "/i/v0/e"] {
        assert!(requests.iter().all(|r| !r.path.starts_with(legacy)), "{legacy}");
    }
}

#[test]
fn only_events_answered_retry_are_sent_again_with_the_same_uuids_request_id_and_the_next_attempt() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    // Events 0..5: ok, retry, drop, limited, and a result unknown here.
    let first = |n| ["ok", "retry", "drop", "limited", "later-maybe"][n as usize];
    server.script([results(first, Vec::new()), results(|_| "ok", Vec::new())]);
    let telemetry = client(&sandbox, v1_sink(&server));
    capture_steps(&telemetry, 5);
    assert!(!telemetry.flush(SOON), "two events were refused");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let (a, b) = (&requests[0], &requests[1]);
    assert_eq!(uuids(a).len(), 5);
    assert_eq!(uuids(b), [uuids(a)[1].clone()], "only the event answered retry");
    assert_eq!(events(b)[0]["timestamp"], events(a)[1]["timestamp"], "the same timestamp");
    assert_eq!(events(b)[0]["properties"], events(a)[1]["properties"]);
    assert_eq!(header(b, "posthog-request-id"), header(a, "posthog-request-id"), "the same request");
    assert_eq!((header(a, "posthog-attempt"), header(b, "posthog-attempt")), ("1".into(), "2".into()));
    assert_eq!(a.json()["created_at"], b.json()["created_at"], "created when the batch was made");
    let stamp = |r: &Request| rfc3339_unix_millis(&header(r, "posthog-request-timestamp")).unwrap();
    assert!(stamp(b) >= stamp(a), "each attempt's own time");
    // Final results, counted by result: drop and limited as dropped, ok
    // and the unknown one as sent (with the retried one).
    let stats = telemetry.stats();
    assert_eq!(stats.dropped(DropReason::Rejected), 1);
    assert_eq!(stats.dropped(DropReason::Limited), 1);
    assert_eq!(stats.sent, 3);
    assert_eq!(stats.dropped_total(), 2);

    // The next request is a new one: a new id, attempt 1.
    capture_steps(&telemetry, 1);
    assert!(telemetry.flush(SOON));
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_ne!(header(&requests[2], "posthog-request-id"), header(a, "posthog-request-id"));
    assert_eq!(header(&requests[2], "posthog-attempt"), "1");
}

#[test]
fn retry_after_on_a_200_with_retry_results_is_honoured() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let after = vec![("Retry-After".to_owned(), "1".to_owned())];
    server.script([results(|n| if n == 0 { "retry" } else { "ok" }, after)]);
    let telemetry = client(&sandbox, v1_sink(&server));
    capture_steps(&telemetry, 2);
    assert!(telemetry.flush(SOON));
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(uuids(&requests[1]).len(), 1);
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}, not the second Retry-After asked");
}

#[test]
fn retries_stop_at_max_retries_and_the_rest_is_undeliverable() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.set_default(results(|_| "retry", Vec::new()));
    let telemetry = client(
        &sandbox,
        v1_sink(&server).http(|h| telemetry_runtime::sink::HttpOptions { max_retries: 2, ..h }),
    );
    capture_steps(&telemetry, 2);
    assert!(!telemetry.flush(SOON));
    let requests = server.requests();
    let attempts: Vec<String> = requests.iter().map(|r| header(r, "posthog-attempt")).collect();
    assert_eq!(attempts, ["1", "2", "3"], "the first attempt and two retries");
    assert!(requests
        .iter()
        .all(|r| header(r, "posthog-request-id") == header(&requests[0], "posthog-request-id")));
    assert!(requests.iter().all(|r| uuids(r) == uuids(&requests[0])));
    assert_eq!(telemetry.stats().dropped(DropReason::Undeliverable), 2);
}

#[test]
fn statuses_408_500_503_504_are_retried_and_every_other_error_is_final() {
    let sandbox = Sandbox::new();
    let mut seen = BTreeMap::new();
    for status in [408, 500, 503, 504, 400, 401, 402, 403, 413, 415, 429, 502] {
        let server = TestServer::start();
        server.script([Behaviour::Status(status)]);
        let telemetry = client(&sandbox, v1_sink(&server));
        capture_steps(&telemetry, 1);
        let delivered = telemetry.flush(SOON);
        let requests = server.requests();
        assert!(!requests.is_empty());
        assert!(requests.iter().all(|r| uuids(r) == uuids(&requests[0])), "{status}: the same event");
        let attempts: Vec<String> = requests.iter().map(|r| header(r, "posthog-attempt")).collect();
        seen.insert(status, (requests.len(), delivered, attempts));
        if requests.len() == 1 {
            assert_eq!(telemetry.stats().dropped(DropReason::Rejected), 1, "{status}");
        }
    }
    for status in [408, 500, 503, 504] {
        assert_eq!(seen[&status], (2, true, vec!["1".into(), "2".into()]), "{status} is retried");
    }
    for status in [400, 401, 402, 403, 413, 415, 429, 502] {
        assert_eq!(seen[&status], (1, false, vec!["1".into()]), "{status} is final");
    }
}

#[test]
fn retry_after_on_an_error_is_honoured() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.script([Behaviour::StatusWithHeaders(503, vec![("Retry-After", "1")])]);
    let telemetry = client(&sandbox, v1_sink(&server));
    capture_steps(&telemetry, 1);
    let started = Instant::now();
    assert!(telemetry.flush(SOON));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].received_at - requests[0].received_at >= Duration::from_millis(950));
    assert!(started.elapsed() < SOON);
}

#[test]
fn bodies_are_gzipped_when_compression_is_on_and_plain_when_off() {
    let sandbox = Sandbox::new();
    let (zipped, plain) = (TestServer::start(), TestServer::start());
    let config = sandbox
        .config()
        .consent(Level::Usage)
        .sink(v1_sink(&zipped).http(|h| telemetry_runtime::sink::HttpOptions { gzip_above: Some(0), ..h }))
        .sink(v1_sink(&plain))
        .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d });
    let telemetry = Telemetry::new(config).unwrap();
    capture_steps(&telemetry, 20);
    assert!(telemetry.flush(SOON));
    let (zipped, plain) = (&zipped.requests()[0], &plain.requests()[0]);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(events(zipped).len(), 20);
    assert_eq!(uuids(zipped), uuids(plain));
}

#[test]
fn the_spool_keeps_only_the_events_still_to_retry_and_a_later_run_sends_only_them() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    // Run 1: event 2 is answered `retry` on every attempt; the others are
    // final (ok, drop).
    server.set_default(results(|n| ["ok", "drop", "retry"][n as usize], Vec::new()));
    let config = || {
        Sandbox::spooling_config_in(sandbox.path())
            .consent(Level::Usage)
            .sink(v1_sink(&server).http(|h| telemetry_runtime::sink::HttpOptions { max_retries: 1, ..h }))
    };
    let telemetry = Telemetry::new(config()).unwrap();
    capture_steps(&telemetry, 3);
    assert!(!telemetry.flush(SOON));
    assert!(telemetry.shutdown(SOON));
    drop(telemetry);
    let first = server.requests();
    assert_eq!(first.len(), 2, "{first:?}");
    let retried = uuids(&first[1]);
    assert_eq!(retried, [uuids(&first[0])[2].clone()]);

    // Run 2: only that event comes back, with its uuid, as a new request.
    server.set_default(results(|_| "ok", Vec::new()));
    let telemetry = Telemetry::new(config()).unwrap();
    assert!(telemetry_tests::wait_until(SOON, || server.requests().len() == 3));
    assert!(telemetry.flush(SOON));
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(uuids(&requests[2]), retried, "only the event still to retry, the same uuid");
    assert_eq!(header(&requests[2], "posthog-attempt"), "1");
    assert_ne!(header(&requests[2], "posthog-request-id"), header(&first[0], "posthog-request-id"));
}

#[test]
fn the_first_retry_waits_at_least_100_ms_by_default() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.script([Behaviour::Status(503)]);
    // The default policy's first delay (500 ms, jittered down to half), not
    // the tests' fast one.
    let sink = v1_sink(&server)
        .http(|h| telemetry_runtime::sink::HttpOptions { backoff_base: Duration::from_millis(500), ..h });
    let telemetry = client(&sandbox, sink);
    capture_steps(&telemetry, 1);
    assert!(telemetry.flush(SOON));
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(waited >= Duration::from_millis(100), "the first retry came after {waited:?}");
}
