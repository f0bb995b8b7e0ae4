//! The on-disk spool inside one long-running process: an outage leaves
//! batches on disk, and a later interval delivers them exactly once.

use std::time::Duration;

use telemetry_runtime::{Level, Properties, Telemetry};
use telemetry_tests::{posthog_sink, wait_until, Sandbox, TestServer};

telemetry_runtime::event! {
    /// Captured while the endpoint is down.
    static DURING_OUTAGE = "during_outage" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// Refused by the endpoint for good.
    static REFUSED = "refused_for_good" {}
}

telemetry_runtime::event! {
    /// One of many events that fill the spool.
    static FILLER = "filler" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::counter! {
    /// Counted while a request hangs at exit.
    static COUNTED_AT_EXIT = "counted_at_exit";
}

/// A program whose requests to `server` may hang for 30 s, far past its
/// shutdown deadline, with the spool on or off; batches are sent on flush.
fn hanging_at_exit(sandbox: &Sandbox, server: &TestServer, spool: bool) -> telemetry_runtime::Config {
    let sink = posthog_sink(server).http(|h| telemetry_runtime::sink::HttpOptions {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(30),
        ..h
    });
    sandbox
        .config()
        .sink(sink)
        .delivery(|d| telemetry_runtime::Delivery { spool, ..telemetry_tests::on_flush(d) })
}

fn spool_files(sandbox: &Sandbox) -> usize {
    std::fs::read_dir(sandbox.cache_dir().join("telemetry_spool")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn an_outage_is_bridged_by_the_spool_within_one_run() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.down();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server)).delivery(|d| {
        telemetry_runtime::Delivery { spool: true, flush_interval: Duration::from_millis(200), ..d }
    }))
    .unwrap();
    for i in 0..5u32 {
        telemetry.capture_with(&DURING_OUTAGE, Properties::new().with("i", i));
    }
    assert!(!telemetry.flush(Duration::from_secs(5)), "events were given up on");
    assert_eq!(spool_files(&sandbox), 1, "the undeliverable batch stays on disk");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = sandbox.cache_dir().join("telemetry_spool");
        for entry in std::fs::read_dir(dir).unwrap() {
            let mode = entry.unwrap().metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    server.up();
    assert!(wait_until(Duration::from_secs(10), || server.accepted_events().len() >= 5));
    assert!(wait_until(Duration::from_secs(5), || spool_files(&sandbox) == 0));
    let uuids = server.accepted_uuids();
    let unique: std::collections::BTreeSet<_> = uuids.iter().collect();
    assert_eq!((uuids.len(), unique.len()), (5, 5), "each event exactly once");
    assert!(telemetry.shutdown(Duration::from_secs(2)));
}

#[test]
fn rejected_batches_are_not_kept() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.set_default(telemetry_tests::Behaviour::Status(400));
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(posthog_sink(&server))
            .delivery(|d| telemetry_runtime::Delivery { spool: true, ..d }),
    )
    .unwrap();
    telemetry.capture_with(&REFUSED, Properties::new());
    assert!(!telemetry.flush(Duration::from_secs(5)), "events were given up on");
    assert_eq!(spool_files(&sandbox), 0, "a batch the server refuses for good is not retried later");
}

#[test]
fn the_spool_is_bounded() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.down();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(posthog_sink(&server))
            .delivery(|d| telemetry_runtime::Delivery {
                spool: true,
                spool_max_bytes: 4_000,
                spool_max_age: Duration::from_secs(3600),
                ..d
            })
            .delivery(|d| telemetry_runtime::Delivery {
                batch_size: 5,
                max_batch_size: 5,
                flush_interval: Duration::from_secs(60),
                ..d
            }),
    )
    .unwrap();
    for i in 0..100u32 {
        telemetry.capture_with(&FILLER, Properties::new().with("i", i));
    }
    assert!(!telemetry.flush(Duration::from_secs(30)), "events were given up on");
    let dir = sandbox.cache_dir().join("telemetry_spool");
    let total: u64 = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(total <= 4_000, "{total} bytes spooled");
    assert!(spool_files(&sandbox) >= 1);
}

