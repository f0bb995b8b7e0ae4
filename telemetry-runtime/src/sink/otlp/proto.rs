//! The OTLP messages this library sends, declared by hand with `prost`'s
//! derive: only the fields it fills, with the field numbers of
//! `opentelemetry-proto` (`common`, `resource`, `logs`, `metrics` and
//! `trace`, v1, as of OTLP 1.5). Fields left out are simply absent on the
//! wire, which protobuf reads as their defaults. The tests decode every
//! body with the official definitions.
//!
//! The three export requests have one shape: field 1 a resource's list,
//! whose field 1 is the resource and field 2 a scope's list, whose field 1
//! is the scope and field 2 the items (log records, metrics or spans).
//! [`frame`] writes that around items already encoded as field 2.

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message;

/// `opentelemetry.proto.common.v1.AnyValue`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct AnyValue {
    #[prost(oneof = "Any", tags = "1, 2, 3, 4, 5, 6")]
    pub(crate) value: Option<Any>,
}

/// The value of an [`AnyValue`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum Any {
    #[prost(string, tag = "1")]
    String(String),
    #[prost(bool, tag = "2")]
    Bool(bool),
    #[prost(int64, tag = "3")]
    Int(i64),
    #[prost(double, tag = "4")]
    Double(f64),
    #[prost(message, tag = "5")]
    Array(ArrayValue),
    #[prost(message, tag = "6")]
    KvList(KeyValueList),
}

/// `opentelemetry.proto.common.v1.ArrayValue`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    pub(crate) values: Vec<AnyValue>,
}

/// `opentelemetry.proto.common.v1.KeyValueList`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct KeyValueList {
    #[prost(message, repeated, tag = "1")]
    pub(crate) values: Vec<KeyValue>,
}

/// `opentelemetry.proto.common.v1.KeyValue`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct KeyValue {
    #[prost(string, tag = "1")]
    pub(crate) key: String,
    #[prost(message, optional, tag = "2")]
    pub(crate) value: Option<AnyValue>,
}

/// `opentelemetry.proto.common.v1.InstrumentationScope`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct InstrumentationScope {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(string, tag = "2")]
    pub(crate) version: String,
}

/// `opentelemetry.proto.resource.v1.Resource`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub(crate) attributes: Vec<KeyValue>,
}

/// `opentelemetry.proto.logs.v1.LogRecord`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct LogRecord {
    #[prost(fixed64, tag = "1")]
    pub(crate) time_unix_nano: u64,
    #[prost(fixed64, tag = "11")]
    pub(crate) observed_time_unix_nano: u64,
    /// A `SeverityNumber` (9 is `INFO`).
    #[prost(int32, tag = "2")]
    pub(crate) severity_number: i32,
    #[prost(string, tag = "3")]
    pub(crate) severity_text: String,
    #[prost(message, optional, tag = "5")]
    pub(crate) body: Option<AnyValue>,
    #[prost(message, repeated, tag = "6")]
    pub(crate) attributes: Vec<KeyValue>,
    /// OTLP 1.5: what kind of event the record is.
    #[prost(string, tag = "12")]
    pub(crate) event_name: String,
}

/// `opentelemetry.proto.metrics.v1.Metric`, as a sum.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Metric {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(message, optional, tag = "7")]
    pub(crate) sum: Option<Sum>,
}

/// `opentelemetry.proto.metrics.v1.Sum`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Sum {
    #[prost(message, repeated, tag = "1")]
    pub(crate) data_points: Vec<NumberDataPoint>,
    /// An `AggregationTemporality` (1 is `DELTA`).
    #[prost(int32, tag = "2")]
    pub(crate) aggregation_temporality: i32,
    #[prost(bool, tag = "3")]
    pub(crate) is_monotonic: bool,
}

/// `opentelemetry.proto.metrics.v1.NumberDataPoint`, as an integer.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct NumberDataPoint {
    #[prost(message, repeated, tag = "7")]
    pub(crate) attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "2")]
    pub(crate) start_time_unix_nano: u64,
    #[prost(fixed64, tag = "3")]
    pub(crate) time_unix_nano: u64,
    /// `as_int`, a member of the `value` oneof.
    #[prost(sfixed64, optional, tag = "6")]
    pub(crate) as_int: Option<i64>,
}

/// `opentelemetry.proto.trace.v1.Span`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Span {
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) span_id: Vec<u8>,
    /// Empty for a root span.
    #[prost(bytes = "vec", tag = "4")]
    pub(crate) parent_span_id: Vec<u8>,
    #[prost(string, tag = "5")]
    pub(crate) name: String,
    /// A `SpanKind` (1 is `INTERNAL`).
    #[prost(int32, tag = "6")]
    pub(crate) kind: i32,
    #[prost(fixed64, tag = "7")]
    pub(crate) start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    pub(crate) end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    pub(crate) attributes: Vec<KeyValue>,
    #[prost(message, optional, tag = "15")]
    pub(crate) status: Option<Status>,
}

/// `opentelemetry.proto.trace.v1.Status`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Status {
    #[prost(string, tag = "2")]
    pub(crate) message: String,
    /// A `StatusCode`: 0 unset, 1 ok, 2 error.
    #[prost(int32, tag = "3")]
    pub(crate) code: i32,
}

/// Appends `item` to `out` as field 2 of a scope's list (one log record,
/// metric or span of a request), followed inside it by `more`: fields of
/// the item already encoded.
pub(crate) fn push_item(item: &impl Message, more: &[u8], out: &mut Vec<u8>) {
    let len = item.encoded_len() + more.len();
    out.reserve(len + 16);
    encode_key(2, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    // Into a Vec with room made: it cannot fail.
    let _ = item.encode(out);
    out.extend_from_slice(more);
}

/// The export request whose items (each written by [`push_item`]) are
/// `body`: the resource's list and the scope's list, with their lengths,
/// are put before them. Moving the items costs a copy of the body, about a
/// tenth of what encoding them took.
pub(crate) fn frame(resource: &Resource, scope: &InstrumentationScope, body: &mut Vec<u8>) {
    let field = |tag: u32, len: usize| key_len(tag) + encoded_len_varint(len as u64) + len;
    let scope_list = field(1, scope.encoded_len()) + body.len();
    let resource_list = field(1, resource.encoded_len()) + field(2, scope_list);
    let mut head = Vec::with_capacity(64 + resource_list - body.len());
    encode_key(1, WireType::LengthDelimited, &mut head);
    encode_varint(resource_list as u64, &mut head);
    prost::encoding::message::encode(1, resource, &mut head);
    encode_key(2, WireType::LengthDelimited, &mut head);
    encode_varint(scope_list as u64, &mut head);
    prost::encoding::message::encode(1, scope, &mut head);
    body.splice(0..0, head);
}

fn key_len(tag: u32) -> usize {
    prost::encoding::key_len(tag)
}
