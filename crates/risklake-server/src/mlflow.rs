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

use crate::state::{Caller, State};

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
        .route(&format!("{m}/registered-models/create"), post(registered_create))
        .route(&format!("{m}/registered-models/get"), get(registered_get))
        .route(
            &format!("{m}/registered-models/search"),
            get(registered_search).post(registered_search),
        )
        .route(
            &format!("{m}/registered-models/alias"),
            get(alias_get).post(alias_set).delete(alias_delete),
        )
        .route(&format!("{m}/model-versions/create"), post(version_create))
        .route(&format!("{m}/model-versions/get"), get(version_get))
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
#[derive(Debug)]
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
    Ok(state.shared.workspace(project)?.with_user(&caller.user))
}

/// Any workspace to look projects up in (the caller's own project when it has one).
fn lookup(state: &State, caller: &Caller) -> Result<Workspace, MlError> {
    let project = caller
        .project
        .clone()
        .unwrap_or_else(|| risklake_app::DEFAULT_PROJECT.into());
    Ok(state.shared.workspace(&project)?)
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

/// The experiment id of a project.
fn experiment_of(ws: &Workspace, project: &str) -> Result<String, MlError> {
    Ok(ws
        .store()
        .list_projects()?
        .into_iter()
        .find(|p| p.name == project)
        .map_or("0".to_string(), |p| experiment_id(&p.name, p.id)))
}

/// A run as the client reads it, in experiment `exp` (its project's).
fn run_json(d: &RunDetail, exp: &str) -> Value {
    let s = &d.summary;
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
    json!({"info": info, "data": {"metrics": metrics, "params": params, "tags": tags}})
}

/// A run of `ws`'s project as the client reads it.
fn run_answer(ws: &Workspace, d: &RunDetail) -> Result<Value, MlError> {
    Ok(run_json(d, &experiment_of(ws, &d.summary.project)?))
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
    Ok(Json(json!({ "run": run_answer(&ws, &detail)? })))
}

async fn run_get(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let v = json!(q);
    let (ws, detail) = run_of(&state, &caller, &v, false)?;
    Ok(Json(json!({ "run": run_answer(&ws, &detail)? })))
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
    Ok(Json(json!({ "run_info": run_answer(&ws, &detail)?["info"] })))
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
    let filter = parse_filter(v.get("filter").and_then(Value::as_str).unwrap_or(""))?;
    let order: Vec<(String, bool)> = v
        .get("order_by")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(parse_order)
        .collect::<Result<_, _>>()?;
    let max = v.get("max_results").and_then(Value::as_u64).unwrap_or(1000).min(50_000) as usize;
    let look = lookup(&state, &caller)?;
    let mut runs = Vec::new();
    for exp in v.get("experiment_ids").and_then(Value::as_array).into_iter().flatten() {
        let exp = exp.as_str().map(str::to_string).unwrap_or_else(|| exp.to_string());
        let project = project_of(&look, &exp)?;
        let ws = open(&state, &caller, &project, false)?;
        // The project's own experiment id, once for all its runs.
        let exp = experiment_of(&ws, &project)?;
        let listing = RunFilter {
            project: Some(project),
            ..Default::default()
        };
        for s in ws.store().list_runs(&listing)? {
            let run = run_json(&ws.store().get_run(s.id)?, &exp);
            if filter.iter().all(|c| c.matches(&run)) {
                runs.push(run);
            }
        }
    }
    if !order.is_empty() {
        runs.sort_by(|a, b| {
            for (key, ascending) in &order {
                let o = compare(&field(a, key), &field(b, key));
                if o != std::cmp::Ordering::Equal {
                    return if *ascending { o } else { o.reverse() };
                }
            }
            std::cmp::Ordering::Equal
        });
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

/// One clause of a search filter: `metrics.auc > 0.7`, `params.model = 'gbdt'`,
/// `tags.team != 'x'`, `attributes.status = 'FINISHED'`, `params.name LIKE 'lgbm%'`.
#[derive(Debug)]
struct Clause {
    key: String,
    op: String,
    value: Value,
}

/// A field of a run as [`run_json`] writes it: `metrics.k`, `params.k`, `tags.k`, or an
/// attribute (`status`, `run_name`, `run_id`, `start_time`, `end_time`, `user_id`).
fn field(run: &Value, key: &str) -> Value {
    let (kind, name) = key.split_once('.').unwrap_or(("attributes", key));
    let list = |section: &str| {
        run["data"][section]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["key"] == name)
            .map(|e| e["value"].clone())
            .unwrap_or(Value::Null)
    };
    match kind {
        "metrics" | "metric" => list("metrics"),
        "params" | "param" | "parameters" => list("params"),
        "tags" | "tag" => list("tags"),
        _ => run["info"][if name == "run_uuid" { "run_id" } else { name }].clone(),
    }
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        // Missing values sort last.
        _ => match (a.is_null(), b.is_null()) {
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => a.as_str().unwrap_or("").cmp(b.as_str().unwrap_or("")),
        },
    }
}

/// SQL LIKE: `%` any run of characters, `_` one character.
fn like(text: &str, pattern: &str, fold: bool) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = if fold {
        (
            text.to_lowercase().chars().collect(),
            pattern.to_lowercase().chars().collect(),
        )
    } else {
        (text.chars().collect(), pattern.chars().collect())
    };
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while i < t.len() {
        if j < p.len() && (p[j] == '_' || p[j] == t[i]) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '%' {
            star = Some(j);
            mark = i;
            j += 1;
        } else if let Some(s) = star {
            j = s + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    p[j..].iter().all(|c| *c == '%')
}

impl Clause {
    fn matches(&self, run: &Value) -> bool {
        let got = field(run, &self.key);
        if got.is_null() {
            return false;
        }
        let as_text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
        match self.op.as_str() {
            "LIKE" => like(&as_text(&got), &as_text(&self.value), false),
            "ILIKE" => like(&as_text(&got), &as_text(&self.value), true),
            op => {
                let o = match (got.as_f64(), self.value.as_f64()) {
                    (Some(x), Some(y)) => x.total_cmp(&y),
                    _ => as_text(&got).cmp(&as_text(&self.value)),
                };
                match op {
                    "=" => o.is_eq(),
                    "!=" => o.is_ne(),
                    ">" => o.is_gt(),
                    ">=" => o.is_ge(),
                    "<" => o.is_lt(),
                    "<=" => o.is_le(),
                    _ => false,
                }
            }
        }
    }
}

const FILTER_KINDS: &[&str] = &[
    "metrics",
    "metric",
    "params",
    "param",
    "parameters",
    "tags",
    "tag",
    "attributes",
    "attribute",
    "attr",
];
const ATTRIBUTES: &[&str] = &["status", "run_name", "run_id", "start_time", "end_time", "user_id"];

/// Parses `clause AND clause ...`; an empty filter matches every run.
fn parse_filter(filter: &str) -> Result<Vec<Clause>, MlError> {
    let mut clauses = Vec::new();
    let mut rest = filter.trim();
    while !rest.is_empty() {
        let op_at = rest
            .find(|c: char| c == '=' || c == '!' || c == '<' || c == '>' || c.is_whitespace())
            .ok_or_else(|| invalid(format!("filter {filter:?}: expected `key operator value`")))?;
        let key = rest[..op_at].trim_matches('`').to_string();
        let after = rest[op_at..].trim_start();
        let op = ["!=", ">=", "<=", "=", ">", "<", "ILIKE", "LIKE"]
            .into_iter()
            .find(|o| after.to_ascii_uppercase().starts_with(o))
            .ok_or_else(|| invalid(format!("filter {filter:?}: no comparison after {key:?}")))?;
        let after = after[op.len()..].trim_start();
        let (value, tail) = if let Some(q) = after.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let end = after[1..]
                .find(q)
                .ok_or_else(|| invalid(format!("filter {filter:?}: an unclosed quote")))?;
            (Value::String(after[1..1 + end].to_string()), &after[end + 2..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            let word = &after[..end];
            let n: f64 = word.parse().map_err(|_| {
                invalid(format!(
                    "filter {filter:?}: {word:?} is neither a number nor a quoted string"
                ))
            })?;
            (json!(n), &after[end..])
        };
        let known = match key.split_once('.') {
            Some((kind, _)) => FILTER_KINDS.contains(&kind),
            None => ATTRIBUTES.contains(&key.as_str()),
        };
        if !known {
            return Err(invalid(format!(
                "filter {filter:?}: {key:?} is not metrics.<k>, params.<k>, tags.<k> or attributes.<name>"
            )));
        }
        clauses.push(Clause {
            key,
            op: op.to_string(),
            value,
        });
        let tail = tail.trim_start();
        rest = if tail.is_empty() {
            tail
        } else if tail.len() >= 4 && tail[..4].eq_ignore_ascii_case("and ") {
            tail[4..].trim_start()
        } else {
            return Err(invalid(format!(
                "filter {filter:?}: clauses are joined by AND (OR is not supported)"
            )));
        };
    }
    Ok(clauses)
}

/// `metrics.auc DESC` -> (`metrics.auc`, ascending = false).
fn parse_order(text: &str) -> Result<(String, bool), MlError> {
    let mut words = text.split_whitespace();
    let key = words
        .next()
        .ok_or_else(|| invalid("an empty order_by"))?
        .trim_matches('`')
        .to_string();
    let ascending = match words.next().map(|w| w.to_ascii_uppercase()) {
        None => true,
        Some(w) if w == "ASC" => true,
        Some(w) if w == "DESC" => false,
        Some(w) => return Err(invalid(format!("order_by {text:?}: {w} is not ASC or DESC"))),
    };
    Ok((key, ascending))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_orders_read_like_mlflow() {
        let run = json!({
            "info": {"status": "FINISHED", "run_name": "lgbm-1", "start_time": 5},
            "data": {"metrics": [{"key": "auc", "value": 0.76}], "params": [{"key": "model", "value": "gbdt"}],
                     "tags": [{"key": "team", "value": "risk"}]}
        });
        let ok = |f: &str| parse_filter(f).unwrap().iter().all(|c| c.matches(&run));
        assert!(ok(""));
        assert!(ok("metrics.auc > 0.7"));
        assert!(!ok("metrics.auc > 0.8"));
        assert!(ok("metrics.auc >= 0.76 and params.model = 'gbdt'"));
        assert!(ok("tags.team != \"ops\" AND attributes.status = 'FINISHED'"));
        assert!(ok("attributes.run_name LIKE 'lgbm%'") && ok("attributes.run_name ILIKE 'LGBM-_'"));
        assert!(!ok("params.missing = 'x'"), "a missing field matches nothing");
        for bad in [
            "metrics.auc",
            "metrics.auc > 'x",
            "metrics.auc > 0.7 or params.a = 'b'",
            "colour = 'red'",
            "metrics.auc > abc",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_order("metrics.auc DESC").unwrap(), ("metrics.auc".into(), false));
        assert!(parse_order("metrics.auc sideways").is_err());
        assert!(like("abc", "a%", false) && like("abc", "%c", false) && !like("abc", "b%", false));
    }
}

// The model registry: MLflow's registered models are the registry of the caller's project
// (`default` without tokens); a version points at an artifact (file or folder) of a run.

/// The caller's project's workspace, for the registry.
fn registry_ws(state: &State, caller: &Caller, write: bool) -> Result<Workspace, MlError> {
    let project = caller
        .project
        .clone()
        .unwrap_or_else(|| risklake_app::DEFAULT_PROJECT.into());
    open(state, caller, &project, write)
}

/// The `name` a registry read asks for, and the caller's registry.
fn registry_read<'a>(
    state: &State,
    caller: &Caller,
    q: &'a HashMap<String, String>,
) -> Result<(&'a str, Workspace), MlError> {
    let name = q.get("name").ok_or_else(|| invalid("name is required"))?;
    Ok((name, registry_ws(state, caller, false)?))
}

fn not_found(what: String) -> MlError {
    MlError(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", what)
}

fn version_json(v: &risklake_track::ModelVersion, exp: &str) -> Value {
    let source = if v.artifact == risklake_app::artifacts::MODEL || v.artifact == risklake_app::artifacts::SCORECARD {
        format!("runs:/{}/{}", v.run, v.artifact)
    } else {
        format!("mlflow-artifacts:/{exp}/{}/artifacts/{}", v.run, v.artifact)
    };
    let mut j = json!({
        "name": v.name, "version": v.version.to_string(), "creation_timestamp": millis(&v.created_at),
        "last_updated_timestamp": millis(&v.created_at), "current_stage": "None", "source": source,
        "run_id": v.run.to_string(), "status": "READY", "user_id": v.created_by, "aliases": v.aliases,
        "tags": v.tags.iter().map(|(k, x)| json!({"key": k, "value": x})).collect::<Vec<_>>(),
    });
    if let Some(d) = &v.description {
        j["description"] = json!(d);
    }
    j
}

fn registered_json(ws: &Workspace, name: &str) -> Result<Value, MlError> {
    // The versions only: a registered model's history is not part of MLflow's answer.
    let versions = ws.store().model_versions(ws.project(), name)?;
    let Some(latest) = versions.first() else {
        return Err(not_found(format!("no registered model {name}")));
    };
    let exp = experiment_of(ws, ws.project())?;
    let first = versions.last().unwrap_or(latest);
    let aliases: Vec<Value> = versions
        .iter()
        .flat_map(|v| {
            v.aliases
                .iter()
                .map(move |a| json!({"alias": a, "version": v.version.to_string()}))
        })
        .collect();
    Ok(json!({
        "name": name, "creation_timestamp": millis(&first.created_at),
        "last_updated_timestamp": millis(&latest.created_at),
        "latest_versions": [version_json(latest, &exp)], "aliases": aliases,
    }))
}

/// A model name is only stored with its first version: creating one checks the name and
/// that it is not taken.
async fn registered_create(S(state): S<State>, Extension(caller): Extension<Caller>, body: Bytes) -> Answer {
    let v = body_of(&body)?;
    let name = text(&v, "name")?;
    risklake_track::registry::check_name(name)?;
    let ws = registry_ws(&state, &caller, true)?;
    if risklake_app::registry::list(&ws)?.iter().any(|m| m.name == name) {
        return Err(MlError(
            StatusCode::BAD_REQUEST,
            "RESOURCE_ALREADY_EXISTS",
            format!("registered model {name} already exists"),
        ));
    }
    let now = Utc::now().timestamp_millis();
    Ok(Json(json!({"registered_model": {
        "name": name, "creation_timestamp": now, "last_updated_timestamp": now, "latest_versions": [],
    }})))
}

async fn registered_get(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let (name, ws) = registry_read(&state, &caller, &q)?;
    Ok(Json(json!({"registered_model": registered_json(&ws, name)?})))
}

async fn registered_search(S(state): S<State>, Extension(caller): Extension<Caller>) -> Answer {
    let ws = registry_ws(&state, &caller, false)?;
    let models = risklake_app::registry::list(&ws)?
        .iter()
        .map(|m| registered_json(&ws, &m.name))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "registered_models": models })))
}

