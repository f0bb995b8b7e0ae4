// The fields of an object are audited like an event's: free text needs a
// classification, reported at the field.
use telemetry_runtime::TelemetryProperty;

#[derive(TelemetryProperty)]
struct Transport {
    retries: u32,
    name: String,
}

fn main() {}
