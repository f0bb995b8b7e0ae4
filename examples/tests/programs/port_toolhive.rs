//! ToolHive's usage analytics, ported in `src/toolhive.rs`: the `thv`
//! binary against real HTTP servers on 127.0.0.1, one standing in for
//! Stacklok's analytics collector and one for the user's own collector.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use telemetry_tests::otlp::{self, proto::metrics::v1::metric::Data, proto::metrics::v1::number_data_point};
use telemetry_tests::Home;
use telemetry_tests::TestServer;

/// Variables of the machine running the tests that would change the run.
const AMBIENT: &[&str] = &[
    "DO_NOT_TRACK",
    "TOOLHIVE_TELEMETRY",
    "TOOLHIVE_TELEMETRY_DEBUG",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SDK_DISABLED",
];

const METRIC: &str = "toolhive_usage_tool_calls_total";

struct Machine {
    home: Home,
    /// Stacklok's analytics collector.
    analytics: TestServer,
    /// The user's own OpenTelemetry collector.
    collector: TestServer,
}

impl Machine {
    fn new() -> Machine {
        // Links the port's declarations into this test, for the servers'
        // catalog check.
        assert_eq!(telemetry_examples::toolhive::analytics::TOOL_CALLS.schema().name, METRIC);
        Machine { home: Home::new(), analytics: TestServer::start(), collector: TestServer::start() }
    }

    fn thv(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.home.command(env!("CARGO_BIN_EXE_thv"), AMBIENT);
        command.args(args).env("TOOLHIVE_ANALYTICS_ENDPOINT", self.analytics.url()).envs(env.iter().copied());
        let output = command.output().expect("run thv");
        assert!(output.status.success(), "thv {args:?} failed: {}", text(&output.stderr));
        output
    }

    /// Runs a proxy once so that the first-run notice is behind us.
    fn acknowledged() -> Machine {
        let machine = Machine::new();
        let first = machine.thv(&["run", "fetch", "--calls", "3"], &[]);
        assert!(
            text(&first.stderr).contains("To turn it off: thv config otel set usage-analytics-enabled false"),
            "{}",
            text(&first.stderr)
        );
        assert_eq!(machine.analytics.connections(), 0, "the first run, with the notice, sent something");
        machine
    }

    fn collector_url(&self) -> String {
        self.collector.url()
    }

