// A misspelled key on the struct gets a suggestion too.
use telemetry_runtime::TelemetryEvent;

/// A file was opened.
#[derive(TelemetryEvent)]
#[telemetry(smaple = 0.5)]
struct FileOpened {
    bytes: u64,
}

fn main() {}
