//! HTTP delivery shared by the PostHog and generic JSON sinks: timeouts,
//! retries, request size limits and splitting a batch the server found too
//! large.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::io::{self, Read};
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use super::retry::Backoff;
use super::{Batch, EncodedEvent, SendContext, Sink, SinkError};
use crate::config::ConfigError;
use crate::queue::Waited;
use crate::stats::DropReason;
use crate::time::rfc3339;

/// Bodies above this many bytes are compressed by default: smaller ones
/// gain little and cost CPU.
pub(crate) const DEFAULT_GZIP_ABOVE: usize = 4 * 1024;

/// The longest wait a `Retry-After` is read as, whatever it says (up to
/// `u64::MAX` seconds, or a date in the year 9999): a day. The backoff
/// policy gives up on anything over its own limit (60 s by default) anyway;
/// the cap is there so that no arithmetic on a server's number can overflow.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The longest timeout of one phase of a request: a day. ureq adds each
/// timeout to the current `Instant`, which panics on overflow, so a
/// configured `Duration::MAX` is clamped to this.
pub(crate) const MAX_PHASE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Builds a request body from the events of one request and `sent_at`.
pub(crate) type BodyFn<'a> = &'a dyn for<'e> Fn(&'e [EncodedEvent], &str) -> Body<'e>;

/// Gives a closure the signature of a [`BodyFn`] (closures do not infer
/// a return type that borrows from an argument).
pub(crate) fn body_fn<F>(build: F) -> F
where
    F: for<'e> Fn(&'e [EncodedEvent], &str) -> Body<'e>,
{
    build
}

/// A request body.
pub(crate) enum Body<'e> {
    Bytes(Vec<u8>),
    /// `head`, the events' JSON separated by commas, then `tail`: the
    /// events are copied (or compressed) straight from the buffers they
    /// were encoded into, a run of neighbours at a time.
    Batch {
        head: Vec<u8>,
        events: &'e [EncodedEvent],
        tail: &'static [u8],
    },
}

impl Body<'_> {
    fn len(&self) -> usize {
        match self {
            Body::Bytes(bytes) => bytes.len(),
            Body::Batch { head, events, tail } => {
                let commas = events.len().saturating_sub(1);
                head.len() + events.iter().map(|e| e.json_bytes().len()).sum::<usize>() + commas + tail.len()
            }
        }
    }

    /// The body's bytes, in pieces.
    fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        let (head, events, tail): (&[u8], &[EncodedEvent], &[u8]) = match self {
            Body::Bytes(bytes) => (bytes, &[], &[]),
            Body::Batch { head, events, tail } => (head, events, tail),
        };
        let runs =
            super::runs(events).enumerate().flat_map(|(i, run)| [if i > 0 { &b","[..] } else { &[] }, run]);
        std::iter::once(head).chain(runs).chain(std::iter::once(tail))
    }

    fn into_bytes(self) -> Vec<u8> {
        match self {
            Body::Bytes(bytes) => bytes,
            batch => {
                // Sized once: growing a body of hundreds of events step by
                // step copies it several times.
                let mut out = Vec::with_capacity(batch.len());
                for piece in batch.pieces() {
                    out.extend_from_slice(piece);
                }
                out
            }
        }
    }
}

/// The request machinery: lazily built agent, timeouts, backoff.
#[derive(Clone)]
pub(crate) struct Transport {
    agent: Option<ureq::Agent>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) max_request_bytes: usize,
    pub(crate) headers: Vec<(String, String)>,
    /// Bodies larger than this are sent gzip-compressed; `None`: never.
    pub(crate) gzip_above: Option<usize>,
}

impl fmt::Debug for Transport {
    /// Header names only: their values are often credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Transport")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("backoff", &self.backoff)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("gzip_above", &self.gzip_above)
            .field("headers", &header_names)
            .finish_non_exhaustive()
    }
}

/// What one request came to.
enum Attempt {
    Delivered,
    /// Consent was lowered (or shutdown's deadline passed) after the body
    /// was built: the request was cut off before its first body byte.
    Withheld,
    Retry {
        after: Option<Duration>,
        why: String,
    },
    Rejected(u16),
    TooLarge,
}

