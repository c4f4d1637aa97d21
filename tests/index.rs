//! The crawl index (issue 10): same decisions as `dedup --keep first`, stable story ids,
//! atomic batches under SIGKILL, one writer at a time, readers beside it, and refusals of
//! incomparable parameters and newer formats. Every corpus is generated here.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use proptest::prelude::*;
use samestory::index::{Access, Index};
use samestory::output::dedup_records;
use samestory::params::{Keep, Mode, Params};
use samestory::pipeline::{NoProgress, Pipeline};
use samestory::read::{Input, Sources};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_samestory"))
}

/// A corpus of `families` stories, each with a few near-copies (words replaced, dropped or
/// added at random), as JSON Lines records, shuffled. Words are made up from a small
/// alphabet so unrelated stories share no 5-word run; copies share most of theirs.
fn corpus(seed: u64, families: usize) -> Vec<String> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let word = |k: u64| -> String {
        let letter = |i: u64| char::from(b'a' + (i % 26) as u8);
        format!("q{}{}{}", letter(k), letter(k / 26), letter(k / 676))
    };
    let mut docs = Vec::new();
    for f in 0..families {
        let base: Vec<String> = (0..60 + next() % 60)
            .map(|_| word(next() % 17_000))
            .collect();
        let copies = 1 + next() % 5;
        for c in 0..copies {
            let mut words = base.clone();
            let edits = (next() % 4) as usize * words.len() / 20;
            for _ in 0..edits {
                let at = (next() as usize) % words.len();
                match next() % 3 {
                    0 => words[at] = word(next() % 17_000),
                    1 if words.len() > 10 => {
                        words.remove(at);
                    }
                    _ => words.insert(at, word(next() % 17_000)),
                }
            }
            let text = words.join(" ");
            docs.push((next(), format!("f{f}c{c}"), text));
        }
        // Now and then an exact copy of the first version.
        if next() % 4 == 0 {
            docs.push((next(), format!("f{f}x"), base.join(" ")));
        }
    }
    docs.sort();
    docs.into_iter()
        .map(|(_, id, text)| serde_json::json!({"id": id, "text": text}).to_string())
        .collect()
}

