//! Samplers: random, grid and TPE (Optuna's default univariate Tree-structured Parzen
//! Estimator, with its defaults: 10 random startup trials, 24 candidates, the best
//! `min(ceil(0.1 n), 25)` trials as "good", a prior kernel, the magic clip of bandwidths
//! and ramped weights that fade the oldest trials after 25).

use risklake_core::rng::Rng;

use crate::distributions::Distribution;
use crate::storage::{Direction, FrozenTrial, TrialState};

/// Picks a parameter's internal value for a new trial.
pub trait Sampler: Send + Sync {
    /// `history`: the study's trials when the trial was asked (any state);
    /// `number`: the new trial's number.
    fn sample(
        &self,
        history: &[FrozenTrial],
        direction: Direction,
        name: &str,
        dist: &Distribution,
        number: usize,
    ) -> f64;

    /// Whether the sampler has nothing left to propose (a finished grid).
    fn exhausted(&self, _history: &[FrozenTrial]) -> bool {
        false
    }
}

/// A stream for (seed, trial, parameter): the same trial draws the same values however
/// many workers run.
fn stream(seed: u64, number: usize, name: &str) -> Rng {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    Rng::for_stream(seed ^ h, number as u64)
}

/// The space a parameter is sampled in: log for log scales; bounds widened by half a
/// step for discrete ones, as Optuna's.
struct Space {
    low: f64,
    high: f64,
    log: bool,
    step: Option<f64>,
    /// The distribution's own bounds (to round and clip into).
    lo: f64,
    hi: f64,
    int: bool,
}

impl Space {
    fn of(dist: &Distribution) -> Option<Space> {
        match *dist {
            Distribution::Float { low, high, log, step } => Some(if log {
                Space {
                    low: low.ln(),
                    high: high.ln(),
                    log,
                    step: None,
                    lo: low,
                    hi: high,
                    int: false,
                }
            } else {
                let h = step.unwrap_or(0.0) / 2.0;
                Space {
                    low: low - h,
                    high: high + h,
                    log,
                    step,
                    lo: low,
                    hi: high,
                    int: false,
                }
            }),
            Distribution::Int { low, high, log, step } => {
                let (low, high) = (low as f64, high as f64);
                Some(if log {
                    Space {
                        low: (low - 0.5).ln(),
                        high: (high + 0.5).ln(),
                        log,
                        step: None,
                        lo: low,
                        hi: high,
                        int: true,
                    }
                } else {
                    let s = step as f64;
                    Space {
                        low: low - s / 2.0,
                        high: high + s / 2.0,
                        log,
                        step: Some(s),
                        lo: low,
                        hi: high,
                        int: true,
                    }
                })
            }
            Distribution::Categorical { .. } => None,
        }
    }

    fn to_space(&self, v: f64) -> f64 {
        if self.log {
            v.ln()
        } else {
            v
        }
    }

    /// A point of the sampling space as a value of the distribution.
    fn to_value(&self, x: f64) -> f64 {
        let mut v = if self.log { x.exp() } else { x };
        if let Some(s) = self.step {
            v = self.lo + ((v - self.lo) / s).round() * s;
        }
        if self.int {
            v = v.round();
        }
        v.clamp(self.lo, self.hi)
    }
}

/// Uniform sampling (log-uniform on log scales).
pub struct RandomSampler {
    pub seed: u64,
}

