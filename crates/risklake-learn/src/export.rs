//! Export to LightGBM's text model format (v4), which the lightgbm package loads and
//! predicts with identically.
//!
//! LightGBM stores final leaf values: our learning rate is already applied, and the
//! initial score (plus the value of any tree without a split) is folded into the leaves of
//! the first tree that has splits. Numeric splits have missing type NaN: a row goes left
//! when `x <= threshold`, NaN follows the learned default direction. Categorical splits
//! send the categories of a bitset left and everything else (NaN, unseen) right; see
//! [`category_codes`] for how categories become LightGBM's integer codes.

use std::fmt::Write;

use risklake_core::{Error, Result};

use crate::ensemble::GbdtModel;
use crate::params::Objective;

/// `decision_type` of a numeric split with missing type NaN (bits 2-3 = 2), plus bit 1
/// when missing values go left.
fn decision_type(default_left: bool) -> u8 {
    8 | if default_left { 2 } else { 0 }
}

fn join<T: std::fmt::Display>(values: impl IntoIterator<Item = T>) -> String {
    values.into_iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" ")
}

/// A threshold as LightGBM reads it: shortest round-trip decimal; the "every value goes
/// left" split (threshold +inf) becomes the largest finite double.
fn threshold_text(t: f64) -> String {
    let t = if t == f64::INFINITY { f64::MAX } else { t };
    format!("{t:?}")
}

/// How a categorical feature's categories become LightGBM's integer codes: the values
/// themselves when every category is a non-negative integer (the column is passed as
/// numbers), else the position in the model's category list, which the lightgbm package
/// applies to a pandas `category` column through `pandas_categorical`.
fn category_codes(categories: &[String]) -> (Vec<u32>, bool) {
    let ints: Option<Vec<u32>> = categories
        .iter()
        .map(|c| c.parse::<u32>().ok().filter(|&v| v < i32::MAX as u32))
        .collect();
    match ints {
        Some(v) => (v, false),
        None => ((0..categories.len() as u32).collect(), true),
    }
}

