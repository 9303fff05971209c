//! The `/api/v1` routes: each handler reads its input, calls the workflow layer (or the
//! store's job queue) and answers JSON.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};

use risklake_app::jobs::{sandbox_paths, WorkflowRequest};
use risklake_app::Workspace;
use risklake_core::{Error, Result};
use risklake_track::{JobFilter, JobStatus, OnInterrupt, Role, RunFilter, RunStatus};

use crate::state::{denied, ApiError, Caller, State};

/// Every route: (method, path, what it does). The router and the OpenAPI document are
/// both read from here, so they cannot drift apart.
const ROUTES: &[(&str, &str, &str)] = &[
    ("get", "/api/v1/health", "The server's version and state."),
    ("get", "/api/v1/openapi.json", "This API as an OpenAPI 3.1 document."),
    (
        "get",
        "/api/v1/me",
        "Who calls: user, project (a token's own; none without authentication), role.",
    ),
    ("get", "/api/v1/projects", "Projects with their run counts."),
    (
        "get",
        "/api/v1/tables",
        "The lake's tables: kind, columns, latest snapshot.",
    ),
    (
        "get",
        "/api/v1/tables/{name}",
        "One table: columns with types, keys, options, rows, snapshots and tags (time travel).",
    ),
    (
        "get",
        "/api/v1/tables/{name}/profile",
        "One column's profile (column, snapshot): type, missing, distinct, min / max, quantiles, \
         histogram or most frequent values.",
    ),
    (
        "get",
        "/api/v1/plans/{run}",
        "A binning run's plan in brief: features with IV, KS, trend, missing (sort, order).",
    ),
    (
        "get",
        "/api/v1/plans/{run}/features/{feature}",
        "One feature of a binning plan with its bins (count, event rate, WoE, IV).",
    ),
    (
        "get",
        "/api/v1/studies",
        "The project's tuning studies: direction, trials by state, best trial, subject.",
    ),
    ("get", "/api/v1/studies/{name}", "One study in brief."),
    (
        "get",
        "/api/v1/studies/{name}/trials",
        "A page of a study's trials (offset, limit): state, value, parameters, intermediate values.",
    ),
    (
        "get",
        "/api/v1/studies/{name}/importance",
        "Parameter importances of a study by fANOVA over its completed trials (trees, seed), \
         as Optuna's default evaluator computes them; largest first, summing to 1.",
    ),
    (
        "get",
        "/api/v1/tables/{name}/preview",
        "Rows of a table (limit, offset, snapshot).",
    ),
    (
        "post",
        "/api/v1/sql",
        "Runs read-only SQL: {\"sql\", \"limit\", \"format\"} -> rows (bounded in rows and time); \
         format \"csv\" or \"parquet\" answers the last statement's rows as that file.",
    ),
    (
        "get",
        "/api/v1/sql/history",
        "The caller's last 20 queries in the project, newest first (every query sent to /sql is kept).",
    ),
    (
        "get",
        "/api/v1/runs",
        "Runs, newest first (project, kind, status, limit, offset), with how many pass the filter (total).",
    ),
    (
        "get",
        "/api/v1/runs/{id}",
        "One run: params, metrics, datasets, artifacts.",
    ),
    ("get", "/api/v1/models", "Registered models of a project."),
    (
        "get",
        "/api/v1/models/{name}",
        "One registered model: versions, aliases, history.",
    ),
    (
        "get",
        "/api/v1/models/{name}/reports",
        "The model's reports (model.report runs naming it): table, AUC / KS / PSI, the HTML page's URL.",
    ),
    (
        "post",
        "/api/v1/models/{name}/predict",
        "Scores rows with NAME@ALIAS (or NAME, its latest version): JSON {\"rows\", \"reasons\"} -> \
         predictions, or an Arrow IPC stream (Content-Type application/vnd.apache.arrow.stream) -> \
         an Arrow IPC stream of probability, score, error.",
    ),
    (
        "post",
        "/api/v1/models/{name}/versions/{version}/predict",
        "Scores rows with one version of a registered model (JSON or Arrow IPC, as above).",
    ),
    (
        "get",
        "/api/v1/tokens",
        "API tokens of the project (admin; never their secrets).",
    ),
    (
        "post",
        "/api/v1/tokens",
        "Creates a token: {\"user\", \"role\", \"expires_days\"} -> its secret, shown once (admin).",
    ),
    (
        "delete",
        "/api/v1/tokens/{id}",
        "Revokes a token of the project (admin).",
    ),
    ("get", "/api/v1/jobs", "Jobs, newest first (project, status, limit)."),
    (
        "post",
        "/api/v1/jobs",
        "Queues a workflow: {\"kind\", \"request\", \"project\", \"on_interrupt\"}.",
    ),
    (
        "get",
        "/api/v1/jobs/{id}",
        "One job: state, times, runs, result or error, progress.",
    ),
    (
        "delete",
        "/api/v1/jobs/{id}",
        "Cancels a job (queued: at once; running: at its next check).",
    ),
    ("get", "/api/v1/jobs/{id}/logs", "A job's log lines after `after`."),
    (
        "get",
        "/api/v1/jobs/{id}/events",
        "A job's log lines and its end as server-sent events.",
    ),
];

