//! The project store over SQL: one SQLite file in the home (the embedded default) or a
//! PostgreSQL database (a shared deployment), artifacts as files under the home.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension};

use risklake_core::error::ResultExt;
use risklake_core::process::Owner;
// Nothing a store records carries a password, whoever calls it (CLI, server, notebook).
use risklake_core::secret::mask;
use risklake_core::{Error, Result};

use crate::db::{args, retry_locked, sqlite_err, Conn, Db, Param, Pg, Row as DbRow};
use crate::schema::{AUTH_SCHEMA, JOBS_SCHEMA, SCHEMA, SCHEMA_VERSION};
use crate::types::*;
use crate::{registry, Store};

/// The project store: SQLite (`store.db` in the home; the embedded default) or a
/// PostgreSQL database (a shared deployment, `--store postgres://...`), with artifacts as
/// files under the home's `artifacts/` either way.
pub struct SqlStore {
    db: Db,
    artifact_dir: PathBuf,
    read_only: bool,
}

/// Whether this process may write `path` (a folder or a file): access(2) with `W_OK`,
/// which answers no on a read-only mount even to root, and for another user's folder.
pub fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// The final value of each metric from its points in logging order: the step-less one or
/// the one at the highest step (the last logged among equals).
fn final_values<'a>(points: impl Iterator<Item = (&'a str, Option<i64>, f64)>) -> BTreeMap<String, f64> {
    let mut metrics = BTreeMap::new();
    let mut best_step: BTreeMap<&str, Option<i64>> = BTreeMap::new();
    for (key, step, value) in points {
        let newer = match best_step.get(key) {
            None => true,
            Some(prev) => step >= *prev,
        };
        if newer {
            best_step.insert(key, step);
            metrics.insert(key.to_string(), value);
        }
    }
    metrics
}

/// A path as the path part of an SQLite `file:` URI (`%`, `?` and `#` escaped).
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Whether `store` names a PostgreSQL store (`postgres://` or `postgresql://`).
pub fn is_postgres_url(store: &str) -> bool {
    store.starts_with("postgres://") || store.starts_with("postgresql://")
}

