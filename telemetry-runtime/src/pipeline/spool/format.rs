//! The text format of a spool file: a batch of typed events written as
//! lines and read back as views again.
//!
//! Events are stored typed, as no sink's format: a batch read back is a
//! batch of views again, which any sink encodes its own way. Text, one line
//! each, tab-separated:
//! - a header: `v3 sink <identity> <route JSON>`;
//! - each context the events share: `v3 context <JSON>` (the install id
//!   and the standard properties, numbered from 0 in order);
//! - each event: `v3 event <context number> <level it needs> <counter 0|1>
//!   <nanos since 1970> <uuid> <name JSON> <properties JSON>`, its
//!   properties as they are sent at that level (a redacted one already its
//!   marker, length or keyed hash, never the unkeyed pre-hash), in order,
//!   each a `[name, value]` pair. A value is JSON where JSON tells its type
//!   (text, `true`/`false`, `null` in a list, a list as an array), and a
//!   one-key object otherwise: `{"i":-5}`, `{"u":5}`, `{"f":1.5}`,
//!   `{"id":"<uuid>"}`, `{"h":"<keyed hash>"}`, `{"o":[[name, value], ...]}`,
//!   so a replayed event is the event that was spooled, value for value (a
//!   float JSON cannot carry, inside a list, is kept as the null it is
//!   sent as).
//!
//! Files of earlier formats (`v1` named their sink by name, which cannot
//! route them safely; `v2` held PostHog's JSON) are deleted unsent, counted
//! as `Undeliverable`, and logged in one line per replay.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use uuid::Uuid;

use crate::local::files;
use crate::model::event::{Record, RecordKind, Records};
use crate::model::packed::write::ValueWriter;
use crate::model::view::{EventContext, Prepared, Property, Queued, ValueRef};
use crate::pipeline::route::Route;
use crate::{Level, Properties};

/// The first field of every line: the format's version.
const FORMAT: &str = "v3";
/// The formats before: `v1` before batches carried their sink's identity
/// and route, `v2` before they were stored typed.
const OLD_FORMATS: [&str; 2] = ["v1", "v2"];

/// The first line of a batch file for the sink `sink` (its identity) and
/// `route`.
pub(super) fn header(sink: &str, route: &Route) -> String {
    format!("{FORMAT}\tsink\t{sink}\t{}", route.to_line())
}

/// The lines of a batch file.
pub(super) fn batch_text(header: &str, events: &[Queued]) -> String {
    let mut text = format!("{header}\n");
    // Each context once, numbered in order.
    let mut contexts: Vec<*const EventContext> = Vec::new();
    for event in events.iter().filter_map(Queued::view) {
        let context = event.context();
        let number = match contexts.iter().position(|known| std::ptr::eq(*known, context)) {
            Some(number) => number,
            None => {
                contexts.push(context);
                text.push_str(&format!("{FORMAT}\tcontext\t{}\n", context_json(context)));
                contexts.len() - 1
            }
        };
        let time = event.time().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let counter = u8::from(event.is_counter());
        // Names and properties are JSON: no tab or line break is left raw.
        let name = serde_json::to_string(event.name()).unwrap_or_default();
        let properties = serde_json::Value::Array(event.entries().map(typed_pair).collect());
        text.push_str(&format!(
            "{FORMAT}\tevent\t{number}\t{}\t{counter}\t{time}\t{}\t{name}\t{properties}\n",
            event.required_level(),
            event.uuid(),
        ));
    }
    text
}

/// A context as one line of JSON.
fn context_json(context: &EventContext) -> String {
    serde_json::json!({
        "distinct_id": context.distinct_id,
        "session_id": context.session_id,
        "app_name": context.app_name,
        "app_version": context.app_version,
        "os": context.os,
        "arch": context.arch,
        "os_version": context.os_version,
        "lib_version": context.lib_version,
        "catalog_digest": context.catalog_digest,
        "geoip_disable": context.geoip_disable,
    })
    .to_string()
}

