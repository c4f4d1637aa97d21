//! The pipeline: every stage in order, and the one place that runs work in parallel.
//!
//! ```text
//! read ─▶ extract ─▶ clean ─▶ tokenize ─▶ shingle ─▶ minhash ─▶ lsh ─▶ verify ─▶ cluster
//! ```
//!
//! [`Pipeline::run`] reads the inputs in chunks and, for each chunk in parallel, parses,
//! extracts, tokenizes each block once (word hashes serve both the cleaner's stopword counts
//! and the shingles), classifies blocks, shingles and signs; reading the next chunk overlaps
//! with processing this one. Page text is dropped as soon as a document is signed: what stays
//! per document is its id, title, length, shingle set (32-bit values, for exact verification)
//! and signature. Then it bands the signatures, verifies every candidate pair exactly, and
//! clusters the verified pairs. Only corpus-level cleaning (off by default) needs every
//! page's blocks before signing, and then holds them.
//!
//! Output never depends on thread count: parallel results are collected in input order, and
//! candidate pairs are sorted before verification. Clustering uses a per-document rank by
//! id, so shuffled input gives the same clusters.

use std::time::Instant;

use ahash::AHashMap;
use rayon::prelude::*;

use crate::clean;
use crate::cluster::{self, Cluster, Edge};
use crate::document::{Retain, prepare_record, sign_keeping, sign_parts};
use crate::error::Result;
use crate::lsh::{self, LshParams};
use crate::minhash::{MinHasher, Signature};
use crate::read::{FieldCounts, FieldTally, Pending, Sources};
use crate::shingle::Shingles;
use crate::spill::{SPILL_BUDGET, Spill};
use crate::tokenize::Tokenizer;
use crate::verify::{self, Measure, Similarity};

use crate::document::{Doc, Prepared, sign};
use crate::params::{Cleaning, Keep, Mode, Params, Verify};

/// Counts for the end-of-run summary.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Documents read (every record, skipped ones included).
    pub documents: usize,
    /// Skipped documents per reason kind, sorted by kind.
    pub skipped: Vec<(&'static str, usize)>,
    /// Candidate pairs proposed by LSH.
    pub candidates: usize,
    /// Candidate pairs that passed exact verification.
    pub verified: usize,
    /// Candidates dropped by [`Pipeline::prefilter`] before verification.
    pub prefiltered: usize,
    /// Signed documents that are exact copies of another (same cleaned words): grouped
    /// before LSH, never banded or verified on their own.
    pub copies: usize,
    /// Which fields the JSON Lines records had (first read only).
    pub fields: FieldCounts,
    /// Bytes of input read (JSON lines, text or HTML).
    pub bytes: u64,
    /// Seconds spent reading, extracting, cleaning, shingling and signing.
    pub sign_seconds: f64,
    /// Seconds spent in LSH, verification and clustering (all of what follows signing).
    pub group_seconds: f64,
    /// Of which: banding signatures into candidate pairs.
    pub bucket_seconds: f64,
    /// Of which: the second read that rebuilds shingle sets ([`Verify::Reread`]).
    pub reread_seconds: f64,
    /// Shingle sets the second read loaded from the first pass's spill.
    pub from_spill: usize,
    /// Shingle sets the second read rebuilt from the input (pages past the spill's budget,
    /// or every page when no temporary file could be made).
    pub reread: usize,
}

/// The result of a run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Analysis {
    /// Every input document, in input order.
    pub docs: Vec<Doc>,
    /// Verified similar pairs, sorted by (a, b).
    pub edges: Vec<Edge>,
    /// Groups over the signed documents (singletons included), in a deterministic order:
    /// by size descending, then by representative id.
    pub clusters: Vec<Cluster>,
    /// The banding used.
    pub lsh: LshParams,
    /// The cleaning applied: what the scores were computed on.
    pub cleaning: Cleaning,
    /// Counts.
    pub stats: Stats,
}

impl Analysis {
    /// The exact similarity of two documents of this analysis.
    pub fn similarity(&self, a: u32, b: u32) -> Similarity {
        verify::compare(self.shingles(a), self.shingles(b))
    }

    /// A document's shingle set; for an exact copy whose set was not rebuilt
    /// ([`Verify::Reread`] rebuilds only the sets LSH needs), the set of the document it
    /// copies, which is the same set.
    pub fn shingles(&self, d: u32) -> &Shingles {
        let doc = &self.docs[d as usize];
        match doc.copy_of {
            Some(leader) if doc.shingles.is_empty() => &self.docs[leader as usize].shingles,
            _ => &doc.shingles,
        }
    }

    /// Every verified similar pair `(a, b, score)`, `a < b`, sorted, exact copies included:
    /// each edge of a document is an edge of each of its copies, and copies of one document
    /// are pairs with score 1. Quadratic in the number of copies of a page, as such a
    /// listing is; grouping never needs it.
    pub fn similar_pairs(&self) -> Vec<(u32, u32, f64)> {
        let mut group: AHashMap<u32, Vec<u32>> = AHashMap::new();
        for (d, doc) in self.docs.iter().enumerate() {
            if let Some(leader) = doc.copy_of {
                group
                    .entry(leader)
                    .or_insert_with(|| vec![leader])
                    .push(d as u32);
            }
        }
        let members = |d: u32| group.get(&d).map_or(vec![d], Clone::clone);
        let mut pairs = Vec::new();
        for e in &self.edges {
            for x in members(e.a) {
                for y in members(e.b) {
                    pairs.push((x.min(y), x.max(y), e.score));
                }
            }
        }
        for list in group.values() {
            for (i, &x) in list.iter().enumerate() {
                for &y in &list[i + 1..] {
                    pairs.push((x.min(y), x.max(y), 1.0));
                }
            }
        }
        pairs.sort_by_key(|p| (p.0, p.1));
        pairs
    }

    /// Free every shingle set and signature, keeping ids, decisions and statistics: what a
    /// caller does before building output records for a large corpus, so the records take
    /// the sets' memory instead of adding to it. [`Analysis::similarity`] and
    /// [`Analysis::estimate`] are meaningless afterwards; signed documents stay marked signed.
    pub fn release_sets(&mut self) {
        for d in &mut self.docs {
            d.shingles = Shingles::default();
            if let Some(s) = &mut d.signature {
                *s = Signature::from(Vec::new());
            }
        }
    }

