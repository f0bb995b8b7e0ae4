//! The catalog is complete: every event name, property name and counter
//! label that reaches a test server must be listed by the catalog of the
//! program that sent it. Every [`TestServer`](crate::TestServer) checks what
//! it received when it is dropped, so every test that sends anything checks
//! this too.

use telemetry_runtime::{Catalog, FieldSchema};

use crate::server::Request;

/// What `requests` carried that this program's catalog does not list: one
/// line per undeclared event name or property name (labels are properties
/// of a counter's events), or field of an object property at any depth. The library's own `$` properties are not
/// declared by programs and are skipped; bodies that are not PostHog batches
/// (OTLP, raw test traffic) are not read.
pub fn undeclared_on_wire(requests: &[Request]) -> Vec<String> {
    let catalog = Catalog::collect();
    let mut undeclared = Vec::new();
    for request in requests.iter().filter(|r| r.complete) {
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(&decoded(request)) else { continue };
        for event in body["batch"].as_array().into_iter().flatten() {
            let name = event["event"].as_str().unwrap_or_default();
            let Some(schema) = catalog.event(name) else {
                undeclared.push(format!("event {name:?}"));
                continue;
            };
            for (property, value) in event["properties"].as_object().into_iter().flatten() {
                if property.starts_with('$') {
                    continue;
                }
                match schema.fields.iter().find(|f| f.name == property) {
                    Some(field) => nested(&mut undeclared, name, property, field, value),
                    None => undeclared.push(format!("property {property:?} of event {name:?}")),
                }
            }
        }
    }
    undeclared.sort();
    undeclared.dedup();
    undeclared
}

/// The fields of an object (or of the objects in a list) that `field`'s
/// schema does not list, at any depth, named by their dotted path.
fn nested(
    undeclared: &mut Vec<String>,
    event: &str,
    path: &str,
    field: &FieldSchema,
    value: &serde_json::Value,
) {
    match value {
        serde_json::Value::Array(items) => {
            for item in items {
                nested(undeclared, event, &format!("{path}[]"), field, item);
            }
        }
        serde_json::Value::Object(fields) => {
            for (name, value) in fields {
                // `*` stands for every key of a map (the values of its key
                // enum, which the type system holds to a fixed set).
                match field.fields.iter().find(|f| f.name == name || f.name == "*") {
                    Some(inner) => nested(undeclared, event, &format!("{path}.{name}"), inner, value),
                    None => {
                        undeclared.push(format!("property {:?} of event {event:?}", format!("{path}.{name}")))
                    }
                }
            }
        }
        _ => {}
    }
}

/// The body, or nothing when its encoding is not one the check reads.
fn decoded(request: &Request) -> Vec<u8> {
    match request.header("content-encoding") {
        None => request.body.clone(),
        Some(encoding) if encoding.trim().eq_ignore_ascii_case("gzip") => {
            use std::io::Read;
            let mut plain = Vec::new();
            match flate2::read::GzDecoder::new(&request.body[..]).read_to_end(&mut plain) {
                Ok(_) => plain,
                Err(_) => Vec::new(),
            }
        }
        Some(_) => Vec::new(),
    }
}
