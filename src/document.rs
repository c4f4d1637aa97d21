//! One document through the per-document stages: extract, tokenize, clean, shingle, sign.
//!
//! In: a raw record. Out: a [`Prepared`] page (blocks, word hashes, the cleaner's verdicts),
//! then a [`Doc`] (id, length, signature, and the shingle set when verification needs it).
//! These functions are pure; [`crate::pipeline`] runs them in parallel.

use crate::clean::{self, Verdict};
use crate::extract::{self, Page};
use crate::minhash::{MinHasher, Signature};
use crate::params::Params;
use crate::read::{Origin, RawDocument, Record};
use crate::shingle::{self, ShingleKind, Shingles};
use crate::tokenize::Tokenizer;

/// Why a document was not signed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SkipReason {
    /// The input could not be read or parsed; the message says where and why.
    Unreadable(String),
    /// Nothing was left after cleaning (or the document was empty).
    Empty,
    /// Fewer words than one shingle.
    TooShort,
    /// Larger than the reader's size limit; the message gives the size and the limit.
    TooLarge(String),
    /// Another record earlier in the input has the same id; the message says where.
    RepeatedId(String),
}

impl SkipReason {
    /// A short machine-readable name for summaries: `unreadable`, `empty`, `too-short`.
    pub fn kind(&self) -> &'static str {
        match self {
            SkipReason::Unreadable(_) => "unreadable",
            SkipReason::Empty => "empty",
            SkipReason::TooShort => "too-short",
            SkipReason::TooLarge(_) => "too-large",
            SkipReason::RepeatedId(_) => "repeated-id",
        }
    }

    /// The text a reason carries (where and why), `None` for `empty` and `too-short`.
    pub(crate) fn detail(&self) -> Option<&str> {
        match self {
            SkipReason::Unreadable(m) | SkipReason::TooLarge(m) | SkipReason::RepeatedId(m) => {
                Some(m)
            }
            SkipReason::Empty | SkipReason::TooShort => None,
        }
    }

    /// A reason from its [`SkipReason::kind`] and [`SkipReason::detail`] (as the Parquet
    /// handoff stores it); `None` for a kind this version does not know.
    pub(crate) fn from_parts(kind: &str, detail: Option<String>) -> Option<SkipReason> {
        let detail = detail.unwrap_or_default();
        Some(match kind {
            "unreadable" => SkipReason::Unreadable(detail),
            "empty" => SkipReason::Empty,
            "too-short" => SkipReason::TooShort,
            "too-large" => SkipReason::TooLarge(detail),
            "repeated-id" => SkipReason::RepeatedId(detail),
            _ => return None,
        })
    }

    /// A sentence for people and for the `reason` field.
    pub fn message(&self) -> String {
        match self {
            SkipReason::Unreadable(msg) => format!("unreadable: {msg}"),
            SkipReason::Empty => "empty after cleaning".to_string(),
            SkipReason::TooShort => "too short to sign (fewer words than one shingle)".to_string(),
            SkipReason::TooLarge(msg) => format!("too-large: {msg}"),
            SkipReason::RepeatedId(first) => format!("repeated id, first at {first}"),
        }
    }
}

/// One input document after the pipeline.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Doc {
    /// The document id.
    pub id: String,
    /// The title, if known.
    pub title: Option<String>,
    /// Where it came from.
    pub origin: Origin,
    /// Bytes of cleaned text (what `--keep longest` compares).
    pub text_len: usize,
    /// The shingle set (empty for skipped documents).
    pub shingles: Shingles,
    /// The shingle values in text order, repeats kept, when the run keeps them for a writer
    /// ([`Pipeline::keeping_values`](crate::pipeline::Pipeline::keeping_values):
    /// `samestory sign` writes them as they are and `group` sorts the few it verifies);
    /// empty otherwise.
    pub values: Vec<u32>,
    /// The signature, for signed documents.
    pub signature: Option<Signature>,
    /// Why the document was skipped, if it was.
    pub skipped: Option<SkipReason>,
    /// A 128-bit hash of the cleaned word sequence: equal for documents whose cleaned
    /// texts have the same words, so exact copies are grouped before LSH (0 when skipped).
    pub content: u128,
    /// Undecodable byte sequences replaced with U+FFFD while reading (HTML: 1 when any).
    pub replaced: usize,
    /// For an exact copy of an earlier document (same [`Doc::content`]), that document: the
    /// one of the group that founds first. Set by the pipeline before LSH; only the first
    /// of a group is banded and verified, and its copies follow it into its cluster.
    pub copy_of: Option<u32>,
    /// Event features ([`crate::events`]), when the run computes them
    /// ([`Params::events`]); `None` for skipped documents.
    pub event: Option<Box<crate::events::EventDoc>>,
    /// Where and when the page was published, when the input or the page says; `None`
    /// otherwise (boxed: most inputs of a large run have neither).
    pub published: Option<Box<Published>>,
}

