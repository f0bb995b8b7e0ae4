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

use clap::{Args, Parser, Subcommand};
use telemetry_examples::events::Model;
use telemetry_examples::runner::{self, Task};
use telemetry_runtime::cli::{NoTelemetry, TelemetryArgs};
use telemetry_runtime::sink::{JsonlSink, PostHogSink};
use telemetry_runtime::{Config, Level};

/// A pretend AI agent: plans steps and calls tools on a server, and shows
/// what its telemetry collects.
#[derive(Parser)]
#[command(
    name = "agent",
    version,
    override_usage = "agent [run] [OPTIONS] [TASK]...\n       agent telemetry [COMMAND]"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    // `agent TASK` is `agent run TASK`.
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    telemetry: NoTelemetry,
}

#[derive(Subcommand)]
enum Command {
    /// Run a task (the default).
    Run(RunArgs),
    /// See or change what telemetry collects.
    Telemetry(TelemetryArgs),
}

#[derive(Args)]
struct RunArgs {
    /// What to ask the agent.
    task: Vec<String>,
    /// The model that plans the steps.
    #[arg(long, value_enum, default_value = "small")]
    model: Model,
    /// The tool server's URL.
    #[arg(long, default_value = "https://tools.internal.example.com/mcp")]
    server: String,
}

fn main() {
    let cli = Cli::parse();
    let events_file = std::env::temp_dir().join("telemetry-demo").join("agent-events.jsonl");

    let config = match config(&events_file) {
        Ok(config) => cli.telemetry.configure(config),
        Err(err) => {
            eprintln!("agent: {err}");
            std::process::exit(2);
        }
    };
    let guard = match telemetry_runtime::init(config) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("agent: {}", telemetry_examples::error_chain(&err));
            std::process::exit(2);
        }
    };

    let run = match cli.command {
        Some(Command::Telemetry(command)) => {
            if let Err(err) = command.run(&guard, &mut std::io::stdout()) {
                eprintln!("agent telemetry: {}", telemetry_examples::error_chain(&err));
                std::process::exit(2);
            }
            return;
        }
        Some(Command::Run(run)) => run,
        None => cli.run,
    };

    let task = task_from(run);
    let _ = std::fs::remove_file(&events_file);
    let consent = guard.consent();
    let is_debug = telemetry_runtime::cli::Status::of(&guard).debug;
    println!("agent: {:?} (telemetry: {}, decided by {})", task.query, consent.level, consent.source);
    let outcome = runner::run(&task);
    println!("agent: {outcome:?}");

    if !guard.flush(Duration::from_secs(2)) {
        println!("telemetry: not everything was delivered within 2 s; the rest waits in the spool");
    }
    let stats = guard.stats();
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

fn config(events_file: &std::path::Path) -> Result<Config, telemetry_runtime::ConfigError> {
    let mut config = Config::new("telemetry-agent-demo", env!("CARGO_PKG_VERSION"))
        .env(|e| telemetry_runtime::EnvVars { main: "AGENT_TELEMETRY".into(), ..e })
        .env(|mut e| {
            e.legacy.push(("AGENT_ANONYMIZED_TELEMETRY".into(), telemetry_runtime::Polarity::Enables));
            e
        })
        .default_level(Level::Usage)
        .notice(|n| telemetry_runtime::Notice { commands: Some("agent telemetry".into()), ..n })
        .catalog(telemetry_examples::agent_catalog())
        .sink(JsonlSink::new(events_file))
        .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(1), ..d })
        // A CLI exits quickly: what cannot be sent in time waits on disk for the next run.
        .delivery(|d| telemetry_runtime::Delivery {
            spool: true,
            shutdown_timeout: Duration::from_secs(1),
            ..d
        });
    if let Ok(key) = std::env::var("AGENT_POSTHOG_KEY") {
        let mut posthog = PostHogSink::new(key)?;
        if let Ok(host) = std::env::var("AGENT_POSTHOG_HOST") {
            posthog = posthog.host(&host)?;
        }
        config = config.sink(posthog);
    }
    Ok(config)
}

fn task_from(run: RunArgs) -> Task {
    let query =
        if run.task.is_empty() { "find a cheap flight to Lisbon".to_owned() } else { run.task.join(" ") };
    Task { query, model: run.model, server_url: run.server, max_steps: 5 }
}
