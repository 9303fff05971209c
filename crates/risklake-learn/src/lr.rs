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

use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use risklake_core::columns::missing_column;
use risklake_core::{Error, Result};
use risklake_features::plan::{BinningPlan, Output, Transformer};

use crate::dataset::{category_values, feature_values, read_numbers};
use crate::linalg::{chi2_sf, normal_two_sided, Cholesky, Z_975};
use crate::with_threads;

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
    fn strengths(&self) -> (f64, f64) {
        let ratio = match self.penalty {
            Penalty::None => return (0.0, 0.0),
            Penalty::L2 => 0.0,
            Penalty::L1 => 1.0,
            Penalty::ElasticNet => self.l1_ratio,
        };
        (ratio / self.c, (1.0 - ratio) / self.c)
    }
}

/// Training data: standardized feature values, row-major, with labels and weights.
#[derive(Debug, Clone)]
pub struct Design {
    pub names: Vec<String>,
    /// `(x - mean) / scale`, row-major (`rows x names.len()`), in chunks of rows as they
    /// were read (no copy into one block: the table is never held twice).
    pub chunks: Vec<Vec<f64>>,
    /// The first row of each chunk, and the number of rows at the end.
    pub starts: Vec<usize>,
    pub mean: Vec<f64>,
    /// Population standard deviation (0 for a constant column, whose `z` is 0).
    pub scale: Vec<f64>,
    pub label: Vec<f64>,
    pub weight: Option<Vec<f64>>,
    /// The correlation matrix of all columns, computed on first use.
    correlations: std::sync::OnceLock<Vec<f64>>,
}

impl Design {
    pub fn rows(&self) -> usize {
        self.label.len()
    }

    pub fn width(&self) -> usize {
        self.names.len()
    }

    fn w(&self, r: usize) -> f64 {
        self.weight.as_ref().map_or(1.0, |w| w[r])
    }

    /// The sum of weights (the number of rows without weights).
    pub fn total_weight(&self) -> f64 {
        match &self.weight {
            Some(w) => w.iter().sum(),
            None => self.rows() as f64,
        }
    }

    /// Row `r`'s standardized values.
    pub fn row(&self, r: usize) -> &[f64] {
        let c = self.starts.partition_point(|&s| s <= r) - 1;
        let p = self.width();
        let i = r - self.starts[c];
        &self.chunks[c][i * p..(i + 1) * p]
    }

    /// Work units of at most `UNIT` rows, (chunk, first row, end row) in chunk-local rows:
    /// fixed by the data's layout, so sums over them in order do not depend on threads.
    fn units(&self) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        for c in 0..self.chunks.len() {
            let rows = self.starts[c + 1] - self.starts[c];
            let mut lo = 0;
            while lo < rows {
                let hi = (lo + UNIT).min(rows);
                out.push((c, lo, hi));
                lo = hi;
            }
        }
        out
    }

    /// A copy of `count` rows spread evenly over the table.
    fn sample(&self, count: usize) -> Design {
        let n = self.rows();
        let pick: Vec<usize> = (0..count).map(|i| i * n / count).collect();
        Design {
            names: self.names.clone(),
            chunks: vec![pick.iter().flat_map(|&r| self.row(r).iter().copied()).collect()],
            starts: vec![0, count],
            mean: self.mean.clone(),
            scale: self.scale.clone(),
            label: pick.iter().map(|&r| self.label[r]).collect(),
            weight: self.weight.as_ref().map(|w| pick.iter().map(|&r| w[r]).collect()),
            correlations: Default::default(),
        }
    }
}

/// Where the features of an LR come from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Inputs {
    /// Numeric columns as they are.
    Raw,
    /// The WoE values of a binning plan's bins (the plan is kept in the model, so it
    /// scores raw tables).
    Woe { plan: Box<BinningPlan> },
}

/// Streams batches into a [`Design`].
pub struct DesignBuilder {
    label: String,
    weight: Option<String>,
    bad_value: Option<String>,
    features: Vec<String>,
    exclude: Vec<String>,
    transformer: Option<Transformer>,
    names: Vec<String>,
    chunks: Vec<Vec<f64>>,
    labels: Vec<f64>,
    weights: Option<Vec<f64>>,
}

impl DesignBuilder {
    /// `features` empty: every numeric column but the label, the weight and `exclude`
    /// (with a plan: every planned feature).
    pub fn new(
        label: &str,
        weight: Option<&str>,
        bad_value: Option<&str>,
        features: &[String],
        exclude: &[String],
        plan: Option<&BinningPlan>,
    ) -> Result<DesignBuilder> {
        let transformer = match plan {
            Some(p) => {
                let mut plan = p.clone();
                plan.features
                    .retain(|f| (features.is_empty() || features.contains(&f.name)) && !exclude.contains(&f.name));
                if let Some(f) = features.iter().find(|n| p.feature(n).is_none()) {
                    return Err(Error::invalid(format!("feature '{f}' is not in the binning plan")));
                }
                if plan.features.is_empty() {
                    return Err(Error::invalid("the binning plan has none of the requested features"));
                }
                Some(Transformer::new(&plan, Output::Woe))
            }
            None => None,
        };
        Ok(DesignBuilder {
            label: label.to_string(),
            weight: weight.map(str::to_string),
            bad_value: bad_value.map(str::to_string),
            features: features.to_vec(),
            exclude: exclude.to_vec(),
            transformer,
            names: Vec::new(),
            chunks: Vec::new(),
            labels: Vec::new(),
            weights: weight.map(|_| Vec::new()),
        })
    }

