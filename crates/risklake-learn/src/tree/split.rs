//! Finding a leaf's best split in its histogram: numeric thresholds with the missing
//! values' direction, LightGBM's categorical splits, L1 / L2 regularized gains and
//! outputs, and monotone bounds.

use super::histogram::{HistBin, Histogram};
use super::TreeParams;
use crate::dataset::Dataset;
use rayon::prelude::*;

#[derive(Debug, Clone, Copy)]
pub(super) struct Split {
    pub(super) gain: f64,
    pub(super) feature: usize,
    pub(super) bin: u16,
    pub(super) default_left: bool,
    pub(super) left: HistBin,
    pub(super) right: HistBin,
    /// Categorical splits: bitset of the category bins that go left.
    pub(super) cats: Option<[u64; 4]>,
    /// L2 regularization added to the children's outputs (categorical splits' cat_l2).
    pub(super) extra_l2: f64,
}

pub(super) fn in_bits(bits: &[u64; 4], b: u16) -> bool {
    b < 256 && bits[(b >> 6) as usize] >> (b & 63) & 1 == 1
}

pub(super) fn threshold_l1(g: f64, l1: f64) -> f64 {
    if g > l1 {
        g - l1
    } else if g < -l1 {
        g + l1
    } else {
        0.0
    }
}

pub(super) fn leaf_gain(s: &HistBin, p: &TreeParams) -> f64 {
    gain_with_l2(s, p, p.lambda_l2)
}

/// [`leaf_gain`] with L2 regularization `l2` in place of `lambda_l2`.
pub(super) fn gain_with_l2(s: &HistBin, p: &TreeParams, l2: f64) -> f64 {
    let g = threshold_l1(s.g, p.lambda_l1);
    g * g / (s.h + l2)
}

/// The output of a leaf with these sums (before the learning rate).
pub fn leaf_output(s: &HistBin, p: &TreeParams) -> f64 {
    output_with_l2(s, p, p.lambda_l2)
}

/// [`leaf_output`] with L2 regularization `l2` in place of `lambda_l2`.
pub(super) fn output_with_l2(s: &HistBin, p: &TreeParams, l2: f64) -> f64 {
    let h = s.h + l2;
    // An empty leaf (only symmetric trees make them) adds nothing.
    if h > 0.0 {
        -threshold_l1(s.g, p.lambda_l1) / h
    } else {
        0.0
    }
}

/// Bounds on a leaf's output from monotone splits above it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    pub(super) min: f64,
    pub(super) max: f64,
}

pub(super) const FREE: Bounds = Bounds {
    min: f64::NEG_INFINITY,
    max: f64::INFINITY,
};

/// The loss reduction of a leaf whose output is `out` (equal to [`leaf_gain`] at the
/// unconstrained optimum).
pub(super) fn gain_at(s: &HistBin, out: f64, p: &TreeParams) -> f64 {
    -(2.0 * threshold_l1(s.g, p.lambda_l1) * out + (s.h + p.lambda_l2) * out * out)
}

/// The split with the largest gain; on equal gains the first (the lower feature index:
/// deterministic).
pub(super) fn best_of(splits: impl IntoIterator<Item = Split>) -> Option<Split> {
    splits.into_iter().fold(None, |acc: Option<Split>, s| match acc {
        Some(a) if a.gain >= s.gain => Some(a),
        _ => Some(s),
    })
}

/// Where missing values may go for a threshold after a bin: right, and left when there
/// are missing values. After the last bin only "missing right" remains, which is the
/// split "is missing", and only when there are missing values.
pub(super) fn directions(missing: u32, last: bool) -> impl Iterator<Item = bool> {
    let right = !last || missing > 0;
    let left = !last && missing > 0;
    [(false, right), (true, left)].into_iter().filter(|d| d.1).map(|d| d.0)
}

