//! mcp-use's telemetry, ported in `src/mcp_use.rs`: the `mcp-use` binary
//! against a real HTTP server on 127.0.0.1 standing in for both PostHog
//! (`/batch/`) and Scarf (`/simple/`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use telemetry_runtime::TelemetryEvent;
use telemetry_tests::Home;
use telemetry_tests::TestServer;

/// Variables of the machine running the tests that would change the run.
const AMBIENT: &[&str] = &["DO_NOT_TRACK", "MCP_USE_ANONYMIZED_TELEMETRY", "MCP_USE_DEBUG"];

const QUERY: &str = "summarise the quarterly numbers in /home/ana/sales.csv";

struct Machine {
    home: Home,
    server: TestServer,
}

impl Machine {
    fn new() -> Machine {
        // Links the port's events into this test, so that the server's
        // catalog check knows them.
        assert_eq!(telemetry_examples::mcp_use::AgentExecution::SCHEMA.name, "mcp_agent_execution");
        Machine { home: Home::new(), server: TestServer::start() }
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.home.command(env!("CARGO_BIN_EXE_mcp-use"), AMBIENT);
        command
            .args(args)
            .env("MCP_USE_POSTHOG_HOST", self.server.url())
            .env("MCP_USE_SCARF_URL", format!("{}/simple/", self.server.url()))
            .envs(env.iter().copied());
        let output = command.output().expect("run mcp-use");
        assert!(output.status.success(), "mcp-use {args:?} failed: {}", text(&output.stderr));
        output
    }

    /// The events the server accepted on `path`.
    /// Waits until `n` events were delivered: PostHog's, in JSON batches,
    /// and Scarf's, a pixel request each.
    fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> bool {
        telemetry_tests::wait_until(timeout, || {
            self.events_on("/batch/").len() + self.scarf_hits().len() >= n
        })
    }

    /// The pixel requests Scarf's gateway received: each one's query, as
    /// name-value pairs (percent-decoded), in order.
    fn scarf_hits(&self) -> Vec<BTreeMap<String, String>> {
        self.server
            .requests()
            .iter()
            .filter(|r| r.accepted() && r.path.starts_with("/simple/"))
            .map(|r| {
                assert_eq!(r.method, "GET", "a pixel request");
                assert!(r.body.is_empty(), "a pixel request has no body");
                let query = r.path.split_once('?').map_or("", |(_, query)| query);
                query
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(name, value)| (percent_decode(name), percent_decode(value)))
                    .collect()
            })
            .collect()
    }

    fn events_on(&self, path: &str) -> Vec<Value> {
        self.server
            .requests()
            .iter()
            .filter(|r| r.accepted() && r.path == path)
            .flat_map(|r| r.events())
            .collect()
    }

    fn file(&self, relative: &str) -> PathBuf {
        self.home.path().join(relative)
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).expect("a percent escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_execution_event_goes_to_posthog_and_the_download_to_scarf() {
    let machine = Machine::new();
    let first = machine.run(&["run", QUERY], &[]);
    assert!(text(&first.stderr).contains("set MCP_USE_ANONYMIZED_TELEMETRY=off"), "{}", text(&first.stderr));
    assert_eq!(machine.server.connections(), 0, "the first run, with the notice, sent something");

    machine.run(&["run", QUERY, "--model", "anthropic:claude-3", "--memory"], &[]);
    assert!(machine.wait_for_deliveries(2, Duration::from_secs(5)));
    let posthog = machine.events_on("/batch/");
    assert_eq!(posthog.len(), 1, "{posthog:#?}");
    let execution = &posthog[0];
    assert_eq!(execution["event"], "mcp_agent_execution");
    let p = &execution["properties"];
    assert_eq!(p["mcp_use_version"], "1.3.0");
    assert_eq!(p["execution_method"], "run");
    assert_eq!(p["model_provider"], "anthropic");
    assert_eq!(p["model_name"], "claude-3");
    assert_eq!(p["server_count"], 2);
    // One object per server, as in the document's sample, with its type and
    // tool count but not the sample's `command` or `base_url`.
    assert_eq!(
        p["server_identifiers"],
        serde_json::json!([{ "type": "stdio", "tool_count": 2 }, { "type": "http", "tool_count": 1 }])
    );
    assert_eq!(p["tools_used_names"], serde_json::json!(["read_file", "analyze_data"]));
    assert!(p["execution_time_ms"].is_number());
    assert_eq!(p["steps_taken"], 2);
    assert_eq!(p["max_steps_configured"], 5);
    assert_eq!(p["memory_enabled"], true);
    assert_eq!(p["success"], true);
    assert_eq!(p["$process_person_profile"], false);
    // Opt-in: neither the query nor the answer is sent by default, nor are
    // the servers' commands and addresses ever.
    assert!(p.get("query").is_none() && p.get("response").is_none(), "{p:#}");
    for secret in [&b"sales.csv"[..], b"python -m server", b"localhost:8080"] {
        assert!(!machine.server.received(secret), "{:?} reached the wire", text(secret));
    }

    // Scarf: one pixel request, the event's own properties in the query.
    let scarf = machine.scarf_hits();
    assert_eq!(scarf.len(), 1, "{scarf:#?}");
    let keys: Vec<&str> = scarf[0].keys().map(String::as_str).collect();
    assert_eq!(keys, ["anonymous_id", "download_type", "event", "version"], "nothing else: {scarf:#?}");
    assert_eq!(scarf[0]["event"], "package_download");
    assert_eq!(scarf[0]["version"], "1.3.0");
    assert_eq!(scarf[0]["download_type"], "install");

    // The anonymous id lives where the document says, and is what is sent.
    let id = std::fs::read_to_string(machine.file("cache/mcp_use/telemetry_user_id")).unwrap();
    assert_eq!(execution["distinct_id"], id.trim());
    assert_eq!(scarf[0]["anonymous_id"], id.trim());

    // The same version again: no second download event.
    machine.run(&["stream", QUERY], &[]);
    assert!(machine.wait_for_deliveries(3, Duration::from_secs(5)));
    assert_eq!(machine.scarf_hits().len(), 1, "a second package_download for the same version");
    let second = machine.events_on("/batch/");
    assert_eq!(second.len(), 2);
    assert_eq!(second[1]["properties"]["execution_method"], "stream");
    assert_eq!(second[1]["distinct_id"], id.trim(), "the id is stable across runs");
}

