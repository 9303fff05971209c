//! The model registry: a run's model or scorecard registered under a name as version 1,
//! 2, ...; aliases (`champion`, `challenger`) moved in one step; tags; the history of
//! every change. Everywhere a model is taken, `name@alias`, `name/version` and
//! `name@latest` work besides run ids and files (see [`ModelSpec`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use risklake_core::{Error, Result};
use risklake_track::{ModelEvent, ModelVersion, RegisteredModel, RunId, RunStatus};

use crate::{artifacts, Workspace};

/// The alias every registered model has: its highest live version.
pub const LATEST: &str = "latest";

/// Where a model (or scorecard, or plan) comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSpec {
    /// A file.
    File(PathBuf),
    /// A run's artifact (`17`, `run:17`).
    Run(RunId),
    /// A registered version (`pd_model/3`).
    Version { name: String, version: i64 },
    /// A registered model's alias (`pd_model@champion`, `pd_model@latest`).
    Alias { name: String, alias: String },
}

impl ModelSpec {
    /// Reads `spec`: an existing file first, then a run id, then a registry reference.
    pub fn parse(spec: &str) -> Result<ModelSpec> {
        let path = std::path::Path::new(spec);
        if path.exists() {
            return Ok(ModelSpec::File(path.to_path_buf()));
        }
        if let Ok(id) = spec.trim_start_matches("run:").parse::<RunId>() {
            return Ok(ModelSpec::Run(id));
        }
        if let Some((name, alias)) = spec.split_once('@') {
            risklake_track::registry::check_name(name)?;
            if alias != LATEST {
                risklake_track::registry::check_alias(alias)?;
            }
            return Ok(ModelSpec::Alias {
                name: name.into(),
                alias: alias.into(),
            });
        }
        if let Some((name, version)) = spec.rsplit_once('/') {
            if let (Ok(()), Ok(v)) = (risklake_track::registry::check_name(name), version.parse::<i64>()) {
                return Ok(ModelSpec::Version {
                    name: name.into(),
                    version: v,
                });
            }
        }
        Err(Error::NotFound {
            kind: "model",
            name: format!("{spec} (not a file, a run id, NAME@ALIAS or NAME/VERSION of the registry)"),
        })
    }

    /// The registered version this spec names, if it names one.
    pub fn version(&self, ws: &Workspace) -> Result<Option<ModelVersion>> {
        self.version_in(ws.store(), ws.project())
    }

    /// [`ModelSpec::version`] on an open store (a server resolving aliases per request).
    pub fn version_in(&self, store: &dyn risklake_track::Store, project: &str) -> Result<Option<ModelVersion>> {
        Ok(match self {
            ModelSpec::File(_) | ModelSpec::Run(_) => None,
            ModelSpec::Version { name, version } => Some(store.model_version(project, name, *version)?),
            ModelSpec::Alias { name, alias } if alias == LATEST => {
                let latest = store.model_versions(project, name)?.into_iter().next().ok_or_else(|| {
                    Error::not_found("model version", format!("{name}@latest (every version was deleted)"))
                })?;
                Some(latest)
            }
            ModelSpec::Alias { name, alias } => Some(store.model_alias(project, name, alias)?),
        })
    }
}

/// The text of the first of `artifacts` that `spec`'s run has (or, for a registered
/// version whose run has none of them, the artifact registered); a file is read as it
/// is. `what` names it in errors.
pub fn read_artifact(ws: &Workspace, spec: &str, artifacts: &[&str], what: &str) -> Result<String> {
    let parsed = ModelSpec::parse(spec)?;
    let (run, registered) = match &parsed {
        ModelSpec::File(path) => {
            return std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {what} {spec}"), e))
        }
        ModelSpec::Run(id) => (*id, None),
        _ => {
            let v = parsed.version(ws)?.expect("a registry spec names a version");
            (v.run, Some(v.artifact))
        }
    };
    let detail = ws.store().get_run(run)?;
    let found = artifacts
        .iter()
        .chain(registered.as_deref().as_slice())
        .find_map(|name| detail.artifacts.iter().find(|a| a.name == *name))
        .ok_or_else(|| {
            let from = if registered.is_some() {
                format!("{spec} (run {run})")
            } else {
                format!("run {run}")
            };
            Error::invalid(format!("{from} has no {what} (it is a '{}' run)", detail.summary.kind))
        })?;
    std::fs::read_to_string(&found.path).map_err(|e| Error::io(format!("reading {}", found.path), e))
}

