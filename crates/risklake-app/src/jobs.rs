//! Any workflow as one typed request: what the server's job runner queues and runs, and
//! what the Python package can pass in, as JSON `{"kind": "...", "request": {...}}`.
//!
//! The kinds are the run kinds the workflows record (`ingest`, `features.bin`,
//! `train.gbdt`, ...), so a job and the runs it produced read alike. Each request is the
//! workflow's own request type, with its defaults; the report comes back as JSON.
//!
//! A request from a remote client must not reach the server's filesystem unchecked:
//! [`sandbox_paths`] finds every field that names a file (data files, outputs, plans and
//! models given as files, study storage) and either refuses it or resolves it inside one
//! folder the server allows.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use risklake_core::{Error, Result};

use crate::{features, gen, ingest, lineage, maintain, predict, report, scorecard, sql, train, tune};
use crate::{Progress, Workspace};

/// A workflow and its request.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", content = "request", deny_unknown_fields)]
pub enum WorkflowRequest {
    #[serde(rename = "ingest")]
    Ingest(ingest::IngestRequest),
    #[serde(rename = "gen")]
    Gen(gen::GenRequest),
    #[serde(rename = "sql")]
    Sql(sql::SqlRequest),
    #[serde(rename = "features.bin")]
    Bin(features::BinRequest),
    #[serde(rename = "features.evaluate")]
    Evaluate(features::EvaluateRequest),
    #[serde(rename = "features.select")]
    Select(features::SelectRequest),
    #[serde(rename = "features.transform")]
    Transform(features::TransformRequest),
    #[serde(rename = "train.gbdt")]
    TrainGbdt(train::TrainRequest),
    #[serde(rename = "train.rf")]
    TrainRf(train::TrainRequest),
    #[serde(rename = "train.lr")]
    TrainLr(train::TrainLrRequest),
    #[serde(rename = "predict")]
    Predict(predict::PredictRequest),
    #[serde(rename = "scorecard.build")]
    ScorecardBuild(scorecard::ScorecardBuildRequest),
    #[serde(rename = "scorecard.evaluate")]
    ScorecardEvaluate(scorecard::EvaluateRequest),
    #[serde(rename = "score")]
    Score(scorecard::ScoreRequest),
    #[serde(rename = "model.report")]
    ModelReport(report::ModelReportRequest),
    #[serde(rename = "tune")]
    Tune(tune::TuneRequest),
    #[serde(rename = "maintain")]
    Maintain(maintain::MaintainRequest),
    #[serde(rename = "reproduce")]
    Reproduce(ReproduceRequest),
}

/// Re-runs a recorded run on the snapshots it read and compares its outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReproduceRequest {
    pub run: i64,
}

/// Every kind, for help texts and errors.
pub const KINDS: &[&str] = &[
    "ingest",
    "gen",
    "sql",
    "features.bin",
    "features.evaluate",
    "features.select",
    "features.transform",
    "train.gbdt",
    "train.rf",
    "train.lr",
    "predict",
    "scorecard.build",
    "scorecard.evaluate",
    "score",
    "model.report",
    "tune",
    "maintain",
    "reproduce",
];

/// The most rows of each SQL statement a job keeps in its report.
pub const SQL_JOB_ROWS: usize = 1000;