pub(crate) fn router(state: State, max_body: usize) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/openapi.json", get(|| async { Json(openapi()) }))
        .route("/api/v1/me", get(me))
        .route("/api/v1/projects", get(projects))
        .route("/api/v1/tables", get(tables))
        .route("/api/v1/tables/{name}", get(table))
        .route("/api/v1/tables/{name}/preview", get(preview))
        .route("/api/v1/tables/{name}/profile", get(profile))
        .route("/api/v1/plans/{run}", get(plan))
        .route("/api/v1/plans/{run}/features/{feature}", get(plan_feature))
        .route("/api/v1/studies", get(studies))
        .route("/api/v1/studies/{name}", get(study))
        .route("/api/v1/studies/{name}/trials", get(trials))
        .route("/api/v1/studies/{name}/importance", get(importance))
        .route("/api/v1/sql", axum::routing::post(sql))
        .route("/api/v1/sql/history", get(sql_history))
        .route("/api/v1/runs", get(runs))
        .route("/api/v1/runs/compare", get(compare))
        .route("/api/v1/runs/{id}", get(run))
        .route("/api/v1/runs/{id}/metrics/{key}", get(metric_history))
        .route("/api/v1/runs/{id}/artifacts/{name}", get(artifact))
        .route("/api/v1/runs/{id}/lineage", get(lineage))
        .route("/api/v1/models", get(models))
        .route("/api/v1/models/{name}", get(model))
        .route("/api/v1/models/{name}/versions", axum::routing::post(register))
        .route("/api/v1/models/{name}/reports", get(reports))
        .route("/api/v1/models/{name}/aliases/{alias}", axum::routing::put(set_alias))
        .route("/api/v1/models/{name}/predict", axum::routing::post(predict_alias))
        .route(
            "/api/v1/models/{name}/versions/{version}/predict",
            axum::routing::post(predict_version),
        )
        .route("/api/v1/tokens", get(tokens).post(create_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/api/v1/jobs", get(jobs).post(submit))
        .route("/api/v1/jobs/{id}", get(job).delete(cancel))
        .route("/api/v1/jobs/{id}/logs", get(logs))
        .route("/api/v1/jobs/{id}/events", get(events))
        .merge(crate::mlflow::routes())
        .fallback(|| async {
            ApiError::Core(Error::not_found(
                "route",
                "no such API route (see /api/v1/openapi.json)",
            ))
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(DefaultBodyLimit::max(max_body))
        // The dashboard's pages sign in by themselves; what they show comes from the API above.
        .merge(crate::ui::routes())
        .with_state(state)
}

/// This API as an OpenAPI 3.1 document.
pub fn openapi() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary) in ROUTES {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = json!({
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {"description": "JSON"},
                "4XX": {"description": "{\"error\": {\"kind\", \"message\"}}: a mistake the client can fix"}
            }
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "risklake", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths
    })
}

/// Paths anyone may read.
const PUBLIC: &[&str] = &["/api/v1/health", "/api/v1/openapi.json"];

async fn authenticate(S(state): S<State>, mut req: Request, next: Next) -> Response {
    let mut by_cookie = false;
    let caller = match state.auth {
        crate::Auth::None => Caller {
            user: std::env::var("USER").unwrap_or_else(|_| "local".into()),
            project: None,
            role: Role::Admin,
        },
        crate::Auth::Token => {
            if PUBLIC.contains(&req.uri().path()) {
                return next.run(req).await;
            }
            let bearer = req
                .headers()
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|s| !s.is_empty());
            // The dashboard's session cookie stands in for the header.
            let secret = match bearer {
                Some(s) => s.to_string(),
                None => match crate::ui::cookie(req.headers(), crate::ui::SESSION) {
                    Some(s) => {
                        by_cookie = true;
                        s.to_string()
                    }
                    None => {
                        return denied(
                            StatusCode::UNAUTHORIZED,
                            "this server needs a token: Authorization: Bearer <token> (risklake token create)",
                        )
                        .into_response()
                    }
                },
            };
            match state.shared.queue.verify_token(&secret) {
                Ok(Some(t)) => Caller {
                    user: t.user,
                    project: Some(t.project),
                    role: t.role,
                },
                Ok(None) => {
                    return denied(StatusCode::UNAUTHORIZED, "the token is unknown, revoked or expired").into_response()
                }
                Err(e) => return ApiError::Core(e).into_response(),
            }
        }
    };
    if let Err(why) = crate::ui::check_write(req.method(), req.headers(), by_cookie) {
        return denied(StatusCode::FORBIDDEN, why).into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

type Answer<T = Json<Value>> = std::result::Result<T, ApiError>;

fn to_json<T: serde::Serialize>(v: &T) -> Answer {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError::Core(Error::invalid(format!("formatting the answer: {e}"))))
}

/// The query string, refusing parameters the route does not take.
struct Params(HashMap<String, String>, Option<String>);

impl Params {
    /// The query, checked against the route's parameters and the caller's project: a
    /// token works in its own project only.
    fn new(q: HashMap<String, String>, allowed: &[&str], caller: &Caller) -> std::result::Result<Self, ApiError> {
        if let Some(asked) = q.get("project") {
            caller.may_use(asked)?;
        }
        Ok(Self::checked(q, allowed, caller.project.clone())?)
    }

    fn checked(q: HashMap<String, String>, allowed: &[&str], own: Option<String>) -> Result<Self> {
        if let Some(k) = q
            .keys()
            .find(|k| !allowed.contains(&k.as_str()) && k.as_str() != "project")
        {
            let mut all: Vec<&str> = allowed.to_vec();
            all.push("project");
            return Err(Error::param(
                k.clone(),
                format!("is not a parameter here (these are: {})", all.join(", ")),
            ));
        }
        Ok(Params(q, own))
    }

    fn project(&self) -> String {
        self.1
            .clone()
            .or_else(|| self.0.get("project").cloned())
            .unwrap_or_else(|| risklake_app::DEFAULT_PROJECT.into())
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    fn number(&self, k: &str, default: usize, max: usize) -> Result<usize> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .map(|n| n.min(max))
                .map_err(|_| Error::param(k, format!("{v:?} is not a whole number"))),
        }
    }
}

