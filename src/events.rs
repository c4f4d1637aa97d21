//! The events level: reports of one event by different outlets, above the copy level.
//!
//! Copies share long word runs; reports of one event by different agencies share almost
//! none (on ECB+ only 4.6% of same-event pairs reach a word-5-gram Jaccard of 0.1). What
//! they share is *what the event is*: the people, places and numbers, and the rarer content
//! words, said most plainly in the headline and the lede. So this level has its own
//! features and score:
//!
//! 1. **Features** ([`features`], per document, while signing): content words (stopwords
//!    of the page's language left out), names (runs of capitalised words not opening a
//!    sentence), numbers, and phrases (two content words side by side, "video call",
//!    "injured reserve": how the words are put together is more telling than the words
//!    alone; a phrase counts 1.5 times a word), each counted with a weight by zone: title
//!    ×3, lede ×2, body ×1.
//!    The lede includes the paragraph just before the body that the cleaner dropped (a
//!    dateline paragraph often reads as "few stopwords") when it shares words with the
//!    body. A page's date comes from the input (`--date-field`), HTML metadata
//!    (`article:published_time` and the like), or a short date line near the top.
//! 2. **Weights** ([`group`]): `(1 + ln tf) · idf²`, L2-normalised. The inverse document
//!    frequency is the corpus's own, blended with a background table (English word
//!    frequencies, `data/background/en.tsv`, built by `scripts/build-background`) worth
//!    [`PRIOR_DOCS`] documents: a five-page run leans on the background, a thousand-page run
//!    on itself. A feature that only one story has cannot link anything and is left out
//!    of the norm too.
//! 3. **Candidates**: a 0-bit consistent weighted sample ([ICWS], Ioffe 2010) of each
//!    story's weighted features, [`SAMPLES`] draws; two stories sharing a draw are a
//!    candidate pair (one-row bands: a weighted Jaccard of 0.1 gives a pair with
//!    probability 1 − 0.9^64 > 0.99). Giant buckets are capped as at the copy level.
//! 4. **Verification**: the exact cosine of the two weighted vectors, times a date factor
//!    (1 within [`DATE_WINDOW_DAYS`], then decaying) when both pages have a date.
//! 5. **Grouping**: average linkage over *stories* (the copy clusters, weighted by their
//!    size): the two groups with the highest mean pairwise score merge while that mean is at
//!    least the threshold. A page joins an event only if it matches the event on average,
//!    never through one member, so events do not chain.
//! 6. **Splitting** ([`split`]): two events of one kind (two earthquakes, two patches of one
//!    browser) share their subject, which by the run's weights outweighs what differs. So
//!    each grouped event of [`SPLIT_MIN_PAGES`]+ pages is weighed again by rarity *among its
//!    own pages*, where the subject counts for nothing; when its pages then fall in two
//!    sides [`SPLIT_RATIO`] times more alike within than across, it is two events.
//!
//! Everything is deterministic: stories come in the copy level's order, candidate pairs
//! are sorted, ties in grouping break by story order.
//!
//! [ICWS]: https://doi.org/10.1109/ICDM.2010.80

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::OnceLock;

use ahash::AHashMap;
use rayon::prelude::*;
use serde::Serialize;
use unicode_segmentation::UnicodeSegmentation;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::clean::{Stopwords, Verdict};
use crate::extract::Block;
use crate::lsh;
use crate::pipeline::Analysis;
use crate::tokenize::hash_word;

/// Weight of a feature in the title.
pub(crate) const TITLE_WEIGHT: f32 = 3.0;
/// Weight of a feature in the lede (the rescued lede paragraph and the first two body blocks).
pub(crate) const LEDE_WEIGHT: f32 = 2.0;
/// Body blocks counted as lede.
const LEDE_BLOCKS: usize = 2;
/// Features kept per document before weighting (the highest by count × background rarity):
/// bounds memory on long pages; news reports rarely have more distinct telling features.
pub(crate) const MAX_FEATURES: usize = 160;
/// Display strings kept per document, for the terms that define an event.
const MAX_TERMS: usize = 24;
/// Display strings of phrases kept per document, for explanations.
const MAX_PHRASE_TERMS: usize = 8;
/// Weighted samples per story for candidate generation.
pub const SAMPLES: usize = 64;
/// The background table counts as this many documents in the inverse document frequency.
pub const PRIOR_DOCS: f64 = 10.0;
/// Exponent on the inverse document frequency: rare features (names, numbers, the event's
/// own words) count more than linearly.
pub(crate) const IDF_POWER: f64 = 2.0;
/// From this many stories on, a feature only one story has is left out: in a large run it
/// is a page's own detail, not part of any event, and it would only dilute that page's
/// scores. In a small run (two pages compared) it is kept, weighted by the background.
pub(crate) const MIN_STORIES_FOR_DF: f64 = 50.0;
/// Average score at which two groups are one event (default of `--event-threshold`).
pub const DEFAULT_THRESHOLD: f64 = 0.09;
/// Weight of a phrase (two content words side by side: "video call", "injured reserve",
/// "heavyweight title") against a single word's. Two events of one kind share their
/// subject's words; their phrases are rarer and more their own (`docs/quality.md`,
/// events: ARI 0.870 → 0.920 on ECB+ dev, and on each half of its topics).
pub(crate) const PHRASE_WEIGHT: f32 = 1.5;
/// Dates at most this many days apart do not lower a pair's score.
pub const DATE_WINDOW_DAYS: i32 = 90;
/// Beyond the window, the score halves every this many days.
pub(crate) const DATE_HALF_LIFE_DAYS: f64 = 180.0;
/// Verified pairs below this score are not kept as edges (they would barely move an
/// average, and there can be many).
const MIN_EDGE: f64 = 0.02;
/// Terms listed per event.
const EVENT_TERMS: usize = 6;

/// The event features of one document, computed while it is signed.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct EventDoc {
    /// Feature hash, zone-weighted count and background document share, sorted by hash.
    pub features: Vec<(u64, f32, f32)>,
    /// Display strings of the most telling features other than phrases, for explanations
    /// and event terms.
    pub terms: Vec<(u64, String)>,
    /// Display strings of the most telling phrases, for explanations only (an event's terms
    /// are its names and words).
    pub phrases: Vec<(u64, String)>,
    /// The page's date, in days since 1970-01-01.
    pub date: Option<i32>,
}

/// What kind of feature a hash stands for: the seed it was hashed with.
const WORD: u64 = 0x5EED_0001;
const NAME: u64 = 0x5EED_0002;
const NUMBER: u64 = 0x5EED_0003;
const PHRASE: u64 = 0x5EED_0004;

fn feature_hash(kind: u64, text: &str) -> u64 {
    xxh3_64_with_seed(text.as_bytes(), kind)
}

/// English word frequencies by word hash, as the share of documents expected to hold each
/// word: the background for inverse document frequency. Built by `scripts/build-background`
/// from wordfreq (CC BY-SA 4.0).
pub struct Background {
    share: AHashMap<u64, f32>,
}

impl Background {
    /// The table, parsed once.
    pub fn get() -> &'static Background {
        static TABLE: OnceLock<Background> = OnceLock::new();
        TABLE.get_or_init(|| {
            let text = include_str!("../data/background/en.tsv");
            // Zipf z: 10^(z − 9) occurrences per word; a document of about 500 words holds
            // the word with probability 1 − e^(−500 · that).
            let share = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (w, z) = l.split_once('\t')?;
                    let z: f32 = z.parse().ok()?;
                    let per_word = 10f64.powf(f64::from(z) - 9.0);
                    Some((hash_word(w), (1.0 - (-per_word * 500.0).exp()) as f32))
                })
                .collect();
            Background { share }
        })
    }

    /// The share of documents (of about 500 words) expected to hold the word (0 for a
    /// word the table does not have).
    pub fn doc_share(&self, word: &str) -> f32 {
        self.doc_share_hash(hash_word(word))
    }

    fn doc_share_hash(&self, hash: u64) -> f32 {
        self.share.get(&hash).copied().unwrap_or(0.0)
    }
}

