//! Gradient-boosted trees: binary logloss and L2 regression on the binned dataset.

use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use risklake_core::metrics::{auc_weighted, ks};
use risklake_core::{Error, Result};

use crate::bins::BinMapper;
use crate::dataset::{mapped_values, Dataset};
use crate::tree::{grow, sample_features, GradPair, GrowPolicy, LocalHistograms, Tree, TreeParams};
use risklake_core::rng::Rng;

/// The loss being minimized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Binary logloss; labels 0/1; raw scores are log-odds.
    Binary,
    /// Squared error.
    Regression,
}

/// The validation metric reported each iteration and used by early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Auc,
    Ks,
    BinaryLogloss,
    Rmse,
}

impl Metric {
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Auc => "auc",
            Metric::Ks => "ks",
            Metric::BinaryLogloss => "binary_logloss",
            Metric::Rmse => "rmse",
        }
    }

    pub fn higher_is_better(&self) -> bool {
        matches!(self, Metric::Auc | Metric::Ks)
    }
}

/// Boosting parameters (names and defaults as LightGBM's).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GbdtParams {
    pub objective: Objective,
    pub num_iterations: usize,
    pub learning_rate: f64,
    pub tree: TreeParams,
    /// Stop when the validation metric has not improved for this many iterations.
    pub early_stopping_rounds: Option<usize>,
    /// Share of the features each tree may use (1 = all).
    #[serde(default = "one")]
    pub feature_fraction: f64,
    /// Share of the rows each tree is grown on, redrawn every `bagging_freq` iterations
    /// (0 = no bagging).
    #[serde(default = "one")]
    pub bagging_fraction: f64,
    #[serde(default)]
    pub bagging_freq: usize,
    /// Row sampling by gradient (GOSS): each tree sees the `top_rate` share of rows with
    /// the largest |gradient x hessian| and a random `other_rate` share of the rest, whose
    /// gradients are scaled up by (1 - top_rate) / other_rate. As in LightGBM, the first
    /// 1 / learning_rate trees use every row.
    #[serde(default)]
    pub goss: bool,
    #[serde(default = "default_top_rate")]
    pub top_rate: f64,
    #[serde(default = "default_other_rate")]
    pub other_rate: f64,
    /// Weight of the positive (bad) class in the binary loss.
    #[serde(default = "one")]
    pub scale_pos_weight: f64,
    /// Seed of feature and row sampling (same seed and data: same model).
    #[serde(default)]
    pub seed: u64,
    /// The validation metric (default: auc for binary, rmse for regression).
    #[serde(default)]
    pub metric: Option<Metric>,
    /// Training threads (0: the process's pool, one per core). The model does not depend
    /// on it: histograms are summed in the same order whatever the thread count.
    #[serde(default)]
    pub num_threads: usize,
    /// Monotone constraints by feature name (`monotone_constraints=age:-1,income:1`),
    /// turned into the positional `tree.monotone` when training starts; unnamed features
    /// are unconstrained.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monotone_by_name: Vec<(String, i8)>,
}

fn one() -> f64 {
    1.0
}

fn default_top_rate() -> f64 {
    0.2
}

fn default_other_rate() -> f64 {
    0.1
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            objective: Objective::Binary,
            num_iterations: 100,
            learning_rate: 0.1,
            tree: TreeParams {
                num_leaves: 31,
                max_depth: 0,
                min_data_in_leaf: 20,
                min_sum_hessian_in_leaf: 1e-3,
                lambda_l1: 0.0,
                lambda_l2: 0.0,
                min_gain_to_split: 0.0,
                monotone: Vec::new(),
                feature_fraction_bynode: 1.0,
                grow_policy: GrowPolicy::Leafwise,
                categorical: Default::default(),
                histogram_per_node: false,
            },
            early_stopping_rounds: None,
            feature_fraction: 1.0,
            bagging_fraction: 1.0,
            bagging_freq: 0,
            goss: false,
            top_rate: default_top_rate(),
            other_rate: default_other_rate(),
            scale_pos_weight: 1.0,
            seed: 0,
            metric: None,
            num_threads: 0,
            monotone_by_name: Vec::new(),
        }
    }
}

impl GbdtParams {
    /// The validation metric in effect.
    pub fn metric(&self) -> Metric {
        self.metric.unwrap_or(match self.objective {
            Objective::Binary => Metric::Auc,
            Objective::Regression => Metric::Rmse,
        })
    }