#[test]
fn anonymized_telemetry_false_sends_nothing_and_writes_nothing() {
    for value in ["false", "False", "FALSE", " false ", "0", "off", "no"] {
        let machine = Machine::new();
        for _ in 0..2 {
            let output = machine.run(&["run", QUERY], &[("MCP_USE_ANONYMIZED_TELEMETRY", value)]);
            assert!(text(&output.stdout).contains("0 telemetry events captured"), "{value:?}");
            assert!(text(&output.stdout).contains("MCP_USE_ANONYMIZED_TELEMETRY"), "{value:?}");
            assert!(!text(&output.stderr).contains("collects anonymous"), "{value:?}: notice shown");
        }
        assert_eq!(machine.server.connections(), 0, "{value:?}");
        assert!(!machine.file("cache/mcp_use").exists(), "{value:?} wrote the cache directory");
        assert!(!machine.file("config/mcp_use").exists(), "{value:?} wrote the config directory");
    }
}

#[test]
fn full_consent_sends_the_query_and_response_to_posthog_only() {
    let machine = Machine::new();
    // A choice in the variable is the user's own: no notice, sent at once.
    machine.run(&["run", QUERY], &[("MCP_USE_ANONYMIZED_TELEMETRY", "full")]);
    assert!(machine.wait_for_deliveries(2, Duration::from_secs(5)));
    let execution = &machine.events_on("/batch/")[0];
    assert_eq!(execution["properties"]["query"], QUERY);
    assert_eq!(execution["properties"]["response"], format!("I'll help you with: {QUERY}"));
    let scarf: Vec<_> =
        machine.server.requests().into_iter().filter(|r| r.path.starts_with("/simple/")).collect();
    assert_eq!(scarf.len(), 1);
    assert!(!scarf[0].path.contains("sales") && scarf[0].body.is_empty(), "Scarf received the query");
}

#[test]
fn a_failed_run_reports_its_error_type() {
    let machine = Machine::new();
    machine.run(&["run", "a broken task"], &[("MCP_USE_ANONYMIZED_TELEMETRY", "true")]);
    assert!(machine.wait_for_deliveries(2, Duration::from_secs(5)));
    let p = &machine.events_on("/batch/")[0]["properties"];
    assert_eq!(p["success"], false);
    assert_eq!(p["error_type"], "tool_error");
    assert_eq!(p["tools_used_names"], serde_json::json!([]));
}

#[test]
fn debug_logging_shows_each_event_as_it_is_sent() {
    let machine = Machine::new();
    let output =
        machine.run(&["run", QUERY], &[("MCP_USE_DEBUG", "2"), ("MCP_USE_ANONYMIZED_TELEMETRY", "true")]);
    let printed: Vec<Value> = text(&output.stderr)
        .lines()
        .filter_map(|line| line.strip_prefix("[telemetry] "))
        .map(|json| serde_json::from_str(json).expect("each printed event is JSON"))
        .collect();
    let names: Vec<_> = printed.iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["package_download", "mcp_agent_execution"], "{}", text(&output.stderr));
    assert!(machine.wait_for_deliveries(2, Duration::from_secs(5)));
    // What is printed is what was sent.
    let sent = machine.events_on("/batch/");
    assert_eq!(printed[1]["uuid"], sent[0]["uuid"]);
    assert_eq!(printed[1]["properties"], sent[0]["properties"]);
}

