//! The agent binary end to end, as its users run it: first-run notice, CI,
//! DO_NOT_TRACK, debug and local modes, and the `telemetry` subcommands,
//! against a real HTTP server on 127.0.0.1.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use telemetry_tests::Home;
use telemetry_tests::TestServer;

/// Variables of the machine running the tests that would change the
/// agent's decision (besides the CI markers); every run starts without them.
const AMBIENT: &[&str] = &[
    "DO_NOT_TRACK",
    "AGENT_TELEMETRY",
    "AGENT_TELEMETRY_DEBUG",
    "AGENT_ANONYMIZED_TELEMETRY",
    "AGENT_POSTHOG_KEY",
    "AGENT_POSTHOG_HOST",
];

/// One user's machine: its own home directories, and a PostHog endpoint.
struct Machine {
    home: Home,
    server: TestServer,
}

impl Machine {
    fn new() -> Machine {
        // The test server checks that what it receives is in this process's
        // catalog: referencing the agent's code links in the events it
        // registers, so that this catalog is the agent's.
        assert_eq!(telemetry_examples::runner::TOOL_CALLS.schema().name, "tool_calls");
        Machine { home: Home::new(), server: TestServer::start() }
    }

    fn agent(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let output = self.try_agent(args, env);
        assert!(output.status.success(), "agent {args:?} failed: {}", stderr(&output));
        output
    }

    /// Runs the agent, successful or not.
    fn try_agent(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let home = self.home.path();
        let mut command = self.home.command(env!("CARGO_BIN_EXE_agent"), AMBIENT);
        command
            .args(args)
            .env("TMPDIR", home.join("tmp"))
            .env("AGENT_POSTHOG_KEY", "phc_test_project")
            .env("AGENT_POSTHOG_HOST", self.server.url())
            .envs(env.iter().copied());
        std::fs::create_dir_all(home.join("tmp")).unwrap();
        command.output().expect("run the agent")
    }

    /// Runs the README's clap recipe (`mytool`), successful or not.
    fn mytool(&self, args: &[&str]) -> Output {
        let mut command =
            self.home.command(env!("CARGO_BIN_EXE_mytool"), &["MYTOOL_TELEMETRY", "DO_NOT_TRACK"]);
        command.args(args).env("MYTOOL_POSTHOG_HOST", self.server.url());
        command.output().expect("run mytool")
    }

    fn events_sent(&self) -> Vec<serde_json::Value> {
        self.server.accepted_events()
    }

