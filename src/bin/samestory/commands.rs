//! One function per subcommand, each a few library calls and a writer.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use samestory::clean::{Stopwords, Verdict};
use samestory::eval::{self, Labels};
use samestory::explain;
use samestory::handoff::{self, Manifest, Output, Shard, ShardWriter, group_tables};
use samestory::index::{Access, Index};
use samestory::output;
use samestory::params::{Keep, Mode, Params, Verify};
use samestory::pipeline::{Analysis, NoProgress, Pipeline};
use samestory::read::Sources;

use crate::Failure;
use crate::args::{
    self, CleanArgs, CleanFormat, InputArgs, KeepArg, LevelArg, LevelArgs, ListFormat, PresetArg,
    ReportFormat, RunArgs, StoryArgs, VerifyArgs,
};
use crate::progress::{Bar, thousands};
use crate::report::{self, Job};

/// `samestory clusters`.
pub fn clusters(
    run: &RunArgs,
    story: &StoryArgs,
    level: &LevelArgs,
    format: ListFormat,
    all: bool,
) -> Result<(), Failure> {
    let mut params = args::params(run, args::story_params(story, Params::clusters()))?;
    if level.level == LevelArg::Events {
        let event_params = level.event_params()?;
        params.events = true;
        let analysis = report::open_and_analyse(run, params, Job::Clusters)?.0;
        let events = report::group_events(run, &analysis, &event_params);
        let records = output::event_records(&analysis, &events, all);
        return write(|out| match format {
            ListFormat::Json => output::write_jsonl(out, &records),
            ListFormat::Table => output::write_event_table(out, &records),
            ListFormat::Csv => output::write_event_csv(out, &records),
        });
    }
    let analysis = report::open_and_analyse(run, params, Job::Clusters)?.0;
    let records = output::cluster_records(&analysis, all);
    write(|out| match format {
        ListFormat::Json => output::write_jsonl(out, &records),
        ListFormat::Table => output::write_cluster_table(out, &records),
        ListFormat::Csv => output::write_cluster_csv(out, &records),
    })
}

/// `samestory dedup`.
pub fn dedup(
    run: &RunArgs,
    verify: &VerifyArgs,
    format: ListFormat,
    keep: KeepArg,
    kept: Option<&Path>,
) -> Result<(), Failure> {
    let mut params = args::params(run, args::verify_params(verify, Params::dedup()))?;
    params.mode = Mode::Dedup(keep_rule(keep));
    let sources = report::open(&run.input, &params.read)?;
    if let Some(path) = kept {
        refuse_overwrite(path, &sources)?;
    }
    let mut analysis = report::analyse(run, params, &sources, Job::Dedup)?;
    // Output needs decisions and ids only: the sets' memory goes before records are made.
    analysis.release_sets();
    let decisions = output::Decisions::new(&analysis);
    if let Some(path) = kept {
        write_kept(path, &sources, &analysis, &decisions)?;
    }
    let records = || (0..analysis.docs.len() as u32).map(|d| decisions.record(&analysis, d));
    write(|out| match format {
        // One record at a time: a million records held at once would be the run's peak.
        ListFormat::Json => records().try_for_each(|r| output::write_jsonl(out, &[r])),
        ListFormat::Table => output::write_dedup_table(out, &records().collect::<Vec<_>>()),
        ListFormat::Csv => output::write_dedup_csv(out, &records().collect::<Vec<_>>()),
    })
}

