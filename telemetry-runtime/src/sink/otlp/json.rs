//! OTLP's JSON mapping of the messages in `proto`, for `http/json`: field
//! names in lowerCamelCase, 64-bit integers as decimal strings, enums as
//! numbers, trace and span ids as hex (the OTLP exception to protobuf's
//! base64), default values left out.

use serde_json::{json, Map, Value as Json};

use super::proto::{Any, AnyValue, InstrumentationScope, KeyValue, LogRecord, Metric, Resource, Span};

fn any_value(value: &AnyValue) -> Json {
    match &value.value {
        None => json!({}),
        Some(Any::String(text)) => json!({ "stringValue": text }),
        Some(Any::Bool(b)) => json!({ "boolValue": b }),
        Some(Any::Int(i)) => json!({ "intValue": i.to_string() }),
        Some(Any::Double(f)) => json!({ "doubleValue": f }),
        Some(Any::Array(list)) => {
            json!({ "arrayValue": { "values": list.values.iter().map(any_value).collect::<Vec<_>>() } })
        }
        Some(Any::KvList(list)) => json!({ "kvlistValue": { "values": key_values(&list.values) } }),
    }
}

fn key_values(list: &[KeyValue]) -> Vec<Json> {
    list.iter()
        .map(|kv| match &kv.value {
            Some(value) => json!({ "key": kv.key, "value": any_value(value) }),
            None => json!({ "key": kv.key }),
        })
        .collect()
}

pub(super) fn resource(resource: &Resource) -> Json {
    json!({ "attributes": key_values(&resource.attributes) })
}

pub(super) fn scope(scope: &InstrumentationScope) -> Json {
    json!({ "name": scope.name, "version": scope.version })
}

pub(super) fn log_record(record: &LogRecord) -> Json {
    let mut out = json!({
        "timeUnixNano": record.time_unix_nano.to_string(),
        "observedTimeUnixNano": record.observed_time_unix_nano.to_string(),
        "severityNumber": record.severity_number,
        "severityText": record.severity_text,
        "attributes": key_values(&record.attributes),
        "eventName": record.event_name,
    });
    if let (Some(body), Json::Object(map)) = (&record.body, &mut out) {
        map.insert("body".into(), any_value(body));
    }
    out
}

pub(super) fn metric(metric: &Metric) -> Json {
    let mut out = Map::new();
    out.insert("name".into(), json!(metric.name));
    if let Some(sum) = &metric.sum {
        let points: Vec<Json> = sum
            .data_points
            .iter()
            .map(|point| {
                let mut p = json!({
                    "attributes": key_values(&point.attributes),
                    "startTimeUnixNano": point.start_time_unix_nano.to_string(),
                    "timeUnixNano": point.time_unix_nano.to_string(),
                });
                if let (Some(count), Json::Object(map)) = (point.as_int, &mut p) {
                    map.insert("asInt".into(), json!(count.to_string()));
                }
                p
            })
            .collect();
        out.insert(
            "sum".into(),
            json!({
                "aggregationTemporality": sum.aggregation_temporality,
                "isMonotonic": sum.is_monotonic,
                "dataPoints": points,
            }),
        );
    }
    Json::Object(out)
}

pub(super) fn span(span: &Span) -> Json {
    let mut out = json!({
        "traceId": hex(&span.trace_id),
        "spanId": hex(&span.span_id),
        "name": span.name,
        "kind": span.kind,
        "startTimeUnixNano": span.start_time_unix_nano.to_string(),
        "endTimeUnixNano": span.end_time_unix_nano.to_string(),
        "attributes": key_values(&span.attributes),
    });
    if let Json::Object(map) = &mut out {
        if !span.parent_span_id.is_empty() {
            map.insert("parentSpanId".into(), json!(hex(&span.parent_span_id)));
        }
        if let Some(status) = &span.status {
            map.insert("status".into(), json!({ "message": status.message, "code": status.code }));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
