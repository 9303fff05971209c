//! Models and binning plans on Arrow batches: what the scikit-learn estimators wrap.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayData, Float64Array, RecordBatch};
use arrow_pyarrow::PyArrowType;
use pyo3::prelude::*;

use risklake_app::frames::{self, Tracking, Trees};
use risklake_app::train::Stepwise;
use risklake_app::Workspace;
use risklake_core::Error;
use risklake_features::plan::{Output, Transformer, Unseen};
use risklake_features::{BinningOptions, BinningPlan, FineOptions, Target};
use risklake_learn::gbdt::IterationInfo;
use risklake_learn::scorecard::{Scaling, Scorecard};
use risklake_learn::Model;

use crate::workspace::{reader, PyWorkspace};
use crate::{interruptible, json_value, to_py, CoreResult};

type Batches = Vec<PyArrowType<RecordBatch>>;

fn batches(data: Batches) -> Vec<RecordBatch> {
    data.into_iter().map(|b| b.0).collect()
}

fn float_array(values: Vec<f64>) -> PyArrowType<ArrayData> {
    PyArrowType(Float64Array::from(values).into_data())
}

fn from_json<T: serde::de::DeserializeOwned + Default>(py: Python<'_>, text: Option<&str>, what: &str) -> PyResult<T> {
    match text {
        None => Ok(T::default()),
        Some(t) => {
            let v = json_value(py, t)?;
            serde_json::from_value(v).map_err(|e| to_py(py, Error::param(what, format!("does not read: {e}"))))
        }
    }
}

/// A fitted model of any kind: gradient-boosted trees, a random forest, a logistic
/// regression or a scorecard.
#[pyclass(module = "risklake._native", name = "Model", frozen)]
pub struct PyModel {
    model: Arc<Model>,
    history: Vec<IterationInfo>,
    run: Option<i64>,
}

impl PyModel {
    fn trees(&self, py: Python<'_>, what: &str) -> PyResult<&risklake_learn::GbdtModel> {
        self.model.trees(what).map_err(|e| to_py(py, e))
    }

    fn scorecard(&self, py: Python<'_>) -> PyResult<&Scorecard> {
        match self.model.as_ref() {
            Model::Scorecard(c) => Ok(c),
            other => Err(to_py(
                py,
                Error::invalid(format!("a {} model is not a scorecard", other.kind())),
            )),
        }
    }

    /// Runs `f` over every batch on a worker, concatenating the values.
    fn per_batch(
        &self,
        py: Python<'_>,
        data: Batches,
        f: impl Fn(&Model, &RecordBatch) -> CoreResult<Vec<f64>> + Send + Sync,
    ) -> PyResult<Vec<f64>> {
        let model = self.model.clone();
        let data = batches(data);
        interruptible(py, None, move |p| {
            let mut out = Vec::new();
            for b in &data {
                risklake_app::progress::check(p)?;
                out.extend(f(&model, b)?);
            }
            Ok(out)
        })
    }
}