impl RandomSampler {
    fn draw(&self, dist: &Distribution, rng: &mut Rng) -> f64 {
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
    fn sample(&self, _h: &[FrozenTrial], _d: Direction, name: &str, dist: &Distribution, number: usize) -> f64 {
        self.draw(dist, &mut stream(self.seed, number, name))
    }
}

/// Every combination of given values, in order; exhausted when all were tried.
pub struct GridSampler {
    /// (parameter, internal values).
    pub grid: Vec<(String, Vec<f64>)>,
}

impl GridSampler {
    fn size(&self) -> usize {
        self.grid.iter().map(|g| g.1.len().max(1)).product()
    }
}

impl Sampler for GridSampler {
    fn sample(&self, _h: &[FrozenTrial], _d: Direction, name: &str, dist: &Distribution, number: usize) -> f64 {
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

    fn exhausted(&self, history: &[FrozenTrial]) -> bool {
        history.len() >= self.size()
    }
}

/// Optuna's TPE (univariate), see the module docs.
pub struct TpeSampler {
    pub seed: u64,
    pub n_startup_trials: usize,
    pub n_ei_candidates: usize,
    pub prior_weight: f64,
    /// Running trials count as bad with the worst value seen (parallel workers do not
    /// all try the same point).
    pub constant_liar: bool,
}

impl Default for TpeSampler {
    fn default() -> Self {
        TpeSampler {
            seed: 0,
            n_startup_trials: 10,
            n_ei_candidates: 24,
            prior_weight: 1.0,
            constant_liar: false,
        }
    }
}

fn gamma(n: usize) -> usize {
    ((0.1 * n as f64).ceil() as usize).min(25)
}

/// Optuna's default weights: flat for the last 25 trials, a ramp from 1/n before them.
fn default_weights(n: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> = (0..ramp)
        .map(|i| {
            if ramp == 1 {
                1.0 / n as f64
            } else {
                1.0 / n as f64 + (1.0 - 1.0 / n as f64) * i as f64 / (ramp - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// A mixture of truncated normals on `[low, high]` (numeric) or of categorical
/// distributions.
enum Parzen {
    Numeric {
        weights: Vec<f64>,
        mus: Vec<f64>,
        sigmas: Vec<f64>,
        low: f64,
        high: f64,
    },
    Categorical {
        weights: Vec<f64>,
        probs: Vec<Vec<f64>>,
    },
}

impl Parzen {
    fn numeric(obs: &[f64], obs_weights: &[f64], low: f64, high: f64, prior_weight: f64) -> Parzen {
        let prior_mu = 0.5 * (low + high);
        let range = high - low;
        // Bandwidths: the larger gap to the sorted neighbours (the prior's mean among them,
        // the bounds as the ends), not at the ends; clipped to [range / min(100, n + 2), range].
        let mut with_prior: Vec<(f64, usize)> = obs
            .iter()
            .copied()
            .chain([prior_mu])
            .enumerate()
            .map(|(i, m)| (m, i))
            .collect();
        with_prior.sort_by(|a, b| a.0.total_cmp(&b.0));
        let m = with_prior.len();
        let mut ends = Vec::with_capacity(m + 2);
        ends.push(low);
        ends.extend(with_prior.iter().map(|p| p.0));
        ends.push(high);
        let mut sorted_sigmas: Vec<f64> = (1..=m)
            .map(|i| (ends[i] - ends[i - 1]).max(ends[i + 1] - ends[i]))
            .collect();
        if ends.len() >= 4 {
            sorted_sigmas[0] = ends[2] - ends[1];
            sorted_sigmas[m - 1] = ends[m] - ends[m - 1];
        }
        let mut sigmas = vec![0.0; m];
        for (k, &(_, i)) in with_prior.iter().enumerate() {
            sigmas[i] = sorted_sigmas[k];
        }
        let n_kernels = obs.len() + 1;
        let min_sigma = range / (100f64.min(1.0 + n_kernels as f64));
        let mut sigmas: Vec<f64> = sigmas[..obs.len()].iter().map(|s| s.clamp(min_sigma, range)).collect();
        sigmas.push(range);
        let mut mus = obs.to_vec();
        mus.push(prior_mu);
        let mut weights: Vec<f64> = obs_weights.to_vec();
        weights.push(prior_weight);
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        Parzen::Numeric {
            weights,
            mus,
            sigmas,
            low,
            high,
        }
    }

    fn categorical(obs: &[f64], obs_weights: &[f64], n_choices: usize, prior_weight: f64) -> Parzen {
        let n_kernels = obs.len() + 1;
        let mut probs = vec![vec![prior_weight / n_kernels as f64; n_choices]; n_kernels];
        for (i, &o) in obs.iter().enumerate() {
            probs[i][o as usize] += 1.0;
        }
        for row in probs.iter_mut() {
            let s: f64 = row.iter().sum();
            row.iter_mut().for_each(|p| *p /= s);
        }
        let mut weights: Vec<f64> = obs_weights.to_vec();
        weights.push(prior_weight);
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        Parzen::Categorical { weights, probs }
    }

    fn pick(weights: &[f64], rng: &mut Rng) -> usize {
        let u = rng.uniform();
        let mut acc = 0.0;
        for (i, w) in weights.iter().enumerate() {
            acc += w;
            if u < acc {
                return i;
            }
        }
        weights.len() - 1
    }

    fn sample(&self, rng: &mut Rng) -> f64 {
        match self {
            Parzen::Numeric {
                weights,
                mus,
                sigmas,
                low,
                high,
            } => {
                let k = Self::pick(weights, rng);
                for _ in 0..1000 {
                    let x = mus[k] + sigmas[k] * rng.normal();
                    if (*low..=*high).contains(&x) {
                        return x;
                    }
                }
                mus[k].clamp(*low, *high)
            }
            Parzen::Categorical { weights, probs } => {
                let k = Self::pick(weights, rng);
                Self::pick(&probs[k], rng) as f64
            }
        }
    }

    fn log_pdf(&self, x: f64) -> f64 {
        match self {
            Parzen::Numeric {
                weights,
                mus,
                sigmas,
                low,
                high,
            } => {
                let terms: Vec<f64> = (0..mus.len())
                    .map(|k| {
                        let (m, s) = (mus[k], sigmas[k]);
                        let z = (x - m) / s;
                        let mass = (normal_cdf((high - m) / s) - normal_cdf((low - m) / s)).max(1e-300);
                        weights[k].ln() - 0.5 * z * z - (s * (2.0 * std::f64::consts::PI).sqrt()).ln() - mass.ln()
                    })
                    .collect();
                let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln()
            }
            Parzen::Categorical { weights, probs } => {
                let c = x as usize;
                weights
                    .iter()
                    .zip(probs)
                    .map(|(w, p)| w * p[c])
                    .sum::<f64>()
                    .max(1e-300)
                    .ln()
            }
        }
    }
}

impl Sampler for TpeSampler {
    fn sample(
        &self,
        history: &[FrozenTrial],
        direction: Direction,
        name: &str,
        dist: &Distribution,
        number: usize,
    ) -> f64 {
        let mut rng = stream(self.seed, number, name);
        // Finished trials with this parameter (pruned ones rank after complete ones).
        let mut scored: Vec<(&FrozenTrial, f64, u8)> = Vec::new();
        let worst = history
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .filter_map(|t| t.value())
            .fold(None, |acc: Option<f64>, v| match acc {
                Some(a) if direction.better(v, a) => Some(a),
                _ => Some(v),
            });
        for t in history {
            let Some((_, d)) = t.param(name) else { continue };
            if !d.compatible(dist) {
                continue;
            }
            match t.state {
                TrialState::Complete => {
                    if let Some(v) = t.value().filter(|v| !v.is_nan()) {
                        scored.push((t, v, 0));
                    }
                }
                TrialState::Pruned => {
                    let v = t.intermediate_values.values().last().copied().unwrap_or(f64::NAN);
                    scored.push((t, if v.is_nan() { f64::INFINITY } else { v }, 1));
                }
                TrialState::Running if self.constant_liar && t.number != number => {
                    if let Some(w) = worst {
                        scored.push((t, w, 2));
                    }
                }
                _ => {}
            }
        }
        let finished = history
            .iter()
            .filter(|t| t.state == TrialState::Complete || t.state == TrialState::Pruned)
            .count();
        if finished < self.n_startup_trials || scored.is_empty() {
            return RandomSampler { seed: self.seed }.draw(dist, &mut rng);
        }
        let n = scored.len();
        let n_below = gamma(n);
        // Order: complete by value (best first), then pruned, then running lies.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            let (ta, tb) = (&scored[a], &scored[b]);
            ta.2.cmp(&tb.2).then_with(|| {
                let (x, y) = (ta.1, tb.1);
                let c = x.total_cmp(&y);
                if direction == Direction::Maximize && ta.2 == 0 {
                    c.reverse()
                } else {
                    c
                }
            })
        });
        let mut below: Vec<usize> = order[..n_below].to_vec();
        let mut above: Vec<usize> = order[n_below..].to_vec();
        // Observations in trial-number order (the weights fade the oldest).
        below.sort_by_key(|&i| scored[i].0.number);
        above.sort_by_key(|&i| scored[i].0.number);
        let build = |idx: &[usize]| -> Parzen {
            let w = default_weights(idx.len());
            match dist {
                Distribution::Categorical { choices } => {
                    let obs: Vec<f64> = idx.iter().map(|&i| scored[i].0.param(name).unwrap().0).collect();
                    Parzen::categorical(&obs, &w, choices.len(), self.prior_weight)
                }
                _ => {
                    let s = Space::of(dist).unwrap();
                    let obs: Vec<f64> = idx
                        .iter()
                        .map(|&i| s.to_space(scored[i].0.param(name).unwrap().0))
                        .collect();
                    Parzen::numeric(&obs, &w, s.low, s.high, self.prior_weight)
                }
            }
        };
        let (l, g) = (build(&below), build(&above));
        let mut best = (f64::NEG_INFINITY, 0.0);
        for _ in 0..self.n_ei_candidates {
            let x = l.sample(&mut rng);
            let score = l.log_pdf(x) - g.log_pdf(x);
            if score > best.0 {
                best = (score, x);
            }
        }
        match dist {
            Distribution::Categorical { .. } => best.1,
            _ => Space::of(dist).unwrap().to_value(best.1),
        }
    }
}
