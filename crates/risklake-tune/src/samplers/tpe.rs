//! Optuna 5's Tree-structured Parzen Estimator (see the module docs of `samplers`): the
//! good / bad split of finished trials, the per-space cache of what was read, and the
//! proposal of new points.

use std::sync::{Arc, Mutex};

use risklake_core::rng::Rng;

use super::parzen::{Mixture, Numeric, Side};
use super::random::{latin_draw, RandomSampler};
use super::{stream, Sampler, Space};
use crate::distributions::Distribution;
use crate::trial::{Direction, FrozenTrial, TrialState};

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
    /// Startup trials as a Latin hypercube rather than independent uniform draws.
    pub latin_startup: bool,
    /// What it keeps between trials (finished trials are read once).
    pub cache: TpeCache,
    pub intersection: Mutex<Intersection>,
}

impl Default for TpeSampler {
    /// risklake's defaults (see the module docs).
    fn default() -> Self {
        TpeSampler {
            seed: 0,
            multivariate: true,
            n_startup_trials: 10,
            n_ei_candidates: 64,
            prior_weight: 1.0,
            constant_liar: true,
            latin_startup: true,
            cache: TpeCache::default(),
            intersection: Mutex::new(Intersection::default()),
        }
    }
}

impl TpeSampler {
    /// Optuna 5's `TPESampler()` settings exactly: 24 candidates, uniform startup.
    pub fn optuna() -> Self {
        TpeSampler {
            n_ei_candidates: 24,
            latin_startup: false,
            ..Default::default()
        }
    }
}

pub(super) fn gamma(n: usize) -> usize {
    ((0.1 * n as f64).ceil() as usize).min(25)
}

/// Where a finished trial ranks in Optuna's split: complete trials by value (best
/// first), then pruned ones (further steps first, then better last values), ties by
/// number.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
pub(super) struct Rank(u8, f64, f64, usize);

pub(super) fn rank_of(t: &FrozenTrial, direction: Direction) -> Option<Rank> {
    let sign = if direction == Direction::Maximize { -1.0 } else { 1.0 };
    match t.state {
        TrialState::Complete => t
            .value()
            .filter(|v| !v.is_nan())
            .map(|v| Rank(0, 0.0, sign * v, t.number)),
        TrialState::Pruned => Some(match t.intermediate_values.iter().next_back() {
            Some((&step, &v)) if v.is_nan() => Rank(1, -(step as f64), f64::INFINITY, t.number),
            Some((&step, &v)) => Rank(1, -(step as f64), sign * v, t.number),
            None => Rank(1, 1.0, 0.0, t.number),
        }),
        _ => None,
    }
}

pub(super) fn insert_sorted<T: PartialOrd + Copy>(v: &mut Vec<T>, x: T) {
    let at = v.partition_point(|e| e.partial_cmp(&x) == Some(std::cmp::Ordering::Less));
    v.insert(at, x);
}

/// A trial's internal values for `space`, if it has every parameter.
pub(super) fn row_of(t: &FrozenTrial, space: &[(String, Distribution)]) -> Option<Vec<f64>> {
    space
        .iter()
        .enumerate()
        .map(|(j, (n, _))| t.param_at(n, j).map(|p| p.0))
        .collect()
}

/// The finished (complete or pruned) trials of `history` not marked in `seen` yet, each
/// marked as it is returned: what a cache has still to read.
pub(super) fn newly_finished<'a>(
    history: &'a [Arc<FrozenTrial>],
    seen: &'a mut Vec<bool>,
) -> impl Iterator<Item = &'a FrozenTrial> + 'a {
    history.iter().filter_map(move |t| {
        if !matches!(t.state, TrialState::Complete | TrialState::Pruned) {
            return None;
        }
        if seen.len() <= t.number {
            seen.resize(t.number + 1, false);
        }
        (!std::mem::replace(&mut seen[t.number], true)).then_some(&**t)
    })
}

/// One dimension's (sampling-space value, kernel) pairs of `rows`, sorted by value, equal
/// values by kernel (that is, by age).
pub(super) fn sorted_dim(rows: &[&[f64]], j: usize, s: &Space) -> Vec<(f64, u32)> {
    let mut o: Vec<(f64, u32)> = rows
        .iter()
        .enumerate()
        .map(|(k, r)| (s.to_space(r[j]), k as u32))
        .collect();
    o.sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    o
}

/// What TPE keeps of one search space between trials. Finished trials never change, so
/// each is read once: its values, its rank, and its place in every dimension's sorted
/// order (Optuna re-reads and re-sorts the whole history for every trial).
pub(super) struct SpaceCache {
    pub(super) study: usize,
    pub(super) direction: Direction,
    pub(super) space: Vec<(String, Distribution)>,
    /// By trial number: whether the trial was read.
    pub(super) seen: Vec<bool>,
    pub(super) finished: usize,
    /// By slot: trial number and values (None without every parameter).
    pub(super) numbers: Vec<usize>,
    pub(super) rows: Vec<Option<Vec<f64>>>,
    /// Finished trials with a rank, best first: (rank, slot).
    pub(super) ranked: Vec<(Rank, u32)>,
    /// Slots in trial-number order.
    pub(super) by_number: Vec<(usize, u32)>,
    /// Per numeric dimension: (sampling-space value, slot), sorted by value, then number.
    pub(super) sorted: Vec<Vec<(f64, u32)>>,
    /// Per (slot, dimension): the last bandwidth and its kernel's log normalizer.
    pub(super) memo: Vec<(f64, f64)>,
}

