//! OTLP/HTTP for a collector the user runs (their own OpenTelemetry
//! pipeline): events as log records, counters as delta sums, instrumented
//! calls as spans, in protobuf (the default) or JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use super::http::check_url;
use super::transport::{check_header, shown_url, HttpTransport, Request, RequestEncoder};
use super::{Batch, EventContext, EventView, SendContext, Sink, SinkError, ValueRef};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::model::period::PeriodCounts;
use crate::model::span::SpanIds;
use crate::model::view::Property;
use crate::model::view::{LIB_NAME, LIB_VERSION};
use crate::sink::options::HttpOptions;

mod json;
mod proto;
mod records;

use proto::{Any, AnyValue, KeyValue};
use records::*;

/// How an [`OtlpSink`] encodes its requests: the `http/protobuf` and
/// `http/json` protocols of the OTLP exporter specification. `grpc`, which
/// needs HTTP/2, is not offered: the library sends over HTTP/1.1, without
/// an async runtime.
///
/// ```
/// use telemetry_runtime::sink::Protocol;
/// assert_eq!("http/json".parse::<Protocol>()?, Protocol::HttpJson);
/// assert_eq!(Protocol::default(), Protocol::HttpProtobuf);
/// assert!("grpc".parse::<Protocol>().unwrap_err().to_string().contains("HTTP/2"));
/// # Ok::<(), telemetry_runtime::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// `http/protobuf`: binary protobuf bodies (`Content-Type:
    /// application/x-protobuf`), the specification's default; about half
    /// the bytes of JSON and less CPU (`BENCHMARKS.md`).
    #[default]
    HttpProtobuf,
    /// `http/json`: OTLP's JSON mapping (`Content-Type: application/json`).
    HttpJson,
}

impl Protocol {
    /// The name the specification gives it (`http/protobuf`, `http/json`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
        }
    }
}

impl std::fmt::Display for Protocol {
    /// The name the specification gives it (`http/protobuf`, `http/json`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Protocol {
    type Err = ConfigError;

    /// `http/protobuf` or `http/json` (trimmed, any case); `grpc` and
    /// anything else are refused, with the reason.
    fn from_str(text: &str) -> Result<Protocol, ConfigError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            "grpc" => Err(ConfigError::new(
                ConfigErrorKind::Protocol,
                "OTLP protocol grpc is not supported: it needs HTTP/2, and this library sends over \
                 HTTP/1.1 without an async runtime; use http/protobuf (the default) or http/json, \
                 on the collector's HTTP port (4318)",
            )),
            other => Err(ConfigError::new(
                ConfigErrorKind::Protocol,
                format!("unknown OTLP protocol {other:?}: expected http/protobuf or http/json"),
            )),
        }
    }
}

