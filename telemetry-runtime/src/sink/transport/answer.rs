//! What an attempt came to: the transport's error or the server's
//! answer read as deliver, retry (and when), refuse or split.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use crate::model::stats::DropReason;
use crate::sink::results::{self, EventResult};
use crate::sink::{EventView, SendContext};

/// The longest wait a `Retry-After` is read as, whatever it says (up to
/// `u64::MAX` seconds, or a date in the year 9999): a day. The backoff
/// policy gives up on anything over its own limit (60 s by default) anyway;
/// the cap is there so that no arithmetic on a server's number can overflow.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What one request came to.
pub(super) enum Attempt {
    Delivered,
    /// A write of it was refused: consent was lowered, or the install id
    /// reset, after it was built.
    Withheld,
    Retry {
        after: Option<Duration>,
        why: String,
    },
    Rejected(u16),
    TooLarge,
    /// A failure no retry can change (see [`is_final`]): given up on at once.
    Final(String),
    /// A request answered event by event: what to do with each of its
    /// events, by uuid (those not named were accepted), and the server's
    /// `Retry-After` for those to retry.
    Results {
        results: HashMap<Uuid, EventResult>,
        after: Option<Duration>,
    },
}

/// A request that failed without an answer: final when no retry can
/// change it ([`is_final`]), otherwise retried. What is logged of it never
/// shows the request's URL, where a secret may be written.
pub(super) fn transport_error(err: &ureq::Error) -> Attempt {
    let why = match err {
        ureq::Error::BadUri(_) | ureq::Error::RequireHttpsOnly(_) => "the URL is not valid".to_owned(),
        err => err.to_string(),
    };
    if is_final(err) {
        Attempt::Final(why)
    } else {
        Attempt::Retry { after: None, why }
    }
}

/// Whether a transport error is one no retry can change: the request
/// cannot be made as it is (a header or URL that HTTP does not allow, from
/// a custom encoder: the library's own sinks refuse those when they are
/// configured), or the endpoint's TLS certificate does not verify.
/// Connection failures, timeouts and broken answers may heal.
pub(super) fn is_final(err: &ureq::Error) -> bool {
    match err {
        ureq::Error::Http(_)
        | ureq::Error::BadUri(_)
        | ureq::Error::RequireHttpsOnly(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::TlsRequired
        // ureq's own TLS set-up: a host name TLS cannot verify, a bad PEM.
        | ureq::Error::Tls(_)
        | ureq::Error::Pem(_)
        // From setting up the TLS connection, before any byte is sent.
        | ureq::Error::Rustls(_) => true,
        // The handshake's errors come through the socket's I/O.
        ureq::Error::Io(io) => {
            io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).is_some_and(is_untrusted)
        }
        _ => false,
    }
}

/// Whether TLS refused the endpoint's certificate: its issuer is not
/// trusted, it expired, it names another host, or there was none.
pub(super) fn is_untrusted(err: &rustls::Error) -> bool {
    matches!(
        err,
        rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType
    )
}

pub(super) fn classify(status: u16, after: Option<Duration>) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        413 => Attempt::TooLarge,
        408 | 429 | 500..=599 => Attempt::Retry { after, why: format!("HTTP {status}") },
        _ => Attempt::Rejected(status),
    }
}

/// An answer to a request answered event by event; see
/// [`HttpTransport::per_event_results`].
pub(super) fn classify_results(status: u16, after: Option<Duration>, body: &[u8]) -> Attempt {
    match status {
        200..=299 => Attempt::Results { results: results::parse(body), after },
        status if results::retries_status(status) => Attempt::Retry { after, why: format!("HTTP {status}") },
        _ => Attempt::Rejected(status),
    }
}

/// Reports the final results of a request answered event by event: `drop`
/// as rejected, `limited` as limited, the rest (`ok`, unknown results and
/// events not named) as delivered. Returns the events to send again
/// (`retry`), `None` when there are none.
pub(super) fn settle<'e>(
    cx: &SendContext<'_>,
    events: &[EventView<'e>],
    results: &HashMap<Uuid, EventResult>,
) -> Option<Vec<EventView<'e>>> {
    let result = |event: &EventView<'_>| results.get(&event.uuid()).copied().unwrap_or(EventResult::Ok);
    for (reason, wanted) in
        [(DropReason::Rejected, EventResult::Drop), (DropReason::Limited, EventResult::Limited)]
    {
        let refused = events.iter().filter(|e| result(e) == wanted).count();
        if refused > 0 {
            log::warn!("Telemetry: the server refused {refused} events ({}).", reason.as_str());
            cx.dropped(reason, refused);
        }
    }
    let again: Vec<EventView<'e>> =
        events.iter().filter(|e| result(e) == EventResult::Retry).copied().collect();
    (!again.is_empty()).then_some(again)
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
