//! The schema constant `#[derive(TelemetryEvent)]` generates: the catalog
//! entry of each event, read from the struct and its doc comments.

use std::borrow::Cow;
use std::time::Duration;

use telemetry_runtime::{
    Classification, EventSchema, FieldSchema, Level, RedactMode, TelemetryEvent, TelemetryProperty,
};

#[derive(TelemetryProperty)]
enum Transport {
    Stdio,
    Http,
}

/// A tool call finished.
///
/// Sent once per call, after the tool answers.
#[derive(TelemetryEvent)]
struct ToolCallFinished<'a, T> {
    /// How long the call took.
    duration: std::time::Duration,
    /// How the tool was reached.
    transport: Transport,
    /// Transports tried before this one.
    tried: Vec<Transport>,
    /// The retry count, when there were retries.
    retries: Option<T>,
    /// The tool's name, from the server's fixed tool list.
    #[telemetry(public, reason = "the server's tool list is fixed and public", rename = "tool")]
    tool_name: &'a str,
    /// The region of the server.
    #[telemetry(public, reason = "one of a dozen regions the operator picks")]
    host_region: Cow<'a, str>,
    /// What the user asked.
    #[telemetry(opt_in)]
    query: Option<&'a str>,
    #[telemetry(redact)]
    api_key: String,
    #[telemetry(redact = "marker")]
    cookie: Option<String>,
    /// The server, counted but never revealed.
    #[telemetry(redact = "hash", rename = "server")]
    server_url: String,
    #[telemetry(redact = "length")]
    prompt: Box<str>,
    /// Never sent, so not in the schema.
    #[telemetry(skip)]
    #[allow(dead_code)]
    raw_response: Vec<u8>,
    /// A raw identifier is listed under its plain name.
    r#type: u8,
}

/// Crash reports, only with full consent, one in ten kept.
#[derive(TelemetryEvent)]
#[telemetry(name = "crash", opt_in, sample = 0.1)]
struct CrashReport {
    code: i32,
}

/// An event with nothing but a description.
#[derive(TelemetryEvent)]
struct Heartbeat {}

type Finished = ToolCallFinished<'static, u32>;

/// Usable in const context, like any associated constant.
const FINISHED: EventSchema = <Finished as TelemetryEvent>::SCHEMA;
const FIELD_COUNT: usize = FINISHED.fields.len();

fn field(schema: &EventSchema, name: &str) -> FieldSchema {
    *schema.fields.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no field {name}"))
}

#[test]
fn event_name_description_level_and_rate() {
    assert_eq!(FINISHED.name, "tool_call_finished");
    assert_eq!(Finished::SCHEMA.name, FINISHED.name);
    assert_eq!(FINISHED.description, "A tool call finished.\n\nSent once per call, after the tool answers.");
    assert_eq!(FINISHED.min_level, Level::Usage);
    assert_eq!(FINISHED.sample_rate, 1.0);

    let crash = CrashReport::SCHEMA;
    assert_eq!(crash.name, "crash");
    assert_eq!(CrashReport::SCHEMA.name, "crash");
    assert_eq!(crash.description, "Crash reports, only with full consent, one in ten kept.");
    assert_eq!(crash.min_level, Level::Full);
    assert_eq!(CrashReport::SCHEMA.min_level, Level::Full);
    assert_eq!(crash.sample_rate, 0.1);
    assert_eq!(CrashReport::SCHEMA.sample_rate, 0.1);
    let _ = CrashReport { code: 1 }.code;

    assert_eq!(Heartbeat::SCHEMA.name, "heartbeat");
    assert!(Heartbeat::SCHEMA.fields.is_empty());
}

#[test]
fn fields_in_order_with_names_after_rename_and_without_skipped_ones() {
    let names: Vec<&str> = FINISHED.fields.iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "duration",
            "transport",
            "tried",
            "retries",
            "tool",
            "host_region",
            "query",
            "api_key",
            "cookie",
            "server",
            "prompt",
            "type"
        ]
    );
    assert_eq!(FIELD_COUNT, 12);
    assert!(FINISHED.fields.iter().all(|f| f.name != "raw_response" && f.name != "tool_name"));
}

