//! Flag groups, each taken only by the subcommands that use it, and their translation into
//! the library's [`Params`].

use clap::{Args, ValueEnum};

use samestory::lsh::LshParams;
use samestory::params::{Params, Verify};
use samestory::read::{Input, InputFormat};
use samestory::shingle::ShingleKind;
use samestory::verify::Measure;

use crate::Failure;

/// The most worker threads `--threads` accepts: beyond a few per core they only cost memory
/// (each has its own buffers), and thousands never finish starting.
pub const MAX_THREADS: u16 = 256;

/// The flags of every command that runs the whole pipeline (clusters, dedup, eval,
/// similarity).
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub clean: CleanArgs,
    #[command(flatten)]
    pub features: FeatureArgs,
    #[command(flatten)]
    pub matching: MatchArgs,
}

/// Where documents come from and how a run treats bad ones: every reading command.
#[derive(Args, Debug)]
pub struct InputArgs {
    /// Files, directories (walked recursively) or - for stdin (JSON Lines unless
    /// --input-format says otherwise).
    #[arg(value_name = "INPUT", required = true)]
    pub inputs: Vec<String>,
    /// Input format for every input, instead of choosing by extension (.txt, .html/.htm,
    /// .jsonl/.ndjson, .warc, each optionally .gz). In WARC files each response (HTML or
    /// text payload), resource and conversion record is a document, its id the target URI.
    #[arg(long, value_enum)]
    pub input_format: Option<InputFormatArg>,
    /// JSON Lines field holding the document id [default: id; records without one get
    /// PATH:LINE]. A field named here that no record has is an error.
    #[arg(long, value_name = "FIELD")]
    pub id_field: Option<String>,
    /// JSON Lines field holding the text. A field that no record has is an error.
    #[arg(long, value_name = "FIELD", default_value = "text")]
    pub text_field: String,
    /// JSON Lines field holding the title [default: title, when present]. A field named
    /// here that no record has is an error.
    #[arg(long, value_name = "FIELD")]
    pub title_field: Option<String>,
    /// JSON Lines field (Parquet column) holding the publication date (2022-12-30,
    /// December 30, 2022, ...) [default: date, when present]; the events level keeps
    /// reports far apart in time apart.
    #[arg(long, value_name = "FIELD")]
    pub date_field: Option<String>,
    /// JSON Lines field (Parquet column) holding the page's URL [default: url, when
    /// present]. WARC records give their target URI, HTML pages their canonical link;
    /// `sign` writes it to its documents table.
    #[arg(long, value_name = "FIELD")]
    pub url_field: Option<String>,
    /// Largest text or HTML document (after gzip decompression); a larger one is skipped
    /// as too-large and the run goes on. Bytes, or with a K, M or G suffix.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    pub max_document_bytes: u64,
    /// Longest JSON Lines record (one line); a longer one is skipped as too-large and the
    /// run goes on. Bytes, or with a K, M or G suffix.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    pub max_record_bytes: u64,
    /// Worker threads, 1 to 256 [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS as i64))]
    pub threads: Option<u16>,
    /// Treat an unreadable, too large or repeated-id record as fatal (exit 2, nothing on
    /// stdout) instead of skipping and counting it.
    #[arg(long)]
    pub strict: bool,
    /// No progress bar and no summary on stderr (problems and --explain are still shown).
    #[arg(long, short)]
    pub quiet: bool,
}

impl InputArgs {
    /// The inputs as the library takes them.
    pub fn inputs(&self) -> Vec<Input> {
        self.inputs.iter().map(|s| Input::parse(s)).collect()
    }

    /// Whether the id and the title field were named: a named field that no record has is
    /// an error ([`samestory::read::Sources::missing_field`]); an unnamed one falls back.
    pub fn named_fields(&self) -> (bool, bool) {
        (self.id_field.is_some(), self.title_field.is_some())
    }
}

/// How pages are cleaned: every command that cleans.
#[derive(Args, Debug)]
pub struct CleanArgs {
    /// Stopword language (ISO 639-1 code, e.g. en) [default: detected per page].
    #[arg(long, value_name = "CODE")]
    pub language: Option<String>,
}

