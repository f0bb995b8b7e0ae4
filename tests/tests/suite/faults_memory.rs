//! Bounded memory: a million captures against a hung endpoint keep the queue
//! at its cap, and exactly the excess is dropped and counted. In a process
//! of its own, so that its resident-memory reading is not disturbed by
//! other tests running in parallel.

use std::time::{Duration, Instant};

use telemetry_runtime::{DropReason, Properties, Telemetry};
use telemetry_tests::{child, posthog_sink, Behaviour, Sandbox, TestServer, SOON};

telemetry_runtime::event! {
    /// The first event, which gets the worker into its first request.
    static FIRST = "first" {}
}

telemetry_runtime::event! {
    /// One of a million events captured against a hung endpoint.
    static FLOOD = "flood" {
        /// Its number.
        i: u64,
    }
}

const CAPTURES: u64 = 1_000_000;
const CAPACITY: u64 = 1_000;

/// The resident set size in KiB, where `/proc` tells it.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_million_captures_against_a_hung_endpoint_keep_the_queue_at_its_cap() {
    child::isolated(
        "faults_memory::a_million_captures_against_a_hung_endpoint_keep_the_queue_at_its_cap",
        || {
            let server = TestServer::start();
            server.set_default(Behaviour::Hang);
            let sandbox = Sandbox::new();
            let sink = posthog_sink(&server).http(|h| telemetry_runtime::sink::HttpOptions {
                connect_timeout: Duration::from_secs(2),
                request_timeout: Duration::from_secs(60),
                ..h
            });
            let telemetry = Telemetry::new(
                sandbox
                    .config()
                    .sink(sink)
                    .delivery(|d| telemetry_runtime::Delivery {
                        queue_capacity: CAPACITY as usize,
                        batch_size: 100,
                        ..d
                    })
                    .delivery(telemetry_tests::on_flush),
            )
            .unwrap();
            // Get the worker stuck in a request with one event: from then on nothing
            // leaves the queue.
            telemetry.capture_with(&FIRST, Properties::new());
            let _ = telemetry.flush(Duration::ZERO);
            assert!(server.wait_for_requests(1, SOON));

            let rss_before = rss_kib();
            let started = Instant::now();
            for i in 0..CAPTURES {
                telemetry.capture_with(&FLOOD, Properties::new().with("i", i));
            }
            let took = started.elapsed();
            let rss_after = rss_kib();

            let stats = telemetry.stats();
            // One event in the stuck request, a full queue, the rest dropped.
            assert_eq!(stats.captured, 1 + CAPACITY, "{stats:?}");
            assert_eq!(
                stats.dropped(DropReason::QueueFull),
                CAPTURES - CAPACITY,
                "dropped == excess: {stats:?}"
            );
            assert_eq!(stats.dropped_total(), CAPTURES - CAPACITY, "no other drops: {stats:?}");
            assert_eq!(stats.sent, 0);
            assert_eq!(server.requests().len(), 1, "the worker is still stuck");
            eprintln!("{CAPTURES} captures took {took:?}; RSS {rss_before:?} KiB -> {rss_after:?} KiB");
            if let (Some(before), Some(after)) = (rss_before, rss_after) {
                // Kept, a million events would take hundreds of MiB; the queue of a
                // thousand takes well under one. Allow for allocator noise.
                let grown = after.saturating_sub(before);
                assert!(grown < 32 * 1024, "resident memory grew by {grown} KiB");
            }
            // The host's shutdown is still bounded.
            assert!(!telemetry.shutdown(Duration::from_millis(100)));
        },
    );
}