#[test]
fn field_types_as_written() {
    let types: Vec<(&str, &str)> = FINISHED.fields.iter().map(|f| (f.name, f.ty)).collect();
    assert_eq!(
        types,
        [
            ("duration", "std::time::Duration"),
            ("transport", "Transport"),
            ("tried", "Vec<Transport>"),
            ("retries", "Option<T>"),
            ("tool", "&'a str"),
            ("host_region", "Cow<'a, str>"),
            ("query", "Option<&'a str>"),
            ("api_key", "String"),
            ("cookie", "Option<String>"),
            ("server", "String"),
            ("prompt", "Box<str>"),
            ("type", "u8"),
        ]
    );
}

#[test]
fn classifications_reasons_and_descriptions() {
    let expect = |name: &str, classification: Classification, reason: Option<&str>, description: &str| {
        let f = field(&FINISHED, name);
        assert_eq!(f.classification, classification, "{name}");
        assert_eq!(f.reason, reason, "{name}");
        assert_eq!(f.description, description, "{name}");
    };
    expect("duration", Classification::Public, None, "How long the call took.");
    expect("transport", Classification::Public, None, "How the tool was reached.");
    expect("tried", Classification::Public, None, "Transports tried before this one.");
    expect("retries", Classification::Public, None, "The retry count, when there were retries.");
    expect(
        "tool",
        Classification::Public,
        Some("the server's tool list is fixed and public"),
        "The tool's name, from the server's fixed tool list.",
    );
    expect(
        "host_region",
        Classification::Public,
        Some("one of a dozen regions the operator picks"),
        "The region of the server.",
    );
    expect("query", Classification::OptIn, None, "What the user asked.");
    expect("api_key", Classification::Redact(RedactMode::Drop), None, "");
    expect("cookie", Classification::Redact(RedactMode::Marker), None, "");
    expect(
        "server",
        Classification::Redact(RedactMode::Hash),
        None,
        "The server, counted but never revealed.",
    );
    expect("prompt", Classification::Redact(RedactMode::Length), None, "");
    expect("type", Classification::Public, None, "A raw identifier is listed under its plain name.");

    let short: Vec<String> = FINISHED.fields.iter().map(|f| f.classification.to_string()).collect();
    assert_eq!(
        short,
        [
            "public",
            "public",
            "public",
            "public",
            "public",
            "public",
            "opt_in",
            "redact(drop)",
            "redact(marker)",
            "redact(hash)",
            "redact(length)",
            "public"
        ]
    );
}