/// A context read back; it belongs to the identity generation current when
/// it is read (a reset deletes the spool first).
fn parse_context(json: &str, generation: u64) -> Option<EventContext> {
    let json: serde_json::Value = serde_json::from_str(json).ok()?;
    let text = |name: &str| json.get(name)?.as_str().map(str::to_owned);
    Some(EventContext {
        distinct_id: text("distinct_id")?,
        generation,
        session_id: text("session_id")?,
        app_name: text("app_name")?,
        app_version: text("app_version")?,
        os: text("os")?.into(),
        arch: text("arch")?.into(),
        os_version: text("os_version"),
        lib_version: text("lib_version")?.into(),
        catalog_digest: text("catalog_digest")?,
        // Batches spooled before it was recorded carried it: the default.
        geoip_disable: json.get("geoip_disable").and_then(serde_json::Value::as_bool).unwrap_or(true),
        // Hashed values were stored keyed: no key is needed again.
        hash_key_source: None,
        hash_key: Default::default(),
        report: None,
    })
}

/// A property (or object field) as a `[name, value]` pair of the format.
fn typed_pair(property: Property<'_>) -> serde_json::Value {
    json!([property.name(), typed(property.value())])
}

/// A value in the format's typed JSON (see the module docs).
fn typed(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Bool(b) => json!(b),
        ValueRef::Int(i) => json!({ "i": i }),
        ValueRef::UInt(u) => json!({ "u": u }),
        // Infinite and NaN floats (inside a list) are sent as null anyway.
        ValueRef::Float(f) if f.is_finite() => json!({ "f": f }),
        ValueRef::Text(text) => json!(text.as_str()),
        ValueRef::Uuid(id) => json!({ "id": id.to_string() }),
        ValueRef::Hashed(hash) => json!({ "h": hash.as_str() }),
        ValueRef::List(items) => serde_json::Value::Array(items.map(typed).collect()),
        ValueRef::Object(object) => {
            json!({ "o": object.entries().map(typed_pair).collect::<Vec<_>>() })
        }
        _ => serde_json::Value::Null,
    }
}

/// Writes a value of the format's typed JSON; `None` if it is not one.
fn write_typed(out: &mut ValueWriter<'_>, json: &serde_json::Value) -> Option<()> {
    use serde_json::Value as Json;
    match json {
        Json::Null => out.null(),
        Json::Bool(b) => out.bool(*b),
        Json::String(text) => out.text(text),
        Json::Array(items) => {
            let mut valid = true;
            out.list_of(items.len(), |out, index| valid &= write_typed(out, &items[index]).is_some());
            valid.then_some(())?;
        }
        Json::Object(tagged) if tagged.len() == 1 => {
            let (tag, value) = tagged.iter().next()?;
            match tag.as_str() {
                "i" => out.int(value.as_i64()?),
                "u" => out.uint(value.as_u64()?),
                "f" => out.float(value.as_f64()?),
                "id" => out.uuid(&Uuid::parse_str(value.as_str()?).ok()?),
                "h" => out.keyed_hash(value.as_str()?.as_bytes().try_into().ok()?),
                "o" => {
                    let mut object = out.object_start()?;
                    for field in value.as_array()? {
                        let (name, value) = pair(field)?;
                        let mut valid = true;
                        out.object_field_named(&mut object, name, |out| {
                            valid = write_typed(out, value).is_some()
                        });
                        valid.then_some(())?;
                    }
                    out.object_end(object);
                }
                _ => return None,
            }
        }
        _ => return None,
    }
    Some(())
}

/// A `[name, value]` pair.
fn pair(json: &serde_json::Value) -> Option<(&str, &serde_json::Value)> {
    match json.as_array()?.as_slice() {
        [name, value] => Some((name.as_str()?, value)),
        _ => None,
    }
}

/// A batch file's contents.
pub(super) enum BatchFile {
    /// Of the earlier format: only its number of events matters.
    Old(usize),
    Current {
        header: String,
        sink: String,
        route: Route,
        events: Vec<Queued>,
    },
}

