//! Which Rust types can be event properties, which are public by default,
//! and what each can hold.
//!
//! The derive calls these traits at each field's type, so an unsupported or
//! unclassified type is a compile error at that field. What a type can hold
//! is decided here, by the type itself, never by how it is spelled: a
//! `type u32 = String;` is text, a newtype over a number is a number.
//!
//! The traits are sealed: besides the library's own implementations, the
//! only ones are written by this library's derives, whose input is audited.
//! A newtype over text is text (`#[derive(TelemetryProperty)] struct
//! Tool(String);` needs a classification wherever it is used), and bytes and
//! characters (`Vec<u8>`, `[u8; N]`, `OsString`, `PathBuf`, `char`, ...) are
//! text too: none of them is public by default.
//!
//! The hidden traits are deprecated, so that an impl written by hand (which
//! the language cannot forbid) warns where it is written; the library's own
//! impls and the derives' output allow it.
#![allow(deprecated)]

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::model::packed::write::{FieldName, ObjectStart, ValueWriter};
use crate::model::redact::Digest;
use crate::model::schema::{FieldSchema, ValueKind};
use crate::Value;
use crate::{Level, Properties};

/// The seal of the classification traits. Implemented by the library for
/// its own types and by the output of `#[derive(TelemetryEvent)]` and
/// `#[derive(TelemetryProperty)]` for types they audited.
///
/// Not an API: an implementation written by hand opts its type out of the
/// compile-time audit that every path to the wire relies on, and warns.
#[doc(hidden)]
#[deprecated(note = "implemented only by telemetry-runtime's derives, whose output the compile-time audit \
            checked: an impl written by hand opts its type out of the audit (see the `audit` page)")]
pub trait Audited {
    /// The unit the type's numbers are sent in, for the catalog: `ms` for
    /// a `Duration`, and for the options, lists, pointers and newtypes of
    /// one; empty for any other type. Here rather than on
    /// [`PropertyValue`], whose implementations it would otherwise add to
    /// the public surface.
    const UNIT: &'static str = "";
}

/// A type that can be sent as a property value.
///
/// Implemented for integers, floats, `bool`, text (`String`, `str`,
/// `Cow<str>`, `char`, paths and OS strings), `Uuid`, `Duration` (sent as
/// milliseconds to the microsecond: `0.103`), `Option<T>`, `Vec<T>`,
/// slices, arrays, references, boxes, and types with
/// `#[derive(TelemetryProperty)]`. Sealed: it cannot be implemented by
/// hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a telemetry property",
    label = "unsupported property type",
    note = "supported: integers, floats, bool, text (String, &str, Cow<str>), Uuid, Duration, \
            Option<T>, Vec<T>, and types with #[derive(TelemetryProperty)]; \
            or mark the field #[telemetry(skip)]"
)]
pub trait PropertyValue: Audited {
    /// The shape of the values of this type.
    const KIND: ValueKind;

    /// The fields of an object type, or of the objects this type holds (a
    /// list, an option); empty for any other type. For the catalog.
    const FIELDS: &'static [FieldSchema] = &[];

    /// The value to send.
    fn to_value(&self) -> Value;

    /// Writes the value into an event's packed properties. Not an API: the
    /// derive's output calls it.
    #[doc(hidden)]
    #[inline]
    fn __pack(&self, out: &mut ValueWriter<'_>) {
        out.value(&self.to_value());
    }
}

/// A property type whose values are safe to send without a classification:
/// numbers, `bool`, `Uuid`, `Duration`, `#[derive(TelemetryProperty)]` enums,
/// objects (`#[derive(TelemetryProperty)]` structs) whose every field is
/// public, and options and lists of those. Free text is deliberately not one, nor
/// are lists of bytes or characters (`Vec<u8>`, `[u8; 32]`, `Vec<u16>`,
/// `Vec<char>`), which are text in another form.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent without a classification",
    label = "free text (or bytes) that needs a classification, an object with opt-in or redacted \
             fields, or not a supported property type",
    note = "free text: use a #[derive(TelemetryProperty)] enum when its values come from a fixed set, \
            #[telemetry(redact)] to never send it raw (redact = \"hash\" still counts distinct values), \
            #[telemetry(opt_in)] to send it only at full consent, or \
            #[telemetry(public, reason = \"...\")] saying why the text is safe to send as it is",
    note = "an object (a struct with #[derive(TelemetryProperty)]) is public by default only when \
            every field it sends is public: classify a field holding one with opt-in or redacted \
            fields, #[telemetry(public)] (sent at usage without its opt-in fields) or \
            #[telemetry(opt_in)]",
    note = "other types must be supported properties: integers, floats, bool, Uuid, Duration, \
            Option<T>, Vec<T>, #[derive(TelemetryProperty)] enums; or mark the field #[telemetry(skip)]"
)]
pub trait PublicByDefault: PropertyValue {}