/// Creates the schema, or migrates an older one, in one write transaction: processes
/// opening a new (or old) store at the same moment do it once (the others wait for the
/// transaction, then find it done). `shown` names the store in errors.
fn migrate(db: &Db, shown: &str) -> Result<()> {
    let postgres = db.is_postgres();
    db.tx(|c| {
        for ddl in [SCHEMA, JOBS_SCHEMA, AUTH_SCHEMA] {
            if postgres {
                c.batch(&crate::db::pg_schema(ddl))?;
            } else {
                c.batch(ddl)?;
            }
        }
        let version = c.text("SELECT value FROM meta WHERE key = 'schema_version'", &[])?;
        match version {
            None => {
                c.exec(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    args![&SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(v) if v.parse::<i64>().ok() == Some(SCHEMA_VERSION) => {}
            Some(v) if !postgres && (v == "1" || v == "2" || v == "3") => {
                // Version 1 had no owner column (its running runs stay unjudged); the
                // registry's tables (version 3) and the job queue (4) were created above.
                // (PostgreSQL stores start at version 4.)
                if v == "1" {
                    c.batch("ALTER TABLE runs ADD COLUMN owner TEXT;")?;
                }
                c.exec(
                    "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                    args![&SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(v) => {
                return Err(Error::invalid(format!(
                    "the project store {shown} has schema version {v}, this risklake reads version {SCHEMA_VERSION}"
                )))
            }
        }
        Ok(())
    })
}

impl SqlStore {
    /// Opens (creating if needed) the SQLite store in the folder `home`.
    pub fn open(home: &Path) -> Result<Self> {
        std::fs::create_dir_all(home).map_err(|e| Error::io(format!("creating {}", home.display()), e))?;
        let path = home.join("store.db");
        let conn = Connection::open(&path).with_context(|| format!("opening the project store {}", path.display()))?;
        // WAL lets readers (the server, `runs list`) work while a job writes; the busy
        // timeout makes concurrent writers from several processes wait instead of fail.
        conn.busy_timeout(Duration::from_secs(30)).map_err(sqlite_err)?;
        // Switching a new file to WAL needs it to itself; SQLite answers "locked" at once
        // (no busy wait) when another process is doing the same: retry for a while.
        retry_locked(|| conn.pragma_update(None, "journal_mode", "WAL"))?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(sqlite_err)?;
        Self::ready(Db::Sqlite(Mutex::new(conn)), &path.display().to_string(), home)
    }

    /// Creates or migrates the schema, and marks the runs of dead processes interrupted.
    fn ready(db: Db, shown: &str, home: &Path) -> Result<Self> {
        migrate(&db, shown)?;
        let store = SqlStore {
            db,
            artifact_dir: home.join("artifacts"),
            read_only: false,
        };
        store.reap_interrupted()?;
        Ok(store)
    }

    /// Opens the PostgreSQL store at `url` (`postgres://user:password@host:port/db`),
    /// creating or migrating its schema; artifacts are kept under `home`.
    pub fn open_postgres(url: &str, home: &Path) -> Result<Self> {
        std::fs::create_dir_all(home).map_err(|e| Error::io(format!("creating {}", home.display()), e))?;
        Self::ready(Db::Pg(Mutex::new(Pg::connect(url)?)), &mask(url), home)
    }

    /// Opens the store a home uses: `store` names a PostgreSQL database
    /// (`postgres://...`), or, when `None`, the home's SQLite file.
    pub fn open_at(home: &Path, store: Option<&str>) -> Result<Self> {
        match store.map(str::trim).filter(|s| !s.is_empty()) {
            None => Self::open(home),
            Some(url) if is_postgres_url(url) => Self::open_postgres(url, home),
            Some(other) => Err(Error::param(
                "store",
                format!(
                    "{} is not a store risklake knows: give a postgres:// URL, or none for the home's SQLite file",
                    mask(other)
                ),
            )),
        }
    }

    /// Opens the SQLite store of `home` for reading only, writing nothing (not even WAL
    /// index files): for a home this user may not write (another user's, a read-only
    /// mount). Runs of dead processes are not marked interrupted from here, and the store
    /// must already have the current schema (a writable open migrates it).
    pub fn open_read_only(home: &Path) -> Result<Self> {
        use rusqlite::OpenFlags;
        let path = home.join("store.db");
        if !path.is_file() {
            return Err(Error::NotFound {
                kind: "project store",
                name: path.display().to_string(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let version = |conn: &Connection| -> rusqlite::Result<Option<String>> {
            conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
                .optional()
        };
        let context = || format!("opening the project store {} read-only", path.display());
        let plain = Connection::open_with_flags(&path, flags).with_context(context)?;
        plain.busy_timeout(Duration::from_secs(30)).map_err(sqlite_err)?;
        // A WAL database needs its shared-memory index, which a reader creates when it is
        // missing; where that cannot be written, read the file as immutable (nobody may
        // write it there either).
        let (conn, v) = match version(&plain) {
            Ok(v) => (plain, v),
            Err(_) => {
                let uri = format!("file:{}?immutable=1", uri_path(&path));
                let conn = Connection::open_with_flags(&uri, flags).with_context(context)?;
                let v = version(&conn).map_err(sqlite_err)?;
                (conn, v)
            }
        };
        match v {
            Some(v) if v.parse::<i64>().ok() == Some(SCHEMA_VERSION) => {}
            v => {
                return Err(Error::invalid(format!(
                    "the project store {} has schema version {}, this risklake reads version {SCHEMA_VERSION}; \
                     it cannot be migrated read-only (open it once where it can be written)",
                    path.display(),
                    v.as_deref().unwrap_or("(none)")
                )))
            }
        }
        Ok(SqlStore {
            db: Db::Sqlite(Mutex::new(conn)),
            artifact_dir: home.join("artifacts"),
            read_only: true,
        })
    }

    /// Whether this store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    fn summary_from_row(row: &DbRow) -> Result<RunSummary> {
        let status = row.text(4)?;
        let started_at = row.text(5)?;
        let ended_at = row.opt_text(6)?;
        let duration_s = duration(&started_at, ended_at.as_deref());
        Ok(RunSummary {
            id: row.int(0)?,
            project: row.text(1)?,
            kind: row.text(2)?,
            command: row.text(3)?,
            status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
            started_at,
            ended_at,
            duration_s,
            error: row.opt_text(7)?,
        })
    }

    fn store_artifact(&self, run: RunId, name: &str, write: impl FnOnce(&Path) -> Result<()>) -> Result<Artifact> {
        if name.is_empty() || name.contains("..") || name.starts_with('/') || name.contains('\\') {
            return Err(Error::invalid(format!(
                "artifact name {name:?} must be a relative path without '..'"
            )));
        }
        let dir = self.artifact_dir.join(run.to_string());
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        }
        write(&path)?;
        let size = std::fs::metadata(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
            .len() as i64;
        let path_str = path.to_string_lossy().to_string();
        self.db.with(|c| {
            c.exec(
                "INSERT INTO artifacts (run_id, name, path, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (run_id, name) DO UPDATE SET path = excluded.path, size = excluded.size",
                args![run, name, &path_str, size, &now()],
            )
        })?;
        Ok(Artifact {
            name: name.to_string(),
            path: path_str,
            size,
        })
    }
}

fn duration(start: &str, end: Option<&str>) -> Option<f64> {
    let s = DateTime::parse_from_rfc3339(start).ok()?;
    let e = match end {
        Some(e) => DateTime::parse_from_rfc3339(e).ok()?.with_timezone(&Utc),
        None => Utc::now(),
    };
    Some((e - s.with_timezone(&Utc)).num_milliseconds() as f64 / 1000.0)
}

/// The tables a run's summary comes from, and its columns from them.
const RUN_FROM: &str = "runs r JOIN projects p ON p.id = r.project_id";
const RUN_COLUMNS: &str = "r.id, p.name, r.kind, r.command, r.status, r.started_at, r.ended_at, r.error";

impl Store for SqlStore {
    fn ensure_project(&self, name: &str) -> Result<i64> {
        if name.trim().is_empty() {
            return Err(Error::invalid("project name must not be empty"));
        }
        self.db.with(|c| {
            c.exec(
                "INSERT INTO projects (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                args![name, &now()],
            )?;
            c.int("SELECT id FROM projects WHERE name = ?1", args![name])?
                .ok_or_else(|| Error::not_found("project", name))
        })
    }

    fn list_projects(&self) -> Result<Vec<Project>> {
        let rows = self.db.with(|c| {
            c.query(
                "SELECT p.id, p.name, p.created_at, COUNT(r.id) FROM projects p
                 LEFT JOIN runs r ON r.project_id = p.id GROUP BY p.id, p.name, p.created_at ORDER BY p.name",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(Project {
                    id: r.int(0)?,
                    name: r.text(1)?,
                    created_at: r.text(2)?,
                    runs: r.int(3)?,
                })
            })
            .collect()
    }

    fn start_run(&self, project: &str, kind: &str, command: &str) -> Result<RunId> {
        let project_id = self.ensure_project(project)?;
        self.db.with(|c| {
            c.row(
                "INSERT INTO runs (project_id, kind, command, status, started_at, owner)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5) RETURNING id",
                args![project_id, kind, &*mask(command), &now(), &Owner::current().to_string()],
            )?
            .ok_or_else(|| Error::invalid("the run just started is not in the store"))?
            .int(0)
        })
    }

    fn log_param(&self, run: RunId, key: &str, value: &str) -> Result<()> {
        self.db.with(|c| {
            c.exec(
                "INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                args![run, key, &*mask(value)],
            )
        })?;
        Ok(())
    }

    fn log_metric(&self, run: RunId, key: &str, step: Option<i64>, value: f64) -> Result<()> {
        // SQLite stores NaN as NULL; a metric that is not a number is an error upstream.
        if !value.is_finite() {
            return Err(Error::invalid(format!("metric {key} is not a finite number: {value}")));
        }
        self.db.with(|c| {
            c.exec(
                "INSERT INTO metrics (run_id, key, step, value, logged_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![run, key, step, value, &now()],
            )
        })?;
        Ok(())
    }

    fn log_dataset(&self, run: RunId, d: &DatasetRef) -> Result<()> {
        self.db.with(|c| {
            c.exec(
                "INSERT INTO datasets (run_id, role, name, snapshot, rows) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![run, &d.role, &*mask(&d.name), d.snapshot, d.rows],
            )
        })?;
        Ok(())
    }

    fn log_artifact(&self, run: RunId, name: &str, file: &Path) -> Result<Artifact> {
        self.store_artifact(run, name, |dest| {
            std::fs::copy(file, dest)
                .map(|_| ())
                .map_err(|e| Error::io(format!("copying artifact {} to {}", file.display(), dest.display()), e))
        })
    }

    fn log_artifact_bytes(&self, run: RunId, name: &str, bytes: &[u8]) -> Result<Artifact> {
        self.store_artifact(run, name, |dest| {
            std::fs::write(dest, bytes).map_err(|e| Error::io(format!("writing artifact {}", dest.display()), e))
        })
    }

    fn reap_interrupted(&self) -> Result<Vec<RunId>> {
        let running = self.db.with(|c| {
            c.query(
                "SELECT id, owner FROM runs WHERE status = 'running' AND owner IS NOT NULL",
                &[],
            )
        })?;
        let mut reaped = Vec::new();
        for r in running {
            let (id, owner) = (r.int(0)?, r.text(1)?);
            let Some(o) = Owner::parse(&owner) else { continue };
            if !o.is_gone() {
                continue;
            }
            let why = format!(
                "interrupted: its process (pid {} on {}) ended without finishing the run",
                o.pid, o.host
            );
            // Only while still running: the owner may have finished it meanwhile.
            let n = self.db.with(|c| {
                c.exec(
                    "UPDATE runs SET status = 'interrupted', ended_at = ?2, error = ?3
                     WHERE id = ?1 AND status = 'running'",
                    args![id, &now(), &why],
                )
            })?;
            if n == 1 {
                reaped.push(id);
            }
        }
        Ok(reaped)
    }

    fn interrupt_own_runs(&self, reason: &str) -> Result<Vec<RunId>> {
        let me = Owner::current().to_string();
        let rows = self.db.with(|c| {
            c.query(
                "UPDATE runs SET status = 'interrupted', ended_at = ?2, error = ?3
                 WHERE status = 'running' AND owner = ?1 RETURNING id",
                args![&me, &now(), &format!("interrupted: {reason}")],
            )
        })?;
        let mut ids = rows.iter().map(|r| r.int(0)).collect::<Result<Vec<_>>>()?;
        ids.sort();
        Ok(ids)
    }

    fn finish_run(&self, run: RunId, status: RunStatus, error: Option<&str>) -> Result<()> {
        let error = error.map(mask);
        let n = self.db.with(|c| {
            c.exec(
                "UPDATE runs SET status = ?2, ended_at = ?3, error = ?4 WHERE id = ?1",
                args![run, status.as_str(), &now(), error.as_deref()],
            )
        })?;
        if n == 0 {
            return Err(Error::not_found("run", run.to_string()));
        }
        Ok(())
    }

    fn get_run(&self, run: RunId) -> Result<RunDetail> {
        let (summary, params, metrics, datasets, artifacts) = self.db.with(|c| {
            let summary = c.row(
                &format!("SELECT {RUN_COLUMNS} FROM {RUN_FROM} WHERE r.id = ?1"),
                args![run],
            )?;
            let params = c.query(
                "SELECT key, value FROM params WHERE run_id = ?1 ORDER BY key",
                args![run],
            )?;
            let metrics = c.query(
                "SELECT key, step, value FROM metrics WHERE run_id = ?1 ORDER BY id",
                args![run],
            )?;
            let datasets = c.query(
                "SELECT role, name, snapshot, rows FROM datasets WHERE run_id = ?1 ORDER BY id",
                args![run],
            )?;
            let artifacts = c.query(
                "SELECT name, path, size FROM artifacts WHERE run_id = ?1 ORDER BY id",
                args![run],
            )?;
            Ok((summary, params, metrics, datasets, artifacts))
        })?;
        let summary = Self::summary_from_row(&summary.ok_or_else(|| Error::not_found("run", run.to_string()))?)?;
        let params = params
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        let metric_history = metrics
            .iter()
            .map(|r| {
                Ok(MetricPoint {
                    key: r.text(0)?,
                    step: r.opt_int(1)?,
                    value: r.real(2)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let metrics = final_values(metric_history.iter().map(|m| (m.key.as_str(), m.step, m.value)));
        let datasets = datasets
            .iter()
            .map(|r| {
                Ok(DatasetRef {
                    role: r.text(0)?,
                    name: r.text(1)?,
                    snapshot: r.opt_int(2)?,
                    rows: r.opt_int(3)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let artifacts = artifacts
            .iter()
            .map(|r| {
                Ok(Artifact {
                    name: r.text(0)?,
                    path: r.text(1)?,
                    size: r.int(2)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RunDetail {
            summary,
            params,
            metrics,
            metric_history,
            datasets,
            artifacts,
        })
    }

    fn final_metrics(&self, runs: &[RunId]) -> Result<std::collections::HashMap<RunId, BTreeMap<String, f64>>> {
        let mut out = std::collections::HashMap::new();
        for chunk in runs.chunks(500) {
            let marks = (1..=chunk.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let params: Vec<Param> = chunk.iter().map(|&r| Param::from(r)).collect();
            let rows = self.db.with(|c| {
                c.query(
                    &format!("SELECT run_id, key, step, value FROM metrics WHERE run_id IN ({marks}) ORDER BY id"),
                    &params,
                )
            })?;
            let mut by_run: std::collections::HashMap<RunId, Vec<(String, Option<i64>, f64)>> = Default::default();
            for r in rows {
                by_run
                    .entry(r.int(0)?)
                    .or_default()
                    .push((r.text(1)?, r.opt_int(2)?, r.real(3)?));
            }
            for &run in chunk {
                let points = by_run.remove(&run).unwrap_or_default();
                out.insert(run, final_values(points.iter().map(|(k, s, v)| (k.as_str(), *s, *v))));
            }
        }
        Ok(out)
    }

    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>> {
        let (condition, args) = run_condition(filter);
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM {RUN_FROM} WHERE {condition} ORDER BY r.id DESC");
        match filter.limit {
            Some(limit) => sql.push_str(&format!(" LIMIT {limit}")),
            None if filter.offset > 0 => sql.push_str(&format!(" LIMIT {}", i64::MAX)),
            None => {}
        }
        if filter.offset > 0 {
            sql.push_str(&format!(" OFFSET {}", filter.offset));
        }
        let rows = self.db.with(|c| c.query(&sql, &args))?;
        rows.iter().map(Self::summary_from_row).collect()
    }

    fn count_runs(&self, filter: &RunFilter) -> Result<usize> {
        let (condition, args) = run_condition(filter);
        let sql = format!("SELECT COUNT(*) FROM {RUN_FROM} WHERE {condition}");
        let row = self.db.with(|c| c.row(&sql, &args))?;
        Ok(row.map(|r| r.int(0)).transpose()?.unwrap_or(0).max(0) as usize)
    }

    fn register_model(
        &self,
        project: &str,
        name: &str,
        run: RunId,
        artifact: &str,
        description: Option<&str>,
        user: &str,
    ) -> Result<ModelVersion> {
        let project = self.ensure_project(project)?;
        registry::register(&self.db, project, name, run, artifact, description, user, &now())
    }

    fn model_version(&self, project: &str, name: &str, version: i64) -> Result<ModelVersion> {
        self.db.with(|c| registry::get(c, project, name, version))
    }

    fn model_alias(&self, project: &str, name: &str, alias: &str) -> Result<ModelVersion> {
        self.db.with(|c| registry::alias(c, project, name, alias))
    }

    fn set_model_alias(&self, project: &str, name: &str, alias: &str, version: Option<i64>, user: &str) -> Result<()> {
        registry::set_alias(&self.db, project, name, alias, version, user, &now())
    }

    fn set_model_tag(&self, project: &str, name: &str, version: i64, key: &str, value: &str, user: &str) -> Result<()> {
        registry::set_tag(&self.db, project, name, version, key, value, user, &now())
    }

    fn list_models(&self, project: &str) -> Result<Vec<RegisteredModel>> {
        self.db.with(|c| registry::list(c, project))
    }

    fn model_versions(&self, project: &str, name: &str) -> Result<Vec<ModelVersion>> {
        self.db.with(|c| registry::versions(c, project, name))
    }

    fn delete_model_version(&self, project: &str, name: &str, version: i64, user: &str) -> Result<()> {
        registry::delete_version(&self.db, project, name, version, user, &now())
    }

    fn model_history(&self, project: &str, name: &str) -> Result<Vec<ModelEvent>> {
        self.db.with(|c| registry::history(c, project, name))
    }

    fn dataset_writer(&self, name: &str, snapshot: i64) -> Result<Option<RunId>> {
        self.db.with(|c| {
            c.int(
                "SELECT run_id FROM datasets WHERE role = 'output' AND name = ?1 AND snapshot = ?2 ORDER BY id LIMIT 1",
                args![name, snapshot],
            )
        })
    }

    fn clear_state(&self, scope: &str) -> Result<()> {
        self.db
            .with(|c| c.exec("DELETE FROM state WHERE scope = ?1", args![scope]))?;
        Ok(())
    }

    fn get_state(&self, scope: &str, key: &str) -> Result<Option<String>> {
        self.db.with(|c| {
            c.text(
                "SELECT value FROM state WHERE scope = ?1 AND key = ?2",
                args![scope, key],
            )
        })
    }

    fn set_state(&self, scope: &str, key: &str, value: &str) -> Result<()> {
        self.db.with(|c| put_state(c, scope, key, value))
    }

    fn update_state(
        &self,
        scope: &str,
        key: &str,
        f: &mut (dyn FnMut(Option<String>) -> Result<String> + Send),
    ) -> Result<String> {
        self.db.tx(|c| {
            let current = c.text(
                "SELECT value FROM state WHERE scope = ?1 AND key = ?2",
                args![scope, key],
            )?;
            let value = f(current)?;
            put_state(c, scope, key, &value)?;
            Ok(value)
        })
    }
}

/// Inserts or replaces a state value.
fn put_state(c: &Conn, scope: &str, key: &str, value: &str) -> Result<()> {
    c.exec(
        "INSERT INTO state (scope, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        args![scope, key, value, &now()],
    )?;
    Ok(())
}

/// The WHERE condition of a run filter (project, kind, status) and its arguments.
fn run_condition(filter: &RunFilter) -> (String, Vec<Param<'_>>) {
    let mut sql = String::from("1 = 1");
    let mut args: Vec<Param> = Vec::new();
    if let Some(p) = &filter.project {
        args.push(p.into());
        sql.push_str(&format!(" AND p.name = ?{}", args.len()));
    }
    if let Some(k) = &filter.kind {
        args.push(k.into());
        sql.push_str(&format!(" AND r.kind = ?{}", args.len()));
    }
    if let Some(s) = filter.status {
        args.push(s.as_str().into());
        sql.push_str(&format!(" AND r.status = ?{}", args.len()));
    }
    (sql, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eight stores (as eight server workers or processes would have) each append 25
    /// numbers to one state value: every append lands, on every backend.
    #[test]
    fn concurrent_state_updates_all_land() {
        for b in crate::testing::backends() {
            concurrent_state_updates_all_land_on(&b);
        }
    }

    fn concurrent_state_updates_all_land_on(b: &crate::testing::Backend) {
        let first = b.open();
        std::thread::scope(|s| {
            for w in 0..8u32 {
                s.spawn(move || {
                    let store = b.open();
                    for i in 0..25 {
                        store
                            .update_state("test", "list", &mut |v| {
                                let mut list: Vec<u32> = v.map_or(Vec::new(), |t| serde_json::from_str(&t).unwrap());
                                list.push(w * 100 + i);
                                Ok(serde_json::to_string(&list).unwrap())
                            })
                            .unwrap();
                    }
                });
            }
        });
        let text = first.get_state("test", "list").unwrap().unwrap();
        let mut list: Vec<u32> = serde_json::from_str(&text).unwrap();
        list.sort_unstable();
        let want: Vec<u32> = (0..8).flat_map(|w| (0..25).map(move |i| w * 100 + i)).collect();
        assert_eq!(list, want, "{}", b.name);
        // A failing update changes nothing.
        assert!(first
            .update_state("test", "list", &mut |_| Err(Error::invalid("no")))
            .is_err());
        assert_eq!(first.get_state("test", "list").unwrap().unwrap(), text);
    }

    #[test]
    fn final_metrics_of_many_runs_match_each_runs_detail() {
        for b in crate::testing::backends() {
            final_metrics_of_many_runs_match_each_runs_detail_on(&b);
        }
    }

    fn final_metrics_of_many_runs_match_each_runs_detail_on(b: &crate::testing::Backend) {
        eprintln!("final_metrics_of_many_runs_match_each_runs_detail on {}", b.name);
        let store = b.open();
        let a = store.start_run("p", "train", "a").unwrap();
        let b = store.start_run("p", "tune", "b").unwrap();
        let none = store.start_run("p", "sql", "c").unwrap();
        store.log_metric(a, "auc", None, 0.7).unwrap();
        store.log_metric(a, "auc", None, 0.8).unwrap(); // the later step-less value wins
        for (step, v) in [(0, 0.5), (2, 0.9), (1, 0.6)] {
            store.log_metric(b, "loss", Some(step), v).unwrap(); // the highest step wins
        }
        store.log_metric(b, "best_value", None, 0.42).unwrap();
        let all = store.final_metrics(&[a, b, none, 999]).unwrap();
        for run in [a, b, none] {
            assert_eq!(all[&run], store.get_run(run).unwrap().metrics, "run {run}");
        }
        assert_eq!(all[&a]["auc"], 0.8);
        assert_eq!(all[&b]["loss"], 0.9);
        assert!(all[&none].is_empty() && all[&999].is_empty());
    }

    #[test]
    fn runs_of_dead_processes_are_marked_interrupted_when_the_store_opens() {
        for b in crate::testing::backends() {
            runs_of_dead_processes_are_marked_interrupted_when_the_store_opens_on(&b);
        }
    }

    fn runs_of_dead_processes_are_marked_interrupted_when_the_store_opens_on(b: &crate::testing::Backend) {
        eprintln!(
            "runs_of_dead_processes_are_marked_interrupted_when_the_store_opens on {}",
            b.name
        );
        let store = b.open();
        let mine = store.start_run("p", "train", "risklake train").unwrap();
        let dead = store.start_run("p", "ingest", "risklake ingest").unwrap();
        let elsewhere = store.start_run("p", "tune", "risklake tune").unwrap();
        // A process that has ended, and one on another machine (never judged from here).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let gone = Owner {
            pid,
            ..Owner::current()
        };
        let remote = Owner {
            host: "other-host".into(),
            ..Owner::current()
        };
        store
            .db()
            .with(|c| {
                c.exec(
                    "UPDATE runs SET owner = ?2 WHERE id = ?1",
                    args![dead, &gone.to_string()],
                )?;
                c.exec(
                    "UPDATE runs SET owner = ?2 WHERE id = ?1",
                    args![elsewhere, &remote.to_string()],
                )
            })
            .unwrap();
        drop(store);
        let store = b.open();
        let status = |r| store.get_run(r).unwrap().summary.status;
        assert_eq!(status(mine), RunStatus::Running, "this process is alive");
        assert_eq!(status(dead), RunStatus::Interrupted);
        assert!(store
            .get_run(dead)
            .unwrap()
            .summary
            .error
            .unwrap()
            .contains(&format!("pid {pid}")));
        assert_eq!(status(elsewhere), RunStatus::Running);
        // A signal handler marks this process's own runs.
        assert_eq!(store.interrupt_own_runs("stopped by SIGTERM").unwrap(), vec![mine]);
        assert_eq!(status(mine), RunStatus::Interrupted);
        assert!(store.get_run(mine).unwrap().summary.error.unwrap().contains("SIGTERM"));
    }

    #[test]
    fn processes_opening_a_new_store_at_once_all_succeed() {
        // Eight connections (as eight processes would) create one new store together.
        for round in 0..5 {
            for b in crate::testing::backends() {
                let barrier = std::sync::Barrier::new(8);
                std::thread::scope(|s| {
                    for _ in 0..8 {
                        s.spawn(|| {
                            barrier.wait();
                            let store = std::panic::catch_unwind(|| b.open())
                                .unwrap_or_else(|_| panic!("round {round} on {}", b.name));
                            store.start_run("p", "ingest", "x").unwrap();
                        });
                    }
                });
                let store = b.open();
                assert_eq!(store.list_runs(&Default::default()).unwrap().len(), 8, "{}", b.name);
            }
        }
    }

    #[test]
    fn a_version_1_store_gains_the_owner_column() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("store.db")).unwrap();
            conn.execute_batch(&SCHEMA.replace(",\n    owner TEXT\n", "\n"))
                .unwrap();
            conn.execute_batch(
                "INSERT INTO meta VALUES ('schema_version', '1');
                 INSERT INTO projects (name, created_at) VALUES ('p', '2026-01-01T00:00:00Z');
                 INSERT INTO runs (project_id, kind, command, status, started_at)
                 VALUES (1, 'ingest', 'risklake ingest', 'running', '2026-01-01T00:00:00Z');",
            )
            .unwrap();
        }
        let store = SqlStore::open(dir.path()).unwrap();
        assert_eq!(
            store.get_run(1).unwrap().summary.status,
            RunStatus::Running,
            "no owner: not judged"
        );
        let run = store.start_run("p", "train", "risklake train").unwrap();
        assert_eq!(run, 2);
        let version = store
            .db()
            .with(|c| c.row("SELECT value FROM meta WHERE key = 'schema_version'", &[]))
            .unwrap()
            .unwrap()
            .text(0)
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION.to_string());
    }

    #[test]
    fn run_lifecycle_params_metrics_datasets_artifacts() {
        for b in crate::testing::backends() {
            run_lifecycle_params_metrics_datasets_artifacts_on(&b);
        }
    }

    fn run_lifecycle_params_metrics_datasets_artifacts_on(b: &crate::testing::Backend) {
        eprintln!("run_lifecycle_params_metrics_datasets_artifacts on {}", b.name);
        let store = b.open();
        let run = store.start_run("credit", "train", "risklake train gbdt").unwrap();
        store.log_param(run, "lr", "0.1").unwrap();
        store.log_param(run, "lr", "0.05").unwrap();
        for (step, v) in [(0, 0.70), (1, 0.75), (2, 0.74)] {
            store.log_metric(run, "valid_auc", Some(step), v).unwrap();
        }
        store.log_metric(run, "rows", None, 100.0).unwrap();
        assert!(store.log_metric(run, "bad", None, f64::NAN).is_err());
        store
            .log_dataset(
                run,
                &DatasetRef {
                    role: "input".into(),
                    name: "default.loans".into(),
                    snapshot: Some(3),
                    rows: Some(100),
                },
            )
            .unwrap();
        let a = store.log_artifact_bytes(run, "model/model.json", b"{}").unwrap();
        assert_eq!(a.size, 2);
        assert!(std::path::Path::new(&a.path).exists());
        assert!(a.path.starts_with(&*b.home().to_string_lossy()), "{}", a.path);
        assert!(store.log_artifact_bytes(run, "../escape", b"x").is_err());
        store.finish_run(run, RunStatus::Finished, None).unwrap();

        let d = store.get_run(run).unwrap();
        assert_eq!(d.summary.project, "credit");
        assert_eq!(d.summary.status, RunStatus::Finished);
        assert_eq!(d.params["lr"], "0.05");
        assert_eq!(d.metrics["valid_auc"], 0.74, "last step wins");
        assert_eq!(d.metric_history.len(), 4);
        assert_eq!(d.datasets[0].snapshot, Some(3));
        assert_eq!(d.artifacts.len(), 1);
        assert!(d.summary.duration_s.unwrap() >= 0.0);
    }

    #[test]
    fn listing_filters_and_survives_reopen() {
        for b in crate::testing::backends() {
            listing_filters_and_survives_reopen_on(&b);
        }
    }

    fn listing_filters_and_survives_reopen_on(b: &crate::testing::Backend) {
        eprintln!("listing_filters_and_survives_reopen on {}", b.name);
        {
            let store = b.open();
            let a = store.start_run("p1", "ingest", "a").unwrap();
            store.finish_run(a, RunStatus::Failed, Some("bad row")).unwrap();
            store.start_run("p2", "sql", "b").unwrap();
            store.start_run("p1", "sql", "c").unwrap();
            store.set_state("ingest:pg", "hwm", "42").unwrap();
        }
        let store = b.open();
        let all = store.list_runs(&RunFilter::default()).unwrap();
        assert_eq!(
            all.iter().map(|r| r.command.as_str()).collect::<Vec<_>>(),
            ["c", "b", "a"]
        );
        let p1 = store
            .list_runs(&RunFilter {
                project: Some("p1".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p1.len(), 2);
        let failed = store
            .list_runs(&RunFilter {
                status: Some(RunStatus::Failed),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(failed[0].error.as_deref(), Some("bad row"));
        let one = store
            .list_runs(&RunFilter {
                limit: Some(1),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(one.len(), 1);
        // Pages: offset skips the newest; the count ignores limit and offset.
        let page = |limit: Option<usize>, offset: usize| {
            let f = RunFilter {
                project: Some("p1".into()),
                limit,
                offset,
                ..Default::default()
            };
            let runs = store.list_runs(&f).unwrap();
            (
                runs.into_iter().map(|r| r.command).collect::<Vec<_>>(),
                store.count_runs(&f).unwrap(),
            )
        };
        assert_eq!(page(Some(1), 1), (vec!["a".to_string()], 2));
        assert_eq!(page(None, 1), (vec!["a".to_string()], 2));
        assert_eq!(page(Some(5), 2), (vec![], 2));
        assert_eq!(store.count_runs(&RunFilter::default()).unwrap(), 3);
        assert_eq!(store.get_state("ingest:pg", "hwm").unwrap().as_deref(), Some("42"));
        assert_eq!(store.get_state("ingest:pg", "other").unwrap(), None);
        let projects = store.list_projects().unwrap();
        assert_eq!(
            projects.iter().map(|p| (p.name.as_str(), p.runs)).collect::<Vec<_>>(),
            [("p1", 2), ("p2", 1)]
        );
        assert!(matches!(store.get_run(999), Err(Error::NotFound { .. })));
    }

    #[test]
    fn concurrent_writers_from_threads() {
        for b in crate::testing::backends() {
            concurrent_writers_from_threads_on(&b);
        }
    }

    fn concurrent_writers_from_threads_on(b: &crate::testing::Backend) {
        eprintln!("concurrent_writers_from_threads on {}", b.name);
        let store = std::sync::Arc::new(b.open());
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let s = store.clone();
                std::thread::spawn(move || {
                    let run = s.start_run("p", "t", &format!("thread {t}")).unwrap();
                    for i in 0..50 {
                        s.log_metric(run, "m", Some(i), i as f64).unwrap();
                    }
                    run
                })
            })
            .collect();
        for h in handles {
            let run = h.join().unwrap();
            assert_eq!(store.get_run(run).unwrap().metric_history.len(), 50);
        }
    }
}