    /// Checks every parameter, naming the first out of range and its allowed range.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, range: &str, v: String| {
            Err(Error::invalid(format!(
                "parameter {name} = {v} is out of range (allowed: {range})"
            )))
        };
        if self.num_iterations == 0 {
            return bad("num_iterations", ">= 1", self.num_iterations.to_string());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("learning_rate", "> 0", self.learning_rate.to_string());
        }
        let t = &self.tree;
        if t.num_leaves < 2 || t.num_leaves > 131_072 {
            return bad("num_leaves", "[2, 131072]", t.num_leaves.to_string());
        }
        if t.lambda_l1 < 0.0 || t.lambda_l2 < 0.0 {
            return bad(
                "lambda_l1/lambda_l2",
                ">= 0",
                format!("{}/{}", t.lambda_l1, t.lambda_l2),
            );
        }
        for (name, v) in [
            ("feature_fraction", self.feature_fraction),
            ("feature_fraction_bynode", t.feature_fraction_bynode),
            ("bagging_fraction", self.bagging_fraction),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return bad(name, "(0, 1]", v.to_string());
            }
        }
        if !(self.scale_pos_weight > 0.0 && self.scale_pos_weight.is_finite()) {
            return bad("scale_pos_weight", "> 0", self.scale_pos_weight.to_string());
        }
        if self.objective == Objective::Regression
            && matches!(self.metric(), Metric::Auc | Metric::Ks | Metric::BinaryLogloss)
        {
            return bad(
                "metric",
                "rmse for the regression objective",
                self.metric().name().into(),
            );
        }
        for (name, v) in [("top_rate", self.top_rate), ("other_rate", self.other_rate)] {
            if !(v > 0.0 && v < 1.0) {
                return bad(name, "(0, 1)", v.to_string());
            }
        }
        if self.top_rate + self.other_rate > 1.0 {
            return bad(
                "top_rate + other_rate",
                "<= 1",
                (self.top_rate + self.other_rate).to_string(),
            );
        }
        if self.goss && self.bagging_freq > 0 && self.bagging_fraction < 1.0 {
            return Err(Error::invalid(
                "GOSS and bagging both sample rows; use one (data_sample_strategy=goss, or bagging_fraction with bagging_freq)",
            ));
        }
        if t.grow_policy == GrowPolicy::Symmetric && t.monotone.iter().any(|&m| m != 0) {
            return Err(Error::invalid(
                "monotone_constraints are not supported with grow_policy=symmetric (use leafwise or depthwise)",
            ));
        }
        let c = &t.categorical;
        if !(c.cat_smooth >= 0.0 && c.cat_l2 >= 0.0) {
            return bad("cat_smooth/cat_l2", ">= 0", format!("{}/{}", c.cat_smooth, c.cat_l2));
        }
        if c.max_cat_threshold == 0 {
            return bad("max_cat_threshold", ">= 1", "0".into());
        }
        if t.max_depth > 64 {
            return bad("max_depth", "[0, 64] (0 = unlimited)", t.max_depth.to_string());
        }
        if t.min_sum_hessian_in_leaf < 0.0 || t.min_gain_to_split < 0.0 {
            return bad("min_sum_hessian_in_leaf/min_gain_to_split", ">= 0", "negative".into());
        }
        Ok(())
    }

    /// Sets one parameter from `key=value` text, as the CLI's `--param` does.
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
                    "binary" => Objective::Binary,
                    "regression" | "l2" => Objective::Regression,
                    other => return Err(Error::invalid(format!("objective '{other}' (allowed: binary, regression)"))),
                }
            }
            "num_iterations" | "n_estimators" | "num_trees" => self.num_iterations = int(value)?,
            "learning_rate" | "eta" => self.learning_rate = num(value)?,
            "num_leaves" => self.tree.num_leaves = int(value)?,
            "max_depth" => self.tree.max_depth = value.parse::<i64>().map(|d| d.max(0) as usize).map_err(|_| Error::invalid(format!("parameter max_depth: '{value}' is not an integer")))?,
            "min_data_in_leaf" | "min_child_samples" => self.tree.min_data_in_leaf = int(value)? as u32,
            "min_sum_hessian_in_leaf" | "min_child_weight" => self.tree.min_sum_hessian_in_leaf = num(value)?,
            "lambda_l1" | "reg_alpha" => self.tree.lambda_l1 = num(value)?,
            "lambda_l2" | "reg_lambda" => self.tree.lambda_l2 = num(value)?,
            "min_gain_to_split" | "min_split_gain" => self.tree.min_gain_to_split = num(value)?,
            "early_stopping_rounds" | "early_stopping_round" => self.early_stopping_rounds = Some(int(value)?),
            "metric" => {
                self.metric = Some(match value {
                    "auc" => Metric::Auc,
                    "ks" => Metric::Ks,
                    "binary_logloss" | "logloss" => Metric::BinaryLogloss,
                    "rmse" | "l2" => Metric::Rmse,
                    other => {
                        return Err(Error::invalid(format!(
                            "metric '{other}' (allowed: auc, ks, binary_logloss, rmse)"
                        )))
                    }
                })
            }
            "feature_fraction" | "colsample_bytree" => self.feature_fraction = num(value)?,
            "feature_fraction_bynode" | "colsample_bynode" => self.tree.feature_fraction_bynode = num(value)?,
            "bagging_fraction" | "subsample" => self.bagging_fraction = num(value)?,
            "bagging_freq" | "subsample_freq" => self.bagging_freq = int(value)?,
            "scale_pos_weight" => self.scale_pos_weight = num(value)?,
            "grow_policy" | "tree_growth" => {
                self.tree.grow_policy = match value {
                    "leafwise" | "lossguide" | "leaf" => GrowPolicy::Leafwise,
                    "depthwise" | "level" | "depth" => GrowPolicy::Depthwise,
                    "symmetric" | "oblivious" | "SymmetricTree" => GrowPolicy::Symmetric,
                    other => {
                        return Err(Error::invalid(format!(
                            "grow_policy '{other}' (allowed: leafwise, depthwise, symmetric)"
                        )))
                    }
                }
            }
            "data_sample_strategy" | "boosting" | "boosting_type" => {
                self.goss = match value {
                    "goss" => true,
                    "bagging" | "gbdt" => false,
                    other => {
                        return Err(Error::invalid(format!(
                            "parameter {key} '{other}' (allowed: {})",
                            if key == "data_sample_strategy" { "bagging, goss" } else { "gbdt, goss" }
                        )))
                    }
                }
            }
            "num_threads" | "n_jobs" | "nthread" => self.num_threads = int(value)?,
            "cat_smooth" => self.tree.categorical.cat_smooth = num(value)?,
            "cat_l2" => self.tree.categorical.cat_l2 = num(value)?,
            "min_data_per_group" => self.tree.categorical.min_data_per_group = int(value)? as u32,
            "max_cat_threshold" => self.tree.categorical.max_cat_threshold = int(value)?,
            "max_cat_to_onehot" => self.tree.categorical.max_cat_to_onehot = int(value)?,
            "top_rate" => self.top_rate = num(value)?,
            "other_rate" => self.other_rate = num(value)?,
            "seed" | "random_state" => {
                self.seed = value
                    .parse()
                    .map_err(|_| Error::invalid(format!("parameter seed: '{value}' is not a non-negative integer")))?
            }
            "monotone_constraints" | "monotone_constraint" | "mc" => {
                let direction = |v: &str| match v.trim() {
                    "1" | "+1" => Ok(1),
                    "0" => Ok(0),
                    "-1" => Ok(-1),
                    other => Err(Error::invalid(format!(
                        "parameter monotone_constraints: '{other}' is not -1, 0 or 1 (give one value per feature \
                         in order, e.g. 1,0,-1, or name the features, e.g. age:-1,utilization:1)"
                    ))),
                };
                if value.contains(':') {
                    self.tree.monotone = Vec::new();
                    self.monotone_by_name = value
                        .split(',')
                        .map(|pair| {
                            let (name, d) = pair.rsplit_once(':').ok_or_else(|| {
                                Error::invalid(format!(
                                    "parameter monotone_constraints: '{pair}' should be NAME:DIRECTION \
                                     (e.g. age:-1); do not mix named and positional values"
                                ))
                            })?;
                            Ok((name.trim().to_string(), direction(d)?))
                        })
                        .collect::<Result<_>>()?;
                } else {
                    self.monotone_by_name = Vec::new();
                    self.tree.monotone = value.split(',').map(direction).collect::<Result<_>>()?;
                }
            }
            other => {
                return Err(Error::invalid(format!(
                    "unknown parameter '{other}' (known: objective, num_iterations, learning_rate, num_leaves, max_depth, min_data_in_leaf, min_sum_hessian_in_leaf, lambda_l1, lambda_l2, min_gain_to_split, early_stopping_rounds, monotone_constraints, feature_fraction, feature_fraction_bynode, bagging_fraction, bagging_freq, data_sample_strategy, top_rate, other_rate, grow_policy, scale_pos_weight, seed, metric, num_threads, cat_smooth, cat_l2, min_data_per_group, max_cat_threshold, max_cat_to_onehot; dataset: max_bin, min_data_in_bin, max_cat_bins, max_categories, bin_construct_sample_cnt)"
                )))
            }
        }
        self.validate()
    }
}

