//! Dropping the global guard delivers what is still queued. A process of
//! its own because the global client can be initialised once per process.

use std::time::Duration;

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{DropReason, Properties};
use telemetry_tests::{child, Sandbox};

telemetry_runtime::event! {
    /// Captured just before the guard is dropped.
    static AT_EXIT = "at_exit" {}
}

#[test]
fn dropping_the_guard_flushes_queued_events() {
    child::isolated("guard::dropping_the_guard_flushes_queued_events", || {
        let sandbox = Sandbox::new();
        let memory = MemorySink::new();
        // A long interval: only the guard's shutdown can deliver these.
        let config = sandbox.config().sink(memory.clone()).delivery(|d| telemetry_runtime::Delivery {
            shutdown_timeout: Duration::from_secs(10),
            ..telemetry_tests::on_flush(d)
        });
        let guard = telemetry_runtime::init(config).unwrap();
        for _ in 0..3 {
            telemetry_runtime::capture_with(&AT_EXIT, Properties::new());
        }
        drop(guard);
        let stats = telemetry_runtime::global().map(|t| t.stats()).unwrap_or_default();
        assert_eq!(memory.events().len(), 3, "{stats:?}");
        assert_eq!(stats.dropped(DropReason::ConsentWithdrawn), 0);
    });
}