    fn file(&self, relative: &str) -> PathBuf {
        self.home.path().join(relative)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every OTLP metric data point the server accepted: (metric, attributes, count).
fn data_points(server: &TestServer) -> Vec<(String, BTreeMap<String, String>, u64)> {
    let mut points = Vec::new();
    for request in server.requests().iter().filter(|r| r.accepted() && r.path == "/v1/metrics") {
        let body = otlp::metrics(request);
        for scope in &body.resource_metrics[0].scope_metrics {
            for metric in &scope.metrics {
                let Some(Data::Sum(sum)) = &metric.data else { panic!("not a sum: {metric:?}") };
                assert!(sum.is_monotonic);
                for point in &sum.data_points {
                    let Some(number_data_point::Value::AsInt(count)) = point.value else {
                        panic!("{point:?}")
                    };
                    let attributes = otlp::attribute_map(&point.attributes);
                    points.push((metric.name.clone(), attributes, count as u64));
                }
            }
        }
    }
    points
}

/// The total count per status.
fn counts(server: &TestServer) -> BTreeMap<String, u64> {
    let mut totals = BTreeMap::new();
    for (name, attributes, count) in data_points(server) {
        assert_eq!(name, METRIC, "only the tool call count is sent");
        let keys: Vec<&String> = attributes.keys().collect();
        assert_eq!(keys, ["status"], "the only attribute is status");
        *totals.entry(attributes["status"].clone()).or_default() += count;
    }
    totals
}

/// The OTLP log records the server accepted: each one's event name and
/// attributes.
fn log_records(server: &TestServer) -> Vec<(String, BTreeMap<String, String>)> {
    let mut records = Vec::new();
    for request in server.requests().iter().filter(|r| r.accepted() && r.path == "/v1/logs") {
        let body = otlp::logs(request);
        for record in &body.resource_logs[0].scope_logs[0].log_records {
            records.push((record.event_name.clone(), otlp::attribute_map(&record.attributes)));
        }
    }
    records
}

/// The spans the server accepted.
fn spans(server: &TestServer) -> Vec<otlp::proto::trace::v1::Span> {
    let traces = server.requests().into_iter().filter(|r| r.accepted() && r.path == "/v1/traces");
    traces.flat_map(|request| otlp::traces(&request).resource_spans[0].scope_spans[0].spans.clone()).collect()
}

#[test]
fn analytics_receive_only_the_tool_call_count_by_status() {
    let machine = Machine::acknowledged();
    machine.thv(&["run", "github-private", "--calls", "5", "--errors", "2"], &[]);
    assert!(machine.analytics.wait_for_requests(1, Duration::from_secs(5)));
    assert_eq!(counts(&machine.analytics), BTreeMap::from([("error".into(), 2), ("success".into(), 3)]));
    for request in machine.analytics.requests() {
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/metrics"));
    }
    // Nothing that could identify the server, the tools or the user.
    let id = std::fs::read_to_string(machine.file("cache/toolhive/telemetry_user_id")).unwrap();
    for secret in [&b"github-private"[..], b"fetch_url", b"read_file", id.trim().as_bytes(), b"distinct_id"] {
        assert!(!machine.analytics.received(secret), "{:?} reached the analytics endpoint", text(secret));
    }
    assert_eq!(machine.collector.connections(), 0, "no user collector was configured");
}

#[test]
fn the_config_file_turns_analytics_off_and_get_reads_it() {
    let machine = Machine::acknowledged();
    assert_eq!(
        text(&machine.thv(&["config", "otel", "get", "usage-analytics-enabled"], &[]).stdout),
        "true\n"
    );
    machine.thv(&["config", "otel", "set", "usage-analytics-enabled", "false"], &[]);
    assert_eq!(
        std::fs::read_to_string(machine.file(".toolhive/config.yaml")).unwrap(),
        "otel:\n  usage-analytics-enabled: false\n"
    );
    assert_eq!(
        text(&machine.thv(&["config", "otel", "get", "usage-analytics-enabled"], &[]).stdout),
        "false\n"
    );
    let run = machine.thv(&["run", "fetch", "--calls", "4"], &[]);
    assert!(
        text(&run.stdout).contains("usage analytics off (decided by explicit choice)"),
        "{}",
        text(&run.stdout)
    );
    assert_eq!(machine.analytics.connections(), 0);

    // A file written by hand, with comments and other sections.
    std::fs::write(
        machine.file(".toolhive/config.yaml"),
        "# my settings\nregistry_url: https://example.com\notel:\n  endpoint: collector:4317\n  usage-analytics-enabled: true # on again\n",
    )
    .unwrap();
    assert_eq!(
        text(&machine.thv(&["config", "otel", "get", "usage-analytics-enabled"], &[]).stdout),
        "true\n"
    );
    machine.thv(&["run", "fetch", "--calls", "4"], &[]);
    assert!(machine.analytics.wait_for_requests(1, Duration::from_secs(5)));
    assert_eq!(counts(&machine.analytics), BTreeMap::from([("success".into(), 4)]));
}

#[test]
fn one_server_can_opt_out_while_another_reports() {
    let machine = Machine::acknowledged();
    let off = machine.thv(&["run", "private", "--calls", "6", "--usage-analytics=false"], &[]);
    assert!(text(&off.stdout).contains("usage analytics off"), "{}", text(&off.stdout));
    assert_eq!(machine.analytics.connections(), 0, "the opted-out server reported");
    machine.thv(&["run", "public", "--calls", "2"], &[]);
    assert!(machine.analytics.wait_for_requests(1, Duration::from_secs(5)));
    assert_eq!(
        counts(&machine.analytics),
        BTreeMap::from([("success".into(), 2)]),
        "only the second server's calls"
    );
}

#[test]
fn the_users_own_collector_gets_every_detail_whatever_analytics_are_set_to() {
    let machine = Machine::acknowledged();
    let collector = machine.collector_url();
    // Analytics on: each pipeline gets its own share.
    machine.thv(&["run", "github", "--calls", "3", "--errors", "1", "--otel-endpoint", &collector], &[]);
    assert!(machine.analytics.wait_for_requests(1, Duration::from_secs(5)));
    assert!(machine.collector.wait_for_requests(1, Duration::from_secs(5)));
    let records = log_records(&machine.collector);
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|(name, _)| name == "mcp_tool_call"));
    assert_eq!(records[0].1["server"], "github");
    assert_eq!(records[0].1["tool"], "fetch_url");
    assert_eq!(records[0].1["status"], "error");
    assert_eq!(records[1].1["status"], "success");
    assert!(!machine.analytics.received(b"github"), "a detail crossed into the analytics pipeline");
    assert!(
        !machine.collector.received(METRIC.as_bytes()),
        "the analytics count went to the user's collector"
    );
    // The second pipeline's traces: each request a span, its forwarding a
    // child; Stacklok's route asks for none.
    let spans = spans(&machine.collector);
    let requests: Vec<_> = spans.iter().filter(|s| s.name == "mcp_request").collect();
    let forwards: Vec<_> = spans.iter().filter(|s| s.name == "mcp_forward").collect();
    assert_eq!((requests.len(), forwards.len(), spans.len()), (3, 3, 6));
    for forward in &forwards {
        let parent = requests.iter().find(|r| r.span_id == forward.parent_span_id).expect("a parent request");
        assert_eq!(parent.trace_id, forward.trace_id);
    }
    assert_eq!(forwards.iter().filter(|s| s.status.as_ref().is_some_and(|st| st.code == 2)).count(), 1);
    assert!(machine.analytics.requests().iter().all(|r| r.path == "/v1/metrics"));

