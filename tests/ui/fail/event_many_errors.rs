// Every problem is reported in one build, each at its own span: a missing
// doc comment, a bad event name, unclassified text, a sensitive public
// field, an unknown redact mode, a reserved name and a misspelled key.
use telemetry_runtime::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(name = "RequestSent")]
struct RequestSent {
    query: String,
    #[telemetry(public)]
    api_token: String,
    #[telemetry(redact = "hsah")]
    host: String,
    #[telemetry(rename = "$status")]
    status: u16,
    #[telemetry(pubic)]
    retries: u32,
}

fn main() {}
