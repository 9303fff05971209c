//! The learner seam: which kind of model a workflow fits, named once, and how one trial's
//! parameters turn into a fitted tree model.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use risklake_core::{Error, Result};
use risklake_learn::forest::RfParams;
use risklake_learn::{Dataset, DatasetOptions, GbdtModel, GbdtParams, LrParams};

/// The kinds of model risklake fits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Gradient-boosted decision trees (LightGBM's algorithm and parameter names).
    #[default]
    Gbdt,
    /// A random forest (scikit-learn's parameter names).
    Rf,
    /// Logistic regression (scikit-learn's parameter names; statsmodels' statistics).
    Lr,
}

impl ModelKind {
    pub const ALL: [ModelKind; 3] = [ModelKind::Gbdt, ModelKind::Rf, ModelKind::Lr];

    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Gbdt => "gbdt",
            ModelKind::Rf => "rf",
            ModelKind::Lr => "lr",
        }
    }

    /// Checks that every `(name, value)` is a parameter of this kind of model or of its
    /// dataset, naming the first that is not.
    pub fn check_params(self, params: &[(String, String)]) -> Result<()> {
        match self {
            ModelKind::Lr => {
                let mut p = LrParams::default();
                for (k, v) in params {
                    p.set(k, v)?;
                }
            }
            ModelKind::Gbdt | ModelKind::Rf => {
                tree_params(self, params, 1)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::param("model", format!("unknown model kind '{s}' (expected gbdt, rf or lr)")))
    }
}

/// A tree model's parameters: dataset parameters are skipped (the dataset was binned
/// with them), the rest set in order, later pairs overriding earlier ones.
pub enum TreeParams {
    Gbdt(GbdtParams),
    Rf(RfParams),
}

/// The parameters of a `kind` tree model from `(name, value)` pairs, on `threads` threads.
pub fn tree_params(kind: ModelKind, pairs: &[(String, String)], threads: usize) -> Result<TreeParams> {
    let is_dataset = |k: &str, v: &str| DatasetOptions::default().set(k, v).unwrap_or(false);
    match kind {
        ModelKind::Gbdt => {
            let mut p = GbdtParams::default();
            p.num_threads = threads;
            for (k, v) in pairs {
                if !is_dataset(k, v) {
                    p.set(k, v)?;
                }
            }
            Ok(TreeParams::Gbdt(p))
        }
        ModelKind::Rf => {
            let mut p = RfParams::default();
            p.num_threads = threads;
            for (k, v) in pairs {
                if !is_dataset(k, v) {
                    p.set(k, v)?;
                }
            }
            Ok(TreeParams::Rf(p))
        }
        ModelKind::Lr => Err(Error::param("model", "lr is not a tree model")),
    }
}

/// Fits a tree model on `train`, validated on `valid` (GBDT early stopping, per-iteration
/// metrics); `on_iteration` sees each GBDT iteration and stops training by returning
/// false.
pub fn fit_trees(
    params: &TreeParams,
    train: &Dataset,
    valid: Option<&Dataset>,
    on_iteration: &mut (dyn FnMut(&risklake_learn::gbdt::IterationInfo) -> bool + Send),
) -> Result<GbdtModel> {
    match params {
        TreeParams::Gbdt(p) => risklake_learn::gbdt::train_until(train, valid, p, on_iteration),
        TreeParams::Rf(p) => risklake_learn::forest::train_forest(train, p, &|| {}),
    }
}
