//! Objects as property values: a struct with `#[derive(TelemetryProperty)]`
//! is sent as a JSON object whose fields are classified like an event's,
//! checked on the wire of a real HTTP server on 127.0.0.1 (PostHog JSON and
//! OTLP, decoded with the reference definitions) and in the catalog.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use serde_json::json;
use telemetry_runtime::__private::ValueKind;
use telemetry_runtime::sink::OtlpSink;
use telemetry_runtime::{
    Catalog, Classification, Level, Properties, PropertyValue, Telemetry, TelemetryEvent, TelemetryProperty,
    Value,
};
use telemetry_tests::canary::Canary;
use telemetry_tests::{posthog_sink, Sandbox, TestServer};

const SOON: Duration = Duration::from_secs(10);

/// The kind of an MCP server.
#[derive(TelemetryProperty, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ServerKind {
    Stdio,
    Http,
}

/// One connected server, as mcp-use reports it.
#[derive(TelemetryProperty)]
struct Server {
    /// How the server is reached.
    kind: ServerKind,
    /// How many tools it offers.
    tools: u32,
    /// Its name, as the user configured it: only with full consent.
    #[telemetry(opt_in)]
    name: String,
    /// Where it runs: never sent, only a keyed hash to count distinct ones.
    #[telemetry(redact = "hash")]
    url: String,
    /// The command line that starts it: only its length.
    #[telemetry(redact = "length")]
    command: String,
    /// Environment of the server process: never sent.
    #[telemetry(redact)]
    env: String,
}

/// Token counts, as CUA's `total_usage`.
#[derive(TelemetryProperty, Clone, Copy)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

/// A parameter of a registered function.
#[derive(TelemetryProperty)]
struct Parameter {
    /// Its type, from a fixed set.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    ty: &'static str,
    required: bool,
}

/// A registered function and its parameters, as browser-use reports them.
#[derive(TelemetryProperty)]
struct Function {
    /// The parameters, in order.
    parameters: Vec<Parameter>,
    /// Token counts of its description.
    usage: Option<Usage>,
}

/// An agent run with the servers it connected to.
#[derive(TelemetryEvent)]
struct AgentRun {
    /// The servers, one object each.
    #[telemetry(public)]
    servers: Vec<Server>,
    /// Tokens used in the whole run.
    total_usage: Usage,
    /// The functions registered, with their parameters.
    functions: Vec<Function>,
    /// The first server, if any.
    #[telemetry(public)]
    first: Option<Server>,
}

struct Canaries {
    name: Canary,
    url: Canary,
    command: Canary,
    env: Canary,
}

impl Canaries {
    fn new() -> Canaries {
        Canaries {
            name: Canary::new("server_name"),
            url: Canary::new("server_url"),
            command: Canary::new("command"),
            env: Canary::new("env"),
        }
    }

    fn server(&self, kind: ServerKind, tools: u32) -> Server {
        Server {
            kind,
            tools,
            name: self.name.text(),
            url: self.url.text(),
            command: self.command.text(),
            env: self.env.text(),
        }
    }

    fn run(&self) -> AgentRun {
        AgentRun {
            servers: vec![self.server(ServerKind::Stdio, 3), self.server(ServerKind::Http, 0)],
            total_usage: Usage { prompt_tokens: 1200, completion_tokens: 80 },
            functions: vec![Function {
                parameters: vec![
                    Parameter { ty: "string", required: true },
                    Parameter { ty: "integer", required: false },
                ],
                usage: None,
            }],
            first: None,
        }
    }
}

/// Captures the run at `level` to a PostHog sink on a loopback server and
/// returns the event's properties as they arrived.
fn sent_at(level: Level, canaries: &Canaries) -> (serde_json::Value, TestServer) {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = Telemetry::new(sandbox.config().consent(level).sink(posthog_sink(&server))).unwrap();
    telemetry.capture(&canaries.run());
    assert!(telemetry.flush(SOON));
    let events = server.accepted_events();
    assert_eq!(events.len(), 1, "{events:#?}");
    (events[0]["properties"].clone(), server)
}

