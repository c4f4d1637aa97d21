//! What a person sees: summaries, tables, CSV, messages, completions, the manual, and the
//! README's examples, through the real binary. Regression tests for issue 12 are named
//! `issue12_*`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_samestory"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seeds() -> String {
    root().join("data/seeds").to_str().unwrap().to_string()
}

/// Run in the project root, returning (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).current_dir(root()).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One sentence of prose that the cleaner keeps whole.
const PROSE: &str = "The minister said that the visit was aimed at the ties of the two countries, \
                     and that it would be the first of many such trips.";

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The stderr line that starts with `samestory: ` and holds `what`.
fn summary<'a>(err: &'a str, what: &str) -> &'a str {
    err.lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no {what:?} in {err}"))
}

mod summaries {
    use super::*;

    #[test]
    fn issue12_each_command_summarises_in_its_own_terms() {
        let (_, _, err) = run(&["dedup", &seeds()]);
        let line = summary(&err, "kept");
        assert!(
            line.contains("5 documents: 5 kept, 0 duplicates (0 exact), 0 skipped"),
            "{line}"
        );
        assert!(!line.contains("clusters"), "{line}");

        let (_, _, err) = run(&["clusters", &seeds()]);
        let line = summary(&err, "cluster");
        assert!(
            line.contains(
                "5 documents, 0 skipped; 1 cluster of 2+ holding 2 documents, 3 on its own"
            ),
            "{line}"
        );

        let (_, _, err) = run(&[
            "similarity",
            "data/seeds/001_3f08fdca3370518d.txt",
            "data/seeds/003_fa46ed5a0efdb5b7.txt",
        ]);
        assert!(
            err.is_empty(),
            "two documents scored: the record is the answer: {err}"
        );

        let (_, _, err) = run(&["similarity", "--pairs", &seeds()]);
        assert!(
            summary(&err, "similar pairs").contains("0 similar pairs"),
            "{err}"
        );
    }

    #[test]
    fn issue12_plurals_read_right() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "one.txt", PROSE);
        let (code, _, err) = run(&["dedup", dir.path().to_str().unwrap()]);
        assert_eq!(code, 0);
        assert!(err.contains("1 document: 1 kept, 0 duplicates"), "{err}");
        assert!(err.contains("0 candidate pairs"), "{err}");
    }

    #[test]
    fn issue12_no_inputs_say_where_samestory_looked() {
        let dir = tempfile::tempdir().unwrap();
        let (code, out, err) = run(&["dedup", dir.path().to_str().unwrap()]);
        assert_eq!(code, 2);
        assert!(out.is_empty());
        assert!(
            err.contains("no input documents") && err.contains("holds no files"),
            "{err}"
        );
        write(dir.path(), "notes.md", "not a document");
        let (code, _, err) = run(&["dedup", dir.path().to_str().unwrap()]);
        assert_eq!(code, 2);
        assert!(
            err.contains("1 file but none named .txt") && err.contains("--input-format"),
            "{err}"
        );
    }
}

mod listings {
    use super::*;

    #[test]
    fn issue12_clusters_all_lists_every_document_with_its_status() {
        let dir = tempfile::tempdir().unwrap();
        for f in std::fs::read_dir(root().join("data/seeds")).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "txt") {
                std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
            }
        }
        write(dir.path(), "empty.txt", "");
        let (code, out, _) = run(&["clusters", "--all", dir.path().to_str().unwrap()]);
        assert_eq!(code, 0);
        let records = json_lines(&out);
        let total: u64 = records.iter().map(|r| r["size"].as_u64().unwrap()).sum();
        assert_eq!(total, 6, "every document once: {out}");
        let statuses: Vec<&str> = records
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            ["cluster", "single", "single", "single", "skipped"]
        );
        assert_eq!(records[4]["reason"], "empty after cleaning");
        assert_eq!(records[4]["representative"], "empty.txt");
    }

    #[test]
    fn issue12_tables_escape_control_characters() {
        let dir = tempfile::tempdir().unwrap();
        let text = PROSE;
        let body = format!(
            "{}\n{}\n",
            serde_json::json!({"id": "a\nb", "text": text}),
            serde_json::json!({"id": "c\td", "text": text})
        );
        let input = write(dir.path(), "ctl.jsonl", body);
        let (code, out, _) = run(&["dedup", "--format", "table", input.to_str().unwrap()]);
        assert_eq!(code, 0);
        assert_eq!(
            out.lines().count(),
            3,
            "a header and one row per document: {out}"
        );
        assert!(out.contains("a\\nb") && out.contains("c\\td"), "{out}");
    }

    #[test]
    fn issue12_sweep_thresholds_print_alike() {
        let labels = root().join("data/seeds/labels.tsv");
        let (code, out, err) = run(&[
            "eval",
            "--labels",
            labels.to_str().unwrap(),
            &seeds(),
            "--sweep",
            "0.05:0.2:0.05",
            "--format",
            "table",
        ]);
        assert_eq!(code, 0, "{err}");
        let thresholds: Vec<&str> = out
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(thresholds, ["0.05", "0.10", "0.15", "0.20"]);
    }

    #[test]
    fn issue12_csv_has_a_header_and_rfc4180_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let text = PROSE;
        let body = format!(
            "{}\n{}\n",
            serde_json::json!({"id": "a, \"quoted\"", "text": text}),
            serde_json::json!({"id": "b", "text": text})
        );
        let input = write(dir.path(), "c.jsonl", body);
        let input = input.to_str().unwrap();
        for (cmd, header) in [
            ("dedup", "id,status,duplicate_of,similarity,reason"),
            (
                "clusters",
                "cluster,size,status,representative,id,title,similarity,reason",
            ),
        ] {
            let (code, out, _) = run(&[cmd, "--format", "csv", input]);
            assert_eq!(code, 0);
            assert_eq!(out.lines().next(), Some(header));
            let mut reader = csv::Reader::from_reader(out.as_bytes());
            let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
            assert_eq!(rows.len(), 2, "{out}");
            assert!(
                rows.iter().any(|r| r.iter().any(|f| f == "a, \"quoted\"")),
                "{out}"
            );
        }
        let (code, out, _) = run(&["similarity", "--pairs", "--format", "csv", input]);
        assert_eq!(code, 0);
        assert!(out.starts_with("a,b,jaccard,containment_a,containment_b,minhash,shared,shingles_a,shingles_b,cleaning\n"), "{out}");
        assert_eq!(out.lines().count(), 2);
    }
}

