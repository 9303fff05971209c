//! One streaming pass over the data that turns every column into fine bins with good/bad
//! counts, from which every coarse binning method works.
//!
//! Numeric columns are exact while the data is small: the first `exact_rows` rows are
//! buffered, and if the stream ends there every distinct value becomes a fine bin, so
//! quantiles and splits are the ones the reference tools compute on the raw values. Past
//! `exact_rows`, each column switches to a sketch: values fall into logarithmic buckets
//! keyed by the top bits of their IEEE-754 representation (sign, exponent and 7 mantissa
//! bits, so a bucket spans at most 1/128 of its value), each bucket keeping its count, bad
//! weight, and the smallest and largest value it saw. Buckets that saw one value stay
//! exact (integer codes up to 128 always do), split points fall between the largest value
//! of one bucket and the smallest of the next, and two sketches merge by adding buckets,
//! so data-parallel workers can combine them. Memory is bounded by the value range, not
//! the row count.
//!
//! Missing values (null, NaN) and the user's special values are counted apart and never
//! join a regular bin. Categorical columns count every category exactly.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use risklake_core::{Error, Result};

use crate::stats::Counts;
use crate::target::{BatchTarget, Target, TargetReader};
use crate::values::{column, is_categorical, is_numeric, to_f64, to_text};

/// How the fine pass treats the data.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FineOptions {
    /// Columns to bin; empty means every column but the label, the weight and `exclude`.
    pub columns: Vec<String>,
    /// Columns never binned when `columns` is empty (ids, dates, periods).
    pub exclude: Vec<String>,
    /// Integer columns to bin as categories instead of numbers.
    pub categorical: Vec<String>,
    /// Numeric values that get bins of their own (e.g. -999 for "not applicable").
    pub special_values: Vec<f64>,
    /// Special values of one column, in place of `special_values` for it (an empty list:
    /// none for that column).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub special_values_by_column: std::collections::BTreeMap<String, Vec<f64>>,
    /// Rows buffered for exact binning; beyond this the columns switch to sketches.
    pub exact_rows: usize,
    /// A categorical column with more distinct values than this is skipped (likely an id).
    pub max_categories: usize,
}

impl FineOptions {
    /// Checks the options, naming the first one out of range.
    pub fn validate(&self) -> Result<()> {
        if self.exact_rows == 0 {
            return Err(Error::param("exact_rows", "must be at least 1"));
        }
        if self
            .special_values
            .iter()
            .chain(self.special_values_by_column.values().flatten())
            .any(|v| v.is_nan())
        {
            return Err(Error::param(
                "special_values",
                "cannot hold NaN (missing values always have their own bin)",
            ));
        }
        Ok(())
    }
}

impl Default for FineOptions {
    fn default() -> Self {
        FineOptions {
            columns: Vec::new(),
            exclude: Vec::new(),
            categorical: Vec::new(),
            special_values: Vec::new(),
            special_values_by_column: Default::default(),
            exact_rows: 200_000,
            max_categories: 10_000,
        }
    }
}

/// Fine bins of one numeric column, in ascending value order.
#[derive(Debug, Clone, Default)]
pub struct NumericFine {
    /// Smallest value seen in each fine bin.
    pub lo: Vec<f64>,
    /// Largest value seen in each fine bin (equal to `lo` for a single-valued bin).
    pub hi: Vec<f64>,
    pub counts: Vec<Counts>,
    /// Whether every fine bin holds a single distinct value.
    pub exact: bool,
    /// Number of +/-inf values (they sit in the outermost bins).
    pub infinite: u64,
}

/// Fine bins of one categorical column: one per category, in first-seen-independent order
/// (sorted by name).
#[derive(Debug, Clone, Default)]
pub struct CategoricalFine {
    pub categories: Vec<String>,
    pub counts: Vec<Counts>,
}

