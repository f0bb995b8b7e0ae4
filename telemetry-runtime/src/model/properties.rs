//! The public builder of an event's properties ([`Properties`]): the
//! properties of one event, in order, packed into a single byte buffer by
//! the writer of the packed form and read back by its one reader (see
//! [`crate::model::packed`]).

use std::fmt;

use crate::model::json::needs_no_escape;
use crate::model::packed::read::{entries, to_value, Packed};
use crate::model::packed::write::{nests_lists, FieldName, ValueWriter};
use crate::model::packed::{tag, CLEAN_NAME, LEVEL_SHIFT, TOO_DEEP};
use crate::{Level, Value};

/// The properties of a dynamic event, in order, built at run time and
/// checked against the event's declaration when it is captured (see
/// [`event!`](crate::event)).
///
/// ```
/// use telemetry_runtime::{Properties, Value};
/// let target = String::from("x86_64"); // text chosen at run time
/// let mut props = Properties::new().with("command", "build").with("duration_ms", 12.5);
/// if !target.is_empty() {
///     props = props.with("target", Value::Text(target.into()));
/// }
/// ```
#[derive(Clone)]
pub struct Properties {
    bytes: Vec<u8>,
    len: usize,
    /// A value nested lists deeper than
    /// [`MAX_DEPTH`](crate::model::packed::MAX_DEPTH): the event is refused.
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
    pub(crate) fn with_capacity(n: usize) -> Properties {
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
    pub(crate) fn insert(&mut self, name: &'static str, value: impl Into<Value>) {
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
        let mut writer = ValueWriter::new(&mut self.bytes, self.consent, level);
        pack(&mut writer);
        let (too_deep, nested_level) = writer.finish();
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
    #[cfg(test)]
    pub(crate) fn get(&self, name: &str) -> Option<Value> {
        entries(&self.bytes).find(|entry| entry.name == name.as_bytes()).map(|entry| to_value(entry.value))
    }

    /// Number of properties.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The properties, in order, with their values: what an event wrote
    /// (with [`TelemetryEvent::write_properties`](crate::TelemetryEvent::write_properties)),
    /// for a test of what it sends at each level.
    ///
    /// ```
    /// use telemetry_runtime::{Level, Properties, TelemetryEvent, Value};
    ///
    /// /// A search ran.
    /// #[derive(TelemetryEvent)]
    /// struct Searched {
    ///     results: u32,
    ///     #[telemetry(opt_in)]
    ///     pages: u32,
    /// }
    ///
    /// let mut usage = Properties::new();
    /// Searched { results: 3, pages: 1 }.write_properties(Level::Usage, &mut usage);
    /// assert_eq!(usage.iter().collect::<Vec<_>>(), [("results", Value::from(3u32))]);
    /// ```
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

    /// Whether a value nested lists deeper than [`MAX_DEPTH`](crate::model::packed::MAX_DEPTH).
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

#[cold]
fn invalid_name(name: &str) {
    log::warn!("Telemetry property name {name:?} is reserved, empty or too long: dropped.");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::packed::read::entries;
    use crate::model::packed::MAX_DEPTH;

    fn nested(depth: usize) -> Value {
        let mut value = Value::UInt(1);
        for _ in 0..depth {
            value = Value::List(vec![value]);
        }
        value
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
}
