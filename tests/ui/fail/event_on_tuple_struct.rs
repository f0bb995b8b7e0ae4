// Fields need names: they become the property names.
use telemetry_runtime::TelemetryEvent;

/// A download finished.
#[derive(TelemetryEvent)]
struct DownloadFinished(u64);

fn main() {}
