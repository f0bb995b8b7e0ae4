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
    undeclared_in(&Catalog::collect(), requests)
}

/// Like [`undeclared_on_wire`], against `catalog`: the catalog of a program
/// whose binary is not the test's (the test binary links the events of
/// several programs, which may use one event name each their own way).
pub fn undeclared_in(catalog: &Catalog, requests: &[Request]) -> Vec<String> {
    let mut undeclared = Vec::new();
    for request in requests.iter().filter(|r| r.complete) {
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(&decoded(request)) else { continue };
        for event in body["batch"].as_array().into_iter().flatten() {
            let name = event["event"].as_str().unwrap_or_default();
            if name == REPORT_EVENT {
                undeclared.extend(undeclared_in_report(catalog, event));
                continue;
            }
            let Some(schema) = event_named(catalog, name) else {
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

/// The event a report by period is sent as: the library's own, whose
/// properties are counts of what the catalog lists.
const REPORT_EVENT: &str = "telemetry_report";

/// What a report counts that the catalog does not list: each count's name
/// is a counter's, with its labels as `{label=value,...}` (the labels the
/// counter declares), or `$events{event=<name>}` for an event the catalog
/// lists.
fn undeclared_in_report(catalog: &Catalog, event: &serde_json::Value) -> Vec<String> {
    let mut undeclared = Vec::new();
    for name in event["properties"].as_object().into_iter().flat_map(|p| p.keys()) {
        if matches!(name.as_str(), "$period_start" | "$period_end") {
            continue;
        }
        let Some((counter, labels)) = parse_count_name(name) else {
            undeclared.push(format!("count {name:?} of a report"));
            continue;
        };
        if counter == "$events" {
            match labels.as_slice() {
                [(label, event)] if label == "event" && event_named(catalog, event).is_some() => {}
                _ => undeclared.push(format!("count {name:?} of a report")),
            }
            continue;
        }
        if counter.starts_with('$') {
            // A standard property of the library.
            continue;
        }
        match event_named(catalog, &counter) {
            Some(schema) if labels.iter().all(|(label, _)| schema.fields.iter().any(|f| f.name == label)) => {
            }
            _ => undeclared.push(format!("count {name:?} of a report")),
        }
    }
    undeclared
}

/// `name{label=value,...}` (with `\` before a `\`, `,`, `=`, `{` or `}`
/// of a name or value) as its name and labels.
pub fn parse_count_name(text: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut parts: Vec<String> = vec![String::new()];
    let mut separators = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => parts.last_mut()?.push(chars.next()?),
            '{' | '}' | ',' | '=' => {
                separators.push(c);
                parts.push(String::new());
            }
            c => parts.last_mut()?.push(c),
        }
    }
    let name = parts.remove(0);
    if separators.is_empty() {
        return Some((name, Vec::new()));
    }
    // `{` (label `=` value `,`)* label `=` value `}` and nothing after it.
    if separators.first() != Some(&'{') || separators.last() != Some(&'}') || !parts.last()?.is_empty() {
        return None;
    }
    let mut labels = Vec::new();
    for (i, pair) in parts[..parts.len() - 1].chunks(2).enumerate() {
        let expected = if 2 * i + 2 == separators.len() - 1 { '}' } else { ',' };
        if pair.len() != 2 || separators[2 * i + 1] != '=' || separators[2 * i + 2] != expected {
            return None;
        }
        labels.push((pair[0].clone(), pair[1].clone()));
    }
    Some((name, labels))
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

/// What `telemetry catalog --json` prints for `client`, parsed.
pub fn catalog_json_of(client: &telemetry_runtime::Telemetry) -> serde_json::Value {
    let mut out = Vec::new();
    telemetry_runtime::cli::run_command(client, &["catalog", "--json"], &mut out)
        .expect("the catalog prints");
    serde_json::from_slice(&out).expect("the catalog is JSON")
}

/// What `telemetry catalog --json` prints for a program whose catalog is
/// `catalog` (a client that is off, in a directory of its own).
pub fn catalog_json(catalog: Catalog) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = telemetry_runtime::Config::new("testapp", "1.0.0")
        .consent(telemetry_runtime::Level::Off)
        .dirs(|_| dir.path().into())
        .catalog(catalog);
    catalog_json_of(&telemetry_runtime::Telemetry::new(config).expect("a valid configuration"))
}

/// The catalog's event with this name.
pub fn event_named(catalog: &Catalog, name: &str) -> Option<&'static telemetry_runtime::EventSchema> {
    catalog.events().iter().copied().find(|event| event.name == name)
}

#[cfg(test)]
mod tests {
    use super::parse_count_name;

    #[test]
    fn count_names_read_back() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(l, v)| (l.to_string(), v.to_string())).collect()
        };
        assert_eq!(parse_count_name("runs"), Some(("runs".into(), vec![])));
        assert_eq!(
            parse_count_name("tool_calls{tool=search,status=ok}"),
            Some(("tool_calls".into(), pairs(&[("tool", "search"), ("status", "ok")])))
        );
        assert_eq!(
            parse_count_name("tool_calls{tool=a\\,status\\=b}"),
            Some(("tool_calls".into(), pairs(&[("tool", "a,status=b")])))
        );
        for bad in ["a{b}", "a{b=c", "a{b=c}d", "a{b=c,}", "a}b=c{", "a{=}x"] {
            assert_eq!(parse_count_name(bad), None, "{bad}");
        }
    }
}
