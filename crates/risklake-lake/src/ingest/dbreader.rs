//! Opening a database source with its engine's reader (PostgreSQL or MySQL / MariaDB),
//! and streaming its rows as batches.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use risklake_core::Result;

use super::db::{DatabaseSource, DbEngine};
use super::mysql::MySqlReader;
use super::postgres::PgReader;
use super::ReadOptions;

impl DatabaseSource {
    /// Connects, fixes the snapshot and the row range, and starts streaming.
    pub async fn open(&self, opts: &ReadOptions) -> Result<DbReader> {
        Ok(match self.engine {
            DbEngine::Postgres => DbReader::Pg(super::postgres::open(self, opts).await?),
            DbEngine::MySql => DbReader::My(super::mysql::open(self, opts).await?),
        })
    }
}

/// Streams the rows of an opened database source as batches.
pub enum DbReader {
    Pg(PgReader),
    My(MySqlReader),
}

impl DbReader {
    pub fn schema(&self) -> SchemaRef {
        match self {
            DbReader::Pg(r) => r.schema(),
            DbReader::My(r) => r.schema(),
        }
    }

    pub fn rows(&self) -> u64 {
        match self {
            DbReader::Pg(r) => r.rows(),
            DbReader::My(r) => r.rows(),
        }
    }

    /// The next batch, `None` when all rows are read (the transaction is then closed).
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        match self {
            DbReader::Pg(r) => r.next_batch().await,
            DbReader::My(r) => r.next_batch().await,
        }
    }
}
