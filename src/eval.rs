//! Evaluation: score predicted clusters against gold labels.
//!
//! In: a labels file (TSV with a header naming an `id` and a `cluster` column) and the
//! pipeline's [`Analysis`]. Out: a [`Report`]: pairwise precision, recall and F1 (a pair is
//! positive when both pages carry the same gold story), the adjusted Rand index (Hubert and
//! Arabie, 1985; every page outside a predicted cluster counts as its own singleton), and the
//! worst wrong merges and splits, so a person sees which stories went wrong and how.
//!
//! Document ids match label ids exactly, or by path suffix on a `/` boundary
//! (`GoldSetOfDuplicates/Adobe/a2.htm` matches the label `Adobe/a2.htm`).

use std::path::Path;

use ahash::AHashMap;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::Analysis;

/// Gold labels: document id to story name.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    by_id: AHashMap<String, String>,
}

impl Labels {
    /// Read a TSV file with a header holding `id` and `cluster` columns.
    pub fn from_tsv(path: &Path) -> Result<Labels> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Labels::parse(&text).map_err(|e| e.with_path(path))
    }

    /// Parse TSV text (see [`Labels::from_tsv`]).
    pub fn parse(text: &str) -> Result<Labels> {
        // A byte-order mark (as spreadsheet exports write) is not part of the first column.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.lines().enumerate();
        let (_, header) = lines
            .next()
            .ok_or_else(|| Error::new(ErrorKind::Labels, "empty labels file").with_line(1))?;
        let columns: Vec<&str> = header.split('\t').map(str::trim).collect();
        let col = |name: &str| {
            columns.iter().position(|&c| c == name).ok_or_else(|| {
                Error::new(
                    ErrorKind::Labels,
                    format!(
                        "header has no {name:?} column (found: {})",
                        columns.join(", ")
                    ),
                )
                .with_line(1)
            })
        };
        let (id_col, cluster_col) = (col("id")?, col("cluster")?);
        let mut by_id = AHashMap::new();
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let (Some(id), Some(cluster)) = (fields.get(id_col), fields.get(cluster_col)) else {
                return Err(Error::new(
                    ErrorKind::Labels,
                    format!("expected {} tab-separated fields", columns.len()),
                )
                .with_line(i as u64 + 1));
            };
            by_id.insert(id.trim().to_string(), cluster.trim().to_string());
        }
        Ok(Labels { by_id })
    }

    /// The labelled ids, smallest first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        let mut ids: Vec<&str> = self.by_id.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids.into_iter()
    }

    /// Number of labelled ids.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when there is no label.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The label of a document id: exact, else the longest matching `/`-suffix.
    pub fn get(&self, id: &str) -> Option<&str> {
        if let Some(c) = self.by_id.get(id) {
            return Some(c);
        }
        let mut rest = id;
        while let Some((_, tail)) = rest.split_once('/') {
            if let Some(c) = self.by_id.get(tail) {
                return Some(c);
            }
            rest = tail;
        }
        None
    }
}

/// A predicted cluster that holds pages of several gold stories.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct Merge {
    /// Representative id of the predicted cluster.
    pub representative: String,
    /// Labelled pages in it.
    pub size: usize,
    /// Gold stories in it with their page counts, largest first.
    pub stories: Vec<(String, usize)>,
    /// Pairs in the cluster from different stories (false positives it causes).
    pub wrong_pairs: u64,
}

/// A gold story spread over several predicted clusters (singletons included).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct Split {
    /// The gold story.
    pub story: String,
    /// Its labelled pages.
    pub size: usize,
    /// Sizes of its parts, largest first.
    pub parts: Vec<usize>,
    /// Same-story pairs that ended up apart (false negatives it causes).
    pub missed_pairs: u64,
}

/// Scores of one run against the labels.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// The similarity threshold of the run.
    pub threshold: f64,
    /// Documents in the run.
    pub documents: usize,
    /// Documents with a label (the ones scored).
    pub labelled: usize,
    /// Gold stories among the labelled documents.
    pub stories: usize,
    /// Predicted clusters of 2+ labelled documents.
    pub clusters: usize,
    /// Pairwise precision.
    pub precision: f64,
    /// Pairwise recall.
    pub recall: f64,
    /// Pairwise F1.
    pub f1: f64,
    /// Adjusted Rand index.
    pub ari: f64,
    /// B-cubed precision: per labelled page, the share of its predicted cluster that has its
    /// label, averaged over pages.
    pub b3_precision: f64,
    /// B-cubed recall: per labelled page, the share of its label's pages in its predicted
    /// cluster, averaged over pages.
    pub b3_recall: f64,
    /// B-cubed F1.
    pub b3_f1: f64,
    /// Worst wrong merges, most wrong pairs first.
    pub merges: Vec<Merge>,
    /// Worst splits, most missed pairs first.
    pub splits: Vec<Split>,
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Score an analysis's copy clusters against labels, listing at most `worst` merges and
/// splits.
pub fn evaluate(analysis: &Analysis, labels: &Labels, threshold: f64, worst: usize) -> Report {
    let groups: Vec<(u32, Vec<u32>)> = analysis
        .clusters
        .iter()
        .map(|c| (c.representative, c.members.iter().map(|m| m.0).collect()))
        .collect();
    evaluate_groups(analysis, &groups, labels, threshold, worst)
}