    fn file(&self, relative: &str) -> std::path::PathBuf {
        self.home.path().join(relative)
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const NOTICE: &str = "collects anonymous usage telemetry";

#[test]
fn first_run_shows_the_notice_and_sends_nothing_then_the_next_run_sends() {
    let machine = Machine::new();
    let first = machine.agent(&["run"], &[]);
    assert!(stderr(&first).contains(NOTICE), "no notice: {}", stderr(&first));
    assert!(stderr(&first).contains("agent telemetry off"));
    assert!(stdout(&first).contains("first-run notice"), "{}", stdout(&first));
    assert_eq!(machine.server.connections(), 0, "the first run opened a connection");
    assert!(!machine.file("cache/telemetry-agent-demo/telemetry_user_id").exists());

    let second = machine.agent(&["run"], &[]);
    assert!(!stderr(&second).contains(NOTICE), "notice shown twice");
    assert!(machine.server.wait_for_accepted_events(1, Duration::from_secs(5)));
    let events = machine.events_sent();
    assert!(events.iter().any(|e| e["event"] == "run_finished"));
    // The record of what left the machine is there for the user to read.
    let recent =
        std::fs::read_to_string(machine.file("data/telemetry-agent-demo/telemetry_recent.jsonl")).unwrap();
    assert!(recent.contains("\"run_finished\""));
}

/// On a first run, the telemetry commands show no notice telling the user
/// to run what they are running. After `catalog`, `preview` or `status`
/// the notice is still due (`status` says so), and the next run that does
/// something shows it; after `off`, none is ever due.
#[test]
fn the_telemetry_commands_on_a_first_run_show_no_notice_and_off_leaves_none_due() {
    let machine = Machine::new();
    for args in [&["telemetry", "catalog"][..], &["telemetry", "preview"], &["telemetry", "report"]] {
        let output = machine.agent(args, &[]);
        assert!(!stdout(&output).is_empty(), "{args:?} printed nothing");
        assert!(!stderr(&output).contains(NOTICE), "{args:?}: {}", stderr(&output));
    }
    let status = machine.agent(&["telemetry", "status"], &[]);
    assert!(!stderr(&status).contains(NOTICE), "{}", stderr(&status));
    let status = stdout(&status);
    assert!(
        status.contains("Telemetry: off in this run (decided by first-run notice, not shown yet)\n"),
        "{status}"
    );
    assert!(
        status.contains(
            "Mode: nothing is sent yet: the next run shows the first-run notice (what is collected"
        ),
        "{status}"
    );
    let first = machine.agent(&["run"], &[]);
    assert!(stderr(&first).contains(NOTICE), "the notice is still due: {}", stderr(&first));
    assert!(stderr(&first).contains("run `agent telemetry off`"));
    assert_eq!(machine.server.connections(), 0, "sent before the notice was shown");

    let machine = Machine::new();
    let off = machine.agent(&["telemetry", "off"], &[]);
    assert!(stdout(&off).contains("Saved \"off\""), "{}", stdout(&off));
    assert!(!stderr(&off).contains(NOTICE), "{}", stderr(&off));
    for _ in 0..2 {
        let run = machine.agent(&["run"], &[]);
        assert!(stdout(&run).contains("(telemetry: off, decided by saved choice in "), "{}", stdout(&run));
        assert!(!stderr(&run).contains(NOTICE), "a notice after `telemetry off`: {}", stderr(&run));
    }
    let status = stdout(&machine.agent(&["telemetry", "status"], &[]));
    assert!(status.contains("Mode: off: nothing is collected or sent\n"), "{status}");
    assert_eq!(machine.server.connections(), 0, "sent after `telemetry off`");
}

#[test]
fn no_notice_and_no_traffic_in_ci_or_with_do_not_track() {
    for env in [[("CI", "true")], [("DO_NOT_TRACK", "1")], [("GITHUB_ACTIONS", "true")]] {
        let machine = Machine::new();
        for _ in 0..2 {
            let output = machine.agent(&["run"], &env);
            assert!(!stderr(&output).contains(NOTICE), "{env:?}: {}", stderr(&output));
            assert!(stdout(&output).contains("nothing was captured"), "{env:?}");
        }
        assert_eq!(machine.server.connections(), 0, "{env:?}");
        assert!(!machine.file("config/telemetry-agent-demo").exists(), "{env:?} wrote a file");
        assert!(!machine.file("cache/telemetry-agent-demo").exists(), "{env:?} wrote a file");
    }
}

#[test]
fn the_no_telemetry_flag_turns_everything_off_before_or_after_the_task_or_subcommand() {
    let machine = Machine::new();
    for args in [
        &["book a table", "--no-telemetry"][..],
        &["--no-telemetry", "run", "book a table"],
        &["run", "--model", "large", "book a table", "--no-telemetry"],
    ] {
        let output = machine.agent(args, &[("AGENT_TELEMETRY", "full")]);
        let out = stdout(&output);
        assert!(
            out.contains("agent: \"book a table\" (telemetry: off, decided by explicit choice)"),
            "{out}"
        );
        assert!(out.contains("nothing was captured, written or sent"), "{args:?}: {out}");
        assert!(!stderr(&output).contains(NOTICE));
    }
    let status = stdout(&machine.agent(&["telemetry", "status", "--no-telemetry"], &[]));
    assert!(status.contains("Telemetry: off (decided by explicit choice)"), "{status}");
    assert_eq!(machine.server.connections(), 0);
    assert!(!machine.file("cache/telemetry-agent-demo").exists(), "wrote a file with --no-telemetry");
    assert!(!machine.file("config/telemetry-agent-demo").exists(), "wrote a file with --no-telemetry");
}

#[test]
fn options_reach_the_run_and_bad_arguments_are_refused() {
    let machine = Machine::new();
    let env = [("AGENT_TELEMETRY_DEBUG", "1"), ("AGENT_TELEMETRY", "on")];
    let output = machine.agent(&["--model", "large", "--server", "stdio", "plan", "a trip"], &env);
    assert!(stdout(&output).contains("agent: \"plan a trip\""), "{}", stdout(&output));
    let started: serde_json::Value = stderr(&output)
        .lines()
        .filter_map(|line| line.strip_prefix("[telemetry] "))
        .map(|json| serde_json::from_str::<serde_json::Value>(json).unwrap())
        .find(|e| e["event"] == "run_started")
        .expect("a run_started event");
    assert_eq!(started["properties"]["model"], "large");
    assert_eq!(started["properties"]["transport"], "stdio");

    for args in [&["--model", "huge", "x"][..], &["telemetry", "bogus"], &["telemetry", "catalog", "--full"]]
    {
        let output = machine.try_agent(args, &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stdout(&output));
        assert!(stderr(&output).starts_with("error: "), "{args:?}: {}", stderr(&output));
    }
    assert_eq!(machine.server.connections(), 0);
}

#[test]
fn debug_mode_prints_the_exact_json_and_sends_nothing() {
    let machine = Machine::new();
    let output =
        machine.agent(&["run", "plan a trip"], &[("AGENT_TELEMETRY_DEBUG", "1"), ("AGENT_TELEMETRY", "on")]);
    let printed: Vec<serde_json::Value> = stderr(&output)
        .lines()
        .filter_map(|line| line.strip_prefix("[telemetry] "))
        .map(|json| serde_json::from_str(json).expect("each printed event is JSON"))
        .collect();
    assert!(printed.iter().any(|e| e["event"] == "run_started"), "{}", stderr(&output));
    assert_eq!(machine.server.connections(), 0, "debug mode sent something");
    // At usage the opt-in query is not even printed.
    assert!(!stderr(&output).contains("plan a trip"));
}

#[test]
fn local_mode_keeps_events_in_a_file() {
    let machine = Machine::new();
    machine.agent(&["run"], &[("AGENT_TELEMETRY", "local")]);
    assert_eq!(machine.server.connections(), 0);
    let local =
        std::fs::read_to_string(machine.file("data/telemetry-agent-demo/telemetry_events.jsonl")).unwrap();
    assert!(local.lines().any(|l| l.contains("\"run_finished\"")));
}

#[test]
fn subcommands_change_the_saved_choice_and_status_names_the_source() {
    let machine = Machine::new();
    let off = machine.agent(&["telemetry", "off"], &[]);
    assert!(stdout(&off).contains("Saved \"off\""), "{}", stdout(&off));
    let status = stdout(&machine.agent(&["telemetry", "status"], &[]));
    assert!(status.contains("Telemetry: off (decided by saved choice in"), "{status}");
    machine.agent(&["run"], &[]);
    machine.agent(&["run"], &[]);
    assert_eq!(machine.server.connections(), 0, "sent after `telemetry off`");

    // The environment still outranks the saved choice, and status says so,
    // and when its value is not understood, that too.
    let status = stdout(&machine.agent(&["telemetry", "status"], &[("AGENT_TELEMETRY", "full")]));
    assert!(status.contains("Telemetry: full (decided by environment variable AGENT_TELEMETRY)"), "{status}");
    let status = stdout(&machine.agent(&["telemetry", "status"], &[("AGENT_TELEMETRY", "yes please")]));
    assert!(
        status.contains(
            "Telemetry: off (decided by environment variable AGENT_TELEMETRY, whose value \"yes please\" is \
             not understood and means off)\nMode: off: nothing is collected or sent\n"
        ),
        "{status}"
    );

    machine.agent(&["telemetry", "full"], &[]);
    machine.agent(&["run", "a secret plan"], &[]);
    assert!(machine.server.wait_for_accepted_events(1, Duration::from_secs(5)));
    let started = machine.events_sent().into_iter().find(|e| e["event"] == "run_started").unwrap();
    assert_eq!(started["properties"]["query"], "a secret plan", "full consent sends the opt-in query");

    // A reset deletes the id and keeps the user's decision, and says so.
    let reset = stdout(&machine.agent(&["telemetry", "reset"], &[]));
    assert!(reset.contains("Deleted the anonymous id"), "{reset}");
    assert!(reset.contains("Telemetry: full (decided by saved choice"), "{reset}");
    assert!(!machine.file("cache/telemetry-agent-demo/telemetry_user_id").exists());
    assert!(machine.file("config/telemetry-agent-demo/telemetry_consent").exists());
}

/// `off`, then `reset`: telemetry stays off (a reset used to delete the
/// saved choice and, with the notice already shown, opt the user back in
/// without a word), and the reset says so.
#[test]
fn a_reset_after_off_keeps_telemetry_off_and_says_so() {
    let machine = Machine::new();
    machine.agent(&["run"], &[]);
    machine.agent(&["run"], &[]);
    assert!(machine.server.wait_for_accepted_events(1, Duration::from_secs(5)), "on by default, once told");
    let before = machine.server.connections();
    machine.agent(&["telemetry", "off"], &[]);
    let reset = stdout(&machine.agent(&["telemetry", "reset"], &[]));
    assert!(reset.contains("Telemetry: off (decided by saved choice"), "{reset}");
    machine.agent(&["run"], &[]);
    machine.agent(&["run"], &[]);
    assert_eq!(machine.server.connections(), before, "sent after `telemetry off` and `reset`");
}

#[test]
fn catalog_and_preview_subcommands() {
    let machine = Machine::new();
    let markdown = stdout(&machine.agent(&["telemetry", "catalog"], &[]));
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("TELEMETRY.md")).unwrap();
    assert_eq!(markdown, committed, "`agent telemetry catalog` is the committed page");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&machine.agent(&["telemetry", "catalog", "--json"], &[])))
            .expect("catalog --json is JSON");
    assert!(json["events"].as_array().unwrap().iter().any(|e| e["name"] == "tool_called"));

    let usage = stdout(&machine.agent(&["telemetry", "preview"], &[]));
    let full = stdout(&machine.agent(&["telemetry", "preview", "--full"], &[]));
    assert!(usage.contains("\"server_url\": \"<keyed hash>\""), "{usage}");
    assert!(!usage.contains("\"query\""), "preview at usage shows the opt-in query");
    assert!(full.contains("\"query\""));
    assert_eq!(machine.server.connections(), 0, "subcommands send nothing");
}

