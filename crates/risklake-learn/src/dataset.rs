//! The binned dataset: every value as a bin code (one byte, or two when a feature has more
//! than 256 bins), stored row-major so that building a histogram reads each row's codes
//! from one or two cache lines. Built by streaming Arrow batches; the raw float matrix is
//! never held: the first `sample_rows` rows are buffered to build the bin mappers, binned,
//! and every later batch is binned as it arrives. Validation data reuses the training
//! mappers ([`Dataset::with_mappers`]).

use arrow::array::{Array, AsArray};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use risklake_core::columns::missing_column;
use risklake_core::label::{read_weights, LabelReader};
use risklake_core::{Error, Result};

use crate::bins::{BinMapper, MAX_BIN, MAX_CATEGORIES};

/// How a dataset is built.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DatasetOptions {
    /// Most regular bins per numeric feature (2..=65535; one more bin holds missing
    /// values). Up to 255 every value takes one byte, above it two.
    pub max_bin: usize,
    /// Most categories of a categorical feature with bins of their own (2..=255); rarer
    /// ones share the bin of missing values.
    #[serde(default = "default_max_cat_bins")]
    pub max_cat_bins: usize,
    /// A categorical feature with more distinct values than this in the sample is refused
    /// (it is most likely an identifier).
    #[serde(default = "default_max_categories")]
    pub max_categories: usize,
    /// Fewest sample rows in a numeric bin (LightGBM's min_data_in_bin), where the data
    /// allows.
    #[serde(default = "default_min_data_in_bin")]
    pub min_data_in_bin: usize,
    /// Rows sampled (the first ones) to build the bin mappers.
    pub sample_rows: usize,
    /// Feature columns; empty means every numeric column but the label, weight and `exclude`.
    pub features: Vec<String>,
    pub exclude: Vec<String>,
    /// Integer columns to treat as categories (text and boolean columns always are).
    #[serde(default)]
    pub categorical: Vec<String>,
    /// The label value meaning bad (1); other values are good (0). None: a numeric label.
    #[serde(default)]
    pub bad_value: Option<String>,
}

fn default_max_cat_bins() -> usize {
    MAX_CATEGORIES
}

fn default_min_data_in_bin() -> usize {
    3
}

fn default_max_categories() -> usize {
    10_000
}

impl DatasetOptions {
    /// Sets one dataset parameter from `key=value` text; false when `key` is not one.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        let int = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| Error::invalid(format!("parameter {key}: '{v}' is not a non-negative integer")))
        };
        match key {
            "max_bin" => self.max_bin = int(value)?,
            "max_cat_bins" => self.max_cat_bins = int(value)?,
            "max_categories" => self.max_categories = int(value)?,
            "min_data_in_bin" => self.min_data_in_bin = int(value)?,
            "bin_construct_sample_cnt" | "sample_rows" => self.sample_rows = int(value)?,
            // LightGBM's `categorical_feature` (also `name:a,b`), by column name.
            "categorical_feature" | "categorical_column" | "cat_feature" | "categorical" => {
                let names = value.strip_prefix("name:").unwrap_or(value);
                self.categorical = names
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            _ => return Ok(false),
        }
        self.validate()?;
        Ok(true)
    }

    /// Checks the options, naming the first out of range and its allowed range.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, range: String, v: usize| {
            Err(Error::invalid(format!(
                "parameter {name} = {v} is out of range (allowed: {range})"
            )))
        };
        if !(2..=MAX_BIN).contains(&self.max_bin) {
            return bad("max_bin", format!("[2, {MAX_BIN}]"), self.max_bin);
        }
        if !(2..=MAX_CATEGORIES).contains(&self.max_cat_bins) {
            return bad("max_cat_bins", format!("[2, {MAX_CATEGORIES}]"), self.max_cat_bins);
        }
        if self.max_categories < 2 {
            return bad("max_categories", ">= 2".into(), self.max_categories);
        }
        if self.sample_rows == 0 {
            return bad("bin_construct_sample_cnt", ">= 1".into(), self.sample_rows);
        }
        Ok(())
    }
}

impl Default for DatasetOptions {
    fn default() -> Self {
        DatasetOptions {
            max_bin: 255,
            max_cat_bins: MAX_CATEGORIES,
            max_categories: default_max_categories(),
            min_data_in_bin: default_min_data_in_bin(),
            sample_rows: 200_000,
            features: Vec::new(),
            exclude: Vec::new(),
            categorical: Vec::new(),
            bad_value: None,
        }
    }
}

/// Most values (rows times features) for which a dataset also keeps its codes column by
/// column ([`Dataset::by_column`]): 2^31, 2 GiB of one-byte codes.
pub const COLUMN_COPY_LIMIT: usize = 1 << 31;

