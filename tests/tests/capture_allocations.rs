//! A typed capture allocates nothing on the caller's thread once the
//! queue's buffers have their size: the properties are packed into a
//! per-thread buffer and copied into the queue's. Counted with a global
//! allocator that tallies each thread's allocations, not timed.

// A global allocator can only be written with `unsafe`; this one forwards
// every call to the system allocator unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Level, Telemetry, TelemetryEvent, TelemetryProperty};
use telemetry_tests::Sandbox;
use uuid::Uuid;

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// count is a plain thread-local cell that never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_on_this_thread() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// The typical event of BENCHMARKS.md: two uuids, a float, an int, a short
/// string, a bool, a list of two strings, a version string.
#[derive(TelemetryEvent)]
struct TaskFinished {
    /// The run, by a random id.
    #[telemetry(public, reason = "a random v4 uuid, linked to no person or machine")]
    run_id: Uuid,
    /// The run that started it, by a random id.
    #[telemetry(public, reason = "a random v4 uuid, linked to no person or machine")]
    parent_id: Uuid,
    duration_ms: f64,
    steps: u64,
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    command: String,
    cached: bool,
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    features: Vec<String>,
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    version: String,
}

/// The kind of a server.
#[derive(TelemetryProperty)]
enum ServerKind {
    Stdio,
}

/// Token counts.
#[derive(TelemetryProperty)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

/// A server, with fields of every classification but `redact = "marker"`
/// (whose marker is built as a value).
#[derive(TelemetryProperty)]
struct Server {
    kind: ServerKind,
    tools: u32,
    #[telemetry(opt_in)]
    name: String,
    #[telemetry(redact = "hash")]
    url: String,
    #[telemetry(redact = "length")]
    command: String,
    usage: Option<Usage>,
}

/// An event with objects: a list of them, and one inside each.
#[derive(TelemetryEvent)]
struct AgentRun {
    #[telemetry(public)]
    servers: Vec<Server>,
    total_usage: Usage,
}

#[test]
fn a_typed_capture_with_objects_allocates_nothing_once_warm() {
    let server = |n| Server {
        kind: ServerKind::Stdio,
        tools: n,
        name: "files".into(),
        url: "http://127.0.0.1:9000".into(),
        command: "npx server".into(),
        usage: Some(Usage { prompt_tokens: n, completion_tokens: 2 }),
    };
    let event = AgentRun {
        servers: vec![server(1), server(2)],
        total_usage: Usage { prompt_tokens: 3, completion_tokens: 4 },
    };
    for level in [Level::Usage, Level::Full] {
        let (during, events) = allocations_of(&event, level);
        assert_eq!(
            during, 0,
            "allocations on the caller's thread for 500 captures with objects at {level:?}"
        );
        let first = &events[1999]["properties"]["servers"][0];
        assert_eq!(first["usage"]["prompt_tokens"], 1);
        assert_eq!(first.get("name").is_some(), level == Level::Full);
    }
}

#[test]
fn a_typed_capture_allocates_nothing_once_warm() {
    let event = TaskFinished {
        run_id: Uuid::from_u128(1),
        parent_id: Uuid::from_u128(2),
        duration_ms: 12.5,
        steps: 42,
        command: "build".into(),
        cached: true,
        features: vec!["fast".into(), "json".into()],
        version: "1.2.3".into(),
    };
    let (during, events) = allocations_of(&event, Level::Usage);
    assert_eq!(during, 0, "allocations on the caller's thread for 500 typed captures");
    assert_eq!(events.len(), 2000, "and every event was delivered");
    assert_eq!(events[1999]["properties"]["features"], serde_json::json!(["fast", "json"]));
}

/// The allocations on this thread of 500 captures of `event` at `level`,
/// once warm, and every event delivered.
fn allocations_of<E: TelemetryEvent>(event: &E, level: Level) -> (u64, Vec<serde_json::Value>) {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    // The worker takes events only at a flush (no batch fills, no interval
    // ends), so the queue's buffers reach their size deterministically.
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .consent(level)
            .delivery(|d| telemetry_runtime::Delivery {
                queue_capacity: 1000,
                batch_size: 1000,
                flush_interval: Duration::from_secs(3600),
                ..d
            })
            .sink(memory.clone()),
    )
    .unwrap();
    // Warm up: the worker thread, this thread's packing buffer, and both of
    // the queue's buffers (the worker swaps them at each flush).
    for _ in 0..3 {
        for _ in 0..500 {
            telemetry.capture(event);
        }
        assert!(telemetry.flush(Duration::from_secs(10)));
    }
    let before = allocations_on_this_thread();
    for _ in 0..500 {
        telemetry.capture(event);
    }
    let during = allocations_on_this_thread() - before;
    assert!(telemetry.flush(Duration::from_secs(10)));
    let events = memory.events();
    assert_eq!(events.len(), 2000, "every event was delivered");
    (during, events)
}

