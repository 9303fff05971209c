//! The job queue of a server: workflow requests queued, claimed by a worker, run, and
//! ended, with their log lines and the runs they produced. Kept in the project store so a
//! restarted server finds its queue, and so every front can list jobs.

use std::fmt;

use serde::Serialize;

use risklake_core::process::Owner;
use risklake_core::secret::mask;
use risklake_core::{Error, Result};

use crate::db::{args, Conn, Param, Row as DbRow};
use crate::sqlite::{now, SqlStore};

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            _ => return None,
        })
    }

    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job does when the server running it dies: `fail` (default) or `requeue`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInterrupt {
    #[default]
    Fail,
    Requeue,
}

/// A job as the store keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    pub id: i64,
    pub project: String,
    /// The workflow (`train.gbdt`, `ingest`, ...).
    pub kind: String,
    /// The request as JSON, secrets masked.
    pub request: serde_json::Value,
    pub status: JobStatus,
    pub user: String,
    pub on_interrupt: OnInterrupt,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The workflow's report (JSON), when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Cancellation was asked for while it ran.
    pub cancel_requested: bool,
    /// The runs it recorded.
    pub runs: Vec<i64>,
    /// The latest progress (stage, position, total), as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<serde_json::Value>,
}

/// One line of a job's log.
#[derive(Clone, Debug, Serialize)]
pub struct JobLogLine {
    pub seq: i64,
    pub at: String,
    pub line: String,
}

/// Which jobs to list.
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    pub project: Option<String>,
    pub status: Option<JobStatus>,
    pub limit: Option<usize>,
}

const REQUEUE: &str = "UPDATE jobs SET status = 'queued', started_at = NULL, owner = NULL, progress = NULL,
     cancel_requested = 0 WHERE id = ?1 AND status = 'running'";

const JOB_COLUMNS: &str = "j.id, p.name, j.kind, j.request, j.status, j.user_name, j.on_interrupt, j.created_at, \
     j.started_at, j.ended_at, j.error, j.result, j.cancel_requested, j.progress";

/// The command runs of a job record (see `Workspace::with_origin`).
pub fn job_origin(id: i64) -> String {
    format!("job {id}")
}

fn job_from_row(r: &DbRow) -> Result<Job> {
    let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    Ok(Job {
        id: r.int(0)?,
        project: r.text(1)?,
        kind: r.text(2)?,
        request: json(r.opt_text(3)?).unwrap_or(serde_json::Value::Null),
        status: JobStatus::parse(&r.text(4)?).unwrap_or(JobStatus::Failed),
        user: r.text(5)?,
        on_interrupt: if r.text(6)? == "requeue" {
            OnInterrupt::Requeue
        } else {
            OnInterrupt::Fail
        },
        created_at: r.text(7)?,
        started_at: r.opt_text(8)?,
        ended_at: r.opt_text(9)?,
        error: r.opt_text(10)?,
        result: json(r.opt_text(11)?),
        cancel_requested: r.int(12)? != 0,
        runs: Vec::new(),
        progress: json(r.opt_text(13)?),
    })
}

impl SqlStore {
    fn with_runs(&self, mut job: Job) -> Result<Job> {
        let origin = job_origin(job.id);
        job.runs = self
            .db()
            .with(|c| c.query("SELECT id FROM runs WHERE command = ?1 ORDER BY id", args![&origin]))?
            .iter()
            .map(|r| r.int(0))
            .collect::<Result<Vec<_>>>()?;
        Ok(job)
    }

