//! The parameters of one run: every stage's parameters, the similarity threshold and
//! measure, and the two presets, [`Params::dedup`] and [`Params::clusters`].

use crate::clean::CleanParams;
use crate::error::{Error, Result};
use crate::lsh::LshParams;
use crate::minhash::MinHashParams;
use crate::read::ReadParams;
use crate::shingle::{ShingleParams, Shingles};
use crate::verify::Measure;

/// Which copy of a duplicate group `dedup` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Keep {
    /// The copy the most others duplicate: of each group of near-copies, the page verified
    /// similar to the most pages (ties: the longest cleaned text, then the smallest id). A
    /// page is only ever a duplicate of a kept page it was verified against, so keeping the
    /// group's centre lets the most copies find it. Independent of input order.
    Central,
    /// The longest text after cleaning (ties: smallest id). Independent of input order.
    Longest,
    /// The first in input order.
    First,
}

/// Where the shingle sets for exact verification come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verify {
    /// Keep every document's shingle set from the first pass (needed to re-group at other
    /// thresholds, as `eval --sweep` does). Memory grows with the text.
    InMemory,
    /// Keep only signatures in memory; after LSH, load the sets of the documents in
    /// candidate pairs only. Memory grows with the number of documents. The sets come from
    /// the shingle values the first pass wrote to an unlinked temporary file (up to 4 GiB);
    /// pages past that are rebuilt by reading the inputs again, so the inputs must not
    /// change during the run (stdin and other streams are spooled to a temporary file when
    /// opened, so they qualify).
    Reread,
}

/// Whether the run groups near-identical copies (`dedup`) or reports of one story
/// (`clusters`); decides the founding order of clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Crawl deduplication: the kept copy founds its group.
    Dedup(Keep),
    /// Story clusters: the best-connected page founds its group.
    Clusters,
}

/// How a run cleaned pages, which decides what a pair's scores mean: the same two pages
/// score differently when blocks repeated across a corpus are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cleaning {
    /// Nothing removed (`--no-clean`).
    None,
    /// Each page cleaned on its own (`dedup`, `similarity`).
    Page,
    /// Each page cleaned, then blocks found in pages of several first-pass clusters removed
    /// (`clusters`, `eval`).
    Corpus,
}

impl Cleaning {
    /// `none`, `page` or `corpus`, as written in output records.
    pub fn as_str(self) -> &'static str {
        match self {
            Cleaning::None => "none",
            Cleaning::Page => "page",
            Cleaning::Corpus => "corpus",
        }
    }
}

/// All parameters of one run. Build with [`Params::dedup`] or [`Params::clusters`] (the two
/// presets) and adjust fields; [`Params::validate`] checks them once.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Params {
    /// How to read inputs.
    pub read: ReadParams,
    /// How to clean pages.
    pub clean: CleanParams,
    /// How to shingle.
    pub shingle: ShingleParams,
    /// Signature length and seed.
    pub minhash: MinHashParams,
    /// Minimum exact score for a pair to count as similar, in [0, 1].
    pub threshold: f64,
    /// Which exact score the threshold applies to.
    pub measure: Measure,
    /// Bands and rows; `None` derives them from `threshold` ([`LshParams::for_threshold`]).
    pub lsh: Option<LshParams>,
    /// Grouping mode.
    pub mode: Mode,
    /// In `clusters` mode, merge two clusters when at least this share of their cross pairs
    /// are verified similar ([`crate::cluster::merge_dense`]). Default 0.5; above 1 turns it off.
    pub merge_density: f64,
    /// Where verification gets shingle sets: `Reread` for `dedup` (crawl scale),
    /// `InMemory` for `clusters`.
    pub verify: Verify,
    /// With [`Measure::Containment`], a pair also needs at least this many shared shingles:
    /// on a short page one shared boilerplate sentence already makes a high containment.
    /// Default 0 for `dedup`, 20 for `clusters` (a shared passage of 24 words).
    pub min_shared: usize,
    /// With [`Verify::Reread`], also rebuild the shingle set of every document that exact
    /// copies follow, even when LSH proposed no pair for it: listing every similar pair with
    /// its scores (`similarity --pairs`) needs them; grouping does not. It also keeps the
    /// signatures of those pairs for [`crate::pipeline::Analysis::estimate`] (without it,
    /// signatures are freed before the second read). Default false.
    pub copy_sets: bool,
    /// Compute event features while signing ([`crate::events`]): what `--level events`
    /// groups on. Default false.
    pub events: bool,
}