    /// The MinHash estimate for two documents (0 if either is unsigned). After a
    /// [`Verify::Reread`] run signatures are kept only where [`Params::copy_sets`] asks for
    /// similar pairs (the candidates that survived the prefilter, and exact copies); other
    /// pairs estimate 0.
    pub fn estimate(&self, a: u32, b: u32) -> f64 {
        match (
            &self.docs[a as usize].signature,
            &self.docs[b as usize].signature,
        ) {
            (Some(x), Some(y)) => x.jaccard(y),
            _ => 0.0,
        }
    }
}

/// What a stage's units of work are, so progress can be shown in the right terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unit {
    /// Input bytes (reading and signing).
    Bytes,
    /// LSH bands.
    Bands,
    /// Documents (the second read).
    Documents,
}

/// Reports progress; the library never prints, so the binary decides how to show it.
pub trait Progress: Sync {
    /// A stage starts with `total` units of work (0 if unknown); the previous one is over.
    fn stage(&self, name: &str, total: u64, unit: Unit);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// `n` more documents were read (in a [`Unit::Bytes`] stage, beside the bytes).
    fn documents(&self, _n: u64) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&self, _: &str, _: u64, _: Unit) {}
    fn advance(&self, _: u64) {}
}

/// Corpus-level cleaning over a first pass: sign every page, cluster, then drop the kept
/// blocks whose text appears in pages of at least `repeated_min_clusters` different clusters
/// ([`clean::mark_repeated`]).
fn drop_repeated(pipeline: &Pipeline, pages: &mut [Prepared], progress: &dyn Progress) {
    let docs: Vec<Doc> = pages
        .par_iter()
        .map(|p| sign(p, &pipeline.params, &pipeline.hasher))
        .collect();
    let first = pipeline.group(docs, progress);
    // Cluster of each page; pages in no cluster are their own.
    let mut cluster_of: Vec<u32> = (0..pages.len() as u32).map(|i| u32::MAX - i).collect();
    for (c, cluster) in first.clusters.iter().enumerate() {
        for &(d, _) in &cluster.members {
            cluster_of[d as usize] = c as u32;
        }
    }
    let cap = pipeline.params.clean.repeated_min_clusters;
    let keys: Vec<Vec<u64>> = pages
        .par_iter()
        .map(|p| {
            let mut keys: Vec<u64> = p
                .page
                .blocks
                .iter()
                .zip(&p.verdicts)
                .filter(|(_, v)| v.is_keep())
                .map(|(b, _)| clean::block_key(&b.text))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        })
        .collect();
    let mut seen: AHashMap<u64, Vec<u32>> = AHashMap::new();
    for (d, page_keys) in keys.iter().enumerate() {
        for &k in page_keys {
            let clusters = seen.entry(k).or_default();
            if clusters.len() < cap && !clusters.contains(&cluster_of[d]) {
                clusters.push(cluster_of[d]);
            }
        }
    }
    let clusters_of = |k: u64| seen.get(&k).map_or(0, Vec::len);
    pages.par_iter_mut().for_each(|p| {
        clean::mark_repeated(
            &p.page.blocks,
            &mut p.verdicts,
            clusters_of,
            &pipeline.params.clean,
        );
    });
}

/// Document indices sorted by id (then input position): the order-independent tie-breaker.
pub(crate) fn ids_in_order(docs: &[Doc]) -> Vec<u32> {
    let mut by_id: Vec<u32> = (0..docs.len() as u32).collect();
    by_id.sort_by(|&a, &b| {
        docs[a as usize]
            .id
            .cmp(&docs[b as usize].id)
            .then(a.cmp(&b))
    });
    by_id
}

/// Records read per parallel chunk, at most.
const CHUNK: usize = 2048;

/// Input bytes per parallel chunk, at most (one record may exceed it): with the chunk being
/// read ahead, at most about twice this is held as unprocessed input, whatever the records'
/// sizes.
const CHUNK_BYTES: usize = 32 << 20;

/// The next chunk: up to [`CHUNK`] items or [`CHUNK_BYTES`] bytes.
fn take_chunk<T>(items: &mut impl Iterator<Item = T>, size: &impl Fn(&T) -> usize) -> Vec<T> {
    let mut chunk = Vec::new();
    let mut bytes = 0;
    while chunk.len() < CHUNK && bytes < CHUNK_BYTES {
        let Some(item) = items.next() else { break };
        bytes += size(&item);
        chunk.push(item);
    }
    chunk
}

/// Feed `items` to `process` in chunks ([`take_chunk`]), reading the next chunk while the
/// current one is processed (the reader is sequential, `process` runs in parallel), and hand
/// each result to `consume` in input order, on the calling thread.
///
/// `consume` runs while the next chunk is processed, not between chunks: a consumer that
/// writes (Parquet tables in `sign`, the index's store in `index add`) would otherwise leave
/// the other cores idle while it works. Reading and processing run on a scoped thread that
/// hands results over a channel of one: at most one result waits while another is consumed,
/// so memory holds a few chunks, not the input. `consume` need not be `Send` (a store's
/// transaction is not).
fn read_ahead<T: Send, R: Send>(
    items: impl Iterator<Item = T> + Send,
    size: impl Fn(&T) -> usize + Sync,
    process: impl Fn(Vec<T>) -> R + Sync,
    mut consume: impl FnMut(R),
) {
    read_ahead_by(items, size, process, 1, |r, _| consume(r));
}

/// [`read_ahead`] with up to `ahead` results waiting instead of one, each handed over with
/// whether it is the last that was ready (so a slow consumer can take what piled up while
/// it worked as one).
fn read_ahead_by<T: Send, R: Send>(
    items: impl Iterator<Item = T> + Send,
    size: impl Fn(&T) -> usize + Sync,
    process: impl Fn(Vec<T>) -> R + Sync,
    ahead: usize,
    mut consume: impl FnMut(R, bool),
) {
    let (size, process) = (&size, &process);
    std::thread::scope(|scope| {
        let (done, results) = std::sync::mpsc::sync_channel::<R>(ahead.max(1));
        scope.spawn(move || {
            let mut items = items;
            let mut chunk: Vec<T> = take_chunk(&mut items, size);
            while !chunk.is_empty() {
                let (next, out) = rayon::join(|| take_chunk(&mut items, size), || process(chunk));
                if done.send(out).is_err() {
                    // The consumer is gone (it panicked): stop reading.
                    return;
                }
                chunk = next;
            }
        });
        while let Ok(out) = results.recv() {
            let mut ready = vec![out];
            ready.extend(results.try_iter());
            let n = ready.len();
            for (i, out) in ready.into_iter().enumerate() {
                consume(out, i + 1 == n);
            }
        }
    });
}

