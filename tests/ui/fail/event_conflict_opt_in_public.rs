// Conflicting classifications in separate attributes are found too.
use telemetry_runtime::TelemetryEvent;

/// A file was opened.
#[derive(TelemetryEvent)]
struct FileOpened {
    #[telemetry(opt_in)]
    #[telemetry(public)]
    extension: String,
}

fn main() {}
