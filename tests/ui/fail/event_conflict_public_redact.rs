// A field has exactly one classification.
use telemetry_runtime::TelemetryEvent;

/// A file was opened.
#[derive(TelemetryEvent)]
struct FileOpened {
    #[telemetry(public, redact)]
    extension: String,
}

fn main() {}
