//! Hostile input: what a crawl holds and what a new user types, run through the real binary.
//! Every input is generated here (nothing large is committed). Each case asserts the exit
//! code, one output line per input record where that is the contract, and a stderr message
//! naming the file and the reason. Regression tests for issue 9 are named `issue9_*`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_samestory"))
}

/// Run, returning (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    output(bin().args(args).output().expect("run samestory"))
}

fn output(out: Output) -> (i32, String, String) {
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, content).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Prose that the cleaner keeps, distinct per `n`: content words drawn from 5,000 made-up
/// words (letters only: the tokenizer folds digits) alternate with stopwords, so two stories share no 5-word run.
fn story(n: usize) -> String {
    let mut state = (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut pick = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let k = state % 5000;
        let letter = |i: u64| char::from(b'a' + (i % 26) as u8);
        format!("zo{}{}{}", letter(k), letter(k / 26), letter(k / 676))
    };
    let mut out = String::new();
    for _ in 0..4 {
        let mut sentence = vec!["The".to_string()];
        for i in 0..10 {
            sentence.push(pick());
            sentence.push(["said", "of", "and", "that", "was", "in"][i % 6].to_string());
        }
        sentence.push(format!("story {n} end."));
        out.push_str(&sentence.join(" "));
        out.push('\n');
    }
    out
}

/// `n` JSON Lines records numbered from 0, the text of record `i` given by `text`.
fn records(n: usize, text: impl Fn(usize) -> String) -> String {
    (0..n)
        .map(|i| format!("{}\n", record(&i.to_string(), &text(i))))
        .collect()
}

/// JSON Lines of `(id, text)` records, one a line.
fn jsonl(records: &[(&str, &str)]) -> String {
    records
        .iter()
        .map(|(id, text)| format!("{}\n", record(id, text)))
        .collect()
}

fn record(id: &str, text: &str) -> String {
    serde_json::json!({"id": id, "text": text}).to_string()
}

/// The summary line's number before `what` (e.g. "candidate pairs").
fn summary_count(stderr: &str, what: &str) -> u64 {
    let at = stderr
        .find(what)
        .unwrap_or_else(|| panic!("no {what:?} in {stderr}"));
    stderr[..at]
        .split_whitespace()
        .last()
        .unwrap()
        .trim_start_matches('(')
        .replace(',', "")
        .parse()
        .unwrap()
}

mod outputs {
    use super::*;

    #[test]
    fn issue9_kept_file_that_is_the_input_is_refused_and_left_intact() {
        let dir = tempfile::tempdir().unwrap();
        let body = jsonl(&[("a", &story(1)), ("b", &story(1))]);
        let input = write(dir.path(), "copy.jsonl", &body);
        let (code, out, err) = run(&["dedup", s(&input), "--kept", s(&input)]);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty());
        assert!(err.contains("refusing to overwrite an input"), "{err}");
        assert!(err.matches("copy.jsonl").count() >= 2, "names both: {err}");
        assert_eq!(std::fs::read_to_string(&input).unwrap(), body);
        // Through a symbolic link, too.
        #[cfg(unix)]
        {
            let link = dir.path().join("link.jsonl");
            std::os::unix::fs::symlink(&input, &link).unwrap();
            let (code, _, _) = run(&["dedup", s(dir.path()), "--kept", s(&link)]);
            assert_eq!(code, 2);
            assert_eq!(std::fs::read_to_string(&input).unwrap(), body);
        }
    }

    #[test]
    fn issue9_kept_file_is_complete_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let input = write(
            dir.path(),
            "in.jsonl",
            jsonl(&[("a", &story(1)), ("b", &story(1)), ("c", &story(2))]),
        );
        let out_dir = tempfile::tempdir().unwrap();
        let kept = out_dir.path().join("kept.jsonl");
        std::fs::write(&kept, "old content that must be replaced whole\n").unwrap();
        let (code, out, err) = run(&["dedup", s(&input), "--kept", s(&kept)]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(json_lines(&out).len(), 3);
        let ids: Vec<String> = json_lines(&std::fs::read_to_string(&kept).unwrap())
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["a", "c"]);
        let names: Vec<_> = std::fs::read_dir(out_dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["kept.jsonl"]);
    }
}

