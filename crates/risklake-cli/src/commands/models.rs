//! `model show|report|export|register|...`, `scorecard build|export|evaluate` and `score`.

use serde_json::json;

use risklake_app::scorecard::{EvaluateRequest, ScorecardBuildRequest};
use risklake_core::{Error, Result};
use risklake_learn::scorecard::ScoreEvaluation;
use risklake_learn::{Model, Scorecard};
use risklake_track::RunId;

use super::requests::{evaluate_request, scorecard_build_request};
use super::Ctx;
use crate::app::{ModelCommand, ScoreArgs, ScorecardCommand};
use crate::output::{grid, kv_table, Bars};

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
        ScorecardCommand::Build(args) => build(ctx, &scorecard_build_request(&args), true).map(|_| ()),
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
        ScorecardCommand::Evaluate(args) => evaluate_recorded(ctx, &evaluate_request(&args), true).await.map(|_| ()),
    }
}

/// Builds and records a scorecard (printing it when `print`); returns its run.
pub fn build(ctx: &Ctx, req: &ScorecardBuildRequest, print: bool) -> Result<RunId> {
    let r = risklake_app::scorecard::build(&ctx.ws, req)?;
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

/// Evaluates and records a scorecard on a table (printing the gains table when `print`).
pub async fn evaluate_recorded(ctx: &Ctx, req: &EvaluateRequest, print: bool) -> Result<ScoreEvaluation> {
    let r = risklake_app::scorecard::evaluate(&ctx.ws, req, &Bars::new(ctx.out)).await?;
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
    let r = risklake_app::scorecard::score(&ctx.ws, &req, &Bars::new(ctx.out)).await?;
    for (f, n) in &r.unseen {
        ctx.out.note(format!(
            "{n} rows of {f} hold a category the scorecard's plan never saw ({} points, --unseen {})",
            if args.unseen == "neutral" { "0" } else { "treated as" },
            args.unseen
        ));
    }
    super::emit_written(ctx, r.run, &r.target, r.rows, r.seconds);
    Ok(())
}

/// Reads a model of any kind given as a file or a run id.
pub fn load_model(ctx: &Ctx, spec: &str) -> Result<Model> {
    risklake_app::train::load_model(&ctx.ws, spec)
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
        ModelCommand::Show { model } => show_model(ctx, &model),
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
