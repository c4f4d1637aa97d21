//! WARC input (issue 11, item 1): crawl files as Common Crawl writes them, generated here.
//! Every document record gets one output line (kept, duplicate, or skipped with a reason
//! naming the file and the record number); records that are not documents are read past.

use std::io::Write;
use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_samestory"))
}

fn record(kind: &str, uri: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: {uri}\r\n\
         WARC-Date: 2022-12-30T10:00:00Z\r\nWARC-Record-ID: <urn:uuid:{kind}-{uri}>\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

fn http(content_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\r\n").into_bytes();
    out.extend_from_slice(payload);
    out
}

const STORY: &str = "The minister said on Tuesday that the visit was aimed at showing the \
    determination of the two countries to strengthen their ties, and he added that it would \
    be the first of many such trips in the coming year, according to a statement released \
    by the foreign ministry after the talks had ended late in the evening.";

fn page(extra: &str) -> String {
    format!(
        "<html><head><title>Visit</title></head><body><nav>Home | World | Sport</nav>\
         <p>{STORY}</p><p>{STORY} {extra}</p><footer>© Example</footer></body></html>"
    )
}

/// A crawl: warcinfo, request, an HTML response, metadata, an image, a redirect, a near
/// copy of the first page (other chrome, a sentence more), a WET conversion.
fn crawl() -> Vec<Vec<u8>> {
    vec![
        record(
            "warcinfo",
            "",
            "application/warc-fields",
            b"software: test\r\n",
        ),
        record(
            "request",
            "http://a.example/1",
            "application/http; msgtype=request",
            b"GET /1 HTTP/1.1\r\nHost: a.example\r\n\r\n",
        ),
        record(
            "response",
            "http://a.example/1",
            "application/http; msgtype=response",
            &http("text/html; charset=utf-8", page("").as_bytes()),
        ),
        record(
            "metadata",
            "http://a.example/1",
            "application/warc-fields",
            b"x: 1\r\n",
        ),
        record(
            "response",
            "http://b.example/logo.png",
            "application/http; msgtype=response",
            &http("image/png", b"\x89PNG\r\n\x1a\n...."),
        ),
        record(
            "response",
            "http://b.example/old",
            "application/http; msgtype=response",
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\n\r\n",
        ),
        record(
            "response",
            "http://c.example/2",
            "application/http; msgtype=response",
            &http(
                "text/html",
                page("Officials from both sides called the meeting useful.").as_bytes(),
            ),
        ),
        record(
            "conversion",
            "http://d.example/3",
            "text/plain",
            STORY.as_bytes(),
        ),
    ]
}

fn write(dir: &Path, name: &str, records: &[Vec<u8>], gzip: bool) -> String {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    for r in records {
        if gzip {
            // One gzip member per record, as Common Crawl writes them.
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(r).unwrap();
            file.write_all(&enc.finish().unwrap()).unwrap();
        } else {
            file.write_all(r).unwrap();
        }
    }
    path.to_str().unwrap().to_string()
}

fn dedup(path: &str) -> (i32, Vec<serde_json::Value>, String) {
    let out = bin().args(["dedup", "-q", path]).output().unwrap();
    let records = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code().unwrap(),
        records,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_document_record_is_one_line_and_the_rest_are_read_past() {
    let dir = tempfile::tempdir().unwrap();
    for gzip in [false, true] {
        let name = if gzip { "crawl.warc.gz" } else { "crawl.warc" };
        let path = write(dir.path(), name, &crawl(), gzip);
        let (code, records, err) = dedup(&path);
        assert_eq!(code, 0, "{err}");
        let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [
                "http://a.example/1",
                "http://b.example/logo.png",
                "http://b.example/old",
                "http://c.example/2",
                "http://d.example/3"
            ]
        );
        let status: Vec<&str> = records
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect();
        // The WET text is the story itself: a near copy too.
        assert_eq!(
            status,
            ["kept", "skipped", "skipped", "duplicate", "duplicate"]
        );
        // The near copy was verified exactly (the second read found the record again).
        assert_eq!(records[3]["duplicate_of"], "http://a.example/1");
        let sim = records[3]["similarity"].as_f64().unwrap();
        assert!(sim > 0.5 && sim < 1.0, "{sim}");
        // Reasons name the file and the record's number in it.
        let reason = records[1]["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("{name}:5: not a page (image/png)")),
            "{reason}"
        );
        let reason = records[2]["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("{name}:6: HTTP status 301")),
            "{reason}"
        );
    }
}

#[test]
fn the_http_charset_decodes_a_page_without_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let cyrillic = "Министр заявил во вторник, что визит призван показать решимость двух \
        стран укреплять свои связи, и добавил, что это будет первая из многих поездок.";
    let html = format!("<html><body><p>{cyrillic}</p><p>{cyrillic}</p></body></html>");
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&html);
    let body = http("text/html; charset=windows-1251", &bytes);
    let path = write(
        dir.path(),
        "ru.warc",
        &[record(
            "response",
            "http://ru.example/",
            "application/http",
            &body,
        )],
        false,
    );
    let out = bin().args(["clean", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Министр заявил во вторник"), "{text}");
}

#[test]
fn a_truncated_or_malformed_file_keeps_what_came_before_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = crawl();
    let last = records.len() - 2;
    // Cut the next-to-last record (the near copy) in the middle of its body.
    let cut = records[last].len() / 2;
    records[last].truncate(cut);
    records.truncate(last + 1);
    let path = write(dir.path(), "cut.warc", &records, false);
    let (code, out, err) = dedup(&path);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.len(), 4);
    assert_eq!(out[0]["status"], "kept");
    let reason = out[3]["reason"].as_str().unwrap();
    assert!(
        reason.contains("cut.warc:7: WARC record ends before its Content-Length"),
        "{reason}"
    );
    // A header that is not WARC ends the file with one record saying where.
    let mut records = crawl();
    records.insert(3, b"GARBAGE LINE\r\nMore: junk\r\n\r\n".to_vec());
    let path = write(dir.path(), "bad.warc", &records, false);
    let (code, out, _) = dedup(&path);
    assert_eq!(code, 0);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["id"], "http://a.example/1");
    let reason = out[1]["reason"].as_str().unwrap();
    assert!(
        reason.contains("bad.warc:4: malformed WARC header"),
        "{reason}"
    );
}

