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
use crate::gbdt::{GbdtModel, GbdtParams, Objective, MODEL_VERSION};
use crate::tree::{grow, GradPair, GrowPolicy, LocalHistograms, Tree, TreeParams};

/// How many features a node may split on.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaxFeatures {
    /// The square root of the number of features (classification default).
    Sqrt,
    Log2,
    /// Every feature (regression default, as scikit-learn's).
    All,
    /// This share of the features.
    Fraction(f64),
}

impl MaxFeatures {
    fn count(&self, features: usize) -> usize {
        let f = features as f64;
        let k = match self {
            MaxFeatures::Sqrt => f.sqrt().floor(),
            MaxFeatures::Log2 => f.log2().floor(),
            MaxFeatures::All => f,
            MaxFeatures::Fraction(x) => (x * f).floor(),
        };
        (k as usize).clamp(1, features)
    }
}

/// Forest parameters (scikit-learn's names where there is one).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RfParams {
    /// Binary classification (labels 0/1) or regression.
    pub objective: Objective,
    pub n_estimators: usize,
    /// 0 = unlimited (trees stop at `min_samples_leaf` and `max_leaf_nodes`).
    pub max_depth: usize,
    pub min_samples_leaf: u32,
    /// Most leaves per tree.
    pub max_leaf_nodes: usize,
    pub max_features: MaxFeatures,
    /// Draw each tree's rows with replacement (else without).
    pub bootstrap: bool,
    /// Rows drawn per tree, as a share of the table.
    pub max_samples: f64,
    /// Least impurity decrease (in the learner's gain units) for a split.
    pub min_impurity_decrease: f64,
    pub seed: u64,
    /// 0: all cores.
    pub num_threads: usize,
}

impl Default for RfParams {
    fn default() -> Self {
        RfParams {
            objective: Objective::Binary,
            n_estimators: 100,
            max_depth: 12,
            min_samples_leaf: 1,
            max_leaf_nodes: 1 << 20,
            max_features: MaxFeatures::Sqrt,
            bootstrap: true,
            max_samples: 1.0,
            min_impurity_decrease: 0.0,
            seed: 0,
            num_threads: 0,
        }
    }
}

impl RfParams {
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| Error::invalid(format!("parameter {key}: '{v}' is not a number")))
        };
        let int = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| Error::invalid(format!("parameter {key}: '{v}' is not a non-negative integer")))
        };
        match key {
            "objective" => {
                self.objective = match value {
                    "binary" | "classification" => Objective::Binary,
                    "regression" => {
                        if self.max_features == MaxFeatures::Sqrt {
                            self.max_features = MaxFeatures::All;
                        }
                        Objective::Regression
                    }
                    v => {
                        return Err(Error::invalid(format!(
                            "parameter objective: unknown '{v}' (binary, regression)"
                        )))
                    }
                }
            }
            "n_estimators" | "num_trees" | "num_iterations" => self.n_estimators = int(value)?,
            "max_depth" => self.max_depth = int(value)?,
            "min_samples_leaf" | "min_data_in_leaf" => {
                self.min_samples_leaf = u32::try_from(int(value)?)
                    .map_err(|_| Error::invalid(format!("parameter {key} = {value} is too large")))?
            }
            "max_leaf_nodes" | "num_leaves" => self.max_leaf_nodes = int(value)?,
            "max_features" => {
                self.max_features = match value {
                    "sqrt" => MaxFeatures::Sqrt,
                    "log2" => MaxFeatures::Log2,
                    "all" | "1.0" => MaxFeatures::All,
                    v => MaxFeatures::Fraction(num(v)?),
                }
            }
            "bootstrap" => {
                self.bootstrap = match value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    v => return Err(Error::invalid(format!("parameter bootstrap: '{v}' is not true or false"))),
                }
            }
            "max_samples" | "bagging_fraction" => self.max_samples = num(value)?,
            "min_impurity_decrease" => self.min_impurity_decrease = num(value)?,
            "seed" | "random_state" => self.seed = int(value)? as u64,
            "num_threads" | "n_jobs" => self.num_threads = int(value)?,
            _ => {
                return Err(Error::invalid(format!(
                    "unknown random-forest parameter '{key}' (objective, n_estimators, max_depth, min_samples_leaf, max_leaf_nodes, max_features, bootstrap, max_samples, min_impurity_decrease, seed, num_threads)"
                )))
            }
        }
        self.validate()
    }

    pub fn validate(&self) -> Result<()> {
        if self.n_estimators == 0 {
            return Err(Error::invalid("parameter n_estimators must be at least 1"));
        }
        if self.max_leaf_nodes < 2 {
            return Err(Error::invalid("parameter max_leaf_nodes must be at least 2"));
        }
        if !(self.max_samples > 0.0 && self.max_samples <= 1.0) {
            return Err(Error::invalid(format!(
                "parameter max_samples = {} must be in (0, 1]",
                self.max_samples
            )));
        }
        if let MaxFeatures::Fraction(x) = self.max_features {
            if !(x > 0.0 && x <= 1.0) {
                return Err(Error::invalid(format!(
                    "parameter max_features = {x} must be sqrt, log2, all or a share in (0, 1]"
                )));
            }
        }
        if self.min_impurity_decrease < 0.0 || self.min_impurity_decrease.is_nan() {
            return Err(Error::invalid("parameter min_impurity_decrease must be non-negative"));
        }
        Ok(())
    }

    fn tree_params(&self, features: usize) -> TreeParams {
        let k = self.max_features.count(features);
        TreeParams {
            num_leaves: self.max_leaf_nodes,
            max_depth: self.max_depth,
            min_data_in_leaf: self.min_samples_leaf.max(1),
            min_sum_hessian_in_leaf: 0.0,
            lambda_l1: 0.0,
            lambda_l2: 0.0,
            min_gain_to_split: self.min_impurity_decrease,
            monotone: Vec::new(),
            // Exactly k features: sample_features draws round(fraction * n).
            feature_fraction_bynode: if k == features { 1.0 } else { k as f64 / features as f64 },
            grow_policy: GrowPolicy::Depthwise,
            categorical: Default::default(),
            histogram_per_node: true,
        }
    }
}

/// Out-of-bag evaluation of a forest.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OobScore {
    /// Rows that were out of bag for at least one tree.
    pub rows: usize,
    /// AUC (classification) or R^2 (regression) of the out-of-bag predictions.
    pub score: f64,
    /// KS (classification) or RMSE (regression).
    pub secondary: f64,
}

/// What [`train_forest`] adds to the model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ForestInfo {
    pub params: RfParams,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oob: Option<OobScore>,
}

pub const FOREST_FORMAT: &str = "risklake.forest";

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
