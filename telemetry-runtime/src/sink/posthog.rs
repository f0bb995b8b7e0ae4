//! PostHog's capture APIs: the batch endpoint (`/batch/`) and capture
//! Analytics V1 (`/i/v1/analytics/events`).

use std::time::SystemTime;

use super::http::{check_url, JsonBatch};
use super::options::HttpOptions;
use super::transport::{shown_url, HttpTransport, Request, RequestEncoder};
use super::{Batch, EventView, SendContext, Sink, SinkError};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::model::encode::PostHogJson;
use crate::model::time::rfc3339;
use crate::model::view::{LIB_NAME, LIB_VERSION};

/// PostHog's US cloud ingestion host, the default.
const US_HOST: &str = "https://us.i.posthog.com";

/// Which of PostHog's capture APIs a [`PostHogSink`] speaks.
///
/// `/batch/` is the default: every PostHog deployment, cloud or
/// self-hosted, old or new, accepts it, and it was checked against
/// PostHog's own capture service; V1 exists only in recent capture
/// services, and an instance without it answers 404, which drops every
/// event for good. V1 is for a backend known to speak it: it tells which
/// events of a request were accepted, so that only the others are sent
/// again, and keeps the key out of the body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureApi {
    /// `POST {host}/batch/` with `{"api_key", "historical_migration",
    /// "sent_at", "batch"}`; a 200 accepts the whole batch. Retried on 408,
    /// 429, 5xx and connection errors; a batch answered 413 is split.
    #[default]
    Batch,
    /// Capture Analytics V1: `POST {host}/i/v1/analytics/events` with the
    /// key in `Authorization: Bearer`, the request's id, attempt number
    /// and time in `PostHog-Request-Id`, `PostHog-Attempt` and
    /// `PostHog-Request-Timestamp`, `PostHog-Sdk-Info`, and the body
    /// `{"created_at", "batch"}`, each event with its `options`. A 200
    /// answers each event: only those whose result is `retry` are sent
    /// again (same uuids, same request id, next attempt, after the
    /// `Retry-After` it carries); `ok`, `drop`, `limited` and results this
    /// library does not know are final (`drop` counted as
    /// [`DropReason::Rejected`](crate::DropReason::Rejected), `limited` as
    /// [`DropReason::Limited`](crate::DropReason::Limited)). 408, 500, 503,
    /// 504 and connection errors are retried; every other status is final.
    AnalyticsV1,
}

/// Sends batches to PostHog: to `/batch/`, or with capture Analytics V1
/// ([`capture_api`](PostHogSink::capture_api); see [`CaptureApi`] for each
/// one's rules and why `/batch/` is the default).
///
/// Events are anonymous (`$process_person_profile: false`). Requests are
/// retried with exponential backoff and jitter, honouring `Retry-After`.
/// Event uuids and timestamps never change across retries.
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
    api: CaptureApi,
    host: String,
    transport: HttpTransport,
}

impl std::fmt::Debug for PostHogSink {
    /// Without the API key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostHogSink")
            .field("url", &self.url)
            .field("api", &self.api)
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
        Ok(PostHogSink {
            api_key,
            name: shown_url(&url),
            url,
            fields,
            api: CaptureApi::Batch,
            host: US_HOST.to_owned(),
            transport: HttpTransport::new(),
        })
    }

    /// Sends to another host: PostHog's EU cloud
    /// (`https://eu.i.posthog.com`) or a self-hosted instance.
    pub fn host(mut self, host: &str) -> Result<PostHogSink, ConfigError> {
        check_url(host)?;
        self.host = host.to_owned();
        self.set_url();
        Ok(self)
    }

    /// Which capture API to speak (default [`CaptureApi::Batch`]).
    ///
    /// ```
    /// use telemetry_runtime::sink::{CaptureApi, PostHogSink};
    /// let sink = PostHogSink::new("phc_projectkey123")?.capture_api(CaptureApi::AnalyticsV1);
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn capture_api(mut self, api: CaptureApi) -> PostHogSink {
        if api != self.api && api == CaptureApi::AnalyticsV1 {
            self.transport = self
                .transport
                .per_event_results()
                // The project key: write-only, the same one PostHog's
                // browser snippet puts in every web page.
                .fixed_header("Authorization", format!("Bearer {}", self.api_key))
                .fixed_header("PostHog-Sdk-Info", format!("{LIB_NAME}/{LIB_VERSION}"));
        }
        self.api = api;
        self.set_url();
        self
    }

    fn set_url(&mut self) {
        self.url = match self.api {
            CaptureApi::Batch => batch_url(&self.host),
            CaptureApi::AnalyticsV1 => format!("{}/i/v1/analytics/events", self.host.trim_end_matches('/')),
        };
        self.name = shown_url(&self.url);
    }

    /// Where batches go, the key hashed (see [`super::destination`]).
    pub(crate) fn destination(&self) -> String {
        format!("posthog\t{}\t{}", self.url, crate::model::redact::fingerprint(self.api_key.as_bytes()))
    }

    /// How this sink sends (timeouts, request size, compression,
    /// retries), changed by `change` from the sink's current options.
    pub fn http(mut self, change: impl FnOnce(HttpOptions) -> HttpOptions) -> PostHogSink {
        let options = change(self.transport.options());
        self.transport = self.transport.with_options(options);
        self
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
    Err(ConfigError::new(ConfigErrorKind::ApiKey, format!("the PostHog API key {problem}")))
}

impl Sink for PostHogSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        match self.api {
            CaptureApi::Batch => JsonBatch::post(&mut self.transport, &self.url, &self.fields, batch, cx),
            CaptureApi::AnalyticsV1 => {
                let events = batch.views();
                let mut encoder = V1Batch {
                    url: &self.url,
                    created_at: rfc3339(SystemTime::now()),
                    json: PostHogJson::default(),
                };
                self.transport.send(&events, cx, &mut encoder);
            }
        }
        Ok(())
    }
}

/// A capture V1 request body: `{"created_at":"...","batch":[event,...]}`,
/// each event in the `/batch/` shape with its `options`.
struct V1Batch<'a> {
    url: &'a str,
    /// When the batch was made: the same on every attempt.
    created_at: String,
    json: PostHogJson,
}

/// Every event's `options`: its person profile is not processed (the
/// events are anonymous, as `$process_person_profile` says too).
const V1_OPTIONS: &[u8] = b",\"options\":{\"process_person_profile\":false}}";

impl RequestEncoder for V1Batch<'_> {
    fn begin(&mut self, request: &mut Request, _first: &EventView<'_>) {
        request.url.push_str(self.url);
        request
            .body
            .extend_from_slice(format!("{{\"created_at\":\"{}\",\"batch\":[", self.created_at).as_bytes());
    }

    fn event(&mut self, request: &mut Request, index: usize, event: &EventView<'_>) {
        if index > 0 {
            request.body.push(b',');
        }
        self.json.event(&mut request.body, event);
        // The event's closing brace gives way to its options.
        request.body.pop();
        request.body.extend_from_slice(V1_OPTIONS);
    }

    fn end(&mut self, request: &mut Request) {
        request.body.extend_from_slice(b"]}");
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
        assert_eq!(sink.url.as_str(), "https://us.i.posthog.com/batch/");
        let sink = sink.host("http://127.0.0.1:9/").unwrap();
        assert_eq!(sink.url.as_str(), "http://127.0.0.1:9/batch/");
        assert!(PostHogSink::new("phc_abc").unwrap().host("eu.i.posthog.com").is_err());
    }
}
