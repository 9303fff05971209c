//! The design matrix: feature columns read from batches (raw, or a binning plan's WoE
//! values), standardized, with labels and weights.

use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use risklake_core::columns::missing_column;
use risklake_core::label::{read_weights, LabelReader};
use risklake_core::{Error, Result};
use risklake_features::plan::{BinningPlan, Output, Transformer};

use crate::dataset::feature_values;

/// Most rows of a work unit (see [`Design::units`]).
pub(super) const UNIT: usize = 16_384;

/// Training data: standardized feature values, row-major, with labels and weights.
#[derive(Debug, Clone)]
pub struct Design {
    pub names: Vec<String>,
    /// `(x - mean) / scale`, row-major (`rows x names.len()`), in chunks of rows as they
    /// were read (no copy into one block: the table is never held twice).
    pub chunks: Vec<Vec<f64>>,
    /// The first row of each chunk, and the number of rows at the end.
    pub starts: Vec<usize>,
    pub mean: Vec<f64>,
    /// Population standard deviation (0 for a constant column, whose `z` is 0).
    pub scale: Vec<f64>,
    pub label: Vec<f64>,
    pub weight: Option<Vec<f64>>,
    /// The correlation matrix of all columns, computed on first use.
    pub(super) correlations: std::sync::OnceLock<Vec<f64>>,
}

impl Design {
    pub fn rows(&self) -> usize {
        self.label.len()
    }

    pub fn width(&self) -> usize {
        self.names.len()
    }

    pub(super) fn w(&self, r: usize) -> f64 {
        self.weight.as_ref().map_or(1.0, |w| w[r])
    }

    /// The sum of weights (the number of rows without weights).
    pub fn total_weight(&self) -> f64 {
        match &self.weight {
            Some(w) => w.iter().sum(),
            None => self.rows() as f64,
        }
    }

    /// Row `r`'s standardized values.
    pub fn row(&self, r: usize) -> &[f64] {
        let c = self.starts.partition_point(|&s| s <= r) - 1;
        let p = self.width();
        let i = r - self.starts[c];
        &self.chunks[c][i * p..(i + 1) * p]
    }

    /// Work units of at most `UNIT` rows, (chunk, first row, end row) in chunk-local rows:
    /// fixed by the data's layout, so sums over them in order do not depend on threads.
    pub(super) fn units(&self) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        for c in 0..self.chunks.len() {
            let rows = self.starts[c + 1] - self.starts[c];
            let mut lo = 0;
            while lo < rows {
                let hi = (lo + UNIT).min(rows);
                out.push((c, lo, hi));
                lo = hi;
            }
        }
        out
    }

    /// A copy of `count` rows spread evenly over the table.
    pub(super) fn sample(&self, count: usize) -> Design {
        let n = self.rows();
        let pick: Vec<usize> = (0..count).map(|i| i * n / count).collect();
        Design {
            names: self.names.clone(),
            chunks: vec![pick.iter().flat_map(|&r| self.row(r).iter().copied()).collect()],
            starts: vec![0, count],
            mean: self.mean.clone(),
            scale: self.scale.clone(),
            label: pick.iter().map(|&r| self.label[r]).collect(),
            weight: self.weight.as_ref().map(|w| pick.iter().map(|&r| w[r]).collect()),
            correlations: Default::default(),
        }
    }
}

/// Where the features of an LR come from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Inputs {
    /// Numeric columns as they are.
    Raw,
    /// The WoE values of a binning plan's bins (the plan is kept in the model, so it
    /// scores raw tables).
    Woe { plan: Box<BinningPlan> },
}

/// Streams batches into a [`Design`].
pub struct DesignBuilder {
    pub(super) label: String,
    pub(super) weight: Option<String>,
    /// The label, read as every learner reads a binary label.
    pub(super) target: LabelReader,
    pub(super) features: Vec<String>,
    pub(super) exclude: Vec<String>,
    pub(super) transformer: Option<Transformer>,
    pub(super) names: Vec<String>,
    pub(super) chunks: Vec<Vec<f64>>,
    pub(super) labels: Vec<f64>,
    pub(super) weights: Option<Vec<f64>>,
}

impl DesignBuilder {
    /// `features` empty: every numeric column but the label, the weight and `exclude`
    /// (with a plan: every planned feature).
    pub fn new(
        label: &str,
        weight: Option<&str>,
        bad_value: Option<&str>,
        features: &[String],
        exclude: &[String],
        plan: Option<&BinningPlan>,
    ) -> Result<DesignBuilder> {
        let transformer = match plan {
            Some(p) => {
                let mut plan = p.clone();
                plan.features
                    .retain(|f| (features.is_empty() || features.contains(&f.name)) && !exclude.contains(&f.name));
                if let Some(f) = features.iter().find(|n| p.feature(n).is_none()) {
                    return Err(Error::invalid(format!("feature '{f}' is not in the binning plan")));
                }
                if plan.features.is_empty() {
                    return Err(Error::invalid("the binning plan has none of the requested features"));
                }
                Some(Transformer::new(&plan, Output::Woe))
            }
            None => None,
        };
        Ok(DesignBuilder {
            label: label.to_string(),
            weight: weight.map(str::to_string),
            target: LabelReader::binary(label, bad_value),
            features: features.to_vec(),
            exclude: exclude.to_vec(),
            transformer,
            names: Vec::new(),
            chunks: Vec::new(),
            labels: Vec::new(),
            weights: weight.map(|_| Vec::new()),
        })
    }

