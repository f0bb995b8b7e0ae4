//! Which Rust types can be event properties, and which are public by default.
//!
//! The derive calls these traits at each field's type, so an unsupported or
//! unclassified type is a compile error at that field.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

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
    ($($ty:ty),*) => {$(
        impl PropertyValue for $ty {
            #[inline]
            fn to_value(&self) -> Value {
                Value::from(*self)
            }
        }
        impl PublicByDefault for $ty {}
    )*};
}
public_scalar!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64, bool, Uuid, Duration);

macro_rules! text {
    ($($ty:ty),*) => {$(
        impl PropertyValue for $ty {
            fn to_value(&self) -> Value {
                Value::Text(Cow::Owned(str::to_owned(self.as_ref())))
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
}
impl<T: PublicByDefault> PublicByDefault for [T] {}

impl<T: PropertyValue> PropertyValue for Vec<T> {
    fn to_value(&self) -> Value {
        self.as_slice().to_value()
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