mod streams {
    use super::*;

    fn corpus() -> String {
        (0..6)
            .map(|i| record(&format!("d{i}"), &story(i / 2)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Three pairs of copies: the second of each pair is a duplicate.
    fn assert_three_duplicates(code: i32, out: &str, err: &str) {
        assert_eq!(code, 0, "{err}");
        let records = json_lines(out);
        assert_eq!(records.len(), 6);
        let dups = records
            .iter()
            .filter(|r| r["status"] == "duplicate")
            .count();
        assert_eq!(dups, 3, "{out}");
    }

    #[test]
    fn issue9_dev_stdin_is_read_once_and_verified() {
        let mut child = bin()
            .args(["dedup", "--input-format", "jsonl", "/dev/stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(corpus().as_bytes()).unwrap();
        drop(stdin);
        let (code, out, err) = output(child.wait_with_output().unwrap());
        assert_three_duplicates(code, &out, &err);
    }

    #[cfg(unix)]
    #[test]
    fn issue9_named_fifo_with_a_writer_does_not_hang() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("feed.jsonl");
        let made = Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("mkfifo is not available; skipping");
            return;
        }
        let writer = {
            let fifo = fifo.clone();
            let body = corpus();
            std::thread::spawn(move || {
                std::fs::write(&fifo, body).unwrap();
            })
        };
        let (code, out, err) = run(&["dedup", s(&fifo), "--kept", s(&dir.path().join("k"))]);
        writer.join().unwrap();
        assert_three_duplicates(code, &out, &err);
        let kept = std::fs::read_to_string(dir.path().join("k")).unwrap();
        assert_eq!(
            kept.lines().count(),
            3,
            "kept copies written from the spool"
        );
    }

    #[test]
    fn stdin_given_twice_is_read_once_and_its_ids_repeat() {
        let mut child = bin()
            .args(["dedup", "-", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(corpus().as_bytes()).unwrap();
        drop(stdin);
        let (code, out, err) = output(child.wait_with_output().unwrap());
        assert_eq!(code, 0, "{err}");
        let records = json_lines(&out);
        assert_eq!(records.len(), 12);
        assert!(records[6..].iter().all(|r| r["status"] == "skipped"
            && r["reason"].as_str().unwrap().starts_with("repeated id")));
    }
}

mod encodings {
    use super::*;

    #[test]
    fn issue9_utf8_bom_keeps_the_first_jsonl_record() {
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            "\u{feff}{}\r\n{}\r\n",
            record("first", &story(1)),
            record("second", &story(2))
        );
        let input = write(dir.path(), "bom.jsonl", body);
        let (code, out, err) = run(&["dedup", s(&input)]);
        assert_eq!(code, 0, "{err}");
        let records = json_lines(&out);
        assert_eq!(records[0]["id"], "first");
        assert!(records.iter().all(|r| r["status"] == "kept"), "{out}");
    }

    #[test]
    fn issue9_utf8_bom_in_a_labels_header() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "docs/a.txt", story(1));
        write(dir.path(), "docs/b.txt", story(1));
        let labels = write(
            dir.path(),
            "labels.tsv",
            "\u{feff}id\tcluster\na.txt\t1\nb.txt\t1\n",
        );
        let (code, out, err) = run(&[
            "eval",
            "--labels",
            s(&labels),
            s(&dir.path().join("docs")),
            "--format",
            "json",
        ]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(json_lines(&out)[0]["f1"], 1.0, "{out}");
    }

    #[test]
    fn utf16_text_with_a_bom_is_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let text = story(3);
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        write(dir.path(), "le.txt", bytes);
        write(dir.path(), "plain.txt", &text);
        let (code, out, err) = run(&["dedup", s(dir.path())]);
        assert_eq!(code, 0, "{err}");
        let records = json_lines(&out);
        assert_eq!(records[0]["status"], "kept");
        assert_eq!(records[1]["status"], "duplicate", "{out}");
    }

    #[test]
    fn invalid_utf8_text_is_decoded_and_the_replacements_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = story(1).into_bytes();
        bytes.insert(10, 0xFF);
        write(dir.path(), "bad.txt", bytes);
        write(dir.path(), "good.txt", story(1));
        let (code, out, err) = run(&["dedup", s(dir.path())]);
        assert_eq!(code, 0, "{err}");
        let r = json_lines(&out);
        assert_eq!(r[0]["status"], "kept", "the document is not lost: {out}");
        assert!(
            err.contains("bad.txt: undecodable bytes replaced with U+FFFD (1 sequence)"),
            "{err}"
        );
    }

    #[test]
    fn invalid_utf8_inside_a_json_string_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut body = format!("{}\n", record("ok", &story(1))).into_bytes();
        body.extend_from_slice(b"{\"id\":\"x\",\"text\":\"caf\xE9\"}\n");
        let input = write(dir.path(), "bad.jsonl", body);
        let (code, out, err) = run(&["dedup", s(&input)]);
        assert_eq!(code, 0);
        assert_eq!(json_lines(&out).len(), 2);
        assert!(err.contains("bad.jsonl:2:"), "{err}");
    }