/// A type whose lists are public by default: every type public by default
/// (objects whose every field is public among them) except the integers that text is made of (`u8`, `i8` and `u16`, the
/// units of UTF-8, C and UTF-16 strings). Not an API.
#[doc(hidden)]
#[deprecated(note = "implemented only by telemetry-runtime and its derives (see the `audit` page)")]
#[diagnostic::on_unimplemented(
    message = "a list of `{Self}` cannot be sent without a classification",
    label = "a list of bytes or characters is text, and a list of objects with opt-in or redacted \
             fields needs a classification too",
    note = "classify the field with #[telemetry(public)], #[telemetry(redact)] or #[telemetry(opt_in)]"
)]
pub trait PublicListItem: PublicByDefault {}

/// A type that cannot carry free text outside a written decision: numbers,
/// `bool`, `Uuid`, `Duration`, the values of `#[derive(TelemetryProperty)]`
/// enums, objects (whose own fields are classified, with their reasons),
/// and options, lists (not of bytes), maps and newtypes of those. A field
/// marked `#[telemetry(public)]` without a `reason` must be one. Not an API.
#[doc(hidden)]
#[deprecated(note = "implemented only by telemetry-runtime and its derives (see the `audit` page)")]
#[diagnostic::on_unimplemented(
    message = "`{Self}` can carry free text: sending it as public needs a written reason",
    label = "public text without a reason",
    note = "text can hold anything the user typed or owns: use a #[derive(TelemetryProperty)] enum when \
            its values come from a fixed set, or #[telemetry(redact = \"hash\")] (distinct values \
            counted, never sent) or #[telemetry(redact = \"length\")]",
    note = "if the text is safe to send as it is, say why: #[telemetry(public, reason = \"...\")]; \
            the reason is shown in the catalog"
)]
pub trait NotText: PropertyValue {}

/// A [`NotText`] type whose lists are not text either: all of them but the
/// integers text is made of (`u8`, `i8`, `u16`). Not an API.
#[doc(hidden)]
#[deprecated(note = "implemented only by telemetry-runtime and its derives (see the `audit` page)")]
#[diagnostic::on_unimplemented(
    message = "a list of `{Self}` can carry free text: sending it as public needs a written reason",
    label = "a list of bytes or characters is text",
    note = "say why it is safe to send as it is (#[telemetry(public, reason = \"...\")]), or redact it"
)]
pub trait NotTextItem: NotText {}

/// A measure or a value of a closed set: a type that can neither carry
/// text nor identify, public by default. Numbers, `bool`, `Duration`, the
/// values of `#[derive(TelemetryProperty)]` enums, objects whose every
/// field is public, and options, lists, maps and newtypes of those; not
/// text, not `Uuid`. A field whose name looks sensitive is sent as public
/// without a reason only when its type is one. Not an API.
#[doc(hidden)]
#[deprecated(note = "implemented only by telemetry-runtime and its derives (see the `audit` page)")]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a measure or a value of a closed set, and the field's name looks sensitive",
    label = "a sensitive name on a type that can carry text or identify needs a reason",
    note = "a field whose name has a sensitive word (listed on the audit page) is sent as public \
            without a reason only when its type can neither carry text nor identify: a number, bool, \
            Duration, a #[derive(TelemetryProperty)] enum, or an option, list, map or newtype of those",
    note = "text: use a #[derive(TelemetryProperty)] enum, #[telemetry(redact)] or \
            #[telemetry(opt_in)]; otherwise say why it is safe to send: \
            #[telemetry(public, reason = \"...\")]"
)]
pub trait ClosedValue: PublicByDefault + NotText {}

