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
//!
//! Batches come as Arrow record batches too ([`score_batch`]): the same model input, built
//! from columns instead of objects, for applications that score many rows at a time.

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
pub fn rows_to_batch<'a>(
    kinds: &[(String, bool)],
    rows: &'a [Value],
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
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(kinds.len());
    for (name, categorical) in kinds {
        // Borrowed, not cloned: a clone per cell was most of the cost of a large request.
        let value = |row: &'a Value| row.get(name).unwrap_or(&Value::Null);
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
            columns.push(Arc::new(b.finish()));
        }
    }
    let batch = input_batch(kinds, columns, rows.len())?;
    Ok((batch, errors, ignored.into_iter().collect()))
}

/// The model's input: a Utf8 column per categorical feature, Float64 per numeric one, in
/// the model's order.
fn input_batch(kinds: &[(String, bool)], columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
    let fields: Vec<Field> = kinds
        .iter()
        .map(|(name, categorical)| {
            let t = if *categorical {
                DataType::Utf8
            } else {
                DataType::Float64
            };
            Field::new(name, t, true)
        })
        .collect();
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| Error::arrow("building the model's input", e))
}

/// Each row's probability, and a scorecard's points (scored once, the probability from
/// the points).
fn probability_and_points(model: &Model, batch: &RecordBatch) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
    match model {
        Model::Scorecard(c) => {
            let points = c.score(batch)?.0;
            Ok((points.iter().map(|&s| c.probability(s)).collect(), Some(points)))
        }
        _ => Ok((model.predict(batch)?, None)),
    }
}

/// Scores JSON rows with `model`, with the `reasons` features that raised each row's risk
/// most (0: none).
pub fn score_rows(model: &Model, rows: &[Value], reasons: usize) -> Result<Scored> {
    let (batch, errors, ignored_fields) = rows_to_batch(&model.input_kinds(), rows)?;
    scored(model, &batch, errors, ignored_fields, reasons, |r, name| {
        rows[r].get(name).cloned().unwrap_or(Value::Null)
    })
}

/// The model's answers for its input `batch`: each row's probability (and points), or its
/// error; with `reasons`, the top features of each row, `value_of(row, feature)` naming the
/// row's value of it.
fn scored(
    model: &Model,
    batch: &RecordBatch,
    errors: Vec<Option<String>>,
    ignored_fields: Vec<String>,
    reasons: usize,
    value_of: impl Fn(usize, &str) -> Value,
) -> Result<Scored> {
    let effects = if reasons > 0 {
        Some(risklake_learn::reasons::adverse_effects(model, batch)?)
    } else {
        None
    };
    let (probability, points) = probability_and_points(model, batch)?;
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
                            value: value_of(r, &e.names[f]),
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

/// The rows of a scoring request that asks for no reasons, as each row's raw JSON text:
/// `[{...}, ...]` or `{"rows": [...]}` (with `"reasons": 0` or null at most). `None` for
/// anything else, malformed or not: the general path ([`score_rows`] over a parsed tree)
/// then answers it, with its own wording of every error.
pub fn raw_rows(body: &[u8]) -> Option<Vec<&serde_json::value::RawValue>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body<'a> {
        #[serde(borrow)]
        rows: Vec<&'a serde_json::value::RawValue>,
        #[serde(default)]
        reasons: Option<u64>,
    }
    match body.iter().find(|b| !b.is_ascii_whitespace())? {
        b'[' => serde_json::from_slice(body).ok(),
        b'{' => serde_json::from_slice::<Body>(body)
            .ok()
            .filter(|b| b.reasons.unwrap_or(0) == 0)
            .map(|b| b.rows),
        _ => None,
    }
}

/// [`score_rows`] without reasons, over rows as raw JSON text ([`raw_rows`]): each cell is
/// read straight into the model's input column (a number parsed once, a string borrowed
/// where it has no escapes), with no JSON tree in between. The answers, errors and ignored
/// fields are those [`score_rows`] gives for the same rows.
pub fn score_raw_rows(model: &Model, rows: &[&serde_json::value::RawValue]) -> Result<Scored> {
    let (batch, errors, ignored_fields) = raw_rows_to_batch(&model.input_kinds(), rows)?;
    scored(model, &batch, errors, ignored_fields, 0, |_, _| Value::Null)
}