/// Bin codes, row-major: the code of feature `f` in `row` is at `row * features + f`.
#[derive(Debug, Clone)]
pub enum BinMatrix {
    /// Every feature has at most 256 bins.
    U8(Vec<u8>),
    U16(Vec<u16>),
}

impl BinMatrix {
    fn for_mappers(mappers: &[BinMapper]) -> BinMatrix {
        if mappers.iter().all(|m| m.num_bins() <= 256) {
            BinMatrix::U8(Vec::new())
        } else {
            BinMatrix::U16(Vec::new())
        }
    }

    fn len(&self) -> usize {
        match self {
            BinMatrix::U8(v) => v.len(),
            BinMatrix::U16(v) => v.len(),
        }
    }
}

/// Binned features, labels and weights.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub feature_names: Vec<String>,
    pub mappers: Vec<BinMapper>,
    pub bins: BinMatrix,
    /// The same codes column by column (`by_column[f]` holds feature `f` of every row),
    /// kept while it takes at most [`COLUMN_COPY_LIMIT`] bytes: splitting a leaf reads one
    /// feature of its rows, which in a column is one byte of a shared cache line, in a row
    /// a cache line of its own. Empty when not kept.
    pub by_column: Vec<BinMatrix>,
    /// Where each feature's bins start in a histogram of all features (one more entry:
    /// the total number of bins).
    pub offsets: Vec<usize>,
    pub label: Vec<f64>,
    pub weight: Option<Vec<f64>>,
    /// Reads the label column of appended batches: binary (1 where the label equals the
    /// bad value, as [`risklake_core::label`] decodes it) when a bad value was given, the
    /// numbers themselves otherwise (the binary objective then checks for 0/1).
    labels: LabelReader,
}

/// The reader of a dataset's label: binary with a bad value, numeric without.
fn label_reader(label: &str, bad_value: Option<&str>) -> LabelReader {
    match bad_value {
        Some(_) => LabelReader::binary(label, bad_value),
        None => LabelReader::numeric(label),
    }
}

impl Dataset {
    pub fn rows(&self) -> usize {
        self.label.len()
    }

    pub fn num_features(&self) -> usize {
        self.feature_names.len()
    }

    /// An empty dataset of these features.
    pub fn empty(feature_names: Vec<String>, mappers: Vec<BinMapper>, weighted: bool, labels: LabelReader) -> Dataset {
        let mut offsets = vec![0];
        for m in &mappers {
            offsets.push(offsets.last().unwrap() + m.num_bins());
        }
        Dataset {
            bins: BinMatrix::for_mappers(&mappers),
            by_column: mappers.iter().map(|_| BinMatrix::for_mappers(&mappers)).collect(),
            feature_names,
            mappers,
            offsets,
            label: Vec::new(),
            weight: weighted.then(Vec::new),
            labels,
        }
    }

    /// The bin of feature `f` in `row`.
    #[inline]
    pub fn bin(&self, row: usize, f: usize) -> u16 {
        let at = row * self.feature_names.len() + f;
        match &self.bins {
            BinMatrix::U8(v) => v[at] as u16,
            BinMatrix::U16(v) => v[at],
        }
    }

    /// Every row's bin of feature `f`.
    pub fn column(&self, f: usize) -> Vec<u16> {
        (0..self.rows()).map(|r| self.bin(r, f)).collect()
    }

    /// A copy of the given rows (in that order), with the same bins: cross-validation folds.
    pub fn subset(&self, rows: &[u32]) -> Dataset {
        let nf = self.num_features();
        fn pick<T: Copy>(v: &[T], nf: usize, rows: &[u32]) -> Vec<T> {
            let mut out = Vec::with_capacity(rows.len() * nf);
            for &r in rows {
                out.extend_from_slice(&v[r as usize * nf..(r as usize + 1) * nf]);
            }
            out
        }
        fn column<T: Copy>(v: &[T], rows: &[u32]) -> Vec<T> {
            rows.iter().map(|&r| v[r as usize]).collect()
        }
        let bins = match &self.bins {
            BinMatrix::U8(v) => BinMatrix::U8(pick(v, nf, rows)),
            BinMatrix::U16(v) => BinMatrix::U16(pick(v, nf, rows)),
        };
        let by_column = self
            .by_column
            .iter()
            .map(|c| match c {
                BinMatrix::U8(v) => BinMatrix::U8(column(v, rows)),
                BinMatrix::U16(v) => BinMatrix::U16(column(v, rows)),
            })
            .collect();
        Dataset {
            feature_names: self.feature_names.clone(),
            mappers: self.mappers.clone(),
            bins,
            by_column,
            offsets: self.offsets.clone(),
            label: column(&self.label, rows),
            weight: self.weight.as_ref().map(|w| column(w, rows)),
            labels: self.labels.clone(),
        }
    }

