//! After `reset_identity` the old install id never leaves the process again:
//! not in the user-readable record of recent deliveries, not in spooled
//! batches sent later, not in a batch waiting to be retried.

use std::time::Duration;

use telemetry_runtime::cli::Status;
use telemetry_runtime::{DropReason, Telemetry, TelemetryEvent};
use telemetry_tests::{posthog_sink, wait_until, Behaviour, Sandbox, TestServer, SOON};

/// A page of results was shown.
#[derive(TelemetryEvent)]
struct PageShown {
    /// Results on the page.
    results: u32,
}

fn recent_text(telemetry: &Telemetry) -> String {
    std::fs::read_to_string(Status::of(telemetry).recent_deliveries_path.unwrap()).unwrap_or_default()
}

fn ids(server: &TestServer) -> Vec<String> {
    server.accepted_events().iter().map(|e| e["distinct_id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_record_of_recent_deliveries_forgets_the_old_id() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry =
        Telemetry::new(sandbox.config().sink(posthog_sink(&server)).delivery(telemetry_tests::on_flush))
            .unwrap();
    telemetry.capture(&PageShown { results: 10 });
    assert!(telemetry.flush(SOON));
    let old = ids(&server)[0].clone();
    assert!(recent_text(&telemetry).contains(&old), "the record holds the delivery");

    telemetry.reset_identity().unwrap();
    assert!(
        !recent_text(&telemetry).contains(&old),
        "the old id is still in the record right after the reset"
    );

    telemetry.capture(&PageShown { results: 20 });
    assert!(telemetry.flush(SOON));
    let new = ids(&server)[1].clone();
    assert_ne!(new, old);
    let record = recent_text(&telemetry);
    assert!(record.contains(&new), "the new delivery is recorded: {record}");
    assert!(!record.contains(&old), "the old id came back into the record: {record}");
}

#[test]
fn spooled_batches_with_the_old_id_are_never_sent() {
    let server = TestServer::start();
    server.down();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server)).delivery(|d| {
        telemetry_runtime::Delivery { spool: true, flush_interval: Duration::from_millis(200), ..d }
    }))
    .unwrap();
    telemetry.capture(&PageShown { results: 1 });
    assert!(!telemetry.flush(SOON), "the endpoint is down");
    let spool = sandbox.cache_dir().join("telemetry_spool");
    let spooled: String = std::fs::read_dir(&spool)
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    let old = std::fs::read_to_string(sandbox.cache_dir().join("telemetry_user_id")).unwrap();
    assert!(spooled.contains(&old), "the batch is spooled with the old id");

    telemetry.reset_identity().unwrap();
    telemetry.capture(&PageShown { results: 2 });
    server.up();
    assert!(wait_until(SOON, || !server.accepted_events().is_empty()), "the new event is delivered");
    // Give the interval that replays the spool time to run.
    std::thread::sleep(Duration::from_millis(600));
    assert!(telemetry.flush(SOON));
    assert!(!server.received(old.as_bytes()), "the old id left the process after the reset");
    assert_eq!(ids(&server).len(), 1, "{:?}", ids(&server));
}

#[test]
fn a_batch_waiting_to_be_retried_is_not_sent_with_the_old_id() {
    let server = TestServer::start();
    server.script([Behaviour::StatusWithHeaders(503, vec![("Retry-After", "1")])]);
    let sandbox = Sandbox::new();
    let telemetry =
        Telemetry::new(sandbox.config().sink(posthog_sink(&server)).delivery(telemetry_tests::on_flush))
            .unwrap();
    telemetry.capture(&PageShown { results: 3 });
    let _ = telemetry.flush(Duration::ZERO);
    assert!(server.wait_for_requests(1, SOON));
    let old = server.requests()[0].events()[0]["distinct_id"].as_str().unwrap().to_owned();

    telemetry.reset_identity().unwrap();
    assert!(!telemetry.flush(SOON), "the waiting batch was given up on");
    assert_eq!(server.requests().len(), 1, "the batch with the old id was sent again");
    assert_eq!(telemetry.stats().dropped(DropReason::IdentityReset), 1);
    assert!(!server.accepted_events().iter().any(|e| e["distinct_id"] == old.as_str()));
}