impl WorkflowRequest {
    /// Reads `{"kind": K, "request": {...}}`, naming the kind when it is unknown.
    pub fn from_value(value: Value) -> Result<Self> {
        let kind = value.get("kind").and_then(Value::as_str).map(str::to_string);
        match &kind {
            None => {
                return Err(Error::param(
                    "kind",
                    format!("is required: one of {}", KINDS.join(", ")),
                ))
            }
            Some(k) if !KINDS.contains(&k.as_str()) => {
                return Err(Error::param(
                    "kind",
                    format!("{k:?} is not a workflow; one of {}", KINDS.join(", ")),
                ))
            }
            _ => {}
        }
        serde_json::from_value(value).map_err(|e| {
            Error::param(
                "request",
                format!("does not read as a {} request: {e}", kind.unwrap_or_default()),
            )
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            WorkflowRequest::Ingest(_) => "ingest",
            WorkflowRequest::Gen(_) => "gen",
            WorkflowRequest::Sql(_) => "sql",
            WorkflowRequest::Bin(_) => "features.bin",
            WorkflowRequest::Evaluate(_) => "features.evaluate",
            WorkflowRequest::Select(_) => "features.select",
            WorkflowRequest::Transform(_) => "features.transform",
            WorkflowRequest::TrainGbdt(_) => "train.gbdt",
            WorkflowRequest::TrainRf(_) => "train.rf",
            WorkflowRequest::TrainLr(_) => "train.lr",
            WorkflowRequest::Predict(_) => "predict",
            WorkflowRequest::ScorecardBuild(_) => "scorecard.build",
            WorkflowRequest::ScorecardEvaluate(_) => "scorecard.evaluate",
            WorkflowRequest::Score(_) => "score",
            WorkflowRequest::ModelReport(_) => "model.report",
            WorkflowRequest::Tune(_) => "tune",
            WorkflowRequest::Maintain(_) => "maintain",
            WorkflowRequest::Reproduce(_) => "reproduce",
        }
    }

    /// Whether the workflow only reads (a SQL script of queries): what a viewer may run.
    pub fn is_read_only(&self) -> bool {
        matches!(self, WorkflowRequest::Sql(r) if risklake_lake::sql::is_read_only(&r.sql))
    }
}

fn to_json<T: Serialize>(report: &T) -> Result<Value> {
    serde_json::to_value(report).map_err(|e| Error::invalid(format!("formatting the report: {e}")))
}

/// Runs the workflow on `ws` and returns its report as JSON.
pub async fn run(ws: &Workspace, req: &WorkflowRequest, progress: &dyn Progress) -> Result<Value> {
    use WorkflowRequest as W;
    match req {
        W::Ingest(r) => to_json(&ingest::ingest(ws, r, progress).await?),
        W::Gen(r) => to_json(&gen::generate(ws, r, progress).await?),
        W::Sql(r) => sql::run(ws, r, progress).await?.to_json(SQL_JOB_ROWS),
        W::Bin(r) => to_json(&features::bin(ws, r, progress).await?),
        W::Evaluate(r) => to_json(&features::evaluate(ws, r, progress).await?),
        W::Select(r) => to_json(&features::select(ws, r, progress).await?),
        W::Transform(r) => to_json(&features::transform(ws, r, progress).await?),
        W::TrainGbdt(r) => to_json(&train::train_gbdt(ws, r, progress).await?),
        W::TrainRf(r) => to_json(&train::train_rf(ws, r, progress).await?),
        W::TrainLr(r) => to_json(&train::train_lr(ws, r, progress).await?),
        W::Predict(r) => to_json(&predict::predict(ws, r, progress).await?),
        W::ScorecardBuild(r) => to_json(&scorecard::build(ws, r)?),
        W::ScorecardEvaluate(r) => to_json(&scorecard::evaluate(ws, r, progress).await?),
        W::Score(r) => to_json(&scorecard::score(ws, r, progress).await?),
        W::ModelReport(r) => to_json(&report::model_report(ws, r, progress).await?),
        W::Tune(r) => to_json(&tune::tune(ws, r, progress).await?),
        W::Maintain(r) => to_json(&maintain::run(ws, r, progress).await?),
        W::Reproduce(r) => to_json(&lineage::reproduce(ws, r.run, progress).await?),
    }
}

/// Fields that always name a file.
const PATH_FIELDS: &[&str] = &["path", "out", "file", "password_file"];
/// Fields that name a file or something in the lake / store (a table, a run id, a
/// registered model): a file when it looks like one.
const SPEC_FIELDS: &[&str] = &[
    "table",
    "valid_table",
    "plan",
    "model",
    "scorecard",
    "baseline",
    "psi_against",
];

/// Whether a spec names a file rather than a lake table (`db.table`), a run (`17`,
/// `run:17`) or a registered model (`name@alias`, `name/3`).
fn looks_like_file(spec: &str) -> bool {
    const EXTENSIONS: &[&str] = &[".csv", ".tsv", ".parquet", ".jsonl", ".json", ".txt", ".toml", ".pmml"];
    let registry_version = spec
        .rsplit_once('/')
        .is_some_and(|(name, v)| !name.contains('/') && !name.is_empty() && v.parse::<u64>().is_ok());
    if registry_version || spec.contains('@') {
        return false;
    }
    spec.contains('/') || spec.starts_with('.') || spec.starts_with('~') || {
        let lower = spec.to_ascii_lowercase();
        EXTENSIONS.iter().any(|e| lower.ends_with(e))
    }
}

/// Resolves a path from a request inside `root`, or says why it may not be used.
fn resolve(root: Option<&Path>, field: &str, text: &str) -> Result<String> {
    let Some(root) = root else {
        return Err(Error::param(
            field,
            format!("{text:?} names a file, and this server reads and writes no files named in requests (start it with --files DIR to allow a folder)"),
        ));
    };
    let p = Path::new(text);
    let relative = if p.is_absolute() {
        p.strip_prefix(root).map_err(|_| {
            Error::param(
                field,
                format!("{text:?} is outside the folder this server allows ({})", root.display()),
            )
        })?
    } else {
        p
    };
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(Error::param(
            field,
            format!("{text:?} may not leave the allowed folder (no '..')"),
        ));
    }
    Ok(root.join(relative).display().to_string())
}

/// Checks every file a request names (see the module's text): with `root`, relative paths
/// are resolved inside it and absolute ones must lie in it; without, any file is refused.
/// Returns the request with the paths resolved.
pub fn sandbox_paths(mut value: Value, root: Option<&Path>) -> Result<Value> {
    let root: Option<PathBuf> = root.map(|r| r.canonicalize().unwrap_or_else(|_| r.to_path_buf()));
    if let Some(req) = value.get_mut("request") {
        walk(req, root.as_deref())?;
    }
    Ok(value)
}

