//! `tune`: the flags as a [`risklake_app::tune::TuneRequest`], the report as a table of
//! the best trials.

use serde_json::json;

use risklake_app::tune::{TuneReport, TuneRequest};
use risklake_core::{Error, Result};
use risklake_tune::{FrozenTrial, TrialState};

use super::Ctx;
use crate::app::{StudiesCommand, TuneArgs};
use crate::output::{grid, kv_table, Bars};

pub async fn run(ctx: &Ctx, args: &TuneArgs) -> Result<()> {
    let r = tune_recorded(ctx, &request(args)?).await?;
    print(ctx, &r);
    Ok(())
}

/// The flags of `tune` as the workflow's request.
pub fn request(args: &TuneArgs) -> Result<TuneRequest> {
    let space = args
        .space
        .as_ref()
        .map(|p| std::fs::read_to_string(p).map_err(|e| Error::io(format!("reading --space {}", p.display()), e)))
        .transpose()?;
    let mut grid = std::collections::BTreeMap::new();
    for spec in &args.grid {
        let (name, values) = spec
            .split_once('=')
            .ok_or_else(|| Error::param("grid", format!("'{spec}' should be NAME=V1,V2,...")))?;
        grid.insert(
            name.trim().to_string(),
            values.split(',').map(|v| v.trim().to_string()).collect(),
        );
    }
    Ok(TuneRequest {
        model: args.model.parse()?,
        data: super::requests::train_data_of!(args),
        folds: args.folds,
        plan: args.plan.clone(),
        trials: args.trials,
        space,
        params: super::requests::param_map(&args.params, &args.categorical)?,
        sampler: args.sampler.clone(),
        grid,
        pruner: args.pruner.clone(),
        study: args.study.clone(),
        storage: args.storage.clone(),
        jobs: args.jobs,
        timeout: args.timeout,
        seed: args.seed,
        reuse_study: args.reuse_study,
    })
}

/// Tunes with progress bars.
pub async fn tune_recorded(ctx: &Ctx, req: &TuneRequest) -> Result<TuneReport> {
    risklake_app::tune::tune(&ctx.ws, req, &Bars::new(ctx.out)).await
}

pub fn print(ctx: &Ctx, r: &TuneReport) {
    let TuneReport {
        run,
        study: name,
        location,
        space,
        trials,
        ran: _,
        best,
        model_path,
        seconds,
    } = r;
    let (run, seconds) = (*run, *seconds);
    let new: Vec<&FrozenTrial> = r.new_trials();
    let count = |s: TrialState| new.iter().filter(|t| t.state == s).count();
    let param_json = |t: &FrozenTrial| -> serde_json::Map<String, serde_json::Value> {
        t.params
            .iter()
            .map(|(n, v, d)| (n.clone(), d.to_external(*v).to_json()))
            .collect()
    };
    ctx.out.emit(
        json!({
            "run": run, "study": name, "storage": location, "trials": trials.len(), "new_trials": new.len(),
            "complete": count(TrialState::Complete), "pruned": count(TrialState::Pruned), "failed": count(TrialState::Fail),
            "best_value": best.as_ref().and_then(|b| b.value()), "best_trial": best.as_ref().map(|b| b.number),
            "best_params": best.as_ref().map(param_json), "model": model_path, "seconds": seconds,
            "all": trials.iter().map(|t| json!({"number": t.number, "state": t.state.name(), "value": t.value().filter(|v| v.is_finite()),
                "params": param_json(t), "intermediate": t.intermediate_values.len(), "user_attrs": &*t.user_attrs})).collect::<Vec<_>>(),
        }),
        || {
            let mut ranked: Vec<&FrozenTrial> = trials.iter().filter(|t| t.state == TrialState::Complete).map(|t| &**t).collect();
            ranked.sort_by(|a, b| b.value().unwrap_or(f64::NAN).total_cmp(&a.value().unwrap_or(f64::NAN)));
            let mut headers = vec!["trial".to_string(), "valid AUC".to_string()];
            headers.extend(space.params.iter().map(|p| p.0.clone()));
            let rows = ranked
                .iter()
                .take(10)
                .map(|t| {
                    let mut r = vec![t.number.to_string(), format!("{:.5}", t.value().unwrap_or(f64::NAN))];
                    r.extend(space.params.iter().map(|(n, _)| t.param(n).map_or("-".into(), |(v, d)| match d.to_external(v) {
                        risklake_tune::ParamValue::Float(x) => format!("{x:.4}"),
                        other => other.to_string(),
                    })));
                    r
                })
                .collect();
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            format!(
                "{}\n{}",
                grid(&headers, rows),
                kv_table([
                    ("study", format!("{name} ({location})")),
                    (
                        "trials (new: complete / pruned / failed)",
                        format!("{} ({}: {} / {} / {})", trials.len(), new.len(), count(TrialState::Complete), count(TrialState::Pruned), count(TrialState::Fail)),
                    ),
                    ("best", best.as_ref().map_or("-".into(), |b| format!("trial {} valid AUC {:.5}", b.number, b.value().unwrap_or(f64::NAN)))),
                    ("best model", model_path.as_ref().map_or("-".into(), |p| p.display().to_string())),
                    ("time", format!("{seconds:.2} s")),
                    ("run", run.to_string()),
                ])
            )
        },
    );
}