    pub fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let start = self.labels.len();
        let schema = batch.schema();
        if schema.index_of(&self.label).is_err() {
            return Err(missing_column(&schema, &self.label, "label column"));
        }
        let labels = match &self.bad_value {
            None => {
                let v = read_numbers(&batch, &self.label, "label", start)?;
                if let Some(i) = v.iter().position(|&y| y != 0.0 && y != 1.0) {
                    return Err(Error::invalid(format!(
                        "logistic regression needs labels 0 or 1; label column '{}' is {} at row {} (give --bad-value for other labels)",
                        self.label,
                        v[i],
                        start + i + 1
                    )));
                }
                v
            }
            Some(bad) => {
                let v = category_values(&batch, &self.label)?;
                if let Some(r) = v.iter().position(|x| x.is_none()) {
                    return Err(Error::invalid(format!(
                        "label column '{}' is null at row {}",
                        self.label,
                        start + r + 1
                    )));
                }
                v.iter()
                    .map(|x| (x.as_deref() == Some(bad.as_str())) as u8 as f64)
                    .collect()
            }
        };
        let weights = match &self.weight {
            Some(w) => {
                let v = read_numbers(&batch, w, "weight", start)?;
                if let Some(i) = v.iter().position(|&x| x < 0.0) {
                    return Err(Error::invalid(format!(
                        "weight column '{w}' is negative at row {}",
                        start + i + 1
                    )));
                }
                Some(v)
            }
            None => None,
        };
        let batch = match &self.transformer {
            Some(t) => {
                t.check_schema(&schema, "the table")?;
                t.transform(&batch)?
            }
            None => batch,
        };
        if self.names.is_empty() {
            self.names = self.feature_names(&batch)?;
        }
        let columns: Vec<Vec<f64>> = self
            .names
            .par_iter()
            .map(|name| {
                // A text column would cast to nulls and fail as "null at row 1": say what it is.
                if let Ok(f) = batch.schema().field_with_name(name) {
                    if !f.data_type().is_numeric() && f.data_type() != &arrow::datatypes::DataType::Boolean {
                        return Err(Error::invalid(format!(
                            "feature column '{name}' is {} (text or another non-numeric type): logistic regression \
                             needs numbers; bin it with a plan (--plan) to use each category's WoE, or leave it out \
                             (--exclude {name})",
                            f.data_type()
                        )));
                    }
                }
                let v = feature_values(&batch, name).map_err(|e| match batch.schema().index_of(name) {
                    Ok(_) => Error::invalid(format!(
                        "feature column '{name}' is not numeric ({e}); bin it with a plan (--plan) to use its WoE"
                    )),
                    Err(_) => e,
                })?;
                if let Some(r) = v.iter().position(|x| !x.is_finite()) {
                    return Err(Error::invalid(format!(
                        "feature column '{name}' is {} at row {}: logistic regression needs a finite value in every row (bin the feature with a plan, --plan, to give missing values a WoE, or fill them)",
                        if v[r].is_nan() { "null or NaN" } else { "infinite" },
                        start + r + 1
                    )));
                }
                Ok(v)
            })
            .collect::<Result<_>>()?;
        // Row-major, appended without zero-filling first (fresh pages are zeroed by the
        // kernel anyway; a resize would write every value twice).
        let n = batch.num_rows();
        let p = self.names.len();
        let mut chunk = Vec::with_capacity(n * p);
        chunk.extend((0..n).flat_map(|i| columns.iter().map(move |c| c[i])));
        self.chunks.push(chunk);
        self.labels.extend(labels);
        if let (Some(ws), Some(w)) = (self.weights.as_mut(), weights) {
            ws.extend(w);
        }
        Ok(())
    }

    fn feature_names(&self, batch: &RecordBatch) -> Result<Vec<String>> {
        if let Some(t) = &self.transformer {
            return Ok(t.plan().features.iter().map(|f| f.name.clone()).collect());
        }
        let schema = batch.schema();
        if !self.features.is_empty() {
            for n in &self.features {
                if schema.index_of(n).is_err() {
                    return Err(missing_column(&schema, n, "feature column"));
                }
            }
            return Ok(self.features.clone());
        }
        let names: Vec<String> = schema
            .fields()
            .iter()
            .filter(|f| f.data_type().is_numeric())
            .map(|f| f.name().clone())
            .filter(|n| *n != self.label && Some(n) != self.weight.as_ref() && !self.exclude.contains(n))
            .collect();
        if names.is_empty() {
            return Err(Error::invalid("no numeric feature columns to fit on"));
        }
        Ok(names)
    }

    /// The inputs this builder reads (for the model).
    pub fn inputs(&self) -> Inputs {
        match &self.transformer {
            Some(t) => Inputs::Woe {
                plan: Box::new(t.plan().clone()),
            },
            None => Inputs::Raw,
        }
    }

    pub fn finish(self) -> Result<Design> {
        let n = self.labels.len();
        if n == 0 {
            return Err(Error::invalid("the table is empty: there is nothing to fit"));
        }
        let p = self.names.len();
        let mut chunks = self.chunks;
        // Means, then variances about them (two passes: no cancellation), chunks summed in
        // order.
        let col_sums = |chunks: &[Vec<f64>], f: &(dyn Fn(usize, f64) -> f64 + Sync)| -> Vec<f64> {
            let parts: Vec<Vec<f64>> = chunks
                .par_iter()
                .map(|chunk| {
                    let mut s = vec![0.0; p];
                    for row in chunk.chunks(p) {
                        for (j, &v) in row.iter().enumerate() {
                            s[j] += f(j, v);
                        }
                    }
                    s
                })
                .collect();
            let mut s = vec![0.0; p];
            for part in parts {
                for j in 0..p {
                    s[j] += part[j];
                }
            }
            s
        };
        let mean: Vec<f64> = col_sums(&chunks, &|_, v| v).into_iter().map(|s| s / n as f64).collect();
        let scale: Vec<f64> = col_sums(&chunks, &|j, v| (v - mean[j]) * (v - mean[j]))
            .into_iter()
            .map(|s| (s / n as f64).sqrt())
            .collect();
        // A column whose spread is nothing next to its size is constant.
        let scale: Vec<f64> = scale
            .iter()
            .zip(&mean)
            .map(|(&s, &m)| if s <= 1e-12 * m.abs().max(1e-300) { 0.0 } else { s })
            .collect();
        chunks.par_iter_mut().for_each(|chunk| {
            for row in chunk.chunks_mut(p) {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = if scale[j] > 0.0 { (*v - mean[j]) / scale[j] } else { 0.0 };
                }
            }
        });
        let mut starts = vec![0];
        for c in &chunks {
            starts.push(starts.last().unwrap() + c.len() / p.max(1));
        }
        if self.labels.iter().all(|&y| y == self.labels[0]) {
            return Err(Error::invalid(
                "the labels are all one class; logistic regression needs both goods and bads",
            ));
        }
        Ok(Design {
            names: self.names,
            chunks,
            starts,
            mean,
            scale,
            label: self.labels,
            weight: self.weights,
            correlations: Default::default(),
        })
    }
}

