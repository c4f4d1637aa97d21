//! Stage 3, clean: decide which blocks of a page are story and which are site chrome.
//!
//! In: a page's [`Block`]s. Out: a [`Verdict`] per block (kept, or dropped with a
//! [`DropReason`]). Only kept blocks are tokenized and shingled.
//!
//! The per-block classifier follows jusText (Pomikálek, 2011): a block is judged by its
//! length, its stopword density (running prose is full of "the", "of", "said"; tickers, menus
//! and link lists are not) and, for HTML, its link density. Short and borderline blocks are
//! then revised by their neighbours, so a short paragraph inside the story stays and a short
//! line inside a menu goes. The stopword lists are NLTK's, for 30+ languages, from the
//! `stop-words` crate; the page's language is the one whose list covers most of its words.
//!
//! Corpus-level cleaning (blocks that recur across many pages of a crawl, i.e. a site's
//! chrome) needs every page at once and lives in the pipeline, which calls
//! [`mark_repeated`] with the counts it gathered.

use std::sync::OnceLock;

use ahash::AHashMap;
use unicode_segmentation::UnicodeSegmentation;

use crate::error::{Error, Result};
use crate::extract::Block;
use crate::tokenize::hash_word;

/// Cleaning thresholds: jusText's, with stopword densities recalibrated for NLTK's lists.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CleanParams {
    /// Run the cleaner at all. Default `true`; `false` shingles every block.
    pub enabled: bool,
    /// Blocks shorter than this (characters) are "short" and judged by their neighbours.
    /// Default 70.
    pub length_low: usize,
    /// Blocks at least this long with enough stopwords are good on their own. Default 200.
    pub length_high: usize,
    /// Stopword density (stopwords / words) below which a block is chrome. Default 0.22
    /// (jusText uses 0.30 with its own, longer lists; NLTK's English list lacks "said").
    pub stopwords_low: f32,
    /// Stopword density at or above which a long block is story. Default 0.30.
    pub stopwords_high: f32,
    /// Link density above which a block is navigation. Default 0.2.
    pub max_link_density: f32,
    /// Corpus-level cleaning: a kept block whose text (case, digits and punctuation aside)
    /// appears on pages of at least this many different first-pass clusters is chrome
    /// (a wire service's copyright line, a site's standard paragraph). A syndicated story's
    /// paragraphs recur too, but within one story's cluster, so they stay. 0 turns it off.
    /// Default 3. Applies to story clusters (`clusters`, `eval`), not to `dedup`.
    pub repeated_min_clusters: usize,
    /// When the classifier keeps no block of a document, keep every block not dropped for
    /// links or copyright instead (short texts: headlines, sentences). Default `true`.
    pub keep_all_if_empty: bool,
    /// Stopword language as an ISO 639-1 code (`"en"`), or `None` to detect it per page.
    /// Default `None`.
    pub language: Option<String>,
}

impl Default for CleanParams {
    fn default() -> CleanParams {
        CleanParams {
            enabled: true,
            length_low: 70,
            length_high: 200,
            stopwords_low: 0.22,
            stopwords_high: 0.30,
            max_link_density: 0.2,
            repeated_min_clusters: 3,
            keep_all_if_empty: true,
            language: None,
        }
    }
}

impl CleanParams {
    /// Check ranges once, at the boundary.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.stopwords_low) || !(0.0..=1.0).contains(&self.stopwords_high)
        {
            return Err(Error::params("stopword densities must be within [0, 1]"));
        }
        if self.stopwords_low > self.stopwords_high {
            return Err(Error::params(
                "stopwords_low must not exceed stopwords_high",
            ));
        }
        if let Some(lang) = &self.language
            && Stopwords::get().language_index(lang).is_none()
        {
            return Err(Error::params(format!(
                "no stopword list for language {lang:?}; known: {}",
                Stopwords::get().languages.join(", ")
            )));
        }
        Ok(())
    }
}

