// Two fields may not send the same property name (here after a rename).
use telemetry_runtime::TelemetryEvent;

/// A download finished.
#[derive(TelemetryEvent)]
struct DownloadFinished {
    bytes: u64,
    #[telemetry(rename = "bytes")]
    compressed_bytes: u64,
}

fn main() {}