/// The fine bins of one column.
#[derive(Debug, Clone)]
pub enum FineBins {
    Numeric(NumericFine),
    Categorical(CategoricalFine),
}

/// Everything the fine pass learned about one column.
#[derive(Debug, Clone)]
pub struct FineFeature {
    pub name: String,
    /// The Arrow type of the column, as text.
    pub dtype: String,
    pub bins: FineBins,
    pub missing: Counts,
    /// Special values and their counts, in the order given.
    pub specials: Vec<(f64, Counts)>,
}

impl FineFeature {
    /// All rows of this column: regular, missing and special.
    pub fn total(&self) -> Counts {
        let mut t = self.missing;
        for (_, c) in &self.specials {
            t.add(c);
        }
        match &self.bins {
            FineBins::Numeric(n) => n.counts.iter().for_each(|c| t.add(c)),
            FineBins::Categorical(c) => c.counts.iter().for_each(|x| t.add(x)),
        }
        t
    }

    /// Counts of the regular fine bins.
    pub fn counts(&self) -> &[Counts] {
        match &self.bins {
            FineBins::Numeric(n) => &n.counts,
            FineBins::Categorical(c) => &c.counts,
        }
    }
}

/// A column that was not binned, and why.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

/// The result of the fine pass.
#[derive(Debug, Clone)]
pub struct FineResult {
    pub features: Vec<FineFeature>,
    pub skipped: Vec<Skipped>,
    pub rows: u64,
    pub total: Counts,
}

/// The fine pass: feed it batches with [`FineProfiler::update`], then [`FineProfiler::finish`].
pub struct FineProfiler {
    options: FineOptions,
    target: TargetReader,
    columns: Vec<ColumnAcc>,
    skipped: Vec<Skipped>,
    initialized: bool,
    /// Labels and weights of the buffered rows while still exact.
    buffer_bad: Vec<f64>,
    buffer_weight: Vec<f64>,
    exact: bool,
    total: Counts,
}

struct ColumnAcc {
    name: String,
    dtype: DataType,
    state: ColumnState,
    missing: Counts,
    specials: Vec<(f64, Counts)>,
    error: Option<String>,
}

enum ColumnState {
    /// Raw values of the buffered rows (NaN for null).
    Buffer(Vec<f64>),
    Sketch(Sketch),
    Categories {
        map: HashMap<String, Counts>,
        max: usize,
    },
}

impl FineProfiler {
    pub fn new(target: Target, options: FineOptions) -> Self {
        FineProfiler {
            target: TargetReader::new(target),
            options,
            columns: Vec::new(),
            skipped: Vec::new(),
            initialized: false,
            buffer_bad: Vec::new(),
            buffer_weight: Vec::new(),
            exact: true,
            total: Counts::default(),
        }
    }