    /// Bins `batches` with this dataset's mappers (for validation and test data).
    pub fn with_mappers(&self, batches: &[RecordBatch], label: &str, weight: Option<&str>) -> Result<Dataset> {
        let mut out = Dataset::empty(
            self.feature_names.clone(),
            self.mappers.clone(),
            weight.is_some(),
            label_reader(label, self.labels.bad_value()),
        );
        for b in batches {
            out.append(b, weight)?;
        }
        Ok(out)
    }

    fn append(&mut self, batch: &RecordBatch, weight: Option<&str>) -> Result<()> {
        let start = self.label.len() as u64;
        let labels = self.labels.read(batch)?;
        if let (Some(w), Some(ws)) = (weight, self.weight.as_mut()) {
            ws.extend(read_weights(batch, w, start)?);
        }
        self.label.extend(labels);
        // Bin every feature of the batch (features in parallel), then lay the codes out
        // row by row.
        let codes: Vec<Vec<u16>> = self
            .feature_names
            .par_iter()
            .zip(&self.mappers)
            .map(|(name, m)| Ok(mapped_values(batch, name, m)?.iter().map(|&v| m.bin(v)).collect()))
            .collect::<Result<_>>()?;
        let nf = self.feature_names.len();
        let n = batch.num_rows();
        let at = self.bins.len();
        fn lay<T: Copy + Default + Send>(
            out: &mut Vec<T>,
            at: usize,
            nf: usize,
            n: usize,
            codes: &[Vec<u16>],
            cast: fn(u16) -> T,
        ) {
            out.resize(at + n * nf, T::default());
            out[at..]
                .par_chunks_mut(nf * 4096)
                .enumerate()
                .for_each(|(chunk, dst)| {
                    let first = chunk * 4096;
                    for (i, row) in dst.chunks_mut(nf).enumerate() {
                        for (f, v) in row.iter_mut().enumerate() {
                            *v = cast(codes[f][first + i]);
                        }
                    }
                });
        }
        match &mut self.bins {
            BinMatrix::U8(v) => lay(v, at, nf, n, &codes, |c| c as u8),
            BinMatrix::U16(v) => lay(v, at, nf, n, &codes, |c| c),
        }
        if self.bins.len() > COLUMN_COPY_LIMIT {
            self.by_column = Vec::new();
        }
        for (col, codes) in self.by_column.iter_mut().zip(&codes) {
            match col {
                BinMatrix::U8(v) => v.extend(codes.iter().map(|&c| c as u8)),
                BinMatrix::U16(v) => v.extend_from_slice(codes),
            }
        }
        Ok(())
    }
}

/// Streams batches into a [`Dataset`].
pub struct DatasetBuilder {
    label: String,
    weight: Option<String>,
    options: DatasetOptions,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    dataset: Option<Dataset>,
}

impl DatasetBuilder {
    pub fn new(label: impl Into<String>, weight: Option<String>, options: DatasetOptions) -> Result<Self> {
        options.validate()?;
        Ok(DatasetBuilder {
            label: label.into(),
            weight,
            options,
            pending: Vec::new(),
            pending_rows: 0,
            dataset: None,
        })
    }

