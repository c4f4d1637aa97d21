//! The `samestory` command: parses flags, sizes the thread pool, shows progress, writes
//! output and maps errors to exit codes. All the work is in the library.
//!
//! - `args.rs`: flag groups, each taken only by the subcommands that use it;
//! - `commands.rs`: one function per subcommand;
//! - `report.rs`: problems, `--explain` and the summary on stderr;
//! - `progress.rs`: one progress bar per stage on a terminal.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod args;
mod commands;
mod progress;
mod report;

use args::{
    CleanArgs, CleanFormat, InputArgs, KeepArg, LevelArgs, ListFormat, PresetArg, ReportFormat,
    RunArgs, StoryArgs, VerifyArgs,
};

// Per-document buffers are allocated and freed by every worker thread; mimalloc's thread-local
// heaps cut the allocator's share of a 100k-document run (measured in docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Find near-duplicate news stories.
///
/// Pages are cleaned of site chrome, shingled, MinHash-signed in parallel and bucketed with
/// LSH; every candidate pair is verified exactly, and clusters never chain through a
/// bridging page. Output is JSON Lines on stdout (or a table, or CSV, with --format);
/// progress and a summary go to stderr.
#[derive(Parser, Debug)]
#[command(name = "samestory", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List story clusters: which pages report the same story.
    ///
    /// One JSON line per cluster of 2+ documents (--all adds every other document, each
    /// with its status), largest first. Defaults: word 5-grams, containment ≥ 0.08, clusters
    /// merged when most of their cross pairs are similar.
    Clusters {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        story: StoryArgs,
        #[command(flatten)]
        level: LevelArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Json)]
        format: ListFormat,
        /// Also list every document in no cluster: signed ones as clusters of one
        /// (status single), skipped ones with their reason (status skipped).
        #[arg(long)]
        all: bool,
    },
    /// Deduplicate a crawl: one line per input document, kept, duplicate or skipped.
    ///
    /// Defaults: word 5-grams, Jaccard ≥ 0.5, keep the copy the most others duplicate.
    Dedup {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        verify: VerifyArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Json)]
        format: ListFormat,
        /// Which copy of a duplicate group to keep: central, the copy verified similar to
        /// the most others (ties: longest, then smallest id), which lets the most copies
        /// find it; longest, the longest cleaned text (ties: smallest id); or first, the
        /// first in input order. A page is only ever dropped as a duplicate of a kept page
        /// it was verified against.
        #[arg(long, value_enum, default_value_t = KeepArg::Central)]
        keep: KeepArg,
        /// Also write the kept documents (JSON Lines input: the original lines; other
        /// inputs: {"id", "title", "text"}) to FILE, which must not be an input.
        #[arg(long, value_name = "FILE")]
        kept: Option<PathBuf>,
    },
    /// Score story clusters against gold labels: pairwise precision, recall, F1 and ARI.
    ///
    /// Runs the same pipeline as `clusters` (same flags and defaults), then compares its
    /// clusters with the labels and lists the worst wrong merges and splits.
    Eval {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        story: StoryArgs,
        #[command(flatten)]
        level: LevelArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Json)]
        format: ReportFormat,
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
        input: InputArgs,
        #[command(flatten)]
        clean: CleanArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = CleanFormat::Text)]
        format: CleanFormat,
        /// Also print dropped blocks, prefixed with `- [reason]`; kept blocks get `+ `.
        #[arg(long)]
        show_dropped: bool,
    },
    /// Score how similar two documents are, or list every similar pair of a set.
    ///
    /// Defaults: word 5-grams, cleaned as `dedup` cleans; with --pairs, pairs with
    /// Jaccard ≥ 0.5.
    Similarity {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        story: StoryArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Json)]
        format: ListFormat,
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
    /// A persistent crawl index: add batches, query, list stories with stable ids.
    ///
    /// Adding decides as `dedup --keep first` over every batch so far; a story keeps its
    /// id forever. The index is a directory holding one SQLite file; a batch is atomic.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Sign inputs for a distributed run: Parquet tables for a Spark or DuckDB job.
    ///
    /// Writes DIR/documents (one row per input record: id, place, status, signature, shingle
    /// set), DIR/bands (band keys) and DIR/manifests (settings and counts), one file each per
    /// shard. Shards cut the input files into N contiguous runs of about equal bytes; run
    /// `sign --shard I/N` for every I (on N machines, into one DIR), then join the band keys
    /// into components and run `samestory group` (scripts/spark/ does both).
    Sign {
        #[command(flatten)]
        run: RunArgs,
        /// The output directory (created if needed; must not be inside an input directory).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Sign shard I of N (0-based). Every shard must be given the same inputs.
        #[arg(long, value_name = "I/N", default_value = "0/1")]
        shard: String,
        /// Sign for `dedup` (Jaccard ≥ 0.5) or for `clusters` (containment ≥ 0.08, one band
        /// per signature value; blocks repeated across the corpus are not removed, as a
        /// shard cannot see the corpus: compare with `clusters --repeated-min-clusters 0`).
        #[arg(long, value_enum, default_value_t = PresetArg::Dedup)]
        preset: PresetArg,
    },
    /// Group signed documents component by component, exactly as `dedup` or `clusters` would.
    ///
    /// Reads `documents` tables written by `sign`, with a `component` column added by the
    /// job (without it, all rows are one component); rows must come in component order, then
    /// doc_id order. Prints what `dedup` (or `clusters`, as signed) prints for the whole
    /// input; --partial prints keyed records for a job to sort and number instead.
    Group {
        /// Parquet files, or directories of them, read in order.
        #[arg(value_name = "TABLE", required = true)]
        tables: Vec<PathBuf>,
        /// The `sign` output directory (every shard's manifest is checked) or one manifest
        /// file: the settings to group with.
        #[arg(long, value_name = "PATH")]
        manifest: PathBuf,
        /// For a run signed for dedup: which copy to keep (as `dedup --keep`).
        #[arg(long, value_enum, default_value_t = KeepArg::Central)]
        keep: KeepArg,
        /// For a run signed for clusters: also list singletons and skipped documents (as
        /// `clusters --all`).
        #[arg(long)]
        all: bool,
        /// Print one JSON object per record with its sort keys (`doc_id` for dedup; `size`,
        /// `representative`, `skipped` for clusters) and the record's text (`record`, or for
        /// clusters `tail`: the line after `{"cluster":N,`), for a job that merges
        /// components.
        #[arg(long)]
        partial: bool,
        /// Worker threads (default: one per core).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=args::MAX_THREADS as i64))]
        threads: Option<u16>,
        /// No summary on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print a shell completion script (e.g. `samestory completions bash >
    /// /etc/bash_completion.d/samestory`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), with one section per subcommand
    /// (`samestory man > samestory.1; man ./samestory.1`).
    Man,
}

