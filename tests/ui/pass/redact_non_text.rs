// `redact` (drop) applies to any property type.
//
// The sensitive-name error for `user_id: u64` says "or use
// #[telemetry(redact)]"; doing so must compile. The free-text error for
// `Vec<String>` offers `redact` too.
// Expected: compiles; nothing is sent for either field.
use telemetry_runtime::{Level, Properties, TelemetryEvent};

/// A session started.
#[derive(TelemetryEvent)]
struct SessionStarted {
    #[telemetry(redact)]
    user_id: u64,
    #[telemetry(redact)]
    tags: Vec<String>,
    #[telemetry(redact = "marker")]
    account_number: Option<u64>,
}

fn main() {
    let event = SessionStarted { user_id: 7, tags: vec!["x".into()], account_number: Some(1) };
    let mut out = Properties::new();
    event.write_properties(Level::Full, &mut out);
    assert_eq!(get(&out, "user_id"), None);
    assert_eq!(get(&out, "tags"), None);
    assert_eq!(get(&out, "account_number"), Some(telemetry_runtime::Value::from("[redacted]")));
}

/// The value `out` holds for `name`.
fn get(out: &telemetry_runtime::Properties, name: &str) -> Option<telemetry_runtime::Value> {
    out.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}
