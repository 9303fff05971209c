//! The workspace: a home folder with its lake (the warehouse) and its project store,
//! opened once and shared by every workflow a front runs.

use std::path::{Path, PathBuf};

use risklake_core::{Error, Result};
use risklake_lake::Lake;
use risklake_track::{SqlStore, Store};
use std::sync::Arc;

use crate::run::RunScope;

/// A home: `warehouse/` (the Paimon lake), `store.db` (runs, params, metrics) and
/// `artifacts/`, seen as one project.
pub struct Workspace {
    home: PathBuf,
    project: String,
    store: Arc<dyn Store>,
    origin: String,
    user: String,
    /// Lake tables read as of a snapshot (`db.table` -> id), for replaying a run.
    snapshots: std::collections::BTreeMap<String, i64>,
    lake: tokio::sync::OnceCell<Lake>,
    /// This process may not write the home: workflows that record a run are refused.
    read_only: bool,
    /// The project's lake database (see [`project_database`]).
    database: String,
    /// Sees only the project's database (a shared server's token); see [`Workspace::confine`].
    confined: bool,
}

/// The lake database of a project: where its tables are when a name has no database
/// (`credit` is `<database>.credit`), and the only one a shared server shows its tokens.
///
/// The `default` project's is `default`; a project named as a lake name (lower-case
/// letters, digits and `_`, not starting with a digit) has the database of its name;
/// any other name is folded to one (`Credit Risk` -> `credit_risk_` and 8 hex digits of a
/// hash of the name), so two projects never share a database.
pub fn project_database(project: &str) -> String {
    let plain = !project.is_empty()
        && project
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !project.starts_with(|c: char| c.is_ascii_digit())
        && project.len() <= 64;
    if plain {
        return project.to_string();
    }
    let mut folded: String = project
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !folded.starts_with(|c: char| c.is_ascii_lowercase()) {
        folded.insert_str(0, "p_");
    }
    // FNV-1a, 64 bits: stable across versions and platforms (the name is stored in the
    // lake's layout, so it must never change).
    let hash = project.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{folded}_{:08x}", hash >> 32)
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
        Self::open_with(home, project, None)
    }

    /// Opens the home at `home` for `project` with its project store in `store` (a
    /// `postgres://` URL: a shared deployment's store) or, when `None`, in the home's
    /// SQLite file.
    pub fn open_with(home: &Path, project: &str, store: Option<&str>) -> Result<Self> {
        let home = Self::resolve(home)?;
        if let Some(url) = store.map(str::trim).filter(|s| !s.is_empty()) {
            let store = Arc::new(SqlStore::open_at(&home, Some(url))?);
            return Ok(Self::with_store(home, project, store, false));
        }
        let db = home.join("store.db");
        let read_only = !risklake_track::writable(&home) || (db.exists() && !risklake_track::writable(&db));
        let store: Arc<dyn Store> = if read_only {
            Arc::new(SqlStore::open_read_only(&home).map_err(|e| match e {
                Error::NotFound { .. } => Error::invalid(format!(
                    "the home {} cannot be written by this user and has no project store yet",
                    home.display()
                )),
                e => e,
            })?)
        } else {
            Arc::new(SqlStore::open(&home)?)
        };
        Ok(Self::with_store(home, project, store, read_only))
    }

    /// The home at `home` for `project` with a store already open (a server shares its
    /// own with every request and job).
    pub fn shared(home: &Path, project: &str, store: Arc<dyn Store>) -> Result<Self> {
        Ok(Self::with_store(Self::resolve(home)?, project, store, false))
    }

    /// Creates the home folder if needed; its absolute path.
    fn resolve(home: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(home).map_err(|e| Error::io(format!("creating home {}", home.display()), e))?;
        home.canonicalize()
            .map_err(|e| Error::io(format!("resolving home {}", home.display()), e))
    }

    fn with_store(home: PathBuf, project: &str, store: Arc<dyn Store>, read_only: bool) -> Self {
        Workspace {
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
            database: project_database(project),
            confined: false,
        }
    }

    /// Opens a home that exists; never creates one. For what only reads a home: a
    /// mistyped or missing `--home` is then an error naming the folder, not a new empty
    /// home in which every table is "not found".
    /// With a `store` elsewhere (PostgreSQL) the home may be new: what is read is there.
    pub fn open_existing(home: &Path, project: &str, store: Option<&str>) -> Result<Self> {
        let elsewhere = store.is_some_and(|s| !s.trim().is_empty());
        if !elsewhere && !home.join("store.db").is_file() && !home.join("warehouse").is_dir() {
            let shown = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
            return Err(Error::NotFound {
                kind: "risklake home",
                name: format!(
                    "{} (no store.db or warehouse/ there; give --home or RISKLAKE_HOME, or create it with `risklake init`)",
                    shown.display()
                ),
            });
        }
        Self::open_with(home, project, store)
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

    /// The same home and store (and confinement, user, origin) for `project`.
    pub fn for_project(&self, project: &str) -> Workspace {
        let mut ws = Self::with_store(self.home.clone(), project, self.store.clone(), self.read_only);
        ws.confined = self.confined;
        ws.user = self.user.clone();
        ws.origin = self.origin.clone();
        ws
    }

    /// Confines the workspace to its project's lake database, as a shared server does
    /// for a token: other databases answer as missing, and SQL may not reach the
    /// server's files (external tables, COPY TO).
    pub fn confine(mut self) -> Self {
        self.confined = true;
        self
    }

    /// The project's lake database: where a table name without a database is.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Parses a lake table name, one without a database being in the project's.
    pub fn table_name(&self, s: &str) -> Result<risklake_lake::TableName> {
        risklake_lake::TableName::parse_in(s, &self.database)
    }

    /// Parses a `--table` argument (a lake table or a data file), a table name without a
    /// database being in the project's.
    pub fn table_ref(&self, s: &str) -> Result<risklake_lake::TableRef> {
        risklake_lake::TableRef::parse_in(s, &self.database)
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
            .get_or_try_init(|| async {
                let lake = Lake::open(&self.warehouse()).await?;
                if self.confined {
                    lake.confined_to(std::slice::from_ref(&self.database)).await
                } else {
                    lake.with_home_database(&self.database).await
                }
            })
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

#[cfg(test)]
mod tests {
    use super::project_database;

    #[test]
    fn project_databases_are_lake_names_and_distinct() {
        assert_eq!(project_database("default"), "default");
        assert_eq!(project_database("credit_2024"), "credit_2024");
        let folded = ["Credit Risk", "credit risk", "Credit", "2024", "a-b", "a_b?", "", "ünï"];
        let dbs: Vec<String> = folded.iter().map(|p| project_database(p)).collect();
        for (p, db) in folded.iter().zip(&dbs) {
            risklake_lake::TableName::parse_in("t", db).unwrap_or_else(|e| panic!("{p:?} -> {db:?}: {e}"));
            assert!(db.len() <= 64, "{db}");
        }
        let distinct: std::collections::BTreeSet<&String> = dbs.iter().collect();
        assert_eq!(distinct.len(), dbs.len(), "{dbs:?}");
        assert!(dbs[0].starts_with("credit_risk_"), "{}", dbs[0]);
        assert!(dbs[3].starts_with("p_2024_"), "{}", dbs[3]);
        // Stable: the name is part of the lake's layout.
        assert_eq!(project_database("Credit Risk"), dbs[0]);
    }
}
