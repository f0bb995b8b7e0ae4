//! Panic isolation for `#[requires_telemetry]` bodies, through the global
//! client. A process of its own (the global client can be set once per
//! process) and a single test.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{requires_telemetry, Properties};
use telemetry_tests::{child, logs, Sandbox, SOON};

telemetry_runtime::event! {
    /// Captured by a gated body just before it panics.
    static CAPTURED_BEFORE_THE_PANIC = "captured_before_the_panic" {}
}

telemetry_runtime::event! {
    /// Captured once the gated bodies have panicked.
    static AFTER_THE_PANICS = "after_the_panics" {}
}

static RAN: AtomicUsize = AtomicUsize::new(0);

#[requires_telemetry]
fn gated_unit_panics() {
    RAN.fetch_add(1, SeqCst);
    panic!("a bug in gated telemetry code (expected in this test)");
}

#[requires_telemetry]
fn gated_option_panics(n: u32) -> Option<u32> {
    RAN.fetch_add(1, SeqCst);
    if n > 0 {
        std::panic::panic_any(n);
    }
    Some(n)
}

#[requires_telemetry]
fn gated_captures_then_panics() {
    telemetry_runtime::capture_with(&CAPTURED_BEFORE_THE_PANIC, Properties::new());
    panic!("{}", String::from("formatted panic message"));
}

#[requires_telemetry]
async fn gated_async_panics() -> Option<u8> {
    RAN.fetch_add(1, SeqCst);
    panic!("a bug in an async gated body");
}

#[requires_telemetry(instrument)]
fn instrumented_host_function_panics() -> Result<u8, std::io::Error> {
    panic!("the host's own function panics");
}

/// Polls a future once with a no-op waker (these never wait).
fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    let mut future = pin!(future);
    future.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn panics_in_gated_bodies_never_reach_the_host() {
    child::isolated("faults::panics_in_gated_bodies_never_reach_the_host", || {
        logs::install();
        // Before init the bodies do not run at all.
        gated_unit_panics();
        assert_eq!(gated_option_panics(7), None);
        assert_eq!(RAN.load(SeqCst), 0);

        let sandbox = Sandbox::new();
        let memory = MemorySink::new();
        let guard = telemetry_runtime::init(sandbox.config().sink(memory.clone())).unwrap();

        // Each panic is caught at the function boundary: the call returns the
        // "did not run" value and the host goes on.
        gated_unit_panics();
        assert_eq!(gated_option_panics(7), None);
        assert_eq!(gated_option_panics(0), Some(0), "a body that does not panic returns its value");
        gated_captures_then_panics();
        assert_eq!(poll_once(gated_async_panics()), Poll::Ready(None));
        assert_eq!(RAN.load(SeqCst), 4);

        for text in
            ["a bug in gated telemetry code", "formatted panic message", "a bug in an async gated body"]
        {
            assert!(
                logs::wait_for(SOON, |l| l.level == log::Level::Error && l.message.contains(text)).is_some(),
                "the panic {text:?} is logged"
            );
        }
        assert!(logs::wait_for(SOON, |l| l.message.contains("gated_option_panics")
            && l.message.contains("non-text panic payload"))
        .is_some());

        // An instrumented function is the host's own code: instrumenting it
        // does not change what it does, so its panic is the host's to handle.
        let outcome = catch_unwind(AssertUnwindSafe(instrumented_host_function_panics));
        assert!(outcome.is_err(), "instrumenting does not swallow the function's panic");

        // Telemetry still works after all of that.
        assert!(telemetry_runtime::is_enabled());
        telemetry_runtime::capture_with(&AFTER_THE_PANICS, Properties::new());
        assert!(telemetry_runtime::global().unwrap().flush(SOON));
        let names: Vec<String> =
            memory.events().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
        assert!(names.contains(&"captured_before_the_panic".to_owned()), "{names:?}");
        assert!(names.contains(&"after_the_panics".to_owned()), "{names:?}");
        drop(guard);
        assert!(telemetry_runtime::global().unwrap().shutdown(Duration::from_millis(100)));
    });
}
