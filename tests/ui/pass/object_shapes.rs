// Objects: fields audited and classified like an event's, in lists,
// options and other objects, generic and borrowing, with renamed and
// skipped fields.
use std::collections::{BTreeMap, HashMap};

use telemetry_runtime::{PropertyValue, PublicByDefault, TelemetryEvent, TelemetryProperty, Value};

#[derive(TelemetryProperty, Clone, Copy)]
enum Kind {
    Stdio,
}

/// Token counts.
#[derive(TelemetryProperty)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: Option<u64>,
}

#[derive(TelemetryProperty)]
struct Server<'a> {
    kind: Kind,
    #[telemetry(public, reason = "a transport name from the protocol's fixed list", rename = "transport")]
    transport_name: &'a str,
    #[telemetry(opt_in)]
    name: String,
    #[telemetry(redact = "hash")]
    server_url: Option<String>,
    #[telemetry(redact = "marker")]
    token: String,
    #[telemetry(public, reason = "a host from a fixed list of public registries")]
    registry_host: &'static str,
    #[telemetry(skip)]
    #[allow(dead_code)]
    scratch: Vec<u8>,
    usage: Usage,
}

#[derive(TelemetryProperty)]
struct Counted<T> {
    value: T,
}

/// A run.
#[derive(TelemetryEvent)]
struct Run<'a> {
    #[telemetry(public)]
    servers: Vec<Server<'a>>,
    #[telemetry(opt_in)]
    first: Option<Server<'a>>,
    usage: Usage,
    usages: Vec<Option<Usage>>,
    counted: Counted<u8>,
    nested: Vec<Vec<Counted<Usage>>>,
    per_kind: BTreeMap<Kind, u32>,
    #[telemetry(public)]
    servers_by_kind: Option<HashMap<Kind, Vec<Server<'a>>>>,
}

fn public<T: PublicByDefault>() {}

fn main() {
    public::<Usage>();
    public::<Vec<Counted<Usage>>>();
    public::<BTreeMap<Kind, Usage>>();
    let usage = Usage { prompt_tokens: 1, completion_tokens: None };
    assert_eq!(
        usage.to_value(),
        Value::Object(vec![("prompt_tokens".into(), Value::UInt(1)), ("completion_tokens".into(), Value::Null)])
    );
    let _ = Run {
        servers: vec![],
        first: None,
        usage,
        usages: vec![None],
        counted: Counted { value: 1 },
        nested: vec![],
        per_kind: BTreeMap::new(),
        servers_by_kind: None,
    };
}
