//! Large request bodies are gzip-compressed, and decompress to the same
//! events; small ones are sent as they are.

use std::time::Duration;

use telemetry_runtime::sink::{HttpSink, PostHogSink};
use telemetry_runtime::{Properties, Telemetry, TelemetryEvent, Value};
use telemetry_tests::{posthog_sink, Sandbox, TestServer};

telemetry_runtime::event! {
    /// One of many similar events, which compress well.
    static COMPRESSIBLE = "compressible" {
        /// Its number.
        i: u64,
        /// A fixed label with the number in it.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        label: String,
    }
}

/// A compressed sink, as users get it by default.
fn gzip_sink(server: &TestServer) -> PostHogSink {
    posthog_sink(server).http(|h| telemetry_runtime::sink::HttpOptions { gzip_above: Some(4 * 1024), ..h })
}

/// An event with a redacted field, to search the decompressed body.
#[derive(TelemetryEvent)]
struct WithSecret {
    i: u32,
    /// Never sent.
    #[telemetry(redact)]
    secret: String,
}

const SOON: Duration = Duration::from_secs(5);

fn capture_many(telemetry: &Telemetry, n: u32) {
    for i in 0..n {
        let props =
            Properties::new().with("i", i).with("label", Value::Text((format!("event number {i}")).into()));
        telemetry.capture_with(&COMPRESSIBLE, props);
    }
    assert!(telemetry.flush(SOON));
}

#[test]
fn large_batches_are_gzipped_and_decompress_to_the_same_events() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(gzip_sink(&server))
            .delivery(|d| telemetry_runtime::Delivery { batch_size: 100, ..d }),
    )
    .unwrap();
    capture_many(&telemetry, 100);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    let plain = request.decoded_body();
    assert!(request.body.len() * 3 < plain.len(), "{} -> {} bytes", plain.len(), request.body.len());
    let events = request.events();
    assert_eq!(events.len(), 100);
    assert_eq!(events[42]["properties"]["label"], "event number 42");
    assert_eq!(request.json()["api_key"], telemetry_tests::API_KEY);
    eprintln!(
        "100 events: {} bytes plain, {} bytes gzip ({:.0} and {:.0} bytes per event)",
        plain.len(),
        request.body.len(),
        plain.len() as f64 / 100.0,
        request.body.len() as f64 / 100.0
    );
}

#[test]
fn small_bodies_and_disabled_compression_go_plain() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = Telemetry::new(sandbox.config().sink(gzip_sink(&server))).unwrap();
    capture_many(&telemetry, 1);
    assert_eq!(server.requests()[0].header("content-encoding"), None);

    let server = TestServer::start();
    let sink = HttpSink::new(format!("{}/ingest", server.url()))
        .unwrap()
        .http(|h| telemetry_runtime::sink::HttpOptions { gzip_above: None, ..h });
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    capture_many(&telemetry, 100);
    assert_eq!(server.requests()[0].header("content-encoding"), None);
    assert_eq!(server.requests()[0].events().len(), 100);
}

#[test]
fn a_redacted_value_is_absent_from_the_decompressed_body() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(gzip_sink(&server))
            .delivery(|d| telemetry_runtime::Delivery { batch_size: 200, ..d }),
    )
    .unwrap();
    for i in 0..200 {
        telemetry.capture(&WithSecret { i, secret: "CANARY-gzip-secret-qz".into() });
    }
    assert!(telemetry.flush(SOON));
    let request = &server.requests()[0];
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    assert_eq!(request.events().len(), 200);
    assert!(!server.received(b"CANARY-gzip-secret-qz"), "found after decompression");
}

/// The benchmarks' typical event: eight properties.
#[derive(TelemetryEvent)]
struct TaskFinished {
    /// The project, by a random id made for the test.
    #[telemetry(public, reason = "a random v4 uuid, linked to no person or machine")]
    project_id: uuid::Uuid,
    /// The run, by a random id made for the test.
    #[telemetry(public, reason = "a random v4 uuid, linked to no person or machine")]
    run_id: uuid::Uuid,
    duration_ms: f64,
    items: u64,
    /// From a fixed list.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    command: String,
    cached: bool,
    /// From a fixed list.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    features: Vec<String>,
    /// The program's version.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    version: String,
}

/// Bytes per event on the wire for a batch of 100 typical events, with and
/// without gzip (the figures BENCHMARKS.md reports).
#[test]
fn bytes_per_typical_event_with_and_without_gzip() {
    let mut sizes = Vec::new();
    for gzip in [None, Some(4 * 1024)] {
        let sandbox = Sandbox::new();
        let server = TestServer::start();
        let sink =
            posthog_sink(&server).http(|h| telemetry_runtime::sink::HttpOptions { gzip_above: gzip, ..h });
        let telemetry = Telemetry::new(
            sandbox.config().sink(sink).delivery(|d| telemetry_runtime::Delivery { batch_size: 100, ..d }),
        )
        .unwrap();
        let project = uuid::Uuid::new_v4();
        for i in 0..100u64 {
            telemetry.capture(&TaskFinished {
                project_id: project,
                run_id: uuid::Uuid::new_v4(),
                duration_ms: 12.5 + i as f64,
                items: i * 7,
                command: "build".into(),
                cached: i % 3 == 0,
                features: vec!["lto".into(), "simd".into()],
                version: "1.4.2".into(),
            });
        }
        assert!(telemetry.flush(SOON));
        let request = &server.requests()[0];
        assert_eq!(request.events().len(), 100);
        sizes.push(request.body.len() as f64 / 100.0);
    }
    eprintln!("bytes per typical event, batch of 100: plain {:.1}, gzip {:.1}", sizes[0], sizes[1]);
    assert!(sizes[1] * 2.0 < sizes[0], "gzip should at least halve the bytes: {sizes:?}");
}
