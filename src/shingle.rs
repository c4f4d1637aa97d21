//! Stage 5, shingle: word hashes to a set of shingle hashes.
//!
//! In: a page's word hashes ([`crate::tokenize::hash_word`]) in reading order. Out:
//! [`Shingles`], the sorted, de-duplicated 32-bit hashes of its features, from which both
//! the MinHash signature and the exact verification are computed.
//!
//! Two kinds of feature ([`ShingleKind`]):
//! - `Words`: every run of `ngram` consecutive words (the classic w-shingle).
//! - `SpotSigs`: stopword-anchored chains (Theobald et al., SIGIR 2008): each occurrence of an
//!   anchor stopword ("the", "said", "is", ...) followed by the next `ngram - 1` words that
//!   are not stopwords. Running prose is full of anchors and chrome is not.
//!
//! Words are hashed with xxh3 and combined per shingle with a seeded multiply-xorshift mix, so
//! values are stable across machines, platforms and versions and signatures can be stored
//! (ahash is only for in-memory maps). Shingle hashes are kept as 32 bits: two different
//! shingles of a pair collide with probability 2⁻³², far below any score's precision, and
//! the sets take half the memory.

use crate::clean::Stopwords;
use crate::error::{Error, Result};

/// Which features a page is turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShingleKind {
    /// Consecutive word n-grams.
    Words,
    /// Stopword-anchored chains (SpotSigs).
    SpotSigs,
}

/// Shingling parameters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ShingleParams {
    /// Feature kind. Default [`ShingleKind::Words`].
    pub kind: ShingleKind,
    /// Words per shingle (for SpotSigs: the anchor plus `ngram - 1` words). Default 5.
    pub ngram: usize,
    /// Seed of the mix that combines word hashes into shingle hashes. Default 0.
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

/// A page's shingle set: sorted, unique 32-bit hashes. Serializes as its values; values read
/// back are sorted and de-duplicated ([`Shingles::from_hashes`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "Vec<u32>")]
pub struct Shingles(Vec<u32>);

impl From<Vec<u32>> for Shingles {
    fn from(hashes: Vec<u32>) -> Shingles {
        Shingles::from_hashes(hashes)
    }
}

impl Shingles {
    /// Build from any hashes (sorted and de-duplicated here).
    pub fn from_hashes(mut hashes: Vec<u32>) -> Shingles {
        hashes.sort_unstable();
        hashes.dedup();
        hashes.shrink_to_fit();
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

    /// The set as stored by the index and the Parquet handoff ([`encode_set`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_set(&self.0)
    }

    /// A set from [`Shingles::to_bytes`]; `None` for bytes it cannot have written.
    pub fn from_bytes(bytes: &[u8]) -> Option<Shingles> {
        decode_set(bytes).map(Shingles)
    }

    /// A set as the index reads it back: [`Shingles::from_bytes`], with repeats (a zero gap,
    /// which only damaged bytes hold) dropped. Decoded values never decrease, so unlike
    /// [`Shingles::from_hashes`] this needs no sort.
    pub(crate) fn from_stored(bytes: &[u8]) -> Option<Shingles> {
        let mut values = decode_set(bytes)?;
        values.dedup();
        Some(Shingles(values))
    }

    /// The sorted hashes.
    pub fn as_slice(&self) -> &[u32] {
        &self.0
    }

    /// Iterate the sorted hashes.
    pub fn iter(&self) -> std::slice::Iter<'_, u32> {
        self.0.iter()
    }
}

/// Combine consecutive word hashes into one 64-bit shingle hash: a seeded multiply-xorshift
/// chain finished with MurmurHash3's 64-bit finalizer.
pub(crate) fn hash_window(words: &[u64], seed: u64) -> u64 {
    let mut h = seed ^ (words.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for &w in words {
        h = (h ^ w).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 31;
    }
    crate::tokenize::mix64(h)
}

/// The 32-bit set value of a 64-bit shingle hash.
pub fn fold(h: u64) -> u32 {
    (h ^ (h >> 32)) as u32
}

/// The anchor words of SpotSigs for English (the paper's most useful antecedents); other
/// languages anchor on their whole stopword list.
pub(crate) const ENGLISH_ANCHORS: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "there", "said", "says", "can",
    "will", "would", "could", "should", "has", "had", "have", "that", "this", "it", "he", "she",
    "they", "we", "not",
];

