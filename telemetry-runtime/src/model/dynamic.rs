//! Events whose properties are built at run time, declared first.
//!
//! A dynamic event is declared with [`event!`](crate::event), which audits
//! its property names and classifications at compile time exactly like
//! `#[derive(TelemetryEvent)]` and lists it in the catalog. At capture, each
//! property is checked against the declaration: one the declaration does
//! not name, or whose value has another shape than the declared type (text
//! in a property declared as a number), is left out, counted and logged
//! once; the others are classified as declared.

use std::sync::Mutex;

use crate::model::packed::read::{entries, list_items, to_value, Packed};
use crate::model::redact::Digest;
use crate::model::schema::{Classification, EventSchema, FieldSchema, RedactMode, ValueKind};
use crate::{Level, Properties, Value};

/// An event declared with [`event!`](crate::event), captured with
/// [`capture_with`](crate::capture_with) and properties built at run time.
#[derive(Debug)]
pub struct DynamicEvent {
    schema: &'static EventSchema,
    /// The shape of each field's values, in the order of `schema.fields`.
    kinds: &'static [ValueKind],
}

impl DynamicEvent {
    /// Not an API: [`event!`](crate::event) and `#[requires_telemetry(instrument)]`
    /// call it with a schema they audited and registered.
    #[doc(hidden)]
    #[deprecated(
        note = "not an API: events for the dynamic API are declared with `telemetry_runtime::event!`"
    )]
    pub const fn __declared(schema: &'static EventSchema, kinds: &'static [ValueKind]) -> DynamicEvent {
        DynamicEvent { schema, kinds }
    }

    /// The event's name (its schema's).
    pub(crate) fn name(&self) -> &'static str {
        self.schema().name
    }

    /// The declaration, as listed in the catalog.
    pub fn schema(&self) -> &'static EventSchema {
        self.schema
    }

    fn field(&self, name: &[u8]) -> Option<(&'static FieldSchema, &'static ValueKind)> {
        let index = self.schema.fields.iter().position(|field| field.name.as_bytes() == name)?;
        Some((&self.schema.fields[index], self.kinds.get(index)?))
    }

    /// Writes into `out` what `properties` may send at `level`, classified
    /// as declared; returns how many properties were refused. Public and
    /// opt-in values are copied as packed, without decoding them; only a
    /// redacted value is decoded, to compute what is sent in its place.
    pub(crate) fn classify(&self, level: Level, properties: &Properties, out: &mut Properties) -> usize {
        let mut refused = 0;
        let mut redacted_values = Vec::new();
        properties.copy_into(out, |name, value| {
            let Some((field, kind)) = self.field(name) else {
                refused += 1;
                warn_once(self.name(), &String::from_utf8_lossy(name), "is not declared by the event");
                return None;
            };
            if !admits(kind, value) {
                refused += 1;
                warn_once(
                    self.name(),
                    &String::from_utf8_lossy(name),
                    "has a value of another type than declared",
                );
                return None;
            }
            match field.classification {
                Classification::Public => Some(Level::Usage),
                Classification::OptIn => (level >= Level::Full).then_some(Level::Full),
                Classification::Redact(mode) => {
                    if let Some(value) = redacted(mode, &to_value(*value)) {
                        redacted_values.push((field.name, value));
                    }
                    None
                }
            }
        });
        for (name, value) in redacted_values {
            out.push(name, Level::Usage, &value);
        }
        refused
    }
}

/// Whether a packed value has the shape `kind` declares. Null (an absent
/// value) always has.
fn admits(kind: &ValueKind, value: &Packed<'_>) -> bool {
    match (kind, value) {
        (_, Packed::Null) => true,
        (ValueKind::Bool, Packed::Bool(_)) => true,
        (ValueKind::Number, Packed::Int(_) | Packed::UInt(_) | Packed::Float(_)) => true,
        (ValueKind::Text, Packed::Text(_) | Packed::Hashed(_) | Packed::Keyed(_)) => true,
        (ValueKind::Uuid, Packed::Uuid(_)) => true,
        (ValueKind::OneOf(values), Packed::Text(text)) => values.iter().any(|v| v.as_bytes() == *text),
        (ValueKind::List(item), Packed::List(count, items)) => {
            list_items(*count, items).all(|value| admits(item, &value))
        }
        // An object's fields are among the declared ones (its public
        // fields), each of its declared shape.
        (ValueKind::Object(fields), Packed::Object(count, bytes)) => {
            entries(bytes).take(*count as usize).all(|entry| {
                fields.iter().any(|(name, kind)| name.as_bytes() == entry.name && admits(kind, &entry.value))
            })
        }
        // A map's keys are the values of its key enum.
        (ValueKind::Map(keys, kind), Packed::Object(count, bytes)) => {
            entries(bytes).take(*count as usize).all(|entry| {
                matches!(keys, ValueKind::OneOf(names) if names.iter().any(|n| n.as_bytes() == entry.name))
                    && admits(kind, &entry.value)
            })
        }
        _ => false,
    }
}

/// What a redacted value becomes, or `None` when nothing is sent.
fn redacted(mode: RedactMode, value: &Value) -> Option<Value> {
    match (mode, value) {
        (_, Value::Null) | (RedactMode::Drop, _) => None,
        (RedactMode::Marker, _) => Some(Value::from("[redacted]")),
        (RedactMode::Length, Value::Text(text)) => Some(Value::from(text.chars().count())),
        (RedactMode::Length, Value::List(items)) => Some(Value::from(items.len())),
        (RedactMode::Hash, Value::Text(text)) => Some(Value::Hashed(Digest::of(text))),
        (RedactMode::Hash, Value::Hashed(digest)) => Some(Value::Hashed(*digest)),
        // Length or hash of anything else: the audit allows them on text only.
        (RedactMode::Length | RedactMode::Hash, _) => None,
    }
}

/// Logs a refused property once per event and name, so that a loop does
/// not flood the host's log.
#[cold]
fn warn_once(event: &'static str, property: &str, problem: &str) {
    static SEEN: Mutex<Vec<(&'static str, String)>> = Mutex::new(Vec::new());
    let first = {
        // Not waited for: in a child forked while another thread held it,
        // it is never released; the warning is then left out.
        let mut seen = match SEEN.try_lock() {
            Ok(seen) => seen,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        let first = seen.len() < 1024 && !seen.iter().any(|(e, p)| *e == event && p == property);
        if first {
            seen.push((event, property.to_owned()));
        }
        first
    };
    // Logged without the lock: a host logger may capture an event itself.
    if first {
        log::warn!(
            "Telemetry property {property:?} of event {event:?} {problem}: left out (counted in `Stats::undeclared`). \
             Declare it in the event's `event!` declaration."
        );
    }
}
