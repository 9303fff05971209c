//! Training workflows: reading a table into a binned dataset (with a hold-out split or a
//! validation table), fitting, and storing the model as a run artifact.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use risklake_core::label::LabelReader;
use risklake_core::{Error, Result};
use risklake_learn::forest::RfParams;
use risklake_learn::gbdt::{IterationInfo, Metric};
use risklake_learn::lr::{self, Criterion, Direction, LrModel};
use risklake_learn::{DatasetBuilder, DatasetOptions, DesignBuilder, GbdtParams, LrParams, Model};
use risklake_track::RunId;

use crate::progress::{check, Progress, Unit};
use crate::{artifacts, scan, Workspace};

/// Which rows train and which validate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Split {
    /// The training table (lake name or file).
    pub table: String,
    /// Hold out this share of `table`'s rows for validation. A row is held out when
    /// [`row_share`] of its position (0-based, in the table's order) is below it: the
    /// same rows on every run and in every tool that applies the formula.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_fraction: Option<f64>,
    /// Validate on every row of this table (as well).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_table: Option<String>,
}

impl Split {
    pub fn validate(&self) -> Result<()> {
        if let Some(f) = self.valid_fraction {
            if !(f > 0.0 && f < 1.0) {
                return Err(Error::param("valid_fraction", format!("must be in (0, 1), got {f}")));
            }
        }
        Ok(())
    }

    /// Whether any rows validate.
    pub fn has_validation(&self) -> bool {
        self.valid_fraction.is_some() || self.valid_table.is_some()
    }
}