/// A feature while a page is scanned.
#[derive(Debug, Clone, Copy)]
struct Seen {
    count: f32,
    /// Whether it is a phrase: scored, and shown in explanations, not among an event's terms
    /// (its words and names read better there, and "Jinping told" says nothing a reader
    /// needs).
    phrase: bool,
    /// Background document share (for choosing which features to keep).
    share: f32,
    /// Where its first occurrence is: block, byte range (for its display string).
    block: u32,
    start: u32,
    end: u32,
}

/// Zone weights of a page's blocks, its title (if any) and lede.
struct Zones {
    title: Option<String>,
    /// (block, weight) for every block that feeds the features, in order.
    blocks: Vec<(usize, f32)>,
}

/// A page's word hashes by block, as the tokenizer left them in [`crate::document::Prepared`]
/// (`hashes`, `ends`): what the headline and lede rules count and compare, so no block is
/// tokenized twice.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Words<'a> {
    /// Word hashes of every block, in order.
    pub hashes: &'a [u64],
    /// `ends[i]`: end of block `i`'s words in `hashes`.
    pub ends: &'a [usize],
    /// Stopword-list index of the page's language.
    pub language: usize,
}

impl Words<'_> {
    /// The word hashes of block `i`.
    fn block(&self, i: usize) -> &[u64] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.hashes[start..self.ends[i]]
    }

    /// Words in block `i`.
    fn count(&self, i: usize) -> usize {
        self.block(i).len()
    }

    /// Content words (stopwords left out) of block `i`, appended to `out`.
    fn content(&self, i: usize, out: &mut Vec<u64>) {
        let stop = Stopwords::get();
        out.extend(
            self.block(i)
                .iter()
                .copied()
                .filter(|&h| !stop.is_stopword_hash(h, self.language)),
        );
    }

    /// The distinct content words of the given blocks, sorted (a set to search). Every page
    /// without a title comes here, so it is a sorted vector, not a hash set.
    fn content_set(&self, blocks: impl IntoIterator<Item = usize>) -> Vec<u64> {
        let mut set = Vec::new();
        for i in blocks {
            self.content(i, &mut set);
        }
        set.sort_unstable();
        set.dedup();
        set
    }

    /// Content words of the first three kept blocks from `first` (and of block `lede`): the
    /// opening of the body.
    fn opening(&self, verdicts: &[Verdict], first: usize, lede: Option<usize>) -> Vec<u64> {
        self.content_set(self.opening_blocks(verdicts, first, lede))
    }

    /// The blocks of [`Words::opening`].
    fn opening_blocks<'v>(
        &self,
        verdicts: &'v [Verdict],
        first: usize,
        lede: Option<usize>,
    ) -> impl Iterator<Item = usize> + 'v {
        (first..verdicts.len())
            .filter(|&i| verdicts[i].is_keep())
            .take(3)
            .chain(lede)
    }

    /// Of block `i`'s distinct content words: how many are in `set` (sorted), and how many
    /// there are.
    fn shared(&self, i: usize, set: &[u64]) -> (usize, usize) {
        let own = self.content_set([i]);
        let shared = own.iter().filter(|h| set.binary_search(h).is_ok()).count();
        (shared, own.len())
    }
}

fn strip_possessive(w: &str) -> &str {
    w.strip_suffix("'s")
        .or_else(|| w.strip_suffix("’s"))
        .unwrap_or(w)
}

/// Blocks before the first kept block that are looked at for a headline or a date.
const PREAMBLE_BLOCKS: usize = 8;

/// The headline of a page that has no title: among the short blocks (3 to 25 words) just
/// before the first kept block, the one sharing the most content words with the opening of
/// the body (at least 3, and half of its own); failing that, a short first kept block that
/// does not end a sentence, when more body follows. Chrome rarely shares three content words
/// with the story's opening; a headline always does.
pub fn find_title(blocks: &[Block], verdicts: &[Verdict], words: Words<'_>) -> Option<String> {
    let first = verdicts.iter().position(|v| v.is_keep())?;
    // The lede the cleaner may have dropped (a dateline paragraph) opens the body too.
    let lede = first.checked_sub(1).filter(|&i| words.count(i) >= 15);
    // The short blocks to compare, each with its distinct content words. A page that opens
    // on its body (every page of a run without cleaning) has none, and then the opening is
    // not looked at: sorting its words was a tenth of such a run's cycles.
    let mut heads: Vec<(usize, Vec<u64>, Vec<bool>)> = (first.saturating_sub(PREAMBLE_BLOCKS)
        ..first)
        .filter(|&i| (3..=25).contains(&words.count(i)))
        .map(|i| {
            let own = words.content_set([i]);
            let seen = vec![false; own.len()];
            (i, own, seen)
        })
        .collect();
    // Which of them the opening's words hold: a word of a head's set is a content word, so
    // the opening's words are matched as they are, unfiltered and unsorted.
    if !heads.is_empty() {
        for b in words.opening_blocks(verdicts, first, lede) {
            for h in words.block(b) {
                for (_, own, seen) in &mut heads {
                    if let Ok(k) = own.binary_search(h) {
                        seen[k] = true;
                    }
                }
            }
        }
    }
    let mut best: Option<(usize, usize)> = None;
    for (i, own, seen) in &heads {
        let shared = seen.iter().filter(|&&s| s).count();
        if shared >= 3 && 2 * shared >= own.len() && best.is_none_or(|(s, _)| shared > s) {
            best = Some((shared, *i));
        }
    }
    if let Some((_, i)) = best {
        return Some(blocks[i].text.trim().to_string());
    }
    let head = blocks[first].text.trim();
    let more = verdicts[first + 1..].iter().any(|v| v.is_keep());
    let ends_sentence = head.ends_with(['.', '!', '?', ':', ';', ',', '"', '”']);
    ((3..=20).contains(&words.count(first)) && more && !ends_sentence).then(|| head.to_string())
}

/// The zones of a prepared page: title, lede and body blocks.
fn zones(blocks: &[Block], verdicts: &[Verdict], title: Option<&str>, words: Words<'_>) -> Zones {
    let mut out = Zones {
        title: title.map(str::to_string),
        blocks: Vec::new(),
    };
    let Some(first) = verdicts.iter().position(|v| v.is_keep()) else {
        return out;
    };
    let is_title = |i: usize| title.is_some_and(|t| t == blocks[i].text.trim());
    // The lede the cleaner dropped: a long block just before the body sharing words with it.
    let body = words.opening(verdicts, first, None);
    for i in (first.saturating_sub(2)..first).rev() {
        if words.count(i) < 15 || is_title(i) {
            continue;
        }
        if words.shared(i, &body).0 >= 3 {
            out.blocks.push((i, LEDE_WEIGHT));
        }
        break;
    }
    // The article's span, first kept block to last: short sentences inside it that the
    // cleaner dropped as chrome-like are still the story's (one-sentence lines, quotes).
    // Links, copyright lines and blocks repeated across pages stay out.
    // Outside it, a dropped block that reads as a sentence (four words or more, ending a
    // sentence) is the story's too: tickers, menus and related-story headlines do not end
    // with a full stop.
    let last = verdicts.iter().rposition(|v| v.is_keep()).unwrap_or(first);
    let sentence = |i: usize| {
        let t = blocks[i].text.trim_end();
        t.ends_with(['.', '!', '?', '"', '”', '\'']) && !t.ends_with("..") && words.count(i) >= 4
    };
    let lede_block = out.blocks.first().map(|b| b.0);
    let mut lede = 0;
    for (i, v) in verdicts.iter().enumerate() {
        let chrome_like = matches!(
            v,
            Verdict::Drop(
                crate::clean::DropReason::ShortInChrome | crate::clean::DropReason::FewStopwords
            )
        );
        let inside = v.is_keep() || (chrome_like && ((first..=last).contains(&i) || sentence(i)));
        // A title found from the first kept block is that block: weighted once, as title.
        if !inside || lede_block == Some(i) || is_title(i) {
            continue;
        }
        let w = if lede < LEDE_BLOCKS { LEDE_WEIGHT } else { 1.0 };
        lede += 1;
        out.blocks.push((i, w));
    }
    out
}

