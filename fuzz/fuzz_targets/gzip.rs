//! Gzip: truncated, corrupt and multi-member streams, under JSON Lines and text, with a small
//! document limit so that decompression bombs are read past. A bad stream is a skipped
//! record, never a panic or a lost record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use samestory::read::{ReadParams, Record, Sources};

fuzz_target!(|data: &[u8]| {
    let mut params = ReadParams::default();
    params.max_document_bytes = 4096;
    params.max_record_bytes = 1024;
    let inputs = [
        ("a.jsonl.gz".to_string(), data.to_vec()),
        ("b.txt.gz".to_string(), data.to_vec()),
    ];
    let sources = Sources::from_memory(inputs, &params).expect("valid");
    let records: Vec<Record> = sources.records().collect();
    let text = records.iter().filter(|r| r.origin().path.ends_with("b.txt.gz")).count();
    assert_eq!(text, 1, "a text file is exactly one record, readable or not");
});
