//! The lake: a Paimon filesystem catalog in the home's warehouse folder.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use paimon::spec::Schema as PaimonSchema;
use paimon::{Catalog, CatalogOptions, FileSystemCatalog, Options, Table, TableCommit, TableWrite};
use serde::Serialize;

use risklake_core::error::ResultExt;
use risklake_core::{Error, Result};

use crate::conform::conform;
use crate::lock::CommitLock;
use crate::names::{TableName, DEFAULT_DATABASE};

/// How a write meets the rows already in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Add rows (on a primary-key table, rows with an existing key replace it).
    Append,
    /// Replace all rows of the table in one snapshot.
    Overwrite,
    /// Insert or replace by primary key; the table must have one.
    Upsert,
}

impl WriteMode {
    /// Parses `append`, `overwrite` or `upsert`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "append" => Ok(WriteMode::Append),
            "overwrite" => Ok(WriteMode::Overwrite),
            "upsert" => Ok(WriteMode::Upsert),
            _ => Err(Error::invalid(format!(
                "unknown write mode {s:?}; expected append, overwrite or upsert"
            ))),
        }
    }
}

/// How to create a table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableSpec {
    /// Primary-key columns; empty for an append-only table.
    pub primary_key: Vec<String>,
    /// Partition columns.
    pub partition_by: Vec<String>,
    /// Paimon table options (e.g. `bucket`, `file.format`).
    pub options: BTreeMap<String, String>,
}

/// What a committed write did.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct WriteSummary {
    pub table: String,
    pub mode: WriteMode,
    pub rows: u64,
    /// The snapshot the write created (`None` when nothing was written).
    pub snapshot: Option<i64>,
}

/// The lake: a Paimon catalog over a warehouse folder.
#[derive(Clone)]
pub struct Lake {
    warehouse: PathBuf,
    catalog: Arc<dyn Catalog>,
    /// Where a table name without a database is (`default`, or a project's own).
    home_database: String,
    /// The only databases this lake shows (a shared server's project); SQL that reaches
    /// the server's filesystem (external tables, COPY TO) is refused too.
    confined: Option<Arc<std::collections::BTreeSet<String>>>,
}

impl Lake {
    /// Opens (creating if needed) the warehouse at `warehouse` and its `default` database.
    pub async fn open(warehouse: &Path) -> Result<Self> {
        std::fs::create_dir_all(warehouse)
            .map_err(|e| Error::io(format!("creating warehouse {}", warehouse.display()), e))?;
        let warehouse = warehouse
            .canonicalize()
            .map_err(|e| Error::io(format!("resolving warehouse {}", warehouse.display()), e))?;
        let mut options = Options::new();
        options.set(CatalogOptions::WAREHOUSE, warehouse.to_string_lossy().to_string());
        let catalog = FileSystemCatalog::new(options).context("opening the Paimon catalog")?;
        let lake = Lake {
            warehouse,
            catalog: Arc::new(catalog),
            home_database: DEFAULT_DATABASE.to_string(),
            confined: None,
        };
        lake.ensure_database(DEFAULT_DATABASE).await?;
        // Best effort: a warehouse this process may not write cannot be cleaned, and
        // reading it must still work.
        let _ = lake.drop_abandoned_tables().await;
        Ok(lake)
    }

    /// Drops the tables that writes created and never committed to because their process
    /// died (SIGKILL, a crash): an empty table nobody asked for must not stay visible.
    /// Tables of live writers, of other hosts, and tables created by `CREATE TABLE` (no
    /// marker) are left alone.
    async fn drop_abandoned_tables(&self) -> Result<()> {
        let Ok(entries) = std::fs::read_dir(self.warehouse.join(".locks")) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().to_string();
            let Some(stem) = file.strip_suffix(".creating") else {
                continue;
            };
            let owner = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let gone = risklake_core::process::Owner::parse(owner.trim()).is_some_and(|o| o.is_gone());
            let Ok(name) = TableName::parse(stem) else { continue };
            if !gone {
                continue;
            }
            let _lock = self.lock(&name).await?;
            // Re-read under the lock: another process may have handled it meanwhile.
            if !entry.path().exists() {
                continue;
            }
            if self.exists(&name).await? && self.latest_snapshot(&name).await?.is_none() {
                self.drop_table_locked(&name, true).await?;
            }
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(())
    }

