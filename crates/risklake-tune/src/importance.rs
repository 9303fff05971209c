//! Which hyper-parameters mattered in a study: fANOVA (Hutter, Hoos and Leyton-Brown,
//! "An Efficient Approach for Assessing Hyperparameter Importance", ICML 2014), the
//! method behind Optuna's default importance evaluator, with the same choices so both tell
//! the same story about the same study:
//!
//! - the trials: completed ones with a finite value; the parameters: those every such
//!   trial has with the same distribution (single-valued ones get 0);
//! - the encoding: a number is its own value on `[low, high]` (no log or step transform), a
//!   categorical parameter is one-hot over `[0, 1]` per choice;
//! - the model: a random forest of regression trees (64 trees, depth up to 64, bootstrap
//!   samples, every feature at every split, leaves of one trial allowed);
//! - per tree, a parameter's importance is the variance of the tree's prediction averaged
//!   over all other parameters (the marginal) divided by the tree's total variance, both
//!   over the uniform measure of the search box; the forest's value is the mean over trees
//!   whose prediction varies, and the importances are scaled to sum to 1.
//!
//! The forest is ours (exact CART splits on presorted columns), so values agree with
//! Optuna's up to the randomness of two different forests, not digit for digit.

use std::sync::Arc;

use risklake_core::rng::Rng;
use risklake_core::{Error, Result};
use serde::Serialize;

use crate::distributions::Distribution;
use crate::trial::{FrozenTrial, TrialState};

/// The forest behind the importances.
#[derive(Debug, Clone, Copy)]
pub struct FanovaOptions {
    pub trees: usize,
    pub max_depth: usize,
    pub seed: u64,
}

impl Default for FanovaOptions {
    fn default() -> Self {
        FanovaOptions {
            trees: 64,
            max_depth: 64,
            seed: 0,
        }
    }
}

/// One parameter's importance.
#[derive(Debug, Clone, Serialize)]
pub struct ParamImportance {
    pub param: String,
    /// Its share, the importances of a study summing to 1 (0 for a single-valued one).
    pub importance: f64,
    /// Mean over trees of the share of the prediction's variance this parameter explains
    /// alone (before scaling); what the shares leave to 1 is interactions.
    pub fraction: f64,
    /// Standard deviation of that share over the trees.
    pub std: f64,
}

/// A study's parameter importances, largest first.
#[derive(Debug, Clone, Serialize)]
pub struct Importances {
    /// Completed trials with a finite value that have every parameter assessed.
    pub trials: usize,
    pub params: Vec<ParamImportance>,
}