/// A trained model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GbdtModel {
    pub format: String,
    pub version: u32,
    pub params: GbdtParams,
    pub feature_names: Vec<String>,
    pub mappers: Vec<BinMapper>,
    /// Raw score before the first tree (log-odds of the bad rate, or the label mean).
    pub init_score: f64,
    pub trees: Vec<Tree>,
    /// The iteration with the best validation metric, when there was validation data.
    pub best_iteration: Option<usize>,
    /// Set for a random forest (format `risklake.forest`): its parameters and
    /// out-of-bag score. Its leaves are pre-divided by the number of trees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forest: Option<crate::forest::ForestInfo>,
}

/// What each iteration reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IterationInfo {
    pub iteration: usize,
    pub train_loss: f64,
    /// The validation metric ([`GbdtParams::metric`]) on the validation set.
    pub valid_metric: Option<f64>,
}

pub const MODEL_FORMAT: &str = "risklake.gbdt";
pub const MODEL_VERSION: u32 = 1;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Trains a model; `on_iteration` sees every iteration (progress bars, run records).
pub fn train(
    ds: &Dataset,
    valid: Option<&Dataset>,
    params: &GbdtParams,
    on_iteration: &mut (dyn FnMut(&IterationInfo) + Send),
) -> Result<GbdtModel> {
    train_until(ds, valid, params, &mut |it| {
        on_iteration(it);
        true
    })
}