impl Params {
    /// Preset for `dedup`: near-identical copies. Word 5-grams, Jaccard ≥ 0.5, keep the
    /// central copy ([`Keep::Central`]).
    pub fn dedup() -> Params {
        Params {
            read: ReadParams::default(),
            clean: CleanParams::default(),
            shingle: ShingleParams::default(),
            minhash: MinHashParams::default(),
            threshold: 0.5,
            measure: Measure::Jaccard,
            lsh: None,
            mode: Mode::Dedup(Keep::Central),
            merge_density: 0.5,
            verify: Verify::Reread,
            min_shared: 0,
            copy_sets: false,
            events: false,
        }
    }

    /// Preset for `clusters`: reports of one story. Word 5-grams, containment ≥ 0.08 (one
    /// page shares a passage with another), then dense-cluster merging. Measured against
    /// SpotSigs features and other n and thresholds in `docs/quality.md`.
    pub fn clusters() -> Params {
        Params {
            threshold: 0.08,
            measure: Measure::Containment,
            mode: Mode::Clusters,
            verify: Verify::InMemory,
            min_shared: 20,
            ..Params::dedup()
        }
    }

    /// The exact score of two shingle sets if they are similar under this run's threshold
    /// and measure (with [`Measure::Containment`], also sharing at least
    /// [`Params::min_shared`] shingles); `None` if not. The one test every verified edge,
    /// second-chance check and index decision applies.
    pub fn similar(&self, a: &Shingles, b: &Shingles) -> Option<f64> {
        let s = crate::verify::compare(a, b);
        let score = s.score(self.measure);
        let min_shared = match self.measure {
            Measure::Containment => self.min_shared,
            Measure::Jaccard => 0,
        };
        (score >= self.threshold && s.shared >= min_shared).then_some(score)
    }

    /// The cleaning this run applies.
    pub fn cleaning(&self) -> Cleaning {
        if !self.clean.enabled {
            Cleaning::None
        } else if self.clean.repeated_min_clusters > 0 && self.mode == Mode::Clusters {
            Cleaning::Corpus
        } else {
            Cleaning::Page
        }
    }

    /// The banding in force: the override, or the best for the threshold.
    ///
    /// With [`Measure::Containment`] MinHash cannot estimate the score (a short page inside a
    /// long one has a low Jaccard), so every signature value is its own band (`permutations`
    /// bands of 1 row: any shared minimum makes a candidate) and exact verification decides.
    /// Fewer bands made results depend on which pairs LSH happened to miss (the seeds' Reuters
    /// pair, Jaccard 0.05, was missed for 2 seeds of 8 with 40 × 1; `docs/quality.md`).
    pub fn lsh_params(&self) -> LshParams {
        self.lsh.unwrap_or_else(|| match self.measure {
            Measure::Jaccard => LshParams::for_threshold(self.threshold, self.minhash.permutations),
            Measure::Containment => LshParams {
                bands: self.minhash.permutations,
                rows: 1,
            },
        })
    }

    /// Check every stage's parameters once, before any work.
    pub fn validate(&self) -> Result<()> {
        self.clean.validate()?;
        self.shingle.validate()?;
        self.minhash.validate()?;
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(Error::params("threshold must be within [0, 1]"));
        }
        self.lsh_params().validate(self.minhash.permutations)
    }
}
