//! Stage 5, shingle: words to a set of 64-bit shingle hashes.
//!
//! In: a page's normalized words. Out: [`Shingles`], the sorted, de-duplicated hashes of its
//! features, which both the MinHash signature and the exact verification are computed from.
//!
//! Two kinds of feature ([`ShingleKind`]):
//! - `Words`: every run of `ngram` consecutive words (the classic w-shingle).
//! - `SpotSigs`: stopword-anchored chains (Theobald et al., SIGIR 2008): each occurrence of an
//!   anchor stopword ("the", "said", "is", ...) followed by the next `ngram - 1` words that
//!   are not stopwords. Running prose is full of anchors and chrome is not, so these
//!   signatures come almost only from the story.
//!
//! Hashes are xxh3 with a documented seed: stable across machines, platforms and versions,
//! so signatures can be stored and compared later (ahash is only for in-memory maps).

use crate::clean::Stopwords;
use crate::error::{Error, Result};
use xxhash_rust::xxh3::{Xxh3, xxh3_64_with_seed};

/// Which features a page is turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShingleKind {
    /// Consecutive word n-grams.
    Words,
    /// Stopword-anchored chains (SpotSigs).
    SpotSigs,
}

/// Shingling parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ShingleParams {
    /// Feature kind. Default [`ShingleKind::Words`].
    pub kind: ShingleKind,
    /// Words per shingle (for SpotSigs: the anchor plus `ngram - 1` words). Default 5.
    pub ngram: usize,
    /// Seed of the xxh3 hash applied to words and shingles. Default 0.
    pub seed: u64,
}

impl Default for ShingleParams {
    fn default() -> ShingleParams {
        ShingleParams {
            kind: ShingleKind::Words,
            ngram: 5,
            seed: 0,
        }
    }
}

impl ShingleParams {
    /// Check ranges once, at the boundary.
    pub fn validate(&self) -> Result<()> {
        if self.ngram == 0 || self.ngram > 32 {
            return Err(Error::params("ngram must be between 1 and 32"));
        }
        Ok(())
    }
}

/// A page's shingle set: sorted, unique 64-bit hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shingles(Vec<u64>);

impl Shingles {
    /// Build from any hashes (sorted and de-duplicated here).
    pub fn from_hashes(mut hashes: Vec<u64>) -> Shingles {
        hashes.sort_unstable();
        hashes.dedup();
        Shingles(hashes)
    }

    /// Number of distinct shingles.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for a page with no shingle (empty, or shorter than one n-gram).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The sorted hashes.
    pub fn as_slice(&self) -> &[u64] {
        &self.0
    }

    /// Iterate the sorted hashes.
    pub fn iter(&self) -> std::slice::Iter<'_, u64> {
        self.0.iter()
    }
}

/// The hash of one word.
pub fn hash_word(word: &str, seed: u64) -> u64 {
    xxh3_64_with_seed(word.as_bytes(), seed)
}

/// Combine consecutive word hashes into one shingle hash.
pub fn hash_window(words: &[u64], seed: u64) -> u64 {
    let mut h = Xxh3::with_seed(seed);
    for w in words {
        h.update(&w.to_le_bytes());
    }
    h.digest()
}

/// The anchor words of SpotSigs for English (the paper's most useful antecedents); other
/// languages anchor on their whole stopword list.
const ENGLISH_ANCHORS: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "there", "said", "says", "can",
    "will", "would", "could", "should", "has", "had", "have", "that", "this", "it", "he", "she",
    "they", "we", "not",
];

/// Shingle a page's words. `language` is the stopword-list index of the page (used by
/// SpotSigs). Pages with fewer words than one shingle get an empty set.
pub fn shingle<'a>(
    words: impl Iterator<Item = &'a str>,
    language: usize,
    params: &ShingleParams,
) -> Shingles {
    let mut hashes = Vec::new();
    match params.kind {
        ShingleKind::Words => {
            let words: Vec<u64> = words.map(|w| hash_word(w, params.seed)).collect();
            if words.len() >= params.ngram {
                hashes.reserve(words.len() + 1 - params.ngram);
                for window in words.windows(params.ngram) {
                    hashes.push(hash_window(window, params.seed));
                }
            }
        }
        ShingleKind::SpotSigs => {
            let stopwords = Stopwords::get();
            let english = stopwords.language_index("en") == Some(language);
            let words: Vec<(u64, bool, bool)> = words
                .map(|w| {
                    let stop = stopwords.is_stopword(w, language);
                    let anchor = if english {
                        ENGLISH_ANCHORS.contains(&w)
                    } else {
                        stop
                    };
                    (hash_word(w, params.seed), stop, anchor)
                })
                .collect();
            let chain = params.ngram.saturating_sub(1).max(1);
            let mut buf = Vec::with_capacity(chain + 1);
            for (i, &(h, _, anchor)) in words.iter().enumerate() {
                if !anchor {
                    continue;
                }
                buf.clear();
                buf.push(h);
                buf.extend(
                    words[i + 1..]
                        .iter()
                        .filter(|(_, stop, _)| !stop)
                        .take(chain)
                        .map(|&(h, _, _)| h),
                );
                if buf.len() == chain + 1 {
                    hashes.push(hash_window(&buf, params.seed));
                }
            }
        }
    }
    Shingles::from_hashes(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn en() -> usize {
        Stopwords::get().language_index("en").unwrap()
    }

    fn words(s: &str) -> impl Iterator<Item = &str> {
        s.split(' ')
    }

    #[test]
    fn word_shingles_count_windows() {
        let p = ShingleParams {
            ngram: 3,
            ..Default::default()
        };
        assert_eq!(shingle(words("a b c d e"), en(), &p).len(), 3);
        assert_eq!(shingle(words("a b c a b c"), en(), &p).len(), 3);
        assert!(shingle(words("a b"), en(), &p).is_empty());
    }

    #[test]
    fn spotsigs_anchor_on_stopwords_and_skip_them_in_chains() {
        let p = ShingleParams {
            kind: ShingleKind::SpotSigs,
            ngram: 3,
            ..Default::default()
        };
        // "the" anchors "minister" "said"? no: "said" is an anchor but also... chains skip
        // stopwords, so "the minister of defence" gives (the, minister, defence).
        let a = shingle(words("the minister of defence arrived"), en(), &p);
        let b = shingle(words("the minister for defence left"), en(), &p);
        assert_eq!(a.len(), 1);
        assert_eq!(a, b);
        assert!(shingle(words("Home World Sport Video"), en(), &p).is_empty());
    }

    #[test]
    fn seed_changes_hashes_not_counts() {
        let p0 = ShingleParams::default();
        let p1 = ShingleParams {
            seed: 1,
            ..Default::default()
        };
        let text = "one two three four five six seven";
        let a = shingle(words(text), en(), &p0);
        let b = shingle(words(text), en(), &p1);
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b);
    }
}