/// [`train`], stopping after the first iteration for which `on_iteration` returns false
/// (a tuner's pruner); the model keeps the trees grown so far.
pub fn train_until(
    ds: &Dataset,
    valid: Option<&Dataset>,
    params: &GbdtParams,
    on_iteration: &mut (dyn FnMut(&IterationInfo) -> bool + Send),
) -> Result<GbdtModel> {
    // The callback is a trait object, not a generic: a generic `train` would be compiled
    // in (and at the optimization level of) every crate that calls it.
    crate::with_threads(params.num_threads, || train_here(ds, valid, params, on_iteration))
}

/// [`train`] on the current thread pool.
fn train_here(
    ds: &Dataset,
    valid: Option<&Dataset>,
    params: &GbdtParams,
    on_iteration: &mut (dyn FnMut(&IterationInfo) -> bool + Send),
) -> Result<GbdtModel> {
    params.validate()?;
    let named;
    let params = if params.monotone_by_name.is_empty() {
        params
    } else {
        let mut p = params.clone();
        p.tree.monotone = vec![0; ds.num_features()];
        for (name, d) in &params.monotone_by_name {
            let f = ds.feature_names.iter().position(|n| n == name).ok_or_else(|| {
                Error::invalid(format!(
                    "parameter monotone_constraints names '{name}', which is not a feature ({})",
                    ds.feature_names.join(", ")
                ))
            })?;
            p.tree.monotone[f] = *d;
        }
        named = p;
        &named
    };
    let m = &params.tree.monotone;
    if !m.is_empty() && m.len() != ds.num_features() {
        return Err(Error::invalid(format!(
            "parameter monotone_constraints has {} values for {} features ({}); give one per feature, or name \
             the constrained ones (age:-1,utilization:1)",
            m.len(),
            ds.num_features(),
            ds.feature_names.join(", ")
        )));
    }
    if let Some(f) = (0..m.len()).find(|&f| m[f] != 0 && ds.mappers[f].is_categorical()) {
        return Err(Error::invalid(format!(
            "parameter monotone_constraints: feature '{}' is categorical and cannot be monotone",
            ds.feature_names[f]
        )));
    }
    let n = ds.rows();
    if n == 0 {
        return Err(Error::invalid("the training set is empty"));
    }
    if params.objective == Objective::Binary {
        for (what, d) in [("training", Some(ds)), ("validation", valid)] {
            if let Some(d) = d {
                if let Some(i) = d.label.iter().position(|&y| y != 0.0 && y != 1.0) {
                    return Err(Error::invalid(format!(
                        "binary objective needs labels 0 or 1; the {what} set has {} at row {}",
                        d.label[i],
                        i + 1
                    )));
                }
            }
        }
    }
    // A feature can split when its rows fall in at least two bins.
    if (0..ds.num_features()).all(|f| is_constant(ds, f)) {
        return Err(Error::invalid(format!(
            "every feature is constant in the training data ({}); there is nothing to split on",
            ds.feature_names.join(", ")
        )));
    }
    let w = |i: usize| ds.weight.as_ref().map_or(1.0, |w| w[i]);
    let total_w: f64 = (0..n).map(w).sum();
    let mean: f64 = (0..n).map(|i| ds.label[i] * w(i)).sum::<f64>() / total_w;
    let init_score = match params.objective {
        Objective::Binary => {
            if mean <= 0.0 || mean >= 1.0 {
                return Err(Error::invalid(
                    "the training labels are all one class; binary training needs both",
                ));
            }
            (mean / (1.0 - mean)).ln()
        }
        Objective::Regression => mean,
    };
    let mut score = vec![init_score; n];
    let mut valid_score = valid.map(|v| vec![init_score; v.rows()]);
    let mut gh: Vec<GradPair> = vec![[0.0; 2]; n];
    let mut trees = Vec::new();
    let mut best: Option<(usize, f64)> = None;
    let mut rows: Vec<u32> = Vec::with_capacity(n);
    let mut scratch: Vec<u32> = Vec::with_capacity(n);
    let mut bag: Vec<u32> = Vec::new();
    let histograms = LocalHistograms::default();
    for it in 0..params.num_iterations {
        let loss = gradients(params, ds, &score, &mut gh);
        let train_loss = match params.objective {
            Objective::Binary => loss / total_w,
            Objective::Regression => (loss / total_w).sqrt(),
        };
        // Rows (bagging or GOSS) and features (feature_fraction) of this tree.
        let bagged = params.bagging_freq > 0 && params.bagging_fraction < 1.0;
        let goss = params.goss && it as f64 >= (1.0 / params.learning_rate).floor();
        if goss {
            goss_sample(params, it, &mut gh, &mut rows);
        } else if !bagged || it % params.bagging_freq == 0 || bag.is_empty() {
            rows.clear();
            if bagged {
                let mut rng = Rng::for_stream(params.seed, 2 * it as u64);
                rows.extend((0..n as u32).filter(|_| rng.chance(params.bagging_fraction)));
                if rows.is_empty() {
                    rows.push(0);
                }
                bag.clone_from(&rows);
            } else {
                rows.extend(0..n as u32);
            }
        } else {
            rows.clone_from(&bag);
        }
        let sampled = rows.len() < n;
        let all = vec![true; ds.num_features()];
        let features = if params.feature_fraction < 1.0 {
            sample_features(
                &all,
                params.feature_fraction,
                &mut Rng::for_stream(params.seed, 2 * it as u64 + 1),
            )
        } else {
            all
        };
        let (tree, leaf_ranges) = grow(
            ds,
            &mut rows,
            &mut scratch,
            &gh,
            &params.tree,
            params.learning_rate,
            &histograms,
            &features,
            params.seed ^ ((it as u64) << 32),
        );
        if sampled {
            // Rows outside the sample get their leaf by a walk.
            add_tree(&tree, ds, &mut score);
        } else {
            for (leaf, &(start, end)) in leaf_ranges.iter().enumerate() {
                let v = tree.leaf_values[leaf];
                for &r in &rows[start..end] {
                    score[r as usize] += v;
                }
            }
        }
        let mut valid_metric = None;
        if let (Some(v), Some(vs)) = (valid, valid_score.as_mut()) {
            add_tree(&tree, v, vs);
            valid_metric = Some(metric(params.metric(), v, vs));
        }
        // A tree without a split ends training, unless sampling may find one next time.
        let sampling =
            bagged || params.goss || params.feature_fraction < 1.0 || params.tree.feature_fraction_bynode < 1.0;
        let stalled = tree.nodes.is_empty() && !sampling;
        trees.push(tree);
        let info = IterationInfo {
            iteration: it + 1,
            train_loss,
            valid_metric,
        };
        let go_on = on_iteration(&info);
        if let Some(m) = valid_metric {
            let better = match best {
                None => true,
                Some((_, b)) if params.metric().higher_is_better() => m > b,
                Some((_, b)) => m < b,
            };
            if better {
                best = Some((it + 1, m));
            } else if let (Some(rounds), Some((bi, _))) = (params.early_stopping_rounds, best) {
                if it + 1 - bi >= rounds {
                    trees.truncate(bi);
                    break;
                }
            }
        }
        if stalled || !go_on {
            break;
        }
    }
    Ok(GbdtModel {
        format: MODEL_FORMAT.into(),
        version: MODEL_VERSION,
        params: params.clone(),
        feature_names: ds.feature_names.clone(),
        mappers: ds.mappers.clone(),
        init_score,
        trees,
        best_iteration: best.map(|b| b.0),
        forest: None,
    })
}

