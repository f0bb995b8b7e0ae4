//! The generic JSON sink, and the body it shares with the PostHog sink:
//! `{fields…, "sent_at": "...", "batch": [event, ...]}`, each event in
//! PostHog's shape.

use std::time::SystemTime;

use super::options::HttpOptions;
use super::transport::{shown_url, HttpTransport, Request, RequestEncoder};
use super::{Batch, EventView, SendContext, Sink, SinkError};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::model::encode::PostHogJson;
use crate::model::time::rfc3339;

/// A batch of events in PostHog's JSON shape, posted to `url`:
/// `{<fields>"sent_at":"...","batch":[event,...]}`.
pub(crate) struct JsonBatch<'a> {
    url: &'a str,
    /// `"name":value,` for each field before `sent_at`.
    fields: &'a str,
    json: PostHogJson,
}

impl JsonBatch<'_> {
    /// Sends `batch` through `transport` as PostHog-shaped JSON to `url`,
    /// each body starting with `fields` (`"name":value,` each): what the
    /// PostHog and HTTP sinks send.
    pub(crate) fn post(
        transport: &mut HttpTransport,
        url: &str,
        fields: &str,
        batch: &Batch,
        cx: &SendContext<'_>,
    ) {
        let events = batch.views();
        transport.send(&events, cx, &mut JsonBatch { url, fields, json: PostHogJson::default() });
    }
}

impl RequestEncoder for JsonBatch<'_> {
    fn begin(&mut self, request: &mut Request, _first: &EventView<'_>) {
        request.url.push_str(self.url);
        // `sent_at` is fresh on each attempt: the request is built again.
        let sent_at = rfc3339(SystemTime::now());
        request
            .body
            .extend_from_slice(format!("{{{}\"sent_at\":\"{sent_at}\",\"batch\":[", self.fields).as_bytes());
    }

    fn event(&mut self, request: &mut Request, index: usize, event: &EventView<'_>) {
        if index > 0 {
            request.body.push(b',');
        }
        self.json.event(&mut request.body, event);
    }

    fn end(&mut self, request: &mut Request) {
        request.body.extend_from_slice(b"]}");
    }
}

/// Checks that `url` is an absolute http(s) URL that HTTP allows (the
/// HTTP client would refuse any other when sending, every time). The error
/// shows the URL as logs do, without a user name, password or query, where
/// a key may be written; one that cannot be read is not shown at all.
pub(crate) fn check_url(url: &str) -> Result<(), ConfigError> {
    let uri: ureq::http::Uri = url.parse().map_err(|e| {
        ConfigError::new(
            ConfigErrorKind::Url,
            format!("the URL is not valid ({e}); it is not shown, as it may hold a key"),
        )
    })?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => {}
        _ => {
            return Err(ConfigError::new(
                ConfigErrorKind::Url,
                format!("the URL {} must be an absolute http:// or https:// URL", shown_url(url)),
            ))
        }
    }
    // A port no connection can be made to: 0, or one past 65535, which the
    // HTTP client takes as no port at all (and connects to another).
    let authority = uri.authority().map_or("", |a| a.as_str());
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, rest)| rest);
    let port = match host_port.rfind(']') {
        Some(end) => host_port[end + 1..].strip_prefix(':'),
        None => host_port.rsplit_once(':').map(|(_, port)| port),
    };
    match port.filter(|port| !port.is_empty()).map(str::parse::<u16>) {
        Some(Ok(1..)) | None => Ok(()),
        Some(_) => Err(ConfigError::new(
            ConfigErrorKind::Url,
            format!("the URL {} has no port a connection can be made to (1 to 65535)", shown_url(url)),
        )),
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
    transport: HttpTransport,
}

impl HttpSink {
    /// Where requests go, headers and body fields hashed (see
    /// [`super::destination`]).
    pub(crate) fn destination(&self) -> String {
        let secrets = format!("{:?}\n{}", self.transport.headers(), self.fields);
        format!("http\t{}\t{}", self.url, crate::model::redact::fingerprint(secrets.as_bytes()))
    }

    /// A sink posting to `url`; refused unless it is an absolute http(s) URL.
    pub fn new(url: impl Into<String>) -> Result<HttpSink, ConfigError> {
        let url = url.into();
        check_url(&url)?;
        Ok(HttpSink { name: shown_url(&url), url, fields: String::new(), transport: HttpTransport::new() })
    }

    /// Adds a request header (for example an authorization token). This
    /// library never logs header values; the HTTP client (ureq) prints them
    /// in its own trace-level output, which only the host program's logger
    /// configuration can keep out: for a secret, prefer
    /// [`body_field`](HttpSink::body_field). A name or value HTTP does not
    /// allow (empty, or with a character other than letters, digits and
    /// ``!#$%&'*+-.^_`|~``), a value with a control character (a line
    /// break would end the header), and the headers the transport sets
    /// itself (`Content-Length`, `Content-Encoding`, `Transfer-Encoding`)
    /// are refused here, with an error that never shows the value, rather
    /// than failing every request.
    ///
    /// ```
    /// # use telemetry_runtime::sink::HttpSink;
    /// let sink = HttpSink::new("https://telemetry.example.com/v1/events")?.header("X-Team", "agents")?;
    /// assert!(HttpSink::new("https://telemetry.example.com/v1/events")?.header("X Team", "agents").is_err());
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<HttpSink, ConfigError> {
        self.transport = self.transport.header(name, value)?;
        Ok(self)
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

    /// How this sink sends (timeouts, request size, compression,
    /// retries), changed by `change` from the sink's current options.
    pub fn http(mut self, change: impl FnOnce(HttpOptions) -> HttpOptions) -> HttpSink {
        let options = change(self.transport.options());
        self.transport = self.transport.with_options(options);
        self
    }
}

impl Sink for HttpSink {
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
    fn sink_names_hide_what_may_be_secret() {
        let sink = HttpSink::new("https://h.example/in?token=s3cret").unwrap();
        assert!(!sink.name().contains("s3cret"));
    }

    #[test]
    fn urls() {
        assert!(check_url("http://127.0.0.1:8080/x").is_ok());
        assert!(check_url("https://eu.i.posthog.com").is_ok());
        for bad in ["", "localhost:80", "ftp://x", "http://", "not a url", "http://h:99999/", "http://h:0/"] {
            assert!(check_url(bad).is_err(), "{bad:?}");
        }
        for good in
            ["http://h:65535/", "http://[::1]:8080/x", "http://[::1]/", "http://u:p@h:1/", "http://h:/x"]
        {
            assert!(check_url(good).is_ok(), "{good:?}");
        }
        assert!(check_url("http://[::1]:70000/").is_err());
        // What may be a key is never shown: a user name, password or query,
        // or any of a URL that cannot be read.
        for bad in ["ftp://user:s3cret@h/", "http://h:99999/?key=s3cret", "http://h/?key=s3cret two"] {
            let err = check_url(bad).unwrap_err().to_string();
            assert!(!err.contains("s3cret"), "{err}");
        }
    }
}