/// A row's share of [0, 1) from its position: a SplitMix64 finalizer of the position,
/// top 53 bits as a fraction. The hold-out split (`share < valid_fraction`).
pub fn row_share(row: u64) -> f64 {
    let z = risklake_core::rng::splitmix64(&mut { row });
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Streams the split's table into `push` in the table's order, holding out the rows the
/// split picks and then every row of its validation table; returns the held-out batches.
/// Both tables are recorded as inputs of `run`.
pub async fn read_split(
    ws: &Workspace,
    run: RunId,
    split: &Split,
    push: &mut (dyn FnMut(RecordBatch) -> Result<()> + Send),
    progress: &dyn Progress,
) -> Result<Vec<RecordBatch>> {
    split.validate()?;
    let session = scan::ordered_session(ws.lake().await?).await?;
    let mut held_out: Vec<RecordBatch> = Vec::new();
    let mut stream = scan::open_input(ws, &session, &split.table, None, run).await?;
    progress.stage("reading", None, Unit::Rows);
    let mut row = 0u64;
    let read: Result<()> = async {
        while let Some(b) = stream.next().await {
            check(progress)?;
            let b = b.map_err(|e| Error::external(format!("reading {}", split.table), e))?;
            progress.advance(b.num_rows() as u64);
            match split.valid_fraction {
                Some(f) => {
                    let mask: arrow::array::BooleanArray =
                        (0..b.num_rows()).map(|i| Some(row_share(row + i as u64) < f)).collect();
                    row += b.num_rows() as u64;
                    let err = |e| Error::arrow("splitting rows", e);
                    let valid = filter_record_batch(&b, &mask).map_err(err)?;
                    let keep = arrow::compute::not(&mask).map_err(err)?;
                    let train_part = filter_record_batch(&b, &keep).map_err(err)?;
                    held_out.push(valid);
                    push(train_part)?;
                }
                None => push(b)?,
            }
        }
        Ok(())
    }
    .await;
    progress.end_stage();
    read?;
    if let Some(v) = &split.valid_table {
        let mut s = scan::open_input(ws, &session, v, None, run).await?;
        while let Some(b) = s.next().await {
            held_out.push(b.map_err(|e| Error::external(format!("reading {v}"), e))?);
        }
    }
    Ok(held_out)
}

/// The binned training set of a split and its validation set (binned with the training
/// set's bin mappers), if the split has one with rows.
pub async fn read_binned(
    ws: &Workspace,
    run: RunId,
    split: &Split,
    label: &str,
    weight: Option<&str>,
    options: DatasetOptions,
    progress: &dyn Progress,
) -> Result<(risklake_learn::Dataset, Option<risklake_learn::Dataset>)> {
    let mut builder = DatasetBuilder::new(label.to_string(), weight.map(str::to_string), options)?;
    let held_out = read_split(ws, run, split, &mut |b| builder.push(b), progress).await?;
    let train_set = builder.finish()?;
    let valid = if split.has_validation() {
        let v = train_set.with_mappers(&held_out, label, weight)?;
        (v.rows() > 0).then_some(v)
    } else {
        None
    };
    Ok((train_set, valid))
}

/// Parameters as LightGBM / scikit-learn name them (`num_leaves`, `learning_rate`,
/// `max_bin`, `n_estimators`, ...) as `(name, text)` pairs, in name order.
pub fn param_texts(given: &BTreeMap<String, serde_json::Value>) -> Vec<(String, String)> {
    given
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

impl TrainRequest {
    /// The dataset options of this request with its dataset parameters applied; the other
    /// parameters go to `set` (the model's own), which names an unknown one.
    fn dataset_options(&self, mut set: impl FnMut(&str, &str) -> Result<()>) -> Result<DatasetOptions> {
        let d = &self.data;
        let mut options = DatasetOptions {
            features: d.columns.clone(),
            exclude: d.exclude.clone(),
            bad_value: d.bad_value.clone(),
            ..Default::default()
        };
        for (k, v) in param_texts(&self.params) {
            if !options.set(&k, &v)? {
                set(&k, &v)?;
            }
        }
        d.validate()?;
        Ok(options)
    }

    /// Records the request's table, label, model parameters and dataset options with
    /// `run`, then reads the binned training and validation sets.
    async fn read_recorded(
        &self,
        ws: &Workspace,
        run: &crate::RunScope<'_>,
        params: &impl Serialize,
        options: DatasetOptions,
        progress: &dyn Progress,
    ) -> Result<(risklake_learn::Dataset, Option<risklake_learn::Dataset>)> {
        let d = &self.data;
        run.request(self)?;
        run.param("table", &d.table)?;
        run.param("label", &d.label)?;
        run.param("params", serde_json::to_string(params).unwrap_or_default())?;
        run.param("dataset", serde_json::to_string(&options).unwrap_or_default())?;
        read_binned(
            ws,
            run.id(),
            &d.split(),
            &d.label,
            d.weight.as_deref(),
            options,
            progress,
        )
        .await
    }
}

/// The rows and columns a model trains on: a split, the label and the features.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainData {
    /// The training table (lake name or file).
    pub table: String,
    /// Hold out this share of `table`'s rows for validation (see [`Split`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_fraction: Option<f64>,
    /// Validate on every row of this table (as well).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_table: Option<String>,
    /// The label column (0/1, or text with `bad_value`).
    pub label: String,
    /// The label value that marks a bad row, for text labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bad_value: Option<String>,
    /// A column of sample weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<String>,
    /// Feature columns (default: all but the label, the weight and `exclude`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

impl TrainData {
    /// Which rows train and which validate.
    pub fn split(&self) -> Split {
        Split {
            table: self.table.clone(),
            valid_fraction: self.valid_fraction,
            valid_table: self.valid_table.clone(),
        }
    }

    fn validate(&self) -> Result<()> {
        self.split().validate()?;
        if self.label.trim().is_empty() {
            return Err(Error::param("label", "is required: the column holding the target"));
        }
        Ok(())
    }
}

/// Train a tree model (gradient-boosted trees or a random forest) on a split.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainRequest {
    #[serde(flatten)]
    pub data: TrainData,
    /// Boosting / forest and dataset parameters by LightGBM's (scikit-learn's) names; the
    /// rest keep the library's defaults.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Also write the model (JSON) to this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
}

/// What a training run produced.
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub run: RunId,
    /// Where the store keeps the model.
    /// A server-side file path: not in the serialized report (fronts reach
    /// artifacts through the store).
    #[serde(skip)]
    pub model_path: PathBuf,
    pub rows: usize,
    pub valid_rows: usize,
    pub features: usize,
    pub trees: usize,
    /// The iteration with the best validation metric (the model ends there only when
    /// early stopping cut it: compare with `trees`).
    pub best_iteration: Option<usize>,
    pub train_loss: f64,
    /// The stored model's validation metric.
    pub valid_metric: Option<f64>,
    /// The best iteration's validation metric.
    pub best_valid_metric: Option<f64>,
    /// `valid auc`, `valid ks`, ...
    pub metric_name: &'static str,
    pub seconds: f64,
    /// (feature, splits, gain)
    pub importance: Vec<(String, usize, f64)>,
}

