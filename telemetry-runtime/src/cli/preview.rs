//! `telemetry preview`: every event of the catalog as it would be sent at a
//! level, with placeholders for the values.

use std::io::{self, Write};

use serde_json::{json, Map, Value as Json};

use crate::model::schema::{Classification, EventSchema, RedactMode};
use crate::{Catalog, Level, Telemetry};

/// Every event as it would be sent at `level`, with placeholders for values.
pub(super) fn preview(client: &Telemetry, level: Level, out: &mut dyn Write) -> io::Result<()> {
    let events: Vec<Json> = client
        .catalog()
        .events()
        .iter()
        .filter(|e| e.min_level <= level)
        .map(|e| sample_event(client.catalog(), e, level))
        .collect();
    writeln!(out, "Events as sent at level \"{level}\" (values are placeholders):")?;
    writeln!(out, "{}", serde_json::to_string_pretty(&events).unwrap_or_default())
}

fn sample_event(catalog: &Catalog, event: &EventSchema, level: Level) -> Json {
    let mut properties = Map::new();
    for field in event.fields {
        let sample = match field.classification {
            Classification::OptIn if level < Level::Full => continue,
            Classification::Redact(RedactMode::Drop) => continue,
            Classification::Public | Classification::OptIn => {
                json!(crate::model::catalog::placeholder(field))
            }
            Classification::Redact(RedactMode::Marker) => json!("[redacted]"),
            Classification::Redact(RedactMode::Length) => json!("<length>"),
            Classification::Redact(RedactMode::Hash) => json!("<keyed hash>"),
        };
        properties.insert(field.name.to_owned(), sample);
    }
    for (name, _) in catalog.envelope().filter(|(n, _)| n.starts_with('$')) {
        let sample = match name {
            "$process_person_profile" => json!(false),
            "$geoip_disable" => json!(true),
            "$sample_rate" if event.sample_rate >= 1.0 => continue,
            "$sample_rate" => json!(event.sample_rate),
            _ => json!(format!("<{}>", &name[1..])),
        };
        properties.insert((*name).to_owned(), sample);
    }
    json!({
        "event": event.name,
        "distinct_id": "<anonymous id>",
        "uuid": "<event uuid>",
        "timestamp": "<time>",
        "properties": properties,
    })
}
