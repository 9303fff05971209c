//! The classic tracking subset of MLflow's REST API, over risklake's projects and runs, so
//! a notebook that logs with the `mlflow` client (`set_tracking_uri("http://host:8420")`)
//! works unchanged and its runs show in `risklake runs list`.
//!
//! Mapping: an experiment is a project (experiment `0`, MLflow's default, is the project
//! `default`; any other experiment id is the project's id); a run is a run of kind
//! `mlflow`; params and metrics (with steps) are the run's; tags are params named
//! `tag.<key>`; artifacts are the run's artifacts. Errors carry MLflow's `error_code`,
//! with a 4xx for every client mistake (the client retries 5xx for minutes).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State as S};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use risklake_app::Workspace;
use risklake_core::{Error, ErrorKind};
use risklake_track::{Role, RunDetail, RunFilter, RunStatus};

use crate::api::{Caller, State};

/// The prefix of params that hold MLflow tags.
const TAG: &str = "tag.";

pub(crate) fn routes() -> Router<State> {
    let m = "/api/2.0/mlflow";
    Router::new()
        .route(&format!("{m}/experiments/get-by-name"), get(experiment_by_name))
        .route(&format!("{m}/experiments/get"), get(experiment_get))
        .route(&format!("{m}/experiments/create"), post(experiment_create))
        .route(
            &format!("{m}/experiments/search"),
            post(experiment_search).get(experiment_search),
        )
        .route(&format!("{m}/runs/create"), post(run_create))
        .route(&format!("{m}/runs/get"), get(run_get))
        .route(&format!("{m}/runs/update"), post(run_update))
        .route(&format!("{m}/runs/log-parameter"), post(log_param))
        .route(&format!("{m}/runs/log-metric"), post(log_metric))
        .route(&format!("{m}/runs/set-tag"), post(set_tag))
        .route(&format!("{m}/runs/log-batch"), post(log_batch))
        .route(&format!("{m}/runs/search"), post(run_search))
        .route(&format!("{m}/metrics/get-history"), get(metric_history))
        .route(
            &format!("{m}/logged-models/search"),
            post(|| async { Json(json!({"models": []})) }),
        )
        .route("/api/2.0/mlflow-artifacts/artifacts", get(artifact_list))
        .route(
            "/api/2.0/mlflow-artifacts/artifacts/{*path}",
            get(artifact_get).put(artifact_put),
        )
}

/// An error in MLflow's shape.
pub(crate) struct MlError(StatusCode, &'static str, String);

impl From<Error> for MlError {
    fn from(e: Error) -> Self {
        let (status, code) = match e.kind() {
            ErrorKind::Invalid => (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
            ErrorKind::Conflict => (StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS"),
            ErrorKind::Cancelled => (StatusCode::BAD_REQUEST, "INVALID_STATE"),
            ErrorKind::External => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        };
        MlError(status, code, e.to_string())
    }
}

impl IntoResponse for MlError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error_code": self.1, "message": self.2}))).into_response()
    }
}

type Answer = Result<Json<Value>, MlError>;

fn invalid(message: impl Into<String>) -> MlError {
    MlError(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message.into())
}

fn denied(message: impl Into<String>) -> MlError {
    MlError(StatusCode::FORBIDDEN, "PERMISSION_DENIED", message.into())
}

fn body_of(body: &Bytes) -> Result<Value, MlError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| invalid(format!("the body is not JSON: {e}")))
}

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, MlError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{key} is required")))
}

fn millis(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339).map_or(0, |t| t.with_timezone(&Utc).timestamp_millis())
}

/// The project an experiment id names.
fn project_of(ws: &Workspace, experiment: &str) -> Result<String, MlError> {
    if experiment == "0" {
        return Ok(risklake_app::DEFAULT_PROJECT.into());
    }
    let id: i64 = experiment
        .parse()
        .map_err(|_| invalid(format!("experiment_id {experiment:?} is not a number")))?;
    ws.store()
        .list_projects()?
        .into_iter()
        .find(|p| p.id == id)
        .map(|p| p.name)
        .ok_or_else(|| {
            MlError(
                StatusCode::NOT_FOUND,
                "RESOURCE_DOES_NOT_EXIST",
                format!("no experiment {experiment}"),
            )
        })
}

