//! The one reader of a target column: labels and sample weights, decoded the same way by
//! binning, every learner, the held-out metrics of training and tuning, and model reports.
//!
//! A **binary** label is bad (`1.0`) or good (`0.0`):
//! - boolean: `true` is bad, unless `bad_value` is `false` (or `0`);
//! - numeric: without `bad_value` the values must be `0` (good) and `1` (bad); with it, the
//!   rows equal to that number are bad (`bad_value = "1"` matches `1`, `1.0` and `1e0`);
//! - text: `bad_value` must name the bad value, compared as text.
//!
//! A binary label holds at most two distinct values; a third is an error listing what was
//! found. A **numeric** label (regression) is read as its finite values. Nulls and NaN are
//! errors naming the row in both modes, never quietly counted as good.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;

use crate::columns::missing_column;
use crate::{Error, Result};

/// How many distinct label values are kept for messages (a third one is the error).
const SEEN: usize = 3;

/// Decodes a label column batch by batch; rows are counted from the first batch, so
/// errors name the row of the whole input.
#[derive(Debug, Clone)]
pub struct LabelReader {
    name: String,
    bad_value: Option<String>,
    binary: bool,
    rows: u64,
    seen: Vec<String>,
    bad_seen: bool,
}

impl LabelReader {
    /// A binary label (`bad_value` as described in the module's documentation).
    pub fn binary(name: impl Into<String>, bad_value: Option<&str>) -> Self {
        Self::new(name.into(), bad_value.map(str::to_string), true)
    }

    /// A numeric label read as it is (a regression target); booleans read as 0 / 1.
    pub fn numeric(name: impl Into<String>) -> Self {
        Self::new(name.into(), None, false)
    }

    fn new(name: String, bad_value: Option<String>, binary: bool) -> Self {
        LabelReader {
            name,
            bad_value,
            binary,
            rows: 0,
            seen: Vec::new(),
            bad_seen: false,
        }
    }

    /// The label column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bad value asked for, if any.
    pub fn bad_value(&self) -> Option<&str> {
        self.bad_value.as_deref()
    }

    /// Rows read so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Whether a bad row was read (binary labels).
    pub fn bad_seen(&self) -> bool {
        self.bad_seen
    }

    /// The first distinct label values read (at most three), for messages.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// The label of `batch`: 1.0 bad / 0.0 good (binary) or the values (numeric).
    pub fn read(&mut self, batch: &RecordBatch) -> Result<Vec<f64>> {
        let schema = batch.schema();
        let i = schema
            .index_of(&self.name)
            .map_err(|_| missing_column(&schema, &self.name, "label column"))?;
        self.read_column(batch.column(i))
    }