/// Why a group of events was not delivered.
enum Failure {
    /// The server refused the group as too large; `Some` holds what was left
    /// of it after consent was lowered (`None`: all of it).
    TooLarge(Option<Vec<EncodedEvent>>),
    /// Give up on the group's remaining events (their uuids) for this reason.
    Drop(DropReason, String, Vec<Uuid>),
}

impl Transport {
    pub(crate) fn new() -> Transport {
        Transport {
            agent: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            max_request_bytes: 5 * 1024 * 1024,
            headers: vec![("Content-Type".into(), "application/json".into())],
            gzip_above: cfg!(feature = "gzip").then_some(DEFAULT_GZIP_ABOVE),
        }
    }

    fn agent(&mut self) -> &ureq::Agent {
        let connect = self.connect_timeout.min(MAX_PHASE_TIMEOUT);
        let phase = self.request_timeout.min(MAX_PHASE_TIMEOUT);
        self.agent.get_or_insert_with(|| {
            // Each phase has its own limit rather than one global deadline:
            // with a global deadline ureq resolves the host on a new thread
            // for every request (to bound the lookup), a thread spawned per
            // batch. Without one it resolves on the worker, which only ever
            // delays telemetry, never the program.
            ureq::Agent::config_builder()
                .timeout_connect(Some(connect))
                .timeout_send_request(Some(phase))
                .timeout_send_body(Some(phase))
                .timeout_recv_response(Some(phase))
                .timeout_recv_body(Some(phase))
                .http_status_as_error(false)
                // Never re-send telemetry to a place the configuration did not name.
                .max_redirects(0)
                .max_redirects_will_error(false)
                .user_agent(concat!("telemetry-runtime/", env!("CARGO_PKG_VERSION")))
                .build()
                .into()
        })
    }

    /// Posts `body`; `may_write` is asked just before each piece of the
    /// body is written (the head carries no event data), so that no event
    /// leaves after consent was lowered below its level, however long the
    /// connection took.
    fn post(&mut self, url: &str, body: Body<'_>, may_write: &dyn Fn() -> bool) -> Attempt {
        let len = body.len();
        let compressed = self.gzip_above.filter(|limit| len > *limit).and_then(|_| gzip(body.pieces(), len));
        let body = match compressed {
            Some(_) => Vec::new(),
            None => body.into_bytes(),
        };
        let mut request = self.agent().post(url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if compressed.is_some() {
            request = request.header("Content-Encoding", "gzip");
        }
        let bytes = compressed.as_deref().unwrap_or(&body);
        let withheld = Cell::new(false);
        let mut gated = GatedBody { rest: bytes, may_write, withheld: &withheld };
        // A stated length keeps the body sized: ureq writes it straight to
        // the socket, as it does a byte slice (and never logs it).
        let request = request.header("Content-Length", bytes.len());
        match request.send(ureq::SendBody::from_reader(&mut gated)) {
            Err(_) if withheld.get() => Attempt::Withheld,
            Ok(mut response) => {
                let status = response.status().as_u16();
                let after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|value| parse_retry_after(value, SystemTime::now()));
                // Reading the (small) body lets the connection be reused.
                let _ = response.body_mut().with_config().limit(64 * 1024).read_to_vec();
                classify(status, after)
            }
            Err(err) => Attempt::Retry { after: None, why: err.to_string() },
        }
    }

    /// Sends `batch` to `url` in requests within the size limit; a group the
    /// server answers 413 is split in halves, and a single event it refuses
    /// is dropped and counted. Failures are reported through `cx`.
    pub(crate) fn send_batch(&mut self, url: &str, batch: &Batch, cx: &SendContext<'_>, body: BodyFn<'_>) {
        // The envelope around the events ({"api_key":..,"batch":[..]}) counts
        // towards the limit; `sent_at` always has the same length.
        let overhead = body(&[], &rfc3339(SystemTime::now())).len();
        let limit = self.max_request_bytes.saturating_sub(overhead);
        let mut start = 0;
        let mut size = 0;
        let events = batch.events();
        for (i, event) in events.iter().enumerate() {
            // Each event adds its JSON and a separating comma.
            let len = event.json_bytes().len() + 1;
            if i > start && size + len > limit {
                self.send_group(url, &events[start..i], cx, body);
                start = i;
                size = 0;
            }
            size += len;
        }
        if start < events.len() {
            self.send_group(url, &events[start..], cx, body);
        }
    }

