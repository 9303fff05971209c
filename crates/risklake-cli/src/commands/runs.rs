//! `runs list`, `runs show`, `projects`.

use serde_json::json;

use risklake_core::{Error, Result};
use risklake_track::{RunFilter, RunStatus};

use super::Ctx;
use crate::app::RunsCommand;
use crate::output::{grid, kv_table};

pub async fn run(ctx: &Ctx, cmd: RunsCommand) -> Result<()> {
    match cmd {
        RunsCommand::Compare { ids } => {
            let c = risklake_app::runs::compare(&ctx.ws, &ids)?;
            ctx.out.emit(serde_json::to_value(&c).unwrap_or_default(), || {
                let mut headers = vec!["".to_string()];
                headers.extend(c.runs.iter().map(|r| format!("run {} {}", r.id, r.kind)));
                let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
                let cell = |v: &Option<String>| {
                    let v = v.clone().unwrap_or_else(|| "-".into());
                    if v.chars().count() > 40 {
                        v.chars().take(37).collect::<String>() + "..."
                    } else {
                        v
                    }
                };
                // Parameters that differ first, marked.
                let mut params: Vec<(&String, &Vec<Option<String>>)> = c.params.iter().collect();
                params.sort_by_key(|(k, _)| !c.differing_params.contains(k));
                let mut rows: Vec<Vec<String>> = params
                    .into_iter()
                    .map(|(k, v)| {
                        let mark = if c.differing_params.contains(k) { "* " } else { "  " };
                        let mut row = vec![format!("{mark}{k}")];
                        row.extend(v.iter().map(cell));
                        row
                    })
                    .collect();
                let mut input_row = vec!["  inputs".to_string()];
                input_row.extend(c.inputs.iter().map(|i| i.join(", ")));
                rows.push(input_row);
                let metrics = c
                    .metrics
                    .iter()
                    .map(|(k, v)| {
                        let mut row = vec![k.clone()];
                        row.extend(v.iter().map(|x| x.map_or("-".into(), short)));
                        row
                    })
                    .collect();
                format!(
                    "parameters (* differs)\n{}\n\nmetrics (final values)\n{}",
                    grid(&headers, rows),
                    grid(&headers, metrics)
                )
            });
            Ok(())
        }
        RunsCommand::Lineage { id } => {
            let l = risklake_app::lineage::lineage(&ctx.ws, id)?;
            ctx.out
                .emit(serde_json::to_value(&l).unwrap_or_default(), || lineage_tree(&l));
            Ok(())
        }
        RunsCommand::Reproduce { id } => {
            let r = risklake_app::lineage::reproduce(&ctx.ws, id, &crate::output::Bars::new(ctx.out)).await?;
            ctx.out.emit(serde_json::to_value(&r).unwrap_or_default(), || {
                let rows = r
                    .compared
                    .iter()
                    .map(|c| {
                        vec![
                            c.what.clone(),
                            c.original.clone(),
                            c.replay.clone(),
                            if c.equal { "same" } else { "DIFFERENT" }.to_string(),
                        ]
                    })
                    .collect();
                let pins: Vec<String> = r.snapshots.iter().map(|(t, s)| format!("{t}@{s}")).collect();
                let mut out = format!(
                    "replayed run {} ({}) as run {} on {}\n{}\n",
                    r.original,
                    r.kind,
                    r.replay,
                    if pins.is_empty() {
                        "no lake table".to_string()
                    } else {
                        pins.join(", ")
                    },
                    grid(
                        &[
                            "compared",
                            &format!("run {}", r.original),
                            &format!("run {}", r.replay),
                            ""
                        ],
                        rows
                    )
                );
                if !r.files.is_empty() {
                    out.push_str(&format!(
                        "files read as they are now (no snapshot): {}\n",
                        r.files.join(", ")
                    ));
                }
                out.push_str(if r.identical {
                    "identical: every artifact byte for byte, every metric bit for bit"
                } else {
                    "NOT identical: see the rows marked DIFFERENT"
                });
                out
            });
            if r.identical {
                Ok(())
            } else {
                Err(Error::Conflict(format!(
                    "run {} did not reproduce run {} identically",
                    r.replay, r.original
                )))
            }
        }
        RunsCommand::List {
            kind,
            status,
            limit,
            offset,
            all_projects,
        } => {
            let status = match status {
                Some(s) => Some(RunStatus::parse(&s).ok_or_else(|| {
                    Error::invalid(format!(
                        "unknown --status {s:?}; expected running, finished, failed, interrupted or cancelled"
                    ))
                })?),
                None => None,
            };
            let filter = RunFilter {
                project: if all_projects { None } else { Some(ctx.project.clone()) },
                kind,
                status,
                limit: Some(limit),
                offset,
            };
            let runs = risklake_app::runs::list(&ctx.ws, &filter)?;
            ctx.out.emit(json!({ "runs": runs }), || {
                if runs.is_empty() {
                    return "no runs recorded yet".into();
                }
                grid(
                    &["id", "kind", "status", "started", "seconds", "headline", "command"],
                    runs.iter()
                        .map(|listed| {
                            let r = &listed.summary;
                            let mut cmd = r.command.clone();
                            if cmd.chars().count() > 60 {
                                cmd = cmd.chars().take(57).collect::<String>() + "...";
                            }
                            vec![
                                r.id.to_string(),
                                r.kind.clone(),
                                r.status.to_string(),
                                r.started_at.clone(),
                                r.duration_s.map(|d| format!("{d:.2}")).unwrap_or_default(),
                                listed
                                    .headline
                                    .as_ref()
                                    .map_or(String::new(), |(k, v)| format!("{k} {}", short(*v))),
                                cmd,
                            ]
                        })
                        .collect(),
                )
            });
            Ok(())
        }
        RunsCommand::Show { id } => {
            let d = ctx.ws.store().get_run(id)?;
            let value = serde_json::to_value(&d).map_err(|e| Error::invalid(e.to_string()))?;
            ctx.out.emit(value, || {
                let s = &d.summary;
                let mut out = kv_table([
                    ("run", s.id.to_string()),
                    ("project", s.project.clone()),
                    ("kind", s.kind.clone()),
                    ("status", s.status.to_string()),
                    ("command", s.command.clone()),
                    ("started", s.started_at.clone()),
                    ("ended", s.ended_at.clone().unwrap_or_default()),
                    ("seconds", s.duration_s.map(|d| format!("{d:.3}")).unwrap_or_default()),
                    ("error", s.error.clone().unwrap_or_default()),
                ]);
                if !d.params.is_empty() {
                    out.push_str("\n\nparams\n");
                    out.push_str(&kv_table(d.params.iter().map(|(k, v)| (k.clone(), v.clone()))));
                }
                if !d.metrics.is_empty() {
                    out.push_str("\n\nmetrics (last value)\n");
                    out.push_str(&kv_table(d.metrics.iter().map(|(k, v)| (k.clone(), format!("{v}")))));
                }
                if !d.datasets.is_empty() {
                    out.push_str("\n\ndatasets\n");
                    out.push_str(&grid(
                        &["role", "name", "snapshot", "rows"],
                        d.datasets
                            .iter()
                            .map(|x| {
                                vec![
                                    x.role.clone(),
                                    x.name.clone(),
                                    x.snapshot.map(|v| v.to_string()).unwrap_or_default(),
                                    x.rows.map(|v| v.to_string()).unwrap_or_default(),
                                ]
                            })
                            .collect(),
                    ));
                }
                if !d.artifacts.is_empty() {
                    out.push_str("\n\nartifacts\n");
                    out.push_str(&grid(
                        &["name", "bytes", "path"],
                        d.artifacts
                            .iter()
                            .map(|a| vec![a.name.clone(), a.size.to_string(), a.path.clone()])
                            .collect(),
                    ));
                }
                out
            });
            Ok(())
        }
    }
}