/// Story-cluster knobs, for the commands that group as `clusters` does (tuning only).
#[derive(Args, Debug)]
pub struct StoryArgs {
    /// Drop blocks found in at least this many different first-pass clusters (0: never).
    #[arg(long, default_value_t = 3, hide = true)]
    pub repeated_min_clusters: usize,
    /// Merge two clusters when at least this share of their cross pairs are similar
    /// (above 1: never).
    #[arg(long, default_value_t = 0.5, hide = true)]
    pub merge_density: f64,
}

impl StoryArgs {
    /// The flags' defaults, for `clean`, which shows what `clusters` would shingle.
    pub fn default_values() -> StoryArgs {
        StoryArgs {
            repeated_min_clusters: 3,
            merge_density: 0.5,
        }
    }
}

/// Which level `clusters` and `eval` group at.
#[derive(Args, Debug)]
pub struct LevelArgs {
    /// copies: pages that are the same story (one report republished, updated, trimmed);
    /// events: reports of one event, also by different outlets in their own words, with
    /// the copy cluster (`story`) of each member.
    #[arg(long, value_enum, default_value_t = LevelArg::Copies)]
    pub level: LevelArg,
    /// With --level events: two groups of reports are one event while their mean event
    /// score (cosine of weighted names, numbers, content words and two-word phrases, title
    /// and lede counting more, times a date factor) is at least this.
    #[arg(long, value_name = "SCORE", default_value_t = samestory::events::DEFAULT_THRESHOLD)]
    pub event_threshold: f64,
    /// With --level events: do not look for two events of one kind inside a grouped event
    /// (to measure what that step buys).
    #[arg(long)]
    pub no_event_split: bool,
}

impl LevelArgs {
    /// The event parameters, validated.
    pub fn event_params(&self) -> Result<samestory::events::EventParams, Failure> {
        if !(0.0..=1.0).contains(&self.event_threshold) {
            return Err(Failure::new(format!(
                "--event-threshold must be between 0 and 1, got {}",
                self.event_threshold
            )));
        }
        let mut params = samestory::events::EventParams::default();
        params.threshold = self.event_threshold;
        params.split = !self.no_event_split;
        Ok(params)
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelArg {
    Copies,
    Events,
}

/// Where `dedup` gets shingle sets for exact verification.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Where exact verification gets shingle sets: `reread` loads them after LSH for the
    /// documents in candidate pairs only, from the shingle values the first pass wrote to a
    /// temporary file in TMPDIR (up to 4 GiB; pages past that are rebuilt by reading the
    /// inputs again), so memory grows with the number of documents; `memory` keeps every
    /// set from the first pass, so memory grows with the text.
    #[arg(long, value_enum, default_value_t = VerifyArg::Reread)]
    pub verify: VerifyArg,
}

/// What is compared: shingles and signatures.
#[derive(Args, Debug)]
pub struct FeatureArgs {
    /// Words per shingle.
    #[arg(long, default_value_t = 5)]
    pub ngram: usize,
    /// Shingle kind: consecutive words, or stopword-anchored SpotSigs chains.
    #[arg(long, value_enum, default_value_t = ShingleArg::Words)]
    pub shingle: ShingleArg,
    /// Seed of the shingle and MinHash hash functions (the MinHash seed is this + 1). Results
    /// with another seed differ only by which pairs LSH proposes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// MinHash signature length.
    #[arg(long, default_value_t = 128)]
    pub permutations: usize,
    /// Shingle every block: no boilerplate removal.
    #[arg(long)]
    pub no_clean: bool,
}

/// When two pages match and how candidates are found.
#[derive(Args, Debug)]
pub struct MatchArgs {
    /// Minimum exact score for a similar pair [default: 0.5 for dedup and similarity,
    /// 0.08 for clusters and eval].
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Which exact score --threshold applies to [default: jaccard for dedup and
    /// similarity, containment for clusters and eval].
    #[arg(long, value_enum)]
    pub measure: Option<MeasureArg>,
    /// LSH bands (with --rows) [default: chosen from --threshold].
    #[arg(long, requires = "rows")]
    pub bands: Option<usize>,
    /// LSH rows per band (with --bands).
    #[arg(long, requires = "bands")]
    pub rows: Option<usize>,
    /// With --measure containment, the fewest shared shingles a similar pair needs
    /// [default: 20 for clusters and eval, 0 otherwise].
    #[arg(long)]
    pub min_shared: Option<usize>,
    /// Print the chosen bands and rows and the candidate probability at a few similarities
    /// to stderr. With `similarity A B`, also list the longest shared passages and how many
    /// shingles each side lost to cleaning.
    #[arg(long)]
    pub explain: bool,
}

/// Output of commands that list records.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    /// JSON Lines, one record a line.
    Json,
    /// A table for people.
    Table,
    /// CSV (RFC 4180) with a header, for spreadsheets.
    Csv,
}

/// Output of `eval`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// JSON Lines, one report a line.
    Json,
    /// A report for people.
    Table,
}