#[derive(Subcommand, Debug)]
enum IndexCommand {
    /// Add the inputs as one batch (creating INDEX on first use): one JSON line per input
    /// document, in input order, as `dedup` prints, plus its `story`.
    ///
    /// A document whose id is already in the index is skipped (repeated-id), never added
    /// twice. Flags that change signatures must match the index's (it says which differs).
    Add {
        /// The index directory.
        #[arg(value_name = "INDEX")]
        index: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// For each input document, its best matches in the index at or above the threshold
    /// (read only; runs beside an `add`).
    Query {
        /// The index directory.
        #[arg(value_name = "INDEX")]
        index: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Matches per document, at most.
        #[arg(long, default_value_t = 5)]
        top: usize,
    },
    /// Stories of 2+ documents as JSON Lines, like `clusters`, by stable story id.
    Stories {
        /// The index directory.
        #[arg(value_name = "INDEX")]
        index: PathBuf,
        /// Also list stories of one document.
        #[arg(long)]
        all: bool,
    },
    /// Documents, stories, batches, size on disk, parameters and format version (JSON).
    Stats {
        /// The index directory.
        #[arg(value_name = "INDEX")]
        index: PathBuf,
    },
}

/// An error for the user, with the exit code it maps to.
pub struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    /// A usage or input error: exit 2.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 2,
        }
    }
}

impl From<samestory::Error> for Failure {
    fn from(e: samestory::Error) -> Failure {
        Failure::new(e.to_string())
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure {
            message: e.to_string(),
            // A closed pipe (`samestory dedup crawl/ | head`) is not an error.
            code: if e.kind() == io::ErrorKind::BrokenPipe {
                0
            } else {
                2
            },
        }
    }
}

fn main() -> ExitCode {
    no_huge_pages();
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(()) => 0,
        Err(f) => {
            if f.code != 0 {
                eprintln!("samestory: {}", f.message);
            }
            f.code
        }
    };
    exit_without_teardown(code);
    ExitCode::from(code)
}