#[test]
fn consent_off_at_start_deletes_the_spool() {
    let sandbox = Sandbox::new();
    let dir = sandbox.cache_dir().join("telemetry_spool");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("00000000000000000001-x.batch"), "v1\tusage\t0\t1\t{}\n").unwrap();
    let telemetry = Telemetry::new(
        sandbox.config().consent(Level::Off).delivery(|d| telemetry_runtime::Delivery { spool: true, ..d }),
    )
    .unwrap();
    assert!(!dir.exists());
    drop(telemetry);
}

/// "The spool keeps what could not be sent before exit for the next run":
/// a run whose request hangs at exit keeps, within its shutdown deadline,
/// both the batch in flight (spooled before it was sent) and what was
/// queued behind it; the next run delivers all of them, once. (Before,
/// only the batch in flight was kept.)
#[test]
fn what_a_shutdown_deadline_cuts_off_is_kept_for_the_next_run() {
    use telemetry_tests::Behaviour;
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.set_default(Behaviour::Hang);
    let config = || hanging_at_exit(&sandbox, &server, true);
    {
        let telemetry = Telemetry::new(config()).unwrap();
        telemetry.capture_with(&DURING_OUTAGE, Properties::new().with("i", 0u32));
        let _ = telemetry.flush(Duration::ZERO);
        assert!(server.wait_for_requests(1, Duration::from_secs(5)), "the first request hangs");
        for i in 1..5u32 {
            telemetry.capture_with(&DURING_OUTAGE, Properties::new().with("i", i));
        }
        let started = std::time::Instant::now();
        assert!(!telemetry.shutdown(Duration::from_millis(400)), "the deadline cut the run off");
        // Far less than the request's own 30 s.
        assert!(started.elapsed() < Duration::from_secs(3), "the deadline was kept: {:?}", started.elapsed());
        assert_eq!(telemetry.stats().dropped(telemetry_runtime::DropReason::Shutdown), 5);
    }
    // The hung request is cut; the server answers from now on.
    server.down();
    server.set_default(Behaviour::Status(200));
    server.up();
    let telemetry = Telemetry::new(config()).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || server.accepted_events().len() >= 5),
        "the next run sends them"
    );
    assert!(telemetry.flush(Duration::from_secs(5)));
    let mut numbers: Vec<u64> =
        server.accepted_events().iter().map(|e| e["properties"]["i"].as_u64().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, [0, 1, 2, 3, 4], "each event once");
    assert_eq!(spool_files(&sandbox), 0);
}

/// Counts are kept like events. A run whose request hangs at exit has counts
/// the worker had not drained yet: with the spool on, the next run sends
/// them, once; without it, they are counted as dropped for the deadline,
/// like the events it cut off, instead of vanishing uncounted. (Before,
/// they were neither sent nor counted.)
#[test]
fn counts_a_shutdown_deadline_cuts_off_are_kept_for_the_next_run_or_counted() {
    use telemetry_runtime::DropReason;
    use telemetry_tests::Behaviour;
    for spool in [true, false] {
        let sandbox = Sandbox::new();
        let server = TestServer::start();
        server.set_default(Behaviour::Hang);
        let config = || hanging_at_exit(&sandbox, &server, spool);
        {
            let telemetry = Telemetry::new(config()).unwrap();
            telemetry.capture_with(&DURING_OUTAGE, Properties::new().with("i", 0u32));
            let _ = telemetry.flush(Duration::ZERO);
            assert!(server.wait_for_requests(1, Duration::from_secs(5)), "the first request hangs");
            telemetry.add(&COUNTED_AT_EXIT, (), 5);
            assert!(!telemetry.shutdown(Duration::from_millis(400)), "the deadline cut the run off");
            let stats = telemetry.stats();
            assert_eq!(
                (stats.captured, stats.dropped(DropReason::Shutdown)),
                (2, 2),
                "spool {spool}: {stats:?}"
            );
        }
        if !spool {
            continue;
        }
        server.down();
        server.set_default(Behaviour::Status(200));
        server.up();
        let telemetry = Telemetry::new(config()).unwrap();
        assert!(
            wait_until(Duration::from_secs(10), || server.accepted_events().len() >= 2),
            "the next run sends them"
        );
        assert!(telemetry.flush(Duration::from_secs(5)));
        let mut sent: Vec<String> = server
            .accepted_events()
            .iter()
            .map(|e| format!("{} {}", e["event"], e["properties"]["count"]))
            .collect();
        sent.sort();
        assert_eq!(sent, ["\"counted_at_exit\" 5", "\"during_outage\" null"], "each once");
        assert_eq!(spool_files(&sandbox), 0);
    }
}

