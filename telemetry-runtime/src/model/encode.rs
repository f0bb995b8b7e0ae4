//! PostHog's JSON for one event, from its view: `{"event", "distinct_id",
//! "uuid", "timestamp", "properties"}`, the standard properties added to
//! the event's own. The PostHog, HTTP, JSONL, stderr and memory sinks all
//! write this shape.
//!
//! Written by hand rather than through serde: the worker encodes every
//! event, and most of each one (the install id and standard properties) is
//! the same for a whole batch, so it is rendered once and copied.

use std::time::{Duration, UNIX_EPOCH};

use crate::model::json::{push_json_bytes, JsonWriter};
use crate::model::time::rfc3339_bytes;
use crate::model::view::{EventContext, EventView, Property, ValueRef};

/// Room made ahead for an event's own properties (the typical event's take
/// about 250 bytes): more is made as it is needed, and what is not used is
/// cut off. The room is zeroed when it is made: not much more than needed.
const PROPERTIES_ROOM: usize = 384;

/// Writes events as PostHog JSON, keeping what consecutive events share.
/// Made for one batch: the contexts it renders must outlive it.
#[derive(Default)]
pub(crate) struct PostHogJson {
    /// The context rendered last (its address), its install id as JSON
    /// with the keys around it, and its standard properties as
    /// `"$lib":…,…` (no braces).
    rendered: Option<(usize, Vec<u8>, Vec<u8>)>,
    /// The last timestamp written: events of a batch mostly share their
    /// date and time to the second.
    last_timestamp: Option<(u64, [u8; 24])>,
}

impl PostHogJson {
    /// Appends `event` as one JSON object. Every piece is a `&str` or
    /// ASCII, so `out` stays UTF-8.
    pub(crate) fn event(&mut self, out: &mut Vec<u8>, event: &EventView<'_>) {
        let timestamp = self.timestamp(event.since_epoch());
        let (id_piece, tail) = self.rendered(event.context());
        let name = event.name().as_bytes();
        {
            let mut out = JsonWriter::new(out);
            // Room for the fixed pieces, the name escaped at worst, the
            // install id, uuid and timestamp, and typical properties.
            out.reserve(96 + name.len() * 6 + id_piece.len() + PROPERTIES_ROOM);
            out.bytes(b"{\"event\":");
            out.string(name);
            // `,"distinct_id":"…","uuid":`
            out.bytes(id_piece);
            out.uuid(&event.uuid());
            out.bytes(b",\"timestamp\":\"");
            out.bytes(&timestamp);
            out.bytes(b"\",\"properties\":{");
            push_entries(&mut out, event.entries());
        }
        // The standard properties, and `$process_person_profile` last:
        // copied whole, not through the writer's room, which would zero
        // them first.
        out.extend_from_slice(tail);
        out.extend_from_slice(b"}}");
    }

    /// The context's install id as JSON, with the keys around it
    /// (`,"distinct_id":"…","uuid":`), and its standard properties,
    /// rendered once per context.
    fn rendered(&mut self, context: &EventContext) -> (&[u8], &[u8]) {
        let address = context as *const EventContext as usize;
        if self.rendered.as_ref().is_some_and(|(rendered, _, _)| *rendered != address) {
            self.rendered = None;
        }
        let (_, id, tail) = self.rendered.get_or_insert_with(|| {
            let mut id = b",\"distinct_id\":".to_vec();
            push_json_bytes(&mut id, context.distinct_id().as_bytes());
            id.extend_from_slice(b",\"uuid\":");
            let mut tail = Vec::new();
            for (name, value) in context.standard_properties() {
                push_json_bytes(&mut tail, name.as_bytes());
                tail.push(b':');
                push_json_bytes(&mut tail, value.as_bytes());
                tail.push(b',');
            }
            if context.geoip_disable {
                tail.extend_from_slice(b"\"$geoip_disable\":true,");
            }
            tail.extend_from_slice(b"\"$process_person_profile\":false");
            (address, id, tail)
        });
        (id, tail)
    }

