//! The catalog's events as JSON: each field with what it sends at each
//! level, an object field with its own fields.

use serde_json::{json, Value as Json};

use super::fields::{doc_text, map_value_type, sent_at_levels};
use crate::model::schema::{EventSchema, FieldSchema};
use crate::Level;

/// An event as JSON.
pub(super) fn event_json(event: &EventSchema) -> Json {
    let within = if event.min_level == Level::Full { ("nothing", "value") } else { ("value", "value") };
    let fields = fields_json(event.fields, "", within, 1);
    json!({
        "name": event.name,
        "description": doc_text(event.description),
        "min_level": event.min_level.as_str(),
        "sample_rate": event.sample_rate,
        "fields": fields,
    })
}

/// The fields as JSON; an object field holds its own in `fields`.
fn fields_json(
    fields: &'static [FieldSchema],
    parent_ty: &'static str,
    within: (&'static str, &'static str),
    depth: usize,
) -> Vec<Json> {
    fields
        .iter()
        .map(|f| {
            let (usage, full) = sent_at_levels(within, f);
            let ty = match f.ty {
                "" if f.name == "*" => map_value_type(parent_ty),
                ty => ty,
            };
            let mut field = json!({
                "name": f.name,
                "type": ty,
                "classification": f.classification.as_str(),
                "description": f.description,
                "reason": f.reason,
                "sent": { "usage": usage, "full": full },
            });
            // Only fields of a closed set carry `values`, only durations
            // `unit`, and only object fields `fields`: the JSON of other
            // events (and so their digest) is unchanged.
            if !f.values.is_empty() {
                field["values"] = json!(f.values);
            }
            if !f.unit.is_empty() {
                field["unit"] = json!(f.unit);
            }
            if !f.fields.is_empty() && depth < crate::model::packed::MAX_DEPTH {
                let nested = fields_json(f.fields, ty, (usage, full), depth + 1);
                field["fields"] = Json::Array(nested);
            }
            field
        })
        .collect()
}
