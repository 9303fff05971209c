//! Studies and trials with Optuna's semantics, on risklake's samplers and storages (so
//! Optuna and optuna-dashboard open the same study).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

use risklake_core::Error;
use risklake_tune::storage::TrialState;
use risklake_tune::{Choice, Direction, Distribution, FrozenTrial, ParamValue, Study, Trial, TrialError};

use crate::{interruptible, to_py};

/// A study in a storage.
#[pyclass(module = "risklake._native", name = "Study", frozen)]
pub struct PyStudy {
    study: Arc<Study>,
}

/// The trial an objective is running: valid only during its call.
#[pyclass(module = "risklake._native", name = "Trial", frozen)]
pub struct PyTrial {
    /// The `Trial` of the running objective call (its address), cleared when it returns.
    inner: Mutex<Option<usize>>,
    number: usize,
}

impl PyTrial {
    fn with<T>(&self, py: Python<'_>, f: impl FnOnce(&mut Trial<'_>) -> risklake_core::Result<T>) -> PyResult<T> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(addr) = *guard else {
            return Err(to_py(
                py,
                Error::invalid(format!(
                    "trial {} has finished: use a trial only inside its objective call",
                    self.number
                )),
            ));
        };
        // SAFETY: the address is that of the `&mut Trial` the objective was called with;
        // it is set only for the duration of that call (cleared before the call returns,
        // under this lock), so the trial is alive and nothing else uses it meanwhile.
        let trial = unsafe { &mut *(addr as *mut Trial<'_>) };
        f(trial).map_err(|e| to_py(py, e))
    }
}

fn choice_of(v: &Bound<'_, PyAny>) -> PyResult<Choice> {
    if v.is_none() {
        Ok(Choice::Null)
    } else if v.is_instance_of::<PyBool>() {
        Ok(Choice::Bool(v.extract()?))
    } else if v.is_instance_of::<PyInt>() {
        Ok(Choice::Int(v.extract()?))
    } else if v.is_instance_of::<PyFloat>() {
        Ok(Choice::Float(v.extract()?))
    } else if v.is_instance_of::<PyString>() {
        Ok(Choice::Str(v.extract()?))
    } else {
        Err(pyo3::exceptions::PyValueError::new_err(format!(
            "choices: {} is not None, bool, int, float or str (Optuna's rule for categorical values)",
            v.repr()?
        )))
    }
}

fn choice_py(py: Python<'_>, c: &Choice) -> PyResult<Py<PyAny>> {
    Ok(match c {
        Choice::Null => py.None(),
        Choice::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Choice::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Choice::Float(f) => f.into_pyobject(py)?.into_any().unbind(),
        Choice::Str(s) => s.into_pyobject(py)?.into_any().unbind(),
    })
}

#[pymethods]
impl PyTrial {
    #[getter]
    fn number(&self) -> usize {
        self.number
    }

    #[pyo3(signature = (name, low, high, *, step = None, log = false))]
    fn suggest_float(
        &self,
        py: Python<'_>,
        name: &str,
        low: f64,
        high: f64,
        step: Option<f64>,
        log: bool,
    ) -> PyResult<f64> {
        let dist = Distribution::Float { low, high, log, step };
        match self.with(py, |t| t.suggest(name, &dist))? {
            ParamValue::Float(x) => Ok(x),
            other => Err(to_py(
                py,
                Error::invalid(format!("'{name}' holds {other}, not a float")),
            )),
        }
    }

    #[pyo3(signature = (name, low, high, *, step = 1, log = false))]
    fn suggest_int(&self, py: Python<'_>, name: &str, low: i64, high: i64, step: i64, log: bool) -> PyResult<i64> {
        let dist = Distribution::Int { low, high, log, step };
        match self.with(py, |t| t.suggest(name, &dist))? {
            ParamValue::Int(x) => Ok(x),
            other => Err(to_py(py, Error::invalid(format!("'{name}' holds {other}, not an int")))),
        }
    }

