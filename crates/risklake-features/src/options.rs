//! The options of coarse binning: the method, the plan-wide settings and a feature's own
//! settings, with their defaults and checks. Kept apart from the binning itself so that a
//! plan can record the options it was made with without depending on how bins are made.

use std::collections::HashMap;

use risklake_core::{Error, Result};

use crate::methods::Trend;
use crate::stats::Counts;

/// How regular values are grouped into bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Maximum IV under size and event-rate trend constraints (exact dynamic programming on
    /// CART pre-bins).
    Optimal,
    /// Equal frequency.
    Quantile,
    /// Equal width.
    Uniform,
    /// CART (best-first, Gini).
    Tree,
    /// ChiMerge.
    Chimerge,
    /// Split points given by the user.
    Edges,
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "optimal" => Method::Optimal,
            "quantile" | "equal-frequency" => Method::Quantile,
            "uniform" | "equal-width" | "step" => Method::Uniform,
            "tree" | "dt" | "cart" => Method::Tree,
            "chimerge" | "chi" => Method::Chimerge,
            "edges" => Method::Edges,
            other => {
                return Err(format!(
                    "unknown binning method '{other}' (expected optimal, quantile, uniform, tree, chimerge or edges)"
                ))
            }
        })
    }
}

impl Method {
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Optimal => "optimal",
            Method::Quantile => "quantile",
            Method::Uniform => "uniform",
            Method::Tree => "tree",
            Method::Chimerge => "chimerge",
            Method::Edges => "edges",
        }
    }
}

/// Options of coarse binning.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BinningOptions {
    pub method: Method,
    /// Most regular bins per feature (quantile/uniform: the number of bins).
    pub max_bins: usize,
    /// Smallest regular bin, as a share of the rows with a regular value (tree, chimerge,
    /// optimal and its pre-bins).
    pub min_bin_size: f64,
    /// Optimal: least bad and good weight in each regular bin. `None` (the default, `null`
    /// in JSON, `auto` on the command line) scales with the data: the larger of
    /// [`AUTO_MIN_EVENTS`] and the square root of the feature's total bad (good) weight, so a
    /// bin's WoE never rests on one or two events on a small or low-default sample, while on
    /// large data the floor stays far below what `min_bin_size` already asks.
    pub min_bad: Option<f64>,
    pub min_good: Option<f64>,
    /// Optimal: the event-rate trend across bins.
    pub monotonic: Trend,
    /// Optimal: the number of CART pre-bins the exact search runs on.
    pub prebins: usize,
    /// Tree: least Gini improvement of a split, as a share of the root.
    pub min_gain: f64,
    /// ChiMerge: significance level below which adjacent bins are merged (`None`: only
    /// `max_bins` decides).
    pub chi_significance: Option<f64>,
    /// Categories with less than this share of the rows are pooled into one group, which
    /// also takes categories first seen at transform time.
    pub min_category_share: f64,
    /// Split points per feature for the `edges` method (and to override any method).
    pub edges: HashMap<String, Vec<f64>>,
    /// Settings of one feature in place of the ones above (method, max bins, trend,
    /// min bin size, min bad / good).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub per_feature: std::collections::BTreeMap<String, FeatureSettings>,
}

/// One feature's binning settings; those given replace the plan-wide ones.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bins: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_bin_size: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monotonic: Option<Trend>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_bad: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_good: Option<f64>,
}

impl FeatureSettings {
    /// Sets one setting from `key=value` text (`method`, `max_bins`, `min_bin_size`,
    /// `monotonic`, `min_bad`, `min_good`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| Error::param(key, format!("'{v}' is not a number")))
        };
        match key {
            "method" => self.method = Some(value.parse().map_err(|e| Error::param("method", e))?),
            "max_bins" => {
                self.max_bins = Some(
                    value
                        .parse()
                        .map_err(|_| Error::param("max_bins", format!("'{value}' is not a whole number")))?,
                )
            }
            "min_bin_size" => self.min_bin_size = Some(num(value)?),
            "monotonic" => self.monotonic = Some(value.parse().map_err(|e| Error::param("monotonic", e))?),
            "min_bad" => self.min_bad = Some(num(value)?),
            "min_good" => self.min_good = Some(num(value)?),
            other => {
                return Err(Error::param(
                    "per_feature",
                    format!("unknown setting '{other}' (method, max_bins, min_bin_size, monotonic, min_bad, min_good)"),
                ))
            }
        }
        Ok(())
    }
}

impl Default for BinningOptions {
    fn default() -> Self {
        BinningOptions {
            method: Method::Optimal,
            max_bins: 10,
            min_bin_size: 0.05,
            min_bad: None,
            min_good: None,
            monotonic: Trend::Auto,
            prebins: 20,
            min_gain: 0.0,
            chi_significance: Some(0.05),
            min_category_share: 0.01,
            edges: HashMap::new(),
            per_feature: Default::default(),
        }
    }
}

/// The least events an automatic `min_bad` / `min_good` asks of a bin.
pub const AUTO_MIN_EVENTS: f64 = 5.0;

/// The automatic least event weight of a bin for a feature whose regular values hold
/// `total` bad (or good) weight: `max(AUTO_MIN_EVENTS, sqrt(total))`.
pub fn auto_min_events(total: f64) -> f64 {
    total.max(0.0).sqrt().max(AUTO_MIN_EVENTS)
}

impl BinningOptions {
    /// The least bad and good weight of an optimal bin over `counts` (a feature's regular
    /// values), resolving automatic floors from their totals.
    pub(crate) fn event_floors(&self, counts: &[Counts]) -> (f64, f64) {
        let (bad, w) = counts.iter().fold((0.0, 0.0), |(b, w), c| (b + c.bad, w + c.w));
        (
            self.min_bad.unwrap_or_else(|| auto_min_events(bad)),
            self.min_good.unwrap_or_else(|| auto_min_events(w - bad)),
        )
    }

    /// Checks the options, naming the first one out of range.
    pub fn validate(&self) -> Result<()> {
        if self.max_bins < 1 {
            return Err(Error::param("max_bins", "must be at least 1"));
        }
        if !(0.0..0.5).contains(&self.min_bin_size) {
            return Err(Error::param(
                "min_bin_size",
                format!("must be a share in [0, 0.5), got {}", self.min_bin_size),
            ));
        }
        if self.prebins < 2 {
            return Err(Error::param("prebins", "must be at least 2"));
        }
        if let Some(s) = self.chi_significance {
            if !(s > 0.0 && s < 1.0) {
                return Err(Error::param("chi_significance", format!("must be in (0, 1), got {s}")));
            }
        }
        if !(0.0..1.0).contains(&self.min_category_share) {
            return Err(Error::param(
                "min_category_share",
                format!("must be in [0, 1), got {}", self.min_category_share),
            ));
        }
        for (param, v) in [
            ("min_bad", self.min_bad.unwrap_or(0.0)),
            ("min_good", self.min_good.unwrap_or(0.0)),
            ("min_gain", self.min_gain),
        ] {
            if !(v >= 0.0) {
                return Err(Error::param(param, format!("must be >= 0, got {v}")));
            }
        }
        for (name, edges) in &self.edges {
            if edges.iter().any(|e| !e.is_finite()) {
                return Err(Error::param(
                    "edges",
                    format!("the split points of '{name}' must be finite numbers"),
                ));
            }
        }
        if self.method == Method::Edges && self.edges.is_empty() {
            return Err(Error::param("edges", "method 'edges' needs split points per column"));
        }
        Ok(())
    }
}
