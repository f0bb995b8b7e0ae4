// `sample = 1` is a valid rate.
//
// Expected: compiles (an integer literal 1 is the rate 1.0).
use telemetry_runtime::TelemetryEvent;

/// Every key press.
#[derive(TelemetryEvent)]
#[telemetry(sample = 1)]
struct KeyPressed {
    repeat: bool,
}

fn main() {
    assert_eq!(KeyPressed::SCHEMA.sample_rate, 1.0);
    let _ = KeyPressed { repeat: true }.repeat;
}
