//! The whole pipeline on a small corpus cut from the input: dedup and clusters. Every
//! document is accounted for exactly once, and every cluster lists its representative first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use samestory::params::Params;
use samestory::pipeline::{NoProgress, Pipeline};
use samestory::read::{ReadParams, Sources};

fuzz_target!(|data: &[u8]| {
    // Documents are separated by 0xFF bytes; a small shingle makes short inputs match.
    let inputs: Vec<(String, Vec<u8>)> = data
        .split(|&b| b == 0xFF)
        .take(16)
        .enumerate()
        .map(|(i, d)| (format!("{i:02}.txt"), d.to_vec()))
        .collect();
    let n = inputs.len();
    for mut params in [Params::dedup(), Params::clusters()] {
        params.shingle.ngram = 2;
        params.min_shared = 0;
        let sources = Sources::from_memory(inputs.clone(), &ReadParams::default()).expect("valid");
        let analysis = Pipeline::new(params).expect("valid").run(&sources, &NoProgress);
        assert_eq!(analysis.docs.len(), n);
        let mut seen = vec![0u32; n];
        for c in &analysis.clusters {
            assert_eq!(c.members[0].0, c.representative, "representative first");
            for &(d, s) in &c.members {
                seen[d as usize] += 1;
                assert!((0.0..=1.0).contains(&s));
            }
        }
        for (d, doc) in analysis.docs.iter().enumerate() {
            let expected = u32::from(doc.signature.is_some());
            assert_eq!(seen[d], expected, "every signed document in exactly one cluster");
        }
        let records = samestory::output::dedup_records(&analysis);
        assert_eq!(records.len(), n);
    }
});
