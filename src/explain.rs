//! Why two pages match: the passages they share and what cleaning took away.
//!
//! In: two prepared pages (blocks and the cleaner's verdicts). Out: an [`Explanation`]: the
//! longest word runs the cleaned texts share (at least one shingle long), and for each side
//! how many shingles cleaning removed, plus how many shingles the pages shared before
//! cleaning, so a person can see whether a match was story or chrome.

use ahash::AHashMap;
use serde::Serialize;

use crate::document::Prepared;
use crate::shingle::{self, ShingleParams};
use crate::tokenize::Tokenizer;
use crate::verify;

/// A run of words both pages contain, in the same order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Passage {
    /// Length in words.
    pub words: usize,
    /// The words, normalized, separated by spaces.
    pub text: String,
}

/// The explanation of one pair.
///
/// # Wire format
///
/// Added as `"explain"` to the pair record of `similarity A B --explain`:
///
/// ```json
/// {"passages": [{"words": 41, "text": "xi said beijing and moscow should ..."}],
///  "lost_to_cleaning_a": 210, "lost_to_cleaning_b": 35, "shared_before_cleaning": 187}
/// ```
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct Explanation {
    /// The longest shared passages of the cleaned texts, longest first.
    pub passages: Vec<Passage>,
    /// Shingles of page A's full text that are not in its cleaned text.
    pub lost_to_cleaning_a: usize,
    /// Same for page B.
    pub lost_to_cleaning_b: usize,
    /// Shingles the two full (uncleaned) texts share.
    pub shared_before_cleaning: usize,
}

fn words(text: &str, tokenizer: &mut Tokenizer) -> Vec<String> {
    tokenizer.words(text).map(str::to_string).collect()
}

fn full_text(p: &Prepared) -> String {
    let texts: Vec<&str> = p.page.blocks.iter().map(|b| b.text.as_str()).collect();
    texts.join("\n")
}

/// Explain the match of `a` and `b`, listing at most `max_passages` passages.
pub fn explain(
    a: &Prepared,
    b: &Prepared,
    params: &ShingleParams,
    max_passages: usize,
) -> Explanation {
    let mut tok = Tokenizer::new();
    let n = params.ngram;
    let wa = words(&a.kept_text(), &mut tok);
    let wb = words(&b.kept_text(), &mut tok);
    let window = |w: &[String]| -> Vec<u64> {
        let hashes: Vec<u64> = w.iter().map(|x| crate::tokenize::hash_word(x)).collect();
        hashes
            .windows(n)
            .map(|win| shingle::hash_window(win, params.seed))
            .collect()
    };
    let (ha, hb) = (window(&wa), window(&wb));
    let mut at: AHashMap<u64, Vec<usize>> = AHashMap::new();
    for (i, h) in ha.iter().enumerate() {
        at.entry(*h).or_default().push(i);
    }
    // Maximal diagonal runs of matching windows: (end window in A, run length in windows).
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut prev: AHashMap<usize, usize> = AHashMap::new();
    for h in &hb {
        let mut cur: AHashMap<usize, usize> = AHashMap::new();
        if let Some(list) = at.get(h) {
            for &i in list {
                let len = i
                    .checked_sub(1)
                    .and_then(|p| prev.get(&p))
                    .map_or(1, |l| l + 1);
                cur.insert(i, len);
            }
        }
        for (&i, &len) in &prev {
            if !cur.contains_key(&(i + 1)) {
                runs.push((i, len));
            }
        }
        prev = cur;
    }
    runs.extend(prev);
    runs.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut passages: Vec<Passage> = Vec::new();
    for (end, len) in runs {
        let start = end + 1 - len;
        let text = wa[start..end + n].join(" ");
        if passages.iter().any(|p| p.text.contains(&text)) {
            continue;
        }
        passages.push(Passage {
            words: len + n - 1,
            text,
        });
        if passages.len() == max_passages {
            break;
        }
    }

    let shingles = |text: &str, lang: usize, tok: &mut Tokenizer| {
        let mut hashes = Vec::new();
        tok.hash_words(text, &mut hashes);
        shingle::shingle(&hashes, lang, params)
    };
    let kept_a = shingles(&a.kept_text(), a.language, &mut tok);
    let kept_b = shingles(&b.kept_text(), b.language, &mut tok);
    let all_a = shingles(&full_text(a), a.language, &mut tok);
    let all_b = shingles(&full_text(b), b.language, &mut tok);
    let lost = |all: &shingle::Shingles, kept: &shingle::Shingles| {
        all.len() - verify::intersection_len(all.as_slice(), kept.as_slice())
    };
    Explanation {
        passages,
        lost_to_cleaning_a: lost(&all_a, &kept_a),
        lost_to_cleaning_b: lost(&all_b, &kept_b),
        shared_before_cleaning: verify::intersection_len(all_a.as_slice(), all_b.as_slice()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(text: &str) -> Prepared {
        crate::document::prepare_text("x", text, &crate::params::Params::dedup())
    }

    const SHARED: &str = "The minister said on Tuesday that the visit was aimed at showing the \
        determination of the two countries to strengthen their ties with each other.";

    #[test]
    fn finds_the_shared_passage_and_chrome_lost() {
        let a = prepared(&format!(
            "AIRLINK 74.00 Decreased By 0.25\nKSE100 75,342 Increased By 411\n{SHARED} \
             Officials in the capital were said to be pleased with the outcome of the talks."
        ));
        let b = prepared(&format!(
            "AIRLINK 74.00 Decreased By 0.25\nKSE100 75,342 Increased By 411\nIn other news, \
             it was reported by the agency that {SHARED}"
        ));
        let e = explain(&a, &b, &ShingleParams::default(), 3);
        assert_eq!(e.passages.len(), 1);
        assert!(
            e.passages[0]
                .text
                .starts_with("the minister said on tuesday")
        );
        assert!(e.passages[0].words >= 25);
        assert!(e.lost_to_cleaning_a > 0);
        assert!(e.shared_before_cleaning > e.passages[0].words - 4);
    }
}
