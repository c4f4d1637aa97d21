//! Stage 9, cluster: verified similar pairs to groups that do not chain.
//!
//! In: the number of documents, the verified [`Edge`]s (pairs at or above the threshold,
//! with their exact score) and the order in which documents may found a cluster. Out:
//! [`Cluster`]s, each a representative and the members with their score to it.
//!
//! Connected components over pair edges chain unrelated stories through a few bridging pages
//! (on the SpotSigs pages single linkage puts 2,059 of 2,167 pages in one component). Here a
//! page joins a cluster only through an edge to the cluster's representative:
//! 1. Documents are visited in founding order; an unassigned one becomes a representative
//!    and claims its unassigned neighbours.
//! 2. Every member then moves to the adjacent representative it is most similar to.
//!
//! So every member is similar to its representative at the threshold, and two members are
//! never in one cluster merely because of a third. The result depends only on the edges and
//! the founding order, never on thread scheduling.

/// Merge clusters whose pages are mostly similar to each other: clusters A and B merge when
/// at least `min_density` of their |A|·|B| cross pairs are verified edges.
///
/// `copies[d]` is how many documents node `d` stands for (itself and its exact copies, which
/// are left out of the graph: an edge of `d` is an edge of each copy), so sizes and cross
/// pairs count documents, as if every copy were in the graph. Merges go in
/// rounds, densest pair first, each cluster merging at most once per round, until no pair
/// qualifies; the larger cluster's representative (earlier-founded on a tie) stays.
///
/// This is average linkage over the 0/1 "verified similar" relation, so a story that the
/// centre rule split in two comes back together, while a bridge page, with edges to a few
/// pages of each side, cannot pull two stories into one. Members' scores are not updated:
/// callers recompute scores against the representative.
pub fn merge_dense(
    clusters: Vec<Cluster>,
    adj: &[Vec<(u32, f64)>],
    copies: &[u32],
    min_density: f64,
) -> Vec<Cluster> {
    let mut clusters = clusters;
    let weight = |c: &Cluster| -> u64 {
        c.members
            .iter()
            .map(|&(d, _)| copies[d as usize] as u64)
            .sum()
    };
    loop {
        let mut slot = vec![usize::MAX; adj.len()];
        for (c, cluster) in clusters.iter().enumerate() {
            for &(d, _) in &cluster.members {
                slot[d as usize] = c;
            }
        }
        // Cross edges per cluster pair (each edge seen from both ends; count once).
        let mut cross: ahash::AHashMap<(usize, usize), u64> = ahash::AHashMap::new();
        for (d, list) in adj.iter().enumerate() {
            let a = slot[d];
            if a == usize::MAX {
                continue;
            }
            for &(nb, _) in list {
                let b = slot[nb as usize];
                if b != usize::MAX && a < b {
                    *cross.entry((a, b)).or_default() +=
                        copies[d] as u64 * copies[nb as usize] as u64;
                }
            }
        }
        let mut candidates: Vec<(f64, u64, usize, usize)> = cross
            .into_iter()
            .filter_map(|((a, b), n)| {
                let density = n as f64 / (weight(&clusters[a]) * weight(&clusters[b])) as f64;
                (density >= min_density).then_some((density, n, a, b))
            })
            .collect();
        if candidates.is_empty() {
            return clusters;
        }
        candidates.sort_by(|x, y| {
            y.0.total_cmp(&x.0)
                .then(y.1.cmp(&x.1))
                .then(x.2.cmp(&y.2))
                .then(x.3.cmp(&y.3))
        });
        let mut merged_into: Vec<Option<usize>> = vec![None; clusters.len()];
        let mut touched = vec![false; clusters.len()];
        for (_, _, a, b) in candidates {
            if touched[a] || touched[b] {
                continue;
            }
            touched[a] = true;
            touched[b] = true;
            // Clusters are in founding order, so `a < b` means a was founded first.
            let (keep, gone) = if weight(&clusters[b]) > weight(&clusters[a]) {
                (b, a)
            } else {
                (a, b)
            };
            merged_into[gone] = Some(keep);
        }
        let mut moved: Vec<Vec<(u32, f64)>> = vec![Vec::new(); clusters.len()];
        for (c, target) in merged_into.iter().enumerate() {
            if let Some(t) = target {
                moved[*t].append(&mut clusters[c].members);
            }
        }
        for (c, extra) in moved.into_iter().enumerate() {
            clusters[c].members.extend(extra);
        }
        clusters.retain(|c| !c.members.is_empty());
    }
}

/// A verified similar pair.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Edge {
    /// One document index.
    pub a: u32,
    /// The other document index.
    pub b: u32,
    /// The exact score of the pair (at or above the threshold).
    pub score: f64,
}

