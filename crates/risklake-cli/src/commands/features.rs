//! `features bin | evaluate | select | transform | report`: feature mining over lake tables
//! and files. The algorithms live in `risklake-features`; this module streams the data,
//! records runs and prints results.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use risklake_app::features::BinRequest;
use risklake_core::{Error, Result};
use risklake_features::psi::FeaturePsi;
use risklake_features::select::{Decision, SelectionRules};
use risklake_features::{BinningOptions, BinningPlan, FineOptions, Method, Target, Trend};
use risklake_track::RunId;

use super::Ctx;
use crate::app::{BinArgs, EvaluateArgs, FeaturesCommand, ReportArgs, SelectArgs, TransformArgs};
use crate::output::{grid, kv_table, Bars};

pub async fn run(ctx: &Ctx, cmd: FeaturesCommand) -> Result<()> {
    match cmd {
        FeaturesCommand::Bin(args) => bin(ctx, &args).await,
        FeaturesCommand::Evaluate(args) => evaluate(ctx, &args).await,
        FeaturesCommand::Select(args) => select_cmd(ctx, &args).await,
        FeaturesCommand::Transform(args) => transform(ctx, &args).await,
        FeaturesCommand::Report(args) => report(ctx, &args),
    }
}

/// The flags of `features bin` as the workflow's request (validated by the workflow).
pub fn bin_request(args: &BinArgs) -> Result<BinRequest> {
    let method: Method = args.method.parse().map_err(|e| Error::param("method", e))?;
    let monotonic: Trend = args.monotonic.parse().map_err(|e| Error::param("monotonic", e))?;
    let mut edges = HashMap::new();
    for spec in &args.edges {
        let (col, values) = spec
            .split_once('=')
            .ok_or_else(|| Error::invalid(format!("--edges '{spec}' should be COLUMN=v1,v2,...")))?;
        let values: Vec<f64> = values
            .split(',')
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| Error::invalid(format!("--edges {col}: '{v}' is not a number")))
            })
            .collect::<Result<_>>()?;
        edges.insert(col.trim().to_string(), values);
    }
    let binning = BinningOptions {
        method,
        max_bins: args.max_bins,
        min_bin_size: args.min_bin_size,
        min_bad: args.min_bad.0,
        min_good: args.min_good.0,
        monotonic,
        prebins: args.prebins,
        min_gain: args.min_gain,
        chi_significance: (args.chi_significance > 0.0).then_some(args.chi_significance),
        min_category_share: args.min_category_share,
        edges,
        per_feature: feature_settings(&args.feature_settings)?,
    };
    let fine = FineOptions {
        columns: args.columns.clone(),
        exclude: args.exclude.clone(),
        categorical: args.categorical.clone(),
        special_values: args.special_values.clone(),
        special_values_by_column: column_specials(&args.column_special_values)?,
        exact_rows: args.exact_rows,
        max_categories: args.max_categories,
    };
    let target = Target {
        label: args
            .target
            .label
            .clone()
            .ok_or_else(|| Error::invalid("--label is required: the column holding the binary target"))?,
        bad_value: args.target.bad_value.clone(),
        weight: args.target.weight.clone(),
    };
    let req = BinRequest {
        table: args.target.table.clone(),
        target,
        fine,
        binning,
        out: args.out.clone(),
    };
    req.validate()?;
    Ok(req)
}

/// The summary of a plan, features by IV.
/// `--feature COL:KEY=VALUE,...` flags as per-feature settings.
fn feature_settings(
    flags: &[String],
) -> Result<std::collections::BTreeMap<String, risklake_features::binning::FeatureSettings>> {
    let mut out = std::collections::BTreeMap::new();
    for f in flags {
        let (col, settings) = f
            .split_once(':')
            .ok_or_else(|| Error::param("feature", format!("'{f}' should be COL:KEY=VALUE,...")))?;
        let entry: &mut risklake_features::binning::FeatureSettings = out.entry(col.trim().to_string()).or_default();
        for kv in settings.split(',').filter(|s| !s.trim().is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| Error::param("feature", format!("'{kv}' of {col} should be KEY=VALUE")))?;
            entry.set(k.trim(), v.trim())?;
        }
    }
    Ok(out)
}

