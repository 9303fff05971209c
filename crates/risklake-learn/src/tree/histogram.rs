//! Gradient histograms: per bin of every feature, the sums of gradients, hessians and
//! rows; built from a leaf's rows (prefetched, feature-major or row-major codes) and
//! subtracted from the parent's. [`HistogramSource`] is the seam where a data-parallel
//! learner sums them across workers.

use crate::dataset::{BinMatrix, Dataset};
use rayon::prelude::*;

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
    pub(super) fn add(&mut self, o: &HistBin) {
        self.g += o.g;
        self.h += o.h;
        self.n += o.n;
    }
    pub(super) fn sub(&self, o: &HistBin) -> HistBin {
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
    pub(super) pool: std::sync::Mutex<Vec<Vec<HistBin>>>,
    /// The buffer of gathered gradient pairs, reused for the same reason.
    pub(super) gathered: std::sync::Mutex<Vec<GradPair>>,
}

/// Most histograms kept for reuse.
pub(super) const POOL_SIZE: usize = 64;

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
pub(super) const PREFETCH_AHEAD: usize = 16;

/// Adds the rows' gradient pairs to the bins of features `fs` (region: their bins).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn accumulate<T: Copy + Into<usize>>(
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
pub(super) fn prefetch<T>(data: &[T], at: usize, bytes: usize) {
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