/// Why a block was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DropReason {
    /// Mostly link text: navigation, related-story lists.
    Links,
    /// Too few stopwords for prose: tickers, menus, tag lists, bylines.
    FewStopwords,
    /// Short and surrounded by chrome.
    ShortInChrome,
    /// A copyright line.
    Copyright,
    /// The same text appears on pages of several different stories.
    Repeated,
}

impl DropReason {
    /// A short machine-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Links => "links",
            DropReason::FewStopwords => "few-stopwords",
            DropReason::ShortInChrome => "short-in-chrome",
            DropReason::Copyright => "copyright",
            DropReason::Repeated => "repeated",
        }
    }
}

/// The cleaner's decision on one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Story text: shingled.
    Keep,
    /// Chrome: not shingled.
    Drop(DropReason),
}

impl Verdict {
    /// True for [`Verdict::Keep`].
    pub fn is_keep(self) -> bool {
        self == Verdict::Keep
    }
}

/// jusText's intermediate classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Bad(DropReason),
    Short,
    NearGood,
    Good,
}

/// The NLTK stopword lists of every language the `stop-words` crate ships, keyed by word hash
/// ([`crate::tokenize::hash_word`]) so one lookup per word, with no string built, tells which
/// languages list it.
#[derive(Debug)]
pub struct Stopwords {
    languages: Vec<&'static str>,
    words: AHashMap<u64, u64>,
    /// One bit per [`filter_slot`] of a stopword hash: most words of a page are not
    /// stopwords, and this 8 KiB table (it stays in L1 cache) rules them out before the map.
    filter: Box<[u64; FILTER_WORDS]>,
    anchors: AHashMap<u64, ()>,
    english: usize,
}

impl Stopwords {
    /// The shared lists, built on first use.
    pub fn get() -> &'static Stopwords {
        static LISTS: OnceLock<Stopwords> = OnceLock::new();
        LISTS.get_or_init(|| {
            let mut languages = Vec::new();
            let mut words: AHashMap<u64, u64> = AHashMap::new();
            let mut norm = String::new();
            // Only ISO 639-1 lists: NLTK's "hinglish" is English plus Hindi words and would
            // win every English page.
            for &code in stop_words::available_languages()
                .iter()
                .filter(|c| c.len() == 2)
            {
                let Some(list) = stop_words::lookup(code) else {
                    continue;
                };
                // A bit per language in a u64.
                if languages.len() == 64 {
                    break;
                }
                let bit = 1u64 << languages.len();
                languages.push(code);
                for &w in list {
                    crate::tokenize::normalize_into(w, &mut norm);
                    *words.entry(hash_word(&norm)).or_insert(0) |= bit;
                }
            }
            let english = languages.iter().position(|&l| l == "en").unwrap_or(0);
            let anchors = crate::shingle::ENGLISH_ANCHORS
                .iter()
                .map(|w| (hash_word(w), ()))
                .collect();
            let mut filter = Box::new([0u64; FILTER_WORDS]);
            for &h in words.keys() {
                let slot = filter_slot(h);
                filter[slot / 64] |= 1 << (slot % 64);
            }
            Stopwords {
                languages,
                words,
                filter,
                anchors,
                english,
            }
        })
    }

    /// The bit index of a language code.
    pub(crate) fn language_index(&self, code: &str) -> Option<usize> {
        self.languages.iter().position(|&l| l == code)
    }

    /// The language code at a bit index.
    pub fn language_code(&self, index: usize) -> &'static str {
        self.languages[index]
    }

    /// Bitmask of the languages that list the word with this hash as a stopword.
    pub fn languages_of_hash(&self, hash: u64) -> u64 {
        let slot = filter_slot(hash);
        if self.filter[slot / 64] & (1 << (slot % 64)) == 0 {
            return 0;
        }
        self.words.get(&hash).copied().unwrap_or(0)
    }

    /// Bitmask of the languages that list `word` (normalized) as a stopword.
    pub fn languages_of(&self, word: &str) -> u64 {
        self.languages_of_hash(hash_word(word))
    }

    /// True if `word` (normalized) is a stopword of the language at `index`.
    pub fn is_stopword(&self, word: &str, index: usize) -> bool {
        self.is_stopword_hash(hash_word(word), index)
    }

    /// True if the word with this hash is a stopword of the language at `index`.
    pub(crate) fn is_stopword_hash(&self, hash: u64, index: usize) -> bool {
        self.languages_of_hash(hash) & (1 << index) != 0
    }

    /// True if the word with this hash anchors a SpotSigs chain in the language at `index`
    /// (a short list for English, every stopword otherwise).
    pub(crate) fn is_anchor(&self, hash: u64, index: usize) -> bool {
        if index == self.english {
            self.anchors.contains_key(&hash)
        } else {
            self.is_stopword_hash(hash, index)
        }
    }

    /// The language whose list covers most of the words with these hashes; English on a tie
    /// or no evidence.
    pub fn detect(&self, hashes: impl IntoIterator<Item = u64>) -> usize {
        self.detect_masks(hashes.into_iter().map(|h| self.languages_of_hash(h)))
    }

    /// [`Stopwords::detect`] from the words' [`Stopwords::languages_of_hash`] masks.
    pub(crate) fn detect_masks(&self, masks: impl IntoIterator<Item = u64>) -> usize {
        // 64 counters side by side, bit-sliced: plane k holds bit k of every language's
        // count, and adding a mask is a binary increment of all 64 at once, whatever the
        // number of languages that list the word. Words are counted in runs of at most
        // 2^PLANES - 1, so that the increment runs through every plane without a branch
        // (whether a word is a stopword is a coin toss to the branch predictor); each run's
        // counts are added to the totals.
        const PLANES: usize = 11;
        let mut totals = [0u64; 64];
        let mut masks = masks.into_iter().peekable();
        while masks.peek().is_some() {
            let mut planes = [0u64; PLANES];
            for mask in masks.by_ref().take((1 << PLANES) - 1) {
                let mut carry = mask;
                for plane in &mut planes {
                    let next = *plane & carry;
                    *plane ^= carry;
                    carry = next;
                }
            }
            for (k, plane) in planes.iter().enumerate() {
                let mut bits = *plane;
                while bits != 0 {
                    totals[bits.trailing_zeros() as usize] += 1 << k;
                    bits &= bits - 1;
                }
            }
        }
        let mut best = self.english;
        for (i, &c) in totals.iter().enumerate().take(self.languages.len()) {
            if c > totals[best] {
                best = i;
            }
        }
        best
    }
}