/// Trains a GBDT as a recorded run (`train.gbdt`): the model and its importance are
/// artifacts, the loss and validation metric per iteration metrics. Cancellation stops
/// after the current iteration and stores nothing.
pub async fn train_gbdt(ws: &Workspace, req: &TrainRequest, progress: &dyn Progress) -> Result<TrainReport> {
    let mut params = GbdtParams::default();
    let options = req.dataset_options(|k, v| params.set(k, v))?;
    let run = ws.start_run("train.gbdt")?;
    let result = async {
        let id = run.id();
        run.param("max_bin", options.max_bin)?;
        let (train_set, valid) = req.read_recorded(ws, &run, &params, options, progress).await?;
        let metric_name = match params.metric() {
            Metric::Auc => "valid auc",
            Metric::Ks => "valid ks",
            Metric::BinaryLogloss => "valid binary_logloss",
            Metric::Rmse => "valid rmse",
        };
        let metric_key = metric_name.replace(' ', "_");
        let started = Instant::now();
        let (model, history) = boost(&train_set, valid.as_ref(), &params, Some(&run), &metric_key, progress)?;
        check(progress)?;
        let seconds = started.elapsed().as_secs_f64();
        let artifact = run.artifact(artifacts::MODEL, model.to_json().as_bytes())?;
        let importance = model.importance();
        run.artifact(artifacts::IMPORTANCE_CSV, importance_csv(&importance).as_bytes())?;
        if let Some(out) = &req.out {
            std::fs::write(out, model.to_json()).map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
        }
        // Report the stored model's figures: the iteration its last tree comes from (the
        // best one when early stopping cut the model there, the last one otherwise). The
        // best iteration's metric is reported beside it, not in its place.
        let last = &history[model.trees.len().clamp(1, history.len()) - 1];
        let valid_metric = last.valid_metric;
        let best_valid_metric = model
            .best_iteration
            .and_then(|b| history.get(b.checked_sub(1)?))
            .and_then(|h| h.valid_metric);
        run.metric("train_seconds", seconds)?;
        if let Some(m) = valid_metric {
            run.metric(&metric_key, m)?;
        }
        if let Some(m) = best_valid_metric {
            run.metric(&format!("best_{metric_key}"), m)?;
        }
        if let (Some(v), risklake_learn::Objective::Binary) = (&valid, params.objective) {
            let p = model
                .predict_raw_binned(v)
                .into_iter()
                .map(|x| 1.0 / (1.0 + (-x).exp()))
                .collect();
            crate::report::validation_report(
                &run,
                &Model::Trees(model.clone()),
                "validation rows",
                p,
                v.label.clone(),
            )?;
        }
        Ok(TrainReport {
            run: id,
            model_path: PathBuf::from(artifact.path),
            rows: train_set.rows(),
            valid_rows: valid.as_ref().map_or(0, |v| v.rows()),
            features: train_set.num_features(),
            trees: model.trees.len(),
            best_iteration: model.best_iteration,
            train_loss: last.train_loss,
            valid_metric,
            best_valid_metric,
            metric_name,
            seconds,
            importance,
        })
    }
    .await;
    run.finish(result)
}

