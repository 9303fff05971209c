//! The parameters of a logistic regression (scikit-learn's names): penalty, C, l1_ratio,
//! collinearity handling, tolerances, with their defaults and `set(name, value)` parser.

use risklake_core::{Error, Result};

/// The penalty of a fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Penalty {
    /// Maximum likelihood (with statistics).
    #[default]
    None,
    L2,
    L1,
    ElasticNet,
}

/// What happens to a feature that is a linear combination of earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Collinear {
    /// Refuse the fit, naming the feature (the default: a silent drop hides a data bug).
    #[default]
    Refuse,
    /// Drop it (reported in the model's `dropped` list).
    Drop,
}

/// Fitting parameters.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LrParams {
    pub penalty: Penalty,
    /// Inverse penalty strength (scikit-learn's `C`).
    pub c: f64,
    /// Elastic-net mix: 1 is L1, 0 is L2.
    pub l1_ratio: f64,
    pub max_iter: usize,
    /// Converged when the largest coefficient step (standardized units) is below this.
    pub tol: f64,
    pub collinear: Collinear,
    /// Tables above twice this many rows start from a fit on this many sampled rows.
    pub warm_start_rows: usize,
    /// 0: all cores.
    pub num_threads: usize,
}

impl Default for LrParams {
    fn default() -> Self {
        LrParams {
            penalty: Penalty::None,
            c: 1.0,
            l1_ratio: 0.5,
            max_iter: 100,
            tol: 1e-8,
            collinear: Collinear::Refuse,
            warm_start_rows: 100_000,
            num_threads: 0,
        }
    }
}

impl LrParams {
    /// Sets one parameter from `key=value` text.
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
            "penalty" => {
                self.penalty = match value.to_ascii_lowercase().as_str() {
                    "none" => Penalty::None,
                    "l2" => Penalty::L2,
                    "l1" => Penalty::L1,
                    "elasticnet" | "elastic_net" => Penalty::ElasticNet,
                    v => {
                        return Err(Error::invalid(format!(
                            "parameter penalty: unknown '{v}' (none, l2, l1, elasticnet)"
                        )))
                    }
                }
            }
            "C" | "c" => self.c = num(value)?,
            "l1_ratio" => self.l1_ratio = num(value)?,
            "max_iter" => self.max_iter = int(value)?,
            "tol" => self.tol = num(value)?,
            "collinear" => {
                self.collinear = match value {
                    "refuse" => Collinear::Refuse,
                    "drop" => Collinear::Drop,
                    v => {
                        return Err(Error::invalid(format!(
                            "parameter collinear: unknown '{v}' (refuse, drop)"
                        )))
                    }
                }
            }
            "warm_start_rows" => self.warm_start_rows = int(value)?,
            "num_threads" => self.num_threads = int(value)?,
            _ => {
                return Err(Error::invalid(format!(
                    "unknown logistic-regression parameter '{key}' (penalty, C, l1_ratio, max_iter, tol, collinear, warm_start_rows, num_threads)"
                )))
            }
        }
        self.validate()
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.c > 0.0) || self.c.is_nan() {
            return Err(Error::invalid(format!("parameter C = {} must be positive", self.c)));
        }
        if !(0.0..=1.0).contains(&self.l1_ratio) {
            return Err(Error::invalid(format!(
                "parameter l1_ratio = {} must be in [0, 1]",
                self.l1_ratio
            )));
        }
        if self.max_iter == 0 {
            return Err(Error::invalid("parameter max_iter must be at least 1"));
        }
        if !(self.tol > 0.0) {
            return Err(Error::invalid(format!("parameter tol = {} must be positive", self.tol)));
        }
        Ok(())
    }

    /// (L1 share, L2 share) of the penalty, each already divided by C; zero without one.
    pub(super) fn strengths(&self) -> (f64, f64) {
        let ratio = match self.penalty {
            Penalty::None => return (0.0, 0.0),
            Penalty::L2 => 0.0,
            Penalty::L1 => 1.0,
            Penalty::ElasticNet => self.l1_ratio,
        };
        (ratio / self.c, (1.0 - ratio) / self.c)
    }
}
