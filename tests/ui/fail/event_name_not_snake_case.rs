// Event names follow the same rules as property names.
use telemetry_runtime::TelemetryEvent;

/// A download finished.
#[derive(TelemetryEvent)]
#[telemetry(name = "Download-Finished")]
struct DownloadFinished {
    bytes: u64,
}

fn main() {}