/// Score the events of an analysis against labels.
pub fn evaluate_events(
    analysis: &Analysis,
    events: &crate::events::Events,
    labels: &Labels,
    threshold: f64,
    worst: usize,
) -> Report {
    let groups: Vec<(u32, Vec<u32>)> = events
        .events
        .iter()
        .map(|e| (e.representative, e.members.iter().map(|m| m.0).collect()))
        .collect();
    evaluate_groups(analysis, &groups, labels, threshold, worst)
}

/// Score groups `(representative, members)` of an analysis's documents against labels;
/// documents in no group (skipped ones) count as singletons.
pub(crate) fn evaluate_groups(
    analysis: &Analysis,
    groups: &[(u32, Vec<u32>)],
    labels: &Labels,
    threshold: f64,
    worst: usize,
) -> Report {
    let n = analysis.docs.len();
    let mut predicted = vec![usize::MAX; n];
    for (c, (_, members)) in groups.iter().enumerate() {
        for &d in members {
            predicted[d as usize] = c;
        }
    }
    let unclustered = predicted.iter_mut().filter(|p| **p == usize::MAX);
    for (next, p) in (groups.len()..).zip(unclustered) {
        *p = next;
    }
    let mut story_index: AHashMap<&str, usize> = AHashMap::new();
    let mut story_names: Vec<&str> = Vec::new();
    let mut labelled: Vec<(usize, usize)> = Vec::new(); // (predicted, story)
    for (d, doc) in analysis.docs.iter().enumerate() {
        if let Some(story) = labels.get(&doc.id) {
            let s = *story_index.entry(story).or_insert_with(|| {
                story_names.push(story);
                story_names.len() - 1
            });
            labelled.push((predicted[d], s));
        }
    }
    let mut cells: AHashMap<(usize, usize), u64> = AHashMap::new();
    let mut by_pred: AHashMap<usize, u64> = AHashMap::new();
    let mut by_story = vec![0u64; story_names.len()];
    for &(p, s) in &labelled {
        *cells.entry((p, s)).or_default() += 1;
        *by_pred.entry(p).or_default() += 1;
        by_story[s] += 1;
    }
    let tp: u64 = cells.values().map(|&c| pairs(c)).sum();
    let pred_pairs: u64 = by_pred.values().map(|&c| pairs(c)).sum();
    let gold_pairs: u64 = by_story.iter().map(|&c| pairs(c)).sum();
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, pred_pairs);
    let recall = ratio(tp, gold_pairs);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    let total = pairs(labelled.len() as u64) as f64;
    let expected = if total == 0.0 {
        0.0
    } else {
        pred_pairs as f64 * gold_pairs as f64 / total
    };
    let max = (pred_pairs as f64 + gold_pairs as f64) / 2.0;
    let ari = if max == expected {
        1.0
    } else {
        (tp as f64 - expected) / (max - expected)
    };
    let pages = labelled.len() as f64;
    let (mut b3p, mut b3r) = (0.0, 0.0);
    for (&(p, s), &c) in &cells {
        let c = c as f64;
        b3p += c * c / by_pred[&p] as f64;
        b3r += c * c / by_story[s] as f64;
    }
    let (b3_precision, b3_recall) = if pages == 0.0 {
        (0.0, 0.0)
    } else {
        (b3p / pages, b3r / pages)
    };
    let b3_f1 = if b3_precision + b3_recall == 0.0 {
        0.0
    } else {
        2.0 * b3_precision * b3_recall / (b3_precision + b3_recall)
    };

    // Merges and splits, from the contingency cells.
    let mut pred_stories: AHashMap<usize, Vec<(usize, u64)>> = AHashMap::new();
    let mut story_parts: Vec<Vec<u64>> = vec![Vec::new(); story_names.len()];
    for (&(p, s), &c) in &cells {
        pred_stories.entry(p).or_default().push((s, c));
        story_parts[s].push(c);
    }
    let rep_of = |p: usize| {
        groups
            .get(p)
            .map(|g| analysis.docs[g.0 as usize].id.clone())
            .unwrap_or_default()
    };
    let mut merges: Vec<Merge> = pred_stories
        .iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(&p, s)| {
            let mut stories: Vec<(String, usize)> = s
                .iter()
                .map(|&(s, c)| (story_names[s].to_string(), c as usize))
                .collect();
            stories.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let size: u64 = s.iter().map(|&(_, c)| c).sum();
            let same: u64 = s.iter().map(|&(_, c)| pairs(c)).sum();
            Merge {
                representative: rep_of(p),
                size: size as usize,
                stories,
                wrong_pairs: pairs(size) - same,
            }
        })
        .collect();
    merges.sort_by(|a, b| {
        b.wrong_pairs
            .cmp(&a.wrong_pairs)
            .then(a.representative.cmp(&b.representative))
    });
    merges.truncate(worst);
    let mut splits: Vec<Split> = story_parts
        .into_iter()
        .enumerate()
        .filter(|(_, parts)| parts.len() > 1)
        .map(|(s, mut parts)| {
            parts.sort_unstable_by(|a, b| b.cmp(a));
            let size: u64 = parts.iter().sum();
            let kept: u64 = parts.iter().map(|&c| pairs(c)).sum();
            Split {
                story: story_names[s].to_string(),
                size: size as usize,
                parts: parts.iter().map(|&c| c as usize).collect(),
                missed_pairs: pairs(size) - kept,
            }
        })
        .collect();
    splits.sort_by(|a, b| {
        b.missed_pairs
            .cmp(&a.missed_pairs)
            .then(a.story.cmp(&b.story))
    });
    splits.truncate(worst);

    Report {
        threshold,
        documents: n,
        labelled: labelled.len(),
        stories: story_names.len(),
        clusters: by_pred.values().filter(|&&c| c > 1).count(),
        precision,
        recall,
        f1,
        ari,
        b3_precision,
        b3_recall,
        b3_f1,
        merges,
        splits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_exactly_or_by_path_suffix() {
        let labels = Labels::parse("id\tcluster\tcluster_id\nAdobe/a2.htm\tAdobe\t0\n").unwrap();
        assert_eq!(labels.get("Adobe/a2.htm"), Some("Adobe"));
        assert_eq!(labels.get("Gold/Adobe/a2.htm"), Some("Adobe"));
        assert_eq!(labels.get("dobe/a2.htm"), None);
    }

    #[test]
    fn labels_need_id_and_cluster_columns() {
        let err = Labels::parse("name\tstory\n").unwrap_err();
        assert!(err.to_string().contains("no \"id\" column"));
        let err = Labels::parse("id\tcluster\nonly-one-field\n").unwrap_err();
        assert!(err.to_string().starts_with("2:") || err.line() == Some(2));
    }

    #[test]
    fn b_cubed_of_a_known_clustering() {
        // Gold {a,b,c} {d}; predicted {a,b} {c,d}. Pairwise: 1 true pair of 2 predicted, of 3
        // gold. B³ precision: a,b 1; c,d 1/2 → 0.75; recall: a,b 2/3; c 1/3; d 1 → 2/3.
        let labels = Labels::parse("id\tcluster\na\tX\nb\tX\nc\tX\nd\tY\n").unwrap();
        let docs: Vec<crate::document::Doc> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| crate::document::Doc {
                id: id.to_string(),
                title: None,
                origin: crate::read::Origin {
                    path: std::path::Path::new("x").into(),
                    line: None,
                },
                text_len: 0,
                shingles: Default::default(),
                values: Vec::new(),
                signature: None,
                skipped: None,
                content: 0,
                replaced: 0,
                copy_of: None,
                event: None,
                published: None,
            })
            .collect();
        let analysis = Analysis {
            docs,
            edges: Vec::new(),
            clusters: Vec::new(),
            lsh: crate::lsh::LshParams { bands: 1, rows: 1 },
            cleaning: crate::params::Cleaning::None,
            stats: Default::default(),
        };
        let r = evaluate_groups(
            &analysis,
            &[(0, vec![0, 1]), (2, vec![2, 3])],
            &labels,
            0.0,
            5,
        );
        assert!((r.precision - 0.5).abs() < 1e-12);
        assert!((r.recall - 1.0 / 3.0).abs() < 1e-12);
        assert!((r.b3_precision - 0.75).abs() < 1e-12);
        assert!((r.b3_recall - 2.0 / 3.0).abs() < 1e-12);
        let f = 2.0 * 0.75 * (2.0 / 3.0) / (0.75 + 2.0 / 3.0);
        assert!((r.b3_f1 - f).abs() < 1e-12);
    }

    #[test]
    fn pair_counts() {
        assert_eq!(pairs(0), 0);
        assert_eq!(pairs(1), 0);
        assert_eq!(pairs(4), 6);
    }
}
