//! The OTLP sink's payloads, decoded with the reference definitions
//! (`opentelemetry-proto`), against a real HTTP server on 127.0.0.1:
//! protobuf by default, JSON when asked, and the same records in both.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use telemetry_runtime::sink::{OtlpSink, Protocol};
use telemetry_runtime::{Level, Properties, Telemetry, TelemetryEvent};
use telemetry_tests::{Sandbox, TestServer};

telemetry_runtime::counter! {
    /// Tool calls, by outcome.
    static TOOL_CALLS = "tool_calls", labels: [status: Status = ["ok", "error"]];
}

telemetry_runtime::event! {
    /// An event with a list and a float.
    static LISTED = "listed" {
        /// Tags from a fixed set.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        tags: Vec<String>,
        /// A ratio.
        ratio: f64,
    }
}

const SOON: Duration = Duration::from_secs(5);

/// A tool call, for the OTLP test.
#[derive(TelemetryEvent)]
struct OtlpToolCall {
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    tool: &'static str,
    attempts: u32,
    ok: bool,
    /// Never on any wire.
    #[telemetry(redact)]
    secret: String,
    /// Only at full.
    #[telemetry(opt_in)]
    query: String,
}

use telemetry_tests::otlp::attribute;

fn client(sandbox: &Sandbox, server: &TestServer) -> Telemetry {
    let sink = OtlpSink::new(&server.url()).unwrap().header("x-collector-token", "abc").unwrap();
    Telemetry::new(
        sandbox
            .config()
            .sink(sink)
            .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d }),
    )
    .unwrap()
}

#[test]
fn events_are_log_records_that_decode_with_the_reference_definitions() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = client(&sandbox, &server);
    telemetry.capture(&OtlpToolCall {
        tool: "grep",
        attempts: 3,
        ok: true,
        secret: "CANARY-otlp-secret-qz".into(),
        query: "CANARY-otlp-query-qz".into(),
    });
    telemetry.capture_with(&LISTED, Properties::new().with("tags", vec!["a", "b"]).with("ratio", 0.5));
    assert!(telemetry.flush(SOON));

    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request.path, "/v1/logs");
    assert_eq!(request.header("content-type"), Some("application/x-protobuf"), "protobuf by default");
    assert_eq!(request.header("x-collector-token"), Some("abc"));
    assert!(!server.received(b"CANARY-otlp-secret-qz") && !server.received(b"CANARY-otlp-query-qz"));

    let decoded: ExportLogsServiceRequest = telemetry_tests::otlp::decode(request);
    let resource_logs = &decoded.resource_logs[0];
    let resource = &resource_logs.resource.as_ref().unwrap().attributes;
    assert_eq!(attribute(resource, "service.name"), Some(&Any::StringValue("testapp".into())));
    assert_eq!(attribute(resource, "service.version"), Some(&Any::StringValue("1.2.3".into())));
    let scope_logs = &resource_logs.scope_logs[0];
    assert_eq!(scope_logs.scope.as_ref().unwrap().name, "telemetry-runtime");
    let records = &scope_logs.log_records;
    assert_eq!(records.len(), 2);

    let call = &records[0];
    assert!(call.time_unix_nano > 1_700_000_000_000_000_000);
    assert_eq!(call.severity_number, 9);
    // OTLP 1.5's field for the event's name.
    assert_eq!(call.event_name, "otlp_tool_call");
    assert_eq!(records[1].event_name, "listed");
    assert_eq!(attribute(&call.attributes, "tool"), Some(&Any::StringValue("grep".into())));
    assert_eq!(attribute(&call.attributes, "attempts"), Some(&Any::IntValue(3)));
    assert_eq!(attribute(&call.attributes, "ok"), Some(&Any::BoolValue(true)));
    assert_eq!(attribute(&call.attributes, "secret"), None);
    assert_eq!(attribute(&call.attributes, "query"), None, "opt-in field sent at usage");
    assert!(matches!(attribute(&call.attributes, "$session_id"), Some(Any::StringValue(_))));

    let listed = &records[1];
    assert_eq!(attribute(&listed.attributes, "ratio"), Some(&Any::DoubleValue(0.5)));
    match attribute(&listed.attributes, "tags") {
        Some(Any::ArrayValue(list)) => assert_eq!(list.values.len(), 2),
        other => panic!("tags: {other:?}"),
    }
}

