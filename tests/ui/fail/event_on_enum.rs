// An event is a struct with named fields.
use telemetry_runtime::TelemetryEvent;

/// A download finished or failed.
#[derive(TelemetryEvent)]
enum Download {
    Finished { bytes: u64 },
    Failed,
}

fn main() {}
