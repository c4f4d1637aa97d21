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
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::error::{Error, ErrorKind, Result};

/// How the bytes of an input are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Plain UTF-8 text, one document per file.
    Text,
    /// An HTML page, one per file; the charset comes from the page.
    Html,
    /// JSON Lines: one JSON object per line, one document per line.
    Jsonl,
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
            _ => return None,
        };
        Some((format, gzip))
    }
}

/// Where the documents come from and how to read them.
#[derive(Debug, Clone)]
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
}

impl Default for ReadParams {
    fn default() -> ReadParams {
        ReadParams {
            format: None,
            id_field: "id".to_string(),
            text_field: "text".to_string(),
            title_field: None,
        }
    }
}

/// One input as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
pub struct RawDocument {
    /// The JSON id, or the path relative to the input root.
    pub id: String,
    /// The title, when the input has one (JSON field; HTML titles are found on extraction).
    pub title: Option<String>,
    /// The content to extract text from.
    pub content: Content,
    /// The original JSON line, when read with [`Sources::records_with_raw`].
    pub raw: Option<String>,
}

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file (or `-` for stdin).
    pub path: PathBuf,
    /// The 1-based line, for JSON Lines.
    pub line: Option<u64>,
}

/// What the reader yields for each document slot of the input.
#[derive(Debug)]
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

/// One resolved input file.
#[derive(Debug, Clone)]
struct Source {
    path: PathBuf,
    /// The id prefix: the path relative to the input root.
    id: String,
    format: InputFormat,
    gzip: bool,
}

/// The inputs resolved to a sorted list of files (and stdin's bytes, read once so the inputs
/// can be read twice, e.g. to copy kept documents out after deduplication).
#[derive(Debug)]
pub struct Sources {
    sources: Vec<Source>,
    stdin: Option<Vec<u8>>,
    params: ReadParams,
}

const STDIN_NAME: &str = "-";

impl Sources {
    /// Resolve `inputs`: walk directories (sorted by path), check that every path exists.
    /// A missing path is an error here, before any work starts.
    ///
    /// Inside directories only files with a known extension are read (so a `README.md` next
    /// to the data is not a document) unless `params.format` forces a format.
    pub fn open(inputs: &[Input], params: &ReadParams) -> Result<Sources> {
        let mut sources = Vec::new();
        let mut stdin = None;
        for input in inputs {
            match input {
                Input::Stdin => {
                    if stdin.is_none() {
                        let mut buf = Vec::new();
                        std::io::stdin()
                            .lock()
                            .read_to_end(&mut buf)
                            .map_err(|e| Error::io(Path::new(STDIN_NAME), e))?;
                        stdin = Some(buf);
                    }
                    sources.push(Source {
                        path: PathBuf::from(STDIN_NAME),
                        id: STDIN_NAME.to_string(),
                        format: params.format.unwrap_or(InputFormat::Jsonl),
                        gzip: false,
                    });
                }
                Input::Path(path) => {
                    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
                    if meta.is_dir() {
                        walk_dir(path, params, &mut sources)?;
                    } else {
                        let (format, gzip) = InputFormat::from_path(path)
                            .map(|(f, gz)| (params.format.unwrap_or(f), gz))
                            .unwrap_or((params.format.unwrap_or(InputFormat::Text), false));
                        sources.push(Source {
                            path: path.clone(),
                            id: path_id(path),
                            format,
                            gzip,
                        });
                    }
                }
            }
        }
        Ok(Sources {
            sources,
            stdin,
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

    /// Total size in bytes of the input files (compressed size for `.gz`), for progress.
    pub fn total_bytes(&self) -> u64 {
        self.sources
            .iter()
            .map(|s| {
                if s.path == Path::new(STDIN_NAME) {
                    self.stdin.as_ref().map_or(0, |b| b.len() as u64)
                } else {
                    std::fs::metadata(&s.path).map_or(0, |m| m.len())
                }
            })
            .sum()
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
}

fn walk_dir(root: &Path, params: &ReadParams, out: &mut Vec<Source>) -> Result<()> {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            let io = e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("filesystem loop"));
            Error::io(&path, io)
        })?;
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
            path: path.to_path_buf(),
            id: path_id(rel),
            format,
            gzip,
        });
    }
    Ok(())
}

