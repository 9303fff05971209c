//! The tuning studies of a project, as the server and the dashboard show them: a list
//! with each study's best, and its trials a page at a time. Read from the same journal
//! files `tune` writes (and Optuna reads), nothing copied.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map, Value};

use risklake_core::{Error, Result};
use risklake_tune::{FrozenTrial, Storage, TrialState};

pub use risklake_tune::importance::{FanovaOptions, Importances, ParamImportance};

use crate::Workspace;

/// Where a project's studies are kept when a tuning names no storage: `studies/` of the
/// home for the `default` project, `studies/<project database>/` for the others (so a
/// project sees only its own).
pub fn studies_dir(ws: &Workspace) -> PathBuf {
    let root = ws.home().join("studies");
    if ws.project() == crate::DEFAULT_PROJECT {
        root
    } else {
        root.join(ws.database())
    }
}

/// The study attribute recording what a risklake study tunes (model, table, label,
/// space): a later run on other data refuses to continue it unless told to.
pub(crate) const STUDY_SUBJECT: &str = "risklake_subject";

/// The journal file of study `name` in its project's folder.
pub fn journal_path(ws: &Workspace, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    studies_dir(ws).join(format!("{safe}.journal"))
}

/// A study in brief.
#[derive(Clone, Debug, Serialize)]
pub struct StudySummary {
    pub name: String,
    pub direction: String,
    pub trials: usize,
    /// Trials by state (`complete`, `pruned`, `fail`, `running`, `waiting`).
    pub states: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best: Option<TrialView>,
    /// What the study tunes (model, table, label, space), as `tune` recorded it.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub subject: Value,
}

/// A trial as shown: parameters in their own values, not the sampler's.
#[derive(Clone, Debug, Serialize)]
pub struct TrialView {
    pub number: usize,
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub params: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    /// Reported intermediate values (step -> value), for pruning curves.
    pub intermediate: Vec<(i64, f64)>,
    pub user_attrs: Map<String, Value>,
}

fn view(t: &FrozenTrial) -> TrialView {
    TrialView {
        number: t.number,
        state: t.state.name(),
        value: t.value(),
        params: t
            .params
            .iter()
            .map(|(n, x, d)| (n.clone(), d.to_external(*x).to_json()))
            .collect(),
        started: t.datetime_start.clone(),
        completed: t.datetime_complete.clone(),
        intermediate: t.intermediate_values.iter().map(|(s, v)| (*s, *v)).collect(),
        user_attrs: (*t.user_attrs).clone(),
    }
}

/// Opens the journal that keeps study `name`; not found when there is none.
fn open(ws: &Workspace, name: &str) -> Result<(Storage, usize)> {
    let path = journal_path(ws, name);
    if !path.is_file() {
        return Err(Error::not_found("study", name));
    }
    let storage = Storage::journal(&path)?;
    let id = storage.study_id(name)?.ok_or_else(|| Error::not_found("study", name))?;
    Ok((storage, id))
}

fn summary(storage: &Storage, id: usize) -> Result<StudySummary> {
    let record = storage.study(id)?;
    let trials = storage.trials(id)?;
    let direction = record
        .directions
        .first()
        .copied()
        .unwrap_or(risklake_tune::Direction::Minimize);
    let mut states = Map::new();
    for t in &trials {
        let n = states.entry(t.state.name()).or_insert(json!(0));
        *n = json!(n.as_u64().unwrap_or(0) + 1);
    }
    let best = trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(|t| t.value().map(|v| (v, t)))
        .reduce(|a, b| if direction.better(b.0, a.0) { b } else { a })
        .map(|(_, t)| view(t));
    Ok(StudySummary {
        name: record.name.clone(),
        direction: format!("{direction:?}").to_lowercase(),
        trials: trials.len(),
        states,
        best,
        subject: record.user_attrs.get(STUDY_SUBJECT).cloned().unwrap_or(Value::Null),
    })
}

/// The project's studies (in its default study folder), by name.
pub fn list(ws: &Workspace) -> Result<Vec<StudySummary>> {
    let dir = studies_dir(ws);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("journal") || !path.is_file() {
            continue;
        }
        let storage = Storage::journal(&path)?;
        for record in storage.studies()? {
            out.push(summary(&storage, record.id)?);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One study in brief.
pub fn get(ws: &Workspace, name: &str) -> Result<StudySummary> {
    let (storage, id) = open(ws, name)?;
    summary(&storage, id)
}

/// A page of a study's trials, by number.
#[derive(Clone, Debug, Serialize)]
pub struct TrialPage {
    pub study: String,
    pub total: usize,
    pub offset: usize,
    pub trials: Vec<TrialView>,
}

/// Trials `offset..offset + limit` of study `name`.
pub fn trials(ws: &Workspace, name: &str, offset: usize, limit: usize) -> Result<TrialPage> {
    let (storage, id) = open(ws, name)?;
    let all: Vec<Arc<FrozenTrial>> = storage.trials(id)?;
    Ok(TrialPage {
        study: name.to_string(),
        total: all.len(),
        offset,
        trials: all.iter().skip(offset).take(limit).map(|t| view(t)).collect(),
    })
}

/// Which parameters mattered in study `name`: fANOVA over its completed trials (Optuna's
/// default evaluator's method), largest first.
pub fn importance(ws: &Workspace, name: &str, options: &FanovaOptions) -> Result<Importances> {
    let (storage, id) = open(ws, name)?;
    risklake_tune::importance::fanova(&storage.trials(id)?, options)
}
