//! The OTLP messages an event becomes: a log record, a metric (a counter,
//! or a report's sums), a span, with their resource and scope. The
//! per-event ones are `#[inline]`: the encoder that calls them is in
//! another module, and so, without link-time optimisation, in another
//! codegen unit.

use super::*;

#[inline]
pub(super) fn nanos(time: SystemTime) -> u64 {
    u64::try_from(time.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()).unwrap_or(u64::MAX)
}

#[inline]
pub(super) fn any(value: Any) -> Option<AnyValue> {
    Some(AnyValue { value: Some(value) })
}

/// A property value as an OTLP `AnyValue`; `None` for a missing one.
#[inline]
pub(super) fn any_value(value: ValueRef<'_>) -> Option<AnyValue> {
    any(match value {
        ValueRef::Null => return None,
        ValueRef::Float(f) if !f.is_finite() => return None,
        ValueRef::Bool(b) => Any::Bool(b),
        ValueRef::Int(i) => Any::Int(i),
        ValueRef::UInt(u) => match i64::try_from(u) {
            Ok(i) => Any::Int(i),
            // Above i64::MAX: OTLP has no unsigned integer, and a double
            // would round it. Its exact digits, as text.
            Err(_) => Any::String(u.to_string()),
        },
        ValueRef::Float(f) => Any::Double(f),
        ValueRef::Text(text) => Any::String(text.as_str().to_owned()),
        ValueRef::Uuid(id) => Any::String(id.to_string()),
        ValueRef::Hashed(hash) => Any::String(hash.as_str().to_owned()),
        ValueRef::List(items) => {
            Any::Array(proto::ArrayValue { values: items.filter_map(any_value).collect() })
        }
        // An object (a `#[derive(TelemetryProperty)]` struct): a key-value
        // list, its null fields left out as they are from attributes.
        ValueRef::Object(object) => Any::KvList(proto::KeyValueList { values: attributes(object.entries()) }),
    })
}

#[inline]
pub(super) fn attribute(key: &str, value: ValueRef<'_>) -> Option<KeyValue> {
    Some(KeyValue { key: key.to_owned(), value: Some(any_value(value)?) })
}

/// A text attribute.
#[inline]
pub(super) fn text_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue { key: key.to_owned(), value: any(Any::String(value.to_owned())) }
}

#[inline]
pub(super) fn attributes<'a>(properties: impl Iterator<Item = Property<'a>>) -> Vec<KeyValue> {
    properties.filter_map(|property| attribute(property.name(), property.value())).collect()
}

/// The resource: which program sent the data, and which library: nothing
/// about the host (no `host.*`, `os.*` or `process.*` attribute), which the
/// application did not ask to send. On a user-owned route, `user` (the
/// user's own variables, see [`otel_resource`]) adds to it and wins.
pub(super) fn resource(context: &EventContext, user: Option<&[(String, String)]>) -> proto::Resource {
    let mut attributes: Vec<KeyValue> = [
        ("service.name", context.app_name()),
        ("service.version", context.app_version()),
        ("telemetry.sdk.name", LIB_NAME),
        ("telemetry.sdk.version", LIB_VERSION),
        ("telemetry.sdk.language", "rust"),
    ]
    .iter()
    .map(|(key, value)| text_attribute(key, value))
    .collect();
    for (key, value) in user.unwrap_or_default() {
        match attributes.iter_mut().find(|kv| kv.key == *key) {
            Some(existing) => *existing = text_attribute(key, value),
            None => attributes.push(text_attribute(key, value)),
        }
    }
    proto::Resource { attributes }
}

pub(super) fn scope() -> proto::InstrumentationScope {
    proto::InstrumentationScope { name: LIB_NAME.to_owned(), version: LIB_VERSION.to_owned() }
}

/// One event as a log record: its name (the record's `event_name`, OTLP
/// 1.5, and its body), its uuid and install id, its properties and the
/// standard ones, as attributes.
///
/// The attributes the events of a context share (the install id and the
/// standard properties) are not in it: see [`Shared`].
#[inline]
pub(super) fn log_record(event: &EventView<'_>) -> proto::LogRecord {
    let mut attributes = vec![text_attribute("event.id", &event.uuid().to_string())];
    attributes.extend(self::attributes(event.entries()));
    proto::LogRecord {
        time_unix_nano: nanos(event.time()),
        observed_time_unix_nano: nanos(event.time()),
        severity_number: 9,
        severity_text: "INFO".to_owned(),
        body: any(Any::String(event.name().to_owned())),
        attributes,
        event_name: event.name().to_owned(),
    }
}