/// `samestory eval`.
pub fn eval(
    run: &RunArgs,
    story: &StoryArgs,
    level: &LevelArgs,
    format: ReportFormat,
    labels_path: &Path,
    sweep: Option<&str>,
    worst: usize,
) -> Result<(), Failure> {
    let labels = Labels::from_tsv(labels_path)?;
    let mut params = args::params(run, args::story_params(story, Params::clusters()))?;
    let events = match level.level {
        LevelArg::Events => Some(level.event_params()?),
        LevelArg::Copies => None,
    };
    params.events = events.is_some();
    // A sweep re-groups at other thresholds, whose candidates need every set.
    params.verify = Verify::InMemory;
    let thresholds = match sweep {
        Some(spec) => parse_sweep(spec)?,
        None => vec![events.as_ref().map_or(params.threshold, |e| e.threshold)],
    };
    let analysis = report::open_and_analyse(run, params.clone(), Job::Clusters)?.0;
    let mut reports = Vec::new();
    for &t in &thresholds {
        // A sweep moves the threshold of the level scored: copies are re-grouped from the
        // signed documents, events from the copy clusters.
        let report = match &events {
            Some(base) => {
                let mut p = base.clone();
                p.threshold = t;
                let events = if sweep.is_some() {
                    samestory::events::group(&analysis, &p)
                } else {
                    report::group_events(run, &analysis, &p)
                };
                eval::evaluate_events(&analysis, &events, &labels, t, worst)
            }
            None if sweep.is_some() => {
                let mut p = params.clone();
                p.threshold = t;
                let a = Pipeline::new(p)?.group(analysis.docs.clone(), &NoProgress);
                eval::evaluate(&a, &labels, t, worst)
            }
            None => eval::evaluate(&analysis, &labels, t, worst),
        };
        reports.push(report);
    }
    report::check_labels(&labels, &analysis, &reports[0], labels_path)?;
    write(|out| match format {
        ReportFormat::Json => output::write_jsonl(out, &reports),
        ReportFormat::Table if sweep.is_some() => output::write_sweep_table(out, &reports),
        ReportFormat::Table => output::write_eval_report(out, &reports[0]),
    })
}