    #[test]
    fn legacy_charset_declared_in_html_is_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let paras: String = story(4).lines().map(|l| format!("<p>{l}</p>")).collect();
        let mut page = b"<html><head><meta charset=\"iso-8859-1\"><title>Caf\xE9 cr\xE8me</title></head><body>".to_vec();
        page.extend_from_slice(paras.as_bytes());
        page.extend_from_slice(b"</body></html>");
        write(dir.path(), "latin1.html", page);
        let (code, out, err) = run(&["clusters", "--all", s(dir.path())]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(json_lines(&out)[0]["members"][0]["title"], "Café crème");
    }

    #[test]
    fn crlf_jsonl_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let input = write(
            dir.path(),
            "crlf.jsonl",
            format!(
                "{}\r\n\r\n{}\r\n",
                record("a", &story(1)),
                record("b", &story(1))
            ),
        );
        let (code, out, _) = run(&["dedup", s(&input)]);
        assert_eq!(code, 0);
        let r = json_lines(&out);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1]["duplicate_of"], "a");
    }
}

mod fields {
    use super::*;

    fn corpus(dir: &Path) -> PathBuf {
        let body: String = (0..50)
            .map(|i| format!("{}\n", record(&format!("d{i}"), &story(i))))
            .collect();
        write(dir, "c.jsonl", body)
    }

