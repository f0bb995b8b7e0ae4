//! Dropping the last handle while the endpoint never answers: the drop
//! returns within the shutdown deadline, and the worker thread, stuck in
//! its request, ends as soon as the request does (here: the server goes
//! away) instead of living on.

use std::time::{Duration, Instant};

use telemetry_runtime::{Telemetry, TelemetryEvent};
use telemetry_tests::{posthog_sink, wait_until, Behaviour, Sandbox, TestServer};

/// A task ran.
#[derive(TelemetryEvent)]
struct TaskRan {
    ok: bool,
}

/// Threads of this process named like the library's worker (Linux).
fn workers() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .flatten()
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|c| !c.trim().is_empty() && "telemetry-worker".starts_with(c.trim()))
            })
            .count(),
    )
}

#[test]
fn a_hung_endpoint_does_not_hold_the_drop_past_its_deadline() {
    let server = TestServer::start();
    server.set_default(Behaviour::Hang);
    let sandbox = Sandbox::new();
    let deadline = Duration::from_millis(300);
    let telemetry =
        Telemetry::new(sandbox.config().shutdown_timeout(deadline).sink(posthog_sink(&server))).unwrap();
    telemetry.capture(&TaskRan { ok: true });
    assert!(!telemetry.flush(Duration::from_millis(200)), "the endpoint never answers");
    assert!(server.wait_for_requests(1, Duration::from_secs(5)));
    assert!(wait_until(Duration::from_secs(5), || workers().unwrap_or(1) == 1), "{:?} workers", workers());

    let started = Instant::now();
    drop(telemetry);
    let took = started.elapsed();
    assert!(took < deadline + Duration::from_millis(500), "the drop took {took:?}");

    // The worker is still in its request; once it ends, so does the thread.
    server.down();
    if workers().is_some() {
        assert!(
            wait_until(Duration::from_secs(10), || workers() == Some(0)),
            "the worker outlived its request"
        );
    }
}
