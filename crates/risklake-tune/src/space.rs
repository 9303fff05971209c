//! Search spaces: named distributions, from TOML files like
//!
//! ```toml
//! [learning_rate]
//! type = "float"      # float, int or categorical
//! low = 0.01
//! high = 0.3
//! log = true          # optional; or step = 0.05
//!
//! [grow_policy]
//! type = "categorical"
//! choices = ["leafwise", "depthwise"]
//! ```

use risklake_core::{Error, Result};

use crate::distributions::{Choice, Distribution};

/// Parameters to tune, in order.
#[derive(Debug, Clone, Default)]
pub struct SearchSpace {
    pub params: Vec<(String, Distribution)>,
}

impl SearchSpace {
    pub fn new(params: Vec<(&str, Distribution)>) -> SearchSpace {
        SearchSpace {
            params: params.into_iter().map(|(n, d)| (n.to_string(), d)).collect(),
        }
    }

    /// Checks every parameter (bounds, log scales, empty choices) and that there is one.
    pub fn validate(&self) -> Result<()> {
        if self.params.is_empty() {
            return Err(Error::invalid("the search space is empty: give at least one parameter"));
        }
        for (n, d) in &self.params {
            d.validate(n)?;
        }
        Ok(())
    }

    pub fn from_toml(text: &str) -> Result<SearchSpace> {
        let table: toml::Table = text
            .parse()
            .map_err(|e| Error::invalid(format!("search space is not valid TOML: {e}")))?;
        let mut params = Vec::new();
        for (name, v) in table {
            let t = v
                .as_table()
                .ok_or_else(|| Error::invalid(format!("search space: '{name}' must be a table ([{name}])")))?;
            let kind = t.get("type").and_then(|x| x.as_str()).unwrap_or("float");
            let known: &[&str] = match kind {
                "float" => &["type", "low", "high", "log", "step"],
                "int" => &["type", "low", "high", "log", "step"],
                "categorical" => &["type", "choices"],
                other => {
                    return Err(Error::invalid(format!(
                        "search space: '{name}' has unknown type '{other}' (float, int, categorical)"
                    )))
                }
            };
            if let Some(k) = t.keys().find(|k| !known.contains(&k.as_str())) {
                return Err(Error::invalid(format!(
                    "search space: '{name}' has unknown key '{k}' (allowed: {})",
                    known.join(", ")
                )));
            }
            let num = |k: &str| -> Result<f64> {
                match t.get(k) {
                    Some(toml::Value::Float(f)) => Ok(*f),
                    Some(toml::Value::Integer(i)) => Ok(*i as f64),
                    Some(other) => Err(Error::invalid(format!(
                        "search space: '{name}'.{k} must be a number, not {other}"
                    ))),
                    None => Err(Error::invalid(format!("search space: '{name}' needs {k}"))),
                }
            };
            let log = t.get("log").and_then(|x| x.as_bool()).unwrap_or(false);
            let d = match kind {
                "float" => Distribution::Float {
                    low: num("low")?,
                    high: num("high")?,
                    log,
                    step: t.get("step").map(|_| num("step")).transpose()?,
                },
                "int" => {
                    let int = |k: &str| -> Result<i64> {
                        t.get(k)
                            .and_then(|x| x.as_integer())
                            .ok_or_else(|| Error::invalid(format!("search space: '{name}'.{k} must be an integer")))
                    };
                    Distribution::Int {
                        low: int("low")?,
                        high: int("high")?,
                        log,
                        step: if t.contains_key("step") { int("step")? } else { 1 },
                    }
                }
                _ => Distribution::Categorical {
                    choices: t
                        .get("choices")
                        .and_then(|x| x.as_array())
                        .ok_or_else(|| Error::invalid(format!("search space: '{name}' needs a list of choices")))?
                        .iter()
                        .map(|c| match c {
                            toml::Value::String(s) => Ok(Choice::Str(s.clone())),
                            toml::Value::Integer(i) => Ok(Choice::Int(*i)),
                            toml::Value::Float(f) => Ok(Choice::Float(*f)),
                            toml::Value::Boolean(b) => Ok(Choice::Bool(*b)),
                            other => Err(Error::invalid(format!(
                                "search space: '{name}' has a choice {other} that is not text, a number or a boolean"
                            ))),
                        })
                        .collect::<Result<_>>()?,
                },
            };
            params.push((name, d));
        }
        let space = SearchSpace { params };
        space.validate()?;
        Ok(space)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_toml_and_refuses_contradictions() {
        let s = SearchSpace::from_toml(
            "[lr]\ntype = \"float\"\nlow = 0.01\nhigh = 0.3\nlog = true\n[leaves]\ntype = \"int\"\nlow = 8\nhigh = 64\nstep = 8\n[kind]\ntype = \"categorical\"\nchoices = [\"a\", 1, true]\n",
        )
        .unwrap();
        assert_eq!(s.params.len(), 3);
        assert_eq!(
            s.params[1].1,
            Distribution::Int {
                low: 8,
                high: 64,
                log: false,
                step: 8
            }
        );
        let e = |t: &str| SearchSpace::from_toml(t).unwrap_err().to_string();
        assert!(e("[lr]\nlow = 1.0\nhigh = 0.5\n").contains("above high"));
        assert!(e("[lr]\nlow = 0.0\nhigh = 0.5\nlog = true\n").contains("low > 0"));
        assert!(e("[k]\ntype = \"categorical\"\nchoices = []\n").contains("at least one choice"));
        assert!(e("[lr]\nlow = 0.0\nhigh = 0.5\nlg = true\n").contains("unknown key 'lg'"));
        assert!(e("").contains("empty"));
    }
}