/// A metric for a table cell: 5 significant decimals for fractions, whole numbers as such.
fn short(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.5}")
    }
}

/// A lineage as an indented tree.
pub fn lineage_tree(l: &risklake_app::lineage::Lineage) -> String {
    let mut out = String::new();
    lineage_text(l, "", &mut out);
    out
}

/// One node of [`lineage_tree`] and its sources, below `indent`.
fn lineage_text(l: &risklake_app::lineage::Lineage, indent: &str, out: &mut String) {
    out.push_str(&format!("run {} {} ({}, {})", l.run, l.kind, l.status, l.started_at));
    if l.repeated {
        out.push_str(" (shown above)\n");
        return;
    }
    out.push('\n');
    let deeper = format!("{indent}    ");
    for w in &l.wrote {
        out.push_str(&format!(
            "{indent}  wrote {}{}\n",
            w.name,
            w.snapshot.map_or(String::new(), |s| format!(" @ snapshot {s}"))
        ));
    }
    for u in &l.used {
        out.push_str(&format!("{indent}  used {} {}", u.role, u.name));
        match &u.run {
            Some(r) => {
                out.push_str(" <- ");
                lineage_text(r, &deeper, out);
            }
            None => out.push('\n'),
        }
    }
    for r in &l.reads {
        out.push_str(&format!(
            "{indent}  read {}{}",
            r.table,
            r.snapshot.map_or(String::new(), |s| format!(" @ snapshot {s}"))
        ));
        match &r.written_by {
            Some(w) => {
                out.push_str(" <- ");
                lineage_text(w, &deeper, out);
            }
            None if r.snapshot.is_some() => out.push_str(" (written outside this store)\n"),
            None => out.push('\n'),
        }
    }
}

pub fn projects(ctx: &Ctx) -> Result<()> {
    let projects = ctx.ws.store().list_projects()?;
    ctx.out.emit(json!({ "projects": projects }), || {
        grid(
            &["project", "runs", "created"],
            projects
                .iter()
                .map(|p| vec![p.name.clone(), p.runs.to_string(), p.created_at.clone()])
                .collect(),
        )
    });
    Ok(())
}
