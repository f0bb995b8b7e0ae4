//! The JSON every sink sends: one event in PostHog's shape, with the
//! envelope properties the runtime adds.
//!
//! Written by hand rather than through serde: the worker encodes every
//! event, and most of each one (the envelope) is the same for a whole batch,
//! so it is rendered once and copied.

use std::cell::{Cell, OnceCell};
use std::time::{Duration, UNIX_EPOCH};

use crate::event::Record;
use crate::identity::Identity;
use crate::properties::{entries, list_items, Entry, Packed};
use crate::time::rfc3339_bytes;
use crate::Level;

/// Library name sent as `$lib`.
pub const LIB_NAME: &str = "telemetry-runtime";
/// Library version sent as `$lib_version`.
pub const LIB_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The standard properties every event carries. Fixed for a process, except
/// the distinct id after a reset.
pub(crate) struct Envelope<'a> {
    pub(crate) distinct_id: String,
    /// The identity generation `distinct_id` belongs to.
    pub(crate) generation: u64,
    pub(crate) session_id: &'a str,
    pub(crate) app_name: &'a str,
    pub(crate) app_version: &'a str,
    /// The operating system's version, where it is cheap and anonymous.
    pub(crate) os_version: Option<&'a str>,
    pub(crate) catalog_digest: &'a str,
    /// Loaded only when a batch holds a hashed value.
    pub(crate) identity: &'a Identity,
    pub(crate) hash_key: OnceCell<(u64, u64)>,
    /// `"distinct_id":"…"` and the envelope properties, rendered once.
    pub(crate) rendered: OnceCell<(Vec<u8>, Vec<u8>)>,
    /// The last timestamp written: events of a batch mostly share their
    /// date and time to the second.
    pub(crate) last_timestamp: Cell<Option<(u64, [u8; 24])>>,
}

impl Envelope<'_> {
    /// The time `since` the Unix epoch as RFC 3339, reusing the date and
    /// time of the last one when it falls in the same second.
    fn timestamp(&self, since: Duration) -> [u8; 24] {
        match self.last_timestamp.get() {
            Some((second, mut text)) if second == since.as_secs() => {
                let millis = since.subsec_millis();
                text[20] = b'0' + (millis / 100) as u8;
                text[21] = b'0' + (millis / 10 % 10) as u8;
                text[22] = b'0' + (millis % 10) as u8;
                text
            }
            _ => {
                let text = rfc3339_bytes(UNIX_EPOCH + since);
                self.last_timestamp.set(Some((since.as_secs(), text)));
                text
            }
        }
    }

    fn hash_key(&self) -> (u64, u64) {
        *self.hash_key.get_or_init(|| self.identity.hash_key())
    }

    /// The distinct id as a JSON string, and the envelope properties as
    /// `"$lib":…,…` (no surrounding braces or commas).
    fn rendered(&self) -> &(Vec<u8>, Vec<u8>) {
        self.rendered.get_or_init(|| {
            let mut id = Vec::new();
            push_json_bytes(&mut id, self.distinct_id.as_bytes());
            let mut tail = Vec::new();
            for (name, value) in [
                ("$lib", LIB_NAME),
                ("$lib_version", LIB_VERSION),
                ("$app_name", self.app_name),
                ("$app_version", self.app_version),
                ("$os", std::env::consts::OS),
                ("$arch", std::env::consts::ARCH),
                ("$session_id", self.session_id),
                ("$catalog_digest", self.catalog_digest),
            ]
            .into_iter()
            .chain(self.os_version.map(|version| ("$os_version", version)))
            {
                push_json_bytes(&mut tail, name.as_bytes());
                tail.push(b':');
                push_json_bytes(&mut tail, value.as_bytes());
                tail.push(b',');
            }
            tail.extend_from_slice(b"\"$process_person_profile\":false");
            (id, tail)
        })
    }
}

