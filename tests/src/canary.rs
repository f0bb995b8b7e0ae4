//! Canary values for privacy tests: a text that must never leave the
//! process, easy to find in any bytes that did.
//!
//! Each canary is `<kind>-<32 random hex digits>`; searches look for the
//! random part alone, in lower and upper case, so a value that was cut,
//! prefixed or re-cased on its way out is still found.

use crate::server::contains_bytes;

/// One canary value.
#[derive(Debug, Clone)]
pub struct Canary {
    text: String,
    tag: String,
}

impl Canary {
    /// A fresh canary; `kind` (letters and `_`) says what it stands for.
    pub fn new(kind: &str) -> Canary {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        Canary { text: format!("{kind}-{tag}"), tag }
    }

    /// The value to put in a field.
    pub fn text(&self) -> String {
        self.text.clone()
    }

    /// Its length in characters.
    pub fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// Never true: a canary always has text (for clippy's `len` rule).
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Whether any part of `bytes` carries the canary.
    pub fn found_in(&self, bytes: &[u8]) -> bool {
        contains_bytes(bytes, self.tag.as_bytes())
            || contains_bytes(bytes, self.tag.to_uppercase().as_bytes())
    }

    /// Whether `text` carries the canary.
    pub fn found_in_text(&self, text: &str) -> bool {
        self.found_in(text.as_bytes())
    }
}
