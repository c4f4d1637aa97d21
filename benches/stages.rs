//! Per-stage benchmarks: `cargo bench --bench stages`.
//!
//! Inputs are built from the five seed pages shipped in `data/seeds` (real news text with its
//! chrome), recombined into a few hundred documents, so the benchmarks need only the project.
//! Each reports throughput in bytes of input text and asserts the amount of work it did, so a
//! benchmark that silently does nothing fails instead of looking fast.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use samestory::clean::{self, CleanParams};
use samestory::cluster;
use samestory::extract::{self, Block};
use samestory::lsh::{self, LshParams};
use samestory::minhash::{MinHashParams, MinHasher, Scheme};
use samestory::params::Params;
use samestory::pipeline::{NoProgress, Pipeline};
use samestory::read::{Input, Sources};
use samestory::shingle::{self, ShingleParams, Shingles};
use samestory::tokenize::Tokenizer;
use samestory::verify;

/// Seed paragraphs recombined into `n` documents: document `i` takes a rotating window of
/// paragraphs, so neighbours overlap (near-duplicates) and far-apart ones do not.
fn corpus(n: usize) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/seeds");
    let mut paragraphs = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    for p in names {
        let text = std::fs::read_to_string(p).unwrap();
        paragraphs.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string),
        );
    }
    (0..n)
        .map(|i| {
            (0..40)
                .map(|k| paragraphs[(i * 3 + k) % paragraphs.len()].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

fn bytes(docs: &[String]) -> u64 {
    docs.iter().map(|d| d.len() as u64).sum()
}

fn stages(c: &mut Criterion) {
    let docs = corpus(300);
    let total = bytes(&docs);
    let params = Params::dedup();

    // read + parse: JSON Lines from a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.jsonl");
    let body: String = docs
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{}\n", serde_json::json!({"id": i, "text": t})))
        .collect();
    std::fs::write(&path, &body).unwrap();
    let sources = Sources::open(&[Input::Path(path.clone())], &params.read).unwrap();
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("jsonl", |b| {
        b.iter(|| {
            let n = sources.records().count();
            assert_eq!(n, docs.len());
        })
    });
    g.finish();

    // extract: HTML pages.
    let pages: Vec<Vec<u8>> = docs
        .iter()
        .map(|d| {
            let body: String = d.lines().map(|l| format!("<p>{l}</p>")).collect();
            format!("<html><head><title>t</title></head><body><nav><a href=/>Home</a></nav>{body}</body></html>").into_bytes()
        })
        .collect();
    let html_bytes: u64 = pages.iter().map(|p| p.len() as u64).sum();
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Bytes(html_bytes));
    g.bench_function("html", |b| {
        b.iter(|| {
            let blocks: usize = pages
                .iter()
                .map(|p| extract::html_page(p).blocks.len())
                .sum();
            assert!(blocks >= docs.len() * 40);
        })
    });
    g.finish();

    // tokenize: every block's word hashes.
    let blocks: Vec<Vec<Block>> = docs.iter().map(|d| extract::text_blocks(d, true)).collect();
    let mut tok = Tokenizer::new();
    let mut g = c.benchmark_group("tokenize");
    g.throughput(Throughput::Bytes(total));
    let mut word_count = 0;
    g.bench_function("hash_words", |b| {
        b.iter(|| {
            let mut words = Vec::new();
            for d in &docs {
                tok.hash_words(d, &mut words);
            }
            word_count = words.len();
            assert!(word_count > total as usize / 10);
            black_box(words);
        })
    });
    g.finish();

    // clean: stopword counts and block classification.
    let hashed: Vec<(Vec<u64>, Vec<usize>)> = blocks
        .iter()
        .map(|bs| {
            let mut h = Vec::new();
            let mut ends = Vec::new();
            for b in bs {
                tok.hash_words(&b.text, &mut h);
                ends.push(h.len());
            }
            (h, ends)
        })
        .collect();
    let cp = CleanParams::default();
    let mut g = c.benchmark_group("clean");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("classify", |b| {
        b.iter(|| {
            let mut kept = 0;
            for (bs, (h, ends)) in blocks.iter().zip(&hashed) {
                let languages = clean::word_languages(h);
                let lang = clean::detect_language(&languages, &cp);
                let stats = clean::block_stats(&languages, ends, lang);
                kept += clean::classify(bs, &stats, &cp)
                    .iter()
                    .filter(|v| v.is_keep())
                    .count();
            }
            assert!(kept > 0);
        })
    });
    g.finish();

    // shingle, minhash.
    let sp = ShingleParams::default();
    let mut g = c.benchmark_group("shingle");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("words5", |b| {
        b.iter(|| {
            let n: usize = hashed
                .iter()
                .map(|(h, _)| shingle::shingle_values(h, 0, &sp).len())
                .sum();
            assert_eq!(
                n,
                hashed
                    .iter()
                    .map(|(h, _)| h.len().saturating_sub(4))
                    .sum::<usize>()
            );
        })
    });
    g.finish();
    let values: Vec<Vec<u32>> = hashed
        .iter()
        .map(|(h, _)| shingle::shingle_values(h, 0, &sp))
        .collect();
    let mut g = c.benchmark_group("minhash");
    g.throughput(Throughput::Bytes(total));
    for scheme in [Scheme::OnePermutation, Scheme::Classic] {
        let mut minhash = MinHashParams::default();
        minhash.scheme = scheme;
        let hasher = MinHasher::new(&minhash);
        g.bench_function(format!("{scheme:?}"), |b| {
            b.iter(|| {
                let sigs: Vec<_> = values.iter().map(|v| hasher.sign(v)).collect();
                assert!(sigs.iter().all(|s| s.len() == 128));
                black_box(sigs);
            })
        });
    }
    g.finish();

    // lsh, verify, cluster, on the whole small corpus through the pipeline's own steps.
    let pipeline = Pipeline::new(params.clone()).unwrap();
    let mut in_memory = params.clone();
    in_memory.verify = samestory::params::Verify::InMemory;
    let analysis = Pipeline::new(in_memory).unwrap().run(&sources, &NoProgress);
    let mut g = c.benchmark_group("lsh");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("candidates", |b| {
        b.iter(|| {
            let c = pipeline.candidates(&analysis.docs, &NoProgress);
            assert!(!c.is_empty());
            black_box(c);
        })
    });
    let lp = LshParams { bands: 25, rows: 5 };
    g.bench_function("band_keys", |b| {
        b.iter(|| {
            let mut n = 0;
            for d in &analysis.docs {
                if let Some(s) = &d.signature {
                    for band in 0..lp.bands {
                        black_box(lsh::band_key(s, band, &lp));
                        n += 1;
                    }
                }
            }
            assert_eq!(n, docs.len() * lp.bands);
        })
    });
    g.finish();
    let candidates = pipeline.candidates(&analysis.docs, &NoProgress);
    let sets: Vec<&Shingles> = analysis.docs.iter().map(|d| &d.shingles).collect();
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("jaccard", |b| {
        b.iter(|| {
            let passed = candidates
                .iter()
                .filter(|&&(a, b)| {
                    verify::compare(sets[a as usize], sets[b as usize]).jaccard >= 0.5
                })
                .count();
            assert!(passed > 0 && passed <= candidates.len());
        })
    });
    g.finish();
    let mut g = c.benchmark_group("cluster");
    g.throughput(Throughput::Bytes(total));
    let adj = cluster::adjacency(analysis.docs.len(), &analysis.edges);
    let rank: Vec<u32> = (0..analysis.docs.len() as u32).collect();
    let copies = vec![1u32; analysis.docs.len()];
    g.bench_function("centre_and_merge", |b| {
        b.iter(|| {
            let order = cluster::order_by_degree(&adj, &copies, &rank);
            let clusters = cluster::merge_dense(cluster::cluster(&adj, &order), &adj, &copies, 0.5);
            assert_eq!(
                clusters.iter().map(|c| c.len()).sum::<usize>(),
                analysis.docs.len()
            );
            black_box(clusters);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2));
    targets = stages
}
criterion_main!(benches);
