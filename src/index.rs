//! A persistent, incremental crawl index: documents are added in batches and queried
//! against, and every story keeps the id it was given.
//!
//! # The rule
//!
//! Adding decides exactly as `dedup --keep first` would over every batch so far, in order:
//! pages are taken in arrival order, and each page is a duplicate of the most similar
//! earlier kept page it was verified against, or kept ([`cluster::decide`], the same code
//! the batch pipeline runs). A decision depends only on earlier pages, so it never changes
//! when later batches arrive, and a story id (the number of the story, in the order kept
//! pages founded them) is never renamed or renumbered. Giant LSH buckets are capped by the
//! same arrival-order rule in both ([`lsh::bucket_pairs_online`]).
//!
//! A document whose id is already in the index (from an earlier batch or earlier in the
//! batch) is skipped with reason `repeated-id`, as `dedup` skips a repeated id; it is not
//! added twice.
//!
//! # The store
//!
//! SQLite (through `rusqlite`, the library compiled in) in write-ahead-log mode, one file
//! `index.sqlite` in the index directory. Chosen for what this workload needs beyond
//! speed (`docs/index.md`): a batch is one transaction, so a killed `add` leaves the index
//! as it was before the batch; one writer at a time across processes (a second `add` gets
//! a clear error at once); and readers in other processes (`query`, `stories`, `stats`)
//! see the last committed batch while a writer works.
//!
//! Tables: `meta` (format version and the parameters' fingerprint), `docs` (every input
//! document: id, status, story, kept page, score, title, origin, batch), `sets` (for each
//! banded document: its exact-copy key and shingle set, for exact verification; its
//! signature is a function of the set, recomputed when needed) and `bands` (band key → document, the LSH buckets).
//!
//! # Example
//!
//! An embedding program adds documents it holds in memory and asks about new ones:
//!
//! ```
//! use samestory::index::{Access, Index};
//! use samestory::params::Params;
//! use samestory::pipeline::NoProgress;
//! use samestory::read::Sources;
//!
//! # fn main() -> samestory::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let story = "The minister said on Tuesday that the visit was aimed at showing the \
//!     determination of the two countries to strengthen their ties, and he added that it \
//!     would be the first of many such trips in the coming year.";
//! let line = |id: &str, text: &str| serde_json::json!({ "id": id, "text": text }).to_string();
//! let batch = format!("{}\n{}\n", line("a", story), line("b", &format!("{story} More.")));
//! let read = Params::dedup().read;
//! let sources = Sources::from_memory([("hour1.jsonl".to_string(), batch.into_bytes())], &read)?;
//!
//! let mut index = Index::open(dir.path(), Params::dedup(), Access::Write)?;
//! let added = index.add_batch(&sources, &NoProgress)?;
//! assert_eq!((added[0].status, added[1].status), ("kept", "duplicate"));
//! assert_eq!(added[1].story, added[0].story);
//!
//! // Read-only, and allowed while another process adds.
//! let mut reader = Index::open(dir.path(), Params::dedup(), Access::Read)?;
//! let ask = Sources::from_memory([("q.jsonl".to_string(), line("q", story).into_bytes())], &read)?;
//! let found = reader.query(&ask, 5, &NoProgress)?;
//! assert_eq!(found[0].matches[0].id, "a");
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};

use ahash::AHashMap;
use rayon::prelude::*;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::cluster::{self, Decision};
use crate::document::{Doc, SkipReason};
use crate::error::{Error, ErrorKind, Result};
use crate::lsh::{self, LshParams};
use crate::minhash::{MinHasher, Signature};
use crate::params::{Keep, Mode, Params, Verify};
use crate::pipeline::{Pipeline, Progress};
use crate::read::{FieldTally, Origin, Sources};
use crate::shingle::Shingles;
use crate::verify::Measure;

mod runs;
use runs::Runs;

/// The on-disk format this version writes. An index of a newer format is refused with a
/// message saying so. Format 1 (band keys in one B-tree) is read as it is, and migrated to
/// format 2 (band keys in sorted runs with filters) by the first `add`.
pub const FORMAT_VERSION: u32 = 2;

/// Bumped whenever tokenizing, shingling or signing changes what a page hashes to, so an
/// index signed by an earlier version is refused rather than silently compared.
pub const SIGNATURE_VERSION: u32 = 1;

/// Bumped whenever the cleaner keeps or drops different text for the same page.
pub const CLEANING_VERSION: u32 = 1;

/// The banded document with a given exact-copy key, if any (`add` and `query` alike).
const CONTENT_QUERY: &str = "SELECT doc FROM sets WHERE content = ?1";

/// The file inside the index directory.
const FILE: &str = "index.sqlite";

/// The file a writer locks: one writer at a time, from the state it reads to its commit
/// (SQLite's own write lock is taken only when a batch first writes, [`Writer`]).
const LOCK: &str = "index.lock";

/// The parameters that make two signatures comparable, by name. Stored in the index when it
/// is created; every later `add` or `query` must have the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Fingerprint(pub BTreeMap<String, String>);

impl Fingerprint {
    /// The fingerprint of a run's parameters.
    pub fn of(params: &Params) -> Fingerprint {
        let lsh = params.lsh_params();
        let c = &params.clean;
        let entries = [
            ("signature_version", SIGNATURE_VERSION.to_string()),
            ("cleaning_version", CLEANING_VERSION.to_string()),
            ("shingle", format!("{:?}", params.shingle.kind)),
            ("ngram", params.shingle.ngram.to_string()),
            ("shingle_seed", params.shingle.seed.to_string()),
            ("permutations", params.minhash.permutations.to_string()),
            ("minhash_seed", params.minhash.seed.to_string()),
            ("minhash_scheme", format!("{:?}", params.minhash.scheme)),
            ("bands", lsh.bands.to_string()),
            ("rows", lsh.rows.to_string()),
            ("threshold", params.threshold.to_string()),
            ("measure", format!("{:?}", params.measure)),
            ("clean", c.enabled.to_string()),
            (
                "clean_params",
                format!(
                    "{},{},{},{},{},{},{}",
                    c.length_low,
                    c.length_high,
                    c.stopwords_low,
                    c.stopwords_high,
                    c.max_link_density,
                    c.keep_all_if_empty,
                    c.language.as_deref().unwrap_or("auto")
                ),
            ),
        ];
        Fingerprint(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    /// The first difference from `stored`, as `name: index has X, this run has Y`.
    pub fn difference(&self, stored: &Fingerprint) -> Option<String> {
        let keys: std::collections::BTreeSet<&String> =
            self.0.keys().chain(stored.0.keys()).collect();
        keys.into_iter().find_map(|k| {
            let (ours, theirs) = (self.0.get(k), stored.0.get(k));
            (ours != theirs).then(|| {
                format!(
                    "{k}: the index has {}, this run has {}",
                    theirs.map_or("nothing", String::as_str),
                    ours.map_or("nothing", String::as_str)
                )
            })
        })
    }
}

/// What `add` did with one input document: `dedup`'s record plus the story.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AddRecord {
    /// The document id.
    pub id: String,
    /// `kept`, `duplicate` or `skipped`.
    pub status: &'static str,
    /// For a duplicate: the id of the kept page it duplicates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// For a duplicate: its exact score against that page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f64>,
    /// For a skipped document: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The story (stable id); none for a skipped document.
    pub story: Option<u64>,
}

/// One match of a queried document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Match {
    /// The indexed document's id.
    pub id: String,
    /// Exact score between the two.
    pub similarity: f64,
    /// Its story.
    pub story: u64,
}

/// What `query` found for one input document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct QueryRecord {
    /// The queried document's id.
    pub id: String,
    /// Best matches first (ties: earliest indexed), at or above the threshold.
    pub matches: Vec<Match>,
    /// For a document that could not be signed: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A member of a story.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StoryMember {
    /// Document id.
    pub id: String,
    /// Title, if known.
    pub title: Option<String>,
    /// Exact score against the story's kept page (1 for itself).
    pub similarity: f64,
}

/// A story: a kept page and its duplicates, as `clusters` prints a cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StoryRecord {
    /// Stable story id.
    pub story: u64,
    /// Members.
    pub size: usize,
    /// The kept page's id.
    pub representative: String,
    /// The kept page first, then in arrival order.
    pub members: Vec<StoryMember>,
}

