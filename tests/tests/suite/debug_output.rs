//! `Debug` is there for every public type (the runtime's
//! `missing_debug_implementations` lint sees to that) and prints what a
//! developer needs, never a secret: no API key, no header value, no install
//! or session id.

use telemetry_runtime::cli::Status;
use telemetry_runtime::sink::{HttpSink, OtlpSink, PostHogSink};
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Level, Telemetry};
use telemetry_tests::{Sandbox, TestServer, SOON};

const API_KEY: &str = "phc_debug_output_secret_key";
const TOKEN: &str = "Bearer debug-output-secret-token";

telemetry_runtime::event! {
    /// Captured so that the client loads its install id.
    static LOADED = "debug_output_loaded" {}
}

#[test]
fn sinks_print_their_destination_and_header_names_but_no_key_or_header_value() {
    let posthog = format!("{:?}", PostHogSink::new(API_KEY).unwrap());
    assert!(posthog.contains("PostHogSink") && posthog.contains("us.i.posthog.com"), "{posthog}");
    assert!(!posthog.contains(API_KEY), "{posthog}");

    let http = format!(
        "{:?}",
        HttpSink::new("https://collector.example/v1").unwrap().header("Authorization", TOKEN).unwrap()
    );
    assert!(http.contains("https://collector.example/v1") && http.contains("\"Authorization\""), "{http}");
    assert!(!http.contains(TOKEN) && !http.contains("secret"), "{http}");

    let otlp =
        format!("{:?}", OtlpSink::new("http://localhost:4318").unwrap().header("api-key", TOKEN).unwrap());
    assert!(otlp.contains("/v1/logs") && otlp.contains("\"api-key\""), "{otlp}");
    assert!(!otlp.contains(TOKEN) && !otlp.contains("secret"), "{otlp}");

    let memory = MemorySink::new();
    assert_eq!(format!("{memory:?}"), "MemorySink { events: 0 }");
}

#[test]
fn config_and_client_print_their_settings_but_no_key_and_no_identity() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let config = sandbox
        .config()
        .consent(Level::Usage)
        .distinct_id(telemetry_runtime::DistinctId::Raw {
            id: "debug-output-own-distinct-id".into(),
            reason: "a fixed id the test looks for in the output",
        })
        .sink(memory.clone())
        .sink(PostHogSink::new(API_KEY).unwrap().host(&server.url()).unwrap());
    let printed = format!("{config:?}");
    assert!(printed.contains("testapp") && printed.contains("memory"), "{printed}");
    assert!(!printed.contains(API_KEY) && !printed.contains("own-distinct-id"), "{printed}");

    let telemetry = Telemetry::new(config).unwrap();
    telemetry.capture_with(&LOADED, telemetry_runtime::Properties::new());
    assert!(telemetry.flush(SOON));
    let sent = &memory.events()[0];
    let distinct_id = sent["distinct_id"].as_str().unwrap();
    assert_eq!(distinct_id, "debug-output-own-distinct-id");
    let printed = format!("{telemetry:?}");
    assert!(printed.contains("testapp") && printed.contains("Usage"), "{printed}");
    for secret in [API_KEY, distinct_id, telemetry.session_id()] {
        assert!(!printed.contains(secret), "{secret:?} in {printed}");
    }
}

#[test]
fn the_generated_install_id_is_not_printed() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
    telemetry.capture_with(&LOADED, telemetry_runtime::Properties::new());
    assert!(telemetry.flush(SOON));
    let id = std::fs::read_to_string(Status::of(&telemetry).id_path.unwrap()).unwrap();
    assert_eq!(memory.events()[0]["distinct_id"], id.trim());
    let printed = format!("{telemetry:?}");
    assert!(!printed.contains(id.trim()), "{printed}");
}
