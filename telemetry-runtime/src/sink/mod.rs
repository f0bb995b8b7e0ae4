//! Where events go. The worker thread hands each batch to every sink in turn;
//! sinks run only on that thread, so they may block on the network or disk.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::local::identity::Identity;
use crate::model::encode::PostHogJson;
use crate::model::stats::{Counters, DropReason};
use crate::model::view::Queued;
use crate::Level;
use allowance::Allowance;

pub(crate) mod allowance;
mod gated;
mod http;
mod jsonl;
pub(crate) mod memory;
mod options;
mod otlp;
mod posthog;
mod results;
mod retry;
mod stderr;
mod transport;

pub use crate::model::text::{KeyedHash, Text};
pub(crate) use crate::model::view::EventContext;
pub use crate::model::view::{EventView, ListRef, ObjectRef, ValueRef};
pub use http::HttpSink;
pub(crate) use jsonl::remove_with_rotated;
pub use jsonl::JsonlSink;
pub use options::HttpOptions;
pub(crate) use otlp::otel_resource;
pub use otlp::{OtlpSink, Protocol};
pub use posthog::{CaptureApi, PostHogSink};
pub use stderr::StderrSink;

#[cfg(fuzzing)]
pub(crate) use transport::{parse_http_date, parse_retry_after, MAX_RETRY_AFTER};

/// A destination for batches of events.
///
/// Implement it to send events somewhere the library does not know. A sink
/// gets each event as a typed [`EventView`], with only what the consent level
/// and its route allow, and encodes it its own way.
///
/// The contract is small, and the library keeps the books: `send` returns
/// `Ok` when the batch was delivered, except the events it gave up on one by
/// one with [`SendContext::drop_event`] (each counted once, whatever the
/// sink reports), or an [`SinkError`] whose reason counts the rest. `send`
/// runs on the worker thread; it may block, but should give up when
/// [`SendContext::may_send`] or [`SendContext::wait`] says so (consent was
/// lowered, or shutdown's deadline passed). A panic inside it is caught and
/// counted as a failed delivery. Only the library's own sinks check every
/// write to a socket against consent; a sink of yours checks `may_send`
/// between its writes.
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
///         self.0 += batch.events().count();
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send + 'static {
    /// A short description for logs and status output (no secrets).
    fn name(&self) -> &str;

    /// Delivers `batch`. `Ok` means every event was delivered except those
    /// reported through [`SendContext::drop_event`].
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

/// The events handed to a sink in one call, each seen through an
/// [`EventView`].
#[derive(Default)]
pub struct Batch {
    pub(crate) events: Vec<Queued>,
}

impl Batch {
    /// The events, oldest first.
    pub fn events(&self) -> impl Iterator<Item = EventView<'_>> + Clone + '_ {
        // Every queued event has a view: the worker makes the indices.
        self.events.iter().filter_map(Queued::view)
    }
    /// The events as a list, allocated once at the batch's length (what
    /// `events().collect()` would grow into step by step: the iterator
    /// cannot promise its length, as it skips a view that cannot be made).
    pub(crate) fn views(&self) -> Vec<EventView<'_>> {
        let mut views = Vec::with_capacity(self.events.len());
        views.extend(self.events());
        views
    }
    /// Number of events.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }
    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Each event of `batch` as PostHog's JSON, for the sinks that keep or
/// show events on this machine; an event whose JSON is over the size limit
/// is dropped and reported.
pub(crate) fn each_json(batch: &Batch, cx: &SendContext<'_>, mut take: impl FnMut(&[u8])) {
    let mut json = PostHogJson::default();
    let mut out = Vec::with_capacity(1024);
    for event in batch.events() {
        out.clear();
        json.event(&mut out, &event);
        if out.len() > cx.max_event_bytes() {
            cx.drop_oversized(event.name(), out.len());
            continue;
        }
        take(&out);
    }
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.events()).finish()
    }
}

