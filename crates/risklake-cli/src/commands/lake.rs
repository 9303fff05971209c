//! `init`, `tables`, `describe`, `tag`.

use serde_json::json;

use risklake_core::Result;

use super::Ctx;
use crate::output::{grid, kv_table};

pub async fn init(ctx: &Ctx) -> Result<()> {
    let lake = ctx.lake().await?;
    let store = ctx.home.join("store.db");
    ctx.out.emit(
        json!({ "home": ctx.home, "warehouse": lake.warehouse(), "store": store, "project": ctx.project }),
        || {
            format!(
                "risklake home ready at {}\n  warehouse: {}\n  store:     {}",
                ctx.home.display(),
                lake.warehouse().display(),
                store.display()
            )
        },
    );
    Ok(())
}

pub async fn tables(ctx: &Ctx) -> Result<()> {
    let tables = risklake_app::lake::tables(&ctx.ws).await?;
    ctx.out.emit(json!({ "tables": tables }), || {
        if tables.is_empty() {
            return "no tables yet (try `risklake quickstart` or `risklake ingest FILE --table NAME`)".into();
        }
        grid(
            &["table", "kind", "columns", "snapshot"],
            tables
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.kind.to_string(),
                        t.columns.to_string(),
                        t.snapshot.map(|s| s.to_string()).unwrap_or("-".into()),
                    ]
                })
                .collect(),
        )
    });
    Ok(())
}

pub async fn describe(ctx: &Ctx, table: &str) -> Result<()> {
    let info = risklake_app::lake::describe(&ctx.ws, table).await?;
    let value = serde_json::to_value(&info).map_err(|e| risklake_core::Error::invalid(e.to_string()))?;
    ctx.out.emit(value, || {
        let mut s = kv_table([
            ("table", info.name.clone()),
            ("kind", info.kind.clone()),
            ("rows", info.rows.to_string()),
            ("primary key", info.primary_key.join(", ")),
            ("partitioned by", info.partition_by.join(", ")),
            ("location", info.location.clone()),
            ("tags", info.tags.join(", ")),
        ]);
        s.push_str("\n\ncolumns\n");
        s.push_str(&grid(
            &["name", "type", "nullable"],
            info.columns
                .iter()
                .map(|c| vec![c.name.clone(), c.r#type.clone(), c.nullable.to_string()])
                .collect(),
        ));
        if !info.options.is_empty() {
            s.push_str("\n\noptions\n");
            s.push_str(&kv_table(info.options.iter().map(|(k, v)| (k.clone(), v.clone()))));
        }
        s.push_str("\n\nsnapshots\n");
        s.push_str(&grid(
            &["id", "kind", "committed at", "total records", "added"],
            info.snapshots
                .iter()
                .map(|sn| {
                    vec![
                        sn.id.to_string(),
                        sn.kind.clone(),
                        sn.committed_at.clone(),
                        sn.total_records.map(|v| v.to_string()).unwrap_or_default(),
                        sn.delta_records.map(|v| v.to_string()).unwrap_or_default(),
                    ]
                })
                .collect(),
        ));
        s
    });
    Ok(())
}

pub async fn tag(ctx: &Ctx, table: &str, tag: &str, snapshot: Option<i64>) -> Result<()> {
    let req = risklake_app::lake::TagRequest {
        table: table.to_string(),
        tag: tag.to_string(),
        snapshot,
    };
    let done = risklake_app::lake::tag(&ctx.ws, &req).await?;
    ctx.out.emit(
        json!({ "table": done.table, "tag": done.tag, "snapshot": done.snapshot, "run": done.run }),
        || {
            format!(
                "tagged {} snapshot {} as '{}' (read it with: SELECT * FROM {} VERSION AS OF '{}')",
                done.table,
                done.snapshot.unwrap_or(0),
                done.tag,
                done.table,
                done.tag
            )
        },
    );
    Ok(())
}

/// The flags as the workflow's request.
pub fn maintain_request(args: &crate::app::MaintainArgs) -> risklake_app::maintain::MaintainRequest {
    use risklake_lake::maintain::MaintainOptions;
    risklake_app::maintain::MaintainRequest {
        tables: args.tables.clone(),
        options: MaintainOptions {
            compact: !args.no_compact,
            retain_last: args.retain_last,
            retain_age_s: args.retain_age,
            orphan_grace_s: args.orphan_grace,
            dry_run: args.dry_run,
        },
    }
}

pub async fn maintain(ctx: &Ctx, args: crate::app::MaintainArgs) -> Result<()> {
    let req = maintain_request(&args);
    let done = risklake_app::maintain::run(&ctx.ws, &req, &crate::output::Bars::new(ctx.out)).await?;
    ctx.out.emit(
        json!({ "tables": done.tables, "run": done.run, "dry_run": args.dry_run }),
        || {
            let rows = done
                .tables
                .iter()
                .map(|r| {
                    vec![
                        r.table.clone(),
                        match &r.compaction {
                            Some(c) => match c.files_after {
                                Some(after) => format!("{} -> {after} files", c.files_before),
                                None => format!("{} files -> 1 per bucket", c.files_before),
                            },
                            None => "-".into(),
                        },
                        match (r.expired.first(), r.expired.last()) {
                            (Some(a), Some(b)) if a == b => format!("{a}"),
                            (Some(a), Some(b)) => format!("{a}..{b}"),
                            _ => "-".into(),
                        },
                        match (r.earliest, r.latest) {
                            (Some(a), Some(b)) => format!("{a}..{b} ({})", r.snapshots_kept),
                            _ => "-".into(),
                        },
                        format!(
                            "{} + {} orphans ({} young kept)",
                            r.expired_files, r.orphans, r.young_orphans
                        ),
                        format!("{:.1} MB", r.bytes_freed as f64 / 1e6),
                    ]
                })
                .collect();
            let verb = if args.dry_run {
                "would be (dry run, nothing changed)"
            } else {
                "done"
            };
            format!(
                "{}\nmaintenance {verb}; run {}",
                crate::output::grid(
                    &[
                        "table",
                        "compaction",
                        "expired",
                        "snapshots kept",
                        "files removed",
                        "freed"
                    ],
                    rows
                ),
                done.run
            )
        },
    );
    Ok(())
}
