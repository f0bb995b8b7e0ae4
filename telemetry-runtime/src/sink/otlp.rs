//! OTLP/HTTP with JSON encoding: events as log records, counters as delta
//! sums (a report by period as sums over its period), for a collector the
//! user runs (their own OpenTelemetry pipeline).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value as Json};

use super::http::check_url;
use super::retry::Backoff;
use super::transport::{shown_url, HttpTransport, Request, RequestEncoder};
use super::{Batch, EventContext, EventView, PropertyIter, SendContext, Sink, SinkError, ValueRef};
use crate::error::ConfigError;
use crate::model::period::PeriodCounts;
use crate::model::view::{LIB_NAME, LIB_VERSION};

/// Sends events to an OpenTelemetry collector over OTLP/HTTP with JSON
/// bodies: each event is a log record (`POST {endpoint}/v1/logs`) whose
/// attributes are its properties, and each counter a monotonic delta sum
/// (`POST {endpoint}/v1/metrics`); a report by period
/// ([`Route::per_period`](crate::Route::per_period)) is one such sum per
/// count, from the period's start to its end, with the counter's labels
/// (or `event`, for the counts of events, sent as `$events`) as
/// attributes. Retries like the other HTTP sinks.
///
/// The resource of every request holds `service.name` and `service.version`
/// (the application's name and version) and the `telemetry.sdk.*` name,
/// version and language, and nothing about the host: no `host.name`,
/// `host.id`, `os.*` or `process.*` attribute is added.
///
/// OTLP's integers are 64-bit signed: an unsigned value above `i64::MAX`
/// is sent as a `stringValue` of its decimal digits (exact, where a double
/// would round it), and a counter's sum is capped at `i64::MAX`.
///
/// ```
/// use telemetry_runtime::sink::OtlpSink;
/// let sink = OtlpSink::new("http://localhost:4318")?.header("Authorization", "Bearer 123");
/// // Or from the standard variables; `None` when no endpoint is set or
/// // OTEL_SDK_DISABLED=true.
/// let from_env = OtlpSink::from_env_with(|name| match name {
///     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318".into()),
///     "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-team=agents,api-key=abc%3D%3D".into()),
///     _ => None,
/// })?;
/// assert!(from_env.is_some());
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
    transport: HttpTransport,
}

impl OtlpSink {
    /// Where requests go, headers hashed (see [`super::destination`]).
    pub(crate) fn destination(&self) -> String {
        let headers = format!("{:?}", self.transport.headers());
        let metrics = self.metrics_url.as_deref().unwrap_or("");
        format!(
            "otlp\t{}\t{metrics}\t{}",
            self.logs_url,
            crate::model::redact::fingerprint(headers.as_bytes())
        )
    }

    /// A sink for the collector at `endpoint` (its base URL, such as
    /// `http://localhost:4318`); `/v1/logs` and `/v1/metrics` are appended.
    pub fn new(endpoint: &str) -> Result<OtlpSink, ConfigError> {
        check_url(endpoint)?;
        Ok(OtlpSink {
            name: shown_url(&signal_url(endpoint, "logs")),
            logs_url: signal_url(endpoint, "logs"),
            metrics_url: Some(signal_url(endpoint, "metrics")),
            transport: HttpTransport::new(),
        })
    }

    /// A sink configured by the standard OpenTelemetry variables of the
    /// process environment; see [`from_env_with`](OtlpSink::from_env_with).
    pub fn from_env() -> Result<Option<OtlpSink>, ConfigError> {
        OtlpSink::from_env_with(|name| std::env::var(name).ok())
    }