/// Words and stopwords of one block, for the chosen language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlockStats {
    /// Words in the block.
    pub words: usize,
    /// Of which stopwords.
    pub stopwords: usize,
}

const FILTER_WORDS: usize = 1024;

/// A word hash's bit in [`Stopwords`]' filter (the top 16 bits of a multiplicative hash:
/// short words' hashes are packed bytes, not uniform).
fn filter_slot(hash: u64) -> usize {
    (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - 16)) as usize
}

/// Each word's stopword languages ([`Stopwords::languages_of_hash`]): looked up once per
/// word, then read by [`detect_language`] and [`block_stats`].
pub fn word_languages(hashes: &[u64]) -> Vec<u64> {
    let stopwords = Stopwords::get();
    hashes
        .iter()
        .map(|&h| stopwords.languages_of_hash(h))
        .collect()
}

/// Per-block word and stopword counts from the page's [`word_languages`]; `ends[i]` is the
/// end of block `i`'s words.
pub fn block_stats(languages: &[u64], ends: &[usize], language: usize) -> Vec<BlockStats> {
    let bit = 1u64 << language;
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let words = &languages[start..end];
            start = end;
            BlockStats {
                words: words.len(),
                stopwords: words.iter().filter(|&&m| m & bit != 0).count(),
            }
        })
        .collect()
}

/// The page language from its first words' [`word_languages`] (or the configured one).
pub fn detect_language(languages: &[u64], params: &CleanParams) -> usize {
    let stopwords = Stopwords::get();
    match &params.language {
        Some(code) => stopwords.language_index(code).unwrap_or(stopwords.english),
        None => stopwords.detect_masks(languages.iter().take(2000).copied()),
    }
}

