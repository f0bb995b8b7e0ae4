//! The README's demo: captures a few events to a local JSON-lines file and
//! prints where they went. No account, no network.
//!
//! ```text
//! cargo run -p telemetry-examples --bin demo            # on by default, to a local file
//! cargo run -p telemetry-examples --bin demo -- --no-telemetry
//! DEMO_TELEMETRY=full cargo run -p telemetry-examples --bin demo
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use telemetry_runtime::sink::JsonlSink;
use telemetry_runtime::{Config, Level, Properties, TelemetryEvent, TelemetryProperty};

/// Which subcommand ran.
#[derive(TelemetryProperty, Clone, Copy, PartialEq)]
enum Command {
    Search,
    Build,
    Test,
}

/// A command finished: which one, how long it took and whether it worked.
#[derive(TelemetryEvent)]
struct CommandRun {
    command: Command,
    duration_ms: Duration,
    ok: bool,
    /// The user's own words: sent only with full consent.
    #[telemetry(opt_in)]
    query: String,
    /// Where the command ran: never sent, only its length.
    #[telemetry(redact = "length")]
    working_dir: String,
}

telemetry_runtime::event! {
    /// The demo finished: how many commands it ran.
    static DEMO_FINISHED = "demo_finished" {
        /// How many commands ran.
        commands: u64,
    }
}

fn main() {
    let no_telemetry = std::env::args().any(|arg| arg == "--no-telemetry");
    let events_file: PathBuf = std::env::temp_dir().join("telemetry-demo").join("events.jsonl");
    let _ = std::fs::remove_file(&events_file);

    let mut config = Config::new("telemetry-demo", env!("CARGO_PKG_VERSION"))
        .env(|e| telemetry_runtime::EnvVars { main: "DEMO_TELEMETRY".into(), ..e })
        // The demo is opt-out so that it shows something; DEMO_TELEMETRY=off,
        // DO_NOT_TRACK=1, a CI environment or --no-telemetry turn it off.
        .default_level(Level::Usage)
        .sink(JsonlSink::new(&events_file));
    if no_telemetry {
        config = config.consent(Level::Off);
    }
    let guard = match telemetry_runtime::init(config) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("demo: {}", telemetry_examples::error_chain(&err));
            std::process::exit(1);
        }
    };
    let consent = guard.consent();
    println!("telemetry level: {} (decided by {})", consent.level, consent.source);

    let working_dir = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
    for (command, query) in
        [(Command::Search, "cheap flights to Lisbon"), (Command::Build, "release --all"), (Command::Test, "")]
    {
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(3));
        telemetry_runtime::capture(&CommandRun {
            command,
            duration_ms: started.elapsed(),
            ok: command != Command::Test,
            query: query.to_owned(),
            working_dir: working_dir.clone(),
        });
    }
    telemetry_runtime::capture_with(&DEMO_FINISHED, Properties::new().with("commands", 3u8));

    let delivered = guard.flush(Duration::from_secs(2));
    let stats = guard.stats();
    drop(guard);

    if consent.level == Level::Off {
        println!("nothing was captured, written or sent");
        return;
    }
    println!(
        "{} events captured, {} written{} to {}",
        stats.captured,
        stats.sent,
        if delivered { "" } else { " (not all delivered: see the stats)" },
        events_file.display()
    );
    match std::fs::read_to_string(&events_file) {
        Ok(lines) => print!("{lines}"),
        Err(err) => println!("(cannot read {}: {err})", events_file.display()),
    }
}