fn params() -> Params {
    let mut p = Params::dedup();
    p.clean.enabled = false;
    p
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

fn sources(path: &Path) -> Sources {
    Sources::open(&[Input::Path(path.into())], &params().read).unwrap()
}

/// `(id, status, duplicate_of, similarity)` of every record.
type Outcome = Vec<(String, String, Option<String>, Option<f64>)>;

fn batch_outcome(all: &Path) -> Outcome {
    let mut p = params();
    p.mode = Mode::Dedup(Keep::First);
    let analysis = Pipeline::new(p).unwrap().run(&sources(all), &NoProgress);
    dedup_records(&analysis)
        .into_iter()
        .map(|r| {
            let v = serde_json::to_value(&r).unwrap();
            (
                r.id.clone(),
                v["status"].as_str().unwrap().to_string(),
                r.duplicate_of.clone(),
                r.similarity,
            )
        })
        .collect()
}

fn add_in_batches(
    dir: &Path,
    index: &Path,
    lines: &[String],
    k: usize,
    chunk_size: Option<usize>,
) -> Outcome {
    let mut out = Vec::new();
    let size = lines.len().div_ceil(k);
    for (b, chunk) in lines.chunks(size.max(1)).enumerate() {
        let path = dir.join(format!("batch{b}.jsonl"));
        write_lines(&path, chunk);
        let mut idx = Index::open(index, params(), Access::Write).unwrap();
        if let Some(size) = chunk_size {
            idx.set_chunk(size);
        }
        for r in idx.add_batch(&sources(&path), &NoProgress).unwrap() {
            out.push((
                r.id.clone(),
                r.status.to_string(),
                r.duplicate_of.clone(),
                r.similarity,
            ));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Adding a corpus in k batches decides exactly as one `dedup --keep first` over the
    /// concatenation, and later batches never change an earlier story; so does a batch
    /// worked through in chunks of any size inside its transaction.
    #[test]
    fn batches_decide_as_one_dedup_keep_first(
        seed in 1u64..u64::MAX,
        families in 5usize..60,
        k in 1usize..6,
        chunk in prop::option::of(1usize..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let lines = corpus(seed, families);
        let all = dir.path().join("all.jsonl");
        write_lines(&all, &lines);
        let expected = batch_outcome(&all);
        let index = dir.path().join("idx");
        let got = add_in_batches(dir.path(), &index, &lines, k, chunk);
        prop_assert_eq!(&got, &expected);
        let stories = Index::inspect(&index).unwrap().stories(true).unwrap();
        let kept = expected.iter().filter(|r| r.1 == "kept").count();
        prop_assert_eq!(stories.len(), kept);
    }
}

/// Hundreds of near-identical pages (a template with one word changed) fill LSH buckets
/// past the giant-bucket bound: the index caps them by the rule `dedup --keep first` uses.
#[test]
fn giant_buckets_decide_alike() {
    let dir = tempfile::tempdir().unwrap();
    let base: Vec<String> = (0..80).map(|i| format!("tmpl{i}")).collect();
    let mut lines = corpus(17, 30);
    for v in 0..300 {
        let mut words = base.clone();
        words[(v * 7) % 80] = format!("var{v}");
        if v % 3 == 0 {
            words.push(format!("extra{v}"));
        }
        let text = words.join(" ");
        lines.insert(
            (v * 13) % lines.len(),
            serde_json::json!({"id": format!("t{v}"), "text": text}).to_string(),
        );
    }
    let all = dir.path().join("all.jsonl");
    write_lines(&all, &lines);
    let expected = batch_outcome(&all);
    for (k, chunk) in [(1, None), (4, None), (7, None), (1, Some(29)), (2, Some(1))] {
        let index = dir.path().join(format!("idx{k}-{chunk:?}"));
        let sub = dir.path().join(format!("b{k}-{chunk:?}"));
        std::fs::create_dir_all(&sub).unwrap();
        let got = add_in_batches(&sub, &index, &lines, k, chunk);
        assert!(
            got == expected,
            "{k} batches in chunks of {chunk:?} differ from dedup --keep first"
        );
    }
}

#[test]
fn story_ids_never_change_when_batches_are_added() {
    let dir = tempfile::tempdir().unwrap();
    let lines = corpus(7, 40);
    let index = dir.path().join("idx");
    let (first, rest) = lines.split_at(lines.len() / 2);
    add_in_batches(dir.path(), &index, first, 1, None);
    let before = Index::inspect(&index).unwrap().stories(true).unwrap();
    std::fs::create_dir_all(dir.path().join("later")).unwrap();
    add_in_batches(&dir.path().join("later"), &index, rest, 3, Some(5));
    let after = Index::inspect(&index).unwrap().stories(true).unwrap();
    for old in &before {
        let new = after
            .iter()
            .find(|s| s.story == old.story)
            .expect("story kept");
        assert_eq!(new.representative, old.representative);
        // Its members are still there, first, in the same order.
        assert_eq!(&new.members[..old.members.len()], &old.members[..]);
    }
    assert!(after.len() > before.len());
}

/// Ids repeated inside one batch, across the chunks it is worked through in, are reported as
/// the pipeline reports them (the earliest wins), whatever the chunk size.
#[test]
fn ids_repeated_across_chunks_are_reported_alike() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = corpus(5, 12);
    let n = lines.len();
    // Later lines reuse earlier ids (with other texts, and the same).
    for i in (0..n).step_by(3) {
        let mut v: serde_json::Value = serde_json::from_str(&lines[i]).unwrap();
        let id = v["id"].clone();
        v["text"] = serde_json::Value::String(format!("another text for {id} {i}"));
        lines.push(v.to_string());
        lines.push(lines[i].clone());
    }
    let path = dir.path().join("a.jsonl");
    write_lines(&path, &lines);
    let expected = batch_outcome(&path);
    assert!(expected.iter().filter(|r| r.1 == "skipped").count() >= n / 3);
    // Chunks bounded by documents, then by shingle-set bytes (1 byte: a document a chunk;
    // 2 KB: a few).
    let bounds = [None, Some(1), Some(4), Some(n - 1)]
        .map(|c| (c, None))
        .into_iter()
        .chain([(None, Some(1)), (None, Some(2_000))]);
    for (chunk, bytes) in bounds {
        let index = dir.path().join(format!("idx{chunk:?}{bytes:?}"));
        let mut idx = Index::open(&index, params(), Access::Write).unwrap();
        if let Some(chunk) = chunk {
            idx.set_chunk(chunk);
        }
        if let Some(bytes) = bytes {
            idx.set_chunk_bytes(bytes);
        }
        let got: Outcome = idx
            .add_batch(&sources(&path), &NoProgress)
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.id.clone(),
                    r.status.to_string(),
                    r.duplicate_of.clone(),
                    r.similarity,
                )
            })
            .collect();
        assert_eq!(
            got, expected,
            "chunks of {chunk:?} documents, {bytes:?} bytes"
        );
    }
}

