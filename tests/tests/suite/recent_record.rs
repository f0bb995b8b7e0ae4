//! The record of recent deliveries (`telemetry_recent.jsonl`) holds the
//! newest events that reached the endpoint, oldest first, across the many
//! requests of one flush and across flushes, and only up to its capacity.

use std::time::Duration;

use serde_json::Value as Json;
use telemetry_runtime::{Level, Properties, Telemetry};
use telemetry_tests::{posthog_sink, Sandbox, TestServer, SOON};

telemetry_runtime::event! {
    /// A numbered event.
    static NUMBERED = "numbered" {
        /// Its number.
        i: u64,
    }
}

/// The events of the record file, as the server got them.
fn recorded(sandbox: &Sandbox) -> Vec<Json> {
    let text = std::fs::read_to_string(sandbox.data_dir().join("telemetry_recent.jsonl")).unwrap();
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

fn numbers(events: &[Json]) -> Vec<u64> {
    events.iter().map(|e| e["properties"]["i"].as_u64().unwrap()).collect()
}

#[test]
fn the_record_holds_the_newest_deliveries_across_requests_and_flushes() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .consent(Level::Usage)
            .sink(posthog_sink(&server))
            // Many requests per flush: 3 events each.
            .delivery(|d| telemetry_runtime::Delivery {
                batch_size: 3,
                max_batch_size: 3,
                recent_deliveries: 5,
                flush_interval: Duration::from_secs(60),
                ..d
            }),
    )
    .unwrap();
    for i in 0..10 {
        telemetry.capture_with(&NUMBERED, Properties::new().with("i", i as u64));
    }
    assert!(telemetry.flush(SOON));
    // Four requests (3, 3, 3, 1 events); the record keeps the newest five,
    // each exactly as it was sent.
    let accepted = server.accepted_events();
    assert_eq!(numbers(&accepted), (0..10).collect::<Vec<u64>>());
    assert!(server.requests().len() >= 4, "{} requests", server.requests().len());
    let record = recorded(&sandbox);
    assert_eq!(numbers(&record), [5, 6, 7, 8, 9]);
    assert_eq!(record, accepted[5..]);

    // A later flush pushes the oldest out.
    for i in 10..12 {
        telemetry.capture_with(&NUMBERED, Properties::new().with("i", i as u64));
    }
    assert!(telemetry.flush(SOON));
    let record = recorded(&sandbox);
    assert_eq!(numbers(&record), [7, 8, 9, 10, 11]);
    assert_eq!(record, server.accepted_events()[7..]);
    assert!(telemetry.shutdown(SOON));
}
