// Identifiers (`*_id`, keys, hashes, handles) need a reason whatever
// their type: a number or a uuid identifies a person as well as text, and
// even a closed set is refused under an identifier's name.
use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

#[derive(TelemetryProperty)]
enum Region {
    Eu,
}

/// A document was opened.
#[derive(TelemetryEvent)]
struct Opened {
    account_id: u64,
    api_key: u32,
    tenant_uuid: uuid::Uuid,
    window_handle: usize,
    region_id: Region,
}

fn main() {}
