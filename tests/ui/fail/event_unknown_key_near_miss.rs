// A misspelled key gets a suggestion. (The field is a number, public by
// default, so the typo is the only error; for a text field see
// ui/pending/fail_unknown_key_cascade.rs.)
use telemetry_runtime::TelemetryEvent;

/// A process exited.
#[derive(TelemetryEvent)]
struct ProcessExited {
    #[telemetry(pubic)]
    exit_code: i32,
}

fn main() {}
