//! OTLP request bodies decoded with the official definitions
//! (`opentelemetry-proto`): protobuf or JSON, as the request's
//! `Content-Type` says, so that every test reads what a collector would.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;

use crate::Request;

/// The official definitions, for tests outside this crate.
pub use opentelemetry_proto::tonic as proto;

/// The body of an OTLP request, decoded as its `Content-Type` says:
/// `application/x-protobuf` with prost, `application/json` with serde.
/// Panics on anything else, or on a body that does not decode.
pub fn decode<T: prost::Message + Default + serde::de::DeserializeOwned>(request: &Request) -> T {
    let body = request.decoded_body();
    match request.header("content-type") {
        Some("application/x-protobuf") => {
            T::decode(&body[..]).expect("a protobuf body the definitions decode")
        }
        Some("application/json") => serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!("a JSON body the definitions decode ({e}): {}", String::from_utf8_lossy(&body))
        }),
        other => panic!("an OTLP request with Content-Type {other:?}"),
    }
}

/// A logs export request.
pub fn logs(request: &Request) -> ExportLogsServiceRequest {
    decode(request)
}

/// A metrics export request.
pub fn metrics(request: &Request) -> ExportMetricsServiceRequest {
    decode(request)
}

/// A traces export request.
pub fn traces(request: &Request) -> ExportTraceServiceRequest {
    decode(request)
}

/// The value of attribute `key`, if present.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Any> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
}

/// An attribute's value as text: a string as it is, anything else in its
/// debug form (`IntValue(3)`).
pub fn text(value: &Any) -> String {
    match value {
        Any::StringValue(text) => text.clone(),
        other => format!("{other:?}"),
    }
}

/// Attributes as a sorted map of key to [`text`].
pub fn attribute_map(attributes: &[KeyValue]) -> std::collections::BTreeMap<String, String> {
    attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?.value.as_ref()?))))
        .collect()
}

/// The value of attribute `key` (as [`text`]) of every log record that
/// `server` accepted on `/v1/logs`, in order: what a test searches for where
/// a protobuf body has no digits to find.
pub fn logged_values(server: &crate::TestServer, key: &str) -> Vec<String> {
    let requests = server.requests();
    let logs = requests.iter().filter(|r| r.accepted() && r.path == "/v1/logs");
    logs.flat_map(|request| {
        let decoded = self::logs(request);
        let records =
            decoded.resource_logs.into_iter().flat_map(|r| r.scope_logs).flat_map(|s| s.log_records);
        records.filter_map(|record| attribute(&record.attributes, key).map(text)).collect::<Vec<_>>()
    })
    .collect()
}
