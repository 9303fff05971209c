//! Binary logistic regression: unpenalized, L2, L1 and elastic-net fits by (proximal)
//! Newton steps, statsmodels-style statistics, VIF and stepwise selection.
//!
//! The objective is scikit-learn's: minimize
//! `C * sum_i w_i loss_i + l1_ratio * |b|_1 + (1 - l1_ratio) / 2 * |b|^2`
//! over the coefficients `b` in the features' own units (the intercept is not penalized),
//! so a fit with the same `C` and `l1_ratio` is the same model. Without a penalty the
//! statistics (standard errors, z, p-values, intervals) are statsmodels' `Logit`'s.
//!
//! Features are standardized internally (mean 0, standard deviation 1) and every result
//! is reported in the original units. Each Newton step solves the exact Hessian (built
//! with blocked GEMM over row chunks, summed in a fixed order so that the fit does not
//! depend on the thread count); L1 steps minimize the penalized quadratic model by
//! coordinate descent (proximal Newton); every step is backtracked until the objective
//! falls. Large tables start from a fit on a row sample, so the full data sees only the
//! last two or three steps.

mod design;
mod params;
mod solver;
mod statistics;
mod stepwise;

use crate::dataset::feature_values;
use crate::with_threads;
use arrow::record_batch::RecordBatch;
use risklake_core::{Error, Result};
use risklake_features::plan::{Output, Transformer};

pub use design::{Design, DesignBuilder, Inputs};
pub use params::{Collinear, LrParams, Penalty};
use solver::optimize;
use statistics::{build_model, correlation, independent};
pub use stepwise::{stepwise, Criterion, Direction};

/// One coefficient of a fitted model, in the feature's own units.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Coefficient {
    /// `const` for the intercept.
    pub name: String,
    pub coef: f64,
    /// Statistics of an unpenalized fit (absent for penalized ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_err: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
    /// Variance inflation factor among the model's features (absent for the intercept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vif: Option<f64>,
}

/// A feature left out of the fit, and why.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Dropped {
    pub feature: String,
    pub reason: String,
}

/// How the fit went and how good it is.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FitSummary {
    pub rows: usize,
    /// Sum of weights (rows without weights): statsmodels' `nobs`.
    pub nobs: f64,
    pub iterations: usize,
    pub converged: bool,
    /// Largest |gradient| of the objective per unit of weight at the solution.
    pub grad_norm: f64,
    pub log_likelihood: f64,
    pub null_log_likelihood: f64,
    /// McFadden's pseudo R^2: 1 - LL / LL0.
    pub pseudo_r2: f64,
    pub aic: f64,
    pub bic: f64,
    /// Likelihood-ratio test against the intercept-only model.
    pub llr: f64,
    pub llr_p_value: f64,
    /// Rows of the warm-start sample (0: none).
    pub warm_start_rows: usize,
}

/// A step of stepwise selection.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Step {
    pub action: String,
    pub feature: String,
    /// The criterion after the step (AIC, BIC or the feature's p-value).
    pub value: f64,
}

pub const LR_FORMAT: &str = "risklake.lr";
pub const LR_VERSION: u32 = 1;

/// A fitted logistic regression.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LrModel {
    pub format: String,
    pub version: u32,
    pub params: LrParams,
    pub inputs: Inputs,
    pub label: String,
    /// The intercept first (`const`), then one per feature in the model.
    pub coefficients: Vec<Coefficient>,
    pub summary: FitSummary,
    #[serde(default)]
    pub dropped: Vec<Dropped>,
    #[serde(default)]
    pub stepwise: Vec<Step>,
    /// The WoE transformer of `inputs`' plan, built at the first prediction and kept
    /// (building it copies the plan). A model is not changed after it is fitted or read.
    #[serde(skip)]
    pub(crate) woe: crate::scorecard::TransformerCache,
}

/// Fits an LR on every usable column of `d` (constant columns and, with
/// `collinear=drop`, collinear ones are left out and reported).
pub fn fit(d: &Design, params: &LrParams, inputs: Inputs, label: &str) -> Result<LrModel> {
    params.validate()?;
    with_threads(params.num_threads, || {
        let (cols, dropped) = usable_columns(d, params)?;
        fit_columns(d, &cols, params, inputs, label, dropped, Vec::new())
    })
}

