//! Gradient-boosted trees: binary logloss and L2 regression on the binned dataset.

use rayon::prelude::*;
use risklake_core::metrics::{auc_weighted, ks};
use risklake_core::{Error, Result};

use crate::dataset::Dataset;
use crate::ensemble::sigmoid;
pub use crate::ensemble::{GbdtModel, MODEL_FORMAT, MODEL_VERSION};
pub use crate::params::{GbdtParams, Metric, Objective};
use crate::tree::{grow, sample_features, GradPair, LocalHistograms, Tree};
use risklake_core::rng::Rng;

/// What each iteration reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IterationInfo {
    pub iteration: usize,
    pub train_loss: f64,
    /// The validation metric ([`GbdtParams::metric`]) on the validation set.
    pub valid_metric: Option<f64>,
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
