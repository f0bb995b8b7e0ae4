//! `agent`: a pretend AI agent runner that shows every telemetry feature.
//! The README's demo.
//!
//! ```text
//! agent [run] [TASK] [--model small|large] [--server URL] [--no-telemetry]
//! agent telemetry [status|on|off|full|local|reset|catalog [--json]|preview [--full]]
//! ```
//!
//! Events go to a JSON-lines file in the temporary directory, which the
//! program prints at the end. Set `AGENT_POSTHOG_KEY` (and optionally
//! `AGENT_POSTHOG_HOST`) to also send them to PostHog: the first such run
//! shows the first-run notice and sends nothing.

use std::time::Duration;

use telemetry_examples::events::Model;
use telemetry_examples::runner::{self, Task};
use telemetry_runtime::sink::{JsonlSink, PostHogSink};
use telemetry_runtime::{Config, Level};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let no_telemetry = args.iter().any(|a| a == "--no-telemetry");
    let events_file = std::env::temp_dir().join("telemetry-demo").join("agent-events.jsonl");

    let config = match config(&events_file, no_telemetry) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("agent: {err}");
            std::process::exit(2);
        }
    };
    let guard = match telemetry_runtime::init(config) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("agent: {err}");
            std::process::exit(2);
        }
    };

    if args.first().map(String::as_str) == Some("telemetry") {
        let result = telemetry_runtime::cli::run_command(guard.client(), &args[1..], &mut std::io::stdout());
        if let Err(err) = result {
            eprintln!("agent telemetry: {err}");
            std::process::exit(2);
        }
        return;
    }

    let task = task_from(&args);
    let _ = std::fs::remove_file(&events_file);
    let consent = guard.client().consent();
    let is_debug = guard.client().is_debug();
    println!("agent: {:?} (telemetry: {}, decided by {})", task.query, consent.level, consent.source);
    let outcome = runner::run(&task);
    println!("agent: {outcome:?}");

    telemetry_runtime::flush(Duration::from_secs(2));
    let stats = telemetry_runtime::stats();
    drop(guard);
    if stats.captured == 0 {
        println!("telemetry: nothing was captured, written or sent");
        return;
    }
    if is_debug {
        println!(
            "telemetry: {} events printed above (debug mode: nothing was written or sent)",
            stats.captured
        );
        return;
    }
    println!("telemetry: {} events captured, written to {}:", stats.captured, events_file.display());
    if let Ok(lines) = std::fs::read_to_string(&events_file) {
        print!("{lines}");
    }
}

fn config(
    events_file: &std::path::Path,
    no_telemetry: bool,
) -> Result<Config, telemetry_runtime::ConfigError> {
    let mut config = Config::new("telemetry-agent-demo", env!("CARGO_PKG_VERSION"))
        .env_var("AGENT_TELEMETRY")
        .legacy_env_var("AGENT_ANONYMIZED_TELEMETRY", telemetry_runtime::Polarity::Enables)
        .default_level(Level::Usage)
        .commands("agent telemetry")
        .catalog(telemetry_examples::agent_catalog())
        .sink(JsonlSink::new(events_file))
        .flush_interval(Duration::from_secs(1))
        // A CLI exits quickly: what cannot be sent in time waits on disk for the next run.
        .spool(true)
        .shutdown_timeout(Duration::from_secs(1));
    if let Ok(key) = std::env::var("AGENT_POSTHOG_KEY") {
        let mut posthog = PostHogSink::new(key)?;
        if let Ok(host) = std::env::var("AGENT_POSTHOG_HOST") {
            posthog = posthog.host(&host)?;
        }
        config = config.sink(posthog);
    }
    if no_telemetry {
        config = config.consent(Level::Off);
    }
    Ok(config)
}

fn task_from(args: &[String]) -> Task {
    let mut positional = Vec::new();
    let mut model = Model::Small;
    let mut server_url = "https://tools.internal.example.com/mcp".to_owned();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "run" | "--no-telemetry" => {}
            "--model" => {
                model =
                    if iter.next().map(String::as_str) == Some("large") { Model::Large } else { Model::Small }
            }
            "--server" => server_url = iter.next().cloned().unwrap_or(server_url),
            other => positional.push(other.to_owned()),
        }
    }
    let query =
        if positional.is_empty() { "find a cheap flight to Lisbon".to_owned() } else { positional.join(" ") };
    Task { query, model, server_url, max_steps: 5 }
}