/// A group of documents around a representative.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Cluster {
    /// The founding document.
    pub representative: u32,
    /// Every member including the representative (score 1.0), with its score to the
    /// representative, in founding order of the members.
    pub members: Vec<(u32, f64)>,
}

impl Cluster {
    /// Number of members, representative included.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Never true: a cluster has at least its representative.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// Adjacency lists built from edges.
pub fn adjacency(n: usize, edges: &[Edge]) -> Vec<Vec<(u32, f64)>> {
    let mut adj = vec![Vec::new(); n];
    for e in edges {
        adj[e.a as usize].push((e.b, e.score));
        adj[e.b as usize].push((e.a, e.score));
    }
    for list in &mut adj {
        list.sort_by_key(|&(d, _)| d);
    }
    adj
}

/// Founding order for story clusters: most-connected documents first (a page that matches
/// many others is the story's centre), then by total score, then by `rank` (a deterministic
/// per-document order, e.g. by id). `copies[d]` counts node `d` and its exact copies (see
/// [`merge_dense`]): a copy is a neighbour with score 1.
pub fn order_by_degree(adj: &[Vec<(u32, f64)>], copies: &[u32], rank: &[u32]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..adj.len() as u32).collect();
    // Scores summed as integers (micro-units): a float sum would depend on the order of the
    // adjacency list, i.e. on input order, and break exact ties differently.
    let own = |d: u32| copies[d as usize].saturating_sub(1) as u64;
    let degree = |d: u32| -> u64 {
        adj[d as usize]
            .iter()
            .map(|&(nb, _)| copies[nb as usize] as u64)
            .sum::<u64>()
            + own(d)
    };
    let weight = |d: u32| -> u64 {
        adj[d as usize]
            .iter()
            .map(|&(nb, s)| (s * 1e6).round() as u64 * copies[nb as usize] as u64)
            .sum::<u64>()
            + own(d) * 1_000_000
    };
    let keys: Vec<(u64, u64)> = (0..adj.len() as u32)
        .map(|d| (degree(d), weight(d)))
        .collect();
    order.sort_by(|&x, &y| {
        let (kx, ky) = (keys[x as usize], keys[y as usize]);
        ky.cmp(&kx).then(rank[x as usize].cmp(&rank[y as usize]))
    });
    order
}

/// Representatives of already-claimed neighbours a document checks before founding its own
/// cluster ([`cluster_with`]).
pub const MAX_SECOND_CHECKS: usize = 4;

/// Each document's place in `order`; `u32::MAX` for one not in it.
fn positions(n: usize, order: &[u32]) -> Vec<u32> {
    let mut position = vec![u32::MAX; n];
    for (p, &d) in order.iter().enumerate() {
        position[d as usize] = p as u32;
    }
    position
}

/// Cluster `adj.len()` documents. `order` lists every document once, in founding order.
/// Returns every cluster, singletons included, in founding order of representatives.
pub fn cluster(adj: &[Vec<(u32, f64)>], order: &[u32]) -> Vec<Cluster> {
    cluster_with(adj, order, |_, _| None)
}