fn walk(v: &mut Value, root: Option<&Path>) -> Result<()> {
    match v {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match (key.as_str(), &mut *child) {
                    (k, Value::String(s)) if PATH_FIELDS.contains(&k) => *s = resolve(root, k, s)?,
                    (k, Value::String(s)) if SPEC_FIELDS.contains(&k) && looks_like_file(s) => {
                        *s = resolve(root, k, s)?
                    }
                    ("files", Value::Object(files)) => {
                        for (name, f) in files.iter_mut() {
                            if let Value::String(s) = f {
                                *s = resolve(root, &format!("files.{name}"), s)?;
                            }
                        }
                    }
                    ("storage", Value::String(s)) => {
                        if let Some((scheme, path)) = s.split_once(':') {
                            if matches!(scheme, "journal" | "sqlite") {
                                *s = format!("{scheme}:{}", resolve(root, "storage", path)?);
                            }
                        }
                    }
                    _ => walk(child, root)?,
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, root)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_read_by_kind_and_say_what_is_wrong() {
        let r = WorkflowRequest::from_value(json!({"kind": "gen", "request": {"rows": 10}})).unwrap();
        assert_eq!(r.kind(), "gen");
        let e = WorkflowRequest::from_value(json!({"kind": "trian.gbdt", "request": {}})).unwrap_err();
        assert!(
            e.to_string().contains("trian.gbdt") && e.to_string().contains("train.gbdt"),
            "{e}"
        );
        let e = WorkflowRequest::from_value(json!({"request": {}})).unwrap_err();
        assert!(e.to_string().contains("kind"), "{e}");
        let e = WorkflowRequest::from_value(json!({"kind": "gen", "request": {"rowz": 1}})).unwrap_err();
        assert!(e.to_string().contains("rowz"), "{e}");
        for k in KINDS {
            // Every kind listed reads (with an empty request where the request has defaults).
            let e = WorkflowRequest::from_value(json!({"kind": k, "request": {}}));
            if let Err(e) = e {
                assert!(!e.to_string().contains("is not a workflow"), "{k}: {e}");
            }
        }
        assert!(WorkflowRequest::Sql(sql::SqlRequest {
            sql: "SELECT 1".into(),
            ..Default::default()
        })
        .is_read_only());
    }

    #[test]
    fn files_named_in_requests_stay_in_the_allowed_folder() {
        let gbdt = |table: &str| json!({"kind": "train.gbdt", "request": {"table": table, "label": "bad"}});
        // Lake tables, runs and registered models are not files.
        for spec in ["raw.apps", "apps"] {
            assert_eq!(sandbox_paths(gbdt(spec), None).unwrap(), gbdt(spec));
        }
        let predict = |m: &str| json!({"kind": "predict", "request": {"model": m, "table": "t"}});
        for m in ["17", "run:17", "pd@champion", "pd/3"] {
            assert_eq!(sandbox_paths(predict(m), None).unwrap(), predict(m));
        }
        // Files are refused without a folder ...
        for spec in ["data.csv", "/etc/passwd", "./x", "../x.parquet"] {
            let e = sandbox_paths(gbdt(spec), None).unwrap_err().to_string();
            assert!(e.contains("table") && e.contains("--files"), "{spec}: {e}");
        }
        let e = sandbox_paths(
            json!({"kind": "sql", "request": {"sql": "SELECT 1", "files": {"f": "/etc/x.csv"}}}),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("files.f"), "{e}");
        let e = sandbox_paths(
            json!({"kind": "tune", "request": {"storage": "journal:/tmp/j.log"}}),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("storage"), "{e}");
        // ... and resolved inside it, never outside.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let v = sandbox_paths(gbdt("in/data.csv"), Some(&root)).unwrap();
        assert_eq!(v["request"]["table"], root.join("in/data.csv").display().to_string());
        let inside = root.join("a.parquet").display().to_string();
        assert_eq!(
            sandbox_paths(gbdt(&inside), Some(&root)).unwrap()["request"]["table"],
            inside
        );
        for bad in ["../x.csv", "/etc/x.csv", "in/../../x.csv"] {
            let e = sandbox_paths(gbdt(bad), Some(&root)).unwrap_err().to_string();
            assert!(e.contains("table"), "{bad}: {e}");
        }
        let v = sandbox_paths(
            json!({"kind": "tune", "request": {"storage": "journal:s.log"}}),
            Some(&root),
        )
        .unwrap();
        assert_eq!(
            v["request"]["storage"],
            format!("journal:{}", root.join("s.log").display())
        );
        let v = sandbox_paths(json!({"kind": "tune", "request": {"storage": "memory"}}), None).unwrap();
        assert_eq!(v["request"]["storage"], "memory");
    }
}
