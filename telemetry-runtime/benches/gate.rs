//! What `#[requires_telemetry]` costs when telemetry is off, next to the same
//! function without the attribute.
//!
//! ```text
//! cargo bench -p telemetry-runtime --bench gate                  # off at run time
//! cargo bench -p telemetry-runtime --bench gate --features off   # compiled out
//! ```
//!
//! No client is initialised, so the global level is Off: the gated body never
//! runs and the instrumented function never records.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use criterion::{criterion_group, criterion_main, Criterion};
use telemetry_runtime::requires_telemetry;

#[inline(never)]
fn unannotated(counter: &mut u64) {
    *counter = black_box(*counter) + 1;
}

#[inline(never)]
#[requires_telemetry]
fn gated(counter: &mut u64) {
    *counter = black_box(*counter) + 1;
}

#[inline(never)]
fn unannotated_value(x: u64) -> u64 {
    black_box(x) + 1
}

#[inline(never)]
#[requires_telemetry(instrument)]
fn instrumented(x: u64) -> u64 {
    black_box(x) + 1
}

static FLAG: AtomicBool = AtomicBool::new(false);

#[inline(never)]
fn static_flag_gate(counter: &mut u64) {
    if FLAG.load(Relaxed) {
        *counter = black_box(*counter) + 1;
    }
}

fn gate_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group(if telemetry_runtime::__private::COMPILED_IN {
        "gate (off at run time)"
    } else {
        "gate (compiled out)"
    });
    let mut counter = 0u64;
    group.bench_function("unannotated fn", |b| b.iter(|| unannotated(black_box(&mut counter))));
    group.bench_function("#[requires_telemetry] fn", |b| b.iter(|| gated(black_box(&mut counter))));
    group.bench_function("static AtomicBool gate", |b| b.iter(|| static_flag_gate(black_box(&mut counter))));
    group.bench_function("unannotated fn -> u64", |b| b.iter(|| unannotated_value(black_box(7))));
    group.bench_function("#[requires_telemetry(instrument)] fn -> u64", |b| {
        b.iter(|| instrumented(black_box(7)))
    });
    group.finish();
}

criterion_group!(benches, gate_cost);
criterion_main!(benches);
