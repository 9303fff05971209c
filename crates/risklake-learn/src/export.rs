//! Export to LightGBM's text model format (v4), which the lightgbm package loads and
//! predicts with identically.
//!
//! LightGBM stores final leaf values: our learning rate is already applied, and the
//! initial score (plus the value of any tree without a split) is folded into the leaves of
//! the first tree that has splits. Splits are numeric with missing type NaN: a row goes
//! left when `x <= threshold`, NaN follows the learned default direction.

use std::fmt::Write;

use risklake_core::{Error, Result};

use crate::gbdt::{GbdtModel, Objective};

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

impl GbdtModel {
    /// The model in LightGBM's text format.
    pub fn to_lightgbm_text(&self) -> Result<String> {
        if let Some((name, _)) = self
            .feature_names
            .iter()
            .zip(&self.mappers)
            .find(|(_, m)| m.is_categorical())
        {
            return Err(Error::invalid(format!(
                "feature '{name}' is categorical; exporting categorical splits to LightGBM is not supported yet (train without it, or encode it as numbers)"
            )));
        }
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
            .map(|m| {
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
            writeln!(out, "num_cat=0").unwrap();
            writeln!(out, "split_feature={}", join(t.nodes.iter().map(|n| n.feature))).unwrap();
            writeln!(
                out,
                "split_gain={}",
                join(t.nodes.iter().map(|n| format!("{:?}", n.gain)))
            )
            .unwrap();
            writeln!(
                out,
                "threshold={}",
                join(t.nodes.iter().map(|n| threshold_text(n.threshold)))
            )
            .unwrap();
            writeln!(
                out,
                "decision_type={}",
                join(t.nodes.iter().map(|n| decision_type(n.default_left)))
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
        writeln!(out, "pandas_categorical:null").unwrap();
        Ok(out)
    }
}
