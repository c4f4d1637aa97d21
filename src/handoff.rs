//! The Parquet handoff of a distributed run: `samestory sign` writes each shard's signed
//! documents and band keys as Parquet tables; a job on Spark or DuckDB joins the band keys
//! into connected components; `samestory group` reads each component's rows back and applies
//! exactly the verification and grouping that `dedup` and `clusters` apply.
//!
//! # Tables
//!
//! One file per shard and table, `DIR/<table>/part-IIIII-of-NNNNN.parquet`, and one manifest
//! per shard, `DIR/manifests/part-IIIII-of-NNNNN.json` ([`Manifest`]). Integers are signed
//! 64-bit (Spark reads unsigned 64-bit Parquet as decimal); 64-bit hashes are stored with
//! their bits unchanged.
//!
//! - `documents`: one row per input record, signed or not. `doc_id` (the record's place in
//!   the whole input: shard in the top bits, position in the shard below, [`Shard::doc_id`]),
//!   `id`, `title`, `path` and `line` (where it was read), `length` (bytes of cleaned text),
//!   `status` (`signed` or a skip kind: `unreadable`, `empty`, `too-short`, `too-large`),
//!   `reason` (the skip's detail), `content_hi`/`content_lo` (the exact-copy key: 128 bits of
//!   the cleaned words' hash), `replaced`, `signature` (the MinHash values, 4 bytes each,
//!   little-endian) and `shingles` (the shingle values, 4 bytes each, little-endian, in text
//!   order with repeats: [`crate::shingle::values_to_bytes`]; a reader sorts them into a set
//!   when it verifies). Parquet is columnar: a job that joins keys never reads the two binary
//!   columns.
//! - `bands`: `doc_id`, `band`, `key` ([`crate::lsh::band_key`], the key the index stores)
//!   for every signed document.
//!
//! # Why components are enough
//!
//! `dedup` and `clusters` decide each document from its verified edges and exact checks
//! against neighbours' kept pages, all inside its connected component of the candidate graph,
//! and order everything by ranks that only compare documents. So if every band bucket, every
//! group of equal copy keys and every group of equal ids lies inside one component, grouping
//! each component on its own (with [`crate::pipeline::Pipeline::group`], the code the CLI
//! runs) gives the CLI's records. A job links each member of such a group to the group's
//! smallest `doc_id` (never all pairs) and takes connected components of those links.
//! [`group_component`] is the per-component step; [`Output`] orders its records as the CLI
//! prints them.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, Int32Builder, Int64Builder, StringBuilder};
use arrow_array::{Array, ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::document::{Doc, SkipReason};
use crate::error::{Error, ErrorKind, Result};
use crate::index::Fingerprint;
use crate::lsh::{self, LshParams};
use crate::minhash::{Scheme, Signature};
use crate::output::{self, ClusterRecord, DedupRecord};
use crate::params::{Mode, Params, Verify};
use crate::pipeline::{NoProgress, Pipeline};
use crate::read::Origin;
use crate::shingle::{ShingleKind, Shingles};
use crate::verify::Measure;

/// The handoff's format version, written in every manifest. A reader refuses another.
/// Version 2 stores `shingles` as values in text order; version 1 stored sorted sets as
/// LEB128 gaps.
pub const FORMAT_VERSION: u32 = 2;

/// Bits of a `doc_id` that hold the position inside a shard; the shard is above them.
pub const SHARD_BITS: u32 = 40;

/// The `format` field of a manifest.
const FORMAT_NAME: &str = "samestory-handoff";

/// Rows per Parquet row group of `documents` (the shingle sets make rows large).
const DOCUMENT_ROWS_PER_GROUP: usize = 16_384;

/// One shard of a run: `index` of `count`, 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: usize,
    /// How many shards the run has.
    pub count: usize,
}

