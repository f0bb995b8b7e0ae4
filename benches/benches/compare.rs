//! telemetry-runtime next to what a user would otherwise pick, in one
//! criterion run so that the ratios hold on a noisy machine.
//!
//! ```text
//! cd benches
//! cargo bench --bench compare                         # everything, off at run time
//! cargo bench --bench compare --features off -- gate  # the runtime compiled out
//! ```
//!
//! Groups:
//! - `gate`: the cost of a disabled call site: an unannotated function,
//!   `#[requires_telemetry]` (no client initialised, so the level is Off),
//!   `#[tracing::instrument]` with no subscriber, `log::debug!` with the max
//!   level off, and a `static AtomicBool` for reference.
//! - `capture`: caller-side cost of capturing the typical 8-property event
//!   while the worker ships to a loopback server: our typed derive event, our
//!   dynamic form, posthog-rs `capture`; plus the parts of ours, to attribute
//!   the cost. Measured in chunks of 10,000 captures; between chunks (not
//!   timed) each client is flushed, so queues stay bounded and nothing drops.
//! - `deliver`: end-to-end throughput to the loopback server in batches of
//!   100: from the first capture of a chunk to its flush, in events per second.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use telemetry_benches::{EventData, LARGE_QUEUE, TASK_FINISHED};
use telemetry_runtime::{Level, Properties, TelemetryEvent};

// ---------------------------------------------------------------------------
// gate
// ---------------------------------------------------------------------------

// The gate functions, compiled into this crate (see the file's comment).
#[path = "../src/gate.rs"]
mod gate_fns;
use gate_fns::*;

fn gate(c: &mut Criterion) {
    gate_fns::prepare();
    let mut group = c.benchmark_group(gate_fns::group_name());
    let mut counter = 0u64;
    group.bench_function("unannotated fn", |b| b.iter(|| unannotated(black_box(&mut counter))));
    group.bench_function("#[requires_telemetry] fn", |b| b.iter(|| gated(black_box(&mut counter))));
    group.bench_function("#[tracing::instrument] fn, no subscriber", |b| {
        b.iter(|| traced(black_box(&mut counter)))
    });
    group.bench_function("log::debug! + body, max level off", |b| b.iter(|| logged(black_box(&mut counter))));
    group.bench_function("static AtomicBool gate", |b| b.iter(|| static_flag_gate(black_box(&mut counter))));
    group.bench_function("unannotated fn -> u64", |b| b.iter(|| unannotated_value(black_box(7))));
    group.bench_function("#[requires_telemetry(instrument)] fn -> u64", |b| {
        b.iter(|| instrumented_value(black_box(7)))
    });
    group.bench_function("#[tracing::instrument] fn -> u64, no subscriber", |b| {
        b.iter(|| traced_value(black_box(7)))
    });
    group.finish();
}

// ---------------------------------------------------------------------------
// capture
// ---------------------------------------------------------------------------

const CHUNK: u64 = 10_000;
const FLUSH: Duration = Duration::from_secs(120);

/// Times `iters` calls of `one` in chunks of [`CHUNK`], running `drain`
/// after each chunk: untimed for the caller's cost, timed for end-to-end
/// delivery.
fn chunks_of(iters: u64, drain_timed: bool, mut one: impl FnMut(), mut drain: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let start = Instant::now();
        for _ in 0..n {
            one();
        }
        if drain_timed {
            drain();
        }
        total += start.elapsed();
        if !drain_timed {
            drain();
        }
        left -= n;
    }
    total
}

/// [`chunks_of`] timing the callers only.
fn chunked(iters: u64, one: impl FnMut(), drain: impl FnMut()) -> Duration {
    chunks_of(iters, false, one, drain)
}

