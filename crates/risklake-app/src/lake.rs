//! What a lake holds (tables with their kind, columns and latest snapshot) and tagging a
//! snapshot as a recorded run.

use serde::{Deserialize, Serialize};

use risklake_core::Result;

use crate::Workspace;

/// One table of the lake.
#[derive(Clone, Debug, Serialize)]
pub struct TableSummary {
    pub name: String,
    /// `append` or `primary-key`.
    pub kind: &'static str,
    pub columns: usize,
    /// The latest snapshot; `None` for a table never written.
    pub snapshot: Option<i64>,
}

/// Every table of the lake, by name.
pub async fn tables(ws: &Workspace) -> Result<Vec<TableSummary>> {
    let lake = ws.lake().await?;
    let mut out = Vec::new();
    for n in lake.list_tables().await? {
        let t = lake.table(&n).await?;
        out.push(TableSummary {
            name: n.to_string(),
            kind: if t.schema().primary_keys().is_empty() {
                "append"
            } else {
                "primary-key"
            },
            columns: t.schema().fields().len(),
            snapshot: lake.latest_snapshot(&n).await?,
        });
    }
    Ok(out)
}

/// Names a snapshot of a table so SQL can read it with `VERSION AS OF 'tag'` and
/// `maintain` keeps its files.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TagRequest {
    pub table: String,
    pub tag: String,
    /// The snapshot to tag; the latest when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<i64>,
}

/// The tagged snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct TagReport {
    pub table: String,
    pub tag: String,
    pub snapshot: Option<i64>,
    pub run: i64,
}

/// Tags the snapshot, recorded as a run (`tag`).
pub async fn tag(ws: &Workspace, req: &TagRequest) -> Result<TagReport> {
    let lake = ws.lake().await?;
    let name = ws.table_name(&req.table)?;
    let run = ws.start_run("tag")?;
    let result = async {
        run.request(req)?;
        lake.create_tag(&name, &req.tag, req.snapshot).await?;
        let snapshot = match req.snapshot {
            Some(s) => Some(s),
            None => lake.latest_snapshot(&name).await?,
        };
        run.output(&name.to_string(), snapshot, None)?;
        Ok(snapshot)
    }
    .await;
    let id = run.id();
    let snapshot = run.finish(result)?;
    Ok(TagReport {
        table: name.to_string(),
        tag: req.tag.clone(),
        snapshot,
        run: id,
    })
}