fn experiment_id(project: &str, id: i64) -> String {
    if project == risklake_app::DEFAULT_PROJECT {
        "0".into()
    } else {
        id.to_string()
    }
}

/// The workspace of `project`, if the caller may use it (and write, when `write`).
fn open(state: &State, caller: &Caller, project: &str, write: bool) -> Result<Workspace, MlError> {
    if let Some(own) = &caller.project {
        if own != project {
            return Err(denied(format!("this token is for project {own}, not {project}")));
        }
    }
    if write && caller.role < Role::Editor {
        return Err(denied("logging needs the editor role"));
    }
    Ok(Workspace::open(&state.shared.home, project)?.with_user(&caller.user))
}

/// Any workspace to look projects up in (the caller's own project when it has one).
fn lookup(state: &State, caller: &Caller) -> Result<Workspace, MlError> {
    let project = caller
        .project
        .clone()
        .unwrap_or_else(|| risklake_app::DEFAULT_PROJECT.into());
    Ok(Workspace::open(&state.shared.home, &project)?)
}

fn experiment_json(ws: &Workspace, project: &str) -> Result<Value, MlError> {
    let p = ws
        .store()
        .list_projects()?
        .into_iter()
        .find(|p| p.name == project)
        .ok_or_else(|| {
            MlError(
                StatusCode::NOT_FOUND,
                "RESOURCE_DOES_NOT_EXIST",
                format!("no experiment {project}"),
            )
        })?;
    let id = experiment_id(&p.name, p.id);
    Ok(json!({
        "experiment_id": id,
        "name": p.name,
        "artifact_location": format!("mlflow-artifacts:/{id}"),
        "lifecycle_stage": "active",
        "creation_time": millis(&p.created_at),
        "last_update_time": millis(&p.created_at),
        "tags": [],
    }))
}

async fn experiment_by_name(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let name = q
        .get("experiment_name")
        .ok_or_else(|| invalid("experiment_name is required"))?;
    let ws = lookup(&state, &caller)?;
    if caller.project.as_ref().is_some_and(|own| own != name) {
        return Err(MlError(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            format!("no experiment {name}"),
        ));
    }
    Ok(Json(json!({ "experiment": experiment_json(&ws, name)? })))
}

async fn experiment_get(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let id = q
        .get("experiment_id")
        .ok_or_else(|| invalid("experiment_id is required"))?;
    let ws = lookup(&state, &caller)?;
    let project = project_of(&ws, id)?;
    let ws = open(&state, &caller, &project, false)?;
    Ok(Json(json!({ "experiment": experiment_json(&ws, &project)? })))
}

async fn experiment_create(S(state): S<State>, Extension(caller): Extension<Caller>, body: Bytes) -> Answer {
    let v = body_of(&body)?;
    let name = text(&v, "name")?;
    risklake_track::registry::check_name(name).map_err(|e| invalid(format!("experiment name: {e}")))?;
    let ws = open(&state, &caller, name, true)?;
    if ws.store().list_projects()?.iter().any(|p| p.name == name) {
        return Err(MlError(
            StatusCode::BAD_REQUEST,
            "RESOURCE_ALREADY_EXISTS",
            format!("experiment {name} already exists"),
        ));
    }
    let id = ws.store().ensure_project(name)?;
    Ok(Json(json!({ "experiment_id": experiment_id(name, id) })))
}

async fn experiment_search(S(state): S<State>, Extension(caller): Extension<Caller>) -> Answer {
    let ws = lookup(&state, &caller)?;
    let mut out = Vec::new();
    for p in ws.store().list_projects()? {
        if caller.project.as_ref().is_none_or(|own| *own == p.name) {
            out.push(experiment_json(&ws, &p.name)?);
        }
    }
    Ok(Json(json!({ "experiments": out })))
}

fn status_word(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Running => "RUNNING",
        RunStatus::Finished => "FINISHED",
        RunStatus::Failed | RunStatus::Interrupted => "FAILED",
        RunStatus::Cancelled => "KILLED",
    }
}

