//! Histogram-based, leaf-wise (best-first) regression trees on a binned dataset.
//!
//! Growth: the root's histogram (gradient, hessian and row count per bin of every feature)
//! is built once; each split builds the histogram of the smaller child and gets the larger
//! one by subtraction from the parent. The leaf whose best split gains most is split next,
//! until `num_leaves` leaves, `max_depth`, or no split gains more than `min_gain_to_split`.
//! Every split also learns where missing values go: both directions are scored and the
//! better one is kept. Histograms are read through [`HistogramSource`], the seam where a
//! data-parallel learner will sum histograms across workers.

use rayon::prelude::*;

use crate::dataset::{BinMatrix, Dataset};

/// A row's gradient and hessian. Stored in single precision, as LightGBM stores them
/// (half the memory traffic of gathering a leaf's rows; histograms sum them in double
/// precision), which also makes near-tied splits come out as in LightGBM.
pub type GradPair = [f32; 2];

/// Gradient statistics of one bin.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HistBin {
    pub g: f64,
    pub h: f64,
    pub n: u32,
}

impl HistBin {
    fn add(&mut self, o: &HistBin) {
        self.g += o.g;
        self.h += o.h;
        self.n += o.n;
    }
    fn sub(&self, o: &HistBin) -> HistBin {
        HistBin {
            g: self.g - o.g,
            h: self.h - o.h,
            n: self.n - o.n,
        }
    }
}

/// The histograms of every feature, one flat array: feature `f`'s bins are
/// `bins[offsets[f]..offsets[f + 1]]` (the offsets are the dataset's).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub bins: Vec<HistBin>,
}

impl Histogram {
    pub fn zeros(ds: &Dataset) -> Histogram {
        Histogram {
            bins: vec![HistBin::default(); *ds.offsets.last().unwrap_or(&0)],
        }
    }

    /// The bins of feature `f`.
    #[inline]
    pub fn feature<'a>(&'a self, ds: &Dataset, f: usize) -> &'a [HistBin] {
        &self.bins[ds.offsets[f]..ds.offsets[f + 1]]
    }

    /// `self - other`, in place (the larger child from its parent and the smaller child).
    pub fn subtract(&mut self, other: &Histogram) {
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a = a.sub(b);
        }
    }

    /// `self + other`, in place (summing workers' histograms of the same rows' shares).
    pub fn add(&mut self, other: &Histogram) {
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            a.add(b);
        }
    }
}

/// Where histograms come from. The serial learner builds them from its rows; a
/// data-parallel learner would build its share and sum across workers here.
pub trait HistogramSource: Sync {
    /// The histogram of `rows` (a subset of the rows, or all of them in index order) for
    /// the features in `features` (ascending); other features' bins are unspecified (zero
    /// in a fresh histogram, stale in a recycled one) and must not be read.
    /// `gh[row]` is the row's (gradient, hessian).
    fn build(&self, ds: &Dataset, rows: &[u32], gh: &[GradPair], features: &[usize]) -> Histogram;

    /// Takes back a histogram that is no longer needed, for reuse.
    fn recycle(&self, _hist: Histogram) {}
}

/// Builds histograms from the local rows, row-wise: a row's bin codes are adjacent, so
/// one pass over a leaf's rows reads each row's codes from one or two cache lines and
/// its gradient pair once. Threads take disjoint groups of features, so every feature's
/// bins are summed by one thread in row order: the result does not depend on the number
/// of threads.
#[derive(Default)]
pub struct LocalHistograms {
    /// Histograms given back, reused by later builds: a fresh one of a few hundred KB
    /// comes from the OS as new pages, and zeroing those was 4% of training time.
    pool: std::sync::Mutex<Vec<Vec<HistBin>>>,
    /// The buffer of gathered gradient pairs, reused for the same reason.
    gathered: std::sync::Mutex<Vec<GradPair>>,
}

/// Most histograms kept for reuse.
const POOL_SIZE: usize = 64;

