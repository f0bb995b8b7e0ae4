//! Panic isolation for sinks and the worker: a custom sink that panics, one
//! that never returns, and a panic on the worker thread outside a sink's
//! `send`. None of them reaches the host; the runtime goes on, or turns
//! itself off and says so.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use telemetry_runtime::sink::{Batch, SendContext, Sink, SinkError};
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{DropReason, Properties, Telemetry};
use telemetry_tests::{logs, wait_until, Sandbox, SOON};

telemetry_runtime::event! {
    /// Delivered to a sink that always panics, and to another.
    static INTO_A_PANICKING_SINK = "into_a_panicking_sink" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// Delivered to a sink that never returns.
    static INTO_THE_VOID = "into_the_void" {}
}

telemetry_runtime::event! {
    /// Captured while a sink never returns.
    static STILL_CAPTURING = "still_capturing" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// Delivered by a worker that then panics.
    static MEETS_THE_BUG = "meets_the_bug" {}
}

telemetry_runtime::event! {
    /// Captured after the worker panicked.
    static AFTER_THE_BUG = "after_the_bug" {}
}

/// Panics on every call, with a payload that is not even text.
struct AlwaysPanics;

impl Sink for AlwaysPanics {
    fn name(&self) -> &str {
        "always-panics"
    }

    fn send(&mut self, _: &Batch, _: &SendContext<'_>) -> Result<(), SinkError> {
        std::panic::panic_any(42u64)
    }
}

#[test]
fn a_sink_that_always_panics_never_reaches_the_host_and_every_event_is_counted() {
    logs::install();
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(AlwaysPanics)
            .sink(memory.clone())
            .delivery(|d| telemetry_runtime::Delivery { batch_size: 5, ..telemetry_tests::on_flush(d) }),
    )
    .unwrap();
    for i in 0..23u32 {
        telemetry.capture_with(&INTO_A_PANICKING_SINK, Properties::new().with("i", i));
    }
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    // Two sinks: counters are per (event, sink).
    assert_eq!(stats.dropped(DropReason::SinkError), 23, "{stats:?}");
    assert_eq!(stats.sent, 23, "the other sink got every event: {stats:?}");
    assert_eq!(memory.events().len(), 23);
    assert!(telemetry.is_enabled());
    assert!(
        logs::wait_for(SOON, |l| l.level == log::Level::Error
            && l.message.contains("always-panics panicked"))
        .is_some(),
        "the panic is logged"
    );
    assert!(telemetry.shutdown(SOON), "the worker is alive and exits when told");
}

/// Never returns from `send` and ignores `SendContext::wait`.
struct NeverReturns;

impl Sink for NeverReturns {
    fn name(&self) -> &str {
        "never-returns"
    }

    fn send(&mut self, _: &Batch, _: &SendContext<'_>) -> Result<(), SinkError> {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

#[test]
fn a_sink_that_never_returns_cannot_hold_up_flush_or_shutdown() {
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(NeverReturns)).unwrap();
    telemetry.capture_with(&INTO_THE_VOID, Properties::new());
    let started = Instant::now();
    assert!(!telemetry.flush(Duration::from_millis(300)));
    let flush_took = started.elapsed();
    for i in 0..100u32 {
        telemetry.capture_with(&STILL_CAPTURING, Properties::new().with("i", i));
    }
    let started = Instant::now();
    assert!(!telemetry.shutdown(Duration::from_millis(300)));
    let shutdown_took = started.elapsed();
    eprintln!("stuck custom sink: flush(300ms) {flush_took:?}, shutdown(300ms) {shutdown_took:?}");
    assert!(flush_took < Duration::from_secs(3) && shutdown_took < Duration::from_secs(3));
    assert_eq!(telemetry.stats().captured, 101);
}

/// A sink with a bug outside `send`: its `is_local` panics after the first
/// call (the one made when the client is built), and the worker asks again
/// after each delivery, outside the guard around `send`.
struct NameBomb {
    names: Arc<AtomicUsize>,
}

impl Sink for NameBomb {
    fn name(&self) -> &str {
        "local-bomb"
    }

    fn send(&mut self, _: &Batch, _: &SendContext<'_>) -> Result<(), SinkError> {
        Ok(())
    }

    fn is_local(&self) -> bool {
        if self.names.fetch_add(1, SeqCst) > 0 {
            panic!("a sink bug outside send (expected in this test)");
        }
        false
    }
}

#[test]
fn a_panic_on_the_worker_thread_degrades_to_off_or_restarts_the_worker_with_a_log_message() {
    logs::install();
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let names = Arc::new(AtomicUsize::new(0));
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(NameBomb { names: Arc::clone(&names) })
            .sink(memory.clone())
            .delivery(telemetry_tests::on_flush),
    )
    .unwrap();
    telemetry.capture_with(&MEETS_THE_BUG, Properties::new());
    // The host is unaffected: we are still here, whatever flush says.
    let _ = telemetry.flush(Duration::from_secs(1));
    assert!(names.load(SeqCst) >= 2, "the worker hit the panicking is_local()");

    // Then either the runtime is off, or a worker delivers later events.
    let recovered = wait_until(Duration::from_secs(2), || {
        if !telemetry.is_enabled() {
            return true;
        }
        telemetry.capture_with(&AFTER_THE_BUG, Properties::new());
        let _ = telemetry.flush(Duration::from_millis(100));
        memory.events().iter().any(|e| e["event"] == "after_the_bug")
    });
    assert!(recovered, "the worker died and the client stayed on: {:?}", telemetry.stats());
    assert!(
        logs::wait_for(Duration::from_secs(1), |l| l.level == log::Level::Error
            && l.message.contains("local-bomb")
            && l.message.to_lowercase().contains("panic"))
        .is_some(),
        "the runtime says what happened"
    );
    // A dead worker must not make every flush wait out its deadline.
    let started = Instant::now();
    let _ = telemetry.flush(Duration::from_secs(2));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "flush waited {:?} for a dead worker",
        started.elapsed()
    );
    // Two sinks: each captured event is sent or dropped once per sink.
    let stats = telemetry.stats();
    let after_capture =
        stats.dropped_total() - stats.dropped(DropReason::QueueFull) - stats.dropped(DropReason::Invalid);
    assert_eq!(2 * stats.captured, stats.sent + after_capture, "{stats:?}");
}
