//! Single-document query latency of a built index, for `scripts/bench-index`.
//!
//! ```sh
//! cargo run --release --example index_query -- INDEX CORPUS.jsonl [QUERIES]
//! ```
//!
//! Takes every k-th line of CORPUS (QUERIES of them, default 1,000), and queries the index
//! with each alone, in one process (warm: the first 50 are run once before timing). Each
//! query is the line as a document in memory ([`Sources::from_memory`]) and one
//! [`Index::query`]: parsing, cleaning, signing, band lookups and exact verification. Prints p50, p99 and max in
//! milliseconds, and how many queries found at least one match.

use std::io::BufRead;
use std::time::Instant;

use samestory::index::{Access, Index};
use samestory::params::Params;
use samestory::pipeline::NoProgress;
use samestory::read::Sources;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: index_query INDEX CORPUS.jsonl [QUERIES]");
        std::process::exit(2);
    }
    let queries: usize = args.get(3).map_or(1000, |q| q.parse().expect("a count"));
    // Two passes over the corpus, holding only the picked lines (peak RSS is the query's).
    let open = || std::io::BufReader::new(std::fs::File::open(&args[2]).expect("corpus"));
    let total = open().lines().count();
    let step = (total / queries).max(1);
    let picked: Vec<String> = open()
        .lines()
        .step_by(step)
        .take(queries)
        .map(|l| l.expect("a line"))
        .collect();
    let mut index = Index::open(args[1].as_ref(), Params::dedup(), Access::Read).expect("index");
    let read = Params::dedup().read;
    let mut run = |line: &str| -> (f64, bool) {
        let started = Instant::now();
        let doc = ("query.jsonl".to_string(), line.as_bytes().to_vec());
        let sources = Sources::from_memory([doc], &read).expect("a document");
        let found = index.query(&sources, 5, &NoProgress).expect("query");
        (
            started.elapsed().as_secs_f64() * 1e3,
            !found[0].matches.is_empty(),
        )
    };
    for line in picked.iter().take(50) {
        run(line);
    }
    let mut times = Vec::with_capacity(picked.len());
    let mut matched = 0;
    for line in &picked {
        let (ms, found) = run(line);
        times.push(ms);
        matched += usize::from(found);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "queries {}  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  with a match {}",
        times.len(),
        at(0.50),
        at(0.99),
        times[times.len() - 1],
        matched
    );
}