#[pymethods]
impl PyModel {
    /// `gbdt`, `rf`, `lr` or `scorecard`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.model.kind()
    }

    /// The run that recorded the fit, when tracked.
    #[getter]
    fn run(&self) -> Option<i64> {
        self.run
    }

    /// The columns a frame needs for this model.
    #[getter]
    fn input_columns(&self) -> Vec<String> {
        self.model.input_columns()
    }

    /// Per-iteration figures of a boosting fit (JSON list).
    #[getter]
    fn history(&self, py: Python<'_>) -> PyResult<String> {
        serde_json::to_string(&self.history).map_err(|e| to_py(py, Error::invalid(e.to_string())))
    }

    /// Probabilities (or raw margins with `raw=True`), one per row, as float64.
    #[pyo3(signature = (data, raw = false))]
    fn predict(&self, py: Python<'_>, data: Batches, raw: bool) -> PyResult<PyArrowType<ArrayData>> {
        let out = self.per_batch(py, data, move |m, b| if raw { m.predict_raw(b) } else { m.predict(b) })?;
        Ok(float_array(out))
    }

    /// SHAP values of a tree model: rows x (features + 1, the last the expected value),
    /// row-major, as float64; and the width.
    fn shap(&self, py: Python<'_>, data: Batches) -> PyResult<(PyArrowType<ArrayData>, usize)> {
        let width = self.trees(py, "shap values")?.feature_names.len() + 1;
        let out = self.per_batch(py, data, |m, b| m.trees("shap values")?.predict_shap(b))?;
        Ok((float_array(out), width))
    }

    /// (feature, splits, gain) per feature of a tree model.
    fn importance(&self, py: Python<'_>) -> PyResult<Vec<(String, usize, f64)>> {
        Ok(self.trees(py, "importance")?.importance())
    }

    /// Trees in a tree model; the best iteration of an early-stopped one.
    #[getter]
    fn n_trees(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.trees(py, "trees")?.trees.len())
    }

    #[getter]
    fn best_iteration(&self, py: Python<'_>) -> PyResult<Option<usize>> {
        Ok(self.trees(py, "best_iteration")?.best_iteration)
    }

    /// The statsmodels-style summary of a logistic regression.
    fn summary(&self, py: Python<'_>) -> PyResult<String> {
        match self.model.as_ref() {
            Model::Lr(m) => Ok(m.summary_text()),
            other => Err(to_py(
                py,
                Error::invalid(format!("a {} model has no regression summary", other.kind())),
            )),
        }
    }

    /// The fitted LR (JSON of the model: coefficients, fit summary, dropped features,
    /// stepwise steps).
    fn lr_json(&self, py: Python<'_>) -> PyResult<String> {
        match self.model.as_ref() {
            Model::Lr(m) => Ok(m.to_json()),
            other => Err(to_py(
                py,
                Error::invalid(format!("a {} model is not a regression", other.kind())),
            )),
        }
    }

    /// Scorecard scores and the points of each feature (feature-major), as float64.
    fn score(&self, py: Python<'_>, data: Batches) -> PyResult<(PyArrowType<ArrayData>, Vec<PyArrowType<ArrayData>>)> {
        let card = self.scorecard(py)?.clone();
        let data = batches(data);
        let width = card.features.len();
        let (scores, points) = interruptible(py, None, move |p| {
            let mut scores = Vec::new();
            let mut points: Vec<Vec<f64>> = vec![Vec::new(); width];
            for b in &data {
                risklake_app::progress::check(p)?;
                let (s, pts) = card.score(b)?;
                scores.extend(s);
                for (all, more) in points.iter_mut().zip(pts) {
                    all.extend(more);
                }
            }
            Ok((scores, points))
        })?;
        Ok((float_array(scores), points.into_iter().map(float_array).collect()))
    }

    /// The scorecard's features in order.
    #[getter]
    fn card_features(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        Ok(self.scorecard(py)?.features.iter().map(|f| f.name.clone()).collect())
    }

    /// The points table as CSV (feature, bin, points, ...).
    fn points_csv(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.scorecard(py)?.to_csv())
    }

    /// A SQL query scoring `table` with the card.
    fn to_sql(&self, py: Python<'_>, table: &str) -> PyResult<String> {
        Ok(self.scorecard(py)?.to_sql(table))
    }

    /// The probability of bad at a score.
    fn probability(&self, py: Python<'_>, score: f64) -> PyResult<f64> {
        Ok(self.scorecard(py)?.probability(score))
    }

    /// The model's JSON (what `model.json` / `scorecard.json` hold).
    fn to_json(&self) -> String {
        match self.model.as_ref() {
            Model::Trees(m) => m.to_json(),
            Model::Lr(m) => m.to_json(),
            Model::Scorecard(c) => c.to_json(),
        }
    }

    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<PyModel> {
        let model = Model::from_json(text).map_err(|e| to_py(py, e))?;
        Ok(PyModel {
            model: Arc::new(model),
            history: Vec::new(),
            run: None,
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Model(kind={:?}, inputs={})",
            self.model.kind(),
            self.model.input_columns().len()
        )
    }
}

/// A model a spec names in a workspace: `(kind, json)`.
pub fn load_any(ws: &Workspace, spec: &str) -> CoreResult<(String, String)> {
    let model = risklake_app::train::load_model(ws, spec).or_else(|e| match e {
        Error::Invalid(_) | Error::NotFound { .. } => risklake_app::scorecard::load(ws, spec).map(Model::Scorecard),
        other => Err(other),
    })?;
    let json = match &model {
        Model::Trees(m) => m.to_json(),
        Model::Lr(m) => m.to_json(),
        Model::Scorecard(c) => c.to_json(),
    };
    Ok((model.kind().to_string(), json))
}

fn tracking<'w>(ws: Option<&'w Arc<Workspace>>, dataset: &'w str) -> Option<Tracking<'w>> {
    ws.map(|ws| Tracking {
        ws: ws.as_ref(),
        dataset,
    })
}

