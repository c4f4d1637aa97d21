//! Stage 1, read: turn the user's inputs into a stream of raw documents.
//!
//! In: paths (files, or directories walked recursively in sorted order) and `-` for stdin.
//! Out: [`Record`]s in a deterministic order, each a [`RawDocument`] (id, optional title,
//! text or undecoded HTML bytes) or a [`Record::Skipped`] carrying the error that explains
//! why, with its path and line. Nothing is dropped silently: every line of a JSON Lines file
//! and every file of a directory walk yields exactly one record (blank lines excepted).
//!
//! Formats are chosen per file from its extension (`.txt`, `.html`/`.htm`, `.jsonl`/
//! `.ndjson`, each optionally followed by `.gz`) unless [`ReadParams::format`] forces one.
//! Records are produced lazily, one file at a time, so a large crawl is never held whole.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::error::{Error, ErrorKind, Result};

/// How the bytes of an input are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputFormat {
    /// Plain text, one document per file: UTF-8, or UTF-16 with a byte-order mark.
    Text,
    /// An HTML page, one per file; the charset comes from the page.
    Html,
    /// JSON Lines: one JSON object per line, one document per line.
    Jsonl,
    /// WARC (ISO 28500), as crawlers write it (`.warc`, `.warc.gz` with one gzip member per
    /// record): each `response` record with an HTML (or plain text) payload, `resource` record
    /// and `conversion` record (WET text) is a document; `warcinfo`, `request`, `metadata`
    /// and `revisit` records are not documents and are read past.
    Warc,
    /// Apache Parquet (`.parquet`): one document per row, from the columns the JSON Lines
    /// field flags name (`--text-field`, `--id-field`, `--title-field`, `--date-field`);
    /// only those columns are read.
    Parquet,
}

impl InputFormat {
    /// The format a file name implies, and whether it is gzip-compressed.
    /// `None` when the extension is not one samestory knows.
    pub fn from_path(path: &Path) -> Option<(InputFormat, bool)> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let (stem, gzip) = match name.strip_suffix(".gz") {
            Some(stem) => (stem, true),
            None => (name.as_str(), false),
        };
        let ext = stem.rsplit_once('.')?.1;
        let format = match ext {
            "txt" | "text" => InputFormat::Text,
            "html" | "htm" | "xhtml" => InputFormat::Html,
            "jsonl" | "ndjson" => InputFormat::Jsonl,
            "warc" => InputFormat::Warc,
            "parquet" => InputFormat::Parquet,
            _ => return None,
        };
        Some((format, gzip))
    }
}

/// The format and compression of an input named explicitly (a file argument or a name in
/// memory): by extension, forced by `params.format`, plain text when the name says nothing.
fn named_format(path: &Path, params: &ReadParams) -> (InputFormat, bool) {
    match InputFormat::from_path(path) {
        Some((found, gzip)) => (params.format.unwrap_or(found), gzip),
        None => (params.format.unwrap_or(InputFormat::Text), false),
    }
}

/// Default of [`ReadParams::max_document_bytes`] and [`ReadParams::max_record_bytes`]:
/// 64 MiB, far above any news page, far below what would strain memory.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// Where the documents come from and how to read them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReadParams {
    /// Force one format for every input instead of choosing by extension.
    /// Default: `None` (by extension; stdin is read as JSON Lines).
    pub format: Option<InputFormat>,
    /// JSON Lines field holding the document id (string or number). Default `"id"`.
    /// A record without it gets the id `path:line`.
    pub id_field: String,
    /// JSON Lines field holding the document text. Default `"text"`.
    pub text_field: String,
    /// JSON Lines field holding the title, if any. Default `None`; `"title"` is used
    /// when present and this is unset.
    pub title_field: Option<String>,
    /// JSON Lines field holding the publication date (ISO 8601 or a written date), if any.
    /// Default `None`; `"date"` is used when present and this is unset.
    pub date_field: Option<String>,
    /// JSON Lines field (or Parquet column) holding the page's URL, if any. Default `None`;
    /// `"url"` is used when present and this is unset. WARC records give their target URI.
    pub url_field: Option<String>,
    /// Largest text or HTML document, in bytes after gzip decompression. A larger one is
    /// skipped with reason `too-large` (read past, never held whole). Default
    /// [`DEFAULT_MAX_BYTES`].
    pub max_document_bytes: u64,
    /// Longest JSON Lines line, in bytes. A longer one is skipped with reason `too-large`
    /// (read past, never held whole). Default [`DEFAULT_MAX_BYTES`].
    pub max_record_bytes: u64,
}

