//! The OTLP messages this library sends, declared by hand: only the fields
//! it fills, with the field numbers of `opentelemetry-proto` (`common`,
//! `resource`, `logs`, `metrics` and `trace`, v1, as of OTLP 1.5), and
//! their protobuf encoding. Fields left out, and fields at their default
//! (an empty text, a zero), are absent on the wire, which protobuf reads as
//! their defaults. The tests decode every body with the official
//! definitions.
//!
//! The encoding is written here rather than derived with `prost`: the
//! derive's four crates took a minimal program past its budget of 45
//! compiled crates (`BENCHMARKS.md`), and what is encoded is a dozen
//! small messages of varints, fixed64s, texts and nested messages.
//!
//! The three export requests have one shape: field 1 a resource's list,
//! whose field 1 is the resource and field 2 a scope's list, whose field 1
//! is the scope and field 2 the items (log records, metrics or spans).
//! [`frame`] writes that around items already encoded as field 2.

/// A message: its length once encoded, and its fields written.
pub(crate) trait Message {
    /// The length of its fields, encoded.
    fn encoded_len(&self) -> usize;
    /// Appends its fields.
    fn encode_fields(&self, out: &mut Vec<u8>);
}

/// The wire types used here.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LENGTH_DELIMITED: u32 = 2;

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_len(value: u64) -> usize {
    // One byte per 7 bits, at least one.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

fn key(tag: u32, wire_type: u32, out: &mut Vec<u8>) {
    varint(u64::from(tag << 3 | wire_type), out);
}

fn key_len(tag: u32) -> usize {
    varint_len(u64::from(tag << 3))
}

/// A text or bytes field; absent when empty.
fn bytes(tag: u32, value: &[u8], out: &mut Vec<u8>) {
    if !value.is_empty() {
        key(tag, LENGTH_DELIMITED, out);
        varint(value.len() as u64, out);
        out.extend_from_slice(value);
    }
}

fn bytes_len(tag: u32, value: &[u8]) -> usize {
    if value.is_empty() {
        0
    } else {
        key_len(tag) + varint_len(value.len() as u64) + value.len()
    }
}

/// An `int32` or `bool` field as a varint; absent when zero. (The values
/// written here are never negative.)
fn uint(tag: u32, value: u64, out: &mut Vec<u8>) {
    if value != 0 {
        key(tag, VARINT, out);
        varint(value, out);
    }
}

fn uint_len(tag: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        key_len(tag) + varint_len(value)
    }
}

/// A `fixed64`, `sfixed64` or `double` field, always written (a oneof
/// member or an optional is present at zero too).
fn fixed64(tag: u32, value: [u8; 8], out: &mut Vec<u8>) {
    key(tag, FIXED64, out);
    out.extend_from_slice(&value);
}

fn fixed64_len(tag: u32) -> usize {
    key_len(tag) + 8
}

/// A `fixed64` time; absent when zero.
fn time(tag: u32, nanos: u64, out: &mut Vec<u8>) {
    if nanos != 0 {
        fixed64(tag, nanos.to_le_bytes(), out);
    }
}

fn time_len(tag: u32, nanos: u64) -> usize {
    if nanos == 0 {
        0
    } else {
        fixed64_len(tag)
    }
}

/// A message field.
pub(crate) fn message(tag: u32, value: &impl Message, out: &mut Vec<u8>) {
    key(tag, LENGTH_DELIMITED, out);
    varint(value.encoded_len() as u64, out);
    value.encode_fields(out);
}

fn message_len(tag: u32, value: &impl Message) -> usize {
    let len = value.encoded_len();
    key_len(tag) + varint_len(len as u64) + len
}

fn messages_len(tag: u32, values: &[impl Message]) -> usize {
    values.iter().map(|value| message_len(tag, value)).sum()
}

fn messages(tag: u32, values: &[impl Message], out: &mut Vec<u8>) {
    for value in values {
        message(tag, value, out);
    }
}

/// `opentelemetry.proto.common.v1.AnyValue`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AnyValue {
    pub(crate) value: Option<Any>,
}

/// The value of an [`AnyValue`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Any {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(ArrayValue),
    KvList(KeyValueList),
}

/// `opentelemetry.proto.common.v1.ArrayValue`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ArrayValue {
    pub(crate) values: Vec<AnyValue>,
}