/// fANOVA importances of the parameters of `trials` (a study's, any states).
pub fn fanova(trials: &[Arc<FrozenTrial>], options: &FanovaOptions) -> Result<Importances> {
    if options.trees == 0 || options.max_depth == 0 {
        return Err(Error::invalid(format!(
            "the importance forest needs at least one tree of depth 1, got {} trees of depth {}",
            options.trees, options.max_depth
        )));
    }
    let done: Vec<&FrozenTrial> = trials
        .iter()
        .map(|t| t.as_ref())
        .filter(|t| t.state == TrialState::Complete && t.value().is_some_and(f64::is_finite))
        .collect();
    if done.is_empty() {
        return Err(Error::invalid(
            "parameter importance needs completed trials with a finite value; this study has none",
        ));
    }
    let space = intersection(&done);
    let (varied, single): (Vec<_>, Vec<_>) = space.into_iter().partition(|(_, d)| !d.single());
    let zero = |names: Vec<String>, n: usize| Importances {
        trials: n,
        params: names
            .into_iter()
            .map(|param| ParamImportance {
                param,
                importance: 0.0,
                fraction: 0.0,
                std: 0.0,
            })
            .collect(),
    };
    let all_names = || varied.iter().chain(&single).map(|(n, _)| n.clone()).collect::<Vec<_>>();
    if varied.is_empty() || done.len() <= 1 {
        return Ok(zero(all_names(), done.len()));
    }
    let encoding = Encoding::new(&varied);
    let x: Vec<Vec<f64>> = done.iter().map(|t| encoding.row(t, &varied)).collect();
    let y: Vec<f64> = done.iter().map(|t| t.value().unwrap_or(f64::NAN)).collect();

    let mut shares = vec![Vec::with_capacity(options.trees); varied.len()];
    for t in 0..options.trees {
        let mut rng = Rng::for_stream(options.seed, t as u64);
        let tree = Tree::fit(&x, &y, options.max_depth, &mut rng);
        let leaves = tree.leaves(&encoding.bounds);
        let total = leaves.variance();
        if !(total > 0.0) {
            continue;
        }
        for (p, columns) in encoding.columns.iter().enumerate() {
            let marginal = leaves.marginal_variance(&tree, columns, &encoding.bounds).max(0.0);
            shares[p].push(marginal / total);
        }
    }
    if shares[0].is_empty() {
        return Err(Error::invalid(
            "every completed trial has the same objective value: no parameter explains any of it",
        ));
    }
    let mut params: Vec<ParamImportance> = varied
        .iter()
        .zip(&shares)
        .map(|((name, _), s)| {
            let mean = s.iter().sum::<f64>() / s.len() as f64;
            let var = s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / s.len() as f64;
            ParamImportance {
                param: name.clone(),
                importance: mean,
                fraction: mean,
                std: var.sqrt(),
            }
        })
        .collect();
    let sum: f64 = params.iter().map(|p| p.importance).sum();
    if sum > 0.0 {
        params.iter_mut().for_each(|p| p.importance /= sum);
    }
    params.extend(zero(single.into_iter().map(|(n, _)| n).collect(), 0).params);
    params.sort_by(|a, b| {
        b.importance
            .total_cmp(&a.importance)
            .then_with(|| a.param.cmp(&b.param))
    });
    Ok(Importances {
        trials: done.len(),
        params,
    })
}

/// The parameters every trial has, each with one distribution throughout, by name.
fn intersection(trials: &[&FrozenTrial]) -> Vec<(String, Distribution)> {
    let mut space: Vec<(String, Distribution)> = trials[0]
        .params
        .iter()
        .map(|(n, _, d)| (n.clone(), d.clone()))
        .collect();
    for t in &trials[1..] {
        space.retain(|(n, d)| t.param(n).is_some_and(|(_, other)| other == d));
    }
    space.sort_by(|a, b| a.0.cmp(&b.0));
    space
}

/// Parameters as model columns: a number is one column, a categorical one per choice.
struct Encoding {
    /// Column ranges of each parameter.
    columns: Vec<Vec<usize>>,
    /// Each column's `[low, high]`.
    bounds: Vec<(f64, f64)>,
}

impl Encoding {
    fn new(space: &[(String, Distribution)]) -> Encoding {
        let (mut columns, mut bounds) = (Vec::new(), Vec::new());
        for (_, d) in space {
            let first = bounds.len();
            match d {
                Distribution::Float { low, high, .. } => bounds.push((*low, *high)),
                Distribution::Int { low, high, .. } => bounds.push((*low as f64, *high as f64)),
                Distribution::Categorical { choices } => bounds.extend(choices.iter().map(|_| (0.0, 1.0))),
            }
            columns.push((first..bounds.len()).collect());
        }
        Encoding { columns, bounds }
    }

    fn row(&self, t: &FrozenTrial, space: &[(String, Distribution)]) -> Vec<f64> {
        let mut row = vec![0.0; self.bounds.len()];
        for ((name, d), cols) in space.iter().zip(&self.columns) {
            let internal = t.param(name).map(|p| p.0).unwrap_or(f64::NAN);
            match d {
                Distribution::Categorical { .. } => {
                    if let Some(c) = cols.get(internal as usize) {
                        row[*c] = 1.0;
                    }
                }
                _ => row[cols[0]] = internal,
            }
        }
        row
    }
}

const LEAF: usize = usize::MAX;

#[derive(Debug, Clone)]
struct Node {
    /// The split column, or `LEAF`.
    feature: usize,
    threshold: f64,
    left: usize,
    right: usize,
    value: f64,
}

