// A name that reads like a measure is no exemption: the type decides, and
// text named like a length or a count still needs a reason (an alias of
// text is refused too: see `privacy_type_decides_not_spelling.rs`).
use telemetry_runtime::TelemetryEvent;

/// A sign-up form was sent.
#[derive(TelemetryEvent)]
struct FormSent {
    #[telemetry(public)]
    user_email_len: String,
    #[telemetry(public)]
    prompt_tokens: Vec<String>,
}

fn main() {}