    /// The time `since` the Unix epoch as RFC 3339, reusing the date and
    /// time of the last one when it falls in the same second.
    fn timestamp(&mut self, since: Duration) -> [u8; 24] {
        match self.last_timestamp {
            Some((second, mut text)) if second == since.as_secs() => {
                let millis = since.subsec_millis();
                text[20] = b'0' + (millis / 100) as u8;
                text[21] = b'0' + (millis / 10 % 10) as u8;
                text[22] = b'0' + (millis % 10) as u8;
                text
            }
            _ => {
                let text = rfc3339_bytes(UNIX_EPOCH + since);
                self.last_timestamp = Some((since.as_secs(), text));
                text
            }
        }
    }
}

/// Appends the properties as a JSON object, `{...}`.
#[inline(never)]
fn push_object<'a>(out: &mut JsonWriter<'_>, properties: impl Iterator<Item = Property<'a>>) {
    out.byte(b'{');
    push_entries(out, properties);
    out.unwrite_comma();
    out.byte(b'}');
}

/// Appends `"name":value,` for each property.
fn push_entries<'a>(out: &mut JsonWriter<'_>, properties: impl Iterator<Item = Property<'a>>) {
    for property in properties {
        if property.name_is_clean() {
            out.quoted(property.name_bytes(), b"\":");
        } else {
            out.string(property.name_bytes());
            out.byte(b':');
        }
        push_value(out, property.value());
        out.byte(b',');
    }
}

/// Appends one value as JSON. Inlined into the loop over properties, where
/// the value was just read: lists and objects are written out of line.
#[inline(always)]
fn push_value(out: &mut JsonWriter<'_>, value: ValueRef<'_>) {
    match value {
        ValueRef::Bool(b) => out.bytes(if b { b"true" } else { b"false" }),
        ValueRef::Int(i) => out.bytes(itoa::Buffer::new().format(i).as_bytes()),
        ValueRef::UInt(u) => out.bytes(itoa::Buffer::new().format(u).as_bytes()),
        // serde_json's float form (shortest round trip, `1.0` not `1`), so
        // that a float stays a float for the receiver.
        ValueRef::Float(f) if f.is_finite() => out.bytes(zmij::Buffer::new().format_finite(f).as_bytes()),
        ValueRef::Text(text) => out.string(text.as_bytes()),
        ValueRef::Uuid(u) => out.uuid(&u),
        ValueRef::Hashed(hash) => out.string(hash.as_str().as_bytes()),
        ValueRef::List(items) => push_list(out, items),
        // An object's fields are filtered like an event's properties.
        ValueRef::Object(object) => push_object(out, object.entries()),
        ValueRef::Null | ValueRef::Float(_) => out.bytes(b"null"),
    }
}