/// Classify the blocks of one page from their [`BlockStats`]. Returns one verdict per block.
pub fn classify(blocks: &[Block], stats: &[BlockStats], params: &CleanParams) -> Vec<Verdict> {
    if !params.enabled {
        return vec![Verdict::Keep; blocks.len()];
    }
    let initial: Vec<Class> = blocks
        .iter()
        .zip(stats)
        .map(|(b, s)| {
            let density = if s.words == 0 {
                0.0
            } else {
                s.stopwords as f32 / s.words as f32
            };
            initial_class(b, density, params)
        })
        .collect();
    let revised = revise(blocks, &initial);
    let mut verdicts: Vec<Verdict> = revised
        .into_iter()
        .map(|c| match c {
            Class::Good => Verdict::Keep,
            Class::Bad(reason) => Verdict::Drop(reason),
            Class::Short | Class::NearGood => Verdict::Drop(DropReason::ShortInChrome),
        })
        .collect();
    // A text with no prose-like block at all (a headline, one sentence, a teaser) is all
    // "short" to the classifier; it still is what it is. Keep whatever is not a link list
    // or a copyright line rather than leave the document empty.
    if params.keep_all_if_empty && !verdicts.iter().any(|v| v.is_keep()) {
        for v in &mut verdicts {
            if matches!(
                v,
                Verdict::Drop(DropReason::ShortInChrome | DropReason::FewStopwords)
            ) {
                *v = Verdict::Keep;
            }
        }
    }
    verdicts
}

/// Whether `text` holds `©` or `&copy`: one SIMD scan for the two lead bytes (`©` is
/// `C2 A9` in UTF-8), where `contains` twice scanned every block twice, 2% of a run.
fn has_copyright_sign(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr2_iter(0xC2, b'&', bytes).any(|i| {
        let rest = &bytes[i..];
        rest.starts_with("©".as_bytes()) || rest.starts_with(b"&copy")
    })
}

fn initial_class(block: &Block, density: f32, params: &CleanParams) -> Class {
    let len = block.text.chars().count();
    if block.link_density > params.max_link_density {
        return Class::Bad(DropReason::Links);
    }
    if has_copyright_sign(&block.text) {
        return Class::Bad(DropReason::Copyright);
    }
    if len < params.length_low {
        return if block.link_density > 0.0 {
            Class::Bad(DropReason::Links)
        } else {
            Class::Short
        };
    }
    if density >= params.stopwords_high {
        return if len > params.length_high {
            Class::Good
        } else {
            Class::NearGood
        };
    }
    if density >= params.stopwords_low {
        return Class::NearGood;
    }
    Class::Bad(DropReason::FewStopwords)
}

/// The class of the nearest neighbour in one direction that is not short (and not near-good
/// when `skip_near_good`); the edge of the page counts as chrome.
/// For every block, the class of the nearest block before it (or after it) that is not
/// short: `any`; and the nearest that is neither short nor near-good: `skipping_near_good`.
/// Past either end of the page the neighbour counts as chrome.
struct Neighbours {
    any: Vec<Class>,
    skipping_near_good: Vec<Class>,
}

impl Neighbours {
    fn scan(classes: &[Class], forward: bool) -> Neighbours {
        let edge = Class::Bad(DropReason::ShortInChrome);
        let n = classes.len();
        let mut any = vec![edge; n];
        let mut skipping_near_good = vec![edge; n];
        let (mut last_any, mut last_skipping) = (edge, edge);
        let order: Box<dyn Iterator<Item = usize>> = if forward {
            Box::new((0..n).rev())
        } else {
            Box::new(0..n)
        };
        for i in order {
            any[i] = last_any;
            skipping_near_good[i] = last_skipping;
            match classes[i] {
                Class::Short => {}
                Class::NearGood => last_any = Class::NearGood,
                c => {
                    last_any = c;
                    last_skipping = c;
                }
            }
        }
        Neighbours {
            any,
            skipping_near_good,
        }
    }
}

fn is_bad(c: Class) -> bool {
    matches!(c, Class::Bad(_))
}

