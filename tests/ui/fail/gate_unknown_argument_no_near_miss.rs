// An unknown argument with no near miss lists the arguments there are.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(verbose)]
fn report() {}

fn main() {
    report();
}