/// Serializes `record` (with its `uuid`) as one JSON object:
/// `{"event", "distinct_id", "uuid", "timestamp", "properties": {...}}`,
/// with only the properties allowed at `level`. Null and non-finite values
/// are left out, as PostHog expects.
///
/// Appended to `out`, as bytes: every piece is a `&str` (names and text
/// were when they were packed) or ASCII, so the result is UTF-8 without
/// checking it again; the HTTP sinks send these bytes as they are.
pub(crate) fn encode_into(
    out: &mut Vec<u8>,
    record: &Record,
    uuid: &uuid::Uuid,
    properties: &[u8],
    envelope: &Envelope<'_>,
    level: Level,
) {
    let (distinct_id, tail) = envelope.rendered();
    out.reserve(160 + tail.len() + 2 * properties.len());
    out.extend_from_slice(b"{\"event\":");
    push_json_bytes(out, record.name.as_bytes());
    out.extend_from_slice(b",\"distinct_id\":");
    out.extend_from_slice(distinct_id);
    out.extend_from_slice(b",\"uuid\":");
    push_uuid(out, uuid);
    out.extend_from_slice(b",\"timestamp\":\"");
    out.extend_from_slice(&envelope.timestamp(record.since_epoch()));
    out.extend_from_slice(b"\",\"properties\":{");
    push_entries(out, entries(properties), envelope, level);
    out.extend_from_slice(tail);
    out.extend_from_slice(b"}}");
}

/// Appends `"name":value,` for each entry allowed at `level` and not
/// omitted: the properties of an event, or the fields of an object.
fn push_entries<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = Entry<'a>>,
    envelope: &Envelope<'_>,
    level: Level,
) {
    for entry in entries {
        if entry.level > level || entry.value.is_omitted() {
            continue;
        }
        if entry.name_is_clean {
            out.push(b'"');
            out.extend_from_slice(entry.name);
            out.extend_from_slice(b"\":");
        } else {
            push_json_bytes(out, entry.name);
            out.push(b':');
        }
        push_value(out, entry.value, envelope, level);
        out.push(b',');
    }
}

fn push_value(out: &mut Vec<u8>, value: Packed<'_>, envelope: &Envelope<'_>, level: Level) {
    match value {
        Packed::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Packed::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        Packed::UInt(u) => out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes()),
        // serde_json's float form (shortest round trip, `1.0` not `1`), so
        // that a float stays a float for the receiver.
        Packed::Float(f) if f.is_finite() => {
            out.extend_from_slice(zmij::Buffer::new().format_finite(f).as_bytes());
        }
        Packed::Text(t) => push_json_bytes(out, t),
        Packed::Uuid(u) => push_uuid(out, &u),
        Packed::Hashed(digest) => push_json_bytes(out, digest.keyed(envelope.hash_key()).as_bytes()),
        Packed::List(count, items) => {
            // Inside a list a missing value keeps its place as null.
            out.push(b'[');
            for (i, item) in list_items(count, items).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_value(out, item, envelope, level);
            }
            out.push(b']');
        }
        Packed::Object(count, fields) => {
            // An object's fields are filtered like an event's properties:
            // an opt-in field is left out below `Full`, a null one always.
            out.push(b'{');
            push_entries(out, entries(fields).take(count as usize), envelope, level);
            if out.last() == Some(&b',') {
                out.pop();
            }
            out.push(b'}');
        }
        Packed::Null | Packed::Float(_) => out.extend_from_slice(b"null"),
    }
}

