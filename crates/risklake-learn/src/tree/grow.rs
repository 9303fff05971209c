//! Growing a tree leaf-wise, depth-wise or symmetrically: partitioning a leaf's rows,
//! attaching nodes, and the per-node feature samples.

use super::histogram::{prefetch, GradPair, HistBin, Histogram, HistogramSource, PREFETCH_AHEAD};
use super::split::{
    best_of, best_split, directions, in_bits, leaf_gain, leaf_output, output_with_l2, Bounds, Split, FREE,
};
use super::{GrowPolicy, Node, Tree, TreeParams};
use crate::dataset::{BinMatrix, Dataset};
use rayon::prelude::*;

pub(super) struct Leaf {
    pub(super) bounds: Bounds,
    /// This leaf's rows are `rows[start..end]` of the tree's row buffer.
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) hist: Histogram,
    pub(super) sum: HistBin,
    pub(super) depth: usize,
    pub(super) best: Option<Split>,
    /// (node, is_left) that points at this leaf; None for the root.
    pub(super) parent: Option<(usize, bool)>,
    /// L2 regularization added to this leaf's output (a categorical split's child).
    pub(super) extra_l2: f64,
}

impl Leaf {
    /// What a split leaf's slot holds until its left child takes it.
    pub(super) fn placeholder() -> Leaf {
        Leaf {
            bounds: FREE,
            start: 0,
            end: 0,
            hist: Histogram { bins: Vec::new() },
            sum: HistBin::default(),
            depth: 0,
            best: None,
            parent: None,
            extra_l2: 0.0,
        }
    }
}

/// Splits `span` (a leaf's rows) in place, stably: rows going left first. Returns how
/// many go left.
pub(super) fn partition(ds: &Dataset, span: &mut [u32], scratch: &mut Vec<u32>, split: &Split) -> usize {
    let missing_bin = ds.mappers[split.feature].missing_bin();
    let nf = ds.num_features();
    let column = ds.by_column.get(split.feature);
    scratch.clear();
    let mut n_left = 0;
    for i in 0..span.len() {
        let r = span[i];
        let b = match column {
            Some(BinMatrix::U8(c)) => c[r as usize] as u16,
            Some(BinMatrix::U16(c)) => c[r as usize],
            None => {
                // Rows are scattered: fetch a later row's code ahead (see `accumulate`).
                if let Some(&next) = span.get(i + PREFETCH_AHEAD) {
                    match &ds.bins {
                        BinMatrix::U8(v) => prefetch(v, next as usize * nf + split.feature, 1),
                        BinMatrix::U16(v) => prefetch(v, next as usize * nf + split.feature, 2),
                    }
                }
                ds.bin(r as usize, split.feature)
            }
        };
        let left = if b == missing_bin {
            split.default_left
        } else {
            match &split.cats {
                Some(bits) => in_bits(bits, b),
                None => b <= split.bin,
            }
        };
        if left {
            span[n_left] = r;
            n_left += 1;
        } else {
            scratch.push(r);
        }
    }
    span[n_left..].copy_from_slice(scratch);
    n_left
}

/// The node of a split; its children are set by the caller.
pub(super) fn node_of(ds: &Dataset, split: &Split) -> Node {
    Node {
        feature: split.feature,
        bin: split.bin,
        threshold: if split.cats.is_some() {
            0.0
        } else {
            ds.mappers[split.feature].upper[split.bin as usize]
        },
        default_left: split.default_left,
        left: 0,
        right: 0,
        gain: split.gain,
        cats_left: split
            .cats
            .map(|bits| (0..256u16).filter(|&b| in_bits(&bits, b)).collect())
            .unwrap_or_default(),
        categorical: split.cats.is_some(),
    }
}

/// Adds a split node whose children are the leaves `children` (left, right) and points
/// its parent's child slot (`parent`: node and side; none for the root) at it. Returns
/// the node's index.
pub(super) fn attach(
    nodes: &mut Vec<Node>,
    mut n: Node,
    children: (usize, usize),
    parent: Option<(usize, bool)>,
) -> usize {
    let node = nodes.len();
    n.left = !(children.0 as i32);
    n.right = !(children.1 as i32);
    nodes.push(n);
    if let Some((pn, is_left)) = parent {
        if is_left {
            nodes[pn].left = node as i32;
        } else {
            nodes[pn].right = node as i32;
        }
    }
    node
}