impl Shard {
    /// The whole input as one shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Parse `I/N` (0-based `I`, `I < N`).
    pub fn parse(arg: &str) -> Result<Shard> {
        let bad = || {
            Error::params(format!(
                "--shard {arg:?}: expected I/N with 0 <= I < N, e.g. 0/4"
            ))
        };
        let (i, n) = arg.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count || count > 1 << (63 - SHARD_BITS) {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The `doc_id` of the record at `position` (0-based) in this shard: ordered as the
    /// records of the whole input are.
    pub fn doc_id(&self, position: usize) -> i64 {
        ((self.index as i64) << SHARD_BITS) | position as i64
    }

    /// `part-IIIII-of-NNNNN.EXT`.
    pub fn file_name(&self, ext: &str) -> String {
        format!("part-{:05}-of-{:05}.{ext}", self.index, self.count)
    }
}

/// The settings `group` needs to verify and group as `sign`'s run would have: written by
/// `sign`, read back by `group`, so flags are given once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Settings {
    /// `dedup` or `clusters`.
    pub preset: String,
    /// `words` or `spotsigs`.
    pub shingle: String,
    /// Words per shingle.
    pub ngram: usize,
    /// Shingle mix seed.
    pub shingle_seed: u64,
    /// Signature length.
    pub permutations: usize,
    /// MinHash seed.
    pub minhash_seed: u64,
    /// LSH bands.
    pub bands: usize,
    /// LSH rows per band.
    pub rows: usize,
    /// Similarity threshold.
    pub threshold: f64,
    /// `jaccard` or `containment`.
    pub measure: String,
    /// Shared shingles a containment pair needs.
    pub min_shared: usize,
    /// Cluster merge density (`clusters`).
    pub merge_density: f64,
    /// Whether pages were cleaned.
    pub clean: bool,
    /// The forced cleaning language, if any.
    pub language: Option<String>,
}

impl Settings {
    /// The settings of `params`.
    pub fn of(params: &Params) -> Settings {
        let lsh = params.lsh_params();
        Settings {
            preset: match params.mode {
                Mode::Dedup(_) => "dedup",
                Mode::Clusters => "clusters",
            }
            .to_string(),
            shingle: match params.shingle.kind {
                ShingleKind::Words => "words",
                ShingleKind::SpotSigs => "spotsigs",
            }
            .to_string(),
            ngram: params.shingle.ngram,
            shingle_seed: params.shingle.seed,
            permutations: params.minhash.permutations,
            minhash_seed: params.minhash.seed,
            bands: lsh.bands,
            rows: lsh.rows,
            threshold: params.threshold,
            measure: match params.measure {
                Measure::Jaccard => "jaccard",
                Measure::Containment => "containment",
            }
            .to_string(),
            min_shared: params.min_shared,
            merge_density: params.merge_density,
            clean: params.clean.enabled,
            language: params.clean.language.clone(),
        }
    }

    /// The parameters these settings describe, for grouping: every shingle set is in the
    /// rows ([`Verify::InMemory`]) and no corpus-level cleaning is applied (a shard cannot
    /// see the corpus). `dedup` keeps [`crate::params::Keep::Central`] until the caller chooses.
    pub fn params(&self) -> Result<Params> {
        let bad = |what: &str, value: &str| {
            Error::new(
                ErrorKind::Parquet,
                format!("manifest: unknown {what} {value:?} (written by a newer samestory?)"),
            )
        };
        let mut params = match self.preset.as_str() {
            "dedup" => Params::dedup(),
            "clusters" => Params::clusters(),
            other => return Err(bad("preset", other)),
        };
        params.clean.repeated_min_clusters = 0;
        params.verify = Verify::InMemory;
        params.shingle.kind = match self.shingle.as_str() {
            "words" => ShingleKind::Words,
            "spotsigs" => ShingleKind::SpotSigs,
            other => return Err(bad("shingle kind", other)),
        };
        params.shingle.ngram = self.ngram;
        params.shingle.seed = self.shingle_seed;
        params.minhash.permutations = self.permutations;
        params.minhash.seed = self.minhash_seed;
        params.minhash.scheme = Scheme::OnePermutation;
        params.lsh = Some(LshParams {
            bands: self.bands,
            rows: self.rows,
        });
        params.threshold = self.threshold;
        params.measure = match self.measure.as_str() {
            "jaccard" => Measure::Jaccard,
            "containment" => Measure::Containment,
            other => return Err(bad("measure", other)),
        };
        params.min_shared = self.min_shared;
        params.merge_density = self.merge_density;
        params.clean.enabled = self.clean;
        params.clean.language = self.language.clone();
        params.validate()?;
        Ok(params)
    }
}

/// What one shard's `sign` wrote, as `DIR/manifests/part-IIIII-of-NNNNN.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Manifest {
    /// Always `samestory-handoff`.
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The samestory version that wrote it.
    pub samestory_version: String,
    /// This shard, 0-based.
    pub shard: usize,
    /// Shards in the run.
    pub shards: usize,
    /// What `group` needs to rebuild the run's parameters.
    pub settings: Settings,
    /// The parameters that make signatures comparable, as the index records them.
    pub parameters: Fingerprint,
    /// Rows of `documents` (every input record of the shard).
    pub documents: u64,
    /// Of which signed.
    pub signed: u64,
    /// Rows of `bands`.
    pub band_rows: u64,
    /// Input bytes read.
    pub input_bytes: u64,
    /// The files this shard read, in order.
    pub inputs: Vec<String>,
}

impl Manifest {
    /// The parameters to group with: rebuilt from [`Manifest::settings`] and checked
    /// against [`Manifest::parameters`] (a difference names the parameter).
    pub fn params(&self) -> Result<Params> {
        let params = self.settings.params()?;
        if let Some(d) = Fingerprint::of(&params).difference(&self.parameters) {
            return Err(Error::new(
                ErrorKind::Parquet,
                format!(
                    "manifest: this samestory cannot group as it was signed ({})",
                    d.replace("the index has", "the manifest has")
                        .replace("this run has", "this samestory has")
                ),
            ));
        }
        Ok(params)
    }