#[test]
fn counters_are_delta_sums_that_decode_with_the_reference_definitions() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = client(&sandbox, &server);
    for _ in 0..5 {
        telemetry.add(&TOOL_CALLS, Status::Ok, 1);
    }
    telemetry.add(&TOOL_CALLS, Status::Error, 1);
    assert!(telemetry.flush(SOON));

    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].path, "/v1/metrics");
    let decoded: ExportMetricsServiceRequest = telemetry_tests::otlp::decode(&requests[0]);
    let metrics = &decoded.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 2);
    let mut counts = Vec::new();
    for metric in metrics {
        assert_eq!(metric.name, "tool_calls");
        let Some(Data::Sum(sum)) = &metric.data else { panic!("not a sum: {metric:?}") };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, 1, "delta");
        let point = &sum.data_points[0];
        let Some(number_data_point::Value::AsInt(count)) = point.value else { panic!("{point:?}") };
        let status = match attribute(&point.attributes, "status") {
            Some(Any::StringValue(s)) => s.clone(),
            other => panic!("status: {other:?}"),
        };
        assert!(attribute(&point.attributes, "count").is_none());
        counts.push((status, count));
    }
    counts.sort();
    assert_eq!(counts, [("error".to_owned(), 1), ("ok".to_owned(), 5)]);
}

#[test]
fn full_consent_sends_opt_in_attributes() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let sink = OtlpSink::new(&server.url()).unwrap();
    let telemetry = Telemetry::new(sandbox.config().consent(Level::Full).sink(sink)).unwrap();
    telemetry.capture(&OtlpToolCall {
        tool: "grep",
        attempts: 1,
        ok: false,
        secret: "CANARY-otlp-secret-full-qz".into(),
        query: "what I asked".into(),
    });
    assert!(telemetry.flush(SOON));
    let decoded: ExportLogsServiceRequest = telemetry_tests::otlp::decode(&server.requests()[0]);
    let record = &decoded.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(attribute(&record.attributes, "query"), Some(&Any::StringValue("what I asked".into())));
    assert!(!server.received(b"CANARY-otlp-secret-full-qz"));
}

/// Sizes at the edges of the integer types, for the OTLP integer test.
#[derive(TelemetryEvent)]
struct EdgeSizes {
    small: u64,
    signed_top: u64,
    unsigned_top: u64,
    signed_bottom: i64,
}

#[test]
fn unsigned_integers_past_int64_are_sent_exactly_as_text() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = client(&sandbox, &server);
    telemetry.capture(&EdgeSizes {
        small: 7,
        signed_top: i64::MAX as u64,
        unsigned_top: u64::MAX,
        signed_bottom: i64::MIN,
    });
    assert!(telemetry.flush(SOON));
    let requests = server.requests();
    let decoded: ExportLogsServiceRequest = telemetry_tests::otlp::decode(&requests[0]);
    let record = &decoded.resource_logs[0].scope_logs[0].log_records[0];
    let value = |key| attribute(&record.attributes, key).cloned();
    assert_eq!(value("small"), Some(Any::IntValue(7)));
    assert_eq!(value("signed_top"), Some(Any::IntValue(i64::MAX)));
    assert_eq!(value("signed_bottom"), Some(Any::IntValue(i64::MIN)));
    // OTLP's int is an int64, and a double would round the value.
    assert_eq!(value("unsigned_top"), Some(Any::StringValue(u64::MAX.to_string())));
}

#[test]
fn a_logs_endpoint_alone_configures_the_sink_and_is_used_as_is() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let url = format!("{}/collector/ingest-logs", server.url());
    let sink = OtlpSink::from_env(|name| (name == "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT").then(|| url.clone()))
        .unwrap()
        .expect("a sink from OTEL_EXPORTER_OTLP_LOGS_ENDPOINT alone");
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    telemetry.capture(&EdgeSizes { small: 1, signed_top: 2, unsigned_top: 3, signed_bottom: 4 });
    assert!(telemetry.flush(SOON));
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].path, "/collector/ingest-logs", "used as is, without /v1/logs");
    let decoded: ExportLogsServiceRequest = telemetry_tests::otlp::decode(&requests[0]);
    assert_eq!(decoded.resource_logs[0].scope_logs[0].log_records.len(), 1);
}