/// Skip every record whose id an earlier record (in input order) already has, with reason
/// `repeated id, first at PATH:LINE`: output lines must be told apart by id. `by_id` is
/// [`ids_in_order`] of `docs`.
pub(crate) fn skip_repeated_ids(docs: &mut [Doc], by_id: &[u32]) {
    let runs: Vec<&[u32]> = by_id
        .chunk_by(|&a, &b| docs[a as usize].id == docs[b as usize].id)
        .filter(|run| run.len() > 1)
        .collect();
    for run in runs {
        // `ids_in_order` breaks ties by input position: the run's first is the earliest.
        let first = docs[run[0] as usize].origin.to_string();
        for &d in &run[1..] {
            docs[d as usize].skip_as_repeated(first.clone());
        }
    }
}

/// Before the second read: free the signatures nothing reads any more. Banding and the
/// prefilter are done; only [`Analysis::estimate`] still reads them, for the similar pairs a
/// pair listing prints (`copy_sets`): a similar pair is a surviving candidate or an exact copy
/// and the page it copies, so only those keep theirs. The others are emptied, not removed
/// (`Some` still marks a signed document), so the shingle sets the second read loads take
/// their place instead of adding to them: at 1M documents that is 512 MB of the peak.
fn release_signatures(docs: &mut [Doc], candidates: &[(u32, u32)], copy_sets: bool) {
    let mut needed = vec![false; docs.len()];
    if copy_sets {
        needed = in_pairs(docs.len(), candidates);
        for d in 0..docs.len() {
            if let Some(leader) = docs[d].copy_of {
                needed[d] = true;
                needed[leader as usize] = true;
            }
        }
    }
    // The kept ones are copied into fresh allocations before the old ones go: freeing only
    // some would leave most allocator pages partly used, and none of the memory reusable.
    let kept: Vec<Option<Signature>> = docs
        .iter()
        .zip(&needed)
        .map(|(doc, &needed)| {
            let s = doc.signature.as_ref()?;
            Some(match needed {
                true => Signature::from(s.as_slice().to_vec()),
                false => Signature::from(Vec::new()),
            })
        })
        .collect();
    for (doc, s) in docs.iter_mut().zip(kept) {
        doc.signature = s;
    }
}

/// Which of `n` documents are in one of `pairs`.
fn in_pairs(n: usize, pairs: &[(u32, u32)]) -> Vec<bool> {
    let mut marked = vec![false; n];
    for &(a, b) in pairs {
        marked[a as usize] = true;
        marked[b as usize] = true;
    }
    marked
}

/// Documents whose spilled values the second read loads at a time.
const SPILL_CHUNK: usize = 4096;

/// A configured pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    params: Params,
    hasher: MinHasher,
    values: bool,
    spill_budget: u64,
}

impl Pipeline {
    /// Validate `params` and draw the hash functions.
    pub fn new(params: Params) -> Result<Pipeline> {
        params.validate()?;
        let hasher = MinHasher::new(&params.minhash);
        Ok(Pipeline {
            params,
            hasher,
            values: false,
            spill_budget: SPILL_BUDGET,
        })
    }

    /// At most `bytes` of shingle values kept on disk between the two reads
    /// ([`SPILL_BUDGET`] unless set).
    #[cfg(test)]
    fn spilling(mut self, bytes: u64) -> Pipeline {
        self.spill_budget = bytes;
        self
    }

    /// Signed documents keep their shingle values in text order ([`Doc::values`]) instead of
    /// a sorted set: for a writer that stores them (`samestory sign`), sparing the sort of
    /// every page's set; whoever verifies sorts the few it needs. A pipeline built this way
    /// signs; it cannot verify what it signed.
    pub fn keeping_values(mut self) -> Pipeline {
        self.values = true;
        self
    }

    /// What a signed document keeps besides its signature.
    fn retain(&self) -> Retain {
        match (self.values, self.params.verify) {
            (true, _) => Retain::Values,
            (false, Verify::InMemory) => Retain::Set,
            (false, _) => Retain::Signature,
        }
    }

    /// The MinHash functions drawn from the parameters' seed.
    pub fn hasher(&self) -> &MinHasher {
        &self.hasher
    }

    /// The parameters in force.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Read, prepare and clean every document of `sources`, without signing; corpus-level
    /// cleaning applied. Holds every page: for `clean`, `similarity --explain` and runs with
    /// corpus-level cleaning.
    pub fn prepare_all(&self, sources: &Sources, progress: &dyn Progress) -> Vec<Prepared> {
        self.prepare_counted(sources, progress).0
    }

    /// [`Pipeline::prepare_all`], and the input bytes read.
    fn prepare_counted(&self, sources: &Sources, progress: &dyn Progress) -> (Vec<Prepared>, u64) {
        self.prepare_tallied(sources, progress, &FieldTally::default())
    }

    /// [`Pipeline::prepare_counted`], counting JSON fields in `tally`.
    fn prepare_tallied(
        &self,
        sources: &Sources,
        progress: &dyn Progress,
        tally: &FieldTally,
    ) -> (Vec<Prepared>, u64) {
        progress.stage("reading", sources.total_bytes(), Unit::Bytes);
        let mut pages = Vec::new();
        let mut bytes = 0u64;
        let read = sources.params();
        read_ahead(
            sources.pending(),
            Pending::len_bytes,
            |chunk: Vec<Pending>| {
                let chunk_bytes: u64 = chunk.iter().map(|p| p.len_bytes() as u64).sum();
                let prepared: Vec<Prepared> = chunk
                    .into_par_iter()
                    .map_init(Tokenizer::new, |tok, p| {
                        prepare_record(p.parse_tallied(read, false, Some(tally)), &self.params, tok)
                    })
                    .collect();
                (chunk_bytes, prepared)
            },
            |(chunk_bytes, prepared)| {
                bytes += chunk_bytes;
                progress.advance(chunk_bytes);
                progress.documents(prepared.len() as u64);
                pages.extend(prepared);
            },
        );
        if self.corpus_cleaning() {
            drop_repeated(self, &mut pages, progress);
        }
        (pages, bytes)
    }

