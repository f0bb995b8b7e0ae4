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

/// Whether any of 8 bytes (a little-endian word) is a control character,
/// `"` or `\\` (the bytes a JSON string escapes), tested on all 8 at once.
fn may_need_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below `n` (n <= 0x80) leaves its high bit set in `word - n`
    // where it was clear in `word`.
    let below = |n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    below(0x20) | zero_in(word ^ (ONES * u64::from(b'"'))) | zero_in(word ^ (ONES * u64::from(b'\\'))) != 0
}

/// Whether `text` goes into a JSON string as it is, without escapes:
/// tested a word at a time, eight bytes at a time and the last eight
/// (overlapping the ones before), or for a shorter text a word made of its
/// bytes (some twice). Without a loop byte by byte: most texts are short
/// names and values.
#[inline(always)]
pub(crate) fn needs_no_escape(text: &[u8]) -> bool {
    let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
    let half = |bytes: &[u8]| u64::from(u32::from_le_bytes(bytes.try_into().unwrap_or([0; 4])));
    let n = text.len();
    if n >= 8 {
        let (chunks, _) = text.as_chunks::<8>();
        !chunks.iter().any(|chunk| may_need_escape(u64::from_le_bytes(*chunk)))
            && !may_need_escape(word(&text[n - 8..]))
    } else if n >= 4 {
        !may_need_escape(half(&text[..4]) | half(&text[n - 4..]) << 32)
    } else if n > 0 {
        let last = text[n - 1];
        !may_need_escape(u64::from_le_bytes([text[0], text[n / 2], last, last, last, last, last, last]))
    } else {
        true
    }
}

/// Copies `src` to the start of `dst`. Up to 64 bytes, in two moves of
/// 32, 16, 8 or 4 bytes that overlap in the middle, rather than a call to
/// `memcpy`, which costs more than the copy itself for the few bytes of a
/// name or a number.
#[inline(always)]
fn copy(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n <= 16 {
        if n >= 8 {
            copy_ends::<8>(dst, src);
        } else if n >= 4 {
            copy_ends::<4>(dst, src);
        } else if n > 0 {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
    } else if n <= 32 {
        copy_ends::<16>(dst, src);
    } else if n <= 64 {
        copy_ends::<32>(dst, src);
    } else {
        dst[..n].copy_from_slice(src);
    }
}

/// Copies the first and the last `N` bytes of `src` (at least `N`, at most
/// `2 * N` bytes long) to the same places at the start of `dst`, each
/// through a value held in registers: copied slice to slice, the copies of
/// the four sizes were merged by the compiler into one `memcpy` call of a
/// variable length.
#[inline(always)]
fn copy_ends<const N: usize>(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if let (Some(&first), Some(&last)) = (src.first_chunk::<N>(), src.last_chunk::<N>()) {
        dst[..N].copy_from_slice(&first);
        dst[n - N..n].copy_from_slice(&last);
    }
}

/// JSON written at the end of a buffer, into room made ahead: the buffer is
/// lengthened (zeroed) by more than a piece needs, each piece is written
/// over that room with plain stores, and dropping the writer cuts the
/// buffer back to what was written. A piece then costs one check of the
/// room rather than a capacity check per `push` and a `memcpy` call per
/// `extend_from_slice`, which cost more than the few bytes they write.
pub(crate) struct JsonWriter<'a> {
    buf: &'a mut Vec<u8>,
    /// How much of `buf` is written: the rest is room.
    len: usize,
}

