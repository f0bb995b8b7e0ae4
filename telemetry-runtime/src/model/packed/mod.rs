//! The packed form of an event's properties: its layout and the constants
//! of its tag byte, shared by its writer ([`write`](mod@write)) and its one reader
//! ([`read`]).
//!
//! A capture sits on its caller's hot path, so the properties are not a
//! tree of heap values: each is written as a few tagged bytes into one
//! buffer (a per-thread one for typed events), and the queue copies those
//! bytes into its own buffer. A capture then allocates nothing, and the
//! worker frees nothing per event.
//!
//! Layout of one property: name length (`u8`), name, value. A value is a
//! tag byte and its payload: nothing for null and booleans, 8 little-endian
//! bytes for numbers (one byte for an unsigned one below 256), a length
//! (`u8` below 256 bytes, `u32` above) and the bytes for text, 16 bytes for
//! a uuid or a digest, a `u32` count, the `u32` length of the items and the
//! items for a list (the length lets a reader step over a list without
//! walking it), and the same for an object, whose items are laid out like
//! properties (name length, name, value whose tag byte holds the field's
//! level and name flag). The tag byte of a property's value also holds the
//! property's level, whether its name needs JSON escaping and whether its
//! value nested too deep.
//!
//! The caller writes these bytes twice per capture (into a per-thread
//! buffer, then into the queue), and a backlog of events holds them all:
//! every byte saved is memory not touched.

pub(crate) mod read;
pub(crate) mod write;

/// Lists and objects nested deeper than this are refused: deeper JSON is refused by
/// common parsers (serde_json stops at 128), and would fail a whole batch.
pub(crate) const MAX_DEPTH: usize = 32;

/// The bits of a tag byte that hold the tag; a property's value also keeps
/// its level (bits 4 and 5) and [`CLEAN_NAME`] in the others.
const TAG_BITS: u8 = 0x0f;
/// Where a property's level starts in its value's tag byte.
pub(crate) const LEVEL_SHIFT: u8 = 4;

/// Set in the tag byte of a property's value when the property's name needs
/// no escaping in JSON (the derive's snake_case names): the encoder copies
/// it as it is.
pub(crate) const CLEAN_NAME: u8 = 0x80;

/// Set in the tag byte of a property's value when the value nested lists
/// deeper than [`MAX_DEPTH`] (and was written as null): the event is refused
/// while such a property is kept, and accepted again once it is replaced.
pub(crate) const TOO_DEEP: u8 = 0x40;

/// The tags of packed values, in the low bits ([`TAG_BITS`]) of a tag byte.
pub(crate) mod tag {
    pub(crate) const NULL: u8 = 0;
    pub(crate) const FALSE: u8 = 1;
    pub(crate) const TRUE: u8 = 2;
    pub(crate) const INT: u8 = 3;
    pub(crate) const UINT: u8 = 4;
    pub(crate) const FLOAT: u8 = 5;
    pub(crate) const TEXT: u8 = 6;
    pub(crate) const UUID: u8 = 7;
    pub(crate) const LIST: u8 = 8;
    pub(crate) const HASHED: u8 = 9;
    /// Text of at most 255 bytes: a `u8` length.
    pub(crate) const SHORT_TEXT: u8 = 10;
    /// An unsigned integer below 256, in one byte.
    pub(crate) const SMALL_UINT: u8 = 11;
    /// An object: a `u32` count, the `u32` length of its fields, and the
    /// fields laid out like properties.
    pub(crate) const OBJECT: u8 = 12;
    /// A hash already keyed (32 hex digits): a redacted value read back
    /// from the spool, which never stores the unkeyed pre-hash.
    pub(crate) const KEYED: u8 = 13;
}