/// The columns to fit: constant ones dropped; collinear ones refused or dropped.
fn usable_columns(d: &Design, params: &LrParams) -> Result<(Vec<usize>, Vec<Dropped>)> {
    let mut dropped = Vec::new();
    let mut cols = Vec::new();
    for j in 0..d.width() {
        if d.scale[j] > 0.0 {
            cols.push(j);
        } else {
            dropped.push(Dropped {
                feature: d.names[j].clone(),
                reason: format!("constant ({})", d.mean[j]),
            });
        }
    }
    if cols.is_empty() {
        return Err(Error::invalid(format!(
            "every feature is constant ({}); there is nothing to fit",
            d.names.join(", ")
        )));
    }
    let corr = correlation(d, &cols);
    let (keep, dependent) = independent(&corr, cols.len());
    if !dependent.is_empty() {
        let names: Vec<&str> = dependent.iter().map(|&c| d.names[cols[c]].as_str()).collect();
        if params.collinear == Collinear::Refuse {
            return Err(Error::invalid(format!(
                "collinear features: {} {} a linear combination of the features before {} (VIF = inf); drop {}, or fit with collinear=drop (CLI: --param collinear=drop)",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" },
                if names.len() == 1 { "it" } else { "them" },
                if names.len() == 1 { "it" } else { "them" },
            )));
        }
        for n in names {
            dropped.push(Dropped {
                feature: n.to_string(),
                reason: "collinear (a linear combination of earlier features)".into(),
            });
        }
    }
    Ok((keep.into_iter().map(|c| cols[c]).collect(), dropped))
}

/// Fits on the columns `cols` of `d`.
fn fit_columns(
    d: &Design,
    cols: &[usize],
    params: &LrParams,
    inputs: Inputs,
    label: &str,
    dropped: Vec<Dropped>,
    stepwise: Vec<Step>,
) -> Result<LrModel> {
    let (sol, warm) = optimize(d, cols, params, None)?;
    let stats = params.penalty == Penalty::None;
    Ok(build_model(
        d, cols, params, &sol, warm, stats, inputs, label, dropped, stepwise,
    ))
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl LrModel {
    pub fn intercept(&self) -> f64 {
        self.coefficients[0].coef
    }

    /// The model's features (without the intercept).
    pub fn features(&self) -> impl Iterator<Item = &Coefficient> {
        self.coefficients.iter().skip(1)
    }

    /// The values the coefficients multiply, one vector per feature (WoE for a plan).
    pub fn feature_columns(&self, batch: &RecordBatch) -> Result<Vec<Vec<f64>>> {
        let batch = match &self.inputs {
            Inputs::Woe { plan } => {
                let t = self.woe.0.get_or_init(|| Transformer::new(plan, Output::Woe));
                t.check_schema(&batch.schema(), "the table")?;
                t.transform(batch)?
            }
            Inputs::Raw => batch.clone(),
        };
        self.features()
            .map(|c| {
                let v = feature_values(&batch, &c.name)?;
                if let Some(r) = v.iter().position(|x| !x.is_finite()) {
                    return Err(Error::invalid(format!(
                        "feature column '{}' is {} at row {}; the model needs a finite value",
                        c.name,
                        if v[r].is_nan() { "null or NaN" } else { "infinite" },
                        r + 1
                    )));
                }
                Ok(v)
            })
            .collect()
    }

    /// Log-odds of bad for each row.
    pub fn predict_raw(&self, batch: &RecordBatch) -> Result<Vec<f64>> {
        let cols = self.feature_columns(batch)?;
        let mut out = vec![self.intercept(); batch.num_rows()];
        for (c, col) in self.features().zip(&cols) {
            for (o, v) in out.iter_mut().zip(col) {
                *o += c.coef * v;
            }
        }
        Ok(out)
    }

    /// Warnings about coefficients on WoE values (`on_woe`: the model was fitted on a
    /// plan's WoE, or a scorecard is made from it): a negative coefficient makes riskier
    /// bins (positive WoE, `ln(bad share / good share)`) score as safer, so the feature
    /// works against its own binning (collinearity with other features, or a binning
    /// that does not hold).
    pub fn sign_warnings(&self, on_woe: bool) -> Vec<String> {
        if !on_woe {
            return Vec::new();
        }
        self.features()
            .filter(|c| c.coef < 0.0)
            .map(|c| {
                format!(
                    "the coefficient of '{}' is negative ({:.4}) on WoE values: its riskier bins get more points; \
                     check its binning and its correlation with the other features, or leave it out",
                    c.name, c.coef
                )
            })
            .collect()
    }

    /// Probability of bad for each row.
    pub fn predict(&self, batch: &RecordBatch) -> Result<Vec<f64>> {
        Ok(self.predict_raw(batch)?.into_iter().map(sigmoid).collect())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a model always serializes")
    }

    pub fn from_json(text: &str) -> Result<LrModel> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::invalid(format!("model file is not valid JSON: {e}")))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(LR_FORMAT) {
            return Err(Error::invalid(format!(
                "not a risklake LR model (expected format \"{LR_FORMAT}\")"
            )));
        }
        if v.get("version").and_then(|x| x.as_u64()) != Some(LR_VERSION as u64) {
            return Err(Error::invalid(format!(
                "LR model version {:?} is not supported (this risklake reads version {LR_VERSION})",
                v.get("version")
            )));
        }
        let m: LrModel =
            serde_json::from_value(v).map_err(|e| Error::invalid(format!("LR model file is malformed: {e}")))?;
        if m.coefficients.first().is_none_or(|c| c.name != "const") {
            return Err(Error::invalid(
                "LR model file is malformed: the intercept ('const') must come first",
            ));
        }
        if let Some(c) = m.coefficients.iter().find(|c| !c.coef.is_finite()) {
            return Err(Error::invalid(format!(
                "LR model file is malformed: coefficient of '{}' is not finite",
                c.name
            )));
        }
        if let Inputs::Woe { plan } = &m.inputs {
            plan.check()
                .map_err(|e| Error::invalid(format!("LR model file is malformed: its binning plan: {e}")))?;
        }
        Ok(m)
    }
}

