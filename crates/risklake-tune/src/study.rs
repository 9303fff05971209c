//! Studies: ask/tell, suggest, report/prune, enqueue, and an optimize loop over threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use risklake_core::{Error, Result};
use serde_json::{Map, Value};

use crate::distributions::{Choice, Distribution, ParamValue};
use crate::pruners::{NopPruner, Pruner};
use crate::samplers::{Sampler, TpeSampler};
use crate::storage::{Direction, FrozenTrial, Storage, TrialState};

/// How an objective ended a trial other than with a value.
#[derive(Debug, Clone)]
pub enum TrialError {
    /// `should_prune` said so; the trial is stored as pruned.
    Pruned,
    /// The objective failed; the trial is stored as failed and the study goes on.
    Failed(String),
}

impl From<Error> for TrialError {
    fn from(e: Error) -> Self {
        TrialError::Failed(e.to_string())
    }
}

/// A study in a storage.
pub struct Study {
    pub storage: Arc<Storage>,
    pub id: usize,
    pub name: String,
    pub direction: Direction,
    pub sampler: Box<dyn Sampler>,
    pub pruner: Box<dyn Pruner>,
}

impl Study {
    /// Creates the study, or loads it when `load_if_exists` and it exists with the same
    /// direction (another direction is an error).
    pub fn create(storage: Arc<Storage>, name: &str, direction: Direction, load_if_exists: bool) -> Result<Study> {
        let id = match storage.study_id(name)? {
            // Created (or found) under the storage's lock: another worker may be starting
            // the same study right now.
            None if load_if_exists => {
                let (id, _) = storage.create_or_load_study(name, direction)?;
                let s = storage.study(id)?;
                if s.directions != [direction] {
                    return Err(Error::invalid(format!(
                        "study '{name}' exists in {} with direction {:?}, not {direction:?}",
                        storage.location, s.directions
                    )));
                }
                id
            }
            Some(id) if load_if_exists => {
                let s = storage.study(id)?;
                if s.directions != [direction] {
                    return Err(Error::invalid(format!(
                        "study '{name}' exists in {} with direction {:?}, not {direction:?}",
                        storage.location, s.directions
                    )));
                }
                id
            }
            Some(_) => {
                return Err(Error::invalid(format!(
                    "study '{name}' already exists in {}",
                    storage.location
                )))
            }
            None => storage.create_study(name, direction)?,
        };
        // Trials left running by a worker that died would stay RUNNING forever.
        storage.fail_stale_trials(id)?;
        Ok(Study {
            storage,
            id,
            name: name.to_string(),
            direction,
            sampler: Box::new(TpeSampler::default()),
            pruner: Box::new(NopPruner),
        })
    }

    pub fn with_sampler(mut self, s: Box<dyn Sampler>) -> Self {
        self.sampler = s;
        self
    }

    pub fn with_pruner(mut self, p: Box<dyn Pruner>) -> Self {
        self.pruner = p;
        self
    }

    pub fn trials(&self) -> Result<Vec<Arc<FrozenTrial>>> {
        self.storage.trials(self.id)
    }

    /// The best complete trial.
    pub fn best_trial(&self) -> Result<Option<FrozenTrial>> {
        Ok(self
            .trials()?
            .into_iter()
            .filter(|t| t.state == TrialState::Complete && t.value().is_some_and(|v| !v.is_nan()))
            .reduce(|a, b| {
                if self.direction.better(b.value().unwrap(), a.value().unwrap()) {
                    b
                } else {
                    a
                }
            })
            .map(|t| (*t).clone()))
    }

    /// Queues a trial with fixed parameters (external values), asked before new ones.
    pub fn enqueue(&self, params: Map<String, Value>) -> Result<()> {
        self.storage.create_trial(self.id, Some(&params)).map(|_| ())
    }