    /// A sink configured by the standard variables read through `lookup`:
    /// `OTEL_SDK_DISABLED=true` gives `None`. Each signal's endpoint is its
    /// own variable, `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` or
    /// `..._METRICS_ENDPOINT`, used as is (a full URL, as the OpenTelemetry
    /// specification says), or else `OTEL_EXPORTER_OTLP_ENDPOINT` (a base
    /// URL) with `/v1/logs` or `/v1/metrics` appended. Events need a logs
    /// endpoint: without one the result is `None`. With a logs endpoint but
    /// none for metrics, counters go to the logs endpoint as log records.
    /// `OTEL_EXPORTER_OTLP_HEADERS` (`key=value,...`, values percent-encoded)
    /// adds request headers.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<OtlpSink>, ConfigError> {
        let var = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let base = var("OTEL_EXPORTER_OTLP_ENDPOINT");
        let signal = |name: &str, signal: &str| match var(name) {
            Some(url) => Some(url),
            None => base.as_deref().map(|b| signal_url(b, signal)),
        };
        let metrics_url = signal("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "metrics");
        let Some(logs_url) = signal("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "logs") else {
            if metrics_url.is_some() {
                log::warn!(
                    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set without a logs endpoint: \
                     events are sent as OTLP logs, so no OTLP sink is configured."
                );
            }
            return Ok(None);
        };
        check_url(&logs_url)?;
        if let Some(url) = &metrics_url {
            check_url(url)?;
        }
        if let Some(protocol) = var("OTEL_EXPORTER_OTLP_PROTOCOL").filter(|p| p != "http/json") {
            log::warn!("OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: this exporter sends http/json.");
        }
        let mut sink =
            OtlpSink { name: shown_url(&logs_url), logs_url, metrics_url, transport: HttpTransport::new() };
        if let Some(headers) = var("OTEL_EXPORTER_OTLP_HEADERS") {
            for (name, value) in parse_headers(&headers)? {
                sink = sink.header(name, value);
            }
        }
        Ok(Some(sink))
    }

    /// Adds a request header. This library never logs header values; the
    /// HTTP client (ureq) prints them in its trace-level output (see the
    /// README's Security section).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> OtlpSink {
        self.transport = self.transport.header(name, value);
        self
    }

    /// The retry policy (default [`Backoff::default`]).
    pub fn backoff(mut self, backoff: Backoff) -> OtlpSink {
        self.transport = self.transport.backoff(backoff);
        self
    }

    /// Compresses request bodies larger than `above` bytes with gzip; `None`
    /// never compresses. Default: above 4 KiB with the `gzip` feature.
    pub fn gzip_above(mut self, above: Option<usize>) -> OtlpSink {
        self.transport = self.transport.gzip_above(above);
        self
    }

    /// The largest request body; more events go in several requests, each
    /// measured as the OTLP body actually sent (default 5 MiB).
    pub fn max_request_bytes(mut self, bytes: usize) -> OtlpSink {
        self.transport = self.transport.max_request_bytes(bytes);
        self
    }

    /// The connect timeout, and the limit for each later phase of a request:
    /// sending it, waiting for the answer, reading the answer (defaults 5 s
    /// and 10 s). The host name is resolved on the worker thread with the
    /// system's own lookup timeouts, so a slow DNS delays telemetry only.
    /// Each timeout is at most a day: a longer one (such as `Duration::MAX`)
    /// is taken as a day.
    pub fn timeouts(mut self, connect: Duration, request: Duration) -> OtlpSink {
        self.transport = self.transport.timeouts(connect, request);
        self
    }

    /// Where log records go.
    pub fn logs_url(&self) -> &str {
        &self.logs_url
    }

    /// Where counters go as metrics; `None` when only a logs endpoint was
    /// configured, and counters go there as log records.
    pub fn metrics_url(&self) -> Option<&str> {
        self.metrics_url.as_deref()
    }
}

impl Sink for OtlpSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        // A report by period is counts too: sums over its period.
        let is_counts = |event: &EventView<'_>| event.is_counter() || event.context().report().is_some();
        let as_metrics = |event: &EventView<'_>| is_counts(event) && self.metrics_url.is_some();
        let (counters, events): (Vec<EventView<'_>>, Vec<EventView<'_>>) =
            batch.events().partition(as_metrics);
        if !events.is_empty() {
            self.transport.send(&events, cx, &mut Signal { url: &self.logs_url, kind: Kind::Logs });
        }
        if let (false, Some(url)) = (counters.is_empty(), &self.metrics_url) {
            self.transport.send(&counters, cx, &mut Signal { url, kind: Kind::Metrics });
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
}

/// The body of an export request, built from the events' views: the
/// resource (from the first event's context) and scope around one log
/// record or metric per event.
struct Signal<'a> {
    url: &'a str,
    kind: Kind,
}