    fn suggest_categorical(&self, py: Python<'_>, name: &str, choices: Vec<Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let choices = choices.iter().map(choice_of).collect::<PyResult<Vec<_>>>()?;
        let c = self.with(py, |t| t.suggest_categorical(name, &choices))?;
        choice_py(py, &c)
    }

    /// An intermediate value of the objective at `step` (what pruners judge).
    fn report(&self, py: Python<'_>, value: f64, step: i64) -> PyResult<()> {
        self.with(py, |t| t.report(step, value))
    }

    fn should_prune(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |t| t.should_prune())
    }

    fn set_user_attr(&self, py: Python<'_>, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let json: String = py.import("json")?.call_method1("dumps", (value,))?.extract()?;
        let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| to_py(py, Error::invalid(e.to_string())))?;
        self.with(py, |t| t.set_user_attr(key, v))
    }
}

fn frozen_json(t: &FrozenTrial) -> serde_json::Value {
    let params: serde_json::Map<String, serde_json::Value> = t
        .params
        .iter()
        .map(|(n, v, d)| {
            let value = match d.to_external(*v) {
                ParamValue::Float(f) => serde_json::json!(f),
                ParamValue::Int(i) => serde_json::json!(i),
                ParamValue::Choice(c) => match c {
                    Choice::Null => serde_json::Value::Null,
                    Choice::Bool(b) => serde_json::json!(b),
                    Choice::Int(i) => serde_json::json!(i),
                    Choice::Float(f) => serde_json::json!(f),
                    Choice::Str(s) => serde_json::json!(s),
                },
            };
            (n.clone(), value)
        })
        .collect();
    let state = match t.state {
        TrialState::Running => "RUNNING",
        TrialState::Complete => "COMPLETE",
        TrialState::Pruned => "PRUNED",
        TrialState::Fail => "FAIL",
        TrialState::Waiting => "WAITING",
    };
    serde_json::json!({
        "number": t.number,
        "state": state,
        "value": t.value(),
        "params": params,
        "user_attrs": t.user_attrs.as_ref(),
        "intermediate_values": t.intermediate_values.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
        "datetime_start": t.datetime_start,
        "datetime_complete": t.datetime_complete,
    })
}

