//! The functions of the gate benchmarks, shared by `benches/compare.rs`
//! (criterion) and `src/bin/interleaved.rs`.
//!
//! Each of them includes this file with `#[path]` rather than calling it
//! through the library: a function of another crate is called through the
//! GOT (an indirect call), while these are meant to be called the way an
//! application calls its own functions. Every function is `#[inline(never)]`
//! and goes through `black_box`, so that what is timed is a real call of
//! each.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use telemetry_runtime::requires_telemetry;

#[inline(never)]
pub fn unannotated(counter: &mut u64) {
    *counter = black_box(*counter) + 1;
}

#[inline(never)]
#[requires_telemetry]
pub fn gated(counter: &mut u64) {
    *counter = black_box(*counter) + 1;
}

#[inline(never)]
#[tracing::instrument]
pub fn traced(counter: &mut u64) {
    *counter = black_box(*counter) + 1;
}

#[inline(never)]
pub fn logged(counter: &mut u64) {
    log::debug!("counter at {counter}");
    *counter = black_box(*counter) + 1;
}

static FLAG: AtomicBool = AtomicBool::new(false);

#[inline(never)]
pub fn static_flag_gate(counter: &mut u64) {
    if FLAG.load(Relaxed) {
        *counter = black_box(*counter) + 1;
    }
}

#[inline(never)]
pub fn unannotated_value(x: u64) -> u64 {
    black_box(x) + 1
}

#[inline(never)]
#[requires_telemetry(instrument)]
pub fn instrumented_value(x: u64) -> u64 {
    black_box(x) + 1
}

#[inline(never)]
#[tracing::instrument]
pub fn traced_value(x: u64) -> u64 {
    black_box(x) + 1
}

/// What the gate rows assume: no client initialised and `log`'s maximum
/// level off. Panics if a client is on.
pub fn prepare() {
    log::set_max_level(log::LevelFilter::Off);
    assert!(!telemetry_runtime::is_enabled(), "no client may be initialised for the gate rows");
}

/// The group's name, from whether the runtime is compiled in.
pub fn group_name() -> &'static str {
    if !cfg!(feature = "off") {
        "gate (off at run time)"
    } else {
        "gate (compiled out)"
    }
}
