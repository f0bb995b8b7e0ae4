//! The one reader of the packed form: the properties, object fields and
//! list items packed in a buffer, read back in order without copying, and
//! turned into [`Value`]s where an owned value is wanted.

use std::borrow::Cow;
use std::ops::Range;

use uuid::Uuid;

use super::{tag, CLEAN_NAME, LEVEL_SHIFT, TAG_BITS, TOO_DEEP};
use crate::model::redact::Digest;
use crate::{Level, Value};

/// One packed property.
pub(crate) struct PackedProperty<'a> {
    /// The name's bytes: it was a `&str` when written, so it is UTF-8, but
    /// it is not checked again on every read.
    pub(crate) name: &'a [u8],
    /// The name needs no escaping in JSON.
    pub(crate) name_is_clean: bool,
    pub(crate) level: Level,
    pub(crate) value: Packed<'a>,
    /// The value nested lists too deep (and was written as null).
    pub(crate) too_deep: bool,
    /// Where the whole property is in the buffer.
    pub(crate) span: Range<usize>,
}

/// The properties packed in `bytes`, in order. Stops at the first malformed
/// byte rather than panic (the buffer is only ever written by the packed
/// form's writer).
pub(crate) fn entries(bytes: &[u8]) -> Entries<'_> {
    Entries { bytes, at: 0, left: u32::MAX }
}

/// The first `count` fields of an object packed in `bytes`.
pub(crate) fn fields(count: u32, bytes: &[u8]) -> Entries<'_> {
    Entries { bytes, at: 0, left: count }
}

/// The reader of packed properties (see [`entries`]).
#[derive(Clone)]
pub(crate) struct Entries<'a> {
    bytes: &'a [u8],
    at: usize,
    left: u32,
}

impl<'a> Entries<'a> {
    /// What is left to read: how many entries, and their bytes.
    pub(crate) fn rest(&self) -> (u32, &'a [u8]) {
        (self.left, self.bytes.get(self.at..).unwrap_or_default())
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = PackedProperty<'a>;

    // Inlined into its callers: it runs for every property the worker
    // encodes, and returning an entry through memory stalls the reader.
    #[inline(always)]
    fn next(&mut self) -> Option<PackedProperty<'a>> {
        if self.left == 0 {
            return None;
        }
        let bytes = self.bytes;
        let start = self.at;
        let name_len = usize::from(*bytes.get(start)?);
        let name = bytes.get(start + 1..start + 1 + name_len)?;
        let at = start + 1 + name_len;
        let flags = *bytes.get(at)?;
        let (value, len) = read(bytes.get(at..)?)?;
        self.at = at + len;
        self.left -= 1;
        Some(PackedProperty {
            name,
            name_is_clean: flags & CLEAN_NAME != 0,
            too_deep: flags & TOO_DEEP != 0,
            level: Level::from_u8(flags >> LEVEL_SHIFT & 0x3),
            value,
            span: start..self.at,
        })
    }
}

