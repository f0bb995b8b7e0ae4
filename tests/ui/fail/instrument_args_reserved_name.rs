// An argument may not take the name of a property every instrumented call
// records.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(instrument, args(outcome, duration_ms, error_type))]
fn run(outcome: bool, duration_ms: u64, error_type: u8) -> u8 {
    let _ = (outcome, duration_ms);
    error_type
}

fn main() {
    run(true, 1, 2);
}
