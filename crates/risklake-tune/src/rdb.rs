//! Optuna's RDB storage on SQLite (schema version 12, alembic head `v3.2.0.a`, as Optuna
//! 5.0 creates it): the same operations as the journal, written as rows, and the whole
//! study state read back when another connection has committed (`PRAGMA data_version`).

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};

use risklake_core::{Error, Result};

use crate::distributions::Distribution;
use std::sync::Arc;

use crate::journal::{float_of, Replay};
use crate::trial::{Direction, FrozenTrial, StudyRecord, TrialState};

/// The tables Optuna 5.0's RDB storage uses (its schema 12), created when missing.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS studies (study_id INTEGER NOT NULL PRIMARY KEY, study_name VARCHAR(512) NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS ix_studies_study_name ON studies (study_name);
CREATE TABLE IF NOT EXISTS version_info (version_info_id INTEGER NOT NULL PRIMARY KEY, schema_version INTEGER,
    library_version VARCHAR(256), CHECK (version_info_id=1));
CREATE TABLE IF NOT EXISTS study_directions (study_direction_id INTEGER NOT NULL PRIMARY KEY, direction VARCHAR(8) NOT NULL,
    study_id INTEGER NOT NULL REFERENCES studies (study_id), objective INTEGER NOT NULL, UNIQUE (study_id, objective));
CREATE TABLE IF NOT EXISTS study_user_attributes (study_user_attribute_id INTEGER NOT NULL PRIMARY KEY,
    study_id INTEGER REFERENCES studies (study_id), "key" VARCHAR(512), value_json TEXT, UNIQUE (study_id, "key"));
CREATE TABLE IF NOT EXISTS study_system_attributes (study_system_attribute_id INTEGER NOT NULL PRIMARY KEY,
    study_id INTEGER REFERENCES studies (study_id), "key" VARCHAR(512), value_json TEXT, UNIQUE (study_id, "key"));
CREATE TABLE IF NOT EXISTS trials (trial_id INTEGER NOT NULL PRIMARY KEY, number INTEGER,
    study_id INTEGER REFERENCES studies (study_id), state VARCHAR(8) NOT NULL, datetime_start DATETIME, datetime_complete DATETIME);
CREATE INDEX IF NOT EXISTS ix_trials_study_id ON trials (study_id);
CREATE TABLE IF NOT EXISTS trial_user_attributes (trial_user_attribute_id INTEGER NOT NULL PRIMARY KEY,
    trial_id INTEGER REFERENCES trials (trial_id), "key" VARCHAR(512), value_json TEXT, UNIQUE (trial_id, "key"));
CREATE TABLE IF NOT EXISTS trial_system_attributes (trial_system_attribute_id INTEGER NOT NULL PRIMARY KEY,
    trial_id INTEGER REFERENCES trials (trial_id), "key" VARCHAR(512), value_json TEXT, UNIQUE (trial_id, "key"));
CREATE TABLE IF NOT EXISTS trial_params (param_id INTEGER NOT NULL PRIMARY KEY, trial_id INTEGER REFERENCES trials (trial_id),
    param_name VARCHAR(512), param_value FLOAT, distribution_json TEXT, UNIQUE (trial_id, param_name));
CREATE TABLE IF NOT EXISTS trial_values (trial_value_id INTEGER NOT NULL PRIMARY KEY, trial_id INTEGER NOT NULL REFERENCES trials (trial_id),
    objective INTEGER NOT NULL, value FLOAT, value_type VARCHAR(7) NOT NULL, UNIQUE (trial_id, objective));
CREATE TABLE IF NOT EXISTS trial_intermediate_values (trial_intermediate_value_id INTEGER NOT NULL PRIMARY KEY,
    trial_id INTEGER NOT NULL REFERENCES trials (trial_id), step INTEGER NOT NULL, intermediate_value FLOAT,
    intermediate_value_type VARCHAR(7) NOT NULL, UNIQUE (trial_id, step));
CREATE TABLE IF NOT EXISTS trial_heartbeats (trial_heartbeat_id INTEGER NOT NULL PRIMARY KEY,
    trial_id INTEGER NOT NULL REFERENCES trials (trial_id), heartbeat DATETIME NOT NULL, UNIQUE (trial_id));
CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
INSERT OR IGNORE INTO version_info VALUES (1, 12, '5.0.0');
INSERT OR IGNORE INTO alembic_version VALUES ('v3.2.0.a');
"#;

/// The trial system attribute that records which risklake worker runs a trial (Optuna's
/// RDB schema has no worker column; its heartbeats need a heartbeat thread). A trial left
/// RUNNING by a worker whose process is gone is failed when the study is next opened, as
/// with journals. The attribute is kept out of the trial's system attributes as read back.
const WORKER_ATTR: &str = "risklake:worker";

/// A SQLite database in Optuna's RDB schema.
pub(crate) struct SqliteLog {
    pub path: String,
    conn: Connection,
    data_version: i64,
    /// Database ids of the replay's studies and trials (by replay index).
    study_ids: Vec<i64>,
    trial_ids: Vec<i64>,
}

fn sql_err(path: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::external(format!("optuna database {path}"), e)
}

fn state_name(s: TrialState) -> &'static str {
    match s {
        TrialState::Running => "RUNNING",
        TrialState::Complete => "COMPLETE",
        TrialState::Pruned => "PRUNED",
        TrialState::Fail => "FAIL",
        TrialState::Waiting => "WAITING",
    }
}

fn state_of(s: &str) -> Option<TrialState> {
    Some(match s {
        "RUNNING" => TrialState::Running,
        "COMPLETE" => TrialState::Complete,
        "PRUNED" => TrialState::Pruned,
        "FAIL" => TrialState::Fail,
        "WAITING" => TrialState::Waiting,
        _ => return None,
    })
}

/// A value and its type column (`FINITE`, `INF_POS`, `INF_NEG`, `NAN`).
fn typed(v: f64) -> (Option<f64>, &'static str) {
    if v.is_nan() {
        (None, "NAN")
    } else if v == f64::INFINITY {
        (None, "INF_POS")
    } else if v == f64::NEG_INFINITY {
        (None, "INF_NEG")
    } else {
        (Some(v), "FINITE")
    }
}

fn untyped(v: Option<f64>, t: &str) -> f64 {
    match t {
        "INF_POS" => f64::INFINITY,
        "INF_NEG" => f64::NEG_INFINITY,
        "NAN" => f64::NAN,
        _ => v.unwrap_or(f64::NAN),
    }
}

/// Optuna's RDB datetimes: naive `YYYY-MM-DD HH:MM:SS.ffffff` (we write UTC).
fn naive(iso: &str) -> String {
    iso.replacen('T', " ", 1).trim_end_matches("+00:00").to_string()
}