    fn init(&mut self, batch: &RecordBatch) -> Result<()> {
        let schema = batch.schema();
        let target = self.target.target().clone();
        // The label and weight must exist before anything else is judged.
        column(batch, &target.label, "label column")?;
        if let Some(w) = &target.weight {
            column(batch, w, "weight column")?;
        }
        let names: Vec<String> = if self.options.columns.is_empty() {
            schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|n| {
                    !n.eq_ignore_ascii_case(&target.label)
                        && target.weight.as_ref().is_none_or(|w| !n.eq_ignore_ascii_case(w))
                        && !self.options.exclude.iter().any(|e| e.eq_ignore_ascii_case(n))
                })
                .collect()
        } else {
            for name in &self.options.columns {
                column(batch, name, "column")?;
            }
            self.options.columns.clone()
        };
        for name in &self.options.categorical {
            column(batch, name, "categorical column")?;
        }
        for name in names {
            let array = column(batch, &name, "column")?;
            let name = schema.field_with_name(&name).map(|f| f.name().clone()).unwrap_or(name);
            let dtype = array.data_type().clone();
            let as_category = self.options.categorical.iter().any(|c| c.eq_ignore_ascii_case(&name));
            let state = if as_category || (!is_numeric(&dtype) && is_categorical(&dtype)) {
                if !is_categorical(&dtype) {
                    return Err(Error::invalid(format!(
                        "column '{name}' has type {dtype}, which cannot be binned as categories"
                    )));
                }
                ColumnState::Categories {
                    map: HashMap::default(),
                    max: self.options.max_categories,
                }
            } else if is_numeric(&dtype) {
                ColumnState::Buffer(Vec::new())
            } else {
                self.skipped.push(Skipped {
                    name: name.clone(),
                    reason: format!("type {dtype} is neither numeric nor categorical"),
                });
                continue;
            };
            let specials = match state {
                ColumnState::Buffer(_) => self
                    .options
                    .special_values_by_column
                    .iter()
                    .find(|(c, _)| c.eq_ignore_ascii_case(&name))
                    .map_or(&self.options.special_values, |(_, v)| v)
                    .iter()
                    .map(|&v| (v, Counts::default()))
                    .collect(),
                _ => Vec::new(),
            };
            self.columns.push(ColumnAcc {
                name,
                dtype,
                state,
                missing: Counts::default(),
                specials,
                error: None,
            });
        }
        if self.columns.is_empty() {
            return Err(Error::invalid(
                "no column to bin (check the columns and exclude options: --columns / --exclude on the CLI)",
            ));
        }
        for c in self.options.special_values_by_column.keys() {
            if !self.columns.iter().any(|a| a.name.eq_ignore_ascii_case(c)) {
                return Err(Error::param(
                    "special_values_by_column",
                    format!("names '{c}', which is not a numeric column being binned"),
                ));
            }
        }
        self.initialized = true;
        Ok(())
    }

    /// Adds one batch. Columns are processed in parallel.
    pub fn update(&mut self, batch: &RecordBatch) -> Result<()> {
        if !self.initialized {
            self.init(batch)?;
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let t = self.target.read(batch)?;
        let n = batch.num_rows();
        for i in 0..n {
            let w = t.weight.as_ref().map_or(1.0, |w| w[i]);
            self.total.n += 1;
            self.total.w += w;
            self.total.bad += t.bad[i] * w;
        }
        let leave_exact = self.exact && self.buffer_bad.len() + n > self.options.exact_rows;
        if leave_exact {
            let bad = std::mem::take(&mut self.buffer_bad);
            let weight = std::mem::take(&mut self.buffer_weight);
            self.columns.par_iter_mut().for_each(|c| c.to_sketch(&bad, &weight));
            self.exact = false;
        }
        if self.exact {
            self.buffer_bad.extend_from_slice(&t.bad);
            match &t.weight {
                Some(w) => self.buffer_weight.extend_from_slice(w),
                None => self.buffer_weight.extend(std::iter::repeat_n(1.0, n)),
            }
        }
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|c| column(batch, &c.name, "column").cloned())
            .collect::<Result<_>>()?;
        self.columns
            .par_iter_mut()
            .zip(arrays.par_iter())
            .for_each(|(c, a)| c.update(a, &t));
        if let Some(c) = self.columns.iter().find(|c| c.error.is_some()) {
            return Err(Error::invalid(format!(
                "column '{}': {}",
                c.name,
                c.error.as_ref().unwrap()
            )));
        }
        Ok(())
    }

    /// Ends the pass: checks the label had both classes and returns the fine bins.
    pub fn finish(mut self) -> Result<FineResult> {
        self.target.finish(self.total.bad, self.total.w)?;
        let bad = std::mem::take(&mut self.buffer_bad);
        let weight = std::mem::take(&mut self.buffer_weight);
        let results: Vec<std::result::Result<FineFeature, Skipped>> =
            self.columns.into_par_iter().map(|c| c.finish(&bad, &weight)).collect();
        let mut features = Vec::new();
        let mut skipped = self.skipped;
        for r in results {
            match r {
                Ok(f) => features.push(f),
                Err(s) => skipped.push(s),
            }
        }
        Ok(FineResult {
            features,
            skipped,
            rows: self.target.rows(),
            total: self.total,
        })
    }
}

