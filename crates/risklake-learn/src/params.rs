//! The learners' parameters: the objective and metric, the boosting parameters by
//! LightGBM's names and the forest parameters by scikit-learn's, each with its defaults,
//! its `set(name, value)` parser and its checks. Kept apart from the training loops so
//! that a stored model (which records them) does not depend on how it was trained.

use risklake_core::{Error, Result};

use crate::tree::{GrowPolicy, TreeParams};

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

    pub(crate) fn tree_params(&self, features: usize) -> TreeParams {
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