/// `opentelemetry.proto.common.v1.KeyValueList`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct KeyValueList {
    pub(crate) values: Vec<KeyValue>,
}

/// `opentelemetry.proto.common.v1.KeyValue`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct KeyValue {
    pub(crate) key: String,
    pub(crate) value: Option<AnyValue>,
}

/// `opentelemetry.proto.common.v1.InstrumentationScope`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct InstrumentationScope {
    pub(crate) name: String,
    pub(crate) version: String,
}

/// `opentelemetry.proto.resource.v1.Resource`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Resource {
    pub(crate) attributes: Vec<KeyValue>,
}

/// `opentelemetry.proto.logs.v1.LogRecord`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LogRecord {
    pub(crate) time_unix_nano: u64,
    pub(crate) observed_time_unix_nano: u64,
    /// A `SeverityNumber` (9 is `INFO`).
    pub(crate) severity_number: i32,
    pub(crate) severity_text: String,
    pub(crate) body: Option<AnyValue>,
    pub(crate) attributes: Vec<KeyValue>,
    /// OTLP 1.5: what kind of event the record is.
    pub(crate) event_name: String,
}

/// `opentelemetry.proto.metrics.v1.Metric`, as a sum.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Metric {
    pub(crate) name: String,
    pub(crate) sum: Option<Sum>,
}

/// `opentelemetry.proto.metrics.v1.Sum`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Sum {
    pub(crate) data_points: Vec<NumberDataPoint>,
    /// An `AggregationTemporality` (1 is `DELTA`).
    pub(crate) aggregation_temporality: i32,
    pub(crate) is_monotonic: bool,
}

/// `opentelemetry.proto.metrics.v1.NumberDataPoint`, as an integer.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct NumberDataPoint {
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) start_time_unix_nano: u64,
    pub(crate) time_unix_nano: u64,
    /// `as_int`, a member of the `value` oneof.
    pub(crate) as_int: Option<i64>,
}

/// `opentelemetry.proto.trace.v1.Span`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Span {
    pub(crate) trace_id: Vec<u8>,
    pub(crate) span_id: Vec<u8>,
    /// Empty for a root span.
    pub(crate) parent_span_id: Vec<u8>,
    pub(crate) name: String,
    /// A `SpanKind` (1 is `INTERNAL`).
    pub(crate) kind: i32,
    pub(crate) start_time_unix_nano: u64,
    pub(crate) end_time_unix_nano: u64,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) status: Option<Status>,
}

/// `opentelemetry.proto.trace.v1.Status`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Status {
    pub(crate) message: String,
    /// A `StatusCode`: 0 unset, 1 ok, 2 error.
    pub(crate) code: i32,
}

impl Message for AnyValue {
    fn encoded_len(&self) -> usize {
        match &self.value {
            None => 0,
            Some(Any::String(text)) => key_len(1) + varint_len(text.len() as u64) + text.len(),
            Some(Any::Bool(value)) => key_len(2) + varint_len(u64::from(*value)),
            Some(Any::Int(value)) => key_len(3) + varint_len(*value as u64),
            Some(Any::Double(_)) => fixed64_len(4),
            Some(Any::Array(array)) => message_len(5, array),
            Some(Any::KvList(list)) => message_len(6, list),
        }
    }

    fn encode_fields(&self, out: &mut Vec<u8>) {
        // A oneof's member is written even at its default.
        match &self.value {
            None => {}
            Some(Any::String(text)) => {
                key(1, LENGTH_DELIMITED, out);
                varint(text.len() as u64, out);
                out.extend_from_slice(text.as_bytes());
            }
            Some(Any::Bool(value)) => {
                key(2, VARINT, out);
                varint(u64::from(*value), out);
            }
            Some(Any::Int(value)) => {
                // int64: a negative value is its two's complement, ten bytes.
                key(3, VARINT, out);
                varint(*value as u64, out);
            }
            Some(Any::Double(value)) => fixed64(4, value.to_le_bytes(), out),
            Some(Any::Array(array)) => message(5, array, out),
            Some(Any::KvList(list)) => message(6, list, out),
        }
    }
}

impl Message for ArrayValue {
    fn encoded_len(&self) -> usize {
        messages_len(1, &self.values)
    }
    fn encode_fields(&self, out: &mut Vec<u8>) {
        messages(1, &self.values, out);
    }
}