/// A field name, borrowed from the request unless it has escapes.
struct Key<'a>(std::borrow::Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// One row object into `cells` (the model's columns by position; a field named twice
/// keeps its last value, as a parsed tree does), other fields into `ignored`.
struct RowSeed<'s, 'a> {
    index: &'s std::collections::HashMap<&'s str, usize>,
    cells: &'s mut [Option<&'a serde_json::value::RawValue>],
    ignored: &'s mut BTreeSet<String>,
}

impl<'de, 's> serde::de::DeserializeSeed<'de> for RowSeed<'s, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 's> serde::de::Visitor<'de> for RowSeed<'s, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object of field: value")
    }
    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> std::result::Result<(), M::Error> {
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            let v: &'de serde_json::value::RawValue = map.next_value()?;
            match self.index.get(k.as_ref()) {
                Some(&c) => self.cells[c] = Some(v),
                None => {
                    if !self.ignored.contains(k.as_ref()) {
                        self.ignored.insert(k.into_owned());
                    }
                }
            }
        }
        Ok(())
    }
}

/// A JSON string's text: borrowed without escapes, decoded with them.
fn json_text(raw: &str) -> Option<std::borrow::Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(raw).ok().map(std::borrow::Cow::Owned)
    } else {
        Some(std::borrow::Cow::Borrowed(inner))
    }
}

/// [`rows_to_batch`] over rows as raw JSON text.
fn raw_rows_to_batch(
    kinds: &[(String, bool)],
    rows: &[&serde_json::value::RawValue],
) -> Result<(RecordBatch, Vec<Option<String>>, Vec<String>)> {
    let index: std::collections::HashMap<&str, usize> =
        kinds.iter().enumerate().map(|(i, (n, _))| (n.as_str(), i)).collect();
    let mut errors: Vec<Option<String>> = vec![None; rows.len()];
    let mut ignored = BTreeSet::new();
    let mut numbers: Vec<Float64Builder> = kinds
        .iter()
        .map(|_| Float64Builder::with_capacity(rows.len()))
        .collect();
    let mut texts: Vec<StringBuilder> = kinds.iter().map(|_| StringBuilder::new()).collect();
    let mut cells: Vec<Option<&serde_json::value::RawValue>> = vec![None; kinds.len()];
    for (r, row) in rows.iter().enumerate() {
        cells.iter_mut().for_each(|c| *c = None);
        let seed = RowSeed {
            index: &index,
            cells: &mut cells,
            ignored: &mut ignored,
        };
        let text = row.get();
        let object = text.starts_with('{')
            && serde::de::DeserializeSeed::deserialize(seed, &mut serde_json::Deserializer::from_str(text)).is_ok();
        if !object {
            errors[r] = Some(format!("row {r} is not a JSON object of field: value"));
            cells.iter_mut().for_each(|c| *c = None);
        }
        for (c, (name, categorical)) in kinds.iter().enumerate() {
            let raw = cells[c].map_or("null", |v| v.get());
            let first = raw.as_bytes()[0];
            if *categorical {
                let b = &mut texts[c];
                match first {
                    b'n' => b.append_null(),
                    b'"' => match json_text(raw) {
                        Some(s) => b.append_value(s),
                        None => b.append_null(),
                    },
                    b't' | b'f' => b.append_value(raw),
                    // A number is its text, written as a parsed tree writes it (`1E5` is `1e+5`).
                    b'-' | b'0'..=b'9' if raw.contains(['e', 'E']) => b.append_value(compact(raw)),
                    b'-' | b'0'..=b'9' => b.append_value(raw),
                    _ => {
                        b.append_null();
                        errors[r].get_or_insert_with(|| format!("{name} is {}, not a category (text)", compact(raw)));
                    }
                }
            } else {
                let v = match first {
                    b'n' => Ok(None),
                    // As a parsed tree's number: beyond f64's range is an error.
                    b'-' | b'0'..=b'9' => raw
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .map(Some)
                        .ok_or_else(|| format!("{name} is {}, out of range", compact(raw))),
                    b'"' => {
                        let s = json_text(raw).unwrap_or_default();
                        s.trim()
                            .parse::<f64>()
                            .map(|x| (!x.is_nan()).then_some(x))
                            .map_err(|_| format!("{name} is {s:?}, not a number"))
                    }
                    _ => Err(format!("{name} is {}, not a number", compact(raw))),
                };
                match v {
                    Ok(v) => numbers[c].append_option(v),
                    Err(e) => {
                        numbers[c].append_null();
                        errors[r].get_or_insert(e);
                    }
                }
            }
        }
    }
    let columns: Vec<ArrayRef> = kinds
        .iter()
        .zip(numbers.iter_mut().zip(texts.iter_mut()))
        .map(|((_, categorical), (n, t))| -> ArrayRef {
            if *categorical {
                Arc::new(t.finish())
            } else {
                Arc::new(n.finish())
            }
        })
        .collect();
    let batch = input_batch(kinds, columns, rows.len())?;
    Ok((batch, errors, ignored.into_iter().collect()))
}

