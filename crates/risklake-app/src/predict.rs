//! Scoring a table with a stored model: probabilities, raw scores, leaf indices or exact
//! SHAP contributions as added columns, into a lake table or a file.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, Int32Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use risklake_core::{Error, Result};
use risklake_lake::sql::stream_schema;

use crate::output::{write_mapped, OutputSpec};
use crate::progress::Progress;
use crate::{scan, train, Workspace};

/// What the added columns hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PredictOutput {
    /// `prediction`: the probability of bad (the value, for regression).
    #[default]
    Proba,
    /// `prediction`: the raw score (log-odds for classification).
    Raw,
    /// `leaf_<t>`: the leaf each row reaches in tree t (tree models).
    Leaf,
    /// `shap_<feature>` and `shap_expected`: exact TreeSHAP contributions to the raw
    /// score (tree models).
    Shap,
    /// `prediction`, then reason codes `reason_<i>` (feature), `reason_<i>_value` (its
    /// value in the row, as text) and `reason_<i>_effect` for the `top` features that
    /// raised the row's risk most (see [`risklake_learn::reasons`]); fewer than `top`
    /// are null.
    Reasons,
}

/// Score `table` with `model` into `destination`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictRequest {
    /// A model file, a run id, `name@alias` or `name/version`.
    pub model: String,
    /// The table to score (lake name or file).
    pub table: String,
    pub output: PredictOutput,
    /// `reasons`: how many reason codes per row.
    pub top: usize,
    pub destination: OutputSpec,
}

impl Default for PredictRequest {
    fn default() -> Self {
        PredictRequest {
            model: String::new(),
            table: String::new(),
            output: PredictOutput::default(),
            top: 4,
            destination: OutputSpec::default(),
        }
    }
}

/// What a scoring run wrote.
#[derive(Clone, Debug, Serialize)]
pub struct PredictReport {
    pub run: i64,
    pub target: String,
    pub rows: u64,
    pub seconds: f64,
    /// Scorecards: rows per feature holding a category the plan never saw.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unseen: Vec<(String, u64)>,
}

/// The input schema with `added` columns after it; a name the input already has is an
/// error (the output would repeat it).
pub fn with_added_columns(input: &Schema, table: &str, added: &[(String, DataType)]) -> Result<Arc<Schema>> {
    let fields = added.iter().map(|(name, dt)| Field::new(name, dt.clone(), false));
    with_added_fields(input, table, fields)
}

