// A sensitive-looking name in an object needs a written reason, as in an
// event; a measure of a sensitive thing does not.
use telemetry_runtime::TelemetryProperty;

#[derive(TelemetryProperty)]
struct Server {
    #[telemetry(public)]
    server_url: String,
    user_id: u64,
    prompt_tokens: u32,
}

fn main() {}
