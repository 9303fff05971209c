//! `train gbdt` and `predict`: models from lake tables or files, recorded as runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, Int32Array};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use serde_json::json;

use risklake_core::{Error, Result};
use risklake_lake::sql::stream_schema;
use risklake_learn::gbdt::IterationInfo;
use risklake_learn::gbdt::Metric;
use risklake_learn::{train, DatasetBuilder, DatasetOptions, GbdtParams, Model};
use risklake_track::RunId;

use super::features::{open, ordered_scan_session, scan_session};
use super::Ctx;
use crate::app::{ModelCommand, PredictArgs, TrainCommand, TrainGbdtArgs};
use crate::output::{grid, kv_table, Unit};

/// The model artifact's name in a training run.
pub const MODEL_ARTIFACT: &str = "model.json";

pub async fn run(ctx: &Ctx, cmd: TrainCommand) -> Result<()> {
    match cmd {
        TrainCommand::Rf(args) => {
            let r = super::models::train_rf_recorded(ctx, &args).await?;
            super::models::print_rf(ctx, &r);
            Ok(())
        }
        TrainCommand::Lr(args) => {
            let r = super::models::train_lr_recorded(ctx, &args).await?;
            super::models::print_lr(ctx, &r);
            Ok(())
        }
        TrainCommand::Gbdt(args) => {
            let r = train_gbdt_recorded(ctx, &args).await?;
            ctx.out.emit(
                json!({
                    "run": r.run, "model": r.model_path, "rows": r.rows, "valid_rows": r.valid_rows,
                    "features": r.features, "trees": r.trees, "best_iteration": r.best_iteration,
                    "train_loss": r.train_loss, "valid_metric": r.valid_metric, "seconds": r.seconds,
                    "importance": importance_json(&r.importance),
                }),
                || {
                    format!(
                        "{}\n{}",
                        importance_grid(&r.importance),
                        kv_table([
                            ("rows (train / valid)", format!("{} / {}", r.rows, r.valid_rows)),
                            ("trees", r.trees.to_string()),
                            ("train loss", format!("{:.5}", r.train_loss)),
                            (r.metric_name, r.valid_metric.map_or("-".into(), |m| format!("{m:.5}")),),
                            ("time", format!("{:.2} s", r.seconds)),
                            ("model", r.model_path.display().to_string()),
                            ("run", r.run.to_string()),
                        ])
                    )
                },
            );
            Ok(())
        }
    }
}

/// Split/gain importance as JSON.
pub fn importance_json(importance: &[(String, usize, f64)]) -> serde_json::Value {
    importance
        .iter()
        .map(|(f, s, g)| json!({"feature": f, "splits": s, "gain": g}))
        .collect()
}

/// The ten features of largest gain, as a table.
pub fn importance_grid(importance: &[(String, usize, f64)]) -> String {
    let mut imp = importance.to_vec();
    imp.sort_by(|a, b| b.2.total_cmp(&a.2));
    let rows = imp
        .iter()
        .take(10)
        .map(|(f, s, g)| vec![f.clone(), s.to_string(), format!("{g:.1}")])
        .collect();
    grid(&["feature", "splits", "gain"], rows)
}

/// What a training run produced.
pub struct TrainReport {
    pub run: RunId,
    pub model_path: PathBuf,
    pub rows: usize,
    pub valid_rows: usize,
    pub features: usize,
    pub trees: usize,
    pub best_iteration: Option<usize>,
    pub train_loss: f64,
    pub valid_metric: Option<f64>,
    pub metric_name: &'static str,
    pub seconds: f64,
    pub importance: Vec<(String, usize, f64)>,
}

