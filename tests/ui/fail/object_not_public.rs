// An object with an opt-in or redacted field is not public by default: the
// event must classify the field that holds it.
use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

#[derive(TelemetryProperty)]
struct Server {
    tools: u32,
    #[telemetry(opt_in)]
    name: String,
}

#[derive(TelemetryProperty)]
struct Public {
    tools: u32,
}

/// Servers connected.
#[derive(TelemetryEvent)]
struct Connected {
    servers: Vec<Server>,
    first: Server,
    fine: Vec<Public>,
}

fn main() {}
