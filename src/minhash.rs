//! Stage 6, minhash: a shingle set to a fixed-length signature.
//!
//! In: shingle values ([`crate::shingle`]). Out: a [`Signature`] of `permutations` u32 values whose agreement
//! rate estimates the Jaccard similarity of two shingle sets (Broder, 1997). Two schemes
//! ([`Scheme`]): one-permutation hashing with optimal densification (the default: one hash
//! per shingle) and classic MinHash (one hash per shingle and permutation).
//!
//! Classic MinHash:
//!
//! Each "permutation" is a multiply-add-shift hash `h_i(x) = ((a_i·x + b_i) mod 2⁶⁴) >> 32`
//! of the 32-bit shingle value `x`, with an odd 64-bit `a_i` and a 64-bit `b_i` drawn from the
//! documented seed: Dietzfelbinger's multiply-add-shift, 2-independent for 32-bit keys. (A
//! 32-bit `a_i` is not enough: `h` becomes nearly monotone in `x` and every permutation
//! picks the same minimum.) With `x` below 2³², `a_i·x` is two 32×32→64-bit multiplies,
//! which SIMD units do natively, so the min-reduction over a page's shingles vectorises.

use crate::error::{Error, Result};
use crate::tokenize::mix64;

/// How a signature is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// One-permutation hashing with optimal densification (Li et al. 2012; Shrivastava,
    /// ICML 2017): each shingle is hashed once, into one of `permutations` bins, and each bin
    /// keeps its minimum; empty bins borrow from a bin chosen by a fixed probe sequence.
    /// O(shingles + permutations) per document; the same estimator and LSH behaviour.
    OnePermutation,
    /// Classic MinHash: `permutations` independent hash functions, each minimised over every
    /// shingle. O(shingles × permutations) per document.
    Classic,
}

/// MinHash parameters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MinHashParams {
    /// Number of hash functions (or bins), i.e. signature length. Default 128.
    pub permutations: usize,
    /// Seed the hash functions are drawn from. Default 1.
    pub seed: u64,
    /// Signature scheme. Default [`Scheme::OnePermutation`].
    pub scheme: Scheme,
}

impl Default for MinHashParams {
    fn default() -> MinHashParams {
        MinHashParams {
            permutations: 128,
            seed: 1,
            scheme: Scheme::OnePermutation,
        }
    }
}

impl MinHashParams {
    /// Check ranges once, at the boundary.
    pub fn validate(&self) -> Result<()> {
        if self.permutations == 0 || self.permutations > 4096 {
            return Err(Error::params("permutations must be between 1 and 4096"));
        }
        Ok(())
    }
}

/// A MinHash signature. Serializes as its values (a JSON array, say), for programs that keep
/// signatures themselves; comparable only under the same [`MinHashParams`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Signature(Box<[u32]>);

impl From<Vec<u32>> for Signature {
    /// A signature from its values (as [`Signature::as_slice`] gave them).
    fn from(values: Vec<u32>) -> Signature {
        Signature(values.into_boxed_slice())
    }
}

impl Signature {
    /// The values.
    pub fn as_slice(&self) -> &[u32] {
        &self.0
    }

    /// Signature length.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for a zero-length signature.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fraction of positions where two signatures agree: an unbiased estimate of the
    /// Jaccard similarity of the underlying sets.
    pub fn jaccard(&self, other: &Signature) -> f64 {
        let n = self.0.len().min(other.0.len());
        if n == 0 {
            return 0.0;
        }
        let same = self
            .0
            .iter()
            .zip(other.0.iter())
            .filter(|(a, b)| a == b)
            .count();
        same as f64 / n as f64
    }
}

/// The hash functions, drawn once from the seed and reused for every document.
#[derive(Debug, Clone)]
pub struct MinHasher {
    mul: Vec<u64>,
    add: Vec<u64>,
    scheme: Scheme,
    seed: u64,
}

