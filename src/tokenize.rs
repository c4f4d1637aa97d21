//! Stage 4, tokenize: text to normalized words, or straight to word hashes.
//!
//! In: the text of a block. Out: its words, in order, NFKC-normalized and lowercased, with
//! typographic apostrophes (’ ‘) mapped to `'` so "China’s" and "China's" are one word; or,
//! on the hot path, the 64-bit hash of each such word ([`hash_word`]).
//!
//! Word boundaries are Unicode's (UAX #29, from `unicode-segmentation`): "U.S.", "3.14",
//! "don't" come out as a reader would split them, in any script. Text that is all ASCII, the
//! common case, takes a hand-written scanner that applies the same rules to ASCII (letters
//! join across `:` `.` `'`, digits across `,` `;` `.` `'`, `_` joins anything) without
//! allocating; a property test checks it against `unicode-segmentation` on random ASCII.

use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;
use xxhash_rust::xxh3::xxh3_64;

/// The stable 64-bit hash of a normalized word. Words of up to 7 bytes (most words) are
/// packed little-endian into the low 7 bytes of a u64, their length in the top byte, and
/// mixed by MurmurHash3's finalizer; packing and finalizer are both one-to-one, so short
/// words never collide. Longer words use xxh3. Unseeded: the shingle seed is
/// applied when words are combined into shingles.
pub fn hash_word(word: &str) -> u64 {
    hash_bytes(word.as_bytes())
}

#[inline]
fn hash_bytes(bytes: &[u8]) -> u64 {
    if bytes.len() < 8 {
        hash_short(bytes, false)
    } else {
        xxh3_64(bytes)
    }
}

/// The short-word hash of `bytes` (< 8 bytes), lowercasing ASCII on the way when `lower`.
/// Built with shifts rather than a variable-length copy, which would call `memmove`.
#[inline]
fn hash_short(bytes: &[u8], lower: bool) -> u64 {
    let mut packed = (bytes.len() as u64) << 56;
    for (i, &b) in bytes.iter().enumerate() {
        let b = if lower { b.to_ascii_lowercase() } else { b };
        packed |= (b as u64) << (8 * i);
    }
    mix64(packed)
}

/// MurmurHash3's 64-bit finalizer: a bijective mix, shared by the word, shingle and
/// signature hashes.
#[inline]
pub(crate) fn mix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// Reusable buffers for tokenizing many texts without reallocating.
#[derive(Debug, Default)]
pub struct Tokenizer {
    norm: String,
    word: Vec<u8>,
}

impl Tokenizer {
    /// A tokenizer with empty buffers.
    pub fn new() -> Tokenizer {
        Tokenizer::default()
    }

    /// The words of `text`, normalized. The iterator borrows this tokenizer's buffer.
    pub fn words<'a>(&'a mut self, text: &str) -> impl Iterator<Item = &'a str> + 'a {
        normalize_into(text, &mut self.norm);
        self.norm.unicode_words()
    }

    /// Append the [`hash_word`] of every word of `text` to `out`: the same words as
    /// [`Tokenizer::words`], without building strings for ASCII text.
    ///
    /// Word boundaries never fall inside whitespace-free runs of other texts: UAX #29 does not
    /// join words across whitespace, and NFKC does not compose across it. So a text with some
    /// non-ASCII is cut at ASCII whitespace and only the pieces holding non-ASCII characters
    /// take the Unicode path.
    pub fn hash_words(&mut self, text: &str, out: &mut Vec<u64>) {
        let bytes = text.as_bytes();
        out.reserve(bytes.len() / 6);
        let mut pos = 0;
        while pos < bytes.len() {
            let Some(offset) = bytes[pos..].iter().position(|&c| !c.is_ascii()) else {
                self.hash_ascii(&bytes[pos..], out);
                return;
            };
            // The whitespace-delimited piece around the first non-ASCII byte takes the
            // Unicode path; the ASCII run before it the fast one. Both cuts are at ASCII
            // whitespace, so they are character boundaries.
            let at = pos + offset;
            let start = bytes[pos..at]
                .iter()
                .rposition(u8::is_ascii_whitespace)
                .map_or(pos, |p| pos + p + 1);
            let end = bytes[at..]
                .iter()
                .position(u8::is_ascii_whitespace)
                .map_or(bytes.len(), |p| at + p);
            self.hash_ascii(&bytes[pos..start], out);
            normalize_into(&text[start..end], &mut self.norm);
            out.extend(self.norm.unicode_words().map(hash_word));
            pos = end;
        }
    }

    fn hash_ascii(&mut self, bytes: &[u8], out: &mut Vec<u64>) {
        let word = &mut self.word;
        ascii_words(bytes, |w, upper| {
            out.push(if w.len() < 8 {
                hash_short(w, upper)
            } else if upper {
                word.clear();
                word.extend(w.iter().map(u8::to_ascii_lowercase));
                xxh3_64(word)
            } else {
                xxh3_64(w)
            });
        });
    }
}

