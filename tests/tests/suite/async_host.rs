//! Telemetry in an async program, on tokio's current-thread and
//! multi-thread runtimes (tokio is a dev-dependency of the tests only; the
//! runtime has no async runtime of its own).
//!
//! Clients that block on an async runtime of their own panic when they are
//! dropped inside another one ("Cannot drop a runtime in a context where
//! blocking is not allowed"). Here every call, and dropping the guard or a
//! client, inside an async task returns without a panic, within the
//! shutdown deadline plus a margin, whether the endpoint answers or hangs;
//! and what was captured is delivered when it answers.

use std::time::{Duration, Instant};

use telemetry_runtime::{Properties, Telemetry};
use telemetry_tests::{child, posthog_sink, Behaviour, Sandbox, TestServer, SOON};

/// The shutdown deadline of the clients under test.
const DEADLINE: Duration = Duration::from_millis(500);
/// What a loaded 2-core machine may add to a deadline kept.
const MARGIN: Duration = Duration::from_millis(1500);
/// Events captured per case.
const EVENTS: usize = 20;

telemetry_runtime::event! {
    /// Captured by a task.
    static IN_TASK = "in_task" {
        /// Its number.
        i: u64,
    }
}

/// The runtimes an async host runs on.
const FLAVOURS: [&str; 2] = ["current_thread", "multi_thread"];

fn runtime(flavour: &str) -> tokio::runtime::Runtime {
    let mut builder = match flavour {
        "current_thread" => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.worker_threads(2);
    builder.enable_all().build().expect("a tokio runtime")
}

/// A server that answers, or one whose every request hangs.
fn server(hangs: bool) -> TestServer {
    let server = TestServer::start();
    if hangs {
        server.set_default(Behaviour::Hang);
    }
    server
}

async fn capture_some(telemetry: &Telemetry) {
    for i in 0..EVENTS {
        telemetry.capture_with(&IN_TASK, Properties::new().with("i", i));
        tokio::task::yield_now().await;
    }
}

#[test]
fn a_client_in_an_async_task_flushes_shuts_down_and_drops_within_its_deadline() {
    for flavour in FLAVOURS {
        for hangs in [false, true] {
            let case = format!("{flavour}, endpoint {}", if hangs { "hangs" } else { "answers" });
            let server = server(hangs);
            let sandbox = Sandbox::new();
            let config = sandbox
                .config()
                .sink(posthog_sink(&server))
                .delivery(|d| telemetry_runtime::Delivery { shutdown_timeout: DEADLINE, ..d });
            let telemetry = Telemetry::new(config).unwrap();
            let task = async move {
                capture_some(&telemetry).await;
                // The recommended way: flush on the blocking pool, so that
                // no runtime worker waits.
                let client = telemetry.clone();
                let started = Instant::now();
                let flushed = tokio::task::spawn_blocking(move || client.flush(DEADLINE)).await.unwrap();
                let flush_took = started.elapsed();
                // Straight from the task: blocks this worker, for the deadline at most.
                let started = Instant::now();
                let finished = telemetry.shutdown(DEADLINE);
                let shutdown_took = started.elapsed();
                // Dropping a client is dropping a handle: nothing waits.
                let started = Instant::now();
                drop(telemetry);
                (flushed, flush_took, finished, shutdown_took, started.elapsed())
            };
            let (flushed, flush_took, finished, shutdown_took, drop_took) =
                runtime(flavour).block_on(async { tokio::spawn(task).await.unwrap() });

            for (what, took) in [("flush", flush_took), ("shutdown", shutdown_took), ("drop", drop_took)] {
                assert!(took < DEADLINE + MARGIN, "{case}: {what} took {took:?}");
            }
            assert!(drop_took < MARGIN, "{case}: dropping the client took {drop_took:?}");
            if hangs {
                assert!(!flushed && !finished, "{case}: nothing can be delivered");
                assert!(flush_took >= DEADLINE, "{case}: flush gave up early ({flush_took:?})");
                assert!(server.accepted_events().is_empty(), "{case}");
            } else {
                assert!(flushed && finished, "{case}: flush {flushed}, shutdown {finished}");
                assert_eq!(server.accepted_events().len(), EVENTS, "{case}");
            }
        }
    }
}

/// The guard of the global client, dropped in an async task: one child
/// process per case, since a process has one global client.
#[test]
fn dropping_the_guard_in_an_async_task_keeps_the_shutdown_deadline() {
    if let Some(mode) = child::mode() {
        return guard_child(&mode);
    }
    for flavour in FLAVOURS {
        for hangs in [false, true] {
            let mode = format!("{flavour}:{}", if hangs { "hangs" } else { "answers" });
            let output = child::run(
                "async_host::dropping_the_guard_in_an_async_task_keeps_the_shutdown_deadline",
                &mode,
                &[],
                SOON,
            );
            assert!(output.success(), "{mode}: the child failed: {output:?}");
            let drop_ms: u64 = output.value("drop_ms").and_then(|v| v.parse().ok()).expect("drop_ms");
            let delivered: usize = output.value("delivered").and_then(|v| v.parse().ok()).expect("delivered");
            let drop_took = Duration::from_millis(drop_ms);
            assert!(drop_took < DEADLINE + MARGIN, "{mode}: dropping the guard took {drop_took:?}");
            if hangs {
                assert!(drop_took >= DEADLINE, "{mode}: the guard gave up early ({drop_took:?})");
                assert_eq!(delivered, 0, "{mode}");
            } else {
                assert_eq!(delivered, EVENTS, "{mode}: {output:?}");
            }
        }
    }
}

/// In the child: `#[tokio::main]` by hand, with the flavour of `mode`; the
/// guard is moved into a task and dropped there.
fn guard_child(mode: &str) {
    let (flavour, behaviour) = mode.split_once(':').expect("flavour:behaviour");
    let server = server(behaviour == "hangs");
    let sandbox = Sandbox::new();
    let config = sandbox
        .config()
        .sink(posthog_sink(&server))
        .delivery(|d| telemetry_runtime::Delivery { shutdown_timeout: DEADLINE, ..d });
    runtime(flavour).block_on(async {
        let guard = telemetry_runtime::init(config).unwrap();
        let drop_took = tokio::spawn(async move {
            capture_some(&guard).await;
            let started = Instant::now();
            drop(guard);
            started.elapsed()
        })
        .await
        .unwrap();
        child::report("drop_ms", drop_took.as_millis());
    });
    // The runtime is gone too, and nothing panicked on the way.
    child::report("delivered", server.accepted_events().len());
}