#[test]
fn the_default_demo_needs_no_network() {
    let machine = Machine::new();
    let home = machine.home.path();
    let output = Command::new(env!("CARGO_BIN_EXE_agent"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("TMPDIR", home)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("written to"), "{}", stdout(&output));
    assert!(stdout(&output).contains("\"event\":\"run_finished\""));
}

#[test]
fn what_one_run_could_not_send_the_next_run_delivers_exactly_once() {
    let machine = Machine::new();
    machine.agent(&["run"], &[]); // the first-run notice: nothing is sent
    machine.server.down();
    let offline = machine.agent(&["run", "offline run"], &[]);
    assert!(stdout(&offline).contains("events captured"), "{}", stdout(&offline));
    let spool = machine.file("cache/telemetry-agent-demo/telemetry_spool");
    let spooled = std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0);
    assert!(spooled > 0, "nothing was spooled in {}", spool.display());

    machine.server.up();
    machine.agent(&["run", "online run"], &[]);
    assert!(machine.server.wait_for_accepted_events(2, Duration::from_secs(5)));
    let events = machine.events_sent();
    let sessions: std::collections::BTreeSet<_> =
        events.iter().map(|e| e["properties"]["$session_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(sessions.len(), 2, "events of both runs arrive: {sessions:?}");
    let uuids = machine.server.accepted_uuids();
    let unique: std::collections::BTreeSet<_> = uuids.iter().collect();
    assert_eq!(unique.len(), uuids.len(), "an event arrived twice");
    let left = std::fs::read_dir(&spool).map(|d| d.filter_map(Result::ok).count()).unwrap_or(0);
    assert_eq!(left, 0, "the spool is empty once delivered");
}

#[test]
fn consent_off_in_a_later_run_deletes_the_spool_unsent() {
    let machine = Machine::new();
    machine.agent(&["run"], &[]);
    machine.server.down();
    machine.agent(&["run"], &[]);
    let spool = machine.file("cache/telemetry-agent-demo/telemetry_spool");
    assert!(spool.exists());
    machine.server.up();
    machine.agent(&["run"], &[("DO_NOT_TRACK", "1")]);
    assert!(!spool.exists(), "the spool outlived the user's opt-out");
    assert_eq!(machine.server.connections(), 0);
}

/// The README's recipe for a clap tool (`examples/src/bin/mytool.rs`), run
/// as its users run it: the first run shows the notice and sends nothing;
/// later runs end with `telemetry_runtime::exit(code)`, which delivers what
/// they captured (or keeps it in the spool for the next run) before the
/// process exits with the command's code, a failed command's too;
/// `--no-telemetry` sends nothing. The README shows the program as it is.
#[test]
fn the_readme_clap_recipe_delivers_what_it_captured_before_it_exits() {
    let machine = Machine::new();
    // Its events are checked below against its own catalog, not this process's.
    machine.server.without_catalog_check();
    let words = machine.file("words.txt");
    std::fs::write(&words, "one two Two three three three").unwrap();
    let words = words.to_str().unwrap();

    let first = machine.mytool(&["count", words]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(stderr(&first).contains("run `mytool telemetry off`"), "{}", stderr(&first));
    assert_eq!(machine.server.connections(), 0, "the first run sent something");

    let counted = machine.mytool(&["count", words]);
    assert_eq!(
        (counted.status.code(), stdout(&counted)),
        (Some(0), "6 words\n".to_owned()),
        "{}",
        stderr(&counted)
    );
    let missing = machine.file("missing.txt");
    let failed = machine.mytool(&["top", "-n", "1", words, missing.to_str().unwrap()]);
    assert_eq!(failed.status.code(), Some(1), "the command's exit code: {}", stderr(&failed));
    assert_eq!(stdout(&failed), "     3 three\n");
    assert!(machine.server.wait_for_accepted_events(2, Duration::from_secs(10)), "the events never arrived");
    let events = machine.events_sent();
    let runs: Vec<_> = events
        .iter()
        .map(|e| {
            let p = &e["properties"];
            (p["command"].as_str().unwrap(), p["files"].as_u64().unwrap(), p["ok"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(runs, [("count", 1, true), ("top", 2, false)], "{events:#?}");

    // What it sends is what its catalog lists.
    let catalog: serde_json::Value =
        serde_json::from_slice(&machine.mytool(&["telemetry", "catalog", "--json"]).stdout).unwrap();
    let listed: Vec<&str> = catalog["events"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["command", "files", "duration_ms", "ok"]);
    for event in &events {
        assert_eq!(event["event"], "command_run");
        let own: Vec<&str> = event["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with('$'))
            .collect();
        assert!(own.iter().all(|name| listed.contains(name)) && own.len() == listed.len(), "{own:?}");
    }

    let before = machine.server.connections();
    let quiet = machine.mytool(&["count", words, "--no-telemetry"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(machine.server.connections(), before, "sent with --no-telemetry");

    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let program =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin/mytool.rs")).unwrap();
    let recipe = &program[program.find("use ").unwrap()..];
    assert!(
        readme.contains(&format!("```rust,no_run\n{recipe}```")),
        "the README's recipe is not examples/src/bin/mytool.rs"
    );
}