impl GbdtModel {
    /// The model in LightGBM's text format.
    pub fn to_lightgbm_text(&self) -> Result<String> {
        let codes: Vec<Option<(Vec<u32>, bool)>> = self
            .mappers
            .iter()
            .map(|m| m.is_categorical().then(|| category_codes(&m.categories)))
            .collect();
        let split_trees: Vec<usize> = (0..self.trees.len())
            .filter(|&i| !self.trees[i].nodes.is_empty())
            .collect();
        let Some(&first) = split_trees.first() else {
            return Err(Error::invalid(
                "the model has no split (every tree is a single leaf); LightGBM's format cannot hold it",
            ));
        };
        // The constant part of the score: the initial score and single-leaf trees.
        let constant = self.init_score
            + self
                .trees
                .iter()
                .filter(|t| t.nodes.is_empty())
                .map(|t| t.leaf_values[0])
                .sum::<f64>();
        let mut out = String::new();
        let names: Vec<String> = self
            .feature_names
            .iter()
            .map(|n| n.replace(char::is_whitespace, "_"))
            .collect();
        let infos: Vec<String> = self
            .mappers
            .iter()
            .zip(&codes)
            .map(|(m, codes)| {
                if let Some((codes, _)) = codes {
                    if codes.is_empty() {
                        return "none".to_string();
                    }
                    let mut sorted = codes.clone();
                    sorted.sort_unstable();
                    return sorted.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(":");
                }
                if m.min.is_nan() {
                    "none".to_string()
                } else {
                    format!("[{:?}:{:?}]", m.min, m.max)
                }
            })
            .collect();
        let objective = match self.params.objective {
            Objective::Binary => "binary sigmoid:1",
            Objective::Regression => "regression",
        };
        writeln!(out, "tree").unwrap();
        writeln!(out, "version=v4").unwrap();
        writeln!(out, "num_class=1").unwrap();
        writeln!(out, "num_tree_per_iteration=1").unwrap();
        writeln!(out, "label_index=0").unwrap();
        writeln!(out, "max_feature_idx={}", names.len().saturating_sub(1)).unwrap();
        writeln!(out, "objective={objective}").unwrap();
        writeln!(out, "feature_names={}", names.join(" ")).unwrap();
        writeln!(out, "feature_infos={}", infos.join(" ")).unwrap();
        writeln!(out).unwrap();
        for (k, &ti) in split_trees.iter().enumerate() {
            let t = &self.trees[ti];
            let shift = if ti == first { constant } else { 0.0 };
            writeln!(out, "Tree={k}").unwrap();
            writeln!(out, "num_leaves={}", t.leaf_values.len()).unwrap();
            // Categorical splits: the left categories' codes as 32-bit bitsets, one per
            // split, indexed by the split's threshold.
            let mut cat_boundaries = vec![0usize];
            let mut cat_words: Vec<u32> = Vec::new();
            let mut thresholds = Vec::with_capacity(t.nodes.len());
            for n in &t.nodes {
                if n.categorical {
                    let (codes, _) = codes[n.feature]
                        .as_ref()
                        .expect("categorical splits are on categorical features");
                    let left: Vec<u32> = n.cats_left.iter().map(|&b| codes[b as usize]).collect();
                    let words = left.iter().max().map_or(1, |&m| m as usize / 32 + 1);
                    let mut bits = vec![0u32; words];
                    for c in left {
                        bits[c as usize / 32] |= 1 << (c % 32);
                    }
                    thresholds.push((cat_boundaries.len() - 1).to_string());
                    cat_words.extend(bits);
                    cat_boundaries.push(cat_words.len());
                } else {
                    thresholds.push(threshold_text(n.threshold));
                }
            }
            let num_cat = cat_boundaries.len() - 1;
            writeln!(out, "num_cat={num_cat}").unwrap();
            writeln!(out, "split_feature={}", join(t.nodes.iter().map(|n| n.feature))).unwrap();
            writeln!(
                out,
                "split_gain={}",
                join(t.nodes.iter().map(|n| format!("{:?}", n.gain)))
            )
            .unwrap();
            writeln!(out, "threshold={}", thresholds.join(" ")).unwrap();
            writeln!(
                out,
                "decision_type={}",
                join(t.nodes.iter().map(|n| if n.categorical {
                    9
                } else {
                    decision_type(n.default_left)
                }))
            )
            .unwrap();
            writeln!(out, "left_child={}", join(t.nodes.iter().map(|n| n.left))).unwrap();
            writeln!(out, "right_child={}", join(t.nodes.iter().map(|n| n.right))).unwrap();
            writeln!(
                out,
                "leaf_value={}",
                join(t.leaf_values.iter().map(|v| format!("{:?}", v + shift)))
            )
            .unwrap();
            writeln!(
                out,
                "leaf_weight={}",
                join(t.leaf_hessians.iter().map(|v| format!("{v:?}")))
            )
            .unwrap();
            writeln!(out, "leaf_count={}", join(&t.leaf_counts)).unwrap();
            // Internal nodes: value, hessian and row count (LightGBM's pred_contrib uses
            // the counts as covers, as our TreeSHAP does).
            let stats = internal_stats(t);
            writeln!(
                out,
                "internal_value={}",
                join(stats.iter().map(|s| format!("{:?}", s.0 + shift)))
            )
            .unwrap();
            writeln!(
                out,
                "internal_weight={}",
                join(stats.iter().map(|s| format!("{:?}", s.1)))
            )
            .unwrap();
            writeln!(out, "internal_count={}", join(stats.iter().map(|s| s.2))).unwrap();
            if num_cat > 0 {
                writeln!(out, "cat_boundaries={}", join(&cat_boundaries)).unwrap();
                writeln!(out, "cat_threshold={}", join(&cat_words)).unwrap();
            }
            writeln!(out, "is_linear=0").unwrap();
            writeln!(
                out,
                "shrinkage={:?}",
                if ti == first { 1.0 } else { self.params.learning_rate }
            )
            .unwrap();
            writeln!(out).unwrap();
            writeln!(out).unwrap();
        }
        writeln!(out, "end of trees").unwrap();
        writeln!(out).unwrap();
        let pandas: Vec<&Vec<String>> = self
            .mappers
            .iter()
            .zip(&codes)
            .filter(|(_, c)| matches!(c, Some((_, true))))
            .map(|(m, _)| &m.categories)
            .collect();
        if pandas.is_empty() {
            writeln!(out, "pandas_categorical:null").unwrap();
        } else {
            writeln!(
                out,
                "pandas_categorical:{}",
                serde_json::to_string(&pandas).expect("strings serialize")
            )
            .unwrap();
        }
        Ok(out)
    }
}

/// (value, hessian, rows) of each internal node: the hessian-weighted mean of its leaves'
/// values, and the sums of their hessians and rows.
fn internal_stats(t: &crate::tree::Tree) -> Vec<(f64, f64, u64)> {
    fn walk(t: &crate::tree::Tree, c: i32, out: &mut Vec<(f64, f64, u64)>) -> (f64, f64, u64) {
        if c < 0 {
            let l = !c as usize;
            return (
                t.leaf_values[l] * t.leaf_hessians[l],
                t.leaf_hessians[l],
                t.leaf_counts[l] as u64,
            );
        }
        let n = &t.nodes[c as usize];
        let (a, b) = (walk(t, n.left, out), walk(t, n.right, out));
        let sum = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
        out[c as usize] = (if sum.1 > 0.0 { sum.0 / sum.1 } else { 0.0 }, sum.1, sum.2);
        sum
    }
    let mut out = vec![(0.0, 0.0, 0); t.nodes.len()];
    if !t.nodes.is_empty() {
        walk(t, 0, &mut out);
    }
    out
}
