//! Stage 7, lsh: signatures to candidate pairs.
//!
//! In: [`Signature`]s. Out: candidate pairs of document indices, sorted and unique: the
//! pairs that agree on every row of at least one band. A pair with Jaccard `s` becomes a
//! candidate with probability `1 - (1 - s^r)^b` ([`LshParams::candidate_probability`]).
//!
//! The user gives a similarity threshold; [`LshParams::for_threshold`] picks `b` bands of
//! `r` rows (`b·r ≤ permutations`) minimising the weighted false-positive and false-negative
//! areas under that curve, as datasketch does. datasketch weighs both equally; samestory
//! verifies every candidate exactly, so a false positive costs one set comparison while a
//! false negative is a duplicate lost for good, and it weighs them 1 : 9
//! ([`FALSE_POSITIVE_WEIGHT`]). At 0.5 with 128 values that is 32 × 4 instead of 25 × 5.
//! Each band's key is one xxh3 hash of its rows, computed once.

use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::minhash::Signature;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Banding parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LshParams {
    /// Number of bands.
    pub bands: usize,
    /// Rows (signature values) per band.
    pub rows: usize,
}

/// Buckets larger than this ("giant" buckets) are not expanded to all their pairs: each
/// member is paired with the bucket's first [`GIANT_HEADS`] members only, which keeps a
/// bucket of 10,000 near-copies at 1.6·10⁵ pairs instead of 5·10⁷ while still linking every
/// member to the same pages (and through them, by the second chance of
/// [`crate::cluster::cluster_with`], to the kept page).
pub const MAX_BUCKET_PAIRS: usize = 64;

/// Members of a giant bucket that every other member is paired with: its first, in the
/// order of the entries (by id).
pub const GIANT_HEADS: usize = 16;

/// Pairs a document may get from giant buckets over all bands. Without it a family of
/// near-identical records (one number apart) meets different heads in every band and the
/// pairs add up band after band (2.9 million for 20,000 records); with it a document stops
/// taking giant-bucket pairs once it has this many, so candidates stay below
/// `(GIANT_HEADS + MAX_GIANT_PARTNERS)` per document whatever the content.
pub const MAX_GIANT_PARTNERS: u32 = 32;

/// Weight of the false-positive area when choosing bands and rows (the false-negative area
/// weighs `1 - FALSE_POSITIVE_WEIGHT`). On the 100k-document benchmark corpus at threshold
/// 0.5 this lifts recall of the pairs above the threshold from 0.933 to 0.984 for 46% more
/// candidate pairs (`docs/performance.md`).
pub const FALSE_POSITIVE_WEIGHT: f64 = 0.1;

fn integrate(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    const STEPS: usize = 200;
    let step = (hi - lo) / STEPS as f64;
    (0..STEPS)
        .map(|i| f(lo + (i as f64 + 0.5) * step) * step)
        .sum()
}

impl LshParams {
    /// The bands and rows for `threshold` with `permutations` values per signature, with
    /// samestory's weights ([`FALSE_POSITIVE_WEIGHT`]).
    pub fn for_threshold(threshold: f64, permutations: usize) -> LshParams {
        LshParams::for_threshold_weighted(threshold, permutations, FALSE_POSITIVE_WEIGHT)
    }

    /// The bands and rows minimising `fp_weight · FP + (1 - fp_weight) · FN` (datasketch uses
    /// `fp_weight` 0.5).
    pub fn for_threshold_weighted(
        threshold: f64,
        permutations: usize,
        fp_weight: f64,
    ) -> LshParams {
        // A search over every (bands, rows) with two integrals each, ~2 ms at 128 values,
        // asked for several times a run (validation, signing, the index) and once per
        // process of an hourly `index add`: remembered per process.
        type Chosen = Vec<((u64, usize, u64), LshParams)>;
        static CHOSEN: Mutex<Chosen> = Mutex::new(Vec::new());
        let asked = (threshold.to_bits(), permutations, fp_weight.to_bits());
        let chosen = |c: &Chosen| c.iter().find(|(k, _)| *k == asked).map(|&(_, p)| p);
        if let Some(p) = chosen(&CHOSEN.lock().unwrap_or_else(|e| e.into_inner())) {
            return p;
        }
        let p = LshParams::search(threshold, permutations, fp_weight);
        let mut c = CHOSEN.lock().unwrap_or_else(|e| e.into_inner());
        if chosen(&c).is_none() {
            c.push((asked, p));
        }
        p
    }