fn id_of(text: &str, what: &str) -> Result<i64> {
    text.parse::<i64>()
        .map_err(|_| Error::param("id", format!("{text:?} is not a {what} id")))
}

fn workspace(state: &State, project: &str) -> Result<Workspace> {
    state.shared.workspace(project)
}

async fn health(S(state): S<State>) -> Answer {
    let running = state.shared.running.lock().unwrap_or_else(|p| p.into_inner()).len();
    Ok(Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "home": state.shared.home.display().to_string(),
        "running_jobs": running,
    })))
}

async fn me(S(state): S<State>, Extension(caller): Extension<Caller>) -> Answer {
    Ok(Json(json!({
        "user": caller.user,
        "project": caller.project,
        "role": caller.role.as_str(),
        "auth": match state.auth {
            crate::Auth::None => "none",
            crate::Auth::Token => "token",
        },
    })))
}

async fn projects(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    let ws = workspace(&state, &p.project())?;
    to_json(&json!({ "projects": ws.store().list_projects()? }))
}

async fn tables(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    let ws = workspace(&state, &p.project())?;
    to_json(&json!({ "tables": risklake_app::lake::tables(&ws).await? }))
}

async fn table(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    let ws = workspace(&state, &p.project())?;
    let name = ws.table_name(&name)?;
    let lake = ws.lake().await?;
    let t = lake.table(&name).await?;
    let schema = lake.arrow_schema(&name).await?;
    let columns: Vec<Value> = schema
        .fields()
        .iter()
        .map(|f| json!({"name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()}))
        .collect();
    let info = lake.describe(&name).await?;
    Ok(Json(json!({
        "name": name.to_string(),
        "columns": columns,
        "primary_key": t.schema().primary_keys(),
        "partition_by": t.schema().partition_keys(),
        "options": info.options,
        "rows": info.rows,
        "snapshot": lake.latest_snapshot(&name).await?,
        "snapshots": info.snapshots,
        "tags": info.tags,
    })))
}

async fn profile(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &["column", "snapshot"], &caller)?;
    let column = p
        .get("column")
        .ok_or_else(|| Error::param("column", "is required: the column to profile"))?
        .to_string();
    let snapshot = p.get("snapshot").map(|s| id_of(s, "snapshot")).transpose()?;
    let ws = workspace(&state, &p.project())?;
    let work = risklake_app::lake::profile(&ws, &name, &column, snapshot);
    match tokio::time::timeout(state.sql_timeout, work).await {
        Ok(r) => to_json(&r?),
        Err(_) => Err(ApiError::Core(Error::invalid(format!(
            "profiling ran longer than the server's limit of {} s",
            state.sql_timeout.as_secs_f64()
        )))),
    }
}

async fn plan(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(run): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &["sort", "order"], &caller)?;
    let ascending = match p.get("order") {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(o) => return Err(ApiError::Core(Error::param("order", format!("{o:?} is asc or desc")))),
    };
    let ws = workspace(&state, &p.project())?;
    run_in_project(&ws, &run, &p.project())?;
    Ok(Json(risklake_app::features::plan_summary(
        &ws,
        &run,
        p.get("sort"),
        ascending,
    )?))
}

async fn plan_feature(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path((run, feature)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    let ws = workspace(&state, &p.project())?;
    run_in_project(&ws, &run, &p.project())?;
    to_json(&risklake_app::features::plan_feature(&ws, &run, &feature)?)
}

async fn studies(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    let ws = workspace(&state, &p.project())?;
    to_json(&json!({ "studies": risklake_app::studies::list(&ws)? }))
}

async fn study(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    let ws = workspace(&state, &p.project())?;
    to_json(&risklake_app::studies::get(&ws, &name)?)
}

async fn trials(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &["offset", "limit"], &caller)?;
    let offset = p.number("offset", 0, usize::MAX)?;
    let limit = p.number("limit", 100, 1000)?;
    let ws = workspace(&state, &p.project())?;
    to_json(&risklake_app::studies::trials(&ws, &name, offset, limit)?)
}

async fn importance(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &["trees", "seed"], &caller)?;
    let options = risklake_app::studies::FanovaOptions {
        trees: p.number("trees", 64, 256)?.max(1),
        seed: p.number("seed", 0, u32::MAX as usize)? as u64,
        ..Default::default()
    };
    let ws = workspace(&state, &p.project())?;
    // A forest over up to thousands of trials: off the request threads.
    let imp = tokio::task::spawn_blocking(move || risklake_app::studies::importance(&ws, &name, &options))
        .await
        .map_err(|e| Error::external("computing the importances", e))??;
    to_json(&imp)
}

/// Runs one query, keeping at most `limit` rows, within the time limit.
/// A query's first `limit` rows, whether it had more, and its schema; bounded in time.
async fn bounded_batches(
    state: &State,
    ws: &Workspace,
    sql: &str,
    limit: usize,
) -> Result<(
    datafusion::arrow::datatypes::SchemaRef,
    Vec<datafusion::arrow::record_batch::RecordBatch>,
    usize,
    bool,
)> {
    let work = async {
        let session = risklake_app::sql::session(ws, &Default::default()).await?;
        let mut stream = session.stream(sql).await?;
        let schema = stream.schema();
        let mut kept = Vec::new();
        let (mut rows, mut truncated) = (0usize, false);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| Error::external("running the query", e))?;
            let take = batch.num_rows().min(limit - rows);
            if take < batch.num_rows() {
                truncated = true;
            }
            if take > 0 {
                kept.push(batch.slice(0, take));
                rows += take;
            }
            if rows >= limit {
                truncated = truncated || stream.next().await.is_some();
                break;
            }
        }
        Ok::<_, Error>((schema, kept, rows, truncated))
    };
    match tokio::time::timeout(state.sql_timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(Error::invalid(format!(
            "the query ran longer than the server's limit of {} s",
            state.sql_timeout.as_secs_f64()
        ))),
    }
}