#[test]
fn request_limits_hold_for_the_otlp_body_actually_sent() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    // A limit that holds a few log records, not all twenty: an OTLP record
    // is larger than the event's PostHog JSON, and the limit is on the
    // OTLP body.
    const LIMIT: usize = 4_000;
    let sink = OtlpSink::new(&server.url()).unwrap().http(|h| telemetry_runtime::sink::HttpOptions {
        max_request_bytes: LIMIT,
        gzip_above: None,
        ..h
    });
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(sink)
            .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d }),
    )
    .unwrap();
    for attempts in 0..20 {
        telemetry.capture(&OtlpToolCall {
            tool: "search",
            attempts,
            ok: true,
            secret: "s".into(),
            query: "q".into(),
        });
    }
    assert!(telemetry.flush(SOON));
    let requests = server.requests();
    assert!(requests.len() > 1, "one request for all: the limit was not applied");
    let mut attempts = Vec::new();
    for request in &requests {
        assert!(request.body.len() <= LIMIT, "{} bytes", request.body.len());
        let decoded: ExportLogsServiceRequest = telemetry_tests::otlp::decode(request);
        for record in &decoded.resource_logs[0].scope_logs[0].log_records {
            match attribute(&record.attributes, "attempts") {
                Some(Any::IntValue(n)) => attempts.push(*n),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(attempts, (0..20).collect::<Vec<i64>>(), "every event once, in order");
}

/// A sink from `OTEL_EXPORTER_OTLP_ENDPOINT` (the test server) and
/// `OTEL_EXPORTER_OTLP_HEADERS` set to `headers`.
fn from_env(
    server: &TestServer,
    headers: &'static str,
) -> Result<Option<OtlpSink>, telemetry_runtime::ConfigError> {
    let endpoint = server.url();
    OtlpSink::from_env(move |name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some(headers.to_owned()),
        _ => None,
    })
}

#[test]
fn headers_from_the_environment_are_decoded_and_one_http_does_not_allow_is_refused_at_once() {
    // Control: percent-encoded values arrive decoded.
    let server = TestServer::start();
    let sink = from_env(&server, "x-team=agents,api-key=abc%3D%3D%20x").unwrap().expect("a sink");
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
    telemetry.capture_with(&LISTED, Properties::new().with("ratio", 0.5));
    assert!(telemetry.flush(SOON));
    let request = &server.requests()[0];
    assert_eq!((request.header("x-team"), request.header("api-key")), (Some("agents"), Some("abc== x")));

    // A `%0A` decodes to a line break, which no request may carry: before,
    // the sink was made and every request failed and was retried; now the
    // configuration is refused, naming the variable and the pair, never the
    // value.
    for headers in
        ["x-team=agents,api-key=s3cret%0A", "api-key=s3cret%0D%0AX-Injected:%201", "bad name=s3cret"]
    {
        let err = from_env(&server, headers).expect_err(headers).to_string();
        assert!(err.contains("OTEL_EXPORTER_OTLP_HEADERS, pair "), "{err}");
        assert!(!err.contains("s3cret"), "the value is shown: {err}");
    }
    let sink = OtlpSink::new(&server.url()).unwrap();
    assert!(sink.header("api-key", "s3cret\n").is_err(), "the builder refuses it too");
}

/// What a log record carries, without its times: equal for the same event
/// sent in either encoding.
fn record_content(
    record: &opentelemetry_proto::tonic::logs::v1::LogRecord,
) -> (String, i32, Option<opentelemetry_proto::tonic::common::v1::AnyValue>, Vec<String>) {
    let attributes = record.attributes.iter().map(|kv| format!("{}={:?}", kv.key, kv.value)).collect();
    (record.event_name.clone(), record.severity_number, record.body.clone(), attributes)
}

#[test]
fn json_when_asked_carries_the_same_records_as_protobuf() {
    let sandbox = Sandbox::new();
    let (binary, text) = (TestServer::start(), TestServer::start());
    let config = sandbox
        .config()
        .sink(OtlpSink::new(&binary.url()).unwrap())
        .sink(OtlpSink::new(&text.url()).unwrap().protocol(Protocol::HttpJson))
        .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d });
    let telemetry = Telemetry::new(config).unwrap();
    telemetry.capture(&OtlpToolCall {
        tool: "grep",
        attempts: 3,
        ok: true,
        secret: "CANARY-otlp-secret-both-qz".into(),
        query: "q".into(),
    });
    telemetry.capture_with(&LISTED, Properties::new().with("tags", vec!["a", "b"]).with("ratio", 0.5));
    telemetry.add(&TOOL_CALLS, Status::Ok, 1);
    assert!(telemetry.flush(SOON));

    let by_path = |server: &TestServer, path: &str| {
        let found: Vec<_> = server.requests().into_iter().filter(|r| r.path == path).collect();
        assert_eq!(found.len(), 1, "{path}: {:?}", server.requests());
        found.into_iter().next().unwrap()
    };
    let (binary_logs, text_logs) = (by_path(&binary, "/v1/logs"), by_path(&text, "/v1/logs"));
    assert_eq!(binary_logs.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(text_logs.header("content-type"), Some("application/json"));
    // The JSON body is OTLP's JSON mapping, names in lowerCamelCase.
    let json = text_logs.json();
    assert_eq!(json["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["eventName"], "otlp_tool_call");
    let from_binary = telemetry_tests::otlp::logs(&binary_logs);
    let from_text = telemetry_tests::otlp::logs(&text_logs);
    assert_eq!(from_binary.resource_logs[0].resource, from_text.resource_logs[0].resource);
    let records = |request: &ExportLogsServiceRequest| -> Vec<_> {
        request.resource_logs[0].scope_logs[0].log_records.iter().map(record_content).collect()
    };
    assert_eq!(records(&from_binary).len(), 2);
    assert_eq!(records(&from_binary), records(&from_text));
    let binary_metrics = telemetry_tests::otlp::metrics(&by_path(&binary, "/v1/metrics"));
    let text_metrics = telemetry_tests::otlp::metrics(&by_path(&text, "/v1/metrics"));
    let points = |request: &ExportMetricsServiceRequest| {
        let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(Data::Sum(sum)) = &metric.data else { panic!("not a sum: {metric:?}") };
        (
            metric.name.clone(),
            sum.is_monotonic,
            sum.data_points[0].value,
            sum.data_points[0].attributes.clone(),
        )
    };
    assert_eq!(points(&binary_metrics), points(&text_metrics));
    assert_eq!(points(&binary_metrics).2, Some(number_data_point::Value::AsInt(1)));
    assert!(!binary.received(b"CANARY-otlp-secret-both-qz") && !text.received(b"CANARY-otlp-secret-both-qz"));
}

#[test]
fn the_protocol_variable_chooses_the_encoding_and_grpc_is_refused_at_configuration() {
    let server = TestServer::start();
    let url = server.url();
    let from_env = |protocol: &'static str| {
        let url = url.clone();
        OtlpSink::from_env(move |name| match name {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(url.clone()),
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some(protocol.to_owned()),
            _ => None,
        })
    };
    for (protocol, content_type) in
        [("http/protobuf", "application/x-protobuf"), ("http/json", "application/json")]
    {
        let sandbox = Sandbox::new();
        let sink = from_env(protocol).unwrap().expect("a sink");
        let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
        telemetry.capture(&EdgeSizes { small: 1, signed_top: 2, unsigned_top: 3, signed_bottom: 4 });
        assert!(telemetry.flush(SOON));
        let request = server.requests().pop().expect("a request");
        assert_eq!(request.header("content-type"), Some(content_type), "{protocol}");
        let decoded = telemetry_tests::otlp::logs(&request);
        assert_eq!(decoded.resource_logs[0].scope_logs[0].log_records[0].event_name, "edge_sizes");
    }
    let sent = server.requests().len();
    assert_eq!(sent, 2);
    let err = from_env("grpc").expect_err("grpc needs HTTP/2: refused when configured").to_string();
    assert!(err.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && err.contains("HTTP/2"), "{err}");
    assert_eq!(server.requests().len(), sent);
}

#[test]
fn resource_variables_reach_the_users_own_collector_and_never_a_vendors() {
    let sandbox = Sandbox::new();
    let (own, vendor) = (TestServer::start(), TestServer::start());
    let config = sandbox
        .config_with_env(&[
            ("OTEL_SERVICE_NAME", "my-pipeline"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,team=CANARY-resource-qz"),
        ])
        .route(OtlpSink::new(&own.url()).unwrap(), telemetry_runtime::Route::default().owned_by_user())
        .route(OtlpSink::new(&vendor.url()).unwrap(), telemetry_runtime::Route::default());
    let telemetry = Telemetry::new(config).unwrap();
    telemetry.capture(&EdgeSizes { small: 1, signed_top: 2, unsigned_top: 3, signed_bottom: 4 });
    assert!(telemetry.flush(SOON));
    let resource = |server: &TestServer| {
        let requests = server.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        let decoded = telemetry_tests::otlp::logs(&requests[0]);
        assert_eq!(decoded.resource_logs[0].scope_logs[0].log_records.len(), 1);
        decoded.resource_logs[0].resource.clone().unwrap().attributes
    };
    let mine = resource(&own);
    assert_eq!(attribute(&mine, "service.name"), Some(&Any::StringValue("my-pipeline".into())));
    assert_eq!(attribute(&mine, "deployment.environment"), Some(&Any::StringValue("staging".into())));
    assert_eq!(attribute(&mine, "service.version"), Some(&Any::StringValue("1.2.3".into())));
    let theirs = resource(&vendor);
    assert_eq!(attribute(&theirs, "service.name"), Some(&Any::StringValue("testapp".into())));
    assert_eq!(attribute(&theirs, "deployment.environment"), None);
    assert!(own.received(b"CANARY-resource-qz"));
    assert!(!vendor.received(b"CANARY-resource-qz"));
}