/// A type whose values can be the keys of a map property or the values of
/// a counter's label: the values of a `#[derive(TelemetryProperty)]` enum, a
/// fixed set the program declares, sent as names. Not an API.
#[doc(hidden)]
#[deprecated(note = "implemented only by telemetry-runtime's derives (see the `audit` page)")]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a closed set of names: it cannot be a map's key or a counter's label",
    label = "keys and labels are sent as names: they must come from a fixed set the program declares",
    note = "use a #[derive(TelemetryProperty)] enum: its values are the names, listed in the catalog; \
            text (String, &str, a leaked or static string) would be names chosen at run time"
)]
pub trait PropertyKey: ClosedValue {
    /// The key's name on the wire.
    fn __key(&self) -> &'static str;
}

/// Maps with enum keys: an object whose field names are the keys, in the
/// map's order. Public by default when their values are.
macro_rules! map {
    ($([$($generics:tt)*] $ty:ty;)*) => {$(
        impl<$($generics)*> Audited for $ty {}
        impl<$($generics)*> PropertyValue for $ty {
            const KIND: ValueKind = ValueKind::Map(&K::KIND, &V::KIND);
            const FIELDS: &'static [FieldSchema] = &[FieldSchema {
                name: "*",
                ty: "",
                classification: crate::Classification::Public,
                description: "one field per key of the map: a value of the key's enum",
                reason: None,
                values: &[],
                unit: V::UNIT,
                fields: V::FIELDS,
            }];
            fn to_value(&self) -> Value {
                Value::Object(
                    self.iter().map(|(k, v)| (Cow::Borrowed(k.__key()), v.to_value())).collect(),
                )
            }
            fn __pack(&self, out: &mut ValueWriter<'_>) {
                out.map(self.iter().map(|(k, v)| (k.__key(), v)));
            }
        }
        impl<$($generics)*> PublicByDefault for $ty where V: PublicByDefault {}
        impl<$($generics)*> PublicListItem for $ty where V: PublicByDefault {}
        impl<$($generics)*> NotText for $ty where V: NotText {}
        impl<$($generics)*> NotTextItem for $ty where V: NotText {}
        impl<$($generics)*> ClosedValue for $ty where V: ClosedValue {}
    )*};
}
map!(
    [K: PropertyKey, V: PropertyValue] std::collections::BTreeMap<K, V>;
    [K: PropertyKey, V: PropertyValue, S] std::collections::HashMap<K, V, S>;
);

/// Text (or bytes) whose raw value can be replaced by a length or a keyed hash.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not text: `redact = \"hash\"` and `redact = \"length\"` apply to text fields",
    label = "not text"
)]
pub trait RedactableText: PropertyValue {
    /// The length in characters (in bytes for byte buffers), or `None` for
    /// an absent value.
    fn redacted_length(&self) -> Option<usize>;
    /// The pre-hash of the text, or `None` for an absent value.
    fn redacted_digest(&self) -> Option<Digest>;
}

