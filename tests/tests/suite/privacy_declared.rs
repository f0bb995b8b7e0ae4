//! The dynamic API is as strict as the derive, checked on the wire: a
//! property its declaration does not name, or whose value has another type
//! than declared, never leaves the process at any consent level (it is
//! counted in `Stats::undeclared`), and declared properties are classified as
//! declared. Counters are declared, and a counters-only route sees only
//! them.

use std::time::Duration;

use telemetry_runtime::__private::FieldName;
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Level, Properties, PropertyValue, Route, Telemetry, TelemetryProperty, Value};
use telemetry_tests::canary::Canary;
use telemetry_tests::{posthog_sink, Sandbox, TestServer};

const SOON: Duration = Duration::from_secs(5);

#[derive(TelemetryProperty)]
enum Transport {
    Stdio,
    Http,
}

telemetry_runtime::event! {
    /// A model call finished.
    static MODEL_CALL = "model_call" {
        /// Tokens in the prompt: a measure, never the prompt.
        prompt_tokens: u32,
        /// How the server was reached.
        transport: Transport,
        /// Model name, from the provider's fixed list.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        model: String,
        /// The user's words: only at full consent.
        #[telemetry(opt_in)]
        query: String,
        /// The server, counted but never revealed.
        #[telemetry(redact = "hash")]
        server_url: String,
        /// How long the answer was, never the answer.
        #[telemetry(redact = "length")]
        answer: String,
    }
}

telemetry_runtime::counter! {
    /// Tool calls, by outcome.
    static TOOL_CALLS = "declared_calls", labels: [status: Status = ["ok"]];
}

/// Everything a careless caller could put into a dynamic event.
struct Leaks {
    undeclared: Canary,
    in_number: Canary,
    in_enum: Canary,
    query: Canary,
    server_url: Canary,
    answer: Canary,
}

impl Leaks {
    fn new() -> Leaks {
        Leaks {
            undeclared: Canary::new("user_email"),
            in_number: Canary::new("prompt"),
            in_enum: Canary::new("transport"),
            query: Canary::new("query"),
            server_url: Canary::new("server_url"),
            answer: Canary::new("answer"),
        }
    }

    fn capture(&self, telemetry: &Telemetry) {
        let properties = Properties::new()
            .with("model", "gpt-test")
            .with("user_email", Value::Text(self.undeclared.text().into()))
            .with("query", Value::Text(self.query.text().into()))
            .with("server_url", Value::Text(self.server_url.text().into()))
            .with("answer", Value::Text(self.answer.text().into()));
        // A text in a property declared as a number, and a text that is
        // not one of the enum's values.
        let properties = properties
            .with("prompt_tokens", Value::Text(self.in_number.text().into()))
            .with("transport", Value::Text(self.in_enum.text().into()));
        telemetry.capture_with(&MODEL_CALL, properties);
    }

    fn assert_none_in(&self, bytes: &[u8], level: Level) {
        for canary in [&self.undeclared, &self.in_number, &self.in_enum, &self.server_url, &self.answer] {
            assert!(!canary.found_in(bytes), "{canary:?} reached the wire at {level:?}");
        }
    }
}

fn client(sandbox: &Sandbox, server: &TestServer, level: Level) -> Telemetry {
    Telemetry::new(
        sandbox
            .config()
            .consent(level)
            .sink(posthog_sink(server))
            .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d }),
    )
    .expect("valid configuration")
}

#[test]
fn undeclared_and_mistyped_properties_never_reach_the_wire_at_any_level() {
    for level in [Level::Usage, Level::Full] {
        let sandbox = Sandbox::new();
        let server = TestServer::start();
        let telemetry = client(&sandbox, &server, level);
        let leaks = Leaks::new();
        leaks.capture(&telemetry);
        assert!(telemetry.flush(SOON));
        let raw: Vec<u8> = server.raw_bytes().concat();
        leaks.assert_none_in(&raw, level);
        assert_eq!(leaks.query.found_in(&raw), level == Level::Full, "opt-in query at {level:?}");

        let events = server.accepted_events();
        assert_eq!(events.len(), 1, "the event itself is sent");
        let properties = &events[0]["properties"];
        assert_eq!(properties["model"], "gpt-test");
        assert_eq!(properties["answer"], leaks.answer.len(), "a length, never the text");
        assert_eq!(properties["server_url"].as_str().map(str::len), Some(32), "a keyed hash");
        for refused in ["user_email", "prompt_tokens", "transport"] {
            assert!(properties.get(refused).is_none(), "{refused} at {level:?}: {properties}");
        }
        // One count per refused property: user_email, prompt_tokens, transport.
        assert_eq!(telemetry.stats().undeclared, 3);
    }
}

#[test]
fn declared_values_of_the_declared_type_are_sent() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = client(&sandbox, &server, Level::Usage);
    telemetry.capture_with(
        &MODEL_CALL,
        Properties::new().with("prompt_tokens", 812u64).with("transport", Transport::Http.to_value()),
    );
    assert!(telemetry.flush(SOON));
    let events = server.accepted_events();
    assert_eq!(events[0]["properties"]["prompt_tokens"], 812);
    assert_eq!(events[0]["properties"]["transport"], "http");
    assert_eq!(telemetry.stats().undeclared, 0);
    let _ = Transport::Stdio;
}

#[test]
fn hidden_writers_validate_and_escape_what_they_take() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = client(&sandbox, &server, Level::Usage);
    // The derive's own writer, called by hand: a name with a quote and a
    // reserved name go through the declaration like any other property.
    let mut properties = Properties::new();
    properties.__write_field(FieldName::new("a\"b"), Level::Usage, &1u32);
    properties.__write_field(FieldName::new("$lib"), Level::Usage, &"spoofed");
    properties.__write_value(FieldName::new("model"), Level::Usage, Value::from("written"));
    telemetry.capture_with(&MODEL_CALL, properties);
    assert!(telemetry.flush(SOON));
    let requests = server.requests();
    let events = requests[0].events(); // panics when the body is not JSON
    assert_eq!(events[0]["properties"]["model"], "written");
    assert_eq!(events[0]["properties"]["$lib"], "telemetry-runtime");
    assert!(events[0]["properties"].get("a\"b").is_none());
    assert_eq!(telemetry.stats().undeclared, 1, "the quoted name; `$lib` is refused as reserved");
}

#[test]
fn a_counters_only_route_sees_declared_counters_and_nothing_else() {
    let sandbox = Sandbox::new();
    let vendor = TestServer::start();
    let own = MemorySink::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .consent(Level::Full)
            .route(posthog_sink(&vendor), Route::counters_only().max_level(Level::Usage))
            .route(own.clone(), Route::default())
            .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d }),
    )
    .expect("valid configuration");
    let leaks = Leaks::new();
    leaks.capture(&telemetry);
    for _ in 0..3 {
        telemetry.add(&TOOL_CALLS, Status::Ok, 1);
    }
    assert!(telemetry.flush(SOON));
    let events = vendor.accepted_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "declared_calls");
    assert_eq!(events[0]["properties"]["status"], "ok");
    assert_eq!(events[0]["properties"]["count"], 3);
    let raw: Vec<u8> = vendor.raw_bytes().concat();
    leaks.assert_none_in(&raw, Level::Full);
    assert!(!leaks.query.found_in(&raw), "the vendor's route is capped at Usage");
    let names: Vec<String> =
        own.events().iter().map(|e| e["event"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(names.len(), 2, "the user's own sink gets both: {names:?}");
}
