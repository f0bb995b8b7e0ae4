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

/// Locks `mutex` for a caller's thread, unless this process is a child
/// forked from process `pid` while another thread held the lock: the lock
/// is then never released (the holder does not exist in the child), and
/// `None` says so instead of waiting forever.
///
/// Uncontended, it is one `try_lock`, inlined into the caller. Contended,
/// the process id is read (one system call) and, in the process that made
/// the lock, the caller waits as [`lock`] does: std's lock spins briefly,
/// then sleeps until the holder lets go. Retrying with
/// `thread::yield_now` instead hands the processor to whatever else is
/// runnable on a busy machine, for longer than the worker ever holds the
/// lock (`BENCHMARKS.md`, "Budget rows before and after").
#[inline]
pub(crate) fn lock_unless_forked<T: ?Sized>(mutex: &Mutex<T>, pid: u32) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => lock_contended(mutex, pid),
    }
}

/// [`lock_unless_forked`] when the lock is held: waits for it in the
/// process that made it, gives up at once in a forked child.
#[cold]
#[inline(never)]
fn lock_contended<T: ?Sized>(mutex: &Mutex<T>, pid: u32) -> Option<MutexGuard<'_, T>> {
    (std::process::id() == pid).then(|| lock(mutex))
}

/// Locks `mutex`, also after a panic elsewhere poisoned it: every critical
/// section of the shared state is a few plain moves, so what it guards stays
/// consistent, and a panic must not turn telemetry's callers into panics.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