/// Near-good blocks in a run (not interrupted by chrome) of at least this many are prose.
const PROSE_RUN: usize = 3;

/// Wire copy comes in one-sentence paragraphs, each too short to be "good" on its own, and
/// jusText would drop the whole run when chrome surrounds it. A run of several prose-like
/// paragraphs is prose: promote its near-good blocks to good.
fn promote_prose_runs(classes: &mut [Class]) {
    let mut start = 0;
    while start < classes.len() {
        if is_bad(classes[start]) {
            start += 1;
            continue;
        }
        let end = (start..classes.len())
            .find(|&i| is_bad(classes[i]))
            .unwrap_or(classes.len());
        let run = &mut classes[start..end];
        let near_good = run.iter().filter(|&&c| c == Class::NearGood).count();
        if near_good >= PROSE_RUN {
            for c in run.iter_mut().filter(|c| **c == Class::NearGood) {
                *c = Class::Good;
            }
        }
        start = end;
    }
}

/// jusText's context-sensitive revision: headings near good text, short blocks by their
/// neighbours, near-good blocks unless wedged between chrome.
fn revise(blocks: &[Block], initial: &[Class]) -> Vec<Class> {
    const MAX_HEADING_DISTANCE: usize = 200;
    let mut classes = initial.to_vec();
    promote_prose_runs(&mut classes);
    let heading_near_good = |classes: &[Class], i: usize| {
        let mut distance = 0;
        for (block, class) in blocks[i + 1..].iter().zip(&classes[i + 1..]) {
            if distance > MAX_HEADING_DISTANCE {
                break;
            }
            if *class == Class::Good {
                return true;
            }
            distance += block.text.len();
        }
        false
    };
    for i in 0..classes.len() {
        if blocks[i].heading && classes[i] == Class::Short && heading_near_good(&classes, i) {
            classes[i] = Class::NearGood;
        }
    }
    // Nearest neighbours in one pass each way, not a scan per block: a page of 80,000 short
    // lines made the per-block scan over runs of short blocks quadratic (3.5 s).
    let before = Neighbours::scan(&classes, false);
    let after = Neighbours::scan(&classes, true);
    let updates: Vec<(usize, Class)> = (0..classes.len())
        .filter(|&i| classes[i] == Class::Short)
        .map(|i| {
            let (prev, next) = (before.skipping_near_good[i], after.skipping_near_good[i]);
            let class = match (prev, next) {
                (Class::Good, Class::Good) => Class::Good,
                (p, n) if is_bad(p) && is_bad(n) => Class::Bad(DropReason::ShortInChrome),
                (p, n)
                    if (is_bad(p) && before.any[i] == Class::NearGood)
                        || (is_bad(n) && after.any[i] == Class::NearGood) =>
                {
                    Class::Good
                }
                _ => Class::Bad(DropReason::ShortInChrome),
            };
            (i, class)
        })
        .collect();
    for (i, c) in updates {
        classes[i] = c;
    }
    // Near-good blocks are decided in order, each seeing the decisions before it (and the
    // blocks after it as they are): no short blocks are left, so the block before is the
    // last one decided, and the block after is the next that is not near-good.
    let after = Neighbours::scan(&classes, true);
    let mut prev = Class::Bad(DropReason::ShortInChrome);
    for (class, &next) in classes.iter_mut().zip(&after.skipping_near_good) {
        if *class == Class::NearGood {
            *class = if is_bad(prev) && is_bad(next) {
                Class::Bad(DropReason::ShortInChrome)
            } else {
                Class::Good
            };
        }
        if *class != Class::Short {
            prev = *class;
        }
    }
    for i in 0..classes.len() {
        if blocks[i].heading
            && is_bad(classes[i])
            && !is_bad(initial[i])
            && heading_near_good(&classes, i)
        {
            classes[i] = Class::Good;
        }
    }
    classes
}

/// A key for a block's text that ignores case, digits and punctuation, so a ticker line or a
/// "12 hours ago" list item repeats across pages even as its numbers change.
pub(crate) fn block_key(text: &str) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for w in text.unicode_words() {
        if w.chars().all(|c| c.is_numeric() || c == '.' || c == ',') {
            continue;
        }
        h.update(w.to_lowercase().as_bytes());
        h.update(b" ");
    }
    h.digest()
}

