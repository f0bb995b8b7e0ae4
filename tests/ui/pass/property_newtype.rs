// Newtypes take the classification of what they wrap: a number is public
// by default, text takes an attribute (public with a reason); both reach the
// wire as their field.
use telemetry_runtime::{PropertyValue, TelemetryEvent, TelemetryProperty, Value};

#[derive(TelemetryProperty)]
struct Retries(u32);

#[derive(TelemetryProperty)]
struct ToolName(String);

#[derive(TelemetryProperty)]
struct Wrapped<T>(T);

/// A tool ran.
#[derive(TelemetryEvent)]
struct ToolRan {
    retries: Retries,
    attempts: Vec<Retries>,
    #[telemetry(public, reason = "a tool name from the program's own list")]
    tool: ToolName,
    #[telemetry(redact = "hash")]
    hashed_tool: ToolName,
    wrapped: Wrapped<u8>,
}

fn main() {
    assert_eq!(Retries(3).to_value(), Value::UInt(3));
    assert_eq!(ToolName("grep".into()).to_value(), Value::from("grep"));
    let _ = ToolRan {
        retries: Retries(1),
        attempts: vec![],
        tool: ToolName("a".into()),
        hashed_tool: ToolName("b".into()),
        wrapped: Wrapped(1),
    };
}
