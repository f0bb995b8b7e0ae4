// `args(...)` names arguments of the function.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(instrument, args(retries))]
fn fetch(attempts: u32) -> u32 {
    attempts
}

fn main() {
    fetch(1);
}