/// `samestory clean`.
pub fn clean(
    input: &InputArgs,
    clean: &CleanArgs,
    format: CleanFormat,
    show_dropped: bool,
) -> Result<(), Failure> {
    let preset = args::story_params(&StoryArgs::default_values(), Params::clusters());
    let params = args::read_params(input, clean, preset);
    params.read.validate()?;
    let sources = report::open(input, &params.read)?;
    let pipeline = Pipeline::new(params)?;
    let progress = Bar::new(input.quiet);
    let pages = pipeline.prepare_all(&sources, &progress);
    progress.finish();
    write(|out| {
        for p in &pages {
            if format == CleanFormat::Json {
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

/// `samestory similarity`.
pub fn similarity(
    run: &RunArgs,
    story: &StoryArgs,
    format: ListFormat,
    pairs: bool,
    pairs_file: Option<&Path>,
    preset: PresetArg,
) -> Result<(), Failure> {
    let base = match preset {
        PresetArg::Dedup => Params::dedup(),
        PresetArg::Clusters => args::story_params(story, Params::clusters()),
    };
    let mut params = args::params(run, base)?;
    // Listed pairs and a pair of files are scored whether or not LSH proposes them: every
    // document keeps its shingle set. --pairs needs only the sets of candidate pairs (and
    // exact copies share their leader's), so memory holds signatures, not text.
    params.verify = if pairs {
        Verify::Reread
    } else {
        Verify::InMemory
    };
    params.copy_sets = pairs;
    // Scored pairs carry the event score too (listing every similar pair does not: those
    // are copies by construction).
    params.events = !pairs;
    if pairs_file.is_none() && !pairs && run.input.inputs.len() != 2 {
        return Err(Failure::new(
            "similarity takes two files (or --pairs INPUT..., or --pairs-file FILE INPUT...)",
        ));
    }
    let job = if pairs || pairs_file.is_some() {
        Job::Pairs
    } else {
        Job::Pair
    };
    let (analysis, sources) = report::open_and_analyse(run, params.clone(), job)?;
    let scorer = samestory::events::Scorer::new(&analysis);
    let with_event = |mut r: output::PairRecord, a: u32, b: u32| {
        if params.events {
            r.event = Some(output::round(scorer.score(a, b)));
        }
        r
    };
    let records: Vec<output::PairRecord> = if let Some(file) = pairs_file {
        listed_pairs(file, &analysis)?
            .into_iter()
            .map(|(r, a, b)| with_event(r, a, b))
            .collect()
    } else if pairs {
        analysis
            .similar_pairs()
            .into_iter()
            .map(|(a, b, _)| output::pair_record(&analysis, a, b))
            .collect()
    } else {
        if analysis.docs.len() != 2 {
            return Err(Failure::new(format!(
                "similarity needs two documents, the inputs hold {}",
                analysis.docs.len()
            )));
        }
        if let Some((d, r)) = analysis
            .docs
            .iter()
            .find_map(|d| d.skipped.as_ref().map(|r| (d, r)))
        {
            return Err(Failure::new(format!("{}: {}", d.id, r.message())));
        }
        let record = with_event(output::pair_record(&analysis, 0, 1), 0, 1);
        if run.matching.explain {
            let pipeline = Pipeline::new(params.clone())?;
            let pages = pipeline.prepare_all(&sources, &NoProgress);
            let why = explain::explain(&pages[0], &pages[1], &params.shingle, 5);
            let link = scorer.link(0, 1);
            return write(|out| match format {
                ListFormat::Json => {
                    let mut json = serde_json::to_value(&record).expect("pair records serialize");
                    json["explain"] = serde_json::to_value(&why).expect("explanations serialize");
                    json["explain"]["event"] =
                        serde_json::to_value(&link).expect("event links serialize");
                    writeln!(out, "{json}")
                }
                ListFormat::Table => {
                    output::write_pair_table(out, std::slice::from_ref(&record))?;
                    output::write_explanation(out, &why)?;
                    output::write_event_link(out, &link)
                }
                ListFormat::Csv => output::write_pair_csv(out, std::slice::from_ref(&record)),
            });
        }
        vec![record]
    };
    write(|out| match format {
        ListFormat::Json => output::write_jsonl(out, &records),
        ListFormat::Table => output::write_pair_table(out, &records),
        ListFormat::Csv => output::write_pair_csv(out, &records),
    })
}

/// `samestory index add`.
pub fn index_add(dir: &Path, run: &RunArgs) -> Result<(), Failure> {
    crate::keep_freed_memory();
    let params = args::params(run, Params::dedup())?;
    let sources = report::open(&run.input, &params.read)?;
    let mut index = Index::open(dir, params, Access::Write)?;
    let (id, title) = run.input.named_fields();
    index.named_fields(id, title);
    let progress = Bar::new(run.input.quiet);
    let records = index.add_batch(&sources, &progress)?;
    progress.finish();
    if !run.input.quiet {
        let count = |s: &str| thousands(records.iter().filter(|r| r.status == s).count() as u64);
        eprintln!(
            "samestory: {}: {}: {} kept, {} duplicates, {} skipped",
            dir.display(),
            report::count(records.len(), "document", "documents"),
            count("kept"),
            count("duplicate"),
            count("skipped"),
        );
    }
    write(|out| output::write_jsonl(out, &records))
}

/// `samestory index query`.
pub fn index_query(dir: &Path, run: &RunArgs, top: usize) -> Result<(), Failure> {
    let params = args::params(run, Params::dedup())?;
    let sources = report::open(&run.input, &params.read)?;
    let mut index = Index::open(dir, params, Access::Read)?;
    let (id, title) = run.input.named_fields();
    index.named_fields(id, title);
    let progress = Bar::new(run.input.quiet);
    let records = index.query(&sources, top, &progress)?;
    progress.finish();
    write(|out| output::write_jsonl(out, &records))
}

/// `samestory index stories`.
pub fn index_stories(dir: &Path, all: bool) -> Result<(), Failure> {
    let index = Index::inspect(dir)?;
    let records = index.stories(all)?;
    write(|out| output::write_jsonl(out, &records))
}

/// `samestory index stats`.
pub fn index_stats(dir: &Path) -> Result<(), Failure> {
    let index = Index::inspect(dir)?;
    let stats = index.stats()?;
    write(|out| {
        serde_json::to_writer_pretty(&mut *out, &stats)?;
        out.write_all(b"\n")
    })
}

/// `samestory sign`.
pub fn sign(run: &RunArgs, out: &Path, shard: &str, preset: PresetArg) -> Result<(), Failure> {
    let shard = Shard::parse(shard)?;
    let preset = match preset {
        PresetArg::Dedup => Params::dedup(),
        PresetArg::Clusters => Params::clusters(),
    };
    let mut params = args::params(run, preset)?;
    // A shard cannot see the corpus; group verifies from the sets in the table.
    params.clean.repeated_min_clusters = 0;
    params.verify = Verify::InMemory;
    let sources = report::open(&run.input, &params.read)?;
    refuse_output_dir(out, &run.input.inputs)?;
    let sources = sources.shard(shard.index, shard.count);
    // The writer stores shingle values as they come; `group` sorts those it verifies.
    let pipeline = Pipeline::new(params.clone())?.keeping_values();
    let mut writer = ShardWriter::create(out, shard, &params)?;
    let progress = Bar::new(run.input.quiet);
    let mut failed = None;
    let (mut documents, mut skipped) = (0usize, 0usize);
    let tally = samestory::read::FieldTally::default();
    let bytes = pipeline.sign_each(&sources, &progress, &tally, &mut |docs| {
        documents += docs.len();
        skipped += docs.iter().filter(|d| d.skipped.is_some()).count();
        if failed.is_none() {
            failed = writer.write(&docs).err();
        }
    });
    progress.finish();
    // As in `dedup`: a field the flags name that no record of this shard has is a mistake,
    // refused before the manifest is written (no manifest: `group` reports the shard).
    let (id, title) = run.input.named_fields();
    if let Some(e) = failed.or_else(|| sources.missing_field(tally.counts(), id, title)) {
        writer.abandon();
        return Err(e.into());
    }
    let inputs = sources.paths().map(|p| p.display().to_string()).collect();
    let manifest = writer.finish(bytes, inputs)?;
    if !run.input.quiet {
        eprintln!(
            "samestory: sign: shard {} of {}: {} ({} skipped), {} band keys, into {}",
            shard.index,
            shard.count,
            report::count(documents, "document", "documents"),
            thousands(skipped as u64),
            thousands(manifest.band_rows),
            out.display()
        );
    }
    write(|out| {
        serde_json::to_writer(&mut *out, &manifest)?;
        out.write_all(b"\n")
    })
}

/// Refuse an output directory that is an input or inside an input directory: a later run
/// over the same inputs would read the output.
fn refuse_output_dir(out: &Path, inputs: &[String]) -> Result<(), Failure> {
    let absolute = |p: &Path| {
        std::fs::canonicalize(p).ok().or_else(|| {
            let parent = p.parent().filter(|p| !p.as_os_str().is_empty());
            let base = std::fs::canonicalize(parent.unwrap_or(Path::new("."))).ok()?;
            Some(base.join(p.file_name()?))
        })
    };
    let Some(out_abs) = absolute(out) else {
        return Ok(());
    };
    for input in inputs.iter().filter(|i| *i != "-") {
        if let Ok(input_abs) = std::fs::canonicalize(input)
            && (out_abs.starts_with(&input_abs) || input_abs.starts_with(&out_abs))
        {
            return Err(Failure::new(format!(
                "--out {} overlaps the input {input}: write the tables outside the inputs",
                out.display()
            )));
        }
    }
    Ok(())
}

/// `samestory group`.
pub fn group(
    tables: &[PathBuf],
    manifest: &Path,
    keep: KeepArg,
    all: bool,
    partial: bool,
    threads: Option<u16>,
    quiet: bool,
) -> Result<(), Failure> {
    report::size_pool(threads)?;
    let manifest = Manifest::load(manifest)?;
    let mut params = manifest.params()?;
    let dedup = matches!(params.mode, Mode::Dedup(_));
    if dedup {
        params.mode = Mode::Dedup(keep_rule(keep));
    }
    let pipeline = Pipeline::new(params)?;
    let mut files = Vec::new();
    for t in tables {
        if t.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(t)
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_file())
                .map(|e| e.into_path())
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "parquet")
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(['.', '_']))
                })
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(Failure::new(format!(
                    "{}: no .parquet files in this directory",
                    t.display()
                )));
            }
            files.extend(found);
        } else {
            files.push(t.clone());
        }
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut merged = Output::default();
    let (mut kept, mut duplicates, mut skipped, mut clusters) = (0usize, 0usize, 0usize, 0usize);
    let stats = group_tables(&pipeline, &files, &mut |grouped| {
        for (_, r) in &grouped.dedup {
            match r.status {
                output::Status::Kept => kept += 1,
                output::Status::Duplicate => duplicates += 1,
                // Skipped, and whatever a later library version adds: not kept, not dropped.
                _ => skipped += 1,
            }
        }
        clusters += grouped
            .clusters
            .iter()
            .filter(|c| c.skipped.is_none() && c.size > 1)
            .count();
        if !partial {
            merged.add(grouped);
            return Ok(());
        }
        let io = |e: io::Error| samestory::Error::from(e);
        for (doc_id, record) in &grouped.dedup {
            let line = serde_json::json!({
                "doc_id": doc_id,
                "record": serde_json::to_string(record).expect("a record serializes"),
            });
            writeln!(out, "{line}").map_err(io)?;
        }
        for c in grouped
            .clusters
            .iter()
            .filter(|c| all || (c.skipped.is_none() && c.size > 1))
        {
            let line = serde_json::json!({
                "size": c.size,
                "representative": c.representative,
                "skipped": c.skipped,
                "tail": handoff::cluster_tail(&c.record),
            });
            writeln!(out, "{line}").map_err(io)?;
        }
        Ok(())
    })?;
    if !partial {
        if dedup {
            output::write_jsonl(&mut out, &merged.dedup_records())?;
        } else {
            output::write_jsonl(&mut out, &merged.cluster_records(all))?;
        }
    }
    out.flush()?;
    if !quiet {
        let what = if dedup {
            format!(
                "{} kept, {} duplicates, {} skipped",
                thousands(kept as u64),
                thousands(duplicates as u64),
                thousands(skipped as u64)
            )
        } else {
            report::count(clusters, "cluster", "clusters")
        };
        eprintln!(
            "samestory: group: {} in {} (largest {}): {what}",
            report::count(stats.documents as usize, "document", "documents"),
            report::count(stats.components as usize, "component", "components"),
            thousands(stats.largest),
        );
    }
    Ok(())
}

