// An unsupported type without a classification is
// reported as unsupported.
//
// Expected: "`Instant` cannot be sent without a classification" at
// `Instant`, and the same for the map (a path would be free text: see
// privacy_bytes_unclassified.rs).
use telemetry_runtime::TelemetryEvent;

/// A project was opened.
#[derive(TelemetryEvent)]
struct ProjectOpened {
    started: std::time::Instant,
    features: std::collections::HashMap<String, String>,
}

fn main() {}
