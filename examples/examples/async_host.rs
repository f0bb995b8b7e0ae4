//! `async_host`: telemetry in a tokio program.
//!
//! ```text
//! cargo run -p telemetry-examples --example async_host
//! ```
//!
//! Tasks capture events as they like: a capture never blocks and never
//! awaits. Flushing and shutting down wait for delivery, at most for their
//! deadline, on the calling thread: here they run on tokio's blocking pool,
//! so that no runtime worker waits. The library has no async runtime of its
//! own, so dropping its guard inside one cannot panic the way clients that
//! embed a runtime do ("Cannot drop a runtime in a context where blocking
//! is not allowed").
//!
//! Events go to a JSON-lines file in the temporary directory, which the
//! program prints at the end; `AGENT_TELEMETRY=off` or `DO_NOT_TRACK=1`
//! turn it off as in the agent demo.

use std::time::{Duration, Instant};

use telemetry_runtime::sink::JsonlSink;
use telemetry_runtime::{Config, Level, TelemetryEvent};

/// A request was served: by which worker task, how fast, and whether it worked.
#[derive(TelemetryEvent)]
struct RequestServed {
    worker: u32,
    duration_ms: Duration,
    ok: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events_file = std::env::temp_dir().join("telemetry-demo").join("async-host-events.jsonl");
    let _ = std::fs::remove_file(&events_file);
    let config = Config::new("telemetry-async-demo", env!("CARGO_PKG_VERSION"))
        .env(|e| telemetry_runtime::EnvVars { main: "AGENT_TELEMETRY".into(), ..e })
        .default_level(Level::Usage)
        .sink(JsonlSink::new(&events_file))
        .delivery(|d| telemetry_runtime::Delivery { shutdown_timeout: Duration::from_secs(1), ..d });
    let guard = telemetry_runtime::init(config)?;
    let consent = guard.consent();
    println!("async_host: telemetry {} (decided by {})", consent.level, consent.source);

    let workers: Vec<_> = (0..4)
        .map(|worker| {
            tokio::spawn(async move {
                for request in 0..5u64 {
                    let started = Instant::now();
                    tokio::time::sleep(Duration::from_millis(2 * request)).await;
                    let event = RequestServed { worker, duration_ms: started.elapsed(), ok: request != 3 };
                    telemetry_runtime::capture(&event); // never blocks
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }

    // Mid-run: deliver what is queued, on the blocking pool, for 2 s at most.
    let flushed = tokio::task::spawn_blocking(|| {
        telemetry_runtime::global().is_none_or(|t| t.flush(Duration::from_secs(2)))
    })
    .await?;
    println!("async_host: flushed: {flushed}");

    // At exit: dropping the guard delivers the rest and stops the worker
    // thread, blocking for the shutdown timeout (1 s here) at most. On the
    // blocking pool too; dropping it in the task works as well, and holds
    // this runtime worker for as long.
    let started = Instant::now();
    tokio::task::spawn_blocking(move || drop(guard)).await?;
    println!("async_host: shut down in {:?}", started.elapsed());

    let stats = telemetry_runtime::global().map(|t| t.stats()).unwrap_or_default();
    println!(
        "async_host: {} captured, {} sent, {} dropped",
        stats.captured,
        stats.sent,
        stats.dropped_total()
    );
    if let Ok(lines) = std::fs::read_to_string(&events_file) {
        println!("async_host: written to {}:", events_file.display());
        print!("{lines}");
    }
    Ok(())
}
