//! Coarse binning: grouping an ordered sequence of fine bins into a few bins.
//!
//! Every method here sees a sequence of [`Counts`] in a fixed order (ascending value for
//! numeric columns, ascending event rate for categories) and returns *cuts*: the indices
//! where a new coarse bin starts. Numeric columns turn cuts into split points halfway
//! between the last value of one bin and the first value of the next; equal-frequency,
//! equal-width and user-given binning produce split points directly (see `binning.rs`).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::stats::{iv, Counts};

/// The event-rate pattern that optimal binning must respect across its bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    /// Ascending or descending, whichever gives the higher IV; peak or valley when that is
    /// clearly better (see [`AUTO_TURN_GAIN`]).
    Auto,
    Ascending,
    Descending,
    /// Rising, then falling.
    Peak,
    /// Falling, then rising.
    Valley,
    /// No constraint.
    None,
}

impl std::str::FromStr for Trend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "auto" => Trend::Auto,
            "ascending" | "asc" => Trend::Ascending,
            "descending" | "desc" => Trend::Descending,
            "peak" => Trend::Peak,
            "valley" => Trend::Valley,
            "none" => Trend::None,
            other => {
                return Err(format!(
                    "unknown monotonic trend '{other}' (expected auto, ascending, descending, peak, valley or none)"
                ))
            }
        })
    }
}

impl Trend {
    pub fn as_str(&self) -> &'static str {
        match self {
            Trend::Auto => "auto",
            Trend::Ascending => "ascending",
            Trend::Descending => "descending",
            Trend::Peak => "peak",
            Trend::Valley => "valley",
            Trend::None => "none",
        }
    }

    /// The pattern the event rates of `bins` follow (`none` when none of the others fits).
    pub fn detect(bins: &[Counts]) -> &'static str {
        let rates: Vec<f64> = bins.iter().filter(|c| c.w > 0.0).map(|c| c.event_rate()).collect();
        if rates.len() < 2 {
            return "constant";
        }
        let up = rates.windows(2).all(|w| w[1] >= w[0]);
        let down = rates.windows(2).all(|w| w[1] <= w[0]);
        if up && down {
            return "constant";
        }
        if up {
            return "ascending";
        }
        if down {
            return "descending";
        }
        let turn = |rising_first: bool| {
            let mut phase = 0;
            for w in rates.windows(2) {
                let rising = w[1] >= w[0];
                let falling = w[1] <= w[0];
                match phase {
                    0 if (rising_first && rising) || (!rising_first && falling) => {}
                    0 => phase = 1,
                    _ if (rising_first && falling) || (!rising_first && rising) => {}
                    _ => return false,
                }
            }
            true
        };
        if turn(true) {
            "peak"
        } else if turn(false) {
            "valley"
        } else {
            "none"
        }
    }
}

/// Prefix sums over a sequence of counts, for O(1) range sums.
pub struct Prefix {
    n: Vec<u64>,
    w: Vec<f64>,
    bad: Vec<f64>,
}

impl Prefix {
    pub fn new(counts: &[Counts]) -> Self {
        let mut p = Prefix {
            n: vec![0],
            w: vec![0.0],
            bad: vec![0.0],
        };
        for c in counts {
            p.n.push(p.n.last().unwrap() + c.n);
            p.w.push(p.w.last().unwrap() + c.w);
            p.bad.push(p.bad.last().unwrap() + c.bad);
        }
        p
    }

    /// The sum of counts[start..end].
    #[inline]
    pub fn range(&self, start: usize, end: usize) -> Counts {
        Counts {
            n: self.n[end] - self.n[start],
            w: self.w[end] - self.w[start],
            bad: self.bad[end] - self.bad[start],
        }
    }
}

/// The coarse bins a sequence of cuts makes.
pub fn apply_cuts(counts: &[Counts], cuts: &[usize]) -> Vec<Counts> {
    let prefix = Prefix::new(counts);
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(counts.len());
    bounds.windows(2).map(|w| prefix.range(w[0], w[1])).collect()
}

fn gini(c: &Counts) -> f64 {
    if c.w <= 0.0 {
        return 0.0;
    }
    let p = c.bad / c.w;
    2.0 * p * (1.0 - p)
}