/// The run and artifact an MLflow model source names: `runs:/<run>/<path>` or
/// `mlflow-artifacts:/<experiment>/<run>/artifacts/<path>`.
fn source_artifact(source: &str) -> Option<(i64, String)> {
    if let Some(rest) = source.strip_prefix("runs:/") {
        let (run, path) = rest.split_once('/').unwrap_or((rest, ""));
        return Some((run.parse().ok()?, path.trim_matches('/').to_string()));
    }
    let rest = source.strip_prefix("mlflow-artifacts:/")?;
    let mut parts = rest.splitn(4, '/');
    let (_exp, run, artifacts, path) = (parts.next()?, parts.next()?, parts.next()?, parts.next().unwrap_or(""));
    (artifacts == "artifacts").then(|| Some((run.parse().ok()?, path.trim_matches('/').to_string())))?
}

async fn version_create(S(state): S<State>, Extension(caller): Extension<Caller>, body: Bytes) -> Answer {
    let v = body_of(&body)?;
    let name = text(&v, "name")?;
    let source = text(&v, "source")?;
    let (source_run, path) = source_artifact(source).ok_or_else(|| {
        invalid(format!(
            "source {source:?} is not runs:/<run_id>/<path> or mlflow-artifacts:/<experiment>/<run_id>/artifacts/<path>"
        ))
    })?;
    let run = match v.get("run_id").and_then(Value::as_str).filter(|r| !r.is_empty()) {
        Some(r) => r
            .parse()
            .map_err(|_| invalid(format!("run_id {r:?} is not a run of this server")))?,
        None => source_run,
    };
    let ws = registry_ws(&state, &caller, true)?;
    let request = risklake_app::registry::RegisterRequest {
        run,
        name: name.to_string(),
        description: v.get("description").and_then(Value::as_str).map(str::to_string),
        tags: v
            .get("tags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(|x| Some((text(x, "key").ok()?.to_string(), text(x, "value").ok()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
        artifact: (!path.is_empty()).then_some(path),
        aliases: Vec::new(),
    };
    let version = risklake_app::registry::register(&ws, &request)?;
    state.shared.queue.audit(
        &caller.user,
        ws.project(),
        "model.register",
        &format!("{name}/{}", version.version),
        "mlflow",
    )?;
    let exp = experiment_of(&ws, ws.project())?;
    Ok(Json(json!({"model_version": version_json(&version, &exp)})))
}

fn version_number(q: &HashMap<String, String>) -> Result<i64, MlError> {
    let v = q.get("version").ok_or_else(|| invalid("version is required"))?;
    v.parse().map_err(|_| invalid(format!("version {v:?} is not a number")))
}

async fn version_get(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let (name, ws) = registry_read(&state, &caller, &q)?;
    let version = ws.store().model_version(ws.project(), name, version_number(&q)?)?;
    let exp = experiment_of(&ws, ws.project())?;
    Ok(Json(json!({"model_version": version_json(&version, &exp)})))
}

async fn alias_set(S(state): S<State>, Extension(caller): Extension<Caller>, body: Bytes) -> Answer {
    let v = body_of(&body)?;
    let (name, alias) = (text(&v, "name")?, text(&v, "alias")?);
    let version: i64 = match v.get("version") {
        Some(Value::String(s)) => s.parse().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| invalid("version is required: a version number"))?;
    move_alias(&state, &caller, name, alias, Some(version))
}

/// Points an alias at a version, or removes it (`None`), audited.
fn move_alias(state: &State, caller: &Caller, name: &str, alias: &str, version: Option<i64>) -> Answer {
    let ws = registry_ws(state, caller, true)?;
    risklake_app::registry::set_alias(&ws, name, alias, version)?;
    let detail = version.map_or("removed".to_string(), |v| v.to_string());
    state.shared.queue.audit(
        &caller.user,
        ws.project(),
        "model.alias",
        &format!("{name}@{alias}"),
        &detail,
    )?;
    Ok(Json(json!({})))
}

async fn alias_delete(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Answer {
    // The client sends name and alias in the query of a DELETE (and older ones in a body).
    let v = body_of(&body)?;
    let get = |k: &str| {
        q.get(k)
            .map(String::as_str)
            .or_else(|| v.get(k).and_then(Value::as_str))
            .ok_or_else(|| invalid(format!("{k} is required")))
    };
    let (name, alias) = (get("name")?, get("alias")?);
    move_alias(&state, &caller, name, alias, None)
}

async fn alias_get(
    S(state): S<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let name = q.get("name").ok_or_else(|| invalid("name is required"))?;
    let alias = q.get("alias").ok_or_else(|| invalid("alias is required"))?;
    let ws = registry_ws(&state, &caller, false)?;
    let version = ws.store().model_alias(ws.project(), name, alias)?;
    let exp = experiment_of(&ws, ws.project())?;
    Ok(Json(json!({"model_version": version_json(&version, &exp)})))
}