impl Message for KeyValueList {
    fn encoded_len(&self) -> usize {
        messages_len(1, &self.values)
    }
    fn encode_fields(&self, out: &mut Vec<u8>) {
        messages(1, &self.values, out);
    }
}

impl Message for KeyValue {
    fn encoded_len(&self) -> usize {
        bytes_len(1, self.key.as_bytes()) + self.value.as_ref().map_or(0, |value| message_len(2, value))
    }
    fn encode_fields(&self, out: &mut Vec<u8>) {
        bytes(1, self.key.as_bytes(), out);
        if let Some(value) = &self.value {
            message(2, value, out);
        }
    }
}

impl Message for InstrumentationScope {
    fn encoded_len(&self) -> usize {
        bytes_len(1, self.name.as_bytes()) + bytes_len(2, self.version.as_bytes())
    }
    fn encode_fields(&self, out: &mut Vec<u8>) {
        bytes(1, self.name.as_bytes(), out);
        bytes(2, self.version.as_bytes(), out);
    }
}

impl Message for Resource {
    fn encoded_len(&self) -> usize {
        messages_len(1, &self.attributes)
    }
    fn encode_fields(&self, out: &mut Vec<u8>) {
        messages(1, &self.attributes, out);
    }
}

impl Message for LogRecord {
    fn encoded_len(&self) -> usize {
        time_len(1, self.time_unix_nano)
            + uint_len(2, self.severity_number as u64)
            + bytes_len(3, self.severity_text.as_bytes())
            + self.body.as_ref().map_or(0, |body| message_len(5, body))
            + messages_len(6, &self.attributes)
            + time_len(11, self.observed_time_unix_nano)
            + bytes_len(12, self.event_name.as_bytes())
    }
    fn encode_fields(&self, out: &mut Vec<u8>) {
        time(1, self.time_unix_nano, out);
        uint(2, self.severity_number as u64, out);
        bytes(3, self.severity_text.as_bytes(), out);
        if let Some(body) = &self.body {
            message(5, body, out);
        }
        messages(6, &self.attributes, out);
        time(11, self.observed_time_unix_nano, out);
        bytes(12, self.event_name.as_bytes(), out);
    }
}

impl Message for Metric {
    fn encoded_len(&self) -> usize {
        bytes_len(1, self.name.as_bytes()) + self.sum.as_ref().map_or(0, |sum| message_len(7, sum))
    }
    fn encode_fields(&self, out: &mut Vec<u8>) {
        bytes(1, self.name.as_bytes(), out);
        if let Some(sum) = &self.sum {
            message(7, sum, out);
        }
    }
}

impl Message for Sum {
    fn encoded_len(&self) -> usize {
        messages_len(1, &self.data_points)
            + uint_len(2, self.aggregation_temporality as u64)
            + uint_len(3, u64::from(self.is_monotonic))
    }
    fn encode_fields(&self, out: &mut Vec<u8>) {
        messages(1, &self.data_points, out);
        uint(2, self.aggregation_temporality as u64, out);
        uint(3, u64::from(self.is_monotonic), out);
    }
}

impl Message for NumberDataPoint {
    fn encoded_len(&self) -> usize {
        time_len(2, self.start_time_unix_nano)
            + time_len(3, self.time_unix_nano)
            + self.as_int.map_or(0, |_| fixed64_len(6))
            + messages_len(7, &self.attributes)
    }
    fn encode_fields(&self, out: &mut Vec<u8>) {
        time(2, self.start_time_unix_nano, out);
        time(3, self.time_unix_nano, out);
        if let Some(value) = self.as_int {
            fixed64(6, value.to_le_bytes(), out);
        }
        messages(7, &self.attributes, out);
    }
}

impl Message for Span {
    fn encoded_len(&self) -> usize {
        bytes_len(1, &self.trace_id)
            + bytes_len(2, &self.span_id)
            + bytes_len(4, &self.parent_span_id)
            + bytes_len(5, self.name.as_bytes())
            + uint_len(6, self.kind as u64)
            + time_len(7, self.start_time_unix_nano)
            + time_len(8, self.end_time_unix_nano)
            + messages_len(9, &self.attributes)
            + self.status.as_ref().map_or(0, |status| message_len(15, status))
    }
    fn encode_fields(&self, out: &mut Vec<u8>) {
        bytes(1, &self.trace_id, out);
        bytes(2, &self.span_id, out);
        bytes(4, &self.parent_span_id, out);
        bytes(5, self.name.as_bytes(), out);
        uint(6, self.kind as u64, out);
        time(7, self.start_time_unix_nano, out);
        time(8, self.end_time_unix_nano, out);
        messages(9, &self.attributes, out);
        if let Some(status) = &self.status {
            message(15, status, out);
        }
    }
}