/// The event features of a page: its blocks, the cleaner's verdicts, its title and date
/// (input or metadata; otherwise a date line near the top is looked for).
pub fn features(
    blocks: &[Block],
    verdicts: &[Verdict],
    words: Words<'_>,
    title: Option<&str>,
    date: Option<&str>,
) -> EventDoc {
    let language = words.language;
    let zones = zones(blocks, verdicts, title, words);
    let mut seen: AHashMap<u64, Seen> = AHashMap::new();
    let title_block = u32::MAX;
    if let Some(t) = &zones.title {
        scan(t, title_block, TITLE_WEIGHT, language, &mut seen);
    }
    for &(i, w) in &zones.blocks {
        scan(&blocks[i].text, i as u32, w, language, &mut seen);
    }
    let mut all: Vec<(u64, Seen)> = seen.into_iter().collect();
    // Most telling first: count × background rarity, then hash for a fixed order.
    let rank = |s: &Seen| f64::from(s.count) * -(f64::from(s.share).max(1e-6)).ln();
    all.sort_by(|a, b| rank(&b.1).total_cmp(&rank(&a.1)).then(a.0.cmp(&b.0)));
    all.truncate(MAX_FEATURES);
    let text_of = |s: &Seen| -> String {
        let src = if s.block == title_block {
            zones.title.as_deref().unwrap_or("")
        } else {
            blocks[s.block as usize].text.as_str()
        };
        src.get(s.start as usize..s.end as usize)
            .unwrap_or("")
            .to_string()
    };
    let terms = all
        .iter()
        .filter(|(_, s)| !s.phrase)
        .take(MAX_TERMS)
        .map(|(h, s)| (*h, text_of(s)))
        .collect();
    let phrases = all
        .iter()
        .filter(|(_, s)| s.phrase)
        .take(MAX_PHRASE_TERMS)
        .map(|(h, s)| (*h, text_of(s)))
        .collect();
    let mut features: Vec<(u64, f32, f32)> =
        all.iter().map(|(h, s)| (*h, s.count, s.share)).collect();
    features.sort_unstable_by_key(|f| f.0);
    let date = date.and_then(parse_date).or_else(|| {
        let first = verdicts.iter().position(|v| v.is_keep()).unwrap_or(0);
        (0..(first + 3).min(blocks.len()))
            .filter(|&i| words.count(i) <= 16)
            .find_map(|i| parse_date(&blocks[i].text))
    });
    EventDoc {
        features,
        terms,
        phrases,
        date,
    }
}

/// Count the features of one text into `seen`.
fn scan(text: &str, block: u32, weight: f32, language: usize, seen: &mut AHashMap<u64, Seen>) {
    let stop = Stopwords::get();
    let background = Background::get();
    let mut sentence_start = true;
    // In Title Case Text every word is capitalised: no names can be told from it.
    let long_words: Vec<&str> = text.unicode_words().filter(|w| w.len() >= 4).collect();
    let capitals = long_words
        .iter()
        .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
        .count();
    let title_case = long_words.len() >= 3 && 20 * capitals >= 17 * long_words.len();
    // The current run of capitalised words: byte range, lowercase text, rarest share.
    let mut run: Option<(usize, usize, String, f32)> = None;
    // The content word just before (byte start, share; its lowercase text in
    // `previous_text`), for phrases: two content words with only white space between them.
    let mut previous: Option<(usize, f32)> = None;
    let mut previous_text = String::new();
    let mut phrase_text = String::new();
    let mut add = |h: u64, share: f32, start: usize, end: usize, phrase: bool| {
        let e = seen.entry(h).or_insert(Seen {
            count: 0.0,
            phrase,
            share,
            block,
            start: start as u32,
            end: end as u32,
        });
        e.count += if phrase {
            weight * PHRASE_WEIGHT
        } else {
            weight
        };
    };
    let flush = |run: &mut Option<(usize, usize, String, f32)>,
                 add: &mut dyn FnMut(u64, f32, usize, usize, bool)| {
        if let Some((start, end, key, share)) = run.take() {
            add(feature_hash(NAME, &key), share, start, end, false);
        }
    };
    for (at, token) in text.split_word_bound_indices() {
        let is_word = token.chars().any(char::is_alphanumeric);
        if !is_word {
            if !token.trim().is_empty() {
                flush(&mut run, &mut add);
                previous = None;
                if token.contains(['.', '!', '?', ':', '|']) {
                    sentence_start = true;
                }
            }
            continue;
        }
        let lower_owned = token.to_lowercase();
        let lower = strip_possessive(&lower_owned);
        let end = at + token.len() - (lower_owned.len() - lower.len());
        let word_hash = hash_word(lower);
        let is_stop = stop.is_stopword_hash(word_hash, language);
        let long = lower.chars().count() >= 2;
        let capital = token.chars().next().is_some_and(char::is_uppercase);
        let share = background.doc_share_hash(word_hash);
        if capital && !is_stop && !sentence_start && long && !title_case {
            match &mut run {
                Some((_, e, key, s)) => {
                    *e = end;
                    key.push(' ');
                    key.push_str(lower);
                    *s = s.min(share);
                }
                None => run = Some((at, end, lower.to_string(), share)),
            }
        } else {
            flush(&mut run, &mut add);
        }
        if !is_stop && long {
            let kind = if lower.starts_with(|c: char| c.is_ascii_digit()) {
                NUMBER
            } else {
                WORD
            };
            add(feature_hash(kind, lower), share, at, end, false);
            // A phrase is as rare in the background as its two words together would be if
            // they were independent.
            if let Some((start, first_share)) = previous.replace((at, share)) {
                phrase_text.clear();
                phrase_text.push_str(&previous_text);
                phrase_text.push(' ');
                phrase_text.push_str(lower);
                let h = feature_hash(PHRASE, &phrase_text);
                add(h, first_share * share, start, end, true);
            }
            previous_text.clear();
            previous_text.push_str(lower);
        } else {
            previous = None;
        }
        sentence_start = false;
    }
    flush(&mut run, &mut add);
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub(crate) fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i32 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn month(token: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let t = token.to_ascii_lowercase();
    if t.len() < 3 {
        return None;
    }
    let m = MONTHS.iter().position(|m| t.starts_with(m))? as u32 + 1;
    // "march", "mar", "sept": a prefix of the full name, not "mayor" or "marine".
    const FULL: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    FULL[m as usize - 1]
        .starts_with(t.trim_end_matches('.'))
        .then_some(m)
}

fn day(token: &str) -> Option<u32> {
    let digits = token.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &token[digits.len()..];
    if !matches!(suffix, "" | "st" | "nd" | "rd" | "th") || digits.is_empty() || digits.len() > 2 {
        return None;
    }
    let d: u32 = digits.parse().ok()?;
    (1..=31).contains(&d).then_some(d)
}

fn year(token: &str) -> Option<i32> {
    (token.len() == 4 && token.bytes().all(|b| b.is_ascii_digit()))
        .then(|| token.parse().ok())
        .flatten()
        .filter(|y| (1900..=2100).contains(y))
}

/// The first date in a text, as days since 1970-01-01: `2022-12-30` (also with a time),
/// `December 30, 2022`, `Dec 30 2022`, `30th Dec, 2022`, `30 December 2022`.
pub(crate) fn parse_date(text: &str) -> Option<i32> {
    // ISO 8601 first (its `T` glues the day to the time: "2022-12-30T15:20").
    let b = text.as_bytes();
    for i in 0..b.len().saturating_sub(9).min(4096) {
        let w = &b[i..i + 10];
        let digits = |r: std::ops::Range<usize>| w[r].iter().all(u8::is_ascii_digit);
        if digits(0..4) && w[4] == b'-' && digits(5..7) && w[7] == b'-' && digits(8..10) {
            let num = |r: std::ops::Range<usize>| {
                std::str::from_utf8(&w[r])
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
            };
            if let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10))
                && (1900..=2100).contains(&y)
                && (1..=12).contains(&m)
                && (1..=31).contains(&d)
            {
                return Some(days_from_civil(y as i32, m, d));
            }
        }
    }
    let tokens: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(200)
        .collect();
    for w in tokens.windows(3) {
        let found = if let (Some(y), Ok(m), Ok(d)) =
            (year(w[0]), w[1].parse::<u32>(), w[2].parse::<u32>())
        {
            (w[1].len() <= 2 && w[2].len() <= 2 && (1..=12).contains(&m) && (1..=31).contains(&d))
                .then_some((y, m, d))
        } else if let (Some(m), Some(d), Some(y)) = (month(w[0]), day(w[1]), year(w[2])) {
            Some((y, m, d))
        } else if let (Some(d), Some(m), Some(y)) = (day(w[0]), month(w[1]), year(w[2])) {
            Some((y, m, d))
        } else {
            None
        };
        if let Some((y, m, d)) = found {
            return Some(days_from_civil(y, m, d));
        }
    }
    None
}