    fn send_group(&mut self, url: &str, events: &[EncodedEvent], cx: &SendContext<'_>, body: BodyFn<'_>) {
        match self.send_with_retries(url, events, cx, body) {
            Ok(()) => {}
            Err(Failure::TooLarge(Some(kept))) => self.send_group(url, &kept, cx, body),
            Err(Failure::TooLarge(None)) if events.len() > 1 => {
                let (left, right) = events.split_at(events.len() / 2);
                self.send_group(url, left, cx, body);
                self.send_group(url, right, cx, body);
            }
            Err(Failure::TooLarge(None)) => {
                let event = &events[0];
                log::warn!(
                    "Telemetry event {:?} ({} bytes) is too large for {}: dropped.",
                    event.name(),
                    event.json_bytes().len(),
                    shown_url(url)
                );
                cx.dropped(DropReason::Oversized, 1);
            }
            Err(Failure::Drop(reason, why, remaining)) => {
                log::warn!(
                    "Telemetry: {} events not delivered to {}: {why}",
                    remaining.len(),
                    shown_url(url)
                );
                cx.dropped_these(reason, remaining.into_iter());
            }
        }
    }

    fn send_with_retries(
        &mut self,
        url: &str,
        events: &[EncodedEvent],
        cx: &SendContext<'_>,
        body: BodyFn<'_>,
    ) -> Result<(), Failure> {
        let mut retry = 0;
        let mut events = Cow::Borrowed(events);
        let mut consent_changes = cx.consent_changes();
        loop {
            if !cx.may_send() {
                return Err(Failure::Drop(
                    cx.stop_reason(),
                    "stopped before delivery".into(),
                    uuids(&events),
                ));
            }
            // Consent may have been lowered while waiting to retry.
            if let Cow::Owned(kept) = cx.still_allowed(&events) {
                events = Cow::Owned(kept);
            }
            if events.is_empty() {
                return Ok(());
            }
            // Checked again just before the body is written: the level the
            // events need, against the consent in force then.
            let needed = events.iter().map(EncodedEvent::level).max().unwrap_or(crate::Level::Full);
            let generation = events.iter().map(|e| e.generation).min().unwrap_or(0);
            let may_write = || cx.may_send() && cx.allows(needed) && cx.is_current(generation);
            // `sent_at` is fresh on each attempt; uuids and timestamps are not.
            let attempt = self.post(url, body(&events, &rfc3339(SystemTime::now())), &may_write);
            let (after, why) = match attempt {
                Attempt::Delivered => return Ok(()),
                // Nothing of the body left: the next round drops what no
                // longer qualifies and sends the rest.
                Attempt::Withheld => continue,
                Attempt::TooLarge => {
                    cx.failed_attempt();
                    return Err(Failure::TooLarge(match events {
                        Cow::Owned(kept) => Some(kept),
                        Cow::Borrowed(_) => None,
                    }));
                }
                Attempt::Rejected(status) => {
                    cx.failed_attempt();
                    return Err(Failure::Drop(
                        DropReason::Rejected,
                        format!("HTTP {status}"),
                        uuids(&events),
                    ));
                }
                Attempt::Retry { after, why } => (after, why),
            };
            cx.failed_attempt();
            if retry >= self.backoff.retries() {
                let why = format!("{why} (no retries left)");
                return Err(Failure::Drop(DropReason::Undeliverable, why, uuids(&events)));
            }
            let Some(delay) = self.backoff.delay(retry, after) else {
                let why = format!("{why} (Retry-After too long)");
                return Err(Failure::Drop(DropReason::Undeliverable, why, uuids(&events)));
            };
            log::debug!("Telemetry: {why}; retrying in {delay:?}.");
            cx.retrying();
            // A consent change wakes the wait: what no longer qualifies is
            // dropped at once, and the rest waits out the delay.
            let until = crate::client::deadline_after(delay);
            loop {
                match cx.wait_or_consent_change(until, &mut consent_changes) {
                    Waited::Elapsed if cx.may_send() => break,
                    Waited::Elapsed | Waited::Stopping => {
                        let why = format!("{why} (stopped while waiting to retry)");
                        return Err(Failure::Drop(cx.stop_reason(), why, uuids(&events)));
                    }
                    Waited::ConsentChanged(_) => {
                        if !cx.may_send() {
                            let why = format!("{why} (consent withdrawn while waiting to retry)");
                            return Err(Failure::Drop(cx.stop_reason(), why, uuids(&events)));
                        }
                        if let Cow::Owned(kept) = cx.still_allowed(&events) {
                            events = Cow::Owned(kept);
                        }
                        if events.is_empty() {
                            return Ok(());
                        }
                    }
                }
            }
            retry += 1;
        }
    }
}

