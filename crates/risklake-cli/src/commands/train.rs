//! `train gbdt|rf|lr` and `predict`: models from lake tables or files, recorded as runs.

use serde_json::json;

use risklake_app::train::{TrainLrRequest, TrainRequest};
use risklake_core::Result;

use super::requests::{lr_request, predict_request, tree_request};
use super::Ctx;
use crate::app::{PredictArgs, TrainCommand};
use crate::output::{grid, kv_table, Bars};

pub async fn run(ctx: &Ctx, cmd: TrainCommand) -> Result<()> {
    match cmd {
        TrainCommand::Rf(args) => {
            let r = train_rf_recorded(ctx, &tree_request(&args)?).await?;
            print_rf(ctx, &r);
            Ok(())
        }
        TrainCommand::Lr(args) => {
            let r = train_lr_recorded(ctx, &lr_request(&args)?).await?;
            print_lr(ctx, &r);
            Ok(())
        }
        TrainCommand::Gbdt(args) => {
            let r = train_gbdt_recorded(ctx, &tree_request(&args)?).await?;
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

/// Trains a GBDT with progress bars.
pub async fn train_gbdt_recorded(ctx: &Ctx, req: &TrainRequest) -> Result<TrainReport> {
    risklake_app::train::train_gbdt(&ctx.ws, req, &Bars::new(ctx.out)).await
}

pub async fn predict(ctx: &Ctx, args: &PredictArgs) -> Result<()> {
    let req = predict_request(args)?;
    let r = risklake_app::predict::predict(&ctx.ws, &req, &Bars::new(ctx.out)).await?;
    super::emit_written(ctx, r.run, &r.target, r.rows, r.seconds);
    Ok(())
}

pub use risklake_app::train::RfReport;

/// Trains a random forest with progress bars.
pub async fn train_rf_recorded(ctx: &Ctx, req: &TrainRequest) -> Result<RfReport> {
    risklake_app::train::train_rf(&ctx.ws, req, &Bars::new(ctx.out)).await
}

pub fn print_rf(ctx: &Ctx, r: &RfReport) {
    ctx.out.emit(
        json!({
            "run": r.run, "model": r.model_path, "rows": r.rows, "valid_rows": r.valid_rows, "trees": r.trees,
            "oob_score": r.oob.map(|o| o.0), "oob_secondary": r.oob.map(|o| o.1), "valid_auc": r.valid_auc,
            "seconds": r.seconds,
            "importance": importance_json(&r.importance),
        }),
        || {
            format!(
                "{}\n{}",
                importance_grid(&r.importance),
                kv_table([
                    ("rows (train / valid)", format!("{} / {}", r.rows, r.valid_rows)),
                    ("trees", r.trees.to_string()),
                    (
                        "out-of-bag (AUC, KS / R2, RMSE)",
                        r.oob.map_or("-".into(), |o| format!("{:.5}, {:.5}", o.0, o.1)),
                    ),
                    ("valid auc", r.valid_auc.map_or("-".into(), |a| format!("{a:.5}"))),
                    ("time", format!("{:.2} s", r.seconds)),
                    ("model", r.model_path.display().to_string()),
                    ("run", r.run.to_string()),
                ])
            )
        },
    );
}

pub use risklake_app::train::LrReport;

/// Fits a logistic regression with progress bars.
pub async fn train_lr_recorded(ctx: &Ctx, req: &TrainLrRequest) -> Result<LrReport> {
    risklake_app::train::train_lr(&ctx.ws, req, &Bars::new(ctx.out)).await
}

pub fn print_lr(ctx: &Ctx, r: &LrReport) {
    let m = &r.model;
    ctx.out.emit(
        json!({
            "run": r.run, "model": r.model_path, "summary": m.summary, "coefficients": m.coefficients,
            "dropped": m.dropped, "stepwise": m.stepwise,
            "valid_rows": r.valid.map(|v| v.0), "valid_auc": r.valid.map(|v| v.1), "valid_ks": r.valid.map(|v| v.2),
            "seconds": r.seconds, "warnings": r.warnings,
        }),
        || {
            let mut text = m.summary_text();
            for s in &m.stepwise {
                text.push_str(&format!("stepwise: {} {} ({:.4})\n", s.action, s.feature, s.value));
            }
            format!(
                "{text}\n{}",
                kv_table([
                    (
                        "valid (rows, AUC, KS)",
                        r.valid
                            .map_or("-".into(), |v| format!("{}, {:.5}, {:.5}", v.0, v.1, v.2)),
                    ),
                    ("time", format!("{:.2} s", r.seconds)),
                    ("model", r.model_path.display().to_string()),
                    ("run", r.run.to_string()),
                ])
            )
        },
    );
}