/// Counts and settings of an index.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct IndexStats {
    /// Format version on disk.
    pub format_version: u32,
    /// Documents recorded (kept, duplicate and skipped).
    pub documents: u64,
    /// Of which kept.
    pub kept: u64,
    /// Of which duplicates.
    pub duplicates: u64,
    /// Of which skipped.
    pub skipped: u64,
    /// Stories.
    pub stories: u64,
    /// Batches added.
    pub batches: u64,
    /// Bytes of the index directory's files.
    pub bytes_on_disk: u64,
    /// The parameters' fingerprint.
    pub parameters: Fingerprint,
}

/// How to open an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Read only: never changes the index; runs beside a writer.
    Read,
    /// Read and add; creates the index on first use.
    Write,
}

/// An open index.
pub struct Index {
    conn: Connection,
    dir: PathBuf,
    pipeline: Pipeline,
    /// A chunk's bounds: documents, and bytes of shingle sets ([`Index::set_chunk`]).
    chunk: usize,
    chunk_bytes: usize,
    /// The JSON fields the user named beside the text field: (id, title).
    named: (bool, bool),
    /// A format-1 index opened to read (its bands in one B-tree).
    legacy: bool,
    /// The runs a query loaded, by the newest run's number: later queries reuse them.
    runs: Option<(i64, Runs)>,
    /// A writer's lock on [`LOCK`], held while the index is open to write.
    _lock: Option<std::fs::File>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dir", &self.dir)
            .field("writer", &self._lock.is_some())
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}

const STATUS_KEPT: i64 = 0;
const STATUS_DUPLICATE: i64 = 1;
const STATUS_SKIPPED: i64 = 2;

/// Create `dir` if missing and take its writer's lock, or say that another writer has it.
fn lock_for_writing(dir: &Path) -> Result<std::fs::File> {
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK))
        .map_err(io)?;
    // A lock is held by an open file description, which a process this program starts
    // shares until it executes its program: a writer's lock can outlive the writer by that
    // moment (seen in the tests, which start processes while others add). So a held lock
    // is tried again for a short while before it means another writer.
    let mut tries = 0;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if tries < LOCK_TRIES => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Err(busy_error(dir)),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
}

/// How many more times a held writer's lock is tried, 10 ms apart ([`lock_for_writing`]).
const LOCK_TRIES: u32 = 20;

fn busy_error(dir: &Path) -> Error {
    Error::new(
        ErrorKind::Io,
        format!(
            "{}: another `samestory index add` is writing this index; run again when it has \
             finished",
            dir.display()
        ),
    )
}

fn store_error(dir: &Path, e: rusqlite::Error) -> Error {
    let busy = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::DatabaseBusy
                || f.code == rusqlite::ErrorCode::DatabaseLocked
    );
    if busy {
        busy_error(dir)
    } else {
        Error::new(ErrorKind::Io, format!("{}: {e}", dir.display()))
    }
}

/// An indexed (or just decided) document, loaded for verification and decisions.
struct Stored {
    id: String,
    story: u64,
    kept_of: u64,
    /// Score against its kept page (1 when kept).
    similarity: f64,
    /// Its signature's low bytes ([`sketch`]), as stored; none in rows from before
    /// 2026-12-07.
    sketch: Option<Box<[u8]>>,
    /// Its signature and shingle set, once loaded ([`Loader::load_sets`]).
    set: Option<Box<StoredSet>>,
}

/// A document's signature and shingle set.
struct StoredSet {
    signature: Signature,
    shingles: Shingles,
}

impl Stored {
    /// The signature and set: loaded before anyone asks ([`Loader::load_sets`]).
    fn set(&self) -> &StoredSet {
        self.set.as_deref().expect("set loaded")
    }
}

/// A signature's sketch: the low byte of each value. Equal values have equal low bytes, so
/// the share of equal bytes of two sketches is at least the share of equal values of the
/// signatures ([`Signature::jaccard`]): a candidate whose sketch is below the floor is
/// below it by its signature too, and its set need not be read.
fn sketch(signature: &Signature) -> Box<[u8]> {
    signature.as_slice().iter().map(|&v| v as u8).collect()
}

/// The share of equal bytes of two sketches (at least [`Signature::jaccard`] of their
/// signatures); 1 when they cannot be compared (so the set is read).
fn sketch_bound(a: &[u8], b: &[u8]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 1.0;
    }
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / a.len() as f64
}

/// A row of `docs` to write.
struct DocRow {
    doc: u64,
    id: String,
    status: i64,
    story: Option<u64>,
    kept: Option<u64>,
    similarity: Option<f64>,
    title: Option<String>,
    origin: Origin,
    reason: Option<String>,
    /// A banded document's signature sketch ([`sketch`]).
    sketch: Option<Box<[u8]>>,
}

/// Column `i` of a row as a shingle set ([`Shingles::to_bytes`](crate::shingle::Shingles::to_bytes)).
fn read_set(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Shingles> {
    decode_set(&row.get::<_, Vec<u8>>(i)?, i)
}

/// A stored shingle set, read from column `i`.
fn decode_set(bytes: &[u8], i: usize) -> rusqlite::Result<Shingles> {
    Shingles::from_stored(bytes).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Blob,
            "a damaged shingle set".into(),
        )
    })
}

/// Loads banded documents from the store, once each: first their rows of `docs`, then, for
/// those whose sets are needed, their shingle sets (and signatures, recomputed from them).
struct Loader<'t> {
    row: rusqlite::Statement<'t>,
    set: rusqlite::Statement<'t>,
    hasher: &'t MinHasher,
    docs: AHashMap<u64, Stored>,
}

impl<'t> Loader<'t> {
    fn new(conn: &'t Connection, hasher: &'t MinHasher) -> rusqlite::Result<Loader<'t>> {
        let row = conn.prepare(
            "SELECT id, story, COALESCE(kept, doc), COALESCE(similarity, 1.0), sketch
             FROM docs WHERE doc = ?1",
        )?;
        let set = conn.prepare("SELECT shingles FROM sets WHERE doc = ?1")?;
        Ok(Loader {
            row,
            set,
            hasher,
            docs: AHashMap::new(),
        })
    }

    /// Load the rows of `docs` not loaded yet, in document order.
    fn load_rows(&mut self, mut docs: Vec<u64>) -> rusqlite::Result<()> {
        docs.sort_unstable();
        docs.dedup();
        for doc in docs {
            if self.docs.contains_key(&doc) {
                continue;
            }
            let stored = self.row.query_row([doc as i64], |r| {
                Ok(Stored {
                    id: r.get(0)?,
                    story: r.get::<_, i64>(1)? as u64,
                    kept_of: r.get::<_, i64>(2)? as u64,
                    similarity: r.get(3)?,
                    sketch: r.get::<_, Option<Vec<u8>>>(4)?.map(Vec::into_boxed_slice),
                    set: None,
                })
            })?;
            self.docs.insert(doc, stored);
        }
        Ok(())
    }

    /// Load the row and the set of `doc`.
    fn load(&mut self, doc: u64) -> rusqlite::Result<()> {
        self.load_rows(vec![doc])?;
        self.load_sets(vec![doc], None)
    }

    /// Load the sets of `docs` (their rows loaded) not loaded yet: read in document order,
    /// decoded and signed in parallel (in `pool` when given, else in the global pool).
    fn load_sets(
        &mut self,
        mut docs: Vec<u64>,
        pool: Option<&rayon::ThreadPool>,
    ) -> rusqlite::Result<()> {
        docs.sort_unstable();
        docs.dedup();
        docs.retain(|d| self.docs[d].set.is_none());
        let mut rows = Vec::with_capacity(docs.len());
        for doc in docs {
            rows.push((
                doc,
                self.set
                    .query_row([doc as i64], |r| r.get::<_, Vec<u8>>(0))?,
            ));
        }
        let hasher = self.hasher;
        let decode = || -> rusqlite::Result<Vec<(u64, StoredSet)>> {
            rows.into_par_iter()
                .map(|(doc, set)| {
                    let shingles = decode_set(&set, 0)?;
                    Ok((
                        doc,
                        StoredSet {
                            // A signature is a function of the set: recomputed, not stored.
                            signature: hasher.sign(shingles.as_slice()),
                            shingles,
                        },
                    ))
                })
                .collect()
        };
        let loaded = match pool {
            Some(pool) => pool.install(decode)?,
            None => decode()?,
        };
        for (doc, set) in loaded {
            self.docs.get_mut(&doc).expect("row loaded").set = Some(Box::new(set));
        }
        Ok(())
    }

    fn get(&self, doc: u64) -> &Stored {
        &self.docs[&doc]
    }

    fn insert(&mut self, doc: u64, stored: Stored) {
        self.docs.insert(doc, stored);
    }
}