    pub fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if let Some(d) = self.dataset.as_mut() {
            return d.append(&batch, self.weight.as_deref());
        }
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        if self.pending_rows >= self.options.sample_rows {
            self.build_mappers()?;
        }
        Ok(())
    }

    fn build_mappers(&mut self) -> Result<()> {
        let Some(first) = self.pending.first() else {
            return Err(Error::invalid("the table is empty: there is nothing to train on"));
        };
        let schema = first.schema();
        if schema.index_of(&self.label).is_err() {
            return Err(missing_column(&schema, &self.label, "label column"));
        }
        let names: Vec<String> = if self.options.features.is_empty() {
            schema
                .fields()
                .iter()
                .filter(|f| f.data_type().is_numeric() || is_text(f.data_type()))
                .map(|f| f.name().clone())
                .filter(|n| *n != self.label && Some(n) != self.weight.as_ref() && !self.options.exclude.contains(n))
                .collect()
        } else {
            for n in &self.options.features {
                let f = schema
                    .field_with_name(n)
                    .map_err(|_| missing_column(&schema, n, "feature column"))?;
                if !f.data_type().is_numeric() && !is_text(f.data_type()) {
                    return Err(Error::invalid(format!(
                        "feature column '{n}' has type {}; features must be numbers, text or booleans",
                        f.data_type()
                    )));
                }
            }
            self.options.features.clone()
        };
        if names.is_empty() {
            return Err(Error::invalid("no numeric feature columns to train on"));
        }
        for c in &self.options.categorical {
            if !names.contains(c) {
                return Err(if schema.index_of(c).is_err() {
                    missing_column(&schema, c, "categorical column")
                } else {
                    Error::invalid(format!(
                        "categorical column '{c}' is not one of the features (it is the label, the weight or excluded)"
                    ))
                });
            }
        }
        let mut mappers = Vec::with_capacity(names.len());
        for name in &names {
            let dt = schema
                .field_with_name(name)
                .map(|f| f.data_type().clone())
                .unwrap_or(DataType::Null);
            if is_text(&dt) || self.options.categorical.contains(name) {
                let mut sample = Vec::with_capacity(self.pending_rows);
                for b in &self.pending {
                    sample.extend(category_values(b, name)?);
                }
                let mapper = BinMapper::categorical_from_sample(&sample, self.options.max_cat_bins)?;
                let distinct = sample.iter().flatten().collect::<std::collections::HashSet<_>>().len();
                if distinct > self.options.max_categories {
                    return Err(Error::invalid(format!(
                        "categorical feature '{name}' has {distinct} distinct values in the first {} rows, more than max_categories = {} (is it an identifier? exclude it, or raise max_categories)",
                        self.pending_rows, self.options.max_categories
                    )));
                }
                mappers.push(mapper);
            } else {
                let mut sample = Vec::with_capacity(self.pending_rows);
                for b in &self.pending {
                    sample.extend(feature_values(b, name)?);
                }
                mappers.push(BinMapper::from_sample_with(
                    &sample,
                    self.options.max_bin,
                    self.options.min_data_in_bin.max(1),
                )?);
            }
        }
        let labels = label_reader(&self.label, self.options.bad_value.as_deref());
        let mut d = Dataset::empty(names, mappers, self.weight.is_some(), labels);
        for b in std::mem::take(&mut self.pending) {
            d.append(&b, self.weight.as_deref())?;
        }
        self.dataset = Some(d);
        Ok(())
    }

    pub fn finish(mut self) -> Result<Dataset> {
        if self.dataset.is_none() {
            self.build_mappers()?;
        }
        let d = self.dataset.take().unwrap();
        if d.rows() == 0 {
            return Err(Error::invalid("the table is empty: there is nothing to train on"));
        }
        Ok(d)
    }
}

fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean | DataType::Dictionary(_, _)
    )
}

/// A column cast to text (Utf8View), for categorical features and text labels.
fn text_column(batch: &RecordBatch, name: &str) -> Result<arrow::array::ArrayRef> {
    let schema = batch.schema();
    let i = schema
        .index_of(name)
        .map_err(|_| missing_column(&schema, name, "feature column"))?;
    cast_with_options(batch.column(i), &DataType::Utf8View, &CastOptions::default())
        .map_err(|e| Error::invalid(format!("feature column '{name}': {e}")))
}

/// A column's values as text (None for null), for categorical features.
pub fn category_values(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let col = text_column(batch, name)?;
    let a = col.as_string_view();
    Ok((0..a.len())
        .map(|r| (!a.is_null(r)).then(|| a.value(r).to_string()))
        .collect())
}

/// A feature as the values its mapper bins: numbers as f64, categories as their bin code
/// (NaN for null and for categories the mapper does not know).
pub fn mapped_values(batch: &RecordBatch, name: &str, mapper: &BinMapper) -> Result<Vec<f64>> {
    if !mapper.is_categorical() {
        return feature_values(batch, name);
    }
    let codes: std::collections::HashMap<&str, usize> = mapper
        .categories
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let col = text_column(batch, name)?;
    let a = col.as_string_view();
    Ok((0..a.len())
        .map(|r| {
            if a.is_null(r) {
                f64::NAN
            } else {
                codes.get(a.value(r)).map_or(f64::NAN, |&c| c as f64)
            }
        })
        .collect())
}

/// A numeric feature as f64, nulls as NaN.
pub fn feature_values(batch: &RecordBatch, name: &str) -> Result<Vec<f64>> {
    let schema = batch.schema();
    let i = schema
        .index_of(name)
        .map_err(|_| missing_column(&schema, name, "feature column"))?;
    let col = batch.column(i);
    let col = cast_with_options(col, &DataType::Float64, &CastOptions::default())
        .map_err(|e| Error::invalid(format!("feature column '{name}': {e}")))?;
    let a = col.as_primitive::<Float64Type>();
    Ok((0..a.len())
        .map(|r| if a.is_null(r) { f64::NAN } else { a.value(r) })
        .collect())
}