impl Default for ReadParams {
    fn default() -> ReadParams {
        ReadParams {
            format: None,
            id_field: "id".to_string(),
            text_field: "text".to_string(),
            title_field: None,
            date_field: None,
            url_field: None,
            max_document_bytes: DEFAULT_MAX_BYTES,
            max_record_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl ReadParams {
    /// Check the limits once, at the boundary.
    pub fn validate(&self) -> Result<()> {
        if self.max_document_bytes == 0 || self.max_record_bytes == 0 {
            return Err(Error::params("size limits must be at least 1 byte"));
        }
        for (flag, field) in [("id", &self.id_field), ("text", &self.text_field)] {
            if field.is_empty() {
                return Err(Error::params(format!("the {flag} field name is empty")));
            }
        }
        Ok(())
    }
}

/// One input as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// A file or a directory.
    Path(PathBuf),
    /// Standard input (`-` on the command line).
    Stdin,
}

impl Input {
    /// `-` is stdin; anything else is a path.
    pub fn parse(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }
}

/// A document's content as read, before extraction.
#[derive(Debug, Clone)]
pub enum Content {
    /// Text, already decoded.
    Text(String),
    /// HTML bytes; the charset is decided during extraction.
    Html(Vec<u8>),
}

/// A document as read from its input.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawDocument {
    /// The JSON id, or the path relative to the input root.
    pub id: String,
    /// The title, when the input has one (JSON field; HTML titles are found on extraction).
    pub title: Option<String>,
    /// The publication date, when the input has one (JSON field, Parquet column,
    /// `WARC-Date`), unparsed.
    pub date: Option<String>,
    /// The page's URL, when the input has one (JSON field, Parquet column,
    /// `WARC-Target-URI`).
    pub url: Option<String>,
    /// The content to extract text from.
    pub content: Content,
    /// The original JSON line, when read with [`Sources::records_with_raw`].
    pub raw: Option<String>,
    /// Byte sequences that could not be decoded and were replaced with U+FFFD (text files;
    /// HTML pages report this on extraction).
    pub replaced: usize,
    /// The charset the transport declared for an HTML page (a WARC response's HTTP
    /// `Content-Type`), ahead of the page's own `<meta>`. `None` elsewhere.
    pub charset: Option<String>,
}

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Origin {
    /// The file (or `-` for stdin), shared by every record of the file: a million records
    /// of one file hold one path, not a million copies.
    pub path: Arc<Path>,
    /// The 1-based line, for JSON Lines.
    pub line: Option<u64>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// What the reader yields for each document slot of the input.
#[derive(Debug)]
#[non_exhaustive]
pub enum Record {
    /// A readable document.
    Document {
        /// Where it came from.
        origin: Origin,
        /// The document.
        document: RawDocument,
    },
    /// A record that could not be read; `error` says where and why.
    Skipped {
        /// Where it came from.
        origin: Origin,
        /// The best id we have: the JSON id if it could be parsed, else `path:line` or the path.
        id: String,
        /// What was wrong, with path and line.
        error: Error,
    },
}

impl Record {
    /// The record's id.
    pub fn id(&self) -> &str {
        match self {
            Record::Document { document, .. } => &document.id,
            Record::Skipped { id, .. } => id,
        }
    }

    /// Where the record came from.
    pub fn origin(&self) -> &Origin {
        match self {
            Record::Document { origin, .. } | Record::Skipped { origin, .. } => origin,
        }
    }
}

/// Where a source's bytes live.
#[derive(Debug, Clone)]
enum Data {
    /// A regular file, read (and read again) from its path.
    File,
    /// A stream (stdin, a FIFO, a process substitution) copied once to a temporary file, so
    /// that a second read sees the same bytes instead of an empty or blocked stream.
    Spooled(Arc<tempfile::TempPath>),
    /// Bytes handed over by the caller ([`Sources::from_memory`]).
    Memory(Arc<[u8]>),
    /// An entry that could not be listed while walking a directory (a symlink loop, a
    /// permission error): it yields one skipped record with this message.
    Broken(String),
}

/// One resolved input file.
#[derive(Debug, Clone)]
struct Source {
    /// The path as the user sees it (`-` for stdin).
    path: Arc<Path>,
    /// The id prefix: the path relative to the input root.
    id: String,
    format: InputFormat,
    gzip: bool,
    data: Data,
}

impl Source {
    /// Bytes on disk or in memory (compressed size for `.gz`).
    fn size(&self) -> u64 {
        match &self.data {
            Data::File => std::fs::metadata(&self.path).map_or(0, |m| m.len()),
            Data::Spooled(t) => std::fs::metadata(&**t).map_or(0, |m| m.len()),
            Data::Memory(b) => b.len() as u64,
            Data::Broken(_) => 0,
        }
    }
}

/// The inputs resolved to a list of files in a deterministic order. Every source can be read
/// more than once (dedup's second read, `--kept`): streams are spooled to a temporary file
/// when the sources are opened.
#[derive(Debug)]
pub struct Sources {
    sources: Vec<Source>,
    params: ReadParams,
}

const STDIN_NAME: &str = "-";

/// Copy a stream to a temporary file, once.
fn spool(mut reader: impl Read, name: &Path) -> Result<Arc<tempfile::TempPath>> {
    let mut file = tempfile::NamedTempFile::new().map_err(|e| Error::io(name, e))?;
    io::copy(&mut reader, file.as_file_mut()).map_err(|e| Error::io(name, e))?;
    Ok(Arc::new(file.into_temp_path()))
}

impl Sources {
    /// Resolve `inputs`: walk directories (sorted by path), check that every path exists.
    /// A missing path is an error here, before any work starts. Standard input and other
    /// streams (FIFOs, `<(...)`) are copied to a temporary file here, once.
    ///
    /// Inside directories only files with a known extension are read (so a `README.md` next
    /// to the data is not a document) unless `params.format` forces a format. An entry that
    /// cannot be listed (a symlink loop, no permission) becomes one skipped record.
    pub fn open(inputs: &[Input], params: &ReadParams) -> Result<Sources> {
        params.validate()?;
        let mut sources = Vec::new();
        let mut stdin: Option<Arc<tempfile::TempPath>> = None;
        for input in inputs {
            match input {
                Input::Stdin => {
                    let spooled = match &stdin {
                        Some(s) => s.clone(),
                        None => {
                            let s = spool(io::stdin().lock(), Path::new(STDIN_NAME))?;
                            stdin = Some(s.clone());
                            s
                        }
                    };
                    sources.push(Source {
                        path: Path::new(STDIN_NAME).into(),
                        id: STDIN_NAME.to_string(),
                        format: params.format.unwrap_or(InputFormat::Jsonl),
                        gzip: false,
                        data: Data::Spooled(spooled),
                    });
                }
                Input::Path(path) => {
                    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
                    if meta.is_dir() {
                        walk_dir(path, params, &mut sources);
                        continue;
                    }
                    let (format, gzip) = named_format(path, params);
                    let data = if meta.is_file() {
                        Data::File
                    } else {
                        // A pipe or device: it can be read only once.
                        let file = File::open(path).map_err(|e| Error::io(path, e))?;
                        Data::Spooled(spool(file, path)?)
                    };
                    sources.push(Source {
                        path: path.as_path().into(),
                        id: path_id(path),
                        format,
                        gzip,
                        data,
                    });
                }
            }
        }
        Ok(Sources {
            sources,
            params: params.clone(),
        })
    }

    /// Sources from bytes in memory: one `(name, bytes)` per input, the format chosen from
    /// the name's extension as for files (or forced by `params.format`). Names serve as ids
    /// and in messages, as paths do.
    pub fn from_memory(
        inputs: impl IntoIterator<Item = (String, Vec<u8>)>,
        params: &ReadParams,
    ) -> Result<Sources> {
        params.validate()?;
        let sources = inputs
            .into_iter()
            .map(|(name, bytes)| {
                let path = PathBuf::from(&name);
                let (format, gzip) = named_format(&path, params);
                Source {
                    path: path.into(),
                    id: name,
                    format,
                    gzip,
                    data: Data::Memory(bytes.into()),
                }
            })
            .collect();
        Ok(Sources {
            sources,
            params: params.clone(),
        })
    }

    /// How many files (or streams) will be read.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// True when no input file was found.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The files that will be read, as the user sees them (`-` for stdin), in order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.sources.iter().map(|s| &*s.path)
    }

    /// Total size in bytes of the input files (compressed size for `.gz`), for progress.
    pub fn total_bytes(&self) -> u64 {
        self.sources.iter().map(Source::size).sum()
    }

    /// Shard `index` of `count` (0-based): a contiguous run of the files, cut by their
    /// cumulative size so that shards hold about equal bytes. Shards are disjoint, cover every
    /// file, and in shard order read the records in the order of the whole input. Every
    /// shard of a run must be cut from the same inputs. A file is never split.
    pub fn shard(&self, index: usize, count: usize) -> Sources {
        let total = self.total_bytes().max(1) as u128;
        let mut start = 0u128;
        let sources = self
            .sources
            .iter()
            .filter(|s| {
                let shard = ((start * count as u128) / total).min(count as u128 - 1) as usize;
                start += s.size() as u128;
                shard == index
            })
            .cloned()
            .collect();
        Sources {
            sources,
            params: self.params.clone(),
        }
    }

    /// The records of every input, in order. Can be called more than once.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let params = &self.params;
        self.pending().map(move |p| p.parse(params, false))
    }