#[test]
fn a_repeated_id_is_reported_not_added_twice() {
    let dir = tempfile::tempdir().unwrap();
    let lines = corpus(3, 10);
    let path = dir.path().join("a.jsonl");
    write_lines(&path, &lines);
    let index = dir.path().join("idx");
    let mut idx = Index::open(&index, params(), Access::Write).unwrap();
    idx.add_batch(&sources(&path), &NoProgress).unwrap();
    let again = idx.add_batch(&sources(&path), &NoProgress).unwrap();
    assert_eq!(again.len(), lines.len());
    for r in &again {
        assert_eq!(r.status, "skipped");
        assert!(
            r.reason
                .as_deref()
                .unwrap()
                .starts_with("repeated id, first at")
        );
        assert_eq!(r.story, None);
    }
    assert_eq!(idx.stats().unwrap().documents, lines.len() as u64);
}

fn run_add(index: &Path, input: &Path) -> std::process::Output {
    bin()
        .args(["index", "add", "-q", "--no-clean"])
        .arg(index)
        .arg(input)
        .output()
        .unwrap()
}

/// Everything an index holds, as text: every story with its members, and the counts.
fn state(index: &Path) -> String {
    let idx = Index::inspect(index).unwrap();
    idx.integrity_check().unwrap();
    let stats = idx.stats().unwrap();
    format!(
        "{} {} {} {}\n{}",
        stats.documents,
        stats.kept,
        stats.duplicates,
        stats.batches,
        serde_json::to_string(&idx.stories(true).unwrap()).unwrap()
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_killed_add_leaves_the_batch_undone_or_done() {
    let dir = tempfile::tempdir().unwrap();
    let lines = corpus(11, 2500);
    let (first, second) = lines.split_at(lines.len() / 2);
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    write_lines(&a, first);
    write_lines(&b, second);
    let base = dir.path().join("base");
    assert!(run_add(&base, &a).status.success());
    let before = state(&base);
    // The uninterrupted run, and how long it takes.
    let full = dir.path().join("full");
    copy_dir(&base, &full);
    let started = std::time::Instant::now();
    assert!(run_add(&full, &b).status.success());
    let took = started.elapsed();
    let after = state(&full);
    assert!(before != after);
    let mut seen = (0, 0);
    let runs = 30;
    for run in 0..runs {
        let idx = dir.path().join(format!("k{run}"));
        copy_dir(&base, &idx);
        let mut child = bin()
            .args(["index", "add", "-q", "--no-clean"])
            .arg(&idx)
            .arg(&b)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread over the whole run, and a little past it.
        let delay = took.mul_f64((run as f64 + 0.5) / runs as f64 * 1.1);
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = state(&idx);
        if now == before {
            seen.0 += 1;
        } else {
            // (Not assert_eq!: the states are long.)
            assert!(
                now == after,
                "run {run}: neither before nor after the batch"
            );
            seen.1 += 1;
        }
        // Running the batch again gives the uninterrupted result.
        let again = run_add(&idx, &b);
        assert!(again.status.success());
        assert!(state(&idx) == after, "run {run}: re-run differs");
        std::fs::remove_dir_all(&idx).unwrap();
    }
    // The kills did land inside the batch (not all after it).
    assert!(seen.0 > 0, "no kill interrupted the batch: {seen:?}");
    eprintln!(
        "killed runs: {} before the commit, {} after",
        seen.0, seen.1
    );
}

#[test]
fn a_second_writer_is_refused_and_readers_see_the_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let lines = corpus(5, 30);
    let a = dir.path().join("a.jsonl");
    write_lines(&a, &lines);
    let index = dir.path().join("idx");
    assert!(run_add(&index, &a).status.success());
    // Another writer holds the write lock (as a running `index add` does).
    let holder = sqlite(&index);
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let b = dir.path().join("b.jsonl");
    write_lines(&b, &corpus(6, 5));
    let out = run_add(&index, &b);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another `samestory index add` is writing"),
        "{err}"
    );
    // A reader is not blocked and sees the committed state.
    let q = bin()
        .args(["index", "query", "-q", "--no-clean"])
        .arg(&index)
        .arg(&a)
        .output()
        .unwrap();
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&q.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["matches"][0]["similarity"], 1.0);
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    assert!(run_add(&index, &b).status.success());
    std::thread::sleep(Duration::from_millis(1));
}