impl Doc {
    /// Skip this document as a repeat of an id first read at `first`, dropping what signing
    /// gave it; a document unreadable or too large keeps its own reason.
    pub(crate) fn skip_as_repeated(&mut self, first: String) {
        if matches!(
            self.skipped,
            Some(SkipReason::Unreadable(_) | SkipReason::TooLarge(_))
        ) {
            return;
        }
        self.skipped = Some(SkipReason::RepeatedId(first));
        self.signature = None;
        self.shingles = Shingles::default();
        self.values = Vec::new();
        self.content = 0;
    }
}

/// A page's URL and publication date, as given (not parsed): what `samestory sign` writes
/// into the `url` and `date` columns of its documents table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// The input's URL (JSON field, Parquet column, `WARC-Target-URI`), else the page's
    /// canonical URL.
    pub url: Option<String>,
    /// The input's date (JSON field, Parquet column, `WARC-Date`), else the page's
    /// publication date metadata.
    pub date: Option<String>,
}

impl Published {
    /// What a document carries: `None` when neither is known.
    pub fn new(url: Option<String>, date: Option<String>) -> Option<Box<Published>> {
        (url.is_some() || date.is_some()).then(|| Box::new(Published { url, date }))
    }
}

/// A document between preparation and signing: its blocks and the cleaner's verdicts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Prepared {
    /// Id, title and origin.
    pub id: String,
    /// Title from the input or the page.
    pub title: Option<String>,
    /// Where it came from.
    pub origin: Origin,
    /// Extracted page.
    pub page: Page,
    /// One verdict per block.
    pub verdicts: Vec<Verdict>,
    /// Stopword-list index of the page's language.
    pub language: usize,
    /// Hashes of the words of every block, in order.
    pub hashes: Vec<u64>,
    /// `ends[i]`: end of block `i`'s words in `hashes`.
    pub ends: Vec<usize>,
    /// Set when the record could not be read (unreadable or too large).
    pub unreadable: Option<SkipReason>,
    /// Undecodable byte sequences replaced with U+FFFD (HTML: 1 when any).
    pub replaced: usize,
}

impl Prepared {
    /// The kept text, blocks joined by newlines.
    pub(crate) fn kept_text(&self) -> String {
        let mut out = String::new();
        for (b, v) in self.page.blocks.iter().zip(&self.verdicts) {
            if v.is_keep() {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&b.text);
            }
        }
        out
    }
}

/// Extract, tokenize and classify one raw document (no corpus-level cleaning yet).
pub fn prepare(
    origin: Origin,
    doc: &RawDocument,
    params: &Params,
    tokenizer: &mut Tokenizer,
) -> Prepared {
    let page = if params.clean.enabled {
        extract::extract(doc, true)
    } else {
        extract::whole(doc)
    };
    let mut hashes = Vec::new();
    let mut ends = Vec::with_capacity(page.blocks.len());
    for b in &page.blocks {
        tokenizer.hash_words(&b.text, &mut hashes);
        ends.push(hashes.len());
    }
    let clean = &params.clean;
    let needs_language = clean.enabled || params.shingle.kind == ShingleKind::SpotSigs;
    let languages = if needs_language {
        clean::word_languages(&hashes)
    } else {
        Vec::new()
    };
    let language = if needs_language {
        clean::detect_language(&languages, clean)
    } else {
        clean::Stopwords::get().language_index("en").unwrap_or(0)
    };
    let verdicts = if clean.enabled {
        let stats = clean::block_stats(&languages, &ends, language);
        clean::classify(&page.blocks, &stats, clean)
    } else {
        vec![Verdict::Keep; page.blocks.len()]
    };
    let replaced = doc.replaced + usize::from(page.lossy);
    // A page without a title (text files, JSON without one): its headline, if found.
    let title = page.title.clone().or_else(|| {
        let words = crate::events::Words {
            hashes: &hashes,
            ends: &ends,
            language,
        };
        crate::events::find_title(&page.blocks, &verdicts, words)
    });
    Prepared {
        replaced,
        id: doc.id.clone(),
        title,
        origin,
        page,
        verdicts,
        language,
        hashes,
        ends,
        unreadable: None,
    }
}

pub(crate) fn prepare_record(
    record: Record,
    params: &Params,
    tokenizer: &mut Tokenizer,
) -> Prepared {
    match record {
        Record::Document { origin, document } => prepare(origin, &document, params, tokenizer),
        Record::Skipped { origin, id, error } => Prepared {
            unreadable: Some(match error.kind() {
                crate::error::ErrorKind::TooLarge => SkipReason::TooLarge(error.to_string()),
                _ => SkipReason::Unreadable(error.to_string()),
            }),
            id,
            title: None,
            origin,
            page: Page::default(),
            verdicts: Vec::new(),
            language: 0,
            hashes: Vec::new(),
            ends: Vec::new(),
            replaced: 0,
        },
    }
}