/// Rows per block of the GEMM kernels.
const BLOCK: usize = 128;
/// Most rows of a work unit (see [`Design::units`]).
const UNIT: usize = 16_384;

/// The weighted negative log-likelihood, its gradient and (optionally) Hessian at `beta`
/// (intercept first, then `cols`), in standardized coordinates.
struct Eval {
    nll: f64,
    grad: Vec<f64>,
    hess: Vec<f64>,
    /// Largest `|y - p|` over the rows with weight (0 means every row is fitted exactly).
    max_resid: f64,
}

fn log1pexp(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

fn evaluate(d: &Design, cols: &[usize], beta: &[f64], with_hess: bool) -> Eval {
    let p = d.width();
    let k = cols.len() + 1;
    let parts: Vec<Eval> = d
        .units()
        .into_par_iter()
        .map(|(chunk, lo, hi)| {
            let (z, base) = (&d.chunks[chunk], d.starts[chunk]);
            let mut e = Eval {
                nll: 0.0,
                grad: vec![0.0; k],
                hess: if with_hess { vec![0.0; k * k] } else { Vec::new() },
                max_resid: 0.0,
            };
            let mut block = vec![0.0; BLOCK * k];
            let mut start = lo;
            while start < hi {
                let end = (start + BLOCK).min(hi);
                let m = end - start;
                for (i, local) in (start..end).enumerate() {
                    let row = &z[local * p..(local + 1) * p];
                    let r = base + local;
                    let dst = &mut block[i * k..(i + 1) * k];
                    dst[0] = 1.0;
                    for (c, &j) in cols.iter().enumerate() {
                        dst[c + 1] = row[j];
                    }
                    let eta: f64 = dst.iter().zip(beta).map(|(a, b)| a * b).sum();
                    let y = d.label[r];
                    let w = d.w(r);
                    let prob = 1.0 / (1.0 + (-eta).exp());
                    e.nll += w * (log1pexp(eta) - y * eta);
                    let resid = w * (prob - y);
                    if w > 0.0 {
                        e.max_resid = e.max_resid.max((prob - y).abs());
                    }
                    for (gj, &a) in e.grad.iter_mut().zip(dst.iter()) {
                        *gj += resid * a;
                    }
                    if with_hess {
                        let s = (w * prob * (1.0 - prob)).sqrt();
                        dst.iter_mut().for_each(|a| *a *= s);
                    }
                }
                if with_hess {
                    // H += B^T B for the block B (m x k, row-major, rows scaled by sqrt(v)).
                    unsafe {
                        matrixmultiply::dgemm(
                            k,
                            m,
                            k,
                            1.0,
                            block.as_ptr(),
                            1,
                            k as isize,
                            block.as_ptr(),
                            k as isize,
                            1,
                            1.0,
                            e.hess.as_mut_ptr(),
                            k as isize,
                            1,
                        );
                    }
                }
                start = end;
            }
            e
        })
        .collect();
    let mut total = Eval {
        nll: 0.0,
        grad: vec![0.0; k],
        hess: if with_hess { vec![0.0; k * k] } else { Vec::new() },
        max_resid: 0.0,
    };
    for part in parts {
        total.nll += part.nll;
        total.max_resid = total.max_resid.max(part.max_resid);
        for (a, b) in total.grad.iter_mut().zip(&part.grad) {
            *a += b;
        }
        for (a, b) in total.hess.iter_mut().zip(&part.hess) {
            *a += b;
        }
    }
    total
}

/// Per-coefficient penalty weights in standardized coordinates (intercept first: 0).
struct Pen {
    l1: Vec<f64>,
    l2: Vec<f64>,
}

impl Pen {
    /// `scale` multiplies both (a fit on a row sample takes its share of the penalty).
    fn new(d: &Design, cols: &[usize], params: &LrParams, scale: f64) -> Pen {
        let (a1, a2) = params.strengths();
        // b_orig = b_std / s, so |b_orig| = |b_std| / s and b_orig^2 = b_std^2 / s^2.
        let mut l1 = vec![0.0];
        let mut l2 = vec![0.0];
        for &j in cols {
            let s = d.scale[j];
            l1.push(scale * a1 / s);
            l2.push(scale * a2 / (s * s));
        }
        Pen { l1, l2 }
    }

    fn value(&self, beta: &[f64]) -> f64 {
        beta.iter()
            .enumerate()
            .map(|(j, b)| self.l1[j] * b.abs() + 0.5 * self.l2[j] * b * b)
            .sum()
    }

    fn has_l1(&self) -> bool {
        self.l1.iter().any(|&v| v > 0.0)
    }
}

/// A finished optimization.
struct Solution {
    beta: Vec<f64>,
    eval: Eval,
    iterations: usize,
    converged: bool,
    /// Largest |gradient| of the penalized objective (a minimum-norm subgradient with L1),
    /// per unit of weight.
    grad_norm: f64,
}

/// Minimizes the penalized coefficient on the quadratic model `g.d + d'Hd/2 + l1|beta+d|`
/// by cyclic coordinate descent.
fn l1_step(h: &[f64], g: &[f64], beta: &[f64], l1: &[f64]) -> Vec<f64> {
    let k = g.len();
    let mut d = vec![0.0; k];
    let mut hd = vec![0.0; k];
    for _sweep in 0..10_000 {
        let mut change: f64 = 0.0;
        for j in 0..k {
            let a = h[j * k + j];
            if a <= 0.0 {
                continue;
            }
            let b = g[j] + hd[j] - a * d[j];
            let z = a * beta[j] - b;
            let u = if l1[j] > 0.0 {
                z.signum() * (z.abs() - l1[j]).max(0.0) / a
            } else {
                z / a
            };
            let nd = u - beta[j];
            let delta = nd - d[j];
            if delta != 0.0 {
                for i in 0..k {
                    hd[i] += h[i * k + j] * delta;
                }
                d[j] = nd;
                change = change.max(delta.abs());
            }
        }
        if change < 1e-13 {
            break;
        }
    }
    d
}

/// The penalized objective's steepest-descent (minimum-norm) subgradient, largest entry.
fn subgradient_norm(grad: &[f64], beta: &[f64], pen: &Pen) -> f64 {
    grad.iter()
        .enumerate()
        .map(|(j, &g)| {
            let g = g + pen.l2[j] * beta[j];
            let l1 = pen.l1[j];
            if beta[j] != 0.0 {
                (g + l1 * beta[j].signum()).abs()
            } else {
                (g.abs() - l1).max(0.0)
            }
        })
        .fold(0.0, f64::max)
}

/// Newton (proximal Newton with L1) from `beta`.
fn solve(d: &Design, cols: &[usize], mut beta: Vec<f64>, pen: &Pen, params: &LrParams) -> Result<Solution> {
    let k = cols.len() + 1;
    let mut e = evaluate(d, cols, &beta, true);
    let mut objective = e.nll + pen.value(&beta);
    let mut converged = false;
    let mut iterations = 0;
    let penalized = pen.l2.iter().chain(&pen.l1).any(|&v| v > 0.0);
    while iterations < params.max_iter {
        iterations += 1;
        if !penalized && e.max_resid < 1e-9 {
            return Err(separation(d, cols, &beta, true));
        }
        let mut h = e.hess.clone();
        let mut g = e.grad.clone();
        for j in 0..k {
            h[j * k + j] += pen.l2[j];
            g[j] += pen.l2[j] * beta[j];
        }
        let step = if pen.has_l1() {
            l1_step(&h, &g, &beta, &pen.l1)
        } else {
            let chol = Cholesky::new(&h, k).ok_or_else(|| singular(d, cols, &beta))?;
            chol.solve(&g).into_iter().map(|v| -v).collect()
        };
        // Converged when the next step is below the tolerance. It is taken (Newton's
        // error is then about its square) without another pass over the data: the
        // Hessian and likelihood kept differ from those at the new point by the order of
        // the step, far below what the statistics report.
        if step.iter().map(|s| s.abs()).fold(0.0, f64::max) < params.tol {
            if !pen.has_l1() {
                beta.iter_mut().zip(&step).for_each(|(b, s)| *b += s);
            }
            converged = true;
            break;
        }
        // Expected decrease of the model (negative), for the sufficient-decrease test.
        let l1_now: f64 = (0..k).map(|j| pen.l1[j] * beta[j].abs()).sum();
        let l1_next: f64 = (0..k).map(|j| pen.l1[j] * (beta[j] + step[j]).abs()).sum();
        let decrease = g.iter().zip(&step).map(|(a, b)| a * b).sum::<f64>() + l1_next - l1_now;
        let mut t = 1.0;
        let (next, next_e, next_obj) = loop {
            let cand: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b + t * s).collect();
            let ce = evaluate(d, cols, &cand, true);
            let obj = ce.nll + pen.value(&cand);
            if obj <= objective + 1e-4 * t * decrease.min(0.0) || t < 1e-10 {
                break (cand, ce, obj);
            }
            t *= 0.5;
        };
        let moved = step.iter().map(|s| (t * s).abs()).fold(0.0, f64::max);
        let stalled = next_obj >= objective && t < 1e-10;
        if !stalled {
            beta = next;
            e = next_e;
            objective = next_obj;
        }
        if moved < params.tol || stalled {
            converged = moved < params.tol || decrease.abs() <= 1e-12 * objective.abs().max(1.0);
            break;
        }
    }
    if !penalized && !converged && beta.iter().skip(1).any(|b| b.abs() > 20.0) {
        return Err(separation(d, cols, &beta, false));
    }
    let grad_norm = subgradient_norm(&e.grad, &beta, pen) / d.total_weight();
    Ok(Solution {
        beta,
        eval: e,
        iterations,
        converged,
        grad_norm,
    })
}

