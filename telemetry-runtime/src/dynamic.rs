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

use crate::redact::Digest;
use crate::schema::{Classification, EventSchema, FieldSchema, RedactMode, ValueKind};
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
    pub const fn __declared(schema: &'static EventSchema, kinds: &'static [ValueKind]) -> DynamicEvent {
        DynamicEvent { schema, kinds }
    }

    /// The event's name on the wire.
    pub fn name(&self) -> &'static str {
        self.schema.name
    }

    /// The declaration, as listed in the catalog.
    pub fn schema(&self) -> &'static EventSchema {
        self.schema
    }

    fn field(&self, name: &str) -> Option<(&'static FieldSchema, &'static ValueKind)> {
        let index = self.schema.fields.iter().position(|field| field.name == name)?;
        Some((&self.schema.fields[index], self.kinds.get(index)?))
    }

    /// Writes into `out` what `properties` may send at `level`, classified
    /// as declared; returns how many properties were refused.
    pub(crate) fn classify(&self, level: Level, properties: &Properties, out: &mut Properties) -> usize {
        let mut refused = 0;
        for (name, value) in properties.iter() {
            let Some((field, kind)) = self.field(name) else {
                refused += 1;
                warn_once(self.name(), name, "is not declared by the event");
                continue;
            };
            if !kind.admits(&value) {
                refused += 1;
                warn_once(self.name(), name, "has a value of another type than declared");
                continue;
            }
            let sent = match field.classification {
                Classification::Public => Some((Level::Usage, value)),
                Classification::OptIn if level >= Level::Full => Some((Level::Full, value)),
                Classification::OptIn => None,
                Classification::Redact(mode) => redacted(mode, &value).map(|v| (Level::Usage, v)),
            };
            if let Some((level, value)) = sent {
                out.push(field.name, level, &value);
            }
        }
        refused
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
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
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