#[test]
fn a_second_writer_in_the_same_process_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("idx");
    let first = Index::open(&index, params(), Access::Write).unwrap();
    let err = Index::open(&index, params(), Access::Write).unwrap_err();
    assert!(
        err.to_string()
            .contains("another `samestory index add` is writing"),
        "{err}"
    );
    // Readers are not writers.
    assert!(Index::open(&index, params(), Access::Read).is_ok());
    drop(first);
    assert!(Index::open(&index, params(), Access::Write).is_ok());
}

#[test]
fn the_write_ahead_log_is_reused_batch_after_batch_not_grown() {
    // A batch commits into the log; the next copies it into the database while it works,
    // then writes from the log's start. A log that grew would hold every batch.
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("idx");
    let wal = index.join("index.sqlite-wal");
    let mut sizes = Vec::new();
    let mut documents = 0;
    for b in 0..6u64 {
        let lines: Vec<String> = corpus(100 + b, 40)
            .iter()
            .map(|l| l.replace("{\"id\":\"f", &format!("{{\"id\":\"b{b}f")))
            .collect();
        documents += lines.len();
        let f = dir.path().join(format!("b{b}.jsonl"));
        write_lines(&f, &lines);
        let out = run_add(&index, &f);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        sizes.push(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    assert!(sizes[0] > 0, "the last batch waits in the log: {sizes:?}");
    let first_two = sizes[0].max(sizes[1]);
    assert!(sizes[5] <= 2 * first_two, "{sizes:?}");
    let stats = bin().args(["index", "stats"]).arg(&index).output().unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["documents"], documents);
    assert_eq!(stats["batches"], 6);
}

#[test]
fn incomparable_parameters_and_newer_formats_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    write_lines(&a, &corpus(9, 5));
    let index = dir.path().join("idx");
    assert!(run_add(&index, &a).status.success());
    let out = bin()
        .args(["index", "add", "-q", "--no-clean", "--ngram", "4"])
        .arg(&index)
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ngram: the index has 5, this run has 4"),
        "{err}"
    );
    // Cleaning on against an index built without it.
    let out = bin()
        .args(["index", "query", "-q"])
        .arg(&index)
        .arg(&a)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("clean: the index has false"));
    // A format from the future.
    let conn = sqlite(&index);
    conn.execute(
        "UPDATE meta SET value = '99' WHERE key = 'format_version'",
        [],
    )
    .unwrap();
    drop(conn);
    let out = bin().args(["index", "stats"]).arg(&index).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("format version 99 is newer"));
    // No index at all.
    let out = bin()
        .args(["index", "stories"])
        .arg(dir.path().join("nothing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no index here"));
    // A file where the index directory should be: named as such, and left as it was.
    let file = dir.path().join("file");
    std::fs::write(&file, "not an index").unwrap();
    for command in ["add", "stats"] {
        let mut cmd = bin();
        cmd.args(["index", command]).arg(&file);
        if command == "add" {
            cmd.arg(&a);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("file: not a directory"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not an index");
}

#[test]
fn the_index_cli_prints_one_line_per_input_document() {
    let dir = tempfile::tempdir().unwrap();
    let lines = corpus(21, 20);
    let a = dir.path().join("a.jsonl");
    write_lines(&a, &lines);
    let index: PathBuf = dir.path().join("idx");
    let out = run_add(&index, &a);
    assert!(out.status.success());
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), lines.len());
    for (r, line) in records.iter().zip(&lines) {
        let input: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["id"], input["id"]);
        assert!(r["story"].as_u64().is_some());
    }
    let stats = bin().args(["index", "stats"]).arg(&index).output().unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["documents"], lines.len());
    assert_eq!(stats["format_version"], 2);
    assert_eq!(stats["parameters"]["ngram"], "5");
}

/// Rewrite a format-2 index as format 1 wrote it: every (band key, document) pair a row of
/// one `bands` B-tree, no runs. The pairs are read from the runs' blocks (12 bytes each:
/// key, then document, little-endian).
/// The store of `index`, opened directly.
fn sqlite(index: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(index.join("index.sqlite")).unwrap()
}

/// A corpus of `seed` in two halves, files `a.jsonl` and `b.jsonl` in `dir`; the first half
/// added to two indexes, `current` and `old`. Returns the second half's file and the two
/// indexes.
fn first_half_into_two_indexes(dir: &Path, seed: u64) -> (PathBuf, PathBuf, PathBuf) {
    let lines = corpus(seed, 40);
    let (first, second) = lines.split_at(lines.len() / 2);
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    write_lines(&a, first);
    write_lines(&b, second);
    let (current, old) = (dir.join("current"), dir.join("old"));
    for index in [&current, &old] {
        assert!(run_add(index, &a).status.success());
    }
    (b, current, old)
}