/// The date factor of a pair: 1 when either date is unknown or they are at most
/// [`DATE_WINDOW_DAYS`] apart, then halving every [`DATE_HALF_LIFE_DAYS`].
pub(crate) fn date_factor(a: Option<i32>, b: Option<i32>) -> f64 {
    match (a, b) {
        (Some(a), Some(b)) => {
            let apart = (a - b).abs() - DATE_WINDOW_DAYS;
            if apart <= 0 {
                1.0
            } else {
                0.5f64.powf(f64::from(apart) / DATE_HALF_LIFE_DAYS)
            }
        }
        _ => 1.0,
    }
}

/// Parameters of the events level.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EventParams {
    /// Two groups are one event while their mean pairwise score is at least this.
    pub threshold: f64,
    /// Split a grouped event in two when its halves differ sharply in what they do not
    /// share ([`split`]); off only to measure what the split buys.
    pub split: bool,
}

impl Default for EventParams {
    fn default() -> EventParams {
        EventParams {
            threshold: DEFAULT_THRESHOLD,
            split: true,
        }
    }
}

/// One event: stories (copy clusters) whose reports match on average.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// The document that best stands for the event (highest mean score to the others).
    pub representative: u32,
    /// Members `(document, score against the representative, story)`, representative first,
    /// then by score descending, then by id.
    pub members: Vec<(u32, f64, usize)>,
    /// The terms that define the event, most telling first.
    pub terms: Vec<String>,
}

/// The events of a run.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Events {
    /// Every event (single-story ones included), largest first, then by representative id.
    pub events: Vec<Event>,
    /// Page pairs (of different stories) proposed by weighted sampling.
    pub candidates: usize,
    /// Of which scored at least the edge minimum.
    pub verified: usize,
}

/// Weighted, normalised feature vectors of documents, by corpus and background rarity.
pub struct Weights {
    df: AHashMap<u64, u32>,
    stories: f64,
}

impl Weights {
    /// Document frequencies over the given documents' features.
    pub fn new<'a>(docs: impl Iterator<Item = &'a EventDoc>) -> Weights {
        let mut df: AHashMap<u64, u32> = AHashMap::new();
        let mut n = 0.0;
        for d in docs {
            n += 1.0;
            for (h, _, _) in &d.features {
                *df.entry(*h).or_default() += 1;
            }
        }
        Weights { df, stories: n }
    }

    /// Document frequencies over a run's stories (copy clusters), each counted once by its
    /// representative: what [`group`] and [`Scorer`] weigh with.
    pub(crate) fn of_run(analysis: &Analysis) -> Weights {
        Weights::new(
            analysis
                .clusters
                .iter()
                .map(|c| event_doc(analysis, c.representative)),
        )
    }

    /// The weighted, L2-normalised vector of a document (sorted by feature).
    pub(crate) fn vector(&self, doc: &EventDoc) -> Vec<(u64, f32)> {
        let mut v: Vec<(u64, f32)> = doc
            .features
            .iter()
            .filter_map(|&(h, tf, share)| {
                let df = f64::from(*self.df.get(&h).unwrap_or(&1));
                if df < 2.0 && self.stories >= MIN_STORIES_FOR_DF {
                    return None;
                }
                let share = f64::from(share);
                let idf =
                    ((self.stories + PRIOR_DOCS + 1.0) / (df + PRIOR_DOCS * share + 1.0)).ln();
                let w = (1.0 + f64::from(tf).ln()) * idf.max(0.0).powf(IDF_POWER);
                (w > 0.0).then_some((h, w as f32))
            })
            .collect();
        normalise(&mut v);
        v
    }
}

/// Scale a sparse vector to unit length (an empty or zero vector stays as it is).
fn normalise(v: &mut [(u64, f32)]) {
    let norm = v.iter().map(|x| f64::from(x.1).powi(2)).sum::<f64>().sqrt();
    if norm > 0.0 {
        for x in v {
            x.1 = (f64::from(x.1) / norm) as f32;
        }
    }
}

/// Cosine of two normalised sparse vectors sorted by feature.
pub fn cosine(a: &[(u64, f32)], b: &[(u64, f32)]) -> f64 {
    let (mut i, mut j, mut s) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                s += f64::from(a[i].1) * f64::from(b[j].1);
                i += 1;
                j += 1;
            }
        }
    }
    s.min(1.0)
}

/// The shared features of two vectors, by contribution to their cosine, largest first.
pub fn shared(a: &[(u64, f32)], b: &[(u64, f32)]) -> Vec<(u64, f64)> {
    let bm: AHashMap<u64, f32> = b.iter().copied().collect();
    let mut out: Vec<(u64, f64)> = a
        .iter()
        .filter_map(|&(h, x)| bm.get(&h).map(|&y| (h, f64::from(x) * f64::from(y))))
        .collect();
    out.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    out
}

/// Uniform (0, 1) from a hash.
fn unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// 0-bit consistent weighted sampling (ICWS): for each of [`SAMPLES`] draws, the feature
/// that wins it. Two vectors pick the same feature in a draw with probability close to
/// their weighted Jaccard similarity.
pub(crate) fn sketch(v: &[(u64, f32)]) -> Vec<u64> {
    let mut out = Vec::with_capacity(SAMPLES);
    let ln_w: Vec<f64> = v.iter().map(|&(_, w)| f64::from(w).ln()).collect();
    for k in 0..SAMPLES as u64 {
        let mut best = (f64::INFINITY, 0u64);
        for (&(h, _), &ln_w) in v.iter().zip(&ln_w) {
            let r1 = xxh3_64_with_seed(&h.to_le_bytes(), 2 * k + 1);
            let r2 = xxh3_64_with_seed(&h.to_le_bytes(), 2 * k + 2);
            let (u1, u2) = (unit(r1), unit(r1.rotate_left(32) ^ r2));
            let (u3, u4) = (unit(r2), unit(r2.rotate_left(21) ^ r1));
            let beta = unit(r1 ^ r2.rotate_left(43));
            let r = -(u1 * u2).ln();
            let c = -(u3 * u4).ln();
            let t = (ln_w / r + beta).floor();
            let ln_a = c.ln() - r * (t - beta) - r;
            if ln_a < best.0 {
                best = (ln_a, h);
            }
        }
        out.push(best.1 ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }
    out
}

/// A heap entry of the average-linkage merge: mean score, then story order for ties.
#[derive(PartialEq)]
struct Merge {
    score: f64,
    a: u32,
    b: u32,
    version: (u32, u32),
}

impl Eq for Merge {}

impl Ord for Merge {
    fn cmp(&self, other: &Merge) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| (other.a, other.b).cmp(&(self.a, self.b)))
    }
}