/// What a sink's waits hang on: shutdown's deadline and changes of
/// consent. The pipeline's queue keeps both.
pub(crate) trait Pace {
    /// When shutdown must be over, once it started.
    fn stop_deadline(&self) -> Option<Instant>;
    /// How many times consent changed so far.
    fn consent_changes(&self) -> u64;
    /// Waits until `until`, returning early when shutdown's deadline comes
    /// first, or when consent changed since it had changed `seen` times.
    fn wait_unless_stopping(&self, until: Instant, seen: u64) -> Waited;
}

/// Why [`Pace::wait_unless_stopping`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// The time came.
    Elapsed,
    /// Shutdown's deadline comes before the time: give up.
    Stopping,
    /// Consent changed (the count of changes so far): check again what may
    /// still be sent.
    ConsentChanged(u64),
}

/// What a sink may ask of the runtime while it sends.
pub struct SendContext<'a> {
    pub(crate) pace: &'a dyn Pace,
    pub(crate) allowance: &'a Arc<Allowance>,
    /// Whether the sink is the user's own: governed by the user's level,
    /// not by consent.
    pub(crate) user_owned: bool,
    pub(crate) identity: &'a Arc<Identity>,
    pub(crate) counters: &'a Counters,
    pub(crate) max_event_bytes: usize,
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
    /// The events a sink gave up on through [`drop_event`](SendContext::drop_event).
    pub(crate) dropped_events: RefCell<Vec<Uuid>>,
    /// Whether the route asks for instrumented calls as spans.
    pub(crate) spans: bool,
    /// On a user-owned route, the resource the user's OpenTelemetry
    /// variables describe (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`);
    /// `None` on a vendor's route, which never gets them.
    pub(crate) user_resource: Option<&'a [(String, String)]>,
}

impl fmt::Debug for SendContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendContext")
            .field("level", &self.level())
            .field("dropped", &self.dropped.get())
            .field("retry_later", &self.retry_later.get())
            .finish_non_exhaustive()
    }
}