/// Whether every row of feature `f` has the same bin.
fn is_constant(ds: &Dataset, f: usize) -> bool {
    let first = ds.bin(0, f);
    (0..ds.rows()).into_par_iter().all(|r| ds.bin(r, f) == first)
}

/// Adds a tree's output to the scores of every row of `ds` (rows in parallel).
fn add_tree(tree: &Tree, ds: &Dataset, score: &mut [f64]) {
    score.par_chunks_mut(ROW_CHUNK).enumerate().for_each(|(c, out)| {
        for (k, s) in out.iter_mut().enumerate() {
            *s += tree.leaf_values[tree.leaf_binned(ds, c * ROW_CHUNK + k)];
        }
    });
}

/// GOSS: keeps the rows with the largest |gradient x hessian| (`top_rate` of them) and a
/// seeded random `other_rate` share of the rest, whose gradient pairs are scaled by
/// (1 - top_rate) / other_rate so that sums over the sample estimate sums over all rows.
fn goss_sample(params: &GbdtParams, it: usize, gh: &mut [GradPair], rows: &mut Vec<u32>) {
    let n = gh.len();
    let top_k = ((n as f64 * params.top_rate) as usize).max(1);
    let other_k = ((n as f64 * params.other_rate) as usize).max(1);
    let score = |x: &GradPair| (x[0] as f64 * x[1] as f64).abs();
    // The top_k-th largest score: rows at or above it are kept.
    let mut scores: Vec<f64> = gh.iter().map(score).collect();
    let (_, kth, _) = scores.select_nth_unstable_by(n - top_k.min(n), f64::total_cmp);
    let threshold = *kth;
    let rest = n.saturating_sub(top_k).max(1);
    let keep = other_k as f64 / rest as f64;
    let scale = (n - top_k.min(n)) as f64 / other_k as f64;
    let mut rng = Rng::for_stream(params.seed, 2 * it as u64);
    rows.clear();
    for (r, x) in gh.iter_mut().enumerate() {
        if score(x) >= threshold {
            rows.push(r as u32);
        } else if rng.chance(keep) {
            x[0] = (x[0] as f64 * scale) as f32;
            x[1] = (x[1] as f64 * scale) as f32;
            rows.push(r as u32);
        }
    }
}

