// Conflicting and repeated arguments are errors, as they
// are in #[telemetry(...)].
//
// Expected: "conflicting requires_telemetry arguments `usage` and `full`"
// at `full`; "duplicate requires_telemetry argument `instrument`" and
// "... `name`" at the second of each.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(usage, full)]
fn gated() {}

#[requires_telemetry(instrument, instrument, name = "first", name = "second")]
fn instrumented() {}

fn main() {
    gated();
    instrumented();
}
