//! The binary target: which column is the label, which of its values means "bad", and the
//! optional sample weight column.
//!
//! A label may be numeric (`0`/`1`, the default bad value is `1`), boolean (`true` is bad)
//! or a string (the bad value must be given, e.g. `--bad-value bad`). Labels must be binary:
//! a third distinct value is an error that lists the values found, and so is a null label.

use std::collections::BTreeSet;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use risklake_core::{Error, Result};

use crate::values::{column, to_f64, value_string};

/// Which column is the label, what counts as bad, and which column holds weights.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    /// The label column.
    pub label: String,
    /// The label value that marks a bad (event) row, as text; `None` means `1` (numeric) or
    /// `true` (boolean); string labels must name it.
    #[serde(default)]
    pub bad_value: Option<String>,
    /// An optional column of non-negative sample weights.
    #[serde(default)]
    pub weight: Option<String>,
}

impl Target {
    /// A target on `label` with the default bad value and no weights.
    pub fn new(label: impl Into<String>) -> Self {
        Target {
            label: label.into(),
            bad_value: None,
            weight: None,
        }
    }
}

/// Reads label and weights from batches and checks that the label stays binary.
#[derive(Debug)]
pub struct TargetReader {
    target: Target,
    seen: BTreeSet<String>,
    seen_num: Vec<f64>,
    bad_seen: bool,
    rows: u64,
}

/// The label of one batch: `bad[i]` is 1.0 for a bad row and 0.0 for a good one; `weight`
/// is `None` when every row weighs 1.
#[derive(Debug, Clone)]
pub struct BatchTarget {
    pub bad: Vec<f64>,
    pub weight: Option<Vec<f64>>,
}

impl TargetReader {
    pub fn new(target: Target) -> Self {
        TargetReader {
            target,
            seen: BTreeSet::new(),
            seen_num: Vec::new(),
            bad_seen: false,
            rows: 0,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The bad indicator and weights of `batch`, or an error naming the problem (missing
    /// column, null label, third label value, negative or non-finite weight).
    pub fn read(&mut self, batch: &RecordBatch) -> Result<BatchTarget> {
        let label = column(batch, &self.target.label, "label column")?;
        let bad = self.read_label(label)?;
        let weight = match &self.target.weight {
            None => None,
            Some(name) => {
                let col = column(batch, name, "weight column")?;
                let values = to_f64(col).map_err(|e| Error::invalid(format!("weight column '{name}': {e}")))?;
                let values = values.as_primitive::<Float64Type>();
                let mut out = Vec::with_capacity(values.len());
                for i in 0..values.len() {
                    let w = if values.is_null(i) { f64::NAN } else { values.value(i) };
                    if !(w.is_finite() && w >= 0.0) {
                        return Err(Error::invalid(format!(
                            "weight column '{name}' has an invalid weight {} at row {} (weights must be finite and >= 0)",
                            if values.is_null(i) { "null".to_string() } else { w.to_string() },
                            self.rows + i as u64 + 1
                        )));
                    }
                    out.push(w);
                }
                Some(out)
            }
        };
        self.rows += batch.num_rows() as u64;
        Ok(BatchTarget { bad, weight })
    }

    fn read_label(&mut self, label: &ArrayRef) -> Result<Vec<f64>> {
        let name = &self.target.label;
        if let Some(i) = (0..label.len()).find(|&i| label.is_null(i)) {
            return Err(Error::invalid(format!(
                "label column '{name}' is null at row {}; drop or fill unlabeled rows before binning",
                self.rows + i as u64 + 1
            )));
        }
        let out: Vec<f64> = match label.data_type() {
            DataType::Boolean => {
                let bad_true = match self.target.bad_value.as_deref() {
                    None | Some("true") | Some("1") => true,
                    Some("false") | Some("0") => false,
                    Some(other) => {
                        return Err(Error::invalid(format!(
                            "label column '{name}' is boolean; --bad-value must be true or false, not '{other}'"
                        )))
                    }
                };
                let arr = label.as_boolean();
                (0..arr.len())
                    .map(|i| (arr.value(i) == bad_true) as u8 as f64)
                    .collect()
            }
            dt if dt.is_numeric() => {
                let bad = match self.target.bad_value.as_deref() {
                    None => 1.0,
                    Some(text) => text.trim().parse::<f64>().map_err(|_| {
                        Error::invalid(format!(
                            "label column '{name}' is numeric ({dt}); --bad-value '{text}' is not a number"
                        ))
                    })?,
                };
                let values = to_f64(label).map_err(|e| Error::invalid(format!("label column '{name}': {e}")))?;
                let values = values.as_primitive::<Float64Type>().values();
                let mut out = Vec::with_capacity(values.len());
                for (i, &v) in values.iter().enumerate() {
                    if v.is_nan() {
                        return Err(Error::invalid(format!(
                            "label column '{name}' is NaN at row {}",
                            self.rows + i as u64 + 1
                        )));
                    }
                    out.push((v == bad) as u8 as f64);
                }
                // Track up to three distinct values: two compares per row in the common case.
                for &v in values.iter() {
                    if !self.seen_num.contains(&v) {
                        self.seen_num.push(v);
                        self.seen.insert(format_number(v));
                        if self.seen_num.len() > 2 {
                            break;
                        }
                    }
                }
                out
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let Some(bad) = self.target.bad_value.clone() else {
                    let sample: BTreeSet<String> = (0..label.len().min(1000))
                        .filter_map(|i| value_string(label, i))
                        .take(5)
                        .collect();
                    return Err(Error::invalid(format!(
                        "label column '{name}' holds text ({}); say which value is bad with --bad-value",
                        sample.into_iter().collect::<Vec<_>>().join(", ")
                    )));
                };
                let mut out = Vec::with_capacity(label.len());
                for i in 0..label.len() {
                    let v = value_string(label, i).unwrap_or_default();
                    out.push((v == bad) as u8 as f64);
                    if self.seen.len() < 3 && !self.seen.contains(&v) {
                        self.seen.insert(v);
                    }
                }
                out
            }
            other => {
                return Err(Error::invalid(format!(
                    "label column '{name}' has type {other}; a binary label must be numeric, boolean or text"
                )))
            }
        };
        if out.iter().any(|&b| b == 1.0) {
            self.bad_seen = true;
        }
        if self.seen.len() > 2 {
            return Err(self.not_binary());
        }
        Ok(out)
    }

    fn not_binary(&self) -> Error {
        Error::invalid(format!(
            "label column '{}' is not binary: found the values {}{}",
            self.target.label,
            self.seen
                .iter()
                .map(|v| format!("'{v}'"))
                .collect::<Vec<_>>()
                .join(", "),
            if self.seen.len() > 2 {
                " (and possibly more)"
            } else {
                ""
            }
        ))
    }

    /// Checks, after the last batch, that the data had rows, a bad class and a good class.
    pub fn finish(&self, bad_weight: f64, total_weight: f64) -> Result<()> {
        let name = &self.target.label;
        if self.rows == 0 {
            return Err(Error::invalid("the table is empty: there is nothing to bin"));
        }
        if !self.bad_seen || bad_weight <= 0.0 {
            return Err(Error::invalid(format!(
                "label column '{name}' has no bad rows (bad value {}; values found: {}); check --bad-value",
                self.target.bad_value.as_deref().unwrap_or("1"),
                self.seen
                    .iter()
                    .map(|v| format!("'{v}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if total_weight - bad_weight <= 0.0 {
            return Err(Error::invalid(format!(
                "label column '{name}' has only bad rows; binning needs both classes"
            )));
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}