/// Rows per task of the per-row loops (gradients, scores).
const ROW_CHUNK: usize = 1 << 16;

/// Fills `gh` with each row's (gradient, hessian) at the current scores and returns the
/// weighted training loss (summed; squared error for regression). Rows in parallel; the
/// loss is summed chunk by chunk in order, so it does not depend on the thread count.
fn gradients(params: &GbdtParams, ds: &Dataset, score: &[f64], gh: &mut [GradPair]) -> f64 {
    let spw = params.scale_pos_weight;
    let losses: Vec<f64> = gh
        .par_chunks_mut(ROW_CHUNK)
        .enumerate()
        .map(|(c, out)| {
            let first = c * ROW_CHUNK;
            let mut loss = 0.0;
            for (k, x) in out.iter_mut().enumerate() {
                let i = first + k;
                let (s, y) = (score[i], ds.label[i]);
                let w = ds.weight.as_ref().map_or(1.0, |w| w[i]);
                match params.objective {
                    Objective::Binary => {
                        // One exp and one log1p: p = sigmoid(s), and the loss is
                        // softplus(-s) for a bad row, softplus(s) for a good one.
                        let t = (-s.abs()).exp();
                        let p = if s >= 0.0 { 1.0 / (1.0 + t) } else { t / (1.0 + t) };
                        let softplus = t.ln_1p();
                        let wy = if y == 1.0 { w * spw } else { w };
                        *x = [((p - y) * wy) as f32, ((p * (1.0 - p)).max(1e-16) * wy) as f32];
                        loss += w * if y == 1.0 {
                            (-s).max(0.0) + softplus
                        } else {
                            s.max(0.0) + softplus
                        };
                    }
                    Objective::Regression => {
                        *x = [((s - y) * w) as f32, w as f32];
                        loss += w * (s - y) * (s - y);
                    }
                }
            }
            loss
        })
        .collect();
    losses.iter().sum()
}