/// A search was run; its query is sent only as a keyed hash.
#[derive(TelemetryEvent)]
struct Searched {
    /// The query, hashed with the installation's key.
    #[telemetry(redact = "hash")]
    query: String,
}

/// "Once `reset_identity()` returns, the old id and the old hash key never
/// leave the process again, whatever the worker was doing": a thread
/// captures without pause while the worker delivers every millisecond, and
/// the id is reset fifty times. Whatever a sink was handed after a reset
/// returned carries neither an id nor a keyed hash of before it. (Before,
/// a round that read the identity while a reset ran took the old id back
/// from the file not yet deleted, under the new generation, and every later
/// event of the process carried it.)
#[test]
fn nothing_handed_to_a_sink_after_a_reset_carries_an_old_id_or_key() {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use telemetry_runtime::testing::MemorySink;

    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let config = sandbox.config().sink(memory.clone()).delivery(|d| telemetry_runtime::Delivery {
        flush_interval: Duration::from_millis(1),
        batch_size: 8,
        ..d
    });
    let telemetry = Telemetry::new(config).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let capturing = {
        let (telemetry, stop) = (telemetry.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                telemetry.capture(&Searched { query: "the same query".into() });
                std::thread::sleep(Duration::from_micros(50));
            }
        })
    };
    let sent = |event: &serde_json::Value| {
        (
            event["distinct_id"].as_str().unwrap().to_owned(),
            event["properties"]["query"].as_str().unwrap().to_owned(),
        )
    };
    let (mut old_ids, mut old_hashes) = (HashSet::new(), HashSet::new());
    let mut checked = 0;
    for _ in 0..50 {
        assert!(wait_until(SOON, || !memory.events().is_empty()), "events are delivered between resets");
        // Everything handed over so far may carry what is about to be reset.
        for event in memory.events() {
            let (id, hash) = sent(&event);
            old_ids.insert(id);
            old_hashes.insert(hash);
        }
        memory.clear();
        telemetry.reset_identity().unwrap();
        // What was handed over before the reset returned is in `memory`
        // now (it may carry the id just reset); from here on, only new
        // ids and keys.
        let before = memory.events().len();
        std::thread::sleep(Duration::from_millis(2));
        let after = memory.events();
        checked += after.len() - before;
        for event in &after[before..] {
            let (id, hash) = sent(event);
            assert!(
                !old_ids.contains(&id),
                "an id reset earlier was handed to a sink after the reset returned"
            );
            assert!(
                !old_hashes.contains(&hash),
                "a hash with a reset key was handed to a sink after the reset"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    capturing.join().unwrap();
    assert!(old_ids.len() > 40, "the id changed with the resets: {}", old_ids.len());
    assert!(checked > 0, "events handed over after resets were checked");
}

/// Local-only mode keeps events in a file on this machine; a reset deletes
/// it (and its rotated older file), since its lines carry the old id. The
/// next event starts a new file with the new id.
#[test]
fn a_reset_deletes_the_local_events_file_with_the_old_id() {
    let sandbox = Sandbox::new();
    let telemetry =
        Telemetry::new(sandbox.config().delivery(|d| telemetry_runtime::Delivery { local_only: true, ..d }))
            .unwrap();
    telemetry.capture(&PageShown { results: 1 });
    assert!(telemetry.flush(SOON));
    let file = Status::of(&telemetry).local_events_path.unwrap();
    let old = std::fs::read_to_string(&file).unwrap();
    let old_id = serde_json::from_str::<serde_json::Value>(old.lines().next().unwrap()).unwrap()
        ["distinct_id"]
        .as_str()
        .unwrap()
        .to_owned();
    telemetry.reset_identity().unwrap();
    assert!(!file.exists(), "the file with the old id is deleted");
    telemetry.capture(&PageShown { results: 2 });
    assert!(telemetry.flush(SOON));
    let new = std::fs::read_to_string(&file).unwrap();
    assert_eq!(new.lines().count(), 1);
    assert!(!new.contains(&old_id), "the old id came back");
}