/// A path as an id: `/`-separated whatever the platform.
fn path_id(path: &Path) -> String {
    let parts: Vec<_> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    parts.join("/")
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

impl Pending {
    /// Parse into a record. `keep_raw` keeps the original line in [`RawDocument::raw`].
    pub fn parse(self, params: &ReadParams, keep_raw: bool) -> Record {
        match self {
            Pending::Done(record) => record,
            Pending::Line {
                origin,
                fallback_id,
                bytes,
            } => parse_line(origin, fallback_id, &bytes, params, keep_raw),
        }
    }

    /// Input bytes behind this record (for progress).
    pub fn len_bytes(&self) -> usize {
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
    current: Option<Lines<'a>>,
    /// Records yielded (or skipped) so far.
    position: usize,
    /// For [`Sources::pending_where`]: which positions to yield.
    skip: Option<Box<dyn Fn(usize) -> bool + Send + 'a>>,
}

/// The open JSON Lines stream being read.
struct Lines<'a> {
    source: &'a Source,
    reader: Box<dyn BufRead + Send + 'a>,
    line: u64,
    buf: Vec<u8>,
}

impl Iterator for Records<'_> {
    type Item = Pending;

    fn next(&mut self) -> Option<Pending> {
        loop {
            let wanted = self.skip.as_ref().is_none_or(|f| f(self.position));
            if let Some(lines) = &mut self.current {
                match next_line(lines, wanted) {
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
            let reader = match self.open(source) {
                Ok(reader) => reader,
                Err(error) => {
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
                    self.current = Some(Lines {
                        source,
                        reader,
                        line: 0,
                        buf: Vec::new(),
                    });
                }
                InputFormat::Text | InputFormat::Html => {
                    self.position += 1;
                    if wanted {
                        return Some(Pending::Done(read_whole(source, reader)));
                    }
                }
            }
        }
    }
}

impl<'a> Records<'a> {
    fn open(&self, source: &'a Source) -> Result<Box<dyn BufRead + Send + 'a>> {
        let raw: Box<dyn Read + Send + 'a> = if source.path == Path::new(STDIN_NAME) {
            Box::new(self.sources.stdin.as_deref().unwrap_or_default())
        } else {
            Box::new(File::open(&source.path).map_err(|e| Error::io(&source.path, e))?)
        };
        let raw: Box<dyn Read + Send + 'a> = if source.gzip {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(raw)))
        } else {
            raw
        };
        Ok(Box::new(BufReader::with_capacity(1 << 16, raw)))
    }
}

fn read_whole(source: &Source, mut reader: Box<dyn BufRead + Send + '_>) -> Record {
    let origin = Origin {
        path: source.path.clone(),
        line: None,
    };
    let mut bytes = Vec::new();
    if let Err(e) = reader.read_to_end(&mut bytes) {
        return Record::Skipped {
            origin,
            id: source.id.clone(),
            error: Error::io(&source.path, e),
        };
    }
    let content = match source.format {
        InputFormat::Html => Content::Html(bytes),
        _ => match decode_utf8(bytes) {
            Ok(text) => Content::Text(text),
            Err(error) => {
                return Record::Skipped {
                    origin,
                    id: source.id.clone(),
                    error: error.with_path(&source.path),
                };
            }
        },
    };
    Record::Document {
        origin,
        document: RawDocument {
            id: source.id.clone(),
            title: None,
            content,
            raw: None,
        },
    }
}

/// UTF-8 text with an optional byte-order mark.
fn decode_utf8(mut bytes: Vec<u8>) -> Result<String> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        Error::new(
            ErrorKind::Decode,
            format!("not valid UTF-8 (at byte {at}); give pages with a declared charset as .html"),
        )
    })
}

