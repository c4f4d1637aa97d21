//! What a run tells people on stderr: problems with the input, the `--explain` lines, and
//! one summary per command in that command's terms.

use std::path::Path;
use std::time::Instant;

use samestory::document::SkipReason;
use samestory::eval::{self, Labels};
use samestory::params::Params;
use samestory::pipeline::{Analysis, Pipeline};
use samestory::read::{ReadParams, Sources};
use samestory::verify::Measure;

use crate::Failure;
use crate::args::{InputArgs, RunArgs};
use crate::progress::{Bar, thousands};

/// Per-record problems printed on stderr before the rest are only counted (every one is
/// still in the output with its reason).
const MAX_RECORD_MESSAGES: usize = 20;

/// `n` and the noun, singular or plural, with thousands separators.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!(
        "{} {}",
        thousands(n as u64),
        if n == 1 { singular } else { plural }
    )
}

/// Size the thread pool and resolve the inputs (walking directories, spooling stdin). No
/// input file at all is an error that says where samestory looked.
pub fn open(input: &InputArgs, read: &ReadParams) -> Result<Sources, Failure> {
    size_pool(input.threads)?;
    let sources = Sources::open(&input.inputs(), read)?;
    if sources.is_empty() {
        let dirs: Vec<&str> = input.inputs.iter().map(String::as_str).collect();
        let files = dirs
            .iter()
            .flat_map(|d| walkdir::WalkDir::new(d).into_iter().flatten())
            .filter(|e| e.file_type().is_file())
            .count();
        let message = if files == 0 {
            format!("no input documents: {} holds no files", dirs.join(", "))
        } else {
            format!(
                "no input documents: {} holds {} but none named .txt, .html, .htm, .xhtml, .jsonl, \
                 .ndjson, .warc (optionally .gz) or .parquet; --input-format reads them whatever their names",
                dirs.join(", "),
                count(files, "file", "files")
            )
        };
        return Err(Failure::new(message));
    }
    Ok(sources)
}

/// Which summary a command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Kept, duplicate, skipped counts.
    Dedup,
    /// Clusters and singles.
    Clusters,
    /// Similar pairs listed.
    Pairs,
    /// Two documents scored: no summary (the record is the answer).
    Pair,
}

/// [`open`] and [`analyse`].
pub fn open_and_analyse(
    run: &RunArgs,
    params: Params,
    job: Job,
) -> Result<(Analysis, Sources), Failure> {
    let sources = open(&run.input, &params.read)?;
    Ok((analyse(run, params, &sources, job)?, sources))
}

/// Size the global thread pool to `--threads` (default: one per core). Only the first call
/// in a process can; each command calls it once.
pub fn size_pool(threads: Option<u16>) -> Result<(), Failure> {
    if let Some(threads) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build_global()
            .map_err(|e| Failure::new(format!("cannot start {threads} threads: {e}")))?;
    }
    Ok(())
}

/// Analyse the inputs with progress, the optional explanation and the summary; check that
/// the JSON fields named exist, and report (or with --strict refuse) skipped records.
pub fn analyse(
    run: &RunArgs,
    params: Params,
    sources: &Sources,
    job: Job,
) -> Result<Analysis, Failure> {
    let input = &run.input;
    let started = Instant::now();
    if run.matching.explain {
        explain_banding(&params);
    }
    let pipeline = Pipeline::new(params)?;
    let progress = Bar::new(input.quiet);
    let analysis = pipeline.run(sources, &progress);
    progress.finish();
    check_fields(input, &analysis, sources)?;
    report_problems(&analysis, input.strict)?;
    if !input.quiet {
        summary(&analysis, job, started.elapsed().as_secs_f64());
    }
    Ok(analysis)
}

/// Unreadable, too-large and repeated-id records on stderr (the first few), documents
/// decoded with replacement characters, and --strict's refusal.
fn report_problems(analysis: &Analysis, strict: bool) -> Result<(), Failure> {
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
            thousands((problems.len() - MAX_RECORD_MESSAGES) as u64)
        );
    }
    let lossy: Vec<_> = analysis.docs.iter().filter(|d| d.replaced > 0).collect();
    for d in lossy.iter().take(MAX_RECORD_MESSAGES) {
        eprintln!(
            "samestory: {}: undecodable bytes replaced with U+FFFD ({}); the rest of the \
             document is read",
            d.origin,
            count(d.replaced, "sequence", "sequences")
        );
    }
    if lossy.len() > MAX_RECORD_MESSAGES {
        eprintln!(
            "samestory: ... and {} more documents with replaced bytes",
            thousands((lossy.len() - MAX_RECORD_MESSAGES) as u64)
        );
    }
    if strict && !problems.is_empty() {
        return Err(Failure::new(format!(
            "{} and --strict is set",
            count(
                problems.len(),
                "unreadable, too large or repeated-id record",
                "unreadable, too large or repeated-id records"
            )
        )));
    }
    Ok(())
}