    #[test]
    fn issue9_text_field_no_record_has_is_one_error() {
        let dir = tempfile::tempdir().unwrap();
        let input = corpus(dir.path());
        let (code, out, err) = run(&["dedup", s(&input), "--text-field", "nope"]);
        assert_eq!(code, 2);
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "one message, not 50: {err}");
        assert!(
            err.contains("\"nope\"") && err.contains("\"text\""),
            "{err}"
        );
        assert!(err.contains("c.jsonl:1"), "{err}");
    }

    #[test]
    fn issue9_id_field_no_record_has_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let input = corpus(dir.path());
        let (code, out, err) = run(&["dedup", s(&input), "--id-field", "nope"]);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty());
        assert!(err.contains("id field \"nope\""), "{err}");
        // Without the flag, records without ids get PATH:LINE, as documented.
        let bare = write(
            dir.path(),
            "bare.jsonl",
            format!("{{\"text\":\"{}\"}}\n", "x y z"),
        );
        let (code, out, _) = run(&["dedup", s(&bare)]);
        assert_eq!(code, 0);
        assert!(
            json_lines(&out)[0]["id"]
                .as_str()
                .unwrap()
                .ends_with("bare.jsonl:1")
        );
    }

    #[test]
    fn index_and_sign_refuse_a_field_no_record_has_and_write_nothing() {
        // `dedup`'s own output fed back to the index: no record has "text". Before, `index
        // add` indexed all of them as skipped (exit 0), taking their ids for good.
        let dir = tempfile::tempdir().unwrap();
        let input = corpus(dir.path());
        let (code, own, err) = run(&["dedup", s(&input), "-q"]);
        assert_eq!(code, 0, "{err}");
        let own = write(dir.path(), "own.jsonl", own);
        let idx = dir.path().join("idx");
        for args in [
            vec!["index", "add", s(&idx), s(&own)],
            vec!["index", "add", s(&idx), s(&input), "--text-field", "nope"],
            vec!["index", "add", s(&idx), s(&input), "--id-field", "nope"],
        ] {
            let (code, out, err) = run(&args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(out.is_empty(), "{args:?}: {out}");
            assert_eq!(err.lines().count(), 1, "one message: {err}");
            assert!(err.contains("none of the 50 JSON Lines records"), "{err}");
        }
        let (code, out, err) = run(&["index", "stats", s(&idx)]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).unwrap()["documents"],
            0
        );
        // The right flags then add every document under its own id; the refused runs left
        // no parameters behind (an index without documents takes the next add's).
        let (code, out, err) = run(&["index", "add", s(&idx), s(&input), "-q", "--ngram", "4"]);
        assert_eq!(code, 0, "{err}");
        let records = json_lines(&out);
        assert_eq!(records.len(), 50);
        assert!(records.iter().all(|r| r["status"] != "skipped"), "{out}");
        let (code, _, err) = run(&["index", "add", s(&idx), s(&input), "-q"]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("ngram: the index has 4, this run has 5"),
            "{err}"
        );
        let (code, out, err) = run(&["index", "query", s(&idx), s(&own), "--ngram", "4"]);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty());
        assert!(err.contains("text field \"text\""), "{err}");
        // `sign` (the Spark handoff) refuses it too, and leaves no half-written table.
        let out_dir = dir.path().join("shards");
        let (code, _, err) = run(&["sign", "--out", s(&out_dir), s(&own)]);
        assert_eq!(code, 2, "{err}");
        let left: Vec<_> = walkdir_files(&out_dir);
        assert!(left.is_empty(), "{left:?}");
    }

    fn walkdir_files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walkdir_files(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    #[test]
    fn issue9_labels_matching_no_document_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let input = corpus(dir.path());
        let labels = write(dir.path(), "l.tsv", "id\tcluster\nzzz\t1\nyyy\t1\n");
        let (code, out, err) = run(&["eval", "--labels", s(&labels), s(&input)]);
        assert_eq!(code, 2);
        assert!(out.is_empty());
        assert!(
            err.contains("l.tsv") && err.contains("none of its 2 labels"),
            "{err}"
        );
    }

    #[test]
    fn values_of_the_wrong_type_say_which_field() {
        let dir = tempfile::tempdir().unwrap();
        let input = write(
            dir.path(),
            "types.jsonl",
            [
                r#"{"id": "n", "text": 42}"#.to_string(),
                r#"{"id": {"a": 1}, "text": "hello there"}"#.to_string(),
                serde_json::json!({"id": "t", "title": 7, "text": story(1)}).to_string(),
                r#"{"id": "null", "text": null}"#.to_string(),
                r#"[1, 2, 3]"#.to_string(),
            ]
            .join("\n"),
        );
        let (code, out, err) = run(&["clusters", "--all", s(&input)]);
        assert_eq!(code, 0, "{err}");
        assert!(
            err.contains("types.jsonl:1: text field \"text\" is a number, not a string"),
            "{err}"
        );
        assert!(
            err.contains("types.jsonl:2:")
                && err.contains("id field \"id\" must be a string or a number"),
            "{err}"
        );
        assert!(
            err.contains("types.jsonl:4:") && err.contains("is null"),
            "{err}"
        );
        assert!(err.contains("types.jsonl:5:"), "{err}");
        // A numeric title is a title.
        let clusters = json_lines(&out);
        assert_eq!(clusters[0]["members"][0]["title"], "7", "{out}");
        let (_, out, _) = run(&["dedup", s(&input)]);
        assert_eq!(json_lines(&out).len(), 5, "one line per record");
    }
}

