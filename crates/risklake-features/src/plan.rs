//! The binning plan: a versioned JSON document with every feature's bins, WoE and
//! metrics, and the transform that applies it to new data.
//!
//! Bin indices of a feature: regular bins are `0..R`, the missing bin is `R`, special
//! values follow at `R + 1 ..` in the order they were given. Numeric bins are `[a, b)`:
//! a value equal to a split point goes to the upper bin. A categorical value that the plan
//! has not seen goes to the group that pooled the rare categories when there is one, and
//! to the missing bin otherwise.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int32Array};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use risklake_core::{Error, Result};

use crate::fine::Skipped;
use crate::options::{BinningOptions, Method};
use crate::target::Target;
use crate::values::{to_f64, to_text};

/// The `format` field of every plan.
pub const PLAN_FORMAT: &str = "risklake.binning_plan";
/// The plan version this build writes and reads.
pub const PLAN_VERSION: u32 = 1;

/// A binning plan (see the module docs).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BinningPlan {
    pub format: String,
    pub version: u32,
    pub target: Target,
    pub method: Method,
    pub options: BinningOptions,
    /// The WoE convention, stated.
    pub woe: String,
    /// Added to the bad and good weight of a bin that lacks either, before its WoE.
    pub woe_smoothing: f64,
    pub rows: u64,
    pub bad: f64,
    pub good: f64,
    pub features: Vec<FeaturePlan>,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    Numeric,
    Categorical,
}

/// One feature of a plan.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FeaturePlan {
    pub name: String,
    pub dtype: String,
    pub kind: FeatureKind,
    /// Numeric: the split points between regular bins, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edges: Vec<f64>,
    /// Categorical: the categories of each regular bin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Vec<String>>,
    /// Categorical: the regular bin that pooled rare categories and takes unseen ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_group: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub special_values: Vec<f64>,
    pub bins: Vec<Bin>,
    pub metrics: FeatureMetrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BinKind {
    Regular,
    Missing,
    Special,
}

/// One row of a feature's bins table.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Bin {
    pub index: usize,
    pub label: String,
    pub kind: BinKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_value: Option<f64>,
    pub count: u64,
    pub weight: f64,
    pub share: f64,
    pub good: f64,
    pub bad: f64,
    pub event_rate: f64,
    pub woe: f64,
    pub iv: f64,
}

/// What a feature is worth.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FeatureMetrics {
    pub iv: f64,
    /// KS of the WoE score.
    pub ks: f64,
    /// AUC of the WoE score (>= 0.5 by construction).
    pub auc: f64,
    pub gini: f64,
    pub missing_rate: f64,
    pub special_rate: f64,
    /// Distinct regular and special values (a lower bound when `distinct_exact` is false).
    pub distinct: u64,
    pub distinct_exact: bool,
    /// Share of the most frequent value (or sketch bucket).
    pub top_share: f64,
    /// The event-rate pattern of the regular bins.
    pub trend: String,
    /// The trend optimal binning enforced (`none` for other methods).
    pub trend_constraint: String,
    /// Regular bins.
    pub bins: usize,
    /// +/-inf values, which sit in the outermost regular bins.
    pub infinite: u64,
    /// Largest PSI found by an evaluation, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    /// What a model reviewer should look at (see `binning::review_flags`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

