// Every field classification and redact mode, and what each writes at each
// consent level.
use telemetry_runtime::{Classification, Level, Properties, RedactMode, TelemetryEvent, Value};

/// A request was sent to a server.
#[derive(TelemetryEvent)]
struct RequestSent {
    /// Status code: public by default.
    status: u16,
    /// The HTTP method, from a fixed set.
    #[telemetry(public, reason = "one of the few HTTP methods the client uses")]
    method: String,
    /// The server's region, which is coarse enough to be public.
    #[telemetry(public, reason = "one of a dozen cloud regions, chosen by the operator")]
    host_region: String,
    /// What the user searched for: only with full consent.
    #[telemetry(opt_in)]
    query: String,
    /// An access token: never sent.
    #[telemetry(redact)]
    token: String,
    /// Also never sent, with the mode written out.
    #[telemetry(redact = "drop")]
    password: String,
    /// Whether there was a cookie.
    #[telemetry(redact = "marker")]
    cookie: Option<String>,
    /// Server identity, countable but unreadable.
    #[telemetry(redact = "hash")]
    server_url: String,
    /// How long the prompt was.
    #[telemetry(redact = "length")]
    prompt: String,
    /// A sensitive-looking name that is a measure is fine unmarked.
    prompt_len: usize,
}

fn main() {
    let event = RequestSent {
        status: 200,
        method: "GET".into(),
        host_region: "eu-west-1".into(),
        query: "how to".into(),
        token: "secret".into(),
        password: "hunter2".into(),
        cookie: Some("c=1".into()),
        server_url: "https://example.com".into(),
        prompt: "héllo".into(),
        prompt_len: 5,
    };
    let mut usage = Properties::new();
    event.write_properties(Level::Usage, &mut usage);
    let names: Vec<&str> = usage.iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["status", "method", "host_region", "cookie", "server_url", "prompt", "prompt_len"]);
    assert_eq!(get(&usage, "cookie"), Some(Value::from("[redacted]")));
    assert!(matches!(get(&usage, "server_url"), Some(Value::Hashed(_))));
    assert_eq!(get(&usage, "prompt"), Some(Value::from(5usize)));

    let mut full = Properties::new();
    event.write_properties(Level::Full, &mut full);
    assert_eq!(get(&full, "query"), Some(Value::from("how to")));
    assert_eq!(get(&full, "token"), None);
    assert_eq!(get(&full, "password"), None);

    let no_cookie = RequestSent { cookie: None, ..event };
    let mut out = Properties::new();
    no_cookie.write_properties(Level::Full, &mut out);
    assert_eq!(get(&out, "cookie"), Some(Value::Null));

    let classes: Vec<_> = RequestSent::SCHEMA.fields.iter().map(|f| f.classification).collect();
    assert_eq!(
        classes,
        [
            Classification::Public,
            Classification::Public,
            Classification::Public,
            Classification::OptIn,
            Classification::Redact(RedactMode::Drop),
            Classification::Redact(RedactMode::Drop),
            Classification::Redact(RedactMode::Marker),
            Classification::Redact(RedactMode::Hash),
            Classification::Redact(RedactMode::Length),
            Classification::Public,
        ]
    );
    assert_eq!(
        RequestSent::SCHEMA.fields[2].reason,
        Some("one of a dozen cloud regions, chosen by the operator")
    );
}

/// The value `out` holds for `name`.
fn get(out: &telemetry_runtime::Properties, name: &str) -> Option<telemetry_runtime::Value> {
    out.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}