    /// Read one manifest file, or every manifest of a `sign` output directory (which must
    /// agree and cover every shard); checks the format.
    pub fn load(path: &Path) -> Result<Manifest> {
        let files: Vec<PathBuf> = if path.is_dir() {
            let dir = path.join("manifests");
            let mut files: Vec<PathBuf> = fs::read_dir(&dir)
                .map_err(|e| Error::io(&dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "json")
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(Error::new(
                    ErrorKind::Parquet,
                    "no manifest: not a `samestory sign` output directory".to_string(),
                )
                .with_path(&dir));
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut first: Option<Manifest> = None;
        let mut seen = Vec::new();
        for file in &files {
            let text = fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
            let m: Manifest = serde_json::from_str(&text).map_err(|e| {
                Error::new(ErrorKind::Parquet, format!("not a samestory manifest: {e}"))
                    .with_path(file)
            })?;
            if m.format != FORMAT_NAME || m.format_version != FORMAT_VERSION {
                return Err(Error::new(
                    ErrorKind::Parquet,
                    format!(
                        "handoff format {} version {}; this samestory reads {FORMAT_NAME} \
                         version {FORMAT_VERSION} (sign the input again with it)",
                        m.format, m.format_version
                    ),
                )
                .with_path(file));
            }
            if let Some(f) = &first
                && (f.shards != m.shards
                    || f.settings != m.settings
                    || f.parameters != m.parameters)
            {
                let why = match m.parameters.difference(&f.parameters) {
                    Some(d) => d.replace("the index has", "the other shards have"),
                    None => format!(
                        "signed as {} shards with other settings than {} shards",
                        m.shards, f.shards
                    ),
                };
                return Err(Error::new(
                    ErrorKind::Parquet,
                    format!("does not belong with the other manifests: {why}"),
                )
                .with_path(file));
            }
            seen.push(m.shard);
            first.get_or_insert(m);
        }
        let first = first.expect("at least one manifest");
        if path.is_dir() {
            seen.sort_unstable();
            seen.dedup();
            if let Some(missing) = (0..first.shards).find(|s| seen.binary_search(s).is_err()) {
                return Err(Error::new(
                    ErrorKind::Parquet,
                    format!(
                        "shard {missing} of {} has not been signed (no manifest)",
                        first.shards
                    ),
                )
                .with_path(path));
            }
        }
        Ok(first)
    }
}

/// The schema of `documents`.
pub(crate) fn documents_schema() -> SchemaRef {
    let s = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let i = |name: &str, nullable| Field::new(name, DataType::Int64, nullable);
    let b = |name: &str| Field::new(name, DataType::Binary, true);
    Arc::new(Schema::new(vec![
        i("doc_id", false),
        s("id", false),
        s("title", true),
        s("url", true),
        s("date", true),
        s("path", false),
        i("line", true),
        i("length", false),
        s("status", false),
        s("reason", true),
        i("content_hi", false),
        i("content_lo", false),
        i("replaced", false),
        b("signature"),
        b("shingles"),
    ]))
}

/// The schema of `bands`.
pub(crate) fn bands_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("doc_id", DataType::Int64, false),
        Field::new("band", DataType::Int32, false),
        Field::new("key", DataType::Int64, false),
    ]))
}

/// A signed document's signature bytes, shingle-set bytes and band keys.
type Encoded = (Vec<u8>, Vec<u8>, Vec<u64>);

/// Writes one shard's tables; files appear under their final names only when complete.
pub struct ShardWriter {
    dir: PathBuf,
    shard: Shard,
    params: Params,
    lsh: LshParams,
    documents: ArrowWriter<File>,
    bands: ArrowWriter<File>,
    /// `(temporary, final)` path of each table.
    files: Vec<(PathBuf, PathBuf)>,
    position: usize,
    signed: u64,
    band_rows: u64,
}