mod ids {
    use super::*;

    #[test]
    fn issue9_repeated_ids_are_skipped_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let input = write(
            dir.path(),
            "rep.jsonl",
            jsonl(&[("a", &story(1)), ("b", &story(2)), ("a", &story(1))]),
        );
        let (code, out, err) = run(&["dedup", s(&input)]);
        assert_eq!(code, 0, "{err}");
        let r = json_lines(&out);
        assert_eq!(r.len(), 3);
        assert_eq!(r[2]["status"], "skipped");
        let reason = r[2]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("repeated id, first at ") && reason.ends_with("rep.jsonl:1"),
            "{reason}"
        );
        assert!(
            r.iter().all(|x| x["duplicate_of"] != x["id"]),
            "never a duplicate of itself"
        );
        let (code, out, err) = run(&["dedup", "--strict", s(&input)]);
        assert_eq!(code, 2);
        assert!(out.is_empty());
        assert!(err.contains("--strict"), "{err}");
    }

    #[test]
    fn issue9_one_file_given_twice_and_one_name_in_two_directories() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "one/x.txt", story(1));
        write(dir.path(), "two/x.txt", story(2));
        let (code, out, _) = run(&["dedup", s(&a), s(&a)]);
        assert_eq!(code, 0);
        let r = json_lines(&out);
        assert_eq!(
            (r[0]["status"].as_str(), r[1]["status"].as_str()),
            (Some("kept"), Some("skipped"))
        );
        let (code, out, _) = run(&[
            "dedup",
            s(&dir.path().join("one")),
            s(&dir.path().join("two")),
        ]);
        assert_eq!(code, 0);
        let r = json_lines(&out);
        assert_eq!(r.len(), 2);
        assert!(
            r[1]["reason"].as_str().unwrap().contains("one/x.txt"),
            "{out}"
        );
    }

    #[test]
    fn issue9_absolute_paths_give_one_leading_slash() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "abs.txt", story(1));
        assert!(a.is_absolute());
        let (_, out, _) = run(&["dedup", s(&a)]);
        let id = json_lines(&out)[0]["id"].as_str().unwrap().to_string();
        assert!(id.starts_with('/') && !id.starts_with("//"), "{id}");
        assert_eq!(id, s(&a));
    }

    #[test]
    fn issue9_representative_is_the_first_member() {
        // Three pages around one centre plus pages that first join another centre: after
        // members move to their best representative, the listing must still start with it.
        let dir = tempfile::tempdir().unwrap();
        let base = story(5);
        for (i, extra) in [
            "",
            "Extra line one said the minister.",
            "Another line here.",
        ]
        .iter()
        .enumerate()
        {
            write(
                dir.path(),
                &format!("p{i}.txt"),
                format!("{base}{extra}\n{}", story(10 + i)),
            );
        }
        let (code, out, _) = run(&["clusters", "--all", s(dir.path())]);
        assert_eq!(code, 0);
        for c in json_lines(&out) {
            assert_eq!(c["representative"], c["members"][0]["id"], "{c}");
            assert_eq!(c["members"][0]["similarity"], 1.0);
        }
    }
}

mod blowups {
    use super::*;

