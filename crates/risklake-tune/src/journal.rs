//! The journal's text: Optuna 5's operations (one JSON object a line) replayed in order
//! into studies and trials, and the number conventions of its lines (bare `NaN`,
//! `Infinity`, `-Infinity`, Python's float formatting, Optuna's timestamps).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use risklake_core::{Error, Result};
use serde_json::{Map, Value};

use crate::distributions::Distribution;
use crate::trial::{Direction, FrozenTrial, StudyRecord, TrialState};

/// Every study and trial, rebuilt line by line (or read from an Optuna database).
#[derive(Debug, Default)]
pub(crate) struct Replay {
    pub(crate) studies: Vec<Option<StudyRecord>>,
    pub(crate) by_name: HashMap<String, usize>,
    pub(crate) trials: Vec<Arc<FrozenTrial>>,
    /// Distributions parsed from their journal text.
    pub(crate) distributions: HashMap<String, Distribution>,
}

const NAN: &str = "\u{0}NaN";
const INF: &str = "\u{0}Infinity";
const NEG_INF: &str = "\u{0}-Infinity";

/// Parses one journal line, reading the bare tokens NaN, Infinity and -Infinity outside
/// strings (serde_json refuses them) as marked strings that [`float_of`] reads back.
pub(crate) fn parse_line(line: &str) -> std::result::Result<Value, serde_json::Error> {
    // Most lines hold no such token at all: plain JSON.
    if !line.contains("NaN") && !line.contains("Infinity") {
        return serde_json::from_str(line);
    }
    let mut out = String::with_capacity(line.len() + 16);
    let (mut in_str, mut escaped) = (false, false);
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let token = [("NaN", NAN), ("Infinity", INF), ("-Infinity", NEG_INF)]
            .into_iter()
            .find(|(t, _)| rest.starts_with(t));
        if let Some((t, marker)) = token {
            out.push_str(&serde_json::to_string(marker).unwrap());
            rest = &rest[t.len()..];
            continue;
        }
        if c == '"' {
            in_str = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str(&out)
}

/// A number of a parsed line (the non-finite markers included).
pub(crate) fn float_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s == NAN => Some(f64::NAN),
        Value::String(s) if s == INF => Some(f64::INFINITY),
        Value::String(s) if s == NEG_INF => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// A float as Python's json writes it (bare tokens for the non-finite ones).
pub fn fmt_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x == f64::INFINITY {
        "Infinity".into()
    } else if x == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        format!("{x:?}")
    }
}

pub(crate) fn fmt_floats(xs: &[f64]) -> String {
    format!("[{}]", xs.iter().map(|&x| fmt_float(x)).collect::<Vec<_>>().join(","))
}