impl std::fmt::Debug for ShardWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardWriter")
            .field("dir", &self.dir)
            .field("shard", &self.shard)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl ShardWriter {
    /// Start writing `shard` of a run with `params` under `dir` (created if needed). Refuses
    /// a directory holding shards of another run (other parameters or shard count).
    pub fn create(dir: &Path, shard: Shard, params: &Params) -> Result<ShardWriter> {
        let out_err = |e: std::io::Error, p: &Path| {
            Error::new(ErrorKind::Output, format!("cannot write: {e}")).with_path(p)
        };
        for table in ["documents", "bands", "manifests"] {
            let d = dir.join(table);
            fs::create_dir_all(&d).map_err(|e| out_err(e, &d))?;
        }
        let settings = Settings::of(params);
        let parameters = Fingerprint::of(params);
        if let Ok(entries) = fs::read_dir(dir.join("manifests")) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                if let Ok(other) = Manifest::load(&path) {
                    let why = if other.shards != shard.count {
                        Some(format!(
                            "it holds shards of a {}-shard run, this is a {}-shard run",
                            other.shards, shard.count
                        ))
                    } else if other.settings != settings || other.parameters != parameters {
                        Some(
                            parameters
                                .difference(&other.parameters)
                                .unwrap_or_else(|| "other settings".to_string())
                                .replace("the index has", "it has"),
                        )
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        return Err(Error::new(
                            ErrorKind::Output,
                            format!(
                                "holds the output of another signing run ({why}); use another \
                                 directory or remove it"
                            ),
                        )
                        .with_path(dir));
                    }
                }
            }
        }
        // Hashes, ids and sets are unique: a dictionary or min/max statistics for them cost
        // time and buy nothing (a writer tries the dictionary first, then gives it up).
        // Hash values are random bits besides: compressing them only costs time.
        let props = |rows: usize| {
            let mut b = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_max_row_group_row_count(Some(rows));
            for column in [
                "doc_id",
                "id",
                "content_hi",
                "content_lo",
                "signature",
                "shingles",
                "key",
            ] {
                let path = ColumnPath::from(column);
                b = b
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_statistics_enabled(path, EnabledStatistics::None);
            }
            for column in ["content_hi", "content_lo", "signature", "shingles", "key"] {
                b = b.set_column_compression(ColumnPath::from(column), Compression::UNCOMPRESSED);
            }
            b.build()
        };
        let mut files = Vec::new();
        let mut open = |table: &str, schema: SchemaRef, rows: usize| -> Result<ArrowWriter<File>> {
            let name = shard.file_name("parquet");
            let fin = dir.join(table).join(&name);
            let tmp = dir.join(table).join(format!(".{name}.tmp"));
            let file = File::create(&tmp).map_err(|e| out_err(e, &tmp))?;
            files.push((tmp.clone(), fin));
            ArrowWriter::try_new(file, schema, Some(props(rows))).map_err(|e| parquet_err(&tmp, e))
        };
        let documents = open("documents", documents_schema(), DOCUMENT_ROWS_PER_GROUP)?;
        let bands = open("bands", bands_schema(), 1 << 20)?;
        Ok(ShardWriter {
            dir: dir.to_path_buf(),
            shard,
            params: params.clone(),
            lsh: params.lsh_params(),
            documents,
            bands,
            files,
            position: 0,
            signed: 0,
            band_rows: 0,
        })
    }

    /// Append the next documents of the shard, in input order.
    pub fn write(&mut self, docs: &[Doc]) -> Result<()> {
        let n = docs.len();
        let mut doc_id = Int64Builder::with_capacity(n);
        let mut id = StringBuilder::new();
        let mut title = StringBuilder::new();
        let mut url = StringBuilder::new();
        let mut date = StringBuilder::new();
        let mut path = StringBuilder::new();
        let mut line = Int64Builder::with_capacity(n);
        let mut length = Int64Builder::with_capacity(n);
        let mut status = StringBuilder::new();
        let mut reason = StringBuilder::new();
        let mut hi = Int64Builder::with_capacity(n);
        let mut lo = Int64Builder::with_capacity(n);
        let mut replaced = Int64Builder::with_capacity(n);
        // The per-document encoding (signature bytes, set, band keys) runs in parallel; the
        // builders are filled in order.
        let lsh = self.lsh;
        let encoded: Vec<Option<Encoded>> = {
            use rayon::prelude::*;
            docs.par_iter()
                .map(|d| {
                    d.signature.as_ref().map(|sig| {
                        let bytes = sig
                            .as_slice()
                            .iter()
                            .flat_map(|v| v.to_le_bytes())
                            .collect();
                        let keys = (0..lsh.bands)
                            .map(|band| lsh::band_key(sig, band, &lsh))
                            .collect();
                        // A pipeline built `keeping_values` leaves the values as shingling
                        // gave them; any other leaves a sorted set, values all the same.
                        let values = if d.values.is_empty() {
                            d.shingles.as_slice()
                        } else {
                            &d.values
                        };
                        (bytes, crate::shingle::values_to_bytes(values), keys)
                    })
                })
                .collect()
        };
        // Builders sized exactly: growing them by doubling copied every chunk's sets twice.
        let signed = encoded.iter().flatten();
        let sig_bytes = signed.clone().map(|e| e.0.len()).sum();
        let set_bytes = signed.clone().map(|e| e.1.len()).sum();
        let band_rows = signed.count() * lsh.bands;
        let mut signature = BinaryBuilder::with_capacity(n, sig_bytes);
        let mut shingles = BinaryBuilder::with_capacity(n, set_bytes);
        let (mut b_doc, mut b_band, mut b_key) = (
            Int64Builder::with_capacity(band_rows),
            Int32Builder::with_capacity(band_rows),
            Int64Builder::with_capacity(band_rows),
        );
        for (d, enc) in docs.iter().zip(encoded) {
            let this = self.shard.doc_id(self.position);
            self.position += 1;
            doc_id.append_value(this);
            id.append_value(&d.id);
            title.append_option(d.title.as_deref());
            let published = d.published.as_deref();
            url.append_option(published.and_then(|p| p.url.as_deref()));
            date.append_option(published.and_then(|p| p.date.as_deref()));
            path.append_value(d.origin.path.to_string_lossy());
            line.append_option(d.origin.line.map(|l| l as i64));
            length.append_value(d.text_len as i64);
            status.append_value(d.skipped.as_ref().map_or("signed", SkipReason::kind));
            reason.append_option(d.skipped.as_ref().and_then(SkipReason::detail));
            hi.append_value((d.content >> 64) as u64 as i64);
            lo.append_value(d.content as u64 as i64);
            replaced.append_value(d.replaced as i64);
            match enc {
                Some((sig, set, keys)) => {
                    signature.append_value(sig);
                    shingles.append_value(set);
                    self.signed += 1;
                    for (band, key) in keys.into_iter().enumerate() {
                        b_doc.append_value(this);
                        b_band.append_value(band as i32);
                        b_key.append_value(key as i64);
                    }
                    self.band_rows += lsh.bands as u64;
                }
                None => {
                    signature.append_null();
                    shingles.append_null();
                }
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(doc_id.finish()),
            Arc::new(id.finish()),
            Arc::new(title.finish()),
            Arc::new(url.finish()),
            Arc::new(date.finish()),
            Arc::new(path.finish()),
            Arc::new(line.finish()),
            Arc::new(length.finish()),
            Arc::new(status.finish()),
            Arc::new(reason.finish()),
            Arc::new(hi.finish()),
            Arc::new(lo.finish()),
            Arc::new(replaced.finish()),
            Arc::new(signature.finish()),
            Arc::new(shingles.finish()),
        ];
        write_batch(
            &mut self.documents,
            documents_schema(),
            columns,
            &self.files[0].0,
        )?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(b_doc.finish()),
            Arc::new(b_band.finish()),
            Arc::new(b_key.finish()),
        ];
        write_batch(&mut self.bands, bands_schema(), columns, &self.files[1].0)
    }

    /// Give the shard up: its unfinished tables are removed, nothing is left under a final
    /// name (a run that failed half way, or whose input was refused).
    pub fn abandon(self) {
        let ShardWriter {
            documents,
            bands,
            files,
            ..
        } = self;
        drop((documents, bands));
        for (tmp, _) in &files {
            let _ = fs::remove_file(tmp);
        }
    }

    /// Close the tables, move them into place and write the manifest (last: a shard with a
    /// manifest is complete).
    pub fn finish(self, input_bytes: u64, inputs: Vec<String>) -> Result<Manifest> {
        let ShardWriter {
            dir,
            shard,
            params,
            documents,
            bands,
            files,
            position,
            signed,
            band_rows,
            ..
        } = self;
        documents.close().map_err(|e| parquet_err(&files[0].0, e))?;
        bands.close().map_err(|e| parquet_err(&files[1].0, e))?;
        for (tmp, fin) in &files {
            fs::rename(tmp, fin).map_err(|e| Error::io(fin, e))?;
        }
        let manifest = Manifest {
            format: FORMAT_NAME.to_string(),
            format_version: FORMAT_VERSION,
            samestory_version: env!("CARGO_PKG_VERSION").to_string(),
            shard: shard.index,
            shards: shard.count,
            settings: Settings::of(&params),
            parameters: Fingerprint::of(&params),
            documents: position as u64,
            signed,
            band_rows,
            input_bytes,
            inputs,
        };
        let name = shard.file_name("json");
        let fin = dir.join("manifests").join(&name);
        let tmp = dir.join("manifests").join(format!(".{name}.tmp"));
        let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, &fin).map_err(|e| Error::io(&fin, e))?;
        Ok(manifest)
    }
}