fn downgrade_to_format_1(index: &Path) {
    let conn = sqlite(index);
    let blocks: Vec<Vec<u8>> = conn
        .prepare("SELECT pairs FROM run_blocks")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    conn.execute_batch(
        "DROP TABLE runs; DROP TABLE run_blocks; DROP TABLE run_filters;
         CREATE TABLE bands(key INTEGER NOT NULL, doc INTEGER NOT NULL,
                            PRIMARY KEY(key, doc)) WITHOUT ROWID;
         UPDATE meta SET value = '1' WHERE key = 'format_version';",
    )
    .unwrap();
    for pair in blocks.iter().flat_map(|b| b.chunks_exact(12)) {
        let key = i64::from_le_bytes(pair[..8].try_into().unwrap());
        let doc = u32::from_le_bytes(pair[8..].try_into().unwrap());
        conn.execute(
            "INSERT INTO bands(key, doc) VALUES (?1, ?2)",
            [key, doc as i64],
        )
        .unwrap();
    }
}

#[test]
fn a_format_1_index_is_read_as_it_is_and_migrated_by_the_next_add() {
    let dir = tempfile::tempdir().unwrap();
    // The same two batches into an index that stays format 2, and one made format 1
    // between them.
    let (b, current, old) = first_half_into_two_indexes(dir.path(), 21);
    downgrade_to_format_1(&old);
    let query = |index: &Path| {
        let out = bin()
            .args(["index", "query", "-q", "--no-clean"])
            .arg(index)
            .arg(&b)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    // Read as it is: a query finds what it finds in format 2, and changes nothing.
    assert_eq!(query(&old), query(&current));
    let format = |index: &Path| {
        Index::inspect(index)
            .unwrap()
            .stats()
            .unwrap()
            .format_version
    };
    assert_eq!(format(&old), 1);
    // The next add migrates, and decides as an index that never was format 1.
    let added_current = run_add(&current, &b);
    let added_old = run_add(&old, &b);
    assert!(
        added_old.status.success(),
        "{}",
        String::from_utf8_lossy(&added_old.stderr)
    );
    assert_eq!(added_old.stdout, added_current.stdout);
    assert_eq!(state(&old), state(&current));
    assert_eq!(format(&old), 2);
}

/// An index written before 2026-12-07 has an index on `docs(story)` and no signature
/// sketches: the next add drops the index, adds the column (the old rows without sketches,
/// their sets read whenever they are candidates), and decides and numbers stories on as an
/// index that never was so (the next story is read from the last kept page, the story
/// count is the kept count).
#[test]
fn an_index_from_before_the_sketches_decides_and_numbers_stories_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (b, current, old) = first_half_into_two_indexes(dir.path(), 33);
    let story_index = |index: &Path| -> i64 {
        sqlite(index)
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'docs_story'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(story_index(&current), 0);
    let sketches = |index: &Path| -> (i64, i64) {
        sqlite(index)
            .query_row(
                "SELECT COUNT(sketch), COUNT(*) FROM docs WHERE status = 0",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    };
    let (with, kept) = sketches(&current);
    assert!(kept > 0 && with == kept, "every kept page has a sketch");
    sqlite(&old)
        .execute_batch(
            "CREATE INDEX docs_story ON docs(story); ALTER TABLE docs DROP COLUMN sketch;",
        )
        .unwrap();
    assert_eq!(story_index(&old), 1);
    let (added_current, added_old) = (run_add(&current, &b), run_add(&old, &b));
    assert!(added_old.status.success());
    assert_eq!(added_old.stdout, added_current.stdout);
    assert_eq!(state(&old), state(&current));
    assert_eq!(story_index(&old), 0);
    // The first batch's pages have no sketch, the second's have.
    let ((old_with, old_kept), (with, kept)) = (sketches(&old), sketches(&current));
    assert_eq!(old_kept, kept);
    assert!(0 < old_with && old_with < with && with == kept);
    // The stories go on from the first batch's, and the count is the kept pages'.
    let index = Index::inspect(&old).unwrap();
    let stats = index.stats().unwrap();
    let stories = index.stories(true).unwrap();
    assert_eq!(stats.stories, stories.len() as u64);
    assert_eq!(stats.stories, stats.kept);
    let numbers: Vec<u64> = stories.iter().map(|s| s.story).collect();
    assert_eq!(numbers, (1..=stats.kept).collect::<Vec<u64>>());
}