mod flags {
    use super::*;

    #[test]
    fn pairs_of_exact_copies_are_listed_with_their_scores() {
        // Three copies of one page and a page sharing a passage with it: six pairs, scored
        // from the rebuilt sets (a copy's set is its leader's).
        let dir = tempfile::tempdir().unwrap();
        let page = std::fs::read(root().join("data/seeds/001_3f08fdca3370518d.txt")).unwrap();
        for i in 1..=3 {
            write(dir.path(), &format!("c{i}.txt"), &page);
        }
        let other = std::fs::read(root().join("data/seeds/003_fa46ed5a0efdb5b7.txt")).unwrap();
        write(dir.path(), "other.txt", other);
        let (code, out, err) = run(&[
            "similarity",
            "--pairs",
            "--threshold",
            "0.04",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        let pairs = json_lines(&out);
        assert_eq!(pairs.len(), 6, "{out}");
        let with_other: Vec<_> = pairs.iter().filter(|p| p["b"] == "other.txt").collect();
        assert_eq!(with_other.len(), 3);
        assert!(
            with_other
                .iter()
                .all(|p| p["jaccard"] == with_other[0]["jaccard"] && p["shingles_a"] == 376)
        );
    }

    #[test]
    fn issue12_clean_takes_only_its_flags_and_honours_format() {
        let file = "data/seeds/002_735fed19aafc4c9a.txt";
        let (code, _, err) = run(&["clean", "--threshold", "0.5", file]);
        assert_eq!(code, 2);
        assert!(err.contains("--threshold"), "{err}");
        // --verify means something to dedup only.
        for cmd in ["similarity", "clusters", "eval"] {
            let (code, _, err) = run(&[cmd, "--verify", "memory", file]);
            assert_eq!(code, 2, "{cmd}");
            assert!(err.contains("--verify"), "{err}");
        }
        let (code, _, _) = run(&["dedup", "-q", "--verify", "memory", file]);
        assert_eq!(code, 0);
        let (code, out, _) = run(&["clean", "--format", "json", file]);
        assert_eq!(code, 0);
        let record = &json_lines(&out)[0];
        assert_eq!(record["id"], file);
        assert!(
            record["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["kept"] == true)
        );
        let (code, out, _) = run(&["clean", "--show-dropped", file]);
        assert_eq!(code, 0);
        assert!(out.lines().any(|l| l.starts_with("- [")), "{out}");
    }

    #[test]
    fn issue12_completions_and_man_page_come_from_the_flags() {
        let (code, out, _) = run(&["completions", "bash"]);
        assert_eq!(code, 0);
        assert!(
            out.contains("samestory") && out.contains("--max-document-bytes"),
            "bash completions list the flags"
        );
        let (code, out, _) = run(&["completions", "zsh"]);
        assert_eq!(code, 0);
        assert!(out.contains("#compdef samestory"));
        let (code, out, _) = run(&["man"]);
        assert_eq!(code, 0);
        assert!(
            out.starts_with(".ie") || out.contains(".TH samestory"),
            "roff: {}",
            &out[..80.min(out.len())]
        );
        for sub in [
            "samestory-dedup",
            "samestory-clusters",
            "samestory-similarity",
        ] {
            assert!(out.contains(sub), "{sub} has a section");
        }
    }

    #[test]
    fn issue12_json_field_errors_keep_the_record_id() {
        let dir = tempfile::tempdir().unwrap();
        let input = write(
            dir.path(),
            "t.jsonl",
            "{\"id\": \"story-7\", \"text\": 42}\n{\"id\": \"ok\", \"text\": \"fine\"}\n",
        );
        let (code, out, err) = run(&["dedup", input.to_str().unwrap()]);
        assert_eq!(code, 0);
        let r = json_lines(&out);
        assert_eq!(r[0]["id"], "story-7", "the record keeps its id");
        assert!(
            err.contains("t.jsonl:1: text field \"text\" is a number, not a string"),
            "{err}"
        );
    }
}

mod readme {
    use super::*;

    /// Every `$ samestory ...` example in a `console` block of the README is run, and its
    /// stdout must be what the README shows (a `...` line ends the comparison early).
    #[test]
    fn issue12_readme_examples_match_the_program() {
        let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
        let mut examples: Vec<(String, Vec<String>)> = Vec::new();
        let mut in_console = false;
        for line in readme.lines() {
            if line.starts_with("```") {
                in_console = line.starts_with("```console");
                continue;
            }
            if !in_console {
                continue;
            }
            if let Some(command) = line.strip_prefix("$ ") {
                examples.push((command.to_string(), Vec::new()));
            } else if let Some((_, expected)) = examples.last_mut() {
                expected.push(line.to_string());
            }
        }
        let mut checked = 0;
        for (command, expected) in &examples {
            assert!(command.starts_with("samestory "), "{command}");
            let args: Vec<&str> = command.split_whitespace().skip(1).collect();
            let (code, out, err) = run(&args);
            assert_eq!(code, 0, "{command}: {err}");
            let actual: Vec<&str> = out.lines().collect();
            let (shown, elided) = match expected.iter().position(|l| l == "...") {
                Some(at) => (&expected[..at], true),
                None => (&expected[..], false),
            };
            if elided {
                assert!(actual.len() >= shown.len(), "{command}: {out}");
                assert_eq!(
                    &actual[..shown.len()],
                    shown,
                    "README example drifted: {command}"
                );
            } else {
                assert_eq!(actual, shown, "README example drifted: {command}");
            }
            checked += 1;
        }
        assert!(
            checked >= 5,
            "the README's examples are found and checked ({checked})"
        );
    }
}

mod events {
    use super::*;

    /// The members of each cluster record in `out`, as `id` maps their ids, sorted within
    /// a group and the groups sorted.
    fn member_groups(out: &str, id: impl Fn(&str) -> String) -> Vec<Vec<String>> {
        let mut groups: Vec<Vec<String>> = json_lines(out)
            .iter()
            .map(|r| {
                let mut ids: Vec<String> = r["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| id(m["id"].as_str().unwrap()))
                    .collect();
                ids.sort();
                ids
            })
            .collect();
        groups.sort();
        groups
    }

    /// Issue 7: the seeds' three reports of the Xi–Putin call (two agencies, two wordings)
    /// are one event; Li Shangfu's trip and the 2024 visit, same actors, are not. The copy
    /// level keeps only the Reuters copies together.
    #[test]
    fn issue7_seeds_group_by_event_and_copies_stay_apart() {
        let seeds = root().join("data/seeds");
        let seeds = seeds.to_str().unwrap();
        let groups = |level: &str| -> Vec<Vec<String>> {
            let (code, out, err) = run(&["clusters", "--level", level, "--all", "-q", seeds]);
            assert_eq!(code, 0, "{err}");
            member_groups(&out, |id| id[..3].to_string())
        };
        let ids = |g: &[&[&str]]| -> Vec<Vec<String>> {
            g.iter()
                .map(|x| x.iter().map(|s| s.to_string()).collect())
                .collect()
        };
        assert_eq!(
            groups("events"),
            ids(&[&["000"], &["001", "002", "003"], &["004"]])
        );
        assert_eq!(
            groups("copies"),
            ids(&[&["000"], &["001", "003"], &["002"], &["004"]])
        );
        // Each event member names its copy cluster; the two Reuters copies share one.
        let (_, out, _) = run(&["clusters", "--level", "events", "-q", seeds]);
        let r = &json_lines(&out)[0];
        let story = |id: &str| {
            r["members"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"].as_str().unwrap().starts_with(id))
                .unwrap()["story"]
                .as_u64()
                .unwrap()
        };
        assert_eq!(story("001"), story("003"));
        assert_ne!(story("001"), story("002"));
        assert!(!r["terms"].as_array().unwrap().is_empty());
    }

    /// Two events of one kind (the Indian navy catching pirates in the Gulf of Aden, twice:
    /// another ship, count, year, vessel and commander), each reported by seven outlets in
    /// their own words: the subject merges them, the split step parts them again.
    #[test]
    fn issue7_two_events_of_one_kind_are_split() {
        let verbs = [
            "captured", "seized", "detained", "arrested", "caught", "nabbed",
        ];
        let objects = ["pirates", "sea robbers", "raiders", "hijackers"];
        let places = [
            "in the Gulf of Aden",
            "off the coast of Somalia in the Gulf of Aden",
            "near Aden",
        ];
        let asides = [
            "officials said",
            "a spokesman added",
            "according to the ministry",
            "the statement said",
            "reports said",
            "sources confirmed",
        ];
        let events = [
            (
                "INS Mysore",
                "23",
                "2008",
                "Ethiopian",
                "MV Gibe",
                "Commander Rao",
            ),
            (
                "INS Sukanya",
                "26",
                "2011",
                "Liberian",
                "MV Jag Arnav",
                "Captain Singh",
            ),
        ];
        let mut lines = String::new();
        for i in 0..14usize {
            let (ship, count, year, flag, vessel, commander) = events[i % 2];
            let own = |j: usize| format!("unique{i}x{j}");
            let text = format!(
                "The Indian navy {} {count} {} {}, {}.\n\
                 The warship {ship} responded to a distress call from the {flag} merchant vessel {vessel} in {year}.\n\
                 {commander} led the marine commandos who boarded the boats, {}.\n\
                 Piracy has troubled shipping lanes for years and navies patrol the waters {} {} {}.\n\
                 The {count} suspects were handed over to authorities {} {} {}.",
                verbs[i % 6],
                objects[i % 4],
                places[i % 3],
                asides[(i * 5) % 6],
                asides[(i + 1) % 6],
                own(0),
                own(1),
                own(2),
                own(3),
                own(4),
                own(5),
            );
            let id = format!("{}{i:02}", ["a", "b"][i % 2]);
            lines.push_str(&serde_json::json!({"id": id, "text": text}).to_string());
            lines.push('\n');
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.jsonl");
        std::fs::write(&path, lines).unwrap();
        let events = |extra: &[&str]| -> Vec<Vec<String>> {
            let mut args = vec!["clusters", "--level", "events", "--all", "-q"];
            args.extend(extra);
            args.push(path.to_str().unwrap());
            let (code, out, err) = run(&args);
            assert_eq!(code, 0, "{err}");
            member_groups(&out, str::to_string)
        };
        let side = |e: &str| -> Vec<String> {
            (0..14usize)
                .filter(|i| ["a", "b"][i % 2] == e)
                .map(|i| format!("{e}{i:02}"))
                .collect()
        };
        assert_eq!(events(&[]), vec![side("a"), side("b")]);
        let mut all = side("a");
        all.extend(side("b"));
        all.sort();
        assert_eq!(events(&["--no-event-split"]), vec![all]);
    }

    /// The same events whatever the input order and thread count.
    #[test]
    fn issue7_events_are_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let seeds = root().join("data/seeds");
        // Reverse the names so that input order differs.
        for entry in std::fs::read_dir(&seeds).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            if name.ends_with(".txt") {
                std::fs::copy(
                    &p,
                    dir.path()
                        .join(format!("{}-{name}", 9 - name[2..3].parse::<u8>().unwrap())),
                )
                .unwrap();
            }
        }
        let ids = |args: &[&str]| -> Vec<Vec<String>> {
            let (_, out, _) = run(args);
            json_lines(&out)
                .iter()
                .map(|r| {
                    let mut v: Vec<String> = r["members"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| {
                            m["id"].as_str().unwrap().rsplit('-').next().unwrap()[..3].to_string()
                        })
                        .collect();
                    v.sort();
                    v
                })
                .collect()
        };
        let a = ids(&[
            "clusters",
            "--level",
            "events",
            "-q",
            "--threads",
            "1",
            seeds.to_str().unwrap(),
        ]);
        let b = ids(&[
            "clusters",
            "--level",
            "events",
            "-q",
            "--threads",
            "2",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(a, b);
    }

    /// `eval --level events` reports B-cubed beside pairwise scores and ARI.
    #[test]
    fn issue7_eval_reports_b_cubed_at_the_events_level() {
        let seeds = root().join("data/seeds");
        let labels = seeds.join("labels.tsv");
        let (code, out, err) = run(&[
            "eval",
            "--level",
            "events",
            "-q",
            "--labels",
            labels.to_str().unwrap(),
            seeds.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        let r = &json_lines(&out)[0];
        assert_eq!(r["ari"], 1.0);
        assert_eq!(r["b3_f1"], 1.0);
    }
}
