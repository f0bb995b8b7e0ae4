// The event name of an instrumented function follows the naming rules.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(instrument, name = "Bad-Name")]
fn fetch() -> u32 {
    1
}

fn main() {
    fetch();
}