macro_rules! public_scalar {
    ($($ty:ty $([$unit:literal])? => $kind:ident, |$v:ident, $out:ident| $pack:expr;)*) => {$(
        impl Audited for $ty {
            $(const UNIT: &'static str = $unit;)?
        }
        impl PropertyValue for $ty {
            const KIND: ValueKind = ValueKind::$kind;
            #[inline]
            fn to_value(&self) -> Value {
                Value::from(*self)
            }
            #[inline]
            fn __pack(&self, $out: &mut ValueWriter<'_>) {
                let $v = *self;
                $pack
            }
        }
        impl PublicByDefault for $ty {}
        impl NotText for $ty {}
    )*};
}
public_scalar!(
    i8 => Number, |v, out| out.int(i64::from(v));
    i16 => Number, |v, out| out.int(i64::from(v));
    i32 => Number, |v, out| out.int(i64::from(v));
    i64 => Number, |v, out| out.int(v);
    isize => Number, |v, out| out.int(v as i64);
    u8 => Number, |v, out| out.uint(u64::from(v));
    u16 => Number, |v, out| out.uint(u64::from(v));
    u32 => Number, |v, out| out.uint(u64::from(v));
    u64 => Number, |v, out| out.uint(v);
    usize => Number, |v, out| out.uint(v as u64);
    f32 => Number, |v, out| out.float(f64::from(v));
    f64 => Number, |v, out| out.float(v);
    bool => Bool, |v, out| out.bool(v);
    Uuid => Uuid, |v, out| out.uuid(&v);
    Duration ["ms"] => Number, |v, out| out.float(crate::model::value::millis(v));
);

/// Lists of these are public, and not text; `u8`, `i8` and `u16` are left
/// out on purpose: a list of them is text in another form.
macro_rules! list_items {
    ($($ty:ty),*) => {$(
        impl PublicListItem for $ty {}
        impl NotTextItem for $ty {}
    )*};
}
list_items!(i16, i32, i64, isize, u32, u64, usize, f32, f64, bool, Uuid, Duration);

/// Measures: every scalar but `Uuid`, which identifies.
macro_rules! measures {
    ($($ty:ty),*) => {$(
        impl ClosedValue for $ty {}
    )*};
}
measures!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64, bool, Duration);
/// Text types: sent as they are once classified, and redactable.
macro_rules! text {
    ($($ty:ty => |$this:ident| $as_str:expr;)*) => {$(
        impl Audited for $ty {}
        impl PropertyValue for $ty {
            const KIND: ValueKind = ValueKind::Text;
            fn to_value(&self) -> Value {
                let $this = self;
                Value::Text(Cow::Owned(String::from($as_str)))
            }
            #[inline]
            fn __pack(&self, out: &mut ValueWriter<'_>) {
                let $this = self;
                out.text(&$as_str);
            }
        }
        impl RedactableText for $ty {
            fn redacted_length(&self) -> Option<usize> {
                let $this = self;
                Some($as_str.chars().count())
            }
            fn redacted_digest(&self) -> Option<Digest> {
                let $this = self;
                Some(Digest::of(&$as_str))
            }
        }
    )*};
}
text!(
    str => |s| s;
    String => |s| s.as_str();
    Cow<'_, str> => |s| s.as_ref();
    // Paths and OS strings are sent as text, with invalid UTF-8 replaced.
    Path => |s| s.to_string_lossy();
    PathBuf => |s| s.to_string_lossy();
    OsStr => |s| s.to_string_lossy();
    OsString => |s| s.to_string_lossy();
    char => |c| c.encode_utf8(&mut [0; 4]);
);

/// Byte buffers are text in another form: a list of numbers once
/// classified, and redactable (their length is in bytes).
macro_rules! bytes {
    ($($ty:ty),*) => {$(
        impl RedactableText for $ty {
            fn redacted_length(&self) -> Option<usize> {
                Some(self.len())
            }
            fn redacted_digest(&self) -> Option<Digest> {
                Some(Digest::of_bytes(self))
            }
        }
    )*};
}
bytes!([u8], Vec<u8>);

/// Smart pointers and references send what they point to, with its
/// classification. (`T` in the types given is the pointee: generic
/// parameters are not hygienic in `macro_rules!`.)
macro_rules! pointer {
    ($($ptr:ty),*) => {$(
        impl<T: PropertyValue + ?Sized> Audited for $ptr {
            const UNIT: &'static str = T::UNIT;
        }
        impl<T: PropertyValue + ?Sized> PropertyValue for $ptr {
            const KIND: ValueKind = T::KIND;
            const FIELDS: &'static [FieldSchema] = T::FIELDS;
            #[inline]
            fn to_value(&self) -> Value {
                (**self).to_value()
            }
            #[inline]
            fn __pack(&self, out: &mut ValueWriter<'_>) {
                (**self).__pack(out);
            }
        }
        impl<T: PublicByDefault + ?Sized> PublicByDefault for $ptr {}
        impl<T: PublicListItem + ?Sized> PublicListItem for $ptr {}
        impl<T: NotText + ?Sized> NotText for $ptr {}
        impl<T: NotTextItem + ?Sized> NotTextItem for $ptr {}
        impl<T: ClosedValue + ?Sized> ClosedValue for $ptr {}
        impl<T: RedactableText + ?Sized> RedactableText for $ptr {
            fn redacted_length(&self) -> Option<usize> {
                (**self).redacted_length()
            }
            fn redacted_digest(&self) -> Option<Digest> {
                (**self).redacted_digest()
            }
        }
    )*};
}
pointer!(Box<T>, Arc<T>, Rc<T>, &T);