#[pymethods]
impl PyStudy {
    #[new]
    #[pyo3(signature = (storage = "memory", study_name = None, direction = "minimize", sampler = "tpe", seed = 0, pruner = "none", load_if_exists = false, parallel = false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        storage: &str,
        study_name: Option<String>,
        direction: &str,
        sampler: &str,
        seed: u64,
        pruner: &str,
        load_if_exists: bool,
        parallel: bool,
    ) -> PyResult<Self> {
        let direction = Direction::parse(direction).map_err(|e| to_py(py, Error::param("direction", e)))?;
        let storage = Arc::new(risklake_app::tune::storage_of(storage).map_err(|e| to_py(py, e))?);
        let name = study_name.unwrap_or_else(|| format!("no-name-{}", risklake_tune::unique_id()));
        let study = Study::create(storage, &name, direction, load_if_exists)
            .map_err(|e| to_py(py, e))?
            .with_sampler(risklake_app::tune::sampler(sampler, seed, parallel).map_err(|e| to_py(py, e))?)
            .with_pruner(risklake_app::tune::pruner_of(pruner).map_err(|e| to_py(py, e))?);
        Ok(PyStudy { study: Arc::new(study) })
    }

    #[getter]
    fn study_name(&self) -> String {
        self.study.name.clone()
    }

    #[getter]
    fn direction(&self) -> &'static str {
        match self.study.direction {
            Direction::Minimize => "minimize",
            Direction::Maximize => "maximize",
        }
    }

    /// Every trial (JSON list).
    fn trials(&self, py: Python<'_>) -> PyResult<String> {
        let trials = self.study.trials().map_err(|e| to_py(py, e))?;
        Ok(serde_json::Value::Array(trials.iter().map(|t| frozen_json(t)).collect()).to_string())
    }

    /// The best finished trial (JSON), or None.
    fn best_trial(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let best = self.study.best_trial().map_err(|e| to_py(py, e))?;
        Ok(best.map(|t| frozen_json(&t).to_string()))
    }

    /// Queues a trial with fixed parameters (JSON object).
    fn enqueue_trial(&self, py: Python<'_>, params: &str) -> PyResult<()> {
        let v = crate::json_value(py, params)?;
        let serde_json::Value::Object(map) = v else {
            return Err(to_py(py, Error::param("params", "must be a dict of parameter values")));
        };
        self.study.enqueue(map).map_err(|e| to_py(py, e))
    }

    /// Runs `objective(trial)` on `n_trials` trials (or until `timeout` seconds) on
    /// `n_jobs` threads. `pruned` is the exception class that marks a pruned trial,
    /// `catch` the exception classes that fail a trial without stopping the study; any
    /// other exception fails the trial, stops the study and is raised. `callback(trial
    /// JSON)` sees every finished trial.
    #[pyo3(signature = (objective, n_trials = None, timeout = None, n_jobs = 1, pruned = None, catch = None, callback = None))]
    #[allow(clippy::too_many_arguments)]
    fn optimize(
        &self,
        py: Python<'_>,
        objective: Py<PyAny>,
        n_trials: Option<usize>,
        timeout: Option<f64>,
        n_jobs: usize,
        pruned: Option<Py<PyAny>>,
        catch: Option<Py<PyAny>>,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        if n_trials.is_none() && timeout.is_none() {
            return Err(to_py(
                py,
                Error::param("n_trials", "give n_trials or timeout (or both): a study needs an end"),
            ));
        }
        let study = self.study.clone();
        let raised: Mutex<Option<PyErr>> = Mutex::new(None);
        let objective_fn = |trial: &mut Trial<'_>| -> Result<f64, TrialError> {
            Python::attach(|py| {
                let handle = Py::new(
                    py,
                    PyTrial {
                        inner: Mutex::new(Some(trial as *mut Trial<'_> as usize)),
                        number: trial.number,
                    },
                )
                .map_err(|e| TrialError::Failed(e.to_string()))?;
                let result = objective.call1(py, (handle.clone_ref(py),));
                *handle.get().inner.lock().unwrap_or_else(|p| p.into_inner()) = None;
                let value = result.and_then(|v| {
                    v.extract::<f64>(py).map_err(|_| {
                        pyo3::exceptions::PyTypeError::new_err(format!(
                            "the objective returned {}, not a number",
                            v.bind(py).repr().map(|r| r.to_string()).unwrap_or_default()
                        ))
                    })
                });
                match value {
                    Ok(v) => Ok(v),
                    Err(e) => {
                        if pruned.as_ref().is_some_and(|p| e.is_instance(py, p.bind(py))) {
                            return Err(TrialError::Pruned);
                        }
                        let message = e.to_string();
                        if !catch.as_ref().is_some_and(|c| e.is_instance(py, c.bind(py))) {
                            raised.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                        }
                        Err(TrialError::Failed(message))
                    }
                }
            })
        };
        let on_trial = |t: &FrozenTrial| {
            if let Some(cb) = &callback {
                Python::attach(|py| {
                    if let Err(e) = cb.call1(py, (frozen_json(t).to_string(),)) {
                        raised.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                    }
                });
            }
        };
        let result = interruptible(py, None, |shared| {
            let stop = || {
                risklake_app::Progress::cancelled(shared) || raised.lock().unwrap_or_else(|p| p.into_inner()).is_some()
            };
            study.optimize_until(
                n_trials.unwrap_or(usize::MAX),
                timeout.map(Duration::from_secs_f64),
                n_jobs.max(1),
                &objective_fn,
                &on_trial,
                &stop,
            )
        });
        if let Some(e) = raised.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        result
    }

    fn __repr__(&self) -> String {
        format!(
            "Study(study_name={:?}, direction={:?})",
            self.study.name,
            self.direction()
        )
    }
}

