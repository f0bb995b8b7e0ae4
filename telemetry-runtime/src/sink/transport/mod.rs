//! HTTP delivery for any sink: requests within size limits, retries with
//! backoff and jitter, `Retry-After`, splitting what the server found too
//! large, gzip, timeouts, and a consent check on every write to the socket
//! (`gated`). The library's PostHog, HTTP and OTLP sinks use it, and so
//! can a sink of the application's own, with its own encoder.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use uuid::Uuid;

use super::gated::SharedSlot;
use super::options::HttpOptions;
use super::results::PerEventResults;
use super::retry::Backoff;
use super::{EventView, SendContext, Waited};
use crate::error::ConfigError;
use crate::model::stats::DropReason;
use crate::model::time::deadline_after;
use crate::Level;
use answer::{settle, Attempt};
use request::{build, url_of, uuids};
use wire::Deflater;

mod answer;
mod headers;
mod request;
mod wire;

#[cfg(fuzzing)]
pub(crate) use answer::{parse_http_date, parse_retry_after, MAX_RETRY_AFTER};
pub(crate) use headers::{check_header, shown_url};
pub(crate) use request::{Request, RequestEncoder};

/// Bodies above this many bytes are compressed by default: smaller ones
/// gain little and cost CPU.
pub(crate) const DEFAULT_GZIP_ABOVE: usize = 4 * 1024;

/// The longest timeout of one phase of a request: a day. ureq adds each
/// timeout to the current `Instant`, which panics on overflow, so a
/// configured `Duration::MAX` is clamped to this.
pub(crate) const MAX_PHASE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The HTTP machinery the library's sinks send with: it encodes events with
/// a sink's [`RequestEncoder`], and handles size limits, retries with
/// exponential backoff and jitter (honouring `Retry-After`), splitting a
/// group the server answered 413, gzip, timeouts, and consent: no body byte
/// leaves once consent no longer allows the request's events, however long
/// the connection took. Failures are reported through the [`SendContext`],
/// so the runtime counts them and the spool keeps what a later run may
/// deliver.
#[derive(Clone)]
pub(crate) struct HttpTransport {
    client: Client,
    connect_timeout: Duration,
    request_timeout: Duration,
    backoff: Backoff,
    max_request_bytes: usize,
    headers: Vec<(String, String)>,
    /// Bodies larger than this are sent gzip-compressed; `None`: never.
    gzip_above: Option<usize>,
    deflater: Deflater,
    buffers: Buffers,
    /// Whether a failure no retry can heal was logged as a warning: the
    /// next ones are logged at debug level.
    warned_final: bool,
    /// Requests answered event by event (PostHog's capture V1): `Some`
    /// holds the current request's id.
    per_event: Option<PerEventResults>,
}

/// The HTTP client, built on first use, and the check its connections'
/// writes pass ([`gated`]).
#[derive(Default)]
struct Client {
    agent: Option<ureq::Agent>,
    slot: SharedSlot,
}

impl Clone for Client {
    /// A new transport has its own connections and its own check.
    fn clone(&self) -> Client {
        Client::default()
    }
}

/// The last request sent and its compressed body, kept for their memory:
/// the next request is built into them rather than into fresh allocations
/// of a few hundred kilobytes each.
#[derive(Default)]
struct Buffers {
    request: Request,
    compressed: Vec<u8>,
}

impl Clone for Buffers {
    /// A new transport starts with its own.
    fn clone(&self) -> Buffers {
        Buffers::default()
    }
}

impl fmt::Debug for HttpTransport {
    /// Header names only: their values are often credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("HttpTransport")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("backoff", &self.backoff)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("gzip_above", &self.gzip_above)
            .field("headers", &header_names)
            .finish_non_exhaustive()
    }
}

impl Default for HttpTransport {
    fn default() -> HttpTransport {
        HttpTransport::new()
    }
}

/// Why a group of events was not delivered.
enum Failure<'e> {
    /// The server refused the group as too large; `Some` holds what was left
    /// of it after consent was lowered (`None`: all of it).
    TooLarge(Option<Vec<EventView<'e>>>),
    /// Give up on the group's remaining events (their uuids) for this reason.
    Drop(DropReason, String, Vec<Uuid>),
}