/// The next non-blank line as a pending record; with `copy` false the line is read past and
/// its bytes are not copied out (the record is about to be dropped).
fn next_line(lines: &mut Lines<'_>, copy: bool) -> Option<Pending> {
    loop {
        lines.buf.clear();
        lines.line += 1;
        match lines.reader.read_until(b'\n', &mut lines.buf) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => {
                let error = Error::io(&lines.source.path, e).with_line(lines.line);
                // A read error mid-stream (truncated gzip, ...) ends this file: report it
                // once, and make the next call end the file.
                lines.reader = Box::new(std::io::empty());
                return Some(Pending::Done(Record::Skipped {
                    origin: Origin {
                        path: lines.source.path.clone(),
                        line: Some(lines.line),
                    },
                    id: format!("{}:{}", lines.source.id, lines.line),
                    error,
                }));
            }
        }
        let line = trim_line(&lines.buf);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !copy {
            // Read past: the caller drops this record, so nothing is allocated for it.
            return Some(Pending::Line {
                origin: Origin {
                    path: PathBuf::new(),
                    line: None,
                },
                fallback_id: String::new(),
                bytes: Vec::new(),
            });
        }
        return Some(Pending::Line {
            origin: Origin {
                path: lines.source.path.clone(),
                line: Some(lines.line),
            },
            fallback_id: format!("{}:{}", lines.source.id, lines.line),
            bytes: line.to_vec(),
        });
    }
}

fn parse_line(
    origin: Origin,
    fallback_id: String,
    line: &[u8],
    params: &ReadParams,
    keep_raw: bool,
) -> Record {
    let line_no = origin.line.unwrap_or(0);
    match parse_json_record(line, params) {
        Ok(fields) => {
            let id = fields.id.unwrap_or(fallback_id);
            match fields.text {
                Some(text) => Record::Document {
                    document: RawDocument {
                        id,
                        title: fields.title,
                        content: Content::Text(text),
                        raw: keep_raw.then(|| String::from_utf8_lossy(line).into_owned()),
                    },
                    origin,
                },
                None => {
                    let error = Error::new(
                        ErrorKind::Field,
                        format!("no string field {:?}", params.text_field),
                    )
                    .with_path(&origin.path)
                    .with_line(line_no);
                    Record::Skipped { origin, id, error }
                }
            }
        }
        Err(error) => {
            let error = error.with_path(&origin.path).with_line(line_no);
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

/// The fields samestory needs from one JSON Lines record.
#[derive(Debug, Default, PartialEq)]
struct JsonFields {
    id: Option<String>,
    text: Option<String>,
    title: Option<String>,
}

/// Parse one JSON object, keeping only the id, text and title fields; every other field is
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
        let params = self.0;
        let title_field = params.title_field.as_deref().unwrap_or("title");
        let mut fields = JsonFields::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == params.text_field.as_str() {
                fields.text = map.next_value::<Option<String>>()?;
            } else if key == params.id_field.as_str() {
                fields.id = map.next_value::<Option<IdValue>>()?.map(|v| v.0);
            } else if key == title_field {
                fields.title = map.next_value::<Option<String>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(fields)
    }
}

/// An id given as a JSON string or number.
struct IdValue(String);

impl<'de> serde::Deserialize<'de> for IdValue {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<IdValue, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            U(u64),
            I(i64),
            F(f64),
        }
        Ok(IdValue(match Raw::deserialize(de)? {
            Raw::S(s) => s,
            Raw::U(n) => n.to_string(),
            Raw::I(n) => n.to_string(),
            Raw::F(n) => n.to_string(),
        }))
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
    fn invalid_utf8_text_is_skipped_with_reason() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.txt"), b"ok \xff\xfe").unwrap();
        let sources = Sources::open(&[Input::Path(dir.path().to_path_buf())], &params()).unwrap();
        let records: Vec<_> = sources.records().collect();
        assert!(
            matches!(&records[0], Record::Skipped { error, .. } if error.kind() == &ErrorKind::Decode)
        );
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
