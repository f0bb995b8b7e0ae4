// The same key twice is a mistake, not a no-op.
use telemetry_runtime::TelemetryEvent;

/// A file was opened.
#[derive(TelemetryEvent)]
struct FileOpened {
    #[telemetry(rename = "ext", rename = "extension")]
    #[telemetry(public, reason = "the extension of a file type the program knows")]
    kind: String,
}

fn main() {}