fn separation(d: &Design, cols: &[usize], beta: &[f64], perfect: bool) -> Error {
    // The feature whose coefficient ran furthest names the problem.
    let worst = (0..cols.len()).max_by(|&a, &b| beta[a + 1].abs().total_cmp(&beta[b + 1].abs()));
    let name = worst.map_or("the intercept".to_string(), |c| format!("'{}'", d.names[cols[c]]));
    Error::invalid(format!(
        "{} separation: the classes are {} split by the features (largest coefficient on {name}), so the maximum-likelihood coefficients are infinite; add a penalty (--param penalty=l2) or drop the feature",
        if perfect { "perfect" } else { "quasi-complete" },
        if perfect { "exactly" } else { "almost exactly" },
    ))
}

fn singular(d: &Design, cols: &[usize], _beta: &[f64]) -> Error {
    Error::invalid(format!(
        "the information matrix is singular: the features ({}) are collinear or some have almost no variance where both classes occur; drop one, or fit with --param penalty=l2",
        cols.iter().map(|&j| d.names[j].as_str()).collect::<Vec<_>>().join(", ")
    ))
}

/// The correlation matrix of the standardized columns `cols` (unweighted), from the
/// matrix of all columns (one pass over the data, the first time).
fn correlation(d: &Design, cols: &[usize]) -> Vec<f64> {
    let p = d.width();
    let all = d.correlations.get_or_init(|| {
        let every: Vec<usize> = (0..p).collect();
        correlation_pass(d, &every)
    });
    let k = cols.len();
    let mut out = vec![0.0; k * k];
    for (a, &i) in cols.iter().enumerate() {
        for (b, &j) in cols.iter().enumerate() {
            out[a * k + b] = all[i * p + j];
        }
    }
    out
}

