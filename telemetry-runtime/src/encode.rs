//! The JSON every sink sends: one event in PostHog's shape, with the
//! envelope properties the runtime adds.
//!
//! Written by hand rather than through serde: the worker encodes every
//! event, and most of each one (the envelope) is the same for a whole batch,
//! so it is rendered once and copied.

use std::cell::OnceCell;
use std::fmt::Write as _;

use crate::event::Record;
use crate::identity::Identity;
use crate::properties::{entries, list_items, Packed};
use crate::time::push_rfc3339;
use crate::Level;

/// Library name sent as `$lib`.
pub const LIB_NAME: &str = "telemetry-runtime";
/// Library version sent as `$lib_version`.
pub const LIB_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The standard properties every event carries. Fixed for a process, except
/// the distinct id after a reset.
pub(crate) struct Envelope<'a> {
    pub(crate) distinct_id: String,
    pub(crate) session_id: &'a str,
    pub(crate) app_name: &'a str,
    pub(crate) app_version: &'a str,
    pub(crate) catalog_digest: &'a str,
    /// Loaded only when a batch holds a hashed value.
    pub(crate) identity: &'a Identity,
    pub(crate) hash_key: OnceCell<(u64, u64)>,
    /// `"distinct_id":"…"` and the envelope properties, rendered once.
    pub(crate) rendered: OnceCell<(String, String)>,
}

impl Envelope<'_> {
    fn hash_key(&self) -> (u64, u64) {
        *self.hash_key.get_or_init(|| self.identity.hash_key())
    }

    /// The distinct id as a JSON string, and the envelope properties as
    /// `"$lib":…,…` (no surrounding braces or commas).
    fn rendered(&self) -> &(String, String) {
        self.rendered.get_or_init(|| {
            let mut id = String::new();
            push_json_str(&mut id, &self.distinct_id);
            let mut tail = String::new();
            for (name, value) in [
                ("$lib", LIB_NAME),
                ("$lib_version", LIB_VERSION),
                ("$app_name", self.app_name),
                ("$app_version", self.app_version),
                ("$os", std::env::consts::OS),
                ("$arch", std::env::consts::ARCH),
                ("$session_id", self.session_id),
                ("$catalog_digest", self.catalog_digest),
            ] {
                push_json_str(&mut tail, name);
                tail.push(':');
                push_json_str(&mut tail, value);
                tail.push(',');
            }
            tail.push_str("\"$process_person_profile\":false");
            (id, tail)
        })
    }
}

/// Serializes `record` as one JSON object:
/// `{"event", "distinct_id", "uuid", "timestamp", "properties": {...}}`,
/// with only the properties allowed at `level`. Null and non-finite values
/// are left out, as PostHog expects.
pub(crate) fn encode(record: &Record, properties: &[u8], envelope: &Envelope<'_>, level: Level) -> String {
    let (distinct_id, tail) = envelope.rendered();
    let mut out = String::with_capacity(160 + tail.len() + 2 * properties.len());
    out.push_str("{\"event\":");
    push_json_str(&mut out, &record.name);
    out.push_str(",\"distinct_id\":");
    out.push_str(distinct_id);
    out.push_str(",\"uuid\":\"");
    out.push_str(record.uuid.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()));
    out.push_str("\",\"timestamp\":\"");
    push_rfc3339(&mut out, record.time);
    out.push_str("\",\"properties\":{");
    for entry in entries(properties).filter(|entry| entry.level <= level) {
        let value = Packed::read(entry.value);
        if value.is_omitted() {
            continue;
        }
        push_json_str(&mut out, entry.name);
        out.push(':');
        push_value(&mut out, value, envelope);
        out.push(',');
    }
    out.push_str(tail);
    out.push_str("}}");
    out
}

fn push_value(out: &mut String, value: Packed<'_>, envelope: &Envelope<'_>) {
    match value {
        Packed::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Packed::Int(i) => out.push_str(itoa::Buffer::new().format(i)),
        Packed::UInt(u) => out.push_str(itoa::Buffer::new().format(u)),
        // serde_json's float form (shortest round trip, `1.0` not `1`), so
        // that a float stays a float for the receiver.
        Packed::Float(f) if f.is_finite() => out.push_str(zmij::Buffer::new().format_finite(f)),
        Packed::Text(t) => push_json_str(out, t),
        Packed::Uuid(u) => {
            out.push('"');
            out.push_str(u.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()));
            out.push('"');
        }
        Packed::Hashed(digest) => push_json_str(out, &digest.keyed(envelope.hash_key())),
        Packed::List(count, items) => {
            // Inside a list a missing value keeps its place as null.
            out.push('[');
            for (i, item) in list_items(count, items).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value(out, item, envelope);
            }
            out.push(']');
        }
        Packed::Null | Packed::Float(_) => out.push_str("null"),
    }
}

