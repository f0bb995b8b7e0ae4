//! The library's own implementations of the property traits: numbers,
//! `bool`, `Uuid` and `Duration`, text and bytes, smart pointers and
//! references, options, lists and maps with enum keys.
// The hidden traits are deprecated against impls written by hand; these
// are the library's own.
#![allow(deprecated)]

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{Audited, ClosedValue, NotText, NotTextItem, PropertyKey, PropertyValue};
use super::{PublicByDefault, PublicListItem, RedactableText};
use crate::model::packed::write::ValueWriter;
use crate::model::redact::Digest;
use crate::model::schema::{FieldSchema, ValueKind};
use crate::Value;

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
