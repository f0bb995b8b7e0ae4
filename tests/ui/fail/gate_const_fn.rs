// Consent is known only at run time.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry]
const fn report() {}

fn main() {
    report();
}
