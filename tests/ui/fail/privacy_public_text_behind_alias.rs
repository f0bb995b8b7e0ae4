// Text behind an alias or in a newtype is text, for `public` as for the
// rest: the traits refuse it without a reason, at the field's type.
use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

type Extension = String;

#[derive(TelemetryProperty)]
struct Tool(String);

/// A scan finished.
#[derive(TelemetryEvent)]
struct ScanFinished {
    #[telemetry(public)]
    first: Extension,
    #[telemetry(public)]
    tool: Tool,
    #[telemetry(public)]
    tools: Vec<Tool>,
}

fn main() {}
