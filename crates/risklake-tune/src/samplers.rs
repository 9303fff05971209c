//! Samplers: random, grid and TPE (Optuna 5's Tree-structured Parzen Estimator with its
//! defaults: multivariate kernels for one objective, 10 random startup trials, 24
//! candidates, the best `min(ceil(0.1 n), 25)` trials as "good", a prior kernel, the magic
//! clip of bandwidths, ramped weights that fade the oldest trials after 25, and the
//! constant liar for parallel workers).

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

    /// Values drawn jointly for several parameters when a trial starts (multivariate TPE):
    /// (name, internal value); `sample` covers the parameters left out.
    fn sample_relative(&self, _history: &[FrozenTrial], _direction: Direction, _number: usize) -> Vec<(String, f64)> {
        Vec::new()
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

/// Optuna 5's TPE, see the module docs.
pub struct TpeSampler {
    pub seed: u64,
    /// Joint kernels over the parameters every finished trial has (Optuna 5's default for
    /// one objective); otherwise each parameter on its own.
    pub multivariate: bool,
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
            multivariate: true,
            n_startup_trials: 10,
            n_ei_candidates: 24,
            prior_weight: 1.0,
            constant_liar: true,
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
    // Beyond 8.3 sigmas the tail is below 1e-16: no need for erfc (most kernels of a
    // long study sit far inside the bounds).
    if x > 8.3 {
        1.0
    } else if x < -8.3 {
        0.0
    } else {
        0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
    }
}

/// One dimension of a Parzen mixture: every kernel's distribution over this parameter
/// (the observations' kernels, then the prior's).
enum Dim {
    /// Truncated normals on `[low, high]` (the sampling space: log for log scales).
    /// `norm[k]`: log of kernel k's normalizer (its sigma and truncated mass).
    Numeric {
        mus: Vec<f64>,
        sigmas: Vec<f64>,
        norm: Vec<f64>,
        low: f64,
        high: f64,
    },
    /// Per kernel, probabilities of the choices.
    Categorical { probs: Vec<Vec<f64>> },
}

impl Dim {
    /// Optuna 5's bandwidths: the larger gap to the sorted neighbours (the bounds at the
    /// ends, which the outermost kernels do not use), clipped to
    /// `[range / min(100, n + 2), range]`; the prior kernel is centred with the range as
    /// its width.
    fn numeric(obs: &[f64], low: f64, high: f64) -> Dim {
        let range = high - low;
        let mut order: Vec<usize> = (0..obs.len()).collect();
        order.sort_unstable_by(|&a, &b| obs[a].total_cmp(&obs[b]).then(a.cmp(&b)));
        let m = obs.len();
        let mut ends = Vec::with_capacity(m + 2);
        ends.push(low);
        ends.extend(order.iter().map(|&i| obs[i]));
        ends.push(high);
        let mut sorted: Vec<f64> = (1..=m)
            .map(|i| (ends[i] - ends[i - 1]).max(ends[i + 1] - ends[i]))
            .collect();
        if ends.len() >= 4 {
            sorted[0] = ends[2] - ends[1];
            sorted[m - 1] = ends[m] - ends[m - 1];
        }
        let min_sigma = range / 100f64.min(1.0 + (m + 1) as f64);
        let mut sigmas = vec![0.0; m];
        for (k, &i) in order.iter().enumerate() {
            sigmas[i] = sorted[k].clamp(min_sigma, range);
        }
        sigmas.push(range);
        let mut mus = obs.to_vec();
        mus.push(0.5 * (low + high));
        let norm = mus
            .iter()
            .zip(&sigmas)
            .map(|(&m, &s)| {
                let mass = (normal_cdf((high - m) / s) - normal_cdf((low - m) / s)).max(1e-300);
                (s * (2.0 * std::f64::consts::PI).sqrt()).ln() + mass.ln()
            })
            .collect();
        Dim::Numeric {
            mus,
            sigmas,
            norm,
            low,
            high,
        }
    }

    fn categorical(obs: &[f64], n_choices: usize, prior_weight: f64) -> Dim {
        let n_kernels = obs.len() + 1;
        let mut probs = vec![vec![prior_weight / n_kernels as f64; n_choices]; n_kernels];
        for (i, &o) in obs.iter().enumerate() {
            probs[i][o as usize] += 1.0;
        }
        for row in probs.iter_mut() {
            let s: f64 = row.iter().sum();
            row.iter_mut().for_each(|p| *p /= s);
        }
        Dim::Categorical { probs }
    }

    fn sample(&self, k: usize, rng: &mut Rng) -> f64 {
        match self {
            Dim::Numeric {
                mus, sigmas, low, high, ..
            } => {
                for _ in 0..1000 {
                    let x = mus[k] + sigmas[k] * rng.normal();
                    if (*low..=*high).contains(&x) {
                        return x;
                    }
                }
                mus[k].clamp(*low, *high)
            }
            Dim::Categorical { probs } => pick(&probs[k], rng) as f64,
        }
    }

    fn log_pdf(&self, k: usize, x: f64) -> f64 {
        match self {
            Dim::Numeric { mus, sigmas, norm, .. } => {
                let z = (x - mus[k]) / sigmas[k];
                -0.5 * z * z - norm[k]
            }
            Dim::Categorical { probs } => probs[k][x as usize].max(1e-300).ln(),
        }
    }
}

fn pick(weights: &[f64], rng: &mut Rng) -> usize {
    let total: f64 = weights.iter().sum();
    let u = rng.uniform() * total;
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if u < acc {
            return i;
        }
    }
    weights.len() - 1
}