fn keep_rule(keep: KeepArg) -> Keep {
    match keep {
        KeepArg::Central => Keep::Central,
        KeepArg::Longest => Keep::Longest,
        KeepArg::First => Keep::First,
    }
}

/// `samestory completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> Result<(), Failure> {
    let mut command = <crate::Cli as clap::CommandFactory>::command();
    write(|out| {
        clap_complete::generate(shell, &mut command, "samestory", out);
        Ok(())
    })
}

/// `samestory man`.
pub fn man() -> Result<(), Failure> {
    let command = <crate::Cli as clap::CommandFactory>::command();
    write(|out| {
        clap_mangen::Man::new(command.clone()).render(out)?;
        // Each subcommand's page follows the main one, as `git help` lists them.
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("samestory-{}", sub.get_name());
            clap_mangen::Man::new(sub.clone()).title(name).render(out)?;
        }
        Ok(())
    })
}

/// Score the id pairs listed in a file (each record with the pair's documents).
fn listed_pairs(
    file: &Path,
    analysis: &Analysis,
) -> Result<Vec<(output::PairRecord, u32, u32)>, Failure> {
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
        let fail = |msg: String| Failure::new(format!("{}:{}: {msg}", file.display(), n + 1));
        let (a, b) = line
            .split_once('\t')
            .ok_or_else(|| fail("expected two tab-separated ids".into()))?;
        let id = |x: &str| {
            index
                .get(x.trim())
                .copied()
                .ok_or_else(|| fail(format!("no document with id {:?} in the inputs", x.trim())))
        };
        let (a, b) = (id(a)?, id(b)?);
        records.push((output::pair_record(analysis, a, b), a, b));
    }
    Ok(records)
}