/// Boosts trees on `train_set` (validating on `valid`), each iteration advancing
/// `progress` and, with a run, recorded as `train_loss` and `metric_key` at its step;
/// stops after the iteration in which the caller cancels. The model and every
/// iteration's figures.
pub(crate) fn boost(
    train_set: &risklake_learn::Dataset,
    valid: Option<&risklake_learn::Dataset>,
    params: &GbdtParams,
    run: Option<&crate::RunScope<'_>>,
    metric_key: &str,
    progress: &dyn Progress,
) -> Result<(risklake_learn::GbdtModel, Vec<IterationInfo>)> {
    progress.stage("training", Some(params.num_iterations as u64), Unit::Iterations);
    let mut history: Vec<IterationInfo> = Vec::new();
    let mut record_error = None;
    let trained = risklake_learn::gbdt::train_until(train_set, valid, params, &mut |it| {
        progress.advance(1);
        if let Some(run) = run {
            let step = it.iteration as i64;
            let log = || -> Result<()> {
                run.metric_at("train_loss", step, it.train_loss)?;
                if let Some(m) = it.valid_metric {
                    run.metric_at(metric_key, step, m)?;
                }
                Ok(())
            };
            if let Err(e) = log() {
                record_error.get_or_insert(e);
            }
        }
        history.push(it.clone());
        !progress.cancelled() && record_error.is_none()
    });
    progress.end_stage();
    let model = trained?;
    if let Some(e) = record_error {
        return Err(e);
    }
    check(progress)?;
    Ok((model, history))
}

/// A tree model's importance as `importance.csv` holds it.
pub(crate) fn importance_csv(importance: &[(String, usize, f64)]) -> String {
    let mut csv = String::from("feature,splits,gain\n");
    for (f, s, g) in importance {
        csv.push_str(&format!("{f},{s},{g}\n"));
    }
    csv
}

/// What a random-forest run produced.
#[derive(Clone, Debug, Serialize)]
pub struct RfReport {
    pub run: RunId,
    /// A server-side file path: not in the serialized report (fronts reach
    /// artifacts through the store).
    #[serde(skip)]
    pub model_path: PathBuf,
    pub rows: usize,
    pub valid_rows: usize,
    pub trees: usize,
    /// Out-of-bag (AUC, KS) for classification, (R2, RMSE) for regression.
    pub oob: Option<(f64, f64)>,
    pub valid_auc: Option<f64>,
    pub seconds: f64,
    pub importance: Vec<(String, usize, f64)>,
}

