// A sample rate is a share of events: above 0, at most 1.
use telemetry_runtime::TelemetryEvent;

/// A key was pressed.
#[derive(TelemetryEvent)]
#[telemetry(sample = 1.5)]
struct KeyPressed {
    repeat: bool,
}

/// A key was released.
#[derive(TelemetryEvent)]
#[telemetry(sample = 0.0)]
struct KeyReleased {
    repeat: bool,
}

fn main() {}