/// Appends a list's items as a JSON array.
#[inline(never)]
fn push_list<'a>(out: &mut JsonWriter<'_>, items: impl Iterator<Item = ValueRef<'a>>) {
    // Inside a list a missing value keeps its place as null.
    out.byte(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.byte(b',');
        }
        push_value(out, item);
    }
    out.byte(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::Record;
    use crate::model::view::testing::{context, queued};
    use crate::model::view::LIB_NAME;
    use crate::{Level, Properties, Value};

    /// Each event as PostHog JSON, the events shown at `level`.
    fn encode_all(context: EventContext, events: Vec<(Record, Properties)>, level: Level) -> Vec<String> {
        let queued = queued(context, events, level);
        let mut json = PostHogJson::default();
        queued
            .iter()
            .map(|event| {
                let mut out = b"[".to_vec();
                json.event(&mut out, &event.view().unwrap());
                // What is already in the buffer is left as it was.
                assert_eq!(out[0], b'[');
                String::from_utf8(out.split_off(1)).unwrap()
            })
            .collect()
    }

    fn encode(record: Record, properties: Properties, level: Level) -> String {
        encode_all(context("id-1", "1.2.3"), vec![(record, properties)], level).remove(0)
    }

    #[test]
    fn posthog_event_shape() {
        let mut record = Record::new("tool_call".into());
        let properties = Properties::new()
            .with("ok", true)
            .with("count", 3u32)
            .with("skipped", None::<u32>)
            .with("nan", f64::NAN)
            .with("tags", vec!["a", "b"])
            .with_opt_in("secret", "only at full");
        record.set_time(UNIX_EPOCH + Duration::from_millis(1_000_001));
        let usage = encode(record.clone(), properties.clone(), Level::Usage);
        assert!(!usage.contains("only at full"), "{usage}");
        let json: serde_json::Value = serde_json::from_str(&encode(record, properties, Level::Full)).unwrap();
        assert_eq!(json["event"], "tool_call");
        assert_eq!(json["distinct_id"], "id-1");
        assert!(uuid::Uuid::parse_str(json["uuid"].as_str().unwrap()).is_ok());
        assert_eq!(json["timestamp"], "1970-01-01T00:16:40.001Z");
        let props = json["properties"].as_object().unwrap();
        assert_eq!(props["ok"], true);
        assert_eq!(props["count"], 3);
        assert_eq!(props["tags"], serde_json::json!(["a", "b"]));
        assert_eq!(props["secret"], "only at full");
        assert!(!props.contains_key("skipped"));
        assert!(!props.contains_key("nan"));
        assert_eq!(props["$lib"], LIB_NAME);
        assert_eq!(props["$lib_version"], crate::model::view::LIB_VERSION);
        assert_eq!(props["$app_version"], "1.2.3");
        assert_eq!(props["$session_id"], "s-1");
        assert_eq!(props["$process_person_profile"], false);
        assert_eq!(props["$catalog_digest"], "0123456789abcdef");
        assert_eq!(props["$os"], std::env::consts::OS);
        assert!(!props.contains_key("$os_version"), "unknown: left out");
        let with_version = EventContext { os_version: Some("22.04".into()), ..context("id", "1") };
        let json = encode_all(with_version, vec![(Record::new("e".into()), Properties::new())], Level::Usage);
        let json: serde_json::Value = serde_json::from_str(&json[0]).unwrap();
        assert_eq!(json["properties"]["$os_version"], "22.04");
    }

    #[test]
    fn events_of_two_contexts_each_carry_their_own() {
        let first = queued(
            context("id-1", "1.0.0"),
            vec![(Record::new("a".into()), Properties::new())],
            Level::Usage,
        );
        let second = queued(
            context("id-2", "2.0.0"),
            vec![(Record::new("b".into()), Properties::new())],
            Level::Usage,
        );
        let mut json = PostHogJson::default();
        let mut lines = Vec::new();
        for event in first.iter().chain(&second).chain(&first) {
            let mut out = Vec::new();
            json.event(&mut out, &event.view().unwrap());
            lines.push(serde_json::from_slice::<serde_json::Value>(&out).unwrap());
        }
        assert_eq!(lines[0]["distinct_id"], "id-1");
        assert_eq!(lines[1]["distinct_id"], "id-2");
        assert_eq!(lines[1]["properties"]["$app_version"], "2.0.0");
        assert_eq!(lines[2]["properties"]["$app_version"], "1.0.0");
    }

    #[test]
    fn names_are_escaped_unless_known_clean() {
        let mut properties = Properties::new();
        properties.insert("say \"hi\"", 1u32);
        properties.push("back\\slash\n", Level::Usage, &Value::UInt(2));
        properties.__write_field(
            crate::model::packed::write::FieldName::new("snake_case"),
            Level::Usage,
            &3u32,
        );
        // The derive's writer called by hand with a name it did not audit:
        // checked, so escaped like any other.
        properties.__write_field(crate::model::packed::write::FieldName::new("q\"uote"), Level::Usage, &4u32);
        properties.__write_field(crate::model::packed::write::FieldName::new("$lib"), Level::Usage, &5u32);
        let json = encode(Record::new("named".into()), properties, Level::Usage);
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["properties"]["say \"hi\""], 1);
        assert_eq!(json["properties"]["back\\slash\n"], 2);
        assert_eq!(json["properties"]["snake_case"], 3);
        assert_eq!(json["properties"]["q\"uote"], 4);
        assert_eq!(json["properties"]["$lib"], crate::model::view::LIB_NAME, "a reserved name is refused");
    }

    #[test]
    fn timestamps_reuse_the_second_but_not_the_millis() {
        let mut json = PostHogJson::default();
        let base = Duration::from_secs(1_700_000_000);
        for millis in [0, 7, 999, 120, 5] {
            let since = base + Duration::from_millis(millis);
            assert_eq!(json.timestamp(since), rfc3339_bytes(UNIX_EPOCH + since));
        }
        let next_second = base + Duration::from_millis(1_001);
        assert_eq!(json.timestamp(next_second), rfc3339_bytes(UNIX_EPOCH + next_second));
        assert_eq!(json.timestamp(Duration::ZERO), *b"1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn objects_and_lists_are_written_byte_for_byte() {
        let object = |fields: Vec<(&'static str, Value)>| {
            Value::Object(fields.into_iter().map(|(name, value)| (name.into(), value)).collect())
        };
        let properties = Properties::new()
            .with(
                "obj",
                object(vec![
                    ("a", Value::UInt(1)),
                    ("skipped", Value::Null),
                    ("q\"", Value::Text(("x\ty").into())),
                    ("inner", object(vec![])),
                ]),
            )
            .with(
                "list",
                vec![
                    object(vec![("b", Value::Bool(true))]),
                    Value::List(vec![Value::Float(1.5), Value::Null, Value::Float(f64::NAN)]),
                    Value::List(vec![]),
                ],
            );
        let text = encode(Record::new("nested".into()), properties, Level::Usage);
        let expected = r#""properties":{"obj":{"a":1,"q\"":"x\ty","inner":{}},"list":[{"b":true},[1.5,null,null],[]],"$lib""#;
        assert!(text.contains(expected), "{text}");
    }

    /// What serde_json makes of `value` as an event sends it: nulls and
    /// non-finite floats left out of objects, kept in lists as null.
    fn as_json(value: &Value) -> Option<serde_json::Value> {
        Some(match value {
            Value::Null => return None,
            Value::Float(f) if !f.is_finite() => return None,
            Value::Bool(b) => serde_json::json!(b),
            Value::Int(i) => serde_json::json!(i),
            Value::UInt(u) => serde_json::json!(u),
            Value::Float(f) => serde_json::json!(f),
            Value::Text(text) => serde_json::json!(text),
            Value::Uuid(id) => serde_json::json!(id.to_string()),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(|v| as_json(v).unwrap_or_default()).collect())
            }
            Value::Object(fields) => serde_json::Value::Object(
                fields.iter().filter_map(|(k, v)| Some((k.to_string(), as_json(v)?))).collect(),
            ),
            Value::Hashed(_) => unreachable!("not generated"),
        })
    }

    #[test]
    fn random_events_parse_back_to_what_was_captured() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        const TEXTS: [&str; 6] = [
            "",
            "build",
            "line\nbreak \"quoted\"",
            "\u{1}\u{1f}\\",
            "é ✓ 😀",
            "a longer text of more than sixty-four bytes, so that it is copied whole",
        ];
        fn value(next: &mut impl FnMut(u64) -> u64, depth: u32) -> Value {
            match next(if depth < 3 { 10 } else { 8 }) {
                0 => Value::Null,
                1 => Value::Bool(next(2) == 1),
                2 => Value::Int(next(u64::MAX) as i64),
                3 => Value::UInt(if next(2) == 0 { next(256) } else { next(u64::MAX) }),
                4 => Value::Float(f64::from_bits(next(u64::MAX))),
                5 => Value::Float(next(1_000_000) as f64 / 8.0),
                6 => Value::Text((TEXTS[next(TEXTS.len() as u64) as usize]).into()),
                7 => Value::Uuid(uuid::Uuid::from_u128(
                    u128::from(next(u64::MAX)) << 64 | u128::from(next(u64::MAX)),
                )),
                8 => Value::List((0..next(4)).map(|_| value(next, depth + 1)).collect()),
                _ => Value::Object(
                    (0..next(4)).map(|i| (format!("f{i}").into(), value(next, depth + 1))).collect(),
                ),
            }
        }
        for round in 0..300 {
            let mut properties = Properties::new();
            let mut expected = serde_json::Map::new();
            for i in 0..next(12) {
                let name: &'static str = ["a", "name_2", "with space", "q\"uote", "ünï", "x"][i as usize % 6];
                let v = value(&mut next, 0);
                if expected.contains_key(name) || properties.get(name).is_some() {
                    continue;
                }
                if let Some(json) = as_json(&v) {
                    // Through serde_json's text and back, as ours is read: its
                    // parser rounds some floats a unit off (without its
                    // `float_roundtrip` feature), the same way for both.
                    let json = serde_json::from_str(&serde_json::to_string(&json).unwrap()).unwrap();
                    expected.insert(name.to_owned(), json);
                }
                properties.insert(name, v);
            }
            let text = encode(Record::new(format!("event_{round}").into()), properties, Level::Usage);
            let json: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            let mut own = json["properties"].as_object().unwrap().clone();
            own.retain(|k, _| !k.starts_with('$'));
            assert_eq!(own, expected, "{text}");
        }
    }

    #[test]
    fn values_parse_back_to_what_was_captured() {
        let properties = Properties::new()
            .with("neg", -5i64)
            .with("big", u64::MAX)
            .with("float", 1.0f64)
            .with("tiny", 1e-300f64)
            .with("big_float", 1e300f64)
            .with("inf", f64::INFINITY)
            .with("nested", vec![vec![Value::from(1u8), Value::Null], vec![]])
            .with("id", uuid::Uuid::nil())
            .with("text", Value::Text(("line\nbreak \"quoted\"").into()));
        let text = encode_all(
            context("id \"odd\"", "1"),
            vec![(Record::new("mixed".into()), properties.clone())],
            Level::Usage,
        )
        .remove(0);
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let props = &json["properties"];
        assert_eq!(json["distinct_id"], "id \"odd\"");
        assert_eq!(props["neg"], -5);
        assert_eq!(props["big"], u64::MAX);
        assert!(text.contains("\"float\":1.0"), "a float stays a float: {text}");
        assert_eq!(props["tiny"], 1e-300);
        assert_eq!(props["big_float"], 1e300);
        // Numbers are written exactly as serde_json writes them.
        for (name, value) in properties.iter() {
            let number = match value {
                Value::Int(i) => serde_json::to_string(&i),
                Value::UInt(u) => serde_json::to_string(&u),
                Value::Float(f) if f.is_finite() => serde_json::to_string(&f),
                _ => continue,
            };
            assert!(text.contains(&format!("\"{name}\":{}", number.unwrap())), "{name}: {text}");
        }
        assert!(props.get("inf").is_none());
        assert_eq!(props["nested"], serde_json::json!([[1, null], []]));
        assert_eq!(props["id"], "00000000-0000-0000-0000-000000000000");
        assert_eq!(props["text"], "line\nbreak \"quoted\"");
        let json: serde_json::Value =
            serde_json::from_str(&encode(Record::new("empty".into()), Properties::new(), Level::Usage))
                .unwrap();
        assert_eq!(json["properties"]["$process_person_profile"], false);
    }
}
