// A measure suffix exempts a sensitive name only where the value cannot
// carry text: a text field named like a length still needs a reason, and
// so does a type the audit cannot see is a number.
use telemetry_runtime::TelemetryEvent;

type Length = String;

/// A sign-up form was sent.
#[derive(TelemetryEvent)]
struct FormSent {
    #[telemetry(public)]
    user_email_len: String,
    #[telemetry(public)]
    prompt_tokens: Vec<String>,
    #[telemetry(public)]
    query_length: Length,
}

fn main() {}