    /// Whether this run cleans at corpus level (needs every page before signing).
    fn corpus_cleaning(&self) -> bool {
        self.params.cleaning() == Cleaning::Corpus
    }

    /// Parse, prepare and sign one chunk in parallel, results in input order.
    fn sign_chunk(
        &self,
        chunk: Vec<Pending>,
        sources: &Sources,
        tally: &FieldTally,
        keep: Retain,
    ) -> Vec<Doc> {
        let read = sources.params();
        chunk
            .into_par_iter()
            .map_init(Tokenizer::new, |tok, p| {
                let record = p.parse_tallied(read, false, Some(tally));
                let prepared = prepare_record(record, &self.params, tok);
                sign_keeping(&prepared, &self.params, &self.hasher, keep)
            })
            .collect()
    }

    /// Read, prepare and sign every document of `sources` in parallel, in input order, with
    /// the input bytes read. Documents keep their shingle sets under [`Verify::InMemory`].
    pub fn sign_all(&self, sources: &Sources, progress: &dyn Progress) -> (Vec<Doc>, u64) {
        self.sign_tallied(sources, progress, &FieldTally::default())
    }

    /// [`Pipeline::sign_all`], counting the JSON fields the records have into `tally`.
    pub(crate) fn sign_tallied(
        &self,
        sources: &Sources,
        progress: &dyn Progress,
        tally: &FieldTally,
    ) -> (Vec<Doc>, u64) {
        let mut docs = Vec::new();
        let bytes = self.sign_each(sources, progress, tally, &mut |signed| docs.extend(signed));
        (docs, bytes)
    }

    /// Read, prepare and sign `sources` chunk by chunk, handing the chunks' documents to
    /// `sink` in input order (chunks signed while `sink` worked come as one); returns the
    /// input bytes read. Memory holds a chunk or two, not
    /// the corpus (unless the run cleans at corpus level, which needs every page first).
    pub fn sign_each(
        &self,
        sources: &Sources,
        progress: &dyn Progress,
        tally: &FieldTally,
        sink: &mut dyn FnMut(Vec<Doc>),
    ) -> u64 {
        self.sign_each_keeping(sources, progress, tally, self.retain(), 1, sink)
    }

    /// [`Pipeline::sign_each`], signing up to `ahead` chunks ahead of `sink` while it works
    /// and handing it the chunks that piled up as one, in input order. For a sink whose cost
    /// is mostly per call rather than per document (the index's lookups read about the same
    /// pages for one chunk as for five): the slower it is, the fewer calls it gets.
    pub fn sign_each_ahead(
        &self,
        sources: &Sources,
        progress: &dyn Progress,
        tally: &FieldTally,
        ahead: usize,
        sink: &mut dyn FnMut(Vec<Doc>),
    ) -> u64 {
        self.sign_each_keeping(sources, progress, tally, self.retain(), ahead, sink)
    }

    /// [`Pipeline::sign_each_ahead`], documents keeping what `keep` says.
    fn sign_each_keeping(
        &self,
        sources: &Sources,
        progress: &dyn Progress,
        tally: &FieldTally,
        keep: Retain,
        ahead: usize,
        sink: &mut dyn FnMut(Vec<Doc>),
    ) -> u64 {
        let mut bytes = 0u64;
        if self.corpus_cleaning() {
            let (pages, read) = self.prepare_tallied(sources, progress, tally);
            bytes = read;
            sink(
                pages
                    .par_iter()
                    .map(|p| sign_keeping(p, &self.params, &self.hasher, keep))
                    .collect(),
            );
        } else {
            progress.stage("reading", sources.total_bytes(), Unit::Bytes);
            let mut gathered: Vec<Doc> = Vec::new();
            read_ahead_by(
                sources.pending(),
                Pending::len_bytes,
                |chunk: Vec<Pending>| {
                    let chunk_bytes: u64 = chunk.iter().map(|p| p.len_bytes() as u64).sum();
                    (chunk_bytes, self.sign_chunk(chunk, sources, tally, keep))
                },
                ahead,
                |(chunk_bytes, signed), last| {
                    progress.documents(signed.len() as u64);
                    bytes += chunk_bytes;
                    progress.advance(chunk_bytes);
                    if gathered.is_empty() {
                        gathered = signed;
                    } else {
                        gathered.extend(signed);
                    }
                    if last {
                        sink(std::mem::take(&mut gathered));
                    }
                },
            );
        }
        bytes
    }

    /// Run every stage on `sources`.
    pub fn run(&self, sources: &Sources, progress: &dyn Progress) -> Analysis {
        let started = Instant::now();
        let tally = FieldTally::default();
        let reread = self.params.verify == Verify::Reread && !self.corpus_cleaning();
        // A run that verifies by reading again keeps the first pass's shingle values on
        // disk ([`Spill`]), so the second read need not rebuild them from the input.
        let mut spill = reread.then(|| Spill::new(self.spill_budget));
        let mut docs = Vec::new();
        let bytes = match &mut spill {
            Some(spill) => self.sign_each_keeping(
                sources,
                progress,
                &tally,
                Retain::Values,
                1,
                &mut |mut signed| {
                    spill.push(&mut signed);
                    docs.extend(signed);
                },
            ),
            None => self.sign_each(sources, progress, &tally, &mut |signed| docs.extend(signed)),
        };
        let sign_seconds = started.elapsed().as_secs_f64();

        let started = Instant::now();
        self.mark_copies(&mut docs);
        let candidates = self.candidates(&docs, progress);
        let proposed = candidates.len();
        let candidates = self.prefilter(&docs, candidates);
        let bucket_seconds = started.elapsed().as_secs_f64();
        let second = Instant::now();
        let mut loaded = (0, 0);
        if reread {
            release_signatures(&mut docs, &candidates, self.params.copy_sets);
            loaded = self.load_shingles(sources, &mut docs, &candidates, spill.as_ref(), progress);
        }
        drop(spill);
        let reread_seconds = second.elapsed().as_secs_f64();
        let mut analysis = self.finish(docs, candidates);
        analysis.stats.bucket_seconds = bucket_seconds;
        analysis.stats.prefiltered = proposed - analysis.stats.candidates;
        analysis.stats.candidates = proposed;
        analysis.stats.reread_seconds = reread_seconds;
        (analysis.stats.from_spill, analysis.stats.reread) = loaded;
        analysis.stats.bytes = bytes;
        analysis.stats.sign_seconds = sign_seconds;
        analysis.stats.fields = tally.counts();
        analysis.stats.group_seconds = started.elapsed().as_secs_f64();
        analysis
    }

