//! Workflows on data already in memory: a notebook's frames as Arrow batches.
//!
//! The Python package fits learners and bins features on the frames a user holds
//! (pandas, polars, pyarrow), not on lake tables. The work is the same as the table
//! workflows' (the same option types, the same learners), and when the caller passes a
//! workspace (`risklake.track(...)` in Python) the fit is recorded as a run of the same
//! kind the CLI records (`train.gbdt`, `train.rf`, `train.lr`, `features.bin`), with its
//! parameters, per-iteration metrics and the model or plan as an artifact. Writing a frame
//! into a lake table is here too ([`write`]), recorded as a `write` run.

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use serde::{Deserialize, Serialize};

use risklake_core::{Error, Result};
use risklake_features::{build_plan, BinningOptions, BinningPlan, FineOptions, FineProfiler, Target};
use risklake_lake::{TableSpec, WriteMode};
use risklake_learn::gbdt::IterationInfo;
use risklake_learn::lr::LrModel;
use risklake_learn::{DatasetBuilder, DatasetOptions, DesignBuilder, GbdtModel, GbdtParams, LrParams};
use risklake_track::RunId;

use crate::progress::{check, Progress, Unit};
use crate::train::{param_texts, Stepwise};
use crate::{artifacts, RunScope, Workspace};

/// Where a fit is recorded: the workspace and how the frame is named in the run.
#[derive(Clone, Copy)]
pub struct Tracking<'w> {
    pub ws: &'w Workspace,
    /// The input's name in the run's lineage (`python:DataFrame`).
    pub dataset: &'w str,
}

/// Which tree learner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trees {
    Gbdt,
    RandomForest,
}

/// A tree model fitted on frames.
#[derive(Debug)]
pub struct TreeFit {
    pub model: GbdtModel,
    /// One entry per boosting iteration (empty for a forest).
    pub history: Vec<IterationInfo>,
    pub rows: usize,
    pub valid_rows: usize,
    pub run: Option<RunId>,
}

