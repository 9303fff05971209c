//! Stepwise feature selection (forward, backward or both) by AIC, BIC or p-value.

use risklake_core::{Error, Result};

use super::design::{Design, Inputs};
use super::params::{LrParams, Penalty};
use super::solver::{optimize, Solution};
use super::statistics::build_model;
use super::{fit_columns, usable_columns, Dropped, LrModel, Step};
use crate::with_threads;

/// Stepwise selection's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
    Both,
}

/// What stepwise selection compares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Criterion {
    Aic,
    Bic,
    /// Enter below the first p-value, leave above the second.
    PValue {
        enter: f64,
        remove: f64,
    },
}

impl std::str::FromStr for Direction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "forward" => Ok(Direction::Forward),
            "backward" => Ok(Direction::Backward),
            "both" => Ok(Direction::Both),
            o => Err(Error::invalid(format!(
                "unknown stepwise direction '{o}' (forward, backward, both)"
            ))),
        }
    }
}

/// Stepwise selection (unpenalized fits), then the fit of the selected features.
#[allow(clippy::too_many_arguments)]
pub fn stepwise(
    d: &Design,
    params: &LrParams,
    direction: Direction,
    criterion: Criterion,
    inputs: Inputs,
    label: &str,
    positive: bool,
    on_step: &mut (dyn FnMut(&Step) + Send),
) -> Result<LrModel> {
    if params.penalty != Penalty::None {
        return Err(Error::invalid(
            "stepwise selection compares unpenalized fits; drop the penalty parameters",
        ));
    }
    with_threads(params.num_threads, || {
        let (usable, dropped) = usable_columns(d, params)?;
        let mut quiet = params.clone();
        quiet.warm_start_rows = 0;
        // The score of a candidate model (lower is better) and its fit.
        let score = |cols: &[usize], start: Option<Vec<f64>>| -> Result<(f64, Solution)> {
            let (sol, _) = optimize(d, cols, &quiet, start)?;
            let k = (cols.len() + 1) as f64;
            let value = match criterion {
                Criterion::Aic => 2.0 * sol.eval.nll + 2.0 * k,
                Criterion::Bic => 2.0 * sol.eval.nll + k * d.total_weight().ln(),
                Criterion::PValue { .. } => 0.0,
            };
            Ok((value, sol))
        };
        let p_values = |cols: &[usize], sol: &Solution| -> Vec<f64> {
            let m = build_model(
                d,
                cols,
                &quiet,
                sol,
                0,
                true,
                Inputs::Raw,
                label,
                Vec::new(),
                Vec::new(),
            );
            m.coefficients
                .iter()
                .skip(1)
                .map(|c| c.p_value.unwrap_or(1.0))
                .collect()
        };
        let mut model: Vec<usize> = if direction == Direction::Backward {
            usable.clone()
        } else {
            Vec::new()
        };
        let (mut current, mut sol) = score(&model, None)?;
        let mut steps = Vec::new();
        let mut seen: Vec<Vec<usize>> = vec![model.clone()];
        loop {
            let mut changed = false;
            if direction != Direction::Backward {
                // The best candidate to enter.
                let mut best: Option<(f64, usize, Solution)> = None;
                for &c in usable.iter().filter(|c| !model.contains(c)) {
                    let mut cols = model.clone();
                    cols.push(c);
                    let mut start = sol.beta.clone();
                    start.push(0.0);
                    let Ok((v, s)) = score(&cols, Some(start)) else {
                        continue;
                    };
                    // `positive`: a feature enters only if every coefficient stays >= 0
                    // (on WoE values a negative one gives riskier bins more points).
                    if positive && s.beta[1..].iter().any(|b| *b < 0.0) {
                        continue;
                    }
                    let key = match criterion {
                        Criterion::PValue { .. } => *p_values(&cols, &s).last().unwrap(),
                        _ => v,
                    };
                    if best.as_ref().is_none_or(|b| key < b.0) {
                        best = Some((key, c, s));
                    }
                }
                if let Some((key, c, s)) = best {
                    let enters = match criterion {
                        Criterion::PValue { enter, .. } => key < enter,
                        _ => key < current - 1e-9,
                    };
                    let mut next = model.clone();
                    next.push(c);
                    if enters && !seen.contains(&sorted(&next)) {
                        model = next;
                        seen.push(sorted(&model));
                        current = if matches!(criterion, Criterion::PValue { .. }) {
                            0.0
                        } else {
                            key
                        };
                        sol = s;
                        let step = Step {
                            action: "add".into(),
                            feature: d.names[c].clone(),
                            value: key,
                        };
                        on_step(&step);
                        steps.push(step);
                        changed = true;
                    }
                }
            }
            if positive && direction != Direction::Forward {
                // A negative coefficient leaves first, whatever the criterion says.
                let worst = sol.beta[1..]
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b < 0.0)
                    .min_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, b)| (i, *b));
                if let Some((i, coef)) = worst {
                    let name = d.names[model[i]].clone();
                    model.remove(i);
                    seen.push(sorted(&model));
                    let (v, s) = score(&model, None)?;
                    if !matches!(criterion, Criterion::PValue { .. }) {
                        current = v;
                    }
                    sol = s;
                    let step = Step {
                        action: "remove (negative coefficient)".into(),
                        feature: name,
                        value: coef,
                    };
                    on_step(&step);
                    steps.push(step);
                    continue;
                }
            }
            if direction != Direction::Forward && !model.is_empty() {
                // The worst feature to leave.
                let leave: Option<(f64, usize, Option<Solution>)> = match criterion {
                    Criterion::PValue { remove, .. } => {
                        let ps = p_values(&model, &sol);
                        let (i, &p) = ps.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
                        (p > remove).then_some((p, i, None))
                    }
                    _ => {
                        let mut best: Option<(f64, usize, Option<Solution>)> = None;
                        for i in 0..model.len() {
                            let mut cols = model.clone();
                            cols.remove(i);
                            let mut start = sol.beta.clone();
                            start.remove(i + 1);
                            let Ok((v, s)) = score(&cols, Some(start)) else {
                                continue;
                            };
                            if best.as_ref().is_none_or(|b| v < b.0) {
                                best = Some((v, i, Some(s)));
                            }
                        }
                        best.filter(|b| b.0 < current - 1e-9)
                    }
                };
                if let Some((value, i, s)) = leave {
                    let mut next = model.clone();
                    next.remove(i);
                    if !seen.contains(&sorted(&next)) {
                        let name = d.names[model[i]].clone();
                        model = next;
                        seen.push(sorted(&model));
                        sol = match s {
                            Some(s) => s,
                            None => score(&model, None)?.1,
                        };
                        if !matches!(criterion, Criterion::PValue { .. }) {
                            current = value;
                        }
                        let step = Step {
                            action: "remove".into(),
                            feature: name,
                            value,
                        };
                        on_step(&step);
                        steps.push(step);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        if model.is_empty() {
            return Err(Error::invalid(
                "stepwise selection kept no feature: none improves on the intercept-only model",
            ));
        }
        let mut dropped = dropped;
        for &c in usable.iter().filter(|c| !model.contains(c)) {
            dropped.push(Dropped {
                feature: d.names[c].clone(),
                reason: "not selected by stepwise".into(),
            });
        }
        // Selected features keep the table's order.
        model.sort_unstable();
        let inputs = match inputs {
            Inputs::Woe { plan } => {
                let names: Vec<String> = model.iter().map(|&c| d.names[c].clone()).collect();
                Inputs::Woe {
                    plan: Box::new(plan.only(&names)),
                }
            }
            raw => raw,
        };
        fit_columns(d, &model, params, inputs, label, dropped, steps)
    })
}

pub(super) fn sorted(cols: &[usize]) -> Vec<usize> {
    let mut c = cols.to_vec();
    c.sort_unstable();
    c
}