    /// Like [`Sources::records`], but JSON Lines documents also carry their original line
    /// in [`RawDocument::raw`] (to copy kept documents out unchanged).
    pub fn records_with_raw(&self) -> impl Iterator<Item = Record> + '_ {
        let params = &self.params;
        self.pending().map(move |p| p.parse(params, true))
    }

    /// The records of every input, in order, with JSON Lines records not yet parsed: reading
    /// is sequential, parsing ([`Pending::parse`]) can then run in parallel.
    pub fn pending(&self) -> Records<'_> {
        Records {
            sources: self,
            next_source: 0,
            current: None,
            position: 0,
            skip: None,
        }
    }

    /// Like [`Sources::pending`], but only the records whose position (0-based, in reading
    /// order) `wanted` accepts; JSON Lines lines of other records are read past without being
    /// copied out.
    pub fn pending_where<'a>(
        &'a self,
        wanted: impl Fn(usize) -> bool + Send + 'a,
    ) -> impl Iterator<Item = (usize, Pending)> + Send + 'a {
        let mut records = self.pending();
        records.skip = Some(Box::new(wanted));
        std::iter::from_fn(move || {
            let p = records.next()?;
            Some((records.position - 1, p))
        })
    }

    /// The read parameters these sources were opened with.
    pub fn params(&self) -> &ReadParams {
        &self.params
    }

    /// The field names of the first JSON Lines record that parses as an object, with where
    /// it is: what a user needs to see when a field they named is in no record.
    pub fn first_record_fields(&self) -> Option<(Origin, Vec<String>)> {
        self.pending().find_map(|p| match p {
            Pending::Line { origin, bytes, .. } => {
                let map: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&bytes).ok()?;
                Some((origin, map.keys().cloned().collect()))
            }
            Pending::Done(_) => None,
        })
    }

    /// A JSON field the run relies on that none of the JSON Lines records read so far had
    /// (by `counts`, the tally of that read): a mistake in the flags, reported once as an
    /// error of kind [`ErrorKind::Field`] naming the fields the first record does have,
    /// instead of every record skipped. The text field is always relied on; the id and
    /// title fields when the user named them (`id_named`, `title_named`): without them,
    /// records fall back to `path:line` ids and no title. `None` when nothing is missing
    /// or no JSON Lines record was read.
    pub fn missing_field(
        &self,
        counts: FieldCounts,
        id_named: bool,
        title_named: bool,
    ) -> Option<Error> {
        if counts.records == 0 {
            return None;
        }
        let p = &self.params;
        let (what, field) = if counts.text == 0 {
            ("text", p.text_field.as_str())
        } else if id_named && counts.id == 0 {
            ("id", p.id_field.as_str())
        } else if title_named && counts.title == 0 {
            ("title", p.title_field.as_deref()?)
        } else {
            return None;
        };
        let seen = match self.first_record_fields() {
            Some((origin, fields)) => format!(
                "; the first record ({origin}) has: {}",
                fields
                    .iter()
                    .map(|f| format!("{f:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => String::new(),
        };
        let records = if counts.records == 1 {
            "the 1 JSON Lines record".to_string()
        } else {
            format!("the {} JSON Lines records", counts.records)
        };
        Some(Error::new(
            ErrorKind::Field,
            format!(
                "none of {records} has the {what} field {field:?}{seen}; name the right one \
                 with --{what}-field"
            ),
        ))
    }
}

fn walk_dir(root: &Path, params: &ReadParams, out: &mut Vec<Source>) {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                // One bad entry (a symlink loop, a directory we may not list) is reported and
                // counted; the rest of the walk goes on.
                let path = e.path().unwrap_or(root).to_path_buf();
                let message = match (e.loop_ancestor(), e.io_error()) {
                    (Some(ancestor), _) => format!(
                        "symbolic link loop back to {}: not followed",
                        ancestor.display()
                    ),
                    (None, Some(io)) => io.to_string(),
                    (None, None) => e.to_string(),
                };
                let rel = path.strip_prefix(root).unwrap_or(&path);
                out.push(Source {
                    id: path_id(rel),
                    path: path.into(),
                    format: params.format.unwrap_or(InputFormat::Text),
                    gzip: false,
                    data: Data::Broken(message),
                });
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let (format, gzip) = match (InputFormat::from_path(path), params.format) {
            (Some((_, gz)), Some(forced)) => (forced, gz),
            (Some(found), None) => found,
            (None, Some(forced)) => (forced, false),
            (None, None) => continue,
        };
        let rel = path.strip_prefix(root).unwrap_or(path);
        out.push(Source {
            path: path.into(),
            id: path_id(rel),
            format,
            gzip,
            data: Data::File,
        });
    }
}

/// A path as an id: `/`-separated whatever the platform, an absolute path keeping one
/// leading `/`.
fn path_id(path: &Path) -> String {
    let mut id = String::new();
    for c in path.components() {
        match c {
            Component::RootDir => id.push('/'),
            Component::Prefix(p) => id.push_str(&p.as_os_str().to_string_lossy()),
            other => {
                if !id.is_empty() && !id.ends_with('/') {
                    id.push('/');
                }
                id.push_str(&other.as_os_str().to_string_lossy());
            }
        }
    }
    id
}

/// A record as read, before JSON parsing.
#[derive(Debug)]
pub enum Pending {
    /// Already a record (whole-file formats, read errors).
    Done(Record),
    /// One JSON Lines line, to be parsed.
    Line {
        /// Where it came from.
        origin: Origin,
        /// The id used when the line has no id field: `source:line`.
        fallback_id: String,
        /// The line without its line break.
        bytes: Vec<u8>,
    },
}

/// How many JSON Lines records had each field, counted while parsing: a field that no
/// record has is a mistake in the flags, not a reason to skip every record.
#[derive(Debug, Default)]
pub struct FieldTally {
    records: AtomicU64,
    id: AtomicU64,
    text: AtomicU64,
    title: AtomicU64,
}

/// A snapshot of a [`FieldTally`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldCounts {
    /// JSON Lines records that parsed as JSON objects.
    pub records: u64,
    /// Of which had the id field.
    pub id: u64,
    /// Of which had the text field (of any type).
    pub text: u64,
    /// Of which had the title field.
    pub title: u64,
}

impl FieldTally {
    /// The counts so far.
    pub fn counts(&self) -> FieldCounts {
        FieldCounts {
            records: self.records.load(Ordering::Relaxed),
            id: self.id.load(Ordering::Relaxed),
            text: self.text.load(Ordering::Relaxed),
            title: self.title.load(Ordering::Relaxed),
        }
    }

