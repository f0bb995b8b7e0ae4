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

use telemetry_runtime::sink::MemorySink;
use telemetry_runtime::{Level, Telemetry, TelemetryEvent};
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
    #[telemetry(public)]
    command: String,
    cached: bool,
    #[telemetry(public)]
    features: Vec<String>,
    #[telemetry(public)]
    version: String,
}

#[test]
fn a_typed_capture_allocates_nothing_once_warm() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    // The worker takes events only at a flush (no batch fills, no interval
    // ends), so the queue's buffers reach their size deterministically.
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .consent(Level::Usage)
            .queue_capacity(1000)
            .batch_size(1000)
            .flush_interval(Duration::from_secs(3600))
            .sink(memory.clone()),
    )
    .unwrap();
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
    // Warm up: the worker thread, this thread's packing buffer, and both of
    // the queue's buffers (the worker swaps them at each flush).
    for _ in 0..3 {
        for _ in 0..500 {
            telemetry.capture(&event);
        }
        assert!(telemetry.flush(Duration::from_secs(10)));
    }
    let before = allocations_on_this_thread();
    for _ in 0..500 {
        telemetry.capture(&event);
    }
    let during = allocations_on_this_thread() - before;
    assert!(telemetry.flush(Duration::from_secs(10)));
    assert_eq!(during, 0, "allocations on the caller's thread for 500 typed captures");
    let events = memory.events();
    assert_eq!(events.len(), 2000, "and every event was delivered");
    assert_eq!(events[1999]["properties"]["features"], serde_json::json!(["fast", "json"]));
}
