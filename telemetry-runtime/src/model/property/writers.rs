//! The writers the derives' output calls for a field of each
//! classification, each with the bound that classification requires of the
//! field's type: on [`Properties`] for an event's fields, on [`ValueWriter`]
//! for an object's, and what a redacted value sends in its place.
// The bounds name the hidden traits, deprecated against impls written by
// hand.
#![allow(deprecated)]

use super::{ClosedValue, NotText, PropertyValue, PublicByDefault, RedactableText};
use crate::model::packed::write::{FieldName, ObjectStart, ValueWriter};
use crate::{Level, Properties, Value};

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