/// Shingle a page's word hashes. `language` is the stopword-list index of the page (used by
/// SpotSigs). Pages with fewer words than one shingle get an empty set.
pub fn shingle(words: &[u64], language: usize, params: &ShingleParams) -> Shingles {
    Shingles::from_hashes(shingle_values(words, language, params))
}

/// The shingle values of a page in text order, unsorted and possibly repeated: enough for a
/// signature, which is order- and repetition-blind, without the cost of building the set.
pub fn shingle_values(words: &[u64], language: usize, params: &ShingleParams) -> Vec<u32> {
    let mut hashes = Vec::new();
    match params.kind {
        ShingleKind::Words => {
            if words.len() >= params.ngram {
                hashes.reserve(words.len() + 1 - params.ngram);
                hashes.extend(
                    words
                        .windows(params.ngram)
                        .map(|w| fold(hash_window(w, params.seed))),
                );
            }
        }
        ShingleKind::SpotSigs => {
            let stopwords = Stopwords::get();
            let flags: Vec<(bool, bool)> = words
                .iter()
                .map(|&h| {
                    (
                        stopwords.is_stopword_hash(h, language),
                        stopwords.is_anchor(h, language),
                    )
                })
                .collect();
            let chain = params.ngram.saturating_sub(1).max(1);
            let mut buf = Vec::with_capacity(chain + 1);
            for (i, &(_, anchor)) in flags.iter().enumerate() {
                if !anchor {
                    continue;
                }
                buf.clear();
                buf.push(words[i]);
                buf.extend(
                    words[i + 1..]
                        .iter()
                        .zip(&flags[i + 1..])
                        .filter(|(_, (stop, _))| !stop)
                        .take(chain)
                        .map(|(&h, _)| h),
                );
                if buf.len() == chain + 1 {
                    hashes.push(fold(hash_window(&buf, params.seed)));
                }
            }
        }
    }
    hashes
}

/// A sorted shingle set as gaps between successive values, each an LEB128 varint: about
/// 2.3 bytes a shingle instead of 4 (fewer bytes to write, checkpoint and read back).
pub fn encode_set(values: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 3);
    // 64 values at a time through a buffer that holds their longest varints: a push a byte
    // checked the vector's capacity at every byte (a fifth slower).
    let mut buf = [0u8; 5 * 64];
    let mut prev = 0u32;
    for chunk in values.chunks(64) {
        let mut at = 0;
        for &v in chunk {
            let mut gap = v - prev;
            prev = v;
            while gap >= 0x80 {
                buf[at] = (gap as u8) | 0x80;
                at += 1;
                gap >>= 7;
            }
            buf[at] = gap as u8;
            at += 1;
        }
        out.extend_from_slice(&buf[..at]);
    }
    out
}

/// [`encode_set`] undone; `None` for bytes it cannot have written.
pub(crate) fn decode_set(bytes: &[u8]) -> Option<Vec<u32>> {
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let (mut prev, mut gap, mut shift) = (0u32, 0u32, 0u32);
    for &b in bytes {
        if shift > 28 {
            return None;
        }
        gap |= u32::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            prev = prev.checked_add(gap)?;
            out.push(prev);
            (gap, shift) = (0, 0);
        } else {
            shift += 7;
        }
    }
    (shift == 0).then_some(out)
}

/// Shingle values as the Parquet handoff stores them: 4 bytes each, little-endian, in the
/// order given (`samestory sign` writes them in text order, unsorted, repeats kept: sorting
/// every page's set cost a tenth of signing, and only the pages a job verifies need it).
pub fn values_to_bytes(values: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 4);
    append_values_bytes(values, &mut out);
    out
}