    /// LSH, verification and clustering over signed documents (which must carry their
    /// shingle sets).
    pub fn group(&self, docs: Vec<Doc>, progress: &dyn Progress) -> Analysis {
        let mut docs = docs;
        self.mark_copies(&mut docs);
        let candidates = self.candidates(&docs, progress);
        self.finish(docs, candidates)
    }

    /// Before grouping: skip records whose id repeats an earlier one
    /// (later ones get [`SkipReason::RepeatedId`](crate::document::SkipReason::RepeatedId)), then mark exact copies ([`Doc::copy_of`]). Of each group of
    /// documents with equal cleaned words, the one that founds first (the kept copy in
    /// `dedup`, the smallest id in `clusters`) stands for the group in LSH and verification;
    /// a million copies of one page cost one bucket entry, not a million.
    pub fn mark_copies(&self, docs: &mut [Doc]) {
        let by_id = ids_in_order(docs);
        skip_repeated_ids(docs, &by_id);
        for d in docs.iter_mut() {
            d.copy_of = None;
        }
        let rank = rank_of(&by_id);
        let mut signed: Vec<u32> = (0..docs.len() as u32)
            .filter(|&d| docs[d as usize].signature.is_some())
            .collect();
        let founds_first = |a: u32, b: u32| match self.params.mode {
            Mode::Dedup(keep) => dedup_order(docs, &rank, keep, a, b),
            Mode::Clusters => rank[a as usize].cmp(&rank[b as usize]),
        };
        signed.par_sort_unstable_by(|&a, &b| {
            docs[a as usize]
                .content
                .cmp(&docs[b as usize].content)
                .then_with(|| founds_first(a, b))
        });
        let mut followers = Vec::new();
        for group in signed.chunk_by(|&a, &b| docs[a as usize].content == docs[b as usize].content)
        {
            followers.extend(group[1..].iter().map(|&f| (f, group[0])));
        }
        for (f, leader) in followers {
            docs[f as usize].copy_of = Some(leader);
        }
    }

    /// Candidate pairs `(a, b)`, `a < b`, sorted: documents that share a band. Exact copies
    /// ([`Doc::copy_of`]) are left out: the document they copy stands for them.
    ///
    /// Pairs are deduplicated as they accumulate, so memory holds about the distinct
    /// candidates, not one copy per band, and giant buckets are budgeted per document over
    /// all bands ([`lsh::MAX_GIANT_PARTNERS`]): 200,000 near-identical records cost at most
    /// 128 pairs each.
    pub fn candidates(&self, docs: &[Doc], progress: &dyn Progress) -> Vec<(u32, u32)> {
        let lsh = self.params.lsh_params();
        progress.stage("bucketing", lsh.bands as u64, Unit::Bands);
        // Buckets are filled in id order so that the cap on giant buckets keeps the same
        // pairs whatever the input order; with `--keep first`, in arrival order, so that a
        // page's candidates depend only on earlier pages (as in the index).
        let online = self.params.mode == Mode::Dedup(Keep::First);
        let order = if online {
            (0..docs.len() as u32).collect()
        } else {
            ids_in_order(docs)
        };
        let by_id: Vec<u32> = order
            .into_iter()
            .filter(|&d| {
                let doc = &docs[d as usize];
                doc.signature.is_some() && doc.copy_of.is_none()
            })
            .collect();
        // Bands go one after another (each in parallel inside), so that the giant-bucket
        // budget is spent in the same order whatever the thread count.
        let mut spent = vec![0u32; by_id.len()];
        let mut entries: Vec<(u64, u32)> = Vec::with_capacity(by_id.len());
        let mut candidates: Vec<(u32, u32)> = Vec::new();
        let mut unique = 0;
        for band in 0..lsh.bands {
            entries.clear();
            by_id
                .par_iter()
                .enumerate()
                .map(|(pos, &d)| {
                    let sig = docs[d as usize].signature.as_ref().expect("filtered");
                    (lsh::band_key(sig, band, &lsh), pos as u32)
                })
                .collect_into_vec(&mut entries);
            entries.par_sort_unstable();
            if online {
                lsh::bucket_pairs_online(&entries, &mut spent, &mut candidates);
            } else {
                lsh::bucket_pairs(&entries, &mut spent, &mut candidates);
            }
            progress.advance(1);
            // Deduplicate whenever the pairs have doubled: memory holds about twice the
            // distinct candidates, not one copy per band.
            if candidates.len() > 2 * unique + (1 << 20) || band + 1 == lsh.bands {
                candidates.par_sort_unstable();
                candidates.dedup();
                unique = candidates.len();
            }
        }
        for pair in &mut candidates {
            let (a, b) = (by_id[pair.0 as usize], by_id[pair.1 as usize]);
            *pair = (a.min(b), a.max(b));
        }
        candidates.par_sort_unstable();
        candidates
    }

    /// Drop, before exact verification, the Jaccard candidates whose MinHash estimate lies more
    /// than `4σ + 0.02` below the threshold (σ = √(t(1−t)/K), the estimate's standard error at
    /// the threshold): their exact Jaccard reaches the threshold with probability below
    /// 10⁻⁴, and skipping them spares the second read most chance band collisions. Every pair
    /// that is kept is still verified exactly; containment runs are not filtered (the Jaccard
    /// estimate does not bound containment).
    pub fn prefilter(&self, docs: &[Doc], candidates: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
        if self.params.measure != Measure::Jaccard {
            return candidates;
        }
        let t = self.params.threshold;
        let k = self.params.minhash.permutations as f64;
        let floor = t - 4.0 * (t * (1.0 - t) / k).sqrt() - 0.02;
        candidates
            .into_par_iter()
            .filter(
                |&(a, b)| match (&docs[a as usize].signature, &docs[b as usize].signature) {
                    (Some(x), Some(y)) => x.jaccard(y) >= floor,
                    _ => false,
                },
            )
            .collect()
    }

