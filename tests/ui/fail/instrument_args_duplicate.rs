// An instrumented call's properties have unique names.
//
// Expected: an error at the second `n`: "duplicate argument `n` in
// `args(...)`".
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(instrument, args(n, n))]
fn run(n: u8) -> u8 {
    n
}

fn main() {
    run(2);
}