/// A Parzen estimator over one or more parameters: kernels that span every dimension.
struct Mixture {
    weights: Vec<f64>,
    log_weights: Vec<f64>,
    dims: Vec<Dim>,
}

impl Mixture {
    /// `obs[d][i]`: observation `i` of dimension `d` (sampling space), oldest first.
    fn new(space: &[(&str, &Distribution)], obs: &[Vec<f64>], prior_weight: f64) -> Mixture {
        let n = obs.first().map_or(0, Vec::len);
        let mut weights = default_weights(n);
        weights.push(prior_weight);
        let dims = space
            .iter()
            .zip(obs)
            .map(|((_, dist), o)| match dist {
                Distribution::Categorical { choices } => Dim::categorical(o, choices.len(), prior_weight),
                _ => {
                    let s = Space::of(dist).unwrap();
                    Dim::numeric(o, s.low, s.high)
                }
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let log_weights = weights.iter().map(|w| (w / total).ln()).collect();
        Mixture {
            weights,
            log_weights,
            dims,
        }
    }

    fn sample(&self, rng: &mut Rng) -> Vec<f64> {
        let k = pick(&self.weights, rng);
        self.dims.iter().map(|d| d.sample(k, rng)).collect()
    }

    fn log_pdf(&self, x: &[f64], terms: &mut Vec<f64>) -> f64 {
        terms.clear();
        terms.extend(
            self.log_weights
                .iter()
                .enumerate()
                .map(|(k, lw)| lw + self.dims.iter().zip(x).map(|(d, &v)| d.log_pdf(k, v)).sum::<f64>()),
        );
        let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln()
    }
}

impl TpeSampler {
    /// Finished (and, with the constant liar, running) trials split into the good
    /// (`below`) and the rest, each oldest first, as Optuna's `_split_trials`.
    fn split<'a>(
        &self,
        history: &'a [FrozenTrial],
        direction: Direction,
        number: usize,
    ) -> Option<(Vec<&'a FrozenTrial>, Vec<&'a FrozenTrial>)> {
        let finished = history
            .iter()
            .filter(|t| matches!(t.state, TrialState::Complete | TrialState::Pruned))
            .count();
        if finished < self.n_startup_trials {
            return None;
        }
        let mut complete: Vec<&FrozenTrial> = history
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.value().is_some_and(|v| !v.is_nan()))
            .collect();
        complete.sort_by(|a, b| {
            let c = a.value().unwrap().total_cmp(&b.value().unwrap());
            if direction == Direction::Maximize {
                c.reverse()
            } else {
                c
            }
        });
        // Pruned trials: further steps first, then better values at their last step.
        let mut pruned: Vec<&FrozenTrial> = history.iter().filter(|t| t.state == TrialState::Pruned).collect();
        pruned.sort_by(|a, b| {
            let la = a.intermediate_values.iter().next_back();
            let lb = b.intermediate_values.iter().next_back();
            match (la, lb) {
                (Some((sa, va)), Some((sb, vb))) => sb.cmp(sa).then_with(|| {
                    let c = va.total_cmp(vb);
                    if direction == Direction::Maximize {
                        c.reverse()
                    } else {
                        c
                    }
                }),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        });
        let n_below = gamma(finished);
        let ranked: Vec<&FrozenTrial> = complete.into_iter().chain(pruned).collect();
        let mut below: Vec<&FrozenTrial> = ranked.iter().take(n_below).copied().collect();
        let mut above: Vec<&FrozenTrial> = ranked.iter().skip(n_below).copied().collect();
        if self.constant_liar {
            above.extend(
                history
                    .iter()
                    .filter(|t| t.state == TrialState::Running && t.number != number),
            );
        }
        below.sort_by_key(|t| t.number);
        above.sort_by_key(|t| t.number);
        Some((below, above))
    }

    /// Joint TPE over `space`: candidates from the good trials' mixture, the one with the
    /// largest `log l(x) - log g(x)` wins. Internal values, in `space` order.
    fn sample_joint(
        &self,
        history: &[FrozenTrial],
        direction: Direction,
        space: &[(&str, &Distribution)],
        number: usize,
        rng: &mut Rng,
    ) -> Option<Vec<f64>> {
        let (below, above) = self.split(history, direction, number)?;
        let observe = |trials: &[&FrozenTrial]| -> Vec<Vec<f64>> {
            let usable: Vec<&&FrozenTrial> = trials
                .iter()
                .filter(|t| space.iter().enumerate().all(|(j, (n, _))| t.param_at(n, j).is_some()))
                .collect();
            space
                .iter()
                .enumerate()
                .map(|(j, (n, d))| {
                    usable
                        .iter()
                        .map(|t| {
                            let v = t.param_at(n, j).unwrap().0;
                            match d {
                                Distribution::Categorical { .. } => v,
                                _ => Space::of(d).unwrap().to_space(v),
                            }
                        })
                        .collect()
                })
                .collect()
        };
        let l = Mixture::new(space, &observe(&below), self.prior_weight);
        let g = Mixture::new(space, &observe(&above), self.prior_weight);
        let mut best: Option<(f64, Vec<f64>)> = None;
        let mut terms = Vec::new();
        for _ in 0..self.n_ei_candidates {
            let x = l.sample(rng);
            let score = l.log_pdf(&x, &mut terms) - g.log_pdf(&x, &mut terms);
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, x));
            }
        }
        let (_, x) = best?;
        Some(
            space
                .iter()
                .zip(x)
                .map(|((_, d), v)| match d {
                    Distribution::Categorical { .. } => v,
                    _ => Space::of(d).unwrap().to_value(v),
                })
                .collect(),
        )
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
        match self.sample_joint(history, direction, &[(name, dist)], number, &mut rng) {
            Some(x) => x[0],
            None => RandomSampler { seed: self.seed }.draw(dist, &mut rng),
        }
    }

    fn sample_relative(&self, history: &[FrozenTrial], direction: Direction, number: usize) -> Vec<(String, f64)> {
        if !self.multivariate {
            return Vec::new();
        }
        // The parameters every finished trial has, with one distribution each (Optuna's
        // intersection search space), single-valued ones left out.
        let finished: Vec<&FrozenTrial> = history
            .iter()
            .filter(|t| matches!(t.state, TrialState::Complete | TrialState::Pruned))
            .collect();
        let Some(first) = finished.first() else {
            return Vec::new();
        };
        let space: Vec<(&str, &Distribution)> = first
            .params
            .iter()
            .enumerate()
            .filter(|(j, (n, _, d))| {
                !d.single() && finished.iter().all(|t| t.param_at(n, *j).is_some_and(|(_, e)| e == d))
            })
            .map(|(_, p)| p)
            .map(|(n, _, d)| (n.as_str(), d))
            .collect();
        if space.is_empty() {
            return Vec::new();
        }
        let mut rng = stream(self.seed, number, "\u{0}relative");
        match self.sample_joint(history, direction, &space, number, &mut rng) {
            Some(x) => space.iter().zip(x).map(|((n, _), v)| (n.to_string(), v)).collect(),
            None => Vec::new(),
        }
    }
}
