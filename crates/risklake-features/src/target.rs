//! The binary target: which column is the label, which of its values means "bad", and the
//! optional sample weight column.
//!
//! A label may be numeric (`0`/`1`, or any two numbers with a bad value), boolean (`true`
//! is bad) or a string (the bad value must be given, e.g. `bad_value = "bad"`). Labels must
//! be binary: a third distinct value is an error that lists the values found, and so is a
//! null label. The decoding is [`risklake_core::label`]'s, shared with the learners.

use arrow::record_batch::RecordBatch;
use risklake_core::label::{read_weights, LabelReader};
use risklake_core::{Error, Result};

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

/// Reads label and weights from batches (with [`risklake_core::label`], the reader every
/// learner uses) and checks that the label stays binary.
#[derive(Debug)]
pub struct TargetReader {
    target: Target,
    label: LabelReader,
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
        let label = LabelReader::binary(&target.label, target.bad_value.as_deref());
        TargetReader { target, label }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The bad indicator and weights of `batch`, or an error naming the problem (missing
    /// column, null label, third label value, negative or non-finite weight).
    pub fn read(&mut self, batch: &RecordBatch) -> Result<BatchTarget> {
        let first_row = self.label.rows();
        let bad = self.label.read(batch)?;
        let weight = match &self.target.weight {
            None => None,
            Some(name) => Some(read_weights(batch, name, first_row)?),
        };
        Ok(BatchTarget { bad, weight })
    }

    /// Checks, after the last batch, that the data had rows, a bad class and a good class.
    pub fn finish(&self, bad_weight: f64, total_weight: f64) -> Result<()> {
        let name = &self.target.label;
        if self.label.rows() == 0 {
            return Err(Error::invalid("the table is empty: there is nothing to bin"));
        }
        if !self.label.bad_seen() || bad_weight <= 0.0 {
            return Err(Error::param(
                "bad_value",
                format!(
                    "label column '{name}' has no bad rows (bad value {}; values found: {})",
                    self.target.bad_value.as_deref().unwrap_or("1"),
                    self.label
                        .seen()
                        .iter()
                        .map(|v| format!("'{v}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if total_weight - bad_weight <= 0.0 {
            return Err(Error::invalid(format!(
                "label column '{name}' has only bad rows; binning needs both classes"
            )));
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.label.rows()
    }
}
