//! Stage 10, output: an [`Analysis`] to JSON Lines records or a readable table.
//!
//! In: the pipeline's [`Analysis`]. Out: serializable records, one type per command. The
//! wire format of each is documented on the type; fields are never removed within a major
//! version, and new fields may be added.

use std::io::{self, Write};

use serde::Serialize;

use crate::pipeline::Analysis;

/// One member of a story cluster.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct Member {
    /// Document id.
    pub id: String,
    /// Title, or `null` when unknown.
    pub title: Option<String>,
    /// Exact score of this member against the representative (1 for the representative).
    pub similarity: f64,
}

/// One line of `samestory clusters` output.
///
/// # Wire format
///
/// ```json
/// {"cluster": 1, "size": 3, "representative": "003.txt",
///  "members": [{"id": "003.txt", "title": null, "similarity": 1.0},
///              {"id": "001.txt", "title": null, "similarity": 0.21}, ...]}
/// ```
///
/// - `cluster`: 1-based position in the output, which is sorted by size (largest first),
///   then by representative id. Stable for the same input and parameters, whatever the
///   thread count or input order.
/// - `representative`: the document the cluster was founded on; every member's
///   `similarity` is its exact score against it (under the run's measure).
/// - `members`: representative first, then by similarity descending, then by id.
/// - `status`: `cluster` (2+ members), `single` (a signed document in no cluster, listed
///   with `--all`) or `skipped` (not signed, listed with `--all`, after every other record,
///   in input order, with `reason` saying why).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct ClusterRecord {
    /// 1-based cluster number.
    pub cluster: usize,
    /// Number of members.
    pub size: usize,
    /// Representative document id.
    pub representative: String,
    /// Members, representative first.
    pub members: Vec<Member>,
    /// `cluster`, `single` or `skipped`.
    pub status: &'static str,
    /// Why a `skipped` document was not signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One member of an event.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct EventMember {
    /// Document id.
    pub id: String,
    /// Title, or `null` when unknown.
    pub title: Option<String>,
    /// Event score of this member against the representative (1 for the representative).
    pub similarity: f64,
    /// The copy cluster (story) the member belongs to: the `cluster` number that
    /// `samestory clusters --all` gives it at the copy level.
    pub story: usize,
}

/// One line of `samestory clusters --level events` output: the shape of a
/// [`ClusterRecord`], plus each member's `story` and the event's `terms`.
///
/// # Wire format
///
/// ```json
/// {"cluster": 1, "size": 3, "representative": "003.txt",
///  "members": [{"id": "003.txt", "title": "...", "similarity": 1.0, "story": 1}, ...],
///  "status": "cluster", "terms": ["Xi Jinping", "Vladimir Putin", "video", ...]}
/// ```
///
/// - `cluster`: 1-based position, largest event first, then by representative id.
/// - `representative`: the event's centre, the member that best matches the others;
///   `similarity` is each member's event score against it.
/// - `members`: representative first, then by similarity descending, then by id; copies
///   of one story sit together.
/// - `terms`: the names and words that define the event, most telling first.
/// - `status`: `cluster` (2+ pages), `single` or `skipped` (with `--all`), as for copies.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct EventRecord {
    /// 1-based event number.
    pub cluster: usize,
    /// Number of pages.
    pub size: usize,
    /// Representative document id.
    pub representative: String,
    /// Members, representative first.
    pub members: Vec<EventMember>,
    /// `cluster`, `single` or `skipped`.
    pub status: &'static str,
    /// The terms that define the event.
    pub terms: Vec<String>,
    /// Why a `skipped` document was not signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Event records, `all` including single pages and skipped documents (every input