/// Appends `text` as a JSON string, escaping what JSON requires (quotes,
/// backslashes, control characters) the way serde_json does; runs of
/// ordinary characters are copied whole.
pub(crate) fn push_json_str(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Properties, Value};
    use std::time::{Duration, UNIX_EPOCH};

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
        record.time = UNIX_EPOCH + Duration::from_millis(1_000_001);
        let identity = Identity::new(None, None);
        let envelope = Envelope {
            distinct_id: "id-1".into(),
            session_id: "s-1",
            app_name: "demo",
            app_version: "1.2.3",
            catalog_digest: "0123456789abcdef",
            identity: &identity,
            hash_key: OnceCell::new(),
            rendered: OnceCell::new(),
        };
        let usage = encode(&record, properties.as_bytes(), &envelope, Level::Usage);
        assert!(!usage.contains("only at full"), "{usage}");
        let json: serde_json::Value =
            serde_json::from_str(&encode(&record, properties.as_bytes(), &envelope, Level::Full)).unwrap();
        assert_eq!(json["event"], "tool_call");
        assert_eq!(json["distinct_id"], "id-1");
        assert_eq!(json["uuid"], record.uuid.to_string());
        assert_eq!(json["timestamp"], "1970-01-01T00:16:40.001Z");
        let props = json["properties"].as_object().unwrap();
        assert_eq!(props["ok"], true);
        assert_eq!(props["count"], 3);
        assert_eq!(props["tags"], serde_json::json!(["a", "b"]));
        assert_eq!(props["secret"], "only at full");
        assert!(!props.contains_key("skipped"));
        assert!(!props.contains_key("nan"));
        assert_eq!(props["$lib"], LIB_NAME);
        assert_eq!(props["$lib_version"], LIB_VERSION);
        assert_eq!(props["$app_version"], "1.2.3");
        assert_eq!(props["$session_id"], "s-1");
        assert_eq!(props["$process_person_profile"], false);
        assert_eq!(props["$catalog_digest"], "0123456789abcdef");
        assert_eq!(props["$os"], std::env::consts::OS);
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_does() {
        let samples = [
            "",
            "plain",
            "quote \" and \\ backslash",
            "tab\tnew\nline\r",
            "\u{0}\u{1f}\u{7f}",
            "é ✓ 😀",
            "\u{8}\u{c}",
        ];
        for sample in samples {
            let mut ours = String::new();
            push_json_str(&mut ours, sample);
            assert_eq!(ours, serde_json::to_string(sample).unwrap(), "{sample:?}");
        }
    }

    #[test]
    fn values_parse_back_to_what_was_captured() {
        let record = Record::new("mixed".into());
        let properties = Properties::new()
            .with("neg", -5i64)
            .with("big", u64::MAX)
            .with("float", 1.0f64)
            .with("tiny", 1e-300f64)
            .with("big_float", 1e300f64)
            .with("inf", f64::INFINITY)
            .with("nested", vec![vec![Value::from(1u8), Value::Null], vec![]])
            .with("id", uuid::Uuid::nil())
            .with("text", Value::text("line\nbreak \"quoted\""));
        let identity = Identity::new(None, None);
        let envelope = Envelope {
            distinct_id: "id \"odd\"".into(),
            session_id: "s",
            app_name: "app",
            app_version: "1",
            catalog_digest: "d",
            identity: &identity,
            hash_key: OnceCell::new(),
            rendered: OnceCell::new(),
        };
        let text = encode(&record, properties.as_bytes(), &envelope, Level::Usage);
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
            if let Value::Int(_) | Value::UInt(_) | Value::Float(_) = value {
                let number = match value {
                    Value::Int(i) => serde_json::to_string(&i),
                    Value::UInt(u) => serde_json::to_string(&u),
                    Value::Float(f) if f.is_finite() => serde_json::to_string(&f),
                    _ => continue,
                };
                assert!(text.contains(&format!("\"{name}\":{}", number.unwrap())), "{name}: {text}");
            }
        }
        assert!(props.get("inf").is_none());
        assert_eq!(props["nested"], serde_json::json!([[1, null], []]));
        assert_eq!(props["id"], "00000000-0000-0000-0000-000000000000");
        assert_eq!(props["text"], "line\nbreak \"quoted\"");
        let empty = Record::new("empty".into());
        let json: serde_json::Value =
            serde_json::from_str(&encode(&empty, &[], &envelope, Level::Usage)).unwrap();
        assert_eq!(json["properties"]["$process_person_profile"], false);
    }
}
