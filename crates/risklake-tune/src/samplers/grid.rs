//! Grid search: every combination of given values, in order.

use std::sync::Arc;

use super::random::RandomSampler;
use super::{stream, Sampler};
use crate::distributions::Distribution;
use crate::trial::{Direction, FrozenTrial};

/// Every combination of given values, in order; exhausted when all were tried.
pub struct GridSampler {
    /// (parameter, internal values).
    pub grid: Vec<(String, Vec<f64>)>,
}

impl GridSampler {
    pub(super) fn size(&self) -> usize {
        self.grid.iter().map(|g| g.1.len().max(1)).product()
    }
}

impl Sampler for GridSampler {
    fn sample(&self, _h: &[Arc<FrozenTrial>], _d: Direction, name: &str, dist: &Distribution, number: usize) -> f64 {
        let mut index = number % self.size().max(1);
        for (n, values) in &self.grid {
            let k = values.len().max(1);
            if n == name {
                return values
                    .get(index % k)
                    .copied()
                    .unwrap_or_else(|| RandomSampler { seed: 0 }.draw(dist, &mut stream(0, number, name)));
            }
            index /= k;
        }
        // A parameter outside the grid: random.
        RandomSampler { seed: 0 }.draw(dist, &mut stream(0, number, name))
    }

    fn exhausted(&self, history: &[Arc<FrozenTrial>]) -> bool {
        history.len() >= self.size()
    }
}