/// A regression tree grown as CART grows it: squared error, exact thresholds halfway
/// between neighbouring values, until a node is pure, has one distinct sample or reaches
/// the depth limit.
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn fit(x: &[Vec<f64>], y: &[f64], max_depth: usize, rng: &mut Rng) -> Tree {
        let n = x.len();
        let d = x[0].len();
        // A bootstrap sample, as counts per trial; the trials drawn at least once.
        let mut weight = vec![0.0f64; n];
        for _ in 0..n {
            weight[rng.below(n as u64) as usize] += 1.0;
        }
        let drawn: Vec<u32> = (0..n as u32).filter(|&i| weight[i as usize] > 0.0).collect();
        // Per column, the drawn trials sorted by that column; a node owns one slice
        // `start..end` of every column's order.
        let mut order: Vec<Vec<u32>> = (0..d)
            .map(|f| {
                let mut o = drawn.clone();
                o.sort_by(|&a, &b| x[a as usize][f].total_cmp(&x[b as usize][f]));
                o
            })
            .collect();
        let mut nodes = Vec::new();
        let mut goes_left = vec![false; n];
        let mut scratch: Vec<u32> = Vec::with_capacity(drawn.len());
        let mut features: Vec<usize> = (0..d).collect();
        // (node, start, end, depth)
        let mut stack = vec![(0usize, 0usize, drawn.len(), 0usize)];
        nodes.push(Node {
            feature: LEAF,
            threshold: 0.0,
            left: 0,
            right: 0,
            value: 0.0,
        });
        while let Some((id, start, end, depth)) = stack.pop() {
            let rows = &order[0][start..end];
            let (mut w, mut s, mut ss) = (0.0, 0.0, 0.0);
            for &i in rows {
                let (wi, yi) = (weight[i as usize], y[i as usize]);
                w += wi;
                s += wi * yi;
                ss += wi * yi * yi;
            }
            let mean = s / w;
            nodes[id].value = mean;
            let impurity = ss / w - mean * mean;
            if depth >= max_depth || end - start < 2 || impurity <= f64::EPSILON * mean.abs().max(1.0) {
                continue;
            }
            // Fisher-Yates: which column wins a tie depends on the tree's random order.
            for i in (1..d).rev() {
                features.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let mut best: Option<(f64, usize, f64)> = None; // (proxy, column, threshold)
            for &f in &features {
                let o = &order[f][start..end];
                let (mut wl, mut sl) = (0.0, 0.0);
                for k in 0..o.len() - 1 {
                    let i = o[k] as usize;
                    wl += weight[i];
                    sl += weight[i] * y[i];
                    let (a, b) = (x[i][f], x[o[k + 1] as usize][f]);
                    if b <= a + 1e-7 {
                        continue;
                    }
                    let (wr, sr) = (w - wl, s - sl);
                    let proxy = sl * sl / wl + sr * sr / wr;
                    if best.is_none_or(|(p, _, _)| proxy > p) {
                        let mut t = 0.5 * (a + b);
                        if t == b || !t.is_finite() {
                            t = a;
                        }
                        best = Some((proxy, f, t));
                    }
                }
            }
            let Some((_, f, threshold)) = best else { continue };
            for &i in &order[f][start..end] {
                goes_left[i as usize] = x[i as usize][f] <= threshold;
            }
            let mut n_left = 0;
            for col in order.iter_mut() {
                let seg = &mut col[start..end];
                scratch.clear();
                let mut l = 0;
                for k in 0..seg.len() {
                    let i = seg[k];
                    if goes_left[i as usize] {
                        seg[l] = i;
                        l += 1;
                    } else {
                        scratch.push(i);
                    }
                }
                seg[l..].copy_from_slice(&scratch);
                n_left = l;
            }
            let (left, right) = (nodes.len(), nodes.len() + 1);
            for _ in 0..2 {
                nodes.push(Node {
                    feature: LEAF,
                    threshold: 0.0,
                    left: 0,
                    right: 0,
                    value: 0.0,
                });
            }
            nodes[id].feature = f;
            nodes[id].threshold = threshold;
            nodes[id].left = left;
            nodes[id].right = right;
            stack.push((left, start, start + n_left, depth + 1));
            stack.push((right, start + n_left, end, depth + 1));
        }
        Tree { nodes }
    }

    /// Every leaf with its box in the search space.
    fn leaves(&self, bounds: &[(f64, f64)]) -> Leaves {
        let mut out = Leaves {
            value: Vec::new(),
            boxes: Vec::new(),
            share: Vec::new(),
        };
        let mut stack = vec![(0usize, bounds.to_vec())];
        while let Some((id, b)) = stack.pop() {
            let node = &self.nodes[id];
            if node.feature == LEAF {
                let share = b
                    .iter()
                    .zip(bounds)
                    .map(|(x, full)| (x.1 - x.0) / (full.1 - full.0))
                    .product();
                out.value.push(node.value);
                out.share.push(share);
                out.boxes.push(b);
                continue;
            }
            let (f, t) = (node.feature, node.threshold);
            let mut left = b.clone();
            left[f].1 = left[f].1.min(t);
            let mut right = b;
            right[f].0 = right[f].0.max(t);
            stack.push((node.left, left));
            stack.push((node.right, right));
        }
        out
    }

    /// The thresholds the tree splits column `f` at, sorted, without repeats.
    fn thresholds(&self, f: usize) -> Vec<f64> {
        let mut t: Vec<f64> = self
            .nodes
            .iter()
            .filter(|n| n.feature == f)
            .map(|n| n.threshold)
            .collect();
        t.sort_by(f64::total_cmp);
        t.dedup();
        t
    }
}

