// A type that is not a property type, classified: reported at the type.
use std::path::PathBuf;
use telemetry_runtime::TelemetryEvent;

/// A project was opened.
#[derive(TelemetryEvent)]
struct ProjectOpened {
    #[telemetry(opt_in)]
    manifest: PathBuf,
}

fn main() {}
