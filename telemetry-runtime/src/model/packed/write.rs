//! The writer of the packed form: a property's name, checked once
//! ([`FieldName`]), and its value ([`ValueWriter`]), lists and objects
//! included, refused past [`MAX_DEPTH`] levels of nesting.

use std::fmt;

use uuid::Uuid;

use super::{tag, CLEAN_NAME, LEVEL_SHIFT, MAX_DEPTH};
use crate::model::json::needs_no_escape;
use crate::model::redact::Digest;
use crate::{Level, Value};

/// Property names longer than this are dropped (and must fit the `u8`
/// length of the packed form).
const MAX_NAME_BYTES: usize = 200;

/// A property name, checked once: in a constant, for the names the
/// derive writes. Not an API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct FieldName {
    pub(crate) name: &'static str,
    /// snake_case: it needs no escaping in JSON.
    pub(crate) clean: bool,
    /// Non-empty, at most 200 bytes, and not reserved (`$...`).
    pub(crate) valid: bool,
}

impl FieldName {
    /// Checks `name`.
    pub const fn new(name: &'static str) -> FieldName {
        let (clean, valid) = name_flags(name.as_bytes());
        FieldName { name, clean, valid }
    }
}

/// Whether a name is snake_case (it needs no escaping in JSON), and whether
/// it is valid: non-empty, at most 200 bytes, and not reserved (`$...`).
const fn name_flags(bytes: &[u8]) -> (bool, bool) {
    let valid = !bytes.is_empty() && bytes.len() <= MAX_NAME_BYTES && bytes[0] != b'$';
    let mut clean = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        clean &= b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
        i += 1;
    }
    (clean, valid)
}

/// Writes one packed value. Reached through
/// [`PropertyValue::__pack`](crate::PropertyValue::__pack).
#[doc(hidden)]
pub struct ValueWriter<'a> {
    bytes: &'a mut Vec<u8>,
    /// A value nested deeper than [`MAX_DEPTH`] was written as null.
    too_deep: bool,
    /// The consent level the value is written at.
    consent: Level,
    /// How many lists and objects the writer is inside.
    depth: usize,
    /// The highest level of what was written (`Full` once an object's
    /// opt-in field is).
    level: Level,
}

/// An object being written: where its fields start, and how many were
/// written. Not an API: the output of `#[derive(TelemetryProperty)]` uses it.
#[doc(hidden)]
#[derive(Debug)]
pub struct ObjectStart {
    start: usize,
    count: u32,
}

impl fmt::Debug for ValueWriter<'_> {
    /// The size of what was written, not the values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueWriter").field("bytes", &self.bytes.len()).finish_non_exhaustive()
    }
}

impl<'a> ValueWriter<'a> {
    /// A writer appending a property's value to `bytes`, written at the
    /// consent level `consent` for a property at `level`.
    #[inline(always)]
    pub(crate) fn new(bytes: &'a mut Vec<u8>, consent: Level, level: Level) -> ValueWriter<'a> {
        ValueWriter { bytes, too_deep: false, consent, depth: 0, level }
    }

    /// Whether a value nested too deep (and was written as null), and the
    /// highest level of what was written.
    #[inline(always)]
    pub(crate) fn finish(self) -> (bool, Level) {
        (self.too_deep, self.level)
    }
}

impl ValueWriter<'_> {
    /// No value.
    #[inline]
    pub fn null(&mut self) {
        self.bytes.push(tag::NULL);
    }

    /// A boolean.
    #[inline]
    pub fn bool(&mut self, value: bool) {
        self.bytes.push(if value { tag::TRUE } else { tag::FALSE });
    }

    /// A signed integer.
    #[inline]
    pub fn int(&mut self, value: i64) {
        self.tagged(tag::INT, &value.to_le_bytes());
    }

    /// An unsigned integer.
    #[inline]
    pub fn uint(&mut self, value: u64) {
        match u8::try_from(value) {
            Ok(small) => self.tagged(tag::SMALL_UINT, &[small]),
            Err(_) => self.tagged(tag::UINT, &value.to_le_bytes()),
        }
    }

    /// A float.
    #[inline]
    pub fn float(&mut self, value: f64) {
        self.tagged(tag::FLOAT, &value.to_le_bytes());
    }

    /// Text, copied.
    #[inline]
    pub fn text(&mut self, value: &str) {
        self.text_here(value);
    }

    /// [`text`](ValueWriter::text), always inlined: in the writer of a value
    /// built at run time, where LLVM came to call it out of line once it
    /// had more callers (70 instructions more per dynamic capture of eight
    /// properties, `capture_loop dynamic` under callgrind).
    #[inline(always)]
    fn text_here(&mut self, value: &str) {
        if let Ok(len) = u8::try_from(value.len()) {
            self.tagged(tag::SHORT_TEXT, &[len]);
        } else if let Ok(len) = u32::try_from(value.len()) {
            self.tagged(tag::TEXT, &len.to_le_bytes());
        } else {
            // Over 4 GiB: no event could carry it anyway.
            return self.null();
        }
        self.bytes.extend_from_slice(value.as_bytes());
    }