/// Runs `work` inside a recorded run of `kind` when tracking, plainly otherwise.
fn recorded<T>(
    track: Option<Tracking<'_>>,
    kind: &str,
    work: impl FnOnce(Option<&RunScope<'_>>) -> Result<T>,
) -> Result<(T, Option<RunId>)> {
    match track {
        None => Ok((work(None)?, None)),
        Some(t) => {
            let run = t.ws.start_run(kind)?;
            let id = run.id();
            let result = work(Some(&run));
            Ok((run.finish(result)?, Some(id)))
        }
    }
}

fn rows_of(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// Fits gradient-boosted trees or a random forest on `train` (feature columns, the
/// `label` column and an optional `weight` column), validating on `valid` when it has
/// rows. `params` are LightGBM's (scikit-learn's) names, as the CLI and the table
/// workflow take them; dataset parameters (`max_bin`, `categorical_feature`, ...) among
/// them build the bins.
#[allow(clippy::too_many_arguments)]
pub fn fit_trees(
    learner: Trees,
    train: &[RecordBatch],
    valid: &[RecordBatch],
    label: &str,
    weight: Option<&str>,
    params: &BTreeMap<String, serde_json::Value>,
    track: Option<Tracking<'_>>,
    progress: &dyn Progress,
) -> Result<TreeFit> {
    if rows_of(train) == 0 {
        return Err(Error::invalid("the training data has no rows"));
    }
    let mut gbdt = GbdtParams::default();
    let mut forest = risklake_learn::forest::RfParams::default();
    let mut options = DatasetOptions::default();
    for (k, v) in param_texts(params) {
        if !options.set(&k, &v)? {
            match learner {
                Trees::Gbdt => gbdt.set(&k, &v)?,
                Trees::RandomForest => forest.set(&k, &v)?,
            }
        }
    }
    if options.features.is_empty() {
        // Every column of the frame but the label and the weight is a feature, text and
        // boolean ones as categories (a table's default keeps numeric columns only).
        options.features = train[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| n != label && Some(n.as_str()) != weight)
            .collect();
    }
    match learner {
        Trees::Gbdt => gbdt.validate()?,
        Trees::RandomForest => forest.validate()?,
    }
    let kind = match learner {
        Trees::Gbdt => "train.gbdt",
        Trees::RandomForest => "train.rf",
    };
    let ((model, history, rows, valid_rows), run) = recorded(track, kind, |run| {
        if let (Some(run), Some(t)) = (run, track) {
            run.dataset("input", t.dataset, None, Some(rows_of(train) as u64))?;
            run.param("label", label)?;
            run.param("max_bin", options.max_bin)?;
            let model_params = match learner {
                Trees::Gbdt => serde_json::to_string(&gbdt),
                Trees::RandomForest => serde_json::to_string(&forest),
            };
            run.param("params", model_params.unwrap_or_default())?;
            run.param("dataset", serde_json::to_string(&options).unwrap_or_default())?;
        }
        progress.stage("binning", Some(rows_of(train) as u64), Unit::Rows);
        let mut builder = DatasetBuilder::new(label.to_string(), weight.map(str::to_string), options.clone())?;
        for b in train {
            check(progress)?;
            builder.push(b.clone())?;
            progress.advance(b.num_rows() as u64);
        }
        progress.end_stage();
        let train_set = builder.finish()?;
        let valid_set = if rows_of(valid) > 0 {
            Some(train_set.with_mappers(valid, label, weight)?)
        } else {
            None
        };
        check(progress)?;
        let started = Instant::now();
        let mut history = Vec::new();
        let model = match learner {
            Trees::Gbdt => {
                let metric_key = format!("valid_{}", gbdt.metric().name());
                let (model, iterations) =
                    crate::train::boost(&train_set, valid_set.as_ref(), &gbdt, run, &metric_key, progress)?;
                history = iterations;
                model
            }
            Trees::RandomForest => {
                progress.stage("training", Some(forest.n_estimators as u64), Unit::Items);
                let model = risklake_learn::forest::train_forest(&train_set, &forest, &|| progress.advance(1));
                progress.end_stage();
                model?
            }
        };
        check(progress)?;
        if let Some(run) = run {
            run.metric("train_seconds", started.elapsed().as_secs_f64())?;
            if let Some(m) = history.last().and_then(|h| h.valid_metric) {
                run.metric(&format!("valid_{}", gbdt.metric().name()), m)?;
            }
            run.artifact(artifacts::MODEL, model.to_json().as_bytes())?;
            let importance = crate::train::importance_csv(&model.importance());
            run.artifact(artifacts::IMPORTANCE_CSV, importance.as_bytes())?;
        }
        Ok((
            model,
            history,
            train_set.rows(),
            valid_set.as_ref().map_or(0, |v| v.rows()),
        ))
    })?;
    Ok(TreeFit {
        model,
        history,
        rows,
        valid_rows,
        run,
    })
}

/// Fits a logistic regression (or runs stepwise selection) on `train`; with a binning
/// `plan` the model is fitted on its WoE values and keeps the plan, so it scores raw rows.
pub fn fit_lr(
    train: &[RecordBatch],
    label: &str,
    weight: Option<&str>,
    params: &BTreeMap<String, serde_json::Value>,
    stepwise: Option<&Stepwise>,
    plan: Option<&BinningPlan>,
    track: Option<Tracking<'_>>,
    progress: &dyn Progress,
) -> Result<(LrModel, Option<RunId>)> {
    if rows_of(train) == 0 {
        return Err(Error::invalid("the training data has no rows"));
    }
    let mut lr_params = LrParams::default();
    for (k, v) in param_texts(params) {
        lr_params.set(&k, &v)?;
    }
    lr_params.validate()?;
    let steps = stepwise.map(Stepwise::parse).transpose()?;
    recorded(track, "train.lr", |run| {
        if let (Some(run), Some(t)) = (run, track) {
            run.dataset("input", t.dataset, None, Some(rows_of(train) as u64))?;
            run.param("label", label)?;
            run.param("params", serde_json::to_string(&lr_params).unwrap_or_default())?;
            if let Some(s) = stepwise {
                run.param("stepwise", format!("{} by {}", s.direction, s.criterion))?;
            }
        }
        let mut builder = DesignBuilder::new(label, weight, None, &[], &[], plan)?;
        for b in train {
            check(progress)?;
            builder.push(b.clone())?;
        }
        let inputs = builder.inputs();
        let design = builder.finish()?;
        let started = Instant::now();
        let positive = stepwise.is_some_and(|s| s.positive_coefficients);
        let model = crate::train::fit_design(&design, &lr_params, steps, positive, inputs, label, progress)?;
        check(progress)?;
        if let Some(run) = run {
            crate::train::record_lr_summary(run, &model, started.elapsed().as_secs_f64())?;
            run.artifact(artifacts::MODEL, model.to_json().as_bytes())?;
            run.artifact(artifacts::LR_SUMMARY, model.summary_text().as_bytes())?;
        }
        Ok(model)
    })
}

/// Bins every feature of the frames (or `fine.columns`) against the binary target.
pub fn bin(
    batches: &[RecordBatch],
    target: &Target,
    fine: &FineOptions,
    binning: &BinningOptions,
    track: Option<Tracking<'_>>,
    progress: &dyn Progress,
) -> Result<(BinningPlan, Option<RunId>)> {
    if target.label.trim().is_empty() {
        return Err(Error::param(
            "label",
            "is required: the column holding the binary target",
        ));
    }
    fine.validate()?;
    binning.validate()?;
    recorded(track, "features.bin", |run| {
        if let (Some(run), Some(t)) = (run, track) {
            run.dataset("input", t.dataset, None, Some(rows_of(batches) as u64))?;
            run.param("label", &target.label)?;
            run.param("method", binning.method.as_str())?;
            run.param("max_bins", binning.max_bins)?;
            run.param("min_bin_size", binning.min_bin_size)?;
        }
        let mut profiler = FineProfiler::new(target.clone(), fine.clone());
        progress.stage("binning", Some(rows_of(batches) as u64), Unit::Rows);
        for b in batches {
            check(progress)?;
            profiler.update(b)?;
            progress.advance(b.num_rows() as u64);
        }
        progress.end_stage();
        let plan = build_plan(&profiler.finish()?, target, binning)?;
        if let (Some(run), Some(t)) = (run, track) {
            crate::features::record_plan(t.ws, run.id(), &plan, &[])?;
        }
        Ok(plan)
    })
}

/// Write a frame into a lake table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriteRequest {
    /// The table (`db.table`, or a name in the project's database).
    pub table: String,
    /// `append` (the default), `overwrite` or `upsert` (by the primary key).
    pub mode: Option<String>,
    /// Primary-key columns of a table this write creates (required for `upsert`).
    pub primary_key: Vec<String>,
    /// Partition columns of a table this write creates.
    pub partition_by: Vec<String>,
}

/// What a write committed.
#[derive(Clone, Debug, Serialize)]
pub struct WriteReport {
    pub table: String,
    pub rows: u64,
    pub snapshot: Option<i64>,
    pub created: bool,
    pub run: i64,
}

/// The type a column of `dt` is stored as in a table this write creates: Arrow's
/// in-memory variants (large and view strings, nanosecond times, dictionaries, half
/// floats) become the type Paimon stores; the rows are cast on write.
fn storable(dt: &DataType) -> DataType {
    match dt {
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        DataType::Float16 => DataType::Float32,
        DataType::Timestamp(TimeUnit::Nanosecond, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        DataType::Dictionary(_, value) => storable(value),
        DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        other => other.clone(),
    }
}

fn storable_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), storable(f.data_type()), f.is_nullable()))
        .collect();
    std::sync::Arc::new(Schema::new(fields))
}

