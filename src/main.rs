//! The `samestory` command: parses flags, sizes the thread pool, shows progress, writes
//! output and maps errors to exit codes. All the work is in the library.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};

// Per-document buffers are allocated and freed by every worker thread; mimalloc's thread-local
// heaps cut the allocator's share of a 100k-document run (measured in docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use samestory::clean::{Stopwords, Verdict};
use samestory::eval::{self, Labels};
use samestory::explain;
use samestory::lsh::LshParams;
use samestory::output;
use samestory::pipeline::{Analysis, Keep, Mode, Params, Pipeline, Progress, SkipReason, Verify};
use samestory::read::{Input, InputFormat, Sources};
use samestory::shingle::ShingleKind;
use samestory::verify::Measure;

/// Find near-duplicate news stories.
///
/// Pages are cleaned of site chrome, shingled, MinHash-signed in parallel and bucketed with
/// LSH; every candidate pair is verified exactly, and clusters never chain through a
/// bridging page. Output is JSON Lines on stdout (or a table with --format table); progress
/// and a summary go to stderr.
#[derive(Parser, Debug)]
#[command(name = "samestory", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List story clusters: which pages report the same story.
    ///
    /// One JSON line per cluster of 2+ documents (--all adds singletons), largest first.
    /// Defaults: word 5-grams, containment ≥ 0.08, clusters merged when most of their
    /// cross pairs are similar.
    Clusters {
        #[command(flatten)]
        common: Common,
        /// Also list documents that are in no cluster, as clusters of one.
        #[arg(long)]
        all: bool,
    },
    /// Deduplicate a crawl: one line per input document, kept, duplicate or skipped.
    ///
    /// Defaults: word 5-grams, Jaccard ≥ 0.5, keep the longest copy.
    Dedup {
        #[command(flatten)]
        common: Common,
        /// Which copy of a duplicate group to keep: the longest cleaned text (ties: smallest
        /// id; independent of input order), or the first in input order.
        #[arg(long, value_enum, default_value_t = KeepArg::Longest)]
        keep: KeepArg,
        /// Also write the kept documents (JSON Lines input: the original lines; other
        /// inputs: {"id", "title", "text"}) to FILE.
        #[arg(long, value_name = "FILE")]
        kept: Option<PathBuf>,
    },
    /// Score story clusters against gold labels: pairwise precision, recall, F1 and ARI.
    ///
    /// Runs the same pipeline as `clusters` (same flags and defaults), then compares its
    /// clusters with the labels and lists the worst wrong merges and splits.
    Eval {
        #[command(flatten)]
        common: Common,
        /// TSV with a header holding `id` and `cluster` columns; ids match document ids
        /// exactly or as a path suffix.
        #[arg(long, value_name = "FILE")]
        labels: PathBuf,
        /// Score every threshold of FROM:TO:STEP (e.g. 0.05:0.5:0.05), one row each; the
        /// documents are read and signed once.
        #[arg(long, value_name = "FROM:TO:STEP")]
        sweep: Option<String>,
        /// How many of the worst merges and splits to list.
        #[arg(long, default_value_t = 5)]
        worst: usize,
    },
    /// Print the text that will be shingled: what the cleaner keeps of each document.
    ///
    /// With --show-dropped, dropped blocks are printed too, marked with why.
    Clean {
        #[command(flatten)]
        common: Common,
        /// Also print dropped blocks, prefixed with `- [reason]`; kept blocks get `+ `.
        #[arg(long)]
        show_dropped: bool,
        /// One JSON object per document (id, title, language, blocks with kept/reason)
        /// instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Score how similar two documents are, or list every similar pair of a set.
    ///
    /// Defaults: word 5-grams; with --pairs, pairs with Jaccard ≥ 0.5.
    Similarity {
        #[command(flatten)]
        common: Common,
        /// List every pair of INPUT at or above --threshold instead of scoring two files.
        #[arg(long, conflicts_with = "pairs_file")]
        pairs: bool,
        /// Score the pairs listed in FILE (two tab-separated document ids a line; `#`
        /// comments), whatever their score, instead of scoring two files.
        #[arg(long, value_name = "FILE")]
        pairs_file: Option<PathBuf>,
        /// Clean and score as `dedup` does (each page on its own; --pairs at Jaccard 0.5) or
        /// as `clusters` does (also removing blocks repeated across the inputs, so scores
        /// match its output; --pairs at containment 0.08). Each record says which in
        /// `cleaning`.
        #[arg(long, value_enum, default_value_t = PresetArg::Dedup)]
        preset: PresetArg,
    },
}