#[test]
fn objects_arrive_as_declared_at_usage_without_their_opt_in_fields() {
    let canaries = Canaries::new();
    let (properties, server) = sent_at(Level::Usage, &canaries);
    let servers = properties["servers"].as_array().expect("a list of objects");
    assert_eq!(servers.len(), 2);
    let first = servers[0].as_object().expect("an object");
    assert_eq!(first["kind"], "stdio");
    assert_eq!(first["tools"], 3);
    assert!(!first.contains_key("name"), "opt-in field sent at usage: {first:?}");
    assert!(!first.contains_key("env"), "dropped field sent: {first:?}");
    assert_eq!(first["command"], canaries.command.len());
    let hash = first["url"].as_str().expect("a keyed hash");
    assert_eq!(hash.len(), 32);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    // Equal values hash equally within the installation.
    assert_eq!(servers[1]["url"], first["url"]);
    assert_eq!(servers[1]["kind"], "http");
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{keys:?}");

    assert_eq!(properties["total_usage"], json!({ "prompt_tokens": 1200, "completion_tokens": 80 }));
    assert_eq!(
        properties["functions"],
        json!([{ "parameters": [
            { "ty": "string", "required": true },
            { "ty": "integer", "required": false }
        ] }]),
        "objects inside objects inside lists; a null option left out"
    );
    assert!(properties.get("first").is_none(), "a null object is left out");
    for canary in [&canaries.name, &canaries.url, &canaries.command, &canaries.env] {
        assert!(!server.requests().iter().any(|r| canary.found_in(&r.decoded_body())), "{canary:?} sent");
    }
}

#[test]
fn opt_in_fields_of_objects_arrive_at_full_and_redacted_ones_never() {
    let canaries = Canaries::new();
    let (properties, server) = sent_at(Level::Full, &canaries);
    let first = &properties["servers"][0];
    assert_eq!(first["name"], canaries.name.text());
    assert_eq!(first["tools"], 3);
    assert_eq!(first["url"].as_str().map(str::len), Some(32));
    assert!(first.get("env").is_none());
    let bodies: Vec<Vec<u8>> = server.requests().iter().map(|r| r.decoded_body()).collect();
    assert!(bodies.iter().any(|b| canaries.name.found_in(b)), "the search finds what was sent");
    for canary in [&canaries.url, &canaries.command, &canaries.env] {
        assert!(!bodies.iter().any(|b| canary.found_in(b)), "{canary:?} sent at full");
    }
}

#[test]
fn lowering_consent_after_capture_removes_opt_in_fields_of_queued_objects() {
    let canaries = Canaries::new();
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let config = sandbox
        .config()
        .consent(Level::Full)
        .sink(posthog_sink(&server))
        .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d });
    let telemetry = Telemetry::new(config).unwrap();
    telemetry.capture(&canaries.run());
    telemetry.set_consent(Level::Usage);
    assert!(telemetry.flush(SOON));
    let events = server.accepted_events();
    assert_eq!(events.len(), 1);
    assert!(events[0]["properties"]["servers"][0].get("name").is_none());
    assert!(!server.requests().iter().any(|r| canaries.name.found_in(&r.decoded_body())));
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Any> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
}