fn correlation_pass(d: &Design, cols: &[usize]) -> Vec<f64> {
    let n = d.rows();
    let p = d.width();
    let k = cols.len();
    let parts: Vec<Vec<f64>> = d
        .units()
        .into_par_iter()
        .map(|(chunk, lo, hi)| {
            let z = &d.chunks[chunk];
            let mut c = vec![0.0; k * k];
            let mut block = vec![0.0; BLOCK * k];
            let mut start = lo;
            while start < hi {
                let end = (start + BLOCK).min(hi);
                for (i, r) in (start..end).enumerate() {
                    for (c, &j) in cols.iter().enumerate() {
                        block[i * k + c] = z[r * p + j];
                    }
                }
                unsafe {
                    matrixmultiply::dgemm(
                        k,
                        end - start,
                        k,
                        1.0,
                        block.as_ptr(),
                        1,
                        k as isize,
                        block.as_ptr(),
                        k as isize,
                        1,
                        1.0,
                        c.as_mut_ptr(),
                        k as isize,
                        1,
                    );
                }
                start = end;
            }
            c
        })
        .collect();
    let mut c = vec![0.0; k * k];
    for part in parts {
        for (a, b) in c.iter_mut().zip(&part) {
            *a += b;
        }
    }
    c.iter_mut().for_each(|v| *v /= n as f64);
    c
}