/// Append the normalized form of `text` to a cleared `out`: NFKC, lowercase, ASCII apostrophes.
pub(crate) fn normalize_into(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        out.push_str(text);
        out.make_ascii_lowercase();
        return;
    }
    out.reserve(text.len());
    for c in text.nfkc() {
        match c {
            '\u{2019}' | '\u{2018}' => out.push('\''),
            c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
            c => out.extend(c.to_lowercase()),
        }
    }
}

/// Byte flags for the ASCII scanner.
const WORD: u8 = 1;
const UPPER: u8 = 2;
const LETTER: u8 = 4;
const DIGIT: u8 = 8;

const fn flags() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = if b.is_ascii_uppercase() {
            WORD | UPPER | LETTER
        } else if b.is_ascii_lowercase() {
            WORD | LETTER
        } else if b.is_ascii_digit() {
            WORD | DIGIT
        } else if b == b'_' {
            WORD
        } else {
            0
        };
        c += 1;
    }
    t
}

static FLAGS: [u8; 256] = flags();

/// UAX #29 word segmentation restricted to ASCII, calling `f(word, has_uppercase)` for every
/// segment that holds a letter or digit (what `unicode_words` yields).
pub(crate) fn ascii_words(bytes: &[u8], mut f: impl FnMut(&[u8], bool)) {
    let n = bytes.len();
    let mut i = 0;
    while i < n {
        if FLAGS[bytes[i] as usize] & WORD == 0 {
            i += 1;
            continue;
        }
        let start = i;
        let mut seen = 0u8;
        loop {
            while i < n {
                let fl = FLAGS[bytes[i] as usize];
                if fl & WORD == 0 {
                    break;
                }
                seen |= fl;
                i += 1;
            }
            // A middle character joins two letters (WB6/7) or two digits (WB11/12).
            if i + 1 < n {
                let prev = FLAGS[bytes[i - 1] as usize];
                let next = FLAGS[bytes[i + 1] as usize];
                let joins = match bytes[i] {
                    b':' => prev & next & LETTER != 0,
                    // Both letters or both digits (a byte is one or the other, or `_`).
                    b'.' | b'\'' => prev & next & (LETTER | DIGIT) != 0,
                    b',' | b';' => prev & next & DIGIT != 0,
                    _ => false,
                };
                if joins {
                    seen |= next;
                    i += 2;
                    continue;
                }
            }
            break;
        }
        // A run of underscores alone is not a word.
        if seen & (LETTER | DIGIT) != 0 {
            f(&bytes[start..i], seen & UPPER != 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(text: &str) -> Vec<String> {
        Tokenizer::new().words(text).map(str::to_string).collect()
    }

    #[test]
    fn words_are_unicode_segmented_and_folded() {
        assert_eq!(
            words("China’s FIRST trip, the U.S. said: 3.14% up!"),
            [
                "china's", "first", "trip", "the", "u.s", "said", "3.14", "up"
            ]
        );
    }

    #[test]
    fn short_and_long_words_do_not_collide() {
        let words = [
            "",
            "a",
            "ab",
            "abcdefg",
            "abcdefgx",
            "abcdefgh",
            "abcdefg\0",
            "a\0",
        ];
        let mut hashes: Vec<u64> = words.iter().map(|w| hash_word(w)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), words.len());
    }

    #[test]
    fn nfkc_folds_compatibility_forms() {
        assert_eq!(words("ｆｕｌｌ ﬁne"), ["full", "fine"]);
        assert_eq!(words("Путин сказал"), ["путин", "сказал"]);
    }

    #[test]
    fn hash_words_match_words_on_both_paths() {
        for text in [
            "China's FIRST trip, the U.S. said: 3.14%",
            "Путин сказал “да”, China’s £5m deal\u{a0}was NBSP-joined; café ﬁne",
        ] {
            let mut tok = Tokenizer::new();
            let mut hashes = Vec::new();
            tok.hash_words(text, &mut hashes);
            let expected: Vec<u64> = words(text).iter().map(|w| hash_word(w)).collect();
            assert_eq!(hashes, expected, "{text}");
        }
    }

    proptest! {
        #[test]
        fn hash_words_equal_unicode_words_on_mixed_text(s in "[aZ1_.,' \t\u{a0}é’£\u{301}ﬁ]{0,30}") {
            let mut tok = Tokenizer::new();
            let mut fast = Vec::new();
            tok.hash_words(&s, &mut fast);
            let slow: Vec<u64> = words(&s).iter().map(|w| hash_word(w)).collect();
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn ascii_fast_path_gives_unicode_words(s in "[aZ1_.,;:' \\-\t\n!]{0,40}") {
            let mut fast = Vec::new();
            ascii_words(s.as_bytes(), |w, _| fast.push(String::from_utf8(w.to_vec()).unwrap()));
            let slow: Vec<String> = s.unicode_words().map(str::to_string).collect();
            prop_assert_eq!(fast, slow);
        }
    }
}
