//! `train rf`, `train lr`, `model show`, `scorecard build|export|evaluate` and `score`.

use serde_json::json;

use risklake_app::train::{Stepwise, TrainLrRequest};
use risklake_core::{Error, Result};
use risklake_learn::scorecard::{Scaling, ScoreEvaluation};
use risklake_learn::{Model, Scorecard};
use risklake_track::RunId;

use super::train::load_model;
use super::Ctx;
use crate::app::{ScoreArgs, ScorecardBuildArgs, ScorecardCommand, ScorecardEvaluateArgs, TrainGbdtArgs, TrainLrArgs};
use crate::output::{grid, kv_table};

/// `key=value` pairs of `--param`.
pub fn key_values(params: &[String]) -> Result<Vec<(String, String)>> {
    params
        .iter()
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| Error::invalid(format!("--param '{p}' should be KEY=VALUE")))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

pub use risklake_app::train::RfReport;

pub async fn train_rf_recorded(ctx: &Ctx, args: &TrainGbdtArgs) -> Result<RfReport> {
    let req = super::train::tree_request(args)?;
    risklake_app::train::train_rf(&ctx.ws, &req, &crate::output::Bars::new(ctx.out)).await
}

pub fn print_rf(ctx: &Ctx, r: &RfReport) {
    ctx.out.emit(
        json!({
            "run": r.run, "model": r.model_path, "rows": r.rows, "valid_rows": r.valid_rows, "trees": r.trees,
            "oob_score": r.oob.map(|o| o.0), "oob_secondary": r.oob.map(|o| o.1), "valid_auc": r.valid_auc,
            "seconds": r.seconds,
            "importance": super::train::importance_json(&r.importance),
        }),
        || {
            format!(
                "{}\n{}",
                super::train::importance_grid(&r.importance),
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

/// The flags of `train lr` as the workflow's request.
pub fn lr_request(args: &TrainLrArgs) -> Result<TrainLrRequest> {
    Ok(TrainLrRequest {
        data: super::train::train_data_of!(args),
        plan: args.plan.clone(),
        params: super::train::param_map(&args.params, &[])?,
        stepwise: args.stepwise.as_ref().map(|d| Stepwise {
            direction: d.clone(),
            criterion: args.criterion.clone(),
            p_enter: args.p_enter,
            p_remove: args.p_remove,
            positive_coefficients: args.positive_coefficients,
        }),
        out: args.out.clone(),
    })
}

pub async fn train_lr_recorded(ctx: &Ctx, args: &TrainLrArgs) -> Result<LrReport> {
    risklake_app::train::train_lr(&ctx.ws, &lr_request(args)?, &crate::output::Bars::new(ctx.out)).await
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

pub fn show_model(ctx: &Ctx, spec: &str) -> Result<()> {
    let model = load_model(ctx, spec)?;
    let inputs = model.input_columns();
    let (detail, summary) = match &model {
        Model::Lr(m) => (serde_json::to_value(&m.summary).unwrap_or_default(), m.summary_text()),
        Model::Trees(m) => {
            let oob = m.forest.as_ref().and_then(|f| f.oob.clone());
            (
                json!({"trees": m.trees.len(), "best_iteration": m.best_iteration, "oob": oob}),
                format!(
                    "{} trees, {} features{}",
                    m.trees.len(),
                    m.feature_names.len(),
                    oob.map_or(String::new(), |o| format!(", out-of-bag score {:.5}", o.score))
                ),
            )
        }
        Model::Scorecard(c) => (
            json!({"base_points": c.base_points, "features": c.features.len()}),
            card_text(c),
        ),
    };
    let registered = risklake_app::registry::ModelSpec::parse(spec)?.version(&ctx.ws)?;
    ctx.out.emit(
        json!({"model": spec, "kind": model.kind(), "inputs": inputs, "detail": detail, "registered": registered}),
        || {
            let head = registered
                .as_ref()
                .map_or(String::new(), |v| format!("{}\n", super::registry::version_table(v)));
            format!("{head}{} model on {}\n\n{summary}", model.kind(), inputs.join(", "))
        },
    );
    Ok(())
}

fn card_text(c: &Scorecard) -> String {
    let mut rows = vec![vec![
        "(base)".to_string(),
        String::new(),
        String::new(),
        format!("{}", c.base_points),
    ]];
    for f in &c.features {
        for b in &f.bins {
            rows.push(vec![
                f.name.clone(),
                b.label.clone(),
                format!("{:.4}", b.woe),
                format!("{}", b.points),
            ]);
        }
    }
    format!(
        "base {} points at good:bad {}:1, PDO {}\n{}",
        c.scaling.base_points,
        c.scaling.base_odds,
        c.scaling.pdo,
        grid(&["feature", "bin", "woe", "points"], rows)
    )
}

pub async fn scorecard(ctx: &Ctx, cmd: ScorecardCommand) -> Result<()> {
    match cmd {
        ScorecardCommand::Build(args) => build(ctx, &args, true).map(|_| ()),
        ScorecardCommand::Export {
            scorecard,
            format,
            sql_table,
            out,
        } => {
            let req = risklake_app::scorecard::ExportRequest {
                scorecard: scorecard.clone(),
                format: format.clone(),
                sql_table,
                out: out.clone(),
            };
            let bytes = risklake_app::scorecard::export(&ctx.ws, &req)?;
            ctx.out.emit(
                json!({"scorecard": scorecard, "format": format, "out": out, "bytes": bytes}),
                || format!("wrote {} ({format}, {bytes} bytes)", out.display()),
            );
            Ok(())
        }
        ScorecardCommand::Evaluate(args) => evaluate(ctx, &args).await,
    }
}

/// Builds and records a scorecard (printing it when `print`); returns its run.
pub fn build(ctx: &Ctx, args: &ScorecardBuildArgs, print: bool) -> Result<RunId> {
    let req = risklake_app::scorecard::ScorecardBuildRequest {
        model: args.model.clone(),
        plan: args.plan.clone(),
        scaling: Scaling {
            base_points: args.base_points,
            base_odds: args.base_odds,
            pdo: args.pdo,
            digits: args.digits,
        },
        out: args.out.clone(),
    };
    let r = risklake_app::scorecard::build(&ctx.ws, &req)?;
    let (run, card, path) = (r.run, r.scorecard, r.path.display().to_string());
    for w in &r.warnings {
        ctx.out.note(format!("warning: {w}"));
    }
    if !print {
        return Ok(run);
    }
    ctx.out.emit(
        json!({"run": run, "scorecard": path, "base_points": card.base_points, "factor": card.factor,
               "offset": card.offset, "features": card.features, "warnings": r.warnings}),
        || format!("{}\nscorecard: {path}\nrun: {run}", card_text(&card)),
    );
    Ok(run)
}

async fn evaluate(ctx: &Ctx, args: &ScorecardEvaluateArgs) -> Result<()> {
    evaluate_recorded(ctx, args, true).await.map(|_| ())
}

/// Evaluates and records a scorecard on a table (printing the gains table when `print`).
pub async fn evaluate_recorded(ctx: &Ctx, args: &ScorecardEvaluateArgs, print: bool) -> Result<ScoreEvaluation> {
    let req = risklake_app::scorecard::EvaluateRequest {
        scorecard: args.scorecard.clone(),
        table: args.table.clone(),
        label: args.label.clone(),
        bad_value: args.bad_value.clone(),
        bands: args.bands,
        psi_against: args.psi_against.clone(),
        psi_by: args.psi_by.clone(),
    };
    let r = risklake_app::scorecard::evaluate(&ctx.ws, &req, &crate::output::Bars::new(ctx.out)).await?;
    if print {
        print_evaluation(ctx, r.run, &r.evaluation, &r.psi);
    }
    Ok(r.evaluation)
}

fn print_evaluation(ctx: &Ctx, run: RunId, eval: &ScoreEvaluation, psi: &[(String, f64)]) {
    ctx.out.emit(
        json!({"run": run, "rows": eval.rows, "bad_rate": eval.bad_rate, "auc": eval.auc, "ks": eval.ks,
               "gini": eval.gini, "bands": eval.bands,
               "psi": psi.iter().map(|(g, v)| json!({"group": g, "psi": v})).collect::<Vec<_>>()}),
        || {
            let rows = eval
                .bands
                .iter()
                .map(|b| {
                    vec![
                        b.band.to_string(),
                        format!("{} - {}", b.min_score, b.max_score),
                        b.count.to_string(),
                        format!("{:.4}", b.bad_rate),
                        format!("{:.4}", b.cum_bad_share),
                        format!("{:.4}", b.cum_good_share),
                        format!("{:.4}", b.ks),
                        format!("{:.2}", b.lift),
                    ]
                })
                .collect();
            let mut text = format!(
                "{}\n{}",
                grid(
                    &["band", "score", "rows", "bad rate", "cum bad", "cum good", "ks", "lift"],
                    rows
                ),
                kv_table([
                    ("rows", eval.rows.to_string()),
                    ("bad rate", format!("{:.4}", eval.bad_rate)),
                    ("AUC", format!("{:.5}", eval.auc)),
                    ("KS", format!("{:.5}", eval.ks)),
                    ("Gini", format!("{:.5}", eval.gini)),
                    ("run", run.to_string()),
                ])
            );
            for (g, v) in psi {
                text.push_str(&format!("\nPSI of the score, {g}: {v:.5}"));
            }
            text
        },
    );
}

pub async fn score(ctx: &Ctx, args: &ScoreArgs) -> Result<()> {
    let target = super::OutputTarget {
        table: args.out_table.as_deref(),
        file: args.out.as_deref(),
        mode: args.mode.as_deref(),
    };
    let req = risklake_app::scorecard::ScoreRequest {
        scorecard: args.scorecard.clone(),
        table: args.table.clone(),
        points: args.points,
        unseen: args.unseen.parse().map_err(|e: String| Error::param("unseen", e))?,
        destination: target.spec()?,
    };
    let r = risklake_app::scorecard::score(&ctx.ws, &req, &crate::output::Bars::new(ctx.out)).await?;
    for (f, n) in &r.unseen {
        ctx.out.note(format!(
            "{n} rows of {f} hold a category the scorecard's plan never saw ({} points, --unseen {})",
            if args.unseen == "neutral" { "0" } else { "treated as" },
            args.unseen
        ));
    }
    super::train::emit_written(ctx, r.run, &r.target, r.rows, r.seconds);
    Ok(())
}
