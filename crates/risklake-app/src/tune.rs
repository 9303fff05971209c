//! Tuning: a hyper-parameter search for gbdt, rf or lr in an Optuna-compatible study.
//! Every trial is a run of its own (`tune.trial`); the tuning run keeps the trials'
//! table and the best trial's model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use serde_json::json;

use risklake_core::metrics::auc;
use risklake_core::{Error, Result};
use risklake_learn::{Dataset, DatasetOptions, Design, DesignBuilder, LrParams};
use risklake_track::{RunId, RunStatus};
use risklake_tune::pruners::{HyperbandPruner, NopPruner, PercentilePruner, Pruner, SuccessiveHalvingPruner};
use risklake_tune::samplers::{GridSampler, RandomSampler, Sampler, TpeSampler};
use risklake_tune::{Choice, Direction, Distribution, FrozenTrial, SearchSpace, Storage, Study, Trial, TrialError};

use crate::learner::{fit_trees, tree_params, ModelKind, TreeParams};
use crate::progress::{check, Progress, Unit};
use crate::studies::STUDY_SUBJECT;
use crate::train::{labels_of, param_texts, read_binned, read_split, TrainData};
use crate::{artifacts, Workspace};

/// The trials' table (CSV: number, state, value, one column per parameter).
pub const TRIALS_CSV: &str = "trials.csv";

/// Tune a model's hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TuneRequest {
    pub model: ModelKind,
    #[serde(flatten)]
    pub data: TrainData,
    /// gbdt, rf: score each trial by the mean AUC of K-fold cross-validation instead of a
    /// hold-out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folds: Option<usize>,
    /// lr: fit on this binning plan's WoE values (file or run id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Trials to run.
    pub trials: usize,
    /// The search space as TOML (see [`SearchSpace::from_toml`]); default: one per model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
    /// Fixed parameters (model and dataset), by LightGBM's / scikit-learn's names.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
    /// `tpe`, `tpe-optuna`, `random` or `grid`.
    pub sampler: String,
    /// The grid sampler's values per parameter (as text: numbers or choices).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub grid: BTreeMap<String, Vec<String>>,
    /// `none`, `median`, `successive_halving` or `hyperband`.
    pub pruner: String,
    /// The study (default: `<model>-<db.table or file stem>-<label>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub study: Option<String>,
    /// `journal:PATH`, `sqlite:PATH` or `memory` (default: a journal under the home's
    /// `studies/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Trials run at once (threads sharing the study).
    pub jobs: usize,
    /// Start no trial after this many seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    pub seed: u64,
    /// Continue a study that recorded another model, table, label or space.
    pub reuse_study: bool,
}

impl Default for TuneRequest {
    fn default() -> Self {
        TuneRequest {
            model: ModelKind::Gbdt,
            data: TrainData::default(),
            folds: None,
            plan: None,
            trials: 20,
            space: None,
            params: BTreeMap::new(),
            sampler: "tpe".into(),
            grid: BTreeMap::new(),
            pruner: "none".into(),
            study: None,
            storage: None,
            jobs: 1,
            timeout: None,
            seed: 0,
            reuse_study: false,
        }
    }
}