#[test]
fn the_schema_does_not_depend_on_generic_arguments() {
    assert_eq!(<ToolCallFinished<'static, u8> as TelemetryEvent>::SCHEMA, FINISHED);
    assert_eq!(<ToolCallFinished<'static, Duration> as TelemetryEvent>::SCHEMA.fields.len(), 12);
    // An event with every field present: what is written is what is sent.
    let event: Finished = ToolCallFinished {
        duration: Duration::ZERO,
        transport: Transport::Stdio,
        tried: vec![Transport::Http],
        retries: Some(3),
        tool_name: "grep",
        host_region: Cow::Borrowed("eu"),
        query: Some("q"),
        api_key: String::new(),
        cookie: Some("c".into()),
        server_url: String::new(),
        prompt: "".into(),
        raw_response: Vec::new(),
        r#type: 0,
    };
    let memory = telemetry_runtime::testing::MemorySink::new();
    let config = telemetry_tests::Sandbox::new().config().consent(Level::Full).sink(memory.clone());
    let telemetry = telemetry_runtime::Telemetry::new(config).unwrap();
    telemetry.capture(&event);
    assert!(telemetry.flush(telemetry_tests::SOON));
    // The properties as sent, in the order they were written.
    let raw = memory.raw().remove(0);
    let object: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut written: Vec<&str> = object["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with('$'))
        .collect();
    written.sort_by_key(|name| raw.find(&format!("\"{name}\":")).unwrap());
    let listed: Vec<&str> =
        FINISHED.fields.iter().map(|f| f.name).filter(|name| *name != "api_key").collect();
    assert_eq!(written, listed, "every listed property but the dropped one is written, in order");
}

#[telemetry_runtime::requires_telemetry(instrument, full, args(attempt, mode))]
fn sync_index(attempt: u32, mode: Transport, url: &str) -> Result<usize, std::fmt::Error> {
    let _ = (attempt, mode);
    Ok(url.len())
}

#[test]
fn every_derived_event_and_instrumented_function_is_in_the_catalog() {
    let catalog = telemetry_runtime::Catalog::collect();
    assert_eq!(telemetry_tests::event_named(&catalog, "tool_call_finished"), Some(&FINISHED));
    assert_eq!(telemetry_tests::event_named(&catalog, "crash"), Some(&CrashReport::SCHEMA));
    assert_eq!(telemetry_tests::event_named(&catalog, "heartbeat"), Some(&Heartbeat::SCHEMA));
    let generic = catalog.events().iter().filter(|e| e.name == "tool_call_finished").count();
    assert_eq!(generic, 1, "a generic event is listed once, whatever its instances");

    assert_eq!(sync_index(1, Transport::Http, "abc"), Ok(3));
    let call =
        telemetry_tests::event_named(&catalog, "sync_index").expect("the instrumented function's event");
    assert_eq!(call.min_level, Level::Full);
    let names: Vec<&str> = call.fields.iter().map(|f| f.name).collect();
    assert_eq!(names, ["duration_ms", "outcome", "error_type", "attempt", "mode"]);
    assert!(call.fields.iter().all(|f| f.classification == Classification::Public));
    assert_eq!(call.fields[3].ty, "u32");
    assert_eq!(call.fields[4].ty, "Transport");

    let markdown = catalog.to_markdown("macrotest");
    assert!(markdown.contains("one of a dozen regions the operator picks"), "reasons are in the catalog");
    assert!(!markdown.contains("raw_response"), "skipped fields are not");
}

mod plugin {
    /// An event declared in a module of its own.
    #[derive(telemetry_runtime::TelemetryEvent)]
    pub(crate) struct PluginLoaded {
        pub(crate) plugins: u32,
    }

    telemetry_runtime::event! {
        /// A dynamic event declared in the same module.
        pub(crate) static PLUGIN_SEARCH = "plugin_search" { results: u64 }
    }

    telemetry_runtime::counter! {
        /// A counter declared in the same module.
        pub(crate) static PLUGIN_CALLS = "plugin_calls", labels: [status: Status = ["ok", "error"]];
    }

    #[telemetry_runtime::requires_telemetry(instrument)]
    pub(crate) fn plugin_refresh() -> Result<(), std::fmt::Error> {
        Ok(())
    }
}

#[test]
fn every_schema_names_the_module_that_declared_it() {
    let here = module_path!();
    let plugin = concat!(module_path!(), "::plugin");
    assert_eq!(FINISHED.module, here);
    assert_eq!(<plugin::PluginLoaded as TelemetryEvent>::SCHEMA.module, plugin);
    assert_eq!(plugin::PLUGIN_SEARCH.schema().module, plugin);
    assert_eq!(plugin::PLUGIN_CALLS.schema().module, plugin);
    assert_eq!(plugin::PLUGIN_CALLS.schema().fields[0].values, ["ok", "error"]);
    // No global client: counting is a no-op.
    plugin::PLUGIN_CALLS.add(plugin::Status::Ok, 1);
    plugin::PLUGIN_CALLS.add(plugin::Status::Error, 1);
    assert_eq!(plugin::plugin_refresh(), Ok(()));
    let catalog = telemetry_runtime::Catalog::collect();
    assert_eq!(telemetry_tests::event_named(&catalog, "plugin_refresh").unwrap().module, plugin);
    assert_eq!(telemetry_tests::event_named(&catalog, "sync_index").unwrap().module, here);

    // A program whose binary links another's events keeps its own catalog.
    let only_plugin = telemetry_runtime::Catalog::collect_under([plugin]);
    let names: Vec<&str> = only_plugin.events().iter().map(|e| e.name).collect();
    assert_eq!(names, ["plugin_calls", "plugin_loaded", "plugin_refresh", "plugin_search"]);
    // The test binary (this module is one of its modules).
    let whole_crate = telemetry_runtime::Catalog::collect_under([env!("CARGO_CRATE_NAME")]);
    assert!(
        telemetry_tests::event_named(&whole_crate, "plugin_loaded").is_some()
            && telemetry_tests::event_named(&whole_crate, "crash").is_some()
    );
    assert_eq!(whole_crate.events().len(), catalog.events().len(), "the test binary declares them all");
}

/// A field whose values come from a closed set lists them for the catalog:
/// an enum, an option or list of one; other fields list none.
#[test]
fn closed_sets_list_their_values() {
    assert_eq!(field(&FINISHED, "transport").values, ["stdio", "http"]);
    assert_eq!(field(&FINISHED, "tried").values, ["stdio", "http"]);
    assert!(field(&FINISHED, "duration").values.is_empty());
    assert!(field(&FINISHED, "tool").values.is_empty());
    // Generic: the type is not known where the schema is written.
    assert!(field(&FINISHED, "retries").values.is_empty());
}
