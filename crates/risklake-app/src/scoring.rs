//! Scoring rows given as JSON objects (an application's request), not a lake table: each
//! row gets the model's probability (and a scorecard's points) or an error that names the
//! field, and a bad row never spoils the others.
//!
//! A row's fields are matched to the model's input columns by name. A missing field, or
//! null, is a missing value (the model's own missing-value handling: the missing bin of a
//! tree or a plan). A numeric column takes a JSON number or a string holding one; a
//! categorical column takes a string (a number is read as its text); a category the model
//! never saw goes where the model sends unseen categories. Fields no input column has are
//! listed once in the answer, not an error.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde_json::Value;

use risklake_core::{Error, Result};
use risklake_learn::Model;

/// One row's answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RowScore {
    /// Probability of bad.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// A scorecard's points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Why this row has no prediction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The features that raised this row's risk most, largest first (when asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<Reason>>,
}

/// One reason code: a feature, the row's value of it, and how much it raised the risk
/// (in [`Scored::reason_unit`]; see [`risklake_learn::reasons`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    pub feature: String,
    pub value: Value,
    pub effect: f64,
}

/// The answers of all rows, in order.
#[derive(Clone, Debug, Serialize)]
pub struct Scored {
    pub predictions: Vec<RowScore>,
    /// Fields of the rows that no input column of the model has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_fields: Vec<String>,
    /// The unit of the reasons' effects: `log-odds` or `points`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_unit: Option<&'static str>,
}

/// The rows as a batch of the model's input columns, with each row's error (if any).
pub fn rows_to_batch(
    kinds: &[(String, bool)],
    rows: &[Value],
) -> Result<(RecordBatch, Vec<Option<String>>, Vec<String>)> {
    let mut errors: Vec<Option<String>> = vec![None; rows.len()];
    let mut ignored = BTreeSet::new();
    let wanted: BTreeSet<&str> = kinds.iter().map(|(n, _)| n.as_str()).collect();
    for (r, row) in rows.iter().enumerate() {
        match row.as_object() {
            Some(obj) => {
                for k in obj.keys().filter(|k| !wanted.contains(k.as_str())) {
                    ignored.insert(k.clone());
                }
            }
            None => errors[r] = Some(format!("row {r} is not a JSON object of field: value")),
        }
    }
    let mut fields = Vec::with_capacity(kinds.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(kinds.len());
    for (name, categorical) in kinds {
        let value = |row: &Value| row.get(name).cloned().unwrap_or(Value::Null);
        if *categorical {
            let mut b = StringBuilder::new();
            for (r, row) in rows.iter().enumerate() {
                match value(row) {
                    Value::Null => b.append_null(),
                    Value::String(s) => b.append_value(s),
                    Value::Number(n) => b.append_value(n.to_string()),
                    Value::Bool(v) => b.append_value(v.to_string()),
                    other => {
                        b.append_null();
                        errors[r].get_or_insert_with(|| format!("{name} is {other}, not a category (text)"));
                    }
                }
            }
            fields.push(Field::new(name, DataType::Utf8, true));
            columns.push(Arc::new(b.finish()));
        } else {
            let mut b = Float64Builder::new();
            for (r, row) in rows.iter().enumerate() {
                let v = match value(row) {
                    Value::Null => Ok(None),
                    Value::Number(n) => n
                        .as_f64()
                        .map(Some)
                        .ok_or_else(|| format!("{name} is {n}, out of range")),
                    Value::String(s) => s
                        .trim()
                        .parse::<f64>()
                        .map(|x| (!x.is_nan()).then_some(x))
                        .map_err(|_| format!("{name} is {s:?}, not a number")),
                    other => Err(format!("{name} is {other}, not a number")),
                };
                match v {
                    Ok(v) => b.append_option(v),
                    Err(e) => {
                        b.append_null();
                        errors[r].get_or_insert(e);
                    }
                }
            }
            fields.push(Field::new(name, DataType::Float64, true));
            columns.push(Arc::new(b.finish()));
        }
    }
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(|e| Error::arrow("building the rows", e))?;
    Ok((batch, errors, ignored.into_iter().collect()))
}

/// Scores JSON rows with `model`, with the `reasons` features that raised each row's risk
/// most (0: none).
pub fn score_rows(model: &Model, rows: &[Value], reasons: usize) -> Result<Scored> {
    let (batch, errors, ignored_fields) = rows_to_batch(&model.input_kinds(), rows)?;
    let effects = if reasons > 0 {
        Some(risklake_learn::reasons::adverse_effects(model, &batch)?)
    } else {
        None
    };
    let probability = model.predict(&batch)?;
    let points = match model {
        Model::Scorecard(_) => Some(model.predict_raw(&batch)?),
        _ => None,
    };
    let predictions = errors
        .into_iter()
        .enumerate()
        .map(|(r, error)| match error {
            Some(e) => RowScore {
                error: Some(e),
                ..Default::default()
            },
            None => RowScore {
                probability: Some(probability[r]),
                score: points.as_ref().map(|p| p[r]),
                error: None,
                reasons: effects.as_ref().map(|e| {
                    e.top(r, reasons)
                        .into_iter()
                        .map(|(f, effect)| Reason {
                            feature: e.names[f].clone(),
                            value: rows[r].get(&e.names[f]).cloned().unwrap_or(Value::Null),
                            effect,
                        })
                        .collect()
                }),
            },
        })
        .collect();
    Ok(Scored {
        predictions,
        ignored_fields,
        reason_unit: effects.map(|e| e.unit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use serde_json::json;

    #[test]
    fn rows_become_typed_columns_and_bad_values_stay_in_their_row() {
        let kinds = vec![("amount".to_string(), false), ("region".to_string(), true)];
        let rows = vec![
            json!({"amount": 1200.5, "region": "north"}),
            json!({"amount": "99", "region": 7, "extra": 1}),
            json!({"region": null}),
            json!({"amount": "lots", "region": "south"}),
            json!({"amount": [1], "region": {"a": 1}}),
            json!([1, 2]),
        ];
        let (batch, errors, ignored) = rows_to_batch(&kinds, &rows).unwrap();
        assert_eq!(batch.num_rows(), 6);
        assert_eq!(errors[0], None);
        assert_eq!(errors[1], None, "a numeric string and a numeric category are fine");
        assert_eq!(errors[2], None, "missing and null are missing values");
        assert_eq!(errors[3].as_deref(), Some("amount is \"lots\", not a number"));
        assert!(errors[4].as_deref().unwrap().starts_with("amount is [1]"), "{errors:?}");
        assert!(errors[5].as_deref().unwrap().contains("not a JSON object"));
        assert_eq!(ignored, vec!["extra".to_string()]);
        let amount = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap();
        assert_eq!(
            (amount.value(0), amount.value(1), amount.is_null(2)),
            (1200.5, 99.0, true)
        );
        let region = batch
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        assert_eq!((region.value(0), region.value(1)), ("north", "7"));
    }
}