/// Writes every batch of `data` into the table in one atomic commit (a failure or a
/// cancellation leaves the table as it was), creating it from the frame's columns when
/// it does not exist; recorded as a `write` run with the table's new snapshot as output.
pub async fn write(
    ws: &Workspace,
    req: &WriteRequest,
    data: &mut (dyn RecordBatchReader + Send),
    progress: &dyn Progress,
) -> Result<WriteReport> {
    let mode = match req.mode.as_deref().unwrap_or("append") {
        "append" => WriteMode::Append,
        "overwrite" => WriteMode::Overwrite,
        "upsert" => WriteMode::Upsert,
        other => {
            return Err(Error::param(
                "mode",
                format!("'{other}' is not a write mode (append, overwrite or upsert)"),
            ))
        }
    };
    let lake = ws.lake().await?;
    let name = ws.table_name(&req.table)?;
    let spec = TableSpec {
        primary_key: req.primary_key.clone(),
        partition_by: req.partition_by.clone(),
        options: Default::default(),
    };
    let run = ws.start_run("write")?;
    let result = async {
        run.param("table", name.to_string())?;
        run.param("mode", format!("{mode:?}").to_lowercase())?;
        let created = if lake.exists(&name).await? {
            let table = lake.table(&name).await?;
            let ts = table.schema();
            if !req.primary_key.is_empty() && ts.primary_keys() != req.primary_key.as_slice() {
                return Err(Error::param(
                    "primary_key",
                    format!(
                        "table {name} exists with primary key [{}], not [{}]",
                        ts.primary_keys().join(", "),
                        req.primary_key.join(", ")
                    ),
                ));
            }
            false
        } else {
            if mode == WriteMode::Upsert && req.primary_key.is_empty() {
                return Err(Error::param(
                    "primary_key",
                    format!("is required: mode upsert creates table {name} with a primary key"),
                ));
            }
            if data.schema().fields().is_empty() {
                return Err(Error::invalid(format!(
                    "the data has no columns to create table {name} from"
                )));
            }
            lake.create_table_if_absent(&name, &storable_schema(&data.schema()), &spec)
                .await?
        };
        progress.stage(&format!("write {name}"), None, Unit::Rows);
        let mut writer = lake.writer(&name, mode).await?;
        for batch in data {
            check(progress)?;
            let batch = batch.map_err(|e| Error::arrow("reading the data to write", e))?;
            writer.write(&batch).await?;
            progress.advance(batch.num_rows() as u64);
        }
        check(progress)?;
        progress.end_stage();
        let summary = writer.commit().await?;
        run.output(&name.to_string(), summary.snapshot, Some(summary.rows))?;
        run.metric("rows", summary.rows as f64)?;
        Ok(WriteReport {
            table: name.to_string(),
            rows: summary.rows,
            snapshot: summary.snapshot,
            created,
            run: run.id(),
        })
    }
    .await;
    match run.finish(result) {
        Ok(r) => Ok(r),
        Err(e) => {
            // A table this write created and never filled is removed again.
            let _ = lake.drop_if_unwritten(&name).await;
            Err(e)
        }
    }
}