    /// Queues a job; the request is stored with its secrets masked (the caller keeps the
    /// real one to run, see [`SqlStore::claim_job`]).
    pub fn create_job(
        &self,
        project: &str,
        kind: &str,
        request: &serde_json::Value,
        user: &str,
        on_interrupt: OnInterrupt,
    ) -> Result<i64> {
        let project_id = crate::Store::ensure_project(self, project)?;
        let text = mask(&request.to_string()).into_owned();
        let on_interrupt = if on_interrupt == OnInterrupt::Requeue {
            "requeue"
        } else {
            "fail"
        };
        self.db().with(|c| {
            c.row(
                "INSERT INTO jobs (project_id, kind, request, status, user_name, on_interrupt, created_at)
                 VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6) RETURNING id",
                args![project_id, kind, &text, user, on_interrupt, &now()],
            )?
            .ok_or_else(|| Error::invalid("the job just queued is not in the store"))?
            .int(0)
        })
    }

    /// Takes the oldest queued job for this process (`running`, owned by it), if any.
    pub fn claim_job(&self) -> Result<Option<Job>> {
        let me = Owner::current().to_string();
        // One writer at a time: two servers on one store never take the same job.
        let claimed = self.db().tx(|c| {
            c.int(
                "UPDATE jobs SET status = 'running', started_at = ?1, owner = ?2
                 WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1)
                 RETURNING id",
                args![&now(), &me],
            )
        })?;
        claimed.map(|id| self.get_job(id)).transpose()
    }

    /// Ends a running job (a job already ended is left as it is).
    pub fn finish_job(
        &self,
        id: i64,
        status: JobStatus,
        error: Option<&str>,
        result: Option<&serde_json::Value>,
    ) -> Result<()> {
        let error = error.map(|e| mask(e).into_owned());
        let result = result.map(|r| mask(&r.to_string()).into_owned());
        self.db().with(|c| {
            c.exec(
                "UPDATE jobs SET status = ?2, ended_at = ?3, error = ?4, result = ?5
                 WHERE id = ?1 AND status = 'running'",
                args![id, status.as_str(), &now(), error.as_deref(), result.as_deref()],
            )
        })?;
        Ok(())
    }

    /// Cancels a job: a queued one ends `cancelled` at once; a running one is asked to
    /// stop (its worker sees [`Job::cancel_requested`]); an ended one is a conflict.
    pub fn cancel_job(&self, id: i64) -> Result<Job> {
        let job = self.get_job(id)?;
        match job.status {
            JobStatus::Queued => {
                self.db().with(|c| {
                    c.exec(
                        "UPDATE jobs SET status = 'cancelled', ended_at = ?2, error = 'cancelled before it started'
                         WHERE id = ?1 AND status = 'queued'",
                        args![id, &now()],
                    )
                })?;
            }
            JobStatus::Running => {
                self.db()
                    .with(|c| c.exec("UPDATE jobs SET cancel_requested = 1 WHERE id = ?1", args![id]))?;
            }
            s => return Err(Error::Conflict(format!("job {id} has already ended ({s})"))),
        }
        self.get_job(id)
    }

    pub fn get_job(&self, id: i64) -> Result<Job> {
        let row = self.db().with(|c| {
            c.row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs j JOIN projects p ON p.id = j.project_id WHERE j.id = ?1"),
                args![id],
            )
        })?;
        let job = job_from_row(&row.ok_or_else(|| Error::not_found("job", id.to_string()))?)?;
        self.with_runs(job)
    }

    /// Jobs, newest first.
    pub fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let rows = self.db().with(|c| {
            c.query(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM jobs j JOIN projects p ON p.id = j.project_id
                     WHERE (CAST(?1 AS TEXT) IS NULL OR p.name = ?1) AND (CAST(?2 AS TEXT) IS NULL OR j.status = ?2)
                     ORDER BY j.id DESC LIMIT ?3"
                ),
                args![
                    filter.project.as_deref(),
                    filter.status.map(|s| s.as_str()),
                    filter.limit.map_or(i64::MAX, |l| l as i64)
                ],
            )
        })?;
        rows.iter()
            .map(|r| job_from_row(r).and_then(|j| self.with_runs(j)))
            .collect()
    }

    /// Appends a line to the job's log.
    pub fn append_job_log(&self, id: i64, line: &str) -> Result<()> {
        let line = mask(line).into_owned();
        self.db().with(|c| {
            c.exec(
                "INSERT INTO job_logs (job_id, seq, at, line)
                 VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_logs WHERE job_id = ?1), ?2, ?3)",
                args![id, &now(), &line],
            )
        })?;
        Ok(())
    }

    /// The job's log lines after `after` (0 for all).
    pub fn job_log(&self, id: i64, after: i64) -> Result<Vec<JobLogLine>> {
        self.db()
            .with(|c| {
                c.query(
                    "SELECT seq, at, line FROM job_logs WHERE job_id = ?1 AND seq > ?2 ORDER BY seq",
                    args![id, after],
                )
            })?
            .iter()
            .map(|r| {
                Ok(JobLogLine {
                    seq: r.int(0)?,
                    at: r.text(1)?,
                    line: r.text(2)?,
                })
            })
            .collect()
    }

    /// Records the job's latest progress.
    pub fn set_job_progress(&self, id: i64, progress: &serde_json::Value) -> Result<()> {
        let text = progress.to_string();
        self.db()
            .with(|c| c.exec("UPDATE jobs SET progress = ?2 WHERE id = ?1", args![id, &text]))?;
        Ok(())
    }

    /// Puts a running job back in the queue (its server is stopping and the job asked to be
    /// run again rather than fail).
    pub fn requeue_job(&self, id: i64) -> Result<()> {
        self.db().with(|c| c.exec(REQUEUE, args![id]))?;
        Ok(())
    }

    /// Jobs left `running` by a process that is gone (a killed server): failed as
    /// interrupted, or queued again when their request asked for that. Returns their ids.
    pub fn reap_jobs(&self) -> Result<Vec<i64>> {
        let running = self
            .db()
            .with(|c| c.query("SELECT id, owner, on_interrupt FROM jobs WHERE status = 'running'", &[]))?;
        let mut reaped = Vec::new();
        for r in running {
            let (id, owner, on_interrupt) = (r.int(0)?, r.opt_text(1)?, r.text(2)?);
            let gone = owner.as_deref().and_then(Owner::parse).is_none_or(|o| o.is_gone());
            if !gone {
                continue;
            }
            let n = self.db().with(|c| {
                if on_interrupt == "requeue" {
                    c.exec(REQUEUE, args![id])
                } else {
                    c.exec(
                        "UPDATE jobs SET status = 'failed', ended_at = ?2,
                           error = 'interrupted: the server running it stopped before it ended'
                         WHERE id = ?1 AND status = 'running'",
                        args![id, &now()],
                    )
                }
            })?;
            if n == 1 {
                reaped.push(id);
            }
        }
        Ok(reaped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_queue_run_end_and_survive_a_dead_owner() {
        for b in crate::testing::backends() {
            jobs_queue_run_end_and_survive_a_dead_owner_on(&b);
        }
    }

    fn jobs_queue_run_end_and_survive_a_dead_owner_on(b: &crate::testing::Backend) {
        eprintln!("jobs_queue_run_end_and_survive_a_dead_owner on {}", b.name);
        let store = b.open();
        let req = serde_json::json!({"kind": "ingest", "request": {"url": "postgres://u:pw@h/db"}});
        let a = store.create_job("p", "ingest", &req, "ana", OnInterrupt::Fail).unwrap();
        let b = store.create_job("p", "gen", &req, "ana", OnInterrupt::Requeue).unwrap();
        let c = store.create_job("q", "gen", &req, "bo", OnInterrupt::Fail).unwrap();
        let job = store.get_job(a).unwrap();
        assert_eq!(job.status, JobStatus::Queued);
        assert!(
            !job.request.to_string().contains("pw@"),
            "secrets masked: {}",
            job.request
        );
        // Claimed oldest first, once.
        assert_eq!(store.claim_job().unwrap().unwrap().id, a);
        assert_eq!(store.claim_job().unwrap().unwrap().id, b);
        assert_eq!(store.cancel_job(c).unwrap().status, JobStatus::Cancelled);
        assert!(store.claim_job().unwrap().is_none());
        assert!(matches!(store.cancel_job(c), Err(Error::Conflict(_))));
        assert!(store.cancel_job(a).unwrap().cancel_requested);
        store.append_job_log(a, "first").unwrap();
        store.append_job_log(a, "second").unwrap();
        assert_eq!(store.job_log(a, 1).unwrap()[0].line, "second");
        store
            .finish_job(a, JobStatus::Cancelled, Some("cancelled"), None)
            .unwrap();
        store.finish_job(a, JobStatus::Succeeded, None, None).unwrap();
        assert_eq!(
            store.get_job(a).unwrap().status,
            JobStatus::Cancelled,
            "an ended job stays ended"
        );
        let listed = store
            .list_jobs(&JobFilter {
                project: Some("p".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(listed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![b, a]);
        // b runs under a dead owner: requeued; a new failing job under a dead owner: failed.
        let dead = format!("{}:999999999:0", risklake_core::process::hostname());
        store
            .db()
            .with(|c| c.exec("UPDATE jobs SET owner = ?1 WHERE id = ?2", args![&dead, b]))
            .unwrap();
        let d = store.create_job("p", "gen", &req, "ana", OnInterrupt::Fail).unwrap();
        store
            .db()
            .with(|c| {
                c.exec(
                    "UPDATE jobs SET status = 'running', owner = ?1 WHERE id = ?2",
                    args![&dead, d],
                )
            })
            .unwrap();
        let mut reaped = store.reap_jobs().unwrap();
        reaped.sort();
        assert_eq!(reaped, vec![b, d]);
        assert_eq!(store.get_job(b).unwrap().status, JobStatus::Queued);
        let d = store.get_job(d).unwrap();
        assert_eq!(d.status, JobStatus::Failed);
        assert!(d.error.unwrap().contains("interrupted"));
        assert!(matches!(store.get_job(999), Err(Error::NotFound { .. })));
    }
}

/// What a token may do in its project: read (viewer), also run jobs and write tables
/// (editor), also manage tokens and delete (admin).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "viewer" => Role::Viewer,
            "editor" => Role::Editor,
            "admin" => Role::Admin,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

/// An API token as listed (never its secret).
#[derive(Clone, Debug, Serialize)]
pub struct Token {
    pub id: i64,
    pub user: String,
    pub project: String,
    pub role: Role,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// One entry of the audit log: who changed what, when.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub user: String,
    pub project: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// The stored form of a token's secret.
fn digest(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn token_from_row(r: &DbRow) -> Result<Token> {
    Ok(Token {
        id: r.int(0)?,
        user: r.text(1)?,
        project: r.text(2)?,
        role: Role::parse(&r.text(3)?).unwrap_or(Role::Viewer),
        created_at: r.text(4)?,
        expires_at: r.opt_text(5)?,
        revoked_at: r.opt_text(6)?,
    })
}

const TOKEN_COLUMNS: &str = "id, user_name, project, role, created_at, expires_at, revoked_at";

/// The token whose `column` (`id` or `digest`) is `value`.
fn token_where(c: &Conn, column: &str, value: Param) -> Result<Option<Token>> {
    c.row(
        &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE {column} = ?1"),
        &[value],
    )?
    .map(|r| token_from_row(&r))
    .transpose()
}

impl Token {
    /// Not revoked and not expired.
    pub fn is_live(&self) -> bool {
        self.revoked_at.is_none() && self.expires_at.as_deref().is_none_or(|e| e > now().as_str())
    }
}

impl SqlStore {
    /// Creates a token for `user` in `project` with `role`, valid until `expires_at`
    /// (RFC 3339) if given. Returns it with its secret, which is shown once: the store keeps
    /// only its SHA-256 digest.
    pub fn create_token(
        &self,
        user: &str,
        project: &str,
        role: Role,
        expires_at: Option<&str>,
    ) -> Result<(Token, String)> {
        for (what, v) in [("user", user), ("project", project)] {
            if v.trim().is_empty() {
                return Err(Error::param(what, "is required"));
            }
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| Error::external("drawing a token", e))?;
        let secret: String = std::iter::once("rlk_".to_string())
            .chain(bytes.iter().map(|b| format!("{b:02x}")))
            .collect();
        let token = self.db().with(|c| {
            let row = c.row(
                &format!(
                    "INSERT INTO tokens (digest, user_name, project, role, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING {TOKEN_COLUMNS}"
                ),
                args![&digest(&secret), user, project, role.as_str(), &now(), expires_at],
            )?;
            row.map(|r| token_from_row(&r))
                .transpose()?
                .ok_or_else(|| Error::invalid("the token just created is not in the store"))
        })?;
        Ok((token, secret))
    }

    /// The token a secret is, when it exists, is not revoked and has not expired.
    pub fn verify_token(&self, secret: &str) -> Result<Option<Token>> {
        let d = digest(secret.trim());
        Ok(self
            .db()
            .with(|c| token_where(c, "digest", Param::from(&d)))?
            .filter(Token::is_live))
    }

    /// Whether token `id` still works (not revoked, not expired): long-lived connections
    /// (the PostgreSQL listener) check it before every statement.
    pub fn token_is_live(&self, id: i64) -> Result<bool> {
        Ok(self
            .db()
            .with(|c| token_where(c, "id", Param::from(id)))?
            .is_some_and(|t| t.is_live()))
    }

    /// Tokens, of one project or all.
    pub fn list_tokens(&self, project: Option<&str>) -> Result<Vec<Token>> {
        self.db()
            .with(|c| {
                c.query(
                    &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE (CAST(?1 AS TEXT) IS NULL OR project = ?1) ORDER BY id"),
                    args![project],
                )
            })?
            .iter()
            .map(token_from_row)
            .collect()
    }

    /// Revokes a token; it stops working at once.
    pub fn revoke_token(&self, id: i64) -> Result<Token> {
        let (n, token) = self.db().with(|c| {
            let n = c.exec(
                "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                args![id, &now()],
            )?;
            Ok((n, token_where(c, "id", Param::from(id))?))
        })?;
        let token = token.ok_or_else(|| Error::not_found("token", id.to_string()))?;
        if n == 0 {
            return Err(Error::Conflict(format!("token {id} was already revoked")));
        }
        Ok(token)
    }

    /// Records a change in the audit log.
    pub fn audit(&self, user: &str, project: &str, action: &str, target: &str, detail: &str) -> Result<()> {
        let detail = mask(detail).into_owned();
        self.db().with(|c| {
            c.exec(
                "INSERT INTO audit (at, user_name, project, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![&now(), user, project, action, target, &detail],
            )
        })?;
        Ok(())
    }

    /// The audit log, newest first.
    pub fn list_audit(&self, project: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
        self.db()
            .with(|c| {
                c.query(
                    "SELECT id, at, user_name, project, action, target, detail FROM audit
                     WHERE (CAST(?1 AS TEXT) IS NULL OR project = ?1) ORDER BY id DESC LIMIT ?2",
                    args![project, limit.min(i64::MAX as usize) as i64],
                )
            })?
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.int(0)?,
                    at: r.text(1)?,
                    user: r.text(2)?,
                    project: r.text(3)?,
                    action: r.text(4)?,
                    target: r.text(5)?,
                    detail: r.text(6)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod token_tests {
    use super::*;

    #[test]
    fn tokens_are_shown_once_stored_hashed_and_stop_when_revoked_or_expired() {
        for b in crate::testing::backends() {
            tokens_are_shown_once_stored_hashed_and_stop_when_revoked_or_expired_on(&b);
        }
    }

    fn tokens_are_shown_once_stored_hashed_and_stop_when_revoked_or_expired_on(b: &crate::testing::Backend) {
        eprintln!(
            "tokens_are_shown_once_stored_hashed_and_stop_when_revoked_or_expired on {}",
            b.name
        );
        let store = b.open();
        let (t, secret) = store.create_token("ana", "credit", Role::Editor, None).unwrap();
        assert!(secret.starts_with("rlk_") && secret.len() == 68, "{secret}");
        assert_eq!(store.verify_token(&secret).unwrap().unwrap().id, t.id);
        assert!(store.verify_token("rlk_guess").unwrap().is_none());
        let stored = store
            .db()
            .with(|c| c.row("SELECT digest FROM tokens WHERE id = ?1", args![t.id]))
            .unwrap()
            .unwrap()
            .text(0)
            .unwrap();
        assert_ne!(stored, secret, "only the digest is kept");
        if !b.is_postgres() {
            let bytes = std::fs::read(b.home().join("store.db")).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains(&secret[4..]));
        }
        store.revoke_token(t.id).unwrap();
        assert!(store.verify_token(&secret).unwrap().is_none());
        assert!(matches!(store.revoke_token(t.id), Err(Error::Conflict(_))));
        let (_, old) = store
            .create_token("bo", "credit", Role::Viewer, Some("2020-01-01T00:00:00Z"))
            .unwrap();
        assert!(store.verify_token(&old).unwrap().is_none(), "expired");
        let (_, later) = store
            .create_token("bo", "credit", Role::Viewer, Some("2999-01-01T00:00:00Z"))
            .unwrap();
        assert_eq!(store.verify_token(&later).unwrap().unwrap().role, Role::Viewer);
        assert_eq!(store.list_tokens(Some("credit")).unwrap().len(), 3);
        assert!(store.list_tokens(Some("other")).unwrap().is_empty());
        assert!(Role::Admin > Role::Editor && Role::Editor > Role::Viewer);
        store
            .audit("ana", "credit", "job.submit", "job 1", "postgres://u:pw@h/db")
            .unwrap();
        let log = store.list_audit(Some("credit"), 10).unwrap();
        assert_eq!(log[0].action, "job.submit");
        assert!(!log[0].detail.contains("pw@"), "{}", log[0].detail);
    }
}