#[derive(Args, Debug)]
struct Common {
    /// Files, directories (walked recursively) or - for stdin (JSON Lines unless
    /// --input-format says otherwise).
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    format: OutputFormat,
    /// Input format for every input, instead of choosing by extension (.txt, .html/.htm,
    /// .jsonl/.ndjson, each optionally .gz).
    #[arg(long, value_enum)]
    input_format: Option<InputFormatArg>,
    /// JSON Lines field holding the document id [default: id; records without one get
    /// PATH:LINE]. A field named here that no record has is an error.
    #[arg(long, value_name = "FIELD")]
    id_field: Option<String>,
    /// JSON Lines field holding the text. A field that no record has is an error.
    #[arg(long, value_name = "FIELD", default_value = "text")]
    text_field: String,
    /// JSON Lines field holding the title [default: title, when present]. A field named
    /// here that no record has is an error.
    #[arg(long, value_name = "FIELD")]
    title_field: Option<String>,
    /// Largest text or HTML document (after gzip decompression); a larger one is skipped
    /// as too-large and the run goes on. Bytes, or with a K, M or G suffix.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    max_document_bytes: u64,
    /// Longest JSON Lines record (one line); a longer one is skipped as too-large and the
    /// run goes on. Bytes, or with a K, M or G suffix.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    max_record_bytes: u64,
    /// Words per shingle.
    #[arg(long, default_value_t = 5)]
    ngram: usize,
    /// Shingle kind: consecutive words, or stopword-anchored SpotSigs chains.
    #[arg(long, value_enum, default_value_t = ShingleArg::Words)]
    shingle: ShingleArg,
    /// Seed of the shingle and MinHash hash functions (the MinHash seed is this + 1). Results
    /// with another seed differ only by which pairs LSH proposes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// MinHash signature length.
    #[arg(long, default_value_t = 128)]
    permutations: usize,
    /// Minimum exact score for a similar pair [default: 0.5 for dedup and similarity,
    /// 0.08 for clusters and eval].
    #[arg(long)]
    threshold: Option<f64>,
    /// Which exact score --threshold applies to [default: jaccard for dedup and
    /// similarity, containment for clusters and eval].
    #[arg(long, value_enum)]
    measure: Option<MeasureArg>,
    /// LSH bands (with --rows) [default: chosen from --threshold].
    #[arg(long, requires = "rows")]
    bands: Option<usize>,
    /// LSH rows per band (with --bands).
    #[arg(long, requires = "bands")]
    rows: Option<usize>,
    /// Where exact verification gets shingle sets: kept in memory from the first pass
    /// (fastest; memory grows with the text), or rebuilt by reading the inputs again for
    /// the documents in candidate pairs only (memory grows with the number of documents).
    /// [default: reread for dedup, memory otherwise]
    #[arg(long, value_enum)]
    verify: Option<VerifyArg>,
    /// Worker threads, 1 to 256 [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS as i64))]
    threads: Option<u16>,
    /// Print the chosen bands and rows and the candidate probability at a few similarities
    /// to stderr. With `similarity A B`, also list the longest shared passages and how many
    /// shingles each side lost to cleaning.
    #[arg(long)]
    explain: bool,
    /// Shingle every block: no boilerplate removal.
    #[arg(long)]
    no_clean: bool,
    /// With --measure containment, the fewest shared shingles a similar pair needs
    /// [default: 20 for clusters and eval, 0 otherwise].
    #[arg(long)]
    min_shared: Option<usize>,
    /// clusters: drop blocks found in at least this many different first-pass clusters
    /// (0: never).
    #[arg(long, default_value_t = 3, hide = true)]
    repeated_min_clusters: usize,
    /// clusters: merge two clusters when at least this share of their cross pairs are
    /// similar (above 1: never).
    #[arg(long, default_value_t = 0.5, hide = true)]
    merge_density: f64,
    /// Stopword language (ISO 639-1 code, e.g. en) [default: detected per page].
    #[arg(long)]
    language: Option<String>,
    /// Treat an unreadable, too large or repeated-id record as fatal (exit 2, nothing on
    /// stdout) instead of skipping and counting it.
    #[arg(long)]
    strict: bool,
    /// No progress bar and no summary on stderr.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OutputFormat {
    Json,
    Table,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum InputFormatArg {
    Text,
    Html,
    Jsonl,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ShingleArg {
    Words,
    Spotsigs,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum MeasureArg {
    Jaccard,
    Containment,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum VerifyArg {
    Memory,
    Reread,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum PresetArg {
    Dedup,
    Clusters,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum KeepArg {
    Longest,
    First,
}

/// The most worker threads `--threads` accepts: beyond a few per core they only cost memory
/// (each has its own buffers), and thousands never finish starting.
const MAX_THREADS: u16 = 256;

/// Per-record problems printed on stderr before the rest are only counted (every one is
/// still in the output with its reason).
const MAX_RECORD_MESSAGES: usize = 20;

/// A size in bytes: a number with an optional K, M or G (powers of 1024) suffix.
fn parse_size(arg: &str) -> Result<u64, String> {
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
        _ => {
            return Err(format!(
                "{arg:?} is not a size (e.g. 5000000, 512K, 64M, 1G)"
            ));
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{arg:?} is not a size (e.g. 5000000, 512K, 64M, 1G)"))?;
    match n.checked_shl(shift) {
        Some(v) if v > 0 && v >> shift == n => Ok(v),
        _ => Err(format!("{arg:?} must be between 1 byte and 16 EiB")),
    }
}

/// An error for the user, with the exit code it maps to.
struct Failure {
    message: String,
    code: u8,
}

impl From<samestory::Error> for Failure {
    fn from(e: samestory::Error) -> Failure {
        Failure {
            message: e.to_string(),
            code: 2,
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure {
            message: e.to_string(),
            code: if e.kind() == io::ErrorKind::BrokenPipe {
                0
            } else {
                2
            },
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if f.code != 0 {
                eprintln!("samestory: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Clusters { common, all } => {
            let params = params(&common, Params::clusters())?;
            let sources = open(&common, &params)?;
            let analysis = analyse(&common, params, &sources)?;
            let records = output::cluster_records(&analysis, all);
            write(|out| match common.format {
                OutputFormat::Json => output::write_jsonl(out, &records),
                OutputFormat::Table => output::write_cluster_table(out, &records),
            })
        }
        Command::Dedup { common, keep, kept } => {
            let mut params = params(&common, Params::dedup())?;
            params.mode = Mode::Dedup(match keep {
                KeepArg::Longest => Keep::Longest,
                KeepArg::First => Keep::First,
            });
            let sources = open(&common, &params)?;
            if let Some(path) = &kept {
                refuse_overwrite(path, &sources)?;
            }
            let analysis = analyse(&common, params, &sources)?;
            let records = output::dedup_records(&analysis);
            if let Some(path) = kept {
                write_kept(&path, &sources, &records)?;
            }
            write(|out| match common.format {
                OutputFormat::Json => output::write_jsonl(out, &records),
                OutputFormat::Table => output::write_dedup_table(out, &records),
            })
        }
        Command::Eval {
            common,
            labels,
            sweep,
            worst,
        } => {
            let labels_path = labels;
            let labels = Labels::from_tsv(&labels_path)?;
            let mut params = params(&common, Params::clusters())?;
            // A sweep re-groups at other thresholds, whose candidates need every set.
            params.verify = Verify::InMemory;
            let thresholds = match &sweep {
                Some(spec) => parse_sweep(spec)?,
                None => vec![params.threshold],
            };
            let sources = open(&common, &params)?;
            let analysis = analyse(&common, params.clone(), &sources)?;
            let mut reports = Vec::new();
            for &t in &thresholds {
                let a = if sweep.is_some() {
                    let p = Params {
                        threshold: t,
                        ..params.clone()
                    };
                    Pipeline::new(p)?.group(analysis.docs.clone(), &Bar::new(true))
                } else {
                    analysis.clone()
                };
                reports.push(eval::evaluate(&a, &labels, t, worst));
            }
            check_labels(&labels, &analysis, &reports[0], &labels_path)?;
            write(|out| match common.format {
                OutputFormat::Json => output::write_jsonl(out, &reports),
                OutputFormat::Table if sweep.is_some() => output::write_sweep_table(out, &reports),
                OutputFormat::Table => output::write_eval_report(out, &reports[0]),
            })
        }
        Command::Clean {
            common,
            show_dropped,
            json,
        } => {
            let params = params(&common, Params::clusters())?;
            let sources = open(&common, &params)?;
            let pipeline = Pipeline::new(params)?;
            let pages = pipeline.prepare_all(&sources, &Bar::new(true));
            write(|out| {
                for p in &pages {
                    if json {
                        let blocks: Vec<_> = p
                            .page
                            .blocks
                            .iter()
                            .zip(&p.verdicts)
                            .filter(|(_, v)| show_dropped || v.is_keep())
                            .map(|(b, v)| {
                                serde_json::json!({
                                    "text": b.text,
                                    "kept": v.is_keep(),
                                    "reason": match v {
                                        Verdict::Keep => None,
                                        Verdict::Drop(r) => Some(r.as_str()),
                                    },
                                })
                            })
                            .collect();
                        let rec = serde_json::json!({
                            "id": p.id,
                            "title": p.title,
                            "language": Stopwords::get().language_code(p.language),
                            "unreadable": p.unreadable.as_ref().map(|r| r.message()),
                            "blocks": blocks,
                        });
                        writeln!(out, "{rec}")?;
                        continue;
                    }
                    writeln!(
                        out,
                        "==> {} [{}]{}",
                        p.id,
                        Stopwords::get().language_code(p.language),
                        p.title
                            .as_deref()
                            .map(|t| format!(" {t}"))
                            .unwrap_or_default()
                    )?;
                    if let Some(reason) = &p.unreadable {
                        writeln!(out, "skipped: {}", reason.message())?;
                    }
                    for (b, v) in p.page.blocks.iter().zip(&p.verdicts) {
                        match v {
                            Verdict::Keep if show_dropped => writeln!(out, "+ {}", b.text)?,
                            Verdict::Keep => writeln!(out, "{}", b.text)?,
                            Verdict::Drop(r) if show_dropped => {
                                writeln!(out, "- [{}] {}", r.as_str(), b.text)?
                            }
                            Verdict::Drop(_) => {}
                        }
                    }
                }
                Ok(())
            })
        }
        Command::Similarity {
            common,
            pairs,
            pairs_file,
            preset,
        } => {
            let base = match preset {
                PresetArg::Dedup => Params::dedup(),
                PresetArg::Clusters => Params::clusters(),
            };
            let mut params = params(&common, base)?;
            // Listed pairs and a pair of files are scored whether or not LSH proposes them,
            // and --pairs lists exact copies' pairs too: every document keeps its shingle set.
            params.verify = Verify::InMemory;
            let sources = open(&common, &params)?;
            if let Some(file) = pairs_file {
                let analysis = analyse(&common, params, &sources)?;
                let records = listed_pairs(&file, &analysis)?;
                return write(|out| match common.format {
                    OutputFormat::Json => output::write_jsonl(out, &records),
                    OutputFormat::Table => output::write_pair_table(out, &records),
                });
            }
            if !pairs && common.inputs.len() != 2 {
                return Err(Failure {
                    message: "similarity takes two files (or --pairs INPUT...)".into(),
                    code: 2,
                });
            }
            let analysis = analyse(&common, params.clone(), &sources)?;
            let records: Vec<_> = if pairs {
                analysis
                    .similar_pairs()
                    .into_iter()
                    .map(|(a, b, _)| output::pair_record(&analysis, a, b))
                    .collect()
            } else {
                if analysis.docs.len() != 2 {
                    return Err(Failure {
                        message: format!(
                            "similarity needs two documents, the inputs hold {}",
                            analysis.docs.len()
                        ),
                        code: 2,
                    });
                }
                for d in &analysis.docs {
                    if let Some(r) = &d.skipped {
                        return Err(Failure {
                            message: format!("{}: {}", d.id, r.message()),
                            code: 2,
                        });
                    }
                }
                if common.explain {
                    let mut record = serde_json::to_value(output::pair_record(&analysis, 0, 1))
                        .expect("pair records serialize");
                    let pipeline = Pipeline::new(params.clone())?;
                    let pages = pipeline.prepare_all(&sources, &Bar::new(true));
                    let why = explain::explain(&pages[0], &pages[1], &params.shingle, 5);
                    record["explain"] = serde_json::to_value(&why).expect("explanations serialize");
                    return write(|out| match common.format {
                        OutputFormat::Json => writeln!(out, "{record}"),
                        OutputFormat::Table => {
                            output::write_pair_table(out, &[output::pair_record(&analysis, 0, 1)])?;
                            output::write_explanation(out, &why)
                        }
                    });
                }
                vec![output::pair_record(&analysis, 0, 1)]
            };
            write(|out| match common.format {
                OutputFormat::Json => output::write_jsonl(out, &records),
                OutputFormat::Table => output::write_pair_table(out, &records),
            })
        }
    }
}

/// Score the id pairs listed in a file.
fn listed_pairs(
    file: &std::path::Path,
    analysis: &Analysis,
) -> Result<Vec<output::PairRecord>, Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| samestory::Error::io(file, e))?;
    let index: std::collections::HashMap<&str, u32> = analysis
        .docs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.id.as_str(), i as u32))
        .collect();
    let mut records = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |msg: String| Failure {
            message: format!("{}:{}: {msg}", file.display(), n + 1),
            code: 2,
        };
        let (a, b) = line
            .split_once('\t')
            .ok_or_else(|| fail("expected two tab-separated ids".into()))?;
        let id = |x: &str| {
            index
                .get(x.trim())
                .copied()
                .ok_or_else(|| fail(format!("no document with id {:?} in the inputs", x.trim())))
        };
        records.push(output::pair_record(analysis, id(a)?, id(b)?));
    }
    Ok(records)
}

/// Parse `FROM:TO:STEP` into the thresholds it covers.
fn parse_sweep(spec: &str) -> Result<Vec<f64>, Failure> {
    let bad = || Failure {
        message: format!(
            "--sweep wants FROM:TO:STEP with 0 ≤ FROM ≤ TO ≤ 1 and STEP > 0, got {spec:?}"
        ),
        code: 2,
    };
    let parts: Vec<f64> = spec
        .split(':')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let [from, to, step] = parts[..] else {
        return Err(bad());
    };
    if !(0.0..=1.0).contains(&from) || !(from..=1.0).contains(&to) || step <= 0.0 {
        return Err(bad());
    }
    let count = ((to - from) / step + 1e-9).floor() as usize;
    Ok((0..=count)
        .map(|i| output::round(from + i as f64 * step))
        .collect())
}

/// Apply the shared flags to a preset.
fn params(common: &Common, mut params: Params) -> Result<Params, Failure> {
    params.read.format = common.input_format.map(|f| match f {
        InputFormatArg::Text => InputFormat::Text,
        InputFormatArg::Html => InputFormat::Html,
        InputFormatArg::Jsonl => InputFormat::Jsonl,
    });
    if let Some(field) = &common.id_field {
        params.read.id_field = field.clone();
    }
    params.read.text_field = common.text_field.clone();
    params.read.title_field = common.title_field.clone();
    params.read.max_document_bytes = common.max_document_bytes;
    params.read.max_record_bytes = common.max_record_bytes;
    params.shingle.kind = match common.shingle {
        ShingleArg::Words => ShingleKind::Words,
        ShingleArg::Spotsigs => ShingleKind::SpotSigs,
    };
    params.shingle.ngram = common.ngram;
    params.minhash.permutations = common.permutations;
    params.shingle.seed = common.seed;
    params.minhash.seed = common.seed.wrapping_add(1);
    if let Some(t) = common.threshold {
        params.threshold = t;
    }
    if let Some(m) = common.measure {
        params.measure = match m {
            MeasureArg::Jaccard => Measure::Jaccard,
            MeasureArg::Containment => Measure::Containment,
        };
    }
    if let (Some(bands), Some(rows)) = (common.bands, common.rows) {
        params.lsh = Some(LshParams { bands, rows });
    }
    params.merge_density = common.merge_density;
    if let Some(n) = common.min_shared {
        params.min_shared = n;
    }
    if let Some(v) = common.verify {
        params.verify = match v {
            VerifyArg::Memory => Verify::InMemory,
            VerifyArg::Reread => Verify::Reread,
        };
    }
    params.clean.enabled = !common.no_clean;
    params.clean.repeated_min_clusters = common.repeated_min_clusters;
    params.clean.language = common.language.clone();
    params.validate()?;
    params.read.validate()?;
    Ok(params)
}

/// Size the thread pool and resolve the inputs (walking directories, spooling stdin).
fn open(common: &Common, params: &Params) -> Result<Sources, Failure> {
    if let Some(threads) = common.threads {
        // Only the first call in a process can size the global pool; this is the only one.
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build_global()
            .map_err(|e| Failure {
                message: format!("cannot start {threads} threads: {e}"),
                code: 2,
            })?;
    }
    let inputs: Vec<Input> = common.inputs.iter().map(|s| Input::parse(s)).collect();
    Ok(Sources::open(&inputs, &params.read)?)
}

/// Analyse the inputs, with progress, the optional explanation and the summary; check that
/// the JSON fields named exist, and report (or with --strict refuse) skipped records.
fn analyse(common: &Common, params: Params, sources: &Sources) -> Result<Analysis, Failure> {
    let started = Instant::now();
    if common.explain {
        explain(&params);
    }
    let read = params.read.clone();
    let pipeline = Pipeline::new(params)?;
    let progress = Bar::new(common.quiet);
    let analysis = pipeline.run(sources, &progress);
    progress.finish();
    check_fields(common, &read, &analysis, sources)?;
    let problems: Vec<String> = analysis
        .docs
        .iter()
        .filter_map(|d| match &d.skipped {
            Some(SkipReason::Unreadable(msg) | SkipReason::TooLarge(msg)) => Some(msg.clone()),
            Some(r @ SkipReason::RepeatedId(_)) => Some(format!("{}: {}", d.origin, r.message())),
            _ => None,
        })
        .collect();
    for msg in problems.iter().take(MAX_RECORD_MESSAGES) {
        eprintln!("samestory: {msg}");
    }
    if problems.len() > MAX_RECORD_MESSAGES {
        eprintln!(
            "samestory: ... and {} more skipped records (each output line says why)",
            problems.len() - MAX_RECORD_MESSAGES
        );
    }
    if common.strict && !problems.is_empty() {
        return Err(Failure {
            message: format!(
                "{} unreadable, too large or repeated-id record(s) and --strict is set",
                problems.len()
            ),
            code: 2,
        });
    }
    if !common.quiet {
        summary(&analysis, started.elapsed().as_secs_f64());
    }
    Ok(analysis)
}

/// A JSON field the user relies on that no record has is a mistake in the flags: say so
/// once, with the fields the first record does have, instead of skipping every record.
fn check_fields(
    common: &Common,
    read: &samestory::read::ReadParams,
    analysis: &Analysis,
    sources: &Sources,
) -> Result<(), Failure> {
    let f = analysis.stats.fields;
    if f.records == 0 {
        return Ok(());
    }
    let missing = if f.text == 0 {
        Some(("text", read.text_field.as_str()))
    } else if common.id_field.is_some() && f.id == 0 {
        Some(("id", read.id_field.as_str()))
    } else if f.title == 0 {
        common.title_field.as_deref().map(|t| ("title", t))
    } else {
        None
    };
    let Some((what, field)) = missing else {
        return Ok(());
    };
    let seen = match sources.first_record_fields() {
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
    Err(Failure {
        message: format!(
            "none of the {} JSON Lines records has the {what} field {field:?}{seen}; name \
             the right one with --{what}-field",
            f.records
        ),
        code: 2,
    })
}

/// Labels that match no document make every score meaningless: refuse. Labels that match
/// only some documents are worth a warning.
fn check_labels(
    labels: &Labels,
    analysis: &Analysis,
    report: &eval::Report,
    path: &std::path::Path,
) -> Result<(), Failure> {
    if report.labelled == 0 {
        let example = |id: Option<&str>| id.map(|i| format!("{i:?}")).unwrap_or_default();
        return Err(Failure {
            message: format!(
                "{}: none of its {} labels matches a document id (labels look like {}, \
                 documents like {}); ids match exactly or as a path suffix",
                path.display(),
                labels.len(),
                example(labels.ids().next()),
                example(analysis.docs.first().map(|d| d.id.as_str())),
            ),
            code: 2,
        });
    }
    if report.labelled < report.documents {
        eprintln!(
            "samestory: {} of {} documents have no label in {} and are left out of the scores",
            report.documents - report.labelled,
            report.documents,
            path.display()
        );
    }
    Ok(())
}

fn explain(params: &Params) {
    let lsh = params.lsh_params();
    let measure = match params.measure {
        Measure::Jaccard => "jaccard",
        Measure::Containment => "containment",
    };
    eprintln!(
        "samestory: threshold {} ({measure}), {} permutations → {} bands × {} rows{}",
        params.threshold,
        params.minhash.permutations,
        lsh.bands,
        lsh.rows,
        if params.lsh.is_some() {
            " (given)"
        } else {
            " (chosen)"
        }
    );
    let probs: Vec<String> = [0.3, 0.5, 0.7, 0.9]
        .iter()
        .map(|&s| format!("J={s}: {:.3}", lsh.candidate_probability(s)))
        .collect();
    eprintln!(
        "samestory: probability a pair becomes a candidate: {}",
        probs.join(", ")
    );
}

fn summary(a: &Analysis, seconds: f64) {
    let s = &a.stats;
    let skipped: usize = s.skipped.iter().map(|(_, n)| n).sum();
    let reasons: Vec<String> = s.skipped.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let multi = a.clusters.iter().filter(|c| c.len() > 1).count();
    let in_multi: usize = a
        .clusters
        .iter()
        .filter(|c| c.len() > 1)
        .map(|c| c.len())
        .sum();
    eprintln!(
        "samestory: {} documents read, {} signed, {} skipped{}; {} exact copies; {} candidate pairs \
         ({} ruled out by their estimate), {} verified; \
         {} clusters of 2+ holding {} documents; {:.2} s (reading and signing {:.2} s, {:.0} MB/s; \
         grouping {:.2} s: buckets {:.2} s, second read {:.2} s)",
        s.documents,
        s.documents - skipped,
        skipped,
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        },
        s.copies,
        s.candidates,
        s.prefiltered,
        s.verified,
        multi,
        in_multi,
        seconds,
        s.sign_seconds,
        s.bytes as f64 / 1e6 / s.sign_seconds.max(1e-9),
        s.group_seconds,
        s.bucket_seconds,
        s.reread_seconds,
    );
}

fn write(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    f(&mut out).and_then(|()| out.flush())?;
    Ok(())
}

/// Refuse an output file that is one of the inputs: writing it would destroy the input
/// before (or while) it is read.
fn refuse_overwrite(output: &std::path::Path, sources: &Sources) -> Result<(), Failure> {
    let Ok(out_meta) = std::fs::metadata(output) else {
        return Ok(()); // Not there yet: it cannot be an input.
    };
    for input in sources.paths() {
        if same_file(&out_meta, output, input) {
            return Err(Failure {
                message: format!(
                    "--kept {} is the input {}: refusing to overwrite an input",
                    output.display(),
                    input.display()
                ),
                code: 2,
            });
        }
    }
    Ok(())
}

/// Whether `b` is the file `a` (with metadata `a_meta`): the same inode on Unix (hard links
/// and symlinks included), the same canonical path elsewhere.
fn same_file(a_meta: &std::fs::Metadata, a: &std::path::Path, b: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = a;
        std::fs::metadata(b).is_ok_and(|m| m.dev() == a_meta.dev() && m.ino() == a_meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = a_meta;
        match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
    }
}

/// Copy the kept documents out: a second read of the inputs, so nothing is held in memory.
/// Written to a temporary file beside `path` and renamed over it at the end, so a killed
/// run never leaves a half file that looks complete.
fn write_kept(
    path: &std::path::Path,
    sources: &Sources,
    records: &[output::DedupRecord],
) -> Result<(), Failure> {
    use samestory::read::{Content, Record};
    let fail = |e: io::Error| Failure {
        message: format!("{}: {e}", path.display()),
        code: 2,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".samestory-kept-")
        .tempfile_in(dir)
        .map_err(fail)?;
    let mut out = io::BufWriter::new(temp);
    for (record, decision) in sources.records_with_raw().zip(records) {
        if decision.status != output::Status::Kept {
            continue;
        }
        if let Record::Document { document, .. } = record {
            debug_assert_eq!(document.id, decision.id);
            let line = match (&document.content, document.raw) {
                (_, Some(raw)) => raw,
                (Content::Text(text), None) => serde_json::json!({
                    "id": document.id, "title": document.title, "text": text,
                })
                .to_string(),
                (Content::Html(bytes), None) => {
                    let page = samestory::extract::html_page(bytes);
                    let text: Vec<&str> = page.blocks.iter().map(|b| b.text.as_str()).collect();
                    serde_json::json!({
                        "id": document.id, "title": page.title, "text": text.join("\n"),
                    })
                    .to_string()
                }
            };
            writeln!(out, "{line}").map_err(fail)?;
        }
    }
    let temp = out.into_inner().map_err(|e| fail(e.into_error()))?;
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Progress on stderr when it is a terminal.
struct Bar {
    bar: Option<indicatif::ProgressBar>,
}

impl Bar {
    fn new(quiet: bool) -> Bar {
        let show = !quiet && io::stderr().is_terminal();
        Bar {
            bar: show.then(|| {
                let bar = indicatif::ProgressBar::new(0);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{prefix:>9} [{bar:30}] {pos}/{len} {per_sec} {eta}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                );
                bar
            }),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn stage(&self, name: &str, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(name.to_string());
            bar.set_length(total);
            bar.set_position(0);
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }
}
