//! Counters the application can read: what was captured, sent and lost.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};

/// Why events were given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The queue was full when the event was captured: it held as many
    /// events ([`Config::queue_capacity`](crate::Delivery::queue_capacity)) or
    /// as many bytes ([`Config::queue_bytes`](crate::Delivery::queue_bytes))
    /// as it may.
    QueueFull,
    /// Consent was lowered after the event was captured.
    ConsentWithdrawn,
    /// The event name or properties were invalid.
    Invalid,
    /// The event alone exceeds the size limit of the event or the endpoint.
    Oversized,
    /// The endpoint refused the batch for good (a 4xx other than 408/429),
    /// or refused the event (PostHog capture V1's `drop` result).
    Rejected,
    /// The request could not be made, and no retry could change that: a
    /// header or URL that HTTP does not allow (built by a custom encoder;
    /// the library's own sinks refuse those when they are configured), or
    /// an endpoint whose TLS certificate does not verify (an issuer nobody
    /// trusted signed it, it expired, it names another host). Given up on
    /// at once, never kept by the spool, and logged as a warning once per
    /// sink.
    Misconfigured,
    /// The endpoint refused the event for a quota or rate limit (PostHog
    /// capture V1's `limited` result).
    Limited,
    /// Retries ran out, or the endpoint stayed unreachable.
    Undeliverable,
    /// Shutdown's deadline came before the event could be delivered: it
    /// was still queued, or in a request the endpoint had not answered.
    Shutdown,
    /// A sink failed in another way (a file that cannot be written, a panic).
    SinkError,
    /// The install id was reset after the event was prepared with the old
    /// one: it is not sent, so that the old id never leaves the process.
    IdentityReset,
    /// Captured in a child process after `fork()`: the client belongs to
    /// the parent, whose worker thread the child does not have.
    Forked,
}

impl DropReason {
    /// Every reason, in the order status output lists them.
    pub(crate) const ALL: &'static [DropReason] = &[
        DropReason::QueueFull,
        DropReason::ConsentWithdrawn,
        DropReason::Invalid,
        DropReason::Oversized,
        DropReason::Rejected,
        DropReason::Misconfigured,
        DropReason::Limited,
        DropReason::Undeliverable,
        DropReason::Shutdown,
        DropReason::SinkError,
        DropReason::IdentityReset,
        DropReason::Forked,
    ];

    /// A snake_case name for logs and status output.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::ConsentWithdrawn => "consent_withdrawn",
            DropReason::Invalid => "invalid",
            DropReason::Oversized => "oversized",
            DropReason::Rejected => "rejected",
            DropReason::Misconfigured => "misconfigured",
            DropReason::Limited => "limited",
            DropReason::Undeliverable => "undeliverable",
            DropReason::Shutdown => "shutdown",
            DropReason::SinkError => "sink_error",
            DropReason::IdentityReset => "identity_reset",
            DropReason::Forked => "forked",
        }
    }

    fn index(self) -> usize {
        DropReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl std::fmt::Display for DropReason {
    /// A snake_case name, as logs and status output show it (`queue_full`,
    /// `consent_withdrawn`, ...).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    captured: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    undeclared: AtomicU64,
    sampled_out: AtomicU64,
    /// Set when shutdown gave up on a worker that was still delivering:
    /// what it had not settled was counted then, and the counters are
    /// final (a late answer must not count those events twice).
    settled: AtomicBool,
}

impl Counters {
    /// Adds `n` to `counter`, unless the counters are final.
    #[inline]
    fn add(&self, counter: &AtomicU64, n: usize) {
        if !self.settled.load(Relaxed) {
            counter.fetch_add(n as u64, Relaxed);
        }
    }
    pub(crate) fn captured(&self) {
        self.add(&self.captured, 1);
    }
    pub(crate) fn sent(&self, n: usize) {
        self.add(&self.sent, n);
    }
    pub(crate) fn failed(&self) {
        self.add(&self.failed, 1);
    }
    /// Properties of dynamic events left out because their declaration
    /// does not name them, or declares another type.
    pub(crate) fn undeclared(&self, n: usize) {
        self.add(&self.undeclared, n);
    }
    /// Events left out by sampling.
    pub(crate) fn sampled_out(&self) {
        self.add(&self.sampled_out, 1);
    }
    pub(crate) fn retried(&self) {
        self.add(&self.retried, 1);
    }
    pub(crate) fn dropped(&self, reason: DropReason, n: usize) {
        self.add(&self.dropped[reason.index()], n);
    }

    /// Freezes the counters, counting every captured event that is neither
    /// sent nor dropped yet as dropped for `reason`; returns how many.
    ///
    /// Exact with one sink (the invariant of [`Stats`]); with several, `sent`
    /// counts (event, sink) pairs and the result is a lower bound.
    pub(crate) fn settle(&self, reason: DropReason) -> u64 {
        if self.settled.swap(true, SeqCst) {
            return 0;
        }
        let stats = self.snapshot();
        let refused = stats.dropped(DropReason::QueueFull) + stats.dropped(DropReason::Invalid);
        let accounted = stats.sent.saturating_add(stats.dropped_total().saturating_sub(refused));
        let unsettled = stats.captured.saturating_sub(accounted);
        self.dropped[reason.index()].fetch_add(unsettled, Relaxed);
        unsettled
    }

    /// Events given up on so far, for every reason.
    pub(crate) fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|n| n.load(Relaxed)).sum()
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            captured: self.captured.load(Relaxed),
            sent: self.sent.load(Relaxed),
            failed: self.failed.load(Relaxed),
            retried: self.retried.load(Relaxed),
            undeclared: self.undeclared.load(Relaxed),
            sampled_out: self.sampled_out.load(Relaxed),
            dropped: std::array::from_fn(|i| self.dropped[i].load(Relaxed)),
        }
    }
}

/// A snapshot of the counters.
///
/// Every event is either refused at capture (`QueueFull`, `Invalid`) or
/// counted as `captured`, and every captured event ends up `sent` or dropped
/// for one of the other reasons. With one sink, once the queue is drained:
/// `captured == sent + dropped_total() - dropped(QueueFull) - dropped(Invalid)`.
/// With several sinks, `sent` and the sink-side drop reasons count each
/// (event, sink) pair: one event delivered to two sinks counts twice.
///
/// Built by the library ([`Telemetry::stats`](crate::Telemetry::stats), or
/// all zero with `Stats::default()`); more counters may be added.
///
/// ```
/// use telemetry_runtime::{DropReason, Stats};
/// let stats = Stats::default();
/// assert_eq!(stats.captured, 0);
/// assert_eq!(stats.dropped(DropReason::QueueFull), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Events accepted into the queue.
    pub captured: u64,
    /// Events delivered.
    pub sent: u64,
    /// Delivery attempts (requests, writes) that did not succeed.
    pub failed: u64,
    /// Attempts that were retried.
    pub retried: u64,
    /// Properties of dynamic events that were left out, the events being
    /// sent without them: their declaration (see [`event!`](crate::event))
    /// does not name them, or declares another type.
    pub undeclared: u64,
    /// Events left out by sampling ([`Delivery::sample_rate`](crate::Delivery::sample_rate)
    /// or an event's own rate), by design: neither captured nor dropped, and
    /// no reason for [`flush`](crate::Telemetry::flush) to report a loss.
    pub sampled_out: u64,
    dropped: [u64; DropReason::ALL.len()],
}

impl Stats {
    /// Events given up on for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Events given up on, for every reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}
