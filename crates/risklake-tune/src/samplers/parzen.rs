//! The Parzen mixtures TPE scores candidates with: truncated-normal kernels per numeric
//! dimension (bin masses for discrete ones), categorical kernels, the kernels' weights, and
//! the numerics they need (log normal masses in the tails, a fast bounded exp, log-sum-exp).

use risklake_core::rng::Rng;

use super::ziggurat::standard_normal;
use super::Space;
use crate::distributions::Distribution;

/// Optuna's default weights: flat for the last 25 trials, a ramp from 1/n before them.
pub(super) fn default_weights(n: usize) -> Vec<f64> {
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

pub(super) const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// `ln Q(z)`, the log upper tail of the standard normal, for `z >= 8`: the asymptotic
/// series to its sixth term (relative error below 2e-7 at 8, falling fast beyond).
pub(super) fn ln_upper_tail(z: f64) -> f64 {
    if z == f64::INFINITY {
        return f64::NEG_INFINITY;
    }
    let r = 1.0 / (z * z);
    let series = 1.0 + r * (-1.0 + r * (3.0 + r * (-15.0 + r * (105.0 - 945.0 * r))));
    -0.5 * z * z - z.ln() - LN_SQRT_2PI + series.ln()
}

/// `ln (Phi(b) - Phi(a))` for `a < b`: the log mass of a standard normal on `[a, b]`,
/// accurate in the tails (far kernels of a long study) where the difference of CDFs
/// would round to zero.
pub(super) fn ln_gauss_mass(a: f64, b: f64) -> f64 {
    if a >= 0.0 {
        // Both in the upper half: work with upper tails.
        if a >= 8.0 {
            let (ta, tb) = (ln_upper_tail(a), ln_upper_tail(b));
            return ta + (-(tb - ta).exp()).ln_1p();
        }
        let q = |z: f64| 0.5 * libm::erfc(z / std::f64::consts::SQRT_2);
        let m = q(a) - q(b);
        if m > 0.0 {
            return m.ln();
        }
        return ln_upper_tail(a.max(8.0));
    }
    if b <= 0.0 {
        return ln_gauss_mass(-b, -a);
    }
    // Straddles 0: each tail is at most a half, and beyond 8.3 sigmas below 1e-16.
    if a < -8.3 && b > 8.3 {
        return 0.0;
    }
    let q = |z: f64| {
        if z > 8.3 {
            0.0
        } else {
            0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
        }
    };
    (1.0 - q(-a) - q(b)).ln()
}

/// One numeric dimension of a Parzen mixture: a truncated normal per kernel (the
/// observations', then the prior's) on the sampling space `[space.low, space.high]`.
/// Discrete ones (a step, or integers) weigh a value by its bin's mass, as Optuna's.
pub(super) struct Numeric {
    pub(super) space: Space,
    pub(super) mus: Vec<f64>,
    pub(super) sigmas: Vec<f64>,
    pub(super) inv: Vec<f64>,
    /// Half a step in the distribution's units; 0 for continuous dimensions.
    pub(super) half_step: f64,
}

pub(super) enum Dim {
    Numeric(Numeric),
    /// Per kernel, probabilities of the choices (to sample); per choice, their logs over
    /// the kernels (to score).
    Categorical {
        probs: Vec<Vec<f64>>,
        log_by_choice: Vec<Vec<f64>>,
    },
}

impl Numeric {
    /// Optuna 5's bandwidths: the larger gap to the sorted neighbours (the bounds at the
    /// ends, which the outermost kernels do not use), clipped to
    /// `[range / min(100, n + 2), range]`; the prior kernel is centred with the range as
    /// its width.
    /// `order`: the kernels' (sampling-space value, kernel) pairs, sorted by value.
    pub(super) fn new(order: &[(f64, u32)], space: Space) -> Numeric {
        let (low, high) = (space.low, space.high);
        let range = high - low;
        let m = order.len();
        let at = |i: usize| -> f64 {
            // Position i of [low, sorted values.., high].
            if i == 0 {
                low
            } else if i > m {
                high
            } else {
                order[i - 1].0
            }
        };
        let min_sigma = range / 100f64.min(1.0 + (m + 1) as f64);
        let mut sigmas = vec![0.0; m + 1];
        for (k, &(v, i)) in order.iter().enumerate() {
            let p = k + 1;
            let gap = if m >= 2 && k == 0 {
                at(2) - v
            } else if m >= 2 && k == m - 1 {
                v - at(m - 1)
            } else {
                (v - at(p - 1)).max(at(p + 1) - v)
            };
            sigmas[i as usize] = gap.clamp(min_sigma, range);
        }
        sigmas[m] = range;
        let mut mus = vec![0.0; m + 1];
        for &(v, i) in order {
            mus[i as usize] = v;
        }
        mus[m] = 0.5 * (low + high);
        let inv = sigmas.iter().map(|s| 1.0 / s).collect();
        let half_step = match space.step {
            Some(s) => s / 2.0,
            None if space.int => 0.5,
            None => 0.0,
        };
        Numeric {
            space,
            mus,
            sigmas,
            inv,
            half_step,
        }
    }

    /// Per kernel, the log of what its density (continuous) or bin masses (discrete)
    /// are divided by: the truncated mass, and for densities `sigma sqrt(2 pi)`.
    pub(super) fn log_norm(&self, k: usize) -> f64 {
        let (mu, inv) = (self.mus[k], self.inv[k]);
        let mass = ln_gauss_mass((self.space.low - mu) * inv, (self.space.high - mu) * inv);
        if self.half_step > 0.0 {
            mass
        } else {
            mass + self.sigmas[k].ln() + LN_SQRT_2PI
        }
    }

    /// Adds each kernel's log density (less its normalizer) at value `v` to `terms`.
    pub(super) fn add_log_pdf(&self, v: f64, terms: &mut [f64]) {
        if self.half_step == 0.0 {
            let x = self.space.to_space(v);
            for ((t, &mu), &inv) in terms.iter_mut().zip(&self.mus).zip(&self.inv) {
                let z = (x - mu) * inv;
                *t -= 0.5 * z * z;
            }
        } else {
            let (a, b) = (
                self.space.to_space(v - self.half_step),
                self.space.to_space(v + self.half_step),
            );
            for ((t, &mu), &inv) in terms.iter_mut().zip(&self.mus).zip(&self.inv) {
                *t += ln_gauss_mass((a - mu) * inv, (b - mu) * inv);
            }
        }
    }

    /// A value of kernel `k` (in the distribution's units, rounded to its grid): normal
    /// deviates (ziggurat) until one falls inside the bounds.
    pub(super) fn sample(&self, k: usize, rng: &mut Rng) -> f64 {
        let (low, high) = (self.space.low, self.space.high);
        let (mu, sigma) = (self.mus[k], self.sigmas[k]);
        for _ in 0..1000 {
            let x = mu + sigma * standard_normal(rng);
            if (low..=high).contains(&x) {
                return self.space.to_value(x);
            }
        }
        self.space.to_value(mu.clamp(low, high))
    }
}

impl Dim {
    /// Adds this dimension's log density at value `v` to every kernel's term.
    pub(super) fn add_log_pdf(&self, v: f64, terms: &mut [f64]) {
        match self {
            Dim::Numeric(num) => num.add_log_pdf(v, terms),
            Dim::Categorical { log_by_choice, .. } => {
                for (t, l) in terms.iter_mut().zip(&log_by_choice[v as usize]) {
                    *t += l;
                }
            }
        }
    }

    pub(super) fn categorical(obs: &[f64], n_choices: usize, prior_weight: f64) -> Dim {
        let n_kernels = obs.len() + 1;
        let mut probs = vec![vec![prior_weight / n_kernels as f64; n_choices]; n_kernels];
        for (i, &o) in obs.iter().enumerate() {
            probs[i][o as usize] += 1.0;
        }
        for row in probs.iter_mut() {
            let s: f64 = row.iter().sum();
            row.iter_mut().for_each(|p| *p /= s);
        }
        let log_by_choice = (0..n_choices)
            .map(|c| probs.iter().map(|row| row[c].max(1e-300).ln()).collect())
            .collect();
        Dim::Categorical { probs, log_by_choice }
    }
}

/// `e^x` for `x <= 0`, with `x` below -40 taken as -40 (e^-40 is 4e-18: negligible next
/// to the 1 a log-sum-exp always has). Branch-free (so a loop of them vectorizes): 2^k
/// times a degree-13 Taylor polynomial on `|r| <= ln 2 / 2`, relative error ~1e-16.
#[inline(always)]
pub(super) fn exp_above_minus_40(x: f64) -> f64 {
    let x = x.max(-40.0);
    let k = (x * std::f64::consts::LOG2_E).round();
    // ln 2 in two parts (Cody and Waite), so that r keeps its low bits for k up to 58.
    let r = (x - k * 6.931_471_803_691_238_2e-1) - k * 1.908_214_929_270_587_7e-10;
    // Horner on 1/13!, 1/12!, ..., 1/1!, 1/0!.
    let mut p = 1.0 / 6_227_020_800.0;
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // k is in [-58, 0]: 2^k is a normal float built from its exponent bits.
    p * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

pub(super) fn pick(weights: &[f64], rng: &mut Rng) -> usize {
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

/// A Parzen estimator over one or more parameters: kernels that span every dimension,
/// stored by dimension (each dimension's kernels contiguous, so scoring a point is a
/// few vectorized passes and one log-sum-exp).
pub(super) struct Mixture {
    pub(super) weights: Vec<f64>,
    /// Per kernel: log weight less every dimension's normalizer.
    pub(super) base: Vec<f64>,
    pub(super) dims: Vec<Dim>,
}

impl Mixture {
    /// The mixture of one side's kernels (oldest first) and the prior. `norm(dim, slot,
    /// numeric, kernel)` gives a numeric kernel's log normalizer (memoized by the caller).
    pub(super) fn new(
        space: &[(String, Distribution)],
        side: &Side,
        prior_weight: f64,
        norm: &mut dyn FnMut(usize, Option<u32>, &Numeric, usize) -> f64,
    ) -> Mixture {
        let n = side.rows.len();
        let mut weights = default_weights(n);
        weights.push(prior_weight);
        let dims: Vec<Dim> = space
            .iter()
            .enumerate()
            .map(|(j, (_, dist))| match dist {
                Distribution::Categorical { choices } => {
                    let obs: Vec<f64> = side.rows.iter().map(|r| r[j]).collect();
                    Dim::categorical(&obs, choices.len(), prior_weight)
                }
                _ => Dim::Numeric(Numeric::new(&side.sorted[j], Space::of(dist).unwrap())),
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut base: Vec<f64> = weights.iter().map(|w| (w / total).ln()).collect();
        for (j, d) in dims.iter().enumerate() {
            if let Dim::Numeric(num) = d {
                for (k, b) in base.iter_mut().enumerate() {
                    *b -= norm(j, side.slots.get(k).copied().flatten(), num, k);
                }
            }
        }
        Mixture { weights, base, dims }
    }

    /// A point (internal values): a kernel by weight, then each dimension from it.
    pub(super) fn sample(&self, rng: &mut Rng) -> Vec<f64> {
        let k = pick(&self.weights, rng);
        self.dims
            .iter()
            .map(|d| match d {
                Dim::Numeric(num) => num.sample(k, rng),
                Dim::Categorical { probs, .. } => pick(&probs[k], rng) as f64,
            })
            .collect()
    }

    /// The log densities at several points (internal values). Points go in blocks of
    /// four whose terms are interleaved per kernel, so a continuous dimension's kernel
    /// parameters are loaded once per block and the four updates vectorize; with AVX2
    /// where the processor has it (the same arithmetic, no fused multiply-adds, so the
    /// same results to the bit).
    pub(super) fn log_pdf_many(&self, xs: &[Vec<f64>], out: &mut Vec<f64>) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2 (checked just above).
            return unsafe { self.log_pdf_many_avx2(xs, out) };
        }
        self.log_pdf_many_impl(xs, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn log_pdf_many_avx2(&self, xs: &[Vec<f64>], out: &mut Vec<f64>) {
        self.log_pdf_many_impl(xs, out)
    }

    #[inline(always)]
    pub(super) fn log_pdf_many_impl(&self, xs: &[Vec<f64>], out: &mut Vec<f64>) {
        const B: usize = 4;
        out.clear();
        let k_all = self.base.len();
        let mut block = vec![0.0; k_all * B];
        let mut terms = Vec::new();
        for chunk in xs.chunks(B) {
            if chunk.len() < B {
                out.extend(chunk.iter().map(|x| self.log_pdf(x, &mut terms)));
                continue;
            }
            for (k, t) in block.chunks_exact_mut(B).enumerate() {
                t.fill(self.base[k]);
            }
            for (j, d) in self.dims.iter().enumerate() {
                match d {
                    Dim::Numeric(num) if num.half_step == 0.0 => {
                        let x: [f64; B] = std::array::from_fn(|c| num.space.to_space(chunk[c][j]));
                        for ((t, &mu), &inv) in block.chunks_exact_mut(B).zip(&num.mus).zip(&num.inv) {
                            for c in 0..B {
                                let z = (x[c] - mu) * inv;
                                t[c] -= 0.5 * z * z;
                            }
                        }
                    }
                    _ => {
                        // Bins and choices: per point, as `log_pdf` does.
                        for (c, x) in chunk.iter().enumerate() {
                            terms.clear();
                            terms.resize(k_all, 0.0);
                            d.add_log_pdf(x[j], &mut terms);
                            for (t, v) in block.chunks_exact_mut(B).zip(&terms) {
                                t[c] += v;
                            }
                        }
                    }
                }
            }
            // The four log-sum-exps in two passes over the block (as `log_sum_exp`).
            let mut top = [f64::NEG_INFINITY; B];
            for t in block.chunks_exact(B) {
                for c in 0..B {
                    top[c] = top[c].max(t[c]);
                }
            }
            let mut sum = [0.0; B];
            for t in block.chunks_exact(B) {
                for c in 0..B {
                    if t[c] > top[c] - 40.0 {
                        sum[c] += exp_above_minus_40(t[c] - top[c]);
                    }
                }
            }
            for c in 0..B {
                out.push(if top[c] == f64::NEG_INFINITY {
                    top[c]
                } else {
                    top[c] + sum[c].ln()
                });
            }
        }
    }

    /// The log density at a point (internal values); `terms` is scratch space.
    pub(super) fn log_pdf(&self, x: &[f64], terms: &mut Vec<f64>) -> f64 {
        terms.clear();
        terms.extend_from_slice(&self.base);
        for (d, &v) in self.dims.iter().zip(x) {
            d.add_log_pdf(v, terms);
        }
        log_sum_exp(terms.iter().copied())
    }
}

/// `ln sum e^t`, exact to rounding: terms more than 40 below the largest are left out
/// (e^-40 does not change a sum that holds a 1).
pub(super) fn log_sum_exp(terms: impl Iterator<Item = f64> + Clone) -> f64 {
    let top = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY {
        return top;
    }
    let cut = top - 40.0;
    let sum: f64 = terms.filter(|&t| t > cut).map(|t| exp_above_minus_40(t - top)).sum();
    top + sum.ln()
}

/// The kernels of one side of the split, in trial-number order: their values, and per
/// numeric dimension their (sampling-space value, kernel) pairs in sorted order.
pub(super) struct Side<'a> {
    pub(super) rows: Vec<&'a [f64]>,
    pub(super) sorted: Vec<Vec<(f64, u32)>>,
    /// Per kernel: its cache slot (for the normalizer memo), if cached.
    pub(super) slots: Vec<Option<u32>>,
}