/// Fits trees (`gbdt` or `rf`) on batches holding the features, the label and the weight.
#[pyfunction]
#[pyo3(signature = (learner, train, valid, label, weight, params, workspace = None, dataset = "python", progress = None))]
#[allow(clippy::too_many_arguments)]
fn fit_trees(
    py: Python<'_>,
    learner: &str,
    train: Batches,
    valid: Batches,
    label: String,
    weight: Option<String>,
    params: &str,
    workspace: Option<&PyWorkspace>,
    dataset: &str,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyModel> {
    let learner = match learner {
        "gbdt" => Trees::Gbdt,
        "rf" => Trees::RandomForest,
        other => {
            return Err(to_py(
                py,
                Error::param("learner", format!("'{other}' is not gbdt or rf")),
            ))
        }
    };
    let params: BTreeMap<String, serde_json::Value> = from_json(py, Some(params), "params")?;
    let (train, valid) = (batches(train), batches(valid));
    let ws = workspace.map(|w| w.ws.clone());
    let dataset = dataset.to_string();
    let fit = interruptible(py, progress, |p| {
        frames::fit_trees(
            learner,
            &train,
            &valid,
            &label,
            weight.as_deref(),
            &params,
            tracking(ws.as_ref(), &dataset),
            p,
        )
    })?;
    Ok(PyModel {
        model: Arc::new(Model::Trees(fit.model)),
        history: fit.history,
        run: fit.run,
    })
}

/// Fits a logistic regression (stepwise when `stepwise` JSON is given; on a plan's WoE
/// values when a plan is given).
#[pyfunction]
#[pyo3(signature = (train, label, weight, params, stepwise = None, plan = None, workspace = None, dataset = "python", progress = None))]
#[allow(clippy::too_many_arguments)]
fn fit_lr(
    py: Python<'_>,
    train: Batches,
    label: String,
    weight: Option<String>,
    params: &str,
    stepwise: Option<&str>,
    plan: Option<&PyPlan>,
    workspace: Option<&PyWorkspace>,
    dataset: &str,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyModel> {
    let params: BTreeMap<String, serde_json::Value> = from_json(py, Some(params), "params")?;
    let stepwise: Option<Stepwise> = match stepwise {
        Some(s) => Some(from_json(py, Some(s), "stepwise")?),
        None => None,
    };
    let train = batches(train);
    let plan = plan.map(|p| p.plan.clone());
    let ws = workspace.map(|w| w.ws.clone());
    let dataset = dataset.to_string();
    let (model, run) = interruptible(py, progress, |p| {
        frames::fit_lr(
            &train,
            &label,
            weight.as_deref(),
            &params,
            stepwise.as_ref(),
            plan.as_deref(),
            tracking(ws.as_ref(), &dataset),
            p,
        )
    })?;
    Ok(PyModel {
        model: Arc::new(Model::Lr(model)),
        history: Vec::new(),
        run,
    })
}

/// Builds a scorecard from an LR fitted on a plan's WoE values.
#[pyfunction]
#[pyo3(signature = (model, plan = None, scaling = None))]
fn build_scorecard(py: Python<'_>, model: &PyModel, plan: Option<&PyPlan>, scaling: Option<&str>) -> PyResult<PyModel> {
    let Model::Lr(lr) = model.model.as_ref() else {
        return Err(to_py(
            py,
            Error::param(
                "model",
                format!("a scorecard is built from an LR, not a {} model", model.model.kind()),
            ),
        ));
    };
    let scaling: Scaling = from_json(py, scaling, "scaling")?;
    let card = Scorecard::build(plan.map(|p| p.plan.as_ref()), lr, scaling).map_err(|e| to_py(py, e))?;
    Ok(PyModel {
        model: Arc::new(Model::Scorecard(card)),
        history: Vec::new(),
        run: None,
    })
}

/// A binning plan: per feature its bins with counts, WoE and IV.
#[pyclass(module = "risklake._native", name = "BinningPlan", frozen)]
pub struct PyPlan {
    plan: Arc<BinningPlan>,
    run: Option<i64>,
}

#[pymethods]
impl PyPlan {
    #[getter]
    fn run(&self) -> Option<i64> {
        self.run
    }

    /// The features in the plan, in order.
    #[getter]
    fn features(&self) -> Vec<String> {
        self.plan.features.iter().map(|f| f.name.clone()).collect()
    }

    /// One feature's plan (JSON: kind, bins with counts / event rate / WoE / IV, metrics).
    fn feature(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        let f = self
            .plan
            .feature(name)
            .ok_or_else(|| to_py(py, Error::not_found("feature", name.to_string())))?;
        serde_json::to_string(f).map_err(|e| to_py(py, Error::invalid(e.to_string())))
    }

    /// Per feature: (name, iv, ks, auc, missing rate, bins).
    fn metrics(&self) -> Vec<(String, f64, f64, f64, f64, usize)> {
        self.plan
            .features
            .iter()
            .map(|f| {
                let m = &f.metrics;
                (f.name.clone(), m.iv, m.ks, m.auc, m.missing_rate, f.bins.len())
            })
            .collect()
    }

    /// The frames' features as WoE values (`output="woe"`, float64) or bin indices
    /// (`"bin"`, int32), replacing the columns, other columns kept.
    #[pyo3(signature = (data, output = "woe", unseen = "neutral", suffix = None))]
    fn transform(
        &self,
        py: Python<'_>,
        data: Batches,
        output: &str,
        unseen: &str,
        suffix: Option<String>,
    ) -> PyResult<PyArrowType<Box<dyn arrow::record_batch::RecordBatchReader + Send>>> {
        let output: Output = output
            .parse()
            .map_err(|e: String| to_py(py, Error::param("output", e)))?;
        let unseen: Unseen = unseen
            .parse()
            .map_err(|e: String| to_py(py, Error::param("unseen", e)))?;
        let mut t = Transformer::new(&self.plan, output).with_unseen(unseen);
        if let Some(s) = suffix {
            t = t.with_suffix(s);
        }
        let data = batches(data);
        let schema = match data.first() {
            Some(b) => t.output_schema(&b.schema()),
            None => return Err(to_py(py, Error::invalid("no data to transform"))),
        };
        let out = interruptible(py, None, move |p| {
            t.check_schema(&data[0].schema(), "the data")?;
            let mut out = Vec::with_capacity(data.len());
            for b in &data {
                risklake_app::progress::check(p)?;
                out.push(t.transform(b)?);
            }
            Ok(out)
        })?;
        Ok(reader(schema, out))
    }

    fn to_json(&self) -> String {
        self.plan.to_json()
    }

    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<PyPlan> {
        let plan = BinningPlan::from_json(text).map_err(|e| to_py(py, e))?;
        Ok(PyPlan {
            plan: Arc::new(plan),
            run: None,
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "BinningPlan(features={}, rows={})",
            self.plan.features.len(),
            self.plan.rows
        )
    }
}

/// Bins every feature of the frames against a binary target.
#[pyfunction]
#[pyo3(signature = (data, target, fine = None, binning = None, workspace = None, dataset = "python", progress = None))]
#[allow(clippy::too_many_arguments)]
fn bin(
    py: Python<'_>,
    data: Batches,
    target: &str,
    fine: Option<&str>,
    binning: Option<&str>,
    workspace: Option<&PyWorkspace>,
    dataset: &str,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyPlan> {
    let target: Target = {
        let v = json_value(py, target)?;
        serde_json::from_value(v).map_err(|e| to_py(py, Error::param("target", format!("does not read: {e}"))))?
    };
    let fine: FineOptions = from_json(py, fine, "fine")?;
    let binning: BinningOptions = from_json(py, binning, "binning")?;
    let data = batches(data);
    let ws = workspace.map(|w| w.ws.clone());
    let dataset = dataset.to_string();
    let (plan, run) = interruptible(py, progress, |p| {
        frames::bin(&data, &target, &fine, &binning, tracking(ws.as_ref(), &dataset), p)
    })?;
    Ok(PyPlan {
        plan: Arc::new(plan),
        run,
    })
}

/// The address of every column's values buffer as Rust sees it (for zero-copy checks).
#[pyfunction]
fn _buffer_addresses(data: Batches) -> Vec<Vec<usize>> {
    data.iter()
        .map(|b| {
            b.0.columns()
                .iter()
                .map(|c| {
                    let d = c.to_data();
                    d.buffers().last().map_or(0, |buf| buf.as_ptr() as usize)
                })
                .collect()
        })
        .collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModel>()?;
    m.add_class::<PyPlan>()?;
    m.add_function(wrap_pyfunction!(fit_trees, m)?)?;
    m.add_function(wrap_pyfunction!(fit_lr, m)?)?;
    m.add_function(wrap_pyfunction!(build_scorecard, m)?)?;
    m.add_function(wrap_pyfunction!(bin, m)?)?;
    m.add_function(wrap_pyfunction!(_buffer_addresses, m)?)?;
    Ok(())
}
