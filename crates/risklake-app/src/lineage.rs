//! Lineage and replay: which tables (at which Paimon snapshots), plans and models a run
//! came from, back to the data; and running a recorded train / bin / tune again on the
//! very snapshots it read, saying whether the result is the same.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use risklake_core::{Error, Result};
use risklake_lake::{TableName, TableRef};
use risklake_track::{DatasetRef, RunDetail, RunId, RunStatus};

use crate::run::{REQUEST_PARAM, USE_ROLES};
use crate::{artifacts, Progress, Workspace};

/// A table a run read, at a snapshot, and the run that wrote that snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct Read {
    pub table: String,
    pub snapshot: Option<i64>,
    /// The run that wrote this snapshot; `None` when no run of this store did (written
    /// by Spark, Flink, pypaimon...) or for files.
    pub written_by: Option<Box<Lineage>>,
}

/// A plan, model or scorecard a run used.
#[derive(Clone, Debug, Serialize)]
pub struct Used {
    /// `plan`, `model` or `scorecard`.
    pub role: String,
    /// `run:N` or a file.
    pub name: String,
    pub run: Option<Box<Lineage>>,
}

/// A run and what it came from.
#[derive(Clone, Debug, Serialize)]
pub struct Lineage {
    pub run: RunId,
    pub kind: String,
    pub status: RunStatus,
    pub started_at: String,
    pub reads: Vec<Read>,
    pub used: Vec<Used>,
    /// Tables (and files) it wrote, with the snapshots.
    pub wrote: Vec<DatasetRef>,
    /// This run appears earlier in the chain; its sources are shown there.
    pub repeated: bool,
}

/// How deep a chain is followed (a guard, not a limit real chains reach).
const MAX_DEPTH: usize = 64;

/// The chain from `run` back to the tables it came from.
pub fn lineage(ws: &Workspace, run: RunId) -> Result<Lineage> {
    let mut seen = BTreeSet::new();
    node(ws, run, &mut seen, 0)
}