telemetry_runtime::counter! {
    /// Tool calls, by outcome.
    static ROUTED_CALLS = "tool_calls", labels: [status: Outcome = ["ok"]];
}

#[test]
fn an_increment_allocates_nothing_once_its_series_exists_whatever_the_route() {
    use telemetry_runtime::Route;
    let week = Duration::from_secs(7 * 24 * 3600);
    for (route, per_period) in
        [(Route::counters_only(), false), (Route::counters_only().per_period(week), true)]
    {
        let sandbox = Sandbox::new();
        let memory = MemorySink::new();
        let telemetry = Telemetry::new(
            sandbox
                .config()
                .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(3600), ..d })
                .route(memory.clone(), route.clone()),
        )
        .unwrap();
        // The worker thread, and the series, exist.
        telemetry.add(&ROUTED_CALLS, Outcome::Ok, 1);
        let before = allocations_on_this_thread();
        for _ in 0..1000 {
            telemetry.add(&ROUTED_CALLS, Outcome::Ok, 1);
        }
        let during = allocations_on_this_thread() - before;
        assert!(telemetry.flush(Duration::from_secs(10)));
        assert_eq!(during, 0, "allocations on the caller's thread for 1000 increments: {route:?}");
        // And the counts went where the route says.
        let sent: u64 = memory.events().iter().filter_map(|e| e["properties"]["count"].as_u64()).sum();
        let kept = std::fs::read_dir(sandbox.data_dir().join("telemetry_reports")).map_or(0, |d| d.count());
        if per_period {
            // The route's folder and the lock file.
            assert_eq!((sent, kept), (0, 2), "the counts are in the period's file: {route:?}");
        } else {
            assert_eq!((sent, kept), (1001, 0), "{route:?}");
        }
    }
}

/// A tool, for the counter below.
#[derive(TelemetryProperty, Clone, Copy)]
enum Tool {
    Search,
    Read,
}

telemetry_runtime::counter! {
    /// Tool calls, by tool and outcome.
    static TOOL_CALLS = "alloc_tool_calls", labels: [tool: Tool, status: Status = ["ok", "error"]];
}

#[test]
fn an_increment_allocates_nothing_once_its_series_exists() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .consent(Level::Usage)
            .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(3600), ..d })
            .sink(memory.clone()),
    )
    .unwrap();
    let series = [
        (Tool::Search, Status::Ok),
        (Tool::Search, Status::Error),
        (Tool::Read, Status::Ok),
        (Tool::Read, Status::Error),
    ];
    // Warm up: the worker thread, and each series once (a new series is
    // stored, which allocates).
    for values in series {
        telemetry.add(&TOOL_CALLS, values, 1);
    }
    let before = allocations_on_this_thread();
    for i in 0..1000 {
        telemetry.add(&TOOL_CALLS, series[i % series.len()], 1);
    }
    let during = allocations_on_this_thread() - before;
    assert_eq!(during, 0, "allocations on the caller's thread for 1000 increments of existing series");
    assert!(telemetry.flush(Duration::from_secs(10)));
    let events: Vec<serde_json::Value> =
        memory.events().into_iter().filter(|e| e["event"] == "alloc_tool_calls").collect();
    assert_eq!(events.len(), series.len(), "one event per series: {events:?}");
    let mut seen: Vec<(String, String, u64)> = events
        .iter()
        .map(|e| {
            let p = &e["properties"];
            (
                p["tool"].as_str().unwrap().to_owned(),
                p["status"].as_str().unwrap().to_owned(),
                p["count"].as_u64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    let expected: Vec<(String, String, u64)> =
        [("read", "error"), ("read", "ok"), ("search", "error"), ("search", "ok")]
            .iter()
            .map(|(tool, status)| ((*tool).to_owned(), (*status).to_owned(), 251))
            .collect();
    assert_eq!(seen, expected, "each series counted once per increment, with the declared values");
}