impl BinningPlan {
    /// The plan as pretty JSON. Infinite or NaN numbers cannot occur in a plan.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plan always serializes")
    }

    /// Reads a plan, checking its format and version.
    pub fn from_json(text: &str) -> Result<BinningPlan> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::invalid(format!("binning plan is not valid JSON: {e}")))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(PLAN_FORMAT) => {}
            other => {
                return Err(Error::invalid(format!(
                    "not a risklake binning plan (format {:?}, expected \"{PLAN_FORMAT}\")",
                    other.unwrap_or("missing")
                )))
            }
        }
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == PLAN_VERSION as u64 => {}
            Some(v) => {
                return Err(Error::invalid(format!(
                    "binning plan version {v} is not supported by this risklake (it reads version {PLAN_VERSION})"
                )))
            }
            None => return Err(Error::invalid("binning plan has no version")),
        }
        let plan: BinningPlan =
            serde_json::from_value(value).map_err(|e| Error::invalid(format!("binning plan is malformed: {e}")))?;
        plan.check()?;
        Ok(plan)
    }

    /// Checks that every feature's bins agree with its edges or groups, so transforming
    /// never indexes past them. Readers of files that embed a plan (models, scorecards)
    /// call it too.
    pub fn check(&self) -> Result<()> {
        for f in &self.features {
            f.check()?;
        }
        Ok(())
    }

    pub fn feature(&self, name: &str) -> Option<&FeaturePlan> {
        self.features.iter().find(|f| f.name == name)
    }

    /// A copy of the plan with only the named features, in the plan's order.
    pub fn only(&self, names: &[String]) -> BinningPlan {
        let mut plan = self.clone();
        plan.features.retain(|f| names.iter().any(|n| n == &f.name));
        plan
    }
}

impl FeaturePlan {
    /// Regular bins.
    pub fn regular_bins(&self) -> usize {
        match self.kind {
            FeatureKind::Numeric => self.edges.len() + 1,
            FeatureKind::Categorical => self.groups.len(),
        }
    }

    /// The index of the missing bin.
    pub fn missing_bin(&self) -> usize {
        self.regular_bins()
    }

    fn check(&self) -> Result<()> {
        let expected = self.regular_bins() + 1 + self.special_values.len();
        if self.bins.len() != expected {
            return Err(Error::invalid(format!(
                "binning plan feature '{}' has {} bins where its split points make {expected}",
                self.name,
                self.bins.len()
            )));
        }
        if self.edges.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::invalid(format!(
                "binning plan feature '{}' has split points out of order",
                self.name
            )));
        }
        Ok(())
    }

    /// The bin of a numeric value (NaN is missing).
    #[inline]
    pub fn numeric_bin(&self, v: f64) -> usize {
        if v.is_nan() {
            return self.missing_bin();
        }
        if !self.special_values.is_empty() {
            if let Some(j) = self.special_values.iter().position(|&s| s == v) {
                return self.missing_bin() + 1 + j;
            }
        }
        if self.edges.len() <= 16 {
            self.edges.iter().filter(|&&e| e <= v).count()
        } else {
            self.edges.partition_point(|&e| e <= v)
        }
    }
}

/// The bin index a transform gives a category the plan never saw (under
/// [`Unseen::Neutral`]): WoE 0, bin output -1, 0 points in a scorecard.
pub const UNSEEN: u32 = u32::MAX;

/// What a category the plan never saw gets at transform and scoring time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unseen {
    /// WoE 0, neither safer nor riskier than average (bin output -1, 0 points).
    #[default]
    Neutral,
    /// The missing-value bin's WoE (what risklake did before; a missing bin fitted on a
    /// few rows can carry extreme WoE).
    Missing,
    /// The pool of rare categories when the plan has one, else the missing bin.
    Other,
    /// An error naming the feature, the value and the row.
    Error,
}

impl std::str::FromStr for Unseen {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "neutral" => Ok(Unseen::Neutral),
            "missing" => Ok(Unseen::Missing),
            "other" => Ok(Unseen::Other),
            "error" => Ok(Unseen::Error),
            other => Err(format!(
                "unknown treatment of unseen categories '{other}' (neutral, missing, other or error)"
            )),
        }
    }
}

/// The WoE of bin `i` of `f` (0 for [`UNSEEN`]).
pub fn woe_at(f: &FeaturePlan, i: u32) -> f64 {
    if i == UNSEEN {
        0.0
    } else {
        f.bins[i as usize].woe
    }
}

/// What a transform writes for each planned feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The WoE of the row's bin (Float64).
    Woe,
    /// The bin index (Int32, see the module docs).
    Bin,
}

impl std::str::FromStr for Output {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "woe" => Ok(Output::Woe),
            "bin" | "index" => Ok(Output::Bin),
            other => Err(format!("unknown transform output '{other}' (expected woe or bin)")),
        }
    }
}

