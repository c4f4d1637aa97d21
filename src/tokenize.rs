//! Stage 4, tokenize: text to normalized words.
//!
//! In: the kept text of a page. Out: its words, in order, NFKC-normalized and lowercased,
//! with typographic apostrophes (’ ‘) mapped to `'` so "China’s" and "China's" are one word.
//! Word boundaries are Unicode's (UAX #29, from `unicode-segmentation`): "U.S.", "3.14",
//! "don't" and "e-mail"'s parts come out as a reader would split them, in any script.
//! ASCII text, the common case, skips normalization (ASCII is already NFKC).

use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// Reusable buffers for tokenizing many texts without reallocating.
#[derive(Debug, Default)]
pub struct Tokenizer {
    norm: String,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
