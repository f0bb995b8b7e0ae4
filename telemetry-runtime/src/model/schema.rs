//! The schema of an event: what it sends, at which level, and why. The derive
//! generates it from the struct and its doc comments.

use crate::Level;

/// How a field is treated before anything leaves the process.
///
/// Read from a schema in the [`Catalog`](crate::Catalog); a `match` needs a
/// wildcard arm, as more classifications may come.
///
/// ```
/// use telemetry_runtime::{Classification, RedactMode};
/// assert_eq!(Classification::Redact(RedactMode::Hash).to_string(), "redact(hash)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Classification {
    /// Sent at `Usage` and above.
    Public,
    /// Sent only at `Full`.
    OptIn,
    /// The raw value is never sent; what is sent instead is the mode.
    Redact(RedactMode),
}

/// What is sent in place of a redacted value; more modes may come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedactMode {
    /// Nothing: the property is left out.
    Drop,
    /// The fixed text `"[redacted]"` when a value is present.
    Marker,
    /// A hash keyed with a secret of this installation: equal values can be
    /// counted, never read back, and not linked across installations.
    Hash,
    /// The length of the text in characters.
    Length,
}

impl Classification {
    /// A short name for catalogs: `public`, `opt_in`, `redact(hash)`, ...
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Classification::Public => "public",
            Classification::OptIn => "opt_in",
            Classification::Redact(RedactMode::Drop) => "redact(drop)",
            Classification::Redact(RedactMode::Marker) => "redact(marker)",
            Classification::Redact(RedactMode::Hash) => "redact(hash)",
            Classification::Redact(RedactMode::Length) => "redact(length)",
        }
    }
}

impl std::fmt::Display for Classification {
    /// A short name, as catalogs show it: `public`, `opt_in`,
    /// `redact(hash)`, ...
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One property of an event, as the [`Catalog`](crate::Catalog) lists it.
/// Written by the derives and macros of this library; its fields are
/// public to read, and more may be added.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct FieldSchema {
    /// The property name on the wire.
    pub name: &'static str,
    /// The Rust type, as written.
    pub ty: &'static str,
    /// How the value is treated.
    pub classification: Classification,
    /// From the field's doc comment.
    pub description: &'static str,
    /// Why a sensitive-looking field is public, when one was required.
    pub reason: Option<&'static str>,
    /// The values the field can take when they come from a closed set (a
    /// `#[derive(TelemetryProperty)]` enum, or a list or option of one; a
    /// counter's label), as sent; empty for any other type.
    pub values: &'static [&'static str],
    /// The unit of a number, as the catalog shows it: `ms` for durations
    /// (sent as milliseconds, to the microsecond); empty for any other
    /// type. Read through the catalog's Markdown and JSON.
    pub(crate) unit: &'static str,
    /// The fields of an object (a struct with `#[derive(TelemetryProperty)]`),
    /// or of the objects in a list or option; empty for any other type. The
    /// classification of each applies within the field's own: an `opt_in`
    /// field of an object is sent only at `Full`.
    pub fields: &'static [FieldSchema],
}

/// An event: its name, description and fields, as the
/// [`Catalog`](crate::Catalog) lists it. Written by the derives and macros
/// of this library; its fields are public to read, and more may be added.
///
/// ```
/// use telemetry_runtime::{Level, TelemetryEvent};
///
/// /// A build finished.
/// #[derive(TelemetryEvent)]
/// struct BuildFinished {
///     /// Whether it succeeded.
///     ok: bool,
/// }
///
/// let schema = BuildFinished::SCHEMA;
/// assert_eq!((schema.name, schema.min_level), ("build_finished", Level::Usage));
/// assert_eq!(schema.fields[0].description, "Whether it succeeded.");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct EventSchema {
    /// The event name on the wire.
    pub name: &'static str,
    /// From the struct's doc comment.
    pub description: &'static str,
    /// The lowest consent level at which the event is sent.
    pub min_level: Level,
    /// The share of events kept, in (0, 1].
    pub sample_rate: f64,
    /// The properties, in declaration order (skipped fields are absent).
    pub fields: &'static [FieldSchema],
    /// The module that declared the event (`module_path!()` where the
    /// derive or macro was expanded, such as `mytool::events`); empty for a
    /// schema written by hand. [`Catalog::collect_under`](crate::Catalog::collect_under)
    /// selects by it. It is not part of the catalog's JSON or Markdown.
    pub module: &'static str,
}

impl EventSchema {
    /// Not an API: a schema with only a name, the default of a
    /// hand-written [`TelemetryEvent`](crate::TelemetryEvent) implementation.
    #[doc(hidden)]
    pub const fn undocumented(name: &'static str, min_level: Level) -> EventSchema {
        EventSchema { name, description: "", min_level, sample_rate: 1.0, fields: &[], module: "" }
    }
}

/// The shape of the values a declared property takes, checked when a
/// property built at run time is captured (see [`crate::event!`]): a value of
/// another shape is refused, so that a property declared as a number can
/// never carry text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueKind {
    /// `true` or `false`.
    Bool,
    /// An integer, a float or a duration.
    Number,
    /// Text (also a keyed hash of text).
    Text,
    /// A uuid.
    Uuid,
    /// One of a fixed set of texts: the values of a `#[derive(TelemetryProperty)]` enum.
    OneOf(&'static [&'static str]),
    /// A list whose items are all of one kind.
    List(&'static ValueKind),
    /// An object (a struct with `#[derive(TelemetryProperty)]`): its public
    /// fields and their kinds. A field that is `opt_in` or `redact` is not
    /// listed, so a value built at run time cannot carry it: only a typed
    /// object classifies such fields.
    Object(&'static [(&'static str, ValueKind)]),
    /// A map whose keys are the values of a `#[derive(TelemetryProperty)]`
    /// enum (`keys`, a [`ValueKind::OneOf`]) and whose values are all of
    /// one kind: sent as an object whose field names are the keys.
    Map(&'static ValueKind, &'static ValueKind),
}

impl ValueKind {
    /// The values of a closed set (an enum), or of the items of a list of
    /// one; empty for any other kind.
    pub(crate) const fn values(&self) -> &'static [&'static str] {
        match self {
            ValueKind::OneOf(values) => values,
            ValueKind::List(item) => item.values(),
            _ => &[],
        }
    }
}