#[test]
fn objects_are_kvlists_in_otlp() {
    let canaries = Canaries::new();
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let sink = OtlpSink::new(&server.url()).unwrap();
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    telemetry.capture(&canaries.run());
    assert!(telemetry.flush(SOON));
    let requests = server.requests();
    let decoded: ExportLogsServiceRequest = telemetry_tests::otlp::decode(&requests[0]);
    let record = &decoded.resource_logs[0].scope_logs[0].log_records[0];
    let Some(Any::KvlistValue(usage)) = attribute(&record.attributes, "total_usage") else {
        panic!("total_usage: {:?}", attribute(&record.attributes, "total_usage"));
    };
    assert_eq!(attribute(&usage.values, "prompt_tokens"), Some(&Any::IntValue(1200)));
    assert_eq!(attribute(&usage.values, "completion_tokens"), Some(&Any::IntValue(80)));
    let Some(Any::ArrayValue(servers)) = attribute(&record.attributes, "servers") else { panic!("servers") };
    let Some(Any::KvlistValue(first)) = servers.values[0].value.as_ref() else { panic!("{servers:?}") };
    assert_eq!(attribute(&first.values, "kind"), Some(&Any::StringValue("stdio".into())));
    assert_eq!(attribute(&first.values, "name"), None, "opt-in field sent at usage");
    assert!(matches!(attribute(&first.values, "url"), Some(Any::StringValue(h)) if h.len() == 32));
    for canary in [&canaries.name, &canaries.url, &canaries.command, &canaries.env] {
        assert!(!requests.iter().any(|r| canary.found_in(&r.decoded_body())), "{canary:?} sent");
    }
}

#[test]
fn objects_are_public_by_default_only_when_every_field_is() {
    fn public_by_default<T: telemetry_runtime::PublicByDefault>() {}
    public_by_default::<Usage>();
    public_by_default::<Vec<Usage>>();
    public_by_default::<Function>();
    public_by_default::<Vec<Function>>();
    // `Server` has opt-in and redacted fields: the event above had to
    // classify it, which `tests/ui/fail/object_not_public.rs` checks.
}

#[test]
fn kinds_list_public_fields_only() {
    assert_eq!(
        Usage::KIND,
        ValueKind::Object(&[("prompt_tokens", ValueKind::Number), ("completion_tokens", ValueKind::Number)])
    );
    // The opt-in and redacted fields of `Server` cannot come from a value
    // built at run time: its kind does not list them (see
    // `values_built_at_run_time_carry_only_what_their_kind_lists`).
    let ValueKind::Object(fields) = Server::KIND else { panic!() };
    let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["kind", "tools"]);
}

telemetry_runtime::event! {
    /// A server and feature calls, described at run time.
    static DYNAMIC_SHAPES = "dynamic_shapes" {
        /// The server.
        #[telemetry(public, reason = "a test of the shapes values built at run time may take")]
        server: Server,
        /// Calls per feature.
        calls: std::collections::BTreeMap<Feature, u32>,
    }
}

#[test]
fn values_built_at_run_time_carry_only_what_their_kind_lists() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    let object = |name: &'static str, value: Value| Value::Object(vec![(name.into(), value)]);
    let shapes = [
        // An opt-in field of `Server`, and a map key outside the enum's values.
        ("server", object("url", Value::from("CANARY-run-time-url-zq")), None),
        ("calls", object("CANARY-run-time-key-zq", Value::UInt(1)), None),
        ("server", object("tools", Value::from(2u8)), Some(json!({ "tools": 2 }))),
        ("calls", object("search", Value::UInt(1)), Some(json!({ "search": 1 }))),
    ];
    for (name, value, _) in &shapes {
        telemetry.capture_with(&DYNAMIC_SHAPES, Properties::new().with(name, value.clone()));
    }
    assert!(telemetry.flush(SOON));
    let events = server.accepted_events();
    assert_eq!(events.len(), shapes.len());
    for (event, (name, value, sent)) in events.iter().zip(&shapes) {
        assert_eq!(event["properties"].get(*name), sent.as_ref(), "{name}: {value:?}");
    }
    assert!(!server.received(b"CANARY-run-time"), "a refused value reached the wire");
}

telemetry_runtime::event! {
    /// A run reported through the dynamic API.
    static DYNAMIC_RUN = "dynamic_run" {
        /// Tokens used.
        total_usage: Usage,
    }
}

#[test]
fn dynamic_events_take_objects_of_the_declared_shape() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    let usage = Usage { prompt_tokens: 7, completion_tokens: 2 };
    telemetry.capture_with(&DYNAMIC_RUN, Properties::new().with("total_usage", usage.to_value()));
    let wrong =
        Value::Object(vec![("prompt_tokens".into(), Value::Text(("CANARY-dynamic-object-zq").into()))]);
    telemetry.capture_with(&DYNAMIC_RUN, Properties::new().with("total_usage", wrong));
    assert!(telemetry.flush(SOON));
    let events = server.accepted_events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["properties"]["total_usage"], json!({ "prompt_tokens": 7, "completion_tokens": 2 }));
    assert!(events[1]["properties"].get("total_usage").is_none(), "a value of another shape is refused");
    assert!(!server.received(b"CANARY-dynamic-object-zq"));
}