/// `--column-special-values COL=V1,V2` flags as a map.
fn column_specials(flags: &[String]) -> Result<std::collections::BTreeMap<String, Vec<f64>>> {
    flags
        .iter()
        .map(|f| {
            let (col, values) = f
                .split_once('=')
                .ok_or_else(|| Error::param("column_special_values", format!("'{f}' should be COL=V1,V2")))?;
            let values = values
                .split(',')
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    v.trim()
                        .parse::<f64>()
                        .map_err(|_| Error::param("column_special_values", format!("'{v}' of {col} is not a number")))
                })
                .collect::<Result<Vec<f64>>>()?;
            Ok((col.trim().to_string(), values))
        })
        .collect()
}

fn summary_json(plan: &BinningPlan, psi: &[FeaturePsi]) -> Vec<Value> {
    let mut fs: Vec<_> = plan.features.iter().collect();
    fs.sort_by(|a, b| b.metrics.iv.total_cmp(&a.metrics.iv));
    fs.iter()
        .map(|f| {
            let m = &f.metrics;
            let max_psi = psi
                .iter()
                .filter(|p| p.feature == f.name)
                .map(|p| p.psi)
                .reduce(f64::max);
            json!({
                "feature": f.name, "type": format!("{:?}", f.kind).to_lowercase(), "bins": m.bins,
                "iv": m.iv, "ks": m.ks, "auc": m.auc, "gini": m.gini, "missing_rate": m.missing_rate,
                "distinct": m.distinct, "top_share": m.top_share, "trend": m.trend, "max_psi": max_psi,
                "flags": m.flags,
            })
        })
        .collect()
}

fn summary_grid(plan: &BinningPlan, psi: &[FeaturePsi], limit: usize) -> String {
    let mut fs: Vec<_> = plan.features.iter().collect();
    fs.sort_by(|a, b| b.metrics.iv.total_cmp(&a.metrics.iv));
    let with_psi = !psi.is_empty();
    let mut header = vec!["feature", "type", "bins", "IV", "KS", "AUC", "missing", "trend"];
    if with_psi {
        header.push("max PSI");
    }
    let rows = fs
        .iter()
        .take(limit)
        .map(|f| {
            let m = &f.metrics;
            let mut r = vec![
                f.name.clone(),
                format!("{:?}", f.kind).to_lowercase(),
                m.bins.to_string(),
                format!("{:.4}", m.iv),
                format!("{:.4}", m.ks),
                format!("{:.4}", m.auc),
                format!("{:.1}%", 100.0 * m.missing_rate),
                m.trend.clone(),
            ];
            if with_psi {
                let p = psi
                    .iter()
                    .filter(|p| p.feature == f.name)
                    .map(|p| p.psi)
                    .reduce(f64::max);
                r.push(p.map_or("-".into(), |v| format!("{v:.4}")));
            }
            r
        })
        .collect();
    let mut s = grid(&header, rows);
    if fs.len() > limit {
        s.push_str(&format!(
            "\n({} more features; --json or the plan artifact has all)",
            fs.len() - limit
        ));
    }
    s
}

fn skipped_note(plan: &BinningPlan) -> String {
    let mut s = String::new();
    let mut flagged: Vec<_> = plan.features.iter().filter(|f| !f.metrics.flags.is_empty()).collect();
    flagged.sort_by(|a, b| b.metrics.iv.total_cmp(&a.metrics.iv));
    if !flagged.is_empty() {
        s.push_str("\nreview flags:\n");
        for f in flagged {
            for flag in &f.metrics.flags {
                s.push_str(&format!("  {}: {flag}\n", f.name));
            }
        }
    }
    if plan.skipped.is_empty() {
        return s;
    }
    s.push_str("\nnot binned:\n");
    for k in &plan.skipped {
        s.push_str(&format!("  {}: {}\n", k.name, k.reason));
    }
    s
}

/// `features bin` as a recorded run: the plan, its artifacts, and where the plan is.
pub async fn bin_recorded(ctx: &Ctx, args: &BinArgs) -> Result<(RunId, BinningPlan, f64, PathBuf)> {
    let req = bin_request(args)?;
    let r = risklake_app::features::bin(&ctx.ws, &req, &Bars::new(ctx.out)).await?;
    Ok((r.run, r.plan, r.seconds, r.plan_path))
}