    /// Verify candidates exactly and cluster. Documents in candidate pairs must carry their
    /// shingle sets.
    pub fn finish(&self, docs: Vec<Doc>, candidates: Vec<(u32, u32)>) -> Analysis {
        let edges: Vec<Edge> = candidates
            .par_iter()
            .filter_map(|&(a, b)| {
                let (x, y) = (&docs[a as usize].shingles, &docs[b as usize].shingles);
                self.params.similar(x, y).map(|score| Edge { a, b, score })
            })
            .collect();

        let clusters = self.cluster(&docs, &edges);
        let mut skipped: AHashMap<&'static str, usize> = AHashMap::new();
        for d in &docs {
            if let Some(r) = &d.skipped {
                *skipped.entry(r.kind()).or_default() += 1;
            }
        }
        let mut skipped: Vec<_> = skipped.into_iter().collect();
        skipped.sort();
        let stats = Stats {
            documents: docs.len(),
            skipped,
            candidates: candidates.len(),
            verified: edges.len(),
            copies: docs.iter().filter(|d| d.copy_of.is_some()).count(),
            ..Stats::default()
        };
        Analysis {
            docs,
            edges,
            clusters,
            lsh: self.params.lsh_params(),
            cleaning: self.params.cleaning(),
            stats,
        }
    }

    /// The second read of [`Verify::Reread`]: rebuild the shingle sets of the documents in
    /// candidate pairs, from the first pass's `spill` where it has them, else from the
    /// input (lines of other documents are read but not parsed). Returns how many sets came
    /// from each.
    fn load_shingles(
        &self,
        sources: &Sources,
        docs: &mut [Doc],
        candidates: &[(u32, u32)],
        spill: Option<&Spill>,
        progress: &dyn Progress,
    ) -> (usize, usize) {
        let mut needed = in_pairs(docs.len(), candidates);
        if self.params.copy_sets {
            for d in docs.iter() {
                if let Some(leader) = d.copy_of {
                    needed[leader as usize] = true;
                }
            }
        }
        progress.stage(
            "verifying",
            needed.iter().filter(|&&n| n).count() as u64,
            Unit::Documents,
        );
        let mut from_spill = 0;
        if let Some(spill) = spill {
            let spilled: Vec<usize> = (0..docs.len())
                .filter(|&i| needed[i] && spill.has(i))
                .collect();
            for chunk in spilled.chunks(SPILL_CHUNK) {
                let sets: Vec<(usize, Shingles)> = chunk
                    .par_iter()
                    .filter_map(|&i| Some((i, Shingles::from_hashes(spill.values(i)?))))
                    .collect();
                progress.advance(sets.len() as u64);
                from_spill += sets.len();
                // A page whose values cannot be read back is rebuilt from the input below.
                for (i, set) in sets {
                    docs[i].shingles = set;
                    needed[i] = false;
                }
            }
        }
        let rebuilt = needed.iter().filter(|&&n| n).count();
        if rebuilt == 0 {
            // Everything came from the spill: the input is not read again.
            return (from_spill, 0);
        }
        let read = sources.params();
        read_ahead(
            sources.pending_where(|i| needed.get(i).copied().unwrap_or(false)),
            |(_, p): &(usize, Pending)| p.len_bytes(),
            |chunk: Vec<(usize, Pending)>| {
                chunk
                    .into_par_iter()
                    .map_init(Tokenizer::new, |tok, (i, p)| {
                        let prepared = prepare_record(p.parse(read, false), &self.params, tok);
                        (i, sign_parts(&prepared, &self.params).1)
                    })
                    .collect::<Vec<_>>()
            },
            |sets| {
                progress.advance(sets.len() as u64);
                for (i, raw) in sets {
                    docs[i].shingles = Shingles::from_hashes(raw);
                }
            },
        );
        (from_spill, rebuilt)
    }

    fn cluster(&self, docs: &[Doc], edges: &[Edge]) -> Vec<Cluster> {
        let n = docs.len();
        let rank = ranks(docs);
        // Each exact copy counts with the document it copies (ordering and merging see
        // every document), and joins its cluster at the end.
        let mut copies = vec![1u32; n];
        for d in docs {
            if let Some(leader) = d.copy_of {
                copies[leader as usize] += 1;
            }
        }
        let adj = cluster::adjacency(n, edges);
        let founds = |d: &u32| {
            let doc = &docs[*d as usize];
            doc.signature.is_some() && doc.copy_of.is_none()
        };
        let order: Vec<u32> = match self.params.mode {
            Mode::Clusters => cluster::order_by_degree(&adj, &copies, &rank),
            Mode::Dedup(Keep::Central) => {
                // Most-connected first; among equals the longest, as `Keep::Longest` orders.
                let mut longest: Vec<u32> = (0..n as u32).collect();
                longest.sort_by(|&a, &b| dedup_order(docs, &rank, Keep::Longest, a, b));
                cluster::order_by_degree(&adj, &copies, &rank_of(&longest))
            }
            Mode::Dedup(keep) => {
                let mut o: Vec<u32> = (0..n as u32).collect();
                o.sort_by(|&a, &b| dedup_order(docs, &rank, keep, a, b));
                o
            }
        };
        let order: Vec<u32> = order.into_iter().filter(founds).collect();
        let check = |d: u32, r: u32| {
            let (x, y) = (&docs[d as usize].shingles, &docs[r as usize].shingles);
            self.params.similar(x, y)
        };
        let mut clusters = match self.params.mode {
            // A page is a duplicate only of a kept page it was verified against; the second
            // chance verifies it against the kept page of a duplicate it matched.
            Mode::Dedup(Keep::First) => cluster::cluster_online(&adj, &order, check),
            Mode::Dedup(_) => cluster::cluster_with(&adj, &order, check),
            Mode::Clusters => cluster::cluster(&adj, &order),
        };
        let merge = self.params.mode == Mode::Clusters && self.params.merge_density <= 1.0;
        if merge {
            clusters = cluster::merge_dense(clusters, &adj, &copies, self.params.merge_density);
        }
        // Copies join the cluster of the document they copy, with its score.
        let mut place = vec![(usize::MAX, 0.0); n];
        for (c, cluster) in clusters.iter().enumerate() {
            for &(d, s) in &cluster.members {
                place[d as usize] = (c, s);
            }
        }
        for (d, doc) in docs.iter().enumerate() {
            if let Some(leader) = doc.copy_of {
                let (c, s) = place[leader as usize];
                clusters[c].members.push((d as u32, s));
            }
        }
        if merge {
            // Scores against the (possibly new) representative, exactly.
            for c in &mut clusters {
                let rep = c.representative as usize;
                for m in &mut c.members {
                    m.1 = if m.0 as usize == rep {
                        1.0
                    } else {
                        verify::compare(&docs[rep].shingles, &docs[m.0 as usize].shingles)
                            .score(self.params.measure)
                    };
                }
            }
        }
        clusters.retain(|c| docs[c.representative as usize].signature.is_some());
        for c in &mut clusters {
            // The representative first (every score is relative to it), then by score.
            let rep = c.representative;
            c.members.sort_by(|x, y| {
                (y.0 == rep)
                    .cmp(&(x.0 == rep))
                    .then(y.1.total_cmp(&x.1))
                    .then(rank[x.0 as usize].cmp(&rank[y.0 as usize]))
            });
        }
        clusters.sort_by(|x, y| {
            y.len()
                .cmp(&x.len())
                .then(rank[x.representative as usize].cmp(&rank[y.representative as usize]))
        });
        clusters
    }
}