async fn bounded_query(state: &State, ws: &Workspace, sql: &str, limit: usize) -> Result<Value> {
    let (schema, kept, rows, truncated) = bounded_batches(state, ws, sql, limit).await?;
    let columns: Vec<Value> = schema
        .fields()
        .iter()
        .map(|f| json!({"name": f.name(), "type": f.data_type().to_string()}))
        .collect();
    Ok(json!({
        "columns": columns,
        "rows": rows,
        "truncated": truncated,
        "data": risklake_app::sql::batches_json(&kept)?,
    }))
}

/// Rows as a file to download: CSV with a header line, or Parquet.
fn rows_file(
    format: &str,
    schema: datafusion::arrow::datatypes::SchemaRef,
    batches: &[datafusion::arrow::record_batch::RecordBatch],
) -> Result<Response> {
    let fail = |e: &dyn std::fmt::Display| Error::invalid(format!("writing the rows as {format}: {e}"));
    let mut out = Vec::new();
    let kind = match format {
        "csv" => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in batches {
                w.write(b).map_err(|e| fail(&e))?;
            }
            drop(w);
            "text/csv; charset=utf-8"
        }
        _ => {
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).map_err(|e| fail(&e))?;
            for b in batches {
                w.write(b).map_err(|e| fail(&e))?;
            }
            w.close().map_err(|e| fail(&e))?;
            "application/vnd.apache.parquet"
        }
    };
    let disposition = format!("attachment; filename=\"query.{format}\"");
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, kind.to_string()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        out,
    )
        .into_response())
}

async fn preview(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &["limit", "offset", "snapshot"], &caller)?;
    let limit = p.number("limit", 50, state.sql_rows)?;
    let offset = p.number("offset", 0, usize::MAX)?;
    let ws = workspace(&state, &p.project())?;
    let name = ws.table_name(&name)?;
    let snapshot = match p.get("snapshot") {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .ok()
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| Error::param("snapshot", format!("{v:?} is not a snapshot number")))?,
        ),
    };
    // The table (and the snapshot) must exist: not found otherwise.
    let from = risklake_app::sql::session(&ws, &Default::default())
        .await?
        .table_source(&name, snapshot)
        .await?;
    let sql = format!("SELECT * FROM {from} LIMIT {limit} OFFSET {offset}");
    let mut v = bounded_query(&state, &ws, &sql, limit).await?;
    v["offset"] = json!(offset);
    Ok(Json(v))
}

async fn sql(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> std::result::Result<Response, ApiError> {
    let p = Params::new(q, &[], &caller)?;
    let body: Value = body_json(&body)?;
    let text = body
        .get("sql")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::param("sql", "is required: the query to run"))?;
    if let Some(k) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| !["sql", "limit", "format"].contains(&k.as_str())))
    {
        return Err(ApiError::Core(Error::param(
            k.clone(),
            "is not a field here (these are: sql, limit, format)",
        )));
    }
    let limit = match body.get("limit") {
        None | Some(Value::Null) => state.sql_rows,
        Some(v) => v
            .as_u64()
            .map(|n| (n as usize).min(state.sql_rows))
            .ok_or_else(|| Error::param("limit", "is not a whole number"))?,
    };
    let format = match body.get("format") {
        None | Some(Value::Null) => "json",
        Some(v) => match v.as_str() {
            Some(f @ ("json" | "csv" | "parquet")) => f,
            _ => {
                return Err(ApiError::Core(Error::param(
                    "format",
                    format!("{v} is not json, csv or parquet"),
                )))
            }
        },
    };
    let statements = risklake_lake::sql::split_statements(text);
    if statements.is_empty() {
        return Err(ApiError::Core(Error::param("sql", "holds no statement")));
    }
    if !risklake_lake::sql::is_read_only(text) {
        return Err(ApiError::Core(Error::param(
            "sql",
            "writes a table or changes the lake; here only queries run (submit a job of kind \"sql\" to write)",
        )));
    }
    let ws = workspace(&state, &p.project())?;
    // The query joins the caller's history whatever it answers (a failing query is the one
    // most worth editing again); a store that cannot be written (a read-only home) skips it.
    let _ = risklake_app::sql::remember_query(&ws, &caller.user, text);
    if format != "json" {
        let last = statements.last().map(String::as_str).unwrap_or_default();
        let (schema, batches, _, _) = bounded_batches(&state, &ws, last, limit).await?;
        return Ok(rows_file(format, schema, &batches)?);
    }
    let mut results = Vec::new();
    for s in &statements {
        let mut r = bounded_query(&state, &ws, s, limit).await?;
        r["statement"] = json!(s);
        results.push(r);
    }
    Ok(Json(json!({ "results": results })).into_response())
}

async fn sql_history(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    let ws = workspace(&state, &p.project())?;
    to_json(&json!({ "queries": risklake_app::sql::recent_queries(&ws, &caller.user)? }))
}

async fn runs(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &["kind", "status", "limit", "offset"], &caller)?;
    let status = match p.get("status") {
        None => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            Error::param(
                "status",
                format!("{s:?} is not running, finished, failed, interrupted or cancelled"),
            )
        })?),
    };
    let ws = workspace(&state, &p.project())?;
    let filter = RunFilter {
        project: Some(p.project()),
        kind: p.get("kind").map(str::to_string),
        status,
        limit: Some(p.number("limit", 100, 10_000)?),
        offset: p.number("offset", 0, usize::MAX)?,
    };
    let total = ws.store().count_runs(&filter)?;
    to_json(&json!({ "runs": risklake_app::runs::list(&ws, &filter)?, "total": total, "offset": filter.offset }))
}