fn node(ws: &Workspace, run: RunId, seen: &mut BTreeSet<RunId>, depth: usize) -> Result<Lineage> {
    let d = ws.store().get_run(run)?;
    let mut out = Lineage {
        run,
        kind: d.summary.kind.clone(),
        status: d.summary.status,
        started_at: d.summary.started_at.clone(),
        reads: Vec::new(),
        used: Vec::new(),
        wrote: Vec::new(),
        repeated: !seen.insert(run),
    };
    if out.repeated || depth >= MAX_DEPTH {
        return Ok(out);
    }
    for ds in &d.datasets {
        match ds.role.as_str() {
            "input" => {
                let writer = match ds.snapshot {
                    Some(s) => ws.store().dataset_writer(&ds.name, s)?,
                    None => None,
                };
                let written_by = match writer {
                    Some(w) if w != run => Some(Box::new(node(ws, w, seen, depth + 1)?)),
                    _ => None,
                };
                // A table read twice (train and validation) is one source.
                if !out
                    .reads
                    .iter()
                    .any(|r| r.table == ds.name && r.snapshot == ds.snapshot)
                {
                    out.reads.push(Read {
                        table: ds.name.clone(),
                        snapshot: ds.snapshot,
                        written_by,
                    });
                }
            }
            "output" => out.wrote.push(ds.clone()),
            role if USE_ROLES.contains(&role) => {
                let used_run = ds.name.strip_prefix("run:").and_then(|n| n.parse::<RunId>().ok());
                let run = match used_run {
                    Some(u) => Some(Box::new(node(ws, u, seen, depth + 1)?)),
                    None => None,
                };
                out.used.push(Used {
                    role: role.to_string(),
                    name: ds.name.clone(),
                    run,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// One figure compared between a run and its replay.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// `artifact model.json` or `metric valid_auc`.
    pub what: String,
    pub original: String,
    pub replay: String,
    pub equal: bool,
}

/// What a replay found.
#[derive(Clone, Debug, Serialize)]
pub struct ReproduceReport {
    pub original: RunId,
    pub replay: RunId,
    pub kind: String,
    /// The lake snapshots read again (`db.table` -> snapshot).
    pub snapshots: BTreeMap<String, i64>,
    /// Files read as they are now (risklake keeps no copy of a file's content).
    pub files: Vec<String>,
    pub compared: Vec<Comparison>,
    /// Every compared artifact is byte-identical and every metric equal.
    pub identical: bool,
}

/// Metrics that measure time, not the result.
fn is_timing(metric: &str) -> bool {
    metric.ends_with("seconds")
}

/// The artifacts whose bytes a replay of `kind` must reproduce.
fn compared_artifacts(kind: &str) -> &'static [&'static str] {
    match kind {
        "train.gbdt" | "train.rf" => &[artifacts::MODEL, artifacts::IMPORTANCE_CSV],
        "train.lr" => &[artifacts::MODEL, artifacts::LR_SUMMARY],
        "features.bin" => &[artifacts::BINNING_PLAN, artifacts::BINS_CSV],
        "tune" => &[crate::tune::TRIALS_CSV, artifacts::MODEL],
        _ => &[],
    }
}

fn request_of<T: serde::de::DeserializeOwned>(d: &RunDetail) -> Result<T> {
    let run = d.summary.id;
    let text = d.params.get(REQUEST_PARAM).ok_or_else(|| {
        Error::invalid(format!(
            "run {run} kept no request (it was recorded by an older risklake): it cannot be replayed"
        ))
    })?;
    crate::request_from_json(text).map_err(|e| Error::invalid(format!("run {run}'s recorded request: {e}")))
}

/// The run a `role` use of `d` resolved to, as a spec (`run:N`), if it was a run.
fn used_run(d: &RunDetail, role: &str) -> Option<String> {
    d.datasets
        .iter()
        .find(|x| x.role == role && x.name.starts_with("run:"))
        .map(|x| x.name.clone())
}

/// Runs the recorded train (gbdt, rf, lr), bin or tune `run` again with its recorded
/// request, reading every lake table at the snapshot the run read (a plan or model it
/// used by alias is taken from the run the alias named then), as a new run; then
/// compares the artifacts byte for byte and the metrics (timings aside).
///
/// A tune is replayed in a fresh in-memory study of the same sampler and seed: it
/// reproduces a run that started its study, not one that continued a study with
/// earlier trials (their history steered the sampler).
pub async fn reproduce(ws: &Workspace, run: RunId, progress: &dyn Progress) -> Result<ReproduceReport> {
    let d = ws.store().get_run(run)?;
    let kind = d.summary.kind.clone();
    if compared_artifacts(&kind).is_empty() {
        return Err(Error::param(
            "run",
            format!("run {run} is a '{kind}' run; runs reproduce replays train.gbdt, train.rf, train.lr, features.bin and tune runs"),
        ));
    }
    if d.summary.status != RunStatus::Finished {
        return Err(Error::param(
            "run",
            format!(
                "run {run} is {}: only a finished run has a result to reproduce",
                d.summary.status
            ),
        ));
    }
    let mut snapshots = BTreeMap::new();
    let mut files = Vec::new();
    let lake = ws.lake().await?;
    for ds in d.datasets.iter().filter(|x| x.role == "input") {
        match ws.table_ref(&ds.name)? {
            TableRef::Lake(name) => {
                let Some(s) = ds.snapshot else { continue };
                check_snapshot(lake, &name, s, run).await?;
                snapshots.insert(ds.name.clone(), s);
            }
            TableRef::File(p) => {
                if !p.exists() {
                    return Err(Error::not_found(
                        "file",
                        format!("{} (run {run} read it; risklake keeps no copy of files)", p.display()),
                    ));
                }
                if !files.contains(&ds.name) {
                    files.push(ds.name.clone());
                }
            }
        }
    }
    let replay_ws = ws
        .for_project(&d.summary.project)
        .with_origin(format!("runs reproduce {run}"))
        .with_user(ws.user())
        .with_snapshots(snapshots.clone());
    let replay = match kind.as_str() {
        "train.gbdt" | "train.rf" => {
            let mut req: crate::train::TrainRequest = request_of(&d)?;
            req.out = None;
            if kind == "train.gbdt" {
                crate::train::train_gbdt(&replay_ws, &req, progress).await?.run
            } else {
                crate::train::train_rf(&replay_ws, &req, progress).await?.run
            }
        }
        "train.lr" => {
            let mut req: crate::train::TrainLrRequest = request_of(&d)?;
            req.out = None;
            if req.plan.is_some() {
                req.plan = used_run(&d, "plan").or(req.plan);
            }
            crate::train::train_lr(&replay_ws, &req, progress).await?.run
        }
        "features.bin" => {
            let mut req: crate::features::BinRequest = request_of(&d)?;
            req.out = None;
            crate::features::bin(&replay_ws, &req, progress).await?.run
        }
        _ => {
            let mut req: crate::tune::TuneRequest = request_of(&d)?;
            req.study = Some(d.params.get("study").cloned().unwrap_or(req.study_name(ws.database())?));
            req.storage = Some("memory".into());
            if req.plan.is_some() {
                req.plan = used_run(&d, "plan").or(req.plan);
            }
            crate::tune::tune(&replay_ws, &req, progress).await?.run
        }
    };
    let r = ws.store().get_run(replay)?;
    let mut compared = Vec::new();
    for name in compared_artifacts(&kind) {
        let read = |detail: &RunDetail| -> Option<Vec<u8>> {
            let a = detail.artifacts.iter().find(|a| a.name == *name)?;
            std::fs::read(&a.path).ok()
        };
        let (a, b) = (read(&d), read(&r));
        if a.is_none() && b.is_none() {
            continue;
        }
        let show = |x: &Option<Vec<u8>>| {
            x.as_ref().map_or("(none)".to_string(), |v| {
                format!("{} bytes, fnv {:016x}", v.len(), risklake_core::rng::fnv1a(v))
            })
        };
        compared.push(Comparison {
            what: format!("artifact {name}"),
            original: show(&a),
            replay: show(&b),
            equal: a == b,
        });
    }
    for (key, v) in &d.metrics {
        if is_timing(key) {
            continue;
        }
        let other = r.metrics.get(key);
        compared.push(Comparison {
            what: format!("metric {key}"),
            original: v.to_string(),
            replay: other.map_or("(none)".into(), |x| x.to_string()),
            equal: other.is_some_and(|x| x.to_bits() == v.to_bits()),
        });
    }
    let identical = compared.iter().all(|c| c.equal);
    Ok(ReproduceReport {
        original: run,
        replay,
        kind,
        snapshots,
        files,
        compared,
        identical,
    })
}

/// A clear error when a snapshot a run read can no longer be read.
async fn check_snapshot(lake: &risklake_lake::Lake, name: &TableName, snapshot: i64, run: RunId) -> Result<()> {
    if !lake.exists(name).await? {
        return Err(Error::not_found(
            "table",
            format!("{name} (run {run} read snapshot {snapshot} of it; the table was dropped)"),
        ));
    }
    if !lake.snapshot_exists(name, snapshot).await? {
        return Err(Error::not_found(
            "snapshot",
            format!("{snapshot} of {name} (run {run} read it; it has expired or the table was made again)"),
        ));
    }
    Ok(())
}
