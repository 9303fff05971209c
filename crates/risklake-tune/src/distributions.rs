//! Search-space distributions, with Optuna's JSON encoding and internal representation.
//!
//! A parameter's *internal* value is a float: the number itself for float and int
//! distributions, the index of the choice for categorical ones (Optuna's convention, which
//! its journal and RDB storages store).

use risklake_core::{Error, Result};
use serde_json::{json, Value};

/// A categorical choice: what Optuna allows (None, bool, int, float, str).
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Choice {
    pub fn to_json(&self) -> Value {
        match self {
            Choice::Null => Value::Null,
            Choice::Bool(b) => json!(b),
            Choice::Int(i) => json!(i),
            Choice::Float(f) => json!(f),
            Choice::Str(s) => json!(s),
        }
    }

    pub fn from_json(v: &Value) -> Result<Choice> {
        Ok(match v {
            Value::Null => Choice::Null,
            Value::Bool(b) => Choice::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Choice::Int(i),
                None => Choice::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Choice::Str(s.clone()),
            other => {
                return Err(Error::invalid(format!(
                    "a categorical choice must be null, bool, number or text, not {other}"
                )))
            }
        })
    }
}

impl std::fmt::Display for Choice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Choice::Null => write!(f, "null"),
            Choice::Bool(b) => write!(f, "{b}"),
            Choice::Int(i) => write!(f, "{i}"),
            Choice::Float(x) => write!(f, "{x}"),
            Choice::Str(s) => write!(f, "{s}"),
        }
    }
}

/// Where a parameter's values come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// `[low, high]`; `log` samples the logarithm uniformly; `step` makes it discrete.
    Float {
        low: f64,
        high: f64,
        log: bool,
        step: Option<f64>,
    },
    Int {
        low: i64,
        high: i64,
        log: bool,
        step: i64,
    },
    Categorical {
        choices: Vec<Choice>,
    },
}

/// A parameter's value as the objective sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Float(f64),
    Int(i64),
    Choice(Choice),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Choice(c) => write!(f, "{c}"),
        }
    }
}

impl ParamValue {
    pub fn to_json(&self) -> Value {
        match self {
            ParamValue::Float(x) => json!(x),
            ParamValue::Int(i) => json!(i),
            ParamValue::Choice(c) => c.to_json(),
        }
    }
}