impl SpaceCache {
    pub(super) fn new(study: usize, direction: Direction, space: Vec<(String, Distribution)>) -> SpaceCache {
        let dims = space.len();
        SpaceCache {
            study,
            direction,
            space,
            seen: Vec::new(),
            finished: 0,
            numbers: Vec::new(),
            rows: Vec::new(),
            ranked: Vec::new(),
            by_number: Vec::new(),
            sorted: vec![Vec::new(); dims],
            memo: Vec::new(),
        }
    }

    pub(super) fn update(&mut self, history: &[Arc<FrozenTrial>]) {
        let mut seen = std::mem::take(&mut self.seen);
        for t in newly_finished(history, &mut seen) {
            self.finished += 1;
            let slot = self.numbers.len() as u32;
            let row = row_of(t, &self.space);
            if let Some(row) = &row {
                for (j, (_, d)) in self.space.iter().enumerate() {
                    if let Some(s) = Space::of(d) {
                        // Equal values in trial-number order (as kernels are numbered),
                        // whatever order the trials finished in.
                        let x = s.to_space(row[j]);
                        let sorted = &mut self.sorted[j];
                        let numbers = &self.numbers;
                        let at = sorted.partition_point(|&(v, o)| v < x || (v == x && numbers[o as usize] < t.number));
                        sorted.insert(at, (x, slot));
                    }
                }
            }
            if let Some(r) = rank_of(t, self.direction) {
                insert_sorted(&mut self.ranked, (r, slot));
            }
            insert_sorted(&mut self.by_number, (t.number, slot));
            self.numbers.push(t.number);
            self.rows.push(row);
            self.memo.extend(std::iter::repeat_n((f64::NAN, 0.0), self.space.len()));
        }
        self.seen = seen;
    }
}

/// The TPE sampler's memory of the studies it served (see [`SpaceCache`]).
#[derive(Default)]
pub struct TpeCache(Mutex<Vec<SpaceCache>>);

impl TpeSampler {
    /// Joint TPE over `space`: candidates from the good trials' mixture, the one with the
    /// largest `log l(x) - log g(x)` wins. Internal values, in `space` order; None while
    /// there are too few finished trials.
    pub(super) fn sample_joint(
        &self,
        history: &[Arc<FrozenTrial>],
        direction: Direction,
        space: &[(String, Distribution)],
        number: usize,
        rng: &mut Rng,
    ) -> Option<Vec<f64>> {
        let study = history.first()?.study;
        let mut caches = self.cache.0.lock().unwrap_or_else(|e| e.into_inner());
        let at = match caches
            .iter()
            .position(|c| c.study == study && c.direction == direction && c.space == space)
        {
            Some(i) => i,
            None => {
                // One cache per search space seen (the joint one, and each parameter
                // sampled on its own); the oldest goes when there are many.
                if caches.len() >= 64 {
                    caches.remove(0);
                }
                caches.push(SpaceCache::new(study, direction, space.to_vec()));
                caches.len() - 1
            }
        };
        let cache = &mut caches[at];
        cache.update(history);
        if cache.finished < self.n_startup_trials {
            return None;
        }
        // Optuna's split: the best gamma(n) finished trials are "good"; the rest, and
        // with the constant liar the other running trials, are not.
        let n_below = gamma(cache.finished).min(cache.ranked.len());
        let mut is_below = vec![false; cache.numbers.len()];
        for &(_, slot) in &cache.ranked[..n_below] {
            is_below[slot as usize] = true;
        }
        let running: Vec<(usize, Vec<f64>)> = if self.constant_liar {
            history
                .iter()
                .filter(|t| t.state == TrialState::Running && t.number != number)
                .filter_map(|t| row_of(t, space).map(|r| (t.number, r)))
                .collect()
        } else {
            Vec::new()
        };
        let numeric: Vec<Option<Space>> = space.iter().map(|(_, d)| Space::of(d)).collect();
        let dims = space.len();

        // The good side: few kernels, sorted here.
        let mut below = Side {
            rows: Vec::new(),
            sorted: vec![Vec::new(); dims],
            slots: Vec::new(),
        };
        // The other side: cached trials keep their sorted order; running ones go in.
        let size = cache.numbers.len() + running.len();
        let mut above = Side {
            rows: Vec::with_capacity(size),
            sorted: vec![Vec::new(); dims],
            slots: Vec::with_capacity(size),
        };
        let mut kernel_above = vec![u32::MAX; cache.numbers.len()];
        let mut run = running.iter().peekable();
        for &(num, slot) in &cache.by_number {
            while let Some((_, row)) = run.next_if(|r| r.0 < num) {
                above.rows.push(row);
                above.slots.push(None);
            }
            let Some(row) = cache.rows[slot as usize].as_deref() else {
                continue;
            };
            let side = if is_below[slot as usize] {
                &mut below
            } else {
                kernel_above[slot as usize] = above.rows.len() as u32;
                &mut above
            };
            side.rows.push(row);
            side.slots.push(Some(slot));
        }
        for (_, row) in run {
            above.rows.push(row);
            above.slots.push(None);
        }
        for (j, s) in numeric.iter().enumerate() {
            let Some(s) = s else { continue };
            below.sorted[j] = sorted_dim(&below.rows, j, s);
            let mut a: Vec<(f64, u32)> = Vec::with_capacity(above.rows.len());
            a.extend(cache.sorted[j].iter().filter_map(|&(x, slot)| {
                let k = kernel_above[slot as usize];
                (k != u32::MAX).then_some((x, k))
            }));
            for (k, slot) in above.slots.iter().enumerate() {
                if slot.is_none() {
                    insert_sorted(&mut a, (s.to_space(above.rows[k][j]), k as u32));
                }
            }
            above.sorted[j] = a;
        }
        let l = Mixture::new(space, &below, self.prior_weight, &mut |_, _, num: &Numeric, k| {
            num.log_norm(k)
        });
        let memo = &mut cache.memo;
        let g = Mixture::new(space, &above, self.prior_weight, &mut |j, slot, num: &Numeric, k| {
            let Some(slot) = slot else { return num.log_norm(k) };
            let e = &mut memo[slot as usize * dims + j];
            if e.0 != num.sigmas[k] {
                *e = (num.sigmas[k], num.log_norm(k));
            }
            e.1
        });
        drop(caches);
        let candidates: Vec<Vec<f64>> = (0..self.n_ei_candidates).map(|_| l.sample(rng)).collect();
        let (mut below, mut above) = (Vec::new(), Vec::new());
        l.log_pdf_many(&candidates, &mut below);
        g.log_pdf_many(&candidates, &mut above);
        // The largest log l(x) - log g(x); the first of equals.
        let mut best: Option<(f64, usize)> = None;
        for (i, (b, a)) in below.iter().zip(&above).enumerate() {
            let score = b - a;
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, i));
            }
        }
        best.map(|(_, i)| candidates.into_iter().nth(i).expect("a candidate"))
    }
}

