//! Keyed hashes for `redact = "hash"` fields: stable within one installation,
//! unlinkable across installations.
//!
//! The caller's thread reduces the text to a [`Digest`] (an unkeyed 128-bit
//! SipHash; the raw text is not kept). The worker then hashes the digest with
//! the installation's secret key, kept in a 0600 file beside the install id,
//! so the value on the wire cannot be recomputed from a guessed input by
//! anyone who lacks that file.

use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

/// The pre-hash of a redacted text value. Sent only after keyed hashing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest(u128);

impl Digest {
    /// Reduces `text` to its pre-hash.
    pub fn of(text: &str) -> Digest {
        let mut hasher = SipHasher13::new_with_keys(0x7465_6c65_6d65_7472, 0x792d_7265_6461_6374);
        hasher.write(text.as_bytes());
        Digest(hasher.finish128().as_u128())
    }

    /// The keyed hash sent on the wire: 32 hex digits.
    pub(crate) fn keyed(self, key: (u64, u64)) -> String {
        let mut hasher = SipHasher13::new_with_keys(key.0, key.1);
        hasher.write(&self.0.to_le_bytes());
        format!("{:032x}", hasher.finish128().as_u128())
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print even the pre-hash: logs are not a place for it.
        f.write_str("Digest(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hash_is_stable_per_key_and_differs_across_keys() {
        let d = Digest::of("https://internal.example.com");
        assert_eq!(d.keyed((1, 2)), d.keyed((1, 2)));
        assert_ne!(d.keyed((1, 2)), d.keyed((3, 4)));
        assert_eq!(d.keyed((1, 2)).len(), 32);
        assert_eq!(format!("{d:?}"), "Digest(..)");
    }
}