impl Distribution {
    /// Checks the bounds, naming `param` in the error.
    pub fn validate(&self, param: &str) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(format!("parameter '{param}': {m}")));
        match self {
            Distribution::Float { low, high, log, step } => {
                if !low.is_finite() || !high.is_finite() {
                    return bad(format!("bounds must be finite, got [{low}, {high}]"));
                }
                if low > high {
                    return bad(format!("low {low} is above high {high}"));
                }
                if *log && *low <= 0.0 {
                    return bad(format!("a log scale needs low > 0, got {low}"));
                }
                if let Some(s) = step {
                    if *log {
                        return bad("a float parameter cannot have both a step and a log scale".into());
                    }
                    if !(*s > 0.0) {
                        return bad(format!("step must be positive, got {s}"));
                    }
                }
            }
            Distribution::Int { low, high, log, step } => {
                if low > high {
                    return bad(format!("low {low} is above high {high}"));
                }
                if *log && *low < 1 {
                    return bad(format!("a log scale needs low >= 1, got {low}"));
                }
                if *step < 1 {
                    return bad(format!("step must be at least 1, got {step}"));
                }
                if *log && *step != 1 {
                    return bad("an int parameter on a log scale must have step 1".into());
                }
            }
            Distribution::Categorical { choices } => {
                if choices.is_empty() {
                    return bad("a categorical parameter needs at least one choice".into());
                }
            }
        }
        Ok(())
    }

    /// Optuna's `distribution_to_json`.
    pub fn to_optuna_json(&self) -> String {
        let v = match self {
            Distribution::Float { low, high, log, step } => json!({
                "name": "FloatDistribution",
                "attributes": {"step": step, "low": low, "high": high, "log": log}
            }),
            Distribution::Int { low, high, log, step } => json!({
                "name": "IntDistribution",
                "attributes": {"log": log, "step": step, "low": low, "high": high}
            }),
            Distribution::Categorical { choices } => json!({
                "name": "CategoricalDistribution",
                "attributes": {"choices": choices.iter().map(Choice::to_json).collect::<Vec<_>>()}
            }),
        };
        v.to_string()
    }

    /// Optuna's `json_to_distribution`, legacy distribution names included.
    pub fn from_optuna_json(text: &str) -> Result<Distribution> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::invalid(format!("distribution is not valid JSON ({e}): {text}")))?;
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        let a = v.get("attributes").cloned().unwrap_or(Value::Null);
        let f = |k: &str| a.get(k).and_then(Value::as_f64);
        let i = |k: &str| a.get(k).and_then(Value::as_f64).map(|x| x as i64);
        let missing = || Error::invalid(format!("distribution lacks its bounds: {text}"));
        let d = match name {
            "FloatDistribution" => Distribution::Float {
                low: f("low").ok_or_else(missing)?,
                high: f("high").ok_or_else(missing)?,
                log: a.get("log").and_then(Value::as_bool).unwrap_or(false),
                step: f("step"),
            },
            "UniformDistribution" => Distribution::Float {
                low: f("low").ok_or_else(missing)?,
                high: f("high").ok_or_else(missing)?,
                log: false,
                step: None,
            },
            "LogUniformDistribution" => Distribution::Float {
                low: f("low").ok_or_else(missing)?,
                high: f("high").ok_or_else(missing)?,
                log: true,
                step: None,
            },
            "DiscreteUniformDistribution" => Distribution::Float {
                low: f("low").ok_or_else(missing)?,
                high: f("high").ok_or_else(missing)?,
                log: false,
                step: f("q"),
            },
            "IntDistribution" => Distribution::Int {
                low: i("low").ok_or_else(missing)?,
                high: i("high").ok_or_else(missing)?,
                log: a.get("log").and_then(Value::as_bool).unwrap_or(false),
                step: i("step").unwrap_or(1),
            },
            "IntUniformDistribution" => Distribution::Int {
                low: i("low").ok_or_else(missing)?,
                high: i("high").ok_or_else(missing)?,
                log: false,
                step: i("step").unwrap_or(1),
            },
            "IntLogUniformDistribution" => Distribution::Int {
                low: i("low").ok_or_else(missing)?,
                high: i("high").ok_or_else(missing)?,
                log: true,
                step: 1,
            },
            "CategoricalDistribution" => Distribution::Categorical {
                choices: a
                    .get("choices")
                    .and_then(Value::as_array)
                    .ok_or_else(missing)?
                    .iter()
                    .map(Choice::from_json)
                    .collect::<Result<_>>()?,
            },
            other => return Err(Error::invalid(format!("unknown distribution '{other}' in {text}"))),
        };
        Ok(d)
    }

    /// The internal float of a value (the choice's index for categorical parameters).
    pub fn to_internal(&self, v: &ParamValue) -> Result<f64> {
        match (self, v) {
            (Distribution::Float { .. }, ParamValue::Float(x)) => Ok(*x),
            (Distribution::Int { .. }, ParamValue::Int(i)) => Ok(*i as f64),
            (Distribution::Categorical { choices }, ParamValue::Choice(c)) => choices
                .iter()
                .position(|x| x == c)
                .map(|i| i as f64)
                .ok_or_else(|| Error::invalid(format!("'{c}' is not one of the choices"))),
            _ => Err(Error::invalid(format!(
                "value {v} does not fit the distribution {self:?}"
            ))),
        }
    }

    /// The value of an internal float.
    pub fn to_external(&self, internal: f64) -> ParamValue {
        match self {
            Distribution::Float { .. } => ParamValue::Float(internal),
            Distribution::Int { .. } => ParamValue::Int(internal.round() as i64),
            Distribution::Categorical { choices } => {
                ParamValue::Choice(choices[(internal.round() as usize).min(choices.len() - 1)].clone())
            }
        }
    }

    /// Whether an internal value lies in the distribution.
    pub fn contains(&self, internal: f64) -> bool {
        match self {
            Distribution::Float { low, high, step, .. } => {
                let inside = *low <= internal && internal <= *high;
                match step {
                    Some(s) => {
                        inside && (((internal - low) / s).round() * s + low - internal).abs() < 1e-8 * s.max(1.0)
                    }
                    None => inside,
                }
            }
            Distribution::Int { low, high, step, .. } => {
                let v = internal.round() as i64;
                internal.fract() == 0.0 && *low <= v && v <= *high && (v - low) % step == 0
            }
            Distribution::Categorical { choices } => {
                internal.fract() == 0.0 && internal >= 0.0 && (internal as usize) < choices.len()
            }
        }
    }

    /// Whether a parameter may keep this name across trials with `other` (Optuna: same
    /// kind, and for categorical the same choices).
    pub fn compatible(&self, other: &Distribution) -> bool {
        match (self, other) {
            (Distribution::Float { .. }, Distribution::Float { .. }) => true,
            (Distribution::Int { .. }, Distribution::Int { .. }) => true,
            (Distribution::Categorical { choices: a }, Distribution::Categorical { choices: b }) => a == b,
            _ => false,
        }
    }

    /// A single-valued distribution (a parameter that cannot vary).
    pub fn single(&self) -> bool {
        match self {
            Distribution::Float { low, high, .. } => low == high,
            Distribution::Int { low, high, .. } => low == high,
            Distribution::Categorical { choices } => choices.len() == 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optuna_json_round_trips_and_reads_legacy_names() {
        let ds = [
            Distribution::Float {
                low: 1e-4,
                high: 0.1,
                log: true,
                step: None,
            },
            Distribution::Float {
                low: 0.0,
                high: 1.0,
                log: false,
                step: Some(0.1),
            },
            Distribution::Int {
                low: 1,
                high: 100,
                log: true,
                step: 1,
            },
            Distribution::Int {
                low: 0,
                high: 10,
                log: false,
                step: 2,
            },
            Distribution::Categorical {
                choices: vec![
                    Choice::Str("a".into()),
                    Choice::Int(1),
                    Choice::Float(2.5),
                    Choice::Null,
                    Choice::Bool(true),
                ],
            },
        ];
        for d in &ds {
            assert_eq!(&Distribution::from_optuna_json(&d.to_optuna_json()).unwrap(), d);
        }
        assert_eq!(
            Distribution::from_optuna_json(
                r#"{"name": "LogUniformDistribution", "attributes": {"low": 0.001, "high": 1.0}}"#
            )
            .unwrap(),
            Distribution::Float {
                low: 0.001,
                high: 1.0,
                log: true,
                step: None
            }
        );
        assert_eq!(
            Distribution::from_optuna_json(
                r#"{"name": "IntUniformDistribution", "attributes": {"low": 1, "high": 9, "step": 2}}"#
            )
            .unwrap(),
            Distribution::Int {
                low: 1,
                high: 9,
                log: false,
                step: 2
            }
        );
        assert!(Distribution::from_optuna_json(r#"{"name": "Beta", "attributes": {}}"#).is_err());
    }

    #[test]
    fn bad_spaces_are_refused_by_name() {
        let e = |d: Distribution| d.validate("lr").unwrap_err().to_string();
        assert!(e(Distribution::Float {
            low: 2.0,
            high: 1.0,
            log: false,
            step: None
        })
        .contains("above high"));
        assert!(e(Distribution::Float {
            low: 0.0,
            high: 1.0,
            log: true,
            step: None
        })
        .contains("low > 0"));
        assert!(e(Distribution::Int {
            low: 0,
            high: 5,
            log: true,
            step: 1
        })
        .contains("low >= 1"));
        assert!(e(Distribution::Categorical { choices: vec![] }).contains("at least one choice"));
        assert!(e(Distribution::Float {
            low: 0.0,
            high: 1.0,
            log: false,
            step: Some(0.0)
        })
        .contains("step"));
        let cat = Distribution::Categorical {
            choices: vec![Choice::Str("gbdt".into()), Choice::Str("rf".into())],
        };
        assert_eq!(
            cat.to_internal(&ParamValue::Choice(Choice::Str("rf".into()))).unwrap(),
            1.0
        );
        assert_eq!(cat.to_external(0.0), ParamValue::Choice(Choice::Str("gbdt".into())));
        assert!(cat.contains(1.0) && !cat.contains(2.0));
    }
}