    fn add(&self, fields: &JsonFields) {
        self.records.fetch_add(1, Ordering::Relaxed);
        for (seen, counter) in [
            (fields.has_id, &self.id),
            (fields.has_text, &self.text),
            (fields.has_title, &self.title),
        ] {
            if seen {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Pending {
    /// Parse into a record. `keep_raw` keeps the original line in [`RawDocument::raw`].
    pub fn parse(self, params: &ReadParams, keep_raw: bool) -> Record {
        self.parse_tallied(params, keep_raw, None)
    }

    /// [`Pending::parse`], counting in `tally` which fields the record has.
    pub(crate) fn parse_tallied(
        self,
        params: &ReadParams,
        keep_raw: bool,
        tally: Option<&FieldTally>,
    ) -> Record {
        match self {
            Pending::Done(record) => record,
            Pending::Line {
                origin,
                fallback_id,
                bytes,
            } => parse_line(origin, fallback_id, &bytes, params, keep_raw, tally),
        }
    }

    /// Input bytes behind this record (for progress and chunk sizes).
    pub(crate) fn len_bytes(&self) -> usize {
        match self {
            Pending::Line { bytes, .. } => bytes.len(),
            Pending::Done(Record::Document { document, .. }) => match &document.content {
                Content::Text(t) => t.len(),
                Content::Html(b) => b.len(),
            },
            Pending::Done(Record::Skipped { .. }) => 0,
        }
    }
}

/// Iterator over the records of [`Sources`], one file at a time.
pub struct Records<'a> {
    sources: &'a Sources,
    next_source: usize,
    current: Option<Stream<'a>>,
    /// Records yielded (or skipped) so far.
    position: usize,
    /// For [`Sources::pending_where`]: which positions to yield.
    skip: Option<Box<dyn Fn(usize) -> bool + Send + 'a>>,
}

/// A file of many records, open and being read.
enum Stream<'a> {
    Lines(Lines<'a>),
    Warc(Warcs<'a>),
    Parquet(Box<ParquetRows<'a>>),
}

/// The open JSON Lines stream being read.
struct Lines<'a> {
    source: &'a Source,
    reader: Box<dyn BufRead + Send + 'a>,
    line: u64,
    buf: Vec<u8>,
    limit: u64,
}

impl Iterator for Records<'_> {
    type Item = Pending;

    fn next(&mut self) -> Option<Pending> {
        loop {
            let wanted = self.skip.as_ref().is_none_or(|f| f(self.position));
            if let Some(stream) = &mut self.current {
                let next = match stream {
                    Stream::Lines(lines) => next_line(lines, wanted),
                    Stream::Warc(warcs) => next_warc(warcs, wanted),
                    Stream::Parquet(rows) => next_parquet(rows, wanted),
                };
                match next {
                    Some(record) => {
                        self.position += 1;
                        if wanted {
                            return Some(record);
                        }
                        continue;
                    }
                    None => self.current = None,
                }
            }
            let source = self.sources.sources.get(self.next_source)?;
            self.next_source += 1;
            let opened = if source.format == InputFormat::Parquet {
                open_parquet(source, &self.sources.params).map(|rows| {
                    self.current = Some(Stream::Parquet(Box::new(rows)));
                    None
                })
            } else {
                self.open(source).map(Some)
            };
            let reader = match opened {
                Ok(Some(reader)) => reader,
                Ok(None) => continue,
                Err(error) => {
                    self.position += 1;
                    if !wanted {
                        continue;
                    }
                    return Some(Pending::Done(Record::Skipped {
                        origin: Origin {
                            path: source.path.clone(),
                            line: None,
                        },
                        id: source.id.clone(),
                        error,
                    }));
                }
            };
            match source.format {
                InputFormat::Jsonl => {
                    self.current = Some(Stream::Lines(Lines {
                        source,
                        reader,
                        line: 0,
                        buf: Vec::new(),
                        limit: self.sources.params.max_record_bytes,
                    }));
                }
                InputFormat::Warc => {
                    self.current = Some(Stream::Warc(Warcs {
                        source,
                        reader,
                        record: 0,
                        limit: self.sources.params.max_document_bytes,
                    }));
                }
                InputFormat::Parquet => unreachable!("opened above"),
                InputFormat::Text | InputFormat::Html => {
                    self.position += 1;
                    if wanted {
                        let limit = self.sources.params.max_document_bytes;
                        return Some(Pending::Done(read_whole(source, reader, limit)));
                    }
                }
            }
        }
    }
}

impl<'a> Records<'a> {
    fn open(&self, source: &'a Source) -> Result<Box<dyn BufRead + Send + 'a>> {
        let raw: Box<dyn Read + Send + 'a> = match &source.data {
            Data::File => {
                Box::new(File::open(&source.path).map_err(|e| Error::io(&source.path, e))?)
            }
            Data::Spooled(temp) => {
                Box::new(File::open(&**temp).map_err(|e| Error::io(&source.path, e))?)
            }
            Data::Memory(bytes) => Box::new(&bytes[..]),
            Data::Broken(message) => {
                return Err(Error::new(ErrorKind::Io, message.clone()).with_path(&*source.path));
            }
        };
        let raw: Box<dyn Read + Send + 'a> = if source.gzip {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(raw)))
        } else {
            raw
        };
        Ok(Box::new(BufReader::with_capacity(1 << 16, raw)))
    }
}

/// The open Parquet file being read ([`InputFormat::Parquet`]).
struct ParquetRows<'a> {
    source: &'a Source,
    batches: Option<parquet::arrow::arrow_reader::ParquetRecordBatchReader>,
    batch: Option<ParquetBatch>,
    /// Rows read so far: a row's number (1-based) in messages and its origin line.
    row: u64,
    /// When the file cannot give documents (no text column): how many rows are left to
    /// report as skipped, and why.
    failing: Option<(u64, String)>,
    limit: u64,
    text_field: String,
    id_field: String,
    title_field: String,
    date_field: String,
    url_field: String,
}

/// One decoded batch of rows, as text columns.
struct ParquetBatch {
    text: arrow_array::StringArray,
    id: Option<arrow_array::StringArray>,
    title: Option<arrow_array::StringArray>,
    date: Option<arrow_array::StringArray>,
    url: Option<arrow_array::StringArray>,
    next: usize,
}

/// Rows decoded at once from a Parquet file.
const PARQUET_BATCH_ROWS: usize = 1024;

/// Open a Parquet source: its schema is checked here; rows are decoded batch by batch.
fn open_parquet<'a>(source: &'a Source, params: &ReadParams) -> Result<ParquetRows<'a>> {
    let err = |msg: String| Error::new(ErrorKind::Parquet, msg).with_path(&*source.path);
    if source.gzip {
        return Err(err(
            "gzip-compressed Parquet is not read: Parquet compresses its own columns".to_string(),
        ));
    }
    let title_field = params.title_field.clone().unwrap_or_else(|| "title".into());
    let date_field = params.date_field.clone().unwrap_or_else(|| "date".into());
    let url_field = params.url_field.clone().unwrap_or_else(|| "url".into());
    let columns = [
        &params.text_field,
        &params.id_field,
        &title_field,
        &date_field,
        &url_field,
    ];
    let file = |path: &Path| File::open(path).map_err(|e| Error::io(&source.path, e));
    let opened = match &source.data {
        Data::File => parquet_reader(file(&source.path)?, &columns),
        Data::Spooled(temp) => parquet_reader(file(temp)?, &columns),
        Data::Memory(bytes) => parquet_reader(bytes::Bytes::from_owner(bytes.clone()), &columns),
        Data::Broken(message) => return Err(err(message.clone())),
    };
    let (schema, rows, reader) =
        opened.map_err(|e| err(format!("not a readable Parquet file: {e}")))?;
    let failing = match schema.field_with_name(&params.text_field) {
        Err(_) => {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            Some(format!(
                "text field {:?} is missing: the columns are {}",
                params.text_field,
                names.join(", ")
            ))
        }
        Ok(f) if !is_text(f.data_type()) => Some(format!(
            "text field {:?} is {}, not text",
            params.text_field,
            f.data_type()
        )),
        Ok(_) => None,
    };
    Ok(ParquetRows {
        source,
        batches: Some(reader),
        batch: None,
        row: 0,
        failing: failing.map(|why| (rows, why)),
        limit: params.max_record_bytes,
        text_field: params.text_field.clone(),
        id_field: params.id_field.clone(),
        title_field,
        date_field,
        url_field,
    })
}

/// A batch reader of those of `columns` the file has, with the file's schema and row count.
fn parquet_reader<T: parquet::file::reader::ChunkReader + 'static>(
    input: T,
    columns: &[&String],
) -> std::result::Result<
    (
        arrow_schema::SchemaRef,
        u64,
        parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    ),
    parquet::errors::ParquetError,
> {
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let builder = ParquetRecordBatchReaderBuilder::try_new(input)?;
    let schema = builder.schema().clone();
    let present = columns
        .iter()
        .filter(|c| schema.field_with_name(c).is_ok())
        .map(|c| c.as_str());
    let mask = ProjectionMask::columns(builder.parquet_schema(), present);
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let reader = builder
        .with_projection(mask)
        .with_batch_size(PARQUET_BATCH_ROWS)
        .build()?;
    Ok((schema, rows, reader))
}