/// A JSON field the user relies on that no record has is a mistake in the flags: say so
/// once, with the fields the first record does have, instead of skipping every record.
fn check_fields(input: &InputArgs, analysis: &Analysis, sources: &Sources) -> Result<(), Failure> {
    let (id, title) = input.named_fields();
    match sources.missing_field(analysis.stats.fields, id, title) {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Labels that match no document make every score meaningless: refuse. Labels that match
/// only some documents are worth a warning.
pub fn check_labels(
    labels: &Labels,
    analysis: &Analysis,
    report: &eval::Report,
    path: &Path,
) -> Result<(), Failure> {
    if report.labelled == 0 {
        let example = |id: Option<&str>| id.map(|i| format!("{i:?}")).unwrap_or_default();
        return Err(Failure::new(format!(
            "{}: none of its {} matches a document id (labels look like {}, documents like \
             {}); ids match exactly or as a path suffix",
            path.display(),
            count(labels.len(), "label", "labels"),
            example(labels.ids().next()),
            example(analysis.docs.first().map(|d| d.id.as_str())),
        )));
    }
    if report.labelled < report.documents {
        eprintln!(
            "samestory: {} of {} have no label in {} and are left out of the scores",
            thousands((report.documents - report.labelled) as u64),
            count(report.documents, "document", "documents"),
            path.display()
        );
    }
    Ok(())
}

/// The banding, and what it means for a pair's chance of being compared at all.
fn explain_banding(params: &Params) {
    let lsh = params.lsh_params();
    let how = if params.lsh.is_some() {
        "given"
    } else {
        "chosen"
    };
    match params.measure {
        Measure::Jaccard => {
            eprintln!(
                "samestory: threshold {} (Jaccard), {} permutations → {} bands × {} rows ({how})",
                params.threshold, params.minhash.permutations, lsh.bands, lsh.rows
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
        Measure::Containment => {
            eprintln!(
                "samestory: threshold {} (containment, at least {} shared shingles), {} \
                 permutations → {} bands × {} rows ({how})",
                params.threshold,
                params.min_shared,
                params.minhash.permutations,
                lsh.bands,
                lsh.rows
            );
            // MinHash estimates Jaccard, not containment: a short page inside a long one has
            // a low Jaccard. So say what the banding guarantees in Jaccard terms.
            let probs: Vec<String> = [0.01, 0.02, 0.05, 0.1]
                .iter()
                .map(|&s| format!("J={s}: {:.3}", lsh.candidate_probability(s)))
                .collect();
            eprintln!(
                "samestory: containment is not estimated by MinHash; a pair is a candidate \
                 when it shares a band, by its Jaccard: {}; every candidate's containment is \
                 then computed exactly",
                probs.join(", ")
            );
        }
        other => eprintln!(
            "samestory: threshold {} ({other:?}), {} permutations → {} bands × {} rows ({how})",
            params.threshold, params.minhash.permutations, lsh.bands, lsh.rows
        ),
    }
}

/// One summary line, in the terms of the command that ran.
fn summary(a: &Analysis, job: Job, seconds: f64) {
    let s = &a.stats;
    let skipped: usize = s.skipped.iter().map(|(_, n)| n).sum();
    let reasons: Vec<String> = s
        .skipped
        .iter()
        .map(|(k, n)| format!("{} {k}", thousands(*n as u64)))
        .collect();
    let skipped = if skipped == 0 {
        "0 skipped".to_string()
    } else {
        format!(
            "{} skipped ({})",
            thousands(skipped as u64),
            reasons.join(", ")
        )
    };
    let documents = count(s.documents, "document", "documents");
    // Cleaning across the corpus groups every page once before the pages are signed for
    // good (to find blocks repeated across stories): that first grouping is in this stage.
    let first_stage = if a.cleaning == samestory::params::Cleaning::Corpus {
        "reading, a first grouping to clean across the corpus, and signing"
    } else {
        "reading and signing"
    };
    let timing = format!(
        "{:.2} s ({first_stage} {:.2} s at {:.0} MB/s, grouping {:.2} s)",
        seconds,
        s.sign_seconds,
        s.bytes as f64 / 1e6 / s.sign_seconds.max(1e-9),
        s.group_seconds,
    );
    let pairs = format!(
        "{}, {} verified",
        count(s.candidates, "candidate pair", "candidate pairs"),
        thousands(s.verified as u64)
    );
    let line = match job {
        Job::Pair => return,
        Job::Dedup => {
            let (mut kept, mut dups) = (0, 0);
            for c in &a.clusters {
                kept += 1;
                dups += c.len() - 1;
            }
            format!(
                "{documents}: {} kept, {} ({} exact), {skipped}; {pairs}; {timing}",
                thousands(kept as u64),
                count(dups, "duplicate", "duplicates"),
                thousands(s.copies as u64),
            )
        }
        Job::Clusters => {
            let multi: Vec<_> = a.clusters.iter().filter(|c| c.len() > 1).collect();
            let held: usize = multi.iter().map(|c| c.len()).sum();
            let single = a.clusters.len() - multi.len();
            format!(
                "{documents}, {skipped}; {} of 2+ holding {}, {} on its own; {pairs}; {timing}",
                count(multi.len(), "cluster", "clusters"),
                count(held, "document", "documents"),
                thousands(single as u64),
            )
        }
        Job::Pairs => format!(
            "{documents}, {skipped}; {} at or above the threshold; {timing}",
            count(a.similar_pairs().len(), "similar pair", "similar pairs"),
        ),
    };
    eprintln!("samestory: {line}");
}

/// Group the copy clusters of an analysis into events, with a summary line on stderr.
pub fn group_events(
    run: &RunArgs,
    analysis: &Analysis,
    params: &samestory::events::EventParams,
) -> samestory::events::Events {
    let started = Instant::now();
    let events = samestory::events::group(analysis, params);
    if !run.input.quiet {
        let multi = events.events.iter().filter(|e| e.members.len() > 1).count();
        eprintln!(
            "samestory: {} of 2+ pages from {} ({}, {} scored ≥ 0.02), {:.2} s",
            count(multi, "event", "events"),
            count(analysis.clusters.len(), "story", "stories"),
            count(
                events.candidates,
                "candidate page pair",
                "candidate page pairs"
            ),
            events.verified,
            started.elapsed().as_secs_f64()
        );
    }
    events
}
