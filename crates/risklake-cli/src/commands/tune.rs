//! `tune`: hyper-parameter search for gbdt, rf and lr in an Optuna-compatible study; every
//! trial is a run in the project store, the best model is stored with the tuning run.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use serde_json::json;

use risklake_core::metrics::auc;
use risklake_core::{Error, Result};
use risklake_learn::forest::{train_forest, RfParams};
use risklake_learn::gbdt::train_until;
use risklake_learn::{DatasetOptions, DesignBuilder, GbdtParams, LrParams};
use risklake_track::RunStatus;
use risklake_tune::pruners::{NopPruner, PercentilePruner, Pruner};
use risklake_tune::samplers::{GridSampler, RandomSampler, Sampler, TpeSampler};
use risklake_tune::{
    Choice, Direction, Distribution, FrozenTrial, SearchSpace, Storage, Study, Trial, TrialError, TrialState,
};

use super::features::load_plan;
use super::train::{read_binned, read_split, MODEL_ARTIFACT};
use super::Ctx;
use crate::app::{TrainGbdtArgs, TuneArgs};
use crate::output::{grid, kv_table, Unit};

fn float(low: f64, high: f64, log: bool) -> Distribution {
    Distribution::Float {
        low,
        high,
        log,
        step: None,
    }
}

fn int(low: i64, high: i64, log: bool) -> Distribution {
    Distribution::Int {
        low,
        high,
        log,
        step: 1,
    }
}

/// The default search space of each model.
pub fn default_space(model: &str) -> SearchSpace {
    match model {
        "gbdt" => SearchSpace::new(vec![
            ("learning_rate", float(0.01, 0.3, true)),
            ("num_leaves", int(8, 256, true)),
            ("min_data_in_leaf", int(5, 500, true)),
            ("feature_fraction", float(0.5, 1.0, false)),
            ("bagging_fraction", float(0.5, 1.0, false)),
            ("lambda_l2", float(1e-3, 10.0, true)),
        ]),
        "rf" => SearchSpace::new(vec![
            ("max_depth", int(4, 16, false)),
            ("min_samples_leaf", int(1, 200, true)),
            ("max_features", float(0.05, 0.6, false)),
        ]),
        _ => SearchSpace::new(vec![
            (
                "penalty",
                Distribution::Categorical {
                    choices: vec![Choice::Str("l2".into()), Choice::Str("l1".into())],
                },
            ),
            ("C", float(1e-3, 10.0, true)),
        ]),
    }
}

/// Data read once for every trial.
enum Data {
    Trees(risklake_learn::Dataset, risklake_learn::Dataset),
    /// Cross-validation: (train, valid) per fold, and every row for the final model.
    Folds(
        Vec<(risklake_learn::Dataset, risklake_learn::Dataset)>,
        risklake_learn::Dataset,
    ),
    Lr(risklake_learn::Design, risklake_learn::lr::Inputs, Vec<RecordBatch>),
}

fn storage_of(ctx: &Ctx, spec: Option<&str>, study: &str) -> Result<Storage> {
    match spec {
        Some("memory") => Ok(Storage::in_memory()),
        Some(s) if s.starts_with("journal:") => Storage::journal(std::path::Path::new(&s["journal:".len()..])),
        Some(s) if s.starts_with("sqlite:") => {
            // sqlite:PATH, or Optuna's URL forms sqlite:///relative and sqlite:////absolute.
            let rest = &s["sqlite:".len()..];
            let path = rest.strip_prefix("///").unwrap_or(rest);
            Storage::sqlite(std::path::Path::new(path))
        }
        Some(other) => Err(Error::invalid(format!(
            "unknown storage '{other}' (journal:PATH, sqlite:PATH or memory)"
        ))),
        None => {
            let dir = ctx.home.join("studies");
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            let safe: String = study
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            Storage::journal(&dir.join(format!("{safe}.journal")))
        }
    }
}