/// A JSON value's text as a parsed tree prints it (no insignificant whitespace).
fn compact(raw: &str) -> String {
    serde_json::from_str::<Value>(raw).map_or_else(|_| raw.to_string(), |v| v.to_string())
}

/// What scoring an Arrow batch gives: a batch of `probability`, `score` (scorecards) and
/// `error`, row for row, and the input columns the model does not use.
#[derive(Debug)]
pub struct ScoredBatch {
    pub batch: RecordBatch,
    pub ignored_columns: Vec<String>,
}

/// One input column of a batch as the model takes it: Float64 for a numeric feature (any
/// integer, float or decimal type; NaN is a missing value), Utf8 for a categorical one
/// (text, or numbers and booleans as their text). Infinite values are row errors.
fn model_column(name: &str, categorical: bool, column: &ArrayRef, errors: &mut [Option<String>]) -> Result<ArrayRef> {
    use arrow::array::{Array, Float64Array};
    let t = column.data_type();
    let castable = |to: &DataType| arrow::compute::can_cast_types(t, to);
    if categorical {
        let text_like = matches!(
            t,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) | DataType::Null
        ) || t.is_numeric()
            || *t == DataType::Boolean;
        if !text_like || !castable(&DataType::Utf8) {
            return Err(Error::param(
                name,
                format!("is a categorical feature of the model; the batch's column is {t}, not text"),
            ));
        }
        return arrow::compute::cast(column, &DataType::Utf8)
            .map_err(|e| Error::arrow(format!("reading column {name}"), e));
    }
    let numeric = t.is_numeric() || *t == DataType::Null || *t == DataType::Boolean;
    if !numeric || !castable(&DataType::Float64) {
        return Err(Error::param(
            name,
            format!("is a numeric feature of the model; the batch's column is {t}, not a number"),
        ));
    }
    let cast = arrow::compute::cast(column, &DataType::Float64)
        .map_err(|e| Error::arrow(format!("reading column {name}"), e))?;
    let values = cast
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| Error::invalid(format!("column {name} did not become Float64")))?;
    let cleaned: Float64Array = values
        .iter()
        .enumerate()
        .map(|(r, v)| match v {
            Some(x) if x.is_nan() => None,
            Some(x) if x.is_infinite() => {
                errors[r].get_or_insert_with(|| format!("{name} is {x}, not a finite number"));
                None
            }
            v => v,
        })
        .collect();
    Ok(Arc::new(cleaned))
}

