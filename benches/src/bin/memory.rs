//! Memory with a hung endpoint: 1,000,000 captures against a server that
//! accepts connections and never answers, with the library's default queue
//! (10,000 events). Run it under `/usr/bin/time -v` for the maximum resident
//! set size; it also prints its own peak (VmHWM) and what was dropped.
//!
//! ```text
//! cargo build --release --bin memory
//! /usr/bin/time -v target/release/memory ours       # telemetry-runtime
//! /usr/bin/time -v target/release/memory posthog    # posthog-rs, for comparison
//! /usr/bin/time -v target/release/memory baseline   # the same process, no client
//! /usr/bin/time -v target/release/memory ours-large 10000   # 100 KB opt-in text per event
//! ```
//!
//! `ours-large` captures events that each carry a 100 KB opt-in text, at
//! full consent: the queue's byte limit (16 MiB by default), not its event
//! count, bounds the memory.
//!
//! The hung server runs in a child process (its own, small, memory is not
//! this process's).

use std::time::{Duration, Instant};

use telemetry_benches::{peak_rss_kib, ChildServer, EventData, Mode};

/// Notes were taken: a large opt-in text, for the byte-bounded case.
#[derive(telemetry_runtime::TelemetryEvent)]
struct NotesTaken {
    /// How many lines.
    lines: u32,
    /// The notes, only at full consent.
    #[telemetry(opt_in)]
    notes: String,
}

fn main() {
    telemetry_benches::child_main();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("ours").to_owned();
    let n: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let server = ChildServer::start(Mode::Hang);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = EventData::sample();
    let event = data.typed();
    let distinct_id = uuid::Uuid::new_v4().to_string();
    let start = Instant::now();
    match which.as_str() {
        "ours" => {
            // Library defaults: queue of 10,000, batches of 100.
            let client = telemetry_runtime::Telemetry::new(
                telemetry_runtime::Config::new("bench", "1.0.0")
                    .consent(telemetry_runtime::Level::Usage)
                    .environment(|_| None)
                    .env(|e| telemetry_runtime::EnvVars { detect_ci: false, ..e })
                    .dirs(|_| telemetry_runtime::Dirs::from(dir.path()))
                    .sink(telemetry_benches::http_sink(server.addr)),
            )
            .expect("config");
            for _ in 0..n {
                client.capture(std::hint::black_box(&event));
            }
            let elapsed = start.elapsed();
            std::thread::sleep(Duration::from_millis(200));
            let s = client.stats();
            println!(
                "ours: {n} captures in {:.3} s; captured {} dropped {} (queue_full {}) sent {}; peak RSS {} KiB",
                elapsed.as_secs_f64(),
                s.captured,
                s.dropped_total(),
                s.dropped(telemetry_runtime::DropReason::QueueFull),
                s.sent,
                peak_rss_kib()
            );
        }
        "ours-large" => {
            // Library defaults (queue of 10,000 events and 16 MiB), full
            // consent, 100 KB of opt-in text per event.
            let client = telemetry_runtime::Telemetry::new(
                telemetry_runtime::Config::new("bench", "1.0.0")
                    .consent(telemetry_runtime::Level::Full)
                    .environment(|_| None)
                    .env(|e| telemetry_runtime::EnvVars { detect_ci: false, ..e })
                    .dirs(|_| telemetry_runtime::Dirs::from(dir.path()))
                    .sink(telemetry_benches::http_sink(server.addr)),
            )
            .expect("config");
            let notes = "n".repeat(100_000);
            for lines in 0..n {
                client
                    .capture(std::hint::black_box(&NotesTaken { lines: lines as u32, notes: notes.clone() }));
            }
            let elapsed = start.elapsed();
            std::thread::sleep(Duration::from_millis(200));
            let s = client.stats();
            println!(
                "ours-large: {n} captures of 100 KB in {:.3} s; captured {} dropped {} (queue_full {}) sent {}; peak RSS {} KiB",
                elapsed.as_secs_f64(),
                s.captured,
                s.dropped_total(),
                s.dropped(telemetry_runtime::DropReason::QueueFull),
                s.sent,
                peak_rss_kib()
            );
        }
        "posthog" => {
            // Its defaults: queue of 10,000, batches of 100.
            let options = posthog_rs::ClientOptionsBuilder::default()
                .api_key("phc_bench".to_owned())
                .host(format!("http://{}", server.addr))
                .build()
                .expect("options");
            let client = posthog_rs::client(options);
            for _ in 0..n {
                client.capture(std::hint::black_box(&data).posthog(&distinct_id));
            }
            let elapsed = start.elapsed();
            std::thread::sleep(Duration::from_millis(200));
            println!(
                "posthog-rs: {n} captures in {:.3} s; peak RSS {} KiB (it does not report drops)",
                elapsed.as_secs_f64(),
                peak_rss_kib()
            );
            std::mem::forget(client);
        }
        _ => {
            for _ in 0..n {
                std::hint::black_box(&event);
            }
            println!("baseline: no client; peak RSS {} KiB", peak_rss_kib());
        }
    }
    drop(server);
    // Leave at once: the worker is still waiting on the hung server.
    std::process::exit(0);
}