pub(super) fn best_split(
    hist: &Histogram,
    sum: &HistBin,
    bounds: Bounds,
    allowed: &[bool],
    ds: &Dataset,
    p: &TreeParams,
) -> Option<Split> {
    let constrained = !p.monotone.is_empty();
    let parent_gain = if constrained {
        gain_at(sum, leaf_output(sum, p).clamp(bounds.min, bounds.max), p)
    } else {
        leaf_gain(sum, p)
    };
    let ok = |s: &HistBin| s.n >= p.min_data_in_leaf && s.h >= p.min_sum_hessian_in_leaf;
    let per_feature: Vec<Option<Split>> = (0..ds.num_features())
        .into_par_iter()
        .map(|f| {
            if !allowed[f] {
                return None;
            }
            let h = hist.feature(ds, f);
            let missing = h[ds.mappers[f].missing_bin() as usize];
            let regular = &h[..h.len() - 1];
            if ds.mappers[f].is_categorical() {
                return best_categorical(f, regular, sum, parent_gain, p, &ok);
            }
            let mut best: Option<Split> = None;
            let mut left = HistBin::default();
            for (b, bin) in regular.iter().enumerate() {
                left.add(bin);
                let last = b + 1 == regular.len();
                for default_left in directions(missing.n, last) {
                    let mut l = left;
                    if default_left {
                        l.add(&missing);
                    }
                    let r = sum.sub(&l);
                    if !ok(&l) || !ok(&r) {
                        continue;
                    }
                    let gain = if constrained {
                        let ol = leaf_output(&l, p).clamp(bounds.min, bounds.max);
                        let or = leaf_output(&r, p).clamp(bounds.min, bounds.max);
                        let m = p.monotone.get(f).copied().unwrap_or(0);
                        if (m > 0 && ol > or) || (m < 0 && ol < or) {
                            continue;
                        }
                        gain_at(&l, ol, p) + gain_at(&r, or, p) - parent_gain
                    } else {
                        leaf_gain(&l, p) + leaf_gain(&r, p) - parent_gain
                    };
                    // Equal gains (the same rows on each side) are settled as LightGBM's
                    // scans settle them: missing-left candidates first, and among them the
                    // highest threshold; missing-right ones the lowest, except when the
                    // feature has no missing values (LightGBM then scans from the top).
                    let wins = |s: &Split| {
                        gain > s.gain
                            || (gain == s.gain
                                && match (default_left, s.default_left) {
                                    (true, false) => true,
                                    (true, true) => true,
                                    (false, false) => missing.n == 0,
                                    (false, true) => false,
                                })
                    };
                    if gain > p.min_gain_to_split && best.as_ref().is_none_or(wins) {
                        best = Some(Split {
                            gain,
                            feature: f,
                            bin: b as u16,
                            default_left,
                            left: l,
                            right: r,
                            cats: None,
                            extra_l2: 0.0,
                        });
                    }
                }
            }
            best
        })
        .collect();
    best_of(per_feature.into_iter().flatten())
}

/// The best split of a categorical feature, by LightGBM's rules: with at most
/// `max_cat_to_onehot` bins (categories and the missing bin), one category against the
/// rest; otherwise the
/// categories with at least `cat_smooth` rows, ordered by gradient / (hessian +
/// `cat_smooth`), and the best prefix of up to `max_cat_threshold` of them from either end
/// goes left, scored with `lambda_l2 + cat_l2`, each side holding `min_data_per_group`
/// rows. Missing, rare and unseen categories go right.
pub(super) fn best_categorical(
    f: usize,
    regular: &[HistBin],
    sum: &HistBin,
    parent_gain: f64,
    p: &TreeParams,
    ok: &dyn Fn(&HistBin) -> bool,
) -> Option<Split> {
    let c = &p.categorical;
    let present: Vec<usize> = (0..regular.len()).filter(|&b| regular[b].n > 0).collect();
    let mut best: Option<Split> = None;
    let mut consider = |gain: f64, left: HistBin, right: HistBin, bits: [u64; 4], extra_l2: f64| {
        if gain > p.min_gain_to_split && best.as_ref().is_none_or(|s| gain > s.gain) {
            best = Some(Split {
                gain,
                feature: f,
                bin: 0,
                default_left: false,
                left,
                right,
                cats: Some(bits),
                extra_l2,
            });
        }
    };
    // The feature's bins, the missing one included, as LightGBM counts them.
    if regular.len() + 1 <= c.max_cat_to_onehot {
        for &b in &present {
            let (l, r) = (regular[b], sum.sub(&regular[b]));
            if ok(&l) && ok(&r) {
                let mut bits = [0u64; 4];
                bits[b >> 6] |= 1 << (b & 63);
                consider(leaf_gain(&l, p) + leaf_gain(&r, p) - parent_gain, l, r, bits, 0.0);
            }
        }
        return best;
    }
    let mut order: Vec<usize> = present
        .into_iter()
        .filter(|&b| regular[b].n as f64 >= c.cat_smooth)
        .collect();
    order.sort_by(|&a, &b| {
        let ra = regular[a].g / (regular[a].h + c.cat_smooth);
        let rb = regular[b].g / (regular[b].h + c.cat_smooth);
        ra.total_cmp(&rb).then(a.cmp(&b))
    });
    let wide = p.lambda_l2 + c.cat_l2;
    let most = c.max_cat_threshold.min(order.len().div_ceil(2));
    for reverse in [false, true] {
        let mut left = HistBin::default();
        let mut bits = [0u64; 4];
        let mut group = 0u32;
        for k in 0..order.len().min(most) {
            let b = if reverse { order[order.len() - 1 - k] } else { order[k] };
            left.add(&regular[b]);
            bits[b >> 6] |= 1 << (b & 63);
            group += regular[b].n;
            if !ok(&left) {
                continue;
            }
            let r = sum.sub(&left);
            if !ok(&r) || r.n < c.min_data_per_group {
                break;
            }
            if group < c.min_data_per_group {
                continue;
            }
            group = 0;
            let gain = gain_with_l2(&left, p, wide) + gain_with_l2(&r, p, wide) - parent_gain;
            consider(gain, left, r, bits, c.cat_l2);
        }
    }
    best
}