    #[test]
    fn issue9_identical_short_records_cost_no_candidate_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let n = 20_000;
        let body = records(n, |_| {
            "Breaking: markets fall sharply today amid fears".into()
        });
        let input = write(dir.path(), "same.jsonl", body);
        let (code, out, err) = run(&["dedup", s(&input)]);
        assert_eq!(code, 0, "{err}");
        let r = json_lines(&out);
        assert_eq!(r.len(), n);
        assert_eq!(
            r.iter().filter(|x| x["status"] == "duplicate").count(),
            n - 1
        );
        assert_eq!(summary_count(&err, "exact)"), (n - 1) as u64);
        assert_eq!(summary_count(&err, "candidate pairs"), 0, "{err}");
    }

    #[test]
    fn issue9_identical_short_records_in_clusters_keep_their_story() {
        let dir = tempfile::tempdir().unwrap();
        let n = 5_000;
        let body = records(n, |_| {
            "Breaking: markets fall sharply today amid fears".into()
        });
        let input = write(dir.path(), "same.jsonl", body);
        let (code, out, err) = run(&["clusters", s(&input)]);
        assert_eq!(code, 0, "{err}");
        let c = json_lines(&out);
        assert_eq!(c.len(), 1, "one cluster, not {n} empty pages: {err}");
        assert_eq!(c[0]["size"], n);
    }

    #[test]
    fn issue9_near_identical_short_records_stay_bounded() {
        // Each record differs in one number: not exact copies, so LSH sees one giant bucket
        // per band. Pairs are capped per member, and deduplicated across bands.
        let dir = tempfile::tempdir().unwrap();
        let n = 20_000u64;
        let body = records(n as usize, |i| {
            format!("Breaking: markets fall sharply today amid fears of recession and more {i}")
        });
        let input = write(dir.path(), "near.jsonl", body);
        let (code, out, err) = run(&["dedup", s(&input)]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(json_lines(&out).len(), n as usize);
        let candidates = summary_count(&err, "candidate pairs");
        assert!(
            candidates <= 64 * n,
            "{candidates} candidates for {n} records"
        );
    }

    #[test]
    fn issue9_threads_are_capped() {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/seeds");
        let (code, out, err) = run(&["dedup", "--threads", "10000", s(&seeds)]);
        assert_eq!(code, 2);
        assert!(out.is_empty());
        assert!(err.contains("--threads") && err.contains("256"), "{err}");
        let (code, out, _) = run(&["dedup", "--threads", "256", s(&seeds)]);
        assert_eq!(code, 0);
        assert_eq!(json_lines(&out).len(), 5);
    }

    #[cfg(unix)]
    #[test]
    fn issue9_symlink_loop_is_one_skipped_record() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.txt", story(1));
        std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
        let (code, out, err) = run(&["dedup", s(dir.path())]);
        assert_eq!(code, 0, "{err}");
        let r = json_lines(&out);
        assert_eq!(r.len(), 2, "{out}");
        let skipped = r.iter().find(|x| x["status"] == "skipped").unwrap();
        assert!(
            skipped["reason"].as_str().unwrap().contains("loop"),
            "{skipped}"
        );
        assert!(err.contains("loop"), "{err}");
    }

    #[test]
    fn issue9_oversized_document_and_record_are_skipped_and_the_run_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "big.txt", "word ".repeat(40_000));
        write(dir.path(), "small.txt", story(1));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Default::default());
        gz.write_all("bomb ".repeat(100_000).as_bytes()).unwrap();
        write(dir.path(), "bomb.txt.gz", gz.finish().unwrap());
        let long = "x ".repeat(20_000);
        let feed = jsonl(&[("r1", &story(2)), ("long", &long), ("r3", &story(3))]);
        write(dir.path(), "feed.jsonl", feed);
        let (code, out, err) = run(&[
            "dedup",
            "--max-document-bytes",
            "100K",
            "--max-record-bytes",
            "10K",
            s(dir.path()),
        ]);
        assert_eq!(code, 0, "{err}");
        let r = json_lines(&out);
        let by_id = |id: &str| {
            r.iter()
                .find(|x| x["id"].as_str().unwrap().ends_with(id))
                .unwrap()
                .clone()
        };
        assert_eq!(r.len(), 6, "{out}");
        let big = by_id("big.txt");
        assert_eq!(big["status"], "skipped");
        assert!(
            big["reason"].as_str().unwrap().contains("too-large")
                && big["reason"].as_str().unwrap().contains("200000 bytes"),
            "{big}"
        );
        assert!(
            by_id("bomb.txt.gz")["reason"]
                .as_str()
                .unwrap()
                .contains("500000 bytes")
        );
        assert!(
            by_id("feed.jsonl:2")["reason"]
                .as_str()
                .unwrap()
                .contains("too-large")
        );
        assert_eq!(
            by_id("r3")["status"],
            "kept",
            "the line after a long one is read"
        );
        assert_eq!(by_id("small.txt")["status"], "kept");
        assert!(
            err.contains("big.txt") && err.contains("feed.jsonl:2"),
            "{err}"
        );
        assert!(err.contains("3 too-large"), "{err}");
    }
}

