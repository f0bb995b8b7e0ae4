// An enum whose derive fails still implements the traits, so its uses do
// not add a cascade of errors: only the variant is reported.
use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

#[derive(TelemetryProperty)]
enum Mode {
    Fast(u32),
    Slow,
}

/// A run started.
#[derive(TelemetryEvent)]
struct RunStarted {
    mode: Mode,
}

fn main() {}