/// Each document's position in [`ids_in_order`].
fn ranks(docs: &[Doc]) -> Vec<u32> {
    rank_of(&ids_in_order(docs))
}

/// Each document's position in `by_id`.
fn rank_of(by_id: &[u32]) -> Vec<u32> {
    let mut rank = vec![0u32; by_id.len()];
    for (r, &d) in by_id.iter().enumerate() {
        rank[d as usize] = r as u32;
    }
    rank
}

/// The order in which `dedup` lets documents found groups, the kept copy first: input order
/// (`--keep first`), or the longest cleaned text with ties to the smallest id. The leader of
/// a group of exact copies is chosen by the same rule, so it is the copy that is kept.
fn dedup_order(docs: &[Doc], rank: &[u32], keep: Keep, a: u32, b: u32) -> std::cmp::Ordering {
    match keep {
        Keep::First => a.cmp(&b),
        // Exact copies (the only use before the graph exists) have equal text: by id.
        Keep::Longest | Keep::Central => docs[b as usize]
            .text_len
            .cmp(&docs[a as usize].text_len)
            .then(rank[a as usize].cmp(&rank[b as usize])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{SkipReason, prepare_text};

    fn doc(id: &str, text: &str) -> Prepared {
        prepare_text(id, text, &Params::dedup())
    }

    const STORY: &str = "The minister said on Tuesday that the visit was aimed at showing the \
        determination of the two countries to strengthen their ties, and he added that it would \
        be the first of many such trips in the coming year, according to a statement.";

    #[test]
    fn empty_and_short_documents_are_skipped_not_matched() {
        let p = Pipeline::new(Params::dedup()).unwrap();
        let docs: Vec<Doc> = [doc("a", ""), doc("b", ""), doc("c", "Hi there.")]
            .into_iter()
            .map(|d| sign(&d, p.params(), &p.hasher))
            .collect();
        assert_eq!(docs[0].skipped, Some(SkipReason::Empty));
        let a = p.group(docs, &NoProgress);
        assert!(a.edges.is_empty());
        assert!(a.clusters.is_empty());
    }

    #[test]
    fn copies_with_different_chrome_are_grouped() {
        let p = Pipeline::new(Params::dedup()).unwrap();
        let docs: Vec<Doc> = [
            doc(
                "a",
                &format!("Home | World | Sport\n{STORY}\nComments are closed."),
            ),
            doc(
                "b",
                &format!("Menu Login Subscribe\n{STORY}\n© 2024 Example News"),
            ),
        ]
        .into_iter()
        .map(|d| sign(&d, p.params(), &p.hasher))
        .collect();
        let a = p.group(docs, &NoProgress);
        // Equal after cleaning: an exact copy, grouped before LSH, no edge needed.
        assert_eq!(a.stats.copies, 1);
        assert!(a.edges.is_empty());
        assert_eq!(a.clusters.len(), 1);
        assert_eq!(a.clusters[0].members, vec![(0, 1.0), (1, 1.0)]);
        assert_eq!(a.similar_pairs(), vec![(0, 1, 1.0)]);
    }

    #[test]
    fn the_second_read_keeps_estimates_only_where_pairs_are_listed() {
        let inputs = || {
            [
                ("a.txt", STORY.to_string()),
                ("b.txt", format!("{STORY} The statement did not say more.")),
                ("c.txt", format!("{STORY} The statement did not say more.")),
                (
                    "d.txt",
                    "An unrelated note about the weather in the hills on a quiet day, \
                    which brought rain to the valley and snow to the passes above it."
                        .into(),
                ),
            ]
            .map(|(n, t)| (n.to_string(), t.into_bytes()))
        };
        let run = |copy_sets: bool| {
            let mut params = Params::dedup();
            params.copy_sets = copy_sets;
            let sources = Sources::from_memory(inputs(), &params.read).unwrap();
            Pipeline::new(params).unwrap().run(&sources, &NoProgress)
        };
        let listed = run(true);
        let pairs = listed.similar_pairs();
        // a-b verified, b-c exact copies.
        assert_eq!(
            pairs.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
            [(0, 1), (0, 2), (1, 2)]
        );
        for &(a, b, _) in &pairs {
            assert!(
                listed.estimate(a, b) > 0.5,
                "{a}-{b}: {}",
                listed.estimate(a, b)
            );
        }
        assert_eq!(listed.docs[3].signature.as_ref().map(|s| s.len()), Some(0));
        let grouped = run(false);
        // Same decisions; every signature freed, every signed document still marked signed.
        assert_eq!(grouped.clusters, listed.clusters);
        assert!(
            grouped
                .docs
                .iter()
                .all(|d| d.signature.as_ref().is_some_and(|s| s.is_empty()))
        );
    }

    #[test]
    fn the_spill_changes_nothing_but_what_is_read_again() {
        // Variants of a few stories (each a near copy of its story's first), some exact
        // copies, some unrelated pages.
        let inputs = || {
            (0..60)
                .map(|i| {
                    let text = match i % 6 {
                        5 => format!("A note number {i} on the weather in the hills, with rain."),
                        k => format!(
                            "{STORY} Story {} of the run went on for a while. {}",
                            i % 3,
                            if k < 2 {
                                String::new()
                            } else {
                                format!("Update {}.", i / 2)
                            }
                        ),
                    };
                    (format!("{i:02}.txt"), text.into_bytes())
                })
                .collect::<Vec<_>>()
        };
        let run = |budget: u64| {
            let params = Params::dedup();
            let sources = Sources::from_memory(inputs(), &params.read).unwrap();
            Pipeline::new(params)
                .unwrap()
                .spilling(budget)
                .run(&sources, &NoProgress)
        };
        let all = run(SPILL_BUDGET);
        assert!(
            all.stats.verified > 0,
            "the corpus has near copies to verify"
        );
        assert!(all.stats.from_spill > 0);
        assert_eq!(all.stats.reread, 0, "every set came from the spill");
        let none = run(0);
        assert_eq!(
            (none.stats.from_spill, none.stats.reread),
            (0, all.stats.from_spill)
        );
        // A budget that holds some pages: the rest are read again.
        let some = run(2_000);
        assert!(some.stats.from_spill > 0 && some.stats.reread > 0);
        assert_eq!(
            some.stats.from_spill + some.stats.reread,
            all.stats.from_spill
        );
        for other in [&none, &some] {
            assert_eq!(other.clusters, all.clusters);
            assert_eq!(other.edges, all.edges);
        }
    }

    #[test]
    fn near_copies_are_verified_pairs() {
        let p = Pipeline::new(Params::dedup()).unwrap();
        let docs: Vec<Doc> = [
            doc("a", STORY),
            doc("b", &format!("{STORY} The statement did not say more.")),
        ]
        .into_iter()
        .map(|d| sign(&d, p.params(), &p.hasher))
        .collect();
        let a = p.group(docs, &NoProgress);
        assert_eq!(a.stats.copies, 0);
        assert_eq!(a.edges.len(), 1);
        assert!(a.edges[0].score > 0.5 && a.edges[0].score < 1.0);
        assert_eq!(a.clusters.len(), 1);
    }

    /// A chain of near-copies, long - centre - short, where the two ends are not near-copies
    /// of each other (Jaccard about 0.66, 0.66 and 0.46).
    fn chain(keep: Keep) -> Vec<(String, String)> {
        let words = |r: std::ops::Range<usize>| -> String {
            r.map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ")
        };
        let texts = [
            format!("{} {}", words(0..200), words(1000..1100)),
            words(0..200),
            format!("{} {}", words(40..200), words(2000..2040)),
        ];
        let mut params = Params::dedup();
        params.clean.enabled = false;
        params.mode = Mode::Dedup(keep);
        let p = Pipeline::new(params).unwrap();
        let docs: Vec<Doc> = ["long", "centre", "short"]
            .iter()
            .zip(&texts)
            .map(|(id, text)| sign(&prepare_text(id, text, p.params()), p.params(), &p.hasher))
            .collect();
        let a = p.group(docs, &NoProgress);
        let mut groups: Vec<(String, String)> = Vec::new();
        for c in &a.clusters {
            for &(m, _) in &c.members {
                let id = |d: u32| a.docs[d as usize].id.clone();
                groups.push((id(m), id(c.representative)));
            }
        }
        groups.sort();
        groups
    }

    #[test]
    fn central_keeps_the_copy_the_others_match() {
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        // The centre matches both ends: keeping it drops both.
        assert_eq!(
            chain(Keep::Central),
            [
                pair("centre", "centre"),
                pair("long", "centre"),
                pair("short", "centre")
            ]
        );
        // Keeping the longest leaves the short end kept too: it is not a near-copy of the
        // long page, and a page is never dropped as a duplicate of a duplicate.
        assert_eq!(
            chain(Keep::Longest),
            [
                pair("centre", "long"),
                pair("long", "long"),
                pair("short", "short")
            ]
        );
    }

    #[test]
    fn repeated_ids_are_skipped_after_the_first() {
        let p = Pipeline::new(Params::dedup()).unwrap();
        let docs: Vec<Doc> = [
            doc("a", STORY),
            doc("b", "Other text here."),
            doc("a", STORY),
        ]
        .into_iter()
        .map(|d| sign(&d, p.params(), &p.hasher))
        .collect();
        let a = p.group(docs, &NoProgress);
        assert_eq!(a.docs[0].skipped, None);
        assert_eq!(
            a.docs[2].skipped,
            Some(SkipReason::RepeatedId("a".to_string()))
        );
        assert!(
            a.clusters
                .iter()
                .all(|c| c.members.iter().all(|m| m.0 != 2))
        );
    }

    #[test]
    fn a_thousand_copies_cost_one_bucket_entry() {
        let p = Pipeline::new(Params::clusters()).unwrap();
        let docs: Vec<Doc> = (0..1000)
            .map(|i| sign(&doc(&format!("{i:04}"), STORY), p.params(), &p.hasher))
            .collect();
        let candidates = {
            let mut docs = docs.clone();
            p.mark_copies(&mut docs);
            p.candidates(&docs, &NoProgress)
        };
        assert!(candidates.is_empty());
        let a = p.group(docs, &NoProgress);
        assert_eq!(a.stats.copies, 999);
        assert_eq!(a.clusters.len(), 1);
        assert_eq!(a.clusters[0].len(), 1000);
        assert_eq!(a.clusters[0].representative, 0);
        assert_eq!(a.clusters[0].members[0], (0, 1.0));
    }

    #[test]
    fn presets_validate() {
        Params::dedup().validate().unwrap();
        Params::clusters().validate().unwrap();
        let mut p = Params::dedup();
        p.threshold = 1.5;
        assert!(p.validate().is_err());
    }
}