impl BatchFile {
    pub(super) fn len(&self) -> usize {
        match self {
            BatchFile::Old(events) => *events,
            BatchFile::Current { events, .. } => events.len(),
        }
    }
}

/// Reads a spooled batch back, its events belonging to the identity
/// `generation`; an error says what is wrong with it. A file over
/// `max_bytes` (the whole spool's limit, which no batch written here
/// exceeds) is refused unread. A file of an earlier format is only counted.
pub(super) fn read(path: &Path, max_bytes: u64, generation: u64) -> Result<BatchFile, String> {
    let text = files::read_capped(path, max_bytes).map_err(|e| e.to_string())?;
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty")?;
    if let Some(old) = OLD_FORMATS.iter().find(|old| header.starts_with(&format!("{old}\t"))) {
        return Ok(BatchFile::Old(lines.filter(|line| line.starts_with(&format!("{old}\t"))).count()));
    }
    let mut fields =
        header.strip_prefix(&format!("{FORMAT}\tsink\t")).ok_or("no sink header")?.splitn(2, '\t');
    let sink = fields.next().filter(|s| !s.is_empty()).ok_or("no sink identity")?.to_owned();
    let route = fields.next().and_then(Route::from_line).ok_or("no route")?;
    // Each context's events, and where each event is among them.
    let mut contexts: Vec<(EventContext, Records)> = Vec::new();
    let mut order: Vec<(usize, usize, Uuid, Level)> = Vec::new();
    for (i, line) in lines.enumerate() {
        let bad = || format!("line {}", i + 2);
        if let Some(context) = line.strip_prefix(&format!("{FORMAT}\tcontext\t")) {
            contexts.push((parse_context(context, generation).ok_or_else(bad)?, Records::default()));
            continue;
        }
        let (number, record, properties, uuid, needs) = parse_event(line).ok_or_else(bad)?;
        let (_, records) = contexts.get_mut(number).ok_or_else(bad)?;
        order.push((number, records.len(), uuid, needs));
        records.push(record, &properties);
    }
    let prepared: Vec<Arc<Prepared>> = contexts
        .into_iter()
        .map(|(context, records)| Arc::new(Prepared { records, context: Arc::new(context) }))
        .collect();
    let events = order
        .into_iter()
        .map(|(number, index, uuid, needs)| Queued {
            prepared: Arc::clone(&prepared[number]),
            index,
            uuid,
            // Stored as shown: everything it holds is shown again, and
            // it needs what it needed then.
            shown: Level::Full,
            needs,
        })
        .collect();
    Ok(BatchFile::Current { header: header.to_owned(), sink, route, events })
}

/// An event line: its context's number, its record and properties, its
/// uuid and the level it needs.
fn parse_event(line: &str) -> Option<(usize, Record, Properties, Uuid, Level)> {
    let mut fields = line.strip_prefix(&format!("{FORMAT}\tevent\t"))?.splitn(7, '\t');
    let number: usize = fields.next()?.parse().ok()?;
    let needs = Level::parse(fields.next()?)?;
    let counter = fields.next()? == "1";
    let nanos: u64 = fields.next()?.parse().ok()?;
    let uuid = Uuid::parse_str(fields.next()?).ok()?;
    let name: String = serde_json::from_str(fields.next()?).ok()?;
    let stored: serde_json::Value = serde_json::from_str(fields.next()?).ok()?;
    let stored = stored.as_array()?;
    let mut properties = Properties::with_capacity(stored.len());
    for property in stored {
        let (name, value) = pair(property)?;
        let mut valid = true;
        properties.push_with(name, Level::Usage, |out| valid = write_typed(out, value).is_some());
        valid.then_some(())?;
    }
    let mut record = Record::at(name.into(), Some(UNIX_EPOCH + Duration::from_nanos(nanos)));
    if counter {
        record.kind = RecordKind::Counter;
    }
    record.min_level = needs;
    Some((number, record, properties, uuid, needs))
}
