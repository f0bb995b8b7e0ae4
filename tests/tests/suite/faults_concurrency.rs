//! Concurrency: sixteen threads capture while consent is toggled, flush is
//! called and the client shuts down. No panic, no deadlock (every wait has a
//! deadline), and every event the client accepted is accounted for: sent or
//! dropped with a reason.
//!
//! The balance, from the docs of `Stats`: `captured` counts events accepted
//! into the queue; `QueueFull` and `Invalid` count events refused instead of
//! being captured; every other reason counts captured events given up on.
//! `Undeclared` counts properties left out of events that are still sent.
//! With one sink, once the worker has exited,
//! `captured == sent + (dropped_total - QueueFull - Invalid - Undeclared)`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{DropReason, Level, Properties, Stats, Telemetry};
use telemetry_tests::{child, posthog_sink, Sandbox, TestServer, SOON};

telemetry_runtime::event! {
    /// One of many events captured from sixteen threads.
    static CONCURRENT = "concurrent" {
        /// Which thread captured it.
        thread: u64,
        /// Its number in that thread.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// Captured after shutdown: never sent.
    static AFTER_EVERYTHING = "after_everything" {}
}

telemetry_runtime::event! {
    /// One of many events captured into a tiny queue.
    static TINY_QUEUE = "tiny_queue" {
        /// Which thread captured it.
        thread: u64,
        /// Its number in that thread.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// The first event, which starts the worker.
    static STARTS_THE_WORKER = "starts_the_worker" {}
}

/// Captured events neither sent nor counted as dropped. `Undeclared` counts
/// properties left out of events that were still sent, not events.
fn unaccounted(stats: &Stats) -> i128 {
    let captured_then_dropped =
        stats.dropped_total() - stats.dropped(DropReason::QueueFull) - stats.dropped(DropReason::Invalid);
    i128::from(stats.captured) - i128::from(stats.sent) - i128::from(captured_then_dropped)
}

/// Joins `handles`, failing the test if they are not all done by `deadline`.
fn join_by(deadline: Instant, handles: Vec<thread::JoinHandle<()>>, what: &str) {
    let (tx, rx) = mpsc::channel();
    let count = handles.len();
    for handle in handles {
        let tx = tx.clone();
        thread::spawn(move || {
            let _ = tx.send(handle.join().is_ok());
        });
    }
    for _ in 0..count {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(true) => {}
            Ok(false) => panic!("a {what} thread panicked"),
            Err(_) => panic!("a {what} thread is still running at the deadline: deadlock?"),
        }
    }
}

#[test]
fn sixteen_threads_capture_while_consent_toggles_flush_runs_and_the_client_shuts_down() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server)).delivery(|d| {
        telemetry_runtime::Delivery {
            queue_capacity: 2_000,
            batch_size: 50,
            flush_interval: Duration::from_millis(20),
            ..d
        }
    }))
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(30);

    let capturers: Vec<_> = (0..16u32)
        .map(|t| {
            let (telemetry, stop, calls) = (telemetry.clone(), Arc::clone(&stop), Arc::clone(&calls));
            thread::spawn(move || {
                let mut i = 0u32;
                // Keep capturing through the shutdown and a little after.
                while !stop.load(SeqCst) {
                    telemetry.capture_with(&CONCURRENT, Properties::new().with("thread", t).with("i", i));
                    i += 1;
                    calls.fetch_add(1, SeqCst);
                    if i.is_multiple_of(64) {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let toggler = {
        let (telemetry, stop) = (telemetry.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let levels = [Level::Off, Level::Usage, Level::Full, Level::Usage];
            let mut n = 0;
            while !stop.load(SeqCst) {
                telemetry.set_consent(levels[n % levels.len()]);
                n += 1;
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let flusher = {
        let (telemetry, stop) = (telemetry.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(SeqCst) {
                let started = Instant::now();
                let _ = telemetry.flush(Duration::from_millis(50));
                assert!(started.elapsed() < Duration::from_secs(5), "flush(50ms) overran");
            }
        })
    };

    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let finished = telemetry.shutdown(SOON);
    let shutdown_took = started.elapsed();
    thread::sleep(Duration::from_millis(20));
    stop.store(true, SeqCst);
    join_by(deadline, capturers, "capturing");
    join_by(deadline, vec![toggler, flusher], "consent or flush");
    assert!(finished, "the worker exited within the shutdown deadline");

    let stats = telemetry.stats();
    eprintln!("{} capture calls, shutdown took {shutdown_took:?}: {stats:?}", calls.load(SeqCst));
    assert!(stats.captured > 0 && stats.sent > 0, "the test exercised delivery: {stats:?}");
    assert_eq!(unaccounted(&stats), 0, "every captured event is sent or counted: {stats:?}");
    let accepted = server.accepted_uuids();
    assert_eq!(accepted.len() as u64, stats.sent, "the server got what was counted sent");
    assert_eq!(accepted.iter().collect::<HashSet<_>>().len(), accepted.len(), "no uuid twice");
    // Shut down for good: the toggling thread could not switch it back on.
    assert!(!telemetry.is_enabled());
    let after = telemetry.stats();
    telemetry.capture_with(&AFTER_EVERYTHING, Properties::new());
    assert_eq!(telemetry.stats(), after);
}

#[test]
fn sixteen_threads_capture_into_a_tiny_queue_and_the_books_balance() {
    // Many more captures than the queue holds, with a fast sink.
    let memory = MemorySink::new();
    let sandbox = Sandbox::new();
    let telemetry =
        Telemetry::new(sandbox.config().sink(memory.clone()).delivery(|d| telemetry_runtime::Delivery {
            queue_capacity: 64,
            batch_size: 16,
            flush_interval: Duration::from_millis(5),
            ..d
        }))
        .unwrap();
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16u32)
        .map(|t| {
            let (telemetry, barrier) = (telemetry.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                for i in 0..5_000u32 {
                    telemetry.capture_with(&TINY_QUEUE, Properties::new().with("thread", t).with("i", i));
                    if i.is_multiple_of(1000) {
                        let _ = telemetry.flush(Duration::from_millis(10));
                    }
                }
            })
        })
        .collect();
    join_by(Instant::now() + Duration::from_secs(30), handles, "capturing");
    assert!(telemetry.shutdown(SOON));
    let stats = telemetry.stats();
    assert_eq!(stats.captured + stats.dropped(DropReason::QueueFull), 80_000, "{stats:?}");
    assert_eq!(unaccounted(&stats), 0, "{stats:?}");
    assert_eq!(memory.events().len() as u64, stats.sent);
}

telemetry_runtime::event! {
    /// An event whose capture takes a while: see [`SlowLogger`].
    static SLOW_TO_WRITE = "slow_to_write" {
        /// Always true.
        written: bool,
    }
}

/// The host's logger, slow on one message. Events cannot run code of their
/// own while they are captured (every event is declared or derived), but
/// the host's logger can: a property the declaration does not name is
/// logged between the level check and the queue push. A logger that stalls
/// there for 200 ms holds a capture in the middle, as a slow host would.
/// Its tests run in processes of their own: the logger is the process's,
/// and the library warns about a property once per process.
struct SlowLogger;

/// The messages the logger stalls on, and whom it tells that it stalls.
static STALLS: Mutex<Vec<(&'static str, mpsc::Sender<()>)>> = Mutex::new(Vec::new());

impl log::Log for SlowLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let message = record.args().to_string();
        let stalls = STALLS.lock().unwrap_or_else(|e| e.into_inner());
        let entered = stalls.iter().find(|(marker, _)| message.contains(marker)).map(|(_, tx)| tx.clone());
        drop(stalls);
        if let Some(entered) = entered {
            let _ = entered.send(());
            thread::sleep(Duration::from_millis(200));
        }
    }

    fn flush(&self) {}
}

/// Properties for [`SLOW_TO_WRITE`] whose capture stalls in the logger (the
/// undeclared property `marker`, left out of the event, is logged), and a
/// receiver told when it does.
fn stalling_properties(marker: &'static str) -> (Properties, mpsc::Receiver<()>) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&SlowLogger).expect("no other logger in this process");
        log::set_max_level(log::LevelFilter::Warn);
    });
    let (entered, entered_rx) = mpsc::channel();
    STALLS.lock().unwrap_or_else(|e| e.into_inner()).push((marker, entered));
    (Properties::new().with("written", true).with(marker, 1u8), entered_rx)
}

#[test]
fn a_capture_that_races_the_very_first_shutdown_is_sent_or_counted() {
    child::isolated(
        "faults_concurrency::a_capture_that_races_the_very_first_shutdown_is_sent_or_counted",
        || {
            let memory = MemorySink::new();
            let sandbox = Sandbox::new();
            let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
            let (properties, entered_rx) = stalling_properties("stalls_before_the_first_shutdown");
            let capturer = {
                let telemetry = telemetry.clone();
                thread::spawn(move || telemetry.capture_with(&SLOW_TO_WRITE, properties))
            };
            // The capture has passed the level check and is writing its properties:
            // no worker has started yet, and now the host shuts down.
            entered_rx.recv_timeout(SOON).expect("the capture started");
            assert!(telemetry.shutdown(Duration::from_millis(100)));
            join_by(Instant::now() + SOON, vec![capturer], "capturing");
            let _ = telemetry.flush(Duration::from_millis(100));

            let stats = telemetry.stats();
            assert_eq!(
                unaccounted(&stats),
                0,
                "the event was counted as captured but is neither sent nor dropped: {stats:?}"
            );
            assert_eq!(stats.undeclared, 1, "the undeclared property: {stats:?}");
        },
    );
}

#[test]
fn a_capture_that_races_a_later_shutdown_is_counted() {
    child::isolated("faults_concurrency::a_capture_that_races_a_later_shutdown_is_counted", || {
        // The same race once the worker runs: the event is refused by the
        // stopped queue, counted as captured and dropped for Shutdown.
        let memory = MemorySink::new();
        let sandbox = Sandbox::new();
        let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
        telemetry.capture_with(&STARTS_THE_WORKER, Properties::new());
        assert!(telemetry.flush(SOON));
        let (properties, entered_rx) = stalling_properties("stalls_before_a_later_shutdown");
        let capturer = {
            let telemetry = telemetry.clone();
            thread::spawn(move || telemetry.capture_with(&SLOW_TO_WRITE, properties))
        };
        entered_rx.recv_timeout(SOON).expect("the capture started");
        assert!(telemetry.shutdown(SOON));
        join_by(Instant::now() + SOON, vec![capturer], "capturing");
        let stats = telemetry.stats();
        assert_eq!(unaccounted(&stats), 0, "{stats:?}");
        assert_eq!(stats.captured, 2);
        assert_eq!(stats.dropped(DropReason::Shutdown), 1, "the late event is counted: {stats:?}");
        assert_eq!(stats.undeclared, 1, "the undeclared property: {stats:?}");
    });
}