impl RequestEncoder for Signal<'_> {
    fn begin(&mut self, request: &mut Request, first: &EventView<'_>) {
        request.url.push_str(self.url);
        let (outer, inner, list) = match self.kind {
            Kind::Logs => ("resourceLogs", "scopeLogs", "logRecords"),
            Kind::Metrics => ("resourceMetrics", "scopeMetrics", "metrics"),
        };
        let resource = resource(first.context()).to_string();
        let scope = json!({ "name": LIB_NAME, "version": LIB_VERSION }).to_string();
        request.body.extend_from_slice(
            format!("{{\"{outer}\":[{{\"resource\":{resource},\"{inner}\":[{{\"scope\":{scope},\"{list}\":[")
                .as_bytes(),
        );
    }

    fn event(&mut self, request: &mut Request, index: usize, event: &EventView<'_>) {
        if index > 0 {
            request.body.push(b',');
        }
        let items = match (self.kind, event.context().report()) {
            (Kind::Logs, _) => vec![log_record(event)],
            (Kind::Metrics, None) => vec![metric(event)],
            (Kind::Metrics, Some(report)) => report_metrics(report),
        };
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                request.body.push(b',');
            }
            // A `serde_json::Value` always serializes.
            let _ = serde_json::to_writer(&mut request.body, item);
        }
    }

    fn end(&mut self, request: &mut Request) {
        request.body.extend_from_slice(b"]}]}]}");
    }
}

fn signal_url(base: &str, signal: &str) -> String {
    format!("{}/v1/{signal}", base.trim_end_matches('/'))
}

/// `key=value,key2=value2`, values percent-encoded, as the OTLP exporter
/// specification sets out.
fn parse_headers(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| ConfigError::new("OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs"))?;
            Ok((name.trim().to_owned(), percent_decode(value.trim())))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn nanos(time: SystemTime) -> String {
    time.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos().to_string()
}

/// A property value as an OTLP `AnyValue`; `None` for a missing one.
fn any_value(value: ValueRef<'_>) -> Option<Json> {
    Some(match value {
        ValueRef::Null => return None,
        ValueRef::Float(f) if !f.is_finite() => return None,
        ValueRef::Bool(b) => json!({ "boolValue": b }),
        // 64-bit integers are strings in OTLP's JSON mapping.
        ValueRef::Int(i) => json!({ "intValue": i.to_string() }),
        ValueRef::UInt(u) => match i64::try_from(u) {
            Ok(i) => json!({ "intValue": i.to_string() }),
            // Above i64::MAX: OTLP has no unsigned integer, and a double
            // would round it. Its exact digits, as text.
            Err(_) => json!({ "stringValue": u.to_string() }),
        },
        ValueRef::Float(f) => json!({ "doubleValue": f }),
        ValueRef::Text(text) => json!({ "stringValue": text.as_str() }),
        ValueRef::Uuid(id) => json!({ "stringValue": id.to_string() }),
        ValueRef::Hashed(hash) => json!({ "stringValue": hash.as_str() }),
        ValueRef::List(items) => {
            json!({ "arrayValue": { "values": items.iter().filter_map(any_value).collect::<Vec<_>>() } })
        }
        // An object (a `#[derive(TelemetryProperty)]` struct): a key-value
        // list, its null fields left out as they are from attributes.
        ValueRef::Object(object) => json!({ "kvlistValue": { "values": attributes(object.fields()) } }),
    })
}

fn attribute(key: &str, value: ValueRef<'_>) -> Option<Json> {
    Some(json!({ "key": key, "value": any_value(value)? }))
}

/// A text attribute.
fn text_attribute(key: &str, value: &str) -> Json {
    json!({ "key": key, "value": { "stringValue": value } })
}

fn attributes(properties: PropertyIter<'_>) -> Vec<Json> {
    properties.filter_map(|property| attribute(property.name(), property.value())).collect()
}

/// The resource: which program sent the data, and which library: nothing
/// about the host (no `host.*`, `os.*` or `process.*` attribute), which the
/// application did not ask to send.
fn resource(context: &EventContext) -> Json {
    let attributes: Vec<Json> = [
        ("service.name", context.app_name()),
        ("service.version", context.app_version()),
        ("telemetry.sdk.name", LIB_NAME),
        ("telemetry.sdk.version", LIB_VERSION),
        ("telemetry.sdk.language", "rust"),
    ]
    .iter()
    .map(|(key, value)| text_attribute(key, value))
    .collect();
    json!({ "attributes": attributes })
}

/// One event as a log record: its name, uuid and install id, its
/// properties and the standard ones, as attributes.
fn log_record(event: &EventView<'_>) -> Json {
    let mut attributes: Vec<Json> = [
        ("event.name", event.name()),
        ("event.id", &event.uuid().to_string()),
        ("distinct_id", event.distinct_id()),
    ]
    .iter()
    .map(|(key, value)| text_attribute(key, value))
    .collect();
    attributes.extend(attributes_of(event));
    json!({
        "timeUnixNano": nanos(event.time()),
        "observedTimeUnixNano": nanos(event.time()),
        "severityNumber": 9,
        "severityText": "INFO",
        "body": { "stringValue": event.name() },
        "attributes": attributes,
    })
}