/// Register a run's model (or scorecard) as the next version of a name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegisterRequest {
    /// The run whose model is registered (a `train`, `tune` or `scorecard build` run).
    pub run: RunId,
    pub name: String,
    /// Aliases to point at the new version (moved from where they pointed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The run's artifact (a file, or a folder of files) that is the model: for models
    /// logged by other tools (an MLflow client's `model/` folder). Default: the run's
    /// `model.json` or `scorecard.json`, which risklake scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
}

/// Registers the run's model: its `model.json`, or its `scorecard.json`, or the artifact
/// the request names. The run must have finished, unless an artifact is named (an MLflow
/// client registers a model while its run is still open).
pub fn register(ws: &Workspace, req: &RegisterRequest) -> Result<ModelVersion> {
    risklake_track::registry::check_name(&req.name)?;
    for a in &req.aliases {
        check_settable(a)?;
    }
    let run = ws.store().get_run(req.run).map_err(|e| match e {
        Error::NotFound { .. } => Error::param("run", format!("run {} does not exist", req.run)),
        other => other,
    })?;
    if run.summary.status != RunStatus::Finished && req.artifact.is_none() {
        return Err(Error::param(
            "run",
            format!(
                "run {} is {}, not finished: only a finished run's model can be registered",
                req.run, run.summary.status
            ),
        ));
    }
    let named = match req.artifact.as_deref().map(|a| a.trim_matches('/')) {
        None => None,
        Some(a) => {
            let folder = format!("{a}/");
            if !run.artifacts.iter().any(|x| x.name == a || x.name.starts_with(&folder)) {
                return Err(Error::param(
                    "artifact",
                    format!("run {} has no artifact {a:?} (file or folder)", req.run),
                ));
            }
            Some(a)
        }
    };
    let artifact = named
        .or_else(|| {
            [artifacts::MODEL, artifacts::SCORECARD]
                .into_iter()
                .find(|name| run.artifacts.iter().any(|a| a.name == *name))
        })
        .ok_or_else(|| {
            Error::param(
                "run",
                format!(
                    "run {} ('{}') stored no model or scorecard to register",
                    req.run, run.summary.kind
                ),
            )
        })?;
    let store = ws.store();
    let v = store.register_model(
        ws.project(),
        &req.name,
        req.run,
        artifact,
        req.description.as_deref(),
        ws.user(),
    )?;
    for (k, value) in &req.tags {
        store.set_model_tag(ws.project(), &req.name, v.version, k, value, ws.user())?;
    }
    for a in &req.aliases {
        store.set_model_alias(ws.project(), &req.name, a, Some(v.version), ws.user())?;
    }
    store.model_version(ws.project(), &req.name, v.version)
}

fn check_settable(alias: &str) -> Result<()> {
    if alias == LATEST {
        return Err(Error::param(
            "alias",
            "'latest' always names the highest version; choose another alias",
        ));
    }
    risklake_track::registry::check_alias(alias)
}

/// Points `alias` of `name` at `version`, or removes it (`None`).
pub fn set_alias(ws: &Workspace, name: &str, alias: &str, version: Option<i64>) -> Result<()> {
    check_settable(alias)?;
    ws.store()
        .set_model_alias(ws.project(), name, alias, version, ws.user())
}

/// Sets tags of a version.
pub fn set_tags(ws: &Workspace, name: &str, version: i64, tags: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in tags {
        ws.store().set_model_tag(ws.project(), name, version, k, v, ws.user())?;
    }
    Ok(())
}

/// The registered models of the workspace's project.
pub fn list(ws: &Workspace) -> Result<Vec<RegisteredModel>> {
    ws.store().list_models(ws.project())
}

/// A registered model: its versions (newest first) and its history.
#[derive(Clone, Debug, Serialize)]
pub struct ModelDetail {
    pub name: String,
    pub versions: Vec<ModelVersion>,
    pub history: Vec<ModelEvent>,
}

pub fn detail(ws: &Workspace, name: &str) -> Result<ModelDetail> {
    Ok(ModelDetail {
        name: name.to_string(),
        versions: ws.store().model_versions(ws.project(), name)?,
        history: ws.store().model_history(ws.project(), name)?,
    })
}

/// Deletes a version (refused while an alias points at it).
pub fn delete_version(ws: &Workspace, name: &str, version: i64) -> Result<()> {
    ws.store().delete_model_version(ws.project(), name, version, ws.user())
}