/// Whether a column holds text (any of Arrow's string layouts).
fn is_text(t: &arrow_schema::DataType) -> bool {
    use arrow_schema::DataType;
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

/// Column `name` of `batch` as text, if the batch has it.
fn text_column(batch: &arrow_array::RecordBatch, name: &str) -> Option<arrow_array::StringArray> {
    let column = batch.column_by_name(name)?;
    let cast = arrow_cast::cast(column, &arrow_schema::DataType::Utf8).ok()?;
    cast.as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .cloned()
}

/// The next row of a Parquet file as a record. `copy` false reads past it (second read).
fn next_parquet(p: &mut ParquetRows<'_>, copy: bool) -> Option<Pending> {
    use arrow_array::Array;
    let origin = |p: &ParquetRows<'_>| Origin {
        path: p.source.path.clone(),
        line: Some(p.row),
    };
    let skipped = |p: &ParquetRows<'_>, id: String, kind: ErrorKind, message: String| {
        Pending::Done(Record::Skipped {
            origin: origin(p),
            id,
            error: Error::new(kind, message)
                .with_path(&*p.source.path)
                .with_line(p.row),
        })
    };
    if let Some((left, why)) = &mut p.failing {
        if *left == 0 {
            return None;
        }
        *left -= 1;
        let why = why.clone();
        p.row += 1;
        if !copy {
            return Some(read_past());
        }
        let id = format!("{}:{}", p.source.id, p.row);
        return Some(skipped(p, id, ErrorKind::Field, why));
    }
    loop {
        if let Some(b) = &p.batch
            && b.next < b.text.len()
        {
            break;
        }
        let decoded = p.batches.as_mut()?.next()?;
        let decoded = decoded.map_err(|e| e.to_string()).and_then(|batch| {
            Ok(ParquetBatch {
                text: text_column(&batch, &p.text_field)
                    .ok_or_else(|| format!("column {:?} cannot be read as text", p.text_field))?,
                id: text_column(&batch, &p.id_field),
                title: text_column(&batch, &p.title_field),
                date: text_column(&batch, &p.date_field),
                url: text_column(&batch, &p.url_field),
                next: 0,
            })
        });
        match decoded {
            Ok(batch) => p.batch = Some(batch),
            Err(e) => {
                // The rest of the file cannot be decoded: one record says so, and the file ends.
                p.batches = None;
                p.row += 1;
                let id = format!("{}:{}", p.source.id, p.row);
                return Some(skipped(
                    p,
                    id,
                    ErrorKind::Parquet,
                    format!("the rest of the file cannot be decoded: {e}"),
                ));
            }
        }
    }
    p.row += 1;
    let b = p.batch.as_mut().expect("a batch with rows left");
    let r = b.next;
    b.next += 1;
    if !copy {
        return Some(read_past());
    }
    let value = |a: &Option<arrow_array::StringArray>| {
        a.as_ref()
            .filter(|a| a.is_valid(r))
            .map(|a| a.value(r).to_string())
    };
    let id = value(&b.id).unwrap_or_else(|| format!("{}:{}", p.source.id, p.row));
    let (title, date, url) = (value(&b.title), value(&b.date), value(&b.url));
    if !b.text.is_valid(r) {
        let why = format!("text field {:?} is null", p.text_field);
        return Some(skipped(p, id, ErrorKind::Field, why));
    }
    let len = b.text.value(r).len() as u64;
    if len > p.limit {
        let error = too_large(len, true, p.limit, "record");
        return Some(skipped(
            p,
            id,
            ErrorKind::TooLarge,
            error.message().to_string(),
        ));
    }
    let text = b.text.value(r).to_string();
    Some(Pending::Done(Record::Document {
        origin: origin(p),
        document: RawDocument {
            id,
            title,
            date,
            url,
            content: Content::Text(text),
            raw: None,
            replaced: 0,
            charset: None,
        },
    }))
}

/// Reading past an oversized document stops counting after this many bytes (a gzip bomb
/// could otherwise keep a core busy for minutes); the reason then says "more than".
const MAX_BYTES_COUNTED: u64 = 1 << 32;

/// The `too-large` error for a document or record of `size` bytes (`exact`: or more).
fn too_large(size: u64, exact: bool, limit: u64, what: &str) -> Error {
    let size = if exact {
        format!("{size} bytes")
    } else {
        format!("more than {size} bytes")
    };
    Error::new(
        ErrorKind::TooLarge,
        format!("{what} of {size} exceeds the limit of {limit} bytes"),
    )
}

fn read_whole(source: &Source, mut reader: Box<dyn BufRead + Send + '_>, limit: u64) -> Record {
    let origin = Origin {
        path: source.path.clone(),
        line: None,
    };
    let skipped = |error: Error| Record::Skipped {
        origin: origin.clone(),
        id: source.id.clone(),
        error: error.with_path(&*source.path),
    };
    let mut bytes = Vec::new();
    if let Err(e) = reader.by_ref().take(limit + 1).read_to_end(&mut bytes) {
        return skipped(Error::io(&source.path, e));
    }
    if bytes.len() as u64 > limit {
        drop(bytes);
        // Read past the rest without holding it, to say how large the document is.
        let rest = io::copy(&mut reader.take(MAX_BYTES_COUNTED), &mut io::sink()).unwrap_or(0);
        let size = limit + 1 + rest;
        return skipped(too_large(size, rest < MAX_BYTES_COUNTED, limit, "document"));
    }
    let (content, replaced) = match source.format {
        InputFormat::Html => (Content::Html(bytes), 0),
        _ => match decode_text(bytes) {
            Ok((text, replaced)) => (Content::Text(text), replaced),
            Err(error) => return skipped(error),
        },
    };
    Record::Document {
        origin,
        document: RawDocument {
            id: source.id.clone(),
            title: None,
            date: None,
            url: None,
            content,
            raw: None,
            replaced,
            charset: None,
        },
    }
}

/// Text: UTF-8 (an optional byte-order mark removed), or UTF-16 announced by its BOM.
/// A few undecodable bytes are replaced with U+FFFD rather than losing the document (the
/// count is returned); a NUL byte, or more than 1 byte in 20 undecodable, means the file is
/// not text, and it is an error.
pub(crate) fn decode_text(bytes: Vec<u8>) -> Result<(String, usize)> {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(&bytes)
        && encoding != encoding_rs::UTF_8
    {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        let before = bytes[bom..]
            .chunks_exact(2)
            .filter(|c| *c == [0xFD, 0xFF] || *c == [0xFF, 0xFD])
            .count();
        let replaced = text.matches('\u{FFFD}').count().saturating_sub(before);
        return Ok((text.into_owned(), replaced));
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    if let Some(at) = body.iter().position(|&b| b == 0) {
        return Err(Error::new(
            ErrorKind::Decode,
            format!("binary content (a NUL byte at byte {at}), not text"),
        ));
    }
    // Undecodable bytes, and the sequences of them (each becomes one U+FFFD).
    let (invalid, replaced) = body
        .utf8_chunks()
        .map(|c| c.invalid().len())
        .filter(|&n| n > 0)
        .fold((0, 0), |(bytes, runs), n| (bytes + n, runs + 1));
    if invalid == 0 {
        let mut bytes = bytes;
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        return Ok((String::from_utf8(bytes).expect("checked: valid UTF-8"), 0));
    }
    if invalid * 20 > body.len() {
        return Err(Error::new(
            ErrorKind::Decode,
            format!(
                "not UTF-8 text ({invalid} of {} bytes undecodable); give pages with a declared \
                 charset as .html",
                body.len()
            ),
        ));
    }
    Ok((String::from_utf8_lossy(body).into_owned(), replaced))
}

/// What one bounded line read found.
enum LineRead {
    /// End of the stream.
    End,
    /// A line; with `copy`, its bytes (line break included) are in the buffer. `blank`: only
    /// ASCII whitespace.
    Line { blank: bool },
    /// A line longer than the limit, read past; its length without the line break.
    TooLong(u64),
}

/// Read one line into `buf` (cleared first), holding at most `limit` bytes of it: a longer
/// line is read past and reported with its length. With `copy` false nothing is kept.
fn read_line_bounded(
    reader: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    limit: u64,
    copy: bool,
) -> io::Result<LineRead> {
    buf.clear();
    let mut consumed = 0u64;
    let mut total = 0u64;
    let mut blank = true;
    let mut over = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        let chunk = &available[..take];
        let content = if done { &chunk[..take - 1] } else { chunk };
        total += content.len() as u64;
        blank = blank && content.iter().all(u8::is_ascii_whitespace);
        // `limit + 1` leaves room for a `\r` before the line break.
        if !over && total > limit.saturating_add(1) {
            over = true;
            buf.clear();
            buf.shrink_to(1 << 16);
        }
        if copy && !over {
            buf.extend_from_slice(chunk);
        }
        consumed += take as u64;
        reader.consume(take);
        if done {
            break;
        }
    }
    if consumed == 0 {
        return Ok(LineRead::End);
    }
    let line_len = if copy && !over {
        trim_line(buf).len() as u64
    } else {
        total
    };
    if blank {
        // Blank lines are not records, however long (found by fuzzing: a long run of
        // spaces and tabs was reported as a too-large record).
        return Ok(LineRead::Line { blank });
    }
    if over || line_len > limit {
        return Ok(LineRead::TooLong(total));
    }
    Ok(LineRead::Line { blank })
}

