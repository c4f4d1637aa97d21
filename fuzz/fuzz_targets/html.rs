//! HTML pages: charset sniffing, the html5ever parse, the block walk, then tokenizing,
//! cleaning, shingling and signing. Any page must come out as a prepared document (no
//! panic) whose blocks are the page's text and whose verdicts match its blocks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use samestory::params::Params;
use samestory::pipeline::Pipeline;
use samestory::read::{ReadParams, Record, Sources};

fuzz_target!(|data: &[u8]| {
    let sources = Sources::from_memory([("page.html".to_string(), data.to_vec())], &ReadParams::default())
        .expect("default read parameters are valid");
    let pipeline = Pipeline::new(Params::clusters()).expect("preset is valid");
    let records: Vec<Record> = sources.records().collect();
    assert_eq!(records.len(), 1, "one HTML file is one record");
    let pages = pipeline.prepare_all(&sources, &samestory::pipeline::NoProgress);
    assert_eq!(pages.len(), 1);
    let page = &pages[0];
    assert_eq!(page.verdicts.len(), page.page.blocks.len());
    assert_eq!(page.ends.len(), page.page.blocks.len());
    for block in &page.page.blocks {
        assert!(!block.text.is_empty(), "no empty blocks");
        assert!((0.0..=1.0).contains(&block.link_density));
    }
    let _ = samestory::extract::decode_html(data);
});