pub(crate) fn text(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// The current UTC time as Optuna writes it (`2026-11-25T14:48:04.656286+00:00`).
pub fn now_iso() -> String {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

impl Replay {
    /// Applies one operation; `worker` is this process's id (conflicts it causes are
    /// errors, others' are ignored, as Optuna does).
    pub(crate) fn apply(&mut self, op: &Value, line: usize, me: &str) -> Result<()> {
        let bad = |what: &str| Error::invalid(format!("journal line {line}: {what}"));
        let code = op
            .get("op_code")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad("no op_code"))?;
        let worker = op.get("worker_id").and_then(Value::as_str).unwrap_or("").to_string();
        let mine = worker == me;
        let study_of = |r: &Replay| -> Option<usize> {
            let id = op.get("study_id")?.as_u64()? as usize;
            r.studies.get(id)?.as_ref().map(|_| id)
        };
        let one_attr = |key: &str| -> Result<Option<(String, Value)>> {
            match op.get(key).and_then(Value::as_object) {
                Some(m) if m.len() == 1 => Ok(m.iter().next().map(|(k, v)| (k.clone(), v.clone()))),
                Some(_) => Err(bad(&format!("{key} must hold exactly one key"))),
                None => Err(bad(&format!("no {key}"))),
            }
        };
        match code {
            0 => {
                let name = op
                    .get("study_name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("no study_name"))?;
                let directions = op
                    .get("directions")
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad("no directions"))?
                    .iter()
                    .map(|d| {
                        d.as_i64()
                            .and_then(Direction::from_int)
                            .ok_or_else(|| bad("unknown direction"))
                    })
                    .collect::<Result<Vec<_>>>()?;
                if self.by_name.contains_key(name) {
                    if mine {
                        return Err(Error::invalid(format!("study '{name}' already exists")));
                    }
                    return Ok(());
                }
                let id = self.studies.len();
                self.by_name.insert(name.to_string(), id);
                self.studies.push(Some(StudyRecord {
                    id,
                    name: name.to_string(),
                    directions,
                    user_attrs: Map::new(),
                    system_attrs: Map::new(),
                    trials: Vec::new(),
                    distributions: HashMap::new(),
                }));
            }
            1 => {
                if let Some(id) = study_of(self) {
                    let s = self.studies[id].take().unwrap();
                    self.by_name.remove(&s.name);
                }
            }
            2 | 3 => {
                let key = if code == 2 { "user_attr" } else { "system_attr" };
                let (k, v) = one_attr(key)?.unwrap();
                if let Some(id) = study_of(self) {
                    let s = self.studies[id].as_mut().unwrap();
                    if code == 2 {
                        &mut s.user_attrs
                    } else {
                        &mut s.system_attrs
                    }
                    .insert(k, v);
                }
            }
            4 => {
                let Some(sid) = study_of(self) else { return Ok(()) };
                let id = self.trials.len();
                let number = self.studies[sid].as_ref().unwrap().trials.len();
                let state = match op.get("state") {
                    Some(s) => s
                        .as_i64()
                        .and_then(TrialState::from_int)
                        .ok_or_else(|| bad("unknown trial state"))?,
                    None => TrialState::Running,
                };
                let values = match op.get("values") {
                    Some(Value::Array(a)) => Some(
                        a.iter()
                            .map(|v| float_of(v).ok_or_else(|| bad("a value is not a number")))
                            .collect::<Result<_>>()?,
                    ),
                    _ => op.get("value").and_then(float_of).map(|v| vec![v]),
                };
                let mut params = Vec::new();
                if let (Some(d), Some(p)) = (
                    op.get("distributions").and_then(Value::as_object),
                    op.get("params").and_then(Value::as_object),
                ) {
                    for (name, dist) in d {
                        let dist = Distribution::from_optuna_json(
                            dist.as_str().ok_or_else(|| bad("a distribution is not a string"))?,
                        )?;
                        let v = p
                            .get(name)
                            .and_then(float_of)
                            .ok_or_else(|| bad(&format!("no value for param '{name}'")))?;
                        params.push((name.clone(), v, dist));
                    }
                }
                let intermediate_values = op
                    .get("intermediate_values")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.parse().ok()?, float_of(v)?)))
                            .collect()
                    })
                    .unwrap_or_default();
                let obj = |k: &str| op.get(k).and_then(Value::as_object).cloned().unwrap_or_default();
                let s = |k: &str| op.get(k).and_then(Value::as_str).map(str::to_string);
                self.trials.push(Arc::new(FrozenTrial {
                    id,
                    number,
                    study: sid,
                    state,
                    values,
                    datetime_start: s("datetime_start"),
                    datetime_complete: s("datetime_complete"),
                    params: Arc::new(params),
                    user_attrs: Arc::new(obj("user_attrs")),
                    system_attrs: Arc::new(obj("system_attrs")),
                    intermediate_values: Arc::new(intermediate_values),
                    owner: worker,
                }));
                let study = self.studies[sid].as_mut().unwrap();
                study.trials.push(id);
                for (n, _, d) in self.trials[id].params.iter() {
                    study.distributions.entry(n.clone()).or_insert_with(|| d.clone());
                }
            }
            5..=9 => {
                let tid = op
                    .get("trial_id")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| bad("no trial_id"))? as usize;
                let Some(t) = self.trials.get_mut(tid).map(Arc::make_mut) else {
                    return if mine {
                        Err(bad(&format!("trial {tid} does not exist")))
                    } else {
                        Ok(())
                    };
                };
                if t.state.is_finished() {
                    // Optuna ignores updates to a finished trial (and raises for the writer).
                    return if mine {
                        Err(Error::invalid(format!(
                            "trial {} is already finished ({})",
                            t.number,
                            t.state.name()
                        )))
                    } else {
                        Ok(())
                    };
                }
                match code {
                    5 => {
                        let name = op
                            .get("param_name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad("no param_name"))?;
                        let v = op
                            .get("param_value_internal")
                            .and_then(float_of)
                            .ok_or_else(|| bad("no param value"))?;
                        let text = op
                            .get("distribution")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad("no distribution"))?;
                        // Every trial repeats its parameters' distributions: parse each once.
                        let dist = match self.distributions.get(text) {
                            Some(d) => d.clone(),
                            None => {
                                let d = Distribution::from_optuna_json(text)?;
                                if self.distributions.len() >= 4096 {
                                    self.distributions.clear();
                                }
                                self.distributions.insert(text.to_string(), d.clone());
                                d
                            }
                        };
                        if let Some(s) = self.studies.get_mut(t.study).and_then(|s| s.as_mut()) {
                            s.distributions.entry(name.to_string()).or_insert_with(|| dist.clone());
                        }
                        let params = Arc::make_mut(&mut t.params);
                        params.retain(|p| p.0 != name);
                        params.push((name.to_string(), v, dist));
                    }
                    6 => {
                        let state = op
                            .get("state")
                            .and_then(Value::as_i64)
                            .and_then(TrialState::from_int)
                            .ok_or_else(|| bad("unknown trial state"))?;
                        if state == TrialState::Running && t.state == TrialState::Running && !mine {
                            // Another worker claimed a trial already running: rejected.
                            return Ok(());
                        }
                        if state == TrialState::Running && t.state == TrialState::Running {
                            return Err(Error::invalid(format!("trial {} is already running", t.number)));
                        }
                        t.state = state;
                        t.values = match op.get("values") {
                            Some(Value::Array(a)) => Some(
                                a.iter()
                                    .map(|v| float_of(v).ok_or_else(|| bad("a value is not a number")))
                                    .collect::<Result<_>>()?,
                            ),
                            _ => None,
                        };
                        if state == TrialState::Running {
                            t.owner = worker;
                            t.datetime_start = op.get("datetime_start").and_then(Value::as_str).map(str::to_string);
                        }
                        if state.is_finished() {
                            t.datetime_complete =
                                op.get("datetime_complete").and_then(Value::as_str).map(str::to_string);
                        }
                    }
                    7 => {
                        let step = op.get("step").and_then(Value::as_i64).ok_or_else(|| bad("no step"))?;
                        let v = op
                            .get("intermediate_value")
                            .and_then(float_of)
                            .ok_or_else(|| bad("no intermediate_value"))?;
                        Arc::make_mut(&mut t.intermediate_values).insert(step, v);
                    }
                    _ => {
                        let key = if code == 8 { "user_attr" } else { "system_attr" };
                        let (k, v) = one_attr(key)?.unwrap();
                        let attrs = if code == 8 {
                            &mut t.user_attrs
                        } else {
                            &mut t.system_attrs
                        };
                        Arc::make_mut(attrs).insert(k, v);
                    }
                }
            }
            10 => {} // DISCARD_TRIALS: rustuna's; Optuna 5 ignores it too.
            other => {
                return Err(bad(&format!(
                    "unknown operation code {other} (Optuna 5 writes 0 to 10); the trials before this line are intact"
                )))
            }
        }
        Ok(())
    }
}