/// What [`grow`] shares between policies: the data, the gradients and the histograms.
pub(super) struct Grower<'a> {
    pub(super) ds: &'a Dataset,
    pub(super) gh: &'a [GradPair],
    pub(super) p: &'a TreeParams,
    pub(super) source: &'a dyn HistogramSource,
    /// Features whose histograms are built (the tree's sample).
    pub(super) active: Vec<usize>,
}

impl Grower<'_> {
    /// Splits `leaf` (its rows `rows[leaf.start..leaf.end]`): partitions the rows and
    /// returns the left and right rows' end and both children's histograms, building the
    /// smaller one and subtracting it from the parent's for the larger.
    pub(super) fn split(
        &self,
        rows: &mut [u32],
        scratch: &mut Vec<u32>,
        leaf: Leaf,
        split: &Split,
    ) -> (usize, Histogram, Histogram) {
        let n_left = partition(self.ds, &mut rows[leaf.start..leaf.end], scratch, split);
        let mid = leaf.start + n_left;
        let left_small = mid - leaf.start <= leaf.end - mid;
        let small_rows = if left_small {
            &rows[leaf.start..mid]
        } else {
            &rows[mid..leaf.end]
        };
        let small = self.source.build(self.ds, small_rows, self.gh, &self.active);
        let mut large = leaf.hist;
        large.subtract(&small);
        if left_small {
            (mid, small, large)
        } else {
            (mid, large, small)
        }
    }

    pub(super) fn root(&self, rows: &[u32]) -> Leaf {
        let hist = self.source.build(self.ds, rows, self.gh, &self.active);
        let sum = match self.active.first() {
            Some(&f) => {
                let mut s = HistBin::default();
                hist.feature(self.ds, f).iter().for_each(|b| s.add(b));
                s
            }
            None => HistBin {
                g: rows.iter().map(|&r| self.gh[r as usize][0] as f64).sum(),
                h: rows.iter().map(|&r| self.gh[r as usize][1] as f64).sum(),
                n: rows.len() as u32,
            },
        };
        Leaf {
            bounds: FREE,
            start: 0,
            end: rows.len(),
            hist,
            sum,
            depth: 0,
            best: None,
            parent: None,
            extra_l2: 0.0,
        }
    }
}

/// Grows one tree on `rows` with the given gradients. Splits partition `rows` in place
/// (`scratch` is reused working space); the result has the tree and, for every leaf, its
/// range of `rows` (to update training scores without a tree walk).
#[allow(clippy::too_many_arguments)]
pub fn grow(
    ds: &Dataset,
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    gh: &[GradPair],
    p: &TreeParams,
    learning_rate: f64,
    source: &dyn HistogramSource,
    features: &[bool],
    seed: u64,
) -> (Tree, Vec<(usize, usize)>) {
    let g = Grower {
        ds,
        gh,
        p,
        source,
        // Histograms hold the tree's features (a node's sample is drawn from them).
        active: (0..features.len()).filter(|&f| features[f]).collect(),
    };
    let (nodes, leaves) = if p.grow_policy == GrowPolicy::Symmetric {
        grow_symmetric(&g, rows, scratch, features)
    } else {
        grow_greedy(&g, rows, scratch, features, seed)
    };
    let tree = Tree {
        nodes,
        leaf_values: leaves
            .iter()
            .map(|l| {
                let out = output_with_l2(&l.sum, p, p.lambda_l2 + l.extra_l2);
                out.clamp(l.bounds.min, l.bounds.max) * learning_rate
            })
            .collect(),
        leaf_counts: leaves.iter().map(|l| l.sum.n).collect(),
        leaf_hessians: leaves.iter().map(|l| l.sum.h).collect(),
    };
    let ranges = leaves.iter().map(|l| (l.start, l.end)).collect();
    for l in leaves {
        source.recycle(l.hist);
    }
    (tree, ranges)
}

