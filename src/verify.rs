//! Stage 8, verify: the exact similarity of a candidate pair.
//!
//! In: the [`Shingles`] of two documents. Out: a [`Similarity`]: exact Jaccard and the
//! containment of each side in the other (for truncated or extended copies). LSH only
//! proposes pairs; this decides, so every reported score is exact.

use crate::shingle::Shingles;

/// Exact similarity of two shingle sets.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct Similarity {
    /// |A ∩ B| / |A ∪ B|.
    pub jaccard: f64,
    /// |A ∩ B| / |A|: how much of A is in B.
    pub containment_a: f64,
    /// |A ∩ B| / |B|: how much of B is in A.
    pub containment_b: f64,
    /// |A ∩ B|.
    pub shared: usize,
}

/// Which exact score decides whether a pair is similar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Measure {
    /// Jaccard: both pages are mostly the same text.
    Jaccard,
    /// The larger containment: one page is mostly inside the other (truncated copies,
    /// extended updates).
    Containment,
}

impl Similarity {
    /// The score under `measure`.
    pub fn score(&self, measure: Measure) -> f64 {
        match measure {
            Measure::Jaccard => self.jaccard,
            Measure::Containment => self.containment_a.max(self.containment_b),
        }
    }
}

/// Size of the intersection of two sorted, unique slices.
pub(crate) fn intersection_len(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// Compare two shingle sets exactly. Two empty sets have similarity 0, never 1: pages with
/// nothing to compare are not duplicates of each other.
pub fn compare(a: &Shingles, b: &Shingles) -> Similarity {
    let shared = intersection_len(a.as_slice(), b.as_slice());
    let union = a.len() + b.len() - shared;
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            0.0
        } else {
            num as f64 / den as f64
        }
    };
    Similarity {
        jaccard: ratio(shared, union),
        containment_a: ratio(shared, a.len()),
        containment_b: ratio(shared, b.len()),
        shared,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u32]) -> Shingles {
        Shingles::from_hashes(v.to_vec())
    }

    #[test]
    fn jaccard_and_containment() {
        let s = compare(&set(&[1, 2, 3, 4]), &set(&[3, 4, 5, 6, 7, 8]));
        assert_eq!(s.shared, 2);
        assert_eq!(s.jaccard, 0.25);
        assert_eq!(s.containment_a, 0.5);
        assert!((s.containment_b - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.score(Measure::Containment), 0.5);
    }

    #[test]
    fn empty_sets_are_not_similar() {
        assert_eq!(compare(&set(&[]), &set(&[])).jaccard, 0.0);
    }
}
