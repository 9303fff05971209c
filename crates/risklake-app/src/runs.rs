//! Reading the project store: runs listed with their headline figure, and runs compared
//! side by side.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use risklake_core::{Error, Result};
use risklake_track::{RunDetail, RunFilter, RunId, RunSummary};

use crate::Workspace;

/// The metrics that sum up a run, in order of preference: held-out ranking first.
const HEADLINE: [&str; 10] = [
    "valid_auc",
    "best_value",
    "auc",
    "oob_score",
    "valid_ks",
    "valid_rmse",
    "features",
    "rows_written",
    "rows",
    "row_count",
];

/// A run's headline figure: its first metric of [`HEADLINE`] (name, value).
pub fn headline(metrics: &BTreeMap<String, f64>) -> Option<(String, f64)> {
    HEADLINE
        .iter()
        .find_map(|k| metrics.get(*k).map(|v| (k.to_string(), *v)))
}

/// A run as listed, with its headline figure.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub summary: RunSummary,
    /// e.g. (`valid_auc`, 0.81)
    pub headline: Option<(String, f64)>,
}

/// Runs, newest first, each with its headline figure.
pub fn list(ws: &Workspace, filter: &RunFilter) -> Result<Vec<Listed>> {
    let runs = ws.store().list_runs(filter)?;
    let ids: Vec<_> = runs.iter().map(|r| r.id).collect();
    let metrics = ws.store().final_metrics(&ids)?;
    Ok(runs
        .into_iter()
        .map(|summary| Listed {
            headline: metrics.get(&summary.id).and_then(headline),
            summary,
        })
        .collect())
}

/// Runs side by side: every parameter and final metric any of them has.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub runs: Vec<RunSummary>,
    /// name -> one value per run (`None` where that run has none).
    pub params: BTreeMap<String, Vec<Option<String>>>,
    pub metrics: BTreeMap<String, Vec<Option<f64>>>,
    /// Tables each run read, as `db.table@snapshot`.
    pub inputs: Vec<Vec<String>>,
    /// Parameters whose values differ between the runs.
    pub differing_params: Vec<String>,
}

/// A run's parameters with JSON objects (a model's whole parameter set) spread into
/// `key.field` entries, so each hyper-parameter compares on its own; the request (the
/// parameters again, as one JSON line) left out.
fn expand(params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in params {
        if k == crate::run::REQUEST_PARAM {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(v) {
            Ok(value @ serde_json::Value::Object(_)) if v.trim_start().starts_with('{') => {
                spread(k, value, &mut out);
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// `value` under `key`, objects spread into `key.field` recursively.
fn spread(key: &str, value: serde_json::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(fields) => {
            for (f, x) in fields {
                spread(&format!("{key}.{f}"), x, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(key.to_string(), s);
        }
        other => {
            out.insert(key.to_string(), other.to_string());
        }
    }
}

/// Compares runs (at least two).
pub fn compare(ws: &Workspace, ids: &[RunId]) -> Result<Comparison> {
    if ids.len() < 2 {
        return Err(Error::param("runs", "give at least two runs to compare"));
    }
    let details: Vec<RunDetail> = ids.iter().map(|id| ws.store().get_run(*id)).collect::<Result<_>>()?;
    let keys = |f: &dyn Fn(&RunDetail) -> Vec<String>| -> BTreeSet<String> { details.iter().flat_map(f).collect() };
    let expanded: Vec<BTreeMap<String, String>> = details.iter().map(|d| expand(&d.params)).collect();
    let params: BTreeMap<String, Vec<Option<String>>> = expanded
        .iter()
        .flat_map(|p| p.keys().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|k| {
            let values = expanded.iter().map(|p| p.get(&k).cloned()).collect();
            (k, values)
        })
        .collect();
    let metrics = keys(&|d| d.metrics.keys().cloned().collect())
        .into_iter()
        .map(|k| {
            let values = details.iter().map(|d| d.metrics.get(&k).copied()).collect();
            (k, values)
        })
        .collect();
    let differing_params = params
        .iter()
        .filter(|(_, v)| v.iter().any(|x| x != &v[0]))
        .map(|(k, _)| k.clone())
        .collect();
    let inputs = details
        .iter()
        .map(|d| {
            d.datasets
                .iter()
                .filter(|x| x.role == "input")
                .map(|x| match x.snapshot {
                    Some(s) => format!("{}@{s}", x.name),
                    None => x.name.clone(),
                })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .collect();
    Ok(Comparison {
        runs: details.into_iter().map(|d| d.summary).collect(),
        params,
        metrics,
        inputs,
        differing_params,
    })
}
