//! Random forests on the binned [`Dataset`] and the shared tree learner.
//!
//! A classification tree here minimizes the Gini impurity, which for a 0/1 label is
//! twice the variance: the learner's squared-error gain on gradients `-y` and hessians 1
//! (times each row's bootstrap count and weight) picks the same splits, and a leaf's
//! output `-G / H` is its bad rate. Regression trees do the same on the label itself.
//! Trees grow depth-wise; every node draws its own features (`max_features`) and builds
//! its histogram of just those from its own rows, so deep trees need neither the memory
//! for nor the work of histogram subtraction. Trees are grown in parallel, each from its
//! own seeded stream: the forest does not depend on the thread count.
//!
//! The model is a [`GbdtModel`] whose leaves hold the tree's output divided by the number
//! of trees and whose objective is regression, so its raw score (the sum) is the forest's
//! average: the probability of bad for classification. Prediction, SHAP, leaf indices and
//! the LightGBM export work unchanged.

use rayon::prelude::*;
use risklake_core::metrics::{auc_weighted, ks};
use risklake_core::rng::Rng;
use risklake_core::{Error, Result};

use crate::dataset::Dataset;
pub use crate::ensemble::{ForestInfo, OobScore, FOREST_FORMAT};
use crate::ensemble::{GbdtModel, MODEL_VERSION};
use crate::params::{GbdtParams, Objective};
pub use crate::params::{MaxFeatures, RfParams};
use crate::tree::{grow, GradPair, LocalHistograms, Tree};

/// Each row's draw count for tree `t` (bootstrap) or 0/1 (subsample).
fn draws(params: &RfParams, n: usize, t: usize) -> Vec<u32> {
    let mut rng = Rng::for_stream(params.seed, t as u64);
    let m = ((params.max_samples * n as f64).round() as usize).max(1);
    let mut counts = vec![0u32; n];
    if params.bootstrap {
        for _ in 0..m {
            counts[rng.below(n as u64) as usize] += 1;
        }
    } else {
        // Selection sampling: exactly m rows, in order.
        let mut need = m;
        for (i, c) in counts.iter_mut().enumerate() {
            if (rng.uniform() * (n - i) as f64) < need as f64 {
                *c = 1;
                need -= 1;
            }
        }
    }
    counts
}

/// Trains a forest; `on_tree` is called as each tree is done (from any thread).
pub fn train_forest(ds: &Dataset, params: &RfParams, on_tree: &(dyn Fn() + Sync)) -> Result<GbdtModel> {
    params.validate()?;
    crate::with_threads(params.num_threads, || forest_here(ds, params, on_tree))
}