/// An Optuna study's trials (JSON: number, state, value, params as `[name, internal,
/// distribution JSON]`, intermediate values) as risklake's, for a sampler.
fn history_of(text: &str) -> risklake_core::Result<Vec<Arc<FrozenTrial>>> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::invalid(format!("trials JSON: {e}")))?;
    let bad = || Error::invalid("trials JSON: a list of {number, state, value, params, intermediate_values}");
    let mut out = Vec::new();
    for (i, t) in v.as_array().ok_or_else(bad)?.iter().enumerate() {
        let state = match t["state"].as_str().ok_or_else(bad)? {
            "RUNNING" => TrialState::Running,
            "COMPLETE" => TrialState::Complete,
            "PRUNED" => TrialState::Pruned,
            "FAIL" => TrialState::Fail,
            "WAITING" => TrialState::Waiting,
            other => return Err(Error::invalid(format!("trials JSON: unknown state {other}"))),
        };
        let mut params = Vec::new();
        for p in t["params"].as_array().ok_or_else(bad)? {
            let name = p[0].as_str().ok_or_else(bad)?.to_string();
            let internal = p[1].as_f64().ok_or_else(bad)?;
            let dist = Distribution::from_optuna_json(p[2].as_str().ok_or_else(bad)?)?;
            params.push((name, internal, dist));
        }
        let intermediate = t["intermediate_values"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.parse::<i64>().ok()?, v.as_f64()?)))
                    .collect()
            })
            .unwrap_or_default();
        out.push(Arc::new(FrozenTrial {
            id: i,
            number: t["number"].as_u64().ok_or_else(bad)? as usize,
            study: 0,
            state,
            values: t["value"].as_f64().map(|v| vec![v]),
            datetime_start: None,
            datetime_complete: None,
            params: Arc::new(params),
            user_attrs: Default::default(),
            system_attrs: Default::default(),
            intermediate_values: Arc::new(intermediate),
            owner: String::new(),
        }));
    }
    Ok(out)
}

/// A risklake sampler for another tool's study (Optuna's, through `risklake.optuna`):
/// the same algorithm and seed streams as a risklake study's.
#[pyclass(module = "risklake._native", name = "Sampler", frozen)]
pub struct PySampler {
    sampler: Box<dyn risklake_tune::samplers::Sampler>,
}

#[pymethods]
impl PySampler {
    #[new]
    #[pyo3(signature = (name = "tpe", seed = 0, parallel = false))]
    fn new(py: Python<'_>, name: &str, seed: u64, parallel: bool) -> PyResult<Self> {
        let sampler = risklake_app::tune::sampler(name, seed, parallel).map_err(|e| to_py(py, e))?;
        Ok(PySampler { sampler })
    }

    /// Values drawn jointly when trial `number` starts: `[(name, internal value)]`.
    fn sample_relative(
        &self,
        py: Python<'_>,
        history: &str,
        maximize: bool,
        number: usize,
    ) -> PyResult<Vec<(String, f64)>> {
        let history = history_of(history).map_err(|e| to_py(py, e))?;
        let direction = if maximize {
            Direction::Maximize
        } else {
            Direction::Minimize
        };
        Ok(self.sampler.sample_relative(&history, direction, number))
    }

    /// The internal value of parameter `name` (distribution as Optuna's JSON) for trial
    /// `number`.
    fn sample(
        &self,
        py: Python<'_>,
        history: &str,
        maximize: bool,
        name: &str,
        distribution: &str,
        number: usize,
    ) -> PyResult<f64> {
        let history = history_of(history).map_err(|e| to_py(py, e))?;
        let dist = Distribution::from_optuna_json(distribution).map_err(|e| to_py(py, e))?;
        let direction = if maximize {
            Direction::Maximize
        } else {
            Direction::Minimize
        };
        Ok(self.sampler.sample(&history, direction, name, &dist, number))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStudy>()?;
    m.add_class::<PySampler>()?;
    m.add_class::<PyTrial>()?;
    Ok(())
}
