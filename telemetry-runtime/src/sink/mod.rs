//! Where events go. The worker thread hands each batch to every sink in turn;
//! sinks run only on that thread, so they may block on the network or disk.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::ops::Range;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use uuid::Uuid;

use crate::identity::Identity;
use crate::queue::{Queue, Waited};
use crate::stats::{Counters, DropReason};
use crate::Level;

mod http;
mod jsonl;
mod memory;
mod otlp;
mod posthog;
mod retry;
mod stderr;

pub use http::HttpSink;
pub use jsonl::JsonlSink;
pub use memory::MemorySink;
pub use otlp::OtlpSink;
pub use posthog::{PostHogSink, EU_HOST, US_HOST};
pub use retry::Backoff;
pub use stderr::StderrSink;

#[cfg(fuzzing)]
pub(crate) use http::{parse_http_date, parse_retry_after, MAX_RETRY_AFTER};

/// A destination for batches of events.
///
/// Implement it to send events somewhere the library does not know. `send`
/// runs on the worker thread; it may block, but should give up when
/// [`SendContext::wait`] returns `false`. A panic inside it is caught and
/// counted as a failed delivery.
///
/// ```
/// use telemetry_runtime::sink::{Batch, SendContext, Sink, SinkError};
///
/// struct CountingSink(usize);
///
/// impl Sink for CountingSink {
///     fn name(&self) -> &str {
///         "counting"
///     }
///     fn send(&mut self, batch: &Batch, _cx: &SendContext<'_>) -> Result<(), SinkError> {
///         self.0 += batch.len();
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send + 'static {
    /// A short description for logs and status output (no secrets).
    fn name(&self) -> &str;

    /// Delivers `batch`. `Ok` means every event was delivered except those
    /// reported through [`SendContext::dropped`].
    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError>;

    /// Whether the data stays on this machine (a file, the terminal, memory).
    /// Deliveries to other sinks are kept in the user-readable record of
    /// recent deliveries.
    fn is_local(&self) -> bool {
        false
    }
}

/// What `sink` sends to, for the spool's identity of it: the kind and
/// endpoint of the library's own sinks, with a hash of what may hold a
/// secret (a key, headers, body fields), or for any other sink its type
/// and name. Only a fingerprint of it is ever stored, and it is never
/// logged.
pub(crate) fn destination<S: Sink>(sink: &S) -> String {
    let any: &dyn std::any::Any = sink;
    if let Some(sink) = any.downcast_ref::<PostHogSink>() {
        sink.destination()
    } else if let Some(sink) = any.downcast_ref::<HttpSink>() {
        sink.destination()
    } else if let Some(sink) = any.downcast_ref::<OtlpSink>() {
        sink.destination()
    } else {
        format!("{}\t{}", std::any::type_name::<S>(), sink.name())
    }
}

/// One event, serialized once and resent unchanged on retries.
#[derive(Clone)]
pub struct EncodedEvent {
    pub(crate) name: Cow<'static, str>,
    pub(crate) uuid: Uuid,
    /// UTF-8 JSON, kept as the bytes that are sent: `span` of a buffer
    /// shared by the events encoded together (one allocation per batch
    /// rather than one per event).
    pub(crate) buffer: Arc<Vec<u8>>,
    pub(crate) span: Range<usize>,
    /// The consent level its properties were classified at.
    pub(crate) level: Level,
    pub(crate) counter: bool,
    pub(crate) time: SystemTime,
    /// The identity generation its distinct id belongs to: after a reset
    /// the event is stale and never sent.
    pub(crate) generation: u64,
}

impl EncodedEvent {
    /// An event whose JSON has a buffer of its own.
    pub(crate) fn new(
        name: Cow<'static, str>,
        uuid: Uuid,
        json: Vec<u8>,
        level: Level,
        counter: bool,
        time: SystemTime,
    ) -> EncodedEvent {
        let span = 0..json.len();
        EncodedEvent { name, uuid, buffer: Arc::new(json), span, level, counter, time, generation: 0 }
    }

