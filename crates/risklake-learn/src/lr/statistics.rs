//! Statistics of a fit as statsmodels' `Logit` reports them: standard errors, z, p-values,
//! intervals, likelihoods, AIC / BIC, and the correlations behind collinearity checks and
//! VIF.

use super::design::{Design, Inputs};
use super::params::LrParams;
use super::solver::{Solution, BLOCK};
use super::{Coefficient, Dropped, FitSummary, LrModel, Step, LR_FORMAT, LR_VERSION};
use crate::linalg::{chi2_sf, normal_two_sided, Cholesky, Z_975};
use rayon::prelude::*;

/// The correlation matrix of the standardized columns `cols` (unweighted), from the
/// matrix of all columns (one pass over the data, the first time).
pub(super) fn correlation(d: &Design, cols: &[usize]) -> Vec<f64> {
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

pub(super) fn correlation_pass(d: &Design, cols: &[usize]) -> Vec<f64> {
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
pub(super) fn independent(corr: &[f64], k: usize) -> (Vec<usize>, Vec<usize>) {
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
pub(super) fn vif(corr: &[f64], k: usize) -> Vec<f64> {
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

#[allow(clippy::too_many_arguments)]
pub(super) fn build_model(
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
        woe: Default::default(),
    }
}