/// The event's properties, then the standard ones (`$session_id`, `$os`, ...).
fn attributes_of(event: &EventView<'_>) -> Vec<Json> {
    let mut attributes = attributes(event.properties());
    let standard = event.context().standard_properties();
    attributes.extend(standard.map(|(key, value)| text_attribute(key, value)));
    attributes
}

/// One counter series as a delta sum since its last export.
fn metric(event: &EventView<'_>) -> Json {
    // `asInt` is an int64: a sum past it is sent as its largest value.
    let count = event.count().unwrap_or(0).min(i64::MAX as u64);
    let labels: Vec<Json> = event
        .properties()
        .filter(|property| property.name() != "count")
        .filter_map(|property| attribute(property.name(), property.value()))
        .collect();
    json!({
        "name": event.name(),
        "sum": {
            // 1 is AGGREGATION_TEMPORALITY_DELTA: counts since the last export.
            "aggregationTemporality": 1,
            "isMonotonic": true,
            "dataPoints": [{
                "attributes": labels,
                "startTimeUnixNano": nanos(event.time()),
                "timeUnixNano": nanos(SystemTime::now()),
                "asInt": count.to_string(),
            }],
        },
    })
}

/// A report by period as one monotonic delta sum per count, over the
/// report's period: what was counted from its start to its end.
fn report_metrics(report: &PeriodCounts) -> Vec<Json> {
    let (start, end) = (nanos(report.start_time()), nanos(report.end_time()));
    report
        .counts
        .iter()
        .map(|(counted, count)| {
            let attributes: Vec<Json> =
                counted.attributes().into_iter().map(|(key, value)| text_attribute(key, value)).collect();
            json!({
                "name": counted.metric_name(),
                "sum": {
                    "aggregationTemporality": 1,
                    "isMonotonic": true,
                    "dataPoints": [{
                        "attributes": attributes,
                        "startTimeUnixNano": start,
                        "timeUnixNano": end,
                        "asInt": (*count).min(i64::MAX as u64).to_string(),
                    }],
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_headers_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert!(OtlpSink::from_env_with(env(&[])).unwrap().is_none());
        let sink = OtlpSink::from_env_with(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (sink.logs_url(), sink.metrics_url()),
            ("http://c:4318/v1/logs", Some("http://c:4318/v1/metrics"))
        );
        let sink = OtlpSink::from_env_with(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:9000/ingest"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b = x%2Cy%3D "),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(sink.logs_url(), "http://logs:9000/ingest");
        assert_eq!(sink.metrics_url(), Some("http://c:4318/v1/metrics"));
        assert!(sink.transport.headers().contains(&("b".to_owned(), "x,y=".to_owned())));
        // A signal's own variable alone is enough, and is used as is.
        let sink =
            OtlpSink::from_env_with(env(&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:9000/in")]))
                .unwrap()
                .expect("a sink from the logs endpoint alone");
        assert_eq!((sink.logs_url(), sink.metrics_url()), ("http://logs:9000/in", None));
        let metrics_only = env(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9000/in")]);
        assert!(OtlpSink::from_env_with(metrics_only).unwrap().is_none());
        let disabled =
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "TRUE")]);
        assert!(OtlpSink::from_env_with(disabled).unwrap().is_none());
        assert!(OtlpSink::from_env_with(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "nope")])).is_err());
        let bad_headers =
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_HEADERS", "x")]);
        assert!(OtlpSink::from_env_with(bad_headers).is_err());
    }

    #[test]
    fn values_map_to_any_value() {
        assert_eq!(any_value(ValueRef::Int(3)), Some(json!({ "intValue": "3" })));
        assert_eq!(any_value(ValueRef::Int(i64::MIN)), Some(json!({ "intValue": i64::MIN.to_string() })));
        assert_eq!(any_value(ValueRef::UInt(7)), Some(json!({ "intValue": "7" })));
        assert_eq!(
            any_value(ValueRef::UInt(u64::MAX)),
            Some(json!({ "stringValue": "18446744073709551615" }))
        );
        assert_eq!(any_value(ValueRef::Float(1.5)), Some(json!({ "doubleValue": 1.5 })));
        assert_eq!(any_value(ValueRef::Float(f64::NAN)), None);
        assert_eq!(any_value(ValueRef::Null), None);
    }
}
