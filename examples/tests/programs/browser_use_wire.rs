//! The `browser_use` port end to end against a PostHog server on
//! 127.0.0.1: its events and documented properties on the wire, the id in
//! `~/.cache/browser_use/telemetry_user_id`, `ANONYMIZED_TELEMETRY=False`,
//! and the task sent only at full consent.

use std::path::PathBuf;
use std::process::Output;

use serde_json::json;
use telemetry_tests::{own_properties, Program};

// The port's events, compiled into this test too, so that the server's
// catalog check knows them.
#[allow(dead_code)]
#[path = "../../src/ports/browser_use/telemetry.rs"]
mod telemetry;

const AMBIENT: &[&str] =
    &["DO_NOT_TRACK", "ANONYMIZED_TELEMETRY", "BROWSER_USE_TELEMETRY", "BROWSER_USE_TELEMETRY_DEBUG"];

/// The port in a home of its own, sending to a server of its own.
fn new_machine() -> Program {
    assert_eq!(<telemetry::AgentRun as telemetry_runtime::TelemetryEvent>::SCHEMA.name, "agent_run");
    let machine = Program::new(env!("CARGO_BIN_EXE_browser_use"), AMBIENT)
        .env("BROWSER_USE_POSTHOG_KEY", "phc_browser_use_test")
        .env_server_url("BROWSER_USE_POSTHOG_HOST");
    // The test binary links every port's events, and ports share event
    // names: this port's catalog is its own module's.
    let own = telemetry_runtime::Catalog::collect_under([concat!(module_path!(), "::telemetry")]);
    machine.server.catalog_check_against(own);
    machine
}

/// Runs the port's agent on its one task.
fn run(machine: &Program, env: &[(&str, &str)]) -> Output {
    machine.output(&["Book a table for two at Chez Marie"], env)
}

/// Where browser-use keeps its install id.
fn id_file(machine: &Program) -> PathBuf {
    machine.home.path().join("cache/browser_use/telemetry_user_id")
}

#[test]
fn the_documented_events_go_to_posthog_after_the_first_run_notice() {
    let machine = new_machine();
    let first = run(&machine, &[]);
    let notice = String::from_utf8_lossy(&first.stderr);
    assert!(notice.contains("collects anonymous usage telemetry"), "{notice}");
    assert!(notice.contains("set ANONYMIZED_TELEMETRY=false"), "the switch browser-use documents: {notice}");
    assert_eq!(machine.server.connections(), 0, "the first run sends nothing");

    run(&machine, &[]);
    let id = std::fs::read_to_string(id_file(&machine)).expect("the id file is where browser-use keeps it");
    let id = id.trim();
    assert!(id.len() == 36 && id.matches('-').count() == 4, "not a UUID: {id}");

    let run = machine.events("agent_run");
    assert_eq!(run.len(), 1);
    let run = &run[0];
    assert_eq!(run["distinct_id"], id);
    assert_eq!(
        own_properties(run),
        ["agent_id", "chat_model_library", "model_name", "source", "use_vision", "version"]
    );
    assert_eq!(run["properties"]["model_name"], "gpt-4o");
    assert_eq!(run["properties"]["chat_model_library"], "ChatOpenAI");
    assert_eq!(run["properties"]["use_vision"], true);
    assert_eq!(run["properties"]["$process_person_profile"], false);
    let agent_id = run["properties"]["agent_id"].clone();

    let steps = machine.events("agent_step");
    assert_eq!(steps.len(), 3);
    for step in &steps {
        assert_eq!(step["properties"]["agent_id"], agent_id);
        assert_eq!(
            own_properties(step),
            ["actions", "agent_id", "consecutive_failures", "step", "step_error_count"]
        );
    }
    let second = steps.iter().find(|s| s["properties"]["step"] == 2).unwrap();
    assert_eq!(second["properties"]["actions"], serde_json::json!(["click_element"]));
    assert_eq!(second["properties"]["step_error_count"], 1);

    let end = &machine.events("agent_end")[0];
    assert_eq!(end["properties"]["agent_id"], agent_id);
    assert_eq!(
        (end["properties"]["is_done"].clone(), end["properties"]["success"].clone()),
        (true.into(), true.into())
    );
    assert_eq!(end["properties"]["steps"], 3);
    assert!(end["properties"]["total_duration_seconds"].is_f64());

    // Each registered action with its parameters, one object each: names
    // and types from the code, never a value.
    let registry = &machine.events("controller_registered_functions")[0];
    assert_eq!(own_properties(registry), ["registered_functions"]);
    let param =
        |name: &str, ty: &str, required: bool| json!({ "name": name, "type": ty, "required": required });
    assert_eq!(
        registry["properties"]["registered_functions"],
        json!([
            { "name": "go_to_url", "params": [param("url", "string", true)] },
            {
                "name": "click_element",
                "params": [param("index", "integer", true), param("xpath", "string", false)]
            },
            {
                "name": "input_text",
                "params": [
                    param("index", "integer", true),
                    param("text", "string", true),
                    param("xpath", "string", false)
                ]
            },
            { "name": "scroll_down", "params": [param("amount", "integer", false)] },
            { "name": "extract_content", "params": [param("include_links", "boolean", false)] },
            { "name": "done", "params": [param("text", "string", true), param("success", "boolean", true)] },
        ])
    );

    // What was sent is there for the user to read.
    let recent = std::fs::read_to_string(machine.home.path().join("data/browser_use/telemetry_recent.jsonl"))
        .expect("the record of recent deliveries");
    assert!(recent.contains("\"agent_run\""), "{recent}");

    // The task and the error text are the user's: not sent at usage level.
    assert!(!machine.server.received(b"Chez Marie"));
    assert!(!machine.server.received(b"flights.example"));
}

#[test]
fn anonymized_telemetry_false_sends_nothing_and_writes_no_id() {
    for value in ["False", "false", "FALSE", "0"] {
        let machine = new_machine();
        for _ in 0..2 {
            let output = run(&machine, &[("ANONYMIZED_TELEMETRY", value)]);
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(stdout.contains("telemetry off (environment variable ANONYMIZED_TELEMETRY)"), "{stdout}");
            assert!(!String::from_utf8_lossy(&output.stderr).contains("collects anonymous"));
        }
        assert_eq!(machine.server.connections(), 0, "{value}");
        assert!(!id_file(&machine).exists(), "{value}");
    }
    // Any other value leaves it on, as in browser-use: it is the user's yes.
    let machine = new_machine();
    run(&machine, &[("ANONYMIZED_TELEMETRY", "true")]);
    assert_eq!(machine.events("agent_run").len(), 1, "a variable that says yes needs no notice");
}

#[test]
fn the_task_is_sent_only_at_full_consent() {
    let machine = new_machine();
    run(&machine, &[("BROWSER_USE_TELEMETRY", "full")]);
    let run = &machine.events("agent_run")[0];
    assert_eq!(run["properties"]["task"], "Book a table for two at Chez Marie");
    let second = machine.events("agent_step").into_iter().find(|s| s["properties"]["step"] == 2).unwrap();
    assert_eq!(
        second["properties"]["step_error"][0],
        "Element with index 12 does not exist at https://flights.example/search?q=lisbon"
    );
}
