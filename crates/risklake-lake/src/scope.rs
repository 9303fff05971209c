//! A lake seen by one project: a Paimon catalog that shows only some databases.
//!
//! A shared server confines each token to its project's databases. The confinement sits
//! in the catalog, under everything that reaches a table (listing, SQL planning, reads,
//! writes, tags), so no path around it exists: a database outside the scope answers as
//! one that does not exist, and creating one is refused.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use paimon::api::{GetTagResponse, PagedList};
use paimon::catalog::{Database, Function, Identifier, LoadedTable, View, ViewSchema};
use paimon::spec::{Partition, PartitionStatistics, Schema, SchemaChange};
use paimon::table::Table;
use paimon::{Catalog, Error, Result};

/// The databases a scope may see.
pub(crate) struct ScopedCatalog {
    inner: Arc<dyn Catalog>,
    /// The lake's own set (see `Lake::confined_to`), shared.
    databases: Arc<BTreeSet<String>>,
}

impl ScopedCatalog {
    pub(crate) fn new(inner: Arc<dyn Catalog>, databases: Arc<BTreeSet<String>>) -> Self {
        ScopedCatalog { inner, databases }
    }

    /// Refuses a database outside the scope as one that does not exist (its existence
    /// is not the caller's to learn).
    fn see(&self, database: &str) -> Result<()> {
        if self.databases.contains(database) {
            Ok(())
        } else {
            Err(Error::DatabaseNotExist {
                database: database.to_string(),
            })
        }
    }

    fn see_table(&self, id: &Identifier) -> Result<()> {
        self.see(id.database())
    }
}

#[async_trait]
impl Catalog for ScopedCatalog {
    async fn list_databases(&self) -> Result<Vec<String>> {
        let mut all = self.inner.list_databases().await?;
        all.retain(|d| self.databases.contains(d));
        Ok(all)
    }

    async fn create_database(
        &self,
        name: &str,
        ignore_if_exists: bool,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        if !self.databases.contains(name) {
            return Err(Error::ConfigInvalid {
                message: format!(
                    "database {name} is outside this project's lake (a project creates tables in its own database)"
                ),
            });
        }
        self.inner.create_database(name, ignore_if_exists, properties).await
    }

    async fn get_database(&self, name: &str) -> Result<Database> {
        self.see(name)?;
        self.inner.get_database(name).await
    }

    async fn drop_database(&self, name: &str, ignore_if_not_exists: bool, cascade: bool) -> Result<()> {
        self.see(name)?;
        self.inner.drop_database(name, ignore_if_not_exists, cascade).await
    }

    async fn get_table(&self, identifier: &Identifier) -> Result<Table> {
        self.see_table(identifier)?;
        self.inner.get_table(identifier).await
    }

    async fn load_table(&self, identifier: &Identifier) -> Result<LoadedTable> {
        self.see_table(identifier)?;
        self.inner.load_table(identifier).await
    }

    async fn list_tables(&self, database_name: &str) -> Result<Vec<String>> {
        self.see(database_name)?;
        self.inner.list_tables(database_name).await
    }

    async fn create_table(&self, identifier: &Identifier, creation: Schema, ignore_if_exists: bool) -> Result<()> {
        self.see_table(identifier)?;
        self.inner.create_table(identifier, creation, ignore_if_exists).await
    }

    async fn drop_table(&self, identifier: &Identifier, ignore_if_not_exists: bool) -> Result<()> {
        self.see_table(identifier)?;
        self.inner.drop_table(identifier, ignore_if_not_exists).await
    }

    async fn rename_table(&self, from: &Identifier, to: &Identifier, ignore_if_not_exists: bool) -> Result<()> {
        self.see_table(from)?;
        self.see_table(to)?;
        self.inner.rename_table(from, to, ignore_if_not_exists).await
    }

    async fn alter_table(
        &self,
        identifier: &Identifier,
        changes: Vec<SchemaChange>,
        ignore_if_not_exists: bool,
    ) -> Result<()> {
        self.see_table(identifier)?;
        self.inner.alter_table(identifier, changes, ignore_if_not_exists).await
    }