/// Append `columns` as one batch of `writer`'s table (being written to `path`).
fn write_batch(
    writer: &mut ArrowWriter<File>,
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
    path: &Path,
) -> Result<()> {
    let batch = RecordBatch::try_new(schema, columns).map_err(|e| parquet_err(path, e))?;
    writer.write(&batch).map_err(|e| parquet_err(path, e))
}

fn parquet_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Parquet, e.to_string()).with_path(path)
}

/// One row of the `documents` table (with its component, when the job added one) as the
/// pipeline's document.
#[derive(Debug)]
#[non_exhaustive]
pub struct Row {
    /// The connected component (0 when the table has no `component` column).
    pub component: i64,
    /// The record's place in the whole input.
    pub doc_id: i64,
    /// The document, signed or skipped, with its shingle values as stored ([`Doc::values`],
    /// unsorted; [`group_component`] sorts them into [`Doc::shingles`] where it verifies).
    pub doc: Doc,
}

/// Column `name` of `batch` cast to `to`, or `None` when absent.
fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<Option<ArrayRef>, String> {
    match batch.column_by_name(name) {
        None => Ok(None),
        Some(c) => arrow_cast::cast(c, to)
            .map(Some)
            .map_err(|e| format!("column {name}: {e}")),
    }
}

/// Read the rows of a `documents` table (any columns beyond its schema are ignored), in
/// file order, handing each to `each`.
pub(crate) fn read_rows(path: &Path, each: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(4096).build())
        .map_err(|e| parquet_err(path, e))?;
    let mut row = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| parquet_err(path, e))?;
        let err = |msg: String| Error::new(ErrorKind::Parquet, msg).with_path(path);
        let required = |name: &str, to: &DataType| -> Result<ArrayRef> {
            column(&batch, name, to).map_err(err)?.ok_or_else(|| {
                Error::new(
                    ErrorKind::Parquet,
                    format!("no column {name}: not a samestory documents table"),
                )
                .with_path(path)
            })
        };
        let optional = |name: &str, to: &DataType| column(&batch, name, to).map_err(err);
        let i64s = |a: &ArrayRef| a.as_any().downcast_ref::<Int64Array>().cloned();
        let strs = |a: &ArrayRef| a.as_any().downcast_ref::<StringArray>().cloned();
        let bins = |a: &ArrayRef| a.as_any().downcast_ref::<BinaryArray>().cloned();
        let doc_id = i64s(&required("doc_id", &DataType::Int64)?).expect("cast");
        let id = strs(&required("id", &DataType::Utf8)?).expect("cast");
        let pathc = strs(&required("path", &DataType::Utf8)?).expect("cast");
        let length = i64s(&required("length", &DataType::Int64)?).expect("cast");
        let status = strs(&required("status", &DataType::Utf8)?).expect("cast");
        let hi = i64s(&required("content_hi", &DataType::Int64)?).expect("cast");
        let lo = i64s(&required("content_lo", &DataType::Int64)?).expect("cast");
        let title = optional("title", &DataType::Utf8)?.and_then(|a| strs(&a));
        let urlc = optional("url", &DataType::Utf8)?.and_then(|a| strs(&a));
        let datec = optional("date", &DataType::Utf8)?.and_then(|a| strs(&a));
        let line = optional("line", &DataType::Int64)?.and_then(|a| i64s(&a));
        let reason = optional("reason", &DataType::Utf8)?.and_then(|a| strs(&a));
        let replaced = optional("replaced", &DataType::Int64)?.and_then(|a| i64s(&a));
        let signature = optional("signature", &DataType::Binary)?.and_then(|a| bins(&a));
        let shingles = optional("shingles", &DataType::Binary)?.and_then(|a| bins(&a));
        let component = optional("component", &DataType::Int64)?.and_then(|a| i64s(&a));
        for r in 0..batch.num_rows() {
            row += 1;
            let bad = |what: &str| {
                Error::new(ErrorKind::Parquet, format!("row {row}: {what}")).with_path(path)
            };
            let str_at = |a: &Option<StringArray>| {
                a.as_ref()
                    .filter(|a| a.is_valid(r))
                    .map(|a| a.value(r).to_string())
            };
            let nonnull = |a: &dyn Array, name: &str| {
                if a.is_valid(r) {
                    Ok(())
                } else {
                    Err(bad(&format!("{name} is null")))
                }
            };
            nonnull(&doc_id, "doc_id")?;
            nonnull(&id, "id")?;
            nonnull(&status, "status")?;
            let skipped = match status.value(r) {
                "signed" => None,
                kind => Some(
                    SkipReason::from_parts(kind, str_at(&reason))
                        .ok_or_else(|| bad(&format!("unknown status {kind:?}")))?,
                ),
            };
            let (sig, set) = match (&signature, &shingles) {
                (Some(s), Some(h)) if s.is_valid(r) && h.is_valid(r) => {
                    let bytes = s.value(r);
                    if bytes.len() % 4 != 0 {
                        return Err(bad("signature is not a whole number of 4-byte values"));
                    }
                    let values: Vec<u32> = bytes
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                        .collect();
                    let set = crate::shingle::values_from_bytes(h.value(r))
                        .ok_or_else(|| bad("shingles is not a whole number of 4-byte values"))?;
                    (Some(Signature::from(values)), set)
                }
                _ => (None, Vec::new()),
            };
            if skipped.is_none() && sig.is_none() {
                return Err(bad("a signed document without signature and shingles"));
            }
            let at = |a: &Int64Array| a.is_valid(r).then(|| a.value(r));
            let (url, date) = (str_at(&urlc), str_at(&datec));
            let doc = Doc {
                id: id.value(r).to_string(),
                title: str_at(&title),
                origin: Origin {
                    path: std::path::Path::new(pathc.value(r)).into(),
                    line: line.as_ref().and_then(at).map(|l| l as u64),
                },
                text_len: at(&length).unwrap_or(0).max(0) as usize,
                // Sorted into a set by `group_component`, for components that verify.
                shingles: Shingles::default(),
                values: set,
                signature: sig,
                skipped,
                content: ((at(&hi).unwrap_or(0) as u64 as u128) << 64)
                    | at(&lo).unwrap_or(0) as u64 as u128,
                replaced: replaced.as_ref().and_then(at).unwrap_or(0).max(0) as usize,
                copy_of: None,
                event: None,
                published: crate::document::Published::new(url, date),
            };
            each(Row {
                component: component.as_ref().and_then(at).unwrap_or(0),
                doc_id: doc_id.value(r),
                doc,
            })?;
        }
    }
    Ok(())
}

