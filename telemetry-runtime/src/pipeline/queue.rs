//! The bounded queue between callers and the worker thread.
//!
//! Callers hold the lock only to push one record; the worker holds it only to
//! swap the whole queue out. Nothing does I/O while holding it, so a capture
//! never waits on the network or the disk.

use crate::sync::{lock_unless_forked, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::model::event::{Record, Records};
use crate::model::stats::DropReason;
use crate::sink::{Pace, Waited};
use crate::Properties;

pub(crate) struct Queue {
    state: Mutex<State>,
    /// Wakes the worker: a full batch, a flush, a shutdown.
    wake_worker: Condvar,
    /// Wakes callers waiting for a flush or for the worker to exit.
    progress: Condvar,
    capacity: usize,
    /// The most bytes of packed properties the queued events may hold.
    max_bytes: usize,
    batch_size: usize,
    /// The process that made it: in a child forked from it, a push never
    /// waits for a lock held at the fork.
    pid: u32,
}

#[derive(Default)]
struct State {
    events: Records,
    flush_requested: u64,
    flush_completed: u64,
    /// Set by shutdown: the worker drains, delivers what it can before this
    /// instant, and exits.
    stop_deadline: Option<Instant>,
    worker_exited: bool,
    /// The worker sleeps in [`Queue::take`] until a batch is ready.
    worker_waiting: bool,
    /// Bumped on every consent change (and identity reset), so that a
    /// worker waiting to retry wakes and drops what no longer qualifies.
    consent_changes: u64,
}

/// What the worker takes from the queue in one go.
pub(crate) struct Taken {
    pub(crate) flush_generation: u64,
    /// A flush was requested: deliver everything, counters included.
    pub(crate) flushing: bool,
    pub(crate) stopping: bool,
}

impl Queue {
    pub(crate) fn new(capacity: usize, max_bytes: usize, batch_size: usize) -> Queue {
        Queue {
            state: Mutex::new(State::default()),
            wake_worker: Condvar::new(),
            progress: Condvar::new(),
            capacity,
            max_bytes,
            // A queue smaller than a batch is "full" sooner: wake the worker then.
            batch_size: batch_size.min(capacity),
            pid: std::process::id(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not disable telemetry's callers: the state
        // stays consistent because every critical section is a few plain moves.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a record with a copy of its properties, or says why it was
    /// refused.
    pub(crate) fn push(&self, record: Record, properties: &Properties) -> Result<(), DropReason> {
        // In a child forked while the lock was held, the event is refused
        // rather than waited for forever.
        let mut state = lock_unless_forked(&self.state, self.pid).ok_or(DropReason::Forked)?;
        if state.stop_deadline.is_some() {
            return Err(DropReason::Shutdown);
        }
        // Full in events, or in bytes: large events (a long opt-in text)
        // fill memory long before they fill the event count.
        if state.events.len() >= self.capacity
            || state.events.bytes().saturating_add(properties.as_bytes().len()) > self.max_bytes
        {
            return Err(DropReason::QueueFull);
        }
        if !state.events.push(record, properties) {
            return Err(DropReason::Oversized);
        }
        // A notification costs a system call even when nobody waits: send
        // one only when the worker sleeps in `take`.
        if state.worker_waiting && self.ready(&state) {
            state.worker_waiting = false;
            self.wake_worker.notify_one();
        }
        Ok(())
    }

    /// Whether what is queued is worth a request now: a full batch, or half
    /// the byte limit (a few large events).
    fn ready(&self, state: &State) -> bool {
        state.events.len() >= self.batch_size || state.events.bytes() >= self.max_bytes / 2
    }

    /// Like [`clear`](Queue::clear), in a forked child: `None` when the lock
    /// was held at the fork (see [`lock_unless_forked`]).
    pub(crate) fn clear_unless_forked(&self) -> Option<usize> {
        let mut state = lock_unless_forked(&self.state, self.pid)?;
        let n = state.events.len();
        state.events.clear();
        Some(n)
    }

    /// Removes every queued record; returns how many there were.
    pub(crate) fn clear(&self) -> usize {
        let mut state = self.lock();
        let n = state.events.len();
        state.events.clear();
        n
    }

    /// Blocks the worker until there is a full batch, a flush or shutdown
    /// request, or `interval_end` passes; then moves every queued record into
    /// `into` (which must be empty).
    pub(crate) fn take(&self, interval_end: Instant, into: &mut Records) -> Taken {
        let mut state = self.lock();
        loop {
            let ready = self.ready(&state)
                || state.flush_requested > state.flush_completed
                || state.stop_deadline.is_some();
            let now = Instant::now();
            if ready || now >= interval_end {
                break;
            }
            state.worker_waiting = true;
            state =
                self.wake_worker.wait_timeout(state, interval_end - now).unwrap_or_else(|e| e.into_inner()).0;
            state.worker_waiting = false;
        }
        std::mem::swap(&mut state.events, into);
        Taken {
            flush_generation: state.flush_requested,
            flushing: state.flush_requested > state.flush_completed,
            stopping: state.stop_deadline.is_some(),
        }
    }

    /// Moves every queued record into `into` (which must be empty) at once,
    /// whether or not a batch is ready: for shutdown, when the worker is
    /// held in a request past its deadline.
    pub(crate) fn take_now(&self, into: &mut Records) {
        std::mem::swap(&mut self.lock().events, into);
    }

    /// Records that everything queued up to `generation` was handled.
    pub(crate) fn flush_done(&self, generation: u64) {
        let mut state = self.lock();
        state.flush_completed = state.flush_completed.max(generation);
        self.progress.notify_all();
    }

    /// Asks the worker to deliver everything queued now, and waits until it
    /// has or `deadline` passes. Returns whether it finished in time.
    pub(crate) fn flush(&self, deadline: Instant) -> bool {
        let mut state = self.lock();
        state.flush_requested += 1;
        let generation = state.flush_requested;
        self.wake_worker.notify_one();
        self.wait_for(state, deadline, |s| s.flush_completed >= generation || s.worker_exited)
    }

    /// Asks the worker to deliver what it can before `deadline` and exit, and
    /// waits for that. Returns whether it exited in time.
    pub(crate) fn stop(&self, deadline: Instant) -> bool {
        let mut state = self.lock();
        if state.stop_deadline.is_none() {
            state.stop_deadline = Some(deadline);
        }
        self.wake_worker.notify_all();
        self.wait_for(state, deadline, |s| s.worker_exited)
    }

    pub(crate) fn stop_deadline(&self) -> Option<Instant> {
        self.lock().stop_deadline
    }

    /// Marks the worker gone (or never started) and wakes every waiter.
    pub(crate) fn worker_exited(&self) {
        self.lock().worker_exited = true;
        self.progress.notify_all();
    }

    /// The number of consent changes so far.
    pub(crate) fn consent_changes(&self) -> u64 {
        self.lock().consent_changes
    }

    /// Records a consent change and wakes the worker, wherever it waits.
    pub(crate) fn consent_changed(&self) {
        let mut state = self.lock();
        state.consent_changes += 1;
        self.wake_worker.notify_all();
    }

    /// Sleeps the worker until `until`; returns early when shutdown is
    /// requested with a deadline before `until`, or when consent changes
    /// after the `seen`-th change.
    pub(crate) fn wait_unless_stopping(&self, until: Instant, seen: u64) -> Waited {
        let mut state = self.lock();
        loop {
            if state.stop_deadline.is_some_and(|deadline| deadline < until) {
                return Waited::Stopping;
            }
            if state.consent_changes != seen {
                return Waited::ConsentChanged(state.consent_changes);
            }
            let now = Instant::now();
            if now >= until {
                return Waited::Elapsed;
            }
            state = self.wake_worker.wait_timeout(state, until - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    fn wait_for(
        &self,
        mut state: MutexGuard<'_, State>,
        deadline: Instant,
        done: impl Fn(&State) -> bool,
    ) -> bool {
        loop {
            if done(&state) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self.progress.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

impl Pace for Queue {
    fn stop_deadline(&self) -> Option<Instant> {
        Queue::stop_deadline(self)
    }
    fn consent_changes(&self) -> u64 {
        Queue::consent_changes(self)
    }
    fn wait_unless_stopping(&self, until: Instant, seen: u64) -> Waited {
        Queue::wait_unless_stopping(self, until, seen)
    }
}