/// The same promise with threads counting while the shutdown runs: every
/// count added before `shutdown` was called reaches the next run, and no
/// count reaches it twice (a count racing the shutdown may be refused, as
/// a capture after it is).
#[test]
fn counts_racing_a_cut_off_shutdown_are_kept_once() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
    use telemetry_runtime::DropReason;
    use telemetry_tests::Behaviour;
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.set_default(Behaviour::Hang);
    let (before, total) = (AtomicU64::new(0), AtomicU64::new(0));
    let (shutting, stop) = (AtomicBool::new(false), AtomicBool::new(false));
    {
        let telemetry = Telemetry::new(hanging_at_exit(&sandbox, &server, true)).unwrap();
        telemetry.capture_with(&DURING_OUTAGE, Properties::new().with("i", 0u32));
        let _ = telemetry.flush(Duration::ZERO);
        assert!(server.wait_for_requests(1, Duration::from_secs(5)), "the first request hangs");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    while !stop.load(SeqCst) {
                        telemetry.add(&COUNTED_AT_EXIT, (), 1);
                        total.fetch_add(1, SeqCst);
                        // Returned before the shutdown was called.
                        if !shutting.load(SeqCst) {
                            before.fetch_add(1, SeqCst);
                        }
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(50));
            shutting.store(true, SeqCst);
            assert!(!telemetry.shutdown(Duration::from_millis(400)), "the deadline cut the run off");
            stop.store(true, SeqCst);
        });
        // The counts became events (one per drain), each counted.
        let stats = telemetry.stats();
        assert!(stats.captured >= 2, "the counts were not made events: {stats:?}");
        assert_eq!(stats.captured, stats.dropped(DropReason::Shutdown), "nothing was sent: {stats:?}");
    }
    // New requests are answered; the first run's worker stays held in its
    // request (until the server goes), so only the spool can bring its
    // counts to the next run.
    server.set_default(Behaviour::Status(200));
    let telemetry = Telemetry::new(hanging_at_exit(&sandbox, &server, true)).unwrap();
    let counted = || server.accepted_events().iter().any(|e| e["event"] == "counted_at_exit");
    assert!(wait_until(Duration::from_secs(10), counted), "the next run sends the counts");
    assert!(telemetry.flush(Duration::from_secs(5)));
    let delivered: u64 = server
        .accepted_events()
        .iter()
        .filter(|e| e["event"] == "counted_at_exit")
        .map(|e| e["properties"]["count"].as_u64().unwrap())
        .sum();
    let (before, total) = (before.load(SeqCst), total.load(SeqCst));
    assert!(before > 0, "the threads counted before the shutdown");
    assert!((before..=total).contains(&delivered), "{before} <= {delivered} <= {total}");
    // Left: the batch in flight, which the first run's worker, still held
    // in its request, claimed.
    assert_eq!(spool_files(&sandbox), 1);
}