/// A plain-text page read from a file named `id`, prepared under `params`: what unit tests
/// across the crate start from.
#[cfg(test)]
pub(crate) fn prepare_text(id: &str, text: &str, params: &Params) -> Prepared {
    use crate::read::Content;
    let raw = RawDocument {
        id: id.into(),
        title: None,
        date: None,
        url: None,
        content: Content::Text(text.into()),
        raw: None,
        replaced: 0,
        charset: None,
    };
    let origin = Origin {
        path: std::path::Path::new(id).into(),
        line: None,
    };
    prepare(origin, &raw, params, &mut crate::tokenize::Tokenizer::new())
}

/// Shingle and sign one prepared page, keeping its shingle set.
pub fn sign(p: &Prepared, params: &Params, hasher: &MinHasher) -> Doc {
    sign_keeping(p, params, hasher, Retain::Set)
}

/// The document record and raw shingle values (unsorted, possibly repeated) of a page.
pub(crate) fn sign_parts(p: &Prepared, params: &Params) -> (Doc, Vec<u32>) {
    let mut doc = Doc {
        id: p.id.clone(),
        title: p.title.clone(),
        origin: p.origin.clone(),
        text_len: 0,
        shingles: Shingles::default(),
        values: Vec::new(),
        signature: None,
        skipped: None,
        content: 0,
        copy_of: None,
        event: None,
        replaced: p.replaced,
        published: Published::new(p.page.url.clone(), p.page.date.clone()),
    };
    if let Some(reason) = &p.unreadable {
        doc.skipped = Some(reason.clone());
        return (doc, Vec::new());
    }
    let kept = p.verdicts.iter().filter(|v| v.is_keep()).count();
    let words: std::borrow::Cow<'_, [u64]> = if kept == p.verdicts.len() {
        std::borrow::Cow::Borrowed(&p.hashes)
    } else {
        let mut words = Vec::with_capacity(p.hashes.len());
        let mut start = 0;
        for (&end, v) in p.ends.iter().zip(&p.verdicts) {
            if v.is_keep() {
                words.extend_from_slice(&p.hashes[start..end]);
            }
            start = end;
        }
        std::borrow::Cow::Owned(words)
    };
    doc.text_len = p
        .page
        .blocks
        .iter()
        .zip(&p.verdicts)
        .filter(|(_, v)| v.is_keep())
        .map(|(b, _)| b.text.len())
        .sum();
    if words.is_empty() {
        doc.skipped = Some(SkipReason::Empty);
        return (doc, Vec::new());
    }
    let raw = shingle::shingle_values(&words, p.language, &params.shingle);
    if raw.is_empty() {
        doc.skipped = Some(SkipReason::TooShort);
    } else {
        doc.content = content_key(&words);
        if params.events {
            doc.event = Some(Box::new(crate::events::features(
                &p.page.blocks,
                &p.verdicts,
                crate::events::Words {
                    hashes: &p.hashes,
                    ends: &p.ends,
                    language: p.language,
                },
                p.title.as_deref(),
                p.page.date.as_deref(),
            )));
        }
    }
    (doc, raw)
}

/// The exact-copy key of a cleaned word sequence: xxh3-128 over the word hashes. Documents
/// with equal keys have equal shingle sets under any shingle parameters.
fn content_key(words: &[u64]) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = [0u8; 8 * 64];
    for chunk in words.chunks(64) {
        for (out, w) in buf.chunks_exact_mut(8).zip(chunk) {
            out.copy_from_slice(&w.to_le_bytes());
        }
        hasher.update(&buf[..8 * chunk.len()]);
    }
    hasher.digest128()
}

/// What a signed document keeps besides its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retain {
    /// Only the signature (the set is read again for the few pages verified).
    Signature,
    /// The sorted shingle set ([`Doc::shingles`]), for verification in memory.
    Set,
    /// The shingle values as shingling gave them ([`Doc::values`]): for a writer that
    /// stores them, sparing the sort of every page's set.
    Values,
}

/// Shingle and sign one page, keeping what `retain` says beside the signature.
pub(crate) fn sign_keeping(
    p: &Prepared,
    params: &Params,
    hasher: &MinHasher,
    retain: Retain,
) -> Doc {
    let (mut doc, raw) = sign_parts(p, params);
    if doc.skipped.is_some() {
        return doc;
    }
    doc.signature = Some(hasher.sign(&raw));
    match retain {
        Retain::Signature => {}
        Retain::Set => doc.shingles = Shingles::from_hashes(raw),
        Retain::Values => doc.values = raw,
    }
    doc
}