impl TuneRequest {
    /// The study's name: the request's, or `<model>-<table>-<label>`, so tuning another
    /// table of the same database starts a study of its own.
    /// A table name without a database is in `database` (the project's).
    pub fn study_name(&self, database: &str) -> Result<String> {
        if let Some(s) = &self.study {
            return Ok(s.clone());
        }
        let table = match risklake_lake::TableRef::parse_in(&self.data.table, database)? {
            risklake_lake::TableRef::Lake(name) => name.to_string(),
            risklake_lake::TableRef::File(path) => path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "table".into()),
        };
        Ok(format!("{}-{table}-{}", self.model, self.data.label))
    }

    /// The table as a study records it: `db.table`, or the file's absolute path.
    fn table_id(&self, database: &str) -> Result<String> {
        Ok(match risklake_lake::TableRef::parse_in(&self.data.table, database)? {
            risklake_lake::TableRef::Lake(name) => name.to_string(),
            risklake_lake::TableRef::File(path) => std::path::absolute(&path).unwrap_or(path).display().to_string(),
        })
    }

    /// The search space: the request's TOML or the model's default.
    pub fn search_space(&self) -> Result<SearchSpace> {
        let space = match &self.space {
            Some(text) => SearchSpace::from_toml(text).map_err(|e| Error::param("space", e))?,
            None => default_space(self.model),
        };
        space.validate().map_err(|e| Error::param("space", e))?;
        Ok(space)
    }

    /// The validation share: the request's, none with folds, 0.2 when nothing validates.
    fn valid_fraction(&self) -> Option<f64> {
        match (&self.data.valid_table, self.data.valid_fraction, self.folds) {
            (_, _, Some(_)) => None,
            (None, None, None) => Some(0.2),
            (_, f, _) => f,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.trials == 0 {
            return Err(Error::param("trials", "must be at least 1"));
        }
        if self.jobs == 0 {
            return Err(Error::param("jobs", "must be at least 1"));
        }
        if let Some(t) = self.timeout {
            if !(t > 0.0) {
                return Err(Error::param(
                    "timeout",
                    format!("must be a positive number of seconds, got {t}"),
                ));
            }
        }
        if let Some(k) = self.folds {
            if k < 2 {
                return Err(Error::param("folds", format!("must be at least 2, got {k}")));
            }
            if self.model == ModelKind::Lr {
                return Err(Error::param(
                    "folds",
                    "is for gbdt and rf; give lr a valid_table or valid_fraction",
                ));
            }
            if self.data.valid_table.is_some() || self.data.valid_fraction.is_some() {
                return Err(Error::param(
                    "folds",
                    "cross-validation holds out its own rows: give folds or a validation set, not both",
                ));
            }
        }
        if self.plan.is_some() && self.model != ModelKind::Lr {
            return Err(Error::param("plan", "is for lr (trees bin the raw columns themselves)"));
        }
        Ok(())
    }
}

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
pub fn default_space(model: ModelKind) -> SearchSpace {
    match model {
        ModelKind::Gbdt => SearchSpace::new(vec![
            ("learning_rate", float(0.01, 0.3, true)),
            ("num_leaves", int(8, 256, true)),
            ("min_data_in_leaf", int(5, 500, true)),
            ("feature_fraction", float(0.5, 1.0, false)),
            ("bagging_fraction", float(0.5, 1.0, false)),
            ("lambda_l2", float(1e-3, 10.0, true)),
        ]),
        ModelKind::Rf => SearchSpace::new(vec![
            ("max_depth", int(4, 16, false)),
            ("min_samples_leaf", int(1, 200, true)),
            ("max_features", float(0.05, 0.6, false)),
        ]),
        ModelKind::Lr => SearchSpace::new(vec![
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

/// The storage `spec` names; the default is a journal file per study under the home.
pub fn open_storage(ws: &Workspace, spec: Option<&str>, study: &str) -> Result<Storage> {
    match spec {
        Some(s) => storage_of(s),
        None => {
            let path = crate::studies::journal_path(ws, study);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            }
            Storage::journal(&path)
        }
    }
}

/// The storage a spec names: `journal:PATH` (Optuna's journal file), `sqlite:PATH` (or
/// Optuna's URL forms `sqlite:///relative` and `sqlite:////absolute`) or `memory`.
pub fn storage_of(spec: &str) -> Result<Storage> {
    match spec {
        "memory" => Ok(Storage::in_memory()),
        s if s.starts_with("journal:") => Storage::journal(Path::new(&s["journal:".len()..])),
        s if s.starts_with("sqlite:") => {
            let rest = &s["sqlite:".len()..];
            let path = rest.strip_prefix("///").unwrap_or(rest);
            Storage::sqlite(Path::new(path))
        }
        other => Err(Error::param(
            "storage",
            format!("unknown storage '{other}' (journal:PATH, sqlite:PATH or memory)"),
        )),
    }
}

fn grid_of(space: &SearchSpace, grid: &BTreeMap<String, Vec<String>>) -> Result<GridSampler> {
    let mut out = Vec::new();
    for (name, values) in grid {
        let dist = space
            .params
            .iter()
            .find(|p| &p.0 == name)
            .map(|p| &p.1)
            .ok_or_else(|| Error::param("grid", format!("names '{name}', which is not in the search space")))?;
        let internal = values
            .iter()
            .map(|v| {
                let v = v.trim();
                let x = match dist {
                    Distribution::Categorical { choices } => {
                        choices.iter().position(|c| c.to_string() == v).map(|i| i as f64)
                    }
                    _ => v.parse::<f64>().ok(),
                };
                x.filter(|x| dist.contains(*x)).ok_or_else(|| {
                    Error::param(
                        "grid",
                        format!("value '{v}' of '{name}' is not in its distribution {dist:?}"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.push((name.clone(), internal));
    }
    if out.is_empty() {
        return Err(Error::param(
            "grid",
            "the grid sampler needs values for the parameters to try (NAME=V1,V2)",
        ));
    }
    Ok(GridSampler { grid: out })
}

fn sampler_of(req: &TuneRequest, space: &SearchSpace) -> Result<Box<dyn Sampler>> {
    match req.sampler.as_str() {
        "grid" => Ok(Box::new(grid_of(space, &req.grid)?)),
        name => sampler(name, req.seed, req.jobs > 1),
    }
}

/// A sampler by name (`tpe`, `tpe-optuna` or `random`; the grid sampler needs a search
/// space, see [`TuneRequest`]), seeded; `parallel` when several workers share the study
/// (TPE's constant liar).
pub fn sampler(name: &str, seed: u64, parallel: bool) -> Result<Box<dyn Sampler>> {
    Ok(match name {
        "random" => Box::new(RandomSampler { seed }),
        "tpe-optuna" => Box::new(TpeSampler {
            seed,
            constant_liar: parallel,
            ..TpeSampler::optuna()
        }),
        "tpe" => Box::new(TpeSampler {
            seed,
            constant_liar: parallel,
            ..Default::default()
        }),
        other => {
            return Err(Error::param(
                "sampler",
                format!("unknown sampler '{other}' (tpe, tpe-optuna, random or grid)"),
            ))
        }
    })
}

/// A pruner by name: `none`, `median`, `successive_halving` or `hyperband`.
pub fn pruner_of(name: &str) -> Result<Box<dyn Pruner>> {
    Ok(match name {
        "none" => Box::new(NopPruner),
        "median" => Box::new(PercentilePruner::median()),
        "successive_halving" => Box::new(SuccessiveHalvingPruner::default()),
        "hyperband" => Box::new(HyperbandPruner::default()),
        other => {
            return Err(Error::param(
                "pruner",
                format!("unknown pruner '{other}' (none, median, successive_halving or hyperband)"),
            ))
        }
    })
}

/// What a study tunes, as recorded with it.
fn subject_of(ws: &Workspace, req: &TuneRequest, space: &SearchSpace) -> Result<serde_json::Value> {
    Ok(json!({
        "model": req.model.as_str(),
        "table": req.table_id(ws.database())?,
        "label": req.data.label,
        "space": space.params.iter().map(|(n, d)| format!("{n}: {d:?}")).collect::<Vec<_>>(),
    }))
}

/// Records what the study tunes, or refuses to continue a study of something else.
fn check_subject(study: &Study, subject: &serde_json::Value, reuse: bool) -> Result<()> {
    let record = study.storage.study(study.id)?;
    match record.user_attrs.get(STUDY_SUBJECT) {
        Some(recorded) if recorded == subject || reuse => Ok(()),
        Some(recorded) => {
            let differs: Vec<String> = ["model", "table", "label", "space"]
                .iter()
                .filter(|k| recorded.get(**k) != subject.get(**k))
                .map(|k| {
                    let show = |v: Option<&serde_json::Value>| v.map_or("-".to_string(), |v| v.to_string());
                    format!("{k} {} (now {})", show(recorded.get(*k)), show(subject.get(*k)))
                })
                .collect();
            Err(Error::Conflict(format!(
                "study '{}' in {} was tuning another {}: its sampler would learn from those trials and its best \
                 trial would not be this data's. Name another study, or continue it on purpose (reuse_study)",
                study.name,
                study.storage.location,
                differs.join(", ")
            )))
        }
        // A study made elsewhere (Optuna) or before subjects were recorded: say nothing
        // about its history, record this subject when it is new.
        None if record.trials.is_empty() => study.storage.set_study_user_attr(study.id, STUDY_SUBJECT, subject),
        None => Ok(()),
    }
}

/// What a tuning run produced.
#[derive(Clone, Debug, Serialize)]
pub struct TuneReport {
    pub run: RunId,
    pub study: String,
    /// Where the study is stored.
    pub location: String,
    #[serde(skip)]
    pub space: SearchSpace,
    /// Every trial of the study (earlier runs' too).
    #[serde(skip)]
    pub trials: Vec<Arc<FrozenTrial>>,
    /// The numbers of the trials this run ran.
    pub ran: Vec<usize>,
    #[serde(skip)]
    pub best: Option<FrozenTrial>,
    /// The best trial of this run, stored with the run (none when no trial completed).
    /// A server-side file path: not in the serialized report (fronts reach
    /// artifacts through the store).
    #[serde(skip)]
    pub model_path: Option<PathBuf>,
    pub seconds: f64,
}

impl TuneReport {
    /// The trials this run ran.
    pub fn new_trials(&self) -> Vec<&FrozenTrial> {
        self.trials
            .iter()
            .filter(|t| self.ran.contains(&t.number))
            .map(|t| &**t)
            .collect()
    }
}

/// Data read once for every trial.
enum Data {
    Trees(Dataset, Dataset),
    /// Cross-validation: (train, valid) per fold, and every row for the final model.
    Folds(Vec<(Dataset, Dataset)>, Dataset),
    Lr(Design, risklake_learn::lr::Inputs, Vec<RecordBatch>),
}

/// The best trial of a run: value, model (empty when cross-validated), its chosen
/// parameters and boosting rounds (to fit a cross-validated winner once).
type Best = (f64, String, Vec<(String, String)>, Option<usize>);

/// Runs the search as a recorded run (`tune`), each trial a `tune.trial` run.
/// Cancellation starts no new trial, stops a GBDT trial at its next iteration (the trial
/// is stored as failed in the study) and ends the run cancelled without a model.
pub async fn tune(ws: &Workspace, req: &TuneRequest, progress: &dyn Progress) -> Result<TuneReport> {
    req.validate()?;
    let space = req.search_space()?;
    let fixed = param_texts(&req.params);
    req.model.check_params(&fixed)?;
    let name = req.study_name(ws.database())?;
    let storage = Arc::new(open_storage(ws, req.storage.as_deref(), &name)?);
    let study = Study::create(storage.clone(), &name, Direction::Maximize, true)?
        .with_sampler(sampler_of(req, &space)?)
        .with_pruner(pruner_of(&req.pruner)?);
    check_subject(&study, &subject_of(ws, req, &space)?, req.reuse_study)?;
    let run = ws.start_run("tune")?;
    let result = async {
        run.params([
            ("model", req.model.as_str()),
            ("table", req.data.table.as_str()),
            ("label", req.data.label.as_str()),
            ("study", name.as_str()),
            ("storage", storage.location.as_str()),
            ("sampler", req.sampler.as_str()),
            ("pruner", req.pruner.as_str()),
        ])?;
        run.request(req)?;
        if let Some(p) = &req.plan {
            run.uses("plan", p)?;
        }
        let data = read_data(ws, run.id(), req, &fixed, progress).await?;
        check(progress)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (cores / req.jobs).max(1);
        let best_model: Mutex<Option<Best>> = Mutex::new(None);
        let objective = |trial: &mut Trial| -> std::result::Result<f64, TrialError> {
            let mut chosen: Vec<(String, String)> = Vec::new();
            for (n, d) in &space.params {
                chosen.push((n.clone(), trial.suggest(n, d)?.to_string()));
            }
            let store = ws.store();
            let trial_run = store.start_run(ws.project(), "tune.trial", ws.origin())?;
            store.log_param(trial_run, "study", &name)?;
            store.log_param(trial_run, "trial", &trial.number.to_string())?;
            for (k, v) in fixed.iter().chain(&chosen) {
                store.log_param(trial_run, k, v)?;
            }
            let outcome = objective_for(&data, req, trial, &fixed, &chosen, threads, true, progress);
            let (status, err) = match &outcome {
                Ok((v, _, _)) => {
                    store.log_metric(trial_run, "valid_auc", None, *v)?;
                    (RunStatus::Finished, None)
                }
                Err(TrialError::Pruned) => (RunStatus::Finished, Some("pruned".to_string())),
                Err(TrialError::Failed(m)) if progress.cancelled() => (RunStatus::Cancelled, Some(m.clone())),
                Err(TrialError::Failed(m)) => (RunStatus::Failed, Some(m.clone())),
            };
            store.finish_run(trial_run, status, err.as_deref())?;
            let (value, model, rounds) = outcome?;
            let mut best = best_model.lock().unwrap_or_else(|p| p.into_inner());
            if best.as_ref().is_none_or(|b| value > b.0) {
                *best = Some((value, model, chosen, rounds));
            }
            Ok(value)
        };
        let started = Instant::now();
        let ran: Mutex<Vec<usize>> = Mutex::new(Vec::new());
        progress.stage("trials", Some(req.trials as u64), Unit::Trials);
        let searched = study.optimize_until(
            req.trials,
            req.timeout.map(Duration::from_secs_f64),
            req.jobs,
            &objective,
            &|t: &FrozenTrial| {
                progress.advance(1);
                ran.lock().unwrap_or_else(|p| p.into_inner()).push(t.number);
            },
            &|| progress.cancelled(),
        );
        progress.end_stage();
        searched?;
        check(progress)?;
        let seconds = started.elapsed().as_secs_f64();
        let trials = study.trials()?;
        let best = study.best_trial()?;
        if let Some(b) = &best {
            run.metric("best_value", b.value().unwrap_or(f64::NAN))?;
            run.param("best_trial", b.number)?;
        }
        let ran = ran.into_inner().unwrap_or_else(|p| p.into_inner());
        run.metric("trials", ran.len() as f64)?;
        run.metric("seconds", seconds)?;
        run.artifact(TRIALS_CSV, trials_csv(&space, &trials).as_bytes())?;
        let model_path = match best_model.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some((_, mut m, chosen, rounds)) => {
                if let Data::Folds(_, all) = &data {
                    // The cross-validated winner on every row, once (its GBDT with the
                    // folds' mean early-stopped length).
                    m = final_model(all, req.model, &fixed, &chosen, cores, rounds)
                        .map_err(|e| Error::invalid(format!("fitting the best trial on all rows: {e}")))?;
                }
                Some(PathBuf::from(run.artifact(artifacts::MODEL, m.as_bytes())?.path))
            }
            None => None,
        };
        Ok(TuneReport {
            run: run.id(),
            study: name.clone(),
            location: storage.location.clone(),
            space: space.clone(),
            trials,
            ran,
            best,
            model_path,
            seconds,
        })
    }
    .await;
    run.finish(result)
}

/// Reads the training data once: binned datasets (hold-out or folds) for trees, the
/// design matrix and held-out batches for lr.
async fn read_data(
    ws: &Workspace,
    run: RunId,
    req: &TuneRequest,
    fixed: &[(String, String)],
    progress: &dyn Progress,
) -> Result<Data> {
    let d = &req.data;
    let mut split = d.split();
    split.valid_fraction = req.valid_fraction();
    if req.model == ModelKind::Lr {
        let plan = req
            .plan
            .as_deref()
            .map(|p| crate::features::load_plan(ws, p))
            .transpose()?;
        let mut builder = DesignBuilder::new(
            &d.label,
            d.weight.as_deref(),
            d.bad_value.as_deref(),
            &d.columns,
            &d.exclude,
            plan.as_ref(),
        )?;
        let held = read_split(ws, run, &split, &mut |b| builder.push(b), progress).await?;
        if held.iter().all(|b| b.num_rows() == 0) {
            return Err(Error::invalid(
                "the validation set is empty; trials need held-out rows to score",
            ));
        }
        let inputs = builder.inputs();
        return Ok(Data::Lr(builder.finish()?, inputs, held));
    }
    let mut options = DatasetOptions {
        features: d.columns.clone(),
        exclude: d.exclude.clone(),
        bad_value: d.bad_value.clone(),
        ..Default::default()
    };
    for (k, v) in fixed {
        options.set(k, v)?;
    }
    let (train, valid) = read_binned(ws, run, &split, &d.label, d.weight.as_deref(), options, progress).await?;
    Ok(match req.folds {
        Some(k) => {
            let n = train.rows() as u32;
            let folds = (0..k)
                .map(|f| {
                    let (inside, outside): (Vec<u32>, Vec<u32>) = (0..n).partition(|&r| fold_of(r, k) != f);
                    (train.subset(&inside), train.subset(&outside))
                })
                .collect();
            Data::Folds(folds, train)
        }
        None => {
            let valid = valid
                .ok_or_else(|| Error::invalid("the validation set is empty; trials need held-out rows to score"))?;
            Data::Trees(train, valid)
        }
    })
}

/// The fold of a row: a hash of its number (SplitMix64's finalizer), so folds do not
/// follow the table's order.
fn fold_of(row: u32, k: usize) -> usize {
    (risklake_core::rng::splitmix64(&mut (row as u64)) % k as u64) as usize
}

/// The trials as CSV: number, state, value and one column per parameter.
fn trials_csv(space: &SearchSpace, trials: &[Arc<FrozenTrial>]) -> String {
    let mut csv = String::from("number,state,value");
    for (n, _) in &space.params {
        csv.push(',');
        csv.push_str(n);
    }
    csv.push('\n');
    for t in trials {
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
    csv
}

/// What one trial gives: its validation AUC, its model (JSON; empty for a
/// cross-validated trial, whose model is fitted on all rows only if it wins) and, for a
/// GBDT, the boosting rounds early stopping kept (the folds' mean when cross-validated).
type Outcome = (f64, String, Option<usize>);

/// A trial's tree parameters: the tuning defaults (a GBDT boosts up to 200 rounds,
/// stops early after 30 without gain, bags every round when bagging is tuned), then the
/// fixed parameters, then the trial's.
fn trial_tree_params(
    kind: ModelKind,
    fixed: &[(String, String)],
    chosen: &[(String, String)],
    threads: usize,
    early_stopping: bool,
) -> Result<TreeParams> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if kind == ModelKind::Gbdt {
        pairs.push(("num_iterations".into(), "200".into()));
        if early_stopping {
            pairs.push(("early_stopping_rounds".into(), "30".into()));
        }
        pairs.push(("metric".into(), "auc".into()));
        if chosen.iter().any(|c| c.0 == "bagging_fraction") {
            pairs.push(("bagging_freq".into(), "1".into()));
        }
    }
    pairs.extend(
        fixed
            .iter()
            .chain(chosen)
            .filter(|(k, _)| early_stopping || k != "early_stopping_rounds")
            .cloned(),
    );
    tree_params(kind, &pairs, threads)
}

fn valid_auc(raw: &[f64], labels: &[bool]) -> std::result::Result<f64, TrialError> {
    auc(raw, labels).ok_or_else(|| TrialError::Failed("the validation labels are one class".into()))
}

/// One trial: trains with the fixed and chosen parameters.
#[allow(clippy::too_many_arguments)]
fn objective_for(
    data: &Data,
    req: &TuneRequest,
    trial: &mut Trial,
    fixed: &[(String, String)],
    chosen: &[(String, String)],
    threads: usize,
    report: bool,
    progress: &dyn Progress,
) -> std::result::Result<Outcome, TrialError> {
    match data {
        Data::Folds(folds, _) => {
            let mut aucs = Vec::new();
            let mut rounds = Vec::new();
            for (i, (train, valid)) in folds.iter().enumerate() {
                let (a, _, r) = fit_scored(req.model, train, valid, trial, fixed, chosen, threads, false, progress)?;
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
        Data::Trees(train, valid) => {
            fit_scored(req.model, train, valid, trial, fixed, chosen, threads, report, progress)
        }
        Data::Lr(design, inputs, held) => {
            let mut p = LrParams::default();
            p.num_threads = threads;
            for (k, v) in fixed.iter().chain(chosen) {
                p.set(k, v)?;
            }
            let model = risklake_learn::lr::fit(design, &p, inputs.clone(), &req.data.label)?;
            let mut raw = Vec::new();
            for b in held {
                raw.extend(model.predict_raw(b)?);
            }
            let labels: Vec<bool> = labels_of(held, &req.data.label, req.data.bad_value.as_deref())?
                .into_iter()
                .map(|v| v == 1.0)
                .collect();
            Ok((valid_auc(&raw, &labels)?, model.to_json(), None))
        }
    }
}

/// Fits a tree model on `train` and scores it on `valid`; a GBDT reports its validation
/// AUC to the pruner as it boosts (when `report`) and stops when the caller cancels.
#[allow(clippy::too_many_arguments)]
fn fit_scored(
    kind: ModelKind,
    train: &Dataset,
    valid: &Dataset,
    trial: &Trial,
    fixed: &[(String, String)],
    chosen: &[(String, String)],
    threads: usize,
    report: bool,
    progress: &dyn Progress,
) -> std::result::Result<Outcome, TrialError> {
    let params = trial_tree_params(kind, fixed, chosen, threads, true)?;
    let iterations = match &params {
        TreeParams::Gbdt(p) => p.num_iterations,
        TreeParams::Rf(_) => 1,
    };
    let every = (iterations / 50).max(1);
    let mut pruned = false;
    let mut report_error = None;
    let model = fit_trees(&params, train, Some(valid), &mut |it| {
        if progress.cancelled() {
            return false;
        }
        let Some(m) = it.valid_metric.filter(|_| report) else {
            return true;
        };
        if it.iteration % every != 0 && it.iteration != iterations {
            return true;
        }
        match trial.report(it.iteration as i64, m).and_then(|()| trial.should_prune()) {
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
    if progress.cancelled() {
        return Err(TrialError::Failed("cancelled".into()));
    }
    if let Some(e) = report_error {
        return Err(e.into());
    }
    if pruned {
        return Err(TrialError::Pruned);
    }
    let raw = model.predict_raw_binned(valid);
    let labels: Vec<bool> = valid.label.iter().map(|&y| y == 1.0).collect();
    Ok((valid_auc(&raw, &labels)?, model.to_json(), model.best_iteration))
}

/// A tree model with the trial's parameters on every row (cross-validated trials); a
/// GBDT boosts `rounds` times when the folds stopped early.
fn final_model(
    all: &Dataset,
    kind: ModelKind,
    fixed: &[(String, String)],
    chosen: &[(String, String)],
    threads: usize,
    rounds: Option<usize>,
) -> Result<String> {
    let mut params = trial_tree_params(kind, fixed, chosen, threads, false)?;
    if let (TreeParams::Gbdt(p), Some(r)) = (&mut params, rounds) {
        p.num_iterations = r.max(1);
    }
    Ok(fit_trees(&params, all, None, &mut |_| true)?.to_json())
}
