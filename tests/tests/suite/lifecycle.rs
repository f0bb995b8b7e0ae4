//! Clients made and dropped at run time (one per agent, per task): dropping
//! the last handle delivers what is queued and ends the worker thread
//! within the shutdown deadline, so threads do not pile up.
//!
//! In a process of its own: it counts the process's threads.

use std::time::{Duration, Instant};

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Telemetry, TelemetryEvent};
use telemetry_tests::{child, wait_until, worker_threads, Sandbox};

/// An agent started.
#[derive(TelemetryEvent)]
struct AgentStarted {
    index: u32,
}

/// The threads of this process, from `/proc/self/task` (Linux).
fn threads() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}

#[test]
fn dropping_the_last_handle_stops_the_worker_within_its_deadline() {
    child::isolated("lifecycle::dropping_the_last_handle_stops_the_worker_within_its_deadline", || {
        let sandbox = Sandbox::new();
        let memory = MemorySink::new();
        let deadline = Duration::from_secs(2);
        let baseline = threads();
        if baseline.is_none() {
            telemetry_tests::skip(
                "lifecycle::dropping_the_last_handle_stops_the_worker_within_its_deadline",
                "no /proc/self/task: the worker threads cannot be counted here (delivery is still checked)",
            );
        }

        let clients: Vec<Telemetry> = (0..30)
            .map(|index| {
                let client = Telemetry::new(
                    sandbox
                        .config()
                        .delivery(|d| telemetry_runtime::Delivery { shutdown_timeout: deadline, ..d })
                        .sink(memory.clone()),
                )
                .unwrap();
                client.capture(&AgentStarted { index });
                client
            })
            .collect();
        if let Some(baseline) = baseline {
            assert_eq!(threads(), Some(baseline + 30), "one worker per client");
            // A thread names itself once it runs: wait for that.
            assert!(wait_until(deadline, || worker_threads() == Some(30)), "{:?} workers", worker_threads());
        }

        // A clone keeps the client alive: dropping the other handle stops nothing.
        let kept = clients[0].clone();
        let started = Instant::now();
        drop(clients);
        let dropped_in = started.elapsed();
        kept.capture(&AgentStarted { index: 100 });
        assert!(kept.flush(Duration::from_secs(5)), "the clone's client still delivers");
        if let Some(baseline) = baseline {
            assert!(
                wait_until(deadline, || threads() == Some(baseline + 1)),
                "29 workers should have ended: {:?} threads, baseline {baseline}",
                threads()
            );
        }
        drop(kept);
        if let Some(baseline) = baseline {
            assert!(wait_until(deadline, || threads() == Some(baseline)), "{:?} threads", threads());
            assert_eq!(worker_threads(), Some(0));
        }
        // Each drop delivered what its client had queued, well within the deadline.
        assert!(dropped_in < deadline * 30, "{dropped_in:?}");
        let mut sent: Vec<u64> =
            memory.events().iter().map(|e| e["properties"]["index"].as_u64().unwrap()).collect();
        sent.sort_unstable();
        assert_eq!(sent, (0..30).chain([100]).collect::<Vec<_>>());
    });
}
