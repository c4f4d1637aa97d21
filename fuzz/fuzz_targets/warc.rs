//! WARC: record framing (header blocks, Content-Length, the blank lines between records,
//! truncation), the WARC header parser, HTTP response heads, media types and charsets. No
//! panic, every skipped record names the file and record, bounded work per input byte, and
//! the selective second read yields the same positions as the first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use samestory::read::{ReadParams, Record, Sources};

fuzz_target!(|data: &[u8]| {
    let mut params = ReadParams::default();
    params.max_document_bytes = 300;
    let sources =
        Sources::from_memory([("in.warc".to_string(), data.to_vec())], &params).expect("valid");
    let records: Vec<Record> = sources.records().collect();
    for r in &records {
        if let Record::Skipped { error, .. } = r {
            assert!(error.to_string().starts_with("in.warc:"), "errors name file and record");
        }
    }
    let every_other: Vec<usize> = sources.pending_where(|i| i % 2 == 0).map(|(i, _)| i).collect();
    let expected: Vec<usize> = (0..records.len()).filter(|i| i % 2 == 0).collect();
    assert_eq!(every_other, expected);
});
