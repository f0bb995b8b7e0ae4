// An unsupported type without a classification is
// reported as unsupported.
//
// Expected: "`Instant` cannot be sent without a classification" at
// `Instant`, and the same for the set (a path would be free text: see
// privacy_bytes_unclassified.rs; a map has its own error: see
// object_map_string_keys.rs).
use telemetry_runtime::TelemetryEvent;

/// A project was opened.
#[derive(TelemetryEvent)]
struct ProjectOpened {
    started: std::time::Instant,
    features: std::collections::HashSet<u32>,
}

fn main() {}
