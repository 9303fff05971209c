//! Pruners: stop unpromising trials early from the intermediate values they report
//! (for a GBDT, the validation metric per boosting iteration).

use std::sync::Arc;

use crate::storage::{Direction, FrozenTrial, TrialState};

/// What a pruner needs to know of the study.
pub struct PruneContext<'a> {
    pub history: &'a [Arc<FrozenTrial>],
    pub direction: Direction,
    pub study_name: &'a str,
}

/// Decides whether a running trial should stop at `step`; `record` stores a system
/// attribute on the trial (successive halving keeps its rungs there, as Optuna does).
pub trait Pruner: Send + Sync {
    fn prune(&self, ctx: &PruneContext, trial: &FrozenTrial, step: i64, record: &mut dyn FnMut(String, f64)) -> bool;
}

/// Never prunes.
pub struct NopPruner;

impl Pruner for NopPruner {
    fn prune(&self, _: &PruneContext, _: &FrozenTrial, _: i64, _: &mut dyn FnMut(String, f64)) -> bool {
        false
    }
}

/// Optuna's `PercentilePruner` (the median pruner is its 50th percentile): prunes when the
/// trial's best intermediate value so far is worse than the given percentile of the
/// complete trials' values at the same step, once `n_startup_trials` trials completed and
/// after `n_warmup_steps`.
pub struct PercentilePruner {
    pub percentile: f64,
    pub n_startup_trials: usize,
    pub n_warmup_steps: i64,
    pub interval_steps: i64,
}

impl PercentilePruner {
    pub fn median() -> PercentilePruner {
        PercentilePruner {
            percentile: 50.0,
            n_startup_trials: 5,
            n_warmup_steps: 0,
            interval_steps: 1,
        }
    }
}

/// numpy's `percentile` (linear interpolation) of unsorted values.
fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let pos = q / 100.0 * (values.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
}

impl Pruner for PercentilePruner {
    fn prune(&self, ctx: &PruneContext, trial: &FrozenTrial, step: i64, _: &mut dyn FnMut(String, f64)) -> bool {
        let (history, direction) = (ctx.history, ctx.direction);
        let complete: Vec<&FrozenTrial> = history
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .map(|t| &**t)
            .collect();
        if complete.len() < self.n_startup_trials || step < self.n_warmup_steps {
            return false;
        }
        if self.interval_steps > 1 && (step - self.n_warmup_steps) % self.interval_steps != 0 {
            return false;
        }
        let best = trial
            .intermediate_values
            .values()
            .copied()
            .filter(|v| !v.is_nan())
            .reduce(|a, b| if direction.better(b, a) { b } else { a });
        let Some(best) = best else { return true };
        let mut at_step: Vec<f64> = complete
            .iter()
            .filter_map(|t| t.intermediate_values.get(&step).copied())
            .filter(|v| !v.is_nan())
            .collect();
        if at_step.is_empty() {
            return false;
        }
        let q = match direction {
            Direction::Minimize => self.percentile,
            Direction::Maximize => 100.0 - self.percentile,
        };
        let p = percentile(&mut at_step, q);
        direction.better(p, best)
    }
}

/// The trials' largest last step among complete ones, as Optuna's `min_resource="auto"`
/// estimates resources.
fn last_steps(history: &[Arc<FrozenTrial>]) -> Option<i64> {
    history
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(|t| t.intermediate_values.keys().next_back().copied())
        .max()
}

/// Optuna's `SuccessiveHalvingPruner` (asynchronous successive halving): a trial that
/// reaches rung `r` at step `min_resource * reduction_factor^(min_early_stopping_rate + r)`
/// goes on only if its value is in the top `1 / reduction_factor` of the values every
/// trial had at that rung (kept as `completed_rung_<r>` system attributes).
pub struct SuccessiveHalvingPruner {
    /// None: `max(last step of the longest complete trial / 100, 1)`.
    pub min_resource: Option<i64>,
    pub reduction_factor: i64,
    pub min_early_stopping_rate: u32,
    /// Only trials of this bracket compete (Hyperband), by [`bracket_of`].
    pub bracket: Option<(usize, Vec<i64>)>,
}

impl Default for SuccessiveHalvingPruner {
    fn default() -> Self {
        SuccessiveHalvingPruner {
            min_resource: None,
            reduction_factor: 4,
            min_early_stopping_rate: 0,
            bracket: None,
        }
    }
}

fn rung_key(r: u32) -> String {
    format!("completed_rung_{r}")
}