/// Leaf-wise and depth-wise growth: the same splits, taken in a different order.
pub(super) fn grow_greedy(
    g: &Grower,
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    features: &[bool],
    seed: u64,
) -> (Vec<Node>, Vec<Leaf>) {
    let (ds, p) = (g.ds, g.p);
    // The features a node may split on: the tree's, thinned per node when asked.
    let mut node_counter = 0u64;
    let mut node_features = || -> Vec<bool> {
        node_counter += 1;
        if p.feature_fraction_bynode >= 1.0 {
            return features.to_vec();
        }
        let mut rng = risklake_core::rng::Rng::for_stream(seed, node_counter);
        sample_features(features, p.feature_fraction_bynode, &mut rng)
    };
    let max_depth = p.effective_max_depth();
    let can_split = |depth: usize| max_depth == 0 || depth < max_depth;
    let direct = p.histogram_per_node;
    let mut root = g.root(rows);
    if can_split(0) {
        root.best = best_split(&root.hist, &root.sum, FREE, &node_features(), ds, p);
    }
    if direct {
        g.source
            .recycle(std::mem::replace(&mut root.hist, Histogram { bins: Vec::new() }));
    }
    let mut leaves = vec![root];
    // Depth-wise: the order leaves were made in, to split a level in order.
    let mut born = vec![0usize];
    let mut nodes: Vec<Node> = Vec::new();
    while leaves.len() < p.num_leaves {
        let candidates = leaves.iter().enumerate().filter_map(|(i, l)| l.best.map(|s| (i, s)));
        let chosen = match p.grow_policy {
            GrowPolicy::Depthwise => candidates.min_by_key(|&(i, _)| (leaves[i].depth, born[i])),
            _ => candidates.fold(None, |acc: Option<(usize, Split)>, (i, s)| match acc {
                Some((_, a)) if a.gain >= s.gain => acc,
                _ => Some((i, s)),
            }),
        };
        let Some((li, split)) = chosen else {
            break;
        };
        let leaf = std::mem::replace(&mut leaves[li], Leaf::placeholder());
        let (start, end, bounds, depth, parent) = (leaf.start, leaf.end, leaf.bounds, leaf.depth + 1, leaf.parent);
        let (mid, left_hist, right_hist) = if direct {
            let n_left = partition(ds, &mut rows[start..end], scratch, &split);
            let empty = || Histogram { bins: Vec::new() };
            (start + n_left, empty(), empty())
        } else {
            g.split(rows, scratch, leaf, &split)
        };
        let node = attach(&mut nodes, node_of(ds, &split), (li, leaves.len()), parent);
        // Children of a monotone split are bounded by the midpoint of their outputs.
        let (mut left_bounds, mut right_bounds) = (bounds, bounds);
        let m = p.monotone.get(split.feature).copied().unwrap_or(0);
        if m != 0 {
            let ol = leaf_output(&split.left, p).clamp(bounds.min, bounds.max);
            let or = leaf_output(&split.right, p).clamp(bounds.min, bounds.max);
            let mid = (ol + or) / 2.0;
            if m > 0 {
                left_bounds.max = left_bounds.max.min(mid);
                right_bounds.min = right_bounds.min.max(mid);
            } else {
                left_bounds.min = left_bounds.min.max(mid);
                right_bounds.max = right_bounds.max.min(mid);
            }
        }
        let rows: &[u32] = rows;
        let mut mk = |start: usize, end: usize, hist: Histogram, sum: HistBin, bounds: Bounds, is_left: bool| {
            let best = if !can_split(depth) {
                None
            } else {
                let allowed = node_features();
                if sum.n < 2 * p.min_data_in_leaf.max(1) {
                    // No split can leave min_data_in_leaf rows on both sides.
                    None
                } else if direct {
                    // This node's own histogram, of the features it may split on, then dropped.
                    let list: Vec<usize> = (0..allowed.len()).filter(|&f| allowed[f]).collect();
                    let h = g.source.build(ds, &rows[start..end], g.gh, &list);
                    let best = best_split(&h, &sum, bounds, &allowed, ds, p);
                    g.source.recycle(h);
                    best
                } else {
                    best_split(&hist, &sum, bounds, &allowed, ds, p)
                }
            };
            // A leaf that will not split needs no histogram.
            let hist = if best.is_none() && !hist.bins.is_empty() {
                g.source.recycle(hist);
                Histogram { bins: Vec::new() }
            } else {
                hist
            };
            Leaf {
                bounds,
                start,
                end,
                hist,
                sum,
                depth,
                best,
                parent: Some((node, is_left)),
                extra_l2: split.extra_l2,
            }
        };
        leaves[li] = mk(start, mid, left_hist, split.left, left_bounds, true);
        leaves.push(mk(mid, end, right_hist, split.right, right_bounds, false));
        let next = born.len();
        born[li] = next;
        born.push(next + 1);
    }
    (nodes, leaves)
}