impl SqliteLog {
    pub(crate) fn open(path: &Path) -> Result<SqliteLog> {
        let p = path.display().to_string();
        let conn = Connection::open(path).map_err(sql_err(&p))?;
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(sql_err(&p))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql_err(&p))?;
        conn.execute_batch(SCHEMA).map_err(sql_err(&p))?;
        let alembic: Option<String> = conn
            .query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0))
            .optional()
            .map_err(sql_err(&p))?;
        if alembic.as_deref() != Some("v3.2.0.a") {
            return Err(Error::invalid(format!(
                "{p} is an Optuna database of another schema ({alembic:?}); this risklake reads v3.2.0.a (Optuna 3.2 to 5.0); run `optuna storage upgrade`"
            )));
        }
        Ok(SqliteLog {
            path: p,
            conn,
            data_version: -1,
            study_ids: Vec::new(),
            trial_ids: Vec::new(),
        })
    }

    /// Whether another connection committed since the last look.
    pub(crate) fn changed(&mut self) -> Result<bool> {
        let v: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(sql_err(&self.path))?;
        let changed = v != self.data_version;
        self.data_version = v;
        Ok(changed)
    }

    /// Every study and trial, read from the tables.
    pub(crate) fn reload(&mut self) -> Result<Replay> {
        let e = sql_err(&self.path);
        let mut r = Replay::default();
        self.study_ids.clear();
        self.trial_ids.clear();
        let studies: Vec<(i64, String)> = {
            let mut st = self
                .conn
                .prepare("SELECT study_id, study_name FROM studies ORDER BY study_id")
                .map_err(&e)?;
            let rows = st.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).map_err(&e)?;
            rows.collect::<std::result::Result<_, _>>().map_err(&e)?
        };
        let attrs = |table: &str, key_col: &str, id: i64| -> Result<Map<String, Value>> {
            let mut st = self
                .conn
                .prepare(&format!("SELECT \"key\", value_json FROM {table} WHERE {key_col} = ?1"))
                .map_err(&e)?;
            let rows = st
                .query_map([id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
                .map_err(&e)?;
            let mut m = Map::new();
            for row in rows {
                let (k, v) = row.map_err(&e)?;
                m.insert(k, serde_json::from_str(&v).unwrap_or(Value::String(v)));
            }
            Ok(m)
        };
        for (sid, name) in studies {
            let directions: Vec<Direction> = {
                let mut st = self
                    .conn
                    .prepare("SELECT direction FROM study_directions WHERE study_id = ?1 ORDER BY objective")
                    .map_err(&e)?;
                let rows = st.query_map([sid], |row| row.get::<_, String>(0)).map_err(&e)?;
                rows.filter_map(|d| match d.ok()?.as_str() {
                    "MINIMIZE" => Some(Direction::Minimize),
                    "MAXIMIZE" => Some(Direction::Maximize),
                    _ => None,
                })
                .collect()
            };
            let index = r.studies.len();
            r.by_name.insert(name.clone(), index);
            r.studies.push(Some(StudyRecord {
                id: index,
                name,
                directions,
                user_attrs: attrs("study_user_attributes", "study_id", sid)?,
                system_attrs: attrs("study_system_attributes", "study_id", sid)?,
                trials: Vec::new(),
                distributions: Default::default(),
            }));
            self.study_ids.push(sid);
        }
        type TrialRow = (i64, i64, i64, String, Option<String>, Option<String>);
        let trials: Vec<TrialRow> = {
            let mut st = self
                .conn
                .prepare("SELECT trial_id, number, study_id, state, datetime_start, datetime_complete FROM trials ORDER BY trial_id")
                .map_err(&e)?;
            let rows = st
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                })
                .map_err(&e)?;
            rows.collect::<std::result::Result<_, _>>().map_err(&e)?
        };
        for (tid, number, sid, state, start, complete) in trials {
            let Some(study) = self.study_ids.iter().position(|&s| s == sid) else {
                continue;
            };
            let params: Vec<(String, f64, Distribution)> = {
                let mut st = self
                    .conn
                    .prepare("SELECT param_name, param_value, distribution_json FROM trial_params WHERE trial_id = ?1 ORDER BY param_id")
                    .map_err(&e)?;
                let rows = st
                    .query_map([tid], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, f64>(1)?,
                            row.get::<_, String>(2)?,
                        ))
                    })
                    .map_err(&e)?;
                let mut out = Vec::new();
                for row in rows {
                    let (n, v, d) = row.map_err(&e)?;
                    out.push((n, v, Distribution::from_optuna_json(&d)?));
                }
                out
            };
            let values: Vec<f64> = {
                let mut st = self
                    .conn
                    .prepare("SELECT value, value_type FROM trial_values WHERE trial_id = ?1 ORDER BY objective")
                    .map_err(&e)?;
                let rows = st
                    .query_map([tid], |row| Ok(untyped(row.get(0)?, &row.get::<_, String>(1)?)))
                    .map_err(&e)?;
                rows.collect::<std::result::Result<_, _>>().map_err(&e)?
            };
            let intermediate = {
                let mut st = self
                    .conn
                    .prepare("SELECT step, intermediate_value, intermediate_value_type FROM trial_intermediate_values WHERE trial_id = ?1")
                    .map_err(&e)?;
                let rows = st
                    .query_map([tid], |row| {
                        Ok((row.get::<_, i64>(0)?, untyped(row.get(1)?, &row.get::<_, String>(2)?)))
                    })
                    .map_err(&e)?;
                rows.collect::<std::result::Result<_, _>>().map_err(&e)?
            };
            let mut system_attrs = attrs("trial_system_attributes", "trial_id", tid)?;
            let owner = match system_attrs.remove(WORKER_ATTR) {
                Some(Value::String(w)) => w,
                _ => String::new(),
            };
            let id = r.trials.len();
            let s = r.studies[study].as_mut().unwrap();
            s.trials.push(id);
            for (n, _, d) in &params {
                s.distributions.entry(n.clone()).or_insert_with(|| d.clone());
            }
            r.trials.push(Arc::new(FrozenTrial {
                id,
                number: number as usize,
                study,
                state: state_of(&state).unwrap_or(TrialState::Fail),
                values: (!values.is_empty()).then_some(values),
                datetime_start: start,
                datetime_complete: complete,
                params: Arc::new(params),
                user_attrs: Arc::new(attrs("trial_user_attributes", "trial_id", tid)?),
                system_attrs: Arc::new(system_attrs),
                intermediate_values: Arc::new(intermediate),
                owner,
            }));
            self.trial_ids.push(tid);
        }
        Ok(r)
    }

    /// Records the worker of `op` (its `worker_id`) as running trial `tid`.
    fn record_worker(&self, tid: i64, op: &Value) -> Result<()> {
        let Some(worker) = op.get("worker_id").and_then(Value::as_str).filter(|w| !w.is_empty()) else {
            return Ok(());
        };
        self.conn
            .execute(
                "INSERT OR REPLACE INTO trial_system_attributes (trial_id, \"key\", value_json) VALUES (?1, ?2, ?3)",
                params![tid, WORKER_ATTR, Value::String(worker.to_string()).to_string()],
            )
            .map_err(sql_err(&self.path))?;
        Ok(())
    }

    pub(crate) fn begin(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(sql_err(&self.path))
    }

    pub(crate) fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(sql_err(&self.path))?;
        // Our own commit changes nothing we have not applied.
        self.changed().map(|_| ())
    }

    pub(crate) fn rollback(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    /// Writes one operation (a journal line, parsed) as rows; `r` is the state before it.
    pub(crate) fn write(&mut self, op: &Value, r: &Replay) -> Result<()> {
        let e = sql_err(&self.path);
        let code = op.get("op_code").and_then(Value::as_i64).unwrap_or(-1);
        let trial = |ids: &[i64]| -> Result<i64> {
            let t = op.get("trial_id").and_then(Value::as_u64).unwrap_or(u64::MAX) as usize;
            ids.get(t)
                .copied()
                .ok_or_else(|| Error::invalid(format!("trial {t} does not exist")))
        };
        let study = |ids: &[i64]| -> Result<i64> {
            let s = op.get("study_id").and_then(Value::as_u64).unwrap_or(u64::MAX) as usize;
            ids.get(s)
                .copied()
                .ok_or_else(|| Error::invalid(format!("study {s} does not exist")))
        };
        let s = |k: &str| op.get(k).and_then(Value::as_str).map(naive);
        let one = |k: &str| -> Option<(String, String)> {
            op.get(k)
                .and_then(Value::as_object)
                .and_then(|m| m.iter().next())
                .map(|(k, v)| (k.clone(), v.to_string()))
        };
        match code {
            0 => {
                let name = op.get("study_name").and_then(Value::as_str).unwrap_or("");
                self.conn
                    .execute("INSERT INTO studies (study_name) VALUES (?1)", [name])
                    .map_err(&e)?;
                let sid = self.conn.last_insert_rowid();
                for (i, d) in op
                    .get("directions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let dir = if d.as_i64() == Some(2) { "MAXIMIZE" } else { "MINIMIZE" };
                    self.conn
                        .execute(
                            "INSERT INTO study_directions (direction, study_id, objective) VALUES (?1, ?2, ?3)",
                            params![dir, sid, i as i64],
                        )
                        .map_err(&e)?;
                }
                self.study_ids.push(sid);
            }
            2 | 3 => {
                let table = if code == 2 {
                    "study_user_attributes"
                } else {
                    "study_system_attributes"
                };
                let (k, v) = one(if code == 2 { "user_attr" } else { "system_attr" }).unwrap_or_default();
                self.conn
                    .execute(
                        &format!("INSERT OR REPLACE INTO {table} (study_id, \"key\", value_json) VALUES (?1, ?2, ?3)"),
                        params![study(&self.study_ids)?, k, v],
                    )
                    .map_err(&e)?;
            }
            4 => {
                let sid_index = op.get("study_id").and_then(Value::as_u64).unwrap_or(u64::MAX) as usize;
                let sid = study(&self.study_ids)?;
                let number = r
                    .studies
                    .get(sid_index)
                    .and_then(|s| s.as_ref())
                    .map_or(0, |s| s.trials.len()) as i64;
                let state = op.get("state").and_then(Value::as_i64).unwrap_or(0);
                let state = [
                    TrialState::Running,
                    TrialState::Complete,
                    TrialState::Pruned,
                    TrialState::Fail,
                    TrialState::Waiting,
                ]
                .get(state as usize)
                .copied()
                .unwrap_or(TrialState::Running);
                self.conn
                    .execute(
                        "INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![number, sid, state_name(state), s("datetime_start"), s("datetime_complete")],
                    )
                    .map_err(&e)?;
                let tid = self.conn.last_insert_rowid();
                if state == TrialState::Running {
                    self.record_worker(tid, op)?;
                }
                if let Some(m) = op.get("system_attrs").and_then(Value::as_object) {
                    for (k, v) in m {
                        self.conn
                            .execute("INSERT INTO trial_system_attributes (trial_id, \"key\", value_json) VALUES (?1, ?2, ?3)", params![tid, k, v.to_string()])
                            .map_err(&e)?;
                    }
                }
                self.trial_ids.push(tid);
            }
            5 => {
                let v = op.get("param_value_internal").and_then(float_of).unwrap_or(f64::NAN);
                self.conn
                    .execute(
                        "INSERT OR REPLACE INTO trial_params (trial_id, param_name, param_value, distribution_json) VALUES (?1, ?2, ?3, ?4)",
                        params![trial(&self.trial_ids)?, op.get("param_name").and_then(Value::as_str), v, op.get("distribution").and_then(Value::as_str)],
                    )
                    .map_err(&e)?;
            }
            6 => {
                let tid = trial(&self.trial_ids)?;
                let state = op.get("state").and_then(Value::as_i64).unwrap_or(-1);
                let n = match state {
                    // Claiming a waiting trial: only if nobody claimed it first.
                    0 => self
                        .conn
                        .execute("UPDATE trials SET state = 'RUNNING', datetime_start = ?2 WHERE trial_id = ?1 AND state = 'WAITING'", params![tid, s("datetime_start")])
                        .map_err(&e)?,
                    _ => {
                        let st = [TrialState::Running, TrialState::Complete, TrialState::Pruned, TrialState::Fail, TrialState::Waiting]
                            .get(state as usize)
                            .copied()
                            .unwrap_or(TrialState::Fail);
                        self.conn
                            .execute(
                                "UPDATE trials SET state = ?2, datetime_complete = ?3 WHERE trial_id = ?1 AND state IN ('RUNNING', 'WAITING')",
                                params![tid, state_name(st), s("datetime_complete")],
                            )
                            .map_err(&e)?
                    }
                };
                if n != 1 {
                    return Err(Error::invalid("the trial was taken or finished by another worker"));
                }
                if state == 0 {
                    self.record_worker(tid, op)?;
                }
                if let Some(vals) = op.get("values").and_then(Value::as_array) {
                    for (i, v) in vals.iter().enumerate() {
                        let (v, t) = typed(float_of(v).unwrap_or(f64::NAN));
                        self.conn
                            .execute("INSERT OR REPLACE INTO trial_values (trial_id, objective, value, value_type) VALUES (?1, ?2, ?3, ?4)", params![tid, i as i64, v, t])
                            .map_err(&e)?;
                    }
                }
            }
            7 => {
                let (v, t) = typed(op.get("intermediate_value").and_then(float_of).unwrap_or(f64::NAN));
                self.conn
                    .execute(
                        "INSERT OR REPLACE INTO trial_intermediate_values (trial_id, step, intermediate_value, intermediate_value_type) VALUES (?1, ?2, ?3, ?4)",
                        params![trial(&self.trial_ids)?, op.get("step").and_then(Value::as_i64), v, t],
                    )
                    .map_err(&e)?;
            }
            8 | 9 => {
                let table = if code == 8 {
                    "trial_user_attributes"
                } else {
                    "trial_system_attributes"
                };
                let (k, v) = one(if code == 8 { "user_attr" } else { "system_attr" }).unwrap_or_default();
                self.conn
                    .execute(
                        &format!("INSERT OR REPLACE INTO {table} (trial_id, \"key\", value_json) VALUES (?1, ?2, ?3)"),
                        params![trial(&self.trial_ids)?, k, v],
                    )
                    .map_err(&e)?;
            }
            other => {
                return Err(Error::invalid(format!(
                    "operation {other} is not supported on the Optuna database storage"
                )))
            }
        }
        Ok(())
    }
}
