//! Exact SHAP values of tree ensembles (TreeSHAP, Lundberg, Erion and Lee 2018,
//! "Consistent Individualized Feature Attribution for Tree Ensembles", algorithm 2).
//!
//! For one row and one tree, the recursion follows every root-to-leaf path, keeping for
//! the features met on the way the share of training rows that would follow the path if
//! the feature were unknown ("zero fraction", from node covers) and whether the row itself
//! follows it ("one fraction"); at each leaf the path's permutation weights give every
//! feature its part of the leaf value. Covers are the training rows of each node, as in
//! LightGBM's `pred_contrib`. The contributions of a row plus the expected value (last
//! entry) sum to its raw score.

use crate::tree::Tree;

#[derive(Debug, Clone, Copy)]
struct PathElement {
    /// The feature of the split that added this element (usize::MAX for the root).
    feature: usize,
    zero: f64,
    one: f64,
    weight: f64,
}

/// Rows of training data under each node of `tree` (internal nodes; leaves are in
/// `leaf_counts`).
pub fn node_covers(tree: &Tree) -> Vec<f64> {
    fn cover(tree: &Tree, child: i32, out: &mut Vec<f64>) -> f64 {
        if child < 0 {
            return tree.leaf_counts[!child as usize] as f64;
        }
        let n = &tree.nodes[child as usize];
        let c = cover(tree, n.left, out) + cover(tree, n.right, out);
        out[child as usize] = c;
        c
    }
    let mut out = vec![0.0; tree.nodes.len()];
    if !tree.nodes.is_empty() {
        cover(tree, 0, &mut out);
    }
    out
}

/// The expected value of a tree's output over its training rows.
pub fn expected_value(tree: &Tree) -> f64 {
    let total: f64 = tree.leaf_counts.iter().map(|&c| c as f64).sum();
    if total == 0.0 {
        return tree.leaf_values.first().copied().unwrap_or(0.0);
    }
    tree.leaf_values
        .iter()
        .zip(&tree.leaf_counts)
        .map(|(v, &c)| v * c as f64)
        .sum::<f64>()
        / total
}

/// Adds the SHAP values of one tree for one row to `phi` (one entry per feature).
/// `goes_left(node)` says where the row goes at an internal node; `covers` is
/// [`node_covers`] of the tree.
/// `depth` is [`depth`] of the tree (computed once per tree, not per row).
pub fn tree_shap(tree: &Tree, covers: &[f64], depth: usize, goes_left: &dyn Fn(usize) -> bool, phi: &mut [f64]) {
    if tree.nodes.is_empty() {
        return;
    }
    // One path buffer for the whole recursion: each level works on its own slice.
    let mut buffer = vec![
        PathElement {
            feature: 0,
            zero: 0.0,
            one: 0.0,
            weight: 0.0,
        };
        (depth + 2) * (depth + 3) / 2 + 1
    ];
    recurse(tree, covers, goes_left, phi, 0, &mut buffer, 0, 1.0, 1.0, usize::MAX);
}

/// Internal nodes on the longest root-to-leaf path.
pub fn depth(tree: &Tree) -> usize {
    fn below(tree: &Tree, child: i32) -> usize {
        if child < 0 {
            return 0;
        }
        let n = &tree.nodes[child as usize];
        1 + below(tree, n.left).max(below(tree, n.right))
    }
    if tree.nodes.is_empty() {
        0
    } else {
        below(tree, 0)
    }
}

fn cover_of(tree: &Tree, covers: &[f64], child: i32) -> f64 {
    if child < 0 {
        tree.leaf_counts[!child as usize] as f64
    } else {
        covers[child as usize]
    }
}

/// `buffer` starts with the parent's path (`unique_depth + 1` elements, the last unused);
/// this node's path follows it, and its children's paths follow that.
#[allow(clippy::too_many_arguments)]
fn recurse(
    tree: &Tree,
    covers: &[f64],
    goes_left: &dyn Fn(usize) -> bool,
    phi: &mut [f64],
    child: i32,
    buffer: &mut [PathElement],
    unique_depth: usize,
    zero: f64,
    one: f64,
    feature: usize,
) {
    let (parent, rest) = buffer.split_at_mut(unique_depth + 1);
    let path = &mut rest[..unique_depth + 1];
    path.copy_from_slice(parent);
    extend(path, unique_depth, zero, one, feature);
    if child < 0 {
        let value = tree.leaf_values[!child as usize];
        for i in 1..=unique_depth {
            let w = unwound_sum(path, unique_depth, i);
            let e = path[i];
            phi[e.feature] += w * (e.one - e.zero) * value;
        }
        return;
    }
    let node = &tree.nodes[child as usize];
    let (hot, cold) = if goes_left(child as usize) {
        (node.left, node.right)
    } else {
        (node.right, node.left)
    };
    let here = covers[child as usize];
    let share = |c: i32| {
        if here > 0.0 {
            cover_of(tree, covers, c) / here
        } else {
            0.0
        }
    };
    let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
    let mut depth = unique_depth;
    // A feature met again on the path: undo its earlier element and carry its fractions.
    if let Some(k) = (1..=depth).find(|&k| path[k].feature == node.feature) {
        incoming_zero = path[k].zero;
        incoming_one = path[k].one;
        unwind(path, depth, k);
        depth -= 1;
    }
    let f = node.feature;
    let (hot_share, cold_share) = (share(hot), share(cold));
    recurse(
        tree,
        covers,
        goes_left,
        phi,
        hot,
        rest,
        depth + 1,
        incoming_zero * hot_share,
        incoming_one,
        f,
    );
    recurse(
        tree,
        covers,
        goes_left,
        phi,
        cold,
        rest,
        depth + 1,
        incoming_zero * cold_share,
        0.0,
        f,
    );
}

fn extend(path: &mut [PathElement], unique_depth: usize, zero: f64, one: f64, feature: usize) {
    path[unique_depth] = PathElement {
        feature,
        zero,
        one,
        weight: if unique_depth == 0 { 1.0 } else { 0.0 },
    };
    let d = unique_depth as f64;
    for i in (0..unique_depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / (d + 1.0);
        path[i].weight = zero * path[i].weight * (d - i as f64) / (d + 1.0);
    }
}

fn unwind(path: &mut [PathElement], unique_depth: usize, index: usize) {
    let (one, zero) = (path[index].one, path[index].zero);
    let d = unique_depth as f64;
    let mut next = path[unique_depth].weight;
    for i in (0..unique_depth).rev() {
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next * (d + 1.0) / ((i + 1) as f64 * one);
            next = tmp - path[i].weight * zero * (d - i as f64) / (d + 1.0);
        } else {
            path[i].weight = path[i].weight * (d + 1.0) / (zero * (d - i as f64));
        }
    }
    for i in index..unique_depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

fn unwound_sum(path: &[PathElement], unique_depth: usize, index: usize) -> f64 {
    let (one, zero) = (path[index].one, path[index].zero);
    let d = unique_depth as f64;
    let mut next = path[unique_depth].weight;
    let mut total = 0.0;
    for i in (0..unique_depth).rev() {
        if one != 0.0 {
            let tmp = next * (d + 1.0) / ((i + 1) as f64 * one);
            total += tmp;
            next = path[i].weight - tmp * zero * (d - i as f64) / (d + 1.0);
        } else if zero != 0.0 {
            total += path[i].weight / zero / ((d - i as f64) / (d + 1.0));
        }
    }
    total
}
