//! Memory is bounded in bytes as well as in events: ten thousand events each
//! carrying a 100 KB opt-in text against a hung endpoint would hold a
//! gigabyte; the queue keeps at most its byte limit (16 MiB by default) and
//! drops and counts the rest. In a process of its own, so that its
//! resident-memory reading is not disturbed by other tests.

use std::time::Duration;

use telemetry_runtime::{DropReason, Level, Telemetry, TelemetryEvent};
use telemetry_tests::{child, posthog_sink, Behaviour, Sandbox, TestServer, SOON};

const CAPTURES: u64 = 10_000;
const TEXT_BYTES: usize = 100_000;
const DEFAULT_QUEUE_BYTES: u64 = 16 << 20;

/// Notes were taken.
#[derive(TelemetryEvent)]
struct NotesTaken {
    /// How many lines.
    lines: u32,
    /// The notes themselves, only at full consent.
    #[telemetry(opt_in)]
    notes: String,
}

/// The resident set size in KiB, where `/proc` tells it.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn large_events_against_a_hung_endpoint_are_bounded_by_the_byte_limit() {
    child::isolated(
        "faults_memory_bytes::large_events_against_a_hung_endpoint_are_bounded_by_the_byte_limit",
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
                sandbox.config().consent(Level::Full).sink(sink).delivery(telemetry_tests::on_flush),
            )
            .unwrap();
            // Get the worker stuck in a request with one small event: from then on
            // nothing leaves the queue.
            telemetry.capture(&NotesTaken { lines: 0, notes: String::new() });
            let _ = telemetry.flush(Duration::ZERO);
            assert!(server.wait_for_requests(1, SOON));

            let notes = "n".repeat(TEXT_BYTES);
            let rss_before = rss_kib();
            for lines in 0..CAPTURES {
                telemetry.capture(&NotesTaken { lines: lines as u32, notes: notes.clone() });
            }
            let rss_after = rss_kib();

            let stats = telemetry.stats();
            let queued = stats.captured - 1;
            // As many as the default limit holds, and no more.
            let fits = DEFAULT_QUEUE_BYTES / TEXT_BYTES as u64;
            assert!((fits - 10..=fits).contains(&queued), "{queued} queued, about {fits} fit: {stats:?}");
            assert_eq!(
                stats.dropped(DropReason::QueueFull),
                CAPTURES - queued,
                "dropped == excess: {stats:?}"
            );
            assert_eq!(stats.dropped_total(), CAPTURES - queued, "no other drops: {stats:?}");
            eprintln!("{queued} of {CAPTURES} queued; RSS {rss_before:?} KiB -> {rss_after:?} KiB");
            if let (Some(before), Some(after)) = (rss_before, rss_after) {
                // Kept, they would take about 1 GB; the limit is 16 MiB (its buffer
                // may grow to twice that). Allow for allocator noise.
                let grown = after.saturating_sub(before);
                assert!(grown < 64 * 1024, "resident memory grew by {grown} KiB");
            }
            assert!(!telemetry.shutdown(Duration::from_millis(100)));
        },
    );
}