    /// The label of one column's values (see [`LabelReader::read`]).
    pub fn read_column(&mut self, label: &ArrayRef) -> Result<Vec<f64>> {
        let name = &self.name;
        if let Some(i) = (0..label.len()).find(|&i| label.is_null(i)) {
            return Err(Error::invalid(format!(
                "label column '{name}' is null at row {}; drop or fill unlabeled rows first",
                self.rows + i as u64 + 1
            )));
        }
        let out = match label.data_type() {
            DataType::Boolean => self.booleans(label)?,
            dt if dt.is_numeric() => self.numbers(label)?,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..) if self.binary => {
                self.texts(label)?
            }
            other => {
                return Err(Error::invalid(format!(
                    "label column '{name}' has type {other}; {}",
                    if self.binary {
                        "a binary label must be numeric, boolean or text"
                    } else {
                        "it must be numeric"
                    }
                )))
            }
        };
        if self.binary && out.contains(&1.0) {
            self.bad_seen = true;
        }
        self.rows += label.len() as u64;
        Ok(out)
    }

    fn booleans(&mut self, label: &ArrayRef) -> Result<Vec<f64>> {
        let bad_true = match self.bad_value.as_deref() {
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(other) => {
                return Err(Error::param(
                    "bad_value",
                    format!(
                        "label column '{}' is boolean; the bad value must be true or false, not '{other}'",
                        self.name
                    ),
                ))
            }
        };
        let arr = label.as_boolean();
        for v in [false, true] {
            if (0..arr.len()).any(|i| arr.value(i) == v) {
                self.remember(v.to_string());
            }
        }
        Ok((0..arr.len())
            .map(|i| (arr.value(i) == bad_true) as u8 as f64)
            .collect())
    }

    fn numbers(&mut self, label: &ArrayRef) -> Result<Vec<f64>> {
        let name = self.name.clone();
        let values = cast_with_options(label, &DataType::Float64, &CastOptions::default())
            .map_err(|e| Error::invalid(format!("label column '{name}': {e}")))?;
        let values = values.as_primitive::<Float64Type>().values();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "label column '{name}' is {} at row {}",
                values[i],
                self.rows + i as u64 + 1
            )));
        }
        if !self.binary {
            return Ok(values.to_vec());
        }
        // Up to three distinct values: a compare or two per row in the common case.
        let mut distinct: Vec<f64> = Vec::with_capacity(SEEN);
        for &v in values.iter() {
            if !distinct.contains(&v) {
                distinct.push(v);
                self.remember(format_number(v));
                if distinct.len() >= SEEN {
                    break;
                }
            }
        }
        self.check_binary()?;
        let bad = match self.bad_value.as_deref() {
            None => {
                if let Some(i) = values.iter().position(|&v| v != 0.0 && v != 1.0) {
                    return Err(Error::invalid(format!(
                        "label column '{name}' is {} at row {}: numeric labels 0 or 1 are read as good / bad; \
                         for other values say which one is bad with bad_value",
                        format_number(values[i]),
                        self.rows + i as u64 + 1
                    )));
                }
                return Ok(values.to_vec());
            }
            Some(text) => text.trim().parse::<f64>().map_err(|_| {
                Error::param(
                    "bad_value",
                    format!(
                        "label column '{name}' is numeric ({}); '{text}' is not a number",
                        label.data_type()
                    ),
                )
            })?,
        };
        Ok(values.iter().map(|&v| (v == bad) as u8 as f64).collect())
    }

    fn texts(&mut self, label: &ArrayRef) -> Result<Vec<f64>> {
        let name = &self.name;
        let texts = cast_with_options(label, &DataType::Utf8View, &CastOptions::default())
            .map_err(|e| Error::invalid(format!("label column '{name}': {e}")))?;
        let texts = texts.as_string_view();
        let Some(bad) = self.bad_value.clone() else {
            let mut sample: Vec<&str> = Vec::new();
            for i in 0..texts.len().min(1000) {
                if sample.len() < 5 && !sample.contains(&texts.value(i)) {
                    sample.push(texts.value(i));
                }
            }
            sample.sort_unstable();
            return Err(Error::param(
                "bad_value",
                format!(
                    "label column '{name}' holds text ({}); say which value is bad",
                    sample.join(", ")
                ),
            ));
        };
        let mut out = Vec::with_capacity(texts.len());
        for i in 0..texts.len() {
            let v = texts.value(i);
            out.push((v == bad) as u8 as f64);
            if self.seen.len() < SEEN && !self.seen.iter().any(|s| s == v) {
                self.remember(v.to_string());
            }
        }
        self.check_binary()?;
        Ok(out)
    }

    fn remember(&mut self, v: String) {
        if self.seen.len() < SEEN && !self.seen.contains(&v) {
            self.seen.push(v);
        }
    }

    fn check_binary(&self) -> Result<()> {
        if self.seen.len() <= 2 {
            return Ok(());
        }
        let mut values: Vec<&String> = self.seen.iter().collect();
        values.sort();
        Err(Error::invalid(format!(
            "label column '{}' is not binary: found the values {} (and possibly more)",
            self.name,
            values.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ")
        )))
    }
}

/// The sample weights of `batch` in column `name`: finite and >= 0, or an error naming the
/// row (`first_row` is the number of rows read before this batch).
pub fn read_weights(batch: &RecordBatch, name: &str, first_row: u64) -> Result<Vec<f64>> {
    let schema = batch.schema();
    let i = schema
        .index_of(name)
        .map_err(|_| missing_column(&schema, name, "weight column"))?;
    let col = batch.column(i);
    if !col.data_type().is_numeric() && col.data_type() != &DataType::Boolean {
        return Err(Error::invalid(format!(
            "weight column '{name}' has type {}; it must be numeric",
            col.data_type()
        )));
    }
    let values = cast_with_options(col, &DataType::Float64, &CastOptions::default())
        .map_err(|e| Error::invalid(format!("weight column '{name}': {e}")))?;
    let values = values.as_primitive::<Float64Type>();
    let mut out = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        let w = if values.is_null(i) { f64::NAN } else { values.value(i) };
        if !(w.is_finite() && w >= 0.0) {
            return Err(Error::invalid(format!(
                "weight column '{name}' has an invalid weight {} at row {} (weights must be finite and >= 0)",
                if values.is_null(i) {
                    "null".to_string()
                } else {
                    w.to_string()
                },
                first_row + i as u64 + 1
            )));
        }
        out.push(w);
    }
    Ok(out)
}

