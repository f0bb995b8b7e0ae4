//! The `cua` port end to end against a PostHog server on 127.0.0.1: opt-in
//! `CUA_TELEMETRY_ENABLED` with `1/true/yes/on`, the documented events and
//! properties, session and run ids, per-instance enable and disable,
//! opt-in trajectories, the sample rate and the tool counter.

use std::collections::HashSet;

use serde_json::Value as Json;
use telemetry_tests::{own_properties, Program};

// The port's events, compiled into this test too, so that the server's
// catalog check knows them.
#[allow(dead_code)]
#[path = "../../src/ports/cua/telemetry.rs"]
mod telemetry;

const AMBIENT: &[&str] = &[
    "DO_NOT_TRACK",
    "CUA_TELEMETRY_ENABLED",
    "CUA_TELEMETRY_ENABLED_DEBUG",
    "CUA_TELEMETRY_LOG_TRAJECTORY",
    "CUA_TELEMETRY_SAMPLE_RATE",
    "CUA_TELEMETRY_DEBUG",
];

/// The port in a home of its own, sending to a server of its own.
fn new_machine() -> Program {
    assert_eq!(telemetry::TOOL_USAGE_COUNT.schema().name, "tool_usage_count");
    let machine = Program::new(env!("CARGO_BIN_EXE_cua"), AMBIENT)
        .env("CUA_POSTHOG_KEY", "phc_cua_test")
        .env_server_url("CUA_POSTHOG_HOST");
    // The test binary links every port's events, and ports share event
    // names: this port's catalog is its own module's.
    let own = telemetry_runtime::Catalog::collect_under([concat!(module_path!(), "::telemetry")]);
    machine.server.catalog_check_against(own);
    machine
}

/// The session ids the program printed for its agents, with whether each
/// instance reported telemetry enabled.
fn agents(stdout: &str) -> Vec<(String, bool)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("cua: agent "))
        .filter(|l| l.contains("telemetry_enabled="))
        .map(|l| {
            let id = l.split(' ').next().unwrap().to_owned();
            (id, l.contains("telemetry_enabled=true"))
        })
        .collect()
}

#[test]
fn off_unless_the_user_opts_in() {
    let machine = new_machine();
    let stdout = machine.run(&[], &[]);
    assert!(stdout.contains("cua: telemetry off (application default)"), "{stdout}");
    for value in ["false", "0", "no", "off", "enable-it-please", ""] {
        machine.run(&["--agent", "trajectory"], &[("CUA_TELEMETRY_ENABLED", value)]);
    }
    assert_eq!(machine.server.connections(), 0);
    assert!(!machine.home.path().join("cache/cua").exists(), "an id was written without consent");
}

