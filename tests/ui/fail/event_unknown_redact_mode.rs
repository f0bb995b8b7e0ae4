// An unknown redact mode gets a suggestion and the list of modes.
use telemetry_runtime::TelemetryEvent;

/// A server was contacted.
#[derive(TelemetryEvent)]
struct ServerContacted {
    #[telemetry(redact = "hsah")]
    server_url: String,
}

fn main() {}
