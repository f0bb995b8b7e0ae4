// The struct's doc comment is the catalog entry: it is required.
use telemetry_runtime::TelemetryEvent;

#[derive(TelemetryEvent)]
struct DownloadFinished {
    bytes: u64,
}

fn main() {}