impl ColumnAcc {
    fn update(&mut self, array: &ArrayRef, t: &BatchTarget) {
        if self.error.is_some() {
            return;
        }
        match &mut self.state {
            ColumnState::Buffer(values) => match to_f64(array) {
                Ok(a) => {
                    let a = a.as_primitive::<Float64Type>();
                    if a.null_count() == 0 {
                        values.extend_from_slice(a.values());
                    } else {
                        values.extend((0..a.len()).map(|i| if a.is_null(i) { f64::NAN } else { a.value(i) }));
                    }
                }
                Err(e) => self.error = Some(e),
            },
            ColumnState::Sketch(sketch) => match to_f64(array) {
                Ok(a) => {
                    let a = a.as_primitive::<Float64Type>();
                    let values = a.values();
                    match (a.nulls(), &t.weight, self.specials.is_empty()) {
                        // The common case: no nulls, no weights, no special values.
                        (None, None, true) => {
                            for (&v, &bad) in values.iter().zip(&t.bad) {
                                if v.is_nan() {
                                    self.missing.push(1.0, bad);
                                } else {
                                    sketch.add(v, 1.0, bad);
                                }
                            }
                        }
                        (nulls, weight, _) => {
                            for (i, &v) in values.iter().enumerate() {
                                let w = weight.as_ref().map_or(1.0, |w| w[i]);
                                let v = if nulls.is_some_and(|n| n.is_null(i)) {
                                    f64::NAN
                                } else {
                                    v
                                };
                                route(v, w, t.bad[i], &mut self.missing, &mut self.specials, sketch);
                            }
                        }
                    }
                }
                Err(e) => self.error = Some(e),
            },
            ColumnState::Categories { map, max } => {
                let text = match to_text(array) {
                    Ok(a) => a,
                    Err(e) => {
                        self.error = Some(e);
                        return;
                    }
                };
                let text = text.as_string_view();
                for i in 0..text.len() {
                    let w = t.weight.as_ref().map_or(1.0, |w| w[i]);
                    let bad = t.bad[i];
                    if text.is_null(i) {
                        self.missing.push(w, bad);
                        continue;
                    }
                    let v = text.value(i);
                    match map.get_mut(v) {
                        Some(c) => c.push(w, bad),
                        None => {
                            if map.len() >= *max {
                                self.error = Some(format!(
                                    "more than {max} distinct categories (an id column? exclude it, or raise --max-categories)"
                                ));
                                return;
                            }
                            let mut c = Counts::default();
                            c.push(w, bad);
                            map.insert(v.to_string(), c);
                        }
                    }
                }
            }
        }
    }

    fn to_sketch(&mut self, bad: &[f64], weight: &[f64]) {
        if let ColumnState::Buffer(values) = &mut self.state {
            let mut sketch = Sketch::default();
            for (i, &v) in values.iter().enumerate() {
                route(v, weight[i], bad[i], &mut self.missing, &mut self.specials, &mut sketch);
            }
            self.state = ColumnState::Sketch(sketch);
        }
    }