impl Index {
    /// Open the index in directory `dir` for a run with `params` (the `dedup` preset and the
    /// run's flags; the index always decides with `--keep first`). With [`Access::Write`]
    /// the directory and index are created when missing. Fails, naming the difference, when
    /// the index was built with parameters that make signatures incomparable.
    pub fn open(dir: &Path, params: Params, access: Access) -> Result<Index> {
        Index::open_with(dir, params, access, true)
    }

    /// Open an index read-only to list or count what it holds (`stories`, `stats`),
    /// whatever parameters it was built with.
    pub fn inspect(dir: &Path) -> Result<Index> {
        Index::open_with(dir, Params::dedup(), Access::Read, false)
    }

    fn open_with(dir: &Path, params: Params, access: Access, check: bool) -> Result<Index> {
        let mut params = params;
        params.mode = Mode::Dedup(Keep::First);
        params.verify = Verify::InMemory;
        params.events = false;
        if params.measure != Measure::Jaccard {
            return Err(Error::params("the index compares pages by Jaccard"));
        }
        let pipeline = Pipeline::new(params)?;
        if dir.exists() && !dir.is_dir() {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "{}: not a directory (an index is a directory, which `samestory index add` \
                     creates)",
                    dir.display()
                ),
            ));
        }
        let file = dir.join(FILE);
        let lock = match access {
            Access::Read => None,
            Access::Write => Some(lock_for_writing(dir)?),
        };
        let conn = match access {
            Access::Read => {
                if !file.exists() {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!(
                            "{}: no index here (`samestory index add` creates one)",
                            dir.display()
                        ),
                    ));
                }
                Connection::open_with_flags(
                    &file,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
            }
            Access::Write => Connection::open(&file),
        }
        .map_err(|e| store_error(dir, e))?;
        let mut index = Index {
            conn,
            dir: dir.to_path_buf(),
            pipeline,
            chunk: ADD_CHUNK,
            chunk_bytes: ADD_CHUNK_SET_BYTES,
            named: (false, false),
            legacy: false,
            runs: None,
            _lock: lock,
        };
        index.setup(access)?;
        index.check_compatible(check)?;
        index.legacy = index.meta("format_version")?.as_deref() == Some("1");
        Ok(index)
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        store_error(&self.dir, e)
    }

    fn setup(&mut self, access: Access) -> Result<()> {
        // Readers never wait: in WAL mode they read the last committed state. A second
        // writer fails at once (busy_timeout 0) with a clear message.
        self.conn
            .busy_timeout(std::time::Duration::from_millis(0))
            .map_err(|e| self.err(e))?;
        // 16 MiB of page cache: an `add` reads most pages once (the OS caches the file), and
        // every page SQLite caches is fresh memory the kernel must fault in and zero. Against
        // 64 MiB, measured: 100k in 10 batches 4.50-4.52 s against 4.65-4.78 s; a 10k batch
        // into 1M documents 0.81-0.94 s against 1.09-1.39 s, peak RSS 206 MB against 256 MB.
        self.conn
            .pragma_update(None, "cache_size", -16384)
            .map_err(|e| self.err(e))?;
        if access == Access::Write {
            // Takes effect when the file is created (before the first table).
            self.conn
                .pragma_update(None, "page_size", 16384)
                .map_err(|e| self.err(e))?;
            self.conn
                .pragma_update(None, "journal_mode", "WAL")
                .map_err(|e| self.err(e))?;
            self.conn
                .pragma_update(None, "synchronous", "NORMAL")
                .map_err(|e| self.err(e))?;
            // Checkpoints are the next batch's work, off its critical path ([`checkpoint`]).
            self.conn
                .pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(|e| self.err(e))?;
            self.conn
                .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
                .map_err(|e| self.err(e))?;
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| store_error(&self.dir, e))?;
            // No index on `docs(story)`: a batch's pages join stories all over the index,
            // so keeping one dirtied nearly every page of it each batch (751 pages of 16
            // KiB at 950k documents, written to the log and copied again at checkpoint).
            // What read it reads otherwise: the next story from the last kept page, the
            // story count from the kept count, `stories` through a sort. An index of an
            // earlier version loses it at its next `add` (an older version makes it again).
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS docs(
                     doc INTEGER PRIMARY KEY,
                     id TEXT NOT NULL UNIQUE,
                     status INTEGER NOT NULL,
                     story INTEGER,
                     kept INTEGER,
                     similarity REAL,
                     title TEXT,
                     origin TEXT NOT NULL,
                     reason TEXT,
                     batch INTEGER NOT NULL,
                     sketch BLOB);
                 DROP INDEX IF EXISTS docs_story;
                 CREATE TABLE IF NOT EXISTS sets(
                     doc INTEGER PRIMARY KEY,
                     content BLOB NOT NULL,
                     shingles BLOB NOT NULL);
                 CREATE INDEX IF NOT EXISTS sets_content ON sets(content);",
            )
            .and_then(|()| tx.execute_batch(runs::SCHEMA))
            .and_then(|()| {
                // Documents indexed before 2026-12-07 have no sketch: their sets are read
                // whenever they are candidates, as then. A version before reads and writes
                // the table as it did (its statements name their columns).
                let has_sketch: bool = tx.query_row(
                    "SELECT COUNT(*) FROM pragma_table_info('docs') WHERE name = 'sketch'",
                    [],
                    |r| r.get::<_, i64>(0).map(|n| n > 0),
                )?;
                if has_sketch {
                    Ok(())
                } else {
                    tx.execute_batch("ALTER TABLE docs ADD COLUMN sketch BLOB")
                }
            })
            .map_err(|e| store_error(&self.dir, e))?;
            let have: Option<String> = tx
                .query_row(
                    "SELECT value FROM meta WHERE key = 'format_version'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| store_error(&self.dir, e))?;
            let fingerprint = Fingerprint::of(self.pipeline.params());
            let json = serde_json::to_string(&fingerprint.0).expect("strings serialize");
            if have.is_none() {
                tx.execute(
                    "INSERT INTO meta(key, value) VALUES ('format_version', ?1), ('parameters', ?2), ('batches', '0')",
                    params![FORMAT_VERSION.to_string(), json],
                )
                .map_err(|e| store_error(&self.dir, e))?;
            } else if have.as_deref() == Some("1") {
                // Format 1: its band B-tree becomes one run.
                let documents: i64 = tx
                    .query_row("SELECT COUNT(*) FROM docs", [], |r| r.get(0))
                    .map_err(|e| store_error(&self.dir, e))?;
                runs::migrate_from_v1(&tx, documents as u64, ADD_CHUNK)
                    .and_then(|()| {
                        tx.execute(
                            "UPDATE meta SET value = ?1 WHERE key = 'format_version'",
                            [FORMAT_VERSION.to_string()],
                        )
                    })
                    .map_err(|e| store_error(&self.dir, e))?;
            }
            if have.is_some() && is_empty(&tx).map_err(|e| store_error(&self.dir, e))? {
                // No document yet (the first add failed, say, on a wrong --text-field): no
                // signature to stay comparable with, so the index takes this run's
                // parameters instead of holding the failed run's.
                tx.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'parameters'",
                    params![json],
                )
                .map_err(|e| store_error(&self.dir, e))?;
            }
            tx.commit().map_err(|e| store_error(&self.dir, e))?;
        }
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    fn stored_fingerprint(&self) -> Result<Fingerprint> {
        let json = self.meta("parameters")?.unwrap_or_default();
        serde_json::from_str(&json).map(Fingerprint).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("{}: bad parameters record: {e}", self.dir.display()),
            )
        })
    }

    fn check_compatible(&self, params: bool) -> Result<()> {
        let version: u32 = self
            .meta("format_version")?
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Io,
                    format!(
                        "{}: not a samestory index (no format version)",
                        self.dir.display()
                    ),
                )
            })?;
        if version > FORMAT_VERSION {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "{}: index format version {version} is newer than this samestory reads \
                     ({FORMAT_VERSION}); use a newer samestory",
                    self.dir.display()
                ),
            ));
        }
        if !params || is_empty(&self.conn).map_err(|e| self.err(e))? {
            return Ok(());
        }
        let ours = Fingerprint::of(self.pipeline.params());
        if let Some(diff) = ours.difference(&self.stored_fingerprint()?) {
            return Err(Error::params(format!(
                "{}: parameters differ from the index's ({diff}); signatures would not be \
                 comparable",
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// Say which JSON fields the user named besides the text field (the id field, the
    /// title field): a batch in which no JSON Lines record has the text field, or a named
    /// field, is refused whole ([`Sources::missing_field`]) rather than every record being
    /// indexed as skipped, its id taken. Unnamed fields fall back (`path:line` ids, no
    /// title) as in `dedup`.
    pub fn named_fields(&mut self, id: bool, title: bool) {
        self.named = (id, title);
    }

    /// Set how many documents [`Index::add_batch`] decides and writes at a time within its
    /// one transaction ([`ADD_CHUNK`] unless set): fewer hold less memory; the decisions are
    /// the same at any size.
    pub fn set_chunk(&mut self, documents: usize) {
        self.chunk = documents.max(1);
    }

    /// Set how many bytes of shingle sets a chunk holds before it is written, whatever its
    /// document count ([`ADD_CHUNK_SET_BYTES`] unless set): what bounds memory when pages
    /// are large. A chunk takes at least one document; the decisions are the same.
    pub fn set_chunk_bytes(&mut self, bytes: usize) {
        self.chunk_bytes = bytes;
    }

    /// The parameters in force.
    pub fn params(&self) -> &Params {
        self.pipeline.params()
    }

    /// Sign the documents of `sources` and add them as one atomic batch: one record per
    /// input document, in input order.
    ///
    /// The batch is one transaction, worked through in chunks of [`ADD_CHUNK`] documents so
    /// that memory follows the chunk, not the batch. A chunk's documents are decided piece
    /// by piece as the pipeline signs them (deciding overlaps signing): each piece's band
    /// keys looked up in the index (earlier chunks included, as the transaction sees its
    /// own rows) once, in key order, the indexed documents they hit loaded once, and the
    /// decisions taken in memory in arrival order ([`cluster::decide`]) against the index
    /// and the chunk's earlier pieces. A piece's documents and sets are written once it is
    /// decided and the transaction can begin without waiting; the chunk's bands once it is
    /// full, in key order. A chunk decides exactly as a batch of its own would, so the
    /// batch decides as `dedup --keep first` does.
    pub fn add_batch(
        &mut self,
        sources: &Sources,
        progress: &dyn Progress,
    ) -> Result<Vec<AddRecord>> {
        let params = self.pipeline.params().clone();
        let lsh = params.lsh_params();
        let dir = self.dir.clone();
        let e = |e: rusqlite::Error| store_error(&dir, e);
        let conn = &self.conn;
        let hasher = self.pipeline.hasher();
        // Where the index stands. Only this process writes to it (the lock taken by `open`),
        // so what is read here holds until the batch commits.
        let mut state = BatchState::read(conn).map_err(e)?;
        let mut runs = Runs::load(conn, false).map_err(e)?;
        runs.hold(HELD_RUN_BYTES);
        let size = self.chunk;
        let mut open = Open::new(conn, hasher, size).map_err(e)?;
        // The last batch's pages go from the write-ahead log into the database file while
        // this one is signed and decided; the transaction begins with the first write.
        let mut writer = Writer {
            conn,
            tx: None,
            backlog: Some(checkpoint(&self.dir.join(FILE))),
        };
        let size_bytes = self.chunk_bytes;
        let tally = FieldTally::default();
        // Deciding's parallel steps get threads of their own: in the global pool they
        // would wait behind the signing of the next pieces, and deciding is what the batch
        // waits for.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .build()
            .map_err(|err| Error::new(ErrorKind::Io, format!("threads: {err}")))?;
        let mut failed: Option<Error> = None;
        {
            // Signed documents are decided as one piece, on this thread, while the pipeline
            // signs the next; its rows are written then, the chunk's bands when it is full.
            // A piece's lookups read the blocks its keys fall in in the merged runs, which
            // are not held, and their cost barely follows the piece's size (into 950k, about
            // 200 ms for 2,048 documents as for 7,952). So documents wait until they are
            // one for every [`MERGED_PER_PIECE`] documents of those runs, or fill the open
            // chunk (in documents or in shingle-set bytes), or the input ends: a chunk into
            // 1M is looked up once, not once for each handful signed while the last was
            // decided. Into an index without merged runs they wait for nothing, and
            // deciding overlaps signing to the last piece.
            let least = (runs.merged_documents(state.next_doc) / MERGED_PER_PIECE) as usize;
            let mut waiting: Vec<Doc> = Vec::new();
            let mut take = |signed: Vec<Doc>, end: bool| -> Result<()> {
                if waiting.is_empty() {
                    waiting = signed;
                } else {
                    waiting.extend(signed);
                }
                loop {
                    // Up to the chunk's room in documents and in shingle-set bytes (at
                    // least one document).
                    let room = size - open.documents;
                    let (mut n, mut bytes) = (0, open.set_bytes);
                    while n < room.min(waiting.len()) && (n == 0 || bytes < size_bytes) {
                        bytes += set_bytes(&waiting[n]);
                        n += 1;
                    }
                    let fills = n == room || n >= least || bytes >= size_bytes;
                    if n == 0 || !(fills || end) {
                        return Ok(());
                    }
                    let rest = waiting.split_off(n);
                    let piece = std::mem::replace(&mut waiting, rest);
                    open.set_bytes = bytes;
                    decide_piece(
                        conn, piece, &mut state, &mut open, &runs, &params, &lsh, &pool, &dir,
                    )?;
                    if writer.ready() {
                        write_rows(&mut writer, &mut open, &mut state, &dir)?;
                    }
                    if open.documents >= size || open.set_bytes >= size_bytes {
                        let next = Open::new(conn, hasher, size).map_err(e)?;
                        let full = std::mem::replace(&mut open, next);
                        flush(&mut writer, full, &mut runs, &mut state, &pool, &dir)?;
                    }
                }
            };
            self.pipeline
                .sign_each_ahead(sources, progress, &tally, SIGN_AHEAD, &mut |signed| {
                    if failed.is_none() {
                        failed = take(signed, false).err();
                    }
                });
            if failed.is_none() {
                failed = take(Vec::new(), true).err();
            }
        }
        if let Some(err) = failed {
            return Err(err);
        }
        flush(&mut writer, open, &mut runs, &mut state, &pool, &dir)?;
        let (id, title) = self.named;
        if let Some(err) = sources.missing_field(tally.counts(), id, title) {
            // A mistake in the flags: the transaction is dropped, nothing is written.
            return Err(err);
        }
        if !state.written {
            // Nothing new (every document already indexed, say, when a batch is re-run
            // after it committed): the index is left exactly as it was, batch count too.
            return Ok(state.records);
        }
        runs.compact(conn).map_err(e)?;
        conn.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'batches'",
            [state.batch.to_string()],
        )
        .map_err(e)?;
        writer.commit().map_err(e)?;
        Ok(state.records)
    }

    /// For each document of `sources`: its best `top` matches in the index, at or above the
    /// threshold. Never writes; reads one consistent snapshot.
    pub fn query(
        &mut self,
        sources: &Sources,
        top: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<QueryRecord>> {
        let tally = FieldTally::default();
        let (docs, _) = self.pipeline.sign_tallied(sources, progress, &tally);
        let (id, title) = self.named;
        if let Some(err) = sources.missing_field(tally.counts(), id, title) {
            return Err(err);
        }
        let params = self.pipeline.params().clone();
        let lsh = params.lsh_params();
        let dir = self.dir.clone();
        let e = |e: rusqlite::Error| store_error(&dir, e);
        let legacy = self.legacy;
        let mut cached = self.runs.take();
        let tx = self.conn.transaction().map_err(e)?;
        // The runs as this snapshot has them: the ones loaded for an earlier query while no
        // batch has committed since (every commit that changes runs makes a new number).
        let stamp: i64 = if legacy {
            0
        } else {
            tx.query_row("SELECT COALESCE(MAX(run), 0) FROM runs", [], |r| r.get(0))
                .map_err(e)?
        };
        if cached.as_ref().is_none_or(|c| c.0 != stamp) {
            cached = Some((stamp, Runs::load(&tx, legacy).map_err(e)?));
        }
        let runs = &cached.as_ref().expect("loaded").1;
        let mut find_content = tx.prepare(CONTENT_QUERY).map_err(e)?;
        let mut load = tx
            .prepare("SELECT shingles FROM sets WHERE doc = ?1")
            .map_err(e)?;
        let mut about = tx
            .prepare("SELECT id, story FROM docs WHERE doc = ?1")
            .map_err(e)?;
        let mut out = Vec::with_capacity(docs.len());
        for d in &docs {
            let mut record = QueryRecord {
                id: d.id.clone(),
                matches: Vec::new(),
                reason: d.skipped.as_ref().map(SkipReason::message),
            };
            let Some(sig) = &d.signature else {
                out.push(record);
                continue;
            };
            let mut scored: Vec<(f64, u64)> = Vec::new();
            let content = d.content.to_be_bytes();
            let leader: Option<i64> = find_content
                .query_row([&content[..]], |r| r.get(0))
                .optional()
                .map_err(e)?;
            if let Some(leader) = leader {
                scored.push((1.0, leader as u64));
            }
            let keys: Vec<u64> = (0..lsh.bands)
                .map(|b| lsh::band_key(sig, b, &lsh))
                .collect();
            let mut candidates: Vec<u64> = Vec::new();
            for (_, mut bucket) in runs.earliest(&tx, &keys, None).map_err(e)? {
                if bucket.len() > lsh::MAX_BUCKET_PAIRS {
                    bucket.truncate(lsh::GIANT_HEADS);
                }
                candidates.extend(bucket);
            }
            candidates.sort_unstable();
            candidates.dedup();
            for x in candidates {
                if leader == Some(x as i64) {
                    continue;
                }
                // Every candidate verified exactly (no estimate prefilter: a query is small).
                let shingles = load.query_row([x as i64], |r| read_set(r, 0)).map_err(e)?;
                if let Some(score) = params.similar(&d.shingles, &shingles) {
                    scored.push((score, x));
                }
            }
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            scored.truncate(top);
            for (score, x) in scored {
                let (id, story): (String, i64) = about
                    .query_row([x as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(e)?;
                record.matches.push(Match {
                    id,
                    similarity: crate::output::round(score),
                    story: story as u64,
                });
            }
            out.push(record);
        }
        drop((find_content, load, about));
        drop(tx);
        self.runs = cached;
        Ok(out)
    }

    /// Every story, by story id; with `all`, stories of one page too.
    pub fn stories(&self, all: bool) -> Result<Vec<StoryRecord>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT story, id, title, status, similarity FROM docs
                 WHERE story IS NOT NULL ORDER BY story, status, doc",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<f64>>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut stories: Vec<StoryRecord> = Vec::new();
        for row in rows {
            let (story, id, title, status, sim) = row.map_err(|e| self.err(e))?;
            let member = StoryMember {
                id: id.clone(),
                title,
                similarity: if status == STATUS_KEPT {
                    1.0
                } else {
                    sim.unwrap_or(1.0)
                },
            };
            match stories.last_mut() {
                Some(s) if s.story == story as u64 => {
                    s.members.push(member);
                    s.size += 1;
                }
                _ => stories.push(StoryRecord {
                    story: story as u64,
                    size: 1,
                    representative: id,
                    members: vec![member],
                }),
            }
        }
        if !all {
            stories.retain(|s| s.size > 1);
        }
        Ok(stories)
    }

    /// SQLite's own check of the file (`PRAGMA integrity_check`): every page and index
    /// consistent. An error names what is wrong.
    pub fn integrity_check(&self) -> Result<()> {
        let verdict: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Io,
                format!("{}: index is damaged: {verdict}", self.dir.display()),
            ))
        }
    }

    /// Counts, size on disk and parameters.
    pub fn stats(&self) -> Result<IndexStats> {
        let count = |sql: &str| -> Result<u64> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(|e| self.err(e))
        };
        let status = |s: i64| count(&format!("SELECT COUNT(*) FROM docs WHERE status = {s}"));
        let mut bytes_on_disk = 0;
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if let Ok(m) = entry.metadata() {
                    bytes_on_disk += m.len();
                }
            }
        }
        let kept = status(STATUS_KEPT)?;
        Ok(IndexStats {
            format_version: self
                .meta("format_version")?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            documents: count("SELECT COUNT(*) FROM docs")?,
            kept,
            duplicates: status(STATUS_DUPLICATE)?,
            skipped: status(STATUS_SKIPPED)?,
            // A story is founded by its kept page and never has another.
            stories: kept,
            batches: self
                .meta("batches")?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            bytes_on_disk,
            parameters: self.stored_fingerprint()?,
        })
    }
}