fn metric(metric: Metric, ds: &Dataset, raw: &[f64]) -> f64 {
    let w = |i: usize| ds.weight.as_ref().map_or(1.0, |w| w[i]);
    match metric {
        Metric::Auc => {
            let pos: Vec<f64> = (0..ds.rows()).map(|i| ds.label[i] * w(i)).collect();
            let neg: Vec<f64> = (0..ds.rows()).map(|i| (1.0 - ds.label[i]) * w(i)).collect();
            auc_weighted(raw, &pos, &neg).unwrap_or(0.5)
        }
        Metric::Ks => {
            let labels: Vec<bool> = ds.label.iter().map(|&y| y == 1.0).collect();
            ks(raw, &labels).unwrap_or(0.0)
        }
        Metric::BinaryLogloss => {
            let (mut loss, mut total) = (0.0, 0.0);
            for (i, (&s, &y)) in raw.iter().zip(&ds.label).enumerate() {
                let p = sigmoid(s).clamp(1e-15, 1.0 - 1e-15);
                loss -= w(i) * (y * p.ln() + (1.0 - y) * (1.0 - p).ln());
                total += w(i);
            }
            loss / total.max(1e-300)
        }
        Metric::Rmse => {
            let (mut sq, mut total) = (0.0, 0.0);
            for (i, (&s, &y)) in raw.iter().zip(&ds.label).enumerate() {
                sq += w(i) * (s - y).powi(2);
                total += w(i);
            }
            (sq / total.max(1e-300)).sqrt()
        }
    }
}

impl GbdtModel {
    /// Raw scores of a binned dataset (built with this model's mappers).
    pub fn predict_raw_binned(&self, ds: &Dataset) -> Vec<f64> {
        // Rows in parallel; each row's trees summed in order, so the result does not
        // depend on the thread count.
        (0..ds.rows())
            .into_par_iter()
            .map(|r| {
                self.init_score
                    + self
                        .trees
                        .iter()
                        .map(|t| t.leaf_values[t.leaf_binned(ds, r)])
                        .sum::<f64>()
            })
            .collect()
    }

    /// The model's features of a batch as the values its mappers bin (numbers; category
    /// codes), one vector per feature.
    fn feature_columns(&self, batch: &RecordBatch) -> Result<Vec<Vec<f64>>> {
        self.feature_names
            .iter()
            .zip(&self.mappers)
            .map(|(f, m)| mapped_values(batch, f, m))
            .collect()
    }

    /// Runs `per_row(row values, output slot)` over the rows of a batch, in parallel,
    /// with `width` outputs per row.
    fn map_rows<T: Copy + Default + Send>(
        &self,
        batch: &RecordBatch,
        width: usize,
        per_row: &(dyn Fn(&[f64], &mut [T]) + Sync),
    ) -> Result<Vec<T>> {
        let columns = self.feature_columns(batch)?;
        let mut out = vec![T::default(); batch.num_rows() * width];
        let fill = |c: usize, chunk: usize, dst: &mut [T]| {
            let mut x = vec![0.0; columns.len()];
            for (k, slot) in dst.chunks_mut(width.max(1)).enumerate() {
                let r = c * chunk + k;
                for (f, col) in columns.iter().enumerate() {
                    x[f] = col[r];
                }
                per_row(&x, slot);
            }
        };
        if batch.num_rows() <= risklake_core::INLINE_ROWS {
            fill(0, batch.num_rows(), &mut out);
            return Ok(out);
        }
        // A few chunks per thread however large the batch is.
        let chunk = batch
            .num_rows()
            .div_ceil(4 * rayon::current_num_threads())
            .clamp(16, 4096);
        out.par_chunks_mut(chunk * width.max(1))
            .enumerate()
            .for_each(|(c, dst)| fill(c, chunk, dst));
        Ok(out)
    }

    /// Raw scores of the rows of a batch, from the raw feature values.
    pub fn predict_raw(&self, batch: &RecordBatch) -> Result<Vec<f64>> {
        self.map_rows(batch, 1, &|x, out| {
            out[0] = self.init_score + self.trees.iter().map(|t| t.leaf_values[t.leaf_raw(x)]).sum::<f64>();
        })
    }

    /// The leaf index of every row in every tree: `trees` values per row, row-major.
    pub fn predict_leaf(&self, batch: &RecordBatch) -> Result<Vec<u32>> {
        self.map_rows(batch, self.trees.len(), &|x, out| {
            for (o, t) in out.iter_mut().zip(&self.trees) {
                *o = t.leaf_raw(x) as u32;
            }
        })
    }

    /// SHAP contributions (exact TreeSHAP) of every feature to every row's raw score, then
    /// the expected raw score: `features + 1` values per row, row-major, summing to the
    /// row's raw score.
    pub fn predict_shap(&self, batch: &RecordBatch) -> Result<Vec<f64>> {
        let nf = self.feature_names.len();
        let covers: Vec<Vec<f64>> = self.trees.iter().map(crate::shap::node_covers).collect();
        let depths: Vec<usize> = self.trees.iter().map(crate::shap::depth).collect();
        let expected = self.init_score + self.trees.iter().map(crate::shap::expected_value).sum::<f64>();
        self.map_rows(batch, nf + 1, &|x, out| {
            for ((t, c), &d) in self.trees.iter().zip(&covers).zip(&depths) {
                crate::shap::tree_shap(t, c, d, &|node| t.nodes[node].goes_left_raw(x), &mut out[..nf]);
            }
            out[nf] = expected;
        })
    }

