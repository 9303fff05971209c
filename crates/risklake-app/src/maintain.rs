//! Lake upkeep as a recorded run: compaction of primary-key tables, snapshot expiry and
//! orphan-file removal (`risklake_lake::maintain`), for one table or every table.

use serde::{Deserialize, Serialize};

use risklake_core::{Error, Result};
use risklake_lake::maintain::{maintain, MaintainOptions, MaintainReport};
use risklake_lake::TableName;

use crate::progress::{check, Progress, Unit};
use crate::Workspace;

/// Which tables, and how.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaintainRequest {
    /// Tables (`db.table` or `table`); empty means every table of the lake.
    pub tables: Vec<String>,
    #[serde(flatten)]
    pub options: MaintainOptions,
}

/// What was done to each table.
#[derive(Clone, Debug, Serialize)]
pub struct MaintainSummary {
    pub tables: Vec<MaintainReport>,
    pub run: i64,
}

/// Maintains the tables one after the other, each under its commit lock.
pub async fn run(ws: &Workspace, req: &MaintainRequest, progress: &dyn Progress) -> Result<MaintainSummary> {
    req.options.validate()?;
    let lake = ws.lake().await?;
    let names: Vec<TableName> = if req.tables.is_empty() {
        lake.list_tables().await?
    } else {
        req.tables.iter().map(|t| ws.table_name(t)).collect::<Result<_>>()?
    };
    if names.is_empty() {
        return Err(Error::invalid("the lake has no tables to maintain"));
    }
    let run = ws.start_run("maintain")?;
    let result = async {
        run.request(req)?;
        progress.stage("maintaining", Some(names.len() as u64), Unit::Items);
        let mut reports = Vec::new();
        for name in &names {
            check(progress)?;
            let r = maintain(lake, name, &req.options).await?;
            if let Some(c) = &r.compaction {
                if c.snapshot.is_some() {
                    run.output(&name.to_string(), c.snapshot, Some(c.rows))?;
                }
            }
            progress.advance(1);
            reports.push(r);
        }
        let sum = |f: fn(&MaintainReport) -> f64| reports.iter().map(f).sum::<f64>();
        run.metric("snapshots_expired", sum(|r| r.expired.len() as f64))?;
        run.metric("files_removed", sum(|r| (r.expired_files + r.orphans) as f64))?;
        run.metric("bytes_freed", sum(|r| r.bytes_freed as f64))?;
        run.metric("tables_compacted", sum(|r| r.compaction.is_some() as u8 as f64))?;
        Ok(reports)
    }
    .await;
    let id = run.id();
    let tables = run.finish(result)?;
    Ok(MaintainSummary { tables, run: id })
}
