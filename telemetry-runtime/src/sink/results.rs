//! Requests answered event by event, as PostHog's capture V1 answers them:
//! the headers that tell the attempts of one request apart, which statuses
//! are worth another attempt, and the per-event results of a 200 answer.
//! The transport asks this module at those three points when a sink turned
//! it on ([`HttpTransport::per_event_results`](super::HttpTransport)).

use std::collections::HashMap;
use std::time::SystemTime;

use uuid::Uuid;

use crate::model::time::rfc3339;

/// The state of one logical request across its attempts: its id, the same
/// on every attempt (and on the retries of part of its events), new for
/// each new request.
#[derive(Clone, Debug, Default)]
pub(crate) struct PerEventResults {
    request_id: Uuid,
}

/// What the server said about one event of a 200 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventResult {
    /// Accepted.
    Ok,
    /// Not accepted this time: send it again, in the same request (same
    /// request id, next attempt number).
    Retry,
    /// Refused for good.
    Drop,
    /// Refused for good: over a quota or rate limit.
    Limited,
    /// A result this library does not know: final, like `ok`.
    Unknown,
}

impl PerEventResults {
    /// Sets the headers of attempt `attempt` (1 for the first) of a request:
    /// `PostHog-Request-Id` (drawn anew on the first attempt),
    /// `PostHog-Attempt` and `PostHog-Request-Timestamp` (the time of this
    /// attempt).
    pub(crate) fn attempt_headers(&mut self, attempt: u32, headers: &mut Vec<(String, String)>) {
        if attempt <= 1 {
            self.request_id = Uuid::new_v4();
        }
        headers.retain(|(name, _)| !name.to_ascii_lowercase().starts_with("posthog-"));
        headers.push(("PostHog-Request-Id".into(), self.request_id.to_string()));
        headers.push(("PostHog-Attempt".into(), attempt.to_string()));
        headers.push(("PostHog-Request-Timestamp".into(), rfc3339(SystemTime::now())));
    }
}

/// Whether an answer with this status is worth another attempt of the same
/// request: 408, 500, 503 and 504, as the protocol lists them. Every other
/// 4xx and 5xx is final (a 429 too: rate limits come back as `limited`
/// results), and so is 413 (requests are already within the size limit).
pub(crate) fn retries_status(status: u16) -> bool {
    matches!(status, 408 | 500 | 503 | 504)
}

/// The per-event results of a 200 answer's body,
/// `{"results": {"<uuid>": {"result": "ok" | "retry" | "drop" | "limited", ...}}}`.
/// A body without results (not JSON, or of another shape) gives none: its
/// events are taken as accepted, as a 200 says.
pub(crate) fn parse(body: &[u8]) -> HashMap<Uuid, EventResult> {
    let Ok(serde_json::Value::Object(mut answer)) = serde_json::from_slice(body) else {
        return HashMap::new();
    };
    let Some(serde_json::Value::Object(results)) = answer.remove("results") else { return HashMap::new() };
    results
        .into_iter()
        .filter_map(|(uuid, result)| {
            let uuid = Uuid::parse_str(&uuid).ok()?;
            let result = match result.get("result").and_then(|r| r.as_str()) {
                Some("ok") => EventResult::Ok,
                Some("retry") => EventResult::Retry,
                Some("drop") => EventResult::Drop,
                Some("limited") => EventResult::Limited,
                _ => EventResult::Unknown,
            };
            Some((uuid, result))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_read_by_uuid_and_unknown_ones_are_final() {
        let (a, b, c, d, e) =
            (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let body = format!(
            r#"{{"results":{{"{a}":{{"result":"ok"}},"{b}":{{"result":"retry","details":"busy"}},
            "{c}":{{"result":"drop"}},"{d}":{{"result":"limited"}},"{e}":{{"result":"shrug"}},"nope":{{"result":"ok"}}}}}}"#
        );
        let results = parse(body.as_bytes());
        assert_eq!(results.len(), 5);
        assert_eq!(
            [results[&a], results[&b], results[&c], results[&d], results[&e]],
            [
                EventResult::Ok,
                EventResult::Retry,
                EventResult::Drop,
                EventResult::Limited,
                EventResult::Unknown
            ]
        );
        for other in [&b""[..], b"{\"status\":\"Ok\"}", b"not json", b"[1]", b"{\"results\":[]}"] {
            assert!(parse(other).is_empty());
        }
    }

    #[test]
    fn statuses_retried_are_the_protocols() {
        let retried: Vec<u16> = (100..600).filter(|s| retries_status(*s)).collect();
        assert_eq!(retried, [408, 500, 503, 504]);
    }

    #[test]
    fn a_request_keeps_its_id_across_attempts_and_the_next_gets_a_new_one() {
        let mut state = PerEventResults::default();
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        let header = |headers: &[(String, String)], name: &str| {
            let found: Vec<&String> = headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v).collect();
            assert_eq!(found.len(), 1, "{name}: {headers:?}");
            found[0].clone()
        };
        state.attempt_headers(1, &mut headers);
        let first = header(&headers, "PostHog-Request-Id");
        state.attempt_headers(2, &mut headers);
        assert_eq!(header(&headers, "PostHog-Request-Id"), first);
        assert_eq!(header(&headers, "PostHog-Attempt"), "2");
        assert_eq!(header(&headers, "Content-Type"), "application/json");
        state.attempt_headers(1, &mut headers);
        assert_ne!(header(&headers, "PostHog-Request-Id"), first);
        assert_eq!(header(&headers, "PostHog-Attempt"), "1");
    }
}