fn uuids(events: &[EncodedEvent]) -> Vec<Uuid> {
    events.iter().map(EncodedEvent::uuid).collect()
}

/// A request body that asks, before each piece is written, whether it may
/// still be sent; if not, the request fails before that piece leaves.
struct GatedBody<'a> {
    rest: &'a [u8],
    may_write: &'a dyn Fn() -> bool,
    withheld: &'a Cell<bool>,
}

impl Read for GatedBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rest.is_empty() || buf.is_empty() {
            return Ok(0);
        }
        if !(self.may_write)() {
            self.withheld.set(true);
            return Err(io::Error::other("consent no longer allows this request's events"));
        }
        let n = buf.len().min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

/// The body (`len` bytes, in pieces) gzip-compressed, or `None` to send it
/// as it is (it could not be compressed).
///
/// The gzip framing (RFC 1952) is written here around flate2's raw deflate
/// stream, so that the checksum comes from crc32fast.
#[cfg(feature = "gzip")]
fn gzip<'p>(pieces: impl Iterator<Item = &'p [u8]>, len: usize) -> Option<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    /// Magic, deflate, no flags, no time, fastest level (`XFL` 4), unknown OS.
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];
    let mut out = Vec::with_capacity(len / 4 + 64);
    out.extend_from_slice(&HEADER);
    let mut deflate = Compress::new(Compression::fast(), false);
    let mut crc = crc32fast::Hasher::new();
    // Runs the compressor until `input` is consumed (and, to finish, until
    // the stream ends), growing `out` when it is full. `None` if it stalls.
    let mut run = |mut input: &[u8], flush: FlushCompress, out: &mut Vec<u8>| -> Option<()> {
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(4096));
            }
            let (read, written) = (deflate.total_in(), deflate.total_out());
            let status = deflate.compress_vec(input, out, flush).ok()?;
            let consumed = usize::try_from(deflate.total_in() - read).ok()?;
            input = input.get(consumed..)?;
            let finished = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => input.is_empty(),
            };
            if finished {
                return Some(());
            }
            if consumed == 0 && deflate.total_out() == written && out.capacity() - out.len() >= 64 {
                return None;
            }
        }
    };
    let mut total = 0usize;
    for piece in pieces {
        crc.update(piece);
        total = total.wrapping_add(piece.len());
        run(piece, FlushCompress::None, &mut out)?;
    }
    run(&[], FlushCompress::Finish, &mut out)?;
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    // The length modulo 2^32, as the format defines it.
    out.extend_from_slice(&(total as u32).to_le_bytes());
    Some(out)
}

#[cfg(not(feature = "gzip"))]
fn gzip<'p>(_: impl Iterator<Item = &'p [u8]>, _: usize) -> Option<Vec<u8>> {
    None
}