async fn bin(ctx: &Ctx, args: &BinArgs) -> Result<()> {
    let (run, plan, seconds, path) = bin_recorded(ctx, args).await?;
    ctx.out.emit(
        json!({
            "run": run, "rows": plan.rows, "bad": plan.bad, "good": plan.good, "seconds": seconds,
            "plan": path, "features": summary_json(&plan, &[]), "skipped": plan.skipped,
        }),
        || {
            format!(
                "{}\n{}\n{}",
                summary_grid(&plan, &[], 40),
                skipped_note(&plan),
                kv_table([
                    ("rows", plan.rows.to_string()),
                    ("bad rate", format!("{:.2}%", 100.0 * plan.bad / (plan.bad + plan.good))),
                    ("time", format!("{seconds:.2} s")),
                    ("plan", path.display().to_string()),
                    ("run", run.to_string()),
                ])
            )
        },
    );
    Ok(())
}

fn psi_grid(psi: &[FeaturePsi]) -> String {
    let mut groups: Vec<&str> = Vec::new();
    for p in psi {
        if !groups.contains(&p.group.as_str()) {
            groups.push(&p.group);
        }
    }
    let mut features: Vec<&str> = Vec::new();
    for p in psi {
        if !features.contains(&p.feature.as_str()) {
            features.push(&p.feature);
        }
    }
    let mut header = vec!["feature"];
    header.extend(groups.iter().copied());
    let rows = features
        .iter()
        .map(|f| {
            let mut r = vec![f.to_string()];
            for g in &groups {
                let v = psi.iter().find(|p| p.feature == *f && p.group == *g).map(|p| p.psi);
                r.push(v.map_or("-".into(), |v| format!("{v:.4}")));
            }
            r
        })
        .collect();
    let baseline = psi
        .first()
        .map_or(String::new(), |p| format!("PSI against {}\n", p.baseline));
    format!("{baseline}{}", grid(&header, rows))
}

/// The flags as the workflow's request.
pub fn evaluate_request(args: &EvaluateArgs) -> Result<risklake_app::features::EvaluateRequest> {
    // The binning flags matter only without --plan (then --label is required).
    let bin = match &args.plan {
        Some(_) => {
            let mut b = BinRequest::new(
                args.bin.target.table.clone(),
                args.bin.target.label.clone().unwrap_or_default(),
            );
            b.out = args.bin.out.clone();
            b
        }
        None => bin_request(&args.bin)?,
    };
    Ok(risklake_app::features::EvaluateRequest {
        bin,
        plan: args.plan.clone(),
        psi_by: args.psi_by.clone(),
        psi_against: args.psi_against.clone(),
    })
}

async fn evaluate(ctx: &Ctx, args: &EvaluateArgs) -> Result<()> {
    let req = evaluate_request(args)?;
    let r = risklake_app::features::evaluate(&ctx.ws, &req, &Bars::new(ctx.out)).await?;
    let (run, plan, psi, seconds, path) = (r.run, r.plan, r.psi, r.seconds, r.plan_path);
    ctx.out.emit(
        json!({
            "run": run, "rows": plan.rows, "seconds": seconds, "plan": path,
            "features": plan.features, "psi": psi, "skipped": plan.skipped,
        }),
        || {
            let mut s = summary_grid(&plan, &psi, 60);
            if args.bins {
                for f in &plan.features {
                    s.push_str(&format!(
                        "\n\n{} (IV {:.4}, KS {:.4})\n",
                        f.name, f.metrics.iv, f.metrics.ks
                    ));
                    let rows = f
                        .bins
                        .iter()
                        .map(|b| {
                            vec![
                                b.index.to_string(),
                                b.label.clone(),
                                b.count.to_string(),
                                format!("{:.2}%", 100.0 * b.share),
                                format!("{:.0}", b.good),
                                format!("{:.0}", b.bad),
                                format!("{:.2}%", 100.0 * b.event_rate),
                                format!("{:.4}", b.woe),
                                format!("{:.4}", b.iv),
                            ]
                        })
                        .collect();
                    s.push_str(&grid(
                        &[
                            "bin",
                            "range",
                            "count",
                            "share",
                            "good",
                            "bad",
                            "event rate",
                            "WoE",
                            "IV",
                        ],
                        rows,
                    ));
                }
            }
            if !psi.is_empty() {
                s.push_str("\n\n");
                s.push_str(&psi_grid(&psi));
            }
            s.push_str(&skipped_note(&plan));
            s.push_str(&format!("\nplan and report: run {run} ({})", path.display()));
            s
        },
    );
    Ok(())
}