/// [`cluster`], with a second chance: a document that nobody claimed, before it founds a
/// cluster, asks `check(document, representative)` for the representatives of up to
/// [`MAX_SECOND_CHECKS`] of its claimed neighbours, in founding order, and joins the first
/// for which `check` returns a score (an exact verification against the representative
/// itself, never against the neighbour: no chaining). This recovers pairs LSH did not
/// propose: a near-copy of a near-copy of the kept page is usually a near-copy of it too.
pub fn cluster_with(
    adj: &[Vec<(u32, f64)>],
    order: &[u32],
    mut check: impl FnMut(u32, u32) -> Option<f64>,
) -> Vec<Cluster> {
    const NONE: u32 = u32::MAX;
    let n = adj.len();
    let position = positions(n, order);
    let mut rep_of = vec![NONE; n];
    // Score to a representative found by the second chance (not an edge of the graph).
    let mut second = vec![None; n];
    for &d in order {
        if rep_of[d as usize] != NONE {
            continue;
        }
        let mut reps: Vec<u32> = adj[d as usize]
            .iter()
            .map(|&(nb, _)| rep_of[nb as usize])
            .filter(|&r| r != NONE)
            .collect();
        reps.sort_by_key(|&r| position[r as usize]);
        reps.dedup();
        if let Some((r, s)) = reps
            .into_iter()
            .take(MAX_SECOND_CHECKS)
            .find_map(|r| check(d, r).map(|s| (r, s)))
        {
            rep_of[d as usize] = r;
            second[d as usize] = Some((r, s));
            continue;
        }
        rep_of[d as usize] = d;
        for &(nb, _) in &adj[d as usize] {
            if rep_of[nb as usize] == NONE {
                rep_of[nb as usize] = d;
            }
        }
    }
    let is_rep: Vec<bool> = (0..n).map(|d| rep_of[d] == d as u32).collect();
    // Documents not in `order` (unsigned ones) are in no cluster.
    // Move each member to its most similar adjacent representative; ties go to the
    // earlier-founded one.
    let mut score_to_rep = vec![1.0f64; n];
    for &d in order {
        let d = d as usize;
        if is_rep[d] {
            continue;
        }
        let mut best: Option<(f64, u32)> = second[d].map(|(r, s)| (s, r));
        for &(nb, s) in &adj[d] {
            if !is_rep[nb as usize] {
                continue;
            }
            let better = match best {
                None => true,
                Some((bs, br)) => {
                    s > bs || (s == bs && position[nb as usize] < position[br as usize])
                }
            };
            if better {
                best = Some((s, nb));
            }
        }
        let (s, r) =
            best.expect("a member is adjacent to, or was checked against, its representative");
        rep_of[d] = r;
        score_to_rep[d] = s;
    }
    // Exact capacities: most clusters of a crawl are single pages, and a million of them
    // should hold a million members, not four million slots.
    let mut size = vec![0u32; n];
    for &d in order {
        size[rep_of[d as usize] as usize] += 1;
    }
    let mut slot = vec![NONE; n];
    let reps = order.iter().filter(|&&d| is_rep[d as usize]).count();
    let mut clusters: Vec<Cluster> = Vec::with_capacity(reps);
    for &d in order {
        if is_rep[d as usize] {
            slot[d as usize] = clusters.len() as u32;
            clusters.push(Cluster {
                representative: d,
                members: Vec::with_capacity(size[d as usize] as usize),
            });
        }
    }
    drop(size);
    for &d in order {
        let c = slot[rep_of[d as usize] as usize] as usize;
        clusters[c].members.push((d, score_to_rep[d as usize]));
    }
    clusters
}

/// What becomes of a page that arrives after others ([`decide`]).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Decision<D> {
    /// No kept page is near enough: the page is kept (and founds its own group).
    Kept,
    /// A duplicate of the kept page `of`, with the exact score between the two.
    Duplicate {
        /// The kept page.
        of: D,
        /// Exact score against it.
        score: f64,
    },
}

/// The online rule of `dedup --keep first` and of the index: a page that arrives after
/// others is a duplicate of the most similar earlier kept page it was verified against
/// (ties: the earliest). Failing that, it checks the kept pages of its earlier neighbours
/// (duplicates themselves), earliest first, up to [`MAX_SECOND_CHECKS`], with `check`, an
/// exact verification against the kept page itself (no chaining). Failing that, it is kept.
///
/// `earlier` lists the page's verified neighbours among earlier pages with their scores;
/// `kept_of(x)` is the kept page of `x` (`x` itself when kept). Pages are ordered by `D`'s
/// order, which must be arrival order. The decision depends only on earlier pages, so
/// adding pages in batches decides as adding them all at once.
pub fn decide<D: Copy + Ord>(
    earlier: &[(D, f64)],
    kept_of: impl Fn(D) -> D,
    mut check: impl FnMut(D) -> Option<f64>,
) -> Decision<D> {
    let mut best: Option<(f64, D)> = None;
    for &(x, s) in earlier {
        if kept_of(x) != x {
            continue;
        }
        let better = match best {
            None => true,
            Some((bs, bx)) => s > bs || (s == bs && x < bx),
        };
        if better {
            best = Some((s, x));
        }
    }
    if let Some((score, of)) = best {
        return Decision::Duplicate { of, score };
    }
    let mut reps: Vec<D> = earlier.iter().map(|&(x, _)| kept_of(x)).collect();
    reps.sort_unstable();
    reps.dedup();
    reps.into_iter()
        .take(MAX_SECOND_CHECKS)
        .find_map(|r| check(r).map(|score| Decision::Duplicate { of: r, score }))
        .unwrap_or(Decision::Kept)
}

