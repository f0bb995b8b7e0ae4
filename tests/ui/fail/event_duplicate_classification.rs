// The same classification twice.
use telemetry_runtime::TelemetryEvent;

/// A file was opened.
#[derive(TelemetryEvent)]
struct FileOpened {
    #[telemetry(public, public)]
    extension: String,
}

fn main() {}