/// A tree's leaves: value, box and share of the search space's volume.
struct Leaves {
    value: Vec<f64>,
    boxes: Vec<Vec<(f64, f64)>>,
    share: Vec<f64>,
}

impl Leaves {
    /// Variance of the prediction over the whole box.
    fn variance(&self) -> f64 {
        weighted_variance(&self.value, &self.share)
    }

    /// Variance over `columns` of the prediction averaged over every other column.
    ///
    /// The tree's thresholds on `columns` cut their ranges into cells on which that
    /// average is constant. A leaf covers a block of cells and adds its value times its
    /// share of the other columns' volume to each (those shares sum to 1 at any point).
    fn marginal_variance(&self, tree: &Tree, columns: &[usize], bounds: &[(f64, f64)]) -> f64 {
        let edges: Vec<Vec<f64>> = columns
            .iter()
            .map(|&c| {
                let mut e = vec![bounds[c].0];
                e.extend(
                    tree.thresholds(c)
                        .into_iter()
                        .filter(|t| *t > bounds[c].0 && *t < bounds[c].1),
                );
                e.push(bounds[c].1);
                e
            })
            .collect();
        let dims: Vec<usize> = edges.iter().map(|e| e.len() - 1).collect();
        let cells: usize = dims.iter().product();
        let mut sum = vec![0.0f64; cells + 1];
        let index_of = |e: &[f64], x: f64| e.partition_point(|v| *v < x);
        for (l, b) in self.boxes.iter().enumerate() {
            let other: f64 = b
                .iter()
                .zip(bounds)
                .enumerate()
                .filter(|(c, _)| !columns.contains(c))
                .map(|(_, (x, full))| (x.1 - x.0) / (full.1 - full.0))
                .product();
            let add = self.value[l] * other;
            let ranges: Vec<(usize, usize)> = columns
                .iter()
                .zip(&edges)
                .map(|(&c, e)| (index_of(e, b[c].0), index_of(e, b[c].1)))
                .collect();
            if let [(lo, hi)] = ranges[..] {
                // One column: a difference array.
                sum[lo] += add;
                sum[hi] -= add;
                continue;
            }
            // Several (a one-hot categorical): every cell of the block.
            let mut at: Vec<usize> = ranges.iter().map(|r| r.0).collect();
            if ranges.iter().any(|r| r.0 >= r.1) {
                continue;
            }
            'cells: loop {
                let cell = at.iter().zip(&dims).fold(0, |acc, (i, n)| acc * n + i);
                sum[cell] += add;
                let mut k = at.len();
                loop {
                    if k == 0 {
                        break 'cells;
                    }
                    k -= 1;
                    at[k] += 1;
                    if at[k] < ranges[k].1 {
                        break;
                    }
                    at[k] = ranges[k].0;
                }
            }
        }
        if columns.len() == 1 {
            for i in 1..cells {
                sum[i] += sum[i - 1];
            }
        }
        // Each cell's volume share.
        let mut size = vec![1.0f64; cells];
        for (cell, s) in size.iter_mut().enumerate() {
            let mut rest = cell;
            for (k, e) in edges.iter().enumerate().rev() {
                let i = rest % dims[k];
                rest /= dims[k];
                *s *= e[i + 1] - e[i];
            }
        }
        weighted_variance(&sum[..cells], &size)
    }
}