/// One `clusters` record with what orders it among every component's records.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KeyedCluster {
    /// Members.
    pub size: usize,
    /// The representative's id (ties of size are broken by it).
    pub representative: String,
    /// For a skipped document (listed last, in input order), its `doc_id`.
    pub skipped: Option<i64>,
    /// The record, numbered within its component.
    pub record: ClusterRecord,
}

/// What grouping one component gives: its `dedup` records by `doc_id`, or its `clusters`
/// records with their sort keys.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Grouped {
    /// `(doc_id, record)` for `dedup`.
    pub dedup: Vec<(i64, DedupRecord)>,
    /// Records for `clusters` (all of them: singletons and skipped documents too).
    pub clusters: Vec<KeyedCluster>,
}

/// Group one component's rows (in `doc_id` order) as the CLI would group them in a run
/// over the whole input.
pub fn group_component(pipeline: &Pipeline, rows: Vec<Row>) -> Grouped {
    let doc_ids: Vec<i64> = rows.iter().map(|r| r.doc_id).collect();
    let mut docs: Vec<Doc> = rows.into_iter().map(|r| r.doc).collect();
    // Sets are stored as shingling gave them; a page alone in its component is never
    // verified, so only components of two or more sort theirs.
    if docs.len() > 1 {
        for d in &mut docs {
            if !d.values.is_empty() {
                d.shingles = Shingles::from_hashes(std::mem::take(&mut d.values));
            }
        }
    }
    let analysis = pipeline.group(docs, &NoProgress);
    match pipeline.params().mode {
        Mode::Dedup(_) => Grouped {
            dedup: doc_ids
                .into_iter()
                .zip(output::dedup_records(&analysis))
                .collect(),
            clusters: Vec::new(),
        },
        Mode::Clusters => {
            let records = output::cluster_records(&analysis, true);
            let signed = analysis.clusters.len();
            let skipped = analysis
                .docs
                .iter()
                .zip(&doc_ids)
                .filter(|(d, _)| d.skipped.is_some())
                .map(|(_, &id)| id);
            let mut keys: Vec<Option<i64>> = vec![None; signed];
            keys.extend(skipped.map(Some));
            Grouped {
                dedup: Vec::new(),
                clusters: records
                    .into_iter()
                    .zip(keys)
                    .map(|(record, skipped)| KeyedCluster {
                        size: record.size,
                        representative: record.representative.clone(),
                        skipped,
                        record,
                    })
                    .collect(),
            }
        }
    }
}