/// Output of `clean`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CleanFormat {
    /// The kept text (and with --show-dropped, dropped blocks marked with why).
    Text,
    /// One JSON object per document: id, title, language, blocks with kept/reason.
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum InputFormatArg {
    Text,
    Html,
    Jsonl,
    Warc,
    Parquet,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ShingleArg {
    Words,
    Spotsigs,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum MeasureArg {
    Jaccard,
    Containment,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum VerifyArg {
    Memory,
    Reread,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum KeepArg {
    Central,
    Longest,
    First,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum PresetArg {
    Dedup,
    Clusters,
}

/// A size in bytes: a number with an optional K, M or G (powers of 1024) suffix.
pub fn parse_size(arg: &str) -> Result<u64, String> {
    let bad = || format!("{arg:?} is not a size (e.g. 5000000, 512K, 64M, 1G)");
    let arg = arg.trim();
    let (digits, unit) = match arg.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => arg.split_at(i),
        None => (arg, ""),
    };
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(bad()),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    match n.checked_shl(shift) {
        Some(v) if v > 0 && v >> shift == n => Ok(v),
        _ => Err(format!("{arg:?} must be between 1 byte and 16 EiB")),
    }
}

/// The reading and cleaning flags applied to a preset.
pub fn read_params(input: &InputArgs, clean: &CleanArgs, mut params: Params) -> Params {
    params.read.format = input.input_format.map(|f| match f {
        InputFormatArg::Text => InputFormat::Text,
        InputFormatArg::Html => InputFormat::Html,
        InputFormatArg::Jsonl => InputFormat::Jsonl,
        InputFormatArg::Warc => InputFormat::Warc,
        InputFormatArg::Parquet => InputFormat::Parquet,
    });
    if let Some(field) = &input.id_field {
        params.read.id_field = field.clone();
    }
    params.read.text_field = input.text_field.clone();
    params.read.title_field = input.title_field.clone();
    params.read.date_field = input.date_field.clone();
    params.read.url_field = input.url_field.clone();
    params.read.max_document_bytes = input.max_document_bytes;
    params.read.max_record_bytes = input.max_record_bytes;
    params.clean.language = clean.language.clone();
    params
}

/// The story-cluster knobs applied (flags default to the preset's values).
pub fn story_params(story: &StoryArgs, mut params: Params) -> Params {
    params.clean.repeated_min_clusters = story.repeated_min_clusters;
    params.merge_density = story.merge_density;
    params
}

/// The verification flag applied.
pub fn verify_params(verify: &VerifyArgs, mut params: Params) -> Params {
    params.verify = match verify.verify {
        VerifyArg::Memory => Verify::InMemory,
        VerifyArg::Reread => Verify::Reread,
    };
    params
}

/// Every flag applied to a preset, validated once.
pub fn params(run: &RunArgs, preset: Params) -> Result<Params, Failure> {
    let (features, matching) = (&run.features, &run.matching);
    let mut params = read_params(&run.input, &run.clean, preset);
    params.shingle.kind = match features.shingle {
        ShingleArg::Words => ShingleKind::Words,
        ShingleArg::Spotsigs => ShingleKind::SpotSigs,
    };
    params.shingle.ngram = features.ngram;
    params.minhash.permutations = features.permutations;
    params.shingle.seed = features.seed;
    params.minhash.seed = features.seed.wrapping_add(1);
    params.clean.enabled = !features.no_clean;
    if let Some(t) = matching.threshold {
        params.threshold = t;
    }
    if let Some(m) = matching.measure {
        params.measure = match m {
            MeasureArg::Jaccard => Measure::Jaccard,
            MeasureArg::Containment => Measure::Containment,
        };
    }
    if let (Some(bands), Some(rows)) = (matching.bands, matching.rows) {
        params.lsh = Some(LshParams { bands, rows });
    }
    if let Some(n) = matching.min_shared {
        params.min_shared = n;
    }
    params.validate()?;
    params.read.validate()?;
    Ok(params)
}
