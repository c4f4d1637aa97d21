//! JSON Lines: line splitting (CRLF, blank lines, a byte-order mark, overlong lines), the
//! field-picking JSON parser, ids and titles of any type. Every non-blank line is one record,
//! in the first read and in the selective second read alike.
#![no_main]

use libfuzzer_sys::fuzz_target;
use samestory::read::{ReadParams, Record, Sources};

fuzz_target!(|data: &[u8]| {
    // A small record limit so that the too-large path is exercised too.
    let mut params = ReadParams::default();
    params.max_record_bytes = 200;
    let sources =
        Sources::from_memory([("in.jsonl".to_string(), data.to_vec())], &params).expect("valid");
    let records: Vec<Record> = sources.records().collect();
    let non_blank = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count();
    assert_eq!(records.len(), non_blank, "one record per non-blank line");
    for r in &records {
        if let Record::Skipped { error, .. } = r {
            assert!(error.to_string().starts_with("in.jsonl:"), "errors name file and line");
        }
    }
    // The second read selects by position and must agree with the first.
    let every_other: Vec<usize> = sources.pending_where(|i| i % 2 == 0).map(|(i, _)| i).collect();
    let expected: Vec<usize> = (0..records.len()).filter(|i| i % 2 == 0).collect();
    assert_eq!(every_other, expected);
});