impl LrModel {
    /// A statsmodels-style summary: the fit, then one line per coefficient.
    pub fn summary_text(&self) -> String {
        let s = &self.summary;
        let method = match self.params.penalty {
            Penalty::None => "Newton, no penalty".to_string(),
            Penalty::L2 => format!("Newton, L2 penalty, C = {}", self.params.c),
            Penalty::L1 => format!("proximal Newton, L1 penalty, C = {}", self.params.c),
            Penalty::ElasticNet => format!(
                "proximal Newton, elastic net, C = {}, l1_ratio = {}",
                self.params.c, self.params.l1_ratio
            ),
        };
        let mut out = format!(
            "Logistic regression of {} on {} feature(s) ({})\n\
             rows {}   nobs {}   {} in {} iterations   max |gradient| {:.2e}\n\
             log-likelihood {:.4}   null {:.4}   LLR {:.4} (p = {:.4e})   pseudo R2 {:.5}\n\
             AIC {:.4}   BIC {:.4}\n\n",
            self.label,
            self.coefficients.len() - 1,
            method,
            s.rows,
            s.nobs,
            if s.converged { "converged" } else { "NOT CONVERGED" },
            s.iterations,
            s.grad_norm,
            s.log_likelihood,
            s.null_log_likelihood,
            s.llr,
            s.llr_p_value,
            s.pseudo_r2,
            s.aic,
            s.bic
        );
        let width = self.coefficients.iter().map(|c| c.name.len()).max().unwrap_or(5).max(5);
        out.push_str(&format!(
            "{:<width$} {:>13} {:>11} {:>9} {:>10} {:>13} {:>13} {:>8}\n",
            "", "coef", "std err", "z", "P>|z|", "[0.025", "0.975]", "VIF"
        ));
        let opt = |v: Option<f64>, prec: usize| v.map_or("-".to_string(), |x| format!("{x:.prec$}"));
        for c in &self.coefficients {
            out.push_str(&format!(
                "{:<width$} {:>13.6} {:>11} {:>9} {:>10} {:>13} {:>13} {:>8}\n",
                c.name,
                c.coef,
                opt(c.std_err, 6),
                opt(c.z, 3),
                c.p_value.map_or("-".into(), |p| if p < 1e-4 {
                    format!("{p:.2e}")
                } else {
                    format!("{p:.4}")
                }),
                opt(c.ci_low, 6),
                opt(c.ci_high, 6),
                opt(c.vif, 2),
            ));
        }
        for d in &self.dropped {
            out.push_str(&format!("dropped {}: {}\n", d.feature, d.reason));
        }
        if !s.converged {
            out.push_str("\nThe fit did not converge: raise max_iter, or add a penalty.\n");
        }
        out
    }
}
