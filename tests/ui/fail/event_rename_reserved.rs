// `$` names belong to the library (`$lib`, `$session_id`, ...).
use telemetry_runtime::TelemetryEvent;

/// A download finished.
#[derive(TelemetryEvent)]
struct DownloadFinished {
    #[telemetry(rename = "$lib")]
    library: u32,
}

fn main() {}