/// A packed value, read back.
#[derive(Clone, Copy)]
pub(crate) enum Packed<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// UTF-8 (it was a `&str` when written).
    Text(&'a [u8]),
    Uuid(Uuid),
    Hashed(Digest),
    /// A keyed hash's 32 hex digits.
    Keyed([u8; 32]),
    /// The count and the packed items.
    List(u32, &'a [u8]),
    /// The count and the packed fields, read with [`entries`].
    Object(u32, &'a [u8]),
}

/// Reads the value at the start of `bytes`, and its packed length.
// Inlined: it runs for every value the worker encodes, and returning its
// result through memory stalls the reader.
#[inline(always)]
fn read(bytes: &[u8]) -> Option<(Packed<'_>, usize)> {
    let eight = || bytes.get(1..9).and_then(|b| <[u8; 8]>::try_from(b).ok());
    let sixteen = || bytes.get(1..17).and_then(|b| <[u8; 16]>::try_from(b).ok());
    Some(match *bytes.first()? & TAG_BITS {
        tag::NULL => (Packed::Null, 1),
        tag::FALSE => (Packed::Bool(false), 1),
        tag::TRUE => (Packed::Bool(true), 1),
        tag::INT => (Packed::Int(i64::from_le_bytes(eight()?)), 9),
        tag::UINT => (Packed::UInt(u64::from_le_bytes(eight()?)), 9),
        tag::SMALL_UINT => (Packed::UInt(u64::from(*bytes.get(1)?)), 2),
        tag::FLOAT => (Packed::Float(f64::from_le_bytes(eight()?)), 9),
        tag::TEXT => {
            let end = 5 + read_u32(bytes, 1)? as usize;
            (Packed::Text(bytes.get(5..end)?), end)
        }
        tag::SHORT_TEXT => {
            let end = 2 + usize::from(*bytes.get(1)?);
            (Packed::Text(bytes.get(2..end)?), end)
        }
        tag::UUID => (Packed::Uuid(Uuid::from_bytes(sixteen()?)), 17),
        tag::HASHED => (Packed::Hashed(Digest::from_bytes(sixteen()?)), 17),
        tag::KEYED => (Packed::Keyed(bytes.get(1..33)?.try_into().ok()?), 33),
        tag::LIST => {
            let end = 9 + read_u32(bytes, 5)? as usize;
            (Packed::List(read_u32(bytes, 1)?, bytes.get(9..end)?), end)
        }
        tag::OBJECT => {
            let end = 9 + read_u32(bytes, 5)? as usize;
            (Packed::Object(read_u32(bytes, 1)?, bytes.get(9..end)?), end)
        }
        _ => return None,
    })
}

impl<'a> Packed<'a> {
    /// Reads the value at the start of `bytes`; anything malformed reads as
    /// null.
    #[cfg(test)]
    pub(crate) fn read(bytes: &'a [u8]) -> Packed<'a> {
        read(bytes).map_or(Packed::Null, |(value, _)| value)
    }

    /// Whether this value is left out of an event: null, or a float that
    /// JSON cannot carry.
    pub(crate) fn is_omitted(&self) -> bool {
        match self {
            Packed::Null => true,
            Packed::Float(f) => !f.is_finite(),
            _ => false,
        }
    }
}

/// The items of a packed list, given its count and the bytes from its first
/// item on.
pub(crate) fn list_items(count: u32, bytes: &[u8]) -> ListItems<'_> {
    ListItems { left: count, bytes }
}

/// The items of a packed list ([`list_items`]). A type of its own, its
/// `next` always inlined: the encoders' list loops stay one loop (as a
/// `map_while` it came to be called out of line once lists had more
/// readers; what the worker's reading costs per event is in BENCHMARKS.md,
/// "Changes to the hot path, and what each gave").
pub(crate) struct ListItems<'a> {
    left: u32,
    bytes: &'a [u8],
}

impl<'a> ListItems<'a> {
    /// What is left to read: how many items, and their bytes.
    #[inline(always)]
    pub(crate) fn rest(&self) -> (u32, &'a [u8]) {
        (self.left, self.bytes)
    }
}

impl<'a> Iterator for ListItems<'a> {
    type Item = Packed<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<Packed<'a>> {
        if self.left == 0 {
            return None;
        }
        let Some((item, len)) = read(self.bytes) else {
            self.left = 0;
            return None;
        };
        let Some(rest) = self.bytes.get(len..) else {
            self.left = 0;
            return None;
        };
        self.bytes = rest;
        self.left -= 1;
        Some(item)
    }
}

pub(crate) fn to_value(packed: Packed<'_>) -> Value {
    match packed {
        Packed::Null => Value::Null,
        Packed::Bool(b) => Value::Bool(b),
        Packed::Int(i) => Value::Int(i),
        Packed::UInt(u) => Value::UInt(u),
        Packed::Float(f) => Value::Float(f),
        Packed::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned().into()),
        Packed::Uuid(u) => Value::Uuid(u),
        Packed::Hashed(d) => Value::Hashed(d),
        Packed::Keyed(hex) => Value::Text(String::from_utf8_lossy(&hex).into_owned().into()),
        Packed::List(count, items) => Value::List(list_items(count, items).map(to_value).collect()),
        Packed::Object(count, packed) => Value::Object(
            fields(count, packed)
                .map(|entry| {
                    (Cow::Owned(String::from_utf8_lossy(entry.name).into_owned()), to_value(entry.value))
                })
                .collect(),
        ),
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Properties;

    #[test]
    fn every_kind_of_value_reads_back() {
        let id = Uuid::from_u128(0x1234);
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(-7),
            Value::UInt(u64::MAX),
            Value::Float(1.5),
            Value::from("text with \"quotes\" and é"),
            Value::Uuid(id),
            Value::hashed("secret"),
            Value::List(vec![
                Value::from("a"),
                Value::List(vec![Value::UInt(1), Value::Null]),
                Value::Int(2),
            ]),
            Value::List(vec![]),
            // Each side of the one-byte forms.
            Value::UInt(255),
            Value::UInt(256),
            Value::Text("x".repeat(255).into()),
            Value::Text("y".repeat(256).into()),
        ];
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o"];
        let mut props = Properties::new();
        for (name, value) in names.iter().zip(&values) {
            props.insert(name, value.clone());
        }
        assert_eq!(props.len(), values.len());
        let read: Vec<(String, Value)> = props.iter().map(|(n, v)| (n.to_owned(), v)).collect();
        let expected: Vec<(String, Value)> =
            names.iter().map(|n| n.to_string()).zip(values.iter().cloned()).collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn malformed_bytes_read_as_nothing() {
        let props = Properties::new().with("a", "text").with("b", 1u8);
        let bytes = props.as_bytes();
        for cut in 0..bytes.len() {
            // Never panics; stops before the cut-off property.
            assert!(entries(&bytes[..cut]).count() <= 1);
        }
        assert!(matches!(Packed::read(&[200]), Packed::Null));
        assert!(matches!(Packed::read(&[]), Packed::Null));
    }
}