/// [`values_to_bytes`], appended to `out` (a writer that gathers many pages' values).
pub(crate) fn append_values_bytes(values: &[u32], out: &mut Vec<u8>) {
    out.reserve(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// [`values_to_bytes`] undone; `None` unless the bytes are whole 4-byte values.
pub(crate) fn values_from_bytes(bytes: &[u8]) -> Option<Vec<u32>> {
    bytes.len().is_multiple_of(4).then(|| {
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_signatures_round_trip_through_serde() {
        let set = Shingles::from_hashes(vec![9, 3, 3, 7]);
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, "[3,7,9]");
        assert_eq!(serde_json::from_str::<Shingles>(&json).unwrap(), set);
        // Values read back keep the invariant: sorted, unique.
        assert_eq!(
            serde_json::from_str::<Shingles>("[5,1,5]")
                .unwrap()
                .as_slice(),
            [1, 5]
        );
        let hasher = crate::minhash::MinHasher::new(&crate::minhash::MinHashParams::default());
        let sig = hasher.sign(set.as_slice());
        let back: crate::minhash::Signature =
            serde_json::from_str(&serde_json::to_string(&sig).unwrap()).unwrap();
        assert_eq!(back, sig);
    }

    fn en() -> usize {
        Stopwords::get().language_index("en").unwrap()
    }

    fn words(s: &str) -> Vec<u64> {
        s.split(' ').map(crate::tokenize::hash_word).collect()
    }

    #[test]
    fn word_shingles_count_windows() {
        let p = ShingleParams {
            ngram: 3,
            ..Default::default()
        };
        assert_eq!(shingle(&words("a b c d e"), en(), &p).len(), 3);
        assert_eq!(shingle(&words("a b c a b c"), en(), &p).len(), 3);
        assert!(shingle(&words("a b"), en(), &p).is_empty());
    }

    #[test]
    fn spotsigs_anchor_on_stopwords_and_skip_them_in_chains() {
        let p = ShingleParams {
            kind: ShingleKind::SpotSigs,
            ngram: 3,
            ..Default::default()
        };
        // Chains skip stopwords: "the minister of defence" gives (the, minister, defence).
        let a = shingle(&words("the minister of defence arrived"), en(), &p);
        let b = shingle(&words("the minister for defence left"), en(), &p);
        assert_eq!(a.len(), 1);
        assert_eq!(a, b);
        assert!(shingle(&words("Home World Sport Video"), en(), &p).is_empty());
    }

    #[test]
    fn seed_changes_hashes_not_counts() {
        let p0 = ShingleParams::default();
        let p1 = ShingleParams {
            seed: 1,
            ..Default::default()
        };
        let text = "one two three four five six seven";
        let a = shingle(&words(text), en(), &p0);
        let b = shingle(&words(text), en(), &p1);
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b);
    }

    proptest::proptest! {
        #[test]
        fn shingle_sets_round_trip(mut values in proptest::collection::vec(proptest::prelude::any::<u32>(), 0..500)) {
            values.sort_unstable();
            values.dedup();
            let bytes = encode_set(&values);
            proptest::prop_assert_eq!(decode_set(&bytes), Some(values));
        }
    }

    #[test]
    fn damaged_sets_are_refused() {
        assert_eq!(decode_set(&[0x80]), None); // ends inside a varint
        assert_eq!(decode_set(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), None); // too long
        let wraps = [encode_set(&[u32::MAX]), encode_set(&[1])].concat();
        assert_eq!(decode_set(&wraps), None); // past u32::MAX
        assert_eq!(decode_set(&[]), Some(Vec::new()));
        let values = [7, 3, 7, u32::MAX, 0];
        assert_eq!(
            values_from_bytes(&values_to_bytes(&values)).as_deref(),
            Some(&values[..])
        );
        assert_eq!(values_from_bytes(&[1, 2, 3]), None); // not whole values
        // A zero gap after the first value repeats it: read back as one shingle.
        let stored = Shingles::from_stored(&[5, 0, 3]).expect("whole varints");
        assert_eq!(stored.as_slice(), &[5, 8]);
        assert_eq!(Shingles::from_stored(&[0x80]), None);
    }
}