/// Documents an `index add` decides and writes at a time, within its one transaction: what
/// bounds its memory (a 10k chunk into a 1M index peaked at about 200 MB).
pub const ADD_CHUNK: usize = 10_000;

/// Shingle-set bytes a chunk holds before it is written, whatever its document count: what
/// bounds an `add`'s memory when pages are large. 10k news pages of the bench corpus hold
/// about 24 MB, so they fill a chunk by count; 2,500 pages of 200 KB held 0.5 GB in one
/// chunk (peak RSS 700 MB) before this bound.
pub const ADD_CHUNK_SET_BYTES: usize = 64 << 20;

/// A document's shingle set in memory, as a chunk counts it.
fn set_bytes(d: &Doc) -> usize {
    d.shingles.len() * std::mem::size_of::<u32>()
}

/// Bytes of level-0 runs an `add` keeps in memory once read ([`Runs::hold`]): sixteen
/// runs of a 10k chunk (about 4 MB each), all an index has between two merges.
const HELD_RUN_BYTES: usize = 64 << 20;

/// An `add` decides a piece once it holds a document for every this many of the merged
/// runs' (or fills its chunk). At 950k indexed (800k merged) that is the whole chunk: a
/// 50k batch took 11 lookups (1.43 s) as it was signed, 5 (1.26 s) a chunk at a time. At
/// 100k (nothing merged) it is nothing, as before. Chosen for those two ends of the bench;
/// values between were not compared.
const MERGED_PER_PIECE: u64 = 64;