impl<'a> JsonWriter<'a> {
    /// Appends to `buf`, leaving what is in it as it is.
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> JsonWriter<'a> {
        let len = buf.len();
        JsonWriter { buf, len }
    }

    /// At least `n` bytes of room after what is written.
    #[inline(always)]
    fn room(&mut self, n: usize) -> &mut [u8] {
        if self.buf.len() - self.len < n {
            self.grow(n);
        }
        &mut self.buf[self.len..]
    }

    /// Makes room for `n` bytes and a few pieces more: each growth zeroes
    /// what it adds, a cost worth paying once for many pieces.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        self.buf.resize(self.len + n.max(256), 0);
    }

    /// Makes room for `n` bytes ahead of the pieces that follow, so that
    /// they are written without growing the buffer one piece at a time.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.room(n);
    }

    /// Appends one byte.
    #[inline(always)]
    pub(crate) fn byte(&mut self, byte: u8) {
        self.room(1)[0] = byte;
        self.len += 1;
    }

    /// Appends `bytes` as they are.
    #[inline(always)]
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        copy(self.room(bytes.len()), bytes);
        self.len += bytes.len();
    }

    /// Removes a `,` just written, if there is one.
    pub(crate) fn unwrite_comma(&mut self) {
        if self.len > 0 && self.buf[self.len - 1] == b',' {
            self.len -= 1;
        }
    }

    /// Appends `text` as a JSON string, escaping what JSON requires
    /// (quotes, backslashes, control characters) the way serde_json does.
    /// `text` must be UTF-8.
    #[inline(always)]
    pub(crate) fn string(&mut self, text: &[u8]) {
        // Most names and values need no escape: copied whole.
        if needs_no_escape(text) {
            self.quoted(text, b"\"");
        } else {
            self.escaped(text);
        }
    }

    /// Appends `"text` and then `end` (the closing quote and what follows
    /// it): `text` must need no escape.
    #[inline(always)]
    pub(crate) fn quoted<const N: usize>(&mut self, text: &[u8], end: &[u8; N]) {
        let n = text.len();
        let room = self.room(n + 1 + N);
        room[0] = b'"';
        copy(&mut room[1..], text);
        room[n + 1..n + 1 + N].copy_from_slice(end);
        self.len += n + 1 + N;
    }

    /// A JSON string with an escape in it.
    #[cold]
    #[inline(never)]
    fn escaped(&mut self, text: &[u8]) {
        // The longest escape, `\u00XX`, is six bytes.
        let room = self.room(text.len() * 6 + 2);
        room[0] = b'"';
        let mut at = 1;
        for &byte in text {
            let escape = ESCAPE[usize::from(byte)];
            if escape == 0 {
                room[at] = byte;
                at += 1;
            } else if escape == b'u' {
                room[at..at + 6].copy_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xf)],
                ]);
                at += 6;
            } else {
                room[at..at + 2].copy_from_slice(&[b'\\', escape]);
                at += 2;
            }
        }
        room[at] = b'"';
        self.len += at + 1;
    }

    /// Appends a uuid in its quoted, hyphenated, lowercase form (what
    /// `Uuid::hyphenated` writes), its digits written in place.
    #[inline(always)]
    pub(crate) fn uuid(&mut self, id: &uuid::Uuid) {
        let bytes = id.as_bytes();
        let text = &mut self.room(38)[..38];
        text[0] = b'"';
        text[1..9].copy_from_slice(&hex_digits(&bytes[0..4]));
        text[9] = b'-';
        text[10..14].copy_from_slice(&hex_digits(&bytes[4..6])[..4]);
        text[14] = b'-';
        text[15..19].copy_from_slice(&hex_digits(&bytes[6..8])[..4]);
        text[19] = b'-';
        text[20..24].copy_from_slice(&hex_digits(&bytes[8..10])[..4]);
        text[24] = b'-';
        text[25..33].copy_from_slice(&hex_digits(&bytes[10..14]));
        text[33..37].copy_from_slice(&hex_digits(&bytes[14..16])[..4]);
        text[37] = b'"';
        self.len += 38;
    }
}

impl Drop for JsonWriter<'_> {
    /// Cuts the room off: the buffer ends with what was written.
    fn drop(&mut self) {
        self.buf.truncate(self.len);
    }
}