    /// The column's fine bins. A column still buffering means the stream ended while
    /// exact: its distinct values are the fine bins.
    fn finish(mut self, bad: &[f64], weight: &[f64]) -> std::result::Result<FineFeature, Skipped> {
        let dtype = self.dtype.to_string();
        let bins = match std::mem::replace(&mut self.state, ColumnState::Buffer(Vec::new())) {
            ColumnState::Buffer(values) => {
                let mut pairs: Vec<(f64, u32)> = Vec::with_capacity(values.len());
                for (i, &v) in values.iter().enumerate() {
                    let v = if v == 0.0 { 0.0 } else { v };
                    if v.is_nan() {
                        self.missing.push(weight[i], bad[i]);
                    } else if let Some(s) = self.specials.iter_mut().find(|s| s.0 == v) {
                        s.1.push(weight[i], bad[i]);
                    } else {
                        pairs.push((v, i as u32));
                    }
                }
                pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
                let mut fine = NumericFine {
                    exact: true,
                    ..Default::default()
                };
                for (v, i) in pairs {
                    let i = i as usize;
                    if fine.lo.last() != Some(&v) {
                        fine.lo.push(v);
                        fine.hi.push(v);
                        fine.counts.push(Counts::default());
                    }
                    fine.counts.last_mut().unwrap().push(weight[i], bad[i]);
                    if v.is_infinite() {
                        fine.infinite += 1;
                    }
                }
                FineBins::Numeric(fine)
            }
            ColumnState::Sketch(sketch) => FineBins::Numeric(sketch.into_fine()),
            ColumnState::Categories { map, .. } => {
                let mut entries: Vec<(String, Counts)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                let (categories, counts) = entries.into_iter().unzip();
                FineBins::Categorical(CategoricalFine { categories, counts })
            }
        };
        let feature = FineFeature {
            name: self.name.clone(),
            dtype,
            bins,
            missing: self.missing,
            specials: self.specials,
        };
        let regular: u64 = feature.counts().iter().map(|c| c.n).sum();
        if regular == 0 {
            return Err(Skipped {
                name: self.name,
                reason: if feature.missing.n > 0 {
                    "all values are missing".into()
                } else {
                    "no regular values (only special values)".into()
                },
            });
        }
        if feature.counts().len() == 1 && feature.missing.n == 0 && feature.specials.iter().all(|s| s.1.n == 0) {
            return Err(Skipped {
                name: self.name,
                reason: "constant column (one distinct value, no missing): it carries no information".into(),
            });
        }
        Ok(feature)
    }
}

#[inline]
fn route(v: f64, w: f64, bad: f64, missing: &mut Counts, specials: &mut [(f64, Counts)], sketch: &mut Sketch) {
    if v.is_nan() {
        missing.push(w, bad);
        return;
    }
    if !specials.is_empty() {
        if let Some(s) = specials.iter_mut().find(|s| s.0 == v) {
            s.1.push(w, bad);
            return;
        }
    }
    sketch.add(v, w, bad);
}

/// Values smaller in magnitude than this share the bucket of zero, which bounds the bucket
/// range of columns that mix zeros with large values.
const TINY: f64 = 1.0 / (1u64 << 40) as f64;
/// Mantissa bits kept in a bucket key: a bucket spans at most 1/128 of its values.
const MANTISSA_BITS: u32 = 7;

/// The bucket key of `v`: monotone in `v`.
#[inline]
fn bucket_key(v: f64) -> i64 {
    let v = if v.abs() < TINY { 0.0 } else { v };
    let bits = v.to_bits();
    let ordered = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    (ordered >> (52 - MANTISSA_BITS)) as i64
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    counts: Counts,
    lo: f64,
    hi: f64,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            counts: Counts::default(),
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }
}

/// A mergeable, label-aware sketch of one numeric column (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Sketch {
    base: i64,
    buckets: Vec<Bucket>,
}

impl Sketch {
    #[inline]
    pub fn add(&mut self, v: f64, w: f64, bad: f64) {
        let key = bucket_key(v);
        let mut idx = key - self.base;
        if idx < 0 || idx as usize >= self.buckets.len() {
            self.grow(key);
            idx = key - self.base;
        }
        let b = &mut self.buckets[idx as usize];
        b.counts.push(w, bad);
        if v < b.lo {
            b.lo = v;
        }
        if v > b.hi {
            b.hi = v;
        }
    }