fn forest_here(ds: &Dataset, params: &RfParams, on_tree: &(dyn Fn() + Sync)) -> Result<GbdtModel> {
    let n = ds.rows();
    if n == 0 {
        return Err(Error::invalid("the training set is empty"));
    }
    let binary = params.objective == Objective::Binary;
    if binary {
        if let Some(i) = ds.label.iter().position(|&y| y != 0.0 && y != 1.0) {
            return Err(Error::invalid(format!(
                "classification needs labels 0 or 1; the training set has {} at row {}",
                ds.label[i],
                i + 1
            )));
        }
        if ds.label.iter().all(|&y| y == ds.label[0]) {
            return Err(Error::invalid(
                "the training labels are all one class; a classifier needs both",
            ));
        }
    }
    let tp = params.tree_params(ds.num_features());
    let all = vec![true; ds.num_features()];
    let w = |r: usize| ds.weight.as_ref().map_or(1.0, |w| w[r]);
    let trees: Vec<Tree> = (0..params.n_estimators)
        .into_par_iter()
        .map(|t| {
            let counts = draws(params, n, t);
            let mut rows: Vec<u32> = (0..n as u32).filter(|&r| counts[r as usize] > 0).collect();
            let mut gh: Vec<GradPair> = vec![[0.0; 2]; n];
            for &r in &rows {
                let c = counts[r as usize] as f64 * w(r as usize);
                gh[r as usize] = [(-ds.label[r as usize] * c) as f32, c as f32];
            }
            let mut scratch = Vec::with_capacity(rows.len());
            let histograms = LocalHistograms::default();
            let (tree, _) = grow(
                ds,
                &mut rows,
                &mut scratch,
                &gh,
                &tp,
                1.0,
                &histograms,
                &all,
                params.seed ^ ((t as u64 + 1) << 32),
            );
            on_tree();
            tree
        })
        .collect();
    let oob = out_of_bag(ds, params, &trees);
    // Averaging: each leaf holds its share of the mean.
    let scale = 1.0 / trees.len() as f64;
    let trees: Vec<Tree> = trees
        .into_iter()
        .map(|mut t| {
            t.leaf_values.iter_mut().for_each(|v| *v *= scale);
            t
        })
        .collect();
    let mut gbdt = GbdtParams::default();
    gbdt.objective = Objective::Regression;
    gbdt.num_iterations = trees.len();
    gbdt.learning_rate = 1.0;
    gbdt.tree = tp;
    gbdt.seed = params.seed;
    Ok(GbdtModel {
        format: FOREST_FORMAT.into(),
        version: MODEL_VERSION,
        params: gbdt,
        feature_names: ds.feature_names.clone(),
        mappers: ds.mappers.clone(),
        init_score: 0.0,
        trees,
        best_iteration: None,
        forest: Some(ForestInfo {
            params: params.clone(),
            oob,
        }),
    })
}

/// Each row's average over the trees it was out of bag for, scored.
fn out_of_bag(ds: &Dataset, params: &RfParams, trees: &[Tree]) -> Option<OobScore> {
    let n = ds.rows();
    let (sum, count) = (0..trees.len())
        .into_par_iter()
        .map(|t| {
            let counts = draws(params, n, t);
            let mut sum = vec![0.0f64; n];
            let mut k = vec![0u32; n];
            for r in 0..n {
                if counts[r] == 0 {
                    sum[r] += trees[t].leaf_values[trees[t].leaf_binned(ds, r)];
                    k[r] += 1;
                }
            }
            (sum, k)
        })
        .reduce_with(|(mut s, mut k), (s2, k2)| {
            s.iter_mut().zip(&s2).for_each(|(a, b)| *a += b);
            k.iter_mut().zip(&k2).for_each(|(a, b)| *a += b);
            (s, k)
        })?;
    let rows: Vec<usize> = (0..n).filter(|&r| count[r] > 0).collect();
    if rows.is_empty() {
        return None;
    }
    let pred: Vec<f64> = rows.iter().map(|&r| sum[r] / count[r] as f64).collect();
    let w = |r: usize| ds.weight.as_ref().map_or(1.0, |w| w[r]);
    if params.objective == Objective::Binary {
        let pos: Vec<f64> = rows.iter().map(|&r| ds.label[r] * w(r)).collect();
        let neg: Vec<f64> = rows.iter().map(|&r| (1.0 - ds.label[r]) * w(r)).collect();
        let labels: Vec<bool> = rows.iter().map(|&r| ds.label[r] == 1.0).collect();
        Some(OobScore {
            rows: rows.len(),
            score: auc_weighted(&pred, &pos, &neg)?,
            secondary: ks(&pred, &labels).unwrap_or(f64::NAN),
        })
    } else {
        let tw: f64 = rows.iter().map(|&r| w(r)).sum();
        let mean = rows.iter().map(|&r| ds.label[r] * w(r)).sum::<f64>() / tw;
        let sse: f64 = rows
            .iter()
            .zip(&pred)
            .map(|(&r, p)| w(r) * (ds.label[r] - p).powi(2))
            .sum();
        let sst: f64 = rows.iter().map(|&r| w(r) * (ds.label[r] - mean).powi(2)).sum();
        Some(OobScore {
            rows: rows.len(),
            score: 1.0 - sse / sst,
            secondary: (sse / tw).sqrt(),
        })
    }
}
