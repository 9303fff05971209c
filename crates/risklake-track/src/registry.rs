//! The model registry in SQLite: names, versions, aliases, tags and their history.
//!
//! Versions count 1, 2, ... per name and are never reused: a deleted version keeps its
//! row (marked deleted), so the next one gets a new number. An alias is one row per
//! (name, alias); moving it is one upsert, so readers see the old or the new version,
//! never none. Every change writes an event in the same transaction.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use risklake_core::{Error, Result};

use crate::types::{ModelEvent, ModelVersion, RegisteredModel, RunId};

fn db_err(e: rusqlite::Error) -> Error {
    Error::external("project store (model registry)", e)
}

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

fn immediate(conn: &Connection) -> Result<Transaction<'_>> {
    // IMMEDIATE: the write lock is taken at the start, so two registrations never read
    // the same highest version.
    Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(db_err)
}

fn project_id(conn: &Connection, project: &str) -> Result<Option<i64>> {
    conn.query_row("SELECT id FROM projects WHERE name = ?1", [project], |r| r.get(0))
        .optional()
        .map_err(db_err)
}

#[allow(clippy::too_many_arguments)]
fn event(
    conn: &Connection,
    project: i64,
    name: &str,
    version: Option<i64>,
    what: &str,
    detail: &str,
    user: &str,
    at: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO model_events (project_id, name, version, event, detail, at, user_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![project, name, version, what, detail, at, user],
    )
    .map_err(db_err)?;
    Ok(())
}

/// The id of `project`, which must exist for `name` to be registered in it.
fn registered_project(conn: &Connection, project: &str, name: &str) -> Result<i64> {
    project_id(conn, project)?.ok_or_else(|| not_found(name, None))
}

fn not_found(name: &str, version: Option<i64>) -> Error {
    match version {
        Some(v) => Error::not_found("model version", format!("{name}/{v}")),
        None => Error::not_found("registered model", name.to_string()),
    }
}

