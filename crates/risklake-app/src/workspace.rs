//! The workspace: a home folder with its lake (the warehouse) and its project store,
//! opened once and shared by every workflow a front runs.

use std::path::{Path, PathBuf};

use risklake_core::{Error, Result};
use risklake_lake::Lake;
use risklake_track::{SqliteStore, Store};

use crate::run::RunScope;

/// A home: `warehouse/` (the Paimon lake), `store.db` (runs, params, metrics) and
/// `artifacts/`, seen as one project.
pub struct Workspace {
    home: PathBuf,
    project: String,
    store: Box<dyn Store>,
    origin: String,
    user: String,
    /// Lake tables read as of a snapshot (`db.table` -> id), for replaying a run.
    snapshots: std::collections::BTreeMap<String, i64>,
    lake: tokio::sync::OnceCell<Lake>,
    /// This process may not write the home: workflows that record a run are refused.
    read_only: bool,
}

/// The project runs go to when none is named.
pub const DEFAULT_PROJECT: &str = "default";

impl Workspace {
    /// Opens the home at `home` (created if needed) for `project`.
    ///
    /// A home this process may not write (another user's, a read-only mount) opens
    /// read-only: what only reads (tables, SELECT, runs, models) works, and a workflow that
    /// would record a run is refused with an error that says so.
    pub fn open(home: &Path, project: &str) -> Result<Self> {
        std::fs::create_dir_all(home).map_err(|e| Error::io(format!("creating home {}", home.display()), e))?;
        let home = home
            .canonicalize()
            .map_err(|e| Error::io(format!("resolving home {}", home.display()), e))?;
        let db = home.join("store.db");
        let read_only = !risklake_track::writable(&home) || (db.exists() && !risklake_track::writable(&db));
        let store: Box<dyn Store> = if read_only {
            Box::new(SqliteStore::open_read_only(&home).map_err(|e| match e {
                Error::NotFound { .. } => Error::invalid(format!(
                    "the home {} cannot be written by this user and has no project store yet",
                    home.display()
                )),
                e => e,
            })?)
        } else {
            Box::new(SqliteStore::open(&home)?)
        };
        Ok(Workspace {
            home,
            project: project.to_string(),
            store,
            origin: String::new(),
            user: ["RISKLAKE_USER", "USER", "LOGNAME"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
                .unwrap_or_else(|| "unknown".into()),
            snapshots: Default::default(),
            lake: tokio::sync::OnceCell::new(),
            read_only,
        })
    }

    /// Opens a home that exists; never creates one. For what only reads a home: a
    /// mistyped or missing `--home` is then an error naming the folder, not a new empty
    /// home in which every table is "not found".
    pub fn open_existing(home: &Path, project: &str) -> Result<Self> {
        if !home.join("store.db").is_file() && !home.join("warehouse").is_dir() {
            let shown = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
            return Err(Error::NotFound {
                kind: "risklake home",
                name: format!(
                    "{} (no store.db or warehouse/ there; give --home or RISKLAKE_HOME, or create it with `risklake init`)",
                    shown.display()
                ),
            });
        }
        Self::open(home, project)
    }

    /// Sets what started the runs of this workspace (a command line, a job id, a
    /// notebook), recorded with each run.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = origin.into();
        self
    }

    /// Sets who acts (recorded with registry changes); default `$RISKLAKE_USER`,
    /// `$USER` or `$LOGNAME`.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// Makes every workflow of this workspace read these lake tables (`db.table`) as of
    /// these snapshots (time travel) instead of their latest: how a run is replayed.
    pub fn with_snapshots(mut self, snapshots: std::collections::BTreeMap<String, i64>) -> Self {
        self.snapshots = snapshots;
        self
    }

    /// The snapshot reads of `table` (`db.table`) are pinned to, if any.
    pub fn pinned_snapshot(&self, table: &str) -> Option<i64> {
        self.snapshots.get(table).copied()
    }

    /// Who acts.
    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The project store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The warehouse folder.
    pub fn warehouse(&self) -> PathBuf {
        self.home.join("warehouse")
    }

    /// The lake, opened on first use.
    pub async fn lake(&self) -> Result<&Lake> {
        self.lake
            .get_or_try_init(|| async { Lake::open(&self.warehouse()).await })
            .await
    }

    /// Whether the home was opened read-only (this process may not write it).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Starts recording a run of `kind` (`ingest`, `train`, ...); refused on a read-only
    /// home.
    pub fn start_run(&self, kind: &str) -> Result<RunScope<'_>> {
        self.writable(kind)?;
        RunScope::start(self, kind)
    }

    /// Refuses `what` (a workflow that writes) on a read-only home.
    pub fn writable(&self, what: &str) -> Result<()> {
        if self.read_only {
            return Err(Error::invalid(format!(
                "the home {} is read-only for this user (another user's, or a read-only mount): \
                 `{what}` writes to it and cannot run here; what only reads works (tables, describe, \
                 SQL queries, runs, model list, show and export)",
                self.home.display()
            )));
        }
        Ok(())
    }
}
