// PENDING (not run): an instrumented call's properties have unique names.
//
// Expected: an error at the second `n`: "duplicate argument `n` in
// `args(...)`".
// Today: compiles, and `record_call` pushes `n` twice with
// `Properties::push` (which assumes unique names), so the wire JSON has the
// key `n` twice.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(instrument, args(n, n))]
fn run(n: u8) -> u8 {
    n
}

fn main() {
    run(2);
}