/// Pieces an `add` signs ahead of the one it decides (each up to 2,048 documents).
const SIGN_AHEAD: usize = 4;

/// What one `index add` carries from chunk to chunk.
struct BatchState {
    batch: u64,
    next_doc: u64,
    next_story: u64,
    /// The origin of each id's first document in this batch (the pipeline's rule for
    /// repeated ids: the earliest wins).
    first_of_id: AHashMap<String, Origin>,
    records: Vec<AddRecord>,
    /// Whether any row was written.
    written: bool,
}

/// A batch's write transaction, begun by its first write, after the checkpoint of the
/// batches before it ([`checkpoint`]) has finished: the write-ahead log is then reused
/// from its start instead of growing.
struct Writer<'c> {
    conn: &'c Connection,
    tx: Option<rusqlite::Transaction<'c>>,
    backlog: Option<std::thread::JoinHandle<rusqlite::Result<()>>>,
}

impl Writer<'_> {
    /// Begin the transaction, if not yet begun.
    fn begin(&mut self) -> rusqlite::Result<()> {
        if self.tx.is_none() {
            self.wait_for_checkpoint();
            self.tx = Some(rusqlite::Transaction::new_unchecked(
                self.conn,
                TransactionBehavior::Immediate,
            )?);
        }
        Ok(())
    }

    /// Whether the transaction has begun or can begin without waiting for the checkpoint.
    fn ready(&self) -> bool {
        self.tx.is_some() || self.backlog.as_ref().is_none_or(|b| b.is_finished())
    }

    fn wait_for_checkpoint(&mut self) {
        if let Some(backlog) = self.backlog.take() {
            // A checkpoint that failed (a reader still on the old pages, the disk) is done
            // by the next batch; this one does not depend on it.
            let _ = backlog.join();
        }
    }

    fn commit(mut self) -> rusqlite::Result<()> {
        match self.tx.take() {
            Some(tx) => tx.commit(),
            None => Ok(()),
        }
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        // An unfinished transaction rolls back as it drops, after this.
        self.wait_for_checkpoint();
    }
}

