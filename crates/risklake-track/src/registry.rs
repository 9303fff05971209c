//! The model registry in the project store: names, versions, aliases, tags and their history.
//!
//! Versions count 1, 2, ... per name and are never reused: a deleted version keeps its
//! row (marked deleted), so the next one gets a new number. An alias is one row per
//! (name, alias); moving it is one upsert, so readers see the old or the new version,
//! never none. Every change writes an event in the same transaction.

use std::collections::BTreeMap;

use risklake_core::{Error, Result};

use crate::db::{args, Conn, Db};
use crate::types::{ModelEvent, ModelVersion, RegisteredModel, RunId};

/// A registered model's name: letters, digits, `_`, `-` and `.`, starting with a letter
/// (`@` and `/` separate aliases and versions in `name@alias`, `name/3`).
pub fn check_name(name: &str) -> Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok && name.len() <= 128 {
        Ok(())
    } else {
        Err(Error::param(
            "name",
            format!(
                "model name {name:?} must start with a letter and hold only letters, digits, '_', '-' and '.' \
                 (at most 128)"
            ),
        ))
    }
}

/// An alias: a word starting with a letter (`champion`, `challenger`, `prod-2026`).
pub fn check_alias(alias: &str) -> Result<()> {
    let ok = alias.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if ok && alias.len() <= 64 {
        Ok(())
    } else {
        Err(Error::param(
            "alias",
            format!("alias {alias:?} must be a word starting with a letter (letters, digits, '_', '-')"),
        ))
    }
}

fn project_id(c: &Conn, project: &str) -> Result<Option<i64>> {
    c.int("SELECT id FROM projects WHERE name = ?1", args![project])
}

#[allow(clippy::too_many_arguments)]
fn event(
    c: &Conn,
    project: i64,
    name: &str,
    version: Option<i64>,
    what: &str,
    detail: &str,
    user: &str,
    at: &str,
) -> Result<()> {
    c.exec(
        "INSERT INTO model_events (project_id, name, version, event, detail, at, user_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![project, name, version, what, detail, at, user],
    )?;
    Ok(())
}

/// The id of `project`, which must exist for `name` to be registered in it.
fn registered_project(c: &Conn, project: &str, name: &str) -> Result<i64> {
    project_id(c, project)?.ok_or_else(|| not_found(name, None))
}

fn not_found(name: &str, version: Option<i64>) -> Error {
    match version {
        Some(v) => Error::not_found("model version", format!("{name}/{v}")),
        None => Error::not_found("registered model", name.to_string()),
    }
}