mod junk {
    use super::*;

    #[test]
    fn empty_zero_byte_and_binary_files_under_every_extension() {
        let dir = tempfile::tempdir().unwrap();
        let junk: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for ext in ["txt", "html", "jsonl"] {
            write(dir.path(), &format!("empty.{ext}"), "");
            write(dir.path(), &format!("junk.{ext}"), &junk);
        }
        write(dir.path(), "fake.txt.gz", b"this is not gzip at all");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Default::default());
        gz.write_all(story(1).as_bytes()).unwrap();
        let mut truncated = gz.finish().unwrap();
        truncated.truncate(truncated.len() / 2);
        write(dir.path(), "truncated.txt.gz", truncated);
        write(
            dir.path(),
            "script.html",
            "<html><body><script>var a = 'The minister said that the treaty was signed';</script></body></html>",
        );
        let (code, out, err) = run(&["dedup", s(dir.path())]);
        assert_eq!(code, 0, "{err}");
        let r = json_lines(&out);
        // One line per file, except JSON Lines files with lines: the zero-byte one has no
        // record, the junk one has one record per line of junk.
        let junk_lines = junk
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .count();
        assert_eq!(r.len(), 2 + 2 + junk_lines + 2 + 1, "{out}");
        assert!(r.iter().all(|x| x["status"] == "skipped"), "{out}");
        // stderr names the first problems (then counts the rest); every output line says why.
        for name in ["fake.txt.gz", "junk.jsonl:1"] {
            assert!(err.contains(name), "{name} named in {err}");
        }
        assert!(err.contains("more skipped records"), "{err}");
        let reason = |id: &str| {
            r.iter()
                .find(|x| x["id"] == id)
                .and_then(|x| x["reason"].as_str())
                .unwrap()
                .to_string()
        };
        assert_eq!(reason("empty.txt"), "empty after cleaning");
        assert_eq!(reason("script.html"), "empty after cleaning");
        assert!(reason("fake.txt.gz").contains("unreadable"));
        assert!(reason("truncated.txt.gz").contains("truncated.txt.gz"));
        // Binary junk is not text: skipped as such (a few bad bytes in text are replaced).
        assert!(
            reason("junk.txt").contains("binary content"),
            "{}",
            reason("junk.txt")
        );
    }

    #[test]
    fn deeply_nested_and_unclosed_html_is_read() {
        // 100,000 nested divs: 31 s before the nesting cap (issue 8), now linear.
        let dir = tempfile::tempdir().unwrap();
        let mut page = String::from("<html><body>");
        page.push_str(&"<div>".repeat(100_000));
        page.push_str(&story(6).replace('\n', "<p>"));
        page.push_str("<table><tr><td>unclosed");
        write(dir.path(), "nested.html", &page);
        write(dir.path(), "copy.txt", story(6));
        let (code, out, err) = run(&["dedup", s(dir.path())]);
        assert_eq!(code, 0, "{err}");
        let r = json_lines(&out);
        assert_eq!(r.len(), 2);
        assert!(r.iter().any(|x| x["status"] == "duplicate"), "{out}");
    }

    #[test]
    fn flags_out_of_range_exit_2_with_a_message() {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/seeds");
        for args in [
            &["--threshold", "2"][..],
            &["--threshold", "-0.1"],
            &["--permutations", "0"],
            &["--ngram", "0"],
            &["--bands", "100", "--rows", "100"],
            &["--max-document-bytes", "0"],
            &["--max-record-bytes", "lots"],
            &["--threads", "0"],
        ] {
            let mut all = vec!["dedup", s(&seeds)];
            all.extend_from_slice(args);
            let (code, out, err) = run(&all);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(out.is_empty(), "{args:?}");
            assert!(!err.trim().is_empty(), "{args:?}");
        }
    }
}