/// Grows a random forest as a recorded run (`train.rf`). Cancellation is honoured
/// before the trees are grown and before anything is stored.
pub async fn train_rf(ws: &Workspace, req: &TrainRequest, progress: &dyn Progress) -> Result<RfReport> {
    let mut params = RfParams::default();
    let options = req.dataset_options(|k, v| params.set(k, v))?;
    let run = ws.start_run("train.rf")?;
    let result = async {
        let id = run.id();
        let (train_set, valid) = req.read_recorded(ws, &run, &params, options, progress).await?;
        check(progress)?;
        let started = Instant::now();
        progress.stage("growing trees", Some(params.n_estimators as u64), Unit::Iterations);
        let model = risklake_learn::forest::train_forest(&train_set, &params, &|| progress.advance(1));
        progress.end_stage();
        let model = model?;
        check(progress)?;
        let seconds = started.elapsed().as_secs_f64();
        let valid_auc = match &valid {
            Some(v) if params.objective == risklake_learn::Objective::Binary => {
                let p = model.predict_raw_binned(v);
                let labels: Vec<bool> = v.label.iter().map(|&y| y == 1.0).collect();
                risklake_core::metrics::auc(&p, &labels)
            }
            _ => None,
        };
        let artifact = run.artifact(artifacts::MODEL, model.to_json().as_bytes())?;
        if let Some(out) = &req.out {
            std::fs::write(out, model.to_json()).map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
        }
        if let (Some(v), risklake_learn::Objective::Binary) = (&valid, params.objective) {
            // A forest's raw score is its trees' mean probability of bad.
            let p = model.predict_raw_binned(v);
            crate::report::validation_report(
                &run,
                &Model::Trees(model.clone()),
                "validation rows",
                p,
                v.label.clone(),
            )?;
        }
        let oob = model
            .forest
            .as_ref()
            .and_then(|f| f.oob.as_ref())
            .map(|o| (o.score, o.secondary));
        run.metric("train_seconds", seconds)?;
        if let Some((s, k)) = oob {
            run.metric("oob_score", s)?;
            run.metric("oob_secondary", k)?;
        }
        if let Some(a) = valid_auc {
            run.metric("valid_auc", a)?;
        }
        Ok(RfReport {
            run: id,
            model_path: PathBuf::from(artifact.path),
            rows: train_set.rows(),
            valid_rows: valid.as_ref().map_or(0, |v| v.rows()),
            trees: model.trees.len(),
            oob,
            valid_auc,
            seconds,
            importance: model.importance(),
        })
    }
    .await;
    run.finish(result)
}

/// Reads a model of any kind given as a file, a run id (its model, or its scorecard) or
/// a registered version.
pub fn load_model(ws: &Workspace, spec: &str) -> Result<Model> {
    let text = crate::registry::read_artifact(
        ws,
        spec,
        &[artifacts::MODEL, artifacts::SCORECARD],
        "model or scorecard",
    )?;
    Model::from_json(&text).map_err(|e| Error::invalid(format!("model {spec}: {e}")))
}

/// Stepwise selection of a logistic regression's features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stepwise {
    /// `forward`, `backward` or `both`.
    pub direction: String,
    /// `aic`, `bic` or `pvalue`.
    pub criterion: String,
    /// `pvalue`: enter below this p-value.
    pub p_enter: f64,
    /// `pvalue`: leave above this p-value.
    pub p_remove: f64,
    /// Keep every coefficient >= 0: a feature enters only if it leaves them all
    /// positive, and a negative one is removed first (on WoE values a negative
    /// coefficient gives riskier bins more points).
    pub positive_coefficients: bool,
}

impl Default for Stepwise {
    fn default() -> Self {
        Stepwise {
            direction: "both".into(),
            criterion: "aic".into(),
            p_enter: 0.05,
            p_remove: 0.10,
            positive_coefficients: false,
        }
    }
}

impl Stepwise {
    /// The direction and criterion, checked.
    pub fn parse(&self) -> Result<(Direction, Criterion)> {
        let direction: Direction = self
            .direction
            .parse()
            .map_err(|e: Error| Error::param("stepwise.direction", e))?;
        let criterion = match self.criterion.as_str() {
            "aic" => Criterion::Aic,
            "bic" => Criterion::Bic,
            "pvalue" => Criterion::PValue {
                enter: self.p_enter,
                remove: self.p_remove,
            },
            other => {
                return Err(Error::param(
                    "stepwise.criterion",
                    format!("unknown criterion '{other}' (expected aic, bic or pvalue)"),
                ))
            }
        };
        Ok((direction, criterion))
    }
}

/// Train a logistic regression (on raw columns, or on a binning plan's WoE values).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainLrRequest {
    #[serde(flatten)]
    pub data: TrainData,
    /// A binning plan (file or run id): the model is fitted on its WoE values and keeps
    /// the plan, so it scores raw tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// `penalty`, `C`, `l1_ratio`, `max_iter`, `tol`, ... (scikit-learn's names).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stepwise: Option<Stepwise>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
}