fn classify(status: u16, after: Option<Duration>) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        413 => Attempt::TooLarge,
        408 | 429 | 500..=599 => Attempt::Retry { after, why: format!("HTTP {status}") },
        _ => Attempt::Rejected(status),
    }
}

/// A `Retry-After` value as a wait from `now`: delay-seconds, or an HTTP
/// date (RFC 9110 section 10.2.3; read by the `httpdate` crate, which takes
/// the three date forms the RFC allows and refuses years past 9999). A date
/// in the past means no wait; any wait is at most [`MAX_RETRY_AFTER`].
/// Anything else is `None`: the backoff alone decides.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        // Digits beyond what a u64 holds are still a (very long) wait.
        value.parse::<u64>().map_or(Duration::MAX, Duration::from_secs)
    } else {
        parse_http_date(value)?.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// An HTTP date in any of its three forms, between 1970 and 9999.
pub(crate) fn parse_http_date(value: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(value).ok()
}

/// `url` as logs and sink names show it: scheme, host, port and path, never
/// a user name, password or query, where a secret may be written.
pub(crate) fn shown_url(url: &str) -> String {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else { return "(an invalid URL)".to_owned() };
    let mut shown = format!("{}://{}", uri.scheme_str().unwrap_or("http"), uri.host().unwrap_or_default());
    if let Some(port) = uri.port_u16() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(uri.path());
    if uri.query().is_some() {
        shown.push_str("?(query not shown)");
    }
    shown
}

/// Checks that `url` is an absolute http(s) URL.
pub(crate) fn check_url(url: &str) -> Result<(), ConfigError> {
    let uri: ureq::http::Uri = url.parse().map_err(|e| ConfigError::new(format!("URL {url:?}: {e}")))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(()),
        _ => Err(ConfigError::new(format!("URL {url:?} must be an absolute http:// or https:// URL"))),
    }
}

/// Sends batches as JSON to any HTTP endpoint: `POST` with the body
/// `{"sent_at": "...", "batch": [event, ...]}`, each event in the shape
/// PostHog uses. Retries like [`PostHogSink`](super::PostHogSink).
///
/// An API key can travel in a header or in the body. In the body
/// ([`body_field`](HttpSink::body_field), as PostHog reads `api_key`) it
/// stays out of every log line; a header value is never logged by this
/// library, but the HTTP client prints every header at its trace level
/// (see the README's Security section).
///
/// ```
/// use telemetry_runtime::sink::HttpSink;
/// let sink = HttpSink::new("https://telemetry.example.com/v1/events")?
///     .body_field("api_key", "key-123");
/// assert!(HttpSink::new("ftp://example.com").is_err());
/// # Ok::<(), telemetry_runtime::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HttpSink {
    url: String,
    /// The URL without what may hold a secret, for logs and status.
    name: String,
    /// `"name":value,` for each field added to the body.
    fields: String,
    transport: Transport,
}

impl HttpSink {
    /// Where requests go, headers and body fields hashed (see
    /// [`super::destination`]).
    pub(crate) fn destination(&self) -> String {
        let secrets = format!("{:?}\n{}", self.transport.headers, self.fields);
        format!("http\t{}\t{}", self.url, crate::redact::fingerprint(secrets.as_bytes()))
    }

    /// A sink posting to `url`; refused unless it is an absolute http(s) URL.
    pub fn new(url: impl Into<String>) -> Result<HttpSink, ConfigError> {
        let url = url.into();
        check_url(&url)?;
        Ok(HttpSink { name: shown_url(&url), url, fields: String::new(), transport: Transport::new() })
    }

