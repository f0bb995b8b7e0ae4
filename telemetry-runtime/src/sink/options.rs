//! The settings every HTTP sink shares: timeouts, request size,
//! compression and retries.

use std::time::Duration;

/// How an HTTP sink ([`PostHogSink`](super::PostHogSink),
/// [`HttpSink`](super::HttpSink), [`OtlpSink`](super::OtlpSink)) sends:
/// changed through the sink's `http` method, which hands over the sink's
/// current options.
///
/// The n-th retry waits a random time between half and all of
/// `min(backoff_cap, backoff_base * 2^n)`, and never less than the
/// server's `Retry-After`; a `Retry-After` longer than `max_retry_after`
/// gives up instead of holding the worker that long (a `Retry-After` is
/// read as seconds or an HTTP date, and as at most a day).
///
/// ```
/// use std::time::Duration;
/// use telemetry_runtime::sink::{HttpOptions, PostHogSink};
///
/// let sink = PostHogSink::new("phc_projectkey123")?.http(|options| HttpOptions {
///     request_timeout: Duration::from_secs(3),
///     max_retries: 1,
///     ..options
/// });
/// # Ok::<(), telemetry_runtime::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// The connect timeout (default 5 s; at most a day).
    pub connect_timeout: Duration,
    /// The limit for each later phase of a request: sending it, waiting
    /// for the answer, reading the answer (default 10 s; at most a day).
    /// It is also the most that lowering consent or resetting the identity
    /// may wait for a write to the socket already under way.
    pub request_timeout: Duration,
    /// The largest request, URL and body before compression; more events go
    /// in several requests (default 5 MiB). A single event larger than this
    /// is still sent on its own.
    pub max_request_bytes: usize,
    /// Bodies larger than this are sent gzip-compressed
    /// (`Content-Encoding: gzip`); `None` never compresses (default 4 KiB
    /// with the `gzip` feature, on by default).
    pub gzip_above: Option<usize>,
    /// Retries after the first attempt (default 3; 0 disables retrying).
    pub max_retries: u32,
    /// The delay before the first retry, before jitter (default 500 ms).
    pub backoff_base: Duration,
    /// The longest computed delay (default 30 s).
    pub backoff_cap: Duration,
    /// The longest `Retry-After` the sink waits for (default 60 s).
    pub max_retry_after: Duration,
}