/// What a logistic-regression run produced.
#[derive(Clone, Debug, Serialize)]
pub struct LrReport {
    pub run: RunId,
    #[serde(skip)]
    pub model_path: PathBuf,
    pub model: LrModel,
    /// Held-out (rows, AUC, KS).
    pub valid: Option<(usize, f64, f64)>,
    pub seconds: f64,
    /// Coefficients that work against their WoE (see [`LrModel::sign_warnings`]).
    pub warnings: Vec<String>,
}

impl LrReport {
    pub fn valid_auc(&self) -> Option<f64> {
        self.valid.map(|v| v.1)
    }
}

/// Hard 0/1 labels of batches, read as every learner reads a binary label
/// ([`risklake_core::label`]): nulls, NaN and a third value are errors naming the row.
pub fn labels_of(batches: &[RecordBatch], label: &str, bad_value: Option<&str>) -> Result<Vec<f64>> {
    let mut reader = LabelReader::binary(label, bad_value);
    let mut out = Vec::new();
    for b in batches {
        out.extend(reader.read(b)?);
    }
    Ok(out)
}

/// Fits the regression (or runs stepwise selection) as a recorded run (`train.lr`): the
/// model and its statsmodels-style summary are artifacts; likelihood, AIC, BIC and the
/// held-out AUC / KS metrics.
pub async fn train_lr(ws: &Workspace, req: &TrainLrRequest, progress: &dyn Progress) -> Result<LrReport> {
    let mut params = LrParams::default();
    for (k, v) in param_texts(&req.params) {
        params.set(&k, &v)?;
    }
    let stepwise = req.stepwise.as_ref().map(Stepwise::parse).transpose()?;
    req.data.validate()?;
    let run = ws.start_run("train.lr")?;
    let result = async {
        let id = run.id();
        run.request(req)?;
        run.param("table", &req.data.table)?;
        run.param("label", &req.data.label)?;
        run.param("params", serde_json::to_string(&params).unwrap_or_default())?;
        if let Some(s) = &req.stepwise {
            run.param("stepwise", format!("{} by {}", s.direction, s.criterion))?;
        }
        let plan = match &req.plan {
            Some(p) => {
                run.param("plan", p)?;
                run.uses("plan", p)?;
                Some(crate::features::load_plan(ws, p)?)
            }
            None => None,
        };
        let mut builder = DesignBuilder::new(
            &req.data.label,
            req.data.weight.as_deref(),
            req.data.bad_value.as_deref(),
            &req.data.columns,
            &req.data.exclude,
            plan.as_ref(),
        )?;
        let held_out = read_split(ws, id, &req.data.split(), &mut |b| builder.push(b), progress).await?;
        let inputs = builder.inputs();
        let design = builder.finish()?;
        check(progress)?;
        let started = Instant::now();
        let positive = req.stepwise.as_ref().is_some_and(|s| s.positive_coefficients);
        let model = fit_design(&design, &params, stepwise, positive, inputs, &req.data.label, progress)?;
        check(progress)?;
        let seconds = started.elapsed().as_secs_f64();
        drop(design);
        // Ranking quality on held-out rows.
        let (valid, valid_rows) = if held_out.is_empty() {
            (None, None)
        } else {
            let mut p = Vec::new();
            for b in &held_out {
                p.extend(model.predict_raw(b)?);
            }
            let labels = labels_of(&held_out, &req.data.label, req.data.bad_value.as_deref())?;
            let y: Vec<bool> = labels.iter().map(|v| *v == 1.0).collect();
            let figures = risklake_core::metrics::auc(&p, &y)
                .map(|a| (p.len(), a, risklake_core::metrics::ks(&p, &y).unwrap_or(f64::NAN)));
            let proba: Vec<f64> = p.iter().map(|x| 1.0 / (1.0 + (-x).exp())).collect();
            (figures, Some((proba, labels)))
        };
        record_lr_summary(&run, &model, seconds)?;
        if let Some((_, a, k)) = valid {
            run.metric("valid_auc", a)?;
            run.metric("valid_ks", k)?;
        }
        let warnings = model.sign_warnings(matches!(model.inputs, lr::Inputs::Woe { .. }));
        run.metric("negative_woe_coefficients", warnings.len() as f64)?;
        for w in &warnings {
            progress.note(&format!("warning: {w}"));
        }
        if !warnings.is_empty() {
            run.param("warnings", warnings.join("\n"))?;
        }
        let artifact = run.artifact(artifacts::MODEL, model.to_json().as_bytes())?;
        run.artifact(artifacts::LR_SUMMARY, model.summary_text().as_bytes())?;
        if let Some((p, y)) = valid_rows {
            crate::report::validation_report(&run, &Model::Lr(model.clone()), "held-out rows", p, y)?;
        }
        if let Some(out) = &req.out {
            std::fs::write(out, model.to_json()).map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
        }
        Ok(LrReport {
            run: id,
            model_path: PathBuf::from(artifact.path),
            model,
            valid,
            seconds,
            warnings,
        })
    }
    .await;
    run.finish(result)
}