/// document then appears exactly once).
pub fn event_records(
    analysis: &Analysis,
    events: &crate::events::Events,
    all: bool,
) -> Vec<EventRecord> {
    let member = |d: u32, s: f64, story: usize| {
        let doc = &analysis.docs[d as usize];
        EventMember {
            id: doc.id.clone(),
            title: doc.title.clone(),
            similarity: round(s),
            story,
        }
    };
    let mut records: Vec<EventRecord> = events
        .events
        .iter()
        .filter(|e| all || e.members.len() > 1)
        .enumerate()
        .map(|(i, e)| EventRecord {
            cluster: i + 1,
            size: e.members.len(),
            representative: analysis.docs[e.representative as usize].id.clone(),
            members: e
                .members
                .iter()
                .map(|&(d, s, story)| member(d, s, story + 1))
                .collect(),
            status: if e.members.len() > 1 {
                "cluster"
            } else {
                "single"
            },
            terms: e.terms.clone(),
            reason: None,
        })
        .collect();
    if all {
        let stories = analysis.clusters.len();
        let mut skipped = 0;
        for (d, doc) in analysis.docs.iter().enumerate() {
            if let Some(reason) = &doc.skipped {
                skipped += 1;
                records.push(EventRecord {
                    cluster: records.len() + 1,
                    size: 1,
                    representative: doc.id.clone(),
                    members: vec![member(d as u32, 1.0, stories + skipped)],
                    status: "skipped",
                    terms: Vec::new(),
                    reason: Some(reason.message()),
                });
            }
        }
    }
    records
}

/// The event link of two pages for people: score, dates, shared terms.
pub fn write_event_link(out: &mut dyn Write, link: &crate::events::EventLink) -> io::Result<()> {
    let date = |d: &Option<String>| d.clone().unwrap_or_else(|| "unknown".to_string());
    writeln!(
        out,
        "\nevent score {:.3} (cosine {:.3} × date factor {:.3}; dates {} and {})",
        link.score,
        link.cosine,
        link.date_factor,
        date(&link.dates.0),
        date(&link.dates.1)
    )?;
    if link.terms.is_empty() {
        writeln!(out, "no shared names or telling words")?;
    } else {
        let terms: Vec<String> = link
            .terms
            .iter()
            .map(|(t, c)| format!("{t} ({c:.3})"))
            .collect();
        writeln!(out, "linked by: {}", terms.join(", "))?;
    }
    Ok(())
}

