//! PostHog's batch capture API.

use std::time::Duration;

use super::http::{check_url, JsonBatch};
use super::retry::Backoff;
use super::transport::{shown_url, HttpTransport};
use super::{Batch, SendContext, Sink, SinkError};
use crate::error::ConfigError;

/// PostHog's US cloud ingestion host.
pub const US_HOST: &str = "https://us.i.posthog.com";
/// PostHog's EU cloud ingestion host.
pub const EU_HOST: &str = "https://eu.i.posthog.com";

/// Sends batches to PostHog's `/batch/` endpoint.
///
/// Events are anonymous (`$process_person_profile: false`). Requests are
/// retried on 408, 429, 5xx and connection errors with exponential backoff and
/// jitter, honouring `Retry-After`; other 4xx are not retried; a batch answered
/// 413 is split and resent. Event uuids and timestamps never change across
/// retries.
///
/// ```
/// use telemetry_runtime::sink::PostHogSink;
/// let sink = PostHogSink::new("phc_projectkey123")?.host("https://eu.i.posthog.com")?;
/// assert!(PostHogSink::new("phx_personal_key").is_err());
/// # Ok::<(), telemetry_runtime::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct PostHogSink {
    api_key: String,
    url: String,
    /// The URL without what may hold a secret, for logs and status.
    name: String,
    /// `"api_key":…,"historical_migration":false,`: what the body carries
    /// before `sent_at`.
    fields: String,
    transport: HttpTransport,
}

impl std::fmt::Debug for PostHogSink {
    /// Without the API key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostHogSink")
            .field("url", &self.url)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl PostHogSink {
    /// A sink for the project whose API key is `api_key`, on PostHog's US
    /// cloud. Refuses a key the server would refuse: empty, over 64
    /// characters, not printable ASCII, or a personal key (`phx_...`).
    pub fn new(api_key: impl Into<String>) -> Result<PostHogSink, ConfigError> {
        let api_key = api_key.into();
        check_api_key(&api_key)?;
        let url = batch_url(US_HOST);
        // Strings always serialize.
        let key = serde_json::to_string(&api_key).unwrap_or_default();
        let fields = format!("\"api_key\":{key},\"historical_migration\":false,");
        Ok(PostHogSink { api_key, name: shown_url(&url), url, fields, transport: HttpTransport::new() })
    }

    /// Sends to another host: [`EU_HOST`] or a self-hosted instance.
    pub fn host(mut self, host: &str) -> Result<PostHogSink, ConfigError> {
        check_url(host)?;
        self.url = batch_url(host);
        self.name = shown_url(&self.url);
        Ok(self)
    }

    /// The retry policy (default: 3 retries, see [`Backoff::default`]).
    pub fn backoff(mut self, backoff: Backoff) -> PostHogSink {
        self.transport = self.transport.backoff(backoff);
        self
    }

    /// Retries after the first attempt, keeping the rest of the policy.
    pub fn max_retries(mut self, retries: u32) -> PostHogSink {
        self.transport = self.transport.max_retries(retries);
        self
    }

    /// Compresses request bodies larger than `above` bytes with gzip; `None`
    /// never compresses. Default: above 4 KiB with the `gzip` feature.
    pub fn gzip_above(mut self, above: Option<usize>) -> PostHogSink {
        self.transport = self.transport.gzip_above(above);
        self
    }

    /// The connect timeout, and the limit for each later phase of a request:
    /// sending it, waiting for the answer, reading the answer (defaults 5 s
    /// and 10 s). The host name is resolved on the worker thread with the
    /// system's own lookup timeouts, so a slow DNS delays telemetry only.
    /// Each timeout is at most a day: a longer one (such as `Duration::MAX`)
    /// is taken as a day.
    pub fn timeouts(mut self, connect: Duration, request: Duration) -> PostHogSink {
        self.transport = self.transport.timeouts(connect, request);
        self
    }

    /// The largest request body (default 5 MiB; PostHog accepts 20 MiB).
    pub fn max_request_bytes(mut self, bytes: usize) -> PostHogSink {
        self.transport = self.transport.max_request_bytes(bytes);
        self
    }

    /// The endpoint batches are posted to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where batches go, the key hashed (see [`super::destination`]).
    pub(crate) fn destination(&self) -> String {
        format!("posthog\t{}\t{}", self.url, crate::model::redact::fingerprint(self.api_key.as_bytes()))
    }
}

fn batch_url(host: &str) -> String {
    format!("{}/batch/", host.trim_end_matches('/'))
}

fn check_api_key(key: &str) -> Result<(), ConfigError> {
    let problem = if key.is_empty() {
        "is empty"
    } else if key.len() > 64 {
        "is longer than 64 characters"
    } else if !key.bytes().all(|b| b.is_ascii_graphic()) {
        "has characters other than printable ASCII"
    } else if key.starts_with("phx_") {
        "is a personal API key (phx_...); use the project API key (phc_...)"
    } else {
        return Ok(());
    };
    Err(ConfigError::new(format!("the PostHog API key {problem}")))
}

impl Sink for PostHogSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        JsonBatch::post(&mut self.transport, &self.url, &self.fields, batch, cx);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_the_server_would_refuse_are_refused_here() {
        assert!(PostHogSink::new("phc_abc").is_ok());
        for bad in ["", "phx_abc", "phc abc", "phc_\u{e9}", &"k".repeat(65)] {
            let err = PostHogSink::new(bad).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(err.to_string().contains("API key"), "{err}");
        }
    }

    #[test]
    fn hosts() {
        let sink = PostHogSink::new("phc_abc").unwrap();
        assert_eq!(sink.url(), "https://us.i.posthog.com/batch/");
        let sink = sink.host("http://127.0.0.1:9/").unwrap();
        assert_eq!(sink.url(), "http://127.0.0.1:9/batch/");
        assert!(PostHogSink::new("phc_abc").unwrap().host("eu.i.posthog.com").is_err());
    }
}