fn grid_of(space: &SearchSpace, specs: &[String]) -> Result<GridSampler> {
    let mut grid = Vec::new();
    for spec in specs {
        let (name, values) = spec
            .split_once('=')
            .ok_or_else(|| Error::invalid(format!("--grid '{spec}' should be NAME=V1,V2,...")))?;
        let dist = space
            .params
            .iter()
            .find(|p| p.0 == name)
            .map(|p| &p.1)
            .ok_or_else(|| Error::invalid(format!("--grid names '{name}', which is not in the search space")))?;
        let internal = values
            .split(',')
            .map(|v| {
                let v = v.trim();
                let x = match dist {
                    Distribution::Categorical { choices } => {
                        choices.iter().position(|c| c.to_string() == v).map(|i| i as f64)
                    }
                    _ => v.parse::<f64>().ok(),
                };
                x.filter(|x| dist.contains(*x)).ok_or_else(|| {
                    Error::invalid(format!(
                        "--grid value '{v}' of '{name}' is not in its distribution {dist:?}"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        grid.push((name.to_string(), internal));
    }
    if grid.is_empty() {
        return Err(Error::invalid(
            "the grid sampler needs --grid NAME=V1,V2 for the parameters to try",
        ));
    }
    Ok(GridSampler { grid })
}

/// What a tuning run produced.
pub struct TuneReport {
    pub run: risklake_track::RunId,
    pub study: String,
    pub location: String,
    pub space: SearchSpace,
    pub trials: Vec<std::sync::Arc<FrozenTrial>>,
    pub ran: Vec<usize>,
    pub best: Option<FrozenTrial>,
    pub model_path: Option<PathBuf>,
    pub seconds: f64,
}

pub async fn run(ctx: &Ctx, args: &TuneArgs) -> Result<()> {
    let r = tune_recorded(ctx, args).await?;
    print(ctx, &r);
    Ok(())
}

pub async fn tune_recorded(ctx: &Ctx, args: &TuneArgs) -> Result<TuneReport> {
    let space = match &args.space {
        Some(p) => SearchSpace::from_toml(
            &std::fs::read_to_string(p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?,
        )?,
        None => default_space(&args.model),
    };
    space.validate()?;
    let fixed = super::models::key_values(&args.params)?;
    if args.trials == 0 {
        return Err(Error::invalid("--trials must be at least 1"));
    }
    // The default study names the model, the whole table (`db.table`, or a file's stem)
    // and the label, so tuning another table of the same database starts a study of its
    // own instead of continuing this one's history.
    let table_slug = match risklake_lake::TableRef::parse(&args.table)? {
        risklake_lake::TableRef::Lake(name) => name.to_string(),
        risklake_lake::TableRef::File(path) => path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "table".into()),
    };
    let name = args
        .study
        .clone()
        .unwrap_or_else(|| format!("{}-{table_slug}-{}", args.model, args.label));
    let storage = Arc::new(storage_of(ctx, args.storage.as_deref(), &name)?);
    let sampler: Box<dyn Sampler> = match args.sampler.as_str() {
        "random" => Box::new(RandomSampler { seed: args.seed }),
        "grid" => Box::new(grid_of(&space, &args.grid)?),
        "tpe-optuna" => Box::new(TpeSampler {
            seed: args.seed,
            constant_liar: args.jobs > 1,
            ..TpeSampler::optuna()
        }),
        _ => Box::new(TpeSampler {
            seed: args.seed,
            constant_liar: args.jobs > 1,
            ..Default::default()
        }),
    };
    let pruner: Box<dyn Pruner> = match args.pruner.as_str() {
        "median" => Box::new(PercentilePruner::median()),
        "successive_halving" => Box::new(risklake_tune::pruners::SuccessiveHalvingPruner::default()),
        "hyperband" => Box::new(risklake_tune::pruners::HyperbandPruner::default()),
        _ => Box::new(NopPruner),
    };
    let study = Study::create(storage.clone(), &name, Direction::Maximize, true)?
        .with_sampler(sampler)
        .with_pruner(pruner);
    let run = ctx.start("tune")?;
    let result = async {
        ctx.ws.store().log_param(run, "model", &args.model)?;
        ctx.ws.store().log_param(run, "table", &args.table)?;
        ctx.ws.store().log_param(run, "study", &name)?;
        ctx.ws.store().log_param(run, "storage", &storage.location)?;
        ctx.ws.store().log_param(run, "sampler", &args.sampler)?;
        ctx.ws.store().log_param(run, "pruner", &args.pruner)?;
        let valid_fraction = match (&args.valid_table, args.valid_fraction, args.folds) {
            (_, _, Some(_)) => None,
            (None, None, None) => Some(0.2),
            (_, f, _) => f,
        };
        if let Some(k) = args.folds {
            if k < 2 {
                return Err(Error::invalid(format!("--folds must be at least 2, got {k}")));
            }
            if args.model == "lr" {
                return Err(Error::invalid(
                    "--folds is for gbdt and rf; give lr a --valid-table or --valid-fraction",
                ));
            }
        }
        let data = if args.model == "lr" {
            let plan = args.plan.as_deref().map(|p| load_plan(ctx, p)).transpose()?;
            let mut builder = DesignBuilder::new(
                &args.label,
                args.weight.as_deref(),
                args.bad_value.as_deref(),
                &args.columns,
                &args.exclude,
                plan.as_ref(),
            )?;
            let held = read_split(
                ctx,
                run,
                &args.table,
                valid_fraction,
                args.valid_table.as_deref(),
                &mut |b| builder.push(b),
            )
            .await?;
            let inputs = builder.inputs();
            Data::Lr(tokio::task::block_in_place(|| builder.finish())?, inputs, held)
        } else {
            let targs = TrainGbdtArgs {
                table: args.table.clone(),
                label: args.label.clone(),
                bad_value: args.bad_value.clone(),
                weight: args.weight.clone(),
                valid_table: args.valid_table.clone(),
                valid_fraction,
                columns: args.columns.clone(),
                exclude: args.exclude.clone(),
                params: Vec::new(),
                out: None,
            };
            let mut options = DatasetOptions {
                features: args.columns.clone(),
                exclude: args.exclude.clone(),
                bad_value: args.bad_value.clone(),
                ..Default::default()
            };
            for (k, v) in &fixed {
                options.set(k, v)?;
            }
            let (train, valid) = read_binned(ctx, run, &targs, options).await?;
            match args.folds {
                Some(k) => {
                    // Fold of a row: a hash of its number, so folds do not follow the table's order.
                    let fold = |r: u32| {
                        let mut z = (r as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
                        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                        ((z ^ (z >> 31)) % k as u64) as usize
                    };
                    let n = train.rows() as u32;
                    let folds = (0..k)
                        .map(|f| {
                            let (inside, outside): (Vec<u32>, Vec<u32>) = (0..n).partition(|&r| fold(r) != f);
                            (train.subset(&inside), train.subset(&outside))
                        })
                        .collect();
                    Data::Folds(folds, train)
                }
                None => {
                    let valid = valid.ok_or_else(|| {
                        Error::invalid("the validation set is empty; trials need held-out rows to score")
                    })?;
                    Data::Trees(train, valid)
                }
            }
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (cores / args.jobs.max(1)).max(1);
        // The best trial of this run: value, model (empty when cross-validated), its
        // chosen parameters and boosting rounds (to fit the cross-validated winner once).
        type Best = (f64, String, Vec<(String, String)>, Option<usize>);
        let best_model: Mutex<Option<Best>> = Mutex::new(None);
        let bar = ctx.out.bar(Some(args.trials as u64), Unit::Iterations, "trials");
        let objective = |trial: &mut Trial| -> std::result::Result<f64, TrialError> {
            let mut chosen: Vec<(String, String)> = Vec::new();
            for (n, d) in &space.params {
                chosen.push((n.clone(), trial.suggest(n, d)?.to_string()));
            }
            let trial_run = ctx.ws.store().start_run(&ctx.project, "tune.trial", ctx.ws.origin())?;
            ctx.ws.store().log_param(trial_run, "study", &name)?;
            ctx.ws
                .store()
                .log_param(trial_run, "trial", &trial.number.to_string())?;
            for (k, v) in fixed.iter().chain(&chosen) {
                ctx.ws.store().log_param(trial_run, k, v)?;
            }
            let outcome = objective_for(&data, args, trial, &fixed, &chosen, threads, true);
            let (status, err) = match &outcome {
                Ok((v, _, _)) => {
                    ctx.ws.store().log_metric(trial_run, "valid_auc", None, *v)?;
                    (RunStatus::Finished, None)
                }
                Err(TrialError::Pruned) => (RunStatus::Finished, Some("pruned".to_string())),
                Err(TrialError::Failed(m)) => (RunStatus::Failed, Some(m.clone())),
            };
            ctx.ws.store().finish_run(trial_run, status, err.as_deref())?;
            let (value, model, rounds) = outcome?;
            let mut best = best_model.lock().unwrap_or_else(|p| p.into_inner());
            if best.as_ref().is_none_or(|b| value > b.0) {
                *best = Some((value, model, chosen, rounds));
            }
            Ok(value)
        };
        let started = Instant::now();
        let ran: Mutex<Vec<usize>> = Mutex::new(Vec::new());
        tokio::task::block_in_place(|| {
            study.optimize(
                args.trials,
                args.timeout.map(Duration::from_secs_f64),
                args.jobs,
                &objective,
                &|t: &FrozenTrial| {
                    bar.inc(1);
                    ran.lock().unwrap_or_else(|p| p.into_inner()).push(t.number);
                },
            )
        })?;
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        let trials = study.trials()?;
        let best = study.best_trial()?;
        if let Some(b) = &best {
            ctx.ws
                .store()
                .log_metric(run, "best_value", None, b.value().unwrap_or(f64::NAN))?;
            ctx.ws.store().log_param(run, "best_trial", &b.number.to_string())?;
        }
        let ran = ran.into_inner().unwrap_or_else(|p| p.into_inner());
        ctx.ws.store().log_metric(run, "trials", None, ran.len() as f64)?;
        ctx.ws.store().log_metric(run, "seconds", None, seconds)?;
        let mut csv = String::from("number,state,value");
        for (n, _) in &space.params {
            csv.push(',');
            csv.push_str(n);
        }
        csv.push('\n');
        for t in &trials {
            csv.push_str(&format!(
                "{},{},{}",
                t.number,
                t.state.name(),
                t.value().map_or(String::new(), |v| v.to_string())
            ));
            for (n, _) in &space.params {
                csv.push(',');
                csv.push_str(&t.param(n).map_or(String::new(), |(v, d)| d.to_external(v).to_string()));
            }
            csv.push('\n');
        }
        ctx.ws.store().log_artifact_bytes(run, "trials.csv", csv.as_bytes())?;
        let model_path = match best_model.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some((_, mut m, chosen, rounds)) => {
                if let Data::Folds(_, all) = &data {
                    // The cross-validated winner on every row, once (its GBDT with the
                    // folds' mean early-stopped length).
                    m = final_model(all, args, &fixed, &chosen, cores, rounds)
                        .map_err(|e| Error::invalid(format!("fitting the best trial on all rows: {e}")))?;
                }
                Some(PathBuf::from(
                    ctx.ws
                        .store()
                        .log_artifact_bytes(run, MODEL_ARTIFACT, m.as_bytes())?
                        .path,
                ))
            }
            None => None,
        };
        Ok((trials, best, model_path, seconds, ran))
    }
    .await;
    let (trials, best, model_path, seconds, ran) = ctx.finish(run, result)?;
    Ok(TuneReport {
        run,
        study: name,
        location: storage.location.clone(),
        space,
        trials,
        ran,
        best,
        model_path,
        seconds,
    })
}

pub fn print(ctx: &Ctx, r: &TuneReport) {
    let TuneReport {
        run,
        study: name,
        location,
        space,
        trials,
        ran,
        best,
        model_path,
        seconds,
    } = r;
    let (run, seconds) = (*run, *seconds);
    let new: Vec<&FrozenTrial> = trials
        .iter()
        .filter(|t| ran.contains(&t.number))
        .map(|t| &**t)
        .collect();
    let count = |s: TrialState| new.iter().filter(|t| t.state == s).count();
    let param_json = |t: &FrozenTrial| -> serde_json::Map<String, serde_json::Value> {
        t.params
            .iter()
            .map(|(n, v, d)| (n.clone(), d.to_external(*v).to_json()))
            .collect()
    };
    ctx.out.emit(
        json!({
            "run": run, "study": name, "storage": location, "trials": trials.len(), "new_trials": new.len(),
            "complete": count(TrialState::Complete), "pruned": count(TrialState::Pruned), "failed": count(TrialState::Fail),
            "best_value": best.as_ref().and_then(|b| b.value()), "best_trial": best.as_ref().map(|b| b.number),
            "best_params": best.as_ref().map(param_json), "model": model_path, "seconds": seconds,
            "all": trials.iter().map(|t| json!({"number": t.number, "state": t.state.name(), "value": t.value().filter(|v| v.is_finite()),
                "params": param_json(t), "intermediate": t.intermediate_values.len(), "user_attrs": &*t.user_attrs})).collect::<Vec<_>>(),
        }),
        || {
            let mut ranked: Vec<&FrozenTrial> = trials.iter().filter(|t| t.state == TrialState::Complete).map(|t| &**t).collect();
            ranked.sort_by(|a, b| b.value().unwrap_or(f64::NAN).total_cmp(&a.value().unwrap_or(f64::NAN)));
            let mut headers = vec!["trial".to_string(), "valid AUC".to_string()];
            headers.extend(space.params.iter().map(|p| p.0.clone()));
            let rows = ranked
                .iter()
                .take(10)
                .map(|t| {
                    let mut r = vec![t.number.to_string(), format!("{:.5}", t.value().unwrap_or(f64::NAN))];
                    r.extend(space.params.iter().map(|(n, _)| t.param(n).map_or("-".into(), |(v, d)| match d.to_external(v) {
                        risklake_tune::ParamValue::Float(x) => format!("{x:.4}"),
                        other => other.to_string(),
                    })));
                    r
                })
                .collect();
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            format!(
                "{}\n{}",
                grid(&headers, rows),
                kv_table([
                    ("study", format!("{name} ({location})")),
                    (
                        "trials (new: complete / pruned / failed)",
                        format!("{} ({}: {} / {} / {})", trials.len(), new.len(), count(TrialState::Complete), count(TrialState::Pruned), count(TrialState::Fail)),
                    ),
                    ("best", best.as_ref().map_or("-".into(), |b| format!("trial {} valid AUC {:.5}", b.number, b.value().unwrap_or(f64::NAN)))),
                    ("best model", model_path.as_ref().map_or("-".into(), |p| p.display().to_string())),
                    ("time", format!("{seconds:.2} s")),
                    ("run", run.to_string()),
                ])
            )
        },
    );
}

/// What one trial gives: its validation AUC, its model (JSON; empty for a
/// cross-validated trial, whose model is fitted on all rows only if it wins) and, for a
/// GBDT, the boosting rounds early stopping kept (the folds' mean when cross-validated).
type Outcome = (f64, String, Option<usize>);

/// One trial: trains with the fixed and chosen parameters.
#[allow(clippy::too_many_arguments)]
fn objective_for(
    data: &Data,
    args: &TuneArgs,
    trial: &mut Trial,
    fixed: &[(String, String)],
    chosen: &[(String, String)],
    threads: usize,
    report: bool,
) -> std::result::Result<Outcome, TrialError> {
    match data {
        Data::Folds(folds, _) => {
            let mut aucs = Vec::new();
            let mut rounds = Vec::new();
            for (i, (train, valid)) in folds.iter().enumerate() {
                let (a, _, r) = objective_for(
                    &Data::Trees(train.clone(), valid.clone()),
                    args,
                    trial,
                    fixed,
                    chosen,
                    threads,
                    false,
                )?;
                aucs.push(a);
                rounds.extend(r);
                let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
                trial.report(i as i64 + 1, mean)?;
                if i + 1 < folds.len() && trial.should_prune()? {
                    return Err(TrialError::Pruned);
                }
            }
            let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
            trial.set_user_attr("fold_aucs", json!(aucs))?;
            let rounds = (rounds.len() == folds.len())
                .then(|| (rounds.iter().sum::<usize>() as f64 / rounds.len() as f64).round() as usize);
            if let Some(r) = rounds {
                trial.set_user_attr("mean_best_iteration", json!(r))?;
            }
            Ok((mean, String::new(), rounds))
        }
        Data::Trees(train, valid) if args.model == "gbdt" => {
            let mut p = GbdtParams::default();
            p.set("num_iterations", "200")?;
            p.set("early_stopping_rounds", "30")?;
            p.set("metric", "auc")?;
            if chosen.iter().any(|c| c.0 == "bagging_fraction") {
                p.set("bagging_freq", "1")?;
            }
            p.num_threads = threads;
            for (k, v) in fixed.iter().chain(chosen) {
                if !DatasetOptions::default().set(k, v).unwrap_or(false) {
                    p.set(k, v)?;
                }
            }
            let every = (p.num_iterations / 50).max(1);
            let mut pruned = false;
            let mut report_error = None;
            let model = train_until(train, Some(valid), &p, &mut |it| {
                let Some(m) = it.valid_metric.filter(|_| report) else {
                    return true;
                };
                if it.iteration % every != 0 && it.iteration != p.num_iterations {
                    return true;
                }
                let step = it.iteration as i64;
                match trial.report(step, m).and_then(|()| trial.should_prune()) {
                    Ok(true) => {
                        pruned = true;
                        false
                    }
                    Ok(false) => true,
                    Err(e) => {
                        report_error = Some(e);
                        false
                    }
                }
            })?;
            if let Some(e) = report_error {
                return Err(e.into());
            }
            if pruned {
                return Err(TrialError::Pruned);
            }
            let raw = model.predict_raw_binned(valid);
            let labels: Vec<bool> = valid.label.iter().map(|&y| y == 1.0).collect();
            let a =
                auc(&raw, &labels).ok_or_else(|| TrialError::Failed("the validation labels are one class".into()))?;
            Ok((a, model.to_json(), model.best_iteration))
        }
        Data::Trees(train, valid) => {
            let mut p = RfParams::default();
            p.num_threads = threads;
            for (k, v) in fixed.iter().chain(chosen) {
                if !DatasetOptions::default().set(k, v).unwrap_or(false) {
                    p.set(k, v)?;
                }
            }
            let model = train_forest(train, &p, &|| {})?;
            let raw = model.predict_raw_binned(valid);
            let labels: Vec<bool> = valid.label.iter().map(|&y| y == 1.0).collect();
            let a =
                auc(&raw, &labels).ok_or_else(|| TrialError::Failed("the validation labels are one class".into()))?;
            Ok((a, model.to_json(), model.best_iteration))
        }
        Data::Lr(design, inputs, held) => {
            let mut p = LrParams::default();
            p.num_threads = threads;
            for (k, v) in fixed.iter().chain(chosen) {
                p.set(k, v)?;
            }
            let model = risklake_learn::lr::fit(design, &p, inputs.clone(), &args.label)?;
            let mut raw = Vec::new();
            for b in held {
                raw.extend(model.predict_raw(b)?);
            }
            let labels: Vec<bool> = super::models::labels_of(held, &args.label, args.bad_value.as_deref())?
                .into_iter()
                .map(|v| v == 1.0)
                .collect();
            let a = auc(&raw, &labels).ok_or_else(|| TrialError::Failed("the validation rows are one class".into()))?;
            Ok((a, model.to_json(), None))
        }
    }
}

/// A tree model with the trial's parameters on every row (cross-validated trials); a
/// GBDT boosts `rounds` times when the folds stopped early.
fn final_model(
    all: &risklake_learn::Dataset,
    args: &TuneArgs,
    fixed: &[(String, String)],
    chosen: &[(String, String)],
    threads: usize,
    rounds: Option<usize>,
) -> Result<String> {
    if args.model == "gbdt" {
        let mut p = GbdtParams::default();
        p.set("num_iterations", "200")?;
        if chosen.iter().any(|c| c.0 == "bagging_fraction") {
            p.set("bagging_freq", "1")?;
        }
        p.num_threads = threads;
        for (k, v) in fixed.iter().chain(chosen) {
            if !DatasetOptions::default().set(k, v).unwrap_or(false) && k != "early_stopping_rounds" {
                p.set(k, v)?;
            }
        }
        if let Some(r) = rounds {
            p.num_iterations = r.max(1);
        }
        Ok(risklake_learn::train(all, None, &p, &mut |_| {})?.to_json())
    } else {
        let mut p = RfParams::default();
        p.num_threads = threads;
        for (k, v) in fixed.iter().chain(chosen) {
            if !DatasetOptions::default().set(k, v).unwrap_or(false) {
                p.set(k, v)?;
            }
        }
        Ok(train_forest(all, &p, &|| {})?.to_json())
    }
}