/// The run `id` of the caller's project, with everything recorded about it.
fn run_in_project(ws: &Workspace, id: &str, project: &str) -> Result<risklake_track::RunDetail> {
    let detail = ws.store().get_run(id_of(id, "run")?)?;
    if detail.summary.project != project {
        return Err(Error::not_found("run", format!("{id} in project {project}")));
    }
    Ok(detail)
}

async fn run(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    let ws = workspace(&state, &p.project())?;
    let detail = run_in_project(&ws, &id, &p.project())?;
    let mut v = serde_json::to_value(&detail).map_err(|e| Error::invalid(format!("formatting the run: {e}")))?;
    // The server's file paths stay on the server: artifacts come by URL.
    if let Some(list) = v["artifacts"].as_array_mut() {
        for a in list {
            let name = a["name"].as_str().unwrap_or_default().to_string();
            a.as_object_mut().map(|o| o.remove("path"));
            a["url"] = json!(format!("/api/v1/runs/{}/artifacts/{name}", detail.summary.id));
        }
    }
    Ok(Json(v))
}

async fn metric_history(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path((id, key)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    let ws = workspace(&state, &p.project())?;
    let detail = run_in_project(&ws, &id, &p.project())?;
    let points: Vec<Value> = detail
        .metric_history
        .iter()
        .filter(|m| m.key == key)
        .map(|m| json!({"step": m.step, "value": m.value}))
        .collect();
    if points.is_empty() {
        return Err(ApiError::Core(Error::not_found("metric", format!("{key} of run {id}"))));
    }
    Ok(Json(json!({"run": detail.summary.id, "key": key, "history": points})))
}

async fn artifact(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let answer = (|| {
        let p = Params::new(q, &[], &caller)?;
        let ws = workspace(&state, &p.project())?;
        let detail = run_in_project(&ws, &id, &p.project())?;
        // Only a name the run recorded: a request never names a path.
        let a = detail
            .artifacts
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| Error::not_found("artifact", format!("{name} of run {id}")))?;
        let bytes = std::fs::read(&a.path).map_err(|e| Error::io(format!("reading artifact {name} of run {id}"), e))?;
        let kind = match name.rsplit('.').next().unwrap_or("") {
            "json" => "application/json",
            "html" => "text/html; charset=utf-8",
            "csv" => "text/csv; charset=utf-8",
            "txt" | "log" => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        };
        Ok::<_, ApiError>(([(axum::http::header::CONTENT_TYPE, kind)], bytes).into_response())
    })();
    answer.unwrap_or_else(IntoResponse::into_response)
}

async fn lineage(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    let ws = workspace(&state, &p.project())?;
    let detail = run_in_project(&ws, &id, &p.project())?;
    to_json(&risklake_app::lineage::lineage(&ws, detail.summary.id)?)
}

async fn compare(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &["ids"], &caller)?;
    let ws = workspace(&state, &p.project())?;
    let ids = p
        .get("ids")
        .ok_or_else(|| Error::param("ids", "is required: run ids separated by commas"))?;
    let mut runs = Vec::new();
    for id in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        runs.push(run_in_project(&ws, id, &p.project())?.summary.id);
    }
    if runs.len() < 2 {
        return Err(ApiError::Core(Error::param("ids", "names at least two runs")));
    }
    to_json(&risklake_app::runs::compare(&ws, &runs)?)
}

async fn models(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    let ws = workspace(&state, &p.project())?;
    to_json(&json!({ "models": risklake_app::registry::list(&ws)? }))
}

async fn model(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    let ws = workspace(&state, &p.project())?;
    to_json(&risklake_app::registry::detail(&ws, &name)?)
}

async fn reports(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &["limit"], &caller)?;
    let limit = p.number("limit", 200, 1000)?;
    let ws = workspace(&state, &p.project())?;
    // A model that is not registered in the project is not found (not an empty list).
    ws.store().model_versions(&p.project(), &name)?;
    let reports: Vec<Value> = risklake_app::report::reports_of(&ws, &name, limit)?
        .into_iter()
        .map(|r| {
            let mut v = json!(r);
            if let Some(html) = &r.html {
                v["url"] = json!(format!("/api/v1/runs/{}/artifacts/{html}", r.run));
            }
            v
        })
        .collect();
    Ok(Json(json!({ "model": name, "reports": reports })))
}

fn body_json(body: &Bytes) -> Result<Value> {
    risklake_app::request_from_json(&String::from_utf8_lossy(body))
}

async fn register(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let answer = (|| {
        caller.needs(Role::Editor, "registering a model")?;
        let p = Params::new(q, &[], &caller)?;
        let mut v = body_json(&body)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("name".into(), json!(name));
        }
        let req: risklake_app::registry::RegisterRequest = serde_json::from_value(v)
            .map_err(|e| Error::param("request", format!("does not read as a registration: {e}")))?;
        let ws = workspace(&state, &p.project())?.with_user(&caller.user);
        // The run must be of this project.
        run_in_project(&ws, &req.run.to_string(), &p.project())?;
        let version = risklake_app::registry::register(&ws, &req)?;
        state.shared.queue.audit(
            &caller.user,
            &p.project(),
            "model.register",
            &format!("{name}/{}", version.version),
            &format!("run {}", req.run),
        )?;
        Ok::<_, ApiError>((StatusCode::CREATED, Json(json!(version))).into_response())
    })();
    answer.unwrap_or_else(IntoResponse::into_response)
}