/// What each byte needs inside a JSON string: 0 nothing, `u` a `\u00XX`
/// escape, anything else a backslash and that character (as serde_json
/// writes them).
const ESCAPE: [u8; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Whether `text` goes into a JSON string as it is, without escapes.
pub(crate) fn needs_no_escape(text: &[u8]) -> bool {
    text.iter().all(|&byte| ESCAPE[usize::from(byte)] == 0)
}

/// Whether any of 8 bytes is a control character, `"` or `\\` (the bytes a
/// JSON string escapes), tested on all 8 at once.
fn may_need_escape(chunk: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
    // A byte below `n` (n <= 0x80) leaves its high bit set in `word - n`
    // where it was clear in `word`.
    let below = |n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    below(0x20) | zero_in(word ^ (ONES * u64::from(b'"'))) | zero_in(word ^ (ONES * u64::from(b'\\'))) != 0
}

/// Appends `text` as a JSON string, escaping what JSON requires (quotes,
/// backslashes, control characters) the way serde_json does. `text` must be
/// UTF-8.
fn push_json_bytes(out: &mut Vec<u8>, text: &[u8]) {
    // Most names and values need no escape: find the first byte that might,
    // eight bytes at a time, and copy a clean text whole.
    let mut clean = 0;
    while let Some(chunk) = text.get(clean..clean + 8) {
        if may_need_escape(chunk) {
            break;
        }
        clean += 8;
    }
    while clean < text.len() && ESCAPE[usize::from(text[clean])] == 0 {
        clean += 1;
    }
    out.reserve(text.len() + 2);
    out.push(b'"');
    if clean == text.len() {
        out.extend_from_slice(text);
    } else {
        out.extend_from_slice(&text[..clean]);
        push_escaped(out, &text[clean..]);
    }
    out.push(b'"');
}

/// The rest of a JSON string from its first byte that may need an escape.
#[cold]
fn push_escaped(out: &mut Vec<u8>, text: &[u8]) {
    let mut start = 0;
    for (i, &byte) in text.iter().enumerate() {
        let escape = ESCAPE[usize::from(byte)];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&text[start..i]);
        if escape == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.push(b'\\');
            out.push(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&text[start..]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Each byte's two hex digits, as a little-endian `u16` (high digit first
/// in memory).
const HEX_PAIRS: [u16; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = u16::from_le_bytes([HEX[byte >> 4], HEX[byte & 0xf]]);
        byte += 1;
    }
    table
};

/// The hex digits of up to four bytes, in order, in the low bytes of a
/// little-endian `u64`: built in a register, written in one store.
fn hex_digits(bytes: &[u8]) -> [u8; 8] {
    let word =
        bytes.iter().rev().fold(0u64, |word, &byte| word << 16 | u64::from(HEX_PAIRS[usize::from(byte)]));
    word.to_le_bytes()
}

/// Appends a uuid in its quoted, hyphenated, lowercase form (what
/// `Uuid::hyphenated` writes), laid out in a fixed buffer first so that
/// it is appended in one copy.
fn push_uuid(out: &mut Vec<u8>, id: &uuid::Uuid) {
    let bytes = id.as_bytes();
    let mut text = [b'-'; 38];
    text[0] = b'"';
    text[1..9].copy_from_slice(&hex_digits(&bytes[0..4]));
    text[10..14].copy_from_slice(&hex_digits(&bytes[4..6])[..4]);
    text[15..19].copy_from_slice(&hex_digits(&bytes[6..8])[..4]);
    text[20..24].copy_from_slice(&hex_digits(&bytes[8..10])[..4]);
    text[25..33].copy_from_slice(&hex_digits(&bytes[10..14]));
    text[33..37].copy_from_slice(&hex_digits(&bytes[14..16])[..4]);
    text[37] = b'"';
    out.extend_from_slice(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event's JSON, encoded after other bytes already in the buffer.
    fn encode(
        record: &Record,
        uuid: &uuid::Uuid,
        properties: &[u8],
        envelope: &Envelope<'_>,
        level: Level,
    ) -> String {
        let mut out = b"[".to_vec();
        encode_into(&mut out, record, uuid, properties, envelope, level);
        // What is already in the buffer is left as it was.
        assert_eq!(out[0], b'[');
        String::from_utf8(out.split_off(1)).unwrap()
    }

    fn envelope<'a>(
        identity: &'a Identity,
        distinct_id: &str,
        session_id: &'a str,
        app_name: &'a str,
        app_version: &'a str,
        catalog_digest: &'a str,
    ) -> Envelope<'a> {
        Envelope {
            distinct_id: distinct_id.into(),
            generation: 0,
            session_id,
            app_name,
            app_version,
            os_version: None,
            catalog_digest,
            identity,
            hash_key: OnceCell::new(),
            rendered: OnceCell::new(),
            last_timestamp: Default::default(),
        }
    }
    use crate::{Properties, Value};
    use std::time::Duration;

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
        let uuid = crate::event::event_uuid();
        let identity = Identity::new(None, None);
        let envelope = envelope(&identity, "id-1", "s-1", "demo", "1.2.3", "0123456789abcdef");
        let usage = encode(&record, &uuid, properties.as_bytes(), &envelope, Level::Usage);
        assert!(!usage.contains("only at full"), "{usage}");
        let json: serde_json::Value =
            serde_json::from_str(&encode(&record, &uuid, properties.as_bytes(), &envelope, Level::Full))
                .unwrap();
        assert_eq!(json["event"], "tool_call");
        assert_eq!(json["distinct_id"], "id-1");
        assert_eq!(json["uuid"], uuid.to_string());
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
        assert!(!props.contains_key("$os_version"), "unknown: left out");
        let with_version = Envelope { os_version: Some("22.04"), rendered: OnceCell::new(), ..envelope };
        let json: serde_json::Value =
            serde_json::from_str(&encode(&record, &uuid, properties.as_bytes(), &with_version, Level::Usage))
                .unwrap();
        assert_eq!(json["properties"]["$os_version"], "22.04");
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
            let mut ours = Vec::new();
            push_json_bytes(&mut ours, sample.as_bytes());
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(sample).unwrap(),
                "{sample:?}"
            );
        }
    }

    #[test]
    fn escaping_finds_every_special_byte_at_any_offset() {
        for special in ["\"", "\\", "\n", "\u{0}", "\u{1f}"] {
            for at in 0..20 {
                let sample = format!("{}{special}{}", "a".repeat(at), "é".repeat(5));
                let mut ours = Vec::new();
                push_json_bytes(&mut ours, sample.as_bytes());
                assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&sample).unwrap());
            }
        }
        assert!(!may_need_escape(b"abc_XYZ~"));
        assert!(!may_need_escape("é✓!".as_bytes().get(..8).unwrap_or(b"        ")));
    }

    #[test]
    fn names_are_escaped_unless_known_clean() {
        let mut properties = Properties::new();
        properties.insert("say \"hi\"", 1u32);
        properties.push("back\\slash\n", Level::Usage, &Value::UInt(2));
        properties.__write_field(crate::properties::FieldName::new("snake_case"), Level::Usage, &3u32);
        // The derive's writer called by hand with a name it did not audit:
        // checked, so escaped like any other.
        properties.__write_field(crate::properties::FieldName::new("q\"uote"), Level::Usage, &4u32);
        properties.__write_field(crate::properties::FieldName::new("$lib"), Level::Usage, &5u32);
        let identity = Identity::new(None, None);
        let envelope = envelope(&identity, "id", "s", "app", "1", "d");
        let json = encode(
            &Record::new("named".into()),
            &uuid::Uuid::nil(),
            properties.as_bytes(),
            &envelope,
            Level::Usage,
        );
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["properties"]["say \"hi\""], 1);
        assert_eq!(json["properties"]["back\\slash\n"], 2);
        assert_eq!(json["properties"]["snake_case"], 3);
        assert_eq!(json["properties"]["q\"uote"], 4);
        assert_eq!(json["properties"]["$lib"], crate::LIB_NAME, "a reserved name is refused");
    }

    #[test]
    fn uuids_are_written_like_the_uuid_crate_writes_them() {
        for id in [
            uuid::Uuid::nil(),
            uuid::Uuid::max(),
            uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
        ]
        .into_iter()
        .chain((0..100).map(|_| crate::event::event_uuid()))
        {
            let mut ours = Vec::new();
            push_uuid(&mut ours, &id);
            assert_eq!(String::from_utf8(ours).unwrap(), format!("\"{}\"", id.hyphenated()));
        }
    }

    #[test]
    fn timestamps_reuse_the_second_but_not_the_millis() {
        let identity = Identity::new(None, None);
        let envelope = envelope(&identity, "id", "s", "app", "1", "d");
        let base = Duration::from_secs(1_700_000_000);
        for millis in [0, 7, 999, 120, 5] {
            let since = base + Duration::from_millis(millis);
            assert_eq!(envelope.timestamp(since), rfc3339_bytes(UNIX_EPOCH + since));
        }
        let next_second = base + Duration::from_millis(1_001);
        assert_eq!(envelope.timestamp(next_second), rfc3339_bytes(UNIX_EPOCH + next_second));
        assert_eq!(envelope.timestamp(Duration::ZERO), *b"1970-01-01T00:00:00.000Z");
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
        let envelope = envelope(&identity, "id \"odd\"", "s", "app", "1", "d");
        let text = encode(&record, &uuid::Uuid::nil(), properties.as_bytes(), &envelope, Level::Usage);
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
            serde_json::from_str(&encode(&empty, &uuid::Uuid::nil(), &[], &envelope, Level::Usage)).unwrap();
        assert_eq!(json["properties"]["$process_person_profile"], false);
    }
}
