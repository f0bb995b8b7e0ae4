//! What the user allows the sinks to send, and the barrier that makes a
//! change of it exact.
//!
//! A sink checks the level (and the identity generation) before it writes
//! a byte, and the write happens after the check: without more, a consent
//! lowered (or an id reset) between the two lets bytes out that the new
//! state forbids. Here, every write runs under a read hold of a barrier
//! taken before its check ([`Allowance::write_if`]), and every change waits
//! for the barrier after it is stored ([`Allowance::settle`]): a write that
//! saw the old state has finished when the change returns, and every write
//! after it sees the new state.
//!
//! A hold lasts one write to a socket (bounded by the transport's send
//! timeout) or one local sink's handling of a batch (a file append), never
//! a wait for an answer, a backoff or a connect.

use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::SeqCst;

use crate::sync::RwLock;
use crate::Level;

/// The levels the user allows, and the write barrier. Shared by a client's
/// state, its worker and the transports of its sinks.
#[derive(Debug)]
pub(crate) struct Allowance {
    /// The consent level: what the vendor's sinks may send.
    consent: AtomicU8,
    /// The highest level the user's own settings give the user-owned sinks
    /// (see [`Route::owned_by_user`](crate::Route::owned_by_user)).
    user: AtomicU8,
    barrier: RwLock<()>,
}

impl Allowance {
    pub(crate) fn new(consent: Level, user: Level) -> Allowance {
        Allowance {
            consent: AtomicU8::new(consent as u8),
            user: AtomicU8::new(user as u8),
            barrier: RwLock::new(()),
        }
    }

    /// The consent level.
    pub(crate) fn consent(&self) -> Level {
        Level::from_u8(self.consent.load(SeqCst))
    }

    /// The level the user's own settings give user-owned sinks.
    pub(crate) fn user(&self) -> Level {
        Level::from_u8(self.user.load(SeqCst))
    }

    /// The level that governs a sink: the user's own for a user-owned one,
    /// consent for the vendor's.
    pub(crate) fn level(&self, user_owned: bool) -> Level {
        if user_owned {
            self.user()
        } else {
            self.consent()
        }
    }

    /// Stores a new consent level. Writes checked before it may still be
    /// under way: [`settle`](Allowance::settle) waits for them.
    pub(crate) fn set_consent(&self, level: Level) {
        self.consent.store(level as u8, SeqCst);
    }

    /// Turns everything off (the worker failed); see
    /// [`set_consent`](Allowance::set_consent).
    pub(crate) fn set_off(&self) {
        self.consent.store(Level::Off as u8, SeqCst);
        self.user.store(Level::Off as u8, SeqCst);
    }

    /// Waits until no write that was checked before this call is still
    /// under way. After a change is stored, this makes it exact: every
    /// write from now on is checked against it.
    pub(crate) fn settle(&self) {
        drop(self.barrier.write().unwrap_or_else(|e| e.into_inner()));
    }

    /// Holds the barrier: no change settles until the hold is dropped.
    pub(crate) fn hold(&self) -> impl Drop + '_ {
        self.barrier.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `write` if `allowed` says so, with no change settling between
    /// the check and the end of the write; `None` when it was not allowed.
    pub(crate) fn write_if<T>(&self, allowed: impl FnOnce() -> bool, write: impl FnOnce() -> T) -> Option<T> {
        let _hold = self.barrier.read().unwrap_or_else(|e| e.into_inner());
        allowed().then(write)
    }
}
