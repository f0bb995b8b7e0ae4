// `mytool`: the README's recipe for a command-line tool built on clap, as a
// program that runs (`cargo run -p telemetry-examples --bin mytool -- count
// README.md`). The README shows this file from its first `use` on, and
// `examples/tests/agent_cli.rs` checks that it still does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use telemetry_runtime::cli::{NoTelemetry, TelemetryArgs};
use telemetry_runtime::sink::PostHogSink;
use telemetry_runtime::{Config, Delivery, Guard, Level, Notice, TelemetryEvent, TelemetryProperty};

/// Counts the words of text files.
#[derive(Parser)]
#[command(name = "mytool", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// `--no-telemetry`, before or after the subcommand.
    #[command(flatten)]
    telemetry: NoTelemetry,
}

#[derive(Subcommand)]
enum Command {
    /// Count the words of each file.
    Count { files: Vec<PathBuf> },
    /// Show the most frequent words of the files.
    Top {
        files: Vec<PathBuf>,
        /// How many words to show.
        #[arg(short, default_value_t = 5)]
        n: usize,
    },
    /// See or change what telemetry collects (status, on, off, catalog, ...).
    Telemetry(TelemetryArgs),
}

/// Which command ran.
#[derive(TelemetryProperty, Clone, Copy)]
enum Subcmd {
    Count,
    Top,
}

/// A command ran: which one, on how many files, how long it took, and
/// whether it worked.
#[derive(TelemetryEvent)]
struct CommandRun {
    /// The command.
    command: Subcmd,
    /// How many files it was given.
    files: usize,
    /// How long it took.
    duration_ms: Duration,
    /// Whether every file could be read.
    ok: bool,
}

fn init(no_telemetry: NoTelemetry) -> Result<Guard, Box<dyn std::error::Error>> {
    let mut posthog = PostHogSink::new("phc_your_project_key")?;
    if let Ok(host) = std::env::var("MYTOOL_POSTHOG_HOST") {
        posthog = posthog.host(&host)?; // a self-hosted PostHog
    }
    let config = Config::new("mytool", env!("CARGO_PKG_VERSION"))
        // On by default, after a first-run notice; leave it out to be opt-in.
        .default_level(Level::Usage)
        // The notice tells users to run `mytool telemetry off`, and that
        // command's own first run shows none.
        .notice(|n| Notice { commands: Some("mytool telemetry".into()), ..n })
        .sink(posthog)
        // A CLI lives for a moment: at exit, wait half a second at most for
        // delivery, and keep what that cuts off for the next run.
        .delivery(|d| Delivery { shutdown_timeout: Duration::from_millis(500), spool: true, ..d });
    // `--no-telemetry` outranks every other setting.
    Ok(telemetry_runtime::init(no_telemetry.configure(config))?)
}

fn main() {
    let cli = Cli::parse();
    let telemetry = match init(cli.telemetry) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("mytool: telemetry: {err}");
            telemetry_runtime::exit(2);
        }
    };
    let code = match cli.command {
        Command::Telemetry(command) => match command.run(&telemetry, &mut std::io::stdout()) {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("mytool telemetry: {err}");
                2
            }
        },
        Command::Count { files } => run(Subcmd::Count, &files, |counts| {
            println!("{} words", counts.values().sum::<usize>());
        }),
        Command::Top { files, n } => run(Subcmd::Top, &files, |counts| {
            let mut words: Vec<_> = counts.into_iter().collect();
            words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            for (word, count) in words.into_iter().take(n) {
                println!("{count:>6} {word}");
            }
        }),
    };
    // Not `std::process::exit`, which would skip the guard's shutdown: this
    // delivers what is queued, within the deadline above, then exits.
    telemetry_runtime::exit(code);
}

/// Counts the words of `files` and shows them with `show`; captures how it
/// went and answers the exit code.
fn run(command: Subcmd, files: &[PathBuf], show: impl FnOnce(HashMap<String, usize>)) -> i32 {
    let started = Instant::now();
    let mut counts = HashMap::new();
    let mut code = 0;
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => {
                text.split_whitespace().for_each(|word| *counts.entry(word.to_lowercase()).or_insert(0) += 1)
            }
            Err(err) => {
                eprintln!("mytool: {}: {err}", file.display());
                code = 1;
            }
        }
    }
    show(counts);
    telemetry_runtime::capture(&CommandRun {
        command,
        files: files.len(),
        duration_ms: started.elapsed(),
        ok: code == 0,
    });
    code
}
