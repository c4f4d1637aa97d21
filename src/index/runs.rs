//! The index's LSH buckets on disk: band keys in sorted runs of blocks, with filters.
//!
//! Format 1 kept every (band key, document) pair as a row of one B-tree keyed by band key.
//! Band keys are random, so a batch of 10k documents (320k pairs) put a row or two into
//! nearly every leaf: the write-ahead log wrote each dirty leaf twice (log, checkpoint),
//! and that with 320k single-row inserts and lookups was most of an `add` (`docs/index.md`).
//!
//! So each chunk of an `add` writes its pairs as a *run*: sorted by key, cut into blocks of
//! about [`BLOCK_PAIRS`] pairs (one row, one blob, each), under row ids that no earlier run
//! uses, so the run is appended and no earlier page is touched. Each run has a directory of
//! its blocks' key ranges and binary fuse filters of its keys (the `xorf` crate: about
//! 9 bits a key, under 0.4% false positives), held in memory, so a lookup reads only the
//! blocks of runs that may hold the key. Runs are merged tier by tier, [`FANOUT`] runs of
//! one level into one run of the next, so a lookup probes at most `FANOUT - 1` runs a level
//! and a pair is rewritten once a level, not once a batch.
//!
//! A run keeps at most [`BUCKET_ROWS`] documents a key (the earliest): a lookup never
//! returns more (a giant bucket is recognised by its 65th member).
//!
//! Everything lives in the store's tables (`runs`, `run_blocks`, `run_filters`), so a
//! batch's runs and merges commit or vanish with the rest of the batch.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};

use ahash::AHashMap;
use rayon::prelude::*;
use rusqlite::{Connection, params};
use xorf::{BinaryFuse8, BinaryFuse8Ref, DmaSerializable, Filter, FilterRef};

use crate::lsh;

/// Runs of one level merged into one run of the next.
pub(super) const FANOUT: usize = 16;

/// The most documents a band key's lookup returns: one more than a giant bucket's bound
/// ([`lsh::MAX_BUCKET_PAIRS`]), so that a giant bucket is recognised without reading it all.
pub(super) const BUCKET_ROWS: usize = 65;
const _: () = assert!(lsh::MAX_BUCKET_PAIRS + 1 == BUCKET_ROWS);

/// Pairs a block holds before it is closed at the next key (a key's pairs never straddle
/// two blocks): about 6 KB.
const BLOCK_PAIRS: usize = 512;

/// Distinct keys a filter covers before the next block starts a new one: bounds the
/// memory a filter's construction takes when large runs merge. (Smaller in unit tests, so
/// that runs of a few thousand keys close several.)
#[cfg(not(test))]
const FILTER_KEYS: usize = 1 << 20;
#[cfg(test)]
const FILTER_KEYS: usize = 1 << 12;

/// A pair on disk: the key (8 bytes) and the document (4 bytes), little-endian.
const PAIR: usize = 12;

/// Row ids of a run's blocks and filters: the run's number, shifted.
const RUN_SHIFT: u32 = 24;

/// The row id of a run's `i`th block or filter.
fn row_id(run: i64, i: usize) -> i64 {
    (run << RUN_SHIFT) + i as i64
}

/// A format-1 index's lookup (one B-tree keyed by band key), read without migrating.
const LEGACY_QUERY: &str = "SELECT doc FROM bands WHERE key = ?1 ORDER BY doc LIMIT 65";

