// PENDING (not run): an unsupported type without a classification is
// reported as unsupported.
//
// Expected: "`PathBuf` cannot be a telemetry property" (the PropertyValue
// message, with the list of supported types and `skip`) at `PathBuf`, and
// the same for the map.
// Today: "`PathBuf` is free text (or contains it) and needs a
// classification" with the note "classify the field: #[telemetry(public)]
// ...": following that advice only trades this error for the unsupported
// type error. The span also covers `manifest: std` (the field name and the
// first token of the type), not the type.
use telemetry_runtime::TelemetryEvent;

/// A project was opened.
#[derive(TelemetryEvent)]
struct ProjectOpened {
    manifest: std::path::PathBuf,
    features: std::collections::HashMap<String, String>,
}

fn main() {}