async fn set_alias(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path((name, alias)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Answer {
    caller.needs(Role::Editor, "moving an alias")?;
    let p = Params::new(q, &[], &caller)?;
    let v = body_json(&body)?;
    let version = match v.get("version") {
        Some(Value::Null) => None,
        Some(n) => Some(
            n.as_i64()
                .ok_or_else(|| Error::param("version", "is a version number or null"))?,
        ),
        None => {
            return Err(ApiError::Core(Error::param(
                "version",
                "is required (null removes the alias)",
            )))
        }
    };
    let ws = workspace(&state, &p.project())?.with_user(&caller.user);
    risklake_app::registry::set_alias(&ws, &name, &alias, version)?;
    state.shared.queue.audit(
        &caller.user,
        &p.project(),
        "model.alias",
        &format!("{name}@{alias}"),
        &version.map_or("removed".to_string(), |v| format!("version {v}")),
    )?;
    to_json(&risklake_app::registry::detail(&ws, &name)?)
}

/// The version `spec` names, and its model: loaded once per (project, name, version) and
/// kept; the alias is resolved on every call, so a move takes effect at once.
fn model_for(
    state: &State,
    project: &str,
    spec: &str,
) -> Result<(risklake_track::ModelVersion, Arc<risklake_learn::Model>)> {
    // Resolved on the server's open store: opening a workspace per request cost more than
    // scoring a row.
    let parsed = risklake_app::registry::ModelSpec::parse(spec)?;
    let version = parsed
        .version_in(state.shared.queue.as_ref(), project)?
        .ok_or_else(|| {
            Error::param(
                "model",
                format!("{spec:?} is not a registered model (NAME@ALIAS or NAME/VERSION)"),
            )
        })?;
    let key = (project.to_string(), version.name.clone(), version.version);
    let cached = state
        .shared
        .models
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .cloned();
    let model = match cached {
        Some(m) => m,
        None => {
            let ws = workspace(state, project)?;
            let m = Arc::new(risklake_app::train::load_model(
                &ws,
                &format!("{}/{}", version.name, version.version),
            )?);
            state
                .shared
                .models
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, m.clone());
            m
        }
    };
    Ok((version, model))
}

/// Requests of at most this many JSON rows (without reasons) are scored on the request's
/// own thread, not on the blocking pool.
const INLINE_JSON_ROWS: usize = 16;
/// Requests up to this size are read and scored on the request's thread (about 16 rows of
/// a few dozen fields); larger ones on the blocking pool.
const INLINE_JSON_BYTES: usize = 8 * 1024;

/// The media type of Arrow's IPC stream format.
const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Scores the body with the version `spec` names: JSON rows, or an Arrow IPC stream when
/// the request says so (answered in kind).
async fn predict_with(state: &State, project: &str, spec: &str, headers: &HeaderMap, body: &Bytes) -> Answer<Response> {
    let arrow = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim().starts_with(ARROW_STREAM));
    if arrow {
        return predict_arrow(state, project, spec, body.clone()).await;
    }
    // Rows without reasons go straight from the request's text into the model's columns;
    // anything else (reasons, or a request to be told what is wrong with) takes the tree.
    if body.len() <= INLINE_JSON_BYTES {
        if let Some(rows) = risklake_app::scoring::raw_rows(body) {
            let (version, model) = model_for(state, project, spec)?;
            let scored = risklake_app::scoring::score_raw_rows(&model, &rows)?;
            return scores_response(&version, model.kind(), &scored);
        }
    } else if body.iter().any(|b| !b.is_ascii_whitespace()) {
        let (version, model) = model_for(state, project, spec)?;
        let kind = model.kind();
        let owned = body.clone();
        let scored = tokio::task::spawn_blocking(move || {
            risklake_app::scoring::raw_rows(&owned).map(|rows| risklake_app::scoring::score_raw_rows(&model, &rows))
        })
        .await
        .map_err(|e| Error::external("scoring", e))?;
        if let Some(scored) = scored {
            return scores_response(&version, kind, &scored?);
        }
    }
    let v = body_json(body)?;
    let (rows, reasons) = match v {
        Value::Array(rows) => (rows, 0),
        Value::Object(mut o) => {
            let reasons = match o.remove("reasons") {
                None | Some(Value::Null) => 0,
                Some(n) => n
                    .as_u64()
                    .filter(|n| *n <= 100)
                    .ok_or_else(|| Error::param("reasons", "is how many reason codes per row (0 to 100)"))?
                    as usize,
            };
            if let Some(k) = o.keys().find(|k| k.as_str() != "rows") {
                return Err(ApiError::Core(Error::param(
                    k.clone(),
                    "is not a field here (these are: rows, reasons)",
                )));
            }
            match o.remove("rows") {
                Some(Value::Array(rows)) => (rows, reasons),
                _ => {
                    return Err(ApiError::Core(Error::param(
                        "rows",
                        "is required: an array of {field: value} objects",
                    )))
                }
            }
        }
        _ => {
            return Err(ApiError::Core(Error::param(
                "rows",
                "is required: an array of {field: value} objects",
            )))
        }
    };
    let (version, model) = model_for(state, project, spec)?;
    let kind = model.kind();
    // A few rows without reasons are scored right here (tens of microseconds); handing them to another
    // thread cost more in latency than the work, on a busy machine most of all.
    let scored = if rows.len() <= INLINE_JSON_ROWS && reasons == 0 {
        risklake_app::scoring::score_rows(&model, &rows, reasons)?
    } else {
        tokio::task::spawn_blocking(move || risklake_app::scoring::score_rows(&model, &rows, reasons))
            .await
            .map_err(|e| Error::external("scoring", e))??
    };
    scores_response(&version, kind, &scored)
}