/// Applies a plan to batches.
pub struct Transformer {
    plan: BinningPlan,
    lookups: Vec<Option<HashMap<String, usize>>>,
    output: Output,
    /// Write the values as `<feature><suffix>` columns after the input's, keeping the
    /// raw columns; `None` replaces the raw columns in place.
    suffix: Option<String>,
    unseen: Unseen,
}

impl Transformer {
    pub fn new(plan: &BinningPlan, output: Output) -> Self {
        let lookups = plan
            .features
            .iter()
            .map(|f| match f.kind {
                FeatureKind::Numeric => None,
                FeatureKind::Categorical => {
                    let mut map = HashMap::new();
                    for (g, names) in f.groups.iter().enumerate() {
                        for n in names {
                            map.insert(n.clone(), g);
                        }
                    }
                    Some(map)
                }
            })
            .collect();
        Transformer {
            plan: plan.clone(),
            lookups,
            output,
            suffix: None,
            unseen: Unseen::default(),
        }
    }

    /// How categories the plan never saw are treated (default [`Unseen::Neutral`]).
    pub fn with_unseen(mut self, unseen: Unseen) -> Self {
        self.unseen = unseen;
        self
    }

    /// Keeps the raw columns and adds the values as `<feature><suffix>` columns.
    pub fn with_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = Some(suffix.into()).filter(|s| !s.is_empty());
        self
    }

    /// The columns a transform adds next to the raw ones (with a suffix), checked
    /// against `input`'s names.
    pub fn added_columns(&self, input: &Schema) -> Result<Vec<String>> {
        let Some(suffix) = &self.suffix else {
            return Ok(Vec::new());
        };
        let names: Vec<String> = self
            .plan
            .features
            .iter()
            .map(|f| format!("{}{suffix}", f.name))
            .collect();
        if let Some(n) = names
            .iter()
            .find(|n| input.fields().iter().any(|f| f.name().eq_ignore_ascii_case(n)))
        {
            return Err(Error::invalid(format!(
                "the table already has a column '{n}'; choose another suffix than '{suffix}'"
            )));
        }
        Ok(names)
    }

    pub fn plan(&self) -> &BinningPlan {
        &self.plan
    }

    fn index_of(schema: &Schema, name: &str) -> Option<usize> {
        crate::values::field_index(schema, name, "column").ok()
    }

    /// Checks that `schema` has every planned feature, naming the ones it lacks.
    pub fn check_schema(&self, schema: &Schema, table: &str) -> Result<()> {
        let missing: Vec<&str> = self
            .plan
            .features
            .iter()
            .filter(|f| Self::index_of(schema, &f.name).is_none())
            .map(|f| f.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid(format!(
                "{table} lacks planned feature column(s): {}",
                missing.join(", ")
            )));
        }
        Ok(())
    }

    /// The schema a transform of `input` produces: planned features replaced in place.
    pub fn output_schema(&self, input: &Schema) -> SchemaRef {
        let dt = match self.output {
            Output::Woe => DataType::Float64,
            Output::Bin => DataType::Int32,
        };
        if let Some(suffix) = &self.suffix {
            let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
            fields.extend(
                self.plan
                    .features
                    .iter()
                    .map(|f| Field::new(format!("{}{suffix}", f.name), dt.clone(), false)),
            );
            return Arc::new(Schema::new(fields));
        }
        let fields: Vec<Field> = input
            .fields()
            .iter()
            .map(|f| {
                if self.plan.features.iter().any(|p| p.name.eq_ignore_ascii_case(f.name())) {
                    Field::new(f.name(), dt.clone(), false)
                } else {
                    f.as_ref().clone()
                }
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The bin index of every row for each planned feature, in plan order.
    pub fn bin_indices(&self, batch: &RecordBatch) -> Result<Vec<Vec<u32>>> {
        Ok(self.bin_indices_counted(batch)?.0)
    }

    /// [`Transformer::bin_indices`] and, per planned feature, the rows holding a
    /// category the plan never saw (whatever the treatment of unseen categories).
    pub fn bin_indices_counted(&self, batch: &RecordBatch) -> Result<(Vec<Vec<u32>>, Vec<u64>)> {
        let schema = batch.schema();
        self.check_schema(&schema, "the table")?;
        let bins = |(f, lookup): (&FeaturePlan, &Option<HashMap<String, usize>>)| {
            let col = batch.column(Self::index_of(&schema, &f.name).unwrap());
            feature_bins(f, lookup.as_ref(), col, self.unseen)
        };
        let both: Vec<(Vec<u32>, u64)> = if batch.num_rows() <= risklake_core::INLINE_ROWS {
            self.plan
                .features
                .iter()
                .zip(&self.lookups)
                .map(bins)
                .collect::<Result<_>>()?
        } else {
            self.plan
                .features
                .par_iter()
                .zip(self.lookups.par_iter())
                .map(bins)
                .collect::<Result<_>>()?
        };
        Ok(both.into_iter().unzip())
    }

    /// The transformed batch (see [`Transformer::output_schema`]).
    pub fn transform(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let schema = batch.schema();
        let bins = self.bin_indices(batch)?;
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for (f, idx) in self.plan.features.iter().zip(bins) {
            let values: ArrayRef = match self.output {
                Output::Woe => Arc::new(Float64Array::from_iter_values(idx.iter().map(|&i| woe_at(f, i)))),
                Output::Bin => Arc::new(Int32Array::from_iter_values(idx.iter().map(|&i| {
                    if i == UNSEEN {
                        -1
                    } else {
                        i as i32
                    }
                }))),
            };
            if self.suffix.is_some() {
                columns.push(values);
            } else {
                columns[Self::index_of(&schema, &f.name).unwrap()] = values;
            }
        }
        RecordBatch::try_new(self.output_schema(&schema), columns)
            .map_err(|e| Error::arrow("building the transformed batch", e))
    }
}

fn feature_bins(
    f: &FeaturePlan,
    lookup: Option<&HashMap<String, usize>>,
    col: &ArrayRef,
    policy: Unseen,
) -> Result<(Vec<u32>, u64)> {
    let missing = f.missing_bin() as u32;
    match f.kind {
        FeatureKind::Numeric => {
            let values = to_f64(col)
                .map_err(|e| Error::invalid(format!("column '{}' is planned as numeric but {e}", f.name)))?;
            let values = values.as_primitive::<Float64Type>();
            let nulls = values.nulls();
            let bins = values
                .values()
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    if nulls.is_some_and(|n| n.is_null(i)) {
                        missing
                    } else {
                        f.numeric_bin(v) as u32
                    }
                })
                .collect();
            // Every number has a bin: nothing is unseen.
            Ok((bins, 0))
        }
        FeatureKind::Categorical => {
            let lookup = lookup.expect("categorical features have a lookup");
            let unseen = match policy {
                Unseen::Neutral | Unseen::Error => UNSEEN,
                Unseen::Missing => missing,
                Unseen::Other => f.other_group.map_or(missing, |g| g as u32),
            };
            let text = to_text(col).map_err(|e| Error::invalid(format!("column '{}': {e}", f.name)))?;
            let text = text.as_string_view();
            let mut count = 0u64;
            let bins: Vec<u32> = (0..text.len())
                .map(|i| {
                    if text.is_null(i) {
                        missing
                    } else {
                        lookup.get(text.value(i)).map_or_else(
                            || {
                                count += 1;
                                unseen
                            },
                            |&g| g as u32,
                        )
                    }
                })
                .collect();
            if policy == Unseen::Error {
                if let Some(r) = bins.iter().position(|&b| b == UNSEEN) {
                    return Err(Error::invalid(format!(
                        "column '{}' holds '{}' at row {} of the batch, a category the plan never saw \
                         (choose a treatment: unseen = neutral, missing or other)",
                        f.name,
                        text.value(r),
                        r + 1
                    )));
                }
            }
            Ok((bins, count))
        }
    }
}
