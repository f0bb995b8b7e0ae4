// An unknown key with no near miss lists the keys there are.
use telemetry_runtime::TelemetryEvent;

/// A process exited.
#[derive(TelemetryEvent)]
struct ProcessExited {
    #[telemetry(anonymize)]
    exit_code: i32,
}

fn main() {}
