// Identifiers (`*_id`, keys, hashes, handles) need a reason whatever
// their type: a number or a uuid identifies a person as well as text.
use telemetry_runtime::TelemetryEvent;

/// A document was opened.
#[derive(TelemetryEvent)]
struct Opened {
    account_id: u64,
    api_key: u32,
    tenant_uuid: uuid::Uuid,
    window_handle: usize,
}

fn main() {}
