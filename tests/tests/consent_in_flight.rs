//! Lowering consent stops what is already on its way: once `set_consent`
//! returns, no byte carrying data above the new level leaves the process,
//! whether the data waits in a request whose body is not written yet or in
//! a retry wait; counts taken under a level are discarded when consent
//! drops below it.

use std::time::{Duration, Instant};

use telemetry_runtime::sink::{HttpSink, MemorySink};
use telemetry_runtime::{DropReason, Level, Telemetry, TelemetryEvent};
use telemetry_tests::canary::Canary;
use telemetry_tests::{
    contains_bytes, fast_backoff, posthog_sink, wait_until, Behaviour, Gate, Sandbox, TestServer, SOON,
};

/// A note was taken.
#[derive(TelemetryEvent)]
struct NoteTaken {
    /// Its length in words.
    words: u32,
    /// The note itself, only at full consent.
    #[telemetry(opt_in)]
    note: String,
}

/// A plain count of work done, sent at usage.
#[derive(TelemetryEvent)]
struct WorkCounted {
    /// How many items.
    items: u32,
}

#[test]
fn a_request_whose_body_is_not_written_yet_is_checked_again() {
    let canary = Canary::new("note");
    let server = TestServer::start();
    // The server reads the head, then holds the body back (it answers
    // `100 Continue` only when the gate opens): the worker has passed every
    // check made before the request, and is connected and waiting to write.
    let gate = Gate::new();
    server.script([Behaviour::ContinueAfter(gate.clone())]);
    let sandbox = Sandbox::new();
    let sink = HttpSink::new(format!("{}/ingest", server.url()))
        .unwrap()
        .header("Expect", "100-continue")
        .unwrap()
        .gzip_above(None)
        .backoff(fast_backoff());
    let telemetry = Telemetry::new(
        sandbox.config().consent(Level::Full).sink(sink).flush_interval(Duration::from_secs(120)),
    )
    .unwrap();
    telemetry.capture(&NoteTaken { words: 4, note: canary.text() });
    let _ = telemetry.flush(Duration::ZERO);
    let head_arrived = || server.raw_bytes().iter().any(|raw| contains_bytes(raw, b"\r\n\r\n"));
    assert!(wait_until(SOON, head_arrived), "the request head reached the server");
    assert!(!server.received(canary.text().as_bytes()), "the body is not written yet");

    telemetry.set_consent(Level::Usage);
    gate.open();
    assert!(!telemetry.flush(SOON), "the opt-in event was given up on");

    assert!(!server.received(canary.text().as_bytes()), "an opt-in value left after consent was lowered");
    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped(DropReason::ConsentWithdrawn)), (0, 1), "{stats:?}");
    // The next event, allowed at usage, goes out as usual.
    telemetry.capture(&WorkCounted { items: 2 });
    assert!(telemetry.flush(SOON));
    assert_eq!(telemetry.stats().sent, 1);
}

#[test]
fn a_consent_change_wakes_a_retry_wait() {
    for (lowered_to, case) in [(Level::Off, "off"), (Level::Usage, "usage")] {
        let canary = Canary::new("note");
        let server = TestServer::start();
        // A wait the policy honours (up to 60 s): long enough to notice.
        server.script([Behaviour::StatusWithHeaders(503, vec![("Retry-After", "30")])]);
        let sandbox = Sandbox::new();
        let telemetry = Telemetry::new(
            sandbox
                .config()
                .consent(Level::Full)
                .sink(posthog_sink(&server))
                .flush_interval(Duration::from_secs(120)),
        )
        .unwrap();
        telemetry.capture(&NoteTaken { words: 9, note: canary.text() });
        let _ = telemetry.flush(Duration::ZERO);
        assert!(server.wait_for_requests(1, SOON), "{case}: the first attempt was made");
        std::thread::sleep(Duration::from_millis(50));

        let lowered = Instant::now();
        telemetry.set_consent(lowered_to);
        let dropped = wait_until(Duration::from_secs(3), || {
            telemetry.stats().dropped(DropReason::ConsentWithdrawn) == 1
        });
        assert!(
            dropped,
            "{case}: still waiting to retry after {:?}: {:?}",
            lowered.elapsed(),
            telemetry.stats()
        );
        eprintln!("{case}: dropped {:?} after consent was lowered", lowered.elapsed());
        // The worker is free again: a flush returns at once.
        let started = Instant::now();
        let _ = telemetry.flush(SOON);
        assert!(started.elapsed() < Duration::from_secs(3), "{case}: the worker is still waiting");
        assert_eq!(server.requests().len(), 1, "{case}: nothing more was sent");
    }
}

telemetry_runtime::counter! {
    /// Files synced.
    static FILES_SYNCED = "files_synced", labels: [];
}

#[test]
fn counts_taken_before_consent_went_off_are_discarded() {
    let memory = MemorySink::new();
    let sandbox = Sandbox::new();
    let telemetry =
        Telemetry::new(sandbox.config().sink(memory.clone()).flush_interval(Duration::from_secs(120)))
            .unwrap();
    for _ in 0..3 {
        telemetry.increment(&FILES_SYNCED, []);
    }
    telemetry.set_consent(Level::Off);
    telemetry.set_consent(Level::Usage);
    telemetry.capture(&WorkCounted { items: 1 });
    assert!(telemetry.flush(SOON));
    let names: Vec<String> =
        memory.events().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["work_counted"], "a count taken before consent went off was sent");
}