/// The next non-blank line as a pending record; with `copy` false the line is read past and
/// its bytes are not copied out (the record is about to be dropped).
fn next_line(lines: &mut Lines<'_>, copy: bool) -> Option<Pending> {
    loop {
        lines.line += 1;
        let read = read_line_bounded(&mut lines.reader, &mut lines.buf, lines.limit, copy);
        let origin = |lines: &Lines<'_>| Origin {
            path: lines.source.path.clone(),
            line: Some(lines.line),
        };
        match read {
            Ok(LineRead::End) => return None,
            Ok(LineRead::Line { blank: true }) => continue,
            Ok(LineRead::Line { blank: false }) => {}
            Ok(LineRead::TooLong(size)) => {
                let error = too_large(size, true, lines.limit, "JSON Lines record")
                    .with_path(&*lines.source.path)
                    .with_line(lines.line);
                return Some(Pending::Done(Record::Skipped {
                    origin: origin(lines),
                    id: format!("{}:{}", lines.source.id, lines.line),
                    error,
                }));
            }
            Err(e) => {
                let error = Error::io(&lines.source.path, e).with_line(lines.line);
                // A read error mid-stream (truncated gzip, ...) ends this file: report it
                // once, and make the next call end the file.
                lines.reader = Box::new(io::empty());
                return Some(Pending::Done(Record::Skipped {
                    origin: origin(lines),
                    id: format!("{}:{}", lines.source.id, lines.line),
                    error,
                }));
            }
        }
        if !copy {
            return Some(read_past());
        }
        let mut line = trim_line(&lines.buf);
        if lines.line == 1 {
            // A UTF-8 byte-order mark (as Windows tools write) is not part of the record.
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        return Some(Pending::Line {
            origin: origin(lines),
            fallback_id: format!("{}:{}", lines.source.id, lines.line),
            bytes: line.to_vec(),
        });
    }
}

/// The placeholder for a record read past: the caller drops it, so nothing is allocated
/// (the empty path is one per thread, shared).
fn read_past() -> Pending {
    thread_local! {
        static NO_PATH: Arc<Path> = Arc::from(Path::new(""));
    }
    Pending::Line {
        origin: Origin {
            path: NO_PATH.with(Arc::clone),
            line: None,
        },
        fallback_id: String::new(),
        bytes: Vec::new(),
    }
}

/// The open WARC stream being read.
struct Warcs<'a> {
    source: &'a Source,
    reader: Box<dyn BufRead + Send + 'a>,
    /// WARC records read so far (documents or not): a record's number in messages.
    record: u64,
    limit: u64,
}

/// A WARC header block longer than this is not a WARC header (and is not held).
const MAX_WARC_HEADER: usize = 64 << 10;

/// The next document of a WARC stream ([`InputFormat::Warc`]), reading past records that
/// are not documents. A record's origin is `PATH:N`, N its number in the file (1-based,
/// every record counted). A malformed header ends the file with one skipped record saying
/// where: WARC cannot be resynchronised without the lengths it gave. `copy` false reads
/// past the document without keeping it (the second read of verification).
fn next_warc(w: &mut Warcs<'_>, copy: bool) -> Option<Pending> {
    loop {
        let fail = |w: &mut Warcs<'_>, message: String| {
            w.reader = Box::new(io::empty());
            Some(Pending::Done(Record::Skipped {
                origin: Origin {
                    path: w.source.path.clone(),
                    line: Some(w.record),
                },
                id: format!("{}:{}", w.source.id, w.record),
                error: Error::new(ErrorKind::Warc, message)
                    .with_path(&*w.source.path)
                    .with_line(w.record),
            }))
        };
        // The header block: lines up to an empty one; blank lines before it are padding.
        let mut header = Vec::new();
        loop {
            let before = header.len();
            let mut limited = (&mut w.reader).take((MAX_WARC_HEADER + 1 - before) as u64);
            match limited.read_until(b'\n', &mut header) {
                Ok(0) if header.is_empty() => return None,
                Ok(0) => {
                    w.record += 1;
                    return fail(w, "WARC record ends inside its header".into());
                }
                Ok(_) => {}
                Err(e) => {
                    w.record += 1;
                    return fail(w, e.to_string());
                }
            }
            let line = &header[before..];
            if header.len() > MAX_WARC_HEADER {
                w.record += 1;
                return fail(
                    w,
                    format!("WARC header longer than {MAX_WARC_HEADER} bytes"),
                );
            }
            if line == b"\r\n" || line == b"\n" {
                if before == 0 {
                    header.clear(); // padding between records
                    continue;
                }
                break;
            }
        }
        w.record += 1;
        let (version_ok, fields, length) = match warc::parser::headers(&header) {
            Ok((_, (_, fields, length))) => (true, fields, length),
            Err(_) => (false, Vec::new(), 0),
        };
        if !version_ok {
            return fail(
                w,
                "malformed WARC header (expected WARC/1.x and Name: value lines)".into(),
            );
        }
        let field = |name: &str| -> Option<String> {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
        };
        let kind = field("WARC-Type").unwrap_or_default().to_ascii_lowercase();
        let document = matches!(kind.as_str(), "response" | "resource" | "conversion");
        let origin = Origin {
            path: w.source.path.clone(),
            line: Some(w.record),
        };
        let url = field("WARC-Target-URI").filter(|u| !u.is_empty());
        let id = url
            .clone()
            .or_else(|| field("WARC-Record-ID"))
            .unwrap_or_else(|| format!("{}:{}", w.source.id, w.record));
        let skipped = |origin: Origin, id: String, error: Error| {
            Some(Pending::Done(Record::Skipped {
                origin,
                id,
                error: error.with_path(&*w.source.path).with_line(w.record),
            }))
        };
        let length = length as u64;
        if !document || !copy || length > w.limit {
            // Read past the body.
            match io::copy(&mut (&mut w.reader).take(length), &mut io::sink()) {
                Ok(n) if n == length => {}
                Ok(_) => return fail(w, "WARC record ends before its Content-Length".into()),
                Err(e) => return fail(w, e.to_string()),
            }
            skip_record_end(&mut w.reader);
            if !document {
                continue;
            }
            if !copy {
                return Some(read_past());
            }
            return skipped(origin, id, too_large(length, true, w.limit, "WARC record"));
        }
        let mut body = Vec::new();
        match (&mut w.reader).take(length).read_to_end(&mut body) {
            Ok(n) if n as u64 == length => {}
            Ok(_) => return fail(w, "WARC record ends before its Content-Length".into()),
            Err(e) => return fail(w, e.to_string()),
        }
        skip_record_end(&mut w.reader);
        let date = field("WARC-Date");
        let warc_type = field("Content-Type").unwrap_or_default();
        let (media, charset, payload) = if kind == "response" {
            match http_payload(&body) {
                Ok(found) => found,
                Err(reason) => return skipped(origin, id, Error::new(ErrorKind::Warc, reason)),
            }
        } else {
            let (media, charset) = media_type(&warc_type);
            (media, charset, 0)
        };
        let payload = body.split_off(payload);
        let html = media.contains("html") || (kind == "resource" && media.is_empty());
        let text = kind == "conversion" || media.starts_with("text/plain");
        let (content, replaced) = if html && kind != "conversion" {
            (Content::Html(payload), 0)
        } else if text {
            match decode_text(payload) {
                Ok((text, replaced)) => (Content::Text(text), replaced),
                Err(error) => return skipped(origin, id, error),
            }
        } else {
            let what = if media.is_empty() {
                "no media type".to_string()
            } else {
                media
            };
            return skipped(
                origin,
                id,
                Error::new(ErrorKind::Warc, format!("not a page ({what})")),
            );
        };
        return Some(Pending::Done(Record::Document {
            origin,
            document: RawDocument {
                id,
                title: None,
                date,
                url,
                content,
                raw: None,
                replaced,
                charset,
            },
        }));
    }
}

