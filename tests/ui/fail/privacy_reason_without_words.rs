// A reason is made of words: a zero-width space, punctuation, a single
// word or a hidden character is not one.
use telemetry_runtime::TelemetryEvent;

/// A server was contacted.
#[derive(TelemetryEvent)]
struct ServerContacted {
    #[telemetry(public, reason = "\u{200b}")]
    server_url: String,
    #[telemetry(public, reason = "...")]
    host: String,
    #[telemetry(public, reason = "ok")]
    endpoint: String,
    #[telemetry(public, reason = "fixed\u{202e} list")]
    domain: String,
}

fn main() {}
