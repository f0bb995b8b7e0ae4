// A reason has to say something.
use telemetry_runtime::TelemetryEvent;

/// A server was contacted.
#[derive(TelemetryEvent)]
struct ServerContacted {
    #[telemetry(public, reason = "  ")]
    server_url: String,
}

fn main() {}
