//! The records kept in the store.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A run's id.
pub type RunId = i64;

/// How a run ended (or that it has not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
    /// Its process ended without finishing it (killed, or stopped by a signal).
    Interrupted,
    /// Stopped on request; what it had begun was rolled back.
    Cancelled,
}

impl RunStatus {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Parses the stored word.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(RunStatus::Running),
            "finished" => Some(RunStatus::Finished),
            "failed" => Some(RunStatus::Failed),
            "interrupted" => Some(RunStatus::Interrupted),
            "cancelled" => Some(RunStatus::Cancelled),
            _ => None,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A project and how many runs it holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    pub runs: i64,
}

/// A dataset a run used: a lake table at a snapshot, or a file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DatasetRef {
    /// `input` or `output`.
    pub role: String,
    /// `db.table` or a file path.
    pub name: String,
    /// The lake snapshot read or written, where there is one.
    pub snapshot: Option<i64>,
    /// Rows read or written, where known.
    pub rows: Option<i64>,
}

/// A file kept for a run, under the home's artifact folder.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    pub name: String,
    /// Absolute path of the stored copy.
    pub path: String,
    pub size: i64,
}

/// One metric value.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MetricPoint {
    pub key: String,
    pub step: Option<i64>,
    pub value: f64,
}

/// A run as listed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunSummary {
    pub id: RunId,
    pub project: String,
    pub kind: String,
    pub command: String,
    pub status: RunStatus,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// Seconds from start to end (or to now while running).
    pub duration_s: Option<f64>,
    pub error: Option<String>,
}

/// A run with everything recorded about it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunDetail {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub params: BTreeMap<String, String>,
    /// The last value of each metric (step-less or highest step).
    pub metrics: BTreeMap<String, f64>,
    /// Every metric value, in the order logged.
    pub metric_history: Vec<MetricPoint>,
    pub datasets: Vec<DatasetRef>,
    pub artifacts: Vec<Artifact>,
}

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub project: Option<String>,
    pub kind: Option<String>,
    pub status: Option<RunStatus>,
    /// At most this many (newest first); `None` for all.
    pub limit: Option<usize>,
    /// Skip this many of the newest first (paging with `limit`).
    pub offset: usize,
}

/// A version of a registered model: a run's model (or scorecard) artifact under a name.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelVersion {
    pub name: String,
    /// 1, 2, ... per name, in registration order; never reused.
    pub version: i64,
    /// The run whose artifact this version is.
    pub run: RunId,
    /// The artifact's name in that run (`model.json`, `scorecard.json`).
    pub artifact: String,
    pub description: Option<String>,
    pub created_at: String,
    pub created_by: String,
    /// The aliases pointing at this version.
    pub aliases: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// A registered model name with its versions' count and aliases.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RegisteredModel {
    pub name: String,
    pub versions: i64,
    pub latest: Option<i64>,
    /// alias -> version
    pub aliases: BTreeMap<String, i64>,
    pub created_at: String,
    pub updated_at: String,
}

/// One change in a registered model's life: `registered`, `alias` (set or moved),
/// `alias_removed`, `tag`, `version_deleted`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelEvent {
    pub name: String,
    pub version: Option<i64>,
    pub event: String,
    /// What changed (`champion: 2 -> 3`, `stage=validated`).
    pub detail: String,
    pub at: String,
    pub user: String,
}
