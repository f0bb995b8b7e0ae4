//! OTLP's JSON mapping of the messages in `proto`, for `http/json`: field
//! names in lowerCamelCase, 64-bit integers as decimal strings, enums as
//! numbers, trace and span ids as hex (the OTLP exception to protobuf's
//! base64), default values left out. Written straight into the request's
//! body: text through serde_json's escaping, the rest by hand (an
//! intermediate `serde_json::Value` cost about eight times as much).

use std::io::Write as _;

use super::proto::{Any, AnyValue, InstrumentationScope, KeyValue, LogRecord, Metric, Resource, Span};

/// A JSON string, escaped as serde_json escapes it.
fn string(out: &mut Vec<u8>, text: &str) {
    // Writing to a Vec cannot fail, and a `str` always serializes.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// A 64-bit integer as OTLP's JSON writes it: a decimal string.
fn int_string(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.push(b'"');
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    out.push(b'"');
}

fn any_value(out: &mut Vec<u8>, value: &AnyValue) {
    match &value.value {
        None => out.extend_from_slice(b"{}"),
        Some(Any::String(text)) => {
            out.extend_from_slice(b"{\"stringValue\":");
            string(out, text);
            out.push(b'}');
        }
        Some(Any::Bool(b)) => {
            out.extend_from_slice(if *b { b"{\"boolValue\":true}" } else { b"{\"boolValue\":false}" })
        }
        Some(Any::Int(i)) => {
            out.extend_from_slice(b"{\"intValue\":");
            int_string(out, *i);
            out.push(b'}');
        }
        Some(Any::Double(f)) => {
            // Only finite doubles are made (see `any_value` in `mod.rs`).
            out.extend_from_slice(b"{\"doubleValue\":");
            let _ = serde_json::to_writer(&mut *out, f);
            out.push(b'}');
        }
        Some(Any::Array(list)) => {
            out.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
            for (i, item) in list.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                any_value(out, item);
            }
            out.extend_from_slice(b"]}}");
        }
        Some(Any::KvList(list)) => {
            out.extend_from_slice(b"{\"kvlistValue\":{\"values\":");
            key_values(out, &list.values);
            out.extend_from_slice(b"}}");
        }
    }
}

fn key_values<'a>(out: &mut Vec<u8>, list: impl IntoIterator<Item = &'a KeyValue>) {
    out.push(b'[');
    for (i, kv) in list.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":");
        string(out, &kv.key);
        if let Some(value) = &kv.value {
            out.extend_from_slice(b",\"value\":");
            any_value(out, value);
        }
        out.push(b'}');
    }
    out.push(b']');
}

pub(super) fn resource(out: &mut Vec<u8>, resource: &Resource) {
    out.extend_from_slice(b"{\"attributes\":");
    key_values(out, &resource.attributes);
    out.push(b'}');
}

pub(super) fn scope(out: &mut Vec<u8>, scope: &InstrumentationScope) {
    out.extend_from_slice(b"{\"name\":");
    string(out, &scope.name);
    out.extend_from_slice(b",\"version\":");
    string(out, &scope.version);
    out.push(b'}');
}

/// A log record, `more` after its own attributes.
pub(super) fn log_record(out: &mut Vec<u8>, record: &LogRecord, more: &[KeyValue]) {
    out.extend_from_slice(b"{\"timeUnixNano\":");
    int_string(out, record.time_unix_nano);
    out.extend_from_slice(b",\"observedTimeUnixNano\":");
    int_string(out, record.observed_time_unix_nano);
    let _ = write!(out, ",\"severityNumber\":{}", record.severity_number);
    out.extend_from_slice(b",\"severityText\":");
    string(out, &record.severity_text);
    if let Some(body) = &record.body {
        out.extend_from_slice(b",\"body\":");
        any_value(out, body);
    }
    out.extend_from_slice(b",\"attributes\":");
    key_values(out, record.attributes.iter().chain(more));
    out.extend_from_slice(b",\"eventName\":");
    string(out, &record.event_name);
    out.push(b'}');
}

pub(super) fn metric(out: &mut Vec<u8>, metric: &Metric) {
    out.extend_from_slice(b"{\"name\":");
    string(out, &metric.name);
    if let Some(sum) = &metric.sum {
        let _ = write!(
            out,
            ",\"sum\":{{\"aggregationTemporality\":{},\"isMonotonic\":{},\"dataPoints\":[",
            sum.aggregation_temporality, sum.is_monotonic
        );
        for (i, point) in sum.data_points.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"attributes\":");
            key_values(out, &point.attributes);
            out.extend_from_slice(b",\"startTimeUnixNano\":");
            int_string(out, point.start_time_unix_nano);
            out.extend_from_slice(b",\"timeUnixNano\":");
            int_string(out, point.time_unix_nano);
            if let Some(count) = point.as_int {
                out.extend_from_slice(b",\"asInt\":");
                int_string(out, count);
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
    out.push(b'}');
}

/// A span, `more` after its own attributes.
pub(super) fn span(out: &mut Vec<u8>, span: &Span, more: &[KeyValue]) {
    out.extend_from_slice(b"{\"traceId\":");
    hex(out, &span.trace_id);
    out.extend_from_slice(b",\"spanId\":");
    hex(out, &span.span_id);
    if !span.parent_span_id.is_empty() {
        out.extend_from_slice(b",\"parentSpanId\":");
        hex(out, &span.parent_span_id);
    }
    out.extend_from_slice(b",\"name\":");
    string(out, &span.name);
    let _ = write!(out, ",\"kind\":{}", span.kind);
    out.extend_from_slice(b",\"startTimeUnixNano\":");
    int_string(out, span.start_time_unix_nano);
    out.extend_from_slice(b",\"endTimeUnixNano\":");
    int_string(out, span.end_time_unix_nano);
    out.extend_from_slice(b",\"attributes\":");
    key_values(out, span.attributes.iter().chain(more));
    if let Some(status) = &span.status {
        out.extend_from_slice(b",\"status\":{\"message\":");
        string(out, &status.message);
        let _ = write!(out, ",\"code\":{}}}", status.code);
    }
    out.push(b'}');
}

/// Bytes as a JSON string of lowercase hex digits.
fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 15)]);
    }
    out.push(b'"');
}
