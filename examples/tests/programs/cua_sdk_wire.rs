//! The `cua-sdk` port (CUA's page "Telemetry") end to end against a
//! PostHog server on 127.0.0.1: on by default after the first-run notice,
//! a falsy `CUA_TELEMETRY_ENABLED`, per-instance `telemetry_enabled`, the
//! tables' events and properties exactly, session and run ids, and
//! trajectories only for an agent created with `log_trajectory` and a user
//! who allows full telemetry.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;
use telemetry_tests::{own_properties, Program};

// The port's events, compiled into this test too, so that the server's
// catalog check knows them. The `cua` port's test (a module of this binary
// too) compiles the same file as part of that port's events: one copy per
// program, as each program has its own.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../src/ports/cua_events.rs"]
mod telemetry;

const AMBIENT: &[&str] = &[
    "DO_NOT_TRACK",
    "CUA_TELEMETRY_ENABLED",
    "CUA_TELEMETRY_ENABLED_DEBUG",
    "CUA_TELEMETRY_LOG_TRAJECTORY",
    "CUA_TELEMETRY_SAMPLE_RATE",
    "CUA_TELEMETRY_DEBUG",
];

const NOTICE: &str = "collects anonymous usage telemetry";
const TASK: &str = "Open the settings and turn on dark mode";

/// The port in a home of its own, sending to a server of its own.
fn new_machine() -> Program {
    assert_eq!(<telemetry::AgentRunEnd as telemetry_runtime::TelemetryEvent>::SCHEMA.name, "agent_run_end");
    let machine = Program::new(env!("CARGO_BIN_EXE_cua-sdk"), AMBIENT)
        .env("CUA_POSTHOG_KEY", "phc_cua_sdk_test")
        .env_server_url("CUA_POSTHOG_HOST");
    // The test binary links every port's events, and ports share event
    // names: this port's catalog is its own module's.
    let own = telemetry_runtime::Catalog::collect_under([concat!(module_path!(), "::telemetry")]);
    machine.server.catalog_check_against(own);
    machine
}

/// A machine whose user has seen the first-run notice: its first run is
/// over, and sent nothing.
fn told_machine() -> Program {
    let machine = new_machine();
    let first = machine.output(&[], &[]);
    assert!(String::from_utf8_lossy(&first.stderr).contains(NOTICE));
    assert_eq!(machine.server.connections(), 0);
    machine
}

/// Where the port keeps its install id.
fn id_file(machine: &Program) -> std::path::PathBuf {
    machine.home.path().join("cache/cua/telemetry_user_id")
}

/// The instances the program printed (`computer` or `agent`): each one's
/// session id and the rest of its line.
fn instances(stdout: &str, kind: &str) -> Vec<(String, String)> {
    let prefix = format!("cua-sdk: {kind} ");
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .map(|l| {
            let (id, rest) = l.split_once(' ').unwrap();
            (id.to_owned(), rest.to_owned())
        })
        .collect()
}

/// The `uploaded_trajectory` of an agent's `event`, if it was sent.
fn trajectory(machine: &Program, event: &str, session: &str) -> Option<Json> {
    let events = machine.events(event);
    let of_agent =
        events.iter().find(|e| e["properties"]["session_id"] == session).expect("the agent's event");
    of_agent["properties"].get("uploaded_trajectory").cloned()
}

#[test]
fn on_by_default_after_a_first_run_that_tells_the_user_and_sends_nothing() {
    let machine = new_machine();
    let first = machine.output(&["--agent", "trajectory"], &[]);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains(NOTICE), "{stderr}");
    assert!(stderr.contains("CUA_TELEMETRY_ENABLED=off"), "the switch to turn it off: {stderr}");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("cua-sdk: telemetry off (first-run notice"), "{stdout}");
    // Every instance of the first run follows it.
    assert!(stdout.contains("telemetry_enabled=false") && !stdout.contains("telemetry_enabled=true"));
    assert_eq!(machine.server.connections(), 0, "the first run sent something");
    assert!(!id_file(&machine).exists(), "an id was written in the first run");

    let second = machine.output(&[], &[]);
    assert!(!String::from_utf8_lossy(&second.stderr).contains(NOTICE), "the notice was shown twice");
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("cua-sdk: telemetry usage (application default)"), "{stdout}");
    assert_eq!(machine.events("agent_run_end").len(), 1);
    let id = std::fs::read_to_string(id_file(&machine)).expect("the id, once something is sent");
    let accepted = machine.server.accepted_events();
    assert!(!accepted.is_empty(), "events were sent");
    assert!(accepted.iter().all(|e| e["distinct_id"] == id.trim()));
}