/// CART on the fine bins, grown best-first (like scikit-learn's tree with
/// `max_leaf_nodes`): at each step the leaf whose best split lowers the weighted Gini
/// impurity the most is split, until `max_leaves` leaves, or no split leaves both children
/// with at least `min_leaf_n` rows and improves impurity by at least `min_gain` (as a share
/// of the root's weight, like scikit-learn's `min_impurity_decrease`).
pub fn tree_cuts(counts: &[Counts], max_leaves: usize, min_leaf_n: u64, min_gain: f64) -> Vec<usize> {
    let prefix = Prefix::new(counts);
    let total_w = prefix.range(0, counts.len()).w;
    if total_w <= 0.0 || counts.len() < 2 || max_leaves < 2 {
        return Vec::new();
    }
    // Best split of [start, end): (improvement, cut).
    let best_split = |start: usize, end: usize| -> Option<(f64, usize)> {
        let node = prefix.range(start, end);
        if node.n < 2 * min_leaf_n.max(1) || gini(&node) <= 1e-12 {
            return None;
        }
        let mut best: Option<(f64, usize)> = None;
        for cut in start + 1..end {
            let left = prefix.range(start, cut);
            if left.n < min_leaf_n {
                continue;
            }
            let right = prefix.range(cut, end);
            if right.n < min_leaf_n {
                break;
            }
            let gain = (node.w * gini(&node) - left.w * gini(&left) - right.w * gini(&right)) / total_w;
            if best.is_none_or(|(g, _)| gain > g) {
                best = Some((gain, cut));
            }
        }
        best.filter(|&(g, _)| g >= min_gain && g > 0.0)
    };
    #[derive(PartialEq)]
    struct Node(f64, usize, usize, usize);
    impl Eq for Node {}
    impl PartialOrd for Node {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Node {
        fn cmp(&self, other: &Self) -> Ordering {
            // Highest gain first; on ties the leftmost node.
            self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
        }
    }
    let mut heap = BinaryHeap::new();
    if let Some((g, cut)) = best_split(0, counts.len()) {
        heap.push(Node(g, 0, counts.len(), cut));
    }
    let mut cuts = Vec::new();
    let mut leaves = 1;
    while leaves < max_leaves {
        let Some(Node(_, start, end, cut)) = heap.pop() else {
            break;
        };
        cuts.push(cut);
        leaves += 1;
        for (s, e) in [(start, cut), (cut, end)] {
            if let Some((g, c)) = best_split(s, e) {
                heap.push(Node(g, s, e, c));
            }
        }
    }
    cuts.sort_unstable();
    cuts
}

/// Pearson's chi-square of the 2x2 table (two adjacent bins x bad/good).
pub fn chi_square(a: &Counts, b: &Counts) -> f64 {
    let total = a.w + b.w;
    if total <= 0.0 {
        return 0.0;
    }
    let bad = a.bad + b.bad;
    let good = a.good() + b.good();
    let mut chi = 0.0;
    for (row, observed_bad, observed_good) in [(a.w, a.bad, a.good()), (b.w, b.bad, b.good())] {
        let e_bad = row * bad / total;
        let e_good = row * good / total;
        if e_bad > 0.0 {
            chi += (observed_bad - e_bad).powi(2) / e_bad;
        }
        if e_good > 0.0 {
            chi += (observed_good - e_good).powi(2) / e_good;
        }
    }
    chi
}

/// The chi-square value a 2x2 table exceeds with probability `significance` under
/// independence (one degree of freedom): e.g. 3.841 for 0.05.
pub fn chi_square_threshold(significance: f64) -> f64 {
    // chi2(1) quantile = (normal quantile at 1 - p/2)^2.
    let z = normal_quantile(1.0 - significance / 2.0);
    z * z
}

/// Acklam's rational approximation of the standard normal quantile (relative error below
/// 1.2e-9 on (0, 1)).
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// ChiMerge (Kerber, 1992): start from the fine bins and repeatedly merge the adjacent pair
/// with the smallest chi-square (the leftmost on ties) while there are more than `max_bins`
/// bins or the smallest chi-square is below `threshold`; then merge every bin with fewer
/// than `min_n` rows into the neighbour it is least distinguishable from. Runs in
/// O(n log n) with a heap, so it starts from every distinct value even on large data.
pub fn chimerge_cuts(counts: &[Counts], max_bins: Option<usize>, threshold: Option<f64>, min_n: u64) -> Vec<usize> {
    let n = counts.len();
    if n < 2 {
        return Vec::new();
    }
    // Doubly linked list of groups identified by their first fine index.
    let mut group: Vec<Counts> = counts.to_vec();
    let mut next: Vec<usize> = (1..=n).collect(); // n = end
    let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
    let mut alive = vec![true; n];
    let mut version = vec![0u32; n];
    let mut live = n;

    #[derive(PartialEq)]
    struct Pair(f64, usize, u32, u32);
    impl Eq for Pair {}
    impl PartialOrd for Pair {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Pair {
        fn cmp(&self, other: &Self) -> Ordering {
            // Min-heap on chi-square, then leftmost.
            other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
        }
    }
    let mut heap = BinaryHeap::with_capacity(n);
    for i in 0..n - 1 {
        heap.push(Pair(chi_square(&group[i], &group[i + 1]), i, 0, 0));
    }
    let max_bins = max_bins.unwrap_or(usize::MAX).max(1);
    while live > 1 {
        let Some(top) = heap.peek() else { break };
        let Pair(chi, left, vl, vr) = *top;
        let right = next[left];
        let stale = !alive[left] || right >= n || version[left] != vl || version[right] != vr;
        if stale {
            heap.pop();
            continue;
        }
        let must = live > max_bins || threshold.is_some_and(|t| chi < t);
        if !must {
            break;
        }
        heap.pop();
        merge_into(
            left,
            right,
            &mut group,
            &mut next,
            &mut prev,
            &mut alive,
            &mut version,
            n,
        );
        live -= 1;
        push_neighbours(left, &group, &next, &prev, &version, n, &mut heap, |a, b| {
            Pair(a, b.0, b.1, b.2)
        });
    }
    // Small bins: merge into the neighbour with the smaller chi-square.
    if min_n > 0 {
        loop {
            if live <= 1 {
                break;
            }
            let mut smallest: Option<usize> = None;
            let mut i = first_alive(&alive);
            while i < n {
                if group[i].n < min_n && smallest.is_none_or(|s| group[i].n < group[s].n) {
                    smallest = Some(i);
                }
                i = next[i];
            }
            let Some(s) = smallest else { break };
            let left = if prev[s] < n { Some(prev[s]) } else { None };
            let right = if next[s] < n { Some(next[s]) } else { None };
            let (a, b) = match (left, right) {
                (Some(l), Some(r)) => {
                    if chi_square(&group[l], &group[s]) <= chi_square(&group[s], &group[r]) {
                        (l, s)
                    } else {
                        (s, r)
                    }
                }
                (Some(l), None) => (l, s),
                (None, Some(r)) => (s, r),
                (None, None) => break,
            };
            merge_into(a, b, &mut group, &mut next, &mut prev, &mut alive, &mut version, n);
            live -= 1;
        }
    }
    let mut cuts = Vec::new();
    let mut i = first_alive(&alive);
    i = next[i];
    while i < n {
        cuts.push(i);
        i = next[i];
    }
    cuts
}

fn first_alive(alive: &[bool]) -> usize {
    alive.iter().position(|&a| a).unwrap_or(alive.len())
}

#[allow(clippy::too_many_arguments)]
fn merge_into(
    left: usize,
    right: usize,
    group: &mut [Counts],
    next: &mut [usize],
    prev: &mut [usize],
    alive: &mut [bool],
    version: &mut [u32],
    n: usize,
) {
    let r = group[right];
    group[left].add(&r);
    alive[right] = false;
    next[left] = next[right];
    if next[right] < n {
        prev[next[right]] = left;
    }
    version[left] += 1;
}

#[allow(clippy::too_many_arguments)]
fn push_neighbours<P: Ord>(
    at: usize,
    group: &[Counts],
    next: &[usize],
    prev: &[usize],
    version: &[u32],
    n: usize,
    heap: &mut BinaryHeap<P>,
    make: impl Fn(f64, (usize, u32, u32)) -> P,
) {
    if prev[at] < n {
        let l = prev[at];
        heap.push(make(chi_square(&group[l], &group[at]), (l, version[l], version[at])));
    }
    if next[at] < n {
        let r = next[at];
        heap.push(make(chi_square(&group[at], &group[r]), (at, version[at], version[r])));
    }
}

/// Constraints of optimal binning.
#[derive(Debug, Clone)]
pub struct OptimalConstraints {
    pub max_bins: Option<usize>,
    /// Minimum rows in a bin.
    pub min_n: u64,
    /// Minimum bad and good weight in a bin.
    pub min_bad: f64,
    pub min_good: f64,
    pub trend: Trend,
}

/// `auto` takes a peak or valley trend only when its IV beats the best monotone trend by
/// this share and by [`AUTO_TURN_MIN_IV`], and when the turning grouping fits the events
/// significantly better (a likelihood-ratio test at [`AUTO_TURN_SIGNIFICANCE`]).
pub const AUTO_TURN_GAIN: f64 = 0.10;
pub const AUTO_TURN_MIN_IV: f64 = 0.02;
/// Significance level of the likelihood-ratio test a turning trend must pass under `auto`.
/// It is strict because the turn's position and cut points were searched for: on noise,
/// the best of many groupings fits better than a fixed one would.
pub const AUTO_TURN_SIGNIFICANCE: f64 = 1e-4;

/// Bernoulli log-likelihood of the events when each bin of `cuts` has its own event rate
/// (weights stand for counts).
fn grouped_log_likelihood(counts: &[Counts], cuts: &[usize]) -> f64 {
    let xlx = |x: f64, n: f64| if x > 0.0 { x * (x / n).ln() } else { 0.0 };
    apply_cuts(counts, cuts)
        .iter()
        .map(|b| xlx(b.bad, b.w) + xlx(b.good(), b.w))
        .sum()
}

/// Upper `significance` quantile of the chi-square distribution with `df` degrees of freedom
/// (Wilson-Hilferty; within a few percent for df >= 1 at the levels used here).
pub fn chi_square_quantile(significance: f64, df: f64) -> f64 {
    let z = normal_quantile(1.0 - significance);
    let a = 2.0 / (9.0 * df);
    (df * (1.0 - a + z * a.sqrt()).powi(3)).max(0.0)
}

/// Whether a turning grouping (`turn`, `k_turn` bins) fits the events significantly better
/// than the monotone one: G = 2 (LL_turn - LL_mono) against chi-square with one degree of
/// freedom for the turn's position plus one per extra bin.
fn turn_is_significant(counts: &[Counts], turn: &[usize], mono: &[usize]) -> bool {
    let g = 2.0 * (grouped_log_likelihood(counts, turn) - grouped_log_likelihood(counts, mono));
    let df = 1.0 + turn.len().saturating_sub(mono.len()) as f64;
    g > chi_square_quantile(AUTO_TURN_SIGNIFICANCE, df)
}

/// Optimal binning: the grouping of `counts` (pre-bins, at most a few hundred) into
/// contiguous bins that maximizes total IV subject to the constraints, solved exactly by
/// dynamic programming over (bins used, last bin) in O(K m^3). Returns the cuts and the
/// trend that was applied (`auto` resolves to ascending or descending), or `None` when no
/// grouping satisfies the constraints (then one bin is the answer).
pub fn optimal_cuts(counts: &[Counts], c: &OptimalConstraints) -> (Vec<usize>, Trend) {
    match c.trend {
        Trend::Auto => {
            let (a, iv_a) = optimal_for(counts, c, Trend::Ascending);
            let (d, iv_d) = optimal_for(counts, c, Trend::Descending);
            let (mono, iv_mono, mono_trend) = if iv_d > iv_a + 1e-12 {
                (d, iv_d, Trend::Descending)
            } else {
                (a, iv_a, Trend::Ascending)
            };
            // A turning trend always fits at least as well as a monotone one; it is taken
            // only when it is clearly better, so noise does not buy a turn.
            let (p, iv_p) = optimal_for(counts, c, Trend::Peak);
            let (v, iv_v) = optimal_for(counts, c, Trend::Valley);
            let (turn, iv_turn, turn_trend) = if iv_v > iv_p + 1e-12 {
                (v, iv_v, Trend::Valley)
            } else {
                (p, iv_p, Trend::Peak)
            };
            if iv_turn > iv_mono * (1.0 + AUTO_TURN_GAIN)
                && iv_turn - iv_mono > AUTO_TURN_MIN_IV
                && turn_is_significant(counts, &turn, &mono)
            {
                (turn, turn_trend)
            } else {
                (mono, mono_trend)
            }
        }
        t => (optimal_for(counts, c, t).0, t),
    }
}

fn optimal_for(counts: &[Counts], c: &OptimalConstraints, trend: Trend) -> (Vec<usize>, f64) {
    let m = counts.len();
    if m == 0 {
        return (Vec::new(), 0.0);
    }
    let prefix = Prefix::new(counts);
    let total = prefix.range(0, m);
    let (tb, tg) = (total.bad, total.good());
    let k_max = c.max_bins.unwrap_or(m).clamp(1, m);
    // Segment statistics, indexed [s * m + e] for the bin covering pre-bins s..=e.
    let mut seg_iv = vec![f64::NAN; m * m];
    let mut seg_rate = vec![0.0; m * m];
    for s in 0..m {
        for e in s..m {
            let r = prefix.range(s, e + 1);
            if r.n >= c.min_n && r.bad >= c.min_bad && r.good() >= c.min_good {
                seg_iv[s * m + e] = iv(&r, tb, tg);
            }
            seg_rate[s * m + e] = r.event_rate();
        }
    }
    const NONE: f64 = f64::NEG_INFINITY;
    let phases = 2;
    let idx = |k: usize, s: usize, e: usize, p: usize| ((k * m + s) * m + e) * phases + p;
    let size = (k_max + 1) * m * m * phases;
    let mut f = vec![NONE; size];
    let mut parent = vec![(usize::MAX, usize::MAX); size]; // (prev start, prev phase)
    for e in 0..m {
        let v = seg_iv[e];
        if !v.is_nan() {
            f[idx(1, 0, e, 0)] = v;
        }
    }
    let eps = 1e-12;
    for k in 2..=k_max {
        for s in 1..m {
            for e in s..m {
                let v = seg_iv[s * m + e];
                if v.is_nan() {
                    continue;
                }
                let rate = seg_rate[s * m + e];
                for ps in 0..s {
                    let prev_rate = seg_rate[ps * m + (s - 1)];
                    let rising = rate >= prev_rate - eps;
                    let falling = rate <= prev_rate + eps;
                    for pp in 0..phases {
                        let pv = f[idx(k - 1, ps, s - 1, pp)];
                        if pv == NONE {
                            continue;
                        }
                        let mut targets = [None, None];
                        match (trend, pp) {
                            (Trend::Ascending, 0) if rising => targets[0] = Some(0),
                            (Trend::Descending, 0) if falling => targets[0] = Some(0),
                            (Trend::None, 0) => targets[0] = Some(0),
                            (Trend::Peak, 0) => {
                                if rising {
                                    targets[0] = Some(0);
                                }
                                if falling {
                                    targets[1] = Some(1);
                                }
                            }
                            (Trend::Peak, 1) if falling => targets[0] = Some(1),
                            (Trend::Valley, 0) => {
                                if falling {
                                    targets[0] = Some(0);
                                }
                                if rising {
                                    targets[1] = Some(1);
                                }
                            }
                            (Trend::Valley, 1) if rising => targets[0] = Some(1),
                            _ => {}
                        }
                        for np in targets.into_iter().flatten() {
                            let cand = pv + v;
                            let at = idx(k, s, e, np);
                            if cand > f[at] + 1e-15 {
                                f[at] = cand;
                                parent[at] = (ps, pp);
                            }
                        }
                    }
                }
            }
        }
    }
    // Best final state: last bin ends at m - 1.
    let mut best: Option<(f64, usize, usize, usize)> = None;
    for k in 1..=k_max {
        for s in 0..m {
            for p in 0..phases {
                let v = f[idx(k, s, m - 1, p)];
                if v != NONE && best.is_none_or(|b| v > b.0 + 1e-15) {
                    best = Some((v, k, s, p));
                }
            }
        }
    }
    let Some((value, mut k, mut s, mut p)) = best else {
        return (Vec::new(), 0.0);
    };
    let mut cuts = Vec::new();
    let mut e = m - 1;
    while k > 1 {
        cuts.push(s);
        let (ps, pp) = parent[idx(k, s, e, p)];
        e = s - 1;
        s = ps;
        p = pp;
        k -= 1;
    }
    cuts.reverse();
    (cuts, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bins(pairs: &[(u64, u64)]) -> Vec<Counts> {
        pairs
            .iter()
            .map(|&(good, bad)| Counts {
                n: good + bad,
                w: (good + bad) as f64,
                bad: bad as f64,
            })
            .collect()
    }

    /// Every contiguous grouping of `m` pre-bins, for brute-force checks.
    fn all_cuts(m: usize) -> Vec<Vec<usize>> {
        (0u32..1 << (m - 1))
            .map(|mask| (1..m).filter(|i| mask & (1 << (i - 1)) != 0).collect())
            .collect()
    }

    fn total_iv(counts: &[Counts], cuts: &[usize]) -> f64 {
        let t = Counts::sum(counts);
        apply_cuts(counts, cuts).iter().map(|c| iv(c, t.bad, t.good())).sum()
    }

    #[test]
    fn optimal_matches_brute_force_under_each_trend() {
        let counts = bins(&[
            (90, 3),
            (80, 9),
            (70, 6),
            (60, 15),
            (40, 12),
            (50, 30),
            (30, 25),
            (45, 10),
            (20, 30),
        ]);
        for trend in [
            Trend::Ascending,
            Trend::Descending,
            Trend::Peak,
            Trend::Valley,
            Trend::None,
        ] {
            for max_bins in [Some(3), Some(5), None] {
                let c = OptimalConstraints {
                    max_bins,
                    min_n: 60,
                    min_bad: 1.0,
                    min_good: 1.0,
                    trend,
                };
                let (cuts, _) = optimal_cuts(&counts, &c);
                let mut best = f64::NEG_INFINITY;
                for cand in all_cuts(counts.len()) {
                    let groups = apply_cuts(&counts, &cand);
                    if max_bins.is_some_and(|k| groups.len() > k) || groups.iter().any(|g| g.n < 60) {
                        continue;
                    }
                    if Trend::detect(&groups) != "constant" {
                        let found = Trend::detect(&groups);
                        let ok = match trend {
                            Trend::Ascending => found == "ascending",
                            Trend::Descending => found == "descending",
                            Trend::Peak => matches!(found, "peak" | "ascending" | "descending"),
                            Trend::Valley => matches!(found, "valley" | "ascending" | "descending"),
                            _ => true,
                        };
                        if !ok {
                            continue;
                        }
                    }
                    best = best.max(total_iv(&counts, &cand));
                }
                let got = total_iv(&counts, &cuts);
                assert!(
                    (got - best).abs() < 1e-9,
                    "{trend:?} {max_bins:?}: dp {got} vs brute {best}"
                );
            }
        }
    }

    #[test]
    fn tree_splits_at_the_rate_change() {
        let counts = bins(&[(100, 1), (100, 2), (100, 1), (50, 50), (40, 60), (45, 55)]);
        assert_eq!(tree_cuts(&counts, 2, 1, 0.0), vec![3]);
        // Too large a minimum leaf forbids the split.
        assert!(tree_cuts(&counts, 2, 400, 0.0).is_empty());
    }

    #[test]
    fn chimerge_merges_similar_neighbours_first() {
        let counts = bins(&[(100, 10), (100, 11), (100, 50), (100, 52), (100, 10)]);
        assert_eq!(chimerge_cuts(&counts, Some(3), None, 0), vec![2, 4]);
        // With a threshold only, the similar pairs merge and the distinct ones stay.
        assert_eq!(
            chimerge_cuts(&counts, None, Some(chi_square_threshold(0.05)), 0),
            vec![2, 4]
        );
        // One bin is always possible.
        assert!(chimerge_cuts(&counts, Some(1), None, 0).is_empty());
    }

    #[test]
    fn chi_square_threshold_is_the_chi2_quantile() {
        assert!((chi_square_threshold(0.05) - 3.841458820694124).abs() < 1e-7);
        assert!((chi_square_threshold(0.01) - 6.634896601021214).abs() < 1e-7);
        assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-8);
    }
}