async fn select_cmd(ctx: &Ctx, args: &SelectArgs) -> Result<()> {
    let req = risklake_app::features::SelectRequest {
        plan: args.plan.clone(),
        table: args.table.clone(),
        rules: SelectionRules {
            min_iv: args.min_iv,
            max_missing: args.max_missing,
            max_psi: args.max_psi,
            max_corr: args.max_corr,
            max_vif: args.max_vif,
        },
        psi_by: args.psi_by.clone(),
        psi_against: args.psi_against.clone(),
        out: args.out.clone(),
    };
    let r = risklake_app::features::select(&ctx.ws, &req, &Bars::new(ctx.out)).await?;
    let (run, decisions, path) = (r.run, r.decisions, r.plan_path);
    ctx.out
        .emit(json!({ "run": run, "plan": path, "decisions": decisions }), || {
            let rows = decisions.iter().map(decision_row).collect();
            format!(
                "{}\nkept {} of {}; selected plan: run {run} ({})",
                grid(&["feature", "kept", "IV", "missing", "PSI", "VIF", "reason"], rows),
                decisions.iter().filter(|d| d.kept).count(),
                decisions.len(),
                path.display()
            )
        });
    Ok(())
}

fn decision_row(d: &Decision) -> Vec<String> {
    vec![
        d.feature.clone(),
        if d.kept { "yes".into() } else { "no".into() },
        format!("{:.4}", d.iv),
        format!("{:.1}%", 100.0 * d.missing_rate),
        d.psi.map_or("-".into(), |v| format!("{v:.4}")),
        d.vif.map_or("-".into(), |v| format!("{v:.2}")),
        d.reason.clone().unwrap_or_default(),
    ]
}

/// The correlation matrix of the plan's WoE features over `table`.
/// What a transform wrote.
pub use risklake_app::features::TransformReport;

/// `features transform` as a recorded run.
pub async fn transform_recorded(ctx: &Ctx, args: &TransformArgs) -> Result<TransformReport> {
    let target = super::OutputTarget {
        table: args.out_table.as_deref(),
        file: args.out.as_deref(),
        mode: args.mode.as_deref(),
    };
    let req = risklake_app::features::TransformRequest {
        plan: args.plan.clone(),
        table: args.table.clone(),
        output: Some(args.output.clone()),
        suffix: args.suffix.clone(),
        unseen: args.unseen.parse().map_err(|e: String| Error::param("unseen", e))?,
        destination: target.spec()?,
    };
    risklake_app::features::transform(&ctx.ws, &req, &Bars::new(ctx.out)).await
}

async fn transform(ctx: &Ctx, args: &TransformArgs) -> Result<()> {
    let TransformReport {
        run,
        target,
        rows,
        seconds,
        features,
    } = transform_recorded(ctx, args).await?;
    ctx.out.emit(
        json!({ "run": run, "target": target, "rows": rows, "features": features, "seconds": seconds }),
        || {
            kv_table([
                ("wrote", target.clone()),
                ("rows", rows.to_string()),
                ("features transformed", features.to_string()),
                ("time", format!("{seconds:.2} s")),
                ("run", run.to_string()),
            ])
        },
    );
    Ok(())
}

fn report(ctx: &Ctx, args: &ReportArgs) -> Result<()> {
    let req = risklake_app::features::ReportRequest {
        plan: args.plan.clone(),
        title: args.title.clone(),
        out: args.out.clone(),
    };
    let r = risklake_app::features::report(&ctx.ws, &req)?;
    ctx.out
        .emit(json!({ "run": r.run, "out": r.out, "bytes": r.bytes }), || {
            format!("wrote {} ({} KB), run {}", r.out.display(), r.bytes / 1024, r.run)
        });
    Ok(())
}