mod scores {
    use super::*;

    #[test]
    fn issue9_similarity_says_how_it_cleaned_and_can_score_as_clusters_does() {
        // Four stories, two copies each, every page carrying one prose-like promo paragraph
        // that the per-page cleaner keeps and corpus-level cleaning removes (it recurs in
        // four clusters). Copy b also has a paragraph of its own, so scores are not 1.
        let promo = "Subscribe to our newsletter and the daily briefing that the editors of \
                     the paper send to readers in the morning with the news of the day.";
        let dir = tempfile::tempdir().unwrap();
        // Long stories, so that the shared promo alone stays under clusters' threshold.
        let long = |n: usize| (0..6).map(|k| story(10 * n + k)).collect::<String>();
        for n in 0..4 {
            write(
                dir.path(),
                &format!("s{n}a.txt"),
                format!("{}{promo}\n", long(n)),
            );
            let extra = story(100 + n);
            write(
                dir.path(),
                &format!("s{n}b.txt"),
                format!("{}{extra}{promo}\n", long(n)),
            );
        }
        let (code, out, err) = run(&["clusters", s(dir.path())]);
        assert_eq!(code, 0, "{err}");
        let clusters = json_lines(&out);
        assert_eq!(clusters.len(), 4, "{out}");
        let c = &clusters[0];
        let (rep, member) = (
            c["representative"].as_str().unwrap(),
            c["members"][1]["id"].as_str().unwrap(),
        );
        let listed = write(dir.path(), "pairs.tsv", format!("{rep}\t{member}\n"));
        let score = |preset: &str| {
            let (code, out, err) = run(&[
                "similarity",
                "--preset",
                preset,
                "--pairs-file",
                s(&listed),
                s(dir.path()),
            ]);
            assert_eq!(code, 0, "{err}");
            let r = json_lines(&out).remove(0);
            let containment = r["containment_a"]
                .as_f64()
                .unwrap()
                .max(r["containment_b"].as_f64().unwrap());
            (containment, r["cleaning"].as_str().unwrap().to_string())
        };
        let (as_clusters, cleaning) = score("clusters");
        assert_eq!(cleaning, "corpus");
        assert_eq!(as_clusters, c["members"][1]["similarity"].as_f64().unwrap());
        let (per_page, cleaning) = score("dedup");
        assert_eq!(cleaning, "page");
        assert_ne!(
            per_page, as_clusters,
            "the promo paragraph counts only per page"
        );
    }
}

/// `dedup` keeps the first pass's shingle values in a temporary file; where none can be made
/// (`TMPDIR` missing or not writable), the second read rebuilds them from the input and
/// the records are the same.
#[test]
fn dedup_without_a_writable_temporary_directory_decides_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for i in 0..40 {
        let text = format!("{} Update {}.", story(i % 8), i / 8);
        lines.push_str(&serde_json::json!({"id": format!("d{i}"), "text": text}).to_string());
        lines.push('\n');
    }
    let input = write(dir.path(), "in.jsonl", lines);
    let (code, normal, err) = run(&["dedup", "-q", s(&input)]);
    assert_eq!(code, 0, "{err}");
    let records = json_lines(&normal);
    assert_eq!(records.len(), 40);
    assert!(
        records.iter().any(|r| r["status"] == "duplicate"),
        "near copies to verify: {normal}"
    );
    let missing = dir.path().join("no-such-dir");
    let out = bin()
        .args(["dedup", "-q", s(&input)])
        .env("TMPDIR", &missing)
        .output()
        .unwrap();
    let (code, without, err) = output(out);
    assert_eq!(code, 0, "{err}");
    assert_eq!(without, normal);
}