fn run_json(ws: &Workspace, d: &RunDetail) -> Result<Value, MlError> {
    let s = &d.summary;
    let exp = ws
        .store()
        .list_projects()?
        .into_iter()
        .find(|p| p.name == s.project)
        .map_or("0".to_string(), |p| experiment_id(&p.name, p.id));
    let run_id = s.id.to_string();
    let name = d
        .params
        .get(&format!("{TAG}mlflow.runName"))
        .cloned()
        .unwrap_or_else(|| format!("run-{}", s.id));
    let user = d.params.get(&format!("{TAG}mlflow.user")).cloned().unwrap_or_default();
    let params: Vec<Value> = d
        .params
        .iter()
        .filter(|(k, _)| !k.starts_with(TAG))
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    let tags: Vec<Value> = d
        .params
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(TAG).map(|k| json!({"key": k, "value": v})))
        .collect();
    let metrics: Vec<Value> = d
        .metrics
        .iter()
        .map(|(k, v)| {
            let step = d.metric_history.iter().rev().find(|m| &m.key == k).and_then(|m| m.step);
            json!({"key": k, "value": v, "timestamp": millis(&s.started_at), "step": step.unwrap_or(0)})
        })
        .collect();
    let mut info = json!({
        "run_id": run_id, "run_uuid": run_id, "run_name": name, "experiment_id": exp, "user_id": user,
        "status": status_word(s.status), "start_time": millis(&s.started_at),
        "artifact_uri": format!("mlflow-artifacts:/{exp}/{run_id}/artifacts"), "lifecycle_stage": "active",
    });
    if let Some(end) = &s.ended_at {
        info["end_time"] = json!(millis(end));
    }
    Ok(json!({"info": info, "data": {"metrics": metrics, "params": params, "tags": tags}}))
}