impl HistogramSource for LocalHistograms {
    fn build(&self, ds: &Dataset, rows: &[u32], gh: &[GradPair], features: &[usize]) -> Histogram {
        let size = *ds.offsets.last().unwrap_or(&0);
        let recycled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let mut hist = match recycled {
            // A reused buffer of the right size: only the requested features are cleared
            // (a node that samples 10 of 100 features would otherwise zero 10x too much).
            Some(mut bins) if bins.len() == size => {
                for &f in features {
                    bins[ds.offsets[f]..ds.offsets[f + 1]].fill(HistBin::default());
                }
                Histogram { bins }
            }
            Some(mut bins) => {
                bins.clear();
                bins.resize(size, HistBin::default());
                Histogram { bins }
            }
            None => Histogram::zeros(ds),
        };
        if features.is_empty() {
            return hist;
        }
        let all = rows.len() == gh.len();
        // Gradient pairs in the leaf's row order, so the inner loop reads them sequentially
        // (the root, every row in order, reads them as they are).
        let mut gathered = self
            .gathered
            .lock()
            .map(|mut g| std::mem::take(&mut *g))
            .unwrap_or_default();
        gathered.clear();
        if !all {
            gathered.extend(rows.iter().map(|&r| gh[r as usize]));
        }
        // Feature groups, one per thread, each with the histogram region it owns.
        let threads = rayon::current_num_threads().clamp(1, features.len());
        let per = features.len().div_ceil(threads);
        let mut groups: Vec<(&[usize], &mut [HistBin])> = Vec::with_capacity(threads);
        let mut rest: &mut [HistBin] = &mut hist.bins;
        let mut consumed = 0;
        for fs in features.chunks(per) {
            let lo = ds.offsets[fs[0]];
            let hi = ds.offsets[fs[fs.len() - 1] + 1];
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(lo - consumed);
            let (region, tail) = tail.split_at_mut(hi - lo);
            rest = tail;
            consumed = hi;
            groups.push((fs, region));
        }
        let nf = ds.num_features();
        groups.into_par_iter().for_each(|(fs, region)| {
            let base = ds.offsets[fs[0]];
            let offs: Vec<usize> = fs.iter().map(|&f| ds.offsets[f] - base).collect();
            let first = fs[0];
            let contiguous = fs[fs.len() - 1] - first + 1 == fs.len();
            match &ds.bins {
                BinMatrix::U8(data) => {
                    accumulate(data, nf, rows, all, gh, &gathered, fs, first, contiguous, &offs, region)
                }
                BinMatrix::U16(data) => {
                    accumulate(data, nf, rows, all, gh, &gathered, fs, first, contiguous, &offs, region)
                }
            }
        });
        if let Ok(mut g) = self.gathered.lock() {
            *g = gathered;
        }
        hist
    }

    fn recycle(&self, hist: Histogram) {
        if hist.bins.is_empty() {
            return;
        }
        if let Ok(mut pool) = self.pool.lock() {
            if pool.len() < POOL_SIZE {
                pool.push(hist.bins);
            }
        }
    }
}

/// How many rows ahead the codes of scattered rows are prefetched (16 was the fastest of
/// 8, 16, 32 and 64 on the benchmark).
const PREFETCH_AHEAD: usize = 16;

/// Adds the rows' gradient pairs to the bins of features `fs` (region: their bins).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn accumulate<T: Copy + Into<usize>>(
    data: &[T],
    nf: usize,
    rows: &[u32],
    all: bool,
    gh: &[GradPair],
    gathered: &[GradPair],
    fs: &[usize],
    first: usize,
    contiguous: bool,
    offs: &[usize],
    region: &mut [HistBin],
) {
    let mut add = |r: usize, g: f64, h: f64| {
        let row = &data[r * nf..r * nf + nf];
        if contiguous {
            for (&code, &o) in row[first..first + fs.len()].iter().zip(offs) {
                let e = &mut region[o + code.into()];
                e.g += g;
                e.h += h;
                e.n += 1;
            }
        } else {
            for (&f, &o) in fs.iter().zip(offs) {
                let e = &mut region[o + row[f].into()];
                e.g += g;
                e.h += h;
                e.n += 1;
            }
        }
    };
    if all {
        for (r, x) in gh.iter().enumerate() {
            add(r, x[0] as f64, x[1] as f64);
        }
    } else {
        // A leaf's rows are scattered over the matrix: ask for the codes of a row a few
        // iterations ahead, so its cache lines arrive while earlier rows are added.

        let row_bytes = nf * std::mem::size_of::<T>();
        for (i, (&r, gh)) in rows.iter().zip(gathered).enumerate() {
            if let Some(&next) = rows.get(i + PREFETCH_AHEAD) {
                let at = next as usize * nf + first;
                prefetch(data, at, (fs[fs.len() - 1] - first + 1).min(row_bytes));
            }
            add(r as usize, gh[0] as f64, gh[1] as f64);
        }
    }
}

