//! The embedded store: one SQLite file in the home, artifacts as files beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use risklake_core::error::ResultExt;
use risklake_core::process::Owner;
// Nothing a store records carries a password, whoever calls it (CLI, server, notebook).
use risklake_core::secret::mask;
use risklake_core::{Error, Result};

use crate::types::*;
use crate::{registry, Store};

/// 2: runs record their owner process (`owner` = host:pid:start), so runs whose process
/// died can be marked interrupted. 3: the model registry (model_versions, model_aliases,
/// model_tags, model_events). 4: the server's job queue (jobs, job_logs), API tokens and
/// the audit log.
const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    kind TEXT NOT NULL,
    command TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    error TEXT,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_project ON runs(project_id, id);
CREATE TABLE IF NOT EXISTS params (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    step INTEGER,
    value REAL NOT NULL,
    logged_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_by_run ON metrics(run_id, key, step);
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    snapshot INTEGER,
    rows INTEGER
);
CREATE INDEX IF NOT EXISTS datasets_by_run ON datasets(run_id);
CREATE INDEX IF NOT EXISTS datasets_by_table ON datasets(name, snapshot);
CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (run_id, name)
);
CREATE TABLE IF NOT EXISTS model_versions (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    artifact TEXT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (project_id, name, version)
);
CREATE TABLE IF NOT EXISTS model_aliases (
    project_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (project_id, name, alias),
    FOREIGN KEY (project_id, name, version) REFERENCES model_versions(project_id, name, version)
);
CREATE TABLE IF NOT EXISTS model_tags (
    project_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (project_id, name, version, key),
    FOREIGN KEY (project_id, name, version) REFERENCES model_versions(project_id, name, version)
);
CREATE TABLE IF NOT EXISTS model_events (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    version INTEGER,
    event TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL,
    user_name TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS model_events_by_name ON model_events(project_id, name, id);
CREATE TABLE IF NOT EXISTS state (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
";

/// The SQLite project store (`store.db` in the home, artifacts under `artifacts/`).
pub struct SqliteStore {
    conn: Mutex<Connection>,
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

pub(crate) fn db_err(e: rusqlite::Error) -> Error {
    Error::external("project store", e)
}

/// Runs `f` again while SQLite says the database is locked or busy, for up to 30 s.
fn retry_locked<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> Result<T> {
    let started = std::time::Instant::now();
    let mut wait = Duration::from_millis(2);
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && started.elapsed() < Duration::from_secs(30) =>
            {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(50));
            }
            other => return other.map_err(db_err),
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the folder `home`.
    pub fn open(home: &Path) -> Result<Self> {
        std::fs::create_dir_all(home).map_err(|e| Error::io(format!("creating {}", home.display()), e))?;
        let path = home.join("store.db");
        let conn = Connection::open(&path).with_context(|| format!("opening the project store {}", path.display()))?;
        // WAL lets readers (the server, `runs list`) work while a job writes; the busy
        // timeout makes concurrent writers from several processes wait instead of fail.
        conn.busy_timeout(Duration::from_secs(30)).map_err(db_err)?;
        // Switching a new file to WAL needs it to itself; SQLite answers "locked" at once
        // (no busy wait) when another process is doing the same: retry for a while.
        retry_locked(|| conn.pragma_update(None, "journal_mode", "WAL"))?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db_err)?;
        // Creating and migrating happen in one write transaction, so processes opening a
        // new (or old) store at the same moment do it once: the others wait on the busy
        // timeout and then find it done.
        retry_locked(|| conn.execute_batch("BEGIN IMMEDIATE"))?;
        let migrated = (|| -> Result<()> {
            conn.execute_batch(SCHEMA).map_err(db_err)?;
            conn.execute_batch(crate::jobs::SCHEMA).map_err(db_err)?;
            conn.execute_batch(crate::jobs::AUTH_SCHEMA).map_err(db_err)?;
            let version: Option<String> = conn
                .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            match version {
                None => {
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                        [SCHEMA_VERSION.to_string()],
                    )
                    .map_err(db_err)?;
                }
                Some(v) if v.parse::<i64>().ok() == Some(SCHEMA_VERSION) => {}
                Some(v) if v == "1" || v == "2" || v == "3" => {
                    // Version 1 had no owner column (its running runs stay unjudged);
                    // the registry's tables (version 3) and the job queue (4) were
                    // created above.
                    if v == "1" {
                        conn.execute_batch("ALTER TABLE runs ADD COLUMN owner TEXT;")
                            .map_err(db_err)?;
                    }
                    conn.execute(
                        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                        [SCHEMA_VERSION.to_string()],
                    )
                    .map_err(db_err)?;
                }
                Some(v) => {
                    return Err(Error::invalid(format!(
                        "the project store {} has schema version {v}, this risklake reads version {SCHEMA_VERSION}",
                        path.display()
                    )))
                }
            }
            Ok(())
        })();
        match migrated {
            Ok(()) => conn.execute_batch("COMMIT").map_err(db_err)?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        let store = SqliteStore {
            conn: Mutex::new(conn),
            artifact_dir: home.join("artifacts"),
            read_only: false,
        };
        store.reap_interrupted()?;
        Ok(store)
    }

    /// Opens the store of `home` for reading only, writing nothing (not even WAL index
    /// files): for a home this user may not write (another user's, a read-only mount).
    /// Runs of dead processes are not marked interrupted from here, and the store must
    /// already have the current schema (a writable open migrates it).
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
        plain.busy_timeout(Duration::from_secs(30)).map_err(db_err)?;
        // A WAL database needs its shared-memory index, which a reader creates when it is
        // missing; where that cannot be written, read the file as immutable (nobody may
        // write it there either).
        let (conn, v) = match version(&plain) {
            Ok(v) => (plain, v),
            Err(_) => {
                let uri = format!("file:{}?immutable=1", uri_path(&path));
                let conn = Connection::open_with_flags(&uri, flags).with_context(context)?;
                let v = version(&conn).map_err(db_err)?;
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
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            artifact_dir: home.join("artifacts"),
            read_only: true,
        })
    }

    /// Whether this store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (each call is
        // one statement or transaction), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn summary_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunSummary> {
        let status: String = row.get(4)?;
        let started_at: String = row.get(5)?;
        let ended_at: Option<String> = row.get(6)?;
        let duration_s = duration(&started_at, ended_at.as_deref());
        Ok(RunSummary {
            id: row.get(0)?,
            project: row.get(1)?,
            kind: row.get(2)?,
            command: row.get(3)?,
            status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
            started_at,
            ended_at,
            duration_s,
            error: row.get(7)?,
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
        self.conn()
            .execute(
                "INSERT INTO artifacts (run_id, name, path, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (run_id, name) DO UPDATE SET path = excluded.path, size = excluded.size",
                params![run, name, path_str, size, now()],
            )
            .map_err(db_err)?;
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

const RUN_COLUMNS: &str =
    "r.id, p.name, r.kind, r.command, r.status, r.started_at, r.ended_at, r.error FROM runs r JOIN projects p ON p.id = r.project_id";

impl Store for SqliteStore {
    fn ensure_project(&self, name: &str) -> Result<i64> {
        if name.trim().is_empty() {
            return Err(Error::invalid("project name must not be empty"));
        }
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO projects (name, created_at) VALUES (?1, ?2)",
            params![name, now()],
        )
        .map_err(db_err)?;
        conn.query_row("SELECT id FROM projects WHERE name = ?1", [name], |r| r.get(0))
            .map_err(db_err)
    }

    fn list_projects(&self) -> Result<Vec<Project>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT p.id, p.name, p.created_at, COUNT(r.id) FROM projects p
                 LEFT JOIN runs r ON r.project_id = p.id GROUP BY p.id ORDER BY p.name",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Project {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                    runs: r.get(3)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    fn start_run(&self, project: &str, kind: &str, command: &str) -> Result<RunId> {
        let project_id = self.ensure_project(project)?;
        let conn = self.conn();
        conn.execute(
            "INSERT INTO runs (project_id, kind, command, status, started_at, owner)
             VALUES (?1, ?2, ?3, 'running', ?4, ?5)",
            params![project_id, kind, mask(command), now(), Owner::current().to_string()],
        )
        .map_err(db_err)?;
        Ok(conn.last_insert_rowid())
    }

    fn log_param(&self, run: RunId, key: &str, value: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                params![run, key, mask(value)],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn log_metric(&self, run: RunId, key: &str, step: Option<i64>, value: f64) -> Result<()> {
        // SQLite stores NaN as NULL; a metric that is not a number is an error upstream.
        if !value.is_finite() {
            return Err(Error::invalid(format!("metric {key} is not a finite number: {value}")));
        }
        self.conn()
            .execute(
                "INSERT INTO metrics (run_id, key, step, value, logged_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run, key, step, value, now()],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn log_dataset(&self, run: RunId, d: &DatasetRef) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO datasets (run_id, role, name, snapshot, rows) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run, d.role, mask(&d.name), d.snapshot, d.rows],
            )
            .map_err(db_err)?;
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
        let conn = self.conn();
        let running: Vec<(RunId, String)> = conn
            .prepare("SELECT id, owner FROM runs WHERE status = 'running' AND owner IS NOT NULL")
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(db_err)?;
        let mut reaped = Vec::new();
        for (id, owner) in running {
            let Some(o) = Owner::parse(&owner) else { continue };
            if !o.is_gone() {
                continue;
            }
            let why = format!(
                "interrupted: its process (pid {} on {}) ended without finishing the run",
                o.pid, o.host
            );
            // Only while still running: the owner may have finished it meanwhile.
            let n = conn
                .execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = ?2, error = ?3
                     WHERE id = ?1 AND status = 'running'",
                    params![id, now(), why],
                )
                .map_err(db_err)?;
            if n == 1 {
                reaped.push(id);
            }
        }
        Ok(reaped)
    }

    fn interrupt_own_runs(&self, reason: &str) -> Result<Vec<RunId>> {
        let conn = self.conn();
        let me = Owner::current().to_string();
        let ids: Vec<RunId> = conn
            .prepare("SELECT id FROM runs WHERE status = 'running' AND owner = ?1")
            .and_then(|mut st| st.query_map([&me], |r| r.get(0))?.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(db_err)?;
        conn.execute(
            "UPDATE runs SET status = 'interrupted', ended_at = ?2, error = ?3 WHERE status = 'running' AND owner = ?1",
            params![me, now(), format!("interrupted: {reason}")],
        )
        .map_err(db_err)?;
        Ok(ids)
    }

    fn finish_run(&self, run: RunId, status: RunStatus, error: Option<&str>) -> Result<()> {
        let n = self
            .conn()
            .execute(
                "UPDATE runs SET status = ?2, ended_at = ?3, error = ?4 WHERE id = ?1",
                params![run, status.as_str(), now(), error.map(mask)],
            )
            .map_err(db_err)?;
        if n == 0 {
            return Err(Error::not_found("run", run.to_string()));
        }
        Ok(())
    }

    fn get_run(&self, run: RunId) -> Result<RunDetail> {
        let conn = self.conn();
        let summary = conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} WHERE r.id = ?1"),
                [run],
                Self::summary_from_row,
            )
            .optional()
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found("run", run.to_string()))?;
        let mut params = BTreeMap::new();
        let mut stmt = conn
            .prepare("SELECT key, value FROM params WHERE run_id = ?1 ORDER BY key")
            .map_err(db_err)?;
        for kv in stmt
            .query_map([run], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(db_err)?
        {
            let (k, v) = kv.map_err(db_err)?;
            params.insert(k, v);
        }
        let mut stmt = conn
            .prepare("SELECT key, step, value FROM metrics WHERE run_id = ?1 ORDER BY id")
            .map_err(db_err)?;
        let metric_history = stmt
            .query_map([run], |r| {
                Ok(MetricPoint {
                    key: r.get(0)?,
                    step: r.get(1)?,
                    value: r.get(2)?,
                })
            })
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        let metrics = final_values(metric_history.iter().map(|m| (m.key.as_str(), m.step, m.value)));
        let mut stmt = conn
            .prepare("SELECT role, name, snapshot, rows FROM datasets WHERE run_id = ?1 ORDER BY id")
            .map_err(db_err)?;
        let datasets = stmt
            .query_map([run], |r| {
                Ok(DatasetRef {
                    role: r.get(0)?,
                    name: r.get(1)?,
                    snapshot: r.get(2)?,
                    rows: r.get(3)?,
                })
            })
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        let mut stmt = conn
            .prepare("SELECT name, path, size FROM artifacts WHERE run_id = ?1 ORDER BY id")
            .map_err(db_err)?;
        let artifacts = stmt
            .query_map([run], |r| {
                Ok(Artifact {
                    name: r.get(0)?,
                    path: r.get(1)?,
                    size: r.get(2)?,
                })
            })
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
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
        let conn = self.conn();
        let mut out = std::collections::HashMap::new();
        for chunk in runs.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT run_id, key, step, value FROM metrics WHERE run_id IN ({marks}) ORDER BY id"
                ))
                .map_err(db_err)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(chunk.iter()), |r| {
                    Ok((
                        r.get::<_, RunId>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, f64>(3)?,
                    ))
                })
                .map_err(db_err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(db_err)?;
            let mut by_run: std::collections::HashMap<RunId, Vec<(String, Option<i64>, f64)>> = Default::default();
            for (run, key, step, value) in rows {
                by_run.entry(run).or_default().push((key, step, value));
            }
            for &run in chunk {
                let points = by_run.remove(&run).unwrap_or_default();
                out.insert(run, final_values(points.iter().map(|(k, s, v)| (k.as_str(), *s, *v))));
            }
        }
        Ok(out)
    }

    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>> {
        let mut sql = format!("SELECT {RUN_COLUMNS} WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        if let Some(p) = &filter.project {
            args.push(p.clone());
            sql.push_str(&format!(" AND p.name = ?{}", args.len()));
        }
        if let Some(k) = &filter.kind {
            args.push(k.clone());
            sql.push_str(&format!(" AND r.kind = ?{}", args.len()));
        }
        if let Some(s) = filter.status {
            args.push(s.as_str().to_string());
            sql.push_str(&format!(" AND r.status = ?{}", args.len()));
        }
        sql.push_str(" ORDER BY r.id DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql).map_err(db_err)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), Self::summary_from_row)
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
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
        registry::register(&self.conn(), project, name, run, artifact, description, user, &now())
    }

    fn model_version(&self, project: &str, name: &str, version: i64) -> Result<ModelVersion> {
        registry::get(&self.conn(), project, name, version)
    }

    fn model_alias(&self, project: &str, name: &str, alias: &str) -> Result<ModelVersion> {
        registry::alias(&self.conn(), project, name, alias)
    }

    fn set_model_alias(&self, project: &str, name: &str, alias: &str, version: Option<i64>, user: &str) -> Result<()> {
        registry::set_alias(&self.conn(), project, name, alias, version, user, &now())
    }

    fn set_model_tag(&self, project: &str, name: &str, version: i64, key: &str, value: &str, user: &str) -> Result<()> {
        registry::set_tag(&self.conn(), project, name, version, key, value, user, &now())
    }

    fn list_models(&self, project: &str) -> Result<Vec<RegisteredModel>> {
        registry::list(&self.conn(), project)
    }

    fn model_versions(&self, project: &str, name: &str) -> Result<Vec<ModelVersion>> {
        registry::versions(&self.conn(), project, name)
    }

    fn delete_model_version(&self, project: &str, name: &str, version: i64, user: &str) -> Result<()> {
        registry::delete_version(&self.conn(), project, name, version, user, &now())
    }

    fn model_history(&self, project: &str, name: &str) -> Result<Vec<ModelEvent>> {
        registry::history(&self.conn(), project, name)
    }

    fn dataset_writer(&self, name: &str, snapshot: i64) -> Result<Option<RunId>> {
        self.conn()
            .query_row(
                "SELECT run_id FROM datasets WHERE role = 'output' AND name = ?1 AND snapshot = ?2 ORDER BY id LIMIT 1",
                params![name, snapshot],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
    }

    fn clear_state(&self, scope: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM state WHERE scope = ?1", [scope])
            .map_err(db_err)?;
        Ok(())
    }

    fn get_state(&self, scope: &str, key: &str) -> Result<Option<String>> {
        self.conn()
            .query_row(
                "SELECT value FROM state WHERE scope = ?1 AND key = ?2",
                [scope, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
    }

    fn set_state(&self, scope: &str, key: &str, value: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO state (scope, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![scope, key, value, now()],
            )
            .map_err(db_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_metrics_of_many_runs_match_each_runs_detail() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
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
        {
            let conn = store.conn();
            conn.execute(
                "UPDATE runs SET owner = ?2 WHERE id = ?1",
                params![dead, gone.to_string()],
            )
            .unwrap();
            conn.execute(
                "UPDATE runs SET owner = ?2 WHERE id = ?1",
                params![elsewhere, remote.to_string()],
            )
            .unwrap();
        }
        drop(store);
        let store = SqliteStore::open(dir.path()).unwrap();
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
            let dir = tempfile::tempdir().unwrap();
            let barrier = std::sync::Barrier::new(8);
            std::thread::scope(|s| {
                for _ in 0..8 {
                    s.spawn(|| {
                        barrier.wait();
                        let store = SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("round {round}: {e}"));
                        store.start_run("p", "ingest", "x").unwrap();
                    });
                }
            });
            let store = SqliteStore::open(dir.path()).unwrap();
            assert_eq!(store.list_runs(&Default::default()).unwrap().len(), 8);
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
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            store.get_run(1).unwrap().summary.status,
            RunStatus::Running,
            "no owner: not judged"
        );
        let run = store.start_run("p", "train", "risklake train").unwrap();
        assert_eq!(run, 2);
        let version: String = store
            .conn()
            .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION.to_string());
    }

    #[test]
    fn run_lifecycle_params_metrics_datasets_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(dir.path()).unwrap();
            let a = store.start_run("p1", "ingest", "a").unwrap();
            store.finish_run(a, RunStatus::Failed, Some("bad row")).unwrap();
            store.start_run("p2", "sql", "b").unwrap();
            store.start_run("p1", "sql", "c").unwrap();
            store.set_state("ingest:pg", "hwm", "42").unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(SqliteStore::open(dir.path()).unwrap());
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
