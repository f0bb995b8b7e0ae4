// The same key twice is a mistake, not a no-op.
use telemetry_runtime::TelemetryEvent;

/// A file was opened.
#[derive(TelemetryEvent)]
struct FileOpened {
    #[telemetry(rename = "ext", rename = "extension")]
    #[telemetry(public)]
    kind: String,
}

fn main() {}
