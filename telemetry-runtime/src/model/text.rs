//! The text a sink reads: a property's text ([`Text`]) and the keyed hash a
//! redacted value is sent as ([`KeyedHash`]), borrowed or computed as an
//! event is viewed (see [`super::view`]).

use std::fmt;

/// A text value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Text<'a>(pub(crate) &'a [u8]);

impl<'a> Text<'a> {
    /// The text (`AsRef<str>` and `Display` give it).
    #[inline]
    pub(crate) fn as_str(&self) -> &'a str {
        // It was a `&str` when it was packed: the check is a formality,
        // made only when a sink asks for the text as text.
        std::str::from_utf8(self.0).unwrap_or_default()
    }
    /// Its UTF-8 bytes, unchecked.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

/// The keyed hash a redacted value is sent as.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyedHash(pub(crate) [u8; 32]);

impl KeyedHash {
    /// The 32 lowercase hex digits.
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for KeyedHash {
    /// The 32 lowercase hex digits.
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for KeyedHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