#[test]
fn the_tables_events_with_their_properties_exactly() {
    let machine = told_machine();
    machine.run(&["--runs", "2"], &[]);
    let expect = |name: &str, count: usize, properties: &[&str]| {
        let events = machine.events(name);
        assert_eq!(events.len(), count, "{name}");
        for event in &events {
            assert_eq!(own_properties(event), properties, "{name}");
            assert_eq!(event["properties"]["$process_person_profile"], false, "{name}");
            // Sent instead of os_version and python_version.
            assert_eq!(event["properties"]["$os"], std::env::consts::OS, "{name}");
            assert!(event["properties"]["$app_version"].is_string(), "{name}");
        }
        events
    };
    // Computer SDK.
    let computer = expect("computer_initialized", 1, &["os"]);
    assert_eq!(computer[0]["properties"]["os"], std::env::consts::OS);
    let modules = expect("module_init", 2, &["module", "version"]);
    let names: HashSet<&str> = modules.iter().map(|e| e["properties"]["module"].as_str().unwrap()).collect();
    assert_eq!(names, HashSet::from(["computer", "agent"]));
    // Agent SDK.
    let session = expect("agent_session_start", 1, &["agent_type", "model", "os", "session_id"]);
    assert_eq!(session[0]["properties"]["agent_type"], "ComputerAgent");
    assert_eq!(session[0]["properties"]["model"], "claude-3-5-sonnet-20241022");
    let mut starts = expect(
        "agent_run_start",
        2,
        &["input_context_size", "num_existing_messages", "run_id", "session_id", "start_time"],
    );
    starts.sort_by_key(|e| e["properties"]["num_existing_messages"].as_u64());
    // The first run's input is the task; the second's the conversation so
    // far (the task and three steps) and the task again.
    let first = format!("user: {TASK}").chars().count() as u64;
    assert_eq!(starts[0]["properties"]["num_existing_messages"], 0);
    assert_eq!(starts[0]["properties"]["input_context_size"], first);
    assert_eq!(starts[1]["properties"]["num_existing_messages"], 4);
    assert!(starts[1]["properties"]["input_context_size"].as_u64().unwrap() > 2 * first);
    assert!(starts[0]["properties"]["start_time"].as_f64().unwrap() > 1.7e9, "a Unix timestamp");
    expect("agent_step", 6, &["duration_seconds", "run_id", "session_id", "step", "timestamp"]);
    expect(
        "agent_usage",
        6,
        &[
            "completion_tokens",
            "prompt_tokens",
            "response_cost",
            "run_id",
            "session_id",
            "step",
            "total_tokens",
        ],
    );
    let ends = expect(
        "agent_run_end",
        2,
        &["duration_seconds", "end_time", "num_steps", "run_id", "session_id", "total_usage"],
    );
    // `total_usage` is one object, as the page's table has it: the sums of
    // the run's `agent_usage`.
    for end in &ends {
        let p = &end["properties"];
        assert_eq!(p["num_steps"], 3);
        let mut usage = p["total_usage"].as_object().expect("total_usage is an object").clone();
        let cost = usage.remove("response_cost").and_then(|c| c.as_f64()).expect("a cost in dollars");
        assert!((cost - 0.0144).abs() < 1e-9, "{cost}");
        assert_eq!(
            Json::Object(usage),
            serde_json::json!({ "prompt_tokens": 3600, "completion_tokens": 240, "total_tokens": 3840 })
        );
    }
    // Only the page's events: none of the older chapter's.
    let sent: HashSet<String> =
        machine.server.accepted_events().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    let documented = [
        "computer_initialized",
        "module_init",
        "agent_session_start",
        "agent_run_start",
        "agent_run_end",
        "agent_step",
        "agent_usage",
    ];
    assert_eq!(sent, documented.iter().map(|n| (*n).to_owned()).collect());
    // What was sent is there for the user to read, from every instance.
    let recent =
        std::fs::read_to_string(machine.home.path().join("data/cua/telemetry_recent.jsonl")).unwrap();
    for name in ["module_init", "computer_initialized", "agent_run_end"] {
        assert!(recent.contains(&format!("\"event\":\"{name}\"")), "{name} not in {recent}");
    }
    // Nothing of the conversation leaves at this level.
    assert!(!machine.server.received(b"dark mode"));
}