/// Streams `table` into `push`, holding out the rows that `valid_fraction` picks (by a
/// hash of the row number) and then every row of `valid_table`: returns the held-out
/// batches.
pub async fn read_split(
    ctx: &Ctx,
    run: RunId,
    table: &str,
    valid_fraction: Option<f64>,
    valid_table: Option<&str>,
    push: &mut (dyn FnMut(RecordBatch) -> Result<()> + Send),
) -> Result<Vec<RecordBatch>> {
    if let Some(f) = valid_fraction {
        if !(f > 0.0 && f < 1.0) {
            return Err(Error::invalid(format!("--valid-fraction must be in (0, 1), got {f}")));
        }
    }
    let session = ordered_scan_session(ctx).await?;
    let mut held_out: Vec<RecordBatch> = Vec::new();
    let mut stream = open(ctx, &session, table, None, run).await?;
    let bar = ctx.out.bar(None, Unit::Rows, "reading");
    let mut row = 0u64;
    while let Some(b) = stream.next().await {
        let b = b.map_err(|e| Error::external(format!("reading {table}"), e))?;
        bar.inc(b.num_rows() as u64);
        match valid_fraction {
            Some(f) => {
                let mask: arrow::array::BooleanArray =
                    (0..b.num_rows()).map(|i| Some(row_hash(row + i as u64) < f)).collect();
                row += b.num_rows() as u64;
                let valid = filter_record_batch(&b, &mask).map_err(|e| Error::arrow("splitting rows", e))?;
                let keep = arrow::compute::not(&mask).map_err(|e| Error::arrow("splitting rows", e))?;
                let train_part = filter_record_batch(&b, &keep).map_err(|e| Error::arrow("splitting rows", e))?;
                held_out.push(valid);
                tokio::task::block_in_place(|| push(train_part))?;
            }
            None => tokio::task::block_in_place(|| push(b))?,
        }
    }
    bar.finish_and_clear();
    if let Some(v) = valid_table {
        let mut s = open(ctx, &session, v, None, run).await?;
        while let Some(b) = s.next().await {
            held_out.push(b.map_err(|e| Error::external(format!("reading {v}"), e))?);
        }
    }
    Ok(held_out)
}

/// The binned training set of `args` and its validation set (binned alike), if any.
pub async fn read_binned(
    ctx: &Ctx,
    run: RunId,
    args: &TrainGbdtArgs,
    options: DatasetOptions,
) -> Result<(risklake_learn::Dataset, Option<risklake_learn::Dataset>)> {
    let mut builder = DatasetBuilder::new(args.label.clone(), args.weight.clone(), options)?;
    let held_out = read_split(
        ctx,
        run,
        &args.table,
        args.valid_fraction,
        args.valid_table.as_deref(),
        &mut |b| builder.push(b),
    )
    .await?;
    let train_set = tokio::task::block_in_place(|| builder.finish())?;
    let valid = if args.valid_table.is_some() || args.valid_fraction.is_some() {
        let v = tokio::task::block_in_place(|| train_set.with_mappers(&held_out, &args.label, args.weight.as_deref()))?;
        (v.rows() > 0).then_some(v)
    } else {
        None
    };
    Ok((train_set, valid))
}

