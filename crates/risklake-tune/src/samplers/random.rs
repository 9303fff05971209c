//! Uniform sampling, and the Latin hypercube TPE draws its startup trials from.

use std::sync::Arc;

use risklake_core::rng::Rng;

use super::{stream, Sampler, Space};
use crate::distributions::Distribution;
use crate::trial::{Direction, FrozenTrial};

/// Uniform sampling (log-uniform on log scales).
pub struct RandomSampler {
    pub seed: u64,
}

impl RandomSampler {
    pub(super) fn draw(&self, dist: &Distribution, rng: &mut Rng) -> f64 {
        match dist {
            Distribution::Categorical { choices } => rng.below(choices.len() as u64) as f64,
            _ => {
                let s = Space::of(dist).expect("numeric");
                s.to_value(s.low + rng.uniform() * (s.high - s.low))
            }
        }
    }
}

impl Sampler for RandomSampler {
    fn sample(&self, _h: &[Arc<FrozenTrial>], _d: Direction, name: &str, dist: &Distribution, number: usize) -> f64 {
        self.draw(dist, &mut stream(self.seed, number, name))
    }
}

/// A Latin hypercube over `n` trials: trial `number` (mod n) takes, for each parameter,
/// its own stratum of a permutation seeded by the parameter's name, and a uniform point
/// inside it (so the startup trials cover every parameter's range evenly).
pub(super) fn latin_draw(seed: u64, name: &str, dist: &Distribution, number: usize, n: usize, rng: &mut Rng) -> f64 {
    let mut perm: Vec<usize> = (0..n).collect();
    let mut prng = stream(seed ^ 0x4c48_5321, usize::MAX, name);
    for i in (1..n).rev() {
        perm.swap(i, prng.below(i as u64 + 1) as usize);
    }
    let u = (perm[number % n] as f64 + rng.uniform()) / n as f64;
    match dist {
        Distribution::Categorical { choices } => ((u * choices.len() as f64) as usize).min(choices.len() - 1) as f64,
        _ => {
            let s = Space::of(dist).expect("numeric");
            s.to_value(s.low + u * (s.high - s.low))
        }
    }
}