impl PartialOrd for Merge {
    fn partial_cmp(&self, other: &Merge) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Average linkage over nodes of the given sizes (pages) and edges `(a, b, sum)`, `sum`
/// being the total score of the page pairs between `a` and `b`: groups merge, highest
/// mean pairwise score first (pairs without a score count 0), while that mean is at least
/// `threshold`. Returns each group's nodes, in node order within a group.
pub(crate) fn average_linkage(
    sizes: &[f64],
    edges: &[(u32, u32, f64)],
    threshold: f64,
) -> Vec<Vec<u32>> {
    let n = sizes.len();
    let mut sums: Vec<AHashMap<u32, f64>> = vec![AHashMap::new(); n];
    for &(a, b, s) in edges {
        let w = s;
        *sums[a as usize].entry(b).or_default() += w;
        *sums[b as usize].entry(a).or_default() += w;
    }
    let mut size = sizes.to_vec();
    let mut version = vec![0u32; n];
    let mut alive = vec![true; n];
    let mut members: Vec<Vec<u32>> = (0..n as u32).map(|i| vec![i]).collect();
    let mut heap = BinaryHeap::new();
    let push =
        |heap: &mut BinaryHeap<Merge>, a: u32, b: u32, sum: f64, size: &[f64], version: &[u32]| {
            let (a, b) = (a.min(b), a.max(b));
            let score = sum / (size[a as usize] * size[b as usize]);
            if score >= threshold {
                heap.push(Merge {
                    score,
                    a,
                    b,
                    version: (version[a as usize], version[b as usize]),
                });
            }
        };
    for (a, row) in sums.iter().enumerate() {
        let mut row: Vec<(u32, f64)> = row.iter().map(|(&b, &s)| (b, s)).collect();
        row.sort_unstable_by_key(|x| x.0);
        for (b, sum) in row {
            if (a as u32) < b {
                push(&mut heap, a as u32, b, sum, &size, &version);
            }
        }
    }
    while let Some(m) = heap.pop() {
        let (a, b) = (m.a as usize, m.b as usize);
        if !alive[a] || !alive[b] || m.version != (version[a], version[b]) {
            continue;
        }
        // b joins a (a is the earlier node).
        alive[b] = false;
        let moved = std::mem::take(&mut sums[b]);
        sums[a].remove(&(b as u32));
        for (c, sum) in moved {
            if c as usize == a {
                continue;
            }
            *sums[a].entry(c).or_default() += sum;
            let other = &mut sums[c as usize];
            other.remove(&(b as u32));
            *other.entry(a as u32).or_default() += sum;
        }
        size[a] += size[b];
        version[a] += 1;
        let taken = std::mem::take(&mut members[b]);
        members[a].extend(taken);
        let mut neighbours: Vec<(u32, f64)> = sums[a].iter().map(|(&c, &s)| (c, s)).collect();
        neighbours.sort_unstable_by_key(|x| x.0);
        for (c, sum) in neighbours {
            push(&mut heap, a as u32, c, sum, &size, &version);
        }
    }
    members
        .into_iter()
        .zip(alive)
        .filter(|(_, alive)| *alive)
        .map(|(mut m, _)| {
            m.sort_unstable();
            m
        })
        .collect()
}

/// Events of fewer pages are not looked at by [`split`].
pub const SPLIT_MIN_PAGES: usize = 6;
/// Pages each side of a split must hold.
pub const SPLIT_MIN_SIDE: usize = 3;
/// A split holds when pages are on average this many times more alike within their side
/// than across the sides, by the event's own weights.
pub const SPLIT_RATIO: f64 = 3.5;
/// Larger events are not looked at: the comparison of their pages is quadratic.
const SPLIT_MAX_PAGES: usize = 2000;

/// Whether one grouped event is two, and if so which side each page is on.
///
/// Two events of one kind (two earthquakes, two patches for one browser, one team's two
/// injuries) share their subject, and by the run's weights the subject outweighs what
/// differs: the place, the year, the people, the numbers. Within the event the subject is
/// everywhere, so weighing each feature again by its rarity *among the event's pages*
/// (`ln((m + 1) / (df + 0.5))`, times the run's weight) leaves what tells its pages apart.
/// The pages are cut in two by the sign of the Fiedler vector of that similarity graph
/// (spectral bisection, normalised Laplacian), and the cut holds only when each side has
/// [`SPLIT_MIN_SIDE`] pages and pages are [`SPLIT_RATIO`] times more alike within their
/// side than across. One event's pages differ in scattered details, so a cut of them finds
/// no such contrast; two events' pages differ in the same few features.
///
/// `docs` are the event's pages and `global` their vectors by the run's [`Weights`].
pub fn split(docs: &[&EventDoc], global: &[&[(u64, f32)]]) -> Option<Vec<bool>> {
    let m = docs.len();
    if !(SPLIT_MIN_PAGES..=SPLIT_MAX_PAGES).contains(&m) {
        return None;
    }
    let mut df: AHashMap<u64, u32> = AHashMap::new();
    for d in docs {
        for &(h, _, _) in &d.features {
            *df.entry(h).or_default() += 1;
        }
    }
    let vectors: Vec<Vec<(u64, f32)>> = docs
        .iter()
        .zip(global)
        .map(|(d, g)| {
            let mut v: Vec<(u64, f32)> = Vec::new();
            let mut j = 0;
            for &(h, tf, _) in &d.features {
                while j < g.len() && g[j].0 < h {
                    j += 1;
                }
                if j == g.len() || g[j].0 != h || df[&h] < 2 {
                    continue;
                }
                let local = ((m as f64 + 1.0) / (f64::from(df[&h]) + 0.5)).ln();
                let w = (1.0 + f64::from(tf).ln()) * local * f64::from(g[j].1);
                if w > 0.0 {
                    v.push((h, w as f32));
                }
            }
            normalise(&mut v);
            v
        })
        .collect();
    let mut sim = vec![0.0f64; m * m];
    for i in 0..m {
        for j in i + 1..m {
            let s = cosine(&vectors[i], &vectors[j]);
            sim[i * m + j] = s;
            sim[j * m + i] = s;
        }
    }
    let side: Vec<bool> = fiedler(&sim, m).iter().map(|&x| x > 0.0).collect();
    let n_a = side.iter().filter(|&&b| b).count();
    if n_a.min(m - n_a) < SPLIT_MIN_SIDE {
        return None;
    }
    // The mean similarity within each side, weighted by the side's pages, against the
    // mean across the sides.
    let (mut in_a, mut in_b, mut across) = (0.0, 0.0, 0.0);
    for i in 0..m {
        for j in i + 1..m {
            let s = sim[i * m + j];
            match (side[i], side[j]) {
                (true, true) => in_a += s,
                (false, false) => in_b += s,
                _ => across += s,
            }
        }
    }
    let n_b = m - n_a;
    let mean = |n: usize, sum: f64| sum / (n * (n - 1) / 2) as f64;
    let within = (mean(n_a, in_a) * n_a as f64 + mean(n_b, in_b) * n_b as f64) / m as f64;
    let across = across / (n_a * n_b) as f64;
    (within >= SPLIT_RATIO * across.max(1e-6)).then_some(side)
}

/// The Fiedler vector of the normalised Laplacian of a dense similarity matrix (negative
/// entries count as 0): the second eigenvector of `D^-1/2 S D^-1/2`, by power iteration
/// on that matrix plus the identity with the first eigenvector (`D^1/2 1`) projected out.
/// The start is fixed, so the result is deterministic.
fn fiedler(sim: &[f64], m: usize) -> Vec<f64> {
    let degree: Vec<f64> = (0..m)
        .map(|i| {
            sim[i * m..(i + 1) * m]
                .iter()
                .map(|&s| s.max(0.0))
                .sum::<f64>()
                + 1e-9
        })
        .collect();
    let scale: Vec<f64> = degree.iter().map(|d| 1.0 / d.sqrt()).collect();
    let mut first: Vec<f64> = degree.iter().map(|d| d.sqrt()).collect();
    let norm = first.iter().map(|x| x * x).sum::<f64>().sqrt();
    first.iter_mut().for_each(|x| *x /= norm);
    let project = |x: &mut Vec<f64>| {
        let dot: f64 = x.iter().zip(&first).map(|(a, b)| a * b).sum();
        x.iter_mut().zip(&first).for_each(|(a, b)| *a -= dot * b);
        let norm = x.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
        x.iter_mut().for_each(|a| *a /= norm);
    };
    let mut x: Vec<f64> = (0..m as u64)
        .map(|i| unit(xxh3_64_with_seed(&i.to_le_bytes(), 0x5EED_F1ED)) - 0.5)
        .collect();
    project(&mut x);
    for _ in 0..1000 {
        let mut next: Vec<f64> = (0..m)
            .map(|i| {
                let row = &sim[i * m..(i + 1) * m];
                let s: f64 = row
                    .iter()
                    .zip(&x)
                    .zip(&scale)
                    .map(|((&s, &xj), &cj)| s.max(0.0) * cj * xj)
                    .sum();
                x[i] + scale[i] * s
            })
            .collect();
        project(&mut next);
        let change: f64 = next.iter().zip(&x).map(|(a, b)| (a - b).powi(2)).sum();
        x = next;
        if change < 1e-18 {
            break;
        }
    }
    x
}

/// Group the stories (copy clusters) of an analysis into events. Every document must have
/// been signed with event features ([`crate::params::Params::events`]).
pub fn group(analysis: &Analysis, params: &EventParams) -> Events {
    let stories = &analysis.clusters;
    // Pages are scored, stories grouped: every signed page that is not an exact copy is a
    // unit (its exact copies count with it), and the score of two stories is the mean over
    // their pages' pairs. Document frequencies count each story once.
    let mut story_of = vec![u32::MAX; analysis.docs.len()];
    for (s, c) in stories.iter().enumerate() {
        for &(d, _) in &c.members {
            story_of[d as usize] = s as u32;
        }
    }
    let mut unit_of = vec![u32::MAX; analysis.docs.len()];
    let mut units: Vec<u32> = Vec::new();
    let mut unit_weight: Vec<f64> = Vec::new();
    for (d, doc) in analysis.docs.iter().enumerate() {
        if doc.copy_of.is_none() && story_of[d] != u32::MAX {
            unit_of[d] = units.len() as u32;
            units.push(d as u32);
            unit_weight.push(1.0);
        }
    }
    for (d, doc) in analysis.docs.iter().enumerate() {
        if let Some(leader) = doc.copy_of
            && unit_of[leader as usize] != u32::MAX
        {
            unit_of[d] = unit_of[leader as usize];
            unit_weight[unit_of[d] as usize] += 1.0;
        }
    }
    let of = |d: u32| event_doc(analysis, d);
    let weights = Weights::of_run(analysis);
    let vectors: Vec<Vec<(u64, f32)>> = units.par_iter().map(|&d| weights.vector(of(d))).collect();
    let sketches: Vec<Vec<u64>> = vectors.par_iter().map(|v| sketch(v)).collect();
    // Candidates: pages sharing a draw, in input order (the giant-bucket budget is spent in
    // a fixed order).
    let mut spent = vec![0u32; units.len()];
    let mut entries: Vec<(u64, u32)> = Vec::with_capacity(units.len());
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    for k in 0..SAMPLES {
        entries.clear();
        entries.extend(
            sketches
                .iter()
                .enumerate()
                .filter(|(u, _)| !vectors[*u].is_empty())
                .map(|(u, sk)| (sk[k], u as u32)),
        );
        entries.sort_unstable();
        lsh::bucket_pairs(&entries, &mut spent, &mut pairs);
        if pairs.len() > 1 << 22 {
            pairs.par_sort_unstable();
            pairs.dedup();
        }
    }
    pairs.par_sort_unstable();
    pairs.dedup();
    let story_of_unit = |u: u32| story_of[units[u as usize] as usize];
    pairs.retain(|&(a, b)| story_of_unit(a) != story_of_unit(b));
    let candidates = pairs.len();
    let dates: Vec<Option<i32>> = units.iter().map(|&d| of(d).date).collect();
    let scored: Vec<(u32, u32, f64)> = pairs
        .par_iter()
        .filter_map(|&(a, b)| {
            let s = cosine(&vectors[a as usize], &vectors[b as usize])
                * date_factor(dates[a as usize], dates[b as usize]);
            (s >= MIN_EDGE).then_some((a, b, s))
        })
        .collect();
    // Story pair sums, each page pair counted by its pages' copies.
    let mut sums: AHashMap<(u32, u32), f64> = AHashMap::new();
    for &(a, b, s) in &scored {
        let (x, y) = (story_of_unit(a), story_of_unit(b));
        *sums.entry((x.min(y), x.max(y))).or_default() +=
            s * unit_weight[a as usize] * unit_weight[b as usize];
    }
    let mut edges: Vec<(u32, u32, f64)> = sums.iter().map(|(&(a, b), &s)| (a, b, s)).collect();
    edges.sort_by_key(|e| (e.0, e.1));
    let sizes: Vec<f64> = stories.iter().map(|c| c.len() as f64).collect();
    let mut groups = average_linkage(&sizes, &edges, params.threshold);
    if params.split {
        // The pages of each event large enough to look at.
        let mut event_of_story = vec![u32::MAX; stories.len()];
        for (e, g) in groups.iter().enumerate() {
            if g.len() > 1 {
                for &s in g {
                    event_of_story[s as usize] = e as u32;
                }
            }
        }
        let mut pages: Vec<Vec<u32>> = vec![Vec::new(); groups.len()];
        for u in 0..units.len() as u32 {
            let e = event_of_story[story_of_unit(u) as usize];
            if e != u32::MAX {
                pages[e as usize].push(u);
            }
        }
        groups = groups
            .into_par_iter()
            .zip(pages)
            .flat_map_iter(|(g, pages)| {
                let docs: Vec<&EventDoc> = pages.iter().map(|&u| of(units[u as usize])).collect();
                let global: Vec<&[(u64, f32)]> = pages
                    .iter()
                    .map(|&u| vectors[u as usize].as_slice())
                    .collect();
                let Some(side) = split(&docs, &global) else {
                    return vec![g];
                };
                // A story goes to the side most of its pages (by copies) are on.
                let mut votes: AHashMap<u32, f64> = AHashMap::new();
                for (&u, &b) in pages.iter().zip(&side) {
                    let w = unit_weight[u as usize];
                    *votes.entry(story_of_unit(u)).or_default() += if b { w } else { -w };
                }
                let (a, b): (Vec<u32>, Vec<u32>) = g
                    .iter()
                    .partition(|s| votes.get(s).copied().unwrap_or(0.0) > 0.0);
                if a.is_empty() || b.is_empty() {
                    vec![g]
                } else {
                    vec![a, b]
                }
            })
            .collect();
    }
    let rep_vector =
        |s: u32| &vectors[unit_of[stories[s as usize].representative as usize] as usize];
    let mut events: Vec<Event> = groups
        .into_iter()
        .map(|g| {
            // The centre: the story with the highest total score to the rest of the event.
            let centre = *g
                .iter()
                .max_by(|&&x, &&y| {
                    let total = |s: u32| -> f64 {
                        g.iter()
                            .filter(|&&o| o != s)
                            .map(|&o| sums.get(&(s.min(o), s.max(o))).copied().unwrap_or(0.0))
                            .sum()
                    };
                    total(x).total_cmp(&total(y)).then(y.cmp(&x))
                })
                .expect("groups are not empty");
            let rep_doc = stories[centre as usize].representative;
            let centre_unit = unit_of[rep_doc as usize] as usize;
            let mut members: Vec<(u32, f64, usize)> = Vec::new();
            for &s in &g {
                for &(d, _) in &stories[s as usize].members {
                    let u = unit_of[d as usize] as usize;
                    let score = if d == rep_doc {
                        1.0
                    } else {
                        cosine(&vectors[u], &vectors[centre_unit])
                            * date_factor(dates[u], dates[centre_unit])
                    };
                    members.push((d, score, s as usize));
                }
            }
            members.sort_by(|x, y| {
                (y.0 == rep_doc)
                    .cmp(&(x.0 == rep_doc))
                    .then(y.1.total_cmp(&x.1))
                    .then_with(|| {
                        analysis.docs[x.0 as usize]
                            .id
                            .cmp(&analysis.docs[y.0 as usize].id)
                    })
                    .then(x.0.cmp(&y.0))
            });
            let story_vectors: Vec<&Vec<(u64, f32)>> = g.iter().map(|&s| rep_vector(s)).collect();
            let story_docs: Vec<&EventDoc> = g
                .iter()
                .map(|&s| of(stories[s as usize].representative))
                .collect();
            let story_sizes: Vec<f64> = g.iter().map(|&s| sizes[s as usize]).collect();
            let terms = event_terms(&story_vectors, &story_docs, &story_sizes);
            Event {
                representative: rep_doc,
                members,
                terms,
            }
        })
        .collect();
    events.sort_by(|x, y| {
        y.members
            .len()
            .cmp(&x.members.len())
            .then_with(|| {
                analysis.docs[x.representative as usize]
                    .id
                    .cmp(&analysis.docs[y.representative as usize].id)
            })
            .then(x.representative.cmp(&y.representative))
    });
    Events {
        events,
        candidates,
        verified: scored.len(),
    }
}

/// The event features of document `d` (none for a skipped one, or one signed without them).
fn event_doc(analysis: &Analysis, d: u32) -> &EventDoc {
    analysis.docs[d as usize].event.as_deref().unwrap_or(&EMPTY)
}

static EMPTY: EventDoc = EventDoc {
    features: Vec::new(),
    terms: Vec::new(),
    phrases: Vec::new(),
    date: None,
};

/// The terms that define an event: its features by summed weight over its stories (each
/// counted by size), those with a display string, most telling first; a term that repeats
/// a longer one (a word of a name) is left out.
fn event_terms(vectors: &[&Vec<(u64, f32)>], docs: &[&EventDoc], sizes: &[f64]) -> Vec<String> {
    let mut sum: AHashMap<u64, f64> = AHashMap::new();
    let mut text: AHashMap<u64, &str> = AHashMap::new();
    for ((v, d), size) in vectors.iter().zip(docs).zip(sizes) {
        for &(h, w) in v.iter() {
            *sum.entry(h).or_default() += f64::from(w) * size;
        }
        for (h, t) in &d.terms {
            text.entry(*h).or_insert(t.as_str());
        }
    }
    let mut ranked: Vec<(u64, f64)> = sum
        .into_iter()
        .filter(|(h, _)| text.contains_key(h))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out: Vec<String> = Vec::new();
    for (h, _) in ranked {
        let t = text[&h];
        let lower = t.to_lowercase();
        if out.iter().any(|o| {
            let o = o.to_lowercase();
            o.split(' ').any(|w| w == lower) || lower.split(' ').any(|w| w == o)
        }) {
            // Keep the longer form: a name over its words.
            if let Some(pos) = out
                .iter()
                .position(|o| lower.split(' ').any(|w| w == o.to_lowercase()))
            {
                out[pos] = t.to_string();
            }
            continue;
        }
        out.push(t.to_string());
        if out.len() == EVENT_TERMS {
            break;
        }
    }
    out
}

/// Why two documents are one event or not: their event score and what they share.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct EventLink {
    /// The event score (cosine × date factor).
    pub score: f64,
    /// The cosine of the weighted features alone.
    pub cosine: f64,
    /// The date factor (1 when a date is unknown or the dates are close).
    pub date_factor: f64,
    /// The two pages' dates (`YYYY-MM-DD`), when known.
    pub dates: (Option<String>, Option<String>),
    /// Shared terms, by contribution to the score, largest first, with that contribution.
    pub terms: Vec<(String, f64)>,
}

