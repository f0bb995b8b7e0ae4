// Property names are at most 64 characters.
use telemetry_runtime::TelemetryEvent;

/// A download finished.
#[derive(TelemetryEvent)]
struct DownloadFinished {
    #[telemetry(rename = "number_of_bytes_that_were_downloaded_before_the_connection_was_closed")]
    bytes: u64,
}

fn main() {}
