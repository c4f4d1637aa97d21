//! The Parquet handoff (issue 11): `sign` in shards, then `group`, gives what `dedup` and
//! `clusters` print; broken or mismatched tables get a clear error naming the file. The
//! Spark and DuckDB jobs are checked against the CLI by `scripts/spark/test`.

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_samestory"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("samestory runs")
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} should fail with exit 2"
    );
    String::from_utf8(out.stderr).unwrap()
}

/// A corpus in three files: stories with near copies in other chrome, exact copies, a
/// repeated id across files, an empty record, a broken line.
fn corpus(dir: &Path) -> Vec<String> {
    let story = |n: usize| {
        (0..8)
            .map(|s| {
                format!(
                    "In story {n} the council said in sentence {s} that the plan for the \
                     {} district would go ahead after a vote on the budget this week.",
                    ["north", "south", "east", "west", "river", "hill"][(n + s) % 6]
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut files = Vec::new();
    for f in 0..3 {
        let mut lines = Vec::new();
        for n in 0..12 {
            let text = match (f + n) % 4 {
                0 => format!("Home | News {f}. {}", story(n)),
                1 => format!("{} Copyright site {f}.", story(n)),
                2 => story(n),
                _ => story(n + 100),
            };
            lines.push(serde_json::json!({"id": format!("{f}-{n}"), "text": text}).to_string());
        }
        lines.push(serde_json::json!({"id": "same-id", "text": story(5)}).to_string());
        lines.push(serde_json::json!({"id": format!("{f}-empty"), "text": ""}).to_string());
        lines.push("{not json".to_string());
        let path = dir.join(format!("part{f}.jsonl"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    files
}

fn sign_shards(files: &[String], out: &Path, shards: usize, extra: &[&str]) {
    for i in 0..shards {
        let shard = format!("{i}/{shards}");
        let mut args = vec![
            "sign",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
            "--shard",
            &shard,
        ];
        args.extend(extra);
        args.extend(files.iter().map(String::as_str));
        ok(&args);
    }
}

#[test]
fn sign_in_shards_then_group_prints_what_dedup_prints() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let out = dir.path().join("signed");
    sign_shards(&files, &out, 3, &[]);
    let o = out.to_str().unwrap();
    let docs = out.join("documents");
    for keep in ["central", "longest", "first"] {
        let mut args = vec!["dedup", "--quiet", "--keep", keep];
        args.extend(files.iter().map(String::as_str));
        let cli = ok(&args);
        let grouped = ok(&[
            "group",
            "-q",
            docs.to_str().unwrap(),
            "--manifest",
            o,
            "--keep",
            keep,
        ]);
        assert_eq!(grouped, cli, "--keep {keep}");
        assert!(cli.contains("\"duplicate\"") && cli.contains("repeated id"));
    }
}

#[test]
fn sign_for_clusters_then_group_prints_what_clusters_prints() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let out = dir.path().join("signed");
    sign_shards(&files, &out, 2, &["--preset", "clusters"]);
    let docs = out.join("documents");
    for all in [false, true] {
        let mut args = vec!["clusters", "--quiet", "--repeated-min-clusters", "0"];
        let mut group = vec![
            "group",
            "-q",
            docs.to_str().unwrap(),
            "--manifest",
            out.to_str().unwrap(),
        ];
        if all {
            args.push("--all");
            group.push("--all");
        }
        args.extend(files.iter().map(String::as_str));
        assert_eq!(ok(&group), ok(&args), "--all {all}");
    }
}

#[test]
fn partial_records_carry_their_sort_keys_and_the_exact_line() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let out = dir.path().join("signed");
    sign_shards(&files, &out, 1, &[]);
    let docs = out.join("documents");
    let o = out.to_str().unwrap();
    let full = ok(&["group", "-q", docs.to_str().unwrap(), "--manifest", o]);
    let partial = ok(&[
        "group",
        "-q",
        "--partial",
        docs.to_str().unwrap(),
        "--manifest",
        o,
    ]);
    let mut keyed: Vec<(i64, String)> = partial
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["doc_id"].as_i64().unwrap(),
                v["record"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    keyed.sort();
    let joined: String = keyed.into_iter().map(|(_, r)| r + "\n").collect();
    assert_eq!(joined, full);
}

#[test]
fn the_manifest_records_counts_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let out = dir.path().join("signed");
    let mut args = vec!["sign", "-q", "--out", out.to_str().unwrap()];
    args.extend(files.iter().map(String::as_str));
    let printed: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    let stored: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("manifests/part-00000-of-00001.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(printed, stored);
    assert_eq!(stored["documents"], 3 * 15);
    assert_eq!(stored["settings"]["threshold"], 0.5);
    assert_eq!(stored["format_version"], 2);
    // Every signed document has one key per band.
    let bands = stored["settings"]["bands"].as_u64().unwrap();
    assert_eq!(
        stored["band_rows"].as_u64().unwrap(),
        stored["signed"].as_u64().unwrap() * bands
    );
}

#[test]
fn broken_and_mismatched_handoffs_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let out = dir.path().join("signed");
    let o = out.to_str().unwrap();
    sign_shards(&files, &out, 2, &[]);
    let part = |i: usize| {
        out.join(format!("documents/part-0000{i}-of-00002.parquet"))
            .to_str()
            .unwrap()
            .to_string()
    };
    // Rows out of doc_id order (shard 1 before shard 0).
    let err = fails(&["group", "-q", &part(1), &part(0), "--manifest", o]);
    assert!(
        err.contains(&part(0)) && err.contains("doc_id order"),
        "{err}"
    );
    // Not Parquet.
    let junk = dir.path().join("junk.parquet");
    std::fs::write(&junk, "not parquet at all").unwrap();
    let err = fails(&["group", "-q", junk.to_str().unwrap(), "--manifest", o]);
    assert!(err.contains("junk.parquet"), "{err}");
    // A Parquet file that is not a documents table: the bands table.
    let bands = out.join("bands/part-00000-of-00002.parquet");
    let err = fails(&["group", "-q", bands.to_str().unwrap(), "--manifest", o]);
    assert!(err.contains("no column id"), "{err}");
    // A handoff an older samestory wrote (format 1 stored sets another way).
    let manifest = out.join("manifests/part-00001-of-00002.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
    old["format_version"] = 1.into();
    std::fs::write(&manifest, old.to_string()).unwrap();
    let err = fails(&["group", "-q", &part(0), &part(1), "--manifest", o]);
    assert!(
        err.contains("part-00001-of-00002.json") && err.contains("sign the input again"),
        "{err}"
    );
    std::fs::write(&manifest, text).unwrap();
    // A shard missing from the run.
    std::fs::remove_file(out.join("manifests/part-00001-of-00002.json")).unwrap();
    let err = fails(&["group", "-q", &part(0), "--manifest", o]);
    assert!(err.contains("shard 1 of 2 has not been signed"), "{err}");
    // Signing other parameters into the same directory.
    let mut args = vec!["sign", "-q", "--out", o, "--shard", "0/2", "--ngram", "3"];
    args.extend(files.iter().map(String::as_str));
    let err = fails(&args);
    assert!(
        err.contains("another signing run") && err.contains("ngram"),
        "{err}"
    );
    // An output inside an input directory.
    let inside = dir.path().join("tables");
    let err = fails(&[
        "sign",
        "-q",
        "--out",
        inside.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert!(err.contains("overlaps the input"), "{err}");
    // A bad shard.
    let err = fails(&["sign", "-q", "--out", o, "--shard", "2/2", &files[0]]);
    assert!(err.contains("I/N"), "{err}");
}

#[test]
fn shards_cover_the_input_once() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let out = dir.path().join("signed");
    sign_shards(&files, &out, 4, &[]);
    let total: u64 = (0..4)
        .map(|i| {
            let m: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(out.join(format!("manifests/part-0000{i}-of-00004.json")))
                    .unwrap(),
            )
            .unwrap();
            m["documents"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(total, 3 * 15);
}

/// The `url` and `date` columns of `documents`, by id.
fn urls_and_dates(out: &Path) -> Vec<(String, Option<String>, Option<String>)> {
    use arrow_array::{Array, StringArray};
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(out.join("documents")).unwrap() {
        let file = std::fs::File::open(entry.unwrap().path()).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let col = |name: &str| {
                batch
                    .column_by_name(name)
                    .unwrap()
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap()
                    .clone()
            };
            let (id, url, date) = (col("id"), col("url"), col("date"));
            let at = |a: &StringArray, r: usize| a.is_valid(r).then(|| a.value(r).to_string());
            for r in 0..batch.num_rows() {
                rows.push((id.value(r).to_string(), at(&url, r), at(&date, r)));
            }
        }
    }
    rows.sort();
    rows
}

#[test]
fn documents_carry_the_url_and_date_the_input_or_page_gives() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("feed.jsonl");
    let text = "The council said the plan for the river district would go ahead after a vote \
                on the budget this week, and work on the new bridge would start in spring.";
    std::fs::write(
        &jsonl,
        [
            serde_json::json!({"id": "with", "text": text, "url": "https://a.example/1",
                               "date": "2022-12-30"}),
            serde_json::json!({"id": "link", "text": text, "link": "https://b.example/2"}),
            serde_json::json!({"id": "without", "text": text, "url": 7}),
        ]
        .map(|v| v.to_string())
        .join("\n"),
    )
    .unwrap();
    let html = dir.path().join("page.html");
    std::fs::write(
        &html,
        format!(
            "<html><head><title>Bridge</title>\
             <link rel=\"canonical\" href=\" https://c.example/bridge \">\
             <meta property=\"article:published_time\" content=\"2022-12-31T08:00:00Z\">\
             </head><body><p>{text}</p></body></html>"
        ),
    )
    .unwrap();
    let out = dir.path().join("signed");
    let (o, j, h) = (
        out.to_str().unwrap(),
        jsonl.to_str().unwrap(),
        html.to_str().unwrap(),
    );
    ok(&["sign", "-q", "--out", o, j, h]);
    let some = |s: &str| Some(s.to_string());
    let mut expected = vec![
        // A file named on the command line has its path as id.
        (
            h.to_string(),
            some("https://c.example/bridge"),
            some("2022-12-31T08:00:00Z"),
        ),
        ("link".into(), None, None),
        (
            "with".into(),
            some("https://a.example/1"),
            some("2022-12-30"),
        ),
        // A URL that is not a string is left out, as a date of another type is.
        ("without".into(), None, None),
    ];
    expected.sort();
    assert_eq!(urls_and_dates(&out), expected);
    // --url-field names another field.
    let out2 = dir.path().join("signed2");
    ok(&[
        "sign",
        "-q",
        "--url-field",
        "link",
        "--out",
        out2.to_str().unwrap(),
        j,
    ]);
    let rows = urls_and_dates(&out2);
    assert_eq!(rows[0], ("link".into(), some("https://b.example/2"), None));
    assert_eq!(rows[1].1, None);
}
