// A number is public by default, but a name like `user_id` still needs a
// reason (or another classification).
use telemetry_runtime::TelemetryEvent;

/// A session started.
#[derive(TelemetryEvent)]
struct SessionStarted {
    user_id: u64,
}

fn main() {}