    #[cold]
    fn grow(&mut self, key: i64) {
        if self.buckets.is_empty() {
            self.base = key;
            self.buckets.push(Bucket::default());
            return;
        }
        let end = self.base + self.buckets.len() as i64;
        if key < self.base {
            // Leave headroom below, so a column whose minimum keeps falling does not copy
            // its buckets on every new minimum.
            let extra = (self.base - key) as usize + self.buckets.len() / 2 + 16;
            let key = self.base - extra as i64;
            let mut new = vec![Bucket::default(); extra];
            new.extend_from_slice(&self.buckets);
            self.buckets = new;
            self.base = key;
        } else if key >= end {
            let want = (key - self.base + 1) as usize;
            self.buckets.resize(want + want / 2 + 16, Bucket::default());
        }
    }

    /// Adds another sketch's buckets to this one (the merge of data-parallel workers).
    // Not called yet: the merge of per-worker sketches that data-parallel binning needs
    // (tested below).
    #[allow(dead_code)]
    pub fn merge(&mut self, other: &Sketch) {
        if other.buckets.is_empty() {
            return;
        }
        self.grow(other.base);
        self.grow(other.base + other.buckets.len() as i64 - 1);
        for (i, b) in other.buckets.iter().enumerate() {
            let mine = &mut self.buckets[(other.base + i as i64 - self.base) as usize];
            mine.counts.add(&b.counts);
            mine.lo = mine.lo.min(b.lo);
            mine.hi = mine.hi.max(b.hi);
        }
    }

    /// The non-empty buckets as fine bins.
    pub fn into_fine(self) -> NumericFine {
        let mut fine = NumericFine {
            exact: true,
            ..Default::default()
        };
        for b in self.buckets.into_iter().filter(|b| b.counts.n > 0) {
            // +/-inf have buckets of their own (their exponent is unique).
            if b.lo.is_infinite() {
                fine.infinite += b.counts.n;
            }
            if b.lo != b.hi {
                fine.exact = false;
            }
            fine.lo.push(b.lo);
            fine.hi.push(b.hi);
            fine.counts.push(b.counts);
        }
        fine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_keys_are_monotone() {
        let values = [
            f64::NEG_INFINITY,
            -1e300,
            -5.5,
            -1.0,
            -1e-3,
            -1e-20,
            0.0,
            1e-20,
            1e-3,
            0.5,
            1.0,
            1.0078125,
            2.0,
            1e6,
            f64::MAX,
            f64::INFINITY,
        ];
        for w in values.windows(2) {
            assert!(bucket_key(w[0]) <= bucket_key(w[1]), "{} vs {}", w[0], w[1]);
        }
        assert_eq!(bucket_key(-1e-20), bucket_key(1e-20));
        assert_eq!(bucket_key(-0.0), bucket_key(0.0));
        // Integers up to 128 keep buckets of their own.
        for i in 0..128 {
            assert!(bucket_key(i as f64) < bucket_key(i as f64 + 1.0));
        }
    }

    #[test]
    fn sketch_merge_equals_one_sketch() {
        let mut one = Sketch::default();
        let mut a = Sketch::default();
        let mut b = Sketch::default();
        for i in 0..10_000 {
            let v = ((i * 7919) % 10_007) as f64 * 0.37 - 500.0;
            let bad = (i % 5 == 0) as u8 as f64;
            one.add(v, 1.0, bad);
            if i % 2 == 0 {
                a.add(v, 1.0, bad)
            } else {
                b.add(v, 1.0, bad)
            }
        }
        a.merge(&b);
        let (x, y) = (one.into_fine(), a.into_fine());
        assert_eq!(x.lo, y.lo);
        assert_eq!(x.hi, y.hi);
        assert_eq!(x.counts, y.counts);
        assert_eq!(x.counts.iter().map(|c| c.n).sum::<u64>(), 10_000);
        // Buckets are ordered and do not overlap.
        for i in 1..x.lo.len() {
            assert!(x.hi[i - 1] < x.lo[i]);
        }
    }
}
