// A sensitive-looking name marked public needs a written reason.
use telemetry_runtime::TelemetryEvent;

/// A server was contacted.
#[derive(TelemetryEvent)]
struct ServerContacted {
    #[telemetry(public)]
    server_url: String,
}

fn main() {}