/// What [`group_tables`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupStats {
    /// Rows (documents) read.
    pub documents: u64,
    /// Components grouped.
    pub components: u64,
    /// Rows of the largest component.
    pub largest: u64,
}

/// Components grouped together in parallel, at most this many rows at once (one larger
/// component is grouped alone).
const GROUP_BATCH_ROWS: usize = 8192;

/// Read `documents` tables (rows in component order, then `doc_id` order, across the files
/// in the order given) and group each component ([`group_component`]), several in parallel;
/// `sink` receives each component's records. Memory holds a batch of components, not the
/// tables. Rows out of order are an error naming the file and row.
pub fn group_tables(
    pipeline: &Pipeline,
    files: &[PathBuf],
    sink: &mut dyn FnMut(Grouped) -> Result<()>,
) -> Result<GroupStats> {
    let mut stats = GroupStats::default();
    let mut batch: Vec<Vec<Row>> = Vec::new();
    let mut batch_rows = 0usize;
    let mut current: Vec<Row> = Vec::new();
    let mut done = ahash::AHashSet::new();
    let mut flush = |batch: &mut Vec<Vec<Row>>, stats: &mut GroupStats| -> Result<()> {
        use rayon::prelude::*;
        for rows in batch.iter() {
            stats.components += 1;
            stats.largest = stats.largest.max(rows.len() as u64);
        }
        let grouped: Vec<Grouped> = std::mem::take(batch)
            .into_par_iter()
            .map(|rows| group_component(pipeline, rows))
            .collect();
        grouped.into_iter().try_for_each(&mut *sink)
    };
    for file in files {
        let mut row_no = 0u64;
        read_rows(file, &mut |row| {
            row_no += 1;
            stats.documents += 1;
            if let Some(last) = current.last() {
                let same = last.component == row.component;
                if (same && row.doc_id <= last.doc_id) || (!same && done.contains(&row.component)) {
                    return Err(Error::new(
                        ErrorKind::Parquet,
                        format!(
                            "row {row_no}: (component {}, doc_id {}) after (component {}, \
                             doc_id {}): rows must come in component order, then doc_id order",
                            row.component, row.doc_id, last.component, last.doc_id
                        ),
                    )
                    .with_path(file));
                }
                if !same {
                    done.insert(last.component);
                    batch_rows += current.len();
                    batch.push(std::mem::take(&mut current));
                    if batch_rows >= GROUP_BATCH_ROWS {
                        flush(&mut batch, &mut stats)?;
                        batch_rows = 0;
                    }
                }
            }
            current.push(row);
            Ok(())
        })?;
    }
    if !current.is_empty() {
        batch.push(current);
    }
    flush(&mut batch, &mut stats)?;
    Ok(stats)
}