impl<T: PropertyValue> Audited for Option<T> {
    const UNIT: &'static str = T::UNIT;
}
impl<T: PropertyValue> PropertyValue for Option<T> {
    const KIND: ValueKind = T::KIND;
    const FIELDS: &'static [FieldSchema] = T::FIELDS;
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, PropertyValue::to_value)
    }
    #[inline]
    fn __pack(&self, out: &mut ValueWriter<'_>) {
        match self {
            Some(value) => value.__pack(out),
            None => out.null(),
        }
    }
}
impl<T: PublicByDefault> PublicByDefault for Option<T> {}
impl<T: PublicListItem> PublicListItem for Option<T> {}
impl<T: NotText> NotText for Option<T> {}
impl<T: NotTextItem> NotTextItem for Option<T> {}
impl<T: ClosedValue> ClosedValue for Option<T> {}
impl<T: RedactableText> RedactableText for Option<T> {
    fn redacted_length(&self) -> Option<usize> {
        self.as_ref()?.redacted_length()
    }
    fn redacted_digest(&self) -> Option<Digest> {
        self.as_ref()?.redacted_digest()
    }
}

/// Lists: public by default when their items are [`PublicListItem`]s, not
/// text when they are [`NotTextItem`]s.
macro_rules! list {
    ($([$($generics:tt)*] $ty:ty;)*) => {$(
        impl<$($generics)*> Audited for $ty {
            const UNIT: &'static str = T::UNIT;
        }
        impl<$($generics)*> PropertyValue for $ty {
            const KIND: ValueKind = ValueKind::List(&T::KIND);
            const FIELDS: &'static [FieldSchema] = T::FIELDS;
            fn to_value(&self) -> Value {
                Value::List(self.iter().map(PropertyValue::to_value).collect())
            }
            fn __pack(&self, out: &mut ValueWriter<'_>) {
                out.list(&self[..]);
            }
        }
        impl<$($generics)*> PublicByDefault for $ty where T: PublicListItem {}
        impl<$($generics)*> PublicListItem for $ty where T: PublicListItem {}
        impl<$($generics)*> NotText for $ty where T: NotTextItem {}
        impl<$($generics)*> NotTextItem for $ty where T: NotTextItem {}
        impl<$($generics)*> ClosedValue for $ty where T: ClosedValue + PublicListItem + NotTextItem {}
    )*};
}
list!(
    [T: PropertyValue] [T];
    [T: PropertyValue] Vec<T>;
    [T: PropertyValue, const N: usize] [T; N];
);

/// Writing a property value without building a [`Value`] first: the
/// derives' output calls these, each with the bound its field's
/// classification requires, on the `Properties` its event's
/// `write_properties` was given. Being methods of that type (which the
/// sealed trait's signature fixes), they are what they are whatever path
/// the derive was told to reach the library by (`crate = "..."`).
impl Properties {
    /// Writes a field of a derived event at `level`, without building a
    /// [`Value`] first: text is copied straight into the buffer. Not an API:
    /// the derive's output calls it, with a name it audited.
    #[doc(hidden)]
    #[inline]
    pub fn __write_field<T: PropertyValue + ?Sized>(&mut self, name: FieldName, level: Level, value: &T) {
        self.write_named(name, level, |out| value.__pack(out));
    }

    /// A field without a classification: public by default.
    #[doc(hidden)]
    #[inline]
    pub fn __public<T: PublicByDefault + ?Sized>(&mut self, name: FieldName, value: &T) {
        self.__write_field(name, Level::Usage, value);
    }

    /// A public field whose name looks sensitive, without a reason: a
    /// measure or a value of a closed set.
    #[doc(hidden)]
    #[inline]
    pub fn __public_closed<T: ClosedValue + ?Sized>(&mut self, name: FieldName, value: &T) {
        self.__write_field(name, Level::Usage, value);
    }