/// The live version `version` of `name`, with its aliases and tags.
fn version_row(conn: &Connection, project: i64, name: &str, version: i64) -> Result<ModelVersion> {
    let row = conn
        .query_row(
            "SELECT run_id, artifact, description, created_at, created_by, deleted_at FROM model_versions
             WHERE project_id = ?1 AND name = ?2 AND version = ?3",
            params![project, name, version],
            |r| {
                Ok((
                    r.get::<_, RunId>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            },
        )
        .optional()
        .map_err(db_err)?;
    let Some((run, artifact, description, created_at, created_by, deleted)) = row else {
        return Err(if versions_of(conn, project, name)? == 0 {
            not_found(name, None)
        } else {
            not_found(name, Some(version))
        });
    };
    if let Some(at) = deleted {
        return Err(Error::not_found(
            "model version",
            format!("{name}/{version} (deleted {at})"),
        ));
    }
    let aliases = conn
        .prepare("SELECT alias FROM model_aliases WHERE project_id = ?1 AND name = ?2 AND version = ?3 ORDER BY alias")
        .and_then(|mut st| {
            st.query_map(params![project, name, version], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .map_err(db_err)?;
    let tags = conn
        .prepare("SELECT key, value FROM model_tags WHERE project_id = ?1 AND name = ?2 AND version = ?3")
        .and_then(|mut st| {
            st.query_map(params![project, name, version], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<BTreeMap<String, String>>>()
        })
        .map_err(db_err)?;
    Ok(ModelVersion {
        name: name.to_string(),
        version,
        run,
        artifact,
        description,
        created_at,
        created_by,
        aliases,
        tags,
    })
}

/// How many versions `name` ever had (deleted ones included).
fn versions_of(conn: &Connection, project: i64, name: &str) -> Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM model_versions WHERE project_id = ?1 AND name = ?2",
        params![project, name],
        |r| r.get(0),
    )
    .map_err(db_err)
}

#[allow(clippy::too_many_arguments)]
pub fn register(
    conn: &Connection,
    project: i64,
    name: &str,
    run: RunId,
    artifact: &str,
    description: Option<&str>,
    user: &str,
    at: &str,
) -> Result<ModelVersion> {
    check_name(name)?;
    let tx = immediate(conn)?;
    let version: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE project_id = ?1 AND name = ?2",
            params![project, name],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    tx.execute(
        "INSERT INTO model_versions (project_id, name, version, run_id, artifact, description, created_at, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![project, name, version, run, artifact, description, at, user],
    )
    .map_err(db_err)?;
    event(
        &tx,
        project,
        name,
        Some(version),
        "registered",
        &format!("run {run} ({artifact})"),
        user,
        at,
    )?;
    tx.commit().map_err(db_err)?;
    version_row(conn, project, name, version)
}

pub fn get(conn: &Connection, project: &str, name: &str, version: i64) -> Result<ModelVersion> {
    let project = registered_project(conn, project, name)?;
    version_row(conn, project, name, version)
}

/// The version `alias` points at, if it is set.
fn alias_version(conn: &Connection, project: i64, name: &str, alias: &str) -> Result<Option<i64>> {
    conn.query_row(
        "SELECT version FROM model_aliases WHERE project_id = ?1 AND name = ?2 AND alias = ?3",
        params![project, name, alias],
        |r| r.get(0),
    )
    .optional()
    .map_err(db_err)
}

pub fn alias(conn: &Connection, project: &str, name: &str, alias: &str) -> Result<ModelVersion> {
    let project = registered_project(conn, project, name)?;
    let version = alias_version(conn, project, name, alias)?;
    match version {
        Some(v) => version_row(conn, project, name, v),
        None if versions_of(conn, project, name)? == 0 => Err(not_found(name, None)),
        None => Err(Error::not_found("model alias", format!("{name}@{alias}"))),
    }
}

pub fn set_alias(
    conn: &Connection,
    project: &str,
    name: &str,
    alias: &str,
    version: Option<i64>,
    user: &str,
    at: &str,
) -> Result<()> {
    check_alias(alias)?;
    let project = registered_project(conn, project, name)?;
    let tx = immediate(conn)?;
    let before = alias_version(&tx, project, name, alias)?;
    match version {
        Some(v) => {
            // The version must exist and be live.
            version_row(&tx, project, name, v)?;
            tx.execute(
                "INSERT INTO model_aliases (project_id, name, alias, version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (project_id, name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                params![project, name, alias, v, at],
            )
            .map_err(db_err)?;
            let detail = match before {
                Some(b) if b != v => format!("{alias}: {b} -> {v}"),
                Some(_) => format!("{alias}: {v} (unchanged)"),
                None => format!("{alias}: {v}"),
            };
            event(&tx, project, name, Some(v), "alias", &detail, user, at)?;
        }
        None => {
            let Some(b) = before else {
                return Err(if versions_of(&tx, project, name)? == 0 {
                    not_found(name, None)
                } else {
                    Error::not_found("model alias", format!("{name}@{alias}"))
                });
            };
            tx.execute(
                "DELETE FROM model_aliases WHERE project_id = ?1 AND name = ?2 AND alias = ?3",
                params![project, name, alias],
            )
            .map_err(db_err)?;
            event(
                &tx,
                project,
                name,
                Some(b),
                "alias_removed",
                &format!("{alias} (was {b})"),
                user,
                at,
            )?;
        }
    }
    tx.commit().map_err(db_err)
}

#[allow(clippy::too_many_arguments)]
pub fn set_tag(
    conn: &Connection,
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
    let project = registered_project(conn, project, name)?;
    let tx = immediate(conn)?;
    version_row(&tx, project, name, version)?;
    tx.execute(
        "INSERT INTO model_tags (project_id, name, version, key, value) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (project_id, name, version, key) DO UPDATE SET value = excluded.value",
        params![project, name, version, key, value],
    )
    .map_err(db_err)?;
    event(
        &tx,
        project,
        name,
        Some(version),
        "tag",
        &format!("{key}={value}"),
        user,
        at,
    )?;
    tx.commit().map_err(db_err)
}

pub fn list(conn: &Connection, project: &str) -> Result<Vec<RegisteredModel>> {
    let Some(project) = project_id(conn, project)? else {
        return Ok(Vec::new());
    };
    let mut models: Vec<RegisteredModel> = conn
        .prepare(
            "SELECT name, COUNT(*) FILTER (WHERE deleted_at IS NULL), MAX(version) FILTER (WHERE deleted_at IS NULL),
                    MIN(created_at), MAX(created_at)
             FROM model_versions WHERE project_id = ?1 GROUP BY name ORDER BY name",
        )
        .and_then(|mut st| {
            st.query_map([project], |r| {
                Ok(RegisteredModel {
                    name: r.get(0)?,
                    versions: r.get(1)?,
                    latest: r.get(2)?,
                    aliases: BTreeMap::new(),
                    created_at: r.get(3)?,
                    updated_at: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    for m in &mut models {
        m.aliases = conn
            .prepare("SELECT alias, version FROM model_aliases WHERE project_id = ?1 AND name = ?2")
            .and_then(|mut st| {
                st.query_map(params![project, m.name], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<BTreeMap<String, i64>>>()
            })
            .map_err(db_err)?;
        let last_event: Option<String> = conn
            .query_row(
                "SELECT MAX(at) FROM model_events WHERE project_id = ?1 AND name = ?2",
                params![project, m.name],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if let Some(at) = last_event {
            m.updated_at = m.updated_at.clone().max(at);
        }
    }
    Ok(models)
}

pub fn versions(conn: &Connection, project: &str, name: &str) -> Result<Vec<ModelVersion>> {
    let project = registered_project(conn, project, name)?;
    let numbers: Vec<i64> = conn
        .prepare(
            "SELECT version FROM model_versions WHERE project_id = ?1 AND name = ?2 AND deleted_at IS NULL
             ORDER BY version DESC",
        )
        .and_then(|mut st| {
            st.query_map(params![project, name], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    if numbers.is_empty() && versions_of(conn, project, name)? == 0 {
        return Err(not_found(name, None));
    }
    numbers
        .into_iter()
        .map(|v| version_row(conn, project, name, v))
        .collect()
}

pub fn delete_version(conn: &Connection, project: &str, name: &str, version: i64, user: &str, at: &str) -> Result<()> {
    let project = registered_project(conn, project, name)?;
    let tx = immediate(conn)?;
    let v = version_row(&tx, project, name, version)?;
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
    tx.execute(
        "UPDATE model_versions SET deleted_at = ?4 WHERE project_id = ?1 AND name = ?2 AND version = ?3",
        params![project, name, version, at],
    )
    .map_err(db_err)?;
    event(
        &tx,
        project,
        name,
        Some(version),
        "version_deleted",
        &format!("run {}", v.run),
        user,
        at,
    )?;
    tx.commit().map_err(db_err)
}

pub fn history(conn: &Connection, project: &str, name: &str) -> Result<Vec<ModelEvent>> {
    let project = registered_project(conn, project, name)?;
    let events = conn
        .prepare(
            "SELECT version, event, detail, at, user_name FROM model_events
             WHERE project_id = ?1 AND name = ?2 ORDER BY id",
        )
        .and_then(|mut st| {
            st.query_map(params![project, name], |r| {
                Ok(ModelEvent {
                    name: name.to_string(),
                    version: r.get(0)?,
                    event: r.get(1)?,
                    detail: r.get(2)?,
                    at: r.get(3)?,
                    user: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    if events.is_empty() {
        return Err(not_found(name, None));
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use crate::{RunStatus, SqliteStore, Store};
    use risklake_core::Error;

    #[test]
    fn versions_aliases_tags_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
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
        assert!(e.to_string().contains("FOREIGN KEY"), "{e}");
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
        let dir = tempfile::tempdir().unwrap();
        let run = SqliteStore::open(dir.path())
            .unwrap()
            .start_run("p", "train", "x")
            .unwrap();
        let versions = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    // A store each, as separate processes would have.
                    let store = SqliteStore::open(dir.path()).unwrap();
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
