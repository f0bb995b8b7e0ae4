// A gated function records nothing itself, so `args` means nothing there.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(args(retries))]
fn report(retries: u32) {
    let _ = retries;
}

fn main() {
    report(1);
}