fn capture(c: &mut Criterion) {
    if cfg!(feature = "off") {
        eprintln!("capture: skipped, the runtime is compiled out");
        return;
    }
    let server = telemetry_benches::serve(telemetry_benches::Mode::Ok);
    let dir = tempfile::tempdir().expect("temp dir");
    // The library's defaults (recent-deliveries record included), an HTTP
    // sink to loopback and a queue large enough that nothing drops.
    let ours =
        telemetry_benches::ours(dir.path(), telemetry_benches::http_sink(server.addr), LARGE_QUEUE, 100);
    let posthog = telemetry_benches::posthog_client(server.addr, LARGE_QUEUE);
    let data = EventData::sample();
    let event = data.typed();
    let distinct_id = uuid::Uuid::new_v4().to_string();

    let mut group = c.benchmark_group("capture (8 properties, enabled)");
    group.sample_size(30).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let drain_ours = || {
        assert!(ours.flush(FLUSH), "flush timed out or dropped events");
    };
    group.bench_function("ours: typed derive event", |b| {
        b.iter_custom(|iters| chunked(iters, || ours.capture(black_box(&event)), drain_ours))
    });
    group.bench_function("ours: dynamic capture_with(Properties)", |b| {
        b.iter_custom(|iters| {
            chunked(iters, || ours.capture_with(&TASK_FINISHED, black_box(&data).properties()), drain_ours)
        })
    });
    group.bench_function("ours: typed, struct built per call", |b| {
        b.iter_custom(|iters| chunked(iters, || ours.capture(&black_box(&data).typed()), drain_ours))
    });
    group.bench_function("posthog-rs: Event + capture", |b| {
        b.iter_custom(|iters| {
            chunked(iters, || posthog.capture(black_box(&data).posthog(&distinct_id)), || posthog.flush())
        })
    });

    // Diagnostic: the same capture while the worker sleeps (a batch is larger
    // than a chunk, so nothing wakes it until the untimed flush): the caller's
    // own cost, without a worker freeing records and contending for the
    // allocator and the queue at the same time.
    let quiet = telemetry_runtime::Telemetry::new(
        telemetry_runtime::Config::new("bench", "1.0.0")
            .consent(Level::Usage)
            .environment(|_| None)
            .env(|e| telemetry_runtime::EnvVars { detect_ci: false, ..e })
            .dirs(|_| telemetry_runtime::Dirs::from(dir.path()))
            .delivery(|d| telemetry_runtime::Delivery {
                queue_capacity: LARGE_QUEUE,
                queue_bytes: telemetry_benches::queue_bytes(LARGE_QUEUE),
                batch_size: 2 * CHUNK as usize,
                flush_interval: Duration::from_secs(3600),
                ..d
            })
            .sink(telemetry_benches::http_sink(server.addr)),
    )
    .expect("config");
    group.bench_function("diagnostic: ours typed, worker asleep while timed", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                || quiet.capture(black_box(&event)),
                || assert!(quiet.flush(FLUSH), "flush timed out or dropped events"),
            )
        })
    });

    // The parts of ours, to see where the time goes (the values are dropped
    // outside the timing: the worker frees them in the real flow).
    group.bench_function("part: write_properties (8 values into Properties)", |b| {
        b.iter_with_large_drop(|| {
            let mut properties = Properties::new();
            black_box(&event).write_properties(Level::Usage, &mut properties);
            properties
        })
    });
    group.bench_function("part: SystemTime::now", |b| b.iter(std::time::SystemTime::now));
    group.bench_function("part: Uuid::to_string", |b| {
        b.iter_with_large_drop(|| black_box(data.run_id).to_string())
    });
    group.bench_function("part: Uuid::new_v4 (OS random)", |b| b.iter(uuid::Uuid::new_v4));
    group.bench_function("part: String clone (5 bytes)", |b| {
        b.iter_with_large_drop(|| black_box(&data.command).clone())
    });
    group.finish();

    let stats = ours.stats();
    eprintln!(
        "capture: ours captured {} sent {} dropped {}; server got {} events",
        stats.captured,
        stats.sent,
        stats.dropped_total(),
        server.stats.snapshot().2
    );
    assert_eq!(stats.dropped_total(), 0, "the capture benchmark must not drop events");
    assert_eq!(quiet.stats().dropped_total(), 0, "the capture benchmark must not drop events");
    assert!(ours.shutdown(Duration::from_secs(5)), "shutdown timed out");
    assert!(quiet.shutdown(Duration::from_secs(5)), "shutdown timed out");
    posthog.shutdown();
}

// ---------------------------------------------------------------------------
// deliver
// ---------------------------------------------------------------------------

fn deliver(c: &mut Criterion) {
    if cfg!(feature = "off") {
        eprintln!("deliver: skipped, the runtime is compiled out");
        return;
    }
    let server = telemetry_benches::serve(telemetry_benches::Mode::Ok);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = EventData::sample();
    let event = data.typed();
    let distinct_id = uuid::Uuid::new_v4().to_string();

    let mut group = c.benchmark_group("deliver to loopback");
    group
        .sample_size(15)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    let end_to_end =
        |iters: u64, one: &mut dyn FnMut(), flush: &mut dyn FnMut()| chunks_of(iters, true, one, flush);
    // Requests of 100 events, like posthog-rs; the last variant uses the
    // library's default of up to 1,000 per request when more are waiting.
    let variants: [(&str, usize, bool, usize); 4] = [
        ("ours: HttpSink, requests of 100 (recent-deliveries record on)", 100, false, 100),
        ("ours: HttpSink, requests of 100, recent_deliveries(0)", 0, false, 100),
        ("ours: PostHogSink, requests of 100, recent_deliveries(0)", 0, true, 100),
        ("ours: HttpSink, library defaults (up to 1,000 per request)", 100, false, 1_000),
    ];
    for (name, recent, posthog_sink, max_batch) in variants {
        let sub = dir.path().join(format!("d{recent}{posthog_sink}{max_batch}"));
        let config = if posthog_sink {
            telemetry_benches::ours_config(
                &sub,
                telemetry_benches::posthog_sink(server.addr),
                LARGE_QUEUE,
                recent,
            )
        } else {
            telemetry_benches::ours_config(
                &sub,
                telemetry_benches::http_sink(server.addr),
                LARGE_QUEUE,
                recent,
            )
        };
        let client = telemetry_runtime::Telemetry::new(
            config.delivery(|d| telemetry_runtime::Delivery { max_batch_size: max_batch, ..d }),
        )
        .expect("config");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                end_to_end(iters, &mut || client.capture(black_box(&event)), &mut || {
                    assert!(client.flush(FLUSH), "flush timed out or dropped events");
                })
            })
        });
        assert_eq!(client.stats().dropped_total(), 0, "{name}: dropped events");
        assert!(client.shutdown(Duration::from_secs(5)), "{name}: shutdown timed out");
    }
    let posthog = telemetry_benches::posthog_client(server.addr, LARGE_QUEUE);
    group.bench_function("posthog-rs: Client (blocking), requests of 100", |b| {
        b.iter_custom(|iters| {
            end_to_end(iters, &mut || posthog.capture(black_box(&data).posthog(&distinct_id)), &mut || {
                posthog.flush()
            })
        })
    });
    posthog.shutdown();
    group.finish();
}

criterion_group!(benches, gate, capture, deliver);
criterion_main!(benches);