#[test]
fn deleting_the_id_file_gives_a_new_anonymous_id() {
    let machine = Machine::new();
    let on = [("MCP_USE_ANONYMIZED_TELEMETRY", "true")];
    machine.run(&["run", QUERY], &on);
    let id_file = machine.file("cache/mcp_use/telemetry_user_id");
    let before = std::fs::read_to_string(&id_file).unwrap();
    std::fs::remove_file(&id_file).unwrap();
    machine.run(&["run", QUERY], &on);
    assert!(machine.wait_for_deliveries(3, Duration::from_secs(5)));
    let after = std::fs::read_to_string(&id_file).unwrap();
    assert_ne!(before, after);
    let ids: Vec<_> = machine.events_on("/batch/").iter().map(|e| e["distinct_id"].clone()).collect();
    assert_eq!(ids, [before.trim(), after.trim()]);
}

#[test]
fn the_catalog_lists_what_mcp_use_sends_and_nothing_else() {
    let machine = Machine::new();
    let catalog: Value =
        serde_json::from_slice(&machine.run(&["telemetry", "catalog", "--json"], &[]).stdout).unwrap();
    let names: Vec<&str> =
        catalog["events"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["mcp_agent_execution", "package_download"]);
    let preview = text(&machine.run(&["telemetry", "preview"], &[]).stdout);
    assert!(preview.contains("mcp_agent_execution"), "{preview}");
    assert_eq!(machine.server.connections(), 0);
}

#[test]
fn a_new_version_reports_an_upgrade_to_scarf_once() {
    let machine = Machine::new();
    let on = [("MCP_USE_ANONYMIZED_TELEMETRY", "true")];
    machine.run(&["run", QUERY], &on);
    let record = machine.file("cache/mcp_use/telemetry_version");
    assert_eq!(std::fs::read_to_string(&record).unwrap().trim(), "1.3.0");
    // As if an earlier release had run last.
    std::fs::write(&record, "1.2.0\n").unwrap();
    machine.run(&["run", QUERY], &on);
    machine.run(&["run", QUERY], &on);
    assert!(machine.wait_for_deliveries(5, Duration::from_secs(5)));
    let downloads: Vec<_> = machine.scarf_hits().iter().map(|hit| hit["download_type"].clone()).collect();
    assert_eq!(downloads, ["install", "upgrade"]);
    assert_eq!(machine.events_on("/batch/").len(), 3);
}

#[test]
fn with_telemetry_off_no_version_is_recorded_either() {
    let machine = Machine::new();
    machine.run(&["run", QUERY], &[("MCP_USE_ANONYMIZED_TELEMETRY", "false")]);
    assert!(!machine.file("cache/mcp_use/telemetry_version").exists());
    // Turned on later: that first run with telemetry on is the installation.
    machine.run(&["run", QUERY], &[("MCP_USE_ANONYMIZED_TELEMETRY", "true")]);
    assert!(machine.wait_for_deliveries(2, Duration::from_secs(5)));
    assert_eq!(machine.scarf_hits()[0]["download_type"], "install");
}

#[test]
fn the_decision_is_logged_in_mcp_use_words() {
    telemetry_tests::logs::install();
    let dir = tempfile::tempdir().unwrap();
    let client = |value: &str| {
        let config = telemetry_examples::mcp_use::config(|_| None)
            .unwrap()
            .environment(telemetry_tests::env(&[("MCP_USE_ANONYMIZED_TELEMETRY", value)]))
            .dirs(|_| telemetry_runtime::Dirs {
                cache: Some(dir.path().join("cache")),
                config: Some(dir.path().join("config")),
                data: Some(dir.path().join("data")),
            });
        telemetry_runtime::Telemetry::new(config).unwrap()
    };
    assert!(client("true").level() > telemetry_runtime::Level::Off);
    let enabled = "Anonymized telemetry enabled. Set MCP_USE_ANONYMIZED_TELEMETRY=off to disable.";
    // Logged as each client is made, on this thread (the other tests of
    // the binary log meanwhile).
    let here =
        |text: &str| telemetry_tests::logs::this_thread().iter().filter(|l| l.message.contains(text)).count();
    assert_eq!(here(enabled), 1);
    assert_eq!(client("False").level(), telemetry_runtime::Level::Off);
    assert_eq!(here("Telemetry disabled (environment variable MCP_USE_ANONYMIZED_TELEMETRY)"), 1);
    assert!(!dir.path().join("cache").exists(), "nothing was written");
}