    // Analytics off in the config file, and DO_NOT_TRACK: the user's own
    // collector, configured by the user, still gets everything.
    let before = machine.analytics.requests().len();
    machine.thv(&["config", "otel", "set", "usage-analytics-enabled", "false"], &[]);
    machine.thv(&["run", "github", "--calls", "2", "--otel-endpoint", &collector], &[("DO_NOT_TRACK", "1")]);
    machine.thv(&["run", "github", "--calls", "1"], &[("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str())]);
    assert!(machine.collector.wait_for_requests(3, Duration::from_secs(5)));
    assert_eq!(log_records(&machine.collector).len(), 6);
    assert_eq!(machine.analytics.requests().len(), before, "analytics sent after being turned off");
}

#[test]
fn otel_sdk_disabled_turns_the_users_collector_off_and_leaves_analytics_alone() {
    let machine = Machine::acknowledged();
    let collector = machine.collector_url();
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()), ("OTEL_SDK_DISABLED", "true")];
    machine.thv(&["run", "github", "--calls", "2"], &env);
    assert!(machine.analytics.wait_for_requests(1, Duration::from_secs(5)));
    assert_eq!(counts(&machine.analytics), BTreeMap::from([("success".into(), 2)]));
    assert_eq!(machine.collector.connections(), 0, "the user turned their OpenTelemetry off");

    // `TOOLHIVE_TELEMETRY=off` is about the analytics only.
    machine.thv(
        &["run", "github", "--calls", "1"],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()), ("TOOLHIVE_TELEMETRY", "off")],
    );
    assert!(machine.collector.wait_for_requests(1, Duration::from_secs(5)));
    assert_eq!(log_records(&machine.collector).len(), 1);
    assert_eq!(counts(&machine.analytics), BTreeMap::from([("success".into(), 2)]));
}

#[test]
fn debug_shows_the_analytics_records_as_they_are_sent() {
    let machine = Machine::acknowledged();
    let output = machine.thv(&["run", "fetch", "--calls", "2", "--errors", "2", "--debug"], &[]);
    let printed: Vec<Value> = text(&output.stderr)
        .lines()
        .filter_map(|line| line.strip_prefix("[telemetry] "))
        .map(|json| serde_json::from_str(json).expect("each printed record is JSON"))
        .collect();
    assert_eq!(printed.len(), 1, "{}", text(&output.stderr));
    assert_eq!(printed[0]["event"], METRIC);
    assert_eq!(printed[0]["properties"]["status"], "error");
    assert_eq!(printed[0]["properties"]["count"], 2);
    assert!(machine.analytics.wait_for_requests(1, Duration::from_secs(5)));
    assert_eq!(counts(&machine.analytics), BTreeMap::from([("error".into(), 2)]));
}

#[test]
fn the_catalog_lists_the_count_and_the_collectors_events_alone() {
    let machine = Machine::new();
    let catalog: Value =
        serde_json::from_slice(&machine.thv(&["telemetry", "catalog", "--json"], &[]).stdout).unwrap();
    let mut names: Vec<&str> =
        catalog["events"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["mcp_forward", "mcp_request", "mcp_tool_call", METRIC]);
    assert_eq!(machine.analytics.connections(), 0);
}