/// Read past the blank lines (`\r\n\r\n`) that end a WARC record, and nothing else.
fn skip_record_end(reader: &mut Box<dyn BufRead + Send + '_>) {
    for _ in 0..4 {
        match reader.fill_buf() {
            Ok([b'\r' | b'\n', ..]) => reader.consume(1),
            _ => return,
        }
    }
}

/// `text/html; charset=windows-1251` as (`text/html`, `Some("windows-1251")`).
fn media_type(value: &str) -> (String, Option<String>) {
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_string())
    });
    (media, charset)
}

/// The media type, charset and payload offset of an HTTP response held in a WARC
/// `response` record (parsed by `httparse`); an error for a response that is not a page
/// to read: not 2xx, or a head that does not parse.
fn http_payload(body: &[u8]) -> std::result::Result<(String, Option<String>, usize), String> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut response = httparse::Response::new(&mut headers);
    let offset = match response.parse(body) {
        Ok(httparse::Status::Complete(offset)) => offset,
        Ok(httparse::Status::Partial) => return Err("HTTP response head is incomplete".into()),
        Err(e) => return Err(format!("malformed HTTP response head: {e}")),
    };
    let code = response.code.unwrap_or(0);
    if !(200..300).contains(&code) {
        return Err(format!("HTTP status {code}, not a page"));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).to_string())
    };
    if let Some(encoding) = header("Content-Encoding") {
        let encoding = encoding.trim().to_ascii_lowercase();
        if !encoding.is_empty() && encoding != "identity" {
            return Err(format!("payload still {encoding}-encoded"));
        }
    }
    let (media, charset) = media_type(&header("Content-Type").unwrap_or_default());
    Ok((media, charset, offset))
}

fn parse_line(
    origin: Origin,
    fallback_id: String,
    line: &[u8],
    params: &ReadParams,
    keep_raw: bool,
    tally: Option<&FieldTally>,
) -> Record {
    let line_no = origin.line.unwrap_or(0);
    match parse_json_record(line, params) {
        Ok(fields) => {
            if let Some(tally) = tally {
                tally.add(&fields);
            }
            let id = fields.id.unwrap_or(fallback_id);
            match fields.text {
                Some(text) => Record::Document {
                    document: RawDocument {
                        id,
                        title: fields.title,
                        date: fields.date,
                        url: fields.url,
                        content: Content::Text(text),
                        raw: keep_raw.then(|| String::from_utf8_lossy(line).into_owned()),
                        replaced: 0,
                        charset: None,
                    },
                    origin,
                },
                None => {
                    let what = match (fields.wrong_text, fields.has_text) {
                        (Some(kind), _) => format!("is {kind}, not a string"),
                        (None, true) => "is null".to_string(),
                        (None, false) => "is missing".to_string(),
                    };
                    let error = Error::new(
                        ErrorKind::Field,
                        format!("text field {:?} {what}", params.text_field),
                    )
                    .with_path(&*origin.path)
                    .with_line(line_no);
                    Record::Skipped { origin, id, error }
                }
            }
        }
        Err(error) => {
            let error = error.with_path(&*origin.path).with_line(line_no);
            Record::Skipped {
                origin,
                id: fallback_id,
                error,
            }
        }
    }
}

fn trim_line(buf: &[u8]) -> &[u8] {
    let mut line = buf;
    if let Some(rest) = line.strip_suffix(b"\n") {
        line = rest;
    }
    if let Some(rest) = line.strip_suffix(b"\r") {
        line = rest;
    }
    line
}

/// The fields samestory needs from one JSON Lines record, and which were present.
#[derive(Debug, Default, PartialEq)]
struct JsonFields {
    id: Option<String>,
    text: Option<String>,
    title: Option<String>,
    date: Option<String>,
    url: Option<String>,
    has_id: bool,
    has_text: bool,
    has_title: bool,
    /// The JSON type of a text field that is not a string.
    wrong_text: Option<&'static str>,
}

/// Parse one JSON object, keeping only the id, text, title, date and URL fields; every other field is
/// skipped without being built, which matters on crawls that carry whole HTML in a field.
fn parse_json_record(line: &[u8], params: &ReadParams) -> Result<JsonFields> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let fields = FieldsSeed(params)
        .deserialize(&mut de)
        .and_then(|f| de.end().map(|()| f));
    fields.map_err(|e| {
        let kind = if e.is_data() {
            ErrorKind::Field
        } else {
            ErrorKind::Json
        };
        Error::new(kind, format!("invalid JSON record: {e}")).with_source(e)
    })
}