/// The scores as the answer, serialized straight from them (no JSON tree in between).
fn scores_response(
    version: &risklake_track::ModelVersion,
    kind: &str,
    scored: &risklake_app::scoring::Scored,
) -> Answer<Response> {
    #[derive(serde::Serialize)]
    struct Scores<'a> {
        model: &'a str,
        version: i64,
        kind: &'a str,
        #[serde(flatten)]
        scored: &'a risklake_app::scoring::Scored,
    }
    Ok(Json(Scores {
        model: &version.name,
        version: version.version,
        kind,
        scored,
    })
    .into_response())
}

/// Arrow in, Arrow out: every batch of the request's IPC stream scored into a batch of
/// `probability`, `score` (scorecards) and `error`, row for row, in one IPC stream. The
/// model's version and the columns it ignored come as headers.
async fn predict_arrow(state: &State, project: &str, spec: &str, body: Bytes) -> Answer<Response> {
    let (version, model) = model_for(state, project, spec)?;
    let (bytes, ignored) = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, Vec<String>)> {
        let not_arrow = |e: datafusion::arrow::error::ArrowError| {
            Error::param("body", format!("is not an Arrow IPC stream ({ARROW_STREAM}): {e}"))
        };
        let reader = datafusion::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
            .map_err(not_arrow)?;
        let schema = reader.schema();
        let mut batches = Vec::new();
        for b in reader {
            batches.push(b.map_err(not_arrow)?);
        }
        if batches.is_empty() {
            batches.push(datafusion::arrow::record_batch::RecordBatch::new_empty(schema));
        }
        let mut out = Vec::new();
        let mut writer: Option<datafusion::arrow::ipc::writer::StreamWriter<&mut Vec<u8>>> = None;
        let mut ignored = Vec::new();
        for b in &batches {
            let scored = risklake_app::scoring::score_batch(&model, b)?;
            ignored = scored.ignored_columns;
            if writer.is_none() {
                writer = Some(
                    datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut out, &scored.batch.schema())
                        .map_err(|e| Error::arrow("writing the scores", e))?,
                );
            }
            if let Some(w) = writer.as_mut() {
                w.write(&scored.batch)
                    .map_err(|e| Error::arrow("writing the scores", e))?;
            }
        }
        if let Some(mut w) = writer {
            w.finish().map_err(|e| Error::arrow("writing the scores", e))?;
        }
        Ok((out, ignored))
    })
    .await
    .map_err(|e| Error::external("scoring", e))??;
    let mut response = ([(axum::http::header::CONTENT_TYPE, ARROW_STREAM.to_string())], bytes).into_response();
    let h = response.headers_mut();
    let model = format!("{}/{}", version.name, version.version);
    if let Ok(v) = axum::http::HeaderValue::from_str(&model) {
        h.insert("x-risklake-model", v);
    }
    if !ignored.is_empty() {
        if let Ok(v) = axum::http::HeaderValue::from_str(&ignored.join(",")) {
            h.insert("x-risklake-ignored-columns", v);
        }
    }
    Ok(response)
}