/// A row's share of [0, 1) from its number: the deterministic hold-out split.
fn row_hash(row: u64) -> f64 {
    let mut z = row.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

pub async fn train_gbdt_recorded(ctx: &Ctx, args: &TrainGbdtArgs) -> Result<TrainReport> {
    let mut params = GbdtParams::default();
    let mut options = DatasetOptions {
        features: args.columns.clone(),
        exclude: args.exclude.clone(),
        bad_value: args.bad_value.clone(),
        ..Default::default()
    };
    for (k, v) in super::models::key_values(&args.params)? {
        if !options.set(&k, &v)? {
            params.set(&k, &v)?;
        }
    }
    let run = ctx.start("train.gbdt")?;
    let result = async {
        ctx.ws.store().log_param(run, "table", &args.table)?;
        ctx.ws.store().log_param(run, "label", &args.label)?;
        ctx.ws
            .store()
            .log_param(run, "params", &serde_json::to_string(&params).unwrap_or_default())?;
        ctx.ws.store().log_param(run, "max_bin", &options.max_bin.to_string())?;
        ctx.ws
            .store()
            .log_param(run, "dataset", &serde_json::to_string(&options).unwrap_or_default())?;
        let (train_set, valid) = read_binned(ctx, run, args, options).await?;
        let metric_name = match params.metric() {
            Metric::Auc => "valid auc",
            Metric::Ks => "valid ks",
            Metric::BinaryLogloss => "valid binary_logloss",
            Metric::Rmse => "valid rmse",
        };
        let started = Instant::now();
        let bar = ctx
            .out
            .bar(Some(params.num_iterations as u64), Unit::Iterations, "training");
        let mut history: Vec<IterationInfo> = Vec::new();
        let mut record_error = None;
        let model = tokio::task::block_in_place(|| {
            train(&train_set, valid.as_ref(), &params, &mut |it| {
                bar.inc(1);
                let step = Some(it.iteration as i64);
                let log = || -> Result<()> {
                    ctx.ws.store().log_metric(run, "train_loss", step, it.train_loss)?;
                    if let Some(m) = it.valid_metric {
                        ctx.ws
                            .store()
                            .log_metric(run, &metric_name.replace(' ', "_"), step, m)?;
                    }
                    Ok(())
                };
                if let Err(e) = log() {
                    record_error.get_or_insert(e);
                }
                history.push(it.clone());
            })
        })?;
        bar.finish_and_clear();
        if let Some(e) = record_error {
            return Err(e);
        }
        let seconds = started.elapsed().as_secs_f64();
        let artifact = ctx
            .ws
            .store()
            .log_artifact_bytes(run, MODEL_ARTIFACT, model.to_json().as_bytes())?;
        let importance = model.importance();
        let mut csv = String::from("feature,splits,gain\n");
        for (f, s, g) in &importance {
            csv.push_str(&format!("{f},{s},{g}\n"));
        }
        ctx.ws
            .store()
            .log_artifact_bytes(run, "importance.csv", csv.as_bytes())?;
        if let Some(out) = &args.out {
            std::fs::write(out, model.to_json()).map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
        }
        // The model keeps the trees up to its best iteration (early stopping): report that one.
        let last = &history[model.trees.len().clamp(1, history.len()) - 1];
        let valid_metric = model.best_iteration.and_then(|b| history[b - 1].valid_metric);
        ctx.ws.store().log_metric(run, "train_seconds", None, seconds)?;
        if let Some(m) = valid_metric {
            ctx.ws
                .store()
                .log_metric(run, &metric_name.replace(' ', "_"), None, m)?;
        }
        Ok(TrainReport {
            run,
            model_path: PathBuf::from(artifact.path),
            rows: train_set.rows(),
            valid_rows: valid.as_ref().map_or(0, |v| v.rows()),
            features: train_set.num_features(),
            trees: model.trees.len(),
            best_iteration: model.best_iteration,
            train_loss: last.train_loss,
            valid_metric,
            metric_name,
            seconds,
            importance,
        })
    }
    .await;
    ctx.finish(run, result)
}

/// Reads a model of any kind given as a file or a run id.
pub fn load_model(ctx: &Ctx, spec: &str) -> Result<Model> {
    let text = super::read_file_or_artifact(ctx, spec, MODEL_ARTIFACT, "model")?;
    Model::from_json(&text).map_err(|e| Error::invalid(format!("model {spec}: {e}")))
}

pub async fn predict(ctx: &Ctx, args: &PredictArgs) -> Result<()> {
    let run = ctx.start("predict")?;
    let result = async {
        let any = load_model(ctx, &args.model)?;
        let trees = match args.output.as_str() {
            "leaf" | "shap" => Some(any.trees(&format!("--output {}", args.output))?),
            _ => None,
        };
        ctx.ws.store().log_param(run, "model", &args.model)?;
        ctx.ws.store().log_param(run, "model_kind", any.kind())?;
        ctx.ws.store().log_param(run, "output", &args.output)?;
        let session = scan_session(ctx).await?;
        let stream = open(ctx, &session, &args.table, None, run).await?;
        let in_schema = stream_schema(&stream);
        for f in &any.input_columns() {
            if in_schema.index_of(f).is_err() {
                return Err(Error::invalid(format!(
                    "{} lacks the model's feature column '{f}'",
                    args.table
                )));
            }
        }
        let added: Vec<String> = match args.output.as_str() {
            "leaf" => (0..trees.map_or(0, |m| m.trees.len()))
                .map(|t| format!("leaf_{t}"))
                .collect(),
            "shap" => trees
                .map_or(&[][..], |m| &m.feature_names[..])
                .iter()
                .map(|f| format!("shap_{f}"))
                .chain(["shap_expected".to_string()])
                .collect(),
            _ => vec!["prediction".to_string()],
        };
        let dt = if args.output == "leaf" {
            DataType::Int32
        } else {
            DataType::Float64
        };
        let typed: Vec<(String, DataType)> = added.iter().map(|n| (n.clone(), dt.clone())).collect();
        let schema = with_added_columns(&in_schema, &args.table, &typed)?;
        let width = added.len();
        let score = |b: &RecordBatch| -> Result<RecordBatch> {
            let mut cols: Vec<ArrayRef> = b.columns().to_vec();
            match args.output.as_str() {
                "leaf" => {
                    let leaves = trees.expect("checked").predict_leaf(b)?;
                    for t in 0..width {
                        let col: Int32Array = leaves.iter().skip(t).step_by(width).map(|&l| l as i32).collect();
                        cols.push(Arc::new(col));
                    }
                }
                "shap" => {
                    let shap = trees.expect("checked").predict_shap(b)?;
                    for f in 0..width {
                        let col: Float64Array = shap.iter().skip(f).step_by(width).copied().collect();
                        cols.push(Arc::new(col));
                    }
                }
                "raw" => cols.push(Arc::new(Float64Array::from(any.predict_raw(b)?))),
                _ => cols.push(Arc::new(Float64Array::from(any.predict(b)?))),
            }
            RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::arrow("adding predictions", e))
        };
        let target = super::OutputTarget {
            table: args.out_table.as_deref(),
            file: args.out.as_deref(),
            mode: args.mode.as_deref(),
        };
        write_scored(ctx, run, stream, &args.table, schema.clone(), target, score).await
    }
    .await;
    let (target, rows, seconds) = ctx.finish(run, result)?;
    emit_written(ctx, run, &target, rows, seconds);
    Ok(())
}