/// Copy the pages that earlier batches left in the write-ahead log into the database file,
/// and sync it, on a connection and thread of its own.
///
/// A batch commits into the log only (the writer's automatic checkpoints are off, and so
/// is the checkpoint on close): copying its ~2 KB a document into the database and waiting
/// for the disk took a fifth of a 10k-document `add` when done at its commit. The next
/// `add` does it instead, while it signs and decides (which only read), and begins its
/// transaction after it ([`Writer`]). Passive: a reader still on old pages is never waited
/// for (what it holds is copied next time). Durability is SQLite's `synchronous = NORMAL`
/// in WAL mode either way: a committed batch survives a crash of the process; a power cut
/// may lose the last batches, never corrupt the index.
fn checkpoint(file: &Path) -> std::thread::JoinHandle<rusqlite::Result<()>> {
    let file = file.to_path_buf();
    std::thread::spawn(move || {
        let conn = Connection::open_with_flags(
            &file,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
    })
}

impl BatchState {
    /// A batch's starting point: the next batch, document and story numbers.
    fn read(conn: &Connection) -> rusqlite::Result<BatchState> {
        let batch: u64 = conn
            .query_row("SELECT value FROM meta WHERE key = 'batches'", [], |r| {
                r.get::<_, String>(0)
            })?
            .parse()
            .unwrap_or(0)
            + 1;
        let next = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
        // Stories are numbered as their pages are kept, in document order: the last kept
        // page holds the highest (read from the end, where the `docs_story` index of
        // formats before 2026-12-07 used to be written at every batch).
        Ok(BatchState {
            batch,
            next_doc: next("SELECT COALESCE(MAX(doc) + 1, 0) FROM docs")? as u64,
            next_story: next(
                "SELECT COALESCE((SELECT story + 1 FROM docs WHERE status = 0
                                  ORDER BY doc DESC LIMIT 1), 1)",
            )? as u64,
            first_of_id: AHashMap::new(),
            records: Vec::new(),
            written: false,
        })
    }
}

/// The chunk being decided: documents decided but not yet written, and what later
/// documents of the chunk must see that the store does not hold yet. Its documents arrive
/// in pieces (as the pipeline signs them), so deciding overlaps signing; its rows are
/// written as its pieces are decided ([`write_rows`]), its bands when it is full
/// ([`flush`]).
struct Open<'t> {
    /// Indexed documents loaded, and the chunk's own documents.
    store: Loader<'t>,
    /// Exact-copy key → its leader (indexed, or the chunk's).
    leaders: AHashMap<u128, u64>,
    /// The chunk's buckets, over `bands`.
    buckets: ChunkBuckets,
    rows: Vec<DocRow>,
    sets: Vec<(u64, u128, Vec<u8>)>,
    /// The chunk's (band key, document) pairs, in arrival order.
    bands: Vec<(u64, u64)>,
    /// Documents of the chunk so far, skipped ones included, and the most it takes.
    documents: usize,
    limit: usize,
    /// Their shingle sets' bytes in memory ([`set_bytes`]).
    set_bytes: usize,
}

impl<'t> Open<'t> {
    fn new(
        conn: &'t Connection,
        hasher: &'t MinHasher,
        limit: usize,
    ) -> rusqlite::Result<Open<'t>> {
        Ok(Open {
            store: Loader::new(conn, hasher)?,
            leaders: AHashMap::new(),
            buckets: ChunkBuckets::default(),
            rows: Vec::new(),
            sets: Vec::new(),
            bands: Vec::new(),
            documents: 0,
            limit,
            set_bytes: 0,
        })
    }
}

/// How a document of a piece is decided, known before any decision is taken: which
/// documents it is compared with depends on the documents before it, not on their fate.
enum Plan {
    /// A record only: a repeated id (in the batch, or already indexed).
    Reported,
    /// Numbered and recorded as skipped.
    Skipped(u64),
    /// Numbered; an exact copy of the leader with its content.
    Copy(u64),
    /// Numbered and banded: verified against these candidates (earliest first).
    Banded(u64, Vec<u64>),
}

/// The chunk's documents by band key, in arrival order: for each key, its first and last
/// pair in `Open::bands` and how many pairs it has; each pair links to the key's next pair.
/// One map entry a key and one number a pair, where a vector a key cost an allocation
/// each (320k of them a 10k chunk); a key's first `n` documents take `n` steps.
#[derive(Default)]
struct ChunkBuckets {
    ends: AHashMap<u64, (u32, u32, u32)>,
    next: Vec<u32>,
}

impl ChunkBuckets {
    const NONE: u32 = u32::MAX;

    /// Room for `additional` more pairs without growing.
    fn reserve(&mut self, additional: usize) {
        self.ends.reserve(additional);
        self.next.reserve(additional);
    }

    /// Pair `bands[at]` (the last pushed) joins its key's bucket.
    fn push(&mut self, key: u64, at: usize) {
        debug_assert_eq!(at, self.next.len());
        let at = at as u32;
        self.next.push(Self::NONE);
        match self.ends.entry(key) {
            Entry::Occupied(mut entry) => {
                let (first, last, n) = *entry.get();
                self.next[last as usize] = at;
                entry.insert((first, at, n + 1));
            }
            Entry::Vacant(entry) => {
                entry.insert((at, at, 1));
            }
        }
    }

    /// The bucket of `key`: its size and its first pair from one lookup in a map of up to
    /// a chunk's 320k keys (asking for each was a lookup each).
    fn get(&self, key: u64) -> Bucket {
        match self.ends.get(&key) {
            Some(&(first, _, n)) => Bucket { first, n },
            None => Bucket {
                first: Self::NONE,
                n: 0,
            },
        }
    }

    /// The first `n` documents of `bucket`, earliest first, appended to `out`.
    fn extend_first(&self, bucket: Bucket, n: usize, bands: &[(u64, u64)], out: &mut Vec<u64>) {
        let mut at = bucket.first;
        for _ in 0..n {
            if at == Self::NONE {
                break;
            }
            out.push(bands[at as usize].1);
            at = self.next[at as usize];
        }
    }
}

/// A key's bucket in [`ChunkBuckets`]: its first pair and how many it has.
#[derive(Clone, Copy)]
struct Bucket {
    first: u32,
    n: u32,
}

impl Bucket {
    /// How many of the chunk's documents have the key.
    fn len(self) -> usize {
        self.n as usize
    }
}

/// A document's verified earlier neighbours with their scores, and its encoded set.
type Verified = (Vec<(u64, f64)>, Vec<u8>);