/// [`with_added_columns`] for fields of any nullability.
pub fn with_added_fields(input: &Schema, table: &str, added: impl IntoIterator<Item = Field>) -> Result<Arc<Schema>> {
    let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    for field in added {
        if input.index_of(field.name()).is_ok() {
            return Err(Error::invalid(format!(
                "{table} already has a column '{}'; the output would repeat it",
                field.name()
            )));
        }
        fields.push(field);
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Scores the table as a recorded run (`predict`).
pub async fn predict(ws: &Workspace, req: &PredictRequest, progress: &dyn Progress) -> Result<PredictReport> {
    let run = ws.start_run("predict")?;
    let result = async {
        let id = run.id();
        let started = Instant::now();
        let any = train::load_model(ws, &req.model)?;
        let output = req.output;
        let trees = match output {
            PredictOutput::Leaf | PredictOutput::Shap => Some(any.trees(&format!("output {output:?}"))?),
            _ => None,
        };
        run.param("model", &req.model)?;
        run.uses("model", &req.model)?;
        run.param("model_kind", any.kind())?;
        run.param("output", format!("{output:?}").to_lowercase())?;
        let session = scan::session(ws.lake().await?).await?;
        let stream = scan::open_input(ws, &session, &req.table, None, id).await?;
        let in_schema = stream_schema(&stream);
        for f in &any.input_columns() {
            if in_schema.index_of(f).is_err() {
                return Err(Error::invalid(format!(
                    "{} lacks the model's feature column '{f}'",
                    req.table
                )));
            }
        }
        if output == PredictOutput::Reasons {
            if req.top == 0 {
                return Err(Error::param("top", "must be at least 1"));
            }
            run.param("top", req.top)?;
            return predict_reasons(ws, id, &any, stream, req, progress, started).await;
        }
        let added: Vec<String> = match output {
            PredictOutput::Leaf => (0..trees.map_or(0, |m| m.trees.len()))
                .map(|t| format!("leaf_{t}"))
                .collect(),
            PredictOutput::Shap => trees
                .map_or(&[][..], |m| &m.feature_names[..])
                .iter()
                .map(|f| format!("shap_{f}"))
                .chain(["shap_expected".to_string()])
                .collect(),
            _ => vec!["prediction".to_string()],
        };
        let dt = if output == PredictOutput::Leaf {
            DataType::Int32
        } else {
            DataType::Float64
        };
        let typed: Vec<(String, DataType)> = added.iter().map(|n| (n.clone(), dt.clone())).collect();
        let schema = with_added_columns(&in_schema, &req.table, &typed)?;
        let width = added.len();
        let score = |b: &RecordBatch| -> Result<RecordBatch> {
            let mut cols: Vec<ArrayRef> = b.columns().to_vec();
            match output {
                PredictOutput::Leaf => {
                    let leaves = trees.expect("checked").predict_leaf(b)?;
                    for t in 0..width {
                        let col: Int32Array = leaves.iter().skip(t).step_by(width).map(|&l| l as i32).collect();
                        cols.push(Arc::new(col));
                    }
                }
                PredictOutput::Shap => {
                    let shap = trees.expect("checked").predict_shap(b)?;
                    for f in 0..width {
                        let col: Float64Array = shap.iter().skip(f).step_by(width).copied().collect();
                        cols.push(Arc::new(col));
                    }
                }
                PredictOutput::Raw => cols.push(Arc::new(Float64Array::from(any.predict_raw(b)?))),
                PredictOutput::Reasons => unreachable!("scored by predict_reasons"),
                PredictOutput::Proba => cols.push(Arc::new(Float64Array::from(any.predict(b)?))),
            }
            RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::arrow("adding predictions", e))
        };
        score_into(
            ws,
            id,
            stream,
            &req.table,
            schema.clone(),
            &req.destination,
            score,
            progress,
            started,
        )
        .await
    }
    .await;
    run.finish(result)
}

/// The probability and the `top` reason codes of every row.
async fn predict_reasons(
    ws: &Workspace,
    run: i64,
    model: &risklake_learn::Model,
    stream: risklake_lake::sql::BatchStream,
    req: &PredictRequest,
    progress: &dyn Progress,
    started: Instant,
) -> Result<PredictReport> {
    use arrow::array::StringArray;
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let in_schema = stream_schema(&stream);
    let mut added = vec![Field::new("prediction", DataType::Float64, false)];
    for i in 1..=req.top {
        added.push(Field::new(format!("reason_{i}"), DataType::Utf8, true));
        added.push(Field::new(format!("reason_{i}_value"), DataType::Utf8, true));
        added.push(Field::new(format!("reason_{i}_effect"), DataType::Float64, true));
    }
    let schema = with_added_fields(&in_schema, &req.table, added)?;
    let k = req.top;
    let score = |b: &RecordBatch| -> Result<RecordBatch> {
        let effects = risklake_learn::reasons::adverse_effects(model, b)?;
        let sources: Vec<ArrayRef> = effects
            .names
            .iter()
            .map(|n| {
                b.column_by_name(n)
                    .cloned()
                    .ok_or_else(|| Error::invalid(format!("{} lacks the model's feature column '{n}'", req.table)))
            })
            .collect::<Result<_>>()?;
        let options = FormatOptions::default().with_null("null");
        let formatters: Vec<ArrayFormatter> = sources
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).map_err(|e| Error::arrow("formatting values", e)))
            .collect::<Result<_>>()?;
        let rows = b.num_rows();
        let mut names: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows); k];
        let mut values: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows); k];
        let mut sizes: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(rows); k];
        for r in 0..rows {
            let top = effects.top(r, k);
            for i in 0..k {
                match top.get(i) {
                    Some(&(f, e)) => {
                        names[i].push(Some(effects.names[f].clone()));
                        // A missing value stays null (the reason names the feature).
                        values[i].push(sources[f].is_valid(r).then(|| formatters[f].value(r).to_string()));
                        sizes[i].push(Some(e));
                    }
                    None => {
                        names[i].push(None);
                        values[i].push(None);
                        sizes[i].push(None);
                    }
                }
            }
        }
        let mut cols: Vec<ArrayRef> = b.columns().to_vec();
        cols.push(Arc::new(Float64Array::from(model.predict(b)?)));
        for i in 0..k {
            cols.push(Arc::new(StringArray::from(std::mem::take(&mut names[i]))));
            cols.push(Arc::new(StringArray::from(std::mem::take(&mut values[i]))));
            cols.push(Arc::new(Float64Array::from(std::mem::take(&mut sizes[i]))));
        }
        RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::arrow("adding reason codes", e))
    };
    score_into(
        ws,
        run,
        stream,
        &req.table,
        schema.clone(),
        &req.destination,
        score,
        progress,
        started,
    )
    .await
}

/// Streams `stream` through `map` into `destination` as a scoring step of `run`, and
/// reports what was written since `started`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn score_into(
    ws: &Workspace,
    run: i64,
    stream: risklake_lake::sql::BatchStream,
    table: &str,
    schema: Arc<Schema>,
    destination: &OutputSpec,
    map: impl Fn(&RecordBatch) -> Result<RecordBatch>,
    progress: &dyn Progress,
    started: Instant,
) -> Result<PredictReport> {
    let written = write_mapped(ws, run, stream, table, schema, destination, "scoring", map, progress).await?;
    Ok(PredictReport {
        run,
        target: written.target,
        rows: written.rows,
        seconds: started.elapsed().as_secs_f64(),
        unseen: Vec::new(),
    })
}
