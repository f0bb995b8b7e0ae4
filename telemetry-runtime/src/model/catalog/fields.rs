//! What the catalog reads from a schema's fields, for its Markdown and
//! its JSON alike: their dotted paths, their types as written, and what
//! each sends at usage and at full.

use crate::model::schema::{Classification, EventSchema, FieldSchema, RedactMode};
use crate::Level;

/// A description as written in doc comments, without the space after `///`.
pub(super) fn doc_text(text: &str) -> String {
    text.lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// The fields of an event and, after each object field, its nested fields,
/// with their dotted paths (`servers[].kind` for a field of the objects in
/// a list) and what each sends at usage and at full.
/// A map's keys (`*`) have no type of their own: it is the map's value
/// type, as written in the type of the field that holds the map.
pub(super) fn flattened(
    event: &EventSchema,
) -> Vec<(String, &'static FieldSchema, &'static str, &'static str, &'static str)> {
    fn walk(
        out: &mut Vec<(String, &'static FieldSchema, &'static str, &'static str, &'static str)>,
        prefix: &str,
        fields: &'static [FieldSchema],
        parent_ty: &'static str,
        within: (&'static str, &'static str),
        depth: usize,
    ) {
        for field in fields {
            let path = format!("{prefix}{}", field.name);
            let ty = match field.ty {
                "" if field.name == "*" => map_value_type(parent_ty),
                ty => ty,
            };
            let (usage, full) = sent_at_levels(within, field);
            out.push((path.clone(), field, ty, usage, full));
            if !field.fields.is_empty() && depth < crate::model::packed::MAX_DEPTH {
                let list = if is_list(ty) { "[]" } else { "" };
                walk(out, &format!("{path}{list}."), field.fields, ty, (usage, full), depth + 1);
            }
        }
    }
    let mut out = Vec::new();
    let within = if event.min_level == Level::Full { ("nothing", "value") } else { ("value", "value") };
    walk(&mut out, "", event.fields, "", within, 1);
    out
}

/// A placeholder for a field's value, for `telemetry preview`: the values
/// of a closed set (`<count|top>`), the unit of a duration
/// (`<Duration, in ms>`), the Rust type otherwise.
pub(crate) fn placeholder(field: &FieldSchema) -> String {
    if !field.values.is_empty() {
        let values = format!("<{}>", field.values.join("|"));
        return if is_list(field.ty) { format!("[{values}, ...]") } else { values };
    }
    match field.unit {
        "" => format!("<{}>", field.ty),
        unit => format!("<{}, in {unit}>", field.ty),
    }
}

/// Whether a type as written is a list of what it holds, rather than a map
/// of lists (`BTreeMap<K, Vec<T>>` holds lists but is not one).
pub(super) fn is_list(ty: &str) -> bool {
    let before_map = ty.find("Map<").map_or(ty, |at| &ty[..at]);
    before_map.contains("Vec<") || before_map.contains('[')
}

/// The value type of the (first) map in a type as written:
/// `Vec<Server>` in `Option<BTreeMap<Kind, Vec<Server>>>`; empty when
/// there is none.
pub(super) fn map_value_type(ty: &'static str) -> &'static str {
    let Some(start) = ty.find("Map<").map(|at| at + 4) else { return "" };
    let mut depth = 0usize;
    let mut comma = None;
    for (i, c) in ty[start..].char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' if depth == 0 => {
                return comma.map_or("", |from: usize| ty[start + from..start + i].trim());
            }
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 && comma.is_none() => comma = Some(i + 1),
            ',' if depth == 0 => return comma.map_or("", |from| ty[start + from..start + i].trim()),
            _ => {}
        }
    }
    ""
}

/// What a field sends at usage and at full, within what its event or the
/// object that holds it sends (`"value"` or `"nothing"` at each level).
pub(super) fn sent_at_levels(
    within: (&'static str, &'static str),
    field: &FieldSchema,
) -> (&'static str, &'static str) {
    let full = match field.classification {
        Classification::Public | Classification::OptIn => "value",
        Classification::Redact(RedactMode::Drop) => "nothing",
        Classification::Redact(RedactMode::Marker) => "\"[redacted]\"",
        Classification::Redact(RedactMode::Length) => "length",
        Classification::Redact(RedactMode::Hash) => "keyed hash",
    };
    let sent = |level: &'static str| if level == "value" { full } else { "nothing" };
    let usage = if field.classification == Classification::OptIn { "nothing" } else { sent(within.0) };
    (usage, sent(within.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_value_types_and_lists_as_written() {
        assert_eq!(map_value_type("BTreeMap<Kind, u32>"), "u32");
        assert_eq!(map_value_type("Option<HashMap<Kind, Vec<Server<'a>>>>"), "Vec<Server<'a>>");
        assert_eq!(map_value_type("HashMap<Kind, (u8, u8), S>"), "(u8, u8)");
        assert_eq!(map_value_type("Vec<Server>"), "");
        assert!(is_list("Vec<Server>"));
        assert!(is_list("&[Server]"));
        assert!(is_list("Vec<BTreeMap<Kind, u32>>"));
        assert!(!is_list("BTreeMap<Kind, Vec<Server>>"));
        assert!(!is_list("Option<Usage>"));
    }
}
