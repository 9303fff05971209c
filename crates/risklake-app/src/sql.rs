//! SQL over the lake as a recorded run: a script of statements, data files as tables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use risklake_core::{Error, Result};
use risklake_lake::sql::split_statements;
use risklake_lake::{SqlResult, SqlSession};

use crate::progress::{check, Progress};
use crate::Workspace;

/// Statements to run, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqlRequest {
    /// One or more statements separated by `;`.
    pub sql: String,
    /// Data files made queryable as tables for these statements: name -> path.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, PathBuf>,
}

/// Every statement's result, and the run.
#[derive(Debug)]
pub struct SqlReport {
    pub results: Vec<SqlResult>,
    /// The recorded run (`None` for queries of a read-only home).
    pub run: Option<i64>,
}

/// The most of a script recorded as the run's `sql` parameter.
const RECORDED_CHARS: usize = 4000;

/// A session over the workspace's lake with the request's files registered.
pub async fn session(ws: &Workspace, files: &BTreeMap<String, PathBuf>) -> Result<SqlSession> {
    let session = ws.lake().await?.sql().await?;
    for (name, path) in files {
        session.register_file(name.trim(), path).await?;
    }
    Ok(session)
}

/// Runs the statements in order, stopping at the first error or at cancellation.
async fn run_all(session: &SqlSession, statements: &[String], progress: &dyn Progress) -> Result<Vec<SqlResult>> {
    let mut results = Vec::new();
    for s in statements {
        check(progress)?;
        results.push(session.query(s).await?);
    }
    Ok(results)
}

/// Runs the statements as one recorded run (`sql`), stopping at the first error; the
/// script is recorded before it runs, so a failed run shows what failed.
pub async fn run(ws: &Workspace, req: &SqlRequest, progress: &dyn Progress) -> Result<SqlReport> {
    let statements = split_statements(&req.sql);
    if statements.is_empty() {
        return Err(Error::param("sql", "no SQL statement given"));
    }
    let session = session(ws, &req.files).await?;
    if ws.is_read_only() && statements.iter().all(|s| risklake_lake::sql::is_read_only(s)) {
        // Queries of a read-only home run unrecorded: there is nowhere to record them.
        let results = run_all(&session, &statements, progress).await?;
        return Ok(SqlReport { results, run: None });
    }
    let run = ws.start_run("sql")?;
    let result = async {
        run.param("sql", req.sql.chars().take(RECORDED_CHARS).collect::<String>())?;
        let results = run_all(&session, &statements, progress).await?;
        if let Some(last) = results.last() {
            run.metric("rows", last.num_rows() as f64)?;
        }
        Ok(results)
    }
    .await;
    let id = run.id();
    let results = run.finish(result)?;
    Ok(SqlReport { results, run: Some(id) })
}

/// Arrow batches as a JSON array of row objects (nulls left out of each object).
pub fn batches_json(batches: &[arrow::record_batch::RecordBatch]) -> Result<serde_json::Value> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::ArrayWriter::new(&mut buf);
        let refs: Vec<&arrow::record_batch::RecordBatch> = batches.iter().collect();
        w.write_batches(&refs).map_err(|e| Error::arrow("writing JSON", e))?;
        w.finish().map_err(|e| Error::arrow("writing JSON", e))?;
    }
    if buf.is_empty() {
        return Ok(serde_json::Value::Array(vec![]));
    }
    serde_json::from_slice(&buf).map_err(|e| Error::invalid(format!("formatting JSON: {e}")))
}

impl SqlReport {
    /// The report as JSON: each statement with its row count and at most `max_rows` of its
    /// rows (`truncated` says when rows were left out), and the run.
    pub fn to_json(&self, max_rows: usize) -> Result<serde_json::Value> {
        let mut results = Vec::with_capacity(self.results.len());
        for r in &self.results {
            let rows = r.num_rows();
            let mut kept = Vec::new();
            let mut left = max_rows;
            for b in &r.batches {
                if left == 0 {
                    break;
                }
                let n = b.num_rows().min(left);
                kept.push(b.slice(0, n));
                left -= n;
            }
            results.push(serde_json::json!({
                "statement": r.statement,
                "columns": r.schema.fields().iter().map(|f| serde_json::json!({
                    "name": f.name(), "type": f.data_type().to_string()
                })).collect::<Vec<_>>(),
                "rows": rows,
                "data": batches_json(&kept)?,
                "truncated": rows > max_rows,
            }));
        }
        Ok(serde_json::json!({ "results": results, "run": self.run }))
    }
}

/// How many of a user's last queries [`remember_query`] keeps per project.
pub const QUERY_HISTORY: usize = 20;

fn history_key(ws: &Workspace, user: &str) -> String {
    // Unit separator: neither a project nor a user name holds it.
    format!("{}\u{1f}{user}", ws.project())
}

/// A user's last queries in the workspace's project, newest first (the dashboard's SQL
/// editor lists them); kept in the project store, so every browser and server sees them.
pub fn recent_queries(ws: &Workspace, user: &str) -> Result<Vec<String>> {
    let Some(text) = ws.store().get_state("sql_history", &history_key(ws, user))? else {
        return Ok(Vec::new());
    };
    serde_json::from_str(&text).map_err(|e| Error::invalid(format!("the stored query history of {user}: {e}")))
}

/// Puts `sql` first in the user's history (once: an older copy moves up), keeping the last
/// [`QUERY_HISTORY`].
/// The list is read and written in one store transaction, so queries remembered at the
/// same moment (two tabs, two server workers) are all kept.
pub fn remember_query(ws: &Workspace, user: &str, sql: &str) -> Result<Vec<String>> {
    let sql = sql.trim();
    let text = ws
        .store()
        .update_state("sql_history", &history_key(ws, user), &mut |current| {
            // A stored list that does not parse is replaced rather than blocking every query.
            let mut list: Vec<String> = current.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
            list.retain(|q| q != sql);
            list.insert(0, sql.to_string());
            list.truncate(QUERY_HISTORY);
            serde_json::to_string(&list).map_err(|e| Error::invalid(format!("the query history: {e}")))
        })?;
    serde_json::from_str(&text).map_err(|e| Error::invalid(format!("the query history: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_history_is_per_user_and_project_newest_first_deduplicated_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path(), "default").unwrap();
        let other = Workspace::open(dir.path(), "other").unwrap();
        assert!(recent_queries(&ws, "ana").unwrap().is_empty());
        remember_query(&ws, "ana", "SELECT 1").unwrap();
        remember_query(&ws, "ana", " SELECT 2 ").unwrap();
        remember_query(&ws, "ana", "SELECT 1").unwrap();
        assert_eq!(recent_queries(&ws, "ana").unwrap(), vec!["SELECT 1", "SELECT 2"]);
        assert!(recent_queries(&ws, "bo").unwrap().is_empty(), "another user");
        assert!(recent_queries(&other, "ana").unwrap().is_empty(), "another project");
        for i in 0..30 {
            remember_query(&ws, "ana", &format!("SELECT {i} AS n")).unwrap();
        }
        let list = recent_queries(&ws, "ana").unwrap();
        assert_eq!(
            (list.len(), list[0].as_str(), list[19].as_str()),
            (QUERY_HISTORY, "SELECT 29 AS n", "SELECT 10 AS n")
        );
    }
}