impl SendContext<'_> {
    /// Whether sending may go on: consent is still on and shutdown's deadline
    /// has not passed.
    pub fn may_send(&self) -> bool {
        self.level() > Level::Off
            && self.pace.stop_deadline().is_none_or(|deadline| Instant::now() < deadline)
    }

    /// Whether consent still allows an event classified at `level` to leave
    /// (consent can be lowered while a batch waits to be retried).
    pub(crate) fn allows(&self, level: Level) -> bool {
        level <= self.level()
    }

    /// The level that governs this sink now.
    fn level(&self) -> Level {
        self.allowance.level(self.user_owned)
    }

    /// The check every socket write of a request of events needing
    /// `needed`, prepared under identity `generation`, must pass.
    pub(crate) fn write_check(&self, needed: Level, generation: u64) -> gated::WriteCheck {
        gated::WriteCheck {
            allowance: Arc::clone(self.allowance),
            identity: Arc::clone(self.identity),
            user_owned: self.user_owned,
            needed,
            generation,
        }
    }

    /// The events of `events` that consent still allows, and whose install
    /// id was not reset since they were prepared; the others are counted as
    /// dropped.
    pub(crate) fn still_allowed<'s, 'e>(&self, events: &'s [EventView<'e>]) -> Cow<'s, [EventView<'e>]> {
        self.retain_sendable(events, |e| (e.required_level(), e.generation()))
    }

    /// The items of `items` whose event (the level it needs and its identity
    /// generation, as `needs` gives them) may still be sent; the others are
    /// counted as dropped, for a reset or for consent.
    pub(crate) fn retain_sendable<'s, T: Clone>(
        &self,
        items: &'s [T],
        needs: impl Fn(&T) -> (Level, u64),
    ) -> Cow<'s, [T]> {
        let generation = self.identity.generation();
        let sendable = |item: &T| {
            let (level, of) = needs(item);
            self.allows(level) && of == generation
        };
        if items.iter().all(sendable) {
            return Cow::Borrowed(items);
        }
        let reset = items.iter().filter(|item| needs(item).1 != generation).count();
        let kept: Vec<T> = items.iter().filter(|item| sendable(item)).cloned().collect();
        self.dropped(DropReason::IdentityReset, reset);
        self.dropped(DropReason::ConsentWithdrawn, items.len() - kept.len() - reset);
        Cow::Owned(kept)
    }

    /// Drops and reports an event whose encoding (`bytes`) is over
    /// [`max_event_bytes`](SendContext::max_event_bytes), with a warning.
    pub(crate) fn drop_oversized(&self, name: &str, bytes: usize) {
        log::warn!(
            "Telemetry event {name:?} is {bytes} bytes, over the limit of {}: dropped.",
            self.max_event_bytes
        );
        self.dropped(DropReason::Oversized, 1);
    }

    /// The largest an event may be once encoded
    /// ([`Delivery::max_event_bytes`](crate::Delivery::max_event_bytes)): the
    /// library's sinks drop and report (as [`DropReason::Oversized`]) an
    /// event whose encoding is larger.
    pub(crate) fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// Why [`may_send`](SendContext::may_send) said no: the drop reason for
    /// what is left.
    pub(crate) fn stop_reason(&self) -> DropReason {
        if self.level() == Level::Off {
            DropReason::ConsentWithdrawn
        } else {
            DropReason::Shutdown
        }
    }

    /// Waits `delay` before a retry. Returns `false`, at once, when the wait
    /// would outlast shutdown's deadline or consent is withdrawn (a change
    /// of consent wakes the wait): give up.
    pub fn wait(&self, delay: Duration) -> bool {
        let until = crate::model::time::deadline_after(delay);
        let mut seen = self.pace.consent_changes();
        loop {
            match self.pace.wait_unless_stopping(until, seen) {
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
        let waited = self.pace.wait_unless_stopping(until, *seen);
        if let Waited::ConsentChanged(now) = waited {
            *seen = now;
        }
        waited
    }

    /// The number of consent changes so far.
    pub(crate) fn consent_changes(&self) -> u64 {
        self.pace.consent_changes()
    }

    /// Reports events of the batch that this sink gave up on.
    pub(crate) fn dropped(&self, reason: DropReason, events: usize) {
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

    /// Gives up on `event` for `reason`: it is counted as dropped, once,
    /// however often it is reported, and it is not counted as delivered
    /// when `send` returns `Ok`. With [`DropReason::Undeliverable`] or
    /// [`DropReason::Shutdown`] the spool (when it is on) keeps it for a
    /// later try.
    pub fn drop_event(&self, event: &EventView<'_>, reason: DropReason) {
        let uuid = event.uuid();
        let mut seen = self.dropped_events.borrow_mut();
        if seen.contains(&uuid) {
            return;
        }
        seen.push(uuid);
        drop(seen);
        self.dropped_these(reason, std::iter::once(uuid));
    }

    /// Reports an attempt that did not succeed.
    pub(crate) fn failed_attempt(&self) {
        self.counters.failed();
    }

    /// Reports an attempt about to be retried.
    pub(crate) fn retrying(&self) {
        self.counters.retried();
    }
}

/// Why a sink could not deliver a batch.
#[derive(Debug)]
pub struct SinkError {
    reason: DropReason,
    error: Box<dyn std::error::Error + Send + Sync>,
}

impl SinkError {
    /// A failure whose events are counted as dropped for `reason`. `error`
    /// says why: a message (`&str` or `String`), or the error behind the
    /// failure (an I/O error, say), whose message this one shows and whose
    /// [`source`](std::error::Error::source) this one returns, as
    /// [`io::Error::new`](std::io::Error::new) does.
    ///
    /// ```
    /// use telemetry_runtime::{sink::SinkError, DropReason};
    /// let refused = SinkError::new(DropReason::Undeliverable, "the endpoint answered 503");
    /// let io = SinkError::new(DropReason::SinkError, std::io::Error::other("disk full"));
    /// assert_eq!((refused.to_string(), io.to_string()), ("the endpoint answered 503".into(), "disk full".into()));
    /// ```
    pub fn new(reason: DropReason, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SinkError {
        SinkError { reason, error: error.into() }
    }

    /// A failure that says what could not be done (`message`), caused by
    /// `source`.
    pub(crate) fn with_source(
        reason: DropReason,
        message: String,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> SinkError {
        SinkError::new(reason, crate::error::Because::new(message, source))
    }

    /// The drop reason the batch's events are counted under.
    pub(crate) fn reason(&self) -> DropReason {
        self.reason
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}