    pub fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let start = self.labels.len();
        let schema = batch.schema();
        // The reader names a missing label column (and lists the table's columns).
        let labels = self.target.read(&batch)?;
        let weights = match &self.weight {
            Some(w) => Some(read_weights(&batch, w, start as u64)?),
            None => None,
        };
        let batch = match &self.transformer {
            Some(t) => {
                t.check_schema(&schema, "the table")?;
                t.transform(&batch)?
            }
            None => batch,
        };
        if self.names.is_empty() {
            self.names = self.feature_names(&batch)?;
        }
        let columns: Vec<Vec<f64>> = self
            .names
            .par_iter()
            .map(|name| {
                // A text column would cast to nulls and fail as "null at row 1": say what it is.
                if let Ok(f) = batch.schema().field_with_name(name) {
                    if !f.data_type().is_numeric() && f.data_type() != &arrow::datatypes::DataType::Boolean {
                        return Err(Error::invalid(format!(
                            "feature column '{name}' is {} (text or another non-numeric type): logistic regression \
                             needs numbers; bin it with a plan (--plan) to use each category's WoE, or leave it out \
                             (--exclude {name})",
                            f.data_type()
                        )));
                    }
                }
                let v = feature_values(&batch, name).map_err(|e| match batch.schema().index_of(name) {
                    Ok(_) => Error::invalid(format!(
                        "feature column '{name}' is not numeric ({e}); bin it with a plan (--plan) to use its WoE"
                    )),
                    Err(_) => e,
                })?;
                if let Some(r) = v.iter().position(|x| !x.is_finite()) {
                    return Err(Error::invalid(format!(
                        "feature column '{name}' is {} at row {}: logistic regression needs a finite value in every row (bin the feature with a plan, --plan, to give missing values a WoE, or fill them)",
                        if v[r].is_nan() { "null or NaN" } else { "infinite" },
                        start + r + 1
                    )));
                }
                Ok(v)
            })
            .collect::<Result<_>>()?;
        // Row-major, appended without zero-filling first (fresh pages are zeroed by the
        // kernel anyway; a resize would write every value twice).
        let n = batch.num_rows();
        let p = self.names.len();
        let mut chunk = Vec::with_capacity(n * p);
        chunk.extend((0..n).flat_map(|i| columns.iter().map(move |c| c[i])));
        self.chunks.push(chunk);
        self.labels.extend(labels);
        if let (Some(ws), Some(w)) = (self.weights.as_mut(), weights) {
            ws.extend(w);
        }
        Ok(())
    }

    pub(super) fn feature_names(&self, batch: &RecordBatch) -> Result<Vec<String>> {
        if let Some(t) = &self.transformer {
            return Ok(t.plan().features.iter().map(|f| f.name.clone()).collect());
        }
        let schema = batch.schema();
        if !self.features.is_empty() {
            for n in &self.features {
                if schema.index_of(n).is_err() {
                    return Err(missing_column(&schema, n, "feature column"));
                }
            }
            return Ok(self.features.clone());
        }
        let names: Vec<String> = schema
            .fields()
            .iter()
            .filter(|f| f.data_type().is_numeric())
            .map(|f| f.name().clone())
            .filter(|n| *n != self.label && Some(n) != self.weight.as_ref() && !self.exclude.contains(n))
            .collect();
        if names.is_empty() {
            return Err(Error::invalid("no numeric feature columns to fit on"));
        }
        Ok(names)
    }

    /// The inputs this builder reads (for the model).
    pub fn inputs(&self) -> Inputs {
        match &self.transformer {
            Some(t) => Inputs::Woe {
                plan: Box::new(t.plan().clone()),
            },
            None => Inputs::Raw,
        }
    }

    pub fn finish(self) -> Result<Design> {
        let n = self.labels.len();
        if n == 0 {
            return Err(Error::invalid("the table is empty: there is nothing to fit"));
        }
        let p = self.names.len();
        let mut chunks = self.chunks;
        // Means, then variances about them (two passes: no cancellation), chunks summed in
        // order.
        let col_sums = |chunks: &[Vec<f64>], f: &(dyn Fn(usize, f64) -> f64 + Sync)| -> Vec<f64> {
            let parts: Vec<Vec<f64>> = chunks
                .par_iter()
                .map(|chunk| {
                    let mut s = vec![0.0; p];
                    for row in chunk.chunks(p) {
                        for (j, &v) in row.iter().enumerate() {
                            s[j] += f(j, v);
                        }
                    }
                    s
                })
                .collect();
            let mut s = vec![0.0; p];
            for part in parts {
                for j in 0..p {
                    s[j] += part[j];
                }
            }
            s
        };
        let mean: Vec<f64> = col_sums(&chunks, &|_, v| v).into_iter().map(|s| s / n as f64).collect();
        let scale: Vec<f64> = col_sums(&chunks, &|j, v| (v - mean[j]) * (v - mean[j]))
            .into_iter()
            .map(|s| (s / n as f64).sqrt())
            .collect();
        // A column whose spread is nothing next to its size is constant.
        let scale: Vec<f64> = scale
            .iter()
            .zip(&mean)
            .map(|(&s, &m)| if s <= 1e-12 * m.abs().max(1e-300) { 0.0 } else { s })
            .collect();
        chunks.par_iter_mut().for_each(|chunk| {
            for row in chunk.chunks_mut(p) {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = if scale[j] > 0.0 { (*v - mean[j]) / scale[j] } else { 0.0 };
                }
            }
        });
        let mut starts = vec![0];
        for c in &chunks {
            starts.push(starts.last().unwrap() + c.len() / p.max(1));
        }
        if self.labels.iter().all(|&y| y == self.labels[0]) {
            return Err(Error::invalid(
                "the labels are all one class; logistic regression needs both goods and bads",
            ));
        }
        Ok(Design {
            names: self.names,
            chunks,
            starts,
            mean,
            scale,
            label: self.labels,
            weight: self.weights,
            correlations: Default::default(),
        })
    }
}