/// Groups by [`decide`], pages taken in `order` (arrival order): each page sees only its
/// neighbours earlier in `order`. Returns clusters as [`cluster_with`] does.
pub(crate) fn cluster_online(
    adj: &[Vec<(u32, f64)>],
    order: &[u32],
    mut check: impl FnMut(u32, u32) -> Option<f64>,
) -> Vec<Cluster> {
    const NONE: u32 = u32::MAX;
    let n = adj.len();
    let position = positions(n, order);
    // In positions, so that `decide`'s order is arrival order.
    let mut kept_of = vec![NONE; n];
    let mut slot = vec![NONE; n];
    let mut clusters: Vec<Cluster> = Vec::new();
    let mut earlier = Vec::new();
    for (p, &d) in order.iter().enumerate() {
        earlier.clear();
        earlier.extend(
            adj[d as usize]
                .iter()
                .filter(|&&(x, _)| position[x as usize] < p as u32)
                .map(|&(x, s)| (position[x as usize], s)),
        );
        let decision = decide(
            &earlier,
            |x| kept_of[x as usize],
            |r| check(d, order[r as usize]),
        );
        match decision {
            Decision::Kept => {
                kept_of[p] = p as u32;
                slot[p] = clusters.len() as u32;
                clusters.push(Cluster {
                    representative: d,
                    members: vec![(d, 1.0)],
                });
            }
            Decision::Duplicate { of, score } => {
                kept_of[p] = of;
                clusters[slot[of as usize] as usize]
                    .members
                    .push((d, score));
            }
        }
    }
    clusters
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(a: u32, b: u32, score: f64) -> Edge {
        Edge { a, b, score }
    }

    #[test]
    fn a_bridge_does_not_chain_two_groups() {
        // 0-1-2 tight, 4-5-6 tight, 3 bridges 2 and 4 weakly.
        let edges = [
            e(0, 1, 0.9),
            e(0, 2, 0.9),
            e(1, 2, 0.9),
            e(4, 5, 0.9),
            e(4, 6, 0.9),
            e(5, 6, 0.9),
            e(2, 3, 0.3),
            e(3, 4, 0.3),
        ];
        let adj = adjacency(7, &edges);
        let rank: Vec<u32> = (0..7).collect();
        let clusters = cluster(&adj, &order_by_degree(&adj, &[1; 7], &rank));
        let mut groups: Vec<Vec<u32>> = clusters
            .iter()
            .map(|c| {
                let mut m: Vec<u32> = c.members.iter().map(|m| m.0).collect();
                m.sort();
                m
            })
            .collect();
        groups.sort();
        assert!(!groups.iter().any(|g| g.contains(&0) && g.contains(&6)));
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 7);
    }

    #[test]
    fn members_move_to_their_best_representative() {
        // 0 founds first and claims 2; 1 founds next; 2 is closer to 1.
        let edges = [e(0, 2, 0.5), e(1, 2, 0.9)];
        let adj = adjacency(3, &edges);
        let clusters = cluster(&adj, &[0, 1, 2]);
        assert_eq!(clusters.len(), 2);
        assert_eq!(clusters[1].members, vec![(1, 1.0), (2, 0.9)]);
    }

    #[test]
    fn dense_clusters_merge_and_bridges_do_not() {
        // Two halves of one story (complete bipartite between {0,1} and {2,3}) merge; a
        // bridge page 4 with one edge to each half does not join.
        let edges = [
            e(0, 1, 0.9),
            e(2, 3, 0.9),
            e(0, 2, 0.5),
            e(0, 3, 0.5),
            e(1, 2, 0.5),
            e(1, 3, 0.5),
            e(4, 0, 0.3),
        ];
        let adj = adjacency(5, &edges);
        let split = vec![
            Cluster {
                representative: 0,
                members: vec![(0, 1.0), (1, 0.9)],
            },
            Cluster {
                representative: 2,
                members: vec![(2, 1.0), (3, 0.9)],
            },
            Cluster {
                representative: 4,
                members: vec![(4, 1.0)],
            },
        ];
        let merged = merge_dense(split, &adj, &[1; 5], 0.5);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].len(), 4);
        assert_eq!(merged[1].members, vec![(4, 1.0)]);
    }

    #[test]
    fn second_chance_joins_the_representative_only_after_an_exact_check() {
        // 0 is kept; 1 is its copy; 2 is adjacent to 1 only (LSH missed 0-2).
        let edges = [e(0, 1, 0.9), e(1, 2, 0.9)];
        let adj = adjacency(3, &edges);
        let mut asked = Vec::new();
        let clusters = cluster_with(&adj, &[0, 1, 2], |d, r| {
            asked.push((d, r));
            (d == 2 && r == 0).then_some(0.8)
        });
        assert_eq!(asked, [(2, 0)]);
        assert_eq!(clusters.len(), 1);
        assert_eq!(clusters[0].members, vec![(0, 1.0), (1, 0.9), (2, 0.8)]);
        // When the check fails, 2 founds its own cluster: no chaining through 1.
        let clusters = cluster_with(&adj, &[0, 1, 2], |_, _| None);
        assert_eq!(clusters.len(), 2);
    }

    #[test]
    fn every_document_lands_in_exactly_one_cluster() {
        let edges = [e(0, 1, 0.6), e(2, 3, 0.7)];
        let adj = adjacency(5, &edges);
        let clusters = cluster(&adj, &[4, 3, 2, 1, 0]);
        let mut all: Vec<u32> = clusters
            .iter()
            .flat_map(|c| c.members.iter().map(|m| m.0))
            .collect();
        all.sort();
        assert_eq!(all, [0, 1, 2, 3, 4]);
    }
}