/// The live version `version` of `name`, with its aliases and tags.
fn version_row(c: &Conn, project: i64, name: &str, version: i64) -> Result<ModelVersion> {
    let row = c.row(
        "SELECT run_id, artifact, description, created_at, created_by, deleted_at FROM model_versions
         WHERE project_id = ?1 AND name = ?2 AND version = ?3",
        args![project, name, version],
    )?;
    let Some(row) = row else {
        return Err(if versions_of(c, project, name)? == 0 {
            not_found(name, None)
        } else {
            not_found(name, Some(version))
        });
    };
    if let Some(at) = row.opt_text(5)? {
        return Err(Error::not_found(
            "model version",
            format!("{name}/{version} (deleted {at})"),
        ));
    }
    let aliases = c
        .query(
            "SELECT alias FROM model_aliases WHERE project_id = ?1 AND name = ?2 AND version = ?3 ORDER BY alias",
            args![project, name, version],
        )?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<Vec<_>>>()?;
    let tags = c
        .query(
            "SELECT key, value FROM model_tags WHERE project_id = ?1 AND name = ?2 AND version = ?3",
            args![project, name, version],
        )?
        .iter()
        .map(|r| Ok((r.text(0)?, r.text(1)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    Ok(ModelVersion {
        name: name.to_string(),
        version,
        run: row.int(0)?,
        artifact: row.text(1)?,
        description: row.opt_text(2)?,
        created_at: row.text(3)?,
        created_by: row.text(4)?,
        aliases,
        tags,
    })
}

/// How many versions `name` ever had (deleted ones included).
fn versions_of(c: &Conn, project: i64, name: &str) -> Result<i64> {
    Ok(c.int(
        "SELECT COUNT(*) FROM model_versions WHERE project_id = ?1 AND name = ?2",
        args![project, name],
    )?
    .unwrap_or(0))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn register(
    db: &Db,
    project: i64,
    name: &str,
    run: RunId,
    artifact: &str,
    description: Option<&str>,
    user: &str,
    at: &str,
) -> Result<ModelVersion> {
    check_name(name)?;
    // One writer at a time (the store's write transaction): two registrations never
    // read the same highest version.
    db.tx(|c| {
        if c.int("SELECT id FROM runs WHERE id = ?1", args![run])?.is_none() {
            return Err(Error::not_found("run", run.to_string()));
        }
        let version = c
            .int(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE project_id = ?1 AND name = ?2",
                args![project, name],
            )?
            .unwrap_or(1);
        c.exec(
            "INSERT INTO model_versions (project_id, name, version, run_id, artifact, description, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            args![project, name, version, run, artifact, description, at, user],
        )?;
        event(
            c,
            project,
            name,
            Some(version),
            "registered",
            &format!("run {run} ({artifact})"),
            user,
            at,
        )?;
        version_row(c, project, name, version)
    })
}

pub(crate) fn get(c: &Conn, project: &str, name: &str, version: i64) -> Result<ModelVersion> {
    let project = registered_project(c, project, name)?;
    version_row(c, project, name, version)
}

/// The version `alias` points at, if it is set.
fn alias_version(c: &Conn, project: i64, name: &str, alias: &str) -> Result<Option<i64>> {
    c.int(
        "SELECT version FROM model_aliases WHERE project_id = ?1 AND name = ?2 AND alias = ?3",
        args![project, name, alias],
    )
}

pub(crate) fn alias(c: &Conn, project: &str, name: &str, alias: &str) -> Result<ModelVersion> {
    let project = registered_project(c, project, name)?;
    let version = alias_version(c, project, name, alias)?;
    match version {
        Some(v) => version_row(c, project, name, v),
        None if versions_of(c, project, name)? == 0 => Err(not_found(name, None)),
        None => Err(Error::not_found("model alias", format!("{name}@{alias}"))),
    }
}

pub(crate) fn set_alias(
    db: &Db,
    project: &str,
    name: &str,
    alias: &str,
    version: Option<i64>,
    user: &str,
    at: &str,
) -> Result<()> {
    check_alias(alias)?;
    db.tx(|c| {
        let project = registered_project(c, project, name)?;
        let before = alias_version(c, project, name, alias)?;
        match version {
            Some(v) => {
                // The version must exist and be live.
                version_row(c, project, name, v)?;
                c.exec(
                    "INSERT INTO model_aliases (project_id, name, alias, version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (project_id, name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                    args![project, name, alias, v, at],
                )?;
                let detail = match before {
                    Some(b) if b != v => format!("{alias}: {b} -> {v}"),
                    Some(_) => format!("{alias}: {v} (unchanged)"),
                    None => format!("{alias}: {v}"),
                };
                event(c, project, name, Some(v), "alias", &detail, user, at)
            }
            None => {
                let Some(b) = before else {
                    return Err(if versions_of(c, project, name)? == 0 {
                        not_found(name, None)
                    } else {
                        Error::not_found("model alias", format!("{name}@{alias}"))
                    });
                };
                c.exec(
                    "DELETE FROM model_aliases WHERE project_id = ?1 AND name = ?2 AND alias = ?3",
                    args![project, name, alias],
                )?;
                event(
                    c,
                    project,
                    name,
                    Some(b),
                    "alias_removed",
                    &format!("{alias} (was {b})"),
                    user,
                    at,
                )
            }
        }
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn set_tag(
    db: &Db,
    project: &str,
    name: &str,
    version: i64,
    key: &str,
    value: &str,
    user: &str,
    at: &str,
) -> Result<()> {
    if key.trim().is_empty() {
        return Err(Error::param("tag", "a tag needs a key (KEY=VALUE)"));
    }
    db.tx(|c| {
        let project = registered_project(c, project, name)?;
        version_row(c, project, name, version)?;
        c.exec(
            "INSERT INTO model_tags (project_id, name, version, key, value) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (project_id, name, version, key) DO UPDATE SET value = excluded.value",
            args![project, name, version, key, value],
        )?;
        event(
            c,
            project,
            name,
            Some(version),
            "tag",
            &format!("{key}={value}"),
            user,
            at,
        )
    })
}

pub(crate) fn list(c: &Conn, project: &str) -> Result<Vec<RegisteredModel>> {
    let Some(project) = project_id(c, project)? else {
        return Ok(Vec::new());
    };
    let rows = c.query(
        "SELECT name, COUNT(*) FILTER (WHERE deleted_at IS NULL), MAX(version) FILTER (WHERE deleted_at IS NULL),
                MIN(created_at), MAX(created_at)
         FROM model_versions WHERE project_id = ?1 GROUP BY name ORDER BY name",
        args![project],
    )?;
    let mut models = Vec::with_capacity(rows.len());
    for r in rows {
        let name = r.text(0)?;
        let aliases = c
            .query(
                "SELECT alias, version FROM model_aliases WHERE project_id = ?1 AND name = ?2",
                args![project, &name],
            )?
            .iter()
            .map(|a| Ok((a.text(0)?, a.int(1)?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        let last_event = c
            .row(
                "SELECT MAX(at) FROM model_events WHERE project_id = ?1 AND name = ?2",
                args![project, &name],
            )?
            .map(|e| e.opt_text(0))
            .transpose()?
            .flatten();
        let mut updated_at = r.text(4)?;
        if let Some(at) = last_event {
            updated_at = updated_at.max(at);
        }
        models.push(RegisteredModel {
            name,
            versions: r.int(1)?,
            latest: r.opt_int(2)?,
            aliases,
            created_at: r.text(3)?,
            updated_at,
        });
    }
    Ok(models)
}

pub(crate) fn versions(c: &Conn, project: &str, name: &str) -> Result<Vec<ModelVersion>> {
    let project = registered_project(c, project, name)?;
    let numbers = c
        .query(
            "SELECT version FROM model_versions WHERE project_id = ?1 AND name = ?2 AND deleted_at IS NULL
             ORDER BY version DESC",
            args![project, name],
        )?
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<Vec<_>>>()?;
    if numbers.is_empty() && versions_of(c, project, name)? == 0 {
        return Err(not_found(name, None));
    }
    numbers.into_iter().map(|v| version_row(c, project, name, v)).collect()
}

pub(crate) fn delete_version(db: &Db, project: &str, name: &str, version: i64, user: &str, at: &str) -> Result<()> {
    db.tx(|c| {
        let project = registered_project(c, project, name)?;
        let v = version_row(c, project, name, version)?;
        if !v.aliases.is_empty() {
            return Err(Error::Conflict(format!(
                "{name}/{version} is what {} point{} at: move or remove {} first (model alias)",
                v.aliases
                    .iter()
                    .map(|a| format!("{name}@{a}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if v.aliases.len() == 1 { "s" } else { "" },
                if v.aliases.len() == 1 { "it" } else { "them" },
            )));
        }
        c.exec(
            "UPDATE model_versions SET deleted_at = ?4 WHERE project_id = ?1 AND name = ?2 AND version = ?3",
            args![project, name, version, at],
        )?;
        event(
            c,
            project,
            name,
            Some(version),
            "version_deleted",
            &format!("run {}", v.run),
            user,
            at,
        )
    })
}

pub(crate) fn history(c: &Conn, project: &str, name: &str) -> Result<Vec<ModelEvent>> {
    let project = registered_project(c, project, name)?;
    let events = c
        .query(
            "SELECT version, event, detail, at, user_name FROM model_events
             WHERE project_id = ?1 AND name = ?2 ORDER BY id",
            args![project, name],
        )?
        .iter()
        .map(|r| {
            Ok(ModelEvent {
                name: name.to_string(),
                version: r.opt_int(0)?,
                event: r.text(1)?,
                detail: r.text(2)?,
                at: r.text(3)?,
                user: r.text(4)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if events.is_empty() {
        return Err(not_found(name, None));
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use crate::{RunStatus, Store};
    use risklake_core::Error;

    #[test]
    fn versions_aliases_tags_and_history() {
        for b in crate::testing::backends() {
            versions_aliases_tags_and_history_on(&b);
        }
    }

    fn versions_aliases_tags_and_history_on(b: &crate::testing::Backend) {
        eprintln!("versions_aliases_tags_and_history on {}", b.name);
        let store = b.open();
        let runs: Vec<i64> = (0..3)
            .map(|_| {
                let r = store.start_run("credit", "train.gbdt", "x").unwrap();
                store.finish_run(r, RunStatus::Finished, None).unwrap();
                r
            })
            .collect();
        let v1 = store
            .register_model("credit", "pd", runs[0], "model.json", Some("first"), "ana")
            .unwrap();
        let v2 = store
            .register_model("credit", "pd", runs[1], "model.json", None, "ben")
            .unwrap();
        assert_eq!((v1.version, v2.version), (1, 2));
        store
            .set_model_alias("credit", "pd", "champion", Some(1), "ana")
            .unwrap();
        store
            .set_model_alias("credit", "pd", "champion", Some(2), "ben")
            .unwrap();
        assert_eq!(store.model_alias("credit", "pd", "champion").unwrap().run, runs[1]);
        store
            .set_model_tag("credit", "pd", 2, "stage", "validated", "ana")
            .unwrap();
        let v = store.model_version("credit", "pd", 2).unwrap();
        assert_eq!(
            (v.aliases.clone(), v.tags["stage"].as_str()),
            (vec!["champion".to_string()], "validated")
        );
        // Deleting what an alias points at is refused; the other version goes, and its
        // number is not given again.
        let e = store.delete_model_version("credit", "pd", 2, "ana").unwrap_err();
        assert!(
            matches!(e, Error::Conflict(_)) && e.to_string().contains("pd@champion"),
            "{e}"
        );
        store.delete_model_version("credit", "pd", 1, "ana").unwrap();
        assert!(matches!(
            store.model_version("credit", "pd", 1),
            Err(Error::NotFound { .. })
        ));
        let v3 = store
            .register_model("credit", "pd", runs[2], "model.json", None, "ana")
            .unwrap();
        assert_eq!(v3.version, 3);
        // Errors name what is missing.
        let e = store.model_alias("credit", "pd", "challenger").unwrap_err();
        assert!(e.to_string().contains("pd@challenger"), "{e}");
        let e = store.model_version("credit", "nope", 1).unwrap_err();
        assert!(e.to_string().contains("registered model not found: nope"), "{e}");
        let e = store
            .set_model_alias("credit", "pd", "champion", Some(7), "ana")
            .unwrap_err();
        assert!(e.to_string().contains("pd/7"), "{e}");
        assert!(store
            .register_model("credit", "pd@x", runs[0], "model.json", None, "a")
            .is_err());
        assert!(store.set_model_alias("credit", "pd", "2nd", Some(3), "a").is_err());
        let e = store
            .register_model("credit", "pd", 999, "model.json", None, "a")
            .unwrap_err();
        assert!(
            matches!(e, Error::NotFound { .. }) && e.to_string().contains("run not found: 999"),
            "{e}"
        );
        // The list and the history.
        let models = store.list_models("credit").unwrap();
        assert_eq!(models.len(), 1);
        assert_eq!(
            (models[0].versions, models[0].latest, models[0].aliases["champion"]),
            (2, Some(3), 2)
        );
        let events: Vec<(String, String)> = store
            .model_history("credit", "pd")
            .unwrap()
            .into_iter()
            .map(|e| (e.event, e.detail))
            .collect();
        let events: Vec<(&str, &str)> = events.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(
            events[..6],
            [
                ("registered", &*format!("run {} (model.json)", runs[0])),
                ("registered", &*format!("run {} (model.json)", runs[1])),
                ("alias", "champion: 1"),
                ("alias", "champion: 1 -> 2"),
                ("tag", "stage=validated"),
                ("version_deleted", &*format!("run {}", runs[0])),
            ]
        );
        store.set_model_alias("credit", "pd", "champion", None, "ana").unwrap();
        store.delete_model_version("credit", "pd", 2, "ana").unwrap();
        assert_eq!(
            store
                .model_versions("credit", "pd")
                .unwrap()
                .iter()
                .map(|v| v.version)
                .collect::<Vec<_>>(),
            [3]
        );
    }

    #[test]
    fn concurrent_registrations_get_distinct_versions() {
        for b in crate::testing::backends() {
            concurrent_registrations_get_distinct_versions_on(&b);
        }
    }

    fn concurrent_registrations_get_distinct_versions_on(b: &crate::testing::Backend) {
        eprintln!("concurrent_registrations_get_distinct_versions on {}", b.name);
        let run = b.open().start_run("p", "train", "x").unwrap();
        let versions = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    // A store each, as separate processes would have.
                    let store = b.open();
                    for _ in 0..5 {
                        let v = store.register_model("p", "m", run, "model.json", None, "u").unwrap();
                        versions.lock().unwrap().push(v.version);
                    }
                });
            }
        });
        let mut v = versions.into_inner().unwrap();
        v.sort();
        assert_eq!(v, (1..=20).collect::<Vec<_>>());
    }
}
