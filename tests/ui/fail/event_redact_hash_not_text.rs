// Hashing applies to text; a number has nothing to hash.
use telemetry_runtime::TelemetryEvent;

/// A port was opened.
#[derive(TelemetryEvent)]
struct PortOpened {
    #[telemetry(redact = "hash")]
    port: u32,
}

fn main() {}
