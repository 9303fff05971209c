//! The (proximal) Newton solver: blocked-GEMM likelihood, gradient and Hessian over row
//! chunks in a fixed order, coordinate-descent L1 steps, backtracking, and the start from
//! a row sample on large data.

use rayon::prelude::*;
use risklake_core::{Error, Result};

use super::design::Design;
use super::params::LrParams;
use crate::linalg::Cholesky;

/// Rows per block of the GEMM kernels.
pub(super) const BLOCK: usize = 128;

/// The weighted negative log-likelihood, its gradient and (optionally) Hessian at `beta`
/// (intercept first, then `cols`), in standardized coordinates.
pub(super) struct Eval {
    pub(super) nll: f64,
    pub(super) grad: Vec<f64>,
    pub(super) hess: Vec<f64>,
    /// Largest `|y - p|` over the rows with weight (0 means every row is fitted exactly).
    pub(super) max_resid: f64,
}

pub(super) fn log1pexp(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

pub(super) fn evaluate(d: &Design, cols: &[usize], beta: &[f64], with_hess: bool) -> Eval {
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
pub(super) struct Pen {
    pub(super) l1: Vec<f64>,
    pub(super) l2: Vec<f64>,
}

impl Pen {
    /// `scale` multiplies both (a fit on a row sample takes its share of the penalty).
    pub(super) fn new(d: &Design, cols: &[usize], params: &LrParams, scale: f64) -> Pen {
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

    pub(super) fn value(&self, beta: &[f64]) -> f64 {
        beta.iter()
            .enumerate()
            .map(|(j, b)| self.l1[j] * b.abs() + 0.5 * self.l2[j] * b * b)
            .sum()
    }

    pub(super) fn has_l1(&self) -> bool {
        self.l1.iter().any(|&v| v > 0.0)
    }
}

/// A finished optimization.
pub(super) struct Solution {
    pub(super) beta: Vec<f64>,
    pub(super) eval: Eval,
    pub(super) iterations: usize,
    pub(super) converged: bool,
    /// Largest |gradient| of the penalized objective (a minimum-norm subgradient with L1),
    /// per unit of weight.
    pub(super) grad_norm: f64,
}

/// Minimizes the penalized coefficient on the quadratic model `g.d + d'Hd/2 + l1|beta+d|`
/// by cyclic coordinate descent.
pub(super) fn l1_step(h: &[f64], g: &[f64], beta: &[f64], l1: &[f64]) -> Vec<f64> {
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
pub(super) fn subgradient_norm(grad: &[f64], beta: &[f64], pen: &Pen) -> f64 {
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
pub(super) fn solve(d: &Design, cols: &[usize], mut beta: Vec<f64>, pen: &Pen, params: &LrParams) -> Result<Solution> {
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

pub(super) fn separation(d: &Design, cols: &[usize], beta: &[f64], perfect: bool) -> Error {
    // The feature whose coefficient ran furthest names the problem.
    let worst = (0..cols.len()).max_by(|&a, &b| beta[a + 1].abs().total_cmp(&beta[b + 1].abs()));
    let name = worst.map_or("the intercept".to_string(), |c| format!("'{}'", d.names[cols[c]]));
    Error::invalid(format!(
        "{} separation: the classes are {} split by the features (largest coefficient on {name}), so the maximum-likelihood coefficients are infinite; add a penalty (--param penalty=l2) or drop the feature",
        if perfect { "perfect" } else { "quasi-complete" },
        if perfect { "exactly" } else { "almost exactly" },
    ))
}

pub(super) fn singular(d: &Design, cols: &[usize], _beta: &[f64]) -> Error {
    Error::invalid(format!(
        "the information matrix is singular: the features ({}) are collinear or some have almost no variance where both classes occur; drop one, or fit with --param penalty=l2",
        cols.iter().map(|&j| d.names[j].as_str()).collect::<Vec<_>>().join(", ")
    ))
}

/// Solves from the null model (from a row sample first on large data) or from `start`.
pub(super) fn optimize(
    d: &Design,
    cols: &[usize],
    params: &LrParams,
    start: Option<Vec<f64>>,
) -> Result<(Solution, usize)> {
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
pub(super) fn frozen_newton(
    d: &Design,
    cols: &[usize],
    beta: Vec<f64>,
    pen: &Pen,
    h_sample: &[f64],
    share: f64,
) -> Vec<f64> {
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
pub(super) fn null_intercept(d: &Design) -> f64 {
    let bad: f64 = (0..d.rows()).map(|r| d.w(r) * d.label[r]).sum();
    let total = d.total_weight();
    (bad / (total - bad)).ln()
}
