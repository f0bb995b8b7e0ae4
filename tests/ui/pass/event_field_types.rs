// The supported property types: numbers, bool, Duration, Uuid, fieldless
// enums, text in its usual forms, and options and lists of these.
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use telemetry_runtime::{Level, Properties, PropertyValue, TelemetryEvent, TelemetryProperty, Value};
use uuid::Uuid;

/// How a tool is reached.
#[derive(TelemetryProperty, Clone, Copy)]
enum Transport {
    Stdio,
    StreamableHttp,
    #[telemetry(rename = "sse")]
    ServerSentEvents,
}

/// An enum with no variants is a valid (if useless) property type.
#[derive(TelemetryProperty)]
enum Never {}

/// A tool was called.
#[derive(TelemetryEvent)]
struct ToolCalled<'a> {
    small: u8,
    signed: i64,
    size: usize,
    ratio: f64,
    ok: bool,
    elapsed: Duration,
    #[telemetry(reason = "a random id drawn per request, linked to nothing")]
    request_id: Uuid,
    transport: Transport,
    fallback: Option<Transport>,
    tried: Vec<Transport>,
    retries: Option<u32>,
    delays: Vec<Duration>,
    /// A raw identifier is sent under its plain name.
    r#type: u8,
    never: Option<Never>,
    /// Text in its other forms, classified.
    #[telemetry(public, reason = "a tool name from the program's own list")]
    tool: Cow<'a, str>,
    #[telemetry(opt_in)]
    arguments: Arc<str>,
    #[telemetry(redact = "length")]
    output: Box<str>,
    #[telemetry(public, reason = "tags from the program's own list")]
    tags: Vec<&'a str>,
    #[telemetry(public, reason = "a label from the program's own list")]
    label: Option<&'static str>,
    #[telemetry(redact = "marker")]
    note: &'a Option<String>,
}

fn main() {
    let note = None;
    let id = Uuid::new_v4();
    let event = ToolCalled {
        small: 1,
        signed: -2,
        size: 3,
        ratio: 0.5,
        ok: true,
        elapsed: Duration::from_millis(20),
        request_id: id,
        transport: Transport::StreamableHttp,
        fallback: Some(Transport::ServerSentEvents),
        tried: vec![Transport::Stdio, Transport::StreamableHttp],
        retries: None,
        delays: vec![Duration::from_secs(1)],
        r#type: 4,
        never: None,
        tool: Cow::Borrowed("grep"),
        arguments: Arc::from("-r x"),
        output: "four".into(),
        tags: vec!["a", "b"],
        label: Some("fixed"),
        note: &note,
    };
    let mut out = Properties::new();
    event.write_properties(Level::Full, &mut out);
    assert_eq!(get(&out, "transport"), Some(Value::from("streamable_http")));
    assert_eq!(get(&out, "fallback"), Some(Value::from("sse")));
    assert_eq!(get(&out, "tried"), Some(vec![Transport::Stdio, Transport::StreamableHttp].to_value()));
    assert_eq!(get(&out, "request_id"), Some(id.to_value()));
    assert_eq!(get(&out, "retries"), Some(Value::Null));
    assert_eq!(get(&out, "type"), Some(Value::from(4u8)));
    assert_eq!(get(&out, "tool"), Some(Value::from("grep")));
    assert_eq!(get(&out, "arguments"), Some(Value::from("-r x")));
    assert_eq!(get(&out, "output"), Some(Value::from(4usize)));
    assert_eq!(get(&out, "note"), Some(Value::Null));
    assert_eq!(ToolCalled::SCHEMA.fields[12].name, "type");
    assert_eq!(ToolCalled::SCHEMA.fields[12].ty, "u8");
}

/// The value `out` holds for `name`.
fn get(out: &telemetry_runtime::Properties, name: &str) -> Option<telemetry_runtime::Value> {
    out.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}