/// Corpus-level cleaning: drop kept blocks whose key was seen in at least
/// `params.repeated_min_clusters` different clusters (`clusters_of(key)` says how many).
/// A page is never emptied this way: when every kept block recurs, the repeated text is the
/// page's own story (thousands of copies of one short item), not chrome, and it stays.
/// Returns whether any verdict changed.
pub fn mark_repeated(
    blocks: &[Block],
    verdicts: &mut [Verdict],
    clusters_of: impl Fn(u64) -> usize,
    params: &CleanParams,
) -> bool {
    if !params.enabled || params.repeated_min_clusters == 0 {
        return false;
    }
    let repeated: Vec<bool> = blocks
        .iter()
        .zip(verdicts.iter())
        .map(|(block, verdict)| {
            verdict.is_keep() && clusters_of(block_key(&block.text)) >= params.repeated_min_clusters
        })
        .collect();
    let kept = verdicts.iter().filter(|v| v.is_keep()).count();
    let dropped = repeated.iter().filter(|&&r| r).count();
    if dropped == 0 || dropped == kept {
        return false;
    }
    for (verdict, repeated) in verdicts.iter_mut().zip(repeated) {
        if repeated {
            *verdict = Verdict::Drop(DropReason::Repeated);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copyright_signs_are_found_anywhere() {
        for (text, has) in [
            ("© 2024 Example News", true),
            ("All rights reserved &copy; 2024", true),
            ("text then ©", true),
            ("AT&T and R&D, £5 and 30°C", false),
            ("&cop", false),
            ("", false),
            ("\u{c2}", false),
        ] {
            assert_eq!(has_copyright_sign(text), has, "{text:?}");
        }
    }

    /// The per-block scan that [`Neighbours`] replaced (quadratic over runs of short blocks).
    fn neighbour(classes: &[Class], i: usize, forward: bool, skip_near_good: bool) -> Class {
        let mut j = i;
        loop {
            if forward {
                j += 1;
                if j >= classes.len() {
                    return Class::Bad(DropReason::ShortInChrome);
                }
            } else {
                if j == 0 {
                    return Class::Bad(DropReason::ShortInChrome);
                }
                j -= 1;
            }
            match classes[j] {
                Class::Short => continue,
                Class::NearGood if skip_near_good => continue,
                c => return c,
            }
        }
    }

    /// Issue 8: the neighbour tables give exactly what the per-block scan gave.
    #[test]
    fn neighbour_tables_match_the_scan() {
        let kinds = [
            Class::Short,
            Class::NearGood,
            Class::Good,
            Class::Bad(DropReason::Links),
        ];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..200 {
            let classes: Vec<Class> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    kinds[(state % 4) as usize]
                })
                .collect();
            let (before, after) = (
                Neighbours::scan(&classes, false),
                Neighbours::scan(&classes, true),
            );
            for i in 0..len {
                assert_eq!(before.any[i], neighbour(&classes, i, false, false));
                assert_eq!(
                    before.skipping_near_good[i],
                    neighbour(&classes, i, false, true)
                );
                assert_eq!(after.any[i], neighbour(&classes, i, true, false));
                assert_eq!(
                    after.skipping_near_good[i],
                    neighbour(&classes, i, true, true)
                );
            }
        }
    }

    fn en() -> usize {
        Stopwords::get().language_index("en").unwrap()
    }

    fn classify_text(blocks: &[Block]) -> Vec<Verdict> {
        let mut tok = crate::tokenize::Tokenizer::new();
        let mut hashes = Vec::new();
        let mut ends = Vec::new();
        for b in blocks {
            tok.hash_words(&b.text, &mut hashes);
            ends.push(hashes.len());
        }
        let stats = block_stats(&word_languages(&hashes), &ends, en());
        classify(blocks, &stats, &CleanParams::default())
    }

    const PROSE: &str = "The minister said on Tuesday that the visit was aimed at showing \
        the determination of the two countries to strengthen their ties, and he added that \
        it would be the first of many such trips in the coming year.";

    #[test]
    fn prose_is_kept_tickers_and_links_dropped() {
        let blocks = vec![
            Block::text(
                "AIRLINK 74.00 Decreased By ▼ -0.25 (-0.34%) BOP 5.14 Increased By ▲ 0.09 (1.78%) CNERGY 4.55",
            ),
            Block::text(PROSE),
            Block {
                text: "Home World Business Sport Opinion Video Podcasts Newsletters Weather".into(),
                link_density: 1.0,
                heading: false,
            },
            Block::text(
                "© 2024 The Daily Example. All rights reserved by the publisher of this site.",
            ),
        ];
        let v = classify_text(&blocks);
        assert_eq!(
            v,
            [
                Verdict::Drop(DropReason::FewStopwords),
                Verdict::Keep,
                Verdict::Drop(DropReason::Links),
                Verdict::Drop(DropReason::Copyright)
            ]
        );
    }

    #[test]
    fn short_block_between_prose_is_kept() {
        let blocks = vec![
            Block::text(PROSE),
            Block::text("He did not say more."),
            Block::text(PROSE),
        ];
        let v = classify_text(&blocks);
        assert!(v.iter().all(|v| v.is_keep()));
    }

    #[test]
    fn language_is_detected_from_stopwords() {
        let s = Stopwords::get();
        let de = s.detect(["der", "die", "und", "nicht", "putin"].map(hash_word));
        assert_eq!(s.language_code(de), "de");
        assert_eq!(s.language_code(s.detect([hash_word("zzz")])), "en");
    }

    proptest::proptest! {
        /// The bit-sliced counters pick the language a plain count per language picks.
        #[test]
        fn bit_sliced_detection_counts_like_a_loop(
            masks in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..3000),
            sparse in 0u32..4,
        ) {
            let s = Stopwords::get();
            let n = s.languages.len();
            // Sparser masks too: real words are stopwords in a few languages, not 32.
            let masks: Vec<u64> = masks
                .iter()
                .map(|&m| (0..sparse).fold(m, |m, k| m & m.rotate_left(7 * k + 3)))
                .map(|m| m & (u64::MAX >> (64 - n)))
                .collect();
            let mut counts = vec![0u64; n];
            for &m in &masks {
                for (i, c) in counts.iter_mut().enumerate() {
                    *c += (m >> i) & 1;
                }
            }
            let mut best = s.english;
            for i in 0..n {
                if counts[i] > counts[best] {
                    best = i;
                }
            }
            proptest::prop_assert_eq!(s.detect_masks(masks.iter().copied()), best);
        }
    }

    #[test]
    fn stopword_filter_never_hides_a_stopword() {
        let s = Stopwords::get();
        for (&h, &mask) in &s.words {
            assert_eq!(s.languages_of_hash(h), mask);
        }
        assert!(s.words.len() > 1000);
    }

    #[test]
    fn block_key_ignores_numbers_and_case() {
        assert_eq!(
            block_key("KSE100 75,342 up 411.7"),
            block_key("kse100 75,312 UP 381")
        );
        assert_ne!(block_key("a b"), block_key("a c"));
    }

    #[test]
    fn blocks_seen_in_several_clusters_are_dropped() {
        let blocks = vec![Block::text("AP. All rights reserved."), Block::text(PROSE)];
        let mut v = vec![Verdict::Keep, Verdict::Keep];
        let wire_line = block_key("AP. All rights reserved.");
        let changed = mark_repeated(
            &blocks,
            &mut v,
            |k| if k == wire_line { 5 } else { 1 },
            &CleanParams::default(),
        );
        assert!(changed);
        assert_eq!(v, [Verdict::Drop(DropReason::Repeated), Verdict::Keep]);
    }

    #[test]
    fn unknown_language_is_rejected() {
        let params = CleanParams {
            language: Some("xx".into()),
            ..CleanParams::default()
        };
        assert!(params.validate().is_err());
    }
}