pub fn with_added_columns(input: &Schema, table: &str, added: &[(String, DataType)]) -> Result<Arc<Schema>> {
    let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (name, dt) in added {
        if input.index_of(name).is_ok() {
            return Err(Error::invalid(format!(
                "{table} already has a column '{name}'; the output would repeat it"
            )));
        }
        fields.push(Field::new(name, dt.clone(), false));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Streams `stream` through `map` into the command's output (`--out-table` or `--out`,
/// `--mode`); returns the target, the rows and the seconds.
pub async fn write_scored(
    ctx: &Ctx,
    run: RunId,
    stream: risklake_lake::sql::BatchStream,
    table: &str,
    schema: Arc<Schema>,
    target: super::OutputTarget<'_>,
    map: impl Fn(&RecordBatch) -> Result<RecordBatch>,
) -> Result<(String, u64, f64)> {
    let started = Instant::now();
    let (target, rows) = super::write_mapped(ctx, run, stream, table, schema, target, "scoring", map).await?;
    Ok((target, rows, started.elapsed().as_secs_f64()))
}

/// Prints what a scoring command wrote.
pub fn emit_written(ctx: &Ctx, run: RunId, target: &str, rows: u64, seconds: f64) {
    ctx.out.emit(
        json!({ "run": run, "target": target, "rows": rows, "seconds": seconds }),
        || {
            kv_table([
                ("wrote", target.to_string()),
                ("rows", rows.to_string()),
                ("time", format!("{seconds:.2} s")),
                ("run", run.to_string()),
            ])
        },
    );
}

pub fn model(ctx: &Ctx, cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Show { model } => super::models::show_model(ctx, &model),
        ModelCommand::Export { model, format, out } => {
            let any = load_model(ctx, &model)?;
            let m = any.trees("LightGBM export")?;
            let text = match format.as_str() {
                "lightgbm" => m.to_lightgbm_text()?,
                _ => m.to_json(),
            };
            std::fs::write(&out, &text).map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
            ctx.out.emit(
                json!({ "model": model, "format": format, "out": out, "trees": m.trees.len(), "bytes": text.len() }),
                || {
                    format!(
                        "wrote {} ({format}, {} trees, {} bytes)",
                        out.display(),
                        m.trees.len(),
                        text.len()
                    )
                },
            );
            Ok(())
        }
    }
}