    /// Adds a request header (for example an authorization token). This
    /// library never logs header values; the HTTP client (ureq) prints them
    /// in its own trace-level output, which only the host program's logger
    /// configuration can keep out: for a secret, prefer
    /// [`body_field`](HttpSink::body_field).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> HttpSink {
        self.transport.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a top-level text field to every request body, before `sent_at`
    /// and `batch`: for an API key the endpoint reads from the body, the way
    /// PostHog reads `api_key`. Unlike a header or the URL, the body is never
    /// written to any log, at any level (ureq logs request heads only).
    ///
    /// ```
    /// # use telemetry_runtime::sink::HttpSink;
    /// // POST {"api_key":"key-123","sent_at":"...","batch":[...]}
    /// let sink = HttpSink::new("https://telemetry.example.com/v1/events")?.body_field("api_key", "key-123");
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn body_field(mut self, name: &str, value: &str) -> HttpSink {
        // Strings always serialize.
        let name = serde_json::to_string(name).unwrap_or_default();
        let value = serde_json::to_string(value).unwrap_or_default();
        self.fields.push_str(&format!("{name}:{value},"));
        self
    }

    /// The retry policy (default [`Backoff::default`]).
    pub fn backoff(mut self, backoff: Backoff) -> HttpSink {
        self.transport.backoff = backoff;
        self
    }

    /// The connect timeout, and the limit for each later phase of a request:
    /// sending it, waiting for the answer, reading the answer (defaults 5 s
    /// and 10 s). The host name is resolved on the worker thread with the
    /// system's own lookup timeouts, so a slow DNS delays telemetry only.
    /// Each timeout is at most a day: a longer one (such as `Duration::MAX`)
    /// is taken as a day.
    pub fn timeouts(mut self, connect: Duration, request: Duration) -> HttpSink {
        self.transport.connect_timeout = connect;
        self.transport.request_timeout = request;
        self
    }

    /// The largest request body; larger batches go in several requests
    /// (default 5 MiB).
    pub fn max_request_bytes(mut self, bytes: usize) -> HttpSink {
        self.transport.max_request_bytes = bytes.max(1);
        self
    }

    /// Compresses request bodies larger than `above` bytes with gzip
    /// (`Content-Encoding: gzip`); `None` never compresses. Default: above
    /// 4 KiB with the `gzip` feature (on by default), never without it.
    pub fn gzip_above(mut self, above: Option<usize>) -> HttpSink {
        self.transport.gzip_above = above;
        self
    }
}