/// Splits `cols` into those independent of the earlier ones and those (with their
/// residual share of variance) that are linear combinations of earlier columns: a
/// Cholesky factorization of the correlation matrix in column order.
fn independent(corr: &[f64], k: usize) -> (Vec<usize>, Vec<usize>) {
    let mut keep: Vec<usize> = Vec::new();
    let mut dependent = Vec::new();
    // Rows of L for the kept columns, over the kept columns.
    let mut l: Vec<Vec<f64>> = Vec::new();
    for j in 0..k {
        let mut row = Vec::with_capacity(keep.len());
        for (a, &i) in keep.iter().enumerate() {
            let mut s = corr[j * k + i];
            for b in 0..a {
                s -= row[b] * l[a][b];
            }
            row.push(s / l[a][a]);
        }
        let pivot = corr[j * k + j] - row.iter().map(|v| v * v).sum::<f64>();
        // 1 - R^2 of column j on the kept ones: VIF above 1e10 is collinear.
        if pivot < 1e-10 {
            dependent.push(j);
        } else {
            row.push(pivot.sqrt());
            l.push(row);
            keep.push(j);
        }
    }
    (keep, dependent)
}

/// The variance inflation factor of each of `k` columns from their correlation matrix.
fn vif(corr: &[f64], k: usize) -> Vec<f64> {
    if k == 1 {
        return vec![1.0];
    }
    match Cholesky::new(corr, k) {
        Some(c) => {
            let inv = c.inverse();
            (0..k).map(|j| inv[j * k + j]).collect()
        }
        None => vec![f64::INFINITY; k],
    }
}

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

/// Solves from the null model (from a row sample first on large data) or from `start`.
fn optimize(d: &Design, cols: &[usize], params: &LrParams, start: Option<Vec<f64>>) -> Result<(Solution, usize)> {
    let n = d.rows();
    let pen = Pen::new(d, cols, params, 1.0);
    let mut warm = 0;
    let beta = match start {
        Some(b) => b,
        None => {
            let mut b = vec![0.0; cols.len() + 1];
            b[0] = null_intercept(d);
            if params.warm_start_rows > 0 && n > 2 * params.warm_start_rows {
                warm = params.warm_start_rows;
                let s = d.sample(warm);
                let share = s.total_weight() / d.total_weight();
                let mut loose = params.clone();
                loose.tol = 1e-4;
                // A sample fit that fails (a sample can separate) just does not help.
                if let Ok(sol) = solve(&s, cols, b.clone(), &Pen::new(d, cols, params, share), &loose) {
                    b = if pen.has_l1() {
                        sol.beta
                    } else {
                        frozen_newton(d, cols, sol.beta, &pen, &sol.eval.hess, share)
                    };
                }
            }
            b
        }
    };
    Ok((solve(d, cols, beta, &pen, params)?, warm))
}

/// Newton steps on the whole table with the sample's Hessian (scaled to the table):
/// each costs one gradient pass instead of a Hessian, and they contract the error by about
/// the sample's relative precision per step. Stops when the step is tiny or the objective
/// stops falling; the exact Newton steps that follow finish the job and give the Hessian
/// for the statistics.
fn frozen_newton(d: &Design, cols: &[usize], beta: Vec<f64>, pen: &Pen, h_sample: &[f64], share: f64) -> Vec<f64> {
    let k = cols.len() + 1;
    let mut h: Vec<f64> = h_sample.iter().map(|v| v / share).collect();
    for j in 0..k {
        h[j * k + j] += pen.l2[j];
    }
    let Some(chol) = Cholesky::new(&h, k) else { return beta };
    let (mut best, mut best_obj) = (beta.clone(), f64::INFINITY);
    let mut beta = beta;
    for _ in 0..30 {
        let e = evaluate(d, cols, &beta, false);
        let obj = e.nll + pen.value(&beta);
        if !(obj < best_obj) {
            break;
        }
        best.clone_from(&beta);
        best_obj = obj;
        let g: Vec<f64> = (0..k).map(|j| e.grad[j] + pen.l2[j] * beta[j]).collect();
        let step = chol.solve(&g);
        let moved = step.iter().map(|s| s.abs()).fold(0.0, f64::max);
        beta.iter_mut().zip(&step).for_each(|(b, s)| *b -= s);
        if moved < 1e-10 {
            break;
        }
    }
    best
}

/// The log-odds of the weighted bad rate.
fn null_intercept(d: &Design) -> f64 {
    let bad: f64 = (0..d.rows()).map(|r| d.w(r) * d.label[r]).sum();
    let total = d.total_weight();
    (bad / (total - bad)).ln()
}

