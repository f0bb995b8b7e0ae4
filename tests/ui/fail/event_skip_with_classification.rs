// `skip` removes the field, so a classification on it is contradictory.
use telemetry_runtime::TelemetryEvent;

/// A build finished.
#[derive(TelemetryEvent)]
struct BuildFinished {
    crates: u32,
    #[telemetry(skip, redact)]
    log: String,
}

fn main() {}