    /// A field marked `public` without a reason: no free text.
    #[doc(hidden)]
    #[inline]
    pub fn __public_not_text<T: NotText + ?Sized>(&mut self, name: FieldName, value: &T) {
        self.__write_field(name, Level::Usage, value);
    }

    /// A field marked `public` with a written reason.
    #[doc(hidden)]
    #[inline]
    pub fn __public_with_reason<T: PropertyValue + ?Sized>(&mut self, name: FieldName, value: &T) {
        self.__write_field(name, Level::Usage, value);
    }

    /// An `opt_in` field: written only at `Full` consent.
    #[doc(hidden)]
    #[inline]
    pub fn __opt_in<T: PropertyValue + ?Sized>(&mut self, name: FieldName, value: &T) {
        if self.consent() >= Level::Full {
            self.__write_field(name, Level::Full, value);
        }
    }

    /// `redact` (dropped): the type is a property; nothing is sent.
    #[doc(hidden)]
    #[inline]
    pub fn __redact_drop<T: PropertyValue + ?Sized>(&mut self, _: &T) {}

    /// `redact = "marker"`, `"length"` or `"hash"`: what is sent instead.
    #[doc(hidden)]
    pub fn __redact_marker<T: PropertyValue + ?Sized>(&mut self, name: FieldName, value: &T) {
        self.__write_value(name, Level::Usage, Value::__redact_marker(value));
    }

    /// `redact = "length"`: the length in characters.
    #[doc(hidden)]
    pub fn __redact_length<T: RedactableText + ?Sized>(&mut self, name: FieldName, value: &T) {
        self.__write_value(name, Level::Usage, Value::__redact_length(value));
    }

    /// `redact = "hash"`: a keyed hash, computed by the worker.
    #[doc(hidden)]
    pub fn __redact_hash<T: RedactableText + ?Sized>(&mut self, name: FieldName, value: &T) {
        self.__write_value(name, Level::Usage, Value::__redact_hash(value));
    }
}

/// What a redacted value sends in its place, for the derives' output (an
/// object's `to_value` and the writers above).
impl Value {
    /// `redact = "marker"`: a fixed text when a value is present.
    #[doc(hidden)]
    pub fn __redact_marker<T: PropertyValue + ?Sized>(value: &T) -> Value {
        match value.to_value() {
            Value::Null => Value::Null,
            _ => Value::from("[redacted]"),
        }
    }

    /// `redact = "length"`: the length in characters.
    #[doc(hidden)]
    pub fn __redact_length<T: RedactableText + ?Sized>(value: &T) -> Value {
        value.redacted_length().map_or(Value::Null, Value::from)
    }

    /// `redact = "hash"`: a keyed hash, computed by the worker.
    #[doc(hidden)]
    pub fn __redact_hash<T: RedactableText + ?Sized>(value: &T) -> Value {
        value.redacted_digest().map_or(Value::Null, Value::Hashed)
    }
}