#[allow(clippy::too_many_arguments)]
fn build_model(
    d: &Design,
    cols: &[usize],
    params: &LrParams,
    sol: &Solution,
    warm: usize,
    stats: bool,
    inputs: Inputs,
    label: &str,
    dropped: Vec<Dropped>,
    stepwise: Vec<Step>,
) -> LrModel {
    let k = cols.len() + 1;
    // b = A b' with b_j = b'_j / s_j and b_0 = b'_0 - sum b'_j m_j / s_j.
    let mut a = vec![0.0; k * k];
    a[0] = 1.0;
    for (c, &j) in cols.iter().enumerate() {
        a[c + 1] = -d.mean[j] / d.scale[j];
        a[(c + 1) * k + c + 1] = 1.0 / d.scale[j];
    }
    let coef: Vec<f64> = (0..k)
        .map(|i| (0..k).map(|j| a[i * k + j] * sol.beta[j]).sum())
        .collect();
    let cov = if stats {
        Cholesky::new(&sol.eval.hess, k).map(|c| {
            let inv = c.inverse();
            // A inv A^T
            let mut t = vec![0.0; k * k];
            for i in 0..k {
                for j in 0..k {
                    t[i * k + j] = (0..k).map(|m| a[i * k + m] * inv[m * k + j]).sum();
                }
            }
            let mut out = vec![0.0; k * k];
            for i in 0..k {
                for j in 0..k {
                    out[i * k + j] = (0..k).map(|m| t[i * k + m] * a[j * k + m]).sum();
                }
            }
            out
        })
    } else {
        None
    };
    let corr = correlation(d, cols);
    let vifs = vif(&corr, cols.len());
    let coefficients = (0..k)
        .map(|i| {
            let se = cov.as_ref().map(|c| c[i * k + i].sqrt());
            let z = se.map(|s| coef[i] / s);
            Coefficient {
                name: if i == 0 {
                    "const".into()
                } else {
                    d.names[cols[i - 1]].clone()
                },
                coef: coef[i],
                std_err: se,
                z,
                p_value: z.map(normal_two_sided),
                ci_low: se.map(|s| coef[i] - Z_975 * s),
                ci_high: se.map(|s| coef[i] + Z_975 * s),
                vif: (i > 0).then(|| vifs[i - 1]),
            }
        })
        .collect();
    let ll = -sol.eval.nll;
    let nobs = d.total_weight();
    let bad: f64 = (0..d.rows()).map(|r| d.w(r) * d.label[r]).sum();
    let rate = bad / nobs;
    let ll0 = bad * rate.ln() + (nobs - bad) * (1.0 - rate).ln();
    let llr = 2.0 * (ll - ll0);
    LrModel {
        format: LR_FORMAT.into(),
        version: LR_VERSION,
        params: params.clone(),
        inputs,
        label: label.to_string(),
        coefficients,
        summary: FitSummary {
            rows: d.rows(),
            nobs,
            iterations: sol.iterations,
            converged: sol.converged,
            grad_norm: sol.grad_norm,
            log_likelihood: ll,
            null_log_likelihood: ll0,
            pseudo_r2: 1.0 - ll / ll0,
            aic: -2.0 * ll + 2.0 * k as f64,
            bic: -2.0 * ll + k as f64 * nobs.ln(),
            llr,
            llr_p_value: chi2_sf(llr, (k - 1) as f64),
            warm_start_rows: warm,
        },
        dropped,
        stepwise,
    }
}

/// Stepwise selection's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
    Both,
}

/// What stepwise selection compares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Criterion {
    Aic,
    Bic,
    /// Enter below the first p-value, leave above the second.
    PValue {
        enter: f64,
        remove: f64,
    },
}

impl std::str::FromStr for Direction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "forward" => Ok(Direction::Forward),
            "backward" => Ok(Direction::Backward),
            "both" => Ok(Direction::Both),
            o => Err(Error::invalid(format!(
                "unknown stepwise direction '{o}' (forward, backward, both)"
            ))),
        }
    }
}