/// Decide a piece of the open chunk's documents (see [`Index::add_batch`]): the store is
/// as it was when the chunk opened, and the chunk's earlier documents are in `open`.
///
/// In four steps: the index's answers for the piece (ids, exact copies, buckets), read
/// once; each document's plan in arrival order ([`Plan`]: its number and candidates); the
/// exact verification of every candidate, in parallel; and the decisions in arrival order
/// ([`cluster::decide`]), which need the earlier documents' decisions.
#[allow(clippy::too_many_arguments)]
fn decide_piece(
    tx: &Connection,
    mut docs: Vec<Doc>,
    state: &mut BatchState,
    open: &mut Open<'_>,
    runs: &Runs,
    params: &Params,
    lsh: &LshParams,
    pool: &rayon::ThreadPool,
    dir: &Path,
) -> Result<()> {
    open.documents += docs.len();
    let floor = prefilter_floor(params);
    let e = |e: rusqlite::Error| store_error(dir, e);
    // Repeated ids, across the chunks of the batch ([`crate::pipeline::skip_repeated_ids`]).
    for d in &mut docs {
        match state.first_of_id.get(&d.id) {
            Some(first) => d.skip_as_repeated(first.to_string()),
            None => {
                state.first_of_id.insert(d.id.clone(), d.origin.clone());
            }
        }
    }
    // Before the batch's first write, the piece's lookups share one read transaction: each
    // statement on its own would take and drop a shared lock (two `fcntl` calls and a look
    // at the write-ahead log's index), thousands of times a piece. Dropped unfinished on an
    // error, it rolls back (nothing to undo).
    let reading = if tx.is_autocommit() {
        Some(rusqlite::Transaction::new_unchecked(tx, TransactionBehavior::Deferred).map_err(e)?)
    } else {
        None
    };
    // What the index already holds that this batch needs: ids, exact copies, buckets.
    let mut taken: AHashMap<usize, String> = AHashMap::new();
    let leaders = &mut open.leaders;
    let mut keys: Vec<Vec<u64>> = vec![Vec::new(); docs.len()];
    {
        let mut find_id = tx
            .prepare("SELECT origin FROM docs WHERE id = ?1")
            .map_err(e)?;
        let mut find_content = tx.prepare(CONTENT_QUERY).map_err(e)?;
        // Ids first, then exact-copy keys, each in the index's order: a crawl's ids (URLs)
        // and the keys (hashes) spread over the whole of their indexes, and in order,
        // neighbouring ones share the pages they read instead of each reading its own.
        // What each lookup finds does not depend on the order it is asked in.
        let mut asked: Vec<usize> = (0..docs.len())
            .filter(|&i| !matches!(docs[i].skipped, Some(SkipReason::RepeatedId(_))))
            .collect();
        asked.sort_by(|&a, &b| docs[a].id.cmp(&docs[b].id));
        let mut unseen: Vec<usize> = Vec::with_capacity(asked.len());
        for i in asked {
            let d = &docs[i];
            if let Some(first) = find_id
                .query_row([&d.id], |r| r.get::<_, String>(0))
                .optional()
                .map_err(e)?
            {
                taken.insert(i, first);
                continue;
            }
            unseen.push(i);
        }
        unseen.sort_by_key(|&i| docs[i].content);
        for i in unseen {
            let d = &docs[i];
            let Some(sig) = &d.signature else { continue };
            if leaders.contains_key(&d.content) {
                // The chunk's already (a copy of its leader, whatever the store says).
                continue;
            }
            if let Some(leader) = find_content
                .query_row([&d.content.to_be_bytes()[..]], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(e)?
            {
                leaders.insert(d.content, leader as u64);
                continue;
            }
            keys[i] = (0..lsh.bands).map(|b| lsh::band_key(sig, b, lsh)).collect();
        }
    }
    // Runs::earliest puts the keys in the table's order and drops repeats itself.
    let wanted: Vec<u64> = keys.iter().flatten().copied().collect();
    // Each key's earliest indexed documents.
    let buckets = runs.earliest(tx, &wanted, Some(pool)).map_err(e)?;
    let mut hit: Vec<u64> = buckets.values().flatten().copied().collect();
    hit.extend(leaders.values().copied());
    let store = &mut open.store;
    store.load_rows(hit).map_err(e)?;

    // Each document's plan, in arrival order: the chunk's buckets and exact-copy leaders
    // grow with every banded document, whatever it is decided to be.
    let mut next_doc = state.next_doc;
    let batch_buckets = &mut open.buckets;
    // Room for the pairs of up to four pieces ahead (at most what the chunk can still
    // take, so a small batch stays small): grown one pair at a time, the chunk's map of up
    // to 320k keys was rehashed and its vectors copied as they doubled, into fresh memory
    // each time (about 35 ms of the deciding thread in a 10k `add`).
    let piece_pairs: usize = keys.iter().map(Vec::len).sum();
    let room = open.limit.saturating_sub(open.documents - docs.len()) * lsh.bands;
    let ahead = (4 * piece_pairs).min(room).max(piece_pairs);
    batch_buckets.reserve(ahead);
    open.bands.reserve(ahead);
    let mut plans: Vec<Plan> = Vec::with_capacity(docs.len());
    // This piece's banded documents, by number: not in the store until decided.
    let mut in_piece: AHashMap<u64, usize> = AHashMap::new();
    for (i, d) in docs.iter().enumerate() {
        if matches!(d.skipped, Some(SkipReason::RepeatedId(_))) || taken.contains_key(&i) {
            plans.push(Plan::Reported);
            continue;
        }
        let doc_no = next_doc;
        next_doc += 1;
        if d.skipped.is_some() {
            plans.push(Plan::Skipped(doc_no));
            continue;
        }
        if leaders.contains_key(&d.content) {
            plans.push(Plan::Copy(doc_no));
            continue;
        }
        // The batch pipeline's rule for arrival order (lsh::bucket_pairs_online): bands in
        // order, each bucket's earlier members, earliest first (indexed documents precede
        // this batch's).
        let mut candidates: Vec<u64> = Vec::new();
        let mut spent = 0u32;
        for &key in &keys[i] {
            let indexed = buckets.get(&key).map_or(&[][..], Vec::as_slice);
            let ours = batch_buckets.get(key);
            let earlier = indexed.len() + ours.len();
            if let Some(n) = lsh::earlier_partners(earlier, spent) {
                candidates.extend(indexed.iter().take(n));
                let n = n.saturating_sub(indexed.len());
                batch_buckets.extend_first(ours, n, &open.bands, &mut candidates);
                if earlier > lsh::MAX_BUCKET_PAIRS {
                    spent += n as u32;
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        for &key in &keys[i] {
            batch_buckets.push(key, open.bands.len());
            open.bands.push((key, doc_no));
        }
        leaders.insert(d.content, doc_no);
        in_piece.insert(doc_no, i);
        plans.push(Plan::Banded(doc_no, candidates));
    }

    // The sets of the indexed candidates that may reach the floor: a candidate whose
    // sketch says it cannot is left out by its signature below, so its set is not read
    // (about half of them, at 950k documents).
    // Each banded document's own sketch is kept for its row.
    let mut wanted_sets: Vec<u64> = Vec::new();
    let mut sketches: Vec<Option<Box<[u8]>>> = Vec::with_capacity(docs.len());
    for (plan, d) in plans.iter().zip(&docs) {
        let Plan::Banded(_, candidates) = plan else {
            sketches.push(None);
            continue;
        };
        let mine = sketch(d.signature.as_ref().expect("signed"));
        for &x in candidates {
            if in_piece.contains_key(&x) {
                continue;
            }
            let stored = store.get(x);
            let below = stored
                .sketch
                .as_deref()
                .is_some_and(|theirs| sketch_bound(theirs, &mine) < floor);
            if stored.set.is_none() && !below {
                wanted_sets.push(x);
            }
        }
        sketches.push(Some(mine));
    }
    store.load_sets(wanted_sets, Some(pool)).map_err(e)?;
    if let Some(reading) = reading {
        // Ends the read before the checkpoint's next pass and the batch's writes.
        reading.commit().map_err(e)?;
    }

    // Every candidate verified exactly, in parallel, and each banded set encoded for the
    // store; a candidate is an indexed document, the chunk's, or this piece's.
    let verified: Vec<Verified> = {
        // The loaded documents, without the store's statement (not shared across threads).
        let store = &store.docs;
        let docs = &docs;
        let in_piece = &in_piece;
        pool.install(|| {
            plans
                .par_iter()
                .zip(docs.par_iter())
                .map(|(plan, d)| {
                    let Plan::Banded(_, candidates) = plan else {
                        return (Vec::new(), Vec::new());
                    };
                    let sig = d.signature.as_ref().expect("signed");
                    let mut earlier = Vec::new();
                    for &x in candidates {
                        let (signature, shingles) = match in_piece.get(&x) {
                            Some(&j) => (
                                docs[j].signature.as_ref().expect("signed"),
                                &docs[j].shingles,
                            ),
                            None => match &store[&x].set {
                                Some(set) => (&set.signature, &set.shingles),
                                // Below the floor by its sketch, so by its signature.
                                None => continue,
                            },
                        };
                        if signature.jaccard(sig) < floor {
                            continue;
                        }
                        if let Some(score) = params.similar(&d.shingles, shingles) {
                            earlier.push((x, score));
                        }
                    }
                    (earlier, d.shingles.to_bytes())
                })
                .collect()
        })
    };

    // Decide in arrival order, in memory.
    let mut next_story = state.next_story;
    let records = &mut state.records;
    let rows = &mut open.rows;
    let sets = &mut open.sets;
    for (i, (((d, plan), (earlier, bytes)), own_sketch)) in docs
        .iter_mut()
        .zip(plans)
        .zip(verified)
        .zip(sketches)
        .enumerate()
    {
        let (doc_no, banded) = match plan {
            Plan::Reported => {
                if let Some(first) = taken.remove(&i) {
                    // Already indexed: reported, never added twice. An unreadable record
                    // keeps its own reason, as in `dedup`.
                    d.skip_as_repeated(first);
                }
                records.push(skipped_record(d));
                continue;
            }
            Plan::Skipped(doc_no) => {
                let record = skipped_record(d);
                rows.push(DocRow {
                    doc: doc_no,
                    id: d.id.clone(),
                    status: STATUS_SKIPPED,
                    story: None,
                    kept: None,
                    similarity: None,
                    title: d.title.clone(),
                    origin: d.origin.clone(),
                    reason: record.reason.clone(),
                    sketch: None,
                });
                records.push(record);
                continue;
            }
            Plan::Copy(doc_no) => (doc_no, false),
            Plan::Banded(doc_no, _) => (doc_no, true),
        };
        let decision = if !banded {
            // An exact copy follows its leader: a duplicate of the leader's kept page,
            // with the leader's score (1 when the leader is kept).
            let leader = leaders[&d.content];
            let (kept_of, score) = {
                let l = store.get(leader);
                (l.kept_of, l.similarity)
            };
            // Its story and id.
            store.load_rows(vec![kept_of]).map_err(e)?;
            Decision::Duplicate { of: kept_of, score }
        } else {
            // The kept pages the second chance may check, loaded before deciding.
            for &(x, _) in &earlier {
                let kept = store.get(x).kept_of;
                store.load(kept).map_err(e)?;
            }
            cluster::decide(
                &earlier,
                |x| store.get(x).kept_of,
                |r| params.similar(&d.shingles, &store.get(r).set().shingles),
            )
        };
        let (status, story, kept, similarity) = match decision {
            Decision::Kept => {
                next_story += 1;
                (STATUS_KEPT, next_story - 1, None, None)
            }
            Decision::Duplicate { of, score } => {
                let score = crate::output::round(score);
                (STATUS_DUPLICATE, store.get(of).story, Some(of), Some(score))
            }
        };
        let record = AddRecord {
            id: d.id.clone(),
            status: if kept.is_some() { "duplicate" } else { "kept" },
            duplicate_of: kept.map(|k| store.get(k).id.clone()),
            similarity,
            reason: None,
            story: Some(story),
        };
        rows.push(DocRow {
            doc: doc_no,
            id: d.id.clone(),
            status,
            story: Some(story),
            kept,
            similarity,
            title: d.title.clone(),
            origin: d.origin.clone(),
            reason: None,
            sketch: own_sketch,
        });
        if banded {
            sets.push((doc_no, d.content, bytes));
            store.insert(
                doc_no,
                Stored {
                    id: d.id.clone(),
                    story,
                    kept_of: kept.unwrap_or(doc_no),
                    similarity: similarity.unwrap_or(1.0),
                    sketch: None,
                    set: Some(Box::new(StoredSet {
                        signature: d.signature.take().expect("signed"),
                        shingles: std::mem::take(&mut d.shingles),
                    })),
                },
            );
        }
        records.push(record);
    }
    state.next_doc = next_doc;
    state.next_story = next_story;
    Ok(())
}

/// Write the documents and sets the open chunk has decided since its last write, in
/// document order. Called after each piece once the batch's transaction can begin without
/// waiting ([`Writer::ready`]): the rows then go to the store while the pipeline still
/// signs, instead of all at the chunk's end. The chunk's own lookups cannot tell: ids
/// repeated within the batch are caught before any lookup, and an exact-copy key the chunk
/// holds is its leader's, in the store or not.
fn write_rows(
    writer: &mut Writer<'_>,
    open: &mut Open<'_>,
    state: &mut BatchState,
    dir: &Path,
) -> Result<()> {
    let e = |e: rusqlite::Error| store_error(dir, e);
    if open.rows.is_empty() {
        return Ok(());
    }
    writer.begin().map_err(e)?;
    let tx = writer.conn;
    state.written = true;
    let batch = state.batch;
    let mut insert_doc = tx
        .prepare_cached(
            "INSERT INTO docs(doc, id, status, story, kept, similarity, title, origin,
                              reason, batch, sketch)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(e)?;
    let mut origin = OriginText::default();
    for r in open.rows.drain(..) {
        insert_doc
            .execute(params![
                r.doc as i64,
                r.id,
                r.status,
                r.story.map(|s| s as i64),
                r.kept.map(|k| k as i64),
                r.similarity,
                r.title,
                origin.of(&r.origin),
                r.reason,
                batch as i64,
                r.sketch.as_deref()
            ])
            .map_err(e)?;
    }
    let mut insert_set = tx
        .prepare_cached("INSERT INTO sets(doc, content, shingles) VALUES (?1, ?2, ?3)")
        .map_err(e)?;
    for (doc, content, shingles) in open.sets.drain(..) {
        insert_set
            .execute(params![doc as i64, &content.to_be_bytes()[..], shingles])
            .map_err(e)?;
    }
    Ok(())
}

/// Origins as text (`PATH:LINE`), the path's text made once a file: `Path::display` and the
/// formatter for every row were a tenth of writing a chunk's documents.
#[derive(Default)]
struct OriginText {
    path: Option<std::sync::Arc<Path>>,
    prefix: usize,
    text: String,
}

impl OriginText {
    /// `origin` as [`Origin`]'s `Display` writes it.
    fn of(&mut self, origin: &Origin) -> &str {
        use std::fmt::Write;
        if !self
            .path
            .as_ref()
            .is_some_and(|p| std::sync::Arc::ptr_eq(p, &origin.path))
        {
            self.text.clear();
            write!(self.text, "{}", origin.path.display()).expect("a String takes any text");
            self.prefix = self.text.len();
            self.path = Some(origin.path.clone());
        }
        self.text.truncate(self.prefix);
        if let Some(line) = origin.line {
            write!(self.text, ":{line}").expect("a String takes any text");
        }
        &self.text
    }
}

/// Write the open chunk's rows: documents and sets still unwritten ([`write_rows`]), then
/// its bands as a run, in key order.
fn flush(
    writer: &mut Writer<'_>,
    mut open: Open<'_>,
    runs: &mut Runs,
    state: &mut BatchState,
    pool: &rayon::ThreadPool,
    dir: &Path,
) -> Result<()> {
    let e = |e: rusqlite::Error| store_error(dir, e);
    write_rows(writer, &mut open, state, dir)?;
    // A chunk of skipped pages and copies has no bands: `append` writes no run then.
    let mut new_bands = open.bands;
    // In the add's pool: the last chunk's flush is what the batch waits for, the
    // signing threads done.
    pool.install(|| new_bands.par_sort_unstable_by_key(|&(key, doc)| (key as i64, doc)));
    runs.append(writer.conn, &new_bands).map_err(e)?;
    Ok(())
}

/// True when the index holds no document (skipped ones count: they take their ids).
fn is_empty(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM docs)", [], |r| r.get(0))
}

fn skipped_record(d: &Doc) -> AddRecord {
    AddRecord {
        id: d.id.clone(),
        status: "skipped",
        duplicate_of: None,
        similarity: None,
        reason: d.skipped.as_ref().map(SkipReason::message),
        story: None,
    }
}

/// The estimate below which a candidate is not verified, as the batch pipeline's prefilter
/// ([`Pipeline::prefilter`]).
fn prefilter_floor(params: &Params) -> f64 {
    let t = params.threshold;
    let k = params.minhash.permutations as f64;
    t - 4.0 * (t * (1.0 - t) / k).sqrt() - 0.02
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn origin_text_is_what_display_writes() {
        let a: Arc<Path> = Arc::from(Path::new("crawl/a.jsonl"));
        let b: Arc<Path> = Arc::from(Path::new("crawl/b b.txt"));
        let origins = [
            Origin {
                path: a.clone(),
                line: Some(1),
            },
            Origin {
                path: a.clone(),
                line: Some(12_345),
            },
            Origin {
                path: b.clone(),
                line: None,
            },
            Origin {
                path: a,
                line: Some(7),
            },
            // The same path in another allocation: its text made again.
            Origin {
                path: Arc::from(Path::new("crawl/b b.txt")),
                line: Some(2),
            },
            Origin {
                path: b,
                line: None,
            },
        ];
        let mut text = OriginText::default();
        for origin in &origins {
            assert_eq!(text.of(origin), origin.to_string());
        }
    }

    proptest::proptest! {
        /// A sketch never says less than the signature: what it leaves out, the floor
        /// would have left out too.
        #[test]
        fn a_sketch_bounds_the_signatures_estimate_from_above(
            a in proptest::collection::vec(proptest::prelude::any::<u32>(), 64),
            pick in proptest::collection::vec(0u8..4, 64),
        ) {
            // b shares some values with a, some low bytes only, the rest at random.
            let b: Vec<u32> = a
                .iter()
                .zip(&pick)
                .map(|(&v, &p)| match p {
                    0 => v,
                    1 => v ^ 0x100,
                    2 => v.wrapping_mul(2_654_435_761),
                    _ => !v,
                })
                .collect();
            let (sa, sb) = (Signature::from(a), Signature::from(b));
            let bound = sketch_bound(&sketch(&sa), &sketch(&sb));
            proptest::prop_assert!(bound >= sa.jaccard(&sb));
            proptest::prop_assert_eq!(sketch_bound(&sketch(&sa), &sketch(&sa)), 1.0);
        }
    }

    #[test]
    fn sketches_of_other_lengths_bound_nothing() {
        assert_eq!(sketch_bound(&[1, 2], &[3, 4, 5]), 1.0);
        assert_eq!(sketch_bound(&[], &[]), 1.0);
        assert_eq!(sketch_bound(&[1, 2], &[1, 3]), 0.5);
    }
}