/// A readable table of events: one row per member, each event's stories indented under
/// it, its terms on its first row.
pub fn write_event_table(out: &mut dyn Write, records: &[EventRecord]) -> io::Result<()> {
    let id_width = records
        .iter()
        .flat_map(|r| r.members.iter().map(|m| cell_width(&m.id) + 2))
        .max()
        .unwrap_or(2)
        .clamp(2, 50);
    writeln!(
        out,
        "{:>5}  {:>4}  {:>5}  {:<id_width$}  {:>5}  title",
        "event", "size", "story", "id", "score"
    )?;
    for r in records {
        if !r.terms.is_empty() {
            writeln!(
                out,
                "{:>5}  {:>4}  terms: {}",
                r.cluster,
                r.size,
                r.terms.join(", ")
            )?;
        }
        let mut last_story = None;
        for (i, m) in r.members.iter().enumerate() {
            let (num, size) = if i == 0 && r.terms.is_empty() {
                (r.cluster.to_string(), r.size.to_string())
            } else {
                (String::new(), String::new())
            };
            let story = if last_story == Some(m.story) {
                String::new()
            } else {
                m.story.to_string()
            };
            let indent = if last_story == Some(m.story) {
                "    "
            } else {
                "  "
            };
            last_story = Some(m.story);
            let score = match (i, r.status) {
                (0, "skipped") => "skip".to_string(),
                (0, _) => "rep".to_string(),
                _ => format!("{:.3}", m.similarity),
            };
            let title = match (&r.reason, i) {
                (Some(reason), 0) => reason.as_str(),
                _ => m.title.as_deref().unwrap_or(""),
            };
            let id = format!(
                "{indent}{}",
                cell(&m.id, id_width.saturating_sub(indent.len()))
            );
            let line = format!(
                "{num:>5}  {size:>4}  {story:>5}  {id:<id_width$}  {score:>5}  {}",
                cell(title, 60)
            );
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    Ok(())
}

/// CSV of events: one row per member.
pub fn write_event_csv(out: &mut dyn Write, records: &[EventRecord]) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "event",
        "size",
        "status",
        "story",
        "id",
        "title",
        "similarity",
        "terms",
    ])?;
    for r in records {
        for m in &r.members {
            w.write_record([
                r.cluster.to_string(),
                r.size.to_string(),
                r.status.to_string(),
                m.story.to_string(),
                m.id.clone(),
                m.title.clone().unwrap_or_default(),
                m.similarity.to_string(),
                r.terms.join("; "),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

/// What `dedup` decided for one document.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// The copy to keep (also every document without a duplicate).
    Kept,
    /// A near-duplicate of a kept document.
    Duplicate,
    /// Not signed: unreadable, empty after cleaning, or too short.
    Skipped,
}

/// One line of `samestory dedup` output, one per input document, in input order.
///
/// # Wire format
///
/// ```json
/// {"id": "b.html", "status": "duplicate", "duplicate_of": "a.html", "similarity": 0.93, "reason": null}
/// {"id": "c.html", "status": "kept", "duplicate_of": null, "similarity": null, "reason": null}
/// {"id": "d.html", "status": "skipped", "duplicate_of": null, "similarity": null, "reason": "empty after cleaning"}
/// ```
///
/// - `status`: `kept`, `duplicate` or `skipped`. The counts add up to the documents read.
/// - `duplicate_of`: for duplicates, the kept document's id.
/// - `similarity`: for duplicates, the exact score against the kept document.
/// - `reason`: for skipped documents, why (unreadable input with `path:line`, empty after
///   cleaning, too short to sign).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct DedupRecord {
    /// Document id.
    pub id: String,
    /// Decision.
    pub status: Status,
    /// Kept document this one duplicates.
    pub duplicate_of: Option<String>,
    /// Exact score against the kept document.
    pub similarity: Option<f64>,
    /// Why the document was skipped.
    pub reason: Option<String>,
}

/// The scores of one pair, from `similarity A B` and `similarity --pairs`.
///
/// # Wire format
///
/// ```json
/// {"a": "001.txt", "b": "003.txt", "jaccard": 0.05, "containment_a": 0.1,
///  "containment_b": 0.09, "minhash": 0.05, "shared": 35, "shingles_a": 350, "shingles_b": 380,
///  "cleaning": "page"}
/// ```
///
/// - `jaccard`: exact Jaccard of the two shingle sets.
/// - `containment_a`: share of `a`'s shingles found in `b`; `containment_b` the reverse.
/// - `minhash`: the MinHash estimate of the Jaccard (for comparison with the exact value).
/// - `shared`, `shingles_a`, `shingles_b`: the set sizes behind the ratios.
/// - `cleaning`: what the sets were built from: `page` (each page cleaned on its own, as
///   `dedup` does), `corpus` (also without blocks repeated across the inputs, as `clusters`
///   does: `similarity --preset clusters`), or `none`. The same pair scores differently
///   under different cleaning.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct PairRecord {
    /// First document id.
    pub a: String,
    /// Second document id.
    pub b: String,
    /// Exact Jaccard.
    pub jaccard: f64,
    /// |A ∩ B| / |A|.
    pub containment_a: f64,
    /// |A ∩ B| / |B|.
    pub containment_b: f64,
    /// MinHash estimate of the Jaccard.
    pub minhash: f64,
    /// |A ∩ B|.
    pub shared: usize,
    /// |A|.
    pub shingles_a: usize,
    /// |B|.
    pub shingles_b: usize,
    /// `page`, `corpus` or `none`.
    pub cleaning: &'static str,
    /// The events-level score ([`crate::events`]): whether the two pages report one event,
    /// also in different words. Present when the run computed event features.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<f64>,
}

/// Round a score for output: 4 decimals is what a person reads and keeps JSON short.
pub fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Cluster records, `all` including singletons and skipped documents (every input document
/// then appears exactly once).
pub fn cluster_records(analysis: &Analysis, all: bool) -> Vec<ClusterRecord> {
    let member = |d: u32, s: f64| {
        let doc = &analysis.docs[d as usize];
        Member {
            id: doc.id.clone(),
            title: doc.title.clone(),
            similarity: round(s),
        }
    };
    let mut records: Vec<ClusterRecord> = analysis
        .clusters
        .iter()
        .filter(|c| all || c.len() > 1)
        .enumerate()
        .map(|(i, c)| ClusterRecord {
            cluster: i + 1,
            size: c.len(),
            representative: analysis.docs[c.representative as usize].id.clone(),
            members: c.members.iter().map(|&(d, s)| member(d, s)).collect(),
            status: if c.len() > 1 { "cluster" } else { "single" },
            reason: None,
        })
        .collect();
    if all {
        for (d, doc) in analysis.docs.iter().enumerate() {
            if let Some(reason) = &doc.skipped {
                records.push(ClusterRecord {
                    cluster: records.len() + 1,
                    size: 1,
                    representative: doc.id.clone(),
                    members: vec![member(d as u32, 1.0)],
                    status: "skipped",
                    reason: Some(reason.message()),
                });
            }
        }
    }
    records
}

/// Dedup records: one per document, in input order.
pub fn dedup_records(analysis: &Analysis) -> Vec<DedupRecord> {
    let decisions = Decisions::new(analysis);
    (0..analysis.docs.len() as u32)
        .map(|d| decisions.record(analysis, d))
        .collect()
}

/// What `dedup` decided for each document, in 16 bytes a document: the kept document it
/// duplicates (itself when kept) and the score. A caller can write records one at a time
/// ([`Decisions::record`]) instead of holding one per document ([`dedup_records`]).
#[derive(Debug, Clone)]
pub struct Decisions {
    /// Per document: the kept document (`u32::MAX` when skipped) and the similarity.
    of: Vec<(u32, f64)>,
}

impl Decisions {
    /// The decisions of an analysis.
    pub fn new(analysis: &Analysis) -> Decisions {
        let mut of = vec![(u32::MAX, 0.0); analysis.docs.len()];
        for c in &analysis.clusters {
            for &(d, s) in &c.members {
                of[d as usize] = (c.representative, s);
            }
        }
        Decisions { of }
    }

    /// Document `d`'s status.
    pub fn status(&self, d: u32) -> Status {
        match self.of[d as usize].0 {
            u32::MAX => Status::Skipped,
            kept if kept == d => Status::Kept,
            _ => Status::Duplicate,
        }
    }

    /// Document `d`'s record.
    pub fn record(&self, analysis: &Analysis, d: u32) -> DedupRecord {
        let doc = &analysis.docs[d as usize];
        let (kept, s) = self.of[d as usize];
        let status = self.status(d);
        let duplicate = status == Status::Duplicate;
        DedupRecord {
            id: doc.id.clone(),
            status,
            duplicate_of: duplicate.then(|| analysis.docs[kept as usize].id.clone()),
            similarity: duplicate.then(|| round(s)),
            reason: doc.skipped.as_ref().map(|r| r.message()),
        }
    }
}

/// The pair record for documents `a` and `b` of an analysis.
pub fn pair_record(analysis: &Analysis, a: u32, b: u32) -> PairRecord {
    let s = analysis.similarity(a, b);
    PairRecord {
        a: analysis.docs[a as usize].id.clone(),
        b: analysis.docs[b as usize].id.clone(),
        jaccard: round(s.jaccard),
        containment_a: round(s.containment_a),
        containment_b: round(s.containment_b),
        minhash: round(analysis.estimate(a, b)),
        shared: s.shared,
        shingles_a: analysis.shingles(a).len(),
        shingles_b: analysis.shingles(b).len(),
        cleaning: analysis.cleaning.as_str(),
        event: None,
    }
}

/// Write records as JSON Lines.
pub fn write_jsonl<T: Serialize>(out: &mut dyn Write, records: &[T]) -> io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut *out, r)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Control characters escaped (`\n`, `\t`, `\u{1b}`): a newline in an id must not break a
/// table row.
fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect::<String>()
        .into()
}

