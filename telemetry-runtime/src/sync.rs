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
/// `None` says so instead of waiting forever. Uncontended, it is one
/// `try_lock`; the process id is only read after a contended wait.
pub(crate) fn lock_unless_forked<T: ?Sized>(mutex: &Mutex<T>, pid: u32) -> Option<MutexGuard<'_, T>> {
    /// How many times a contended lock is tried again before the process
    /// id is read: the worker holds a caller's locks for a few moves only.
    const TRIES: usize = 64;
    for _ in 0..TRIES {
        match mutex.try_lock() {
            Ok(guard) => return Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => return Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => thread::yield_now(),
        }
    }
    (std::process::id() == pid).then(|| lock(mutex))
}

/// Locks `mutex`, also after a panic elsewhere poisoned it: every critical
/// section of the shared state is a few plain moves, so what it guards stays
/// consistent, and a panic must not turn telemetry's callers into panics.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