#[test]
fn the_catalog_lists_nested_fields() {
    let catalog = Catalog::collect();
    let run = telemetry_tests::event_named(&catalog, "agent_run").unwrap();
    let servers = run.fields.iter().find(|f| f.name == "servers").unwrap();
    let names: Vec<&str> = servers.fields.iter().map(|f| f.name).collect();
    assert_eq!(names, ["kind", "tools", "name", "url", "command", "env"]);
    assert_eq!(servers.fields[2].classification, Classification::OptIn);
    assert_eq!(servers.fields[2].description, "Its name, as the user configured it: only with full consent.");

    let markdown = catalog.to_markdown("agent");
    for row in [
        "| `servers[].kind` | one of `stdio`, `http` | public | value | value |",
        "| `servers[].name` | `String` | opt_in | nothing | value |",
        "| `servers[].url` | `String` | redact(hash) | keyed hash | keyed hash |",
        "| `total_usage.prompt_tokens` | `u32` | public | value | value |",
        "| `functions[].parameters[].required` | `bool` | public | value | value |",
        "| `functions[].usage.completion_tokens` | `u32` | public | value | value |",
        "| `first.name` | `String` | opt_in | nothing | value |",
    ] {
        assert!(markdown.contains(row), "{row} not in\n{markdown}");
    }

    let json = telemetry_tests::catalog_json(catalog);
    let event = json["events"].as_array().unwrap().iter().find(|e| e["name"] == "agent_run").unwrap();
    let functions = event["fields"].as_array().unwrap().iter().find(|f| f["name"] == "functions").unwrap();
    let parameters = &functions["fields"][0];
    assert_eq!(parameters["name"], "parameters");
    assert_eq!(parameters["fields"][0]["name"], "ty");
    assert_eq!(parameters["fields"][1]["sent"], json!({ "usage": "value", "full": "value" }));
    let servers = event["fields"].as_array().unwrap().iter().find(|f| f["name"] == "servers").unwrap();
    assert_eq!(servers["fields"][2]["sent"], json!({ "usage": "nothing", "full": "value" }));
    let plain = event["fields"].as_array().unwrap().iter().find(|f| f["name"] == "total_usage").unwrap();
    assert_eq!(plain["fields"].as_array().map(Vec::len), Some(2));
}