/// Sends events to an OpenTelemetry collector over OTLP/HTTP: each event is
/// a log record (`POST {endpoint}/v1/logs`) whose `event_name` is the
/// event's name and whose attributes are its properties; each counter a
/// monotonic delta sum (`POST {endpoint}/v1/metrics`); and, on a route that
/// asks for spans ([`Route::spans`](crate::Route::spans), on by default for
/// [user-owned](crate::Route::owned_by_user) routes), each call of a
/// `#[requires_telemetry(instrument)]` function a span (`POST
/// {endpoint}/v1/traces`), the child of the instrumented call it ran in on
/// the same thread. Bodies are protobuf by default, or JSON
/// ([`protocol`](OtlpSink::protocol)). Retries like the other HTTP sinks.
///
/// The resource of every request holds `service.name` and `service.version`
/// (the application's name and version) and the `telemetry.sdk.*` name,
/// version and language, and nothing about the host: no `host.name`,
/// `host.id`, `os.*` or `process.*` attribute is added. On a user-owned
/// route, the user's `OTEL_RESOURCE_ATTRIBUTES` are added to it and
/// `OTEL_SERVICE_NAME` names the service (read through
/// [`Config::environment`](crate::Config::environment)); a vendor's route
/// never gets them.
///
/// OTLP's integers are 64-bit signed: an unsigned value above `i64::MAX`
/// is sent as a `stringValue` of its decimal digits (exact, where a double
/// would round it), and a counter's sum is capped at `i64::MAX`.
///
/// ```
/// use telemetry_runtime::sink::{OtlpSink, Protocol};
/// let sink = OtlpSink::new("http://localhost:4318")?.header("Authorization", "Bearer 123")?;
/// // Or from the standard variables; `None` when no endpoint is set or
/// // OTEL_SDK_DISABLED=true.
/// let from_env = OtlpSink::from_env(|name| match name {
///     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318".into()),
///     "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-team=agents,api-key=abc%3D%3D".into()),
///     "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("http/json".into()),
///     _ => None,
/// })?;
/// assert!(from_env.is_some());
/// let json = OtlpSink::new("http://localhost:4318")?.protocol(Protocol::HttpJson);
/// # Ok::<(), telemetry_runtime::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct OtlpSink {
    logs_url: String,
    /// The logs URL without what may hold a secret, for logs and status.
    name: String,
    /// `None`: only a logs endpoint was configured; counters are sent as
    /// log records there.
    metrics_url: Option<String>,
    /// `None`: no traces endpoint; calls are sent as log records.
    traces_url: Option<String>,
    protocol: Protocol,
    transport: HttpTransport,
}

impl OtlpSink {
    /// Where requests go, headers hashed (see [`super::destination`]).
    pub(crate) fn destination(&self) -> String {
        let headers = format!("{:?}", self.transport.headers());
        let metrics = self.metrics_url.as_deref().unwrap_or("");
        // The protocol is in the headers (`Content-Type`); a traces URL
        // changes nothing of what a spooled batch is (spans are not kept).
        format!(
            "otlp\t{}\t{metrics}\t{}",
            self.logs_url,
            crate::model::redact::fingerprint(headers.as_bytes())
        )
    }

    fn with_urls(logs_url: String, metrics_url: Option<String>, traces_url: Option<String>) -> OtlpSink {
        OtlpSink {
            name: shown_url(&logs_url),
            logs_url,
            metrics_url,
            traces_url,
            protocol: Protocol::default(),
            transport: HttpTransport::new().fixed_header("Content-Type", Protocol::default().content_type()),
        }
    }

    /// A sink for the collector at `endpoint` (its base URL, such as
    /// `http://localhost:4318`); `/v1/logs`, `/v1/metrics` and `/v1/traces`
    /// are appended. Sends protobuf.
    pub fn new(endpoint: &str) -> Result<OtlpSink, ConfigError> {
        check_url(endpoint)?;
        Ok(OtlpSink::with_urls(
            signal_url(endpoint, "logs"),
            Some(signal_url(endpoint, "metrics")),
            Some(signal_url(endpoint, "traces")),
        ))
    }

