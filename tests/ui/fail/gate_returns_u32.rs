// A gated body may not run, so there must be a value to return without it.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry]
fn plugin_count() -> u32 {
    3
}

fn main() {
    let _ = plugin_count();
}
