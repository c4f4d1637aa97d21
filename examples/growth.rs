//! Time against page size on the pathological pages of issue 8: every stage of one document
//! (extract, tokenize, clean, shingle, sign) must be linear in the page, whatever its shape.
//!
//! ```sh
//! cargo run --release --example growth
//! ```
//!
//! Prints, per page shape, the time at 1×, 2× and 4× the size and the growth factor from one
//! size to the next: 2 means linear, 4 quadratic.

use std::time::Instant;

use samestory::params::Params;
use samestory::pipeline::{NoProgress, Pipeline};
use samestory::read::{ReadParams, Sources};

fn nested_divs(n: usize) -> (String, Vec<u8>) {
    let page = format!(
        "<html><body>{}<p>The minister said that the visit was aimed at the ties.</p>{}</body></html>",
        "<div>".repeat(n),
        "</div>".repeat(n)
    );
    ("nested.html".into(), page.into_bytes())
}

fn short_lines(n: usize) -> (String, Vec<u8>) {
    let text: Vec<String> = (0..n).map(|i| format!("Short line {i} here")).collect();
    ("lines.txt".into(), text.join("\n").into_bytes())
}

fn long_line(n: usize) -> (String, Vec<u8>) {
    // One line of prose with no line break: the sentence splitter's case.
    let text = "The minister said that the visit was aimed at the ties of the two countries. "
        .repeat(n / 10);
    ("wall.txt".into(), text.into_bytes())
}

fn many_links(n: usize) -> (String, Vec<u8>) {
    let links: String = (0..n)
        .map(|i| format!("<a href=/{i}>item {i}</a> "))
        .collect();
    let page =
        format!("<html><body><div>{links}</div><p>Prose of the page here.</p></body></html>");
    ("links.html".into(), page.into_bytes())
}

/// Seconds to read, prepare and sign one document (best of 3).
fn seconds(doc: &(String, Vec<u8>)) -> f64 {
    let pipeline = Pipeline::new(Params::dedup()).expect("preset is valid");
    (0..3)
        .map(|_| {
            let sources = Sources::from_memory([doc.clone()], &ReadParams::default())
                .expect("default read parameters are valid");
            let started = Instant::now();
            let analysis = pipeline.run(&sources, &NoProgress);
            assert_eq!(analysis.docs.len(), 1, "one page, one document");
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    type Shape = (&'static str, fn(usize) -> (String, Vec<u8>), usize);
    let shapes: [Shape; 4] = [
        ("nested <div>s", nested_divs, 100_000),
        ("short lines", short_lines, 80_000),
        ("one long line", long_line, 100_000),
        ("links in one block", many_links, 50_000),
    ];
    println!(
        "{:<20} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "page", "size 1x", "1x s", "2x s", "4x s", "growth"
    );
    for (name, make, n) in shapes {
        let docs: Vec<_> = [n, 2 * n, 4 * n].into_iter().map(make).collect();
        let times: Vec<f64> = docs.iter().map(seconds).collect();
        let growth = ((times[2] / times[0]).sqrt() * 100.0).round() / 100.0;
        println!(
            "{name:<20} {:>9.1}M {:>10.3} {:>10.3} {:>10.3} {:>9}x",
            docs[0].1.len() as f64 / 1e6,
            times[0],
            times[1],
            times[2],
            growth
        );
    }
}
