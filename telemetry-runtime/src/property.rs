//! Which Rust types can be event properties, and which are public by default.
//!
//! The derive calls these traits at each field's type, so an unsupported or
//! unclassified type is a compile error at that field.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::properties::ValueWriter;
use crate::redact::Digest;
use crate::Value;

/// A type that can be sent as a property value.
///
/// Implemented for integers, floats, `bool`, text (`String`, `str`,
/// `Cow<str>`, `Box<str>`, `Arc<str>`), `Uuid`, `Duration` (sent as
/// milliseconds), `Option<T>`, `Vec<T>`, slices, references, and fieldless
/// enums with `#[derive(TelemetryProperty)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a telemetry property",
    label = "unsupported property type",
    note = "supported: integers, floats, bool, text (String, &str, Cow<str>), Uuid, Duration, \
            Option<T>, Vec<T>, and fieldless enums with #[derive(TelemetryProperty)]; \
            or mark the field #[telemetry(skip)]"
)]
pub trait PropertyValue {
    /// The value to send.
    fn to_value(&self) -> Value;

    /// Writes the value into an event's packed properties. The provided
    /// form goes through [`to_value`](PropertyValue::to_value); the
    /// library's own types write directly, without allocating.
    #[doc(hidden)]
    #[inline]
    fn pack(&self, out: &mut ValueWriter<'_>) {
        out.value(&self.to_value());
    }
}

/// A property type whose values are safe to send without a classification:
/// numbers, `bool`, `Uuid`, `Duration`, `#[derive(TelemetryProperty)]` enums,
/// and options and lists of those. Free text is deliberately not one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent without a classification",
    label = "free text that needs a classification, or not a supported property type",
    note = "free text: classify the field with #[telemetry(public)] (safe, low-cardinality text), \
            #[telemetry(redact)] (never sent raw) or #[telemetry(opt_in)] (sent only at full consent)",
    note = "other types must be supported properties: integers, floats, bool, Uuid, Duration, \
            Option<T>, Vec<T>, #[derive(TelemetryProperty)] enums; or mark the field #[telemetry(skip)]"
)]
pub trait PublicByDefault: PropertyValue {}

/// Text whose raw value can be replaced by a length or a keyed hash.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not text: `redact = \"hash\"` and `redact = \"length\"` apply to text fields",
    label = "not text"
)]
pub trait RedactableText {
    /// The length in characters, or `None` for an absent value.
    fn redacted_length(&self) -> Option<usize>;
    /// The pre-hash of the text, or `None` for an absent value.
    fn redacted_digest(&self) -> Option<Digest>;
}

macro_rules! public_scalar {
    ($($ty:ty => |$v:ident, $out:ident| $pack:expr),* $(,)?) => {$(
        impl PropertyValue for $ty {
            #[inline]
            fn to_value(&self) -> Value {
                Value::from(*self)
            }
            #[inline]
            fn pack(&self, $out: &mut ValueWriter<'_>) {
                let $v = *self;
                $pack
            }
        }
        impl PublicByDefault for $ty {}
    )*};
}
public_scalar!(
    i8 => |v, out| out.int(i64::from(v)),
    i16 => |v, out| out.int(i64::from(v)),
    i32 => |v, out| out.int(i64::from(v)),
    i64 => |v, out| out.int(v),
    isize => |v, out| out.int(v as i64),
    u8 => |v, out| out.uint(u64::from(v)),
    u16 => |v, out| out.uint(u64::from(v)),
    u32 => |v, out| out.uint(u64::from(v)),
    u64 => |v, out| out.uint(v),
    usize => |v, out| out.uint(v as u64),
    f32 => |v, out| out.float(f64::from(v)),
    f64 => |v, out| out.float(v),
    bool => |v, out| out.bool(v),
    Uuid => |v, out| out.uuid(&v),
    Duration => |v, out| out.float(v.as_secs_f64() * 1000.0),
);

macro_rules! text {
    ($($ty:ty),*) => {$(
        impl PropertyValue for $ty {
            fn to_value(&self) -> Value {
                Value::Text(Cow::Owned(str::to_owned(self.as_ref())))
            }
            #[inline]
            fn pack(&self, out: &mut ValueWriter<'_>) {
                out.text(self.as_ref());
            }
        }
        impl RedactableText for $ty {
            fn redacted_length(&self) -> Option<usize> {
                Some(AsRef::<str>::as_ref(self).chars().count())
            }
            fn redacted_digest(&self) -> Option<Digest> {
                Some(Digest::of(self.as_ref()))
            }
        }
    )*};
}
text!(str, String, Box<str>, Arc<str>, Rc<str>, Cow<'_, str>);

impl<T: PropertyValue + ?Sized> PropertyValue for &T {
    #[inline]
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
    #[inline]
    fn pack(&self, out: &mut ValueWriter<'_>) {
        (**self).pack(out);
    }
}
impl<T: PublicByDefault + ?Sized> PublicByDefault for &T {}
impl<T: RedactableText + ?Sized> RedactableText for &T {
    fn redacted_length(&self) -> Option<usize> {
        (**self).redacted_length()
    }
    fn redacted_digest(&self) -> Option<Digest> {
        (**self).redacted_digest()
    }
}

impl<T: PropertyValue> PropertyValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, PropertyValue::to_value)
    }
    #[inline]
    fn pack(&self, out: &mut ValueWriter<'_>) {
        match self {
            Some(value) => value.pack(out),
            None => out.null(),
        }
    }
}
impl<T: PublicByDefault> PublicByDefault for Option<T> {}
impl<T: RedactableText> RedactableText for Option<T> {
    fn redacted_length(&self) -> Option<usize> {
        self.as_ref()?.redacted_length()
    }
    fn redacted_digest(&self) -> Option<Digest> {
        self.as_ref()?.redacted_digest()
    }
}

impl<T: PropertyValue> PropertyValue for [T] {
    fn to_value(&self) -> Value {
        Value::List(self.iter().map(PropertyValue::to_value).collect())
    }
    fn pack(&self, out: &mut ValueWriter<'_>) {
        out.list(self);
    }
}
impl<T: PublicByDefault> PublicByDefault for [T] {}

impl<T: PropertyValue> PropertyValue for Vec<T> {
    fn to_value(&self) -> Value {
        self.as_slice().to_value()
    }
    fn pack(&self, out: &mut ValueWriter<'_>) {
        out.list(self);
    }
}
impl<T: PublicByDefault> PublicByDefault for Vec<T> {}

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
        assert_eq!(Cow::Borrowed("é!").redacted_length(), Some(2));
        assert_eq!(None::<String>.redacted_digest(), None);
        assert_eq!("a".redacted_digest(), String::from("a").redacted_digest());
        assert_ne!("a".redacted_digest(), "b".redacted_digest());
    }
}
