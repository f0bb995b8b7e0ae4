// Free text has no default classification: the error names the field and
// the three choices, at the field's type.
use telemetry_runtime::TelemetryEvent;

/// A search ran.
#[derive(TelemetryEvent)]
struct SearchRan {
    results: u32,
    query: String,
}

fn main() {}