/// A label value as people write it: `1`, not `1.0`.
fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Float64Array, Int32Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(col: ArrayRef) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("y", col.data_type().clone(), true)]);
        RecordBatch::try_new(Arc::new(schema), vec![col]).unwrap()
    }

    fn read(col: ArrayRef, bad: Option<&str>) -> Result<Vec<f64>> {
        LabelReader::binary("y", bad).read(&batch(col))
    }

    #[test]
    fn every_type_decodes_to_the_same_labels() {
        let want = vec![0.0, 1.0, 1.0, 0.0];
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![0, 1, 1, 0]));
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![0.0, 1.0, 1.0, 0.0]));
        let bools: ArrayRef = Arc::new(BooleanArray::from(vec![false, true, true, false]));
        let texts: ArrayRef = Arc::new(StringArray::from(vec!["good", "bad", "bad", "good"]));
        assert_eq!(read(ints.clone(), None).unwrap(), want);
        assert_eq!(read(floats.clone(), None).unwrap(), want);
        assert_eq!(read(bools.clone(), None).unwrap(), want);
        // A numeric bad value matches a float label (text matching would see "1.0").
        assert_eq!(read(floats, Some("1")).unwrap(), want);
        assert_eq!(read(ints.clone(), Some("1")).unwrap(), want);
        assert_eq!(read(bools.clone(), Some("true")).unwrap(), want);
        assert_eq!(read(texts.clone(), Some("bad")).unwrap(), want);
        // The other class named bad flips them.
        let flipped: Vec<f64> = want.iter().map(|v| 1.0 - v).collect();
        assert_eq!(read(ints, Some("0")).unwrap(), flipped);
        assert_eq!(read(bools, Some("false")).unwrap(), flipped);
        assert_eq!(read(texts, Some("good")).unwrap(), flipped);
    }

    #[test]
    fn bad_labels_are_errors_naming_the_row_or_the_parameter() {
        let e = read(Arc::new(Int32Array::from(vec![Some(0), None])), Some("1")).unwrap_err();
        assert!(e.to_string().contains("null at row 2"), "{e}");
        let e = read(Arc::new(Float64Array::from(vec![0.0, 1.0, f64::NAN])), None).unwrap_err();
        assert!(e.to_string().contains("NaN at row 3"), "{e}");
        let e = read(Arc::new(Int32Array::from(vec![0, 2])), None).unwrap_err();
        assert!(
            e.to_string().contains("is 2 at row 2") && e.to_string().contains("labels 0 or 1"),
            "{e}"
        );
        let e = read(Arc::new(Int32Array::from(vec![0, 1, 2])), Some("1")).unwrap_err();
        assert!(
            e.to_string().contains("not binary") && e.to_string().contains("'2'"),
            "{e}"
        );
        let e = read(Arc::new(StringArray::from(vec!["a", "b"])), None).unwrap_err();
        assert!(matches!(&e, Error::Param { param, .. } if param == "bad_value"), "{e}");
        let e = read(Arc::new(Int32Array::from(vec![0, 1])), Some("bad")).unwrap_err();
        assert!(matches!(&e, Error::Param { param, .. } if param == "bad_value"), "{e}");
        let e = read(Arc::new(BooleanArray::from(vec![true])), Some("yes")).unwrap_err();
        assert!(matches!(&e, Error::Param { param, .. } if param == "bad_value"), "{e}");
        // A third value split across batches is still found, with rows counted throughout.
        let mut r = LabelReader::binary("y", Some("a"));
        r.read(&batch(Arc::new(StringArray::from(vec!["a", "b"])))).unwrap();
        let e = r.read(&batch(Arc::new(StringArray::from(vec!["c"])))).unwrap_err();
        assert!(e.to_string().contains("'c'"), "{e}");
        let mut r = LabelReader::binary("y", None);
        r.read(&batch(Arc::new(Int32Array::from(vec![0, 1])))).unwrap();
        let e = r
            .read(&batch(Arc::new(Int32Array::from(vec![Some(1), None]))))
            .unwrap_err();
        assert!(e.to_string().contains("row 4"), "{e}");
    }

    #[test]
    fn numeric_labels_keep_their_values_and_weights_are_checked() {
        let mut r = LabelReader::numeric("y");
        let v = r.read(&batch(Arc::new(Float64Array::from(vec![0.5, 3.0])))).unwrap();
        assert_eq!(v, vec![0.5, 3.0]);
        let e = r.read(&batch(Arc::new(StringArray::from(vec!["a"])))).unwrap_err();
        assert!(e.to_string().contains("must be numeric"), "{e}");
        let w = batch(Arc::new(Float64Array::from(vec![1.0, -1.0])));
        let e = read_weights(&w, "y", 10).unwrap_err();
        assert!(e.to_string().contains("row 12"), "{e}");
        let e = read_weights(&w, "w", 0).unwrap_err();
        assert!(e.to_string().contains("weight column 'w' is not in the table"), "{e}");
    }
}