impl HttpTransport {
    /// A transport with the defaults: connect timeout 5 s, 10 s for each
    /// later phase, [`Backoff::default`], requests up to 5 MiB, gzip above
    /// 4 KiB (with the `gzip` feature, on by default), `Content-Type:
    /// application/json`.
    pub(crate) fn new() -> HttpTransport {
        HttpTransport {
            client: Client::default(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            max_request_bytes: 5 * 1024 * 1024,
            headers: vec![("Content-Type".into(), "application/json".into())],
            gzip_above: cfg!(feature = "gzip").then_some(DEFAULT_GZIP_ABOVE),
            deflater: Deflater::default(),
            buffers: Buffers::default(),
            warned_final: false,
            per_event: None,
        }
    }

    /// Speaks a protocol that answers each event of a 200 on its own
    /// (PostHog's capture V1, `sink/results.rs`): each attempt carries the
    /// request's id, its number and its time in headers; of a 200 answer,
    /// only the events whose result is `retry` are sent again (the same
    /// request id, the next attempt), `drop` and `limited` are counted as
    /// dropped (`Rejected`, `Limited`), the rest as delivered; and only
    /// 408, 500, 503 and 504 are retried.
    pub(crate) fn per_event_results(mut self) -> HttpTransport {
        self.per_event = Some(PerEventResults::default());
        self
    }

    /// Adds a header to every request. This library never logs header
    /// values; the HTTP client (ureq) prints them at its trace level (see
    /// the README's Security section): for a secret, prefer the body.
    ///
    /// Refused, with an error that never shows the value: a name HTTP does
    /// not allow (empty, or with a character other than letters, digits and
    /// ``!#$%&'*+-.^_`|~``), a value with a control character (a line
    /// break would end the header; the HTTP client finds it only when
    /// sending, and every request would fail), and the headers the
    /// transport sets itself to frame the body (`Content-Length`,
    /// `Content-Encoding`, `Transfer-Encoding`).
    pub(crate) fn header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<HttpTransport, ConfigError> {
        let (name, value) = (name.into(), value.into());
        check_header(&name, &value)?;
        // One value per name: a second `Content-Type` replaces the default.
        self.headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(&name));
        self.headers.push((name, value));
        Ok(self)
    }

    /// The retry policy (default [`Backoff::default`]).
    pub(crate) fn backoff(mut self, backoff: Backoff) -> HttpTransport {
        self.backoff = backoff;
        self
    }

