//! What `describe` shows of a table (schema, options, snapshots, tags, row count), and a
//! SQL session over the lake. Kept apart from the catalog so that the lake does not depend
//! on the SQL engine that is built on it.

use std::collections::BTreeMap;

use paimon::spec::CommitKind;
use serde::Serialize;

use risklake_core::error::ResultExt;
use risklake_core::Result;

use crate::lake::Lake;
use crate::names::TableName;
use crate::sql::SqlSession;

/// One snapshot of a table.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotInfo {
    pub id: i64,
    pub kind: String,
    pub committed_at: String,
    pub total_records: Option<i64>,
    pub delta_records: Option<i64>,
    pub schema_id: i64,
}

/// A column of a table.
#[derive(Clone, Debug, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    /// Paimon type (as Spark/Flink show it).
    pub r#type: String,
    pub nullable: bool,
}

/// What `describe` shows of a table.
#[derive(Clone, Debug, Serialize)]
pub struct TableInfo {
    pub name: String,
    pub kind: String,
    pub location: String,
    pub columns: Vec<ColumnInfo>,
    pub primary_key: Vec<String>,
    pub partition_by: Vec<String>,
    pub options: BTreeMap<String, String>,
    pub rows: u64,
    pub snapshots: Vec<SnapshotInfo>,
    pub tags: Vec<String>,
}

impl Lake {
    /// Schema, options, snapshots and tags of a table, and its row count.
    pub async fn describe(&self, name: &TableName) -> Result<TableInfo> {
        let table = self.table(name).await?;
        let schema = table.schema();
        let columns = schema
            .fields()
            .iter()
            .map(|f| ColumnInfo {
                name: f.name().to_string(),
                r#type: paimon_type_name(f.data_type()),
                nullable: f.data_type().is_nullable(),
            })
            .collect();
        let snapshots = table
            .snapshot_manager()
            .list_all()
            .await
            .with_context(|| format!("listing snapshots of {name}"))?
            .into_iter()
            .map(|s| SnapshotInfo {
                id: s.id(),
                kind: commit_kind_name(s.commit_kind()).to_string(),
                committed_at: chrono::DateTime::from_timestamp_millis(s.time_millis() as i64)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
                total_records: s.total_record_count(),
                delta_records: s.delta_record_count(),
                schema_id: s.schema_id(),
            })
            .collect();
        let tags = table
            .tag_manager()
            .list_all_names()
            .await
            .with_context(|| format!("listing tags of {name}"))?;
        let sql = SqlSession::new(self).await?;
        let rows = sql.count(name).await?;
        Ok(TableInfo {
            name: name.to_string(),
            kind: if schema.primary_keys().is_empty() {
                "append"
            } else {
                "primary-key"
            }
            .to_string(),
            location: table.location().to_string(),
            columns,
            primary_key: schema.primary_keys().to_vec(),
            partition_by: schema.partition_keys().to_vec(),
            options: schema.options().iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            rows,
            snapshots,
            tags,
        })
    }

    /// A SQL session over this lake.
    pub async fn sql(&self) -> Result<SqlSession> {
        SqlSession::new(self).await
    }
}

fn commit_kind_name(kind: &CommitKind) -> &'static str {
    match kind {
        CommitKind::APPEND => "append",
        CommitKind::COMPACT => "compact",
        CommitKind::OVERWRITE => "overwrite",
        _ => "other",
    }
}

fn paimon_type_name(dt: &paimon::spec::DataType) -> String {
    // Paimon's JSON form of a type is the SQL spelling ("BIGINT NOT NULL"); we show the
    // nullability separately.
    let s = serde_json::to_value(dt)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{dt:?}"));
    s.trim_end_matches(" NOT NULL").to_string()
}
