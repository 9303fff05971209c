//! The project store: what risklake did and what it produced.
//!
//! Every command that produces a result records a *run* in a *project*: its command
//! line, parameters, metrics (with steps, for per-iteration curves), the datasets it read
//! or wrote (lake table and snapshot), its artifacts (files kept under the home) and how
//! it ended. The server and dashboard show this store; the CLI lists it with `runs`.
//!
//! The [`Store`] trait is the seam; [`SqlStore`] implements it over SQLite (a file in
//! the home, the embedded default) or PostgreSQL (`--store postgres://...`, a shared
//! deployment), with the same statements and behaviour on both.
//!
//! ```
//! use risklake_track::{SqlStore, Store, RunStatus};
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqlStore::open(dir.path()).unwrap();
//! let run = store.start_run("default", "gen", "risklake gen credit --rows 10").unwrap();
//! store.log_param(run, "rows", "10").unwrap();
//! store.log_metric(run, "bad_rate", None, 0.1).unwrap();
//! store.finish_run(run, RunStatus::Finished, None).unwrap();
//! assert_eq!(store.get_run(run).unwrap().params["rows"], "10");
//! ```

mod db;
mod jobs;
pub mod registry;
mod schema;
mod sqlite;
#[cfg(test)]
mod testing;
mod types;

pub use jobs::{job_origin, AuditEntry, Job, JobFilter, JobLogLine, JobStatus, OnInterrupt, Role, Token};
pub use sqlite::{is_postgres_url, writable, SqlStore};
pub use types::*;

use risklake_core::Result;

/// What a project store does. Implementations must be safe to share between threads and
/// between processes working on the same home.
pub trait Store: Send + Sync {
    /// Creates the project if needed and returns its id.
    fn ensure_project(&self, name: &str) -> Result<i64>;
    /// All projects with their run counts.
    fn list_projects(&self) -> Result<Vec<Project>>;
    /// Starts a run of `kind` (e.g. `ingest`, `sql`, `train`) in `project`.
    fn start_run(&self, project: &str, kind: &str, command: &str) -> Result<RunId>;
    /// Records a parameter (one value per key; the last write wins).
    fn log_param(&self, run: RunId, key: &str, value: &str) -> Result<()>;
    /// Records a metric value, optionally at a step (iteration, epoch, trial).
    fn log_metric(&self, run: RunId, key: &str, step: Option<i64>, value: f64) -> Result<()>;
    /// Records a dataset the run read (`role` = `input`) or wrote (`output`).
    fn log_dataset(&self, run: RunId, dataset: &DatasetRef) -> Result<()>;
    /// Copies `file` into the run's artifact folder under `name` and records it.
    fn log_artifact(&self, run: RunId, name: &str, file: &std::path::Path) -> Result<Artifact>;
    /// Writes `bytes` as the artifact `name` of the run and records it.
    fn log_artifact_bytes(&self, run: RunId, name: &str, bytes: &[u8]) -> Result<Artifact>;
    /// Ends the run.
    fn finish_run(&self, run: RunId, status: RunStatus, error: Option<&str>) -> Result<()>;
    /// One run with everything recorded about it.
    fn get_run(&self, run: RunId) -> Result<RunDetail>;
    /// The run that wrote `snapshot` of the lake table `name` (`db.table`), if a run of
    /// this store did.
    fn dataset_writer(&self, name: &str, snapshot: i64) -> Result<Option<RunId>>;
    /// Runs, newest first, filtered.
    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>>;
    /// How many runs pass `filter` (its limit and offset aside).
    fn count_runs(&self, filter: &RunFilter) -> Result<usize>;
    /// The final value of every metric of each of `runs` (as [`RunDetail::metrics`]), in
    /// one read instead of one [`Store::get_run`] per run.
    fn final_metrics(
        &self,
        runs: &[RunId],
    ) -> Result<std::collections::HashMap<RunId, std::collections::BTreeMap<String, f64>>> {
        runs.iter().map(|&r| Ok((r, self.get_run(r)?.metrics))).collect()
    }
    /// Reads a named state value (e.g. an incremental ingest's high-water mark).
    fn get_state(&self, scope: &str, key: &str) -> Result<Option<String>>;
    /// Writes a named state value.
    fn set_state(&self, scope: &str, key: &str, value: &str) -> Result<()>;
    /// Replaces a named state value with `f(current value)` in one write transaction that
    /// excludes every other writer, so concurrent updates of one value all land (none
    /// replaces a value another has just written); returns the new value.
    fn update_state(
        &self,
        scope: &str,
        key: &str,
        f: &mut (dyn FnMut(Option<String>) -> Result<String> + Send),
    ) -> Result<String>;
    /// Forgets every state value of `scope`.
    fn clear_state(&self, scope: &str) -> Result<()>;
    /// Marks `interrupted` every running run whose process has ended (see
    /// [`risklake_core::process::Owner`]); returns their ids. Stores call it when opened
    /// for writing.
    fn reap_interrupted(&self) -> Result<Vec<RunId>>;
    /// Marks this process's running runs `interrupted` with `reason` (a signal handler
    /// calls it before the process exits); returns their ids.
    fn interrupt_own_runs(&self, reason: &str) -> Result<Vec<RunId>>;

    // The model registry of a project: names, versions 1, 2, ... per name, aliases
    // (`champion`), tags, and the history of every change.

    /// Registers `artifact` of `run` as the next version of `name` in `project`.
    fn register_model(
        &self,
        project: &str,
        name: &str,
        run: RunId,
        artifact: &str,
        description: Option<&str>,
        user: &str,
    ) -> Result<ModelVersion>;
    /// One version of a registered model.
    fn model_version(&self, project: &str, name: &str, version: i64) -> Result<ModelVersion>;
    /// The version `alias` points at.
    fn model_alias(&self, project: &str, name: &str, alias: &str) -> Result<ModelVersion>;
    /// Points `alias` at `version` (moving it from where it pointed, in one step), or
    /// removes it (`None`).
    fn set_model_alias(&self, project: &str, name: &str, alias: &str, version: Option<i64>, user: &str) -> Result<()>;
    /// Sets a tag of a version.
    fn set_model_tag(&self, project: &str, name: &str, version: i64, key: &str, value: &str, user: &str) -> Result<()>;
    /// Registered models of `project`, by name.
    fn list_models(&self, project: &str) -> Result<Vec<RegisteredModel>>;
    /// Every version of `name`, newest first.
    fn model_versions(&self, project: &str, name: &str) -> Result<Vec<ModelVersion>>;
    /// Deletes a version; refused while an alias points at it.
    fn delete_model_version(&self, project: &str, name: &str, version: i64, user: &str) -> Result<()>;
    /// Every change of `name`, oldest first.
    fn model_history(&self, project: &str, name: &str) -> Result<Vec<ModelEvent>>;
}