impl Sink for HttpSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        let fields = &self.fields;
        let body = body_fn(|events, sent_at| {
            let head = format!("{{{fields}\"sent_at\":\"{sent_at}\",\"batch\":[").into_bytes();
            Body::Batch { head, events, tail: b"]}" }
        });
        self.transport.send_batch(&self.url, batch, cx, &body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;

    /// Events encoded together: one buffer, each followed by a comma.
    fn encoded_together(texts: &[&str]) -> Vec<EncodedEvent> {
        let mut buffer = Vec::new();
        let mut spans = Vec::new();
        for text in texts {
            let start = buffer.len();
            buffer.extend_from_slice(text.as_bytes());
            spans.push(start..buffer.len());
            buffer.push(b',');
        }
        let buffer = Arc::new(buffer);
        spans
            .into_iter()
            .map(|span| EncodedEvent {
                buffer: Arc::clone(&buffer),
                span,
                ..EncodedEvent::new(
                    "e".into(),
                    uuid::Uuid::nil(),
                    Vec::new(),
                    Level::Usage,
                    false,
                    UNIX_EPOCH,
                )
            })
            .collect()
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_bodies_decode_to_their_pieces_with_a_valid_checksum() {
        use std::io::Read;
        let varied: Vec<u8> =
            (0..300_000u32).flat_map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()).collect();
        let repeated = b"{\"event\":\"e\",\"n\":1},".repeat(20_000);
        for pieces in [vec![], vec![&b""[..]], vec![&b"{}"[..]], vec![&varied[..], &b","[..], &repeated[..]]]
        {
            let expected: Vec<u8> = pieces.concat();
            let compressed = gzip(pieces.iter().copied(), expected.len()).expect("compressed");
            let mut decoded = Vec::new();
            // The decoder checks the CRC-32 and the length in the trailer.
            flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut decoded).expect("valid gzip");
            assert_eq!(decoded, expected);
            // ...which the decoder does check: a wrong checksum is refused.
            let mut corrupt = compressed.clone();
            let at = corrupt.len() - 8;
            corrupt[at] ^= 1;
            assert!(flate2::read::GzDecoder::new(&corrupt[..]).read_to_end(&mut Vec::new()).is_err());
        }
    }

    #[test]
    fn a_batch_body_joins_runs_of_neighbours_and_lone_events() {
        let together = encoded_together(&["{\"a\":1}", "{\"b\":2}", "{\"c\":3}", "{\"d\":4}"]);
        let alone = EncodedEvent::new(
            "e".into(),
            uuid::Uuid::nil(),
            b"{\"x\":0}".to_vec(),
            Level::Usage,
            false,
            UNIX_EPOCH,
        );
        // A gap (an event left out, as a route does) splits a run.
        let events =
            vec![together[0].clone(), together[1].clone(), together[3].clone(), alone, together[2].clone()];
        let body = Body::Batch { head: b"[".to_vec(), events: &events, tail: b"]" };
        let pieces = body.pieces().filter(|p| !p.is_empty()).count();
        assert_eq!(pieces, 1 + 4 + 3 + 1, "head, four runs, three commas, tail");
        let len = body.len();
        let bytes = body.into_bytes();
        assert_eq!(bytes.len(), len);
        assert_eq!(String::from_utf8(bytes).unwrap(), "[{\"a\":1},{\"b\":2},{\"d\":4},{\"x\":0},{\"c\":3}]");
        let empty = Body::Batch { head: b"[".to_vec(), events: &[], tail: b"]" };
        assert_eq!(empty.len(), 2);
        assert_eq!(empty.into_bytes(), b"[]");
    }

    #[test]
    fn status_classes() {
        assert!(matches!(classify(200, None), Attempt::Delivered));
        assert!(matches!(classify(204, None), Attempt::Delivered));
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(matches!(classify(s, None), Attempt::Retry { .. }), "{s}");
        }
        for s in [301, 400, 401, 403, 404] {
            assert!(matches!(classify(s, None), Attempt::Rejected(_)), "{s}");
        }
        assert!(matches!(classify(413, None), Attempt::TooLarge));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
        // The other two forms RFC 9110 asks recipients to accept.
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now), Some(Duration::ZERO));
        let at = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", at), Some(Duration::from_secs(30)));
        for bad in ["soon", "", "-1", "1.5", "+", "Sun, 06 Nov 1994 08:49:37 UTC"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_is_capped_whatever_the_server_says() {
        let now = SystemTime::now();
        for huge in
            ["18446744073709551615", "99999999999999999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"]
        {
            assert_eq!(parse_retry_after(huge, now), Some(MAX_RETRY_AFTER), "{huge:?}");
        }
        // A year the date forms cannot hold is no date at all.
        assert_eq!(parse_retry_after("Sun, 06 Nov 300000000000 08:49:37 GMT", now), None);
        // Whatever it read, a wait can be added to the clock.
        for value in ["18446744073709551615", "Fri, 31 Dec 9999 23:59:59 GMT"] {
            let wait = parse_retry_after(value, std::time::UNIX_EPOCH).unwrap();
            assert!(std::time::Instant::now().checked_add(wait).is_some());
        }
    }

    #[test]
    fn urls_are_shown_without_credentials_or_query() {
        assert_eq!(
            shown_url("https://user:pw@h.example:8443/v1/e?api_key=s3cret"),
            "https://h.example:8443/v1/e?(query not shown)"
        );
        assert_eq!(shown_url("http://127.0.0.1:9/batch/"), "http://127.0.0.1:9/batch/");
        let sink = HttpSink::new("https://h.example/in?token=s3cret").unwrap();
        assert!(!sink.name().contains("s3cret"));
    }

    #[test]
    fn urls() {
        assert!(check_url("http://127.0.0.1:8080/x").is_ok());
        assert!(check_url("https://eu.i.posthog.com").is_ok());
        for bad in ["", "localhost:80", "ftp://x", "http://", "not a url"] {
            assert!(check_url(bad).is_err(), "{bad:?}");
        }
    }
}
