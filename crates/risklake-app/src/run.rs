//! One way to record a run: a scope that ends the run however the workflow ends.
//!
//! A workflow starts a [`RunScope`], records parameters, metrics, the datasets it read
//! (table and Paimon snapshot) and wrote, and artifacts through it, and hands its result
//! to [`RunScope::finish`]: `Ok` marks the run finished, [`Error::Cancelled`] cancelled,
//! any other error failed (with the message). A scope dropped without `finish` (a panic
//! unwinding through the workflow, or a future dropped by its caller) marks the run
//! failed, so no run stays `running` for a process that is still alive.

use std::fmt::Display;

use risklake_core::{Error, Result};
use risklake_track::{Artifact, DatasetRef, RunId, RunStatus};

use crate::Workspace;

/// A run being recorded; see the module docs.
pub struct RunScope<'w> {
    ws: &'w Workspace,
    id: RunId,
    open: bool,
}

impl<'w> RunScope<'w> {
    pub(crate) fn start(ws: &'w Workspace, kind: &str) -> Result<Self> {
        let id = ws.store().start_run(ws.project(), kind, ws.origin())?;
        Ok(RunScope { ws, id, open: true })
    }

    /// The run's id.
    pub fn id(&self) -> RunId {
        self.id
    }

    /// Records a parameter (the last value of a key wins).
    pub fn param(&self, key: &str, value: impl Display) -> Result<()> {
        self.ws.store().log_param(self.id, key, &value.to_string())
    }

    /// Records several parameters.
    pub fn params<K: AsRef<str>, V: Display>(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        for (k, v) in pairs {
            self.param(k.as_ref(), v)?;
        }
        Ok(())
    }

    /// Records a metric's final value.
    pub fn metric(&self, key: &str, value: f64) -> Result<()> {
        self.ws.store().log_metric(self.id, key, None, value)
    }

    /// Records a metric at a step (iteration, trial).
    pub fn metric_at(&self, key: &str, step: i64, value: f64) -> Result<()> {
        self.ws.store().log_metric(self.id, key, Some(step), value)
    }

    /// Records a dataset the run read: a lake table at a snapshot, or a file.
    pub fn input(&self, name: &str, snapshot: Option<i64>, rows: Option<u64>) -> Result<()> {
        self.dataset("input", name, snapshot, rows)
    }

    /// Records a dataset the run wrote.
    pub fn output(&self, name: &str, snapshot: Option<i64>, rows: Option<u64>) -> Result<()> {
        self.dataset("output", name, snapshot, rows)
    }

    /// Records a dataset in another role (e.g. `rejected`).
    pub fn dataset(&self, role: &str, name: &str, snapshot: Option<i64>, rows: Option<u64>) -> Result<()> {
        self.ws.store().log_dataset(
            self.id,
            &DatasetRef {
                role: role.into(),
                name: name.into(),
                snapshot,
                rows: rows.map(|r| r as i64),
            },
        )
    }

    /// Records that the run used what `spec` names (a plan, a model, a scorecard) in
    /// `role`: as `run:N` for a run's artifact (a registry reference is resolved to its
    /// run, so a later alias move does not change the record), or the file's path.
    pub fn uses(&self, role: &str, spec: &str) -> Result<()> {
        record_use(self.ws, self.id, role, spec)
    }

    /// Records the workflow's whole request (JSON, parameter `request`): what `runs
    /// reproduce` replays.
    pub fn request(&self, req: &impl serde::Serialize) -> Result<()> {
        let json = serde_json::to_string(req).map_err(|e| Error::invalid(format!("recording the request: {e}")))?;
        self.param(REQUEST_PARAM, json)
    }

    /// Stores `bytes` as the artifact `name` (see [`crate::artifacts`] for the names).
    pub fn artifact(&self, name: &str, bytes: &[u8]) -> Result<Artifact> {
        self.ws.store().log_artifact_bytes(self.id, name, bytes)
    }

    /// Ends the run as `result` says and passes `result` through. Failing to record the
    /// end never hides the workflow's own error.
    pub fn finish<T>(mut self, result: Result<T>) -> Result<T> {
        self.open = false;
        let (status, error) = outcome(&result);
        let recorded = self.ws.store().finish_run(self.id, status, error.as_deref());
        match (result, recorded) {
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(e)) => Err(e),
            (Err(e), _) => Err(e),
        }
    }
}

/// The parameter holding a run's request as JSON.
pub const REQUEST_PARAM: &str = "request";

/// The dataset roles of what a run used besides tables.
pub const USE_ROLES: [&str; 3] = ["plan", "model", "scorecard"];

/// [`RunScope::uses`] for a run known by id.
pub fn record_use(ws: &Workspace, run: RunId, role: &str, spec: &str) -> Result<()> {
    let parsed = crate::registry::ModelSpec::parse(spec)?;
    let name = match &parsed {
        crate::registry::ModelSpec::File(p) => {
            let path = std::path::absolute(p).unwrap_or_else(|_| p.clone());
            // A run's artifact named by its path in the home (`artifacts/<run>/...`) is
            // that run's.
            let stored = path
                .strip_prefix(ws.home().join("artifacts"))
                .ok()
                .and_then(|rest| rest.components().next())
                .and_then(|c| c.as_os_str().to_str()?.parse::<RunId>().ok());
            match stored {
                Some(id) => format!("run:{id}"),
                None => path.display().to_string(),
            }
        }
        crate::registry::ModelSpec::Run(id) => format!("run:{id}"),
        _ => {
            let v = parsed.version(ws)?.expect("a registry spec names a version");
            format!("run:{}", v.run)
        }
    };
    ws.store().log_dataset(
        run,
        &DatasetRef {
            role: role.into(),
            name,
            snapshot: None,
            rows: None,
        },
    )
}

/// How a run ends for a workflow's result: finished, cancelled, or failed with the error.
pub fn outcome<T>(result: &Result<T>) -> (RunStatus, Option<String>) {
    match result {
        Ok(_) => (RunStatus::Finished, None),
        Err(Error::Cancelled) => (RunStatus::Cancelled, Some("cancelled".to_string())),
        Err(e) => (RunStatus::Failed, Some(e.to_string())),
    }
}

impl Drop for RunScope<'_> {
    fn drop(&mut self) {
        if self.open {
            let why = if std::thread::panicking() {
                "the workflow panicked (a bug in risklake: please report it)"
            } else {
                "the workflow was dropped before it finished"
            };
            let _ = self.ws.store().finish_run(self.id, RunStatus::Failed, Some(why));
        }
    }
}
