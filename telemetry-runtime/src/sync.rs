//! The blocking primitives of the state callers share with the worker
//! (consent, identity, the queue, shutdown): std's, or shuttle's when the
//! crate's own tests are built with `--cfg shuttle`.
//!
//! Shuttle runs a test's threads under a scheduler that decides, at every
//! lock, wait and spawn, which thread goes next, and tries many schedules
//! (every one up to a bound, with `check_dfs`): the model tests in
//! `models.rs` explore the interleavings of `set_consent`,
//! `reset_identity`, a delivery round and shutdown that a stress test
//! meets only by luck. Run them with
//! `RUSTFLAGS="--cfg shuttle" cargo test -p telemetry-runtime --lib models`.

#[cfg(not(all(test, shuttle)))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard, RwLock};
#[cfg(not(all(test, shuttle)))]
pub(crate) use std::thread;

#[cfg(all(test, shuttle))]
pub(crate) use shuttle::sync::{Condvar, Mutex, MutexGuard, RwLock};
#[cfg(all(test, shuttle))]
pub(crate) use shuttle::thread;

/// Locks `mutex`, also after a panic elsewhere poisoned it: every critical
/// section of the shared state is a few plain moves, so what it guards stays
/// consistent, and a panic must not turn telemetry's callers into panics.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