/// Appends `text` as a JSON string (see [`JsonWriter::string`]).
pub(crate) fn push_json_bytes(out: &mut Vec<u8>, text: &[u8]) {
    JsonWriter::new(out).string(text);
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
#[inline(always)]
fn hex_digits(bytes: &[u8]) -> [u8; 8] {
    let word =
        bytes.iter().rev().fold(0u64, |word, &byte| word << 16 | u64::from(HEX_PAIRS[usize::from(byte)]));
    word.to_le_bytes()
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
    fn random_texts_are_written_exactly_as_serde_json_writes_them() {
        // Texts of every length up to 150, half of them clean (plain bytes
        // and characters of two to four bytes), the others with a byte that
        // JSON escapes here and there, one after the other in one buffer:
        // each must come out as serde_json writes it, and nothing of the
        // room in between.
        let clean: Vec<char> =
            [' ', '/', 'a', 'z', '_', '~', '\u{7f}', 'é', 'ß', '✓', '€', '😀', '\u{10ffff}'].into();
        let special: Vec<char> = ('\u{0}'..='\u{1f}').chain(['"', '\\']).collect();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        let mut ours = Vec::new();
        let mut expected = String::new();
        for _ in 0..5_000 {
            let (len, escapes) = (next(151), next(2) == 1);
            let text: String = (0..len)
                .map(|_| match next(20) {
                    0 if escapes => special[next(special.len())],
                    _ => clean[next(clean.len())],
                })
                .collect();
            let mut writer = JsonWriter::new(&mut ours);
            writer.string(text.as_bytes());
            writer.byte(b',');
            drop(writer);
            expected += &serde_json::to_string(&text).unwrap();
            expected.push(',');
        }
        assert_eq!(String::from_utf8(ours).unwrap(), expected);
    }

    #[test]
    fn the_word_wise_check_agrees_with_the_escape_table_on_every_byte_and_place() {
        for byte in 0..=255u8 {
            for len in 1..=24 {
                for at in 0..len {
                    let mut text = vec![b'a'; len];
                    text[at] = byte;
                    assert_eq!(
                        needs_no_escape(&text),
                        ESCAPE[usize::from(byte)] == 0,
                        "{byte:#x} at {at} of {len}"
                    );
                }
            }
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
        assert!(!may_need_escape(u64::from_le_bytes(*b"abc_XYZ~")));
        assert!(!may_need_escape(u64::from_le_bytes("é✓!ab".as_bytes().try_into().unwrap())));
    }

    #[test]
    fn texts_of_every_length_are_copied_and_checked_whole() {
        // Each length the short copies and the word-wise check split
        // differently (0-3, 4-7, 8-16, 17-32, 33-64, longer), clean and with a
        // special byte at each place.
        let mut ours = b"[".to_vec();
        let mut expected = "[".to_owned();
        for len in 0..80 {
            let clean: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let mut writer = JsonWriter::new(&mut ours);
            writer.string(clean.as_bytes());
            writer.bytes(clean.as_bytes());
            drop(writer);
            expected += &serde_json::to_string(&clean).unwrap();
            expected += &clean;
            for at in 0..len {
                for special in ['"', '\\', '\u{1}', '\u{1f}'] {
                    let mut sample = clean.clone();
                    sample.replace_range(at..at + 1, &special.to_string());
                    JsonWriter::new(&mut ours).string(sample.as_bytes());
                    expected += &serde_json::to_string(&sample).unwrap();
                }
            }
        }
        assert_eq!(String::from_utf8(ours).unwrap(), expected);
    }

    #[test]
    fn the_writer_keeps_what_was_there_and_leaves_no_room_behind() {
        let mut out = b"kept".to_vec();
        {
            let mut writer = JsonWriter::new(&mut out);
            writer.reserve(10);
            writer.byte(b'{');
            // Past the room reserved: it grows.
            for _ in 0..100 {
                writer.string(b"name");
                writer.byte(b',');
            }
            writer.unwrite_comma();
            writer.unwrite_comma();
            writer.byte(b'}');
        }
        let expected = format!("kept{{{}}}", vec!["\"name\""; 100].join(","));
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        let mut out = b"{".to_vec();
        JsonWriter::new(&mut out).unwrite_comma();
        assert_eq!(out, b"{");
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
            JsonWriter::new(&mut ours).uuid(&id);
            assert_eq!(String::from_utf8(ours).unwrap(), format!("\"{}\"", id.hyphenated()));
        }
    }
}
