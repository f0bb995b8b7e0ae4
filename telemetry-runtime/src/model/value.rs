//! Property values and the property list an event is captured with.

use std::borrow::Cow;
use std::time::Duration;

use uuid::Uuid;

use crate::model::redact::Digest;

/// One property value of a dynamic event (see [`event!`](crate::event)).
///
/// A value says nothing about whether it may be sent: the declaration of
/// the property it is given to does. A property declared as a number takes
/// only numbers, one declared as an enum only that enum's values, and text
/// is sent as its declared classification says (as is when `public`, at
/// `Full` only when `opt_in`, a hash or a length when `redact`).
///
/// ```
/// use std::time::Duration;
/// use telemetry_runtime::Value;
/// assert_eq!(Value::from(3u8), Value::UInt(3));
/// assert_eq!(Value::from("build"), Value::Text("build".into()));
/// assert_eq!(Value::from(Duration::from_micros(1500)), Value::Float(1.5));
/// assert_eq!(Value::from(None::<u32>), Value::Null);
/// ```
///
/// Values are built from their variants (text chosen at run time as
/// `Value::Text(text.into())`) or with `From`. A text that must not be sent
/// is declared `redact = "hash"` (see [`event!`](crate::event)), and the
/// library hashes it. More kinds of value may come (a
/// timestamp, say), so a `match` on a value needs a wildcard arm: an
/// encoder written against today's variants keeps compiling, and decides
/// there what to do with one it does not know.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// No value: the property is omitted from the event.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A float; NaN and infinities are omitted when sent.
    Float(f64),
    /// Text that is safe to send.
    Text(Cow<'static, str>),
    /// A uuid, sent in its hyphenated text form (formatted by the worker,
    /// not by the caller).
    Uuid(Uuid),
    /// A list of values.
    List(Vec<Value>),
    /// An object: named values, in order (a struct with
    /// `#[derive(TelemetryProperty)]`). Sent as a JSON object, without its
    /// null values.
    Object(Vec<(Cow<'static, str>, Value)>),
    /// A redacted text, sent as a hash keyed with this installation's secret:
    /// equal texts give equal hashes within one installation only. Built by
    /// the library for a field declared `redact = "hash"`; what it holds is
    /// the text's unkeyed pre-hash, which is not an API.
    #[doc(hidden)]
    Hashed(Digest),
}

impl Value {
    /// `text` as the library hashes a field declared `redact = "hash"`.
    #[cfg(test)]
    pub(crate) fn hashed(text: &str) -> Value {
        Value::Hashed(Digest::of(text))
    }
}

macro_rules! from_int {
    ($variant:ident as $wide:ty: $($ty:ty),*) => {$(
        impl From<$ty> for Value {
            fn from(value: $ty) -> Value {
                Value::$variant(value as $wide)
            }
        }
    )*};
}
from_int!(Int as i64: i8, i16, i32, i64, isize);
from_int!(UInt as u64: u8, u16, u32, u64, usize);

impl From<bool> for Value {
    fn from(value: bool) -> Value {
        Value::Bool(value)
    }
}

impl From<f32> for Value {
    fn from(value: f32) -> Value {
        Value::Float(f64::from(value))
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Value {
        Value::Float(value)
    }
}

impl From<&'static str> for Value {
    fn from(value: &'static str) -> Value {
        Value::Text(Cow::Borrowed(value))
    }
}

impl From<Uuid> for Value {
    fn from(value: Uuid) -> Value {
        Value::Uuid(value)
    }
}

/// Durations are sent as milliseconds, to the nearest microsecond:
/// 102,624 ns is `0.103`.
impl From<Duration> for Value {
    fn from(value: Duration) -> Value {
        Value::Float(millis(value))
    }
}

/// A duration as it is sent: milliseconds, rounded to the nearest
/// microsecond, so with at most three decimals on the wire (`0.103`, not
/// the `0.10262399999999999` that `as_secs_f64() * 1000.0` gives for
/// 102,624 ns). The unit stays the millisecond that fields named
/// `duration_ms` promise, and the value a float, as before: the same JSON
/// number for PostHog, the same `double` attribute for OTLP, the same
/// float in the spool. A whole number of microseconds below 2^53 (285
/// years) is exact in an `f64`, and divided by 1000 it is the double
/// nearest to its three-decimal value, which is what a shortest
/// round-trip formatter (serde_json's, ours) then prints.
#[inline]
pub(crate) fn millis(duration: Duration) -> f64 {
    let micros = duration
        .as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from((duration.subsec_nanos() + 500) / 1000));
    micros as f64 / 1000.0
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Value {
        value.map_or(Value::Null, Into::into)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(value: Vec<T>) -> Value {
        Value::List(value.into_iter().map(Into::into).collect())
    }
}