    fn search(threshold: f64, permutations: usize, fp_weight: f64) -> LshParams {
        let mut best = (f64::INFINITY, LshParams { bands: 1, rows: 1 });
        for bands in 1..=permutations {
            for rows in 1..=permutations / bands {
                let p = LshParams { bands, rows };
                let fp = integrate(|s| p.candidate_probability(s), 0.0, threshold);
                let fne = integrate(|s| 1.0 - p.candidate_probability(s), threshold, 1.0);
                let error = fp_weight * fp + (1.0 - fp_weight) * fne;
                if error < best.0 {
                    best = (error, p);
                }
            }
        }
        best.1
    }

    /// Probability that a pair with Jaccard `s` shares at least one band.
    pub fn candidate_probability(&self, s: f64) -> f64 {
        1.0 - (1.0 - s.powi(self.rows as i32)).powi(self.bands as i32)
    }

    /// Check against the signature length, once, at the boundary.
    pub fn validate(&self, permutations: usize) -> Result<()> {
        if self.bands == 0 || self.rows == 0 {
            return Err(Error::params("bands and rows must be at least 1"));
        }
        if self.bands * self.rows > permutations {
            return Err(Error::params(format!(
                "bands × rows = {} exceeds the {permutations} permutations",
                self.bands * self.rows
            )));
        }
        Ok(())
    }
}

/// The key of band `band` of a signature.
pub fn band_key(signature: &Signature, band: usize, params: &LshParams) -> u64 {
    let rows = &signature.as_slice()[band * params.rows..(band + 1) * params.rows];
    let mut bytes = [0u8; 4 * 64];
    if rows.len() <= 64 {
        for (chunk, v) in bytes.chunks_exact_mut(4).zip(rows) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        xxh3_64_with_seed(&bytes[..4 * rows.len()], band as u64)
    } else {
        let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
        xxh3_64_with_seed(&bytes, band as u64)
    }
}

/// Candidate pairs from the `(key, position)` entries of one band, which must be sorted.
/// Appends to `out`, unsorted. Buckets up to [`MAX_BUCKET_PAIRS`] give all their pairs; in a
/// larger bucket a member is paired with the bucket's first [`GIANT_HEADS`] members, and
/// only while `spent[position]` (its pairs from giant buckets so far, updated here) is below
/// [`MAX_GIANT_PARTNERS`]. Bands must be fed in a fixed order for the result to be.
pub fn bucket_pairs(entries: &[(u64, u32)], spent: &mut [u32], out: &mut Vec<(u32, u32)>) {
    debug_assert!(entries.is_sorted());
    for bucket in entries.chunk_by(|a, b| a.0 == b.0) {
        if bucket.len() < 2 {
            continue;
        }
        if bucket.len() <= MAX_BUCKET_PAIRS {
            for (i, &(_, a)) in bucket.iter().enumerate() {
                for &(_, b) in &bucket[..i] {
                    out.push((b.min(a), b.max(a)));
                }
            }
            continue;
        }
        let heads = &bucket[..GIANT_HEADS];
        for (i, &(_, a)) in bucket.iter().enumerate().skip(1) {
            if spent[a as usize] >= MAX_GIANT_PARTNERS {
                continue;
            }
            let partners = &heads[..i.min(heads.len())];
            for &(_, b) in partners {
                out.push((b.min(a), b.max(a)));
            }
            spent[a as usize] += partners.len() as u32;
        }
    }
}

/// [`bucket_pairs`] for arrival order (`dedup --keep first` and the index): `entries` sorted
/// by key, then by arrival. A member pairs with every earlier member of its bucket while
/// there are at most [`MAX_BUCKET_PAIRS`] of them; past that, with the bucket's first
/// [`GIANT_HEADS`] members, while `spent` (its giant-bucket pairs so far, over bands fed in
/// order) is below [`MAX_GIANT_PARTNERS`]. A member's pairs depend only on earlier members,
/// so a page added to an index later meets exactly the pages it would meet in one run.
pub fn bucket_pairs_online(entries: &[(u64, u32)], spent: &mut [u32], out: &mut Vec<(u32, u32)>) {
    debug_assert!(entries.is_sorted());
    for bucket in entries.chunk_by(|a, b| a.0 == b.0) {
        for (i, &(_, a)) in bucket.iter().enumerate().skip(1) {
            let partners = match earlier_partners(i, spent[a as usize]) {
                Some(n) => &bucket[..n],
                None => continue,
            };
            for &(_, b) in partners {
                out.push((b.min(a), b.max(a)));
            }
            if i > MAX_BUCKET_PAIRS {
                spent[a as usize] += partners.len() as u32;
            }
        }
    }
}