#[test]
fn a_falsy_variable_sends_nothing_and_writes_no_id() {
    for value in ["false", "0", "no", "off", "FALSE", " Off "] {
        let machine = new_machine();
        for _ in 0..2 {
            let output = machine.output(&["--agent", "trajectory"], &[("CUA_TELEMETRY_ENABLED", value)]);
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                stdout.contains("telemetry off (environment variable CUA_TELEMETRY_ENABLED)"),
                "{stdout}"
            );
            assert!(!String::from_utf8_lossy(&output.stderr).contains(NOTICE), "{value:?}");
        }
        assert_eq!(machine.server.connections(), 0, "{value:?}");
        assert!(!id_file(&machine).exists(), "{value:?}");
    }
    // A value the library does not understand means off too.
    let machine = new_machine();
    machine.run(&[], &[("CUA_TELEMETRY_ENABLED", "maybe")]);
    assert_eq!(machine.server.connections(), 0);
    // A yes is the user's own: no notice, sent from the first run.
    for value in ["1", "true", "yes", "on"] {
        let machine = new_machine();
        let output = machine.output(&[], &[("CUA_TELEMETRY_ENABLED", value)]);
        assert!(!String::from_utf8_lossy(&output.stderr).contains(NOTICE), "{value}");
        assert_eq!(machine.events("agent_run_end").len(), 1, "{value}");
    }
}

