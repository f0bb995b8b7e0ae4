//! The JSON every sink sends: one event in PostHog's shape, with the
//! envelope properties the runtime adds.

use std::cell::OnceCell;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::event::Record;
use crate::identity::Identity;
use crate::time::rfc3339;
use crate::value::{Properties, Value};
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
}

impl Envelope<'_> {
    fn hash_key(&self) -> (u64, u64) {
        *self.hash_key.get_or_init(|| self.identity.hash_key())
    }
}

/// Serializes `record` as one JSON object:
/// `{"event", "distinct_id", "uuid", "timestamp", "properties": {...}}`,
/// with only the properties allowed at `level`.
pub(crate) fn encode(record: &Record, envelope: &Envelope<'_>, level: Level) -> String {
    let event = EventJson { record, envelope, level };
    // Serializing these types cannot fail: keys are strings, floats are checked.
    serde_json::to_string(&event).unwrap_or_default()
}

struct EventJson<'a> {
    record: &'a Record,
    envelope: &'a Envelope<'a>,
    level: Level,
}

impl Serialize for EventJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("event", &self.record.name)?;
        map.serialize_entry("distinct_id", &self.envelope.distinct_id)?;
        map.serialize_entry(
            "uuid",
            self.record.uuid.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()),
        )?;
        map.serialize_entry("timestamp", &rfc3339(self.record.time))?;
        map.serialize_entry(
            "properties",
            &PropertiesJson {
                properties: &self.record.properties,
                envelope: self.envelope,
                level: self.level,
            },
        )?;
        map.end()
    }
}

struct PropertiesJson<'a> {
    properties: &'a Properties,
    envelope: &'a Envelope<'a>,
    level: Level,
}

impl Serialize for PropertiesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        // Null and non-finite values are omitted, as PostHog expects.
        for (name, value) in self.properties.iter_at(self.level).filter(|(_, v)| is_sendable(v)) {
            map.serialize_entry(name, &ValueJson(value, self.envelope))?;
        }
        let e = self.envelope;
        map.serialize_entry("$lib", LIB_NAME)?;
        map.serialize_entry("$lib_version", LIB_VERSION)?;
        map.serialize_entry("$app_name", &e.app_name)?;
        map.serialize_entry("$app_version", &e.app_version)?;
        map.serialize_entry("$os", std::env::consts::OS)?;
        map.serialize_entry("$arch", std::env::consts::ARCH)?;
        map.serialize_entry("$session_id", &e.session_id)?;
        map.serialize_entry("$catalog_digest", &e.catalog_digest)?;
        map.serialize_entry("$process_person_profile", &false)?;
        map.end()
    }
}

fn is_sendable(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Float(f) => f.is_finite(),
        _ => true,
    }
}

struct ValueJson<'a>(&'a Value, &'a Envelope<'a>);

impl Serialize for ValueJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Text(t) => s.serialize_str(t),
            Value::Uuid(u) => s.serialize_str(u.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer())),
            Value::Hashed(digest) => s.serialize_str(&digest.keyed(self.1.hash_key())),
            Value::List(items) => {
                // Inside a list a missing value keeps its place as null.
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&ValueJson(item, self.1))?;
                }
                seq.end()
            }
            Value::Null | Value::Float(_) => s.serialize_unit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn posthog_event_shape() {
        let mut record = Record::new(
            "tool_call".into(),
            Properties::new()
                .with("ok", true)
                .with("count", 3u32)
                .with("skipped", None::<u32>)
                .with("nan", f64::NAN)
                .with("tags", vec!["a", "b"]),
        );
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
        };
        let json: serde_json::Value = serde_json::from_str(&encode(&record, &envelope, Level::Full)).unwrap();
        assert_eq!(json["event"], "tool_call");
        assert_eq!(json["distinct_id"], "id-1");
        assert_eq!(json["uuid"], record.uuid.to_string());
        assert_eq!(json["timestamp"], "1970-01-01T00:16:40.001Z");
        let props = json["properties"].as_object().unwrap();
        assert_eq!(props["ok"], true);
        assert_eq!(props["count"], 3);
        assert_eq!(props["tags"], serde_json::json!(["a", "b"]));
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
}