    /// A sink configured by the standard OpenTelemetry variables, read
    /// through `lookup` (`|name| std::env::var(name).ok()` for the process
    /// environment):
    /// `OTEL_SDK_DISABLED=true` gives `None`. Each signal's endpoint is its
    /// own variable, `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`,
    /// `..._METRICS_ENDPOINT` or `..._TRACES_ENDPOINT`, used as is (a full
    /// URL, as the OpenTelemetry specification says), or else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL) with `/v1/logs`,
    /// `/v1/metrics` or `/v1/traces` appended. Events need a logs
    /// endpoint: without one the result is `None`. With a logs endpoint but
    /// none for metrics (or traces), counters (or calls) go to the logs
    /// endpoint as log records. `OTEL_EXPORTER_OTLP_HEADERS` (`key=value,...`,
    /// values percent-encoded) adds request headers.
    ///
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` chooses the encoding: `http/protobuf`
    /// (the default) or `http/json`; `grpc` is an error, whose message says
    /// why (see [`Protocol`]), and so is any other value. The per-signal
    /// `OTEL_EXPORTER_OTLP_{LOGS,METRICS,TRACES}_PROTOCOL` are checked the
    /// same way; one protocol serves every signal, the logs one first.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<OtlpSink>, ConfigError> {
        let var = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        const BASE: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
        let base = var(BASE);
        // The signal's URL, checked, and the variable it came from.
        let signal = |name: &'static str, signal: &str| -> Result<Option<String>, ConfigError> {
            let (url, from) = match (var(name), &base) {
                (Some(url), _) => (url, name),
                (None, Some(base)) => (signal_url(base, signal), BASE),
                (None, None) => return Ok(None),
            };
            check_url(&url).map_err(|err| err.within(from))?;
            Ok(Some(url))
        };
        let metrics_url = signal("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "metrics")?;
        let traces_url = signal("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "traces")?;
        let Some(logs_url) = signal("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "logs")? else {
            if metrics_url.is_some() || var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some() {
                log::warn!(
                    "An OTLP metrics or traces endpoint is set without a logs endpoint: \
                     events are sent as OTLP logs, so no OTLP sink is configured."
                );
            }
            return Ok(None);
        };
        let mut protocol = None;
        for name in [
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ] {
            let Some(value) = var(name) else { continue };
            let chosen: Protocol = value.parse().map_err(|e: ConfigError| e.within(name))?;
            match protocol {
                None => protocol = Some(chosen),
                Some(first) if first != chosen => log::warn!(
                    "{name}={value}: this exporter sends one protocol for every signal, {}.",
                    first.as_str()
                ),
                Some(_) => {}
            }
        }
        let mut sink =
            OtlpSink::with_urls(logs_url, metrics_url, traces_url).protocol(protocol.unwrap_or_default());
        if let Some(headers) = var("OTEL_EXPORTER_OTLP_HEADERS") {
            for (place, (name, value)) in parse_pairs(&headers, "OTEL_EXPORTER_OTLP_HEADERS")? {
                // Checked here, so that the error names the pair, never the value.
                check_header(&name, &value).map_err(|err| err.within(&place))?;
                sink = sink.header(name, value)?;
            }
        }
        Ok(Some(sink))
    }

    #[cfg(test)]
    fn logs_url(&self) -> &str {
        &self.logs_url
    }

    #[cfg(test)]
    fn metrics_url(&self) -> Option<&str> {
        self.metrics_url.as_deref()
    }

    #[cfg(test)]
    fn traces_url(&self) -> Option<&str> {
        self.traces_url.as_deref()
    }

    #[cfg(test)]
    fn protocol_in_use(&self) -> Protocol {
        self.protocol
    }

    /// The encoding of request bodies (default [`Protocol::HttpProtobuf`]).
    pub fn protocol(mut self, protocol: Protocol) -> OtlpSink {
        self.protocol = protocol;
        self.transport = self.transport.fixed_header("Content-Type", protocol.content_type());
        self
    }

    /// Adds a request header. This library never logs header values; the
    /// HTTP client (ureq) prints them in its trace-level output (see the
    /// README's Security section). A name or value HTTP does not allow is
    /// refused here, as [`HttpSink::header`](super::HttpSink::header) says,
    /// rather than failing every request.
    pub fn header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<OtlpSink, ConfigError> {
        self.transport = self.transport.header(name, value)?;
        Ok(self)
    }

    /// How this sink sends (timeouts, request size, compression,
    /// retries), changed by `change` from the sink's current options.
    pub fn http(mut self, change: impl FnOnce(HttpOptions) -> HttpOptions) -> OtlpSink {
        let options = change(self.transport.options());
        self.transport = self.transport.with_options(options);
        self
    }
}

impl Sink for OtlpSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        let mut logs = Vec::new();
        let mut metrics = Vec::new();
        let mut traces = Vec::new();
        for event in batch.events() {
            // A report by period is counts too: sums over its period.
            let counts = event.is_counter() || event.context().report().is_some();
            if counts && self.metrics_url.is_some() {
                metrics.push(event);
            } else if event.span().is_some() && cx.spans && self.traces_url.is_some() {
                traces.push(event);
            } else {
                logs.push(event);
            }
        }
        let protocol = self.protocol;
        let resource = cx.user_resource;
        let mut send = |events: &[EventView<'_>], url: &str, kind: Kind| {
            if !events.is_empty() {
                let mut encoder =
                    Signal { url, kind, protocol, user_resource: resource, resource: None, shared: None };
                self.transport.send(events, cx, &mut encoder);
            }
        };
        send(&logs, &self.logs_url, Kind::Logs);
        if let Some(url) = &self.metrics_url {
            send(&metrics, url, Kind::Metrics);
        }
        if let Some(url) = &self.traces_url {
            send(&traces, url, Kind::Traces);
        }
        Ok(())
    }
}

/// Which OTLP signal a request carries.
#[derive(Clone, Copy)]
enum Kind {
    /// `ExportLogsServiceRequest`: one log record per event.
    Logs,
    /// `ExportMetricsServiceRequest`: one monotonic delta sum per counter
    /// series, its labels as attributes.
    Metrics,
    /// `ExportTraceServiceRequest`: one span per instrumented call (only
    /// events with a span are sent so).
    Traces,
}

/// The body of an export request, built from the events' views: the
/// resource (from the first event's context, and the user's variables on
/// a user-owned route) and scope around one log record, metric or span per
/// event.
struct Signal<'a> {
    url: &'a str,
    kind: Kind,
    protocol: Protocol,
    user_resource: Option<&'a [(String, String)]>,
    /// The request's resource, from `begin`, for `end`'s framing.
    resource: Option<proto::Resource>,
    /// The attributes the events of the last context seen share.
    shared: Option<Shared>,
}

impl Signal<'_> {
    /// The attributes `event`'s context gives each of its items.
    /// (The batch holds every context alive while it is sent: an address
    /// seen again is the same context.)
    fn shared(&mut self, event: &EventView<'_>) -> &Shared {
        let (context, kind) = (event.context(), self.kind);
        if self.shared.as_ref().is_some_and(|shared| !std::ptr::eq(shared.context, context)) {
            self.shared = None;
        }
        self.shared.get_or_insert_with(|| Shared::of(context, kind))
    }
}

impl RequestEncoder for Signal<'_> {
    fn begin(&mut self, request: &mut Request, first: &EventView<'_>) {
        request.url.push_str(self.url);
        let resource = resource(first.context(), self.user_resource);
        if self.protocol == Protocol::HttpJson {
            let (outer, inner, list) = match self.kind {
                Kind::Logs => ("resourceLogs", "scopeLogs", "logRecords"),
                Kind::Metrics => ("resourceMetrics", "scopeMetrics", "metrics"),
                Kind::Traces => ("resourceSpans", "scopeSpans", "spans"),
            };
            let body = &mut request.body;
            body.extend_from_slice(format!("{{\"{outer}\":[{{\"resource\":").as_bytes());
            json::resource(body, &resource);
            body.extend_from_slice(format!(",\"{inner}\":[{{\"scope\":").as_bytes());
            json::scope(body, &scope());
            body.extend_from_slice(format!(",\"{list}\":[").as_bytes());
        }
        self.resource = Some(resource);
    }

    fn event(&mut self, request: &mut Request, index: usize, event: &EventView<'_>) {
        // Only events with a span are sent as traces.
        let span_ids = event.span().filter(|_| matches!(self.kind, Kind::Traces));
        let (protocol, kind) = (self.protocol, self.kind);
        if let Kind::Metrics = kind {
            let metrics = match event.context().report() {
                Some(report) => report_metrics(report),
                None => vec![metric(event)],
            };
            for (i, metric) in metrics.iter().enumerate() {
                match protocol {
                    Protocol::HttpProtobuf => proto::push_item(metric, &[], &mut request.body),
                    Protocol::HttpJson => {
                        if index > 0 || i > 0 {
                            request.body.push(b',');
                        }
                        json::metric(&mut request.body, metric);
                    }
                }
            }
            return;
        }
        let shared = self.shared(event);
        let body = &mut request.body;
        match (protocol, span_ids) {
            (Protocol::HttpProtobuf, Some(ids)) => proto::push_item(&span(event, ids), &shared.encoded, body),
            (Protocol::HttpProtobuf, None) => proto::push_item(&log_record(event), &shared.encoded, body),
            (Protocol::HttpJson, ids) => {
                if index > 0 {
                    body.push(b',');
                }
                match ids {
                    Some(ids) => json::span(body, &span(event, ids), &shared.attributes),
                    None => json::log_record(body, &log_record(event), &shared.attributes),
                }
            }
        }
    }

    fn end(&mut self, request: &mut Request) {
        match self.protocol {
            Protocol::HttpJson => request.body.extend_from_slice(b"]}]}]}"),
            Protocol::HttpProtobuf => {
                let resource = self.resource.take().unwrap_or_default();
                proto::frame(&resource, &scope(), &mut request.body);
            }
        }
    }
}

fn signal_url(base: &str, signal: &str) -> String {
    format!("{}/v1/{signal}", base.trim_end_matches('/'))
}

/// `key=value,key2=value2`, values percent-encoded, as the OTLP exporter
/// specification sets out for `OTEL_EXPORTER_OTLP_HEADERS` and
/// `OTEL_RESOURCE_ATTRIBUTES`; `variable` names the source in errors.
/// A `key=value` pair, and where it was (`VARIABLE, pair N`), for errors
/// that name it without showing its value.
type Pair = (String, (String, String));

/// The pairs of `text`, values percent-decoded.
fn parse_pairs(text: &str, variable: &str) -> Result<Vec<Pair>, ConfigError> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .enumerate()
        .map(|(i, pair)| {
            let place = format!("{variable}, pair {}", i + 1);
            let (name, value) = pair.split_once('=').ok_or_else(|| {
                ConfigError::new(ConfigErrorKind::Header, format!("{place}: not a key=value pair"))
            })?;
            let value = percent_encoding::percent_decode_str(value.trim()).decode_utf8().map_err(|_| {
                ConfigError::new(
                    ConfigErrorKind::Header,
                    format!("{place}: the value is not UTF-8 once decoded"),
                )
            })?;
            Ok((place, (name.trim().to_owned(), value.into_owned())))
        })
        .collect()
}

/// The resource attributes the user's OpenTelemetry variables describe,
/// read through `env`: `OTEL_RESOURCE_ATTRIBUTES` (`key=value,...`, values
/// percent-encoded), then `service.name` from `OTEL_SERVICE_NAME`, which
/// takes precedence, as the SDK specification says. A malformed
/// `OTEL_RESOURCE_ATTRIBUTES` is ignored whole, with a warning (the
/// specification's advice).
pub(crate) fn otel_resource(env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let var = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let mut attributes =
        match var("OTEL_RESOURCE_ATTRIBUTES").map(|v| parse_pairs(&v, "OTEL_RESOURCE_ATTRIBUTES")) {
            None => Vec::new(),
            Some(Ok(pairs)) => {
                pairs.into_iter().map(|(_, pair)| pair).filter(|(key, _)| !key.is_empty()).collect()
            }
            Some(Err(err)) => {
                log::warn!("{err}: ignored.");
                Vec::new()
            }
        };
    if let Some(name) = var("OTEL_SERVICE_NAME") {
        attributes.retain(|(key, _)| key != "service.name");
        attributes.push(("service.name".to_owned(), name));
    }
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_percent_decoded_and_refused_when_http_does_not_allow_them() {
        let pairs = |text: &str| {
            parse_pairs(text, "OTEL_EXPORTER_OTLP_HEADERS")
                .map(|pairs| pairs.into_iter().map(|(_, pair)| pair).collect::<Vec<_>>())
        };
        assert_eq!(
            pairs("a=x%2Cy%3D, b=%E2%9C%93 , c=100%25, d=%zz").unwrap(),
            [("a", "x,y="), ("b", "\u{2713}"), ("c", "100%"), ("d", "%zz")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        // A `%0A` decodes to a line break: refused when the sink is made,
        // naming the pair and the header, never the value.
        for (text, pair) in [
            ("x-team=agents,api-key=s3cret%0A", "pair 2"),
            ("api-key=s3cret%0D%0AX-Injected:%201", "pair 1"),
            ("a=1,,b=2,bad name=s3cret", "pair 3"),
            ("a=1,b=s3cret%FF", "pair 2"),
            ("s3cret", "pair 1"),
        ] {
            let lookup = |name: &str| match name {
                "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318".to_owned()),
                "OTEL_EXPORTER_OTLP_HEADERS" => Some(text.to_owned()),
                _ => None,
            };
            let err = OtlpSink::from_env(lookup).expect_err(text).to_string();
            assert!(err.contains(&format!("OTEL_EXPORTER_OTLP_HEADERS, {pair}:")), "{err}");
            assert!(!err.contains("s3cret"), "a value is shown: {err}");
        }
    }

    #[test]
    fn endpoint_errors_name_their_variable_and_hide_what_may_be_a_key() {
        let err = |pairs: &[(&'static str, &'static str)]| {
            let pairs = pairs.to_vec();
            OtlpSink::from_env(move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
                .expect_err("refused")
                .to_string()
        };
        let bad = err(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://user:s3cret@c:4318/?key=s3cret")]);
        assert!(bad.contains("OTEL_EXPORTER_OTLP_ENDPOINT: ") && !bad.contains("s3cret"), "{bad}");
        let bad = err(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://c:4318/in put?key=s3cret"),
        ]);
        assert!(bad.contains("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: ") && !bad.contains("s3cret"), "{bad}");
    }

    #[test]
    fn endpoints_and_headers_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert!(OtlpSink::from_env(env(&[])).unwrap().is_none());
        let sink =
            OtlpSink::from_env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")])).unwrap().unwrap();
        assert_eq!(
            (sink.logs_url(), sink.metrics_url()),
            ("http://c:4318/v1/logs", Some("http://c:4318/v1/metrics"))
        );
        let sink = OtlpSink::from_env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:9000/ingest"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b = x%2Cy%3D "),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(sink.logs_url(), "http://logs:9000/ingest");
        assert_eq!(sink.metrics_url(), Some("http://c:4318/v1/metrics"));
        assert!(sink.transport.headers().contains(&("b".to_owned(), "x,y=".to_owned())));
        assert_eq!(sink.traces_url(), Some("http://c:4318/v1/traces"));
        // A signal's own variable alone is enough, and is used as is.
        let sink = OtlpSink::from_env(env(&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:9000/in")]))
            .unwrap()
            .expect("a sink from the logs endpoint alone");
        assert_eq!((sink.logs_url(), sink.metrics_url()), ("http://logs:9000/in", None));
        let metrics_only = env(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9000/in")]);
        assert!(OtlpSink::from_env(metrics_only).unwrap().is_none());
        let disabled =
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "TRUE")]);
        assert!(OtlpSink::from_env(disabled).unwrap().is_none());
        assert!(OtlpSink::from_env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "nope")])).is_err());
        let bad_headers =
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_HEADERS", "x")]);
        assert!(OtlpSink::from_env(bad_headers).is_err());
    }

    #[test]
    fn protocols_from_the_environment() {
        let env = |pairs: Vec<(&'static str, &'static str)>| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let sink = OtlpSink::from_env(env(vec![base])).unwrap().unwrap();
        assert_eq!(sink.protocol_in_use(), Protocol::HttpProtobuf, "the specification's default");
        assert_eq!(sink.traces_url(), Some("http://c:4318/v1/traces"));
        for (value, expected) in
            [("http/protobuf", Protocol::HttpProtobuf), (" HTTP/JSON ", Protocol::HttpJson)]
        {
            let sink = OtlpSink::from_env(env(vec![base, ("OTEL_EXPORTER_OTLP_PROTOCOL", value)]));
            assert_eq!(sink.unwrap().unwrap().protocol_in_use(), expected, "{value}");
        }
        for name in ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] {
            let err = OtlpSink::from_env(env(vec![base, (name, "grpc")])).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains("grpc") && err.contains("HTTP/2"), "{err}");
        }
        let err = OtlpSink::from_env(env(vec![base, ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")]));
        assert!(err.unwrap_err().to_string().contains("http/protobuf or http/json"));
    }

    #[test]
    fn resource_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert!(otel_resource(&env(&[])).is_empty());
        let both = otel_resource(&env(&[
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs, deployment.environment=prod%2Ceu"),
            ("OTEL_SERVICE_NAME", "from-name"),
        ]));
        assert_eq!(
            both,
            [
                ("deployment.environment".to_owned(), "prod,eu".to_owned()),
                ("service.name".to_owned(), "from-name".to_owned())
            ]
        );
        assert!(otel_resource(&env(&[("OTEL_RESOURCE_ATTRIBUTES", "no-equals")])).is_empty());
    }

    #[test]
    fn json_is_written_with_texts_escaped_and_numbers_as_otlp_wants() {
        let awkward = "quote \" backslash \\ newline \n tab \t nul \u{0} é 😀";
        let record = proto::LogRecord {
            time_unix_nano: u64::MAX,
            severity_number: 9,
            body: any(Any::Double(-0.5)),
            attributes: vec![
                text_attribute(awkward, awkward),
                KeyValue { key: "n".into(), value: any(Any::Int(i64::MIN)) },
                KeyValue {
                    key: "list".into(),
                    value: any(Any::Array(proto::ArrayValue {
                        values: vec![AnyValue { value: Some(Any::Bool(false)) }, AnyValue { value: None }],
                    })),
                },
            ],
            event_name: awkward.into(),
            ..Default::default()
        };
        let mut out = Vec::new();
        json::log_record(&mut out, &record, &[text_attribute("more", "x")]);
        let parsed: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(parsed["eventName"], awkward);
        assert_eq!(parsed["timeUnixNano"], u64::MAX.to_string());
        assert_eq!(parsed["body"]["doubleValue"], -0.5);
        let attributes = parsed["attributes"].as_array().unwrap();
        assert_eq!(attributes.len(), 4);
        assert_eq!(
            (&attributes[0]["key"], &attributes[0]["value"]["stringValue"]),
            (&awkward.into(), &awkward.into())
        );
        assert_eq!(attributes[1]["value"]["intValue"], i64::MIN.to_string());
        assert_eq!(
            attributes[2]["value"]["arrayValue"]["values"],
            serde_json::json!([{ "boolValue": false }, {}])
        );
        assert_eq!(attributes[3]["key"], "more");
    }

    #[test]
    fn values_map_to_any_value() {
        let value = |v| any_value(v).and_then(|a| a.value);
        assert_eq!(value(ValueRef::Int(3)), Some(Any::Int(3)));
        assert_eq!(value(ValueRef::Int(i64::MIN)), Some(Any::Int(i64::MIN)));
        assert_eq!(value(ValueRef::UInt(7)), Some(Any::Int(7)));
        assert_eq!(value(ValueRef::UInt(u64::MAX)), Some(Any::String("18446744073709551615".into())));
        assert_eq!(value(ValueRef::Float(1.5)), Some(Any::Double(1.5)));
        assert_eq!(value(ValueRef::Float(f64::NAN)), None);
        assert_eq!(value(ValueRef::Null), None);
    }
}
