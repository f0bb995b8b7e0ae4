// An unsupported type without a classification is
// reported as unsupported.
//
// Expected: "`PathBuf` cannot be a telemetry property" (the PropertyValue
// message, with the list of supported types and `skip`) at `PathBuf`, and
// the same for the map.
use telemetry_runtime::TelemetryEvent;

/// A project was opened.
#[derive(TelemetryEvent)]
struct ProjectOpened {
    manifest: std::path::PathBuf,
    features: std::collections::HashMap<String, String>,
}

fn main() {}