#[test]
fn a_record_over_the_size_limit_is_skipped_and_a_lying_length_is_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "big.warc", &crawl(), false);
    let out = bin()
        .args(["dedup", "-q", "--max-document-bytes", "200", &path])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("too-large: "), "{text}");
    assert_eq!(text.lines().count(), 5);
    // A Content-Length of a terabyte over a few bytes of body: an error, not an allocation.
    let lie =
        b"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Target-URI: x\r\nContent-Type: text/html\r\n\
        Content-Length: 1000000000000\r\n\r\n<p>short</p>"
            .to_vec();
    let path = write(dir.path(), "lie.warc", &[lie], false);
    let (code, out, _) = dedup(&path);
    assert_eq!(code, 0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["status"], "skipped");
}

#[test]
fn sign_keeps_the_target_uri_and_warc_date_as_url_and_date() {
    use arrow_array::{Array, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "crawl.warc.gz", &crawl(), true);
    let out = dir.path().join("signed");
    let status = bin()
        .args(["sign", "-q", "--out", out.to_str().unwrap(), &path])
        .status()
        .unwrap();
    assert!(status.success());
    let file = std::fs::File::open(out.join("documents/part-00000-of-00001.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let col = |name: &str| {
            let c = batch.column_by_name(name).unwrap();
            c.as_any().downcast_ref::<StringArray>().unwrap().clone()
        };
        let (url, date, status) = (col("url"), col("date"), col("status"));
        for r in 0..batch.num_rows() {
            let at = |a: &StringArray| a.is_valid(r).then(|| a.value(r).to_string());
            rows.push((at(&url), at(&date), status.value(r).to_string()));
        }
    }
    let signed: Vec<_> = rows.iter().filter(|r| r.2 == "signed").collect();
    assert_eq!(signed.len(), 3, "{rows:?}");
    for (url, date, _) in signed {
        assert!(
            url.as_deref().is_some_and(|u| u.starts_with("http://")),
            "{url:?}"
        );
        assert_eq!(date.as_deref(), Some("2022-12-30T10:00:00Z"));
    }
}