async fn predict_alias(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<Response> {
    let p = Params::new(q, &[], &caller)?;
    let spec = if name.contains('@') {
        name
    } else {
        format!("{name}@latest")
    };
    predict_with(&state, &p.project(), &spec, &headers, &body).await
}

async fn predict_version(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path((name, version)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<Response> {
    let p = Params::new(q, &[], &caller)?;
    let v: i64 = version
        .parse()
        .map_err(|_| Error::param("version", format!("{version:?} is not a version number")))?;
    predict_with(&state, &p.project(), &format!("{name}/{v}"), &headers, &body).await
}

async fn tokens(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    caller.needs(Role::Admin, "listing tokens")?;
    let p = Params::new(q, &[], &caller)?;
    to_json(&json!({ "tokens": state.shared.queue.list_tokens(Some(&p.project()))? }))
}

async fn create_token(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let answer = (|| {
        caller.needs(Role::Admin, "creating a token")?;
        let p = Params::new(q, &[], &caller)?;
        let v = body_json(&body)?;
        if let Some(k) = v.as_object().and_then(|o| {
            o.keys()
                .find(|k| !["user", "role", "expires_days"].contains(&k.as_str()))
        }) {
            return Err(ApiError::Core(Error::param(
                k.clone(),
                "is not a field here (these are: user, role, expires_days)",
            )));
        }
        let user = v
            .get("user")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::param("user", "is required"))?;
        let role = v
            .get("role")
            .and_then(Value::as_str)
            .and_then(Role::parse)
            .ok_or_else(|| Error::param("role", "is viewer, editor or admin"))?;
        let expires = match v.get("expires_days") {
            None | Some(Value::Null) => None,
            Some(d) => {
                let days = d
                    .as_u64()
                    .filter(|d| (1..=3650).contains(d))
                    .ok_or_else(|| Error::param("expires_days", "is a number of days from 1 to 3650"))?;
                Some(
                    (chrono::Utc::now() + chrono::Duration::days(days as i64))
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                )
            }
        };
        let queue = &state.shared.queue;
        let (token, secret) = queue.create_token(user, &p.project(), role, expires.as_deref())?;
        queue.audit(
            &caller.user,
            &p.project(),
            "token.create",
            &format!("token {}", token.id),
            &format!("{user} {}", role.as_str()),
        )?;
        Ok((StatusCode::CREATED, Json(json!({"token": token, "secret": secret}))).into_response())
    })();
    answer.unwrap_or_else(IntoResponse::into_response)
}

async fn revoke_token(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    caller.needs(Role::Admin, "revoking a token")?;
    let p = Params::new(q, &[], &caller)?;
    let id = id_of(&id, "token")?;
    let queue = &state.shared.queue;
    if !queue.list_tokens(Some(&p.project()))?.iter().any(|t| t.id == id) {
        return Err(ApiError::Core(Error::not_found(
            "token",
            format!("{id} in project {}", p.project()),
        )));
    }
    let token = queue.revoke_token(id)?;
    queue.audit(
        &caller.user,
        &p.project(),
        "token.revoke",
        &format!("token {id}"),
        &token.user,
    )?;
    to_json(&json!({ "revoked": token }))
}

async fn jobs(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &["status", "limit"], &caller)?;
    let status = match p.get("status") {
        None => None,
        Some(s) => Some(JobStatus::parse(s).ok_or_else(|| {
            Error::param(
                "status",
                format!("{s:?} is not queued, running, succeeded, failed or cancelled"),
            )
        })?),
    };
    let filter = JobFilter {
        project: Some(p.project()),
        status,
        limit: Some(p.number("limit", 100, 10_000)?),
    };
    to_json(&json!({ "jobs": state.shared.queue.list_jobs(&filter)? }))
}

/// The job `id` of the request's project (another project's job is not found).
fn job_in_project(state: &State, id: &str, project: &str) -> Result<risklake_track::Job> {
    let job = state.shared.queue.get_job(id_of(id, "job")?)?;
    if job.project != project {
        return Err(Error::not_found("job", format!("{id} in project {project}")));
    }
    Ok(job)
}

async fn submit(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let answer = async {
        caller.needs(Role::Editor, "running a job")?;
        let p = Params::new(q, &[], &caller)?;
        let mut body: Value = body_json(&body)?;
        let obj = body
            .as_object_mut()
            .ok_or_else(|| Error::invalid("the body is a JSON object: {\"kind\", \"request\"}"))?;
        let project = match obj.remove("project") {
            None | Some(Value::Null) => p.project(),
            Some(Value::String(s)) => {
                caller.may_use(&s)?;
                s
            }
            Some(_) => return Err(ApiError::Core(Error::param("project", "is a name (text)"))),
        };
        let on_interrupt = match obj.remove("on_interrupt") {
            None | Some(Value::Null) => OnInterrupt::Fail,
            Some(v) => serde_json::from_value::<OnInterrupt>(v)
                .map_err(|_| Error::param("on_interrupt", "is \"fail\" or \"requeue\""))?,
        };
        if !obj.contains_key("request") {
            obj.insert("request".into(), json!({}));
        }
        let body = sandbox_paths(body, state.files.as_deref())?;
        let req = WorkflowRequest::from_value(body.clone())?;
        let queue = &state.shared.queue;
        let request = body.get("request").unwrap_or(&Value::Null);
        let id = queue.create_job(&project, req.kind(), request, &caller.user, on_interrupt)?;
        queue.audit(&caller.user, &project, "job.submit", &format!("job {id}"), req.kind())?;
        state
            .shared
            .raw
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, body);
        // The job as queued, read before a worker is woken to take it.
        let job = queue.get_job(id)?;
        state.shared.notify();
        Ok::<_, ApiError>(job)
    };
    match answer.await {
        Ok(job) => (StatusCode::CREATED, Json(json!(job))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn job(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    to_json(&job_in_project(&state, &id, &p.project())?)
}

async fn cancel(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &[], &caller)?;
    caller.needs(Role::Editor, "cancelling a job")?;
    let job = job_in_project(&state, &id, &p.project())?;
    let job = state.shared.queue.cancel_job(job.id)?;
    state.shared.queue.audit(
        &caller.user,
        &job.project,
        "job.cancel",
        &format!("job {}", job.id),
        &job.kind,
    )?;
    state.shared.cancel_running(job.id);
    state
        .shared
        .raw
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&job.id);
    to_json(&job)
}

async fn logs(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let p = Params::new(q, &["after"], &caller)?;
    let job = job_in_project(&state, &id, &p.project())?;
    let after = p.number("after", 0, i64::MAX as usize)? as i64;
    to_json(&json!({ "status": job.status, "lines": state.shared.queue.job_log(job.id, after)? }))
}

async fn events(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let job = match Params::new(q, &[], &caller)
        .and_then(|p| job_in_project(&state, &id, &p.project()).map_err(ApiError::Core))
    {
        Ok(j) => j,
        Err(e) => return e.into_response(),
    };
    let queue = state.shared.queue.clone();
    let id = job.id;
    // (after this log line, ended): log lines as `log` events, then the job as `end`.
    let stream = futures::stream::unfold((0i64, false), move |(after, ended)| {
        let queue = queue.clone();
        async move {
            if ended {
                return None;
            }
            loop {
                let lines = queue.job_log(id, after).unwrap_or_default();
                if let Some(last) = lines.last() {
                    let next = last.seq;
                    let events: Vec<std::result::Result<Event, Infallible>> = lines
                        .iter()
                        .map(|l| Ok(Event::default().event("log").id(l.seq.to_string()).data(&l.line)))
                        .collect();
                    return Some((futures::stream::iter(events), (next, false)));
                }
                match queue.get_job(id) {
                    Ok(j) if j.status.is_final() => {
                        let data = serde_json::to_string(&j).unwrap_or_default();
                        let end = vec![Ok(Event::default().event("end").data(data))];
                        return Some((futures::stream::iter(end), (after, true)));
                    }
                    Err(e) => {
                        let end = vec![Ok(Event::default().event("error").data(e.to_string()))];
                        return Some((futures::stream::iter(end), (after, true)));
                    }
                    Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
    })
    .flatten();
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