/// The attributes every log record or span of a context ends with: for a
/// log record the install id (`distinct_id`), then for both the standard
/// properties (`$session_id`, `$os`, ...). Made once per context and
/// request, and in protobuf encoded once: protobuf reads a repeated field's
/// items wherever they come in a message, so they are appended to each
/// item's own fields as they are.
pub(super) struct Shared {
    pub(super) context: *const EventContext,
    pub(super) attributes: Vec<KeyValue>,
    /// `attributes`, each encoded as the item's field `tag`.
    pub(super) encoded: Vec<u8>,
}

impl Shared {
    pub(super) fn of(context: &EventContext, kind: Kind) -> Shared {
        let (install_id, tag) = match kind {
            Kind::Logs => (Some(text_attribute("distinct_id", context.distinct_id())), LOG_RECORD_ATTRIBUTES),
            Kind::Traces | Kind::Metrics => (None, SPAN_ATTRIBUTES),
        };
        let standard = context.standard_properties().map(|(key, value)| text_attribute(key, value));
        let attributes: Vec<KeyValue> = install_id.into_iter().chain(standard).collect();
        let mut encoded = Vec::new();
        for attribute in &attributes {
            proto::message(tag, attribute, &mut encoded);
        }
        Shared { context, attributes, encoded }
    }
}

/// `LogRecord.attributes`.
pub(super) const LOG_RECORD_ATTRIBUTES: u32 = 6;
/// `Span.attributes`.
pub(super) const SPAN_ATTRIBUTES: u32 = 9;

/// One counter series as a delta sum since its last export.
#[inline]
pub(super) fn metric(event: &EventView<'_>) -> proto::Metric {
    // `asInt` is an int64: a sum past it is sent as its largest value.
    let count = event.count().unwrap_or(0).min(i64::MAX as u64) as i64;
    let labels: Vec<KeyValue> = event
        .entries()
        .filter(|property| property.name() != "count")
        .filter_map(|property| attribute(property.name(), property.value()))
        .collect();
    proto::Metric {
        name: event.name().to_owned(),
        sum: Some(proto::Sum {
            data_points: vec![proto::NumberDataPoint {
                attributes: labels,
                start_time_unix_nano: nanos(event.time()),
                time_unix_nano: nanos(SystemTime::now()),
                as_int: Some(count),
            }],
            // 1 is AGGREGATION_TEMPORALITY_DELTA: counts since the last export.
            aggregation_temporality: 1,
            is_monotonic: true,
        }),
    }
}

/// A report by period as one monotonic delta sum per count, over the
/// report's period: what was counted from its start to its end, with the
/// counter's labels (or `event`, for the counts of events) as attributes.
pub(super) fn report_metrics(report: &PeriodCounts) -> Vec<proto::Metric> {
    let (start, end) = (nanos(report.start_time()), nanos(report.end_time()));
    report
        .counts
        .iter()
        .map(|(counted, count)| proto::Metric {
            name: counted.metric_name().to_owned(),
            sum: Some(proto::Sum {
                data_points: vec![proto::NumberDataPoint {
                    attributes: counted
                        .attributes()
                        .into_iter()
                        .map(|(key, value)| text_attribute(key, value))
                        .collect(),
                    start_time_unix_nano: start,
                    time_unix_nano: end,
                    as_int: Some((*count).min(i64::MAX as u64) as i64),
                }],
                aggregation_temporality: 1,
                is_monotonic: true,
            }),
        })
        .collect()
}

/// One instrumented call as a span: named after its event, from its start
/// to its capture, with the event's properties (as classified for this
/// route) and the standard ones as attributes, the uuid of its event, and
/// an error status, with the error's type, when the call failed.
///
/// The standard properties are not in it: see [`Shared`].
#[inline]
pub(super) fn span(event: &EventView<'_>, ids: SpanIds) -> proto::Span {
    let mut attributes = vec![text_attribute("event.id", &event.uuid().to_string())];
    attributes.extend(self::attributes(event.entries()));
    let failed = matches!(event.property("outcome"), Some(ValueRef::Text(text)) if text.as_str() == "error");
    let status = failed.then(|| proto::Status {
        message: match event.property("error_type") {
            Some(ValueRef::Text(text)) => text.as_str().to_owned(),
            _ => String::new(),
        },
        // STATUS_CODE_ERROR; a call that succeeded keeps the default,
        // unset, as instrumentation libraries should.
        code: 2,
    });
    let end = nanos(event.time());
    proto::Span {
        trace_id: ids.trace_id.to_vec(),
        span_id: ids.span_id.to_vec(),
        parent_span_id: if ids.has_parent() { ids.parent_span_id.to_vec() } else { Vec::new() },
        name: event.name().to_owned(),
        // SPAN_KIND_INTERNAL: a call inside the program.
        kind: 1,
        start_time_unix_nano: ids.start_ns.min(end),
        end_time_unix_nano: end,
        attributes,
        status,
    }
}