/// Parse `FROM:TO:STEP` into the thresholds it covers.
fn parse_sweep(spec: &str) -> Result<Vec<f64>, Failure> {
    let bad = || {
        Failure::new(format!(
            "--sweep wants FROM:TO:STEP with 0 ≤ FROM ≤ TO ≤ 1 and STEP > 0, got {spec:?}"
        ))
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

fn write(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    f(&mut out).and_then(|()| out.flush())?;
    Ok(())
}

/// Refuse an output file that is one of the inputs: writing it would destroy the input
/// before (or while) it is read.
fn refuse_overwrite(output: &Path, sources: &Sources) -> Result<(), Failure> {
    let Ok(out_meta) = std::fs::metadata(output) else {
        return Ok(()); // Not there yet: it cannot be an input.
    };
    for input in sources.paths() {
        if same_file(&out_meta, output, input) {
            return Err(Failure::new(format!(
                "--kept {} is the input {}: refusing to overwrite an input",
                output.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// Whether `b` is the file `a` (with metadata `a_meta`): the same inode on Unix (hard links
/// and symlinks included), the same canonical path elsewhere.
fn same_file(a_meta: &std::fs::Metadata, a: &Path, b: &Path) -> bool {
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
    path: &Path,
    sources: &Sources,
    analysis: &samestory::pipeline::Analysis,
    decisions: &output::Decisions,
) -> Result<(), Failure> {
    use samestory::read::{Content, Record};
    let fail = |e: io::Error| Failure::new(format!("{}: {e}", path.display()));
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".samestory-kept-")
        .tempfile_in(dir)
        .map_err(fail)?;
    let mut out = io::BufWriter::new(temp);
    for (d, record) in sources.records_with_raw().enumerate() {
        if decisions.status(d as u32) != output::Status::Kept {
            continue;
        }
        if let Record::Document { document, .. } = record {
            debug_assert_eq!(document.id, analysis.docs[d].id);
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
