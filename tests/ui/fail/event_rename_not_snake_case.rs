// Property names are snake_case; the error suggests one.
use telemetry_runtime::TelemetryEvent;

/// A download finished.
#[derive(TelemetryEvent)]
struct DownloadFinished {
    #[telemetry(rename = "compressedBytes")]
    compressed_bytes: u64,
}

fn main() {}
