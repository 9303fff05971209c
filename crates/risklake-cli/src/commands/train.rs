//! `train gbdt` and `predict`: models from lake tables or files, recorded as runs.

use std::collections::BTreeMap;

use serde_json::json;

use risklake_app::predict::{PredictOutput, PredictRequest};
use risklake_app::train::TrainRequest;
use risklake_core::{Error, Result};
use risklake_learn::Model;
use risklake_track::RunId;

use super::Ctx;
use crate::app::{ModelCommand, PredictArgs, TrainCommand, TrainGbdtArgs};
use crate::output::{grid, kv_table, Bars};

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
                    "train_loss": r.train_loss, "valid_metric": r.valid_metric,
                    "best_valid_metric": r.best_valid_metric, "seconds": r.seconds,
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
                            ("best iteration", best_iteration_text(&r)),
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

/// The best iteration and its metric, and whether the model ends there.
fn best_iteration_text(r: &TrainReport) -> String {
    match (r.best_iteration, r.best_valid_metric) {
        (Some(b), Some(m)) if b == r.trees => format!("{b} ({m:.5}; the model ends there)"),
        (Some(b), Some(m)) => format!("{b} ({m:.5}; not used: the model keeps all {} trees)", r.trees),
        _ => "-".into(),
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

pub use risklake_app::train::TrainReport;

/// `--param KEY=VALUE` flags (and `--categorical`) as the request's parameter map.
pub fn param_map(params: &[String], categorical: &[String]) -> Result<BTreeMap<String, serde_json::Value>> {
    let mut map: BTreeMap<String, serde_json::Value> = super::models::key_values(params)?
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    if !categorical.is_empty() {
        map.insert(
            "categorical_feature".into(),
            serde_json::Value::String(categorical.join(",")),
        );
    }
    Ok(map)
}

/// The rows and columns the `train` / `tune` flags name (`table`, `valid_fraction`,
/// `valid_table`, `label`, `bad_value`, `weight`, `columns`, `exclude`), as the
/// request's [`TrainData`](risklake_app::train::TrainData).
macro_rules! train_data_of {
    ($args:expr) => {
        risklake_app::train::TrainData {
            table: $args.table.clone(),
            valid_fraction: $args.valid_fraction,
            valid_table: $args.valid_table.clone(),
            label: $args.label.clone(),
            bad_value: $args.bad_value.clone(),
            weight: $args.weight.clone(),
            columns: $args.columns.clone(),
            exclude: $args.exclude.clone(),
        }
    };
}
pub(crate) use train_data_of;

/// The flags of `train gbdt` / `train rf` as the workflow's request.
pub fn tree_request(args: &TrainGbdtArgs) -> Result<TrainRequest> {
    Ok(TrainRequest {
        data: train_data_of!(args),
        params: param_map(&args.params, &args.categorical)?,
        out: args.out.clone(),
    })
}

pub async fn train_gbdt_recorded(ctx: &Ctx, args: &TrainGbdtArgs) -> Result<TrainReport> {
    risklake_app::train::train_gbdt(&ctx.ws, &tree_request(args)?, &Bars::new(ctx.out)).await
}

/// Reads a model of any kind given as a file or a run id.
pub fn load_model(ctx: &Ctx, spec: &str) -> Result<Model> {
    risklake_app::train::load_model(&ctx.ws, spec)
}

/// The flags as the workflow's request.
pub fn predict_request(args: &PredictArgs) -> Result<PredictRequest> {
    let output: PredictOutput = serde_json::from_value(serde_json::Value::String(args.output.clone()))
        .map_err(|_| Error::invalid(format!("unknown --output {}", args.output)))?;
    let target = super::OutputTarget {
        table: args.out_table.as_deref(),
        file: args.out.as_deref(),
        mode: args.mode.as_deref(),
    };
    Ok(PredictRequest {
        model: args.model.clone(),
        table: args.table.clone(),
        output,
        top: args.top,
        destination: target.spec()?,
    })
}

pub async fn predict(ctx: &Ctx, args: &PredictArgs) -> Result<()> {
    let req = predict_request(args)?;
    let r = risklake_app::predict::predict(&ctx.ws, &req, &Bars::new(ctx.out)).await?;
    emit_written(ctx, r.run, &r.target, r.rows, r.seconds);
    Ok(())
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

pub async fn model(ctx: &Ctx, cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Report {
            model,
            table,
            label,
            bad_value,
            bands,
            psi_against,
            psi_by,
            out,
        } => {
            let req = risklake_app::report::ModelReportRequest {
                model,
                table,
                label,
                bad_value,
                bands,
                psi_against,
                psi_by,
                out,
            };
            let r = risklake_app::report::model_report(&ctx.ws, &req, &Bars::new(ctx.out)).await?;
            ctx.out.emit(serde_json::to_value(&r).unwrap_or_default(), || {
                kv_table([
                    ("rows", r.rows.to_string()),
                    ("AUC", format!("{:.5}", r.auc)),
                    ("KS", format!("{:.5}", r.ks)),
                    ("largest PSI", r.max_psi.map_or("-".into(), |p| format!("{p:.4}"))),
                    ("report", r.path.display().to_string()),
                    ("run", r.run.to_string()),
                ])
            });
            Ok(())
        }
        ModelCommand::Show { model } => super::models::show_model(ctx, &model),
        ModelCommand::Register {
            run,
            name,
            aliases,
            tags,
            description,
        } => super::registry::register(ctx, run, &name, &aliases, &tags, description.as_deref()),
        ModelCommand::List { name } => super::registry::list(ctx, name.as_deref()),
        ModelCommand::Alias {
            name,
            alias,
            number,
            remove: _,
        } => super::registry::alias(ctx, &name, &alias, number),
        ModelCommand::Tag { model, tags } => super::registry::tag(ctx, &model, &tags),
        ModelCommand::DeleteVersion { name, number } => super::registry::delete_version(ctx, &name, number),
        ModelCommand::Export { model, format, out } => {
            let req = risklake_app::train::ModelExportRequest {
                model: model.clone(),
                format: format.clone(),
                out: out.clone(),
            };
            let m = risklake_app::train::export_model(&ctx.ws, &req)?;
            ctx.out.emit(
                json!({ "model": model, "format": format, "out": out, "trees": m.trees, "bytes": m.bytes }),
                || {
                    format!(
                        "wrote {} ({format}, {} trees, {} bytes)",
                        out.display(),
                        m.trees,
                        m.bytes
                    )
                },
            );
            Ok(())
        }
    }
}