    /// A new trial: a queued one if any is waiting, else a fresh one.
    pub fn ask(&self) -> Result<Trial<'_>> {
        let history = self.trials()?;
        for t in history.iter().filter(|t| t.state == TrialState::Waiting) {
            if self.storage.claim_trial(t.id)? {
                let fixed = t
                    .system_attrs
                    .get("fixed_params")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let relative = self.sampler.sample_relative(&history, self.direction, t.number);
                return Ok(Trial {
                    study: self,
                    id: t.id,
                    number: t.number,
                    fixed,
                    relative,
                    params: Vec::new(),
                    pending: Default::default(),
                    history,
                });
            }
        }
        let id = self.storage.create_trial(self.id, None)?;
        let number = self.storage.trial(id)?.number;
        let relative = self.sampler.sample_relative(&history, self.direction, number);
        Ok(Trial {
            study: self,
            id,
            number,
            fixed: Map::new(),
            relative,
            params: Vec::new(),
            pending: Default::default(),
            history,
        })
    }

    /// Finishes a trial with its outcome.
    pub fn tell(&self, trial: &Trial, outcome: std::result::Result<f64, TrialError>) -> Result<TrialState> {
        // The trial's unwritten parameters go out with its end, in one append.
        let mut lines = trial.take_pending();
        let st = &self.storage;
        let state = match outcome {
            Ok(v) if v.is_nan() => {
                lines.push(st.user_attr_line(
                    trial.id,
                    "fail_reason",
                    &Value::String("the objective returned NaN".into()),
                ));
                lines.push(st.state_line(trial.id, TrialState::Fail, None));
                TrialState::Fail
            }
            Ok(v) => {
                lines.push(st.state_line(trial.id, TrialState::Complete, Some(&[v])));
                TrialState::Complete
            }
            Err(TrialError::Pruned) => {
                // Optuna stores the last intermediate value as a pruned trial's value.
                let last = st.trial(trial.id)?.intermediate_values.values().last().copied();
                lines.push(st.state_line(trial.id, TrialState::Pruned, last.as_ref().map(std::slice::from_ref)));
                TrialState::Pruned
            }
            Err(TrialError::Failed(msg)) => {
                lines.push(st.user_attr_line(trial.id, "fail_reason", &Value::String(msg)));
                lines.push(st.state_line(trial.id, TrialState::Fail, None));
                TrialState::Fail
            }
        };
        st.write_lines(lines)?;
        Ok(state)
    }

    /// Runs `objective` on `n_trials` new trials (or until `timeout`), on `jobs` threads
    /// sharing the study; `on_trial` sees every finished trial.
    pub fn optimize(
        &self,
        n_trials: usize,
        timeout: Option<Duration>,
        jobs: usize,
        objective: &(dyn Fn(&mut Trial) -> std::result::Result<f64, TrialError> + Sync),
        on_trial: &(dyn Fn(&FrozenTrial) + Sync),
    ) -> Result<()> {
        self.optimize_until(n_trials, timeout, jobs, objective, on_trial, &|| false)
    }

    /// [`Study::optimize`] that starts no new trial once `stop` says so (a caller's
    /// cancellation); trials already running finish (the objective may watch `stop`
    /// itself and fail early).
    pub fn optimize_until(
        &self,
        n_trials: usize,
        timeout: Option<Duration>,
        jobs: usize,
        objective: &(dyn Fn(&mut Trial) -> std::result::Result<f64, TrialError> + Sync),
        on_trial: &(dyn Fn(&FrozenTrial) + Sync),
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<()> {
        let started = Instant::now();
        let next = AtomicUsize::new(0);
        let first_error: std::sync::Mutex<Option<Error>> = Default::default();
        let work = || loop {
            if stop()
                || next.fetch_add(1, Ordering::SeqCst) >= n_trials
                || timeout.is_some_and(|t| started.elapsed() >= t)
            {
                return;
            }
            let run = || -> Result<()> {
                if self.sampler.exhausted(&self.trials()?) {
                    next.store(n_trials, Ordering::SeqCst);
                    return Ok(());
                }
                let mut trial = self.ask()?;
                let outcome = objective(&mut trial);
                self.tell(&trial, outcome)?;
                on_trial(&self.storage.trial(trial.id)?);
                Ok(())
            };
            if let Err(e) = run() {
                first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                next.store(n_trials, Ordering::SeqCst);
                return;
            }
        };
        std::thread::scope(|s| {
            for _ in 1..jobs.max(1) {
                s.spawn(work);
            }
            work();
        });
        match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A running trial.
pub struct Trial<'s> {
    study: &'s Study,
    pub id: usize,
    pub number: usize,
    fixed: Map<String, Value>,
    /// Values the sampler drew jointly when the trial started (multivariate TPE).
    relative: Vec<(String, f64)>,
    /// Parameters suggested so far (name, internal value, distribution).
    params: Vec<(String, f64, Distribution)>,
    /// Parameter lines not yet written: they go out with the next report, attribute or
    /// the trial's end, in one locked and fsync'ed append.
    pending: std::sync::Mutex<Vec<String>>,
    /// The study's trials when this one was asked (what the sampler learns from).
    history: Vec<Arc<FrozenTrial>>,
}

impl Trial<'_> {
    /// A value for parameter `name` from `dist` (the same one if already suggested in this
    /// trial; the enqueued one if the trial was queued with it).
    pub fn suggest(&mut self, name: &str, dist: &Distribution) -> Result<ParamValue> {
        dist.validate(name)?;
        if let Some((_, v, d)) = self.params.iter().find(|p| p.0 == name) {
            return Ok(d.to_external(*v));
        }
        self.study.storage.check_param(self.id, name, dist)?;
        let internal = match self.fixed.get(name) {
            Some(v) => {
                let value = match dist {
                    Distribution::Float { .. } => v.as_f64().map(ParamValue::Float),
                    Distribution::Int { .. } => v.as_i64().map(ParamValue::Int),
                    Distribution::Categorical { .. } => Choice::from_json(v).ok().map(ParamValue::Choice),
                };
                let value = value
                    .ok_or_else(|| Error::invalid(format!("enqueued value {v} of '{name}' does not fit {dist:?}")))?;
                let i = dist.to_internal(&value)?;
                if !dist.contains(i) {
                    return Err(Error::invalid(format!(
                        "enqueued value {v} of '{name}' is outside {dist:?}"
                    )));
                }
                i
            }
            None if dist.single() => match dist {
                Distribution::Float { low, .. } => *low,
                Distribution::Int { low, .. } => *low as f64,
                Distribution::Categorical { .. } => 0.0,
            },
            None => {
                // A jointly drawn value serves when the parameter keeps the distribution the
                // earlier trials had.
                let joint = self.relative.iter().find(|r| r.0 == name).map(|r| r.1).filter(|&v| {
                    dist.contains(v)
                        && self
                            .history
                            .iter()
                            .find_map(|t| t.param(name))
                            .is_some_and(|(_, d)| d == dist)
                });
                match joint {
                    Some(v) => v,
                    None => self
                        .study
                        .sampler
                        .sample(&self.history, self.study.direction, name, dist, self.number),
                }
            }
        };
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(self.study.storage.param_line(self.id, name, internal, dist));
        self.params.push((name.to_string(), internal, dist.clone()));
        Ok(dist.to_external(internal))
    }

    pub fn suggest_float(&mut self, name: &str, low: f64, high: f64, log: bool) -> Result<f64> {
        match self.suggest(
            name,
            &Distribution::Float {
                low,
                high,
                log,
                step: None,
            },
        )? {
            ParamValue::Float(x) => Ok(x),
            other => Err(Error::invalid(format!("'{name}' holds {other}, not a float"))),
        }
    }

    pub fn suggest_int(&mut self, name: &str, low: i64, high: i64, log: bool) -> Result<i64> {
        match self.suggest(
            name,
            &Distribution::Int {
                low,
                high,
                log,
                step: 1,
            },
        )? {
            ParamValue::Int(i) => Ok(i),
            other => Err(Error::invalid(format!("'{name}' holds {other}, not an int"))),
        }
    }

    pub fn suggest_categorical(&mut self, name: &str, choices: &[Choice]) -> Result<Choice> {
        match self.suggest(
            name,
            &Distribution::Categorical {
                choices: choices.to_vec(),
            },
        )? {
            ParamValue::Choice(c) => Ok(c),
            other => Err(Error::invalid(format!("'{name}' holds {other}, not a choice"))),
        }
    }

    /// Reports an intermediate value (e.g. the validation metric after `step` iterations).
    pub fn report(&self, step: i64, value: f64) -> Result<()> {
        let mut lines = self.take_pending();
        lines.push(self.study.storage.intermediate_line(self.id, step, value));
        self.study.storage.write_lines(lines)
    }

    fn take_pending(&self) -> Vec<String> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether the pruner would stop this trial now (after its last report).
    pub fn should_prune(&self) -> Result<bool> {
        let me = self.study.storage.trial(self.id)?;
        let Some(&step) = me.intermediate_values.keys().last() else {
            return Ok(false);
        };
        let history = self.study.trials()?;
        let ctx = crate::pruners::PruneContext {
            history: &history,
            direction: self.study.direction,
            study_name: &self.study.name,
        };
        let mut attrs = Vec::new();
        let prune = self.study.pruner.prune(&ctx, &me, step, &mut |k, v| attrs.push((k, v)));
        if !attrs.is_empty() {
            let lines = attrs
                .iter()
                .map(|(k, v)| self.study.storage.system_attr_line(self.id, k, &serde_json::json!(v)))
                .collect();
            self.study.storage.write_lines(lines)?;
        }
        Ok(prune)
    }

    pub fn set_user_attr(&self, key: &str, value: Value) -> Result<()> {
        let mut lines = self.take_pending();
        lines.push(self.study.storage.user_attr_line(self.id, key, &value));
        self.study.storage.write_lines(lines)
    }
}
