// TelemetryProperty is for fieldless enums (values from a fixed set).
use telemetry_runtime::TelemetryProperty;

#[derive(TelemetryProperty)]
struct Transport {
    name: String,
}

fn main() {}