/// The tables of format 2 (created when missing).
pub(super) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS runs(
        run INTEGER PRIMARY KEY,
        level INTEGER NOT NULL,
        first_doc INTEGER NOT NULL,
        directory BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS run_blocks(id INTEGER PRIMARY KEY, pairs BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS run_filters(
        id INTEGER PRIMARY KEY,
        first_key INTEGER NOT NULL,
        filter BLOB);";

/// One run: its number, level, first document, its blocks' key ranges, and its filters
/// (each from its first key; none when construction failed: every lookup then reads).
struct Run {
    id: i64,
    level: u32,
    first_doc: i64,
    blocks: Vec<(i64, i64)>,
    filters: Vec<(i64, Option<Vec<u8>>)>,
}

impl Run {
    /// The block that would hold `key`, if any block's range covers it.
    fn block_of(&self, key: i64) -> Option<usize> {
        let at = self.blocks.partition_point(|&(first, _)| first <= key);
        (at > 0 && key <= self.blocks[at - 1].1).then(|| at - 1)
    }

    /// The run's filters, ready to probe: each from its first key.
    fn probes(&self) -> Vec<(i64, Option<BinaryFuse8Ref<'_>>)> {
        self.filters
            .iter()
            .map(|(first, bytes)| {
                let filter = bytes.as_ref().map(|bytes| {
                    let (descriptor, fingerprints) = bytes.split_at(BinaryFuse8::DESCRIPTOR_LEN);
                    BinaryFuse8Ref::from_dma(descriptor, fingerprints)
                });
                (*first, filter)
            })
            .collect()
    }

    fn row_ids(&self) -> (i64, i64) {
        (row_id(self.id, 0), row_id(self.id, (1 << RUN_SHIFT) - 1))
    }
}

/// Whether `bytes` can be probed without reading past its end: a binary fuse descriptor
/// (seed, segment length, its mask, segment count times length; little-endian) whose
/// fingerprints cover every segment a probe can reach (`xorf` reads `count + 2` segments).
fn sound_filter(bytes: &[u8]) -> bool {
    if bytes.len() < BinaryFuse8::DESCRIPTOR_LEN {
        return false;
    }
    let u32_le = |at: usize| u32_at(bytes, at) as u64;
    let (length, mask, count_length) = (u32_le(8), u32_le(12), u32_le(16));
    length.is_power_of_two()
        && mask == length - 1
        && (bytes.len() - BinaryFuse8::DESCRIPTOR_LEN) as u64 >= count_length + 2 * length
}

/// Whether the run whose filters are `probes` may hold `key` (false positives under 0.4%).
fn may_hold(probes: &[(i64, Option<BinaryFuse8Ref<'_>>)], key: i64) -> bool {
    let at = match probes {
        [(first, _)] => usize::from(*first <= key),
        _ => probes.partition_point(|&(first, _)| first <= key),
    };
    at > 0
        && probes[at - 1]
            .1
            .as_ref()
            .is_none_or(|f| f.contains(&(key as u64)))
}

/// Add `key`'s documents in block `pairs` to its bucket in `found`, up to [`BUCKET_ROWS`].
fn take_docs(found: &mut AHashMap<u64, Vec<u64>>, pairs: &[u8], key: i64) {
    let n = pairs.len() / PAIR;
    let start = partition(n, |i| i64_at(pairs, i * PAIR) < key);
    let mut docs = (start..n)
        .take_while(|&i| i64_at(pairs, i * PAIR) == key)
        .map(|i| u32_at(pairs, i * PAIR + 8) as u64)
        .peekable();
    if docs.peek().is_some() {
        let bucket = found.entry(key as u64).or_default();
        let room = BUCKET_ROWS - bucket.len();
        bucket.extend(docs.take(room));
    }
}

/// The runs of an index, oldest documents first.
pub(super) struct Runs {
    runs: Vec<Run>,
    next_id: i64,
    /// A format-1 index opened to read: one B-tree, no runs.
    legacy: bool,
    /// Level-0 runs read whole once and kept, by run: an `add` looks up every piece's keys
    /// in every run, and a level-0 run's thousands of wanted keys fall in nearly all of its
    /// few hundred blocks, so each piece read each such run whole again ([`Runs::hold`]).
    held: Mutex<Held>,
}

/// What [`Runs`] holds in memory: each held run's pairs, all its blocks end to end (sorted,
/// as the blocks are), and the bytes it may still take.
#[derive(Default)]
struct Held {
    pairs: AHashMap<i64, Arc<Vec<u8>>>,
    room: usize,
}

impl Runs {
    /// The runs of the index behind `conn`, directories and filters loaded.
    pub(super) fn load(conn: &Connection, legacy: bool) -> rusqlite::Result<Runs> {
        if legacy {
            return Ok(Runs {
                runs: Vec::new(),
                next_id: 1,
                legacy,
                held: Default::default(),
            });
        }
        let mut runs = conn
            .prepare("SELECT run, level, first_doc, directory FROM runs ORDER BY first_doc")?
            .query_map([], |r| {
                let directory: Vec<u8> = r.get(3)?;
                Ok(Run {
                    id: r.get(0)?,
                    level: r.get(1)?,
                    first_doc: r.get(2)?,
                    blocks: directory
                        .chunks_exact(16)
                        .map(|c| (i64_at(c, 0), i64_at(c, 8)))
                        .collect(),
                    filters: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<Run>>>()?;
        let mut filters = conn.prepare(
            "SELECT first_key, filter FROM run_filters WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
        )?;
        for run in &mut runs {
            let (low, high) = run.row_ids();
            run.filters = filters
                .query_map([low, high], |r| {
                    // A damaged filter is dropped (its run is then read for every key)
                    // rather than trusted to index within its fingerprints.
                    let filter: Option<Vec<u8>> = r.get(1)?;
                    Ok((r.get(0)?, filter.filter(|f| sound_filter(f))))
                })?
                .collect::<rusqlite::Result<_>>()?;
        }
        let next_id = conn.query_row("SELECT COALESCE(MAX(run), 0) + 1 FROM runs", [], |r| {
            r.get(0)
        })?;
        Ok(Runs {
            runs,
            next_id,
            legacy,
            held: Default::default(),
        })
    }

    /// Keep level-0 runs in memory once read, up to `bytes` of pairs in all (none by
    /// default: a query's few keys read a few blocks). For an `add`, whose runs do not
    /// change until its batch's merge, and whose every piece looks up thousands of keys.
    pub(super) fn hold(&mut self, bytes: usize) {
        let held = self.held.get_mut().expect("not poisoned");
        held.room = bytes;
    }

    /// `run`'s pairs, all blocks end to end, if it is held, or if it can be ([`Runs::hold`])
    /// and the lookup is `dense` (a level-0 run it would read nearly whole anyway, as
    /// [`Runs::earliest`] decides: a one-document `add` does not read whole runs to keep
    /// them).
    ///
    /// `scan` is [`Runs::earliest`]'s pass over a range of blocks (`id, pairs`).
    fn held(
        &self,
        scan: &mut rusqlite::CachedStatement<'_>,
        run: &Run,
        dense: bool,
    ) -> rusqlite::Result<Option<Arc<Vec<u8>>>> {
        let mut held = self.held.lock().expect("not poisoned");
        if let Some(pairs) = held.pairs.get(&run.id) {
            return Ok(Some(pairs.clone()));
        }
        let bound = run.blocks.len() * (BLOCK_PAIRS + BUCKET_ROWS) * PAIR;
        if !dense || bound > held.room {
            return Ok(None);
        }
        let (low, high) = run.row_ids();
        let mut rows = scan.query([low, high])?;
        // Sized once (a block holds at most `bound`'s share), not doubled as it grows.
        let mut pairs = Vec::with_capacity(bound);
        while let Some(row) = rows.next()? {
            pairs.extend_from_slice(row.get_ref(1)?.as_blob()?);
        }
        pairs.shrink_to_fit();
        held.room = held.room.saturating_sub(pairs.len());
        let pairs = Arc::new(pairs);
        held.pairs.insert(run.id, pairs.clone());
        Ok(Some(pairs))
    }

    /// The documents numbered before the first level-0 run, up to `next_doc` when there
    /// is none: those of the merged runs, which an `add` never holds ([`Runs::hold`]), so
    /// that a lookup reads their blocks from the store (none when the index has no runs).
    pub(super) fn merged_documents(&self, next_doc: u64) -> u64 {
        let Some(first) = self.runs.first() else {
            return 0;
        };
        let end = self
            .runs
            .iter()
            .find(|r| r.level == 0)
            .map_or(next_doc as i64, |r| r.first_doc);
        (end - first.first_doc).max(0) as u64
    }

    /// How many runs the index holds.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.runs.len()
    }

    /// Each of `keys`' earliest indexed documents (at most [`BUCKET_ROWS`], in document
    /// order), for the keys any document has.
    ///
    /// The filters are probed in `pool` when given (an `add`'s own, while the global pool
    /// signs), else in the global pool.
    pub(super) fn earliest(
        &self,
        conn: &Connection,
        keys: &[u64],
        pool: Option<&rayon::ThreadPool>,
    ) -> rusqlite::Result<AHashMap<u64, Vec<u64>>> {
        let mut found: AHashMap<u64, Vec<u64>> = AHashMap::new();
        if self.legacy {
            let mut stmt = conn.prepare_cached(LEGACY_QUERY)?;
            for &key in keys {
                let docs = stmt
                    .query_map([key as i64], |r| r.get::<_, i64>(0).map(|d| d as u64))?
                    .collect::<rusqlite::Result<Vec<u64>>>()?;
                if !docs.is_empty() {
                    found.insert(key, docs);
                }
            }
            return Ok(found);
        }
        // In the table's order, so that neighbouring keys share a block read.
        let mut order: Vec<i64> = keys.iter().map(|&k| k as i64).collect();
        order.sort_unstable();
        order.dedup();
        let mut scan =
            conn.prepare_cached("SELECT id, pairs FROM run_blocks WHERE id BETWEEN ?1 AND ?2")?;
        let mut fetch = conn.prepare_cached("SELECT pairs FROM run_blocks WHERE id = ?1")?;
        // The keys each run may hold, with their blocks (in order: keys are sorted). The
        // filters are probed for every run at once, in parallel.
        let probe = || -> Vec<Vec<(usize, i64)>> {
            self.runs
                .par_iter()
                .map(|run| {
                    let probes = run.probes();
                    order
                        .iter()
                        .filter(|&&key| may_hold(&probes, key))
                        .filter_map(|&key| run.block_of(key).map(|block| (block, key)))
                        .collect()
                })
                .collect()
        };
        let may = match pool {
            Some(pool) => pool.install(probe),
            None => probe(),
        };
        // Runs in document order, so a key's documents come earliest first.
        for (run, mut wanted) in self.runs.iter().zip(may) {
            // A key whose bucket is full already needs nothing from later runs.
            wanted.retain(|&(_, key)| {
                found
                    .get(&(key as u64))
                    .is_none_or(|b| b.len() < BUCKET_ROWS)
            });
            let (Some(&(first, _)), Some(&(last, _))) = (wanted.first(), wanted.last()) else {
                continue;
            };
            let base = row_id(run.id, 0);
            let mut blocks: Vec<usize> = wanted.iter().map(|w| w.0).collect();
            blocks.dedup();
            // A pass over the blocks in between when a quarter of them are wanted, for a
            // level-0 run only (about 600 blocks, which an `add` then holds). A larger
            // run's wanted blocks are looked up one by one however many: a pass reads
            // every page in between, and at a quarter to a half of the blocks wanted
            // (an `add` into a million documents) the lookups read ~13% fewer pages and
            // cost less (`docs/index.md`, 2026-12-07, evening).
            let dense = run.level == 0 && last - first < 4 * blocks.len();
            if let Some(pairs) = self.held(&mut scan, run, dense)? {
                // The blocks end to end are sorted as each block is.
                for &(_, key) in &wanted {
                    take_docs(&mut found, &pairs, key);
                }
                continue;
            }
            let mut next = 0;
            let mut take = |block: usize, pairs: &[u8]| {
                while next < wanted.len() && wanted[next].0 < block {
                    next += 1;
                }
                while next < wanted.len() && wanted[next].0 == block {
                    take_docs(&mut found, pairs, wanted[next].1);
                    next += 1;
                }
            };
            if dense {
                // Dense wants in a small run (an `add`'s hundreds of keys): one pass over
                // the blocks in between costs less than a lookup a block.
                let mut rows = scan.query([row_id(run.id, first), row_id(run.id, last)])?;
                while let Some(row) = rows.next()? {
                    let block = (row.get::<_, i64>(0)? - base) as usize;
                    if blocks.binary_search(&block).is_ok() {
                        take(block, row.get_ref(1)?.as_blob()?);
                    }
                }
            } else {
                // Sparse wants (a query's few keys), or a large run: a lookup a block.
                for &block in &blocks {
                    let mut rows = fetch.query([row_id(run.id, block)])?;
                    if let Some(row) = rows.next()? {
                        take(block, row.get_ref(0)?.as_blob()?);
                    }
                }
            }
        }
        Ok(found)
    }

    /// Write `bands` (band key, document) as a new run. `bands` must be sorted by
    /// `(key as i64, doc)`, the table's order; repeats are dropped.
    pub(super) fn append(
        &mut self,
        conn: &Connection,
        bands: &[(u64, u64)],
    ) -> rusqlite::Result<()> {
        let Some(first_doc) = bands.iter().map(|&(_, d)| d).min() else {
            return Ok(());
        };
        let id = self.next_id;
        self.next_id += 1;
        let mut keys: Vec<u64> = bands.iter().map(|&(key, _)| key).collect();
        keys.dedup();
        let mut writer = RunWriter::new(conn, id)?;
        if keys.len() <= FILTER_KEYS {
            // One filter covers the run (a filter closes only past FILTER_KEYS keys, as every
            // chunk of an `add`'s do): it is built aside while the blocks are written, instead
            // of after them on the thread the batch waits for (about 25 ms of a 10k chunk).
            // Else the writer gathers the keys and closes its filters as it goes.
            writer.gather = false;
            writer.build_aside(bands[0].0 as i64, keys);
        }
        for &(key, doc) in bands {
            writer.push(key as i64, doc)?;
        }
        let run = writer.finish(0, first_doc as i64)?;
        self.insert(run);
        Ok(())
    }

    /// Merge the runs tier by tier: while [`FANOUT`] runs share a level, they become one run
    /// of the next level. The runs of one level are neighbours in document order (levels
    /// never rise from older runs to newer), so a merged run keeps the order too.
    pub(super) fn compact(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        // Merged runs are gone, and no lookup follows a batch's merge.
        self.held.get_mut().expect("not poisoned").pairs.clear();
        loop {
            let mut counts: std::collections::BTreeMap<u32, usize> = Default::default();
            for run in &self.runs {
                *counts.entry(run.level).or_default() += 1;
            }
            let Some((&level, _)) = counts.iter().find(|&(_, &n)| n >= FANOUT) else {
                return Ok(());
            };
            let (merged, kept): (Vec<Run>, Vec<Run>) = std::mem::take(&mut self.runs)
                .into_iter()
                .partition(|r| r.level == level);
            self.runs = kept;
            let first_doc = merged.iter().map(|r| r.first_doc).min().expect("runs");
            let id = self.next_id;
            self.next_id += 1;
            let mut writer = RunWriter::new(conn, id)?;
            {
                // A k-way merge of the runs, block by block (each run is sorted; on equal
                // keys the older run's documents come first, as they are earlier).
                let mut fetch =
                    conn.prepare_cached("SELECT pairs FROM run_blocks WHERE id = ?1")?;
                let mut read = |run: &Run, block: usize| -> rusqlite::Result<Vec<u8>> {
                    fetch.query_row([row_id(run.id, block)], |r| r.get(0))
                };
                let mut at: Vec<(usize, Vec<u8>, usize)> = Vec::with_capacity(merged.len());
                let mut heap = BinaryHeap::new();
                for (r, run) in merged.iter().enumerate() {
                    let pairs = if run.blocks.is_empty() {
                        Vec::new()
                    } else {
                        read(run, 0)?
                    };
                    if !pairs.is_empty() {
                        heap.push(Reverse((i64_at(&pairs, 0), u32_at(&pairs, 8), r)));
                    }
                    at.push((0, pairs, 0));
                }
                while let Some(Reverse((key, doc, r))) = heap.pop() {
                    writer.push(key, doc as u64)?;
                    let (block, pairs, pos) = &mut at[r];
                    *pos += PAIR;
                    if *pos >= pairs.len() {
                        *block += 1;
                        *pos = 0;
                        *pairs = if *block < merged[r].blocks.len() {
                            read(&merged[r], *block)?
                        } else {
                            Vec::new()
                        };
                    }
                    if *pos < pairs.len() {
                        heap.push(Reverse((i64_at(pairs, *pos), u32_at(pairs, *pos + 8), r)));
                    }
                }
            }
            for run in &merged {
                let (low, high) = run.row_ids();
                conn.execute(
                    "DELETE FROM run_blocks WHERE id BETWEEN ?1 AND ?2",
                    [low, high],
                )?;
                conn.execute(
                    "DELETE FROM run_filters WHERE id BETWEEN ?1 AND ?2",
                    [low, high],
                )?;
                conn.execute("DELETE FROM runs WHERE run = ?1", [run.id])?;
            }
            let run = writer.finish(level + 1, first_doc)?;
            self.insert(run);
        }
    }

    fn insert(&mut self, run: Run) {
        let at = self.runs.partition_point(|r| r.first_doc < run.first_doc);
        self.runs.insert(at, run);
    }
}

/// Writes one run's blocks and filters as its pairs arrive in the table's order.
struct RunWriter<'c> {
    conn: &'c Connection,
    id: i64,
    blocks: Vec<(i64, i64)>,
    block: Vec<u8>,
    filters: Vec<(i64, Option<Vec<u8>>)>,
    /// Whether the writer gathers its filters' keys (else its one filter is built for it,
    /// [`RunWriter::build_aside`]).
    gather: bool,
    /// Filters closed before the run's end, each from its first key, built on threads of
    /// their own while the run is written ([`RunWriter::build_filter_aside`]).
    building: Vec<(i64, std::thread::JoinHandle<Option<Vec<u8>>>)>,
    /// The distinct keys of the filter being gathered, and its first key.
    filter_keys: Vec<u64>,
    filter_first: i64,
    /// The last key pushed and how many of its pairs were kept.
    last: Option<(i64, usize)>,
}

impl<'c> RunWriter<'c> {
    fn new(conn: &'c Connection, id: i64) -> rusqlite::Result<RunWriter<'c>> {
        Ok(RunWriter {
            conn,
            id,
            blocks: Vec::new(),
            block: Vec::with_capacity(BLOCK_PAIRS * PAIR + BUCKET_ROWS * PAIR),
            filters: Vec::new(),
            gather: true,
            building: Vec::new(),
            filter_keys: Vec::new(),
            filter_first: 0,
            last: None,
        })
    }

    fn push(&mut self, key: i64, doc: u64) -> rusqlite::Result<()> {
        let doc = u32::try_from(doc).map_err(|_| {
            rusqlite::Error::ToSqlConversionFailure("over 4 billion documents".into())
        })?;
        match &mut self.last {
            Some((k, n)) if *k == key => {
                if *n >= BUCKET_ROWS {
                    return Ok(());
                }
                *n += 1;
            }
            Some((k, _)) if *k > key => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "band keys out of order".into(),
                ));
            }
            _ => {
                // A new key: close the block (and the filter) here if full.
                if self.block.len() >= BLOCK_PAIRS * PAIR {
                    self.close_block()?;
                    if self.filter_keys.len() >= FILTER_KEYS {
                        self.build_filter_aside();
                    }
                }
                if self.gather {
                    if self.filter_keys.is_empty() {
                        self.filter_first = key;
                    }
                    self.filter_keys.push(key as u64);
                }
                self.last = Some((key, 1));
            }
        }
        self.block.extend_from_slice(&key.to_le_bytes());
        self.block.extend_from_slice(&doc.to_le_bytes());
        Ok(())
    }

    fn close_block(&mut self) -> rusqlite::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let first = i64_at(&self.block, 0);
        let last = i64_at(&self.block, self.block.len() - PAIR);
        let row = row_id(self.id, self.blocks.len());
        self.conn
            .prepare_cached("INSERT INTO run_blocks(id, pairs) VALUES (?1, ?2)")?
            .execute(params![row, &self.block])?;
        self.blocks.push((first, last));
        self.block.clear();
        Ok(())
    }

    /// Close the filter being gathered and build it on a thread of its own: a merge of
    /// runs closes one every [`FILTER_KEYS`] keys, and building each on the merging thread
    /// took 0.4 s of a 1.3 s merge of sixteen 10k-document runs, the other core idle. Its
    /// row is written by [`RunWriter::finish`], in order.
    fn build_filter_aside(&mut self) {
        let keys = std::mem::replace(&mut self.filter_keys, Vec::with_capacity(FILTER_KEYS));
        self.build_aside(self.filter_first, keys);
    }

    /// Build the filter of distinct `keys`, from key `first` on, on a thread of its own; its
    /// row is written by [`RunWriter::finish`], after the filters begun before it.
    fn build_aside(&mut self, first: i64, keys: Vec<u64>) {
        let built = std::thread::spawn(move || filter_bytes(&keys));
        self.building.push((first, built));
    }

    fn close_filter(&mut self) -> rusqlite::Result<()> {
        if self.filter_keys.is_empty() {
            return Ok(());
        }
        // Distinct already (keys arrive sorted).
        let filter = filter_bytes(&self.filter_keys);
        self.write_filter(self.filter_first, filter)?;
        self.filter_keys.clear();
        Ok(())
    }

    /// Write the run's next filter, over keys from `first` on.
    fn write_filter(&mut self, first: i64, filter: Option<Vec<u8>>) -> rusqlite::Result<()> {
        let row = row_id(self.id, self.filters.len());
        self.conn
            .prepare_cached("INSERT INTO run_filters(id, first_key, filter) VALUES (?1, ?2, ?3)")?
            .execute(params![row, first, filter])?;
        self.filters.push((first, filter));
        Ok(())
    }

    fn finish(mut self, level: u32, first_doc: i64) -> rusqlite::Result<Run> {
        self.close_block()?;
        for (first, built) in std::mem::take(&mut self.building) {
            let filter = built
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            self.write_filter(first, filter)?;
        }
        self.close_filter()?;
        let directory: Vec<u8> = self
            .blocks
            .iter()
            .flat_map(|&(first, last)| first.to_le_bytes().into_iter().chain(last.to_le_bytes()))
            .collect();
        self.conn.execute(
            "INSERT INTO runs(run, level, first_doc, directory) VALUES (?1, ?2, ?3, ?4)",
            params![self.id, level, first_doc, directory],
        )?;
        Ok(Run {
            id: self.id,
            level,
            first_doc,
            blocks: self.blocks,
            filters: self.filters,
        })
    }
}

/// A filter of distinct `keys`, as stored (descriptor, then fingerprints); none when
/// construction fails. It hashes the keys as they are.
fn filter_bytes(keys: &[u64]) -> Option<Vec<u8>> {
    BinaryFuse8::try_from(keys).ok().map(|f| {
        let mut bytes = vec![0u8; BinaryFuse8::DESCRIPTOR_LEN];
        f.dma_copy_descriptor_to(&mut bytes);
        bytes.extend_from_slice(f.dma_fingerprints());
        bytes
    })
}

/// Format 1 → 2, inside the caller's transaction: the one band B-tree becomes one run (of
/// the level its size would have reached).
pub(super) fn migrate_from_v1(
    conn: &Connection,
    documents: u64,
    chunk: usize,
) -> rusqlite::Result<()> {
    let mut level = 0;
    let mut span = chunk.max(1) as u64;
    while span * (FANOUT as u64) <= documents {
        span *= FANOUT as u64;
        level += 1;
    }
    let mut writer = RunWriter::new(conn, 1)?;
    let mut first_doc: Option<i64> = None;
    {
        let mut stmt = conn.prepare("SELECT key, doc FROM bands ORDER BY key, doc")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let (key, doc): (i64, i64) = (row.get(0)?, row.get(1)?);
            first_doc = Some(first_doc.map_or(doc, |f| f.min(doc)));
            writer.push(key, doc as u64)?;
        }
    }
    if let Some(first_doc) = first_doc {
        writer.finish(level, first_doc)?;
    }
    conn.execute_batch("DROP TABLE bands")
}

/// The first of `0..n` for which `before` is false (`before` true on a prefix).
fn partition(n: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, n);
    while low < high {
        let mid = (low + high) / 2;
        if before(mid) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    low
}

fn i64_at(bytes: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn
    }

    fn sorted(mut bands: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
        bands.sort_unstable_by_key(|&(k, d)| (k as i64, d));
        bands
    }

    #[test]
    fn lookups_see_every_run_in_document_order_and_survive_merges() {
        let conn = table();
        let mut runs = Runs::load(&conn, false).unwrap();
        // Key 7 is in every run (twice); key r*1000+5 only in run r, and run r also holds
        // enough keys of its own to fill several blocks. Documents rise run by run.
        let runs_made = FANOUT as u64 * 2 + 3;
        for r in 0..runs_made {
            let mut bands = vec![(7, r * 10), (7, r * 10 + 1), (r * 1000 + 5, r * 10)];
            bands.extend((0..2_000u64).map(|i| ((r << 40) + (i << 8) + 1, r * 10 + 2)));
            runs.append(&conn, &sorted(bands)).unwrap();
            runs.compact(&conn).unwrap();
        }
        // 35 runs: two merged to level 1, three left at level 0.
        assert_eq!(runs.len(), 5);
        let wanted = [7, 5005, 34005, 999, (3 << 40) + (1999 << 8) + 1];
        let found = runs.earliest(&conn, &wanted, None).unwrap();
        let seven: Vec<u64> = (0..runs_made)
            .flat_map(|r| [r * 10, r * 10 + 1])
            .take(BUCKET_ROWS)
            .collect();
        assert_eq!(found[&7], seven);
        assert_eq!(found[&5005], vec![50]);
        assert_eq!(found[&34005], vec![340]);
        assert_eq!(found[&wanted[4]], vec![32]);
        assert!(!found.contains_key(&999));
        // What is on disk is what a fresh load sees; no block of a merged run is left.
        let again = Runs::load(&conn, false).unwrap();
        assert_eq!(again.earliest(&conn, &wanted, None).unwrap(), found);
        let blocks: i64 = conn
            .query_row("SELECT COUNT(*) FROM run_blocks", [], |r| r.get(0))
            .unwrap();
        let listed: usize = again.runs.iter().map(|r| r.blocks.len()).sum();
        assert_eq!(blocks as usize, listed);
    }

    #[test]
    fn merged_documents_are_those_before_the_first_level_0_run() {
        let conn = table();
        let mut runs = Runs::load(&conn, false).unwrap();
        assert_eq!(runs.merged_documents(0), 0);
        // Run r holds documents 10r..10r+9: sixteen merge into one of level 1.
        let append = |runs: &mut Runs, r: u64| {
            let bands: Vec<(u64, u64)> = (0..10).map(|d| (r * 100 + d, r * 10 + d)).collect();
            runs.append(&conn, &sorted(bands)).unwrap();
            runs.compact(&conn).unwrap();
        };
        append(&mut runs, 0);
        assert_eq!(runs.merged_documents(10), 0);
        for r in 1..FANOUT as u64 {
            append(&mut runs, r);
        }
        assert_eq!(runs.len(), 1);
        assert_eq!(runs.merged_documents(160), 160);
        append(&mut runs, 16);
        append(&mut runs, 17);
        assert_eq!(runs.merged_documents(180), 160);
    }

    #[test]
    fn a_held_run_answers_as_its_blocks_do() {
        // Three level-0 runs of many blocks; a key with a full bucket sits in each. Dense
        // wants (every key of the runs, and misses between them) read the runs whole and
        // keep them; the answers must be the block-by-block ones, then and once held.
        let conn = table();
        let mut runs = Runs::load(&conn, false).unwrap();
        for r in 0..3u64 {
            let mut bands: Vec<(u64, u64)> =
                (0..3_000u64).map(|i| (i * 4, r * 10_000 + i)).collect();
            bands.extend((0..100u64).map(|d| (6_000, r * 10_000 + 5_000 + d)));
            runs.append(&conn, &sorted(bands)).unwrap();
        }
        let wanted: Vec<u64> = (0..12_001u64).step_by(2).collect();
        let plain = runs.earliest(&conn, &wanted, None).unwrap();
        runs.hold(64 << 20);
        let first = runs.earliest(&conn, &wanted, None).unwrap();
        assert_eq!(runs.held.lock().unwrap().pairs.len(), 3);
        let again = runs.earliest(&conn, &wanted, None).unwrap();
        assert_eq!(first, plain);
        assert_eq!(again, plain);
        assert_eq!(plain.len(), 3_000);
        assert_eq!(plain[&6_000].len(), BUCKET_ROWS);
        assert_eq!(plain[&8], vec![2, 10_002, 20_002]);
        // A merge drops what was held.
        runs.compact(&conn).unwrap();
        assert!(runs.held.lock().unwrap().pairs.is_empty());
    }

    #[test]
    fn a_run_keeps_a_keys_earliest_documents_only() {
        let conn = table();
        let mut runs = Runs::load(&conn, false).unwrap();
        let bands: Vec<(u64, u64)> = (0..200u64).map(|d| (42, d)).collect();
        runs.append(&conn, &bands).unwrap();
        let found = runs.earliest(&conn, &[42], None).unwrap();
        assert_eq!(found[&42], (0..BUCKET_ROWS as u64).collect::<Vec<_>>());
    }

    #[test]
    fn a_run_appended_is_the_run_a_gathering_writer_writes() {
        // `append` builds the run's one filter beside its blocks; a writer that gathers
        // the keys itself (compaction, migration) must write the same rows.
        let mut bands: Vec<(u64, u64)> = (0..3_000u64)
            .flat_map(|i| {
                let key = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                (0..1 + i % 3).map(move |d| (key, i + d))
            })
            .collect();
        bands.extend((0..100u64).map(|d| (42, d)));
        let bands = sorted(bands);
        let rows = |conn: &Connection| -> Vec<(String, i64, Vec<u8>)> {
            let mut all = Vec::new();
            for table in ["run_blocks", "run_filters"] {
                let column = if table == "run_blocks" {
                    "pairs"
                } else {
                    "filter"
                };
                let sql = format!("SELECT id, {column} FROM {table} ORDER BY id");
                let mut stmt = conn.prepare(&sql).unwrap();
                let found = stmt
                    .query_map([], |r| Ok((table.to_string(), r.get(0)?, r.get(1)?)))
                    .unwrap();
                all.extend(found.map(Result::unwrap));
            }
            all
        };
        let appended = table();
        Runs::load(&appended, false)
            .unwrap()
            .append(&appended, &bands)
            .unwrap();
        let gathered = table();
        let mut writer = RunWriter::new(&gathered, 1).unwrap();
        for &(key, doc) in &bands {
            writer.push(key as i64, doc).unwrap();
        }
        writer.finish(0, 0).unwrap();
        let (a, g) = (rows(&appended), rows(&gathered));
        assert_eq!(a.iter().filter(|r| r.0 == "run_filters").count(), 1);
        assert!(a.iter().filter(|r| r.0 == "run_blocks").count() > 1);
        assert_eq!(a, g);
        let first_key = |conn: &Connection| -> i64 {
            conn.query_row("SELECT first_key FROM run_filters", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(first_key(&appended), first_key(&gathered));
    }

    #[test]
    fn a_merged_run_with_many_filters_finds_every_key() {
        // Runs of 3,000 keys each, merged sixteen into one of 48,000: twelve filters, built
        // aside as the merge goes and written in order when it ends.
        let conn = table();
        let mut runs = Runs::load(&conn, false).unwrap();
        let key = |r: u64, i: u64| (r * 3_000 + i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for r in 0..FANOUT as u64 {
            runs.append(&conn, &sorted((0..3_000).map(|i| (key(r, i), r)).collect()))
                .unwrap();
        }
        runs.compact(&conn).unwrap();
        assert_eq!(runs.len(), 1);
        let again = Runs::load(&conn, false).unwrap();
        let filters = &again.runs[0].filters;
        assert!(filters.len() > 10, "{} filters", filters.len());
        assert!(filters.iter().all(|f| f.1.is_some()));
        assert!(filters.windows(2).all(|w| w[0].0 < w[1].0));
        let wanted: Vec<u64> = (0..FANOUT as u64)
            .flat_map(|r| (0..3_000).map(move |i| key(r, i)))
            .collect();
        let found = again.earliest(&conn, &wanted, None).unwrap();
        assert_eq!(found.len(), wanted.len());
        for r in 0..FANOUT as u64 {
            assert_eq!(found[&key(r, 7)], vec![r]);
        }
    }

    #[test]
    fn a_filter_has_no_false_negatives_and_few_false_positives() {
        let conn = table();
        let mut writer = RunWriter::new(&conn, 1).unwrap();
        let mut keys: Vec<i64> = (0..50_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) as i64)
            .collect();
        keys.sort_unstable();
        for &k in &keys {
            writer.push(k, 1).unwrap();
        }
        let run = writer.finish(0, 1).unwrap();
        assert!(run.filters.iter().all(|f| f.1.is_some()));
        let probes = run.probes();
        assert!(keys.iter().all(|&k| may_hold(&probes, k)));
        let strangers = (0..50_000u64)
            .map(|i| (i + 1_000_000).wrapping_mul(0xD6E8_FEB8_6659_FD93) as i64)
            .filter(|&k| may_hold(&probes, k))
            .count();
        assert!(strangers < 500, "{strangers} false positives of 50,000");
        // What was written passes the check a load makes; cut or altered, it does not.
        let bytes = run.filters[0].1.clone().unwrap();
        assert!(sound_filter(&bytes));
        assert!(!sound_filter(&bytes[..bytes.len() - 1]));
        assert!(!sound_filter(&bytes[..10]));
        let mut wrong_mask = bytes.clone();
        wrong_mask[12] ^= 0x40;
        assert!(!sound_filter(&wrong_mask));
    }
}
