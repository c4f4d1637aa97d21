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

/// The stable 64-bit hash of a normalized word (xxh3, unseeded: the shingle seed is applied
/// when words are combined into shingles).
pub fn hash_word(word: &str) -> u64 {
    xxh3_64(word.as_bytes())
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
        if text.is_ascii() {
            self.hash_ascii(text.as_bytes(), out);
            return;
        }
        for piece in text.split_ascii_whitespace() {
            if piece.is_ascii() {
                self.hash_ascii(piece.as_bytes(), out);
            } else {
                normalize_into(piece, &mut self.norm);
                out.extend(self.norm.unicode_words().map(hash_word));
            }
        }
    }

    fn hash_ascii(&mut self, bytes: &[u8], out: &mut Vec<u64>) {
        let word = &mut self.word;
        ascii_words(bytes, |w| {
            word.clear();
            word.extend(w.iter().map(u8::to_ascii_lowercase));
            out.push(xxh3_64(word));
        });
    }
}

/// Append the normalized form of `text` to a cleared `out`: NFKC, lowercase, ASCII apostrophes.
pub fn normalize_into(text: &str, out: &mut String) {
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

/// UAX #29 word segmentation restricted to ASCII, calling `f` for every segment that holds a
/// letter or digit (what `unicode_words` yields).
pub fn ascii_words(bytes: &[u8], mut f: impl FnMut(&[u8])) {
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let n = bytes.len();
    let mut i = 0;
    while i < n {
        if !is_word(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut alnum = bytes[i] != b'_';
        i += 1;
        loop {
            if i < n && is_word(bytes[i]) {
                alnum |= bytes[i] != b'_';
                i += 1;
                continue;
            }
            // A middle character joins two letters (WB6/7) or two digits (WB11/12).
            if i + 1 < n {
                let (prev, mid, next) = (bytes[i - 1], bytes[i], bytes[i + 1]);
                let letters = prev.is_ascii_alphabetic()
                    && next.is_ascii_alphabetic()
                    && matches!(mid, b':' | b'.' | b'\'');
                let digits = prev.is_ascii_digit()
                    && next.is_ascii_digit()
                    && matches!(mid, b',' | b';' | b'.' | b'\'');
                if letters || digits {
                    i += 2;
                    continue;
                }
            }
            break;
        }
        if alnum {
            f(&bytes[start..i]);
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
            ascii_words(s.as_bytes(), |w| fast.push(String::from_utf8(w.to_vec()).unwrap()));
            let slow: Vec<String> = s.unicode_words().map(str::to_string).collect();
            prop_assert_eq!(fast, slow);
        }
    }
}
