//! The properties of one event, packed into a single byte buffer.
//!
//! A capture sits on its caller's hot path, so the properties are not a
//! tree of heap values: each is written as a few tagged bytes into one
//! buffer (a per-thread one for typed events), and the queue copies those
//! bytes into its own buffer. A capture then allocates nothing, and the
//! worker frees nothing per event.
//!
//! Layout of one property: name length (`u8`), name, value. A value is a
//! tag byte and its payload: nothing for null and booleans, 8 little-endian
//! bytes for numbers (one byte for an unsigned one below 256), a length
//! (`u8` below 256 bytes, `u32` above) and the bytes for text, 16 bytes for
//! a uuid or a digest, a `u32` count, the `u32` length of the items and the
//! items for a list (the length lets a reader step over a list without
//! walking it), and the same for an object, whose items are laid out like
//! properties (name length, name, value whose tag byte holds the field's
//! level and name flag). The tag byte of a property's value also holds the
//! property's level, whether its name needs JSON escaping and whether its
//! value nested too deep.
//!
//! The caller writes these bytes twice per capture (into a per-thread
//! buffer, then into the queue), and a backlog of events holds them all:
//! every byte saved is memory not touched.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use uuid::Uuid;

use crate::model::json::needs_no_escape;
use crate::model::redact::Digest;
use crate::{Level, Value};

/// Lists and objects nested deeper than this are refused: deeper JSON is refused by
/// common parsers (serde_json stops at 128), and would fail a whole batch.
pub(crate) const MAX_DEPTH: usize = 32;

/// The bits of a tag byte that hold the tag; a property's value also keeps
/// its level (bits 4 and 5) and [`CLEAN_NAME`] in the others.
const TAG_BITS: u8 = 0x0f;
const LEVEL_SHIFT: u8 = 4;

/// Set in the tag byte of a property's value when the property's name needs
/// no escaping in JSON (the derive's snake_case names): the encoder copies
/// it as it is.
const CLEAN_NAME: u8 = 0x80;

/// Set in the tag byte of a property's value when the value nested lists
/// deeper than [`MAX_DEPTH`] (and was written as null): the event is refused
/// while such a property is kept, and accepted again once it is replaced.
const TOO_DEEP: u8 = 0x40;

/// Property names longer than this are dropped (and must fit the `u8`
/// length of the packed form).
const MAX_NAME_BYTES: usize = 200;

pub(crate) mod tag {
    pub(crate) const NULL: u8 = 0;
    pub(crate) const FALSE: u8 = 1;
    pub(crate) const TRUE: u8 = 2;
    pub(crate) const INT: u8 = 3;
    pub(crate) const UINT: u8 = 4;
    pub(crate) const FLOAT: u8 = 5;
    pub(crate) const TEXT: u8 = 6;
    pub(crate) const UUID: u8 = 7;
    pub(crate) const LIST: u8 = 8;
    pub(crate) const HASHED: u8 = 9;
    /// Text of at most 255 bytes: a `u8` length.
    pub(crate) const SHORT_TEXT: u8 = 10;
    /// An unsigned integer below 256, in one byte.
    pub(crate) const SMALL_UINT: u8 = 11;
    /// An object: a `u32` count, the `u32` length of its fields, and the
    /// fields laid out like properties.
    pub(crate) const OBJECT: u8 = 12;
    /// A hash already keyed (32 hex digits): a redacted value read back
    /// from the spool, which never stores the unkeyed pre-hash.
    pub(crate) const KEYED: u8 = 13;
}

/// The properties of a dynamic event, in order, built at run time and
/// checked against the event's declaration when it is captured (see
/// [`event!`](crate::event)).
///
/// ```
/// use telemetry_runtime::{Properties, Value};
/// let props = Properties::new()
///     .with("command", "build")
///     .with("duration_ms", 12.5)
///     .with("target", Value::text(String::from("x86_64")));
/// assert_eq!(props.get("command"), Some(Value::from("build")));
/// assert_eq!(props.len(), 3);
/// ```
#[derive(Clone)]
pub struct Properties {
    bytes: Vec<u8>,
    len: usize,
    /// A value nested lists deeper than [`MAX_DEPTH`]: the event is refused.
    too_deep: bool,
    /// The highest level a property needs (`Full` once there is an opt-in
    /// property).
    max_level: Level,
    /// One bit per hash of each name inserted, to skip the search for an
    /// earlier value of a new name.
    names_seen: u64,
    /// The consent level the properties are written at: the `opt_in` fields
    /// of an object are written only at `Full`.
    consent: Level,
}

