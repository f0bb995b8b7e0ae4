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
//! impls and the derives' output allow it.//!
//! The library's own implementations are in [`impls`]; the writers the
//! derives' output calls for a field of each classification, in
//! [`writers`].
#![allow(deprecated)]

mod impls;
mod writers;

use crate::model::packed::write::ValueWriter;
use crate::model::redact::Digest;
use crate::model::schema::{FieldSchema, ValueKind};
use crate::Value;

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
    /// The shape of the values of this type. Not an API: the derives and
    /// the catalog read it.
    #[doc(hidden)]
    const KIND: ValueKind;

    /// The fields of an object type, or of the objects this type holds (a
    /// list, an option); empty for any other type. Not an API: for the
    /// catalog.
    #[doc(hidden)]
    const FIELDS: &'static [FieldSchema] = &[];

    /// The value to send. Not an API: the derives' output calls it.
    #[doc(hidden)]
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

/// Text (or bytes) whose raw value can be replaced by a length or a keyed hash.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not text: `redact = \"hash\"` and `redact = \"length\"` apply to text fields",
    label = "not text"
)]
pub trait RedactableText: PropertyValue {
    /// The length in characters (in bytes for byte buffers), or `None` for
    /// an absent value. Not an API: the derives' output calls it.
    #[doc(hidden)]
    fn redacted_length(&self) -> Option<usize>;
    /// The pre-hash of the text, or `None` for an absent value. Not an API.
    #[doc(hidden)]
    fn redacted_digest(&self) -> Option<Digest>;
}
