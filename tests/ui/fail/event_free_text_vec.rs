// A list of texts is still free text.
use telemetry_runtime::TelemetryEvent;

/// Tags were applied.
#[derive(TelemetryEvent)]
struct TagsApplied {
    tags: Vec<String>,
}

fn main() {}