/// Civil date `YYYY-MM-DD` of days since 1970-01-01.
pub(crate) fn civil_from_days(z: i32) -> String {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}

/// Scores document pairs of an analysis signed with event features, with weights from the
/// whole run (as [`group`] computes them).
pub struct Scorer<'a> {
    analysis: &'a Analysis,
    weights: Weights,
}

impl<'a> Scorer<'a> {
    /// Document frequencies over the run's stories.
    pub fn new(analysis: &'a Analysis) -> Scorer<'a> {
        Scorer {
            analysis,
            weights: Weights::of_run(analysis),
        }
    }

    fn doc(&self, d: u32) -> &'a EventDoc {
        event_doc(self.analysis, d)
    }

    /// The event score of two documents.
    pub fn score(&self, a: u32, b: u32) -> f64 {
        let (x, y) = (self.doc(a), self.doc(b));
        cosine(&self.weights.vector(x), &self.weights.vector(y)) * date_factor(x.date, y.date)
    }

    /// The event score of two documents and what links them.
    pub fn link(&self, a: u32, b: u32) -> EventLink {
        let (x, y) = (self.doc(a), self.doc(b));
        let (va, vb) = (self.weights.vector(x), self.weights.vector(y));
        let cos = cosine(&va, &vb);
        let factor = date_factor(x.date, y.date);
        let text: AHashMap<u64, &str> = x
            .terms
            .iter()
            .chain(&y.terms)
            .chain(&x.phrases)
            .chain(&y.phrases)
            .map(|(h, t)| (*h, t.as_str()))
            .collect();
        // A word and the one-word name it also is show as one term.
        let mut terms: Vec<(String, f64)> = Vec::new();
        for (h, c) in shared(&va, &vb) {
            let Some(t) = text.get(&h) else { continue };
            match terms.iter_mut().find(|(o, _)| o.eq_ignore_ascii_case(t)) {
                Some((_, sum)) => *sum += c,
                None => terms.push((t.to_string(), c)),
            }
        }
        terms.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        terms.truncate(12);
        for t in &mut terms {
            t.1 = crate::output::round(t.1);
        }
        EventLink {
            score: crate::output::round(cos * factor),
            cosine: crate::output::round(cos),
            date_factor: crate::output::round(factor),
            dates: (x.date.map(civil_from_days), y.date.map(civil_from_days)),
            terms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event document of the given features (each counted once, rare in the background).
    fn page(features: &[&str]) -> EventDoc {
        let mut f: Vec<(u64, f32, f32)> = features
            .iter()
            .map(|t| (feature_hash(WORD, t), 1.0, 0.001))
            .collect();
        f.sort_by_key(|x| x.0);
        f.dedup_by_key(|x| x.0);
        EventDoc {
            features: f,
            ..EventDoc::default()
        }
    }

    /// Splits pages as `split` does in `group`: global weights from the pages themselves.
    fn split_of(pages: &[EventDoc]) -> Option<Vec<bool>> {
        let weights = Weights::new(pages.iter());
        let vectors: Vec<Vec<(u64, f32)>> = pages.iter().map(|p| weights.vector(p)).collect();
        let docs: Vec<&EventDoc> = pages.iter().collect();
        let global: Vec<&[(u64, f32)]> = vectors.iter().map(|v| v.as_slice()).collect();
        split(&docs, &global)
    }

    /// Two events of one kind: every page names the subject (navy, pirates, gulf), and
    /// each event's pages name its own ship, count and year; each page adds a detail of its
    /// own and one it shares with another page of its event.
    fn two_events() -> Vec<EventDoc> {
        (0..12)
            .map(|i| {
                let (ship, count, year) = if i % 2 == 0 {
                    ("mysore", "23", "2008")
                } else {
                    ("sukanya", "26", "2011")
                };
                let own = format!("detail{i}");
                let shared = format!("aside{}", i / 4 * 2 + i % 2);
                page(&[
                    "navy", "pirates", "gulf", "aden", ship, count, year, &own, &shared,
                ])
            })
            .collect()
    }

    #[test]
    fn split_cuts_two_events_of_one_kind_along_what_differs() {
        let pages = two_events();
        let side = split_of(&pages).expect("two events are split");
        for (i, &s) in side.iter().enumerate() {
            assert_eq!(s, side[i % 2], "page {i} is on its event's side");
        }
        assert_ne!(side[0], side[1]);
        // The same answer in another page order (the sides may swap).
        let mut reversed = pages.clone();
        reversed.reverse();
        let again = split_of(&reversed).expect("still split");
        let back: Vec<bool> = again.into_iter().rev().collect();
        assert!(back == side || back.iter().zip(&side).all(|(a, b)| a != b));
    }

    #[test]
    fn split_leaves_one_event_whole() {
        // One event: the subject everywhere, and details scattered across pages (each
        // shared by a few pages, in no consistent pattern).
        let pages: Vec<EventDoc> = (0..12)
            .map(|i| {
                let a = format!("detail{}", i % 5);
                let b = format!("quote{}", (i * 7) % 6);
                let c = format!("aside{}", (i * 5) % 4);
                page(&[
                    "navy", "pirates", "gulf", "aden", "mysore", "23", &a, &b, &c,
                ])
            })
            .collect();
        assert_eq!(split_of(&pages), None);
        // Too few pages to look at.
        assert_eq!(split_of(&two_events()[..SPLIT_MIN_PAGES - 1]), None);
    }

    #[test]
    fn dates_in_common_forms() {
        let d = days_from_civil(2022, 12, 30);
        assert_eq!(
            parse_date("Published December 30, 2022 | 03:20 PM"),
            Some(d)
        );
        assert_eq!(parse_date("date 2022-12-30 UrduPoint.com"), Some(d));
        assert_eq!(
            parse_date("Pakistan Point News - 30th Dec, 2022 )"),
            Some(d)
        );
        assert_eq!(parse_date("2022-12-30T15:20:00+05:00"), Some(d));
        assert_eq!(parse_date("30 December 2022"), Some(d));
        assert_eq!(parse_date("The mayor met 30 marines in 2022"), None);
        assert_eq!(civil_from_days(d), "2022-12-30");
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), "2000-02-29");
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    #[test]
    fn date_factor_keeps_close_dates_and_decays_far_ones() {
        let d = days_from_civil(2022, 12, 30);
        assert_eq!(date_factor(Some(d), Some(d + 5)), 1.0);
        assert_eq!(date_factor(Some(d), None), 1.0);
        let half = DATE_WINDOW_DAYS + DATE_HALF_LIFE_DAYS as i32;
        assert!((date_factor(Some(d), Some(d + half)) - 0.5).abs() < 1e-9);
        assert_eq!(date_factor(Some(d), Some(d + DATE_WINDOW_DAYS)), 1.0);
        // The same kind of event a year apart counts for little more than a third.
        assert!(date_factor(Some(d), Some(d + 365)) < 0.4);
        assert!(date_factor(Some(d), Some(d + 3 * 365)) < 0.03);
    }

    fn blocks(texts: &[&str]) -> Vec<Block> {
        texts.iter().map(|t| Block::text(*t)).collect()
    }

    /// Word hashes and block ends of `blocks`, as preparation leaves them.
    fn hashed(blocks: &[Block]) -> (Vec<u64>, Vec<usize>) {
        let mut tokenizer = crate::tokenize::Tokenizer::new();
        let (mut hashes, mut ends) = (Vec::new(), Vec::new());
        for b in blocks {
            tokenizer.hash_words(&b.text, &mut hashes);
            ends.push(hashes.len());
        }
        (hashes, ends)
    }

    #[test]
    fn headline_before_the_body_is_found() {
        let b = blocks(&[
            "Home | World | Sport",
            "Putin tells Xi he wants to ramp up military cooperation",
            "Russian leader Vladimir Putin told Chinese President Xi Jinping on Friday he was keen to ramp up military cooperation.",
            "The Kremlin chief also hailed the efforts of Moscow and Beijing.",
        ]);
        let v = [
            Verdict::Drop(crate::clean::DropReason::ShortInChrome),
            Verdict::Drop(crate::clean::DropReason::ShortInChrome),
            Verdict::Keep,
            Verdict::Keep,
        ];
        let en = Stopwords::get().language_index("en").unwrap();
        let (hashes, ends) = hashed(&b);
        let words = Words {
            hashes: &hashes,
            ends: &ends,
            language: en,
        };
        assert_eq!(
            find_title(&b, &v, words).as_deref(),
            Some("Putin tells Xi he wants to ramp up military cooperation")
        );
    }

    #[test]
    fn names_numbers_and_words_are_features() {
        let b = blocks(&[
            "The talks began. Officials said Vladimir Putin met Xi Jinping in Moscow on 30 December.",
        ]);
        let en = Stopwords::get().language_index("en").unwrap();
        let (hashes, ends) = hashed(&b);
        let words = Words {
            hashes: &hashes,
            ends: &ends,
            language: en,
        };
        let f = features(&b, &[Verdict::Keep], words, None, None);
        let names: Vec<&str> = f.terms.iter().map(|t| t.1.as_str()).collect();
        assert!(names.contains(&"Vladimir Putin"), "{names:?}");
        assert!(names.contains(&"Xi Jinping"), "{names:?}");
        assert!(names.contains(&"30"), "{names:?}");
        // "The" opens a sentence and is a stopword: neither a name nor a word.
        assert!(!names.iter().any(|n| n.eq_ignore_ascii_case("the")));
    }

    #[test]
    fn side_by_side_content_words_are_phrases() {
        let b =
            blocks(&["Officials said the heavyweight title fight, set for March, was called off."]);
        let en = Stopwords::get().language_index("en").unwrap();
        let (hashes, ends) = hashed(&b);
        let words = Words {
            hashes: &hashes,
            ends: &ends,
            language: en,
        };
        let f = features(&b, &[Verdict::Keep], words, None, None);
        let count_of = |kind: u64, text: &str| {
            let h = feature_hash(kind, text);
            f.features.iter().find(|x| x.0 == h).map(|x| x.1)
        };
        let count = |text: &str| count_of(PHRASE, text);
        // Content words with only white space between them, each pair once, counting
        // PHRASE_WEIGHT times a word of the same block.
        let word = count_of(WORD, "heavyweight").expect("a word");
        assert_eq!(count("heavyweight title"), Some(PHRASE_WEIGHT * word));
        assert_eq!(count("title fight"), Some(PHRASE_WEIGHT * word));
        assert_eq!(count("officials said"), Some(PHRASE_WEIGHT * word));
        // Not across a stopword ("said the heavyweight") or punctuation ("fight, set").
        assert_eq!(count("said heavyweight"), None);
        assert_eq!(count("fight set"), None);
        // An event's terms are words, names and numbers; phrases are kept apart, for
        // explanations.
        assert!(f.terms.iter().all(|t| !t.1.contains(' ')), "{:?}", f.terms);
        assert!(
            f.terms.iter().any(|t| t.1 == "heavyweight"),
            "{:?}",
            f.terms
        );
        assert!(
            f.phrases.iter().any(|t| t.1 == "heavyweight title"),
            "{:?}",
            f.phrases
        );
    }

    #[test]
    fn average_linkage_does_not_chain() {
        // 0-1 and 1-2 match strongly, 0-2 not at all: the mean of {0,1} to 2 is 0.3 < 0.4.
        let groups = average_linkage(&[1.0; 3], &[(0, 1, 0.9), (1, 2, 0.6)], 0.4);
        assert_eq!(groups, vec![vec![0, 1], vec![2]]);
        // With 0-2 also matching, all three are one group.
        let groups = average_linkage(&[1.0; 3], &[(0, 1, 0.9), (1, 2, 0.6), (0, 2, 0.5)], 0.4);
        assert_eq!(groups, vec![vec![0, 1, 2]]);
    }

    #[test]
    fn sketch_agreement_tracks_similarity() {
        let a: Vec<(u64, f32)> = (0..50u64).map(|h| (h, 0.1)).collect();
        let near: Vec<(u64, f32)> = (5..55u64).map(|h| (h, 0.1)).collect();
        let far: Vec<(u64, f32)> = (40..90u64).map(|h| (h, 0.1)).collect();
        let agree = |x: &[(u64, f32)], y: &[(u64, f32)]| {
            sketch(x)
                .iter()
                .zip(sketch(y))
                .filter(|(p, q)| **p == *q)
                .count()
        };
        // Weighted Jaccard 45/55 ≈ 0.82 and 10/90 ≈ 0.11, over 64 draws.
        assert!(agree(&a, &near) > 40, "{}", agree(&a, &near));
        assert!(agree(&a, &far) < 20, "{}", agree(&a, &far));
        assert_eq!(sketch(&a), sketch(&a));
    }
}
