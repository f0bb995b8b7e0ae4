//! Keyed hashes for `redact = "hash"` fields: stable within one installation,
//! unlinkable across installations.
//!
//! The caller's thread reduces the text to a [`Digest`] (SHA-256, of which
//! 128 bits are kept; the raw text is not). The worker then computes an
//! HMAC-SHA256 of the digest with the installation's secret key, kept in a
//! 0600 file beside the install id, so the value on the wire cannot be
//! recomputed from a guessed input by anyone who lacks that file.

use ring::{digest, hmac};

/// The pre-hash of a redacted text value. Sent only after keyed hashing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest([u8; 16]);

impl Digest {
    /// Reduces `text` to its pre-hash.
    pub fn of(text: &str) -> Digest {
        Digest::of_bytes(text.as_bytes())
    }

    /// Reduces bytes (a path, an OS string, a byte buffer) to their pre-hash.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        let full = digest::digest(&digest::SHA256, bytes);
        let mut kept = [0; 16];
        kept.copy_from_slice(&full.as_ref()[..16]);
        Digest(kept)
    }

    pub(crate) fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    pub(crate) fn from_bytes(bytes: [u8; 16]) -> Digest {
        Digest(bytes)
    }

    /// The keyed hash sent on the wire: 32 lowercase hex digits.
    pub(crate) fn keyed(self, key: (u64, u64)) -> [u8; 32] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut secret = [0; 16];
        secret[..8].copy_from_slice(&key.0.to_le_bytes());
        secret[8..].copy_from_slice(&key.1.to_le_bytes());
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &secret), &self.0);
        let mut hex = [0; 32];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(tag.as_ref()) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        hex
    }
}

/// A short, stable fingerprint of `bytes` (16 hex digits), for digests of
/// public data such as the catalog.
pub(crate) fn fingerprint(bytes: &[u8]) -> String {
    digest::digest(&digest::SHA256, bytes).as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
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
        assert_ne!(d.keyed((1, 2)), Digest::of("https://other.example.com").keyed((1, 2)));
        assert!(d.keyed((1, 2)).iter().all(u8::is_ascii_hexdigit));
        assert_eq!(format!("{d:?}"), "Digest(..)");
    }

    #[test]
    fn fingerprints_are_sha256_prefixes() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223...
        assert_eq!(fingerprint(b"abc"), "ba7816bf8f01cfea");
    }
}