/// End the process without running the C runtime's exit handlers, once everything `run`
/// opened is closed (every file, the index's connections, their threads joined) and standard
/// output is flushed. The handler skipped is mimalloc's: at exit it hands all its memory back
/// to the kernel page by page (`madvise`), which the kernel does anyway when the process
/// ends. That took ~12 ms of a 0.6 s `index add` of 10k documents, paid by every process of
/// an hourly or batched `add` (docs/performance.md). Where standard output cannot be
/// flushed (a closed pipe), the normal exit runs and reports as it would.
#[cfg(target_os = "linux")]
fn exit_without_teardown(code: u8) {
    use std::io::Write;
    if std::io::stdout().flush().is_ok() && std::io::stderr().flush().is_ok() {
        // SAFETY: `_exit` ends the process at once; nothing of this process runs after it,
        // so no state can be observed half torn down. What must reach the disk has: `run`
        // returned, so its files and connections were dropped (closed) before this.
        unsafe { libc::_exit(i32::from(code)) }
    }
}

#[cfg(not(target_os = "linux"))]
fn exit_without_teardown(_code: u8) {}

/// Turn transparent huge pages off for this process. mimalloc asks the kernel for huge pages
/// (`MADV_HUGEPAGE`), and a run of this tool touches much fresh memory once: the kernel then
/// zeroes 2 MiB at a time on first touch, a third of an `index add`'s samples. Measured on the
/// 100k bench corpus (docs/performance.md): system time 0.5 -> 0.2 s for `dedup`, and 0.2-0.5
/// -> 0.2 s for a 10k `index add`, with lower peak RSS. The same as `MIMALLOC_ALLOW_THP=0`,
/// which mimalloc reads only before `main`.
#[cfg(target_os = "linux")]
fn no_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes no pointers; it sets a flag of this process that the
    // kernel reads on later page faults. A failure (an old kernel) only leaves THP as it was.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(not(target_os = "linux"))]
fn no_huge_pages() {}

/// mimalloc's `mi_option_purge_delay` (the v3 header's `mi_option_e`, between
/// `mi_option_deprecated_eager_commit_delay` (14) and `mi_option_use_numa_nodes` (16), which
/// `libmimalloc-sys` names; it does not name this one).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keep memory freed during this process for reuse instead of handing it back to the kernel
/// a while after it is freed (mimalloc's purge; 1 s in this build): an `index add` frees and
/// allocates its pieces' buffers over and over, and memory handed back is faulted in and
/// zeroed again when reused (a 50k batch into 950k documents: 97k-100k page faults instead of
/// 112k-161k). Twenty 50k batches into an empty index (2026-12-07, `MIMALLOC_PURGE_DELAY=-1`
/// against none): 54.8-55.8 s against 56.6-58.1 s in four alternating pairs, peak RSS
/// 357-367 MB against 321-338 MB; with this call instead of the variable, two pairs: 56.8
/// and 57.1 s against 57.8 and 57.9 s, peak RSS 364-382 MB against 321-348 MB. A process
/// of one batch ends before the memory kept matters. Left alone when `MIMALLOC_PURGE_DELAY`
/// is set (the user's choice) or the option does not read as a delay (another mimalloc
/// layout).
pub(crate) fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: both calls take and return plain integers; an option mimalloc does not know
    // is ignored by it, and a known one is only read here unless it holds a positive delay.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) > 0 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Clusters {
            run,
            story,
            level,
            format,
            all,
        } => commands::clusters(&run, &story, &level, format, all),
        Command::Dedup {
            run,
            verify,
            format,
            keep,
            kept,
        } => commands::dedup(&run, &verify, format, keep, kept.as_deref()),
        Command::Eval {
            run,
            story,
            level,
            format,
            labels,
            sweep,
            worst,
        } => commands::eval(
            &run,
            &story,
            &level,
            format,
            &labels,
            sweep.as_deref(),
            worst,
        ),
        Command::Clean {
            input,
            clean,
            format,
            show_dropped,
        } => commands::clean(&input, &clean, format, show_dropped),
        Command::Similarity {
            run,
            story,
            format,
            pairs,
            pairs_file,
            preset,
        } => commands::similarity(&run, &story, format, pairs, pairs_file.as_deref(), preset),
        Command::Index { command } => match command {
            IndexCommand::Add { index, run } => commands::index_add(&index, &run),
            IndexCommand::Query { index, run, top } => commands::index_query(&index, &run, top),
            IndexCommand::Stories { index, all } => commands::index_stories(&index, all),
            IndexCommand::Stats { index } => commands::index_stats(&index),
        },
        Command::Sign {
            run,
            out,
            shard,
            preset,
        } => commands::sign(&run, &out, &shard, preset),
        Command::Group {
            tables,
            manifest,
            keep,
            all,
            partial,
            threads,
            quiet,
        } => commands::group(&tables, &manifest, keep, all, partial, threads, quiet),
        Command::Completions { shell } => commands::completions(shell),
        Command::Man => commands::man(),
    }
}
