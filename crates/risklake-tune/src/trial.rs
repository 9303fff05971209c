//! What a study is made of, as every storage keeps it: the optimization direction, a
//! trial's state and its frozen record, and a study's record (Optuna's names and numbers).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use risklake_core::{Error, Result};
use serde_json::{Map, Value};

use crate::distributions::Distribution;

/// Optimization direction (Optuna's `StudyDirection` numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Minimize = 1,
    Maximize = 2,
}

impl Direction {
    pub(crate) fn from_int(i: i64) -> Option<Direction> {
        match i {
            1 => Some(Direction::Minimize),
            2 => Some(Direction::Maximize),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Result<Direction> {
        match s {
            "minimize" => Ok(Direction::Minimize),
            "maximize" => Ok(Direction::Maximize),
            o => Err(Error::invalid(format!("unknown direction '{o}' (minimize, maximize)"))),
        }
    }

    /// Whether `a` is better than `b`.
    pub fn better(&self, a: f64, b: f64) -> bool {
        match self {
            Direction::Minimize => a < b,
            Direction::Maximize => a > b,
        }
    }
}

/// Trial states (Optuna's `TrialState` numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialState {
    Running = 0,
    Complete = 1,
    Pruned = 2,
    Fail = 3,
    Waiting = 4,
}

impl TrialState {
    pub(crate) fn from_int(i: i64) -> Option<TrialState> {
        Some(match i {
            0 => TrialState::Running,
            1 => TrialState::Complete,
            2 => TrialState::Pruned,
            3 => TrialState::Fail,
            4 => TrialState::Waiting,
            _ => return None,
        })
    }

    pub fn is_finished(&self) -> bool {
        matches!(self, TrialState::Complete | TrialState::Pruned | TrialState::Fail)
    }

    pub fn name(&self) -> &'static str {
        match self {
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Pruned => "pruned",
            TrialState::Fail => "fail",
            TrialState::Waiting => "waiting",
        }
    }
}

/// A trial as stored.
#[derive(Debug, Clone)]
pub struct FrozenTrial {
    /// Global id (over every study of the storage).
    pub id: usize,
    /// Position in its study.
    pub number: usize,
    pub study: usize,
    pub state: TrialState,
    pub values: Option<Vec<f64>>,
    pub datetime_start: Option<String>,
    pub datetime_complete: Option<String>,
    /// Parameters in the order they were set: (name, internal value, distribution).
    /// The collections are shared (copy on write), so a study's history is cheap to take.
    pub params: Arc<Vec<(String, f64, Distribution)>>,
    pub user_attrs: Arc<Map<String, Value>>,
    pub system_attrs: Arc<Map<String, Value>>,
    pub intermediate_values: Arc<BTreeMap<i64, f64>>,
    /// The worker that created or last claimed it.
    pub owner: String,
}

impl FrozenTrial {
    pub fn value(&self) -> Option<f64> {
        self.values.as_ref().and_then(|v| v.first().copied())
    }

    pub fn param(&self, name: &str) -> Option<(f64, &Distribution)> {
        self.params.iter().find(|p| p.0 == name).map(|p| (p.1, &p.2))
    }

    /// [`FrozenTrial::param`], looking at position `hint` first (trials of a study
    /// usually set their parameters in the same order).
    pub fn param_at(&self, name: &str, hint: usize) -> Option<(f64, &Distribution)> {
        match self.params.get(hint) {
            Some(p) if p.0 == name => Some((p.1, &p.2)),
            _ => self.param(name),
        }
    }
}

/// A study as stored.
#[derive(Debug, Clone)]
pub struct StudyRecord {
    pub id: usize,
    pub name: String,
    pub directions: Vec<Direction>,
    pub user_attrs: Map<String, Value>,
    pub system_attrs: Map<String, Value>,
    pub trials: Vec<usize>,
    /// The distribution each parameter first had in this study (a later trial may not
    /// change its kind).
    pub distributions: HashMap<String, Distribution>,
}