#[test]
fn the_test_servers_catalog_check_reads_nested_fields() {
    use std::io::{Read, Write};
    let server = TestServer::start();
    let body = json!({ "api_key": "k", "batch": [{
        "event": "agent_run",
        "properties": {
            "servers": [{ "kind": "stdio", "undeclared_inner": 1 }],
            "functions": [{ "parameters": [{ "ty": "string", "secret_param": "x" }] }],
            "total_usage": { "prompt_tokens": 1 }
        }
    }] })
    .to_string();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    let request = format!(
        "POST /batch/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let _ = stream.read_to_end(&mut Vec::new());
    assert!(server.wait_for_requests(1, SOON));
    let undeclared = telemetry_tests::catalog_check::undeclared_on_wire(&server.requests());
    assert_eq!(
        undeclared,
        [
            "property \"functions[].parameters[].secret_param\" of event \"agent_run\"",
            "property \"servers[].undeclared_inner\" of event \"agent_run\"",
        ]
    );
    server.without_catalog_check();
}

/// An instrumented function may record an object argument that is public by
/// default; its fields are listed under the argument in the catalog.
#[telemetry_runtime::requires_telemetry(instrument, name = "usage_recorded", args(usage))]
fn record_usage(usage: Usage) -> u32 {
    usage.prompt_tokens + usage.completion_tokens
}

#[test]
fn instrumented_functions_record_objects_and_list_their_fields() {
    // No client: the call runs and returns as it would without telemetry.
    assert_eq!(record_usage(Usage { prompt_tokens: 2, completion_tokens: 3 }), 5);
    let event = telemetry_tests::event_named(&Catalog::collect(), "usage_recorded").unwrap();
    let usage = event.fields.iter().find(|f| f.name == "usage").unwrap();
    let names: Vec<&str> = usage.fields.iter().map(|f| f.name).collect();
    assert_eq!(names, ["prompt_tokens", "completion_tokens"]);
    assert_eq!(
        DYNAMIC_RUN.schema().fields[0].fields.len(),
        2,
        "and under a field of an `event!` declaration"
    );
}

/// An object with a marker in place of its text.
#[derive(TelemetryProperty)]
struct Session {
    /// Replaced by a marker when present.
    #[telemetry(redact = "marker")]
    token: Option<String>,
    /// Left out when absent.
    #[telemetry(redact = "marker")]
    cookie: Option<String>,
}

/// A login, with a session object.
#[derive(TelemetryEvent)]
struct LoggedIn {
    /// The session: only markers of what it held.
    #[telemetry(public)]
    session: Session,
}

#[test]
fn a_marker_field_of_an_object_sends_the_marker_and_never_the_text() {
    let canary = Canary::new("token");
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry =
        Telemetry::new(sandbox.config().consent(Level::Full).sink(posthog_sink(&server))).unwrap();
    telemetry.capture(&LoggedIn { session: Session { token: Some(canary.text()), cookie: None } });
    assert!(telemetry.flush(SOON));
    let events = server.accepted_events();
    assert_eq!(events[0]["properties"]["session"], json!({ "token": "[redacted]" }));
    assert!(!server.requests().iter().any(|r| canary.found_in(&r.decoded_body())));
}

/// A feature, from a fixed set: the keys of a map.
#[derive(TelemetryProperty, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Feature {
    Search,
    #[telemetry(rename = "code_exec")]
    CodeExecution,
}

/// Use of each feature.
#[derive(TelemetryEvent)]
struct FeaturesUsed {
    /// Calls per feature.
    calls: std::collections::BTreeMap<Feature, u32>,
    /// Token counts per feature.
    usage: std::collections::HashMap<Feature, Usage>,
    /// Servers per kind.
    #[telemetry(public)]
    servers: std::collections::BTreeMap<ServerKind, Vec<Server>>,
}

#[test]
fn maps_with_enum_keys_are_objects_named_by_their_keys() {
    let canaries = Canaries::new();
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    telemetry.capture(&FeaturesUsed {
        calls: [(Feature::Search, 3), (Feature::CodeExecution, 1)].into(),
        usage: [(Feature::Search, Usage { prompt_tokens: 5, completion_tokens: 6 })].into(),
        servers: [(ServerKind::Http, vec![canaries.server(ServerKind::Http, 4)])].into(),
    });
    assert!(telemetry.flush(SOON));
    let events = server.accepted_events();
    let properties = &events[0]["properties"];
    assert_eq!(properties["calls"], json!({ "search": 3, "code_exec": 1 }));
    assert_eq!(properties["usage"], json!({ "search": { "prompt_tokens": 5, "completion_tokens": 6 } }));
    let http = &properties["servers"]["http"][0];
    assert_eq!(http["tools"], 4);
    assert!(http.get("name").is_none(), "the opt-in field of an object in a map, at usage");
    for canary in [&canaries.name, &canaries.url, &canaries.command, &canaries.env] {
        assert!(!server.requests().iter().any(|r| canary.found_in(&r.decoded_body())), "{canary:?} sent");
    }

    let markdown = Catalog::collect().to_markdown("agent");
    for row in [
        "| `calls.*` | `u32` | public | value | value |",
        "| `servers.*[].name` | `String` | opt_in | nothing | value |",
    ] {
        assert!(markdown.contains(row), "{row} not in\n{markdown}");
    }
}