/// SplitMix64: a tiny, well-known generator, so the functions depend only on the seed.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl MinHasher {
    /// Draw the hash functions for `params`.
    pub fn new(params: &MinHashParams) -> MinHasher {
        let mut state = params.seed;
        let mut mul = Vec::with_capacity(params.permutations);
        let mut add = Vec::with_capacity(params.permutations);
        for _ in 0..params.permutations {
            mul.push(splitmix64(&mut state) | 1);
            add.push(splitmix64(&mut state));
        }
        MinHasher {
            mul,
            add,
            scheme: params.scheme,
            seed: params.seed,
        }
    }

    /// Signature length.
    pub fn permutations(&self) -> usize {
        self.mul.len()
    }

    /// The signature of a set of shingle values, given in any order, repeats allowed. An
    /// empty set gets all-`u32::MAX` values; callers skip such documents rather than let them
    /// match each other.
    pub fn sign(&self, values: &[u32]) -> Signature {
        match self.scheme {
            Scheme::OnePermutation => self.sign_oph(values),
            Scheme::Classic => self.sign_classic(values),
        }
    }

    fn sign_oph(&self, values: &[u32]) -> Signature {
        let k = self.mul.len();
        let mut bins = vec![u32::MAX; k];
        let mut filled = vec![false; k];
        for &x in values {
            let h = mix64(x as u64 ^ self.seed);
            // Lemire's fast range: the high bits pick the bin, the low bits are the value.
            let bin = (((h >> 32) * k as u64) >> 32) as usize;
            let v = h as u32;
            if v <= bins[bin] {
                bins[bin] = v;
                filled[bin] = true;
            }
        }
        if filled.iter().all(|&f| !f) {
            return Signature(bins.into_boxed_slice());
        }
        // Optimal densification: an empty bin i copies the first filled bin on its own probe
        // sequence hash(i, 1), hash(i, 2), ...; the sequence depends only on i and the seed,
        // so two documents borrow alike and agreement stays an unbiased Jaccard estimate.
        let mut out = bins.clone();
        for i in 0..k {
            if filled[i] {
                continue;
            }
            let mut attempt = 1u64;
            loop {
                let h = mix64(self.seed ^ ((i as u64) << 32) ^ attempt);
                let j = (((h >> 32) * k as u64) >> 32) as usize;
                if filled[j] {
                    out[i] = bins[j];
                    break;
                }
                attempt += 1;
            }
        }
        Signature(out.into_boxed_slice())
    }

    fn sign_classic(&self, xs: &[u32]) -> Signature {
        let mins: Vec<u32> = self
            .mul
            .iter()
            .zip(&self.add)
            .map(|(&a, &b)| min_hash(xs, a, b))
            .collect();
        Signature(mins.into_boxed_slice())
    }
}

/// The minimum of `h(x) = ((a·x + b) mod 2⁶⁴) >> 32` over `xs`. A plain loop the compiler
/// turns into SIMD multiply-add-shift-min over several shingles at once.
#[inline]
fn min_hash(xs: &[u32], a: u64, b: u64) -> u32 {
    let mut m = u32::MAX;
    for &x in xs {
        let v = (a.wrapping_mul(x as u64).wrapping_add(b) >> 32) as u32;
        m = m.min(v);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shingle::Shingles;

    #[test]
    fn identical_sets_have_identical_signatures() {
        let m = MinHasher::new(&MinHashParams::default());
        let a = Shingles::from_hashes((0..100).collect());
        assert_eq!(m.sign(a.as_slice()).jaccard(&m.sign(a.as_slice())), 1.0);
    }

    #[test]
    fn estimate_tracks_jaccard_in_both_schemes() {
        for scheme in [Scheme::OnePermutation, Scheme::Classic] {
            let m = MinHasher::new(&MinHashParams {
                permutations: 512,
                seed: 7,
                scheme,
            });
            // |A ∩ B| = 500, |A ∪ B| = 1500: J = 1/3.
            let h = |i: u32| i.wrapping_mul(0x9E37_79B9);
            let a = Shingles::from_hashes((0..1000).map(h).collect());
            let b = Shingles::from_hashes((500..1500).map(h).collect());
            let est = m.sign(a.as_slice()).jaccard(&m.sign(b.as_slice()));
            assert!((est - 1.0 / 3.0).abs() < 0.07, "{scheme:?}: estimate {est}");
        }
    }

    #[test]
    fn densification_fills_every_bin_of_a_small_set() {
        let m = MinHasher::new(&MinHashParams::default());
        let sig = m.sign(&[1, 2, 3]);
        assert!(sig.as_slice().iter().all(|&v| v != u32::MAX));
        // The same small set signs the same way: estimate 1.
        assert_eq!(sig.jaccard(&m.sign(&[3, 2, 1, 3])), 1.0);
    }
}
