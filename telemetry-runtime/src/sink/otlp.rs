//! OTLP/HTTP with JSON encoding: events as log records, counters as delta
//! sums, for a collector the user runs (their own OpenTelemetry pipeline).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value as Json};

use super::http::{check_url, shown_url, Body, Transport};
use super::retry::Backoff;
use super::{Batch, EncodedEvent, SendContext, Sink, SinkError};
use crate::config::ConfigError;
use crate::encode::{LIB_NAME, LIB_VERSION};

/// Sends events to an OpenTelemetry collector over OTLP/HTTP with JSON
/// bodies: each event is a log record (`POST {endpoint}/v1/logs`) whose
/// attributes are its properties, and each counter a monotonic delta sum
/// (`POST {endpoint}/v1/metrics`). Retries like the other HTTP sinks.
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
    transport: Transport,
}

impl OtlpSink {
    /// Where requests go, headers hashed (see [`super::destination`]).
    pub(crate) fn destination(&self) -> String {
        let headers = format!("{:?}", self.transport.headers);
        let metrics = self.metrics_url.as_deref().unwrap_or("");
        format!("otlp\t{}\t{metrics}\t{}", self.logs_url, crate::redact::fingerprint(headers.as_bytes()))
    }

    /// A sink for the collector at `endpoint` (its base URL, such as
    /// `http://localhost:4318`); `/v1/logs` and `/v1/metrics` are appended.
    pub fn new(endpoint: &str) -> Result<OtlpSink, ConfigError> {
        check_url(endpoint)?;
        Ok(OtlpSink {
            name: shown_url(&signal_url(endpoint, "logs")),
            logs_url: signal_url(endpoint, "logs"),
            metrics_url: Some(signal_url(endpoint, "metrics")),
            transport: Transport::new(),
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
            OtlpSink { name: shown_url(&logs_url), logs_url, metrics_url, transport: Transport::new() };
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
        self.transport.headers.push((name.into(), value.into()));
        self
    }

    /// The retry policy (default [`Backoff::default`]).
    pub fn backoff(mut self, backoff: Backoff) -> OtlpSink {
        self.transport.backoff = backoff;
        self
    }

    /// Compresses request bodies larger than `above` bytes with gzip; `None`
    /// never compresses. Default: above 4 KiB with the `gzip` feature.
    pub fn gzip_above(mut self, above: Option<usize>) -> OtlpSink {
        self.transport.gzip_above = above;
        self
    }

    /// The connect timeout, and the limit for each later phase of a request:
    /// sending it, waiting for the answer, reading the answer (defaults 5 s
    /// and 10 s). The host name is resolved on the worker thread with the
    /// system's own lookup timeouts, so a slow DNS delays telemetry only.
    /// Each timeout is at most a day: a longer one (such as `Duration::MAX`)
    /// is taken as a day.
    pub fn timeouts(mut self, connect: Duration, request: Duration) -> OtlpSink {
        self.transport.connect_timeout = connect;
        self.transport.request_timeout = request;
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
        let as_metrics = |event: &EncodedEvent| event.is_counter() && self.metrics_url.is_some();
        let (counters, events): (Vec<EncodedEvent>, Vec<EncodedEvent>) =
            batch.events().iter().cloned().partition(as_metrics);
        if !events.is_empty() {
            let logs_url = self.logs_url.clone();
            self.transport.send_batch(&logs_url, &Batch { events }, cx, &|events, _| {
                Body::Bytes(logs_body(events).into_bytes())
            });
        }
        if let (false, Some(metrics_url)) = (counters.is_empty(), self.metrics_url.clone()) {
            self.transport.send_batch(&metrics_url, &Batch { events: counters }, cx, &|events, _| {
                Body::Bytes(metrics_body(events).into_bytes())
            });
        }
        Ok(())
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

/// An event's JSON, parsed back (it was made by this crate, so it parses).
fn parsed(event: &EncodedEvent) -> Map<String, Json> {
    match serde_json::from_str(event.json()) {
        Ok(Json::Object(map)) => map,
        _ => Map::new(),
    }
}

fn nanos(time: SystemTime) -> String {
    time.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos().to_string()
}

/// A property value as an OTLP `AnyValue`; `None` for null.
fn any_value(value: &Json) -> Option<Json> {
    Some(match value {
        Json::Null => return None,
        Json::Bool(b) => json!({ "boolValue": b }),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            // 64-bit integers are strings in OTLP's JSON mapping.
            (Some(i), _, _) => json!({ "intValue": i.to_string() }),
            // Above i64::MAX: OTLP has no unsigned integer, and a double
            // would round it. Its exact digits, as text.
            (None, Some(u), _) => json!({ "stringValue": u.to_string() }),
            (None, None, Some(f)) => json!({ "doubleValue": f }),
            (None, None, None) => return None,
        },
        Json::String(s) => json!({ "stringValue": s }),
        Json::Array(items) => {
            json!({ "arrayValue": { "values": items.iter().filter_map(any_value).collect::<Vec<_>>() } })
        }
        // An object (a `#[derive(TelemetryProperty)]` struct): a key-value
        // list, its null fields left out as they are from attributes.
        Json::Object(fields) => json!({
            "kvlistValue": {
                "values": fields.iter().filter_map(|(key, value)| attribute(key, value)).collect::<Vec<_>>()
            }
        }),
    })
}

fn attribute(key: &str, value: &Json) -> Option<Json> {
    Some(json!({ "key": key, "value": any_value(value)? }))
}

/// The resource: which program sent the data, from the first event, and
/// which library: nothing about the host (no `host.*`, `os.*` or
/// `process.*` attribute), which the application did not ask to send.
fn resource(events: &[EncodedEvent]) -> Json {
    let first = events.first().map(parsed).unwrap_or_default();
    let property =
        |name: &str| first.get("properties").and_then(|p| p.get(name)).cloned().unwrap_or(Json::Null);
    let attributes: Vec<Json> = [
        ("service.name", property("$app_name")),
        ("service.version", property("$app_version")),
        ("telemetry.sdk.name", json!(LIB_NAME)),
        ("telemetry.sdk.version", json!(LIB_VERSION)),
        ("telemetry.sdk.language", json!("rust")),
    ]
    .iter()
    .filter_map(|(key, value)| attribute(key, value))
    .collect();
    json!({ "attributes": attributes })
}

fn scope() -> Json {
    json!({ "name": LIB_NAME, "version": LIB_VERSION })
}

/// `ExportLogsServiceRequest`: one log record per event.
fn logs_body(events: &[EncodedEvent]) -> String {
    let records: Vec<Json> = events
        .iter()
        .map(|event| {
            let map = parsed(event);
            let mut attributes: Vec<Json> = [
                ("event.name", json!(event.name())),
                ("event.id", json!(event.uuid().to_string())),
                ("distinct_id", map.get("distinct_id").cloned().unwrap_or(Json::Null)),
            ]
            .iter()
            .filter_map(|(key, value)| attribute(key, value))
            .collect();
            if let Some(Json::Object(properties)) = map.get("properties") {
                attributes.extend(properties.iter().filter_map(|(key, value)| attribute(key, value)));
            }
            json!({
                "timeUnixNano": nanos(event.time()),
                "observedTimeUnixNano": nanos(event.time()),
                "severityNumber": 9,
                "severityText": "INFO",
                "body": { "stringValue": event.name() },
                "attributes": attributes,
            })
        })
        .collect();
    json!({
        "resourceLogs": [{
            "resource": resource(events),
            "scopeLogs": [{ "scope": scope(), "logRecords": records }],
        }]
    })
    .to_string()
}

/// `ExportMetricsServiceRequest`: one monotonic delta sum per counter
/// series, its labels as attributes.
fn metrics_body(events: &[EncodedEvent]) -> String {
    let now = nanos(SystemTime::now());
    let metrics: Vec<Json> = events
        .iter()
        .map(|event| {
            let map = parsed(event);
            let properties = match map.get("properties") {
                Some(Json::Object(properties)) => properties.clone(),
                _ => Map::new(),
            };
            // `asInt` is an int64: a sum past it is sent as its largest value.
            let count = properties.get("count").and_then(Json::as_u64).unwrap_or(0).min(i64::MAX as u64);
            let labels: Vec<Json> = properties
                .iter()
                .filter(|(key, _)| *key != "count" && !key.starts_with('$'))
                .filter_map(|(key, value)| attribute(key, value))
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
                        "timeUnixNano": now,
                        "asInt": count.to_string(),
                    }],
                },
            })
        })
        .collect();
    json!({
        "resourceMetrics": [{
            "resource": resource(events),
            "scopeMetrics": [{ "scope": scope(), "metrics": metrics }],
        }]
    })
    .to_string()
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
        assert!(sink.transport.headers.contains(&("b".to_owned(), "x,y=".to_owned())));
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
        assert_eq!(any_value(&json!(3)), Some(json!({ "intValue": "3" })));
        assert_eq!(any_value(&json!(i64::MIN)), Some(json!({ "intValue": i64::MIN.to_string() })));
        assert_eq!(any_value(&json!(u64::MAX)), Some(json!({ "stringValue": "18446744073709551615" })));
        assert_eq!(any_value(&json!(1.5)), Some(json!({ "doubleValue": 1.5 })));
        assert_eq!(
            any_value(&json!(["a", null])),
            Some(json!({ "arrayValue": { "values": [{ "stringValue": "a" }] } }))
        );
        assert_eq!(any_value(&Json::Null), None);
    }
}
