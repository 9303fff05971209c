//! `model register | list | alias | tag | delete-version`: the model registry.

use std::collections::BTreeMap;

use serde_json::json;

use risklake_app::registry::{self, ModelSpec, RegisterRequest};
use risklake_core::{Error, Result};
use risklake_track::ModelVersion;

use super::Ctx;
use crate::output::{grid, kv_table};

/// `KEY=VALUE` flags as a map.
fn tag_map(tags: &[String]) -> Result<BTreeMap<String, String>> {
    Ok(super::requests::key_values(tags)
        .map_err(|_| Error::param("tag", format!("tags are KEY=VALUE, got {}", tags.join(" "))))?
        .into_iter()
        .collect())
}

/// A version as `key: value` lines.
pub fn version_table(v: &ModelVersion) -> String {
    kv_table([
        ("model", format!("{}/{}", v.name, v.version)),
        (
            "aliases",
            if v.aliases.is_empty() {
                "-".into()
            } else {
                v.aliases.join(", ")
            },
        ),
        ("run", format!("{} ({})", v.run, v.artifact)),
        (
            "tags",
            if v.tags.is_empty() {
                "-".into()
            } else {
                v.tags
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
        ("description", v.description.clone().unwrap_or_else(|| "-".into())),
        ("registered", format!("{} by {}", v.created_at, v.created_by)),
    ])
}

pub fn register(
    ctx: &Ctx,
    run: i64,
    name: &str,
    aliases: &[String],
    tags: &[String],
    description: Option<&str>,
) -> Result<()> {
    let req = RegisterRequest {
        run,
        name: name.to_string(),
        aliases: aliases.to_vec(),
        tags: tag_map(tags)?,
        description: description.map(str::to_string),
        artifact: None,
    };
    let v = registry::register(&ctx.ws, &req)?;
    ctx.out
        .emit(serde_json::to_value(&v).unwrap_or_default(), || version_table(&v));
    Ok(())
}

pub fn list(ctx: &Ctx, name: Option<&str>) -> Result<()> {
    match name {
        None => {
            let models = registry::list(&ctx.ws)?;
            ctx.out.emit(json!({ "models": models }), || {
                if models.is_empty() {
                    return "no registered models (risklake model register --run N --name NAME)".into();
                }
                let rows = models
                    .iter()
                    .map(|m| {
                        vec![
                            m.name.clone(),
                            m.versions.to_string(),
                            m.latest.map_or("-".into(), |v| v.to_string()),
                            m.aliases
                                .iter()
                                .map(|(a, v)| format!("{a}: {v}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            m.updated_at.clone(),
                        ]
                    })
                    .collect();
                grid(&["name", "versions", "latest", "aliases", "updated"], rows)
            });
        }
        Some(name) => {
            let d = registry::detail(&ctx.ws, name)?;
            ctx.out.emit(serde_json::to_value(&d).unwrap_or_default(), || {
                let versions = d
                    .versions
                    .iter()
                    .map(|v| {
                        vec![
                            v.version.to_string(),
                            v.run.to_string(),
                            v.aliases.join(", "),
                            v.tags
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            v.created_at.clone(),
                            v.created_by.clone(),
                        ]
                    })
                    .collect();
                let history = d
                    .history
                    .iter()
                    .map(|e| {
                        vec![
                            e.at.clone(),
                            e.user.clone(),
                            e.version.map_or("-".into(), |v| v.to_string()),
                            e.event.clone(),
                            e.detail.clone(),
                        ]
                    })
                    .collect();
                format!(
                    "{}\n\nhistory\n{}",
                    grid(&["version", "run", "aliases", "tags", "registered", "by"], versions),
                    grid(&["at", "user", "version", "event", "detail"], history)
                )
            });
        }
    }
    Ok(())
}

pub fn alias(ctx: &Ctx, name: &str, alias: &str, version: Option<i64>) -> Result<()> {
    registry::set_alias(&ctx.ws, name, alias, version)?;
    ctx.out.emit(
        json!({ "name": name, "alias": alias, "version": version }),
        || match version {
            Some(v) => format!("{name}@{alias} -> {name}/{v}"),
            None => format!("removed {name}@{alias}"),
        },
    );
    Ok(())
}

pub fn tag(ctx: &Ctx, model: &str, tags: &[String]) -> Result<()> {
    let (name, version) = match ModelSpec::parse(model)? {
        ModelSpec::Version { name, version } => (name, version),
        _ => return Err(Error::param("model", format!("'{model}' should be NAME/VERSION"))),
    };
    registry::set_tags(&ctx.ws, &name, version, &tag_map(tags)?)?;
    let v = ctx.ws.store().model_version(ctx.ws.project(), &name, version)?;
    ctx.out
        .emit(serde_json::to_value(&v).unwrap_or_default(), || version_table(&v));
    Ok(())
}

pub fn delete_version(ctx: &Ctx, name: &str, version: i64) -> Result<()> {
    registry::delete_version(&ctx.ws, name, version)?;
    ctx.out.emit(json!({ "name": name, "deleted": version }), || {
        format!("deleted {name}/{version}")
    });
    Ok(())
}