impl Sampler for TpeSampler {
    fn sample(
        &self,
        history: &[Arc<FrozenTrial>],
        direction: Direction,
        name: &str,
        dist: &Distribution,
        number: usize,
    ) -> f64 {
        let mut rng = stream(self.seed, number, name);
        let space = [(name.to_string(), dist.clone())];
        match self.sample_joint(history, direction, &space, number, &mut rng) {
            Some(x) => x[0],
            None if self.latin_startup && self.n_startup_trials > 1 => {
                latin_draw(self.seed, name, dist, number, self.n_startup_trials, &mut rng)
            }
            None => RandomSampler { seed: self.seed }.draw(dist, &mut rng),
        }
    }

    fn sample_relative(&self, history: &[Arc<FrozenTrial>], direction: Direction, number: usize) -> Vec<(String, f64)> {
        if !self.multivariate {
            return Vec::new();
        }
        let space = self.intersection_space(history);
        if space.is_empty() {
            return Vec::new();
        }
        let mut rng = stream(self.seed, number, "\u{0}relative");
        match self.sample_joint(history, direction, &space, number, &mut rng) {
            Some(x) => space.into_iter().zip(x).map(|((n, _), v)| (n, v)).collect(),
            None => Vec::new(),
        }
    }
}

impl TpeSampler {
    /// The parameters every finished trial has, with one distribution each (Optuna's
    /// intersection search space), single-valued ones left out; kept up to date from
    /// the trials that finished since the last call.
    pub(super) fn intersection_space(&self, history: &[Arc<FrozenTrial>]) -> Vec<(String, Distribution)> {
        let Some(study) = history.first().map(|t| t.study) else {
            return Vec::new();
        };
        let mut g = self.intersection.lock().unwrap_or_else(|e| e.into_inner());
        if g.study != Some(study) {
            *g = Intersection {
                study: Some(study),
                ..Default::default()
            };
        }
        let Intersection { seen, space, .. } = &mut *g;
        for t in newly_finished(history, seen) {
            match space {
                None => {
                    *space = Some(
                        t.params
                            .iter()
                            .filter(|(_, _, d)| !d.single())
                            .map(|(n, _, d)| (n.clone(), d.clone()))
                            .collect(),
                    )
                }
                Some(space) => space.retain(|(n, d)| t.param(n).is_some_and(|(_, e)| e == d)),
            }
        }
        space.clone().unwrap_or_default()
    }
}

/// The intersection search space of the finished trials read so far.
#[derive(Default)]
pub struct Intersection {
    pub(super) study: Option<usize>,
    pub(super) seen: Vec<bool>,
    pub(super) space: Option<Vec<(String, Distribution)>>,
}
