//! Histogram-based, leaf-wise (best-first) regression trees on a binned dataset.
//!
//! Growth: the root's histogram (gradient, hessian and row count per bin of every feature)
//! is built once; each split builds the histogram of the smaller child and gets the larger
//! one by subtraction from the parent. The leaf whose best split gains most is split next,
//! until `num_leaves` leaves, `max_depth`, or no split gains more than `min_gain_to_split`.
//! Every split also learns where missing values go: both directions are scored and the
//! better one is kept. Histograms are read through [`HistogramSource`], the seam where a
//! data-parallel learner will sum histograms across workers.

mod grow;
mod histogram;
mod split;

use crate::dataset::Dataset;

pub use grow::{grow, sample_features};
pub use histogram::{GradPair, HistBin, Histogram, HistogramSource, LocalHistograms};
pub use split::leaf_output;

/// Parameters of one tree.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TreeParams {
    pub num_leaves: usize,
    /// 0 = unlimited.
    pub max_depth: usize,
    pub min_data_in_leaf: u32,
    pub min_sum_hessian_in_leaf: f64,
    pub lambda_l1: f64,
    pub lambda_l2: f64,
    pub min_gain_to_split: f64,
    /// Per feature: 1 = prediction non-decreasing in it, -1 = non-increasing, 0 = free.
    /// Empty means no constraint. Enforced the way LightGBM's "basic" method does: a split
    /// on a constrained feature must order its children's outputs, and every leaf below
    /// it is bounded by their midpoint, so monotonicity holds for the whole model.
    #[serde(default)]
    pub monotone: Vec<i8>,
    /// Share of the tree's features each node may split on (1 = all).
    #[serde(default = "one")]
    pub feature_fraction_bynode: f64,
    #[serde(default)]
    pub grow_policy: GrowPolicy,
    #[serde(default)]
    pub categorical: CategoricalParams,
    /// Build each node's histogram from its own rows for just the features it may split
    /// on, instead of keeping histograms for subtraction: far less work and memory when a
    /// node samples few features of many and trees are deep (random forests).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub histogram_per_node: bool,
}

impl TreeParams {
    /// `max_depth`, with depth 6 for symmetric trees when it is unlimited (0).
    pub fn effective_max_depth(&self) -> usize {
        if self.grow_policy == GrowPolicy::Symmetric && self.max_depth == 0 {
            6
        } else {
            self.max_depth
        }
    }
}

fn one() -> f64 {
    1.0
}

/// An internal node. Children: `>= 0` is a node index, `< 0` is leaf `!child`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    pub feature: usize,
    /// Rows with bin <= `bin` go left.
    pub bin: u16,
    /// The same rule on raw values: `x <= threshold` goes left (+inf, null in JSON, for
    /// the split that sends every value left and only missing ones right).
    #[serde(with = "crate::bins::one_inf_as_null")]
    pub threshold: f64,
    /// Where missing values go.
    pub default_left: bool,
    pub left: i32,
    pub right: i32,
    pub gain: f64,
    /// A categorical split: the category bins that go left (sorted); the others, and
    /// missing or unseen categories unless `default_left`, go right.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cats_left: Vec<u16>,
    #[serde(default)]
    pub categorical: bool,
}

impl Node {
    /// Whether a row of raw feature values (NaN is missing) goes left.
    #[inline]
    pub fn goes_left_raw(&self, x: &[f64]) -> bool {
        let v = x[self.feature];
        if v.is_nan() {
            self.default_left
        } else if self.categorical {
            self.goes_left(v as u16)
        } else {
            v <= self.threshold
        }
    }

    /// Whether a non-missing bin (or category code) goes left.
    #[inline]
    pub fn goes_left(&self, bin: u16) -> bool {
        if self.categorical {
            self.cats_left.binary_search(&bin).is_ok()
        } else {
            bin <= self.bin
        }
    }
}

/// A tree: internal nodes and leaf values (learning rate applied).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
    pub leaf_values: Vec<f64>,
    pub leaf_counts: Vec<u32>,
    pub leaf_hessians: Vec<f64>,
}

impl Tree {
    /// The leaf of `row` of a binned dataset.
    #[inline]
    pub fn leaf_binned(&self, ds: &Dataset, row: usize) -> usize {
        if self.nodes.is_empty() {
            return 0;
        }
        let mut at = 0i32;
        loop {
            let n = &self.nodes[at as usize];
            let b = ds.bin(row, n.feature);
            let left = if b == ds.mappers[n.feature].missing_bin() {
                n.default_left
            } else {
                n.goes_left(b)
            };
            at = if left { n.left } else { n.right };
            if at < 0 {
                return !at as usize;
            }
        }
    }

    /// The leaf of a row of raw feature values (NaN is missing).
    #[inline]
    pub fn leaf_raw(&self, x: &[f64]) -> usize {
        if self.nodes.is_empty() {
            return 0;
        }
        let mut at = 0i32;
        loop {
            let n = &self.nodes[at as usize];
            at = if n.goes_left_raw(x) { n.left } else { n.right };
            if at < 0 {
                return !at as usize;
            }
        }
    }
}

/// How categorical features split (LightGBM's parameters and defaults).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CategoricalParams {
    /// Smoothing of the gradient/hessian ratio that orders categories; categories with
    /// fewer rows are not candidates for the left side.
    pub cat_smooth: f64,
    /// Extra L2 regularization of categorical splits' gains and children.
    pub cat_l2: f64,
    /// Rows each group of categories added to the left side must hold, and the right side.
    pub min_data_per_group: u32,
    /// Most categories on the left side.
    pub max_cat_threshold: usize,
    /// Up to this many categories present: one category against the rest.
    pub max_cat_to_onehot: usize,
}

impl Default for CategoricalParams {
    fn default() -> Self {
        CategoricalParams {
            cat_smooth: 10.0,
            cat_l2: 10.0,
            min_data_per_group: 100,
            max_cat_threshold: 32,
            max_cat_to_onehot: 4,
        }
    }
}

/// How a tree grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrowPolicy {
    /// Best-first: the leaf whose split gains most is split next (LightGBM).
    #[default]
    Leafwise,
    /// Level by level: every leaf of a depth that can split is split before the next
    /// depth (XGBoost's default).
    Depthwise,
    /// Oblivious trees: one split (feature, threshold, missing direction) shared by every
    /// node of a level, chosen for the largest total gain (CatBoost's default).
    Symmetric,
}
