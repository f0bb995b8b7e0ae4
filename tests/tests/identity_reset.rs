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
        Telemetry::new(sandbox.config().sink(posthog_sink(&server)).flush_interval(Duration::from_secs(120)))
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
    let telemetry = Telemetry::new(
        sandbox.config().sink(posthog_sink(&server)).spool(true).flush_interval(Duration::from_millis(200)),
    )
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
        Telemetry::new(sandbox.config().sink(posthog_sink(&server)).flush_interval(Duration::from_secs(120)))
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