/// Scores an Arrow batch with `model`. Columns are matched by name; every input column of
/// the model must be there (a column of nulls scores a feature as missing), other columns
/// are ignored and listed. A value the model cannot take (an infinite number) gives its
/// row an error, the other rows are scored.
pub fn score_batch(model: &Model, input: &RecordBatch) -> Result<ScoredBatch> {
    let kinds = model.input_kinds();
    let schema = input.schema();
    let missing: Vec<&str> = kinds
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| schema.index_of(n).is_err())
        .collect();
    if !missing.is_empty() {
        return Err(Error::param(
            "batch",
            format!(
                "lacks the model's input column{} {} (send a column of nulls to score a feature as missing)",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            ),
        ));
    }
    let wanted: BTreeSet<&str> = kinds.iter().map(|(n, _)| n.as_str()).collect();
    let ignored_columns = schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !wanted.contains(n.as_str()))
        .collect();
    let mut errors: Vec<Option<String>> = vec![None; input.num_rows()];
    let mut columns = Vec::with_capacity(kinds.len());
    for (name, categorical) in &kinds {
        let column = input.column_by_name(name).expect("checked above");
        columns.push(model_column(name, *categorical, column, &mut errors)?);
    }
    let batch = input_batch(&kinds, columns, input.num_rows())?;
    let (probability, points) = probability_and_points(model, &batch)?;
    let ok = |r: usize| errors[r].is_none();
    let mut out_fields = vec![Field::new("probability", DataType::Float64, true)];
    let mut out: Vec<ArrayRef> = vec![Arc::new(
        (0..probability.len())
            .map(|r| ok(r).then_some(probability[r]))
            .collect::<arrow::array::Float64Array>(),
    )];
    if let Some(p) = &points {
        out_fields.push(Field::new("score", DataType::Float64, true));
        out.push(Arc::new(
            (0..p.len())
                .map(|r| ok(r).then_some(p[r]))
                .collect::<arrow::array::Float64Array>(),
        ));
    }
    out_fields.push(Field::new("error", DataType::Utf8, true));
    out.push(Arc::new(
        errors
            .iter()
            .map(|e| e.as_deref())
            .collect::<arrow::array::StringArray>(),
    ));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(out_fields)), out)
        .map_err(|e| Error::arrow("building the scores", e))?;
    Ok(ScoredBatch { batch, ignored_columns })
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

    /// The raw reader is a faster route to what the tree reader gives: the same columns,
    /// row errors (same words) and ignored fields, on every kind of cell.
    #[test]
    fn raw_rows_read_as_the_tree_reads_them() {
        let kinds = vec![
            ("amount".to_string(), false),
            ("region".to_string(), true),
            ("a\"b".to_string(), false),
        ];
        let body = r#"{"rows": [
            {"amount": 1200.5, "region": "north"},
            { "amount" : "99" , "region" : 7.50, "extra": 1, "extra": [2] },
            {"region": null, "a\"b": -0},
            {"amount": "lots", "region": "so\u0075th"},
            {"amount": [1,  2], "region": {"a": 1}},
            [1, 2],
            {"amount": 1e400, "region": true},
            {"amount": true, "region": false, "more": null},
            {"amount": " 3.5 ", "amount": 4, "region": "x\ty", "a\u0022b": "NaN"},
            "text",
            {"amount": {"n": 1}, "a\"b": 1E2, "region": 2.5E3},
            {"region": -1e-2}
        ]}"#;
        let raw = raw_rows(body.as_bytes()).expect("a well-formed request");
        let tree: Value = serde_json::from_str(body).unwrap();
        let rows = tree["rows"].as_array().unwrap();
        let (want, want_errors, want_ignored) = rows_to_batch(&kinds, rows).unwrap();
        let (got, got_errors, got_ignored) = raw_rows_to_batch(&kinds, &raw).unwrap();
        assert_eq!(got, want);
        assert_eq!(got_errors, want_errors);
        assert_eq!(got_ignored, want_ignored);
        assert!(
            want_errors.iter().filter(|e| e.is_some()).count() >= 5,
            "{want_errors:?}"
        );
    }

    #[test]
    fn only_plain_requests_take_the_raw_route() {
        assert_eq!(raw_rows(br#"[{"a": 1}]"#).map(|r| r.len()), Some(1));
        assert_eq!(
            raw_rows(br#" {"rows": [{"a": 1}, {}], "reasons": 0}"#).map(|r| r.len()),
            Some(2)
        );
        assert_eq!(raw_rows(br#"{"rows": [], "reasons": null}"#).map(|r| r.len()), Some(0));
        // Reasons, unknown fields, no rows, malformed JSON or text: the general path words it.
        for body in [
            &br#"{"rows": [{"a": 1}], "reasons": 3}"#[..],
            br#"{"rows": [], "colour": 1}"#,
            br#"{"reasons": 0}"#,
            br#"{"rows": {"a": 1}}"#,
            br#"[{"a": 1}"#,
            br#""rows""#,
            b"\xff",
        ] {
            assert!(raw_rows(body).is_none(), "{}", String::from_utf8_lossy(body));
        }
    }
}
