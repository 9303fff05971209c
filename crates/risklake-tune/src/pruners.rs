//! Pruners: stop unpromising trials early from the intermediate values they report
//! (for a GBDT, the validation metric per boosting iteration).

use crate::storage::{Direction, FrozenTrial, TrialState};

/// Decides whether a running trial should stop at `step`.
pub trait Pruner: Send + Sync {
    fn prune(&self, history: &[FrozenTrial], direction: Direction, trial: &FrozenTrial, step: i64) -> bool;
}

/// Never prunes.
pub struct NopPruner;

impl Pruner for NopPruner {
    fn prune(&self, _: &[FrozenTrial], _: Direction, _: &FrozenTrial, _: i64) -> bool {
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
    fn prune(&self, history: &[FrozenTrial], direction: Direction, trial: &FrozenTrial, step: i64) -> bool {
        let complete: Vec<&FrozenTrial> = history.iter().filter(|t| t.state == TrialState::Complete).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_numpys_linear_interpolation() {
        assert_eq!(percentile(&mut [1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
        assert_eq!(percentile(&mut [5.0, 1.0, 3.0], 50.0), 3.0);
        assert!((percentile(&mut [1.0, 2.0, 3.0, 4.0, 5.0], 25.0) - 2.0).abs() < 1e-12);
    }
}