/// A table cell: [`escape`]d, truncated to `width` characters.
fn cell(s: &str, width: usize) -> String {
    let s = escape(s);
    if s.chars().count() <= width {
        s.into_owned()
    } else {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Display width of a cell before truncation.
fn cell_width(s: &str) -> usize {
    escape(s).chars().count()
}

/// Decimals needed to print every threshold of a sweep alike (at most 4).
fn threshold_decimals(thresholds: &[f64]) -> usize {
    (0..=4)
        .find(|&d| {
            let scale = 10f64.powi(d as i32);
            thresholds
                .iter()
                .all(|t| ((t * scale).round() - t * scale).abs() < 1e-6)
        })
        .unwrap_or(4)
        .max(1)
}

/// A readable table of clusters: one row per member.
pub fn write_cluster_table(out: &mut dyn Write, records: &[ClusterRecord]) -> io::Result<()> {
    let id_width = records
        .iter()
        .flat_map(|r| r.members.iter().map(|m| cell_width(&m.id)))
        .max()
        .unwrap_or(2)
        .clamp(2, 48);
    writeln!(
        out,
        "{:>7}  {:>4}  {:<id_width$}  {:>10}  title",
        "cluster", "size", "id", "similarity"
    )?;
    for r in records {
        for (i, m) in r.members.iter().enumerate() {
            let (num, size) = if i == 0 {
                (r.cluster.to_string(), r.size.to_string())
            } else {
                (String::new(), String::new())
            };
            let sim = match (i, r.status) {
                (0, "skipped") => "skipped".to_string(),
                (0, _) => "rep".to_string(),
                _ => format!("{:.3}", m.similarity),
            };
            let title = match (&r.reason, i) {
                (Some(reason), 0) => reason.as_str(),
                _ => m.title.as_deref().unwrap_or(""),
            };
            let line = format!(
                "{num:>7}  {size:>4}  {:<id_width$}  {sim:>10}  {}",
                cell(&m.id, id_width),
                cell(title, 60)
            );
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    Ok(())
}

/// A readable table of dedup decisions.
pub fn write_dedup_table(out: &mut dyn Write, records: &[DedupRecord]) -> io::Result<()> {
    let id_width = records
        .iter()
        .map(|r| cell_width(&r.id))
        .max()
        .unwrap_or(2)
        .clamp(2, 48);
    writeln!(
        out,
        "{:<id_width$}  {:<9}  {:>10}  duplicate of / reason",
        "id", "status", "similarity"
    )?;
    for r in records {
        let status = match r.status {
            Status::Kept => "kept",
            Status::Duplicate => "duplicate",
            Status::Skipped => "skipped",
        };
        let sim = r.similarity.map(|s| format!("{s:.3}")).unwrap_or_default();
        let detail = r
            .duplicate_of
            .as_deref()
            .or(r.reason.as_deref())
            .unwrap_or("");
        let line = format!(
            "{:<id_width$}  {status:<9}  {sim:>10}  {}",
            cell(&r.id, id_width),
            cell(detail, 200)
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// A readable table of pairs.
pub fn write_pair_table(out: &mut dyn Write, records: &[PairRecord]) -> io::Result<()> {
    let events = records.iter().any(|r| r.event.is_some());
    let event_head = if events { "     event" } else { "" };
    writeln!(
        out,
        "{:>8}  {:>8}  {:>8}  {:>8}{event_head}  a / b",
        "jaccard", "cont(a)", "cont(b)", "minhash"
    )?;
    for r in records {
        let event = match r.event {
            Some(e) if events => format!("  {e:>8.4}"),
            _ if events => format!("  {:>8}", "-"),
            _ => String::new(),
        };
        writeln!(
            out,
            "{:>8.4}  {:>8.4}  {:>8.4}  {:>8.4}{event}  {}  {}",
            r.jaccard,
            r.containment_a,
            r.containment_b,
            r.minhash,
            cell(&r.a, 200),
            cell(&r.b, 200)
        )?;
    }
    Ok(())
}

/// The evaluation report for people.
pub fn write_eval_report(out: &mut dyn Write, r: &crate::eval::Report) -> io::Result<()> {
    writeln!(
        out,
        "documents {} (labelled {}), gold stories {}, predicted clusters of 2+ {}",
        r.documents, r.labelled, r.stories, r.clusters
    )?;
    writeln!(
        out,
        "threshold {:.*}  precision {:.4}  recall {:.4}  F1 {:.4}  ARI {:.4}",
        threshold_decimals(&[r.threshold]),
        r.threshold,
        r.precision,
        r.recall,
        r.f1,
        r.ari
    )?;
    writeln!(
        out,
        "B-cubed   precision {:.4}  recall {:.4}  F1 {:.4}",
        r.b3_precision, r.b3_recall, r.b3_f1
    )?;
    if !r.merges.is_empty() {
        writeln!(
            out,
            "worst merges (one predicted cluster, several stories):"
        )?;
        for m in &r.merges {
            let stories: Vec<String> = m.stories.iter().map(|(s, n)| format!("{s} {n}")).collect();
            writeln!(
                out,
                "  {} wrong pairs: cluster of {} around {}: {}",
                m.wrong_pairs,
                m.size,
                m.representative,
                stories.join(", ")
            )?;
        }
    }
    if !r.splits.is_empty() {
        writeln!(out, "worst splits (one story, several predicted clusters):")?;
        for s in &r.splits {
            let parts: Vec<String> = s.parts.iter().map(usize::to_string).collect();
            writeln!(
                out,
                "  {} missed pairs: {} ({} pages) in parts of {}",
                s.missed_pairs,
                s.story,
                s.size,
                parts.join(" + ")
            )?;
        }
    }
    Ok(())
}

/// One row per threshold of a sweep.
pub fn write_sweep_table(out: &mut dyn Write, reports: &[crate::eval::Report]) -> io::Result<()> {
    writeln!(
        out,
        "{:>9}  {:>9}  {:>6}  {:>6}  {:>6}  {:>6}  {:>8}",
        "threshold", "precision", "recall", "F1", "ARI", "B3 F1", "clusters"
    )?;
    let thresholds: Vec<f64> = reports.iter().map(|r| r.threshold).collect();
    let decimals = threshold_decimals(&thresholds);
    for r in reports {
        writeln!(
            out,
            "{:>9.*}  {:>9.4}  {:>6.4}  {:>6.4}  {:>6.4}  {:>6.4}  {:>8}",
            decimals, r.threshold, r.precision, r.recall, r.f1, r.ari, r.b3_f1, r.clusters
        )?;
    }
    Ok(())
}

/// A score as CSV writes it: 4 decimals at most, empty when absent.
fn csv_score(x: Option<f64>) -> String {
    x.map(|v| round(v).to_string()).unwrap_or_default()
}

/// Dedup records as CSV (RFC 4180, with a header): `id,status,duplicate_of,similarity,reason`.
pub fn write_dedup_csv(out: &mut dyn Write, records: &[DedupRecord]) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["id", "status", "duplicate_of", "similarity", "reason"])?;
    for r in records {
        let status = match r.status {
            Status::Kept => "kept",
            Status::Duplicate => "duplicate",
            Status::Skipped => "skipped",
        };
        w.write_record([
            r.id.as_str(),
            status,
            r.duplicate_of.as_deref().unwrap_or(""),
            &csv_score(r.similarity),
            r.reason.as_deref().unwrap_or(""),
        ])?;
    }
    w.flush()
}

/// Cluster records as CSV, one row per member:
/// `cluster,size,status,representative,id,title,similarity,reason`.
pub fn write_cluster_csv(out: &mut dyn Write, records: &[ClusterRecord]) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "cluster",
        "size",
        "status",
        "representative",
        "id",
        "title",
        "similarity",
        "reason",
    ])?;
    for r in records {
        for m in &r.members {
            w.write_record([
                r.cluster.to_string().as_str(),
                &r.size.to_string(),
                r.status,
                &r.representative,
                &m.id,
                m.title.as_deref().unwrap_or(""),
                &csv_score(Some(m.similarity)),
                r.reason.as_deref().unwrap_or(""),
            ])?;
        }
    }
    w.flush()
}

/// Pair records as CSV: the fields of [`PairRecord`], in its order, with a header.
pub fn write_pair_csv(out: &mut dyn Write, records: &[PairRecord]) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    for r in records {
        w.serialize(r)?;
    }
    if records.is_empty() {
        w.write_record([
            "a",
            "b",
            "jaccard",
            "containment_a",
            "containment_b",
            "minhash",
            "shared",
            "shingles_a",
            "shingles_b",
            "cleaning",
        ])?;
    }
    w.flush()
}

/// Why two pages match, for people.
pub fn write_explanation(out: &mut dyn Write, e: &crate::explain::Explanation) -> io::Result<()> {
    writeln!(
        out,
        "shingles lost to cleaning: a {}, b {}; shared before cleaning: {}",
        e.lost_to_cleaning_a, e.lost_to_cleaning_b, e.shared_before_cleaning
    )?;
    if e.passages.is_empty() {
        writeln!(out, "no shared passage of one shingle or more")?;
    }
    for p in &e.passages {
        writeln!(out, "shared passage ({} words): {}", p.words, p.text)?;
    }
    Ok(())
}
