//! JSON text written by hand where it is on the hot path: strings with
//! the escapes JSON requires (as serde_json writes them) and uuids.

/// What each byte needs inside a JSON string: 0 nothing, `u` a `\u00XX`
/// escape, anything else a backslash and that character (as serde_json
/// writes them).
const ESCAPE: [u8; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Whether `text` goes into a JSON string as it is, without escapes.
pub(crate) fn needs_no_escape(text: &[u8]) -> bool {
    text.iter().all(|&byte| ESCAPE[usize::from(byte)] == 0)
}

/// Whether any of 8 bytes is a control character, `"` or `\\` (the bytes a
/// JSON string escapes), tested on all 8 at once.
fn may_need_escape(chunk: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
    // A byte below `n` (n <= 0x80) leaves its high bit set in `word - n`
    // where it was clear in `word`.
    let below = |n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    below(0x20) | zero_in(word ^ (ONES * u64::from(b'"'))) | zero_in(word ^ (ONES * u64::from(b'\\'))) != 0
}

/// Appends `text` as a JSON string, escaping what JSON requires (quotes,
/// backslashes, control characters) the way serde_json does. `text` must be
/// UTF-8.
pub(crate) fn push_json_bytes(out: &mut Vec<u8>, text: &[u8]) {
    // Most names and values need no escape: find the first byte that might,
    // eight bytes at a time, and copy a clean text whole.
    let mut clean = 0;
    while let Some(chunk) = text.get(clean..clean + 8) {
        if may_need_escape(chunk) {
            break;
        }
        clean += 8;
    }
    while clean < text.len() && ESCAPE[usize::from(text[clean])] == 0 {
        clean += 1;
    }
    out.reserve(text.len() + 2);
    out.push(b'"');
    if clean == text.len() {
        out.extend_from_slice(text);
    } else {
        out.extend_from_slice(&text[..clean]);
        push_escaped(out, &text[clean..]);
    }
    out.push(b'"');
}

/// The rest of a JSON string from its first byte that may need an escape.
#[cold]
fn push_escaped(out: &mut Vec<u8>, text: &[u8]) {
    let mut start = 0;
    for (i, &byte) in text.iter().enumerate() {
        let escape = ESCAPE[usize::from(byte)];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&text[start..i]);
        if escape == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.push(b'\\');
            out.push(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&text[start..]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Each byte's two hex digits, as a little-endian `u16` (high digit first
/// in memory).
const HEX_PAIRS: [u16; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = u16::from_le_bytes([HEX[byte >> 4], HEX[byte & 0xf]]);
        byte += 1;
    }
    table
};

/// The hex digits of up to four bytes, in order, in the low bytes of a
/// little-endian `u64`: built in a register, written in one store.
fn hex_digits(bytes: &[u8]) -> [u8; 8] {
    let word =
        bytes.iter().rev().fold(0u64, |word, &byte| word << 16 | u64::from(HEX_PAIRS[usize::from(byte)]));
    word.to_le_bytes()
}

/// Appends a uuid in its quoted, hyphenated, lowercase form (what
/// `Uuid::hyphenated` writes), laid out in a fixed buffer first so that
/// it is appended in one copy.
pub(crate) fn push_uuid(out: &mut Vec<u8>, id: &uuid::Uuid) {
    let bytes = id.as_bytes();
    let mut text = [b'-'; 38];
    text[0] = b'"';
    text[1..9].copy_from_slice(&hex_digits(&bytes[0..4]));
    text[10..14].copy_from_slice(&hex_digits(&bytes[4..6])[..4]);
    text[15..19].copy_from_slice(&hex_digits(&bytes[6..8])[..4]);
    text[20..24].copy_from_slice(&hex_digits(&bytes[8..10])[..4]);
    text[25..33].copy_from_slice(&hex_digits(&bytes[10..14]));
    text[33..37].copy_from_slice(&hex_digits(&bytes[14..16])[..4]);
    text[37] = b'"';
    out.extend_from_slice(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_does() {
        let samples = [
            "",
            "plain",
            "quote \" and \\ backslash",
            "tab\tnew\nline\r",
            "\u{0}\u{1f}\u{7f}",
            "é ✓ 😀",
            "\u{8}\u{c}",
        ];
        for sample in samples {
            let mut ours = Vec::new();
            push_json_bytes(&mut ours, sample.as_bytes());
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(sample).unwrap(),
                "{sample:?}"
            );
        }
    }

    #[test]
    fn escaping_finds_every_special_byte_at_any_offset() {
        for special in ["\"", "\\", "\n", "\u{0}", "\u{1f}"] {
            for at in 0..20 {
                let sample = format!("{}{special}{}", "a".repeat(at), "é".repeat(5));
                let mut ours = Vec::new();
                push_json_bytes(&mut ours, sample.as_bytes());
                assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&sample).unwrap());
            }
        }
        assert!(!may_need_escape(b"abc_XYZ~"));
        assert!(!may_need_escape("é✓!".as_bytes().get(..8).unwrap_or(b"        ")));
    }

    #[test]
    fn uuids_are_written_like_the_uuid_crate_writes_them() {
        for id in [
            uuid::Uuid::nil(),
            uuid::Uuid::max(),
            uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
        ]
        .into_iter()
        .chain((0..100).map(|i| crate::model::event::event_uuid(std::time::Duration::from_millis(i << 40))))
        {
            let mut ours = Vec::new();
            push_uuid(&mut ours, &id);
            assert_eq!(String::from_utf8(ours).unwrap(), format!("\"{}\"", id.hyphenated()));
        }
    }
}
