//! The hashing floor for `scripts/bench`: read a JSON Lines corpus, parse each line's `text`,
//! split it into ASCII alphanumeric words and hash every word with xxh3, nothing else. No
//! pipeline can sign documents faster than this on the same machine.
//!
//! ```sh
//! cargo run --release --example floor -- bench-work/news_100k.jsonl
//! ```
//!
//! Prints one line per thread count: threads, seconds, MB/s of JSON input.

use std::io::BufRead;
use std::time::Instant;

use rayon::prelude::*;

#[derive(serde::Deserialize)]
struct Line {
    text: String,
}

fn hash_all(lines: &[Vec<u8>]) -> u64 {
    lines
        .par_iter()
        .map(|line| {
            let doc: Line = serde_json::from_slice(line).expect("a JSON line with a text field");
            let mut acc = 0u64;
            for word in doc.text.as_bytes().split(|b| !b.is_ascii_alphanumeric()) {
                if !word.is_empty() {
                    acc = acc.wrapping_add(xxhash_rust::xxh3::xxh3_64(word));
                }
            }
            acc
        })
        .reduce(|| 0, u64::wrapping_add)
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: floor CORPUS.jsonl");
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        let started = Instant::now();
        let file = std::fs::File::open(&path).expect("open corpus");
        let mut bytes = 0usize;
        let mut acc = 0u64;
        let mut chunk = Vec::new();
        for line in std::io::BufReader::new(file).split(b'\n') {
            let line = line.expect("read corpus");
            bytes += line.len() + 1;
            chunk.push(line);
            if chunk.len() == 4096 {
                acc = acc.wrapping_add(pool.install(|| hash_all(&chunk)));
                chunk.clear();
            }
        }
        acc = acc.wrapping_add(pool.install(|| hash_all(&chunk)));
        let secs = started.elapsed().as_secs_f64();
        // The checksum keeps the work from being optimised away.
        println!(
            "{threads} {secs:.3} {:.1} checksum={acc:016x}",
            bytes as f64 / 1e6 / secs
        );
    }
}
