// Several problems in one object, each reported at its field: an unknown
// key with a suggestion, a duplicate name, a conflicting classification.
use telemetry_runtime::TelemetryProperty;

#[derive(TelemetryProperty)]
struct Function {
    #[telemetry(pubic)]
    kind: &'static str,
    #[telemetry(rename = "count")]
    parameters: u32,
    count: u32,
    #[telemetry(public, opt_in)]
    description: String,
}

fn main() {}