    /// The connect timeout, and the limit for each later phase of a request:
    /// sending it, waiting for the answer, reading the answer (defaults 5 s
    /// and 10 s). Each is at most a day: a longer one (such as
    /// `Duration::MAX`) is taken as a day.
    pub(crate) fn timeouts(mut self, connect: Duration, request: Duration) -> HttpTransport {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    /// The largest request (URL and body before compression, what the
    /// encoder's `end` adds included); more events go in several requests
    /// (default 5 MiB). A single event larger than this is still sent on
    /// its own.
    pub(crate) fn max_request_bytes(mut self, bytes: usize) -> HttpTransport {
        self.max_request_bytes = bytes.max(1);
        self
    }

    /// Compresses bodies larger than `above` bytes with gzip
    /// (`Content-Encoding: gzip`); `None` never compresses.
    pub(crate) fn gzip_above(mut self, above: Option<usize>) -> HttpTransport {
        self.gzip_above = above;
        self
    }

    /// The options this transport sends with.
    pub(crate) fn options(&self) -> HttpOptions {
        HttpOptions {
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            max_request_bytes: self.max_request_bytes,
            gzip_above: self.gzip_above,
            max_retries: self.backoff.max_retries,
            backoff_base: self.backoff.base,
            backoff_cap: self.backoff.cap,
            max_retry_after: self.backoff.max_retry_after,
        }
    }

    /// This transport, sending with `options`.
    pub(crate) fn with_options(self, options: HttpOptions) -> HttpTransport {
        let backoff = Backoff {
            max_retries: options.max_retries,
            base: options.backoff_base,
            cap: options.backoff_cap,
            max_retry_after: options.max_retry_after,
        };
        self.timeouts(options.connect_timeout, options.request_timeout)
            .max_request_bytes(options.max_request_bytes)
            .gzip_above(options.gzip_above)
            .backoff(backoff)
    }

    /// The headers every request carries, for the spool's fingerprint of a
    /// sink.
    /// A header the library itself sets, from values it built and checked
    /// (a content type, a validated project key): unlike
    /// [`header`](HttpTransport::header) it cannot fail.
    pub(crate) fn fixed_header(mut self, name: &'static str, value: impl Into<String>) -> HttpTransport {
        let value = value.into();
        debug_assert!(check_header(name, &value).is_ok(), "{name}");
        self.headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value));
        self
    }

    pub(crate) fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Delivers `events` in requests `encoder` builds, within the size
    /// limits; a group the server answers 413 is split in halves, and a
    /// single event it refuses is dropped. What is not delivered is
    /// reported through `cx` (by uuid, so the spool keeps exactly those).
    pub(crate) fn send(
        &mut self,
        events: &[EventView<'_>],
        cx: &SendContext<'_>,
        encoder: &mut dyn RequestEncoder,
    ) {
        let max_events = encoder.max_events().max(1);
        let mut request = Request::default();
        // A request's events: at most `max_events`, sized once.
        let mut group: Vec<EventView<'_>> = Vec::with_capacity(max_events.min(events.len()));
        // Events to encode again, in a later request, before the rest.
        let mut pending: VecDeque<EventView<'_>> = VecDeque::new();
        let mut rest = events.iter();
        loop {
            let Some(event) = pending.pop_front().or_else(|| rest.next().copied()) else {
                if group.is_empty() {
                    break;
                }
                self.close(&mut request, &mut group, &mut pending, cx, encoder);
                continue;
            };
            if group.len() >= max_events {
                // Full: sent before this event is encoded.
                pending.push_front(event);
                self.close(&mut request, &mut group, &mut pending, cx, encoder);
                continue;
            }
            if group.is_empty() {
                request = std::mem::take(&mut self.buffers.request);
                request.clear();
                encoder.begin(&mut request, &event);
            }
            let before = (request.url.len(), request.body.len());
            encoder.event(&mut request, group.len(), &event);
            let added = request.size() - before.0 - before.1;
            if added > cx.max_event_bytes() {
                request.truncate(before);
                cx.drop_oversized(event.name(), added);
                continue;
            }
            if !group.is_empty() && request.size() > self.max_request_bytes {
                // This event starts the next request.
                request.truncate(before);
                pending.push_front(event);
                self.close(&mut request, &mut group, &mut pending, cx, encoder);
                continue;
            }
            group.push(event);
        }
    }

    /// Ends the request of `group` and sends it, leaving `group` empty. When
    /// what `end` added takes it over the size limit, its last events go
    /// back to the front of `pending`, for the next request, and it is
    /// built again without them.
    fn close<'e>(
        &mut self,
        request: &mut Request,
        group: &mut Vec<EventView<'e>>,
        pending: &mut VecDeque<EventView<'e>>,
        cx: &SendContext<'_>,
        encoder: &mut dyn RequestEncoder,
    ) {
        encoder.end(request);
        while request.size() > self.max_request_bytes && group.len() > 1 {
            if let Some(last) = group.pop() {
                pending.push_front(last);
            }
            *request = build(encoder, group);
        }
        self.send_group(group, cx, encoder, Some(std::mem::take(request)));
        group.clear();
    }

    /// Sends one group, `built` its request when it was just built.
    fn send_group(
        &mut self,
        events: &[EventView<'_>],
        cx: &SendContext<'_>,
        encoder: &mut dyn RequestEncoder,
        built: Option<Request>,
    ) {
        match self.send_with_retries(events, cx, encoder, built) {
            Ok(()) => {}
            Err(Failure::TooLarge(Some(kept))) => self.send_group(&kept, cx, encoder, None),
            Err(Failure::TooLarge(None)) if events.len() > 1 => {
                let (left, right) = events.split_at(events.len() / 2);
                self.send_group(left, cx, encoder, None);
                self.send_group(right, cx, encoder, None);
            }
            Err(Failure::TooLarge(None)) => {
                let url = url_of(encoder, events);
                log::warn!("Telemetry event {:?} is too large for {url}: dropped.", events[0].name());
                cx.dropped(DropReason::Oversized, 1);
            }
            Err(Failure::Drop(reason, why, remaining)) => {
                let url = url_of(encoder, events);
                let n = remaining.len();
                if reason != DropReason::Misconfigured {
                    log::warn!("Telemetry: {n} events not delivered to {url}: {why}");
                } else if !std::mem::replace(&mut self.warned_final, true) {
                    log::warn!(
                        "Telemetry: {n} events not delivered to {url}: {why}. No retry can change \
                         this: the events are dropped, not kept for later, and the next such failures \
                         of this sink are logged at debug level."
                    );
                } else {
                    log::debug!("Telemetry: {n} events not delivered to {url}: {why}");
                }
                cx.dropped_these(reason, remaining.into_iter());
            }
        }
    }

    fn send_with_retries<'e>(
        &mut self,
        events: &'e [EventView<'e>],
        cx: &SendContext<'_>,
        encoder: &mut dyn RequestEncoder,
        mut built: Option<Request>,
    ) -> Result<(), Failure<'e>> {
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
            if let Some(kept) = still_allowed(cx, &events) {
                events = Cow::Owned(kept);
                built = None;
            }
            if events.is_empty() {
                return Ok(());
            }
            // Checked again at every write to the socket: the level the
            // events need, and their identity generation, against the
            // state in force then.
            let check = cx.write_check(
                events.iter().map(EventView::required_level).max().unwrap_or(Level::Full),
                events.iter().map(EventView::generation).min().unwrap_or(0),
            );
            // A request is built afresh for each attempt (a body may carry
            // the time it was sent); uuids and timestamps do not change.
            let mut request = built.take().unwrap_or_else(|| build(encoder, &events));
            if let Some(per_event) = &mut self.per_event {
                per_event.attempt_headers(retry + 1, &mut request.headers);
            }
            let attempt = self.attempt(&request, check);
            self.buffers.request = request;
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
                Attempt::Final(why) => {
                    cx.failed_attempt();
                    return Err(Failure::Drop(DropReason::Misconfigured, why, uuids(&events)));
                }
                Attempt::Retry { after, why } => (after, why),
                Attempt::Results { results, after } => {
                    match settle(cx, &events, &results) {
                        None => return Ok(()),
                        Some(again) => events = Cow::Owned(again),
                    }
                    (after, format!("{} events to send again", events.len()))
                }
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
            let until = deadline_after(delay);
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
                        if let Some(kept) = still_allowed(cx, &events) {
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

/// The events consent still allows, when that is not all of them.
fn still_allowed<'e>(cx: &SendContext<'_>, events: &[EventView<'e>]) -> Option<Vec<EventView<'e>>> {
    match cx.still_allowed(events) {
        Cow::Owned(kept) => Some(kept),
        Cow::Borrowed(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::answer::*;
    use super::headers::*;
    use super::wire::*;
    use super::*;

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_bodies_decode_to_what_was_compressed_with_a_valid_checksum() {
        use std::io::Read;
        let varied: Vec<u8> =
            (0..300_000u32).flat_map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()).collect();
        let repeated = b"{\"event\":\"e\",\"n\":1},".repeat(20_000);
        // One deflater for all, as a transport keeps it: each body stands alone.
        let mut deflater = Deflater::default();
        for body in [&b""[..], b"{}", &varied, &repeated, b"{}"] {
            let mut compressed = vec![1, 2, 3];
            gzip(body, &mut deflater, &mut compressed).expect("compressed");
            let mut decoded = Vec::new();
            // The decoder checks the CRC-32 and the length in the trailer.
            flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut decoded).expect("valid gzip");
            assert_eq!(decoded, body);
            // ...which the decoder does check: a wrong checksum is refused.
            let mut corrupt = compressed.clone();
            let at = corrupt.len() - 8;
            corrupt[at] ^= 1;
            assert!(flate2::read::GzDecoder::new(&corrupt[..]).read_to_end(&mut Vec::new()).is_err());
        }
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
    fn headers_http_does_not_allow_are_refused_without_showing_the_value() {
        for (name, value) in
            [("Authorization", "Bearer abc"), ("x-team", "a\tb"), ("X_Odd!~", ""), ("k", "caf\u{e9}")]
        {
            assert!(check_header(name, value).is_ok(), "{name:?}: {value:?}");
        }
        let secret = "s3cret";
        let bad_values = [
            format!("{secret}\n"),
            format!("{secret}\r\nX-Injected: 1"),
            format!("{secret}\u{0}"),
            format!("{secret}\u{7f}"),
        ];
        for value in &bad_values {
            let err = check_header("Authorization", value).expect_err(value).to_string();
            assert!(err.contains("\"Authorization\"") && err.contains("control character"), "{err}");
            assert!(!err.contains(secret), "the value is shown: {err}");
        }
        for name in ["", "X Team", "Authorization: Bearer s3cret", "caf\u{e9}", "a\nb"] {
            let err = check_header(name, "v").expect_err(name).to_string();
            assert!(err.contains("header name"), "{err}");
            assert!(!err.contains(secret), "the name is shown: {err}");
        }
        for name in ["Content-Length", "content-encoding", "Transfer-Encoding"] {
            assert!(check_header(name, "1").is_err(), "{name}");
        }
        // The transport's builder refuses them too, and keeps what it had.
        assert!(HttpTransport::new().header("X-Key", "a\nb").is_err());
        let transport = HttpTransport::new().header("content-type", "text/plain").unwrap();
        assert_eq!(transport.headers(), [("content-type".to_owned(), "text/plain".to_owned())]);
    }

    #[test]
    fn errors_no_retry_can_change_are_final_and_the_rest_are_retried() {
        use std::io::{Error, ErrorKind};
        let untrusted = |cert: rustls::CertificateError| {
            ureq::Error::Io(Error::new(ErrorKind::InvalidData, rustls::Error::InvalidCertificate(cert)))
        };
        let finals = [
            ureq::Error::BadUri("https://h.example/?key=s3cret".into()),
            ureq::Error::RequireHttpsOnly("http://h.example/?key=s3cret".into()),
            ureq::Error::Http(ureq::http::HeaderValue::from_bytes(b"a\nb").unwrap_err().into()),
            ureq::Error::Tls("Rustls invalid dns name error"),
            untrusted(rustls::CertificateError::UnknownIssuer),
            untrusted(rustls::CertificateError::Expired),
            untrusted(rustls::CertificateError::NotValidForName),
            ureq::Error::Io(Error::new(ErrorKind::InvalidData, rustls::Error::NoCertificatesPresented)),
        ];
        for err in &finals {
            match transport_error(err) {
                Attempt::Final(why) => assert!(!why.contains("s3cret"), "the URL is shown: {why}"),
                _ => panic!("{err} is retried"),
            }
        }
        let healing = [
            ureq::Error::Io(Error::from(ErrorKind::ConnectionRefused)),
            ureq::Error::Io(Error::from(ErrorKind::ConnectionReset)),
            ureq::Error::Io(Error::new(ErrorKind::InvalidData, "not a rustls error")),
            // A server that does not speak TLS (yet), or a broken handshake.
            ureq::Error::Io(Error::new(
                ErrorKind::InvalidData,
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            )),
            ureq::Error::HostNotFound,
            ureq::Error::ConnectionFailed,
            ureq::Error::Timeout(ureq::Timeout::RecvResponse),
        ];
        for err in &healing {
            assert!(matches!(transport_error(err), Attempt::Retry { .. }), "{err} is final");
        }
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
    }
}