    /// A uuid, formatted later by the worker.
    #[inline]
    pub fn uuid(&mut self, value: &Uuid) {
        self.tagged(tag::UUID, value.as_bytes());
    }

    /// The pre-hash of a redacted text.
    pub(crate) fn hashed(&mut self, value: Digest) {
        self.tagged(tag::HASHED, &value.to_bytes());
    }

    /// A hash already keyed: its 32 hex digits.
    pub(crate) fn keyed_hash(&mut self, hex: &[u8; 32]) {
        self.tagged(tag::KEYED, hex);
    }

    /// A list of `len` items, each written by `item` (given its index).
    pub(crate) fn list_of(&mut self, len: usize, mut item: impl FnMut(&mut ValueWriter<'_>, usize)) {
        if !self.enter() {
            return;
        }
        if let Some(start) = self.list_header(len) {
            for index in 0..len {
                item(self, index);
            }
            self.list_end(start);
        }
        self.depth -= 1;
    }

    /// Goes one list or object deeper; past [`MAX_DEPTH`], writes null,
    /// marks the event to be refused and returns `false`.
    fn enter(&mut self) -> bool {
        if self.depth >= MAX_DEPTH {
            self.too_deep = true;
            self.null();
            return false;
        }
        self.depth += 1;
        true
    }

    /// The consent level the value is written at: an object leaves out its
    /// `opt_in` fields below `Full`.
    #[inline]
    pub fn consent(&self) -> Level {
        self.consent
    }

    /// Starts an object, or returns `None` (having written null) when it
    /// nests too deep. Its fields follow with
    /// [`object_field`](Self::object_field), then
    /// [`object_end`](Self::object_end). Not an API: the output of
    /// `#[derive(TelemetryProperty)]` calls it.
    #[doc(hidden)]
    pub fn object_start(&mut self) -> Option<ObjectStart> {
        if !self.enter() {
            return None;
        }
        self.bytes.push(tag::OBJECT);
        self.bytes.extend_from_slice(&[0; 8]);
        Some(ObjectStart { start: self.bytes.len(), count: 0 })
    }

    /// Writes what a redacted field of an object sends in place of its value.
    #[doc(hidden)]
    pub fn object_value(&mut self, object: &mut ObjectStart, name: FieldName, value: Value) {
        self.object_field_with(object, name, Level::Usage, |out| out.value_within_depth(&value));
    }

    /// Writes one field of an object at `level` (`Full` for an opt-in
    /// field): its name, then its value (written by `pack`), with the level
    /// in its tag byte. A field with an invalid name is left out.
    #[inline]
    pub(crate) fn object_field_with(
        &mut self,
        object: &mut ObjectStart,
        name: FieldName,
        level: Level,
        pack: impl FnOnce(&mut ValueWriter<'_>),
    ) {
        if name.valid {
            self.object_entry(object, name.name, name.clean, level, pack);
        }
    }

    /// Writes one field of an object, with a name known only at run time
    /// (read back from the spool).
    pub(crate) fn object_field_named(
        &mut self,
        object: &mut ObjectStart,
        name: &str,
        pack: impl FnOnce(&mut ValueWriter<'_>),
    ) {
        self.object_entry(object, name, needs_no_escape(name.as_bytes()), Level::Usage, pack);
    }

    fn object_entry(
        &mut self,
        object: &mut ObjectStart,
        name: &str,
        clean: bool,
        level: Level,
        pack: impl FnOnce(&mut ValueWriter<'_>),
    ) {
        // Valid names are at most 200 bytes.
        let Ok(name_len) = u8::try_from(name.len()) else { return };
        self.bytes.push(name_len);
        self.bytes.extend_from_slice(name.as_bytes());
        let tag_at = self.bytes.len();
        pack(self);
        if self.bytes.len() == tag_at {
            self.bytes.push(tag::NULL);
        }
        self.bytes[tag_at] |= (level as u8) << LEVEL_SHIFT | if clean { CLEAN_NAME } else { 0 };
        self.level = self.level.max(level);
        object.count += 1;
    }

    /// Ends an object: writes its count and the byte length of its fields;
    /// one too long for a `u32` becomes null.
    #[doc(hidden)]
    pub fn object_end(&mut self, object: ObjectStart) {
        let ObjectStart { start, count } = object;
        match u32::try_from(self.bytes.len() - start) {
            Ok(len) => {
                self.bytes[start - 8..start - 4].copy_from_slice(&count.to_le_bytes());
                self.bytes[start - 4..start].copy_from_slice(&len.to_le_bytes());
            }
            Err(_) => {
                self.bytes.truncate(start - 9);
                self.null();
            }
        }
        self.depth -= 1;
    }

    /// Starts a list of `len` items, or writes null for one too long to
    /// count in a `u32`; returns where its items start, to be passed to
    /// [`list_end`](Self::list_end) after them.
    fn list_header(&mut self, len: usize) -> Option<usize> {
        match u32::try_from(len) {
            Ok(count) => {
                self.tagged(tag::LIST, &count.to_le_bytes());
                self.bytes.extend_from_slice(&[0; 4]);
                Some(self.bytes.len())
            }
            Err(_) => {
                self.null();
                None
            }
        }
    }

    /// Writes the byte length of the list whose items started at `start`;
    /// one too long for a `u32` becomes null.
    fn list_end(&mut self, start: usize) {
        match u32::try_from(self.bytes.len() - start) {
            Ok(len) => self.bytes[start - 4..start].copy_from_slice(&len.to_le_bytes()),
            Err(_) => {
                self.bytes.truncate(start - 9);
                self.null();
            }
        }
    }

    /// A [`Value`]; one that nests lists too deeply is written as null and
    /// marks the event to be refused.
    pub fn value(&mut self, value: &Value) {
        if too_deep(value, MAX_DEPTH.saturating_sub(self.depth)) {
            self.too_deep = true;
            self.null();
        } else {
            self.value_within_depth(value);
        }
    }

    fn value_within_depth(&mut self, value: &Value) {
        match value {
            Value::Null => self.null(),
            Value::Bool(b) => self.bool(*b),
            Value::Int(i) => self.int(*i),
            Value::UInt(u) => self.uint(*u),
            Value::Float(f) => self.float(*f),
            Value::Text(t) => self.text_here(t),
            Value::Uuid(u) => self.uuid(u),
            Value::Hashed(d) => self.hashed(*d),
            Value::List(items) => {
                if let Some(start) = self.list_header(items.len()) {
                    for item in items {
                        self.value_within_depth(item);
                    }
                    self.list_end(start);
                }
            }
            Value::Object(fields) => {
                self.depth += 1;
                self.bytes.push(tag::OBJECT);
                self.bytes.extend_from_slice(&[0; 8]);
                let mut object = ObjectStart { start: self.bytes.len(), count: 0 };
                for (name, value) in fields {
                    // A name that is not valid (only a dynamic object's can
                    // be: a derive's are checked when it compiles) is left
                    // out with its value.
                    let (clean, valid) = name_flags(name.as_bytes());
                    if valid {
                        self.object_entry(&mut object, name, clean, Level::Usage, |out| {
                            out.value_within_depth(value)
                        });
                    }
                }
                self.object_end(object);
            }
        }
    }

    #[inline]
    fn tagged(&mut self, tag: u8, payload: &[u8]) {
        self.bytes.push(tag);
        self.bytes.extend_from_slice(payload);
    }
}

/// Whether lists and objects nest deeper than `limit`, found without
/// recursion.
fn too_deep(value: &Value, limit: usize) -> bool {
    // Most values are scalars or flat lists: no need for a stack (and its
    // allocation).
    if !nests_lists(value) {
        return limit == 0 && matches!(value, Value::List(_) | Value::Object(_));
    }
    let mut stack = vec![(value, 1)];
    while let Some((value, depth)) = stack.pop() {
        let inner: Box<dyn Iterator<Item = &Value>> = match value {
            Value::List(items) => Box::new(items.iter()),
            Value::Object(fields) => Box::new(fields.iter().map(|(_, v)| v)),
            _ => continue,
        };
        if depth > limit {
            return true;
        }
        stack.extend(inner.map(|item| (item, depth + 1)));
    }
    false
}

/// Whether `value` is a list or object that holds a list or object.
pub(crate) fn nests_lists(value: &Value) -> bool {
    let nested = |item: &Value| matches!(item, Value::List(_) | Value::Object(_));
    match value {
        Value::List(items) => items.iter().any(nested),
        Value::Object(fields) => fields.iter().any(|(_, v)| nested(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::packed::read::entries;
    use crate::{Properties, PropertyValue};

    fn nested(depth: usize) -> Value {
        let mut value = Value::UInt(1);
        for _ in 0..depth {
            value = Value::List(vec![value]);
        }
        value
    }

    #[test]
    fn packing_a_value_writes_what_its_value_would() {
        // The library's types pack themselves without building a `Value`;
        // the result must be the bytes their `to_value` gives.
        fn same<T: PropertyValue>(value: T) {
            let mut packed = Properties::new();
            packed.__write_field(FieldName::new("v"), Level::Usage, &value);
            let mut through_value = Properties::new();
            through_value.push("v", Level::Usage, &value.to_value());
            assert_eq!(packed, through_value, "{:?}", value.to_value());
        }
        same(-3i8);
        same(i16::MIN);
        same(i32::MAX);
        same(i64::MIN);
        same(-1isize);
        same(255u8);
        same(256u16);
        same(u32::MAX);
        same(u64::MAX);
        same(7usize);
        same(1.25f32);
        same(f64::NAN);
        same(true);
        same(Uuid::from_u128(0x1234));
        same(std::time::Duration::from_micros(1_500));
        same("short");
        same("x".repeat(300));
        same(Some(3u8));
        same(None::<&str>);
        let by_reference: &u32 = &42;
        same(by_reference);
        same(vec![Some("a"), None]);
        same(vec![vec![1u64], vec![]]);
    }

    #[test]
    fn depth_is_limited_without_recursion() {
        assert!(!Properties::new().with("ok", nested(MAX_DEPTH)).too_deep());
        assert!(Properties::new().with("deep", nested(MAX_DEPTH + 1)).too_deep());
        let deep = Properties::new().with("deeper", nested(200_000));
        assert!(deep.too_deep());
        assert_eq!(deep.get("deeper"), Some(Value::Null));
    }

    fn object(depth: usize) -> Value {
        let mut value = Value::UInt(1);
        for _ in 0..depth {
            value = Value::Object(vec![("inner".into(), value)]);
        }
        value
    }

    #[test]
    fn objects_read_back_and_count_towards_the_depth_limit() {
        let value = Value::Object(vec![
            ("kind".into(), Value::from("stdio")),
            ("tools".into(), Value::List(vec![Value::Object(vec![("n".into(), Value::UInt(2))])])),
            ("quoted \"name\"".into(), Value::Null),
        ]);
        let props = Properties::new().with("server", value.clone()).with("after", 1u8);
        assert_eq!(props.get("server"), Some(value));
        assert_eq!(props.get("after"), Some(Value::UInt(1)), "a reader steps over an object");
        assert!(!Properties::new().with("ok", object(MAX_DEPTH)).too_deep());
        assert!(Properties::new().with("deep", object(MAX_DEPTH + 1)).too_deep());
        // Lists and objects count alike.
        let mixed = Value::List(vec![object(MAX_DEPTH)]);
        assert!(Properties::new().with("mixed", mixed).too_deep());
        let deep = Properties::new().with("deeper", object(100_000));
        assert!(deep.too_deep());
        assert_eq!(deep.get("deeper"), Some(Value::Null));
        // Invalid field names are left out with their value.
        let invalid =
            Value::Object(vec![("$reserved".into(), Value::UInt(1)), ("ok".into(), Value::UInt(2))]);
        let props = Properties::new().with("o", invalid);
        assert_eq!(props.get("o"), Some(Value::Object(vec![("ok".into(), Value::UInt(2))])));
    }

    #[test]
    fn an_objects_opt_in_field_is_written_only_at_full_and_marks_the_event() {
        struct Server;
        #[allow(deprecated)]
        impl crate::model::property::Audited for Server {}
        impl PropertyValue for Server {
            const KIND: crate::model::schema::ValueKind = crate::model::schema::ValueKind::Object(&[]);
            fn to_value(&self) -> Value {
                Value::Null
            }
            fn __pack(&self, out: &mut ValueWriter<'_>) {
                let Some(mut object) = out.object_start() else { return };
                out.object_field(&mut object, FieldName::new("tools"), Level::Usage, &3u32);
                if out.consent() >= Level::Full {
                    out.object_field(&mut object, FieldName::new("name"), Level::Full, "srv");
                }
                out.object_end(object);
            }
        }
        let mut usage = Properties::new();
        usage.__write_field(FieldName::new("server"), Level::Usage, &Server);
        assert_eq!(usage.get("server"), Some(Value::Object(vec![("tools".into(), Value::UInt(3))])));
        assert_eq!(usage.max_level(), Level::Usage);
        let mut full = Properties::new();
        full.__set_consent(Level::Full);
        full.__write_field(FieldName::new("server"), Level::Usage, &vec![Server]);
        let Some(Value::List(items)) = full.get("server") else { panic!() };
        assert_eq!(
            items[0],
            Value::Object(vec![("tools".into(), Value::UInt(3)), ("name".into(), Value::from("srv"))])
        );
        let levels: Vec<Level> = entries(full.as_bytes()).map(|e| e.level).collect();
        assert_eq!(levels, [Level::Usage], "the property itself is sent at usage");
        assert_eq!(full.max_level(), Level::Full, "but the worker must check what it holds");
    }
}