struct FieldsSeed<'p>(&'p ReadParams);

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_> {
    type Value = JsonFields;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<JsonFields, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed<'_> {
    type Value = JsonFields;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonFields, A::Error> {
        use serde::de::Error as _;
        let params = self.0;
        let title_field = params.title_field.as_deref().unwrap_or("title");
        let date_field = params.date_field.as_deref().unwrap_or("date");
        let url_field = params.url_field.as_deref().unwrap_or("url");
        let mut fields = JsonFields::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == params.text_field.as_str() {
                fields.has_text = true;
                // A text of the wrong type skips the record but keeps its id for the message.
                match map.next_value::<TextValue>()? {
                    TextValue::Text(t) => fields.text = Some(t),
                    TextValue::Null => {}
                    TextValue::Other(kind) => fields.wrong_text = Some(kind),
                }
            } else if key == params.id_field.as_str() {
                fields.has_id = true;
                fields.id = map
                    .next_value::<Option<Scalar>>()
                    .map_err(|_| {
                        A::Error::custom(format!(
                            "id field {:?} must be a string or a number",
                            params.id_field
                        ))
                    })?
                    .map(|v| v.0);
            } else if key == title_field {
                fields.has_title = true;
                fields.title = map
                    .next_value::<Option<Scalar>>()
                    .map_err(|_| {
                        A::Error::custom(format!(
                            "title field {title_field:?} must be a string or a number"
                        ))
                    })?
                    .map(|v| v.0);
            } else if key == date_field {
                // A date of another type (an epoch number, an object) is not an error: the
                // page is still grouped, without a date.
                if let TextValue::Text(t) = map.next_value::<TextValue>()? {
                    fields.date = Some(t);
                }
            } else if key == url_field {
                // Likewise a URL that is not a string: the page is grouped without one.
                if let TextValue::Text(t) = map.next_value::<TextValue>()? {
                    fields.url = Some(t);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(fields)
    }
}

/// A text field: a string, null, or the name of the JSON type it wrongly is.
enum TextValue {
    Text(String),
    Null,
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for TextValue {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<TextValue, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = TextValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TextValue, E> {
                Ok(TextValue::Text(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<TextValue, E> {
                Ok(TextValue::Text(v))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<TextValue, E> {
                Ok(TextValue::Null)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<TextValue, E> {
                Ok(TextValue::Null)
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<TextValue, E> {
                Ok(TextValue::Other("a boolean"))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<TextValue, E> {
                Ok(TextValue::Other("a number"))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<TextValue, E> {
                Ok(TextValue::Other("a number"))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<TextValue, E> {
                Ok(TextValue::Other("a number"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<TextValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TextValue::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TextValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TextValue::Other("an object"))
            }
        }
        de.deserialize_any(TextVisitor)
    }
}

/// An id or title given as a JSON string or number.
struct Scalar(String);

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Scalar, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        de.deserialize_any(ScalarVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ReadParams {
        ReadParams::default()
    }

    #[test]
    fn format_from_extension() {
        let f = |p: &str| InputFormat::from_path(Path::new(p));
        assert_eq!(f("a/b.txt"), Some((InputFormat::Text, false)));
        assert_eq!(f("b.HTM"), Some((InputFormat::Html, false)));
        assert_eq!(f("crawl.jsonl.gz"), Some((InputFormat::Jsonl, true)));
        assert_eq!(f("README.md"), None);
        assert_eq!(f("noext"), None);
    }

    #[test]
    fn json_fields_pick_id_text_title() {
        let f = parse_json_record(
            br#"{"id": 7, "html": "<p>x</p>", "text": "hello", "title": "T"}"#,
            &params(),
        )
        .unwrap();
        assert_eq!(f.id.as_deref(), Some("7"));
        assert_eq!(f.text.as_deref(), Some("hello"));
        assert_eq!(f.title.as_deref(), Some("T"));
    }

    #[test]
    fn json_errors_are_reported() {
        assert_eq!(
            parse_json_record(b"{\"id\": 1,", &params())
                .unwrap_err()
                .kind(),
            &ErrorKind::Json
        );
        assert_eq!(
            parse_json_record(b"[1, 2]", &params()).unwrap_err().kind(),
            &ErrorKind::Field
        );
        assert!(parse_json_record(b"{} trailing", &params()).is_err());
    }

    #[test]
    fn jsonl_records_carry_lines_and_skips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(
            &path,
            "{\"id\":\"a\",\"text\":\"x\"}\n\nnot json\n{\"id\":\"b\"}\n{\"text\":\"y\"}\n",
        )
        .unwrap();
        let sources = Sources::open(&[Input::Path(path.clone())], &params()).unwrap();
        let records: Vec<_> = sources.records().collect();
        assert_eq!(records.len(), 4);
        assert!(matches!(&records[0], Record::Document { document, .. } if document.id == "a"));
        match &records[1] {
            Record::Skipped { error, origin, .. } => {
                assert_eq!(origin.line, Some(3));
                assert!(error.to_string().contains("c.jsonl:3: invalid JSON"));
            }
            other => panic!("expected skip, got {other:?}"),
        }
        assert!(matches!(&records[2], Record::Skipped { id, .. } if id == "b"));
        assert!(records[3].id().ends_with("c.jsonl:5"));
    }

    #[test]
    fn directories_are_walked_sorted_with_relative_ids() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.txt"), "b").unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("README.md"), "not a document").unwrap();
        let sources = Sources::open(&[Input::Path(dir.path().to_path_buf())], &params()).unwrap();
        let ids: Vec<_> = sources.records().map(|r| r.id().to_string()).collect();
        assert_eq!(ids, ["a.txt", "sub/b.txt"]);
    }

    #[test]
    fn missing_path_is_an_error_up_front() {
        let err = Sources::open(&[Input::parse("/no/such/path")], &params()).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Io);
        assert!(err.to_string().starts_with("/no/such/path:"));
    }

    #[test]
    fn invalid_utf8_text_is_decoded_with_a_count_of_replacements() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = b"ok \xff\xfe fine ".to_vec();
        bytes.extend_from_slice(&b"text ".repeat(20));
        bytes.push(0xc3);
        std::fs::write(dir.path().join("bad.txt"), bytes).unwrap();
        let sources = Sources::open(&[Input::Path(dir.path().to_path_buf())], &params()).unwrap();
        let records: Vec<_> = sources.records().collect();
        match &records[0] {
            Record::Document { document, .. } => {
                // \xff and \xfe are one invalid sequence each, the truncated \xc3 a third.
                assert_eq!(document.replaced, 3);
                assert!(
                    matches!(&document.content, Content::Text(t) if t.starts_with("ok \u{FFFD}"))
                );
            }
            other => panic!("expected a document, got {other:?}"),
        }
        assert_eq!(
            decode_text(b"\xEF\xBB\xBFplain".to_vec()).unwrap(),
            ("plain".into(), 0)
        );
        assert!(decode_text(b"text\0with NUL".to_vec()).is_err());
        assert!(decode_text(b"\xfd\xfd\xfd mostly junk".to_vec()).is_err());
    }

    /// Regression (fuzz/artifacts/jsonl/crash-dd757ae3): a whitespace-only line longer than
    /// the record limit is blank, not a too-large record.
    #[test]
    fn long_blank_lines_are_not_records() {
        let params = ReadParams {
            max_record_bytes: 200,
            ..params()
        };
        let mut bytes = b" \t".repeat(150);
        bytes.extend_from_slice(b"\n{\"xk\":{\"\xff\"");
        let sources = Sources::from_memory([("in.jsonl".to_string(), bytes)], &params).unwrap();
        let records: Vec<_> = sources.records().collect();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].origin().line, Some(2));
        assert_eq!(sources.pending_where(|_| false).count(), 0);
        assert_eq!(sources.pending_where(|_| true).count(), 1);
    }

    #[test]
    fn lines_over_the_limit_are_read_past_and_reported() {
        let params = ReadParams {
            max_record_bytes: 30,
            ..params()
        };
        let body = format!(
            "{{\"text\":\"{}\"}}\n{{\"id\":\"b\",\"text\":\"x\"}}\n",
            "a".repeat(100)
        );
        let sources =
            Sources::from_memory([("in.jsonl".to_string(), body.into_bytes())], &params).unwrap();
        let records: Vec<_> = sources.records().collect();
        assert_eq!(records.len(), 2);
        match &records[0] {
            Record::Skipped { error, .. } => {
                assert_eq!(error.kind(), &ErrorKind::TooLarge);
                assert!(
                    error
                        .to_string()
                        .contains("in.jsonl:1: JSON Lines record of 111 bytes")
                );
            }
            other => panic!("expected a too-large skip, got {other:?}"),
        }
        assert_eq!(records[1].id(), "b");
    }

    #[test]
    fn gzip_jsonl_is_read() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl.gz");
        let mut gz =
            flate2::write::GzEncoder::new(File::create(&path).unwrap(), Default::default());
        gz.write_all(b"{\"id\":\"a\",\"text\":\"x\"}\n").unwrap();
        gz.finish().unwrap();
        let sources = Sources::open(&[Input::Path(path)], &params()).unwrap();
        let ids: Vec<_> = sources.records().map(|r| r.id().to_string()).collect();
        assert_eq!(ids, ["a"]);
    }
}