impl Properties {
    /// An empty list.
    pub fn new() -> Properties {
        Properties::default()
    }

    /// An empty list with room for about `n` typical properties (at most
    /// 1,024 are reserved ahead: the list still grows past them).
    pub fn with_capacity(n: usize) -> Properties {
        Properties::from_buffer(Vec::with_capacity(n.min(1024) * 24))
    }

    /// An empty list that writes into `buffer` (emptied first), so that a
    /// buffer can be reused from one event to the next.
    pub(crate) fn from_buffer(mut buffer: Vec<u8>) -> Properties {
        buffer.clear();
        Properties {
            bytes: buffer,
            len: 0,
            too_deep: false,
            max_level: Level::Usage,
            names_seen: 0,
            consent: Level::Usage,
        }
    }

    /// The buffer, for reuse by [`Properties::from_buffer`].
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }

    /// Adds a property. Names must be non-empty, at most 200 bytes, and
    /// must not start with `$` (reserved for the library's own properties):
    /// such a property is dropped with a warning.
    pub fn with(mut self, name: &'static str, value: impl Into<Value>) -> Properties {
        self.insert(name, value);
        self
    }

    /// Adds a property at `Full` (for tests of levels).
    #[cfg(test)]
    pub(crate) fn with_opt_in(mut self, name: &'static str, value: impl Into<Value>) -> Properties {
        self.insert_at(name, value.into(), Level::Full);
        self
    }

    /// Adds a property in place; see [`Properties::with`]. Setting a name
    /// again replaces its value.
    pub fn insert(&mut self, name: &'static str, value: impl Into<Value>) {
        self.insert_at(name, value.into(), Level::Usage);
    }

    fn insert_at(&mut self, name: &'static str, value: Value, level: Level) {
        if !FieldName::new(name).valid {
            invalid_name(name);
            dismantle(value);
            return;
        }
        // A name is looked for among the earlier ones only when its bit in
        // `names_seen` says it may be there: usually it is not.
        let bit = 1u64 << (name.bytes().fold(name.len(), |h, b| h.wrapping_mul(31) + usize::from(b)) % 64);
        let maybe_present = self.names_seen & bit != 0;
        self.names_seen |= bit;
        if self.bytes.capacity() == 0 {
            self.bytes.reserve(256);
        }
        let existing = if maybe_present {
            entries(&self.bytes).find(|entry| entry.name == name.as_bytes()).map(|entry| entry.span)
        } else {
            None
        };
        match existing {
            None => self.push_at(name, level, false, |out| out.value(&value)),
            Some(span) => {
                let mut replacement = Properties::new();
                replacement.push_at(name, level, false, |out| out.value(&value));
                self.bytes.splice(span, replacement.bytes);
                // What the replaced value contributed goes with it: both
                // are recomputed from the properties kept.
                self.max_level = entries(&self.bytes).map(|entry| entry.level).max().unwrap_or(Level::Usage);
                self.too_deep = entries(&self.bytes).any(|entry| entry.too_deep);
            }
        }
        dismantle(value);
    }

    /// Adds a property the library itself writes (`$sample_rate`, the
    /// result of a classification, a property read back from the spool):
    /// the name is unique and valid.
    pub(crate) fn push(&mut self, name: &str, level: Level, value: &Value) {
        self.push_at(name, level, false, |out| out.value(value));
    }

    /// Sets the consent level the next fields are written at, for the
    /// `opt_in` fields of objects (an event's own `opt_in` fields are left
    /// out by the derive's output). Not an API: the derive's output calls it.
    #[doc(hidden)]
    #[inline]
    pub fn __set_consent(&mut self, level: Level) {
        self.consent = level;
    }

    /// The consent level the fields are written at (see [`__set_consent`](Self::__set_consent)).
    #[inline]
    pub(crate) fn consent(&self) -> Level {
        self.consent
    }

    /// Writes a value a derived event computed (a redacted field's marker,
    /// length or hash). Not an API: the derive's output calls it.
    #[doc(hidden)]
    pub fn __write_value(&mut self, name: FieldName, level: Level, value: Value) {
        if !name.valid {
            return invalid_name(name.name);
        }
        self.push_at(name.name, level, name.clean, |out| out.value(&value));
        dismantle(value);
    }

    /// Appends a property; `known_clean` says its name is known to need no
    /// JSON escaping, which is otherwise checked here (the flag depends only
    /// on the name, so equal properties stay equal bytes).
    /// Appends a property with a name known only at run time (read back
    /// from the spool), its value written by `pack`.
    pub(crate) fn push_with(&mut self, name: &str, level: Level, pack: impl FnOnce(&mut ValueWriter<'_>)) {
        self.push_at(name, level, false, pack);
    }

    /// Writes a property named `name` at `level`, its value written by
    /// `pack`; an invalid name is dropped with a warning. Inlined, as
    /// `push_at` is, into the derive's output: it runs for every field.
    #[inline(always)]
    pub(crate) fn write_named(
        &mut self,
        name: FieldName,
        level: Level,
        pack: impl FnOnce(&mut ValueWriter<'_>),
    ) {
        if !name.valid {
            return invalid_name(name.name);
        }
        self.push_at(name.name, level, name.clean, pack);
    }

    #[inline]
    fn push_at(
        &mut self,
        name: &str,
        level: Level,
        known_clean: bool,
        pack: impl FnOnce(&mut ValueWriter<'_>),
    ) {
        let clean = known_clean || needs_no_escape(name.as_bytes());
        let Ok(name_len) = u8::try_from(name.len()) else {
            log::warn!("Telemetry property name {name:?} is too long: dropped.");
            return;
        };
        self.bytes.push(name_len);
        self.bytes.extend_from_slice(name.as_bytes());
        let tag_at = self.bytes.len();
        let mut writer =
            ValueWriter { bytes: &mut self.bytes, too_deep: false, consent: self.consent, depth: 0, level };
        pack(&mut writer);
        let (too_deep, nested_level) = (writer.too_deep, writer.level);
        if self.bytes.len() == tag_at {
            // A `pack` that wrote nothing: the value is null.
            self.bytes.push(tag::NULL);
        }
        self.too_deep |= too_deep;
        // An object's opt-in field raises what the event needs, so that
        // the worker checks it against the consent at sending.
        self.max_level = self.max_level.max(nested_level);
        self.bytes[tag_at] |= (level as u8) << LEVEL_SHIFT
            | if clean { CLEAN_NAME } else { 0 }
            | if too_deep { TOO_DEEP } else { 0 };
        self.max_level = self.max_level.max(level);
        self.len += 1;
    }

    /// The value of a property, if present.
    pub fn get(&self, name: &str) -> Option<Value> {
        entries(&self.bytes).find(|entry| entry.name == name.as_bytes()).map(|entry| to_value(entry.value))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The properties in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Value)> {
        entries(&self.bytes)
            .map(|entry| (std::str::from_utf8(entry.name).unwrap_or_default(), to_value(entry.value)))
    }

    /// Copies the properties that `decide` keeps into `out`, each at the
    /// level it gives, as packed (no value is decoded or allocated); `decide`
    /// sees each name (UTF-8, as it was a `&str`) and packed value, and returns the level to copy at, or
    /// `None` to leave it out.
    pub(crate) fn copy_into(
        &self,
        out: &mut Properties,
        mut decide: impl FnMut(&[u8], &Packed<'_>) -> Option<Level>,
    ) {
        for entry in entries(&self.bytes) {
            let Some(level) = decide(entry.name, &entry.value) else { continue };
            let Some(bytes) = self.bytes.get(entry.span.clone()) else { continue };
            let tag_at = out.bytes.len() + 1 + entry.name.len();
            out.bytes.extend_from_slice(bytes);
            if let Some(tag) = out.bytes.get_mut(tag_at) {
                *tag = *tag & !(0x3 << LEVEL_SHIFT) | (level as u8) << LEVEL_SHIFT;
            }
            out.too_deep |= entry.too_deep;
            out.max_level = out.max_level.max(level);
            out.len += 1;
        }
    }

    /// The packed form, as the queue stores it.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Appends a call's span after the properties, the last thing written
    /// before the properties are queued with a
    /// [`RecordKind::Call`](crate::model::event::RecordKind::Call) record,
    /// which keeps it apart from them. Nothing may be added after it.
    pub(crate) fn end_with_span(&mut self, span: &[u8; crate::model::span::SPAN_BYTES]) {
        self.bytes.extend_from_slice(span);
    }

    /// The highest level any property needs.
    pub(crate) fn max_level(&self) -> Level {
        self.max_level
    }

    /// Whether a value nested lists deeper than [`MAX_DEPTH`].
    pub(crate) fn too_deep(&self) -> bool {
        self.too_deep
    }
}

/// Equal when they hold the same properties in the same order.
impl PartialEq for Properties {
    fn eq(&self, other: &Properties) -> bool {
        self.bytes == other.bytes && self.too_deep == other.too_deep
    }
}

impl Default for Properties {
    fn default() -> Properties {
        Properties::from_buffer(Vec::new())
    }
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A property name, checked once: in a constant, for the names the
/// derive writes. Not an API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct FieldName {
    name: &'static str,
    /// snake_case: it needs no escaping in JSON.
    clean: bool,
    /// Non-empty, at most 200 bytes, and not reserved (`$...`).
    valid: bool,
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

#[cold]
fn invalid_name(name: &str) {
    log::warn!("Telemetry property name {name:?} is reserved, empty or too long: dropped.");
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
            Value::Text(t) => self.text(t),
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
fn nests_lists(value: &Value) -> bool {
    let nested = |item: &Value| matches!(item, Value::List(_) | Value::Object(_));
    match value {
        Value::List(items) => items.iter().any(nested),
        Value::Object(fields) => fields.iter().any(|(_, v)| nested(v)),
        _ => false,
    }
}

/// Drops a value without recursing, however deep its lists go.
fn dismantle(value: Value) {
    // Only lists of lists can nest deep enough to matter.
    if !nests_lists(&value) {
        return;
    }
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::List(items) => stack.extend(items),
            Value::Object(fields) => stack.extend(fields.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// One packed property.
pub(crate) struct Entry<'a> {
    /// The name's bytes: it was a `&str` when written, so it is UTF-8, but
    /// it is not checked again on every read.
    pub(crate) name: &'a [u8],
    /// The name needs no escaping in JSON.
    pub(crate) name_is_clean: bool,
    pub(crate) level: Level,
    pub(crate) value: Packed<'a>,
    /// The value nested lists too deep (and was written as null).
    too_deep: bool,
    /// Where the whole property is in the buffer.
    span: Range<usize>,
}

/// The properties packed in `bytes`, in order. Stops at the first malformed
/// byte rather than panic (the buffer is only ever written by this module).
pub(crate) fn entries(bytes: &[u8]) -> Entries<'_> {
    Entries { bytes, at: 0, left: u32::MAX }
}

/// The first `count` fields of an object packed in `bytes`.
pub(crate) fn fields(count: u32, bytes: &[u8]) -> Entries<'_> {
    Entries { bytes, at: 0, left: count }
}

/// The reader of packed properties (see [`entries`]).
#[derive(Clone)]
pub(crate) struct Entries<'a> {
    bytes: &'a [u8],
    at: usize,
    left: u32,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    // Inlined into its callers: it runs for every property the worker
    // encodes, and returning an entry through memory stalls the reader.
    #[inline(always)]
    fn next(&mut self) -> Option<Entry<'a>> {
        if self.left == 0 {
            return None;
        }
        let bytes = self.bytes;
        let start = self.at;
        let name_len = usize::from(*bytes.get(start)?);
        let name = bytes.get(start + 1..start + 1 + name_len)?;
        let at = start + 1 + name_len;
        let flags = *bytes.get(at)?;
        let (value, len) = read(bytes.get(at..)?)?;
        self.at = at + len;
        self.left -= 1;
        Some(Entry {
            name,
            name_is_clean: flags & CLEAN_NAME != 0,
            too_deep: flags & TOO_DEEP != 0,
            level: Level::from_u8(flags >> LEVEL_SHIFT & 0x3),
            value,
            span: start..self.at,
        })
    }
}

/// A packed value, read back.
#[derive(Clone, Copy)]
pub(crate) enum Packed<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// UTF-8 (it was a `&str` when written).
    Text(&'a [u8]),
    Uuid(Uuid),
    Hashed(Digest),
    /// A keyed hash's 32 hex digits.
    Keyed([u8; 32]),
    /// The count and the packed items.
    List(u32, &'a [u8]),
    /// The count and the packed fields, read with [`entries`].
    Object(u32, &'a [u8]),
}

/// Reads the value at the start of `bytes`, and its packed length.
// Inlined: it runs for every value the worker encodes, and returning its
// result through memory stalls the reader.
#[inline(always)]
fn read(bytes: &[u8]) -> Option<(Packed<'_>, usize)> {
    let eight = || bytes.get(1..9).and_then(|b| <[u8; 8]>::try_from(b).ok());
    let sixteen = || bytes.get(1..17).and_then(|b| <[u8; 16]>::try_from(b).ok());
    Some(match *bytes.first()? & TAG_BITS {
        tag::NULL => (Packed::Null, 1),
        tag::FALSE => (Packed::Bool(false), 1),
        tag::TRUE => (Packed::Bool(true), 1),
        tag::INT => (Packed::Int(i64::from_le_bytes(eight()?)), 9),
        tag::UINT => (Packed::UInt(u64::from_le_bytes(eight()?)), 9),
        tag::SMALL_UINT => (Packed::UInt(u64::from(*bytes.get(1)?)), 2),
        tag::FLOAT => (Packed::Float(f64::from_le_bytes(eight()?)), 9),
        tag::TEXT => {
            let end = 5 + read_u32(bytes, 1)? as usize;
            (Packed::Text(bytes.get(5..end)?), end)
        }
        tag::SHORT_TEXT => {
            let end = 2 + usize::from(*bytes.get(1)?);
            (Packed::Text(bytes.get(2..end)?), end)
        }
        tag::UUID => (Packed::Uuid(Uuid::from_bytes(sixteen()?)), 17),
        tag::HASHED => (Packed::Hashed(Digest::from_bytes(sixteen()?)), 17),
        tag::KEYED => (Packed::Keyed(bytes.get(1..33)?.try_into().ok()?), 33),
        tag::LIST => {
            let end = 9 + read_u32(bytes, 5)? as usize;
            (Packed::List(read_u32(bytes, 1)?, bytes.get(9..end)?), end)
        }
        tag::OBJECT => {
            let end = 9 + read_u32(bytes, 5)? as usize;
            (Packed::Object(read_u32(bytes, 1)?, bytes.get(9..end)?), end)
        }
        _ => return None,
    })
}

impl<'a> Packed<'a> {
    /// Reads the value at the start of `bytes`; anything malformed reads as
    /// null.
    #[cfg(test)]
    pub(crate) fn read(bytes: &'a [u8]) -> Packed<'a> {
        read(bytes).map_or(Packed::Null, |(value, _)| value)
    }

    /// Whether this value is left out of an event: null, or a float that
    /// JSON cannot carry.
    pub(crate) fn is_omitted(&self) -> bool {
        match self {
            Packed::Null => true,
            Packed::Float(f) => !f.is_finite(),
            _ => false,
        }
    }
}

/// The items of a packed list, given its count and the bytes from its first
/// item on.
pub(crate) fn list_items(count: u32, bytes: &[u8]) -> ListItems<'_> {
    ListItems { left: count, bytes }
}

/// The items of a packed list ([`list_items`]). A type of its own, its
/// `next` always inlined: the encoders' list loops stay one loop (as a
/// `map_while` it came to be called out of line once lists had more
/// readers, about 50 instructions more per typical event).
pub(crate) struct ListItems<'a> {
    left: u32,
    bytes: &'a [u8],
}

impl<'a> Iterator for ListItems<'a> {
    type Item = Packed<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<Packed<'a>> {
        if self.left == 0 {
            return None;
        }
        let Some((item, len)) = read(self.bytes) else {
            self.left = 0;
            return None;
        };
        let Some(rest) = self.bytes.get(len..) else {
            self.left = 0;
            return None;
        };
        self.bytes = rest;
        self.left -= 1;
        Some(item)
    }
}

pub(crate) fn to_value(packed: Packed<'_>) -> Value {
    match packed {
        Packed::Null => Value::Null,
        Packed::Bool(b) => Value::Bool(b),
        Packed::Int(i) => Value::Int(i),
        Packed::UInt(u) => Value::UInt(u),
        Packed::Float(f) => Value::Float(f),
        Packed::Text(t) => Value::text(String::from_utf8_lossy(t)),
        Packed::Uuid(u) => Value::Uuid(u),
        Packed::Hashed(d) => Value::Hashed(d),
        Packed::Keyed(hex) => Value::text(String::from_utf8_lossy(&hex)),
        Packed::List(count, items) => Value::List(list_items(count, items).map(to_value).collect()),
        Packed::Object(count, packed) => Value::Object(
            fields(count, packed)
                .map(|entry| {
                    (Cow::Owned(String::from_utf8_lossy(entry.name).into_owned()), to_value(entry.value))
                })
                .collect(),
        ),
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PropertyValue;

    fn nested(depth: usize) -> Value {
        let mut value = Value::UInt(1);
        for _ in 0..depth {
            value = Value::List(vec![value]);
        }
        value
    }

    #[test]
    fn every_kind_of_value_reads_back() {
        let id = Uuid::from_u128(0x1234);
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(-7),
            Value::UInt(u64::MAX),
            Value::Float(1.5),
            Value::from("text with \"quotes\" and é"),
            Value::Uuid(id),
            Value::hashed("secret"),
            Value::List(vec![
                Value::from("a"),
                Value::List(vec![Value::UInt(1), Value::Null]),
                Value::Int(2),
            ]),
            Value::List(vec![]),
            // Each side of the one-byte forms.
            Value::UInt(255),
            Value::UInt(256),
            Value::text("x".repeat(255)),
            Value::text("y".repeat(256)),
        ];
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o"];
        let mut props = Properties::new();
        for (name, value) in names.iter().zip(&values) {
            props.insert(name, value.clone());
        }
        assert_eq!(props.len(), values.len());
        let read: Vec<(String, Value)> = props.iter().map(|(n, v)| (n.to_owned(), v)).collect();
        let expected: Vec<(String, Value)> =
            names.iter().map(|n| n.to_string()).zip(values.iter().cloned()).collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn levels_and_name_flags_share_the_tag_byte() {
        let mut props = Properties::new();
        props.__write_field(FieldName::new("plain"), Level::Usage, &1u32);
        props.insert_at("quoted \"name\"", Value::UInt(300), Level::Full);
        props.__write_field(FieldName::new("listed"), Level::Full, &vec!["a".to_owned()]);
        let entries: Vec<(&[u8], bool, Level)> =
            entries(props.as_bytes()).map(|e| (e.name, e.name_is_clean, e.level)).collect();
        assert_eq!(
            entries,
            [
                (&b"plain"[..], true, Level::Usage),
                (&b"quoted \"name\""[..], false, Level::Full),
                (&b"listed"[..], true, Level::Full)
            ]
        );
        assert_eq!(props.get("quoted \"name\""), Some(Value::UInt(300)));
        assert_eq!(props.get("listed"), Some(Value::List(vec![Value::from("a")])));
        assert_eq!(props.max_level(), Level::Full);
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
    fn insert_replaces_in_place() {
        let mut props = Properties::new().with("a", 1u8).with("b", "long text value").with("c", 3u8);
        props.insert("b", 2u8);
        props.insert("a", "now text");
        let names: Vec<&str> = props.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(props.get("a"), Some(Value::from("now text")));
        assert_eq!(props.get("b"), Some(Value::UInt(2)));
        assert_eq!(props.get("c"), Some(Value::UInt(3)));
        assert_eq!(props.len(), 3);
    }

    #[test]
    fn every_name_is_found_again_among_many() {
        let names: Vec<&'static str> =
            (0..200).map(|i| &*Box::leak(format!("name_{i}").into_boxed_str())).collect();
        let mut props = Properties::new();
        for (i, name) in names.iter().enumerate() {
            props.insert(name, i as u64);
        }
        for (i, name) in names.iter().enumerate() {
            props.insert(name, (i * 2) as u64);
        }
        assert_eq!(props.len(), 200);
        for (i, name) in names.iter().enumerate() {
            assert_eq!(props.get(name), Some(Value::UInt((i * 2) as u64)));
        }
        let mut pushed = Properties::new();
        for (i, name) in names.iter().enumerate() {
            pushed.push(name, Level::Usage, &Value::UInt((i * 2) as u64));
        }
        assert_eq!(props, pushed);
    }

    #[test]
    fn invalid_names_are_dropped() {
        let long: &'static str = Box::leak("n".repeat(201).into_boxed_str());
        let props = Properties::new().with("", 1u8).with("$lib", 1u8).with(long, 1u8).with("ok", 1u8);
        assert_eq!(props.len(), 1);
        assert_eq!(props.get("ok"), Some(Value::UInt(1)));
    }

    #[test]
    fn levels_are_kept_per_property() {
        let props = Properties::new().with("a", 1u8).with_opt_in("b", 2u8);
        let levels: Vec<Level> = entries(props.as_bytes()).map(|e| e.level).collect();
        assert_eq!(levels, [Level::Usage, Level::Full]);
        assert_eq!(props.max_level(), Level::Full);
        assert_eq!(Properties::new().with("a", 1u8).max_level(), Level::Usage);
        // Replacing the only opt-in property lowers what the event needs.
        let mut replaced = props.clone();
        replaced.insert("b", 3u8);
        assert_eq!(replaced.max_level(), Level::Usage);
    }

    #[test]
    fn replacing_an_over_deep_value_accepts_the_event_again() {
        let mut props = Properties::new().with("deep", nested(MAX_DEPTH + 1)).with("other", 1u8);
        assert!(props.too_deep());
        props.insert("deep", 2u8);
        assert!(!props.too_deep(), "the over-deep value was replaced");
        assert_eq!(props.get("deep"), Some(Value::UInt(2)));
        // Replacing another property keeps an over-deep one counted...
        let mut props = Properties::new().with("deep", nested(MAX_DEPTH + 1)).with("other", 1u8);
        props.insert("other", 3u8);
        assert!(props.too_deep());
        // ...and a shallow value replaced by an over-deep one marks the event.
        let mut props = Properties::new().with("value", 1u8);
        props.insert("value", nested(MAX_DEPTH + 1));
        assert!(props.too_deep());
        // The mark is not a property value: equal properties stay equal.
        let mut replaced = Properties::new().with("a", nested(MAX_DEPTH + 1));
        replaced.insert("a", 1u8);
        assert_eq!(replaced, Properties::new().with("a", 1u8));
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
            const KIND: crate::ValueKind = crate::ValueKind::Object(&[]);
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

    #[test]
    fn malformed_bytes_read_as_nothing() {
        let props = Properties::new().with("a", "text").with("b", 1u8);
        let bytes = props.as_bytes();
        for cut in 0..bytes.len() {
            // Never panics; stops before the cut-off property.
            assert!(entries(&bytes[..cut]).count() <= 1);
        }
        assert!(matches!(Packed::read(&[200]), Packed::Null));
        assert!(matches!(Packed::read(&[]), Packed::Null));
    }
}