impl Message for Status {
    fn encoded_len(&self) -> usize {
        bytes_len(2, self.message.as_bytes()) + uint_len(3, self.code as u64)
    }
    fn encode_fields(&self, out: &mut Vec<u8>) {
        bytes(2, self.message.as_bytes(), out);
        uint(3, self.code as u64, out);
    }
}

/// Appends `item` to `out` as field 2 of a scope's list (one log record,
/// metric or span of a request), followed inside it by `more`: fields of
/// the item already encoded.
pub(crate) fn push_item(item: &impl Message, more: &[u8], out: &mut Vec<u8>) {
    let len = item.encoded_len() + more.len();
    out.reserve(len + 16);
    key(2, LENGTH_DELIMITED, out);
    varint(len as u64, out);
    item.encode_fields(out);
    out.extend_from_slice(more);
}

/// The export request whose items (each written by [`push_item`]) are
/// `body`: the resource's list and the scope's list, with their lengths,
/// are put before them. Moving the items costs a copy of the body, about a
/// tenth of what encoding them took.
pub(crate) fn frame(resource: &Resource, scope: &InstrumentationScope, body: &mut Vec<u8>) {
    let field = |tag: u32, len: usize| key_len(tag) + varint_len(len as u64) + len;
    let scope_list = field(1, scope.encoded_len()) + body.len();
    let resource_list = field(1, resource.encoded_len()) + field(2, scope_list);
    let mut head = Vec::with_capacity(64 + resource_list - body.len());
    key(1, LENGTH_DELIMITED, &mut head);
    varint(resource_list as u64, &mut head);
    message(1, resource, &mut head);
    key(2, LENGTH_DELIMITED, &mut head);
    varint(scope_list as u64, &mut head);
    message(1, scope, &mut head);
    body.splice(0..0, head);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_seven_bits_a_byte() {
        for (value, bytes) in
            [(0u64, vec![0u8]), (1, vec![1]), (127, vec![127]), (128, vec![0x80, 1]), (300, vec![0xac, 2])]
        {
            let mut out = Vec::new();
            varint(value, &mut out);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(varint_len(value), bytes.len(), "{value}");
        }
        let mut out = Vec::new();
        varint(u64::MAX, &mut out);
        assert_eq!((out.len(), varint_len(u64::MAX)), (10, 10));
    }

    #[test]
    fn each_message_is_as_long_as_it_says() {
        let kv = |key: &str, value: Any| KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
        };
        let attributes = vec![
            kv("text", Any::String("x".repeat(200))),
            kv("yes", Any::Bool(true)),
            kv("no", Any::Bool(false)),
            kv("minus", Any::Int(-3)),
            kv("zero", Any::Double(0.0)),
            kv("list", Any::Array(ArrayValue { values: vec![AnyValue { value: Some(Any::Int(1)) }] })),
            kv("object", Any::KvList(KeyValueList { values: vec![kv("inner", Any::Int(0))] })),
        ];
        let record = LogRecord {
            time_unix_nano: 1,
            observed_time_unix_nano: 0,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue { value: Some(Any::String("event".into())) }),
            attributes: attributes.clone(),
            event_name: "event".into(),
        };
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            parent_span_id: Vec::new(),
            name: "call".into(),
            kind: 1,
            start_time_unix_nano: 5,
            end_time_unix_nano: 6,
            attributes,
            status: Some(Status { message: "E".into(), code: 2 }),
        };
        let point = NumberDataPoint {
            attributes: Vec::new(),
            start_time_unix_nano: 1,
            time_unix_nano: 2,
            as_int: Some(0),
        };
        let metric = Metric {
            name: "n".into(),
            sum: Some(Sum { data_points: vec![point], aggregation_temporality: 1, is_monotonic: true }),
        };
        fn check(message: &impl Message) {
            let mut out = Vec::new();
            message.encode_fields(&mut out);
            assert_eq!(out.len(), message.encoded_len());
        }
        check(&record);
        check(&span);
        check(&metric);
    }
}