fn weighted_variance(values: &[f64], weights: &[f64]) -> f64 {
    let w: f64 = weights.iter().sum();
    if !(w > 0.0) {
        return 0.0;
    }
    let mean = values.iter().zip(weights).map(|(v, w)| v * w).sum::<f64>() / w;
    values
        .iter()
        .zip(weights)
        .map(|(v, wi)| wi * (v - mean).powi(2))
        .sum::<f64>()
        / w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributions::Choice;
    use std::collections::BTreeMap;

    fn trial(number: usize, params: Vec<(&str, f64, Distribution)>, value: Option<f64>) -> Arc<FrozenTrial> {
        Arc::new(FrozenTrial {
            id: number,
            number,
            study: 0,
            state: if value.is_some() {
                TrialState::Complete
            } else {
                TrialState::Fail
            },
            values: value.map(|v| vec![v]),
            datetime_start: None,
            datetime_complete: None,
            params: Arc::new(params.into_iter().map(|(n, x, d)| (n.to_string(), x, d)).collect()),
            user_attrs: Default::default(),
            system_attrs: Default::default(),
            intermediate_values: Arc::new(BTreeMap::new()),
            owner: String::new(),
        })
    }

    fn unit() -> Distribution {
        Distribution::Float {
            low: 0.0,
            high: 1.0,
            log: false,
            step: None,
        }
    }

    fn of<'a>(imp: &'a Importances, name: &str) -> &'a ParamImportance {
        imp.params.iter().find(|p| p.param == name).unwrap()
    }

    /// Trials drawn uniformly over x, y, z in [0, 1] with objective `f`.
    fn uniform_study(n: usize, f: impl Fn(f64, f64, f64) -> f64) -> Vec<Arc<FrozenTrial>> {
        let mut rng = Rng::new(7);
        (0..n)
            .map(|i| {
                let (x, y, z) = (rng.uniform(), rng.uniform(), rng.uniform());
                trial(
                    i,
                    vec![("x", x, unit()), ("y", y, unit()), ("z", z, unit())],
                    Some(f(x, y, z)),
                )
            })
            .collect()
    }

    #[test]
    fn an_additive_objective_splits_by_the_variance_of_its_terms() {
        // Var(x) : Var(2y) = 1 : 4 for uniform x, y; z does nothing.
        let imp = fanova(&uniform_study(400, |x, y, _| x + 2.0 * y), &FanovaOptions::default()).unwrap();
        assert_eq!(imp.trials, 400);
        assert_eq!(imp.params[0].param, "y");
        assert!((of(&imp, "y").importance - 0.8).abs() < 0.05, "{imp:?}");
        assert!((of(&imp, "x").importance - 0.2).abs() < 0.05, "{imp:?}");
        assert!(of(&imp, "z").importance < 0.03, "{imp:?}");
        let total: f64 = imp.params.iter().map(|p| p.importance).sum();
        assert!((total - 1.0).abs() < 1e-9);
        // Main effects explain nearly all of an additive function.
        let main: f64 = imp.params.iter().map(|p| p.fraction).sum();
        assert!(main > 0.9 && main <= 1.0 + 1e-9, "{main}");
    }

    #[test]
    fn a_pure_interaction_leaves_the_main_effects_small() {
        // sign(x - 0.5) * sign(y - 0.5): each parameter alone explains nothing.
        let f = |x: f64, y: f64, _| if (x > 0.5) == (y > 0.5) { 1.0 } else { -1.0 };
        let imp = fanova(&uniform_study(400, f), &FanovaOptions::default()).unwrap();
        let main: f64 = imp.params.iter().map(|p| p.fraction).sum();
        assert!(main < 0.15, "{imp:?}");
    }

    #[test]
    fn a_step_is_all_its_parameters_and_is_exact() {
        // The tree splits x once at 0.5: the tree's variance is all x's, in every tree.
        let imp = fanova(
            &uniform_study(200, |x, _, _| if x > 0.5 { 1.0 } else { 0.0 }),
            &FanovaOptions::default(),
        )
        .unwrap();
        let x = of(&imp, "x");
        assert!(
            (x.importance - 1.0).abs() < 1e-12 && (x.fraction - 1.0).abs() < 1e-12,
            "{imp:?}"
        );
        assert!(x.std < 1e-12);
    }

    #[test]
    fn categorical_parameters_count_as_one() {
        let cat = Distribution::Categorical {
            choices: vec![
                Choice::Str("a".into()),
                Choice::Str("b".into()),
                Choice::Str("c".into()),
            ],
        };
        let mut rng = Rng::new(3);
        let trials: Vec<_> = (0..300)
            .map(|i| {
                let (c, x) = (rng.below(3) as f64, rng.uniform());
                let v = [0.0, 1.0, 5.0][c as usize] + 0.2 * x;
                trial(i, vec![("kind", c, cat.clone()), ("x", x, unit())], Some(v))
            })
            .collect();
        let imp = fanova(&trials, &FanovaOptions::default()).unwrap();
        assert_eq!(imp.params.len(), 2);
        assert_eq!(imp.params[0].param, "kind");
        assert!(of(&imp, "kind").importance > 0.95, "{imp:?}");
    }

    #[test]
    fn only_completed_trials_and_shared_parameters_count() {
        let other = Distribution::Float {
            low: 0.0,
            high: 2.0,
            log: false,
            step: None,
        };
        let single = Distribution::Int {
            low: 3,
            high: 3,
            log: false,
            step: 1,
        };
        let mut trials = uniform_study(100, |x, _, _| x);
        // Failed trials, a trial without y and a trial with another range for z drop y / z.
        trials.push(trial(100, vec![("x", 0.3, unit())], None));
        trials.push(trial(
            101,
            vec![("x", 0.3, unit()), ("z", 1.5, other), ("k", 3.0, single.clone())],
            Some(0.3),
        ));
        let imp = fanova(&trials, &FanovaOptions::default()).unwrap();
        assert_eq!(imp.trials, 101);
        let names: Vec<&str> = imp.params.iter().map(|p| p.param.as_str()).collect();
        assert_eq!(names, ["x"]);
        // A single-valued parameter is there with 0.
        let t: Vec<_> = (0..5)
            .map(|i| {
                trial(
                    i,
                    vec![("x", i as f64 / 5.0, unit()), ("k", 3.0, single.clone())],
                    Some(i as f64),
                )
            })
            .collect();
        let imp = fanova(&t, &FanovaOptions::default()).unwrap();
        assert_eq!(of(&imp, "k").importance, 0.0);
        assert!((of(&imp, "x").importance - 1.0).abs() < 1e-12);
    }

    #[test]
    fn degenerate_studies_get_a_clear_answer() {
        let none: Vec<Arc<FrozenTrial>> = vec![trial(0, vec![("x", 0.5, unit())], None)];
        let e = fanova(&none, &FanovaOptions::default()).unwrap_err().to_string();
        assert!(e.contains("completed trials"), "{e}");
        let flat = uniform_study(20, |_, _, _| 0.5);
        let e = fanova(&flat, &FanovaOptions::default()).unwrap_err().to_string();
        assert!(e.contains("same objective value"), "{e}");
        let one = uniform_study(1, |x, _, _| x);
        let imp = fanova(&one, &FanovaOptions::default()).unwrap();
        assert!(imp.params.iter().all(|p| p.importance == 0.0));
        let e = fanova(
            &one,
            &FanovaOptions {
                trees: 0,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("at least one tree"));
    }

    #[test]
    fn the_same_seed_gives_the_same_importances() {
        let t = uniform_study(150, |x, y, z| (x - 0.3).powi(2) + y * z);
        let a = fanova(&t, &FanovaOptions::default()).unwrap();
        let b = fanova(&t, &FanovaOptions::default()).unwrap();
        let c = fanova(
            &t,
            &FanovaOptions {
                seed: 9,
                ..Default::default()
            },
        )
        .unwrap();
        let vals = |i: &Importances| i.params.iter().map(|p| p.importance).collect::<Vec<_>>();
        assert_eq!(vals(&a), vals(&b));
        assert_ne!(vals(&a), vals(&c));
    }
}
