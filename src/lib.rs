//! samestory finds near-duplicate news stories: the same wire report republished by many
//! sites, each in its own chrome, and reports of one event by different outlets.
//!
//! # The pipeline
//!
//! Each stage is one module, named after what it does, in data-flow order:
//!
//! 1. [`read`]: files, directories, JSON Lines, stdin (gzip too) to raw documents, with every
//!    unreadable record reported as `path:line: what is wrong` and counted, never dropped.
//! 2. [`extract`]: HTML (charset from the page, a real parser) or text to blocks.
//! 3. [`clean`]: a jusText-style block classifier and corpus-level removal of blocks that
//!    recur across pages: site chrome (tickers, menus, related links, footers) goes.
//! 4. [`tokenize`]: Unicode words, NFKC, lowercase.
//! 5. [`shingle`]: word n-grams or stopword-anchored SpotSigs, hashed with seeded xxh3.
//! 6. [`minhash`]: fixed-length signatures.
//! 7. [`lsh`]: banding into candidate pairs, bands and rows chosen from the threshold.
//! 8. [`verify`]: exact Jaccard and containment of every candidate.
//! 9. [`cluster`]: groups in which every page is similar to the representative, so
//!    unrelated stories do not chain through a bridging page.
//! 10. [`output`]: JSON Lines records and tables.
//!
//! [`document`] chains the per-document stages (1–6) for one record, [`params`] holds the
//! parameters of a run and its two presets, and [`pipeline`] runs everything in order and is
//! the only place that runs work in parallel;
//! [`events`] groups the copy clusters into events (reports of one event by different
//! outlets) with its own features; [`index`] keeps a persistent crawl index and [`handoff`]
//! the Parquet tables of a distributed run (`sign`, `group`); [`eval`] scores its clusters against gold labels, and [`explain`] shows why two pages
//! match.
//!
//! # Example
//!
//! ```
//! use samestory::params::Params;
//! use samestory::pipeline::{NoProgress, Pipeline};
//! use samestory::read::{Input, Sources};
//!
//! # fn main() -> samestory::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let story = "The minister said on Tuesday that the visit was aimed at showing the \
//!     determination of the two countries to strengthen their ties, and he added that it \
//!     would be the first of many such trips in the coming year.";
//! std::fs::write(dir.path().join("a.txt"), format!("Home | World\n{story}\n© Site A"))?;
//! std::fs::write(dir.path().join("b.txt"), format!("Menu | Login\n{story}\n© Site B"))?;
//!
//! let params = Params::dedup();
//! let sources = Sources::open(&[Input::Path(dir.path().into())], &params.read)?;
//! let analysis = Pipeline::new(params)?.run(&sources, &NoProgress);
//! let records = samestory::output::dedup_records(&analysis);
//! assert_eq!(records[1].duplicate_of.as_deref(), Some("a.txt"));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod clean;
pub mod cluster;
pub mod document;
mod error;
pub mod eval;
pub mod events;
pub mod explain;
pub mod extract;
pub mod handoff;
pub mod index;
pub mod lsh;
pub mod minhash;
pub mod output;
pub mod params;
pub mod pipeline;
pub mod read;
pub mod shingle;
mod spill;
pub mod tokenize;
pub mod verify;

pub use error::{Error, ErrorKind, Result};

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, err.to_string()).with_source(err)
    }
}