/// `studies list | show | importance`.
pub fn studies(ctx: &Ctx, cmd: StudiesCommand) -> Result<()> {
    use risklake_app::studies;
    let value = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.5}"));
    match cmd {
        StudiesCommand::List => {
            let list = studies::list(&ctx.ws)?;
            ctx.out.emit(json!({ "studies": list }), || {
                if list.is_empty() {
                    return "no studies yet: risklake tune ... --study NAME".into();
                }
                let rows = list
                    .iter()
                    .map(|s| {
                        let states = states_text(&s.states);
                        let table = s.subject.get("table").and_then(|t| t.as_str()).unwrap_or("-");
                        vec![
                            s.name.clone(),
                            s.direction.clone(),
                            states,
                            table.to_string(),
                            value(s.best.as_ref().and_then(|b| b.value)),
                        ]
                    })
                    .collect();
                grid(&["study", "direction", "trials", "table", "best value"], rows)
            });
        }
        StudiesCommand::Show { name, top } => {
            let s = studies::get(&ctx.ws, &name)?;
            let all = studies::trials(&ctx.ws, &name, 0, usize::MAX)?.trials;
            let maximize = s.direction == "maximize";
            let mut ranked: Vec<&studies::TrialView> = all
                .iter()
                .filter(|t| t.state == "complete" && t.value.is_some_and(f64::is_finite))
                .collect();
            ranked.sort_by(|a, b| {
                let (a, b) = (a.value.unwrap_or(f64::NAN), b.value.unwrap_or(f64::NAN));
                if maximize {
                    b.total_cmp(&a)
                } else {
                    a.total_cmp(&b)
                }
            });
            ranked.truncate(top);
            ctx.out.emit(json!({ "study": s, "top": ranked }), || {
                let mut names: Vec<&String> = ranked.iter().flat_map(|t| t.params.keys()).collect();
                names.sort();
                names.dedup();
                let mut headers = vec!["trial", "value"];
                headers.extend(names.iter().map(|n| n.as_str()));
                let rows = ranked
                    .iter()
                    .map(|t| {
                        let mut r = vec![t.number.to_string(), value(t.value)];
                        r.extend(names.iter().map(|n| {
                            t.params.get(*n).map_or("-".into(), |v| match v.as_f64() {
                                Some(x) if v.is_f64() => format!("{x:.4}"),
                                _ => v.to_string().trim_matches('"').to_string(),
                            })
                        }));
                        r
                    })
                    .collect();
                let states = states_text(&s.states);
                format!(
                    "{}\n{}",
                    kv_table([
                        ("study", s.name.clone()),
                        ("direction", s.direction.clone()),
                        ("trials", format!("{} ({states})", s.trials))
                    ]),
                    grid(&headers, rows)
                )
            });
        }
        StudiesCommand::Importance { name, trees, seed } => {
            let options = studies::FanovaOptions {
                trees,
                seed,
                ..Default::default()
            };
            let imp = studies::importance(&ctx.ws, &name, &options)?;
            ctx.out.emit(serde_json::to_value(&imp).unwrap_or_default(), || {
                let rows = imp
                    .params
                    .iter()
                    .map(|p| {
                        let bar = "#".repeat((p.importance * 40.0).round() as usize);
                        vec![p.param.clone(), format!("{:.3}", p.importance), format!("{:.3} ± {:.3}", p.fraction, p.std), bar]
                    })
                    .collect();
                let main: f64 = imp.params.iter().map(|p| p.fraction).sum();
                format!(
                    "{}\nfANOVA over {} completed trials ({trees} trees, seed {seed}); the parameters alone explain {:.0}% \
                     of the objective's variance, interactions the rest.",
                    grid(&["parameter", "importance", "share alone ± sd", ""], rows),
                    imp.trials,
                    100.0 * main.min(1.0)
                )
            });
        }
    }
    Ok(())
}

/// Trials by state as `9 complete, 3 pruned`.
fn states_text(states: &serde_json::Map<String, serde_json::Value>) -> String {
    states
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}