impl Pruner for SuccessiveHalvingPruner {
    fn prune(&self, ctx: &PruneContext, trial: &FrozenTrial, step: i64, record: &mut dyn FnMut(String, f64)) -> bool {
        let Some(&value) = trial.intermediate_values.get(&step) else {
            return false;
        };
        let min_resource = match self
            .min_resource
            .or_else(|| last_steps(ctx.history).map(|s| (s / 100).max(1)))
        {
            Some(m) => m,
            None => return false,
        };
        let mut rung = (0..)
            .take_while(|r| trial.system_attrs.contains_key(&rung_key(*r)))
            .count() as u32;
        loop {
            let promotion = min_resource * self.reduction_factor.pow(self.min_early_stopping_rate + rung);
            if step < promotion {
                return false;
            }
            if value.is_nan() {
                return true;
            }
            let key = rung_key(rung);
            record(key.clone(), value);
            let mut competing: Vec<f64> = ctx
                .history
                .iter()
                .filter(|t| t.id != trial.id)
                .filter(|t| match &self.bracket {
                    Some((b, budgets)) => bracket_of(ctx.study_name, t.number, budgets) == *b,
                    None => true,
                })
                .filter_map(|t| t.system_attrs.get(&key).and_then(|v| v.as_f64()))
                .collect();
            competing.push(value);
            competing.sort_by(f64::total_cmp);
            let idx = ((competing.len() as i64 / self.reduction_factor) - 1).max(0) as usize;
            let promotable = match ctx.direction {
                Direction::Minimize => value <= competing[idx],
                Direction::Maximize => value >= competing[competing.len() - 1 - idx],
            };
            if !promotable {
                return true;
            }
            rung += 1;
        }
    }
}

/// Optuna's CRC-32 (zlib's polynomial).
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xedb8_8320 } else { c >> 1 };
        }
    }
    !c
}

/// The Hyperband bracket of trial `number`: Optuna's hash of `"{study}_{number}"` over
/// the brackets' trial budgets.
pub fn bracket_of(study: &str, number: usize, budgets: &[i64]) -> usize {
    let total: i64 = budgets.iter().sum();
    let mut n = (crc32(format!("{study}_{number}").as_bytes()) as i64) % total.max(1);
    for (b, &budget) in budgets.iter().enumerate() {
        n -= budget;
        if n < 0 {
            return b;
        }
    }
    budgets.len() - 1
}

/// Optuna's `HyperbandPruner`: several successive-halving brackets with different
/// aggressiveness; each trial belongs to one bracket (by [`bracket_of`]) and competes in it.
pub struct HyperbandPruner {
    pub min_resource: i64,
    /// None: the last step of the first complete trial.
    pub max_resource: Option<i64>,
    pub reduction_factor: i64,
}

impl Default for HyperbandPruner {
    fn default() -> Self {
        HyperbandPruner {
            min_resource: 1,
            max_resource: None,
            reduction_factor: 3,
        }
    }
}

impl HyperbandPruner {
    fn brackets(&self, max_resource: i64) -> Vec<i64> {
        let n = ((max_resource as f64 / self.min_resource as f64).ln() / (self.reduction_factor as f64).ln()).floor()
            as usize
            + 1;
        // Optuna's trial budget per bracket: ceil(n * rf^(n-1-b) / (n - b)).
        (0..n)
            .map(|b| {
                let s = (n - 1 - b) as i32;
                ((n as f64 * (self.reduction_factor as f64).powi(s)) / (s as f64 + 1.0)).ceil() as i64
            })
            .collect()
    }
}

impl Pruner for HyperbandPruner {
    fn prune(&self, ctx: &PruneContext, trial: &FrozenTrial, step: i64, record: &mut dyn FnMut(String, f64)) -> bool {
        let max = match self.max_resource.or_else(|| {
            ctx.history
                .iter()
                .filter(|t| t.state == TrialState::Complete)
                .min_by_key(|t| t.number)
                .and_then(|t| t.intermediate_values.keys().next_back().copied())
        }) {
            Some(m) => m,
            None => return false,
        };
        let budgets = self.brackets(max);
        let b = bracket_of(ctx.study_name, trial.number, &budgets);
        SuccessiveHalvingPruner {
            min_resource: Some(self.min_resource),
            reduction_factor: self.reduction_factor,
            min_early_stopping_rate: b as u32,
            bracket: Some((b, budgets)),
        }
        .prune(ctx, trial, step, record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        // zlib.crc32(b"study_3") and b"123456789"
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(bracket_of("s", 0, &[5]), 0);
    }

    #[test]
    fn percentile_is_numpys_linear_interpolation() {
        assert_eq!(percentile(&mut [1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
        assert_eq!(percentile(&mut [5.0, 1.0, 3.0], 50.0), 3.0);
        assert!((percentile(&mut [1.0, 2.0, 3.0, 4.0, 5.0], 25.0) - 2.0).abs() < 1e-12);
    }
}
