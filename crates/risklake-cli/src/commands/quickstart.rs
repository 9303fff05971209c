//! `quickstart`: the whole flow on sample data, in one command on an empty home.

use std::path::PathBuf;

use serde_json::json;

use risklake_app::gen::GenRequest;
use risklake_app::learner::ModelKind;
use risklake_app::output::OutputSpec;
use risklake_app::scorecard::{EvaluateRequest, ScorecardBuildRequest};
use risklake_app::train::{Stepwise, TrainData, TrainLrRequest, TrainRequest};
use risklake_app::tune::TuneRequest;
use risklake_core::Result;
use risklake_lake::WriteMode;
use risklake_learn::scorecard::Scaling;

use super::requests::param_map;
use super::Ctx;
use crate::app::QuickstartArgs;
use crate::output::batches_table;

/// The German credit data (UCI Statlog, CC BY 4.0), shipped inside the binary so the
/// quickstart works from any folder.
const GERMAN_CREDIT: &str = include_str!("../../../../examples/german_credit.csv");

pub async fn run(ctx: &Ctx, args: QuickstartArgs) -> Result<()> {
    let out = ctx.out;
    let mut steps = Vec::new();
    let lake = ctx.lake().await?;

    out.note(format!("risklake quickstart in {}\n", ctx.home.display()));
    out.note(format!(
        "[1/16] generating {} synthetic credit applications into default.credit_apps",
        args.rows
    ));
    let gen = GenRequest {
        rows: args.rows,
        features: 24,
        seed: 42,
        output: OutputSpec {
            table: Some("default.credit_apps".into()),
            mode: Some(WriteMode::Overwrite),
            ..Default::default()
        },
    };
    let g = super::gen::generate(ctx, &gen).await?;
    out.note(format!(
        "      {} rows, snapshot {}, {:.2} s (run {})",
        g.rows,
        g.snapshot.unwrap_or(0),
        g.seconds,
        g.run
    ));
    steps.push(json!({ "step": "gen", "table": g.target, "rows": g.rows, "snapshot": g.snapshot, "run": g.run }));

    out.note("[2/16] ingesting the German credit data (CSV) into default.german_credit");
    let examples = ctx.home.join("examples");
    std::fs::create_dir_all(&examples)
        .map_err(|e| risklake_core::Error::io(format!("creating {}", examples.display()), e))?;
    let csv: PathBuf = examples.join("german_credit.csv");
    std::fs::write(&csv, GERMAN_CREDIT)
        .map_err(|e| risklake_core::Error::io(format!("writing {}", csv.display()), e))?;
    let req = risklake_app::ingest::IngestRequest {
        path: Some(csv.display().to_string()),
        table: "default.german_credit".into(),
        options: risklake_lake::ingest::JobOptions {
            mode: Some("overwrite".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let r = risklake_app::ingest::ingest(&ctx.ws, &req, &crate::output::Bars::new(ctx.out))
        .await?
        .report;
    out.note(format!(
        "      {} rows, {} rejected, snapshot {}",
        r.rows_written,
        r.rows_rejected,
        r.snapshot.unwrap_or(0)
    ));
    steps.push(json!({ "step": "ingest", "table": r.table, "rows": r.rows_written, "snapshot": r.snapshot }));

    let q1 = "SELECT month, COUNT(*) AS applications, ROUND(AVG(bad), 4) AS bad_rate, \
              ROUND(AVG(x00_amount), 1) AS avg_amount, \
              ROUND(AVG(CASE WHEN x02_utilization IS NULL THEN 1.0 ELSE 0.0 END), 4) AS utilization_missing \
              FROM credit_apps GROUP BY month ORDER BY month";
    out.note("[3/16] SQL: bad rate and drift by month (default.credit_apps)");
    let q2 = "SELECT purpose, COUNT(*) AS loans, ROUND(AVG(CASE WHEN creditability = 'bad' THEN 1.0 ELSE 0.0 END), 3) AS bad_rate \
              FROM german_credit GROUP BY purpose ORDER BY bad_rate DESC LIMIT 5";
    let req = risklake_app::sql::SqlRequest {
        sql: format!("{q1};\n{q2}"),
        ..Default::default()
    };
    let mut results = risklake_app::sql::run(&ctx.ws, &req, &crate::output::Bars::new(ctx.out))
        .await?
        .results
        .into_iter();
    let (Some(r1), Some(r2)) = (results.next(), results.next()) else {
        return Err(risklake_core::Error::invalid(
            "the quickstart queries returned no result",
        ));
    };
    if !out.json {
        println!("{}", batches_table(&r1.batches)?);
        out.note("[4/16] SQL: riskiest loan purposes (default.german_credit)");
        println!("{}", batches_table(&r2.batches)?);
    }
    steps.push(
        json!({ "step": "sql", "query": q1, "rows": r1.num_rows(), "data": crate::output::batches_json(&r1.batches)? }),
    );
    steps.push(
        json!({ "step": "sql", "query": q2, "rows": r2.num_rows(), "data": crate::output::batches_json(&r2.batches)? }),
    );

    out.note("[5/16] features: optimal monotonic binning of every feature, WoE / IV / KS / AUC (default.credit_apps)");
    // The library's defaults (optimal monotonic binning), only the id and period left out.
    let mut bin_req = risklake_app::features::BinRequest::new("default.credit_apps", "bad");
    bin_req.fine.exclude = vec!["id".into(), "month".into()];
    let binned = risklake_app::features::bin(&ctx.ws, &bin_req, &crate::output::Bars::new(ctx.out)).await?;
    let (bin_run, plan, bin_seconds, plan_path) = (binned.run, binned.plan, binned.seconds, binned.plan_path);
    let mut ranked: Vec<_> = plan.features.iter().collect();
    ranked.sort_by(|a, b| b.metrics.iv.total_cmp(&a.metrics.iv));
    if !out.json {
        let rows = ranked
            .iter()
            .take(8)
            .map(|f| {
                vec![
                    f.name.clone(),
                    f.metrics.bins.to_string(),
                    format!("{:.4}", f.metrics.iv),
                    format!("{:.4}", f.metrics.ks),
                    format!("{:.4}", f.metrics.auc),
                    f.metrics.trend.clone(),
                ]
            })
            .collect();
        println!(
            "{}",
            crate::output::grid(&["feature", "bins", "IV", "KS", "AUC", "trend"], rows)
        );
        out.note(format!(
            "      {} features binned in {:.2} s (run {bin_run}); top 8 by IV shown",
            plan.features.len(),
            bin_seconds
        ));
    }
    steps.push(json!({
        "step": "features.bin", "run": bin_run, "plan": plan_path, "seconds": bin_seconds,
        "features": ranked.iter().map(|f| json!({"feature": f.name, "iv": f.metrics.iv, "ks": f.metrics.ks, "bins": f.metrics.bins})).collect::<Vec<_>>(),
    }));

    out.note("[6/16] features: WoE transform into default.credit_apps_woe, and the binning report");
    let transform = risklake_app::features::TransformRequest {
        plan: plan_path.display().to_string(),
        table: "default.credit_apps".into(),
        output: None,
        suffix: None,
        unseen: Default::default(),
        destination: risklake_app::output::OutputSpec {
            table: Some("default.credit_apps_woe".into()),
            mode: Some(risklake_lake::WriteMode::Overwrite),
            ..Default::default()
        },
    };
    let t = risklake_app::features::transform(&ctx.ws, &transform, &crate::output::Bars::new(ctx.out)).await?;
    let report = plan_path.with_file_name("report.html");
    out.note(format!(
        "      {} rows written (run {}); report: {}",
        t.rows,
        t.run,
        report.display()
    ));
    steps.push(
        json!({ "step": "features.transform", "run": t.run, "table": t.target, "rows": t.rows, "report": report }),
    );

    out.note("[7/16] train: gradient-boosted trees on default.credit_apps, 20% held out for validation");
    // The credit table, a fifth held out, id and period left out: every model below.
    let data = TrainData {
        table: "default.credit_apps".into(),
        label: "bad".into(),
        valid_fraction: Some(0.2),
        exclude: vec!["id".into(), "month".into()],
        ..Default::default()
    };
    let tr = super::train::train_gbdt_recorded(
        ctx,
        &TrainRequest {
            data: data.clone(),
            params: param_map(
                &[
                    "num_iterations=100".into(),
                    "learning_rate=0.1".into(),
                    "num_leaves=31".into(),
                ],
                &[],
            )?,
            out: None,
        },
    )
    .await?;
    out.note(format!(
        "      {} trees on {} rows, validation AUC {:.4} ({} rows), {:.2} s (run {}); model: {}",
        tr.trees,
        tr.rows,
        tr.valid_metric.unwrap_or(f64::NAN),
        tr.valid_rows,
        tr.seconds,
        tr.run,
        tr.model_path.display()
    ));
    steps.push(json!({
        "step": "train.gbdt", "run": tr.run, "model": tr.model_path, "rows": tr.rows,
        "valid_rows": tr.valid_rows, "trees": tr.trees, "valid_auc": tr.valid_metric,
    }));

    out.note("[8/16] train: logistic regression on the plan's WoE values, stepwise by AIC (statistics as statsmodels)");
    let lr = super::train::train_lr_recorded(
        ctx,
        &TrainLrRequest {
            // The plan names the features; the id and period are not in it.
            data: TrainData {
                exclude: vec![],
                ..data.clone()
            },
            plan: Some(plan_path.display().to_string()),
            stepwise: Some(Stepwise::default()),
            ..Default::default()
        },
    )
    .await?;
    let (lr_run, lr_model) = (lr.run, &lr.model);
    if !out.json {
        println!("{}", lr_model.summary_text());
    }
    out.note(format!(
        "      {} of {} features kept, validation AUC {:.4} (run {lr_run})",
        lr_model.coefficients.len() - 1,
        plan.features.len(),
        lr.valid_auc().unwrap_or(f64::NAN)
    ));
    steps.push(json!({
        "step": "train.lr", "run": lr_run, "features": lr_model.coefficients.len() - 1,
        "aic": lr_model.summary.aic, "valid_auc": lr.valid_auc(),
    }));

    out.note("[9/16] scorecard: 600 points at 50:1 good:bad odds, 20 points to double them; gains table by score band");
    let card_run = super::models::build(
        ctx,
        &ScorecardBuildRequest {
            model: lr_run.to_string(),
            plan: None,
            scaling: Scaling::default(),
            out: None,
        },
        false,
    )?;
    let ev = super::models::evaluate_recorded(
        ctx,
        &EvaluateRequest {
            scorecard: card_run.to_string(),
            table: "default.credit_apps".into(),
            label: "bad".into(),
            psi_by: Some("month".into()),
            ..Default::default()
        },
        !out.json,
    )
    .await?;
    steps.push(json!({ "step": "scorecard", "run": card_run, "auc": ev.auc, "ks": ev.ks }));

    out.note("[10/16] tune: 12 GBDT trials, TPE with a median pruner, in an Optuna journal study (optuna and optuna-dashboard open it)");
    let tuned = super::tune::tune_recorded(
        ctx,
        &TuneRequest {
            model: ModelKind::Gbdt,
            data: data.clone(),
            trials: 12,
            params: param_map(&["num_iterations=60".into()], &[])?,
            sampler: "tpe".into(),
            pruner: "median".into(),
            study: Some("quickstart-gbdt".into()),
            seed: 42,
            ..Default::default()
        },
    )
    .await?;
    if !out.json {
        super::tune::print(ctx, &tuned);
    }
    let best = tuned.best.as_ref();
    // Which parameters mattered, by fANOVA over the completed trials (as Optuna's default).
    let importance = risklake_app::studies::importance(&ctx.ws, &tuned.study, &Default::default());
    if !out.json {
        match &importance {
            Ok(imp) => println!(
                "parameter importance (fANOVA over {} completed trials): {}",
                imp.trials,
                imp.params
                    .iter()
                    .map(|p| format!("{} {:.2}", p.param, p.importance))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => println!("parameter importance: none ({e})"),
        }
    }
    steps.push(json!({
        "step": "tune", "run": tuned.run, "study": tuned.study, "storage": tuned.location,
        "trials": tuned.trials.len(), "best_value": best.and_then(|b| b.value()), "best_trial": best.map(|b| b.number),
        "importance": importance.as_ref().ok().map(|i| &i.params),
    }));

    out.note("[11/16] registry: the GBDT as pd_gbdt@champion, the scorecard as pd_card@champion");
    let registered_gbdt = risklake_app::registry::register(
        &ctx.ws,
        &risklake_app::registry::RegisterRequest {
            run: tr.run,
            name: "pd_gbdt".into(),
            aliases: vec!["champion".into()],
            tags: [("stage".to_string(), "quickstart".to_string())].into(),
            description: Some("quickstart GBDT on default.credit_apps".into()),
            artifact: None,
        },
    )?;
    let registered_card = risklake_app::registry::register(
        &ctx.ws,
        &risklake_app::registry::RegisterRequest {
            run: card_run,
            name: "pd_card".into(),
            aliases: vec!["champion".into()],
            ..Default::default()
        },
    )?;
    out.note(format!(
        "      pd_gbdt/{} <- run {}, pd_card/{} <- run {}; both take the alias champion",
        registered_gbdt.version, tr.run, registered_card.version, card_run
    ));
    steps.push(json!({ "step": "registry", "models": [&registered_gbdt, &registered_card] }));

    out.note("[12/16] reason codes: the 3 features that raised each applicant's risk most (TreeSHAP), into default.credit_apps_reasons");
    let bars = crate::output::Bars::new(out);
    let reasons = risklake_app::predict::predict(
        &ctx.ws,
        &risklake_app::predict::PredictRequest {
            model: "pd_gbdt@champion".into(),
            table: "default.credit_apps".into(),
            output: risklake_app::predict::PredictOutput::Reasons,
            top: 3,
            destination: risklake_app::output::OutputSpec {
                table: Some("default.credit_apps_reasons".into()),
                mode: Some(risklake_lake::WriteMode::Overwrite),
                ..Default::default()
            },
        },
        &bars,
    )
    .await?;
    let sample = lake
        .sql()
        .await?
        .query(
            "SELECT id, ROUND(prediction, 4) AS p_bad, reason_1, reason_1_value, reason_2, reason_3 \
             FROM default.credit_apps_reasons ORDER BY prediction DESC LIMIT 3",
        )
        .await?;
    if !out.json {
        println!("{}", batches_table(&sample.batches)?);
    }
    steps.push(json!({ "step": "reasons", "run": reasons.run, "table": reasons.target, "rows": reasons.rows }));

    out.note("[13/16] model report: pd_gbdt@champion on all of default.credit_apps, PSI of the score by month");
    let report = risklake_app::report::model_report(
        &ctx.ws,
        &risklake_app::report::ModelReportRequest {
            model: "pd_gbdt@champion".into(),
            table: "default.credit_apps".into(),
            label: "bad".into(),
            psi_by: Some("month".into()),
            ..Default::default()
        },
        &bars,
    )
    .await?;
    out.note(format!(
        "      AUC {:.4}, KS {:.4} (in-sample: 80% of these rows trained the model; its held-out figures are in run {}'s report.html), largest monthly PSI {:.4}; report: {}",
        report.auc,
        report.ks,
        tr.run,
        report.max_psi.unwrap_or(f64::NAN),
        report.path.display()
    ));
    steps.push(json!({ "step": "model.report", "run": report.run, "auc": report.auc, "report": report.path }));

    out.note("[14/16] lineage of the scorecard back to the data, and the GBDT replayed on the snapshot it read");
    let lineage = risklake_app::lineage::lineage(&ctx.ws, card_run)?;
    if !out.json {
        print!("{}", super::runs::lineage_tree(&lineage));
    }
    let replay = risklake_app::lineage::reproduce(&ctx.ws, tr.run, &bars).await?;
    out.note(format!(
        "      run {} replayed run {} on {}: {}",
        replay.replay,
        replay.original,
        replay
            .snapshots
            .iter()
            .map(|(t, s)| format!("{t}@{s}"))
            .collect::<Vec<_>>()
            .join(", "),
        if replay.identical {
            "identical, model byte for byte"
        } else {
            "NOT identical"
        }
    ));
    steps.push(
        json!({ "step": "reproduce", "run": replay.replay, "of": replay.original, "identical": replay.identical }),
    );

    out.note("[15/16] lake upkeep: compaction, snapshot expiry and orphan files, with the defaults");
    let upkeep = risklake_app::maintain::run(&ctx.ws, &Default::default(), &bars).await?;
    let kept: usize = upkeep.tables.iter().map(|t| t.snapshots_kept).sum();
    let freed: u64 = upkeep.tables.iter().map(|t| t.bytes_freed).sum();
    out.note(format!(
        "      {} tables, {kept} snapshots kept (the newest 10 and any younger than 1 h, and tagged ones), \
         {:.1} MB freed; run it from a scheduler",
        upkeep.tables.len(),
        freed as f64 / 1e6
    ));
    steps.push(json!({ "step": "maintain", "run": upkeep.run, "tables": upkeep.tables }));

    out.note("[16/16] serve: the same home over HTTP on a free loopback port: a job submitted, applicants scored by pd_gbdt@champion");
    steps.push(serve_step(ctx).await?);

    let warehouse = lake.warehouse().to_path_buf();
    let store = ctx.home.join("store.db");
    out.emit(
        json!({ "home": ctx.home, "warehouse": warehouse, "store": store, "steps": steps }),
        || {
            format!(
                "\nwhere things are\n  home:      {}\n  warehouse: {} (Apache Paimon tables; Spark, Flink and pypaimon read them)\n  store:     {} (runs, params, metrics)\n\n\
                 try next\n  risklake --home {h} tables\n  risklake --home {h} describe credit_apps\n  \
                 risklake --home {h} sql \"SELECT x06_grade, AVG(bad) FROM credit_apps GROUP BY 1 ORDER BY 1\"\n  risklake --home {h} sql   (interactive shell)\n  \
                 risklake --home {h} features evaluate --table credit_apps --label bad --exclude id,month --psi-by month\n  \
                 risklake --home {h} train gbdt --table credit_apps --label bad --exclude id,month --valid-fraction 0.2 --param num_leaves=15\n  \
                 risklake --home {h} predict --model {run} --table credit_apps --out-table explained --output shap   (exact SHAP per feature)\n  \
                 risklake --home {h} model export --model {run} --format lightgbm --out model.txt   (loads in the lightgbm package)\n  \
                 risklake --home {h} score --scorecard {card} --table credit_apps --out-table scores --points\n  \
                 risklake --home {h} scorecard export --scorecard {card} --format sql --sql-table credit_apps --out card.sql\n  \
                 risklake --home {h} train rf --table credit_apps --label bad --exclude id,month --param n_estimators=100\n  \
                 risklake --home {h} tune --model gbdt --table credit_apps --label bad --exclude id,month --trials 50 --pruner median --jobs 2\n  \
                 risklake --home {h} studies importance quickstart-gbdt   (which parameters mattered: fANOVA)\n  \
                 python -c \"import optuna; s = optuna.load_study(study_name='quickstart-gbdt', storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend('{journal}'))); print(s.best_params)\"\n  \
                 risklake --home {h} model list pd_gbdt   (versions, aliases, history)\n  \
                 risklake --home {h} model report --model pd_card@champion --table credit_apps --label bad --psi-by month --out card.html\n  \
                 risklake --home {h} runs compare {run} {replay}\n  \
                 risklake --home {h} maintain --dry-run   (compaction, snapshot expiry, orphan files)\n  \
                 risklake --home {h} runs list\n  \
                 risklake --home {h} serve --auth none   (dashboard at http://127.0.0.1:8420/, JSON API, jobs, scoring, MLflow tracking)",
                ctx.home.display(),
                warehouse.display(),
                store.display(),
                h = ctx.home.display(),
                run = tr.run,
                card = card_run,
                journal = tuned.location,
                replay = replay.replay,
            )
        },
    );
    Ok(())
}

/// Starts the server on this home (loopback, a free port, no tokens: it lives only for
/// this step), submits a SQL job through the API, scores three applicants with the
/// registered champion, and stops the server.
async fn serve_step(ctx: &Ctx) -> Result<serde_json::Value> {
    use risklake_core::Error;
    let mut config = risklake_server::ServeConfig::new(ctx.ws.home());
    config.store = ctx.store.clone();
    config.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.workers = 1;
    config.auth = risklake_server::Auth::None;
    let server = risklake_server::Server::start(config).await?;
    let url = format!("http://{}", server.addr());
    let client = risklake_server::client::Client::new(&url)?;
    let work = tokio::task::spawn_blocking(move || -> Result<serde_json::Value> {
        // The same answer checking as `risklake submit` / `jobs`.
        let call = |method: &str, path: &str, body: Option<serde_json::Value>| {
            super::submit::call(&client, method, path, body.as_ref())
        };
        let job = call(
            "POST",
            "/api/v1/jobs",
            Some(json!({"kind": "sql", "request": {"sql": "SELECT COUNT(*) AS applications FROM credit_apps"}})),
        )?;
        let id = job["id"].as_i64().unwrap_or_default();
        let started = std::time::Instant::now();
        let job = loop {
            let j = call("GET", &format!("/api/v1/jobs/{id}"), None)?;
            if matches!(j["status"].as_str(), Some("succeeded" | "failed" | "cancelled")) {
                break j;
            }
            if started.elapsed() > std::time::Duration::from_secs(120) {
                return Err(Error::external("the quickstart's job", "did not end within 2 minutes"));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let rows = call(
            "POST",
            "/api/v1/sql",
            Some(json!({"sql": "SELECT * FROM credit_apps ORDER BY id LIMIT 3"})),
        )?;
        let scored = call(
            "POST",
            "/api/v1/models/pd_gbdt@champion/predict",
            Some(json!({"rows": rows["results"][0]["data"]})),
        )?;
        // The dashboard is served from the same port.
        let (status, page) = client.request("GET", "/ui/", None)?;
        if status != 200 || !page.contains("/ui/app.js") {
            return Err(Error::external(
                "the quickstart's dashboard check",
                format!("GET /ui/ answered {status}"),
            ));
        }
        Ok(json!({"job": job, "scored": scored}))
    })
    .await
    .map_err(|e| Error::external("the quickstart's server step", e));
    server.shutdown().await;
    let done = work??;
    let probabilities: Vec<f64> = done["scored"]["predictions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["probability"].as_f64())
        .collect();
    ctx.out.note(format!(
        "      {url}: job {} ({}, run {}), three applicants scored by pd_gbdt/{}: {}; the dashboard answered at {url}/; \
         `risklake serve` keeps it running",
        done["job"]["id"],
        done["job"]["status"].as_str().unwrap_or_default(),
        done["job"]["runs"][0],
        done["scored"]["version"],
        probabilities.iter().map(|p| format!("{p:.3}")).collect::<Vec<_>>().join(", ")
    ));
    Ok(json!({
        "step": "serve", "url": url, "dashboard": format!("{url}/ui/"), "job": done["job"]["id"], "job_status": done["job"]["status"],
        "job_runs": done["job"]["runs"], "model_version": done["scored"]["version"], "probabilities": probabilities,
    }))
}