/// Stepwise selection (unpenalized fits), then the fit of the selected features.
#[allow(clippy::too_many_arguments)]
pub fn stepwise(
    d: &Design,
    params: &LrParams,
    direction: Direction,
    criterion: Criterion,
    inputs: Inputs,
    label: &str,
    positive: bool,
    on_step: &mut (dyn FnMut(&Step) + Send),
) -> Result<LrModel> {
    if params.penalty != Penalty::None {
        return Err(Error::invalid(
            "stepwise selection compares unpenalized fits; drop the penalty parameters",
        ));
    }
    with_threads(params.num_threads, || {
        let (usable, dropped) = usable_columns(d, params)?;
        let mut quiet = params.clone();
        quiet.warm_start_rows = 0;
        // The score of a candidate model (lower is better) and its fit.
        let score = |cols: &[usize], start: Option<Vec<f64>>| -> Result<(f64, Solution)> {
            let (sol, _) = optimize(d, cols, &quiet, start)?;
            let k = (cols.len() + 1) as f64;
            let value = match criterion {
                Criterion::Aic => 2.0 * sol.eval.nll + 2.0 * k,
                Criterion::Bic => 2.0 * sol.eval.nll + k * d.total_weight().ln(),
                Criterion::PValue { .. } => 0.0,
            };
            Ok((value, sol))
        };
        let p_values = |cols: &[usize], sol: &Solution| -> Vec<f64> {
            let m = build_model(
                d,
                cols,
                &quiet,
                sol,
                0,
                true,
                Inputs::Raw,
                label,
                Vec::new(),
                Vec::new(),
            );
            m.coefficients
                .iter()
                .skip(1)
                .map(|c| c.p_value.unwrap_or(1.0))
                .collect()
        };
        let mut model: Vec<usize> = if direction == Direction::Backward {
            usable.clone()
        } else {
            Vec::new()
        };
        let (mut current, mut sol) = score(&model, None)?;
        let mut steps = Vec::new();
        let mut seen: Vec<Vec<usize>> = vec![model.clone()];
        loop {
            let mut changed = false;
            if direction != Direction::Backward {
                // The best candidate to enter.
                let mut best: Option<(f64, usize, Solution)> = None;
                for &c in usable.iter().filter(|c| !model.contains(c)) {
                    let mut cols = model.clone();
                    cols.push(c);
                    let mut start = sol.beta.clone();
                    start.push(0.0);
                    let Ok((v, s)) = score(&cols, Some(start)) else {
                        continue;
                    };
                    // `positive`: a feature enters only if every coefficient stays >= 0
                    // (on WoE values a negative one gives riskier bins more points).
                    if positive && s.beta[1..].iter().any(|b| *b < 0.0) {
                        continue;
                    }
                    let key = match criterion {
                        Criterion::PValue { .. } => *p_values(&cols, &s).last().unwrap(),
                        _ => v,
                    };
                    if best.as_ref().is_none_or(|b| key < b.0) {
                        best = Some((key, c, s));
                    }
                }
                if let Some((key, c, s)) = best {
                    let enters = match criterion {
                        Criterion::PValue { enter, .. } => key < enter,
                        _ => key < current - 1e-9,
                    };
                    let mut next = model.clone();
                    next.push(c);
                    if enters && !seen.contains(&sorted(&next)) {
                        model = next;
                        seen.push(sorted(&model));
                        current = if matches!(criterion, Criterion::PValue { .. }) {
                            0.0
                        } else {
                            key
                        };
                        sol = s;
                        let step = Step {
                            action: "add".into(),
                            feature: d.names[c].clone(),
                            value: key,
                        };
                        on_step(&step);
                        steps.push(step);
                        changed = true;
                    }
                }
            }
            if positive && direction != Direction::Forward {
                // A negative coefficient leaves first, whatever the criterion says.
                let worst = sol.beta[1..]
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b < 0.0)
                    .min_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, b)| (i, *b));
                if let Some((i, coef)) = worst {
                    let name = d.names[model[i]].clone();
                    model.remove(i);
                    seen.push(sorted(&model));
                    let (v, s) = score(&model, None)?;
                    if !matches!(criterion, Criterion::PValue { .. }) {
                        current = v;
                    }
                    sol = s;
                    let step = Step {
                        action: "remove (negative coefficient)".into(),
                        feature: name,
                        value: coef,
                    };
                    on_step(&step);
                    steps.push(step);
                    continue;
                }
            }
            if direction != Direction::Forward && !model.is_empty() {
                // The worst feature to leave.
                let leave: Option<(f64, usize, Option<Solution>)> = match criterion {
                    Criterion::PValue { remove, .. } => {
                        let ps = p_values(&model, &sol);
                        let (i, &p) = ps.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
                        (p > remove).then_some((p, i, None))
                    }
                    _ => {
                        let mut best: Option<(f64, usize, Option<Solution>)> = None;
                        for i in 0..model.len() {
                            let mut cols = model.clone();
                            cols.remove(i);
                            let mut start = sol.beta.clone();
                            start.remove(i + 1);
                            let Ok((v, s)) = score(&cols, Some(start)) else {
                                continue;
                            };
                            if best.as_ref().is_none_or(|b| v < b.0) {
                                best = Some((v, i, Some(s)));
                            }
                        }
                        best.filter(|b| b.0 < current - 1e-9)
                    }
                };
                if let Some((value, i, s)) = leave {
                    let mut next = model.clone();
                    next.remove(i);
                    if !seen.contains(&sorted(&next)) {
                        let name = d.names[model[i]].clone();
                        model = next;
                        seen.push(sorted(&model));
                        sol = match s {
                            Some(s) => s,
                            None => score(&model, None)?.1,
                        };
                        if !matches!(criterion, Criterion::PValue { .. }) {
                            current = value;
                        }
                        let step = Step {
                            action: "remove".into(),
                            feature: name,
                            value,
                        };
                        on_step(&step);
                        steps.push(step);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        if model.is_empty() {
            return Err(Error::invalid(
                "stepwise selection kept no feature: none improves on the intercept-only model",
            ));
        }
        let mut dropped = dropped;
        for &c in usable.iter().filter(|c| !model.contains(c)) {
            dropped.push(Dropped {
                feature: d.names[c].clone(),
                reason: "not selected by stepwise".into(),
            });
        }
        // Selected features keep the table's order.
        model.sort_unstable();
        let inputs = match inputs {
            Inputs::Woe { plan } => {
                let names: Vec<String> = model.iter().map(|&c| d.names[c].clone()).collect();
                Inputs::Woe {
                    plan: Box::new(plan.only(&names)),
                }
            }
            raw => raw,
        };
        fit_columns(d, &model, params, inputs, label, dropped, steps)
    })
}

fn sorted(cols: &[usize]) -> Vec<usize> {
    let mut c = cols.to_vec();
    c.sort_unstable();
    c
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
                let t = Transformer::new(plan, Output::Woe);
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