/// How many of its bucket's earliest members a member with `earlier` earlier members pairs
/// with ([`bucket_pairs_online`]), given its giant-bucket pairs so far; `None`: none.
pub(crate) fn earlier_partners(earlier: usize, spent: u32) -> Option<usize> {
    if earlier <= MAX_BUCKET_PAIRS {
        Some(earlier)
    } else if spent < MAX_GIANT_PARTNERS {
        Some(GIANT_HEADS)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_for_common_thresholds() {
        // datasketch's choice for 128 permutations at 0.5 with equal weights, and ours.
        assert_eq!(
            LshParams::for_threshold_weighted(0.5, 128, 0.5),
            LshParams { bands: 25, rows: 5 }
        );
        assert_eq!(
            LshParams::for_threshold(0.5, 128),
            LshParams { bands: 32, rows: 4 }
        );
    }

    #[test]
    fn probability_is_monotone_and_steep_at_threshold() {
        let p = LshParams::for_threshold(0.5, 128);
        assert!(p.candidate_probability(0.3) < 0.25);
        assert!(p.candidate_probability(0.7) > 0.95);
        assert!(p.candidate_probability(0.5) < p.candidate_probability(0.6));
    }

    /// Entries from per-document keys (`None`: not indexed).
    fn band_pairs(keys: &[Option<u64>], out: &mut Vec<(u32, u32)>) {
        let mut entries: Vec<(u64, u32)> = keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.map(|k| (k, i as u32)))
            .collect();
        entries.sort_unstable();
        bucket_pairs(&entries, &mut vec![0; keys.len()], out);
    }

    #[test]
    fn band_pairs_group_equal_keys() {
        let mut out = Vec::new();
        band_pairs(&[Some(1), Some(2), Some(1), None, Some(1)], &mut out);
        out.sort();
        assert_eq!(out, [(0, 2), (0, 4), (2, 4)]);
    }

    #[test]
    fn giant_buckets_are_capped() {
        let keys = vec![Some(9u64); 1000];
        let mut out = Vec::new();
        band_pairs(&keys, &mut out);
        assert!(out.len() < 1000 * MAX_BUCKET_PAIRS);
        // Every member is still linked to the first.
        assert!((1..1000u32).all(|j| out.contains(&(0, j))));
    }

    #[test]
    fn online_pairs_depend_only_on_earlier_members() {
        let bucket = |n: u32| -> Vec<(u64, u32)> { (0..n).map(|p| (7u64, p)).collect() };
        let pairs_of = |n: u32, member: u32| -> Vec<(u32, u32)> {
            let mut spent = vec![0u32; n as usize];
            let mut out = Vec::new();
            bucket_pairs_online(&bucket(n), &mut spent, &mut out);
            out.retain(|&(_, b)| b == member);
            out.sort_unstable();
            out
        };
        // Up to 64 earlier members: paired with all of them; past that, the first 16.
        assert_eq!(pairs_of(65, 64).len(), 64);
        assert_eq!(
            pairs_of(100, 65),
            (0..16).map(|a| (a, 65)).collect::<Vec<_>>()
        );
        // A member's pairs do not change when later members join the bucket.
        for member in [1, 30, 64, 65, 90] {
            assert_eq!(pairs_of(member + 1, member), pairs_of(300, member));
        }
        // The budget: after two giant buckets (2 x 16 pairs) a member takes no more.
        let mut spent = vec![0u32; 100];
        let mut out = Vec::new();
        for _ in 0..3 {
            bucket_pairs_online(&bucket(100), &mut spent, &mut out);
        }
        assert_eq!(out.iter().filter(|&&(_, b)| b == 99).count(), 32);
    }

    #[test]
    fn giant_bucket_partners_are_budgeted_across_bands() {
        // Band after band most of 1,000 near-identical members meet in one giant bucket,
        // but a different few are missing each time, so the heads differ from band to band;
        // the budget stops the pairs from adding up.
        let n = 1000u32;
        let mut spent = vec![0; n as usize];
        let mut out = Vec::new();
        for band in 0..32u32 {
            let mut entries: Vec<(u64, u32)> = (0..n)
                .map(|i| {
                    let key = if (i * 31 + band * 17) % 5 == 0 {
                        1000 + i
                    } else {
                        7
                    };
                    (key as u64, i)
                })
                .collect();
            entries.sort_unstable();
            bucket_pairs(&entries, &mut spent, &mut out);
        }
        out.sort_unstable();
        out.dedup();
        let bound = (GIANT_HEADS as u32 + MAX_GIANT_PARTNERS) as usize * n as usize;
        assert!(out.len() <= bound, "{} pairs", out.len());
        assert!(
            spent
                .iter()
                .all(|&s| s < MAX_GIANT_PARTNERS + GIANT_HEADS as u32)
        );
    }
}