/// The records of every component, ordered and numbered as the CLI prints them.
#[derive(Debug, Default)]
pub struct Output {
    dedup: Vec<(i64, DedupRecord)>,
    clusters: Vec<KeyedCluster>,
}

impl Output {
    /// Add one component's records.
    pub fn add(&mut self, grouped: Grouped) {
        self.dedup.extend(grouped.dedup);
        self.clusters.extend(grouped.clusters);
    }

    /// `dedup` records in input order.
    pub fn dedup_records(mut self) -> Vec<DedupRecord> {
        self.dedup.sort_by_key(|(id, _)| *id);
        self.dedup.into_iter().map(|(_, r)| r).collect()
    }

    /// `clusters` records (with `all`, singletons and skipped documents too), largest first,
    /// then by representative id, skipped documents last in input order; numbered from 1.
    pub fn cluster_records(mut self, all: bool) -> Vec<ClusterRecord> {
        self.clusters
            .retain(|c| all || (c.skipped.is_none() && c.size > 1));
        self.clusters.sort_by(cluster_order);
        self.clusters
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                c.record.cluster = i + 1;
                c.record
            })
            .collect()
    }
}

/// The order of `clusters` output.
pub(crate) fn cluster_order(a: &KeyedCluster, b: &KeyedCluster) -> std::cmp::Ordering {
    a.skipped
        .is_some()
        .cmp(&b.skipped.is_some())
        .then(a.skipped.cmp(&b.skipped))
        .then(b.size.cmp(&a.size))
        .then_with(|| a.representative.cmp(&b.representative))
}

/// A record's JSON after its `cluster` field: `{"cluster":N,` and this make the line, so a
/// job can number records after sorting them without parsing JSON.
pub fn cluster_tail(record: &ClusterRecord) -> String {
    let mut r = record.clone();
    r.cluster = 0;
    let json = serde_json::to_string(&r).expect("a record serializes");
    json.strip_prefix("{\"cluster\":0,")
        .expect("cluster is the first field")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_order_doc_ids() {
        let s = Shard::parse("2/4").unwrap();
        assert_eq!(s, Shard { index: 2, count: 4 });
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("x").is_err());
        assert!(
            Shard { index: 1, count: 4 }.doc_id(0) > Shard { index: 0, count: 4 }.doc_id(1 << 39)
        );
        assert_eq!(s.file_name("parquet"), "part-00002-of-00004.parquet");
    }

    #[test]
    fn settings_rebuild_the_parameters_they_came_from() {
        for mut params in [Params::dedup(), Params::clusters()] {
            params.clean.repeated_min_clusters = 0;
            let rebuilt = Settings::of(&params).params().unwrap();
            assert_eq!(Fingerprint::of(&rebuilt), Fingerprint::of(&params));
            assert_eq!(rebuilt.mode, params.mode);
            assert_eq!(rebuilt.min_shared, params.min_shared);
        }
    }

    #[test]
    fn a_cluster_tail_completes_the_line() {
        let record = ClusterRecord {
            cluster: 7,
            size: 1,
            representative: "a".into(),
            members: vec![],
            status: "single",
            reason: None,
        };
        let line = format!("{{\"cluster\":7,{}", cluster_tail(&record));
        assert_eq!(line, serde_json::to_string(&record).unwrap());
    }
}
