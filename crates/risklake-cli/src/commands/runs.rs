//! `runs list`, `runs show`, `projects`.

use serde_json::json;

use risklake_core::{Error, Result};
use risklake_track::{RunFilter, RunStatus};

use super::Ctx;
use crate::app::RunsCommand;
use crate::output::{grid, kv_table};

pub fn run(ctx: &Ctx, cmd: RunsCommand) -> Result<()> {
    match cmd {
        RunsCommand::List {
            kind,
            status,
            limit,
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
            };
            let runs = ctx.ws.store().list_runs(&filter)?;
            ctx.out.emit(json!({ "runs": runs }), || {
                if runs.is_empty() {
                    return "no runs recorded yet".into();
                }
                grid(
                    &["id", "kind", "status", "started", "seconds", "command"],
                    runs.iter()
                        .map(|r| {
                            let mut cmd = r.command.clone();
                            if cmd.chars().count() > 70 {
                                cmd = cmd.chars().take(67).collect::<String>() + "...";
                            }
                            vec![
                                r.id.to_string(),
                                r.kind.clone(),
                                r.status.to_string(),
                                r.started_at.clone(),
                                r.duration_s.map(|d| format!("{d:.2}")).unwrap_or_default(),
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