    /// The event name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The event's uuid.
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }
    /// The event as a JSON object, exactly as it is sent.
    pub fn json(&self) -> &str {
        // Always UTF-8 (see `encode`); an empty object stands in otherwise.
        std::str::from_utf8(self.json_bytes()).unwrap_or("{}")
    }

    /// The JSON's bytes, as they go into a request body.
    pub(crate) fn json_bytes(&self) -> &[u8] {
        self.buffer.get(self.span.clone()).unwrap_or_default()
    }

    /// Whether this event's JSON comes right after `previous`'s in the same
    /// buffer, with one comma between them.
    fn follows(&self, previous: &EncodedEvent) -> bool {
        Arc::ptr_eq(&self.buffer, &previous.buffer) && previous.span.end + 1 == self.span.start
    }
    /// The consent level its properties were classified at: it may be sent
    /// only while consent is at least this level.
    pub fn level(&self) -> Level {
        self.level
    }
    /// When the event was captured.
    pub fn time(&self) -> SystemTime {
        self.time
    }
    /// Whether this is an aggregated counter (its properties are the labels
    /// and `count`) rather than a single event.
    pub fn is_counter(&self) -> bool {
        self.counter
    }
}

/// The JSON of `events`, comma-separated, as few slices as their buffers
/// allow: neighbours encoded together are one slice.
pub(crate) fn runs(events: &[EncodedEvent]) -> impl Iterator<Item = &[u8]> {
    let mut rest = events;
    std::iter::from_fn(move || {
        let (first, _) = rest.split_first()?;
        let len = 1 + rest.windows(2).take_while(|pair| pair[1].follows(&pair[0])).count();
        let last = &rest[len - 1];
        rest = &rest[len..];
        first.buffer.get(first.span.start..last.span.end)
    })
}

impl fmt::Debug for EncodedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedEvent")
            .field("name", &self.name)
            .field("uuid", &self.uuid)
            .field("json", &self.json())
            .field("level", &self.level)
            .field("counter", &self.counter)
            .field("time", &self.time)
            .finish()
    }
}

/// The events handed to a sink in one call.
#[derive(Debug, Default)]
pub struct Batch {
    pub(crate) events: Vec<EncodedEvent>,
}

impl Batch {
    /// The events, oldest first.
    pub fn events(&self) -> &[EncodedEvent] {
        &self.events
    }
    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// What a sink may ask of the runtime while it sends.
pub struct SendContext<'a> {
    pub(crate) queue: &'a Queue,
    pub(crate) level: &'a AtomicU8,
    pub(crate) identity: &'a Identity,
    pub(crate) counters: &'a Counters,
    pub(crate) dropped: Cell<usize>,
    /// Some events failed in a way a later run may overcome (shutdown's
    /// deadline, an unreachable endpoint): the spool keeps the batch.
    pub(crate) retry_later: Cell<bool>,
    /// How many events were given up on for a later try, and which of them
    /// the sink named: when it named them all, the spool keeps only those
    /// (the rest was delivered or given up on for good), otherwise the
    /// whole batch.
    pub(crate) later: Cell<usize>,
    pub(crate) later_named: RefCell<Vec<Uuid>>,
}

impl fmt::Debug for SendContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendContext")
            .field("level", &Level::from_u8(self.level.load(Relaxed)))
            .field("dropped", &self.dropped.get())
            .field("retry_later", &self.retry_later.get())
            .finish_non_exhaustive()
    }
}