impl ValueWriter<'_> {
    /// A list of property values.
    pub fn list<T: PropertyValue>(&mut self, items: &[T]) {
        self.list_of(items.len(), |out, index| items[index].__pack(out));
    }

    /// The entries of a map, as an object whose field names are the keys
    /// (the values of an enum, so valid names).
    pub(crate) fn map<'v, V: PropertyValue + 'v>(
        &mut self,
        entries: impl Iterator<Item = (&'static str, &'v V)>,
    ) {
        let Some(mut object) = self.object_start() else { return };
        for (key, value) in entries {
            self.object_field(&mut object, FieldName::new(key), Level::Usage, value);
        }
        self.object_end(object);
    }

    /// Writes one field of an object at `level` (`Full` for an opt-in
    /// field): its name, then its value, with the level in its tag byte.
    #[doc(hidden)]
    pub fn object_field<T: PropertyValue + ?Sized>(
        &mut self,
        object: &mut ObjectStart,
        name: FieldName,
        level: Level,
        value: &T,
    ) {
        self.object_field_with(object, name, level, |out| value.__pack(out));
    }

    /// The fields of a derived object, with the bounds of their
    /// classification, as [`Properties::__public`] and the others.
    #[doc(hidden)]
    #[inline]
    pub fn __public<T: PublicByDefault + ?Sized>(
        &mut self,
        object: &mut ObjectStart,
        name: FieldName,
        value: &T,
    ) {
        self.object_field(object, name, Level::Usage, value);
    }

    #[doc(hidden)]
    #[inline]
    pub fn __public_closed<T: ClosedValue + ?Sized>(
        &mut self,
        object: &mut ObjectStart,
        name: FieldName,
        value: &T,
    ) {
        self.object_field(object, name, Level::Usage, value);
    }

    #[doc(hidden)]
    #[inline]
    pub fn __public_not_text<T: NotText + ?Sized>(
        &mut self,
        object: &mut ObjectStart,
        name: FieldName,
        value: &T,
    ) {
        self.object_field(object, name, Level::Usage, value);
    }

    #[doc(hidden)]
    #[inline]
    pub fn __public_with_reason<T: PropertyValue + ?Sized>(
        &mut self,
        object: &mut ObjectStart,
        name: FieldName,
        value: &T,
    ) {
        self.object_field(object, name, Level::Usage, value);
    }

    #[doc(hidden)]
    #[inline]
    pub fn __opt_in<T: PropertyValue + ?Sized>(
        &mut self,
        object: &mut ObjectStart,
        name: FieldName,
        value: &T,
    ) {
        if self.consent() >= Level::Full {
            self.object_field(object, name, Level::Full, value);
        }
    }

    #[doc(hidden)]
    #[inline]
    pub fn __redact_drop<T: PropertyValue + ?Sized>(&mut self, _: &T) {}

    #[doc(hidden)]
    pub fn __redact_marker<T: PropertyValue + ?Sized>(
        &mut self,
        object: &mut ObjectStart,
        name: FieldName,
        value: &T,
    ) {
        self.object_value(object, name, Value::__redact_marker(value));
    }

    #[doc(hidden)]
    pub fn __redact_length<T: RedactableText + ?Sized>(
        &mut self,
        object: &mut ObjectStart,
        name: FieldName,
        value: &T,
    ) {
        self.object_value(object, name, Value::__redact_length(value));
    }

    #[doc(hidden)]
    pub fn __redact_hash<T: RedactableText + ?Sized>(
        &mut self,
        object: &mut ObjectStart,
        name: FieldName,
        value: &T,
    ) {
        self.object_value(object, name, Value::__redact_hash(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(5u16.to_value(), Value::UInt(5));
        assert_eq!("x".to_value(), Value::Text("x".into()));
        assert_eq!(Some(String::from("y")).to_value(), Value::Text("y".into()));
        assert_eq!(None::<u8>.to_value(), Value::Null);
        assert_eq!(vec![1i32, -2].to_value(), Value::List(vec![Value::Int(1), Value::Int(-2)]));
        assert_eq!([3u32; 2].to_value(), Value::List(vec![Value::UInt(3), Value::UInt(3)]));
        assert_eq!(PathBuf::from("/tmp/x").to_value(), Value::Text("/tmp/x".into()));
        assert_eq!('é'.to_value(), Value::Text("é".into()));
        assert_eq!(Cow::Borrowed("é!").redacted_length(), Some(2));
        assert_eq!(vec![0xc3u8, 0xa9].redacted_length(), Some(2));
        assert_eq!(None::<String>.redacted_digest(), None);
        assert_eq!("a".redacted_digest(), String::from("a").redacted_digest());
        assert_eq!(b"a"[..].redacted_digest(), "a".redacted_digest());
        assert_ne!("a".redacted_digest(), "b".redacted_digest());
    }

    #[test]
    fn kinds() {
        assert_eq!(<Vec<Option<u32>>>::KIND, ValueKind::List(&ValueKind::Number));
        assert_eq!(<Box<str>>::KIND, ValueKind::Text);
        assert!(<Vec<u8>>::KIND != ValueKind::Text);
        assert_eq!(<[String; 2]>::KIND, ValueKind::List(&ValueKind::Text));
        assert_eq!(<Option<Duration>>::KIND, ValueKind::Number);
    }
}
