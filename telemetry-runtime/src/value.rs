//! Property values and the property list an event is captured with.

use std::borrow::Cow;
use std::time::Duration;

use uuid::Uuid;

use crate::redact::Digest;
use crate::Level;

/// One property value, already classified: whatever is in a `Value` may be
/// sent at the consent level it was built for.
///
/// Text enters only two ways: a `&'static str` (a literal in the program, so
/// never user input) or [`Value::text`], which states in the code that a
/// runtime string is public.
///
/// ```
/// use std::time::Duration;
/// use telemetry_runtime::Value;
/// assert_eq!(Value::from(3u8), Value::UInt(3));
/// assert_eq!(Value::from("build"), Value::Text("build".into()));
/// assert_eq!(Value::from(Duration::from_micros(1500)), Value::Float(1.5));
/// assert_eq!(Value::from(None::<u32>), Value::Null);
/// ```
#[derive(Debug, Clone, PartialEq)]
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
    /// A redacted text, sent as a hash keyed with this installation's secret:
    /// equal texts give equal hashes within one installation only.
    Hashed(Digest),
}

impl Value {
    /// A runtime string that the caller declares public (low-cardinality and
    /// free of personal data, like a subcommand name chosen from a fixed set).
    pub fn text(text: impl Into<String>) -> Value {
        Value::Text(Cow::Owned(text.into()))
    }

    /// A text that must not be sent, reduced to a keyed hash.
    pub fn hashed(text: &str) -> Value {
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

/// Durations are sent as milliseconds, with a fraction.
impl From<Duration> for Value {
    fn from(value: Duration) -> Value {
        Value::Float(value.as_secs_f64() * 1000.0)
    }
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

/// The properties of one event, in order.
///
/// ```
/// use telemetry_runtime::{Properties, Value};
/// let props = Properties::new()
///     .with("command", "build")
///     .with("duration_ms", 12.5)
///     .with("target", Value::text(String::from("x86_64")));
/// assert_eq!(props.get("command"), Some(&Value::from("build")));
/// assert_eq!(props.len(), 3);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Properties {
    /// Each property with the consent level it needs: `Full` for opt-in
    /// values, so that a sink limited to `Usage` can leave them out.
    entries: Vec<(&'static str, Value, Level)>,
}

impl Properties {
    /// An empty list.
    pub fn new() -> Properties {
        Properties::default()
    }

    /// An empty list with room for `n` properties.
    pub fn with_capacity(n: usize) -> Properties {
        Properties { entries: Vec::with_capacity(n) }
    }

    /// Adds a property. Names must be non-empty and must not start with `$`
    /// (reserved for the library's own properties): such a property is
    /// dropped with a warning.
    pub fn with(mut self, name: &'static str, value: impl Into<Value>) -> Properties {
        self.insert(name, value);
        self
    }

    /// Adds a property that is sent only at `Full` consent: below it, and to
    /// sinks whose route is limited to `Usage`, it is left out.
    pub fn with_opt_in(mut self, name: &'static str, value: impl Into<Value>) -> Properties {
        self.insert_at(name, value.into(), Level::Full);
        self
    }

    /// Adds a property in place; see [`Properties::with`]. Setting a name
    /// again replaces its value.
    pub fn insert(&mut self, name: &'static str, value: impl Into<Value>) {
        self.insert_at(name, value.into(), Level::Usage);
    }

    fn insert_at(&mut self, name: &'static str, value: Value, level: Level) {
        if name.is_empty() || name.starts_with('$') {
            log::warn!("Telemetry property name {name:?} is reserved or empty: dropped.");
            return;
        }
        match self.entries.iter_mut().find(|(n, ..)| *n == name) {
            Some(entry) => *entry = (name, value, level),
            None => self.entries.push((name, value, level)),
        }
    }

    /// Adds a property whose name is known to be unique and valid (checked
    /// at compile time by the derive).
    #[doc(hidden)]
    pub fn push(&mut self, name: &'static str, value: Value) {
        self.entries.push((name, value, Level::Usage));
    }

    /// Adds an opt-in property whose name was checked at compile time.
    #[doc(hidden)]
    pub fn push_opt_in(&mut self, name: &'static str, value: Value) {
        self.entries.push((name, value, Level::Full));
    }

    /// The value of a property, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(n, ..)| *n == name).map(|(_, v, _)| v)
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The properties in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.entries.iter().map(|(n, v, _)| (*n, v))
    }

    /// The properties a sink limited to `level` may receive.
    pub(crate) fn iter_at(&self, level: Level) -> impl Iterator<Item = (&'static str, &Value)> {
        self.entries.iter().filter(move |(.., l)| *l <= level).map(|(n, v, _)| (*n, v))
    }

    /// The highest level any property needs.
    pub(crate) fn max_level(&self, limit: Level) -> Level {
        self.entries.iter().map(|(.., l)| *l).filter(|l| *l <= limit).max().unwrap_or(Level::Usage)
    }

    pub(crate) fn into_values(self) -> Vec<Value> {
        self.entries.into_iter().map(|(_, v, _)| v).collect()
    }
}
