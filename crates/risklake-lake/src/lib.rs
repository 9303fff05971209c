//! risklake's data lake: Apache Paimon tables on a local (or object-store) warehouse,
//! queried with SQL through Apache DataFusion, and fed by ingest connectors.
//!
//! This is the only crate that depends on the SQL engine; the ML crates take Arrow
//! batches from it and never see DataFusion.
//!
//! ```no_run
//! # async fn demo() -> risklake_core::Result<()> {
//! use risklake_lake::{Lake, TableName, TableSpec, WriteMode};
//! let lake = Lake::open(std::path::Path::new("risklake-home/warehouse")).await?;
//! let gen = risklake_core::synth::CreditGenerator::new(Default::default())?;
//! let name = TableName::parse("default.loans")?;
//! lake.create_table(&name, &gen.schema(), &TableSpec::default()).await?;
//! let mut w = lake.writer(&name, WriteMode::Append).await?;
//! for batch in gen.batches(8192) {
//!     w.write(&batch?).await?;
//! }
//! let done = w.commit().await?; // one atomic snapshot
//! let sql = lake.sql().await?;
//! let out = sql.query("SELECT month, AVG(bad) FROM loans GROUP BY month").await?;
//! # Ok(()) }
//! ```

pub mod conform;
mod describe;
pub mod files;
pub mod ingest;
mod lake;
pub mod lock;
pub mod maintain;
mod names;
mod scope;
pub mod sql;

pub use describe::{ColumnInfo, SnapshotInfo, TableInfo};
pub use lake::{Lake, TableSpec, TableWriter, WriteMode, WriteSummary};
pub use names::{FileFormat, TableName, TableRef, DEFAULT_DATABASE};
pub use sql::{SqlResult, SqlSession};
