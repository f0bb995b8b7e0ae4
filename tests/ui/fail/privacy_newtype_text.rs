// A newtype over text is text: it compiles as a property type, but needs
// a classification where it is used, like the String inside it.
use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

#[derive(TelemetryProperty)]
struct ToolName(String);

/// A tool ran.
#[derive(TelemetryEvent)]
struct ToolRan {
    tool: ToolName,
}

fn main() {}
