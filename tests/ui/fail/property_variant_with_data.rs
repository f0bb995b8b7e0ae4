// A variant with data is not from a fixed set of values.
use telemetry_runtime::TelemetryProperty;

#[derive(TelemetryProperty)]
enum Transport {
    Stdio,
    Http { url: String },
}

fn main() {}