#[test]
fn each_yes_value_sends_the_documented_events() {
    for value in ["1", "true", "YES", "on"] {
        let machine = new_machine();
        machine.run(&[], &[("CUA_TELEMETRY_ENABLED", value)]);
        assert_eq!(machine.events("agent_run_end").len(), 1, "{value}");
    }

    let machine = new_machine();
    machine.run(&[], &[("CUA_TELEMETRY_ENABLED", "true")]);
    let expect = |name: &str, count: usize, properties: &[&str]| {
        let events = machine.events(name);
        assert_eq!(events.len(), count, "{name}");
        for event in &events {
            assert_eq!(own_properties(event), properties, "{name}");
            assert_eq!(event["properties"]["$process_person_profile"], false);
        }
        events
    };
    let modules = expect("module_init", 2, &["module", "version"]);
    let names: HashSet<&str> = modules.iter().map(|e| e["properties"]["module"].as_str().unwrap()).collect();
    assert_eq!(names, HashSet::from(["computer", "agent"]));
    expect("computer_initialized", 1, &["os"]);
    expect("interface_error", 1, &["error_type"]);
    expect("agent_session_start", 1, &["agent_type", "model", "os", "session_id"]);
    expect("agent_loop_started", 1, &["loop_type"]);
    expect(
        "agent_run_start",
        1,
        &["input_context_size", "num_existing_messages", "run_id", "session_id", "start_time"],
    );
    expect("agent_step", 3, &["duration_seconds", "run_id", "session_id", "step", "timestamp"]);
    expect(
        "agent_usage",
        3,
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
    let end = expect(
        "agent_run_end",
        1,
        &["duration_seconds", "end_time", "num_steps", "run_id", "session_id", "total_usage"],
    );
    // `total_usage` is one object, as the page's table has it: the sums of
    // the run's `agent_usage`.
    assert_eq!(
        end[0]["properties"]["total_usage"],
        serde_json::json!({
            "prompt_tokens": 3600,
            "completion_tokens": 240,
            "total_tokens": 3840,
            "response_cost": 0.0144,
        })
    );
    // Tool usage: one event per tool with its count, not one per call.
    let counts: Vec<(String, u64)> = machine
        .events("tool_usage_count")
        .iter()
        .map(|e| {
            (
                e["properties"]["tool_name"].as_str().unwrap().to_owned(),
                e["properties"]["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        counts.contains(&("computer_tool".into(), 2)) && counts.contains(&("bash_tool".into(), 1)),
        "{counts:?}"
    );
    // What was sent is there for the user to read, from every instance.
    let recent =
        std::fs::read_to_string(machine.home.path().join("data/cua/telemetry_recent.jsonl")).unwrap();
    for name in ["module_init", "computer_initialized", "agent_run_end"] {
        assert!(recent.contains(&format!("\"event\":\"{name}\"")), "{name} not in {recent}");
    }
    // The installation's id, where the library keeps it.
    let id = std::fs::read_to_string(machine.home.path().join("cache/cua/telemetry_user_id")).unwrap();
    let accepted = machine.server.accepted_events();
    assert!(!accepted.is_empty(), "events were sent");
    assert!(accepted.iter().all(|e| e["distinct_id"] == id.trim()));

    // Nothing about the task leaves at this level.
    assert!(!machine.server.received(b"dark mode"));
}

#[test]
fn session_and_run_ids_link_an_agents_events() {
    let machine = new_machine();
    let stdout = machine.run(&["--runs", "2"], &[("CUA_TELEMETRY_ENABLED", "1")]);
    let session = agents(&stdout)[0].0.clone();
    let mut runs = HashSet::new();
    for name in ["agent_session_start", "agent_run_start", "agent_step", "agent_usage", "agent_run_end"] {
        for event in machine.events(name) {
            assert_eq!(event["properties"]["session_id"], session.as_str(), "{name}");
            assert_eq!(event["properties"]["$session_id"], session.as_str(), "{name}");
            if let Some(run) = event["properties"]["run_id"].as_str() {
                runs.insert(run.to_owned());
            }
        }
    }
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in &runs {
        let of_run = |name: &str| {
            machine.events(name).into_iter().filter(|e| e["properties"]["run_id"] == run.as_str()).count()
        };
        assert_eq!((of_run("agent_run_start"), of_run("agent_step"), of_run("agent_run_end")), (1, 3, 1));
    }
    // A step is stamped with the time it happened, which its property carries too.
    for step in machine.events("agent_step") {
        let millis = telemetry_tests::rfc3339_unix_millis(step["timestamp"].as_str().unwrap()).unwrap();
        let since = millis as f64 / 1000.0;
        assert!((since - step["properties"]["timestamp"].as_f64().unwrap()).abs() < 0.002, "{step}");
    }
}

#[test]
fn instances_are_enabled_and_disabled_one_by_one() {
    let machine = new_machine();
    let stdout = machine
        .run(&["--computer", "off", "--agent", "off", "--agent", "on"], &[("CUA_TELEMETRY_ENABLED", "1")]);
    let agents = agents(&stdout);
    assert_eq!(agents.iter().map(|(_, on)| *on).collect::<Vec<_>>(), [false, true], "{stdout}");
    assert!(machine.events("computer_initialized").is_empty());
    assert!(machine.events("interface_error").is_empty());
    assert_eq!(machine.events("module_init").len(), 2, "the process-wide client is on");
    let sessions: HashSet<String> = machine
        .events("agent_run_end")
        .iter()
        .map(|e| e["properties"]["session_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sessions, HashSet::from([agents[1].0.clone()]));
    assert!(!machine.server.received(agents[0].0.as_bytes()), "the disabled agent sent something");
}

#[test]
fn trajectories_only_for_an_instance_or_a_user_that_opts_in() {
    let machine = new_machine();
    let stdout =
        machine.run(&["--agent", "on", "--agent", "trajectory"], &[("CUA_TELEMETRY_ENABLED", "true")]);
    let agents = agents(&stdout);
    let with_trajectory = |session: &str| {
        machine
            .events("agent_run_end")
            .into_iter()
            .find(|e| e["properties"]["session_id"] == session)
            .map(|e| e["properties"].get("uploaded_trajectory").cloned())
            .unwrap()
    };
    assert_eq!(with_trajectory(&agents[0].0), None);
    let trajectory = with_trajectory(&agents[1].0).expect("the trajectory agent's conversation");
    assert_eq!(trajectory[0], "user: Open the settings and turn on dark mode");
    assert!(stdout.contains("level=full"), "{stdout}");

    // The user's own switch: every agent logs its trajectory.
    let machine = new_machine();
    machine.run(&["--agent", "on"], &[("CUA_TELEMETRY_LOG_TRAJECTORY", "1")]);
    let start = &machine.events("agent_run_start")[0];
    assert_eq!(
        start["properties"]["uploaded_trajectory"][0],
        "user: Open the settings and turn on dark mode"
    );
    // ...unless the main switch says off.
    let machine = new_machine();
    machine.run(
        &["--agent", "trajectory"],
        &[("CUA_TELEMETRY_LOG_TRAJECTORY", "1"), ("CUA_TELEMETRY_ENABLED", "0")],
    );
    assert_eq!(machine.server.connections(), 0);
}

#[test]
fn the_sample_rate_leaves_events_out_and_says_so() {
    let machine = new_machine();
    let stdout =
        machine.run(&["--runs", "3"], &[("CUA_TELEMETRY_ENABLED", "1"), ("CUA_TELEMETRY_SAMPLE_RATE", "0")]);
    assert!(stdout.contains("sampled_out=26"), "{stdout}");
    let names: HashSet<String> =
        machine.server.accepted_events().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    // Counters are not sampled: the tool counts still arrive.
    assert_eq!(names, HashSet::from(["tool_usage_count".to_owned()]));

    let machine = new_machine();
    machine.run(&["--runs", "20"], &[("CUA_TELEMETRY_ENABLED", "1"), ("CUA_TELEMETRY_SAMPLE_RATE", "0.5")]);
    let steps = machine.events("agent_step");
    assert!((10..50).contains(&steps.len()), "{} of 60 steps kept", steps.len());
    assert!(steps.iter().all(|s| s["properties"]["$sample_rate"] == 0.5));
}

#[test]
fn debug_mode_prints_what_would_be_sent_and_sends_nothing() {
    let machine = new_machine();
    let output = machine.output(&[], &[("CUA_TELEMETRY_ENABLED", "1"), ("CUA_TELEMETRY_DEBUG", "1")]);
    let printed: Vec<Json> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|line| serde_json::from_str(line.strip_prefix("[telemetry] ")?).ok())
        .collect();
    let names: HashSet<&str> = printed.iter().filter_map(|e| e["event"].as_str()).collect();
    assert!(names.contains("agent_run_end") && names.contains("module_init"), "{names:?}");
    assert_eq!(machine.server.connections(), 0);
}

#[test]
fn disable_telemetry_turns_every_instance_off_for_the_rest_of_the_process() {
    let machine = new_machine();
    let stdout = machine.run(&["--disable-telemetry", "--agent", "on"], &[("CUA_TELEMETRY_ENABLED", "1")]);
    assert!(stdout.contains("cua: telemetry enabled now? false"), "{stdout}");
    let agents = agents(&stdout);
    assert_eq!(agents.iter().map(|(_, on)| *on).collect::<Vec<_>>(), [false], "{stdout}");
    assert_eq!(machine.server.connections(), 0, "module_init was queued, then withdrawn");

    let stdout = machine.run(&[], &[("CUA_TELEMETRY_ENABLED", "1")]);
    assert!(stdout.contains("cua: telemetry enabled now? true"), "{stdout}");
}

/// Moves the week's counts to the week before, as if a week had passed
/// since they were counted.
fn a_week_passes(machine: &Program) {
    const WEEK: u64 = 7 * 24 * 3600;
    let root = machine.home.path().join("data/cua/telemetry_reports");
    let folders: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().filter(|e| e.path().is_dir()).collect();
    assert_eq!(folders.len(), 1, "one route reports by period");
    let counts: Vec<_> = std::fs::read_dir(folders[0].path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "counts"))
        .collect();
    assert_eq!(counts.len(), 1, "{counts:?}");
    let mut json: Json = serde_json::from_str(&std::fs::read_to_string(&counts[0]).unwrap()).unwrap();
    let (start, end) = (json["start"].as_u64().unwrap() - WEEK, json["end"].as_u64().unwrap() - WEEK);
    json["start"] = start.into();
    json["end"] = end.into();
    std::fs::write(counts[0].with_file_name(format!("{start}-{end}.counts")), json.to_string()).unwrap();
    std::fs::remove_file(&counts[0]).unwrap();
}

#[test]
fn the_weekly_form_sends_nothing_per_run_then_one_report_of_counts() {
    let machine = new_machine();
    let on = [("CUA_TELEMETRY_ENABLED", "1")];
    for _ in 0..3 {
        machine.run(&["--weekly", "--runs", "2"], &on);
    }
    assert_eq!(machine.server.connections(), 0, "a run sent something");
    let so_far = machine.run(&["--weekly", "telemetry", "report"], &on);
    assert!(so_far.contains("one report a week, each with an id of its own"), "{so_far}");
    assert!(so_far.contains("This week so far"), "{so_far}");

    a_week_passes(&machine);
    machine.run(&["--weekly"], &on);
    let reports = machine.events("telemetry_report");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(machine.server.requests().len(), 1, "the report, and nothing else");
    let counts = &reports[0]["properties"];
    // Three processes, each with a module client, a Computer and an agent
    // of two runs of three steps.
    for (name, count) in [
        ("tool_usage_count{tool_name=computer_tool}", 12),
        ("tool_usage_count{tool_name=bash_tool}", 6),
        ("$events{event=module_init}", 6),
        ("$events{event=computer_initialized}", 3),
        ("$events{event=agent_session_start}", 3),
        ("$events{event=agent_run_start}", 6),
        ("$events{event=agent_step}", 18),
        ("$events{event=agent_run_end}", 6),
    ] {
        assert_eq!(counts[name], count, "{name}: {counts}");
    }
    let body = machine.server.requests()[0].decoded_body();
    for private in ["session_id", "run_id", "trajectory", "conversation"] {
        assert!(!telemetry_tests::contains_bytes(&body, private.as_bytes()), "{private} was sent");
    }

    // What the report command shows as sent is what the server received.
    let shown = machine.run(&["--weekly", "telemetry", "report"], &on);
    let sent = shown.lines().skip_while(|l| !l.starts_with("Sent ")).nth(1).expect("a sent report");
    assert!(telemetry_tests::contains_bytes(&body, sent.as_bytes()), "{sent}");
}