/// The run a request names (`run_id` or the legacy `run_uuid`), in a project the caller
/// may use.
fn run_of(state: &State, caller: &Caller, v: &Value, write: bool) -> Result<(Workspace, RunDetail), MlError> {
    let id = v
        .get("run_id")
        .or_else(|| v.get("run_uuid"))
        .and_then(|x| {
            x.as_str()
                .map(str::to_string)
                .or_else(|| x.as_i64().map(|n| n.to_string()))
        })
        .ok_or_else(|| invalid("run_id is required"))?;
    let id: i64 = id
        .parse()
        .map_err(|_| MlError(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", format!("no run {id}")))?;
    let detail = lookup(state, caller)?.store().get_run(id)?;
    let ws = open(state, caller, &detail.summary.project, write)?;
    Ok((ws, detail))
}

async fn run_create(S(state): S<State>, Extension(caller): Extension<Caller>, body: Bytes) -> Answer {
    let v = body_of(&body)?;
    let exp = v.get("experiment_id").and_then(Value::as_str).unwrap_or("0");
    let project = project_of(&lookup(&state, &caller)?, exp)?;
    let ws = open(&state, &caller, &project, true)?;
    let store = ws.store();
    let id = store.start_run(&project, "mlflow", "mlflow client")?;
    let user = v.get("user_id").and_then(Value::as_str).unwrap_or(&caller.user);
    store.log_param(id, &format!("{TAG}mlflow.user"), user)?;
    if let Some(name) = v.get("run_name").and_then(Value::as_str) {
        store.log_param(id, &format!("{TAG}mlflow.runName"), name)?;
    }
    for t in v.get("tags").and_then(Value::as_array).into_iter().flatten() {
        if let (Some(k), Some(val)) = (t["key"].as_str(), t["value"].as_str()) {
            store.log_param(id, &format!("{TAG}{k}"), val)?;
        }
    }
    let detail = store.get_run(id)?;
    Ok(Json(json!({ "run": run_json(&ws, &detail)? })))
}

async fn run_get(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let v = json!(q);
    let (ws, detail) = run_of(&state, &caller, &v, false)?;
    Ok(Json(json!({ "run": run_json(&ws, &detail)? })))
}

async fn run_update(S(state): S<State>, Extension(caller): Extension<Caller>, body: Bytes) -> Answer {
    let v = body_of(&body)?;
    let (ws, detail) = run_of(&state, &caller, &v, true)?;
    let id = detail.summary.id;
    if let Some(name) = v.get("run_name").and_then(Value::as_str) {
        ws.store().log_param(id, &format!("{TAG}mlflow.runName"), name)?;
    }
    let status = match v.get("status").and_then(Value::as_str) {
        None | Some("RUNNING") | Some("SCHEDULED") => None,
        Some("FINISHED") => Some(RunStatus::Finished),
        Some("FAILED") => Some(RunStatus::Failed),
        Some("KILLED") => Some(RunStatus::Cancelled),
        Some(other) => {
            return Err(invalid(format!(
                "status {other:?} is not RUNNING, FINISHED, FAILED or KILLED"
            )))
        }
    };
    if let Some(s) = status {
        if detail.summary.status == RunStatus::Running {
            ws.store().finish_run(id, s, None)?;
        }
    }
    let detail = ws.store().get_run(id)?;
    Ok(Json(json!({ "run_info": run_json(&ws, &detail)?["info"] })))
}

fn param_into(ws: &Workspace, run: i64, p: &Value, prefix: &str) -> Result<(), MlError> {
    let key = text(p, "key")?;
    let value = match p.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    ws.store().log_param(run, &format!("{prefix}{key}"), &value)?;
    Ok(())
}

fn metric_into(ws: &Workspace, run: i64, m: &Value) -> Result<(), MlError> {
    let key = text(m, "key")?;
    let value = match m.get("value") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(Value::String(s)) => s
            .parse::<f64>()
            .map_err(|_| invalid(format!("metric {key}: {s:?} is not a number")))?,
        _ => return Err(invalid(format!("metric {key} needs a numeric value"))),
    };
    if !value.is_finite() {
        return Err(invalid(format!("metric {key}: {value} is not a finite number")));
    }
    let step = m
        .get("step")
        .and_then(|s| s.as_i64().or_else(|| s.as_str().and_then(|t| t.parse().ok())));
    ws.store().log_metric(run, key, step, value)?;
    Ok(())
}

async fn log_param(S(state): S<State>, Extension(caller): Extension<Caller>, body: Bytes) -> Answer {
    let v = body_of(&body)?;
    let (ws, d) = run_of(&state, &caller, &v, true)?;
    param_into(&ws, d.summary.id, &v, "")?;
    Ok(Json(json!({})))
}

async fn set_tag(S(state): S<State>, Extension(caller): Extension<Caller>, body: Bytes) -> Answer {
    let v = body_of(&body)?;
    let (ws, d) = run_of(&state, &caller, &v, true)?;
    param_into(&ws, d.summary.id, &v, TAG)?;
    Ok(Json(json!({})))
}

async fn log_metric(S(state): S<State>, Extension(caller): Extension<Caller>, body: Bytes) -> Answer {
    let v = body_of(&body)?;
    let (ws, d) = run_of(&state, &caller, &v, true)?;
    metric_into(&ws, d.summary.id, &v)?;
    Ok(Json(json!({})))
}

async fn log_batch(S(state): S<State>, Extension(caller): Extension<Caller>, body: Bytes) -> Answer {
    let v = body_of(&body)?;
    let (ws, d) = run_of(&state, &caller, &v, true)?;
    let id = d.summary.id;
    for p in v.get("params").and_then(Value::as_array).into_iter().flatten() {
        param_into(&ws, id, p, "")?;
    }
    for t in v.get("tags").and_then(Value::as_array).into_iter().flatten() {
        param_into(&ws, id, t, TAG)?;
    }
    for m in v.get("metrics").and_then(Value::as_array).into_iter().flatten() {
        metric_into(&ws, id, m)?;
    }
    Ok(Json(json!({})))
}

async fn run_search(S(state): S<State>, Extension(caller): Extension<Caller>, body: Bytes) -> Answer {
    let v = body_of(&body)?;
    let filter = v.get("filter").and_then(Value::as_str).unwrap_or("");
    if !filter.trim().is_empty() {
        return Err(invalid(
            "filter expressions are not supported yet; search without a filter",
        ));
    }
    let max = v.get("max_results").and_then(Value::as_u64).unwrap_or(1000).min(50_000) as usize;
    let look = lookup(&state, &caller)?;
    let mut runs = Vec::new();
    for exp in v.get("experiment_ids").and_then(Value::as_array).into_iter().flatten() {
        let exp = exp.as_str().map(str::to_string).unwrap_or_else(|| exp.to_string());
        let project = project_of(&look, &exp)?;
        let ws = open(&state, &caller, &project, false)?;
        let filter = RunFilter {
            project: Some(project),
            limit: Some(max),
            ..Default::default()
        };
        for s in ws.store().list_runs(&filter)? {
            runs.push(run_json(&ws, &ws.store().get_run(s.id)?)?);
        }
    }
    runs.truncate(max);
    Ok(Json(json!({ "runs": runs })))
}

async fn metric_history(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let v = json!(q);
    let key = text(&v, "metric_key")?.to_string();
    let (_, d) = run_of(&state, &caller, &v, false)?;
    let at = millis(&d.summary.started_at);
    let metrics: Vec<Value> = d
        .metric_history
        .iter()
        .filter(|m| m.key == key)
        .map(|m| json!({"key": m.key, "value": m.value, "timestamp": at, "step": m.step.unwrap_or(0)}))
        .collect();
    Ok(Json(json!({ "metrics": metrics })))
}

/// `<experiment>/<run>/artifacts/<path>`: the run and the artifact's name.
fn artifact_path(path: &str) -> Result<(String, String), MlError> {
    let mut parts = path.trim_start_matches('/').splitn(4, '/');
    let (_exp, run, marker, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
    match (run, marker) {
        (Some(run), Some("artifacts")) => {
            let name = rest.unwrap_or("").to_string();
            if name.split('/').any(|p| p == ".." || p == ".") || name.starts_with('/') {
                return Err(invalid(format!("artifact path {name:?} may not contain . or ..")));
            }
            Ok((run.to_string(), name))
        }
        _ => Err(invalid(format!("{path:?} is not <experiment>/<run>/artifacts/<path>"))),
    }
}

async fn artifact_put(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<String>,
    body: Bytes,
) -> Answer {
    let (run, name) = artifact_path(&path)?;
    if name.is_empty() {
        return Err(invalid("an artifact needs a file name"));
    }
    let (ws, d) = run_of(&state, &caller, &json!({"run_id": run}), true)?;
    ws.store().log_artifact_bytes(d.summary.id, &name, &body)?;
    Ok(Json(json!({})))
}

async fn artifact_list(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let path = q.get("path").cloned().unwrap_or_default();
    let (run, dir) = artifact_path(&path)?;
    let (_, d) = run_of(&state, &caller, &json!({"run_id": run}), false)?;
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{}/", dir.trim_end_matches('/'))
    };
    let mut files = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    for a in &d.artifacts {
        let Some(rest) = a.name.strip_prefix(&prefix) else {
            continue;
        };
        match rest.split_once('/') {
            Some((sub, _)) => {
                dirs.insert(sub.to_string());
            }
            None if !rest.is_empty() => files.push(json!({"path": rest, "is_dir": false, "file_size": a.size})),
            None => {}
        }
    }
    files.extend(dirs.into_iter().map(|d| json!({"path": d, "is_dir": true})));
    Ok(Json(json!({ "files": files })))
}

async fn artifact_get(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<String>,
) -> Result<Response, MlError> {
    let (run, name) = artifact_path(&path)?;
    let (_, d) = run_of(&state, &caller, &json!({"run_id": run}), false)?;
    let a = d.artifacts.iter().find(|a| a.name == name).ok_or_else(|| {
        MlError(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            format!("no artifact {name} in run {run}"),
        )
    })?;
    let bytes = std::fs::read(&a.path).map_err(|e| Error::io(format!("reading artifact {name}"), e))?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}