/// Fits the regression on `design`, or runs stepwise selection when `stepwise` gives its
/// direction and criterion (`positive`: keep every coefficient >= 0), as a progress stage.
pub(crate) fn fit_design(
    design: &lr::Design,
    params: &LrParams,
    stepwise: Option<(Direction, Criterion)>,
    positive: bool,
    inputs: lr::Inputs,
    label: &str,
    progress: &dyn Progress,
) -> Result<LrModel> {
    let model = match stepwise {
        None => {
            progress.stage("fitting", None, Unit::Iterations);
            lr::fit(design, params, inputs, label)
        }
        Some((direction, criterion)) => {
            progress.stage("stepwise steps", None, Unit::Iterations);
            lr::stepwise(
                design,
                params,
                direction,
                criterion,
                inputs,
                label,
                positive,
                &mut |s| {
                    progress.advance(1);
                    progress.note(&format!("{} {}", s.action, s.feature));
                },
            )
        }
    };
    progress.end_stage();
    model
}

/// Records an LR fit's figures (likelihood, AIC, BIC, pseudo R2, iterations, seconds) as
/// metrics of `run`.
pub(crate) fn record_lr_summary(run: &crate::RunScope<'_>, model: &LrModel, seconds: f64) -> Result<()> {
    let s = &model.summary;
    for (name, v) in [
        ("log_likelihood", s.log_likelihood),
        ("aic", s.aic),
        ("bic", s.bic),
        ("pseudo_r2", s.pseudo_r2),
        ("iterations", s.iterations as f64),
        ("train_seconds", seconds),
    ] {
        run.metric(name, v)?;
    }
    Ok(())
}

/// Write a stored tree model in another format.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelExportRequest {
    /// The model (file, run id, `name@alias`, `name/version`).
    pub model: String,
    /// `lightgbm` (LightGBM's text model; the default) or `json`.
    pub format: String,
    pub out: PathBuf,
}

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ModelExport {
    pub trees: usize,
    pub bytes: usize,
}

/// Writes the tree model as asked.
pub fn export_model(ws: &Workspace, req: &ModelExportRequest) -> Result<ModelExport> {
    let any = load_model(ws, &req.model)?;
    let m = any.trees("LightGBM export")?;
    let text = match req.format.as_str() {
        "lightgbm" | "" => m.to_lightgbm_text()?,
        "json" => m.to_json(),
        other => {
            return Err(Error::param(
                "format",
                format!("unknown model format '{other}' (lightgbm or json)"),
            ))
        }
    };
    std::fs::write(&req.out, &text).map_err(|e| Error::io(format!("writing {}", req.out.display()), e))?;
    Ok(ModelExport {
        trees: m.trees.len(),
        bytes: text.len(),
    })
}
