//! Parquet input (issue 11, item 1): one document per row, columns named by the JSON Lines
//! field flags; every row accounted for (kept, duplicate, or skipped naming the file and
//! row), the same decisions as the same records in JSON Lines.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_samestory"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("samestory runs")
}

const STORY: &str = "The minister said on Tuesday that the visit was aimed at showing the \
    determination of the two countries to strengthen their ties, and he added that it would \
    be the first of many such trips in the coming year, according to a statement released \
    by the foreign ministry after the talks had ended late in the evening.";

fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch =
        RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn texts() -> Vec<Option<String>> {
    vec![
        Some(format!("Home | World. {STORY} {STORY}")),
        Some(format!("{STORY} {STORY} Copyright B.")),
        None,
        Some("Too short.".into()),
        Some(format!("{STORY} {}", "word ".repeat(3000))),
        Some(format!(
            "Another report entirely. {}",
            STORY.replace("minister", "mayor")
        )),
    ]
}

#[test]
fn rows_are_documents_as_json_lines_records_are() {
    let dir = tempfile::tempdir().unwrap();
    let texts = texts();
    let ids: Vec<Option<i64>> = vec![Some(10), Some(11), Some(12), Some(13), Some(14), None];
    let titles: Vec<Option<&str>> = vec![Some("Visit"), None, None, None, None, Some("Other")];
    let pq = dir.path().join("crawl.parquet");
    write_parquet(
        &pq,
        vec![
            ("id", Arc::new(Int64Array::from(ids.clone())) as ArrayRef),
            ("text", Arc::new(StringArray::from(texts.clone()))),
            ("title", Arc::new(StringArray::from(titles.clone()))),
        ],
    );
    let out = run(&[
        "dedup",
        pq.to_str().unwrap(),
        "--max-record-bytes",
        "10K",
        "--keep",
        "first",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "one line per row: {stdout}");
    assert_eq!(lines[0]["id"], "10");
    assert_eq!(lines[1]["status"], "duplicate");
    assert_eq!(lines[1]["duplicate_of"], "10");
    assert_eq!(lines[2]["status"], "skipped");
    assert!(
        stderr.contains("crawl.parquet:3: text field \"text\" is null"),
        "{stderr}"
    );
    assert_eq!(
        lines[3]["reason"],
        "too short to sign (fewer words than one shingle)"
    );
    assert!(
        lines[4]["reason"]
            .as_str()
            .unwrap()
            .starts_with("too-large"),
        "{}",
        lines[4]
    );
    assert!(
        lines[5]["id"]
            .as_str()
            .unwrap()
            .ends_with("crawl.parquet:6")
    );

    // The same records as JSON Lines give the same lines.
    let jsonl: String = (0..6)
        .map(|i| {
            let mut v = serde_json::json!({"text": texts[i], "title": titles[i]});
            if let Some(id) = ids[i] {
                v["id"] = id.into();
            }
            v.to_string() + "\n"
        })
        .collect();
    let js = dir.path().join("crawl.jsonl");
    std::fs::write(&js, jsonl).unwrap();
    let out = run(&[
        "dedup",
        js.to_str().unwrap(),
        "--max-record-bytes",
        "10K",
        "--keep",
        "first",
    ]);
    let from_jsonl = String::from_utf8(out.stdout).unwrap();
    let strip = |s: &str| s.replace("crawl.jsonl", "crawl.parquet");
    // The same decisions and ids; except that a JSON Lines line over the size limit is
    // read past unparsed (its id is PATH:LINE), where a Parquet row still has its id column.
    assert_eq!(strip(&from_jsonl).lines().count(), stdout.lines().count());
    for (i, (a, b)) in strip(&from_jsonl).lines().zip(stdout.lines()).enumerate() {
        if i == 4 {
            continue;
        }
        let (a, b): (serde_json::Value, serde_json::Value) = (
            serde_json::from_str(a).unwrap(),
            serde_json::from_str(b).unwrap(),
        );
        assert_eq!(a["id"], b["id"]);
        assert_eq!(a["status"], b["status"]);
        assert_eq!(a["duplicate_of"], b["duplicate_of"]);
    }
}

#[test]
fn a_table_without_the_text_column_skips_every_row_and_names_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("t.parquet");
    write_parquet(
        &pq,
        vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
            (
                "body",
                Arc::new(StringArray::from(vec![STORY, STORY, STORY])),
            ),
        ],
    );
    let out = run(&["dedup", pq.to_str().unwrap()]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stdout.lines().count(), 3);
    assert!(stdout.lines().all(|l| l.contains("\"skipped\"")));
    assert!(
        stderr.contains("t.parquet:1: text field \"text\" is missing: the columns are id, body"),
        "{stderr}"
    );
    // With the right flag, the rows are documents.
    let out = run(&["dedup", pq.to_str().unwrap(), "--text-field", "body", "-q"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.matches("\"duplicate\"").count(), 2, "{stdout}");
}

#[test]
fn a_text_column_of_numbers_is_refused_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("n.parquet");
    write_parquet(
        &pq,
        vec![("text", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef)],
    );
    let out = run(&["dedup", pq.to_str().unwrap()]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
    assert!(stderr.contains("is Int64, not text"), "{stderr}");
    let _ = DataType::Int64;
}

#[test]
fn junk_named_parquet_is_one_skipped_record_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("junk.parquet");
    std::fs::write(&pq, b"PAR1 this is not a parquet file at all").unwrap();
    let empty = dir.path().join("empty.parquet");
    std::fs::write(&empty, b"").unwrap();
    let out = run(&["dedup", pq.to_str().unwrap(), empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(
        stderr.contains("junk.parquet: not a readable Parquet file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("empty.parquet: not a readable Parquet file"),
        "{stderr}"
    );
}

#[test]
fn parquet_from_a_pipe_is_read_once_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("p.parquet");
    write_parquet(
        &pq,
        vec![(
            "text",
            Arc::new(StringArray::from(vec![
                format!("A. {STORY}"),
                format!("B. {STORY}"),
            ])) as ArrayRef,
        )],
    );
    let mut child = bin()
        .args(["dedup", "-", "--input-format", "parquet", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&pq).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2);
    assert!(stdout.contains("\"duplicate_of\":\"-:1\""), "{stdout}");
}
