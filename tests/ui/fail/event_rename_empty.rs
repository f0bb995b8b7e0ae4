// An empty property name.
use telemetry_runtime::TelemetryEvent;

/// A download finished.
#[derive(TelemetryEvent)]
struct DownloadFinished {
    #[telemetry(rename = "")]
    bytes: u64,
}

fn main() {}