    /// Marks `name` as created by this process's unfinished write (see
    /// [`crate::lock::creating_path`]).
    fn mark_creating(&self, name: &TableName) -> Result<()> {
        let path = crate::lock::creating_path(&self.warehouse, name);
        std::fs::write(&path, risklake_core::process::Owner::current().to_string())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// The write that created `name` has finished (committed, or chose to leave it empty).
    fn unmark_creating(&self, name: &TableName) {
        let _ = std::fs::remove_file(crate::lock::creating_path(&self.warehouse, name));
    }

    /// The same lake, table names without a database being in `database` (created if
    /// missing and this process may write the warehouse).
    pub async fn with_home_database(mut self, database: &str) -> Result<Self> {
        TableName::parse_in("t", database)?;
        if database != self.home_database {
            // Best effort: a read-only warehouse still reads.
            let _ = self.ensure_database(database).await;
            self.home_database = database.to_string();
        }
        Ok(self)
    }

    /// The same lake seen by one project: only `databases` exist for it (the first is its
    /// home), every other database answers as missing, and SQL may not reach files
    /// (external tables, COPY TO). What a shared server gives a token.
    pub async fn confined_to(self, databases: &[String]) -> Result<Self> {
        let home = databases
            .first()
            .ok_or_else(|| Error::invalid("a confined lake needs at least one database"))?
            .clone();
        let lake = self.with_home_database(&home).await?;
        let seen: Arc<std::collections::BTreeSet<String>> = Arc::new(databases.iter().cloned().collect());
        Ok(Lake {
            catalog: Arc::new(crate::scope::ScopedCatalog::new(lake.catalog.clone(), seen.clone())),
            confined: Some(seen),
            ..lake
        })
    }

    /// Where a table name without a database is.
    pub fn home_database(&self) -> &str {
        &self.home_database
    }

    /// Whether this lake is confined to a project's databases.
    pub fn is_confined(&self) -> bool {
        self.confined.is_some()
    }

    /// Parses a table name, one without a database being in the home database.
    pub fn name(&self, s: &str) -> Result<TableName> {
        TableName::parse_in(s, &self.home_database)
    }

    /// The warehouse folder.
    pub fn warehouse(&self) -> &Path {
        &self.warehouse
    }

    /// The Paimon catalog, for callers that need the native API.
    pub fn catalog(&self) -> Arc<dyn Catalog> {
        self.catalog.clone()
    }

    /// Creates a database if it does not exist.
    pub async fn ensure_database(&self, name: &str) -> Result<()> {
        match self.catalog.get_database(name).await {
            Ok(_) => Ok(()),
            Err(paimon::Error::DatabaseNotExist { .. }) => self
                .catalog
                .create_database(name, true, HashMap::new())
                .await
                .with_context(|| format!("creating database {name}")),
            Err(e) => Err(Error::external(format!("opening database {name}"), e)),
        }
    }

    /// All tables of all databases, sorted.
    pub async fn list_tables(&self) -> Result<Vec<TableName>> {
        let mut out = Vec::new();
        for db in self.catalog.list_databases().await.context("listing databases")? {
            for t in self
                .catalog
                .list_tables(&db)
                .await
                .with_context(|| format!("listing tables of {db}"))?
            {
                out.push(TableName {
                    database: db.clone(),
                    table: t,
                });
            }
        }
        out.sort();
        Ok(out)
    }

    /// Whether the table exists.
    pub async fn exists(&self, name: &TableName) -> Result<bool> {
        match self.catalog.get_table(&name.identifier()).await {
            Ok(_) => Ok(true),
            Err(paimon::Error::TableNotExist { .. }) | Err(paimon::Error::DatabaseNotExist { .. }) => Ok(false),
            Err(e) => Err(Error::external(format!("looking up table {name}"), e)),
        }
    }

    /// The Paimon table.
    pub async fn table(&self, name: &TableName) -> Result<Table> {
        match self.catalog.get_table(&name.identifier()).await {
            Ok(t) => Ok(t),
            Err(paimon::Error::TableNotExist { .. }) | Err(paimon::Error::DatabaseNotExist { .. }) => {
                Err(Error::not_found("table", name.to_string()))
            }
            Err(e) => Err(Error::external(format!("opening table {name}"), e)),
        }
    }

    /// The table's Arrow schema (what writes must match and reads return).
    pub async fn arrow_schema(&self, name: &TableName) -> Result<SchemaRef> {
        let table = self.table(name).await?;
        table_arrow_schema(&table, name)
    }

    /// Holds the cross-process commit lock of a table (see [`crate::lock`]) until the
    /// returned guard is dropped.
    pub async fn lock(&self, name: &TableName) -> Result<CommitLock> {
        // A confined lake takes no lock (leaves no lock file) outside its databases.
        if self
            .confined
            .as_ref()
            .is_some_and(|seen| !seen.contains(&name.database))
        {
            return Err(Error::not_found("table", name.to_string()));
        }
        CommitLock::acquire(&self.warehouse, name).await
    }

    /// Creates a table with the columns of `schema`. Primary-key columns become NOT NULL.
    /// An error if the table exists.
    pub async fn create_table(&self, name: &TableName, schema: &Schema, spec: &TableSpec) -> Result<()> {
        let _lock = self.lock(name).await?;
        if self.exists(name).await? {
            return Err(Error::invalid(format!("table {name} already exists")));
        }
        self.create_table_locked(name, schema, spec).await
    }

    /// Creates the table unless it exists; returns whether this call created it. A table
    /// that another writer created meanwhile is used when it has the same columns (names
    /// and types), and the primary key and partitioning `spec` asks for; otherwise the
    /// error says how they differ.
    pub async fn create_table_if_absent(&self, name: &TableName, schema: &Schema, spec: &TableSpec) -> Result<bool> {
        let _lock = self.lock(name).await?;
        if !self.exists(name).await? {
            self.mark_creating(name)?;
            if let Err(e) = self.create_table_locked(name, schema, spec).await {
                self.unmark_creating(name);
                return Err(e);
            }
            return Ok(true);
        }
        let table = self.table(name).await?;
        let existing = table_arrow_schema(&table, name)?;
        let describe = |s: &Schema| {
            s.fields()
                .iter()
                .map(|f| format!("{} {}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let same_columns = existing.fields().len() == schema.fields().len()
            && existing
                .fields()
                .iter()
                .zip(schema.fields())
                .all(|(a, b)| a.name().eq_ignore_ascii_case(b.name()) && a.data_type() == b.data_type());
        if !same_columns {
            return Err(Error::invalid(format!(
                "table {name} was created by another writer with columns ({}), not ({}) as this write's",
                describe(&existing),
                describe(schema)
            )));
        }
        let ts = table.schema();
        if !spec.primary_key.is_empty() && ts.primary_keys() != spec.primary_key.as_slice() {
            return Err(Error::invalid(format!(
                "table {name} exists with primary key [{}], not [{}]",
                ts.primary_keys().join(", "),
                spec.primary_key.join(", ")
            )));
        }
        if !spec.partition_by.is_empty() && ts.partition_keys() != spec.partition_by.as_slice() {
            return Err(Error::invalid(format!(
                "table {name} exists partitioned by [{}], not [{}]",
                ts.partition_keys().join(", "),
                spec.partition_by.join(", ")
            )));
        }
        Ok(false)
    }

    /// Drops a table that has never been committed to (a write that created it failed);
    /// a table that another writer has committed to meanwhile is kept. Returns whether
    /// it was dropped.
    pub async fn drop_if_unwritten(&self, name: &TableName) -> Result<bool> {
        let _lock = self.lock(name).await?;
        if !self.exists(name).await? {
            return Ok(false);
        }
        if self.latest_snapshot(name).await?.is_some() {
            return Ok(false);
        }
        self.drop_table_locked(name, true).await?;
        Ok(true)
    }

    async fn create_table_locked(&self, name: &TableName, schema: &Schema, spec: &TableSpec) -> Result<()> {
        if schema.fields().is_empty() {
            return Err(Error::invalid(format!("cannot create table {name} without columns")));
        }
        for key in spec.primary_key.iter().chain(&spec.partition_by) {
            if schema.field_with_name(key).is_err() {
                return Err(Error::invalid(format!(
                    "column {key} (named as primary key or partition) is not among the columns of {name}: {}",
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for f in schema.fields() {
            if !seen.insert(f.name().to_ascii_lowercase()) {
                return Err(Error::invalid(format!(
                    "column {} appears twice in the schema of {name}",
                    f.name()
                )));
            }
        }
        self.ensure_database(&name.database).await?;
        let mut builder = PaimonSchema::builder();
        for f in schema.fields() {
            let nullable = f.is_nullable() && !spec.primary_key.contains(f.name());
            let dt = paimon::arrow::arrow_to_paimon_type(f.data_type(), nullable).with_context(|| {
                format!(
                    "column {} of {name} has type {} which Paimon cannot store",
                    f.name(),
                    f.data_type()
                )
            })?;
            builder = builder.column(f.name().clone(), dt);
        }
        if !spec.primary_key.is_empty() {
            builder = builder.primary_key(spec.primary_key.clone());
        }
        if !spec.partition_by.is_empty() {
            builder = builder.partition_keys(spec.partition_by.clone());
        }
        let mut options = spec.options.clone();
        options.entry("file.format".into()).or_insert_with(|| "parquet".into());
        builder = builder.options(options);
        let paimon_schema = builder.build().with_context(|| format!("defining table {name}"))?;
        match self
            .catalog
            .create_table(&name.identifier(), paimon_schema, false)
            .await
        {
            Ok(()) => Ok(()),
            Err(paimon::Error::TableAlreadyExist { .. }) => Err(Error::invalid(format!("table {name} already exists"))),
            Err(e) => Err(Error::external(format!("creating table {name}"), e)),
        }
    }

    /// Drops a table (its files are deleted).
    pub async fn drop_table(&self, name: &TableName, if_exists: bool) -> Result<()> {
        let _lock = self.lock(name).await?;
        self.drop_table_locked(name, if_exists).await
    }

    async fn drop_table_locked(&self, name: &TableName, if_exists: bool) -> Result<()> {
        self.unmark_creating(name);
        match self.catalog.drop_table(&name.identifier(), if_exists).await {
            Ok(()) => Ok(()),
            Err(paimon::Error::TableNotExist { .. }) => Err(Error::not_found("table", name.to_string())),
            Err(e) => Err(Error::external(format!("dropping table {name}"), e)),
        }
    }

    /// Starts an atomic write: nothing is visible until [`TableWriter::commit`]; dropping
    /// the writer (or an error) leaves the table at its previous snapshot.
    pub async fn writer(&self, name: &TableName, mode: WriteMode) -> Result<TableWriter> {
        let table = self.table(name).await?;
        let has_pk = !table.schema().primary_keys().is_empty();
        if mode == WriteMode::Upsert && !has_pk {
            return Err(Error::invalid(format!(
                "upsert needs a primary key, and table {name} has none; use --mode append or create it with --primary-key"
            )));
        }
        let schema = table_arrow_schema(&table, name)?;
        let mut builder = table.new_write_builder();
        if mode == WriteMode::Overwrite {
            builder = builder.with_overwrite();
        }
        let commit_user = builder.commit_user().to_string();
        let write = builder
            .new_write()
            .with_context(|| format!("starting a write to {name}"))?;
        Ok(TableWriter {
            name: name.clone(),
            lake: self.clone(),
            table,
            write,
            commit_user,
            mode,
            schema,
            rows: 0,
        })
    }

    /// Writes all `batches` in one atomic commit, creating the table from the first
    /// batch's schema if it does not exist.
    pub async fn write_batches(
        &self,
        name: &TableName,
        mode: WriteMode,
        spec: &TableSpec,
        batches: &[RecordBatch],
    ) -> Result<WriteSummary> {
        if !self.exists(name).await? {
            let schema = batches
                .first()
                .map(|b| b.schema())
                .ok_or_else(|| Error::invalid(format!("no rows and no schema to create table {name} from")))?;
            self.create_table_if_absent(name, &schema, spec).await?;
        }
        let mut w = self.writer(name, mode).await?;
        for b in batches {
            w.write(b).await?;
        }
        w.commit().await
    }

    /// Tags a snapshot (the latest when `snapshot` is `None`) so SQL can read it with
    /// `VERSION AS OF 'tag'`.
    pub async fn create_tag(&self, name: &TableName, tag: &str, snapshot: Option<i64>) -> Result<()> {
        self.catalog
            .create_tag(&name.identifier(), tag, snapshot, false)
            .await
            .with_context(|| format!("tagging table {name} as {tag}"))
    }

    /// The latest snapshot id, `None` for a table never written.
    pub async fn latest_snapshot(&self, name: &TableName) -> Result<Option<i64>> {
        let table = self.table(name).await?;
        table
            .snapshot_manager()
            .get_latest_snapshot_id()
            .await
            .with_context(|| format!("reading snapshots of {name}"))
    }

    /// Whether `snapshot` of the table can still be read (not expired).
    pub async fn snapshot_exists(&self, name: &TableName, snapshot: i64) -> Result<bool> {
        let table = self.table(name).await?;
        Ok(table.snapshot_manager().get_snapshot(snapshot).await.is_ok())
    }
}

pub(crate) fn table_arrow_schema(table: &Table, name: &TableName) -> Result<SchemaRef> {
    paimon::arrow::build_target_arrow_schema(table.schema().fields())
        .with_context(|| format!("reading the schema of {name}"))
        .map(|s| {
            // Keep field names and nullability; drop Paimon's field-id metadata so that
            // batches we build compare equal to the schema.
            Arc::new(Schema::new(
                s.fields()
                    .iter()
                    .map(|f| Field::new(f.name(), f.data_type().clone(), f.is_nullable()))
                    .collect::<Vec<_>>(),
            ))
        })
}

/// An open, uncommitted write to one table.
pub struct TableWriter {
    name: TableName,
    lake: Lake,
    table: Table,
    write: TableWrite,
    commit_user: String,
    mode: WriteMode,
    schema: SchemaRef,
    rows: u64,
}

impl TableWriter {
    /// The table's schema; written batches are fitted to it by column name.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes one batch (fitted to the table's schema by column name).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let name = self.name.to_string();
        let batch = conform(batch, &self.schema, &name)?;
        self.write
            .write_arrow_batch(&batch)
            .await
            .with_context(|| format!("writing to table {name}"))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Commits everything written as one snapshot.
    pub async fn commit(self) -> Result<WriteSummary> {
        self.commit_inner(None).await
    }

    /// Commits while the caller already holds the table's commit lock (taken before it
    /// read what it rewrites, so no other risklake commit lands in between).
    pub async fn commit_holding(self, lock: &crate::lock::CommitLock) -> Result<WriteSummary> {
        self.commit_inner(Some(lock)).await
    }

    async fn commit_inner(mut self, held: Option<&crate::lock::CommitLock>) -> Result<WriteSummary> {
        let name = self.name.to_string();
        let messages = self
            .write
            .prepare_commit()
            .await
            .with_context(|| format!("flushing the write to {name}"))?;
        if self.rows == 0 && self.mode != WriteMode::Overwrite {
            // An empty write that created the table leaves it empty on purpose.
            self.lake.unmark_creating(&self.name);
            return Ok(WriteSummary {
                table: name,
                mode: self.mode,
                rows: 0,
                snapshot: None,
            });
        }
        // Under the table's commit lock, paimon's "snapshot N+1 does not exist yet" check
        // and its rename onto that name are one step for every risklake writer; its retry
        // loop re-reads the latest snapshot and re-applies the conflict rules.
        let _lock = match held {
            Some(_) => None,
            None => Some(self.lake.lock(&self.name).await?),
        };
        if !self.lake.exists(&self.name).await? {
            return Err(Error::invalid(format!(
                "table {name} was dropped while this write ran; nothing was committed"
            )));
        }
        let commit = TableCommit::new(self.table.clone(), self.commit_user.clone());
        let result = if self.mode == WriteMode::Overwrite {
            // An empty partition spec matches every partition: the whole table is replaced.
            let static_partitions = if self.table.schema().partition_keys().is_empty() {
                None
            } else {
                Some(HashMap::new())
            };
            commit.overwrite(messages, static_partitions).await
        } else {
            commit.commit(messages).await
        };
        result.with_context(|| format!("committing to table {name}"))?;
        self.lake.unmark_creating(&self.name);
        let snapshot = self
            .table
            .snapshot_manager()
            .get_latest_snapshot_id()
            .await
            .with_context(|| format!("reading the new snapshot of {name}"))?;
        Ok(WriteSummary {
            table: name,
            mode: self.mode,
            rows: self.rows,
            snapshot,
        })
    }
}