    async fn create_tag(
        &self,
        identifier: &Identifier,
        tag_name: &str,
        snapshot_id: Option<i64>,
        ignore_if_exists: bool,
    ) -> Result<()> {
        self.see_table(identifier)?;
        self.inner
            .create_tag(identifier, tag_name, snapshot_id, ignore_if_exists)
            .await
    }

    async fn create_tag_with_retention(
        &self,
        identifier: &Identifier,
        tag_name: &str,
        snapshot_id: Option<i64>,
        time_retained: Option<&str>,
        ignore_if_exists: bool,
    ) -> Result<()> {
        self.see_table(identifier)?;
        self.inner
            .create_tag_with_retention(identifier, tag_name, snapshot_id, time_retained, ignore_if_exists)
            .await
    }

    async fn get_tag(&self, identifier: &Identifier, tag_name: &str) -> Result<GetTagResponse> {
        self.see_table(identifier)?;
        self.inner.get_tag(identifier, tag_name).await
    }

    async fn delete_tag(&self, identifier: &Identifier, tag_name: &str, ignore_if_not_exists: bool) -> Result<()> {
        self.see_table(identifier)?;
        self.inner.delete_tag(identifier, tag_name, ignore_if_not_exists).await
    }

    async fn create_view(&self, identifier: &Identifier, schema: ViewSchema, ignore_if_exists: bool) -> Result<()> {
        self.see_table(identifier)?;
        self.inner.create_view(identifier, schema, ignore_if_exists).await
    }

    async fn drop_view(&self, identifier: &Identifier, ignore_if_not_exists: bool) -> Result<()> {
        self.see_table(identifier)?;
        self.inner.drop_view(identifier, ignore_if_not_exists).await
    }

    async fn list_views(&self, database_name: &str) -> Result<Vec<String>> {
        self.see(database_name)?;
        self.inner.list_views(database_name).await
    }

    async fn get_view(&self, identifier: &Identifier) -> Result<View> {
        self.see_table(identifier)?;
        self.inner.get_view(identifier).await
    }

    async fn create_function(&self, function: &Function, ignore_if_exists: bool) -> Result<()> {
        self.see_table(function.identifier())?;
        self.inner.create_function(function, ignore_if_exists).await
    }

    async fn list_functions(&self, database_name: &str) -> Result<Vec<String>> {
        self.see(database_name)?;
        self.inner.list_functions(database_name).await
    }

    async fn get_function(&self, identifier: &Identifier) -> Result<Function> {
        self.see_table(identifier)?;
        self.inner.get_function(identifier).await
    }

    async fn create_partitions_with_statistics(
        &self,
        identifier: &Identifier,
        partition_specs: Vec<HashMap<String, String>>,
        ignore_if_exists: bool,
        statistics: Option<Vec<PartitionStatistics>>,
        replace_statistics: bool,
    ) -> Result<()> {
        self.see_table(identifier)?;
        self.inner
            .create_partitions_with_statistics(
                identifier,
                partition_specs,
                ignore_if_exists,
                statistics,
                replace_statistics,
            )
            .await
    }

    async fn drop_partitions(
        &self,
        identifier: &Identifier,
        partition_specs: Vec<HashMap<String, String>>,
    ) -> Result<()> {
        self.see_table(identifier)?;
        self.inner.drop_partitions(identifier, partition_specs).await
    }

    async fn list_partitions_by_names(
        &self,
        identifier: &Identifier,
        partition_specs: Vec<HashMap<String, String>>,
    ) -> Result<Vec<Partition>> {
        self.see_table(identifier)?;
        self.inner.list_partitions_by_names(identifier, partition_specs).await
    }

    async fn list_partitions(&self, identifier: &Identifier) -> Result<Vec<Partition>> {
        self.see_table(identifier)?;
        self.inner.list_partitions(identifier).await
    }

    async fn list_partitions_paged(
        &self,
        identifier: &Identifier,
        max_results: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<PagedList<Partition>> {
        self.see_table(identifier)?;
        self.inner
            .list_partitions_paged(identifier, max_results, page_token)
            .await
    }
}