/// Oblivious growth (`max_depth` levels; `num_leaves` does not apply): at each level, the one split (numeric feature, bin, missing direction)
/// with the largest gain summed over the level's leaves splits all of them. A leaf whose
/// children would break `min_data_in_leaf` or `min_sum_hessian_in_leaf` adds no gain but
/// is split like the others (its small child keeps few or no rows).
pub(super) fn grow_symmetric(
    g: &Grower,
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    features: &[bool],
) -> (Vec<Node>, Vec<Leaf>) {
    let (ds, p) = (g.ds, g.p);
    let mut leaves = vec![g.root(rows)];
    let mut nodes: Vec<Node> = Vec::new();
    let max_depth = p.effective_max_depth();
    for _ in 0..max_depth {
        let Some(split) = best_common_split(&leaves, features, ds, p) else {
            break;
        };
        let mut next = Vec::with_capacity(leaves.len() * 2);
        for (i, leaf) in leaves.into_iter().enumerate() {
            let (start, end, depth, parent) = (leaf.start, leaf.end, leaf.depth + 1, leaf.parent);
            let (mid, lh, rh) = g.split(rows, scratch, leaf, &split);
            let node = attach(&mut nodes, node_of(ds, &split), (2 * i, 2 * i + 1), parent);
            for (start, end, hist, is_left) in [(start, mid, lh, true), (mid, end, rh, false)] {
                let mut sum = HistBin::default();
                hist.feature(ds, split.feature).iter().for_each(|b| sum.add(b));
                next.push(Leaf {
                    bounds: FREE,
                    start,
                    end,
                    hist,
                    sum,
                    depth,
                    best: None,
                    parent: Some((node, is_left)),
                    extra_l2: 0.0,
                });
            }
        }
        leaves = next;
    }
    (nodes, leaves)
}

/// The numeric split with the largest gain summed over `leaves` (None when no split gains
/// more than `min_gain_to_split`).
pub(super) fn best_common_split(leaves: &[Leaf], allowed: &[bool], ds: &Dataset, p: &TreeParams) -> Option<Split> {
    let ok = |s: &HistBin| s.n >= p.min_data_in_leaf && s.h >= p.min_sum_hessian_in_leaf;
    let per_feature: Vec<Option<Split>> = (0..ds.num_features())
        .into_par_iter()
        .map(|f| {
            if !allowed[f] || ds.mappers[f].is_categorical() {
                return None;
            }
            let regular = ds.mappers[f].regular_bins();
            // Gain of each (bin, default_left) candidate, summed over the leaves.
            let mut total = vec![[0.0f64; 2]; regular];
            let mut valid = vec![[false; 2]; regular];
            for leaf in leaves {
                let h = leaf.hist.feature(ds, f);
                let missing = h[regular];
                let parent_gain = leaf_gain(&leaf.sum, p);
                let mut left = HistBin::default();
                for b in 0..regular {
                    left.add(&h[b]);
                    let last = b + 1 == regular;
                    for default_left in directions(missing.n, last) {
                        let d = default_left as usize;
                        valid[b][d] = true;
                        let mut l = left;
                        if default_left {
                            l.add(&missing);
                        }
                        let r = leaf.sum.sub(&l);
                        if ok(&l) && ok(&r) {
                            total[b][d] += leaf_gain(&l, p) + leaf_gain(&r, p) - parent_gain;
                        }
                    }
                }
            }
            let mut best: Option<Split> = None;
            for b in 0..regular {
                for (d, default_left) in [false, true].into_iter().enumerate() {
                    let gain = total[b][d];
                    if valid[b][d] && gain > p.min_gain_to_split && best.is_none_or(|s| gain > s.gain) {
                        best = Some(Split {
                            gain,
                            feature: f,
                            bin: b as u16,
                            default_left,
                            left: HistBin::default(),
                            right: HistBin::default(),
                            cats: None,
                            extra_l2: 0.0,
                        });
                    }
                }
            }
            best
        })
        .collect();
    best_of(per_feature.into_iter().flatten())
}

/// A random subset of the allowed features, `fraction` of them (at least one).
pub fn sample_features(allowed: &[bool], fraction: f64, rng: &mut risklake_core::rng::Rng) -> Vec<bool> {
    let pool: Vec<usize> = (0..allowed.len()).filter(|&f| allowed[f]).collect();
    let k = ((pool.len() as f64 * fraction).round() as usize).clamp(1.min(pool.len()), pool.len());
    // Partial Fisher-Yates: the first k of a shuffled pool.
    let mut pool = pool;
    for i in 0..k {
        let j = i + rng.below((pool.len() - i) as u64) as usize;
        pool.swap(i, j);
    }
    let mut out = vec![false; allowed.len()];
    for &f in &pool[..k] {
        out[f] = true;
    }
    out
}
