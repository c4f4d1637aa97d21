//! Plain text: decoding (UTF-8, BOMs), line and sentence splitting, the tokenizer, the
//! cleaner and shingling, through a whole dedup run of the text against a copy of itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use samestory::params::Params;
use samestory::pipeline::{NoProgress, Pipeline};
use samestory::read::{ReadParams, Sources};

fuzz_target!(|data: &[u8]| {
    let inputs = [
        ("a.txt".to_string(), data.to_vec()),
        ("b.txt".to_string(), data.to_vec()),
    ];
    let sources = Sources::from_memory(inputs, &ReadParams::default()).expect("valid");
    let pipeline = Pipeline::new(Params::dedup()).expect("preset is valid");
    let analysis = pipeline.run(&sources, &NoProgress);
    assert_eq!(analysis.docs.len(), 2, "two files, two documents");
    let (a, b) = (&analysis.docs[0], &analysis.docs[1]);
    let kind = |d: &samestory::document::Doc| d.skipped.as_ref().map(|r| r.kind());
    assert_eq!(kind(a), kind(b), "equal bytes, equal fate");
    if a.signature.is_some() {
        // The same text twice: one is kept, the other its exact duplicate.
        let records = samestory::output::dedup_records(&analysis);
        assert_eq!(records[1].duplicate_of.as_deref(), Some("a.txt"));
        assert_eq!(records[1].similarity, Some(1.0));
    }
});