/// Hints that `data[at..]` (`bytes` long) will be read soon.
#[inline(always)]
fn prefetch<T>(data: &[T], at: usize, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    if at < data.len() {
        // SAFETY: prefetching is a hint; it never faults, and the address is in `data`.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let start = data.as_ptr().add(at) as usize;
            let mut line = start & !63;
            while line < start + bytes {
                _mm_prefetch(line as *const i8, _MM_HINT_T0);
                line += 64;
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, at, bytes);
}

/// Parameters of one tree.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TreeParams {
    pub num_leaves: usize,
    /// 0 = unlimited.
    pub max_depth: usize,
    pub min_data_in_leaf: u32,
    pub min_sum_hessian_in_leaf: f64,
    pub lambda_l1: f64,
    pub lambda_l2: f64,
    pub min_gain_to_split: f64,
    /// Per feature: 1 = prediction non-decreasing in it, -1 = non-increasing, 0 = free.
    /// Empty means no constraint. Enforced the way LightGBM's "basic" method does: a split
    /// on a constrained feature must order its children's outputs, and every leaf below
    /// it is bounded by their midpoint, so monotonicity holds for the whole model.
    #[serde(default)]
    pub monotone: Vec<i8>,
    /// Share of the tree's features each node may split on (1 = all).
    #[serde(default = "one")]
    pub feature_fraction_bynode: f64,
    #[serde(default)]
    pub grow_policy: GrowPolicy,
    #[serde(default)]
    pub categorical: CategoricalParams,
    /// Build each node's histogram from its own rows for just the features it may split
    /// on, instead of keeping histograms for subtraction: far less work and memory when a
    /// node samples few features of many and trees are deep (random forests).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub histogram_per_node: bool,
}

impl TreeParams {
    /// `max_depth`, with depth 6 for symmetric trees when it is unlimited (0).
    pub fn effective_max_depth(&self) -> usize {
        if self.grow_policy == GrowPolicy::Symmetric && self.max_depth == 0 {
            6
        } else {
            self.max_depth
        }
    }
}

fn one() -> f64 {
    1.0
}

/// An internal node. Children: `>= 0` is a node index, `< 0` is leaf `!child`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    pub feature: usize,
    /// Rows with bin <= `bin` go left.
    pub bin: u16,
    /// The same rule on raw values: `x <= threshold` goes left (+inf, null in JSON, for
    /// the split that sends every value left and only missing ones right).
    #[serde(with = "crate::bins::one_inf_as_null")]
    pub threshold: f64,
    /// Where missing values go.
    pub default_left: bool,
    pub left: i32,
    pub right: i32,
    pub gain: f64,
    /// A categorical split: the category bins that go left (sorted); the others, and
    /// missing or unseen categories unless `default_left`, go right.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cats_left: Vec<u16>,
    #[serde(default)]
    pub categorical: bool,
}

impl Node {
    /// Whether a row of raw feature values (NaN is missing) goes left.
    #[inline]
    pub fn goes_left_raw(&self, x: &[f64]) -> bool {
        let v = x[self.feature];
        if v.is_nan() {
            self.default_left
        } else if self.categorical {
            self.goes_left(v as u16)
        } else {
            v <= self.threshold
        }
    }

    /// Whether a non-missing bin (or category code) goes left.
    #[inline]
    pub fn goes_left(&self, bin: u16) -> bool {
        if self.categorical {
            self.cats_left.binary_search(&bin).is_ok()
        } else {
            bin <= self.bin
        }
    }
}

/// A tree: internal nodes and leaf values (learning rate applied).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
    pub leaf_values: Vec<f64>,
    pub leaf_counts: Vec<u32>,
    pub leaf_hessians: Vec<f64>,
}

impl Tree {
    /// The leaf of `row` of a binned dataset.
    #[inline]
    pub fn leaf_binned(&self, ds: &Dataset, row: usize) -> usize {
        if self.nodes.is_empty() {
            return 0;
        }
        let mut at = 0i32;
        loop {
            let n = &self.nodes[at as usize];
            let b = ds.bin(row, n.feature);
            let left = if b == ds.mappers[n.feature].missing_bin() {
                n.default_left
            } else {
                n.goes_left(b)
            };
            at = if left { n.left } else { n.right };
            if at < 0 {
                return !at as usize;
            }
        }
    }