    /// Probabilities (binary) or values (regression) of the rows of a batch.
    pub fn predict(&self, batch: &RecordBatch) -> Result<Vec<f64>> {
        let raw = self.predict_raw(batch)?;
        Ok(match self.params.objective {
            Objective::Binary => raw.into_iter().map(sigmoid).collect(),
            Objective::Regression => raw,
        })
    }

    /// Split-count and total-gain importance per feature.
    pub fn importance(&self) -> Vec<(String, usize, f64)> {
        let mut out: Vec<(String, usize, f64)> = self.feature_names.iter().map(|f| (f.clone(), 0, 0.0)).collect();
        for t in &self.trees {
            for n in &t.nodes {
                out[n.feature].1 += 1;
                out[n.feature].2 += n.gain;
            }
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a model always serializes")
    }

    /// Reads a model, checking its format and version.
    pub fn from_json(text: &str) -> Result<GbdtModel> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::invalid(format!("model file is not valid JSON: {e}")))?;
        let format = v.get("format").and_then(|f| f.as_str());
        if format != Some(MODEL_FORMAT) && format != Some(crate::forest::FOREST_FORMAT) {
            return Err(Error::invalid(format!(
                "not a risklake tree model (expected format \"{MODEL_FORMAT}\" or \"{}\")",
                crate::forest::FOREST_FORMAT
            )));
        }
        match v.get("version").and_then(|x| x.as_u64()) {
            Some(x) if x == MODEL_VERSION as u64 => {}
            other => {
                return Err(Error::invalid(format!(
                    "model version {other:?} is not supported (this risklake reads version {MODEL_VERSION})"
                )))
            }
        }
        let model: GbdtModel =
            serde_json::from_value(v).map_err(|e| Error::invalid(format!("model file is malformed: {e}")))?;
        model.check()?;
        Ok(model)
    }

    /// Checks the structure a prediction relies on, so a damaged file is an error on
    /// loading rather than a wrong answer or a crash later.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::invalid(format!("model file is malformed: {what}")));
        let nf = self.feature_names.len();
        if self.mappers.len() != nf {
            return bad(format!("{} bin mappers for {nf} features", self.mappers.len()));
        }
        if !self.init_score.is_finite() {
            return bad("the initial score is not a finite number".into());
        }
        for (k, t) in self.trees.iter().enumerate() {
            let leaves = t.leaf_values.len();
            if leaves != t.nodes.len() + 1 || t.leaf_counts.len() != leaves || t.leaf_hessians.len() != leaves {
                return bad(format!(
                    "tree {k} has {} nodes, {leaves} leaf values, {} leaf counts and {} leaf hessians",
                    t.nodes.len(),
                    t.leaf_counts.len(),
                    t.leaf_hessians.len()
                ));
            }
            if let Some(v) = t.leaf_values.iter().find(|v| !v.is_finite()) {
                return bad(format!("tree {k} has a leaf value {v}"));
            }
            // Every node and leaf is reached exactly once, children after their parent
            // (so a walk always ends).
            let mut seen_nodes = vec![false; t.nodes.len()];
            let mut seen_leaves = vec![false; leaves];
            for (i, n) in t.nodes.iter().enumerate() {
                if n.feature >= nf {
                    return bad(format!("tree {k} node {i} splits on feature {} of {nf}", n.feature));
                }
                if n.categorical != self.mappers[n.feature].is_categorical() {
                    return bad(format!(
                        "tree {k} node {i}: split kind does not match feature '{}'",
                        self.feature_names[n.feature]
                    ));
                }
                for c in [n.left, n.right] {
                    let ok = if c < 0 {
                        let l = !c as usize;
                        l < leaves && !std::mem::replace(&mut seen_leaves[l], true)
                    } else {
                        let c = c as usize;
                        c > i && c < t.nodes.len() && !std::mem::replace(&mut seen_nodes[c], true)
                    };
                    if !ok {
                        return bad(format!("tree {k} node {i} has an invalid child {c}"));
                    }
                }
            }
            if (t.nodes.len() > 1 && seen_nodes.iter().skip(1).any(|s| !s))
                || seen_leaves.iter().any(|s| !s) && !t.nodes.is_empty()
            {
                return bad(format!("tree {k} has unreachable nodes or leaves"));
            }
        }
        Ok(())
    }
}
