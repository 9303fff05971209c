//! The project store's schema, all of it in one place: the DDL every backend runs
//! (SQLite and PostgreSQL take the same statements) and its version number.

/// 2: runs record their owner process (`owner` = host:pid:start), so runs whose process
/// died can be marked interrupted. 3: the model registry (model_versions, model_aliases,
/// model_tags, model_events). 4: the server's job queue (jobs, job_logs), API tokens and
/// the audit log.
pub(crate) const SCHEMA_VERSION: i64 = 4;

/// The runs, datasets, artifacts, state and model registry tables.
pub(crate) const SCHEMA: &str = "
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

/// The server's job queue and job logs.
pub(crate) const JOBS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    user_name TEXT NOT NULL,
    on_interrupt TEXT NOT NULL DEFAULT 'fail',
    created_at TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT,
    error TEXT,
    result TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    progress TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, id);
CREATE TABLE IF NOT EXISTS job_logs (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
";

/// API tokens and the audit log.
pub(crate) const AUTH_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    user_name TEXT NOT NULL,
    project TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    user_name TEXT NOT NULL,
    project TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
";