    /// The leaf of a row of raw feature values (NaN is missing).
    #[inline]
    pub fn leaf_raw(&self, x: &[f64]) -> usize {
        if self.nodes.is_empty() {
            return 0;
        }
        let mut at = 0i32;
        loop {
            let n = &self.nodes[at as usize];
            at = if n.goes_left_raw(x) { n.left } else { n.right };
            if at < 0 {
                return !at as usize;
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    bin: u16,
    default_left: bool,
    left: HistBin,
    right: HistBin,
    /// Categorical splits: bitset of the category bins that go left.
    cats: Option<[u64; 4]>,
    /// L2 regularization added to the children's outputs (categorical splits' cat_l2).
    extra_l2: f64,
}

fn in_bits(bits: &[u64; 4], b: u16) -> bool {
    b < 256 && bits[(b >> 6) as usize] >> (b & 63) & 1 == 1
}

/// How categorical features split (LightGBM's parameters and defaults).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CategoricalParams {
    /// Smoothing of the gradient/hessian ratio that orders categories; categories with
    /// fewer rows are not candidates for the left side.
    pub cat_smooth: f64,
    /// Extra L2 regularization of categorical splits' gains and children.
    pub cat_l2: f64,
    /// Rows each group of categories added to the left side must hold, and the right side.
    pub min_data_per_group: u32,
    /// Most categories on the left side.
    pub max_cat_threshold: usize,
    /// Up to this many categories present: one category against the rest.
    pub max_cat_to_onehot: usize,
}

impl Default for CategoricalParams {
    fn default() -> Self {
        CategoricalParams {
            cat_smooth: 10.0,
            cat_l2: 10.0,
            min_data_per_group: 100,
            max_cat_threshold: 32,
            max_cat_to_onehot: 4,
        }
    }
}

struct Leaf {
    bounds: Bounds,
    /// This leaf's rows are `rows[start..end]` of the tree's row buffer.
    start: usize,
    end: usize,
    hist: Histogram,
    sum: HistBin,
    depth: usize,
    best: Option<Split>,
    /// (node, is_left) that points at this leaf; None for the root.
    parent: Option<(usize, bool)>,
    /// L2 regularization added to this leaf's output (a categorical split's child).
    extra_l2: f64,
}

impl Leaf {
    /// What a split leaf's slot holds until its left child takes it.
    fn placeholder() -> Leaf {
        Leaf {
            bounds: FREE,
            start: 0,
            end: 0,
            hist: Histogram { bins: Vec::new() },
            sum: HistBin::default(),
            depth: 0,
            best: None,
            parent: None,
            extra_l2: 0.0,
        }
    }
}

fn threshold_l1(g: f64, l1: f64) -> f64 {
    if g > l1 {
        g - l1
    } else if g < -l1 {
        g + l1
    } else {
        0.0
    }
}

fn leaf_gain(s: &HistBin, p: &TreeParams) -> f64 {
    gain_with_l2(s, p, p.lambda_l2)
}

/// [`leaf_gain`] with L2 regularization `l2` in place of `lambda_l2`.
fn gain_with_l2(s: &HistBin, p: &TreeParams, l2: f64) -> f64 {
    let g = threshold_l1(s.g, p.lambda_l1);
    g * g / (s.h + l2)
}

/// The output of a leaf with these sums (before the learning rate).
pub fn leaf_output(s: &HistBin, p: &TreeParams) -> f64 {
    output_with_l2(s, p, p.lambda_l2)
}

/// [`leaf_output`] with L2 regularization `l2` in place of `lambda_l2`.
fn output_with_l2(s: &HistBin, p: &TreeParams, l2: f64) -> f64 {
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
struct Bounds {
    min: f64,
    max: f64,
}

const FREE: Bounds = Bounds {
    min: f64::NEG_INFINITY,
    max: f64::INFINITY,
};

/// The loss reduction of a leaf whose output is `out` (equal to [`leaf_gain`] at the
/// unconstrained optimum).
fn gain_at(s: &HistBin, out: f64, p: &TreeParams) -> f64 {
    -(2.0 * threshold_l1(s.g, p.lambda_l1) * out + (s.h + p.lambda_l2) * out * out)
}

/// The split with the largest gain; on equal gains the first (the lower feature index:
/// deterministic).
fn best_of(splits: impl IntoIterator<Item = Split>) -> Option<Split> {
    splits.into_iter().fold(None, |acc: Option<Split>, s| match acc {
        Some(a) if a.gain >= s.gain => Some(a),
        _ => Some(s),
    })
}

/// Where missing values may go for a threshold after a bin: right, and left when there
/// are missing values. After the last bin only "missing right" remains, which is the
/// split "is missing", and only when there are missing values.
fn directions(missing: u32, last: bool) -> impl Iterator<Item = bool> {
    let right = !last || missing > 0;
    let left = !last && missing > 0;
    [(false, right), (true, left)].into_iter().filter(|d| d.1).map(|d| d.0)
}

fn best_split(
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
fn best_categorical(
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

/// Splits `span` (a leaf's rows) in place, stably: rows going left first. Returns how
/// many go left.
fn partition(ds: &Dataset, span: &mut [u32], scratch: &mut Vec<u32>, split: &Split) -> usize {
    let missing_bin = ds.mappers[split.feature].missing_bin();
    let nf = ds.num_features();
    let column = ds.by_column.get(split.feature);
    scratch.clear();
    let mut n_left = 0;
    for i in 0..span.len() {
        let r = span[i];
        let b = match column {
            Some(BinMatrix::U8(c)) => c[r as usize] as u16,
            Some(BinMatrix::U16(c)) => c[r as usize],
            None => {
                // Rows are scattered: fetch a later row's code ahead (see `accumulate`).
                if let Some(&next) = span.get(i + PREFETCH_AHEAD) {
                    match &ds.bins {
                        BinMatrix::U8(v) => prefetch(v, next as usize * nf + split.feature, 1),
                        BinMatrix::U16(v) => prefetch(v, next as usize * nf + split.feature, 2),
                    }
                }
                ds.bin(r as usize, split.feature)
            }
        };
        let left = if b == missing_bin {
            split.default_left
        } else {
            match &split.cats {
                Some(bits) => in_bits(bits, b),
                None => b <= split.bin,
            }
        };
        if left {
            span[n_left] = r;
            n_left += 1;
        } else {
            scratch.push(r);
        }
    }
    span[n_left..].copy_from_slice(scratch);
    n_left
}

/// The node of a split; its children are set by the caller.
fn node_of(ds: &Dataset, split: &Split) -> Node {
    Node {
        feature: split.feature,
        bin: split.bin,
        threshold: if split.cats.is_some() {
            0.0
        } else {
            ds.mappers[split.feature].upper[split.bin as usize]
        },
        default_left: split.default_left,
        left: 0,
        right: 0,
        gain: split.gain,
        cats_left: split
            .cats
            .map(|bits| (0..256u16).filter(|&b| in_bits(&bits, b)).collect())
            .unwrap_or_default(),
        categorical: split.cats.is_some(),
    }
}

/// Adds a split node whose children are the leaves `children` (left, right) and points
/// its parent's child slot (`parent`: node and side; none for the root) at it. Returns
/// the node's index.
fn attach(nodes: &mut Vec<Node>, mut n: Node, children: (usize, usize), parent: Option<(usize, bool)>) -> usize {
    let node = nodes.len();
    n.left = !(children.0 as i32);
    n.right = !(children.1 as i32);
    nodes.push(n);
    if let Some((pn, is_left)) = parent {
        if is_left {
            nodes[pn].left = node as i32;
        } else {
            nodes[pn].right = node as i32;
        }
    }
    node
}

/// How a tree grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrowPolicy {
    /// Best-first: the leaf whose split gains most is split next (LightGBM).
    #[default]
    Leafwise,
    /// Level by level: every leaf of a depth that can split is split before the next
    /// depth (XGBoost's default).
    Depthwise,
    /// Oblivious trees: one split (feature, threshold, missing direction) shared by every
    /// node of a level, chosen for the largest total gain (CatBoost's default).
    Symmetric,
}

/// What [`grow`] shares between policies: the data, the gradients and the histograms.
struct Grower<'a> {
    ds: &'a Dataset,
    gh: &'a [GradPair],
    p: &'a TreeParams,
    source: &'a dyn HistogramSource,
    /// Features whose histograms are built (the tree's sample).
    active: Vec<usize>,
}

impl Grower<'_> {
    /// Splits `leaf` (its rows `rows[leaf.start..leaf.end]`): partitions the rows and
    /// returns the left and right rows' end and both children's histograms, building the
    /// smaller one and subtracting it from the parent's for the larger.
    fn split(
        &self,
        rows: &mut [u32],
        scratch: &mut Vec<u32>,
        leaf: Leaf,
        split: &Split,
    ) -> (usize, Histogram, Histogram) {
        let n_left = partition(self.ds, &mut rows[leaf.start..leaf.end], scratch, split);
        let mid = leaf.start + n_left;
        let left_small = mid - leaf.start <= leaf.end - mid;
        let small_rows = if left_small {
            &rows[leaf.start..mid]
        } else {
            &rows[mid..leaf.end]
        };
        let small = self.source.build(self.ds, small_rows, self.gh, &self.active);
        let mut large = leaf.hist;
        large.subtract(&small);
        if left_small {
            (mid, small, large)
        } else {
            (mid, large, small)
        }
    }

    fn root(&self, rows: &[u32]) -> Leaf {
        let hist = self.source.build(self.ds, rows, self.gh, &self.active);
        let sum = match self.active.first() {
            Some(&f) => {
                let mut s = HistBin::default();
                hist.feature(self.ds, f).iter().for_each(|b| s.add(b));
                s
            }
            None => HistBin {
                g: rows.iter().map(|&r| self.gh[r as usize][0] as f64).sum(),
                h: rows.iter().map(|&r| self.gh[r as usize][1] as f64).sum(),
                n: rows.len() as u32,
            },
        };
        Leaf {
            bounds: FREE,
            start: 0,
            end: rows.len(),
            hist,
            sum,
            depth: 0,
            best: None,
            parent: None,
            extra_l2: 0.0,
        }
    }
}

/// Grows one tree on `rows` with the given gradients. Splits partition `rows` in place
/// (`scratch` is reused working space); the result has the tree and, for every leaf, its
/// range of `rows` (to update training scores without a tree walk).
#[allow(clippy::too_many_arguments)]
pub fn grow(
    ds: &Dataset,
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    gh: &[GradPair],
    p: &TreeParams,
    learning_rate: f64,
    source: &dyn HistogramSource,
    features: &[bool],
    seed: u64,
) -> (Tree, Vec<(usize, usize)>) {
    let g = Grower {
        ds,
        gh,
        p,
        source,
        // Histograms hold the tree's features (a node's sample is drawn from them).
        active: (0..features.len()).filter(|&f| features[f]).collect(),
    };
    let (nodes, leaves) = if p.grow_policy == GrowPolicy::Symmetric {
        grow_symmetric(&g, rows, scratch, features)
    } else {
        grow_greedy(&g, rows, scratch, features, seed)
    };
    let tree = Tree {
        nodes,
        leaf_values: leaves
            .iter()
            .map(|l| {
                let out = output_with_l2(&l.sum, p, p.lambda_l2 + l.extra_l2);
                out.clamp(l.bounds.min, l.bounds.max) * learning_rate
            })
            .collect(),
        leaf_counts: leaves.iter().map(|l| l.sum.n).collect(),
        leaf_hessians: leaves.iter().map(|l| l.sum.h).collect(),
    };
    let ranges = leaves.iter().map(|l| (l.start, l.end)).collect();
    for l in leaves {
        source.recycle(l.hist);
    }
    (tree, ranges)
}

/// Leaf-wise and depth-wise growth: the same splits, taken in a different order.
fn grow_greedy(
    g: &Grower,
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    features: &[bool],
    seed: u64,
) -> (Vec<Node>, Vec<Leaf>) {
    let (ds, p) = (g.ds, g.p);
    // The features a node may split on: the tree's, thinned per node when asked.
    let mut node_counter = 0u64;
    let mut node_features = || -> Vec<bool> {
        node_counter += 1;
        if p.feature_fraction_bynode >= 1.0 {
            return features.to_vec();
        }
        let mut rng = risklake_core::rng::Rng::for_stream(seed, node_counter);
        sample_features(features, p.feature_fraction_bynode, &mut rng)
    };
    let max_depth = p.effective_max_depth();
    let can_split = |depth: usize| max_depth == 0 || depth < max_depth;
    let direct = p.histogram_per_node;
    let mut root = g.root(rows);
    if can_split(0) {
        root.best = best_split(&root.hist, &root.sum, FREE, &node_features(), ds, p);
    }
    if direct {
        g.source
            .recycle(std::mem::replace(&mut root.hist, Histogram { bins: Vec::new() }));
    }
    let mut leaves = vec![root];
    // Depth-wise: the order leaves were made in, to split a level in order.
    let mut born = vec![0usize];
    let mut nodes: Vec<Node> = Vec::new();
    while leaves.len() < p.num_leaves {
        let candidates = leaves.iter().enumerate().filter_map(|(i, l)| l.best.map(|s| (i, s)));
        let chosen = match p.grow_policy {
            GrowPolicy::Depthwise => candidates.min_by_key(|&(i, _)| (leaves[i].depth, born[i])),
            _ => candidates.fold(None, |acc: Option<(usize, Split)>, (i, s)| match acc {
                Some((_, a)) if a.gain >= s.gain => acc,
                _ => Some((i, s)),
            }),
        };
        let Some((li, split)) = chosen else {
            break;
        };
        let leaf = std::mem::replace(&mut leaves[li], Leaf::placeholder());
        let (start, end, bounds, depth, parent) = (leaf.start, leaf.end, leaf.bounds, leaf.depth + 1, leaf.parent);
        let (mid, left_hist, right_hist) = if direct {
            let n_left = partition(ds, &mut rows[start..end], scratch, &split);
            let empty = || Histogram { bins: Vec::new() };
            (start + n_left, empty(), empty())
        } else {
            g.split(rows, scratch, leaf, &split)
        };
        let node = attach(&mut nodes, node_of(ds, &split), (li, leaves.len()), parent);
        // Children of a monotone split are bounded by the midpoint of their outputs.
        let (mut left_bounds, mut right_bounds) = (bounds, bounds);
        let m = p.monotone.get(split.feature).copied().unwrap_or(0);
        if m != 0 {
            let ol = leaf_output(&split.left, p).clamp(bounds.min, bounds.max);
            let or = leaf_output(&split.right, p).clamp(bounds.min, bounds.max);
            let mid = (ol + or) / 2.0;
            if m > 0 {
                left_bounds.max = left_bounds.max.min(mid);
                right_bounds.min = right_bounds.min.max(mid);
            } else {
                left_bounds.min = left_bounds.min.max(mid);
                right_bounds.max = right_bounds.max.min(mid);
            }
        }
        let rows: &[u32] = rows;
        let mut mk = |start: usize, end: usize, hist: Histogram, sum: HistBin, bounds: Bounds, is_left: bool| {
            let best = if !can_split(depth) {
                None
            } else {
                let allowed = node_features();
                if sum.n < 2 * p.min_data_in_leaf.max(1) {
                    // No split can leave min_data_in_leaf rows on both sides.
                    None
                } else if direct {
                    // This node's own histogram, of the features it may split on, then dropped.
                    let list: Vec<usize> = (0..allowed.len()).filter(|&f| allowed[f]).collect();
                    let h = g.source.build(ds, &rows[start..end], g.gh, &list);
                    let best = best_split(&h, &sum, bounds, &allowed, ds, p);
                    g.source.recycle(h);
                    best
                } else {
                    best_split(&hist, &sum, bounds, &allowed, ds, p)
                }
            };
            // A leaf that will not split needs no histogram.
            let hist = if best.is_none() && !hist.bins.is_empty() {
                g.source.recycle(hist);
                Histogram { bins: Vec::new() }
            } else {
                hist
            };
            Leaf {
                bounds,
                start,
                end,
                hist,
                sum,
                depth,
                best,
                parent: Some((node, is_left)),
                extra_l2: split.extra_l2,
            }
        };
        leaves[li] = mk(start, mid, left_hist, split.left, left_bounds, true);
        leaves.push(mk(mid, end, right_hist, split.right, right_bounds, false));
        let next = born.len();
        born[li] = next;
        born.push(next + 1);
    }
    (nodes, leaves)
}

/// Oblivious growth (`max_depth` levels; `num_leaves` does not apply): at each level, the one split (numeric feature, bin, missing direction)
/// with the largest gain summed over the level's leaves splits all of them. A leaf whose
/// children would break `min_data_in_leaf` or `min_sum_hessian_in_leaf` adds no gain but
/// is split like the others (its small child keeps few or no rows).
fn grow_symmetric(g: &Grower, rows: &mut [u32], scratch: &mut Vec<u32>, features: &[bool]) -> (Vec<Node>, Vec<Leaf>) {
    let (ds, p) = (g.ds, g.p);
    let mut leaves = vec![g.root(rows)];
    let mut nodes: Vec<Node> = Vec::new();
    let max_depth = p.effective_max_depth();
    for _ in 0..max_depth {
        let Some(split) = best_common_split(&leaves, features, ds, p) else {
            break;
        };
        let mut next = Vec::with_capacity(leaves.len() * 2);
        for (i, leaf) in leaves.into_iter().enumerate() {
            let (start, end, depth, parent) = (leaf.start, leaf.end, leaf.depth + 1, leaf.parent);
            let (mid, lh, rh) = g.split(rows, scratch, leaf, &split);
            let node = attach(&mut nodes, node_of(ds, &split), (2 * i, 2 * i + 1), parent);
            for (start, end, hist, is_left) in [(start, mid, lh, true), (mid, end, rh, false)] {
                let mut sum = HistBin::default();
                hist.feature(ds, split.feature).iter().for_each(|b| sum.add(b));
                next.push(Leaf {
                    bounds: FREE,
                    start,
                    end,
                    hist,
                    sum,
                    depth,
                    best: None,
                    parent: Some((node, is_left)),
                    extra_l2: 0.0,
                });
            }
        }
        leaves = next;
    }
    (nodes, leaves)
}

/// The numeric split with the largest gain summed over `leaves` (None when no split gains
/// more than `min_gain_to_split`).
fn best_common_split(leaves: &[Leaf], allowed: &[bool], ds: &Dataset, p: &TreeParams) -> Option<Split> {
    let ok = |s: &HistBin| s.n >= p.min_data_in_leaf && s.h >= p.min_sum_hessian_in_leaf;
    let per_feature: Vec<Option<Split>> = (0..ds.num_features())
        .into_par_iter()
        .map(|f| {
            if !allowed[f] || ds.mappers[f].is_categorical() {
                return None;
            }
            let regular = ds.mappers[f].regular_bins();
            // Gain of each (bin, default_left) candidate, summed over the leaves.
            let mut total = vec![[0.0f64; 2]; regular];
            let mut valid = vec![[false; 2]; regular];
            for leaf in leaves {
                let h = leaf.hist.feature(ds, f);
                let missing = h[regular];
                let parent_gain = leaf_gain(&leaf.sum, p);
                let mut left = HistBin::default();
                for b in 0..regular {
                    left.add(&h[b]);
                    let last = b + 1 == regular;
                    for default_left in directions(missing.n, last) {
                        let d = default_left as usize;
                        valid[b][d] = true;
                        let mut l = left;
                        if default_left {
                            l.add(&missing);
                        }
                        let r = leaf.sum.sub(&l);
                        if ok(&l) && ok(&r) {
                            total[b][d] += leaf_gain(&l, p) + leaf_gain(&r, p) - parent_gain;
                        }
                    }
                }
            }
            let mut best: Option<Split> = None;
            for b in 0..regular {
                for (d, default_left) in [false, true].into_iter().enumerate() {
                    let gain = total[b][d];
                    if valid[b][d] && gain > p.min_gain_to_split && best.is_none_or(|s| gain > s.gain) {
                        best = Some(Split {
                            gain,
                            feature: f,
                            bin: b as u16,
                            default_left,
                            left: HistBin::default(),
                            right: HistBin::default(),
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

/// A random subset of the allowed features, `fraction` of them (at least one).
pub fn sample_features(allowed: &[bool], fraction: f64, rng: &mut risklake_core::rng::Rng) -> Vec<bool> {
    let pool: Vec<usize> = (0..allowed.len()).filter(|&f| allowed[f]).collect();
    let k = ((pool.len() as f64 * fraction).round() as usize).clamp(1.min(pool.len()), pool.len());
    // Partial Fisher-Yates: the first k of a shuffled pool.
    let mut pool = pool;
    for i in 0..k {
        let j = i + rng.below((pool.len() - i) as u64) as usize;
        pool.swap(i, j);
    }
    let mut out = vec![false; allowed.len()];
    for &f in &pool[..k] {
        out[f] = true;
    }
    out
}