impl SendContext<'_> {
    /// Whether sending may go on: consent is still on and shutdown's deadline
    /// has not passed.
    pub fn may_send(&self) -> bool {
        Level::from_u8(self.level.load(Relaxed)) > Level::Off
            && self.queue.stop_deadline().is_none_or(|deadline| Instant::now() < deadline)
    }

    /// Whether consent still allows an event classified at `level` to leave
    /// (consent can be lowered while a batch waits to be retried).
    pub fn allows(&self, level: Level) -> bool {
        level <= Level::from_u8(self.level.load(Relaxed))
    }

    /// The events of `events` that consent still allows, and whose install
    /// id was not reset since they were prepared; the others are counted as
    /// dropped.
    pub fn still_allowed<'e>(&self, events: &'e [EncodedEvent]) -> Cow<'e, [EncodedEvent]> {
        let generation = self.identity.generation();
        if events.iter().all(|e| self.allows(e.level) && e.generation == generation) {
            return Cow::Borrowed(events);
        }
        let reset = events.iter().filter(|e| e.generation != generation).count();
        let kept: Vec<EncodedEvent> =
            events.iter().filter(|e| self.allows(e.level) && e.generation == generation).cloned().collect();
        self.dropped(DropReason::IdentityReset, reset);
        self.dropped(DropReason::ConsentWithdrawn, events.len() - kept.len() - reset);
        Cow::Owned(kept)
    }

    /// Whether events of this identity generation are still current (no
    /// reset since).
    pub(crate) fn is_current(&self, generation: u64) -> bool {
        self.identity.generation() == generation
    }

    /// Why [`may_send`](SendContext::may_send) said no: the drop reason for
    /// what is left.
    pub fn stop_reason(&self) -> DropReason {
        if Level::from_u8(self.level.load(Relaxed)) == Level::Off {
            DropReason::ConsentWithdrawn
        } else {
            DropReason::Shutdown
        }
    }

    /// Waits `delay` before a retry. Returns `false`, at once, when the wait
    /// would outlast shutdown's deadline or consent is withdrawn (a change
    /// of consent wakes the wait): give up.
    pub fn wait(&self, delay: Duration) -> bool {
        let until = crate::client::deadline_after(delay);
        let mut seen = self.queue.consent_changes();
        loop {
            match self.queue.wait_unless_stopping(until, seen) {
                Waited::Elapsed => return self.may_send(),
                Waited::Stopping => return false,
                Waited::ConsentChanged(_) if !self.may_send() => return false,
                Waited::ConsentChanged(now) => seen = now,
            }
        }
    }

    /// Waits until `until` like [`wait`](SendContext::wait), but also
    /// returns when consent changes, so that the caller drops at once what
    /// no longer qualifies.
    pub(crate) fn wait_or_consent_change(&self, until: Instant, seen: &mut u64) -> Waited {
        let waited = self.queue.wait_unless_stopping(until, *seen);
        if let Waited::ConsentChanged(now) = waited {
            *seen = now;
        }
        waited
    }

    /// The number of consent changes so far.
    pub(crate) fn consent_changes(&self) -> u64 {
        self.queue.consent_changes()
    }

    /// Reports events of the batch that this sink gave up on.
    pub fn dropped(&self, reason: DropReason, events: usize) {
        self.counters.dropped(reason, events);
        self.dropped.set(self.dropped.get() + events);
        if matches!(reason, DropReason::Shutdown | DropReason::Undeliverable) {
            self.retry_later.set(true);
            self.later.set(self.later.get() + events);
        }
    }

    /// Like [`dropped`](SendContext::dropped), naming the events: those a
    /// later try may deliver are then the only ones the spool keeps.
    pub(crate) fn dropped_these(&self, reason: DropReason, events: impl ExactSizeIterator<Item = Uuid>) {
        let n = events.len();
        if matches!(reason, DropReason::Shutdown | DropReason::Undeliverable) {
            self.later_named.borrow_mut().extend(events);
        }
        self.dropped(reason, n);
    }

    /// The events to keep for a later try, when the sink named them all.
    pub(crate) fn kept_for_later(&self) -> Option<Vec<Uuid>> {
        let named = self.later_named.take();
        (named.len() == self.later.get()).then_some(named)
    }

    /// Reports an attempt that did not succeed.
    pub fn failed_attempt(&self) {
        self.counters.failed();
    }

    /// Reports an attempt about to be retried.
    pub fn retrying(&self) {
        self.counters.retried();
    }
}

/// Why a sink could not deliver a batch.
#[derive(Debug)]
pub struct SinkError {
    reason: DropReason,
    message: String,
}

impl SinkError {
    /// A failure whose events are counted as dropped for `reason`.
    pub fn new(reason: DropReason, message: impl Into<String>) -> SinkError {
        SinkError { reason, message: message.into() }
    }
    /// The drop reason the batch's events are counted under.
    pub fn reason(&self) -> DropReason {
        self.reason
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SinkError {}
