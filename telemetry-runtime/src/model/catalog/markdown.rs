//! The catalog as the "what we collect" page, in Markdown.

use std::fmt::Write as _;

use super::fields::{doc_text, flattened, is_list};
use super::reports::PeriodNote;
use crate::model::schema::{EventSchema, FieldSchema};
use crate::Level;

/// The "what we collect" page of `app_name`: the properties sent with
/// every event (`envelope`, and whether the receiver may look up a location,
/// `geoip`), the reports by period, and each of `events` with its fields.
pub(super) fn page<'a>(
    app_name: &str,
    envelope: impl Iterator<Item = (&'static str, &'a str)>,
    geoip: bool,
    reports: &[PeriodNote],
    events: &[&'static EventSchema],
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# What {app_name} collects\n");
    let _ = writeln!(
        md,
        "This page is generated from the program's code. Telemetry has three levels: \
         **off** (nothing is collected or sent), **usage** (the events below with their \
         public and redacted fields) and **full** (also the fields marked opt-in). \
         Redacted values never leave the machine: only what the table says is sent.\n"
    );
    let _ = writeln!(md, "## Sent with every event\n");
    let _ = writeln!(md, "| property | what |\n|---|---|");
    for (name, what) in envelope {
        let _ = writeln!(md, "| `{name}` | {what} |");
    }
    if geoip {
        let _ = writeln!(
            md,
            "\nThis program lets the receiver look up a location (country, city) from the IP address \
             its events come from."
        );
    }
    for note in reports {
        note.write_markdown(&mut md, app_name);
    }
    for event in events {
        let _ = writeln!(md, "\n## `{}`\n", event.name);
        if !event.description.trim().is_empty() {
            let _ = writeln!(md, "{}\n", doc_text(event.description));
        }
        let when = match event.min_level {
            Level::Full => "Sent only at **full**.",
            _ => "Sent at **usage** and **full**.",
        };
        let _ = write!(md, "{when}");
        if event.sample_rate < 1.0 {
            let _ = write!(md, " Sampled: {}% of these events are kept.", event.sample_rate * 100.0);
        }
        let _ = writeln!(md, "\n");
        if event.fields.is_empty() {
            let _ = writeln!(md, "No properties beyond the standard ones.");
            continue;
        }
        let _ = writeln!(md, "| property | type | classification | at usage | at full | description |");
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for (path, field, ty, usage, full) in flattened(event) {
            let mut description = doc_text(field.description).replace('\n', " ");
            if let Some(reason) = field.reason {
                let _ = write!(description, " *Public because:* {reason}");
            }
            let _ = writeln!(
                md,
                "| `{path}` | {} | {} | {usage} | {full} | {} |",
                type_markdown(field, ty),
                field.classification.as_str(),
                description.trim()
            );
        }
    }
    md
}

/// A field's type as a reader wants it: the values of a closed set rather
/// than the name of its enum (`one of `small`, `large``), the unit of a
/// duration (`` `Duration` (ms) ``), the Rust type otherwise.
fn type_markdown(field: &FieldSchema, ty: &str) -> String {
    if !field.values.is_empty() {
        let values: Vec<String> = field.values.iter().map(|v| format!("`{v}`")).collect();
        let each = if is_list(ty) { "list, each one of" } else { "one of" };
        return format!("{each} {}", values.join(", "));
    }
    match field.unit {
        "" => format!("`{ty}`"),
        unit => format!("`{ty}` ({unit})"),
    }
}
