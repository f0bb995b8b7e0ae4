// Event attributes do not apply to a property enum.
use telemetry_runtime::TelemetryProperty;

#[derive(TelemetryProperty)]
#[telemetry(opt_in)]
enum Transport {
    Stdio,
    Http,
}

fn main() {}