#[test]
fn instances_created_with_telemetry_disabled_send_nothing_while_others_send() {
    let machine = told_machine();
    let stdout =
        machine.run(&["--computer", "off", "--computer", "on", "--agent", "off", "--agent", "on"], &[]);
    let computers = instances(&stdout, "computer");
    let agents = instances(&stdout, "agent");
    assert!(
        computers[0].1.contains("telemetry_enabled=false")
            && computers[1].1.contains("telemetry_enabled=true")
    );
    assert!(
        agents[0].1.contains("telemetry_enabled=false") && agents[1].1.contains("telemetry_enabled=true")
    );
    let initialized = machine.events("computer_initialized");
    assert_eq!(initialized.len(), 1);
    assert_eq!(initialized[0]["properties"]["$session_id"], computers[1].0.as_str());
    let sessions: HashSet<String> = machine
        .events("agent_session_start")
        .iter()
        .map(|e| e["properties"]["session_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sessions, HashSet::from([agents[1].0.clone()]));
    assert_eq!(machine.events("agent_run_end").len(), 1);
    assert_eq!(machine.events("module_init").len(), 2, "the packages' own client is on");
    for (id, _) in [&computers[0], &agents[0]] {
        assert!(!machine.server.received(id.as_bytes()), "a disabled instance sent something");
    }
}

#[test]
fn session_ids_per_agent_and_run_ids_per_run() {
    let machine = told_machine();
    let stdout = machine.run(&["--agent", "on", "--agent", "on", "--runs", "2"], &[]);
    let agents: Vec<String> = instances(&stdout, "agent").into_iter().map(|(id, _)| id).collect();
    assert_eq!(agents.len(), 2);
    assert_ne!(agents[0], agents[1]);
    let mut runs: HashMap<String, String> = HashMap::new();
    for name in ["agent_session_start", "agent_run_start", "agent_step", "agent_usage", "agent_run_end"] {
        for event in machine.events(name) {
            let session = event["properties"]["session_id"].as_str().unwrap();
            assert!(agents.iter().any(|a| a == session), "{name}: {session}");
            assert_eq!(event["properties"]["$session_id"], session, "{name}");
            if let Some(run) = event["properties"]["run_id"].as_str() {
                assert_eq!(run.len(), 36, "{run}");
                let owner = runs.entry(run.to_owned()).or_insert_with(|| session.to_owned());
                assert_eq!(owner, session, "a run belongs to one agent");
            }
        }
    }
    assert_eq!(runs.len(), 4, "{runs:?}");
    for agent in &agents {
        assert_eq!(runs.values().filter(|s| *s == agent).count(), 2);
    }
    for run in runs.keys() {
        let of_run = |name: &str| {
            machine.events(name).into_iter().filter(|e| e["properties"]["run_id"] == run.as_str()).count()
        };
        let counts =
            [of_run("agent_run_start"), of_run("agent_step"), of_run("agent_usage"), of_run("agent_run_end")];
        assert_eq!(counts, [1, 3, 3, 1], "{run}");
    }
    // A step is stamped with the time it happened, which its property carries too.
    for step in machine.events("agent_step") {
        let millis = telemetry_tests::rfc3339_unix_millis(step["timestamp"].as_str().unwrap()).unwrap();
        let since = millis as f64 / 1000.0;
        assert!((since - step["properties"]["timestamp"].as_f64().unwrap()).abs() < 0.002, "{step}");
    }
}

#[test]
fn a_trajectory_needs_the_agents_log_trajectory_and_the_users_full_consent() {
    // The agent asks, the user allows usage only: withheld.
    let machine = told_machine();
    let stdout = machine.run(&["--agent", "trajectory"], &[]);
    let agent = &instances(&stdout, "agent")[0];
    assert!(agent.1.contains("telemetry_enabled={\"log_trajectory\":true}"), "{stdout}");
    assert!(agent.1.contains("trajectory=withheld"), "{stdout}");
    assert_eq!(trajectory(&machine, "agent_run_end", &agent.0), None);
    assert!(!machine.server.received(b"dark mode"));

    // The user allows full: only the agent created with log_trajectory sends it.
    for env in [("CUA_TELEMETRY_ENABLED", "full"), ("CUA_TELEMETRY_LOG_TRAJECTORY", "1")] {
        let machine = new_machine();
        let stdout = machine.run(&["--agent", "on", "--agent", "trajectory"], &[env]);
        let agents = instances(&stdout, "agent");
        assert!(agents[1].1.contains("level=full trajectory=sent"), "{env:?}: {stdout}");
        assert!(agents[0].1.contains("level=usage trajectory=no"), "{env:?}: {stdout}");
        assert_eq!(trajectory(&machine, "agent_run_start", &agents[0].0), None, "{env:?}");
        assert_eq!(trajectory(&machine, "agent_run_end", &agents[0].0), None, "{env:?}");
        let start = trajectory(&machine, "agent_run_start", &agents[1].0).expect("the conversation so far");
        assert_eq!(start, serde_json::json!([format!("user: {TASK}")]), "{env:?}");
        let end = trajectory(&machine, "agent_run_end", &agents[1].0).expect("the whole conversation");
        assert_eq!(end.as_array().unwrap().len(), 4, "{env:?}");
        assert_eq!(end[3], "assistant: step 3: left_click on the settings icon");
    }

    // The saved choice `full` is the user's too.
    let machine = told_machine();
    let saved = machine.run(&["telemetry", "full"], &[]);
    assert!(!saved.is_empty());
    machine.run(&["--agent", "trajectory"], &[]);
    assert!(machine.events("agent_run_end")[0]["properties"]["uploaded_trajectory"].is_array());

    // The trajectory switch yields to the variable that says off.
    let machine = new_machine();
    machine.run(
        &["--agent", "trajectory"],
        &[("CUA_TELEMETRY_LOG_TRAJECTORY", "1"), ("CUA_TELEMETRY_ENABLED", "0")],
    );
    assert_eq!(machine.server.connections(), 0);
}

#[test]
fn debug_mode_prints_what_would_be_sent_and_sends_nothing() {
    let machine = new_machine();
    let output = machine
        .output(&["--agent", "on"], &[("CUA_TELEMETRY_DEBUG", "1"), ("CUA_TELEMETRY_ENABLED", "full")]);
    let printed: Vec<Json> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|line| serde_json::from_str(line.strip_prefix("[telemetry] ")?).ok())
        .collect();
    let names: HashSet<&str> = printed.iter().filter_map(|e| e["event"].as_str()).collect();
    assert!(names.contains("agent_run_end") && names.contains("module_init"), "{names:?}");
    // What is printed is what would be sent: no trajectory for this agent.
    assert!(printed.iter().all(|e| e["properties"].get("uploaded_trajectory").is_none()));
    assert_eq!(machine.server.connections(), 0);
}
