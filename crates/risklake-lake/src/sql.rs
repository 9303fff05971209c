//! SQL over the lake through Apache DataFusion (with paimon-datafusion's catalog).
//!
//! Tables are addressed as `table`, `db.table` or `paimon.db.table`. On top of what
//! paimon-datafusion runs (SELECT, INSERT INTO/OVERWRITE, CREATE TABLE, ALTER, time travel
//! with `VERSION AS OF`, `CALL sys.create_tag`, system tables like `"t$snapshots"`), this
//! session adds `CREATE TABLE ... [WITH ('primary-key' = 'a', 'partition' = 'b')] AS
//! SELECT ...` (one atomic commit), scripts of several statements, and data files as
//! tables.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::execution::SendableRecordBatchStream;

/// A stream of record batches from a query or scan (DataFusion's, named here so callers
/// need not depend on DataFusion).
pub type BatchStream = SendableRecordBatchStream;

/// The schema of a batch stream.
pub fn stream_schema(stream: &BatchStream) -> SchemaRef {
    stream.schema()
}
use datafusion::prelude::ParquetReadOptions;
use datafusion::sql::sqlparser::ast::{
    AlterTableOperation, CreateTableOptions, FromTable, ObjectName, RenameTableNameKind, SchemaName, SqlOption,
    Statement, TableFactor, TableObject,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use futures::TryStreamExt;
use paimon_datafusion::SQLContext;

use risklake_core::error::ResultExt;
use risklake_core::{Error, Result};

use crate::lake::{Lake, TableSpec, WriteMode};
use crate::names::{FileFormat, TableName, TableRef};

/// The result of one statement.
#[derive(Debug, Clone)]
pub struct SqlResult {
    /// The statement as given.
    pub statement: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl SqlResult {
    /// Number of result rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// A SQL session over a lake.
pub struct SqlSession {
    ctx: SQLContext,
    lake: Lake,
    temp_counter: std::sync::atomic::AtomicUsize,
}

impl SqlSession {
    /// A session with the lake registered as catalog `paimon`, database `default` current.
    pub async fn new(lake: &Lake) -> Result<Self> {
        let mut ctx = SQLContext::new();
        ctx.register_catalog_with_default_db("paimon", lake.catalog(), Some(lake.home_database()))
            .await
            .context("registering the lake catalog")?;
        Ok(SqlSession {
            ctx,
            lake: lake.clone(),
            temp_counter: Default::default(),
        })
    }

    /// The DataFusion session, for callers that need the DataFrame API.
    pub fn datafusion(&self) -> &datafusion::prelude::SessionContext {
        self.ctx.ctx()
    }

    /// Makes a data file queryable as table `name` for this session.
    pub async fn register_file(&self, name: &str, path: &Path) -> Result<()> {
        if !path.exists() {
            return Err(Error::not_found("file", path.display().to_string()));
        }
        let provider: Arc<dyn datafusion::catalog::TableProvider> = match FileFormat::of(path) {
            Some(FileFormat::Parquet) => {
                let p = path.to_string_lossy().to_string();
                let df = self
                    .ctx
                    .ctx()
                    .read_parquet(p, ParquetReadOptions::default())
                    .await
                    .with_context(|| format!("reading {}", path.display()))?;
                df.into_view()
            }
            Some(_) => {
                let (schema, batches) = crate::ingest::read_file(path, &crate::ingest::ReadOptions::default())?;
                Arc::new(MemTable::try_new(schema, vec![batches]).context("building an in-memory table")?)
            }
            None => return Err(Error::invalid(format!("{}: unknown file type", path.display()))),
        };
        self.ctx
            .register_temp_table(name, provider)
            .with_context(|| format!("registering {} as {name}", path.display()))?;
        Ok(())
    }

    /// Runs one statement and collects its result. A statement that writes lake tables
    /// (INSERT, UPDATE, DELETE, MERGE, TRUNCATE) holds their commit locks while it runs.
    pub async fn query(&self, sql: &str) -> Result<SqlResult> {
        self.check_confined(sql)?;
        check_created_names(sql)?;
        if let Some(result) = self.try_ctas(sql).await? {
            return Ok(result);
        }
        let mut locks = Vec::new();
        for name in written_tables(sql, self.lake.home_database()) {
            locks.push(self.lake.lock(&name).await?);
        }
        let df = self.ctx.sql(sql).await.map_err(|e| sql_error(sql, e))?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(|e| sql_error(sql, e))?;
        Ok(SqlResult {
            statement: sql.to_string(),
            schema,
            batches,
        })
    }

    /// Runs one query and streams its result.
    pub async fn stream(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        self.check_confined(sql)?;
        let df = self.ctx.sql(sql).await.map_err(|e| sql_error(sql, e))?;
        df.execute_stream().await.map_err(|e| sql_error(sql, e))
    }

    /// Runs a script of `;`-separated statements in order, stopping at the first error.
    pub async fn run_script(&self, script: &str) -> Result<Vec<SqlResult>> {
        let mut out = Vec::new();
        for stmt in split_statements(script) {
            out.push(self.query(&stmt).await?);
        }
        Ok(out)
    }

    /// Rows of a lake table (merged by primary key where it has one).
    pub async fn count(&self, name: &TableName) -> Result<u64> {
        let r = self.query(&format!("SELECT COUNT(*) FROM {}", name.sql_ref())).await?;
        let batch = r
            .batches
            .first()
            .ok_or_else(|| Error::invalid("COUNT(*) returned nothing"))?;
        let col = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::UInt64)
            .map_err(|e| Error::arrow("reading a count", e))?;
        use arrow::array::AsArray;
        Ok(col.as_primitive::<arrow::datatypes::UInt64Type>().value(0))
    }

    /// What a query names to read lake table `name` as of `snapshot` (time travel), or
    /// its latest when `None`; not found when the table or the snapshot is missing.
    pub async fn table_source(&self, name: &TableName, snapshot: Option<i64>) -> Result<String> {
        if !self.lake.exists(name).await? {
            return Err(Error::not_found("table", name.to_string()));
        }
        Ok(match snapshot {
            Some(s) => {
                if !self.lake.snapshot_exists(name, s).await? {
                    return Err(Error::not_found(
                        "snapshot",
                        format!("{s} of table {name} (expired, or the table was dropped and created again)"),
                    ));
                }
                format!("{} VERSION AS OF {s}", name.sql_ref())
            }
            None => name.sql_ref(),
        })
    }

    /// Streams a lake table or a data file, optionally only some columns.
    pub async fn scan(&self, table: &TableRef, columns: Option<&[String]>) -> Result<SendableRecordBatchStream> {
        self.scan_at(table, columns, None).await
    }

    /// Streams a lake table as of `snapshot` (time travel; the latest when `None`), or a
    /// data file, optionally only some columns.
    pub async fn scan_at(
        &self,
        table: &TableRef,
        columns: Option<&[String]>,
        snapshot: Option<i64>,
    ) -> Result<SendableRecordBatchStream> {
        let from = match table {
            TableRef::Lake(name) => self.table_source(name, snapshot).await?,
            TableRef::File(path) => {
                let n = self.temp_counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let temp = format!("__file_{n}");
                self.register_file(&temp, path).await?;
                temp
            }
        };
        let select = match columns {
            Some(cols) if !cols.is_empty() => cols
                .iter()
                .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(", "),
            _ => "*".to_string(),
        };
        self.stream(&format!("SELECT {select} FROM {from}")).await
    }

    /// In a confined lake (a project on a shared server), refuses the statements that read
    /// or write the server's files by path: `CREATE EXTERNAL TABLE ... LOCATION` and
    /// `COPY ... TO`, also under `EXPLAIN ANALYZE`.
    fn check_confined(&self, sql: &str) -> Result<()> {
        if !self.lake.is_confined() {
            return Ok(());
        }
        use datafusion::sql::parser::{DFParser, Statement as Df};
        fn reaches_files(s: &Df) -> bool {
            match s {
                Df::CreateExternalTable(_) | Df::CopyTo(_) => true,
                Df::Statement(s) => match &**s {
                    Statement::Copy { .. } => true,
                    Statement::CreateTable(ct) => ct.location.is_some(),
                    _ => false,
                },
                Df::Explain(e) => reaches_files(&e.statement),
                _ => false,
            }
        }
        // What does not parse here fails in the engine with its own message.
        let Ok(statements) = DFParser::parse_sql(sql) else {
            return Ok(());
        };
        if statements.iter().any(reaches_files) {
            return Err(Error::invalid(
                "external tables and COPY reach the server's files by path and are not allowed in a \
                 project's lake on a shared server (ingest files with an ingest job instead)",
            ));
        }
        Ok(())
    }

    /// Handles `CREATE TABLE name [WITH (...)] AS SELECT ...`, which paimon-datafusion
    /// does not: the query runs, the table is created from its schema, and all rows are
    /// committed as the table's first snapshot. Nothing is left behind on failure.
    async fn try_ctas(&self, sql: &str) -> Result<Option<SqlResult>> {
        let head = sql.trim_start().get(..12).unwrap_or("").to_ascii_uppercase();
        if !head.starts_with("CREATE TABLE") {
            return Ok(None);
        }
        let Ok(mut statements) = Parser::parse_sql(&GenericDialect {}, sql) else {
            return Ok(None);
        };
        if statements.len() != 1 {
            return Ok(None);
        }
        let Statement::CreateTable(ct) = statements.remove(0) else {
            return Ok(None);
        };
        let Some(query) = ct.query else {
            return Ok(None);
        };
        let name = lake_table_of(&ct.name, self.lake.home_database()).ok_or_else(|| {
            Error::invalid(format!("CREATE TABLE AS SELECT: cannot create {} in the lake", ct.name))
        })??;
        let mut spec = TableSpec::default();
        let options: Vec<SqlOption> = match ct.table_options {
            CreateTableOptions::With(o) | CreateTableOptions::Options(o) | CreateTableOptions::TableProperties(o) => o,
            _ => Vec::new(),
        };
        for o in options {
            let SqlOption::KeyValue { key, value } = o else {
                return Err(Error::invalid(format!(
                    "CREATE TABLE AS SELECT: unsupported option {o}"
                )));
            };
            let value = value.to_string().trim_matches('\'').to_string();
            let list = || {
                value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            };
            match key.value.as_str() {
                "primary-key" => spec.primary_key = list(),
                "partition" => spec.partition_by = list(),
                k => {
                    spec.options.insert(k.to_string(), value.clone());
                }
            }
        }
        let already = || {
            if ct.if_not_exists {
                return Ok(Some(SqlResult {
                    statement: sql.to_string(),
                    schema: Arc::new(arrow::datatypes::Schema::empty()),
                    batches: vec![],
                }));
            }
            Err(Error::invalid(format!("table {name} already exists")))
        };
        if self.lake.exists(&name).await? {
            return already();
        }
        let query_sql = query.to_string();
        let df = self.ctx.sql(&query_sql).await.map_err(|e| sql_error(&query_sql, e))?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let stream = df.execute_stream().await.map_err(|e| sql_error(&query_sql, e))?;
        // Created meanwhile by another writer: as if it had existed before.
        if !self.lake.create_table_if_absent(&name, &schema, &spec).await? {
            return already();
        }
        let written = async {
            let mut w = self.lake.writer(&name, WriteMode::Append).await?;
            let mut stream = stream;
            while let Some(b) = stream.try_next().await.map_err(|e| sql_error(&query_sql, e))? {
                w.write(&b).await?;
            }
            w.commit().await
        }
        .await;
        let summary = match written {
            Ok(s) => s,
            Err(e) => {
                // The table did not exist before this statement: remove the empty shell.
                let _ = self.lake.drop_if_unwritten(&name).await;
                return Err(e);
            }
        };
        let count = arrow::array::UInt64Array::from(vec![summary.rows]);
        let batch = RecordBatch::try_from_iter([("count", Arc::new(count) as arrow::array::ArrayRef)])
            .map_err(|e| Error::arrow("building the CTAS result", e))?;
        Ok(Some(SqlResult {
            statement: sql.to_string(),
            schema: batch.schema(),
            batches: vec![batch],
        }))
    }
}

/// The lake table an SQL object name refers to (`t`, `db.t`, `paimon.db.t`); `None` for
/// names of other catalogs, `Some(Err)` for names that are not valid lake names.
fn lake_table_of(name: &ObjectName, home: &str) -> Option<Result<TableName>> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.to_string().trim_matches('"').to_string())
        .collect();
    match parts.as_slice() {
        [t] => Some(TableName::parse_in(t, home)),
        [d, t] => Some(TableName::parse(&format!("{d}.{t}"))),
        [c, d, t] if c == "paimon" => Some(TableName::parse(&format!("{d}.{t}"))),
        _ => None,
    }
}

/// The lake tables a statement writes, sorted (locks are taken in this order, so two
/// statements never wait on each other in a cycle). Names that are no lake tables
/// (temporary tables, other catalogs) are left out.
fn written_tables(sql: &str, home: &str) -> Vec<TableName> {
    let head = sql.trim_start().get(..8).unwrap_or(sql).to_ascii_uppercase();
    if !["INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "REPLACE"]
        .iter()
        .any(|k| head.starts_with(k))
    {
        return Vec::new();
    }
    let Ok(statements) = Parser::parse_sql(&GenericDialect {}, sql) else {
        return Vec::new();
    };
    let mut names: Vec<ObjectName> = Vec::new();
    let table_of = |f: TableFactor| match f {
        TableFactor::Table { name, .. } => Some(name),
        _ => None,
    };
    for statement in statements {
        match statement {
            Statement::Insert(i) => {
                if let TableObject::TableName(n) = i.table {
                    names.push(n);
                }
            }
            Statement::Update(u) => names.extend(table_of(u.table.relation)),
            Statement::Delete(d) => {
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = d.from;
                names.extend(from.into_iter().filter_map(|t| table_of(t.relation)));
                names.extend(d.tables);
            }
            Statement::Merge(m) => names.extend(table_of(m.table)),
            Statement::Truncate(t) => names.extend(t.table_names.into_iter().map(|t| t.name)),
            _ => {}
        }
    }
    let mut out: Vec<TableName> = names
        .iter()
        .filter_map(|n| lake_table_of(n, home))
        .filter_map(|r| r.ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Refuses DDL that would create a table, view or database under a name the rest of
/// risklake cannot address: lake names are lower-case letters, digits and `_`, not starting
/// with a digit. Paimon keeps a created name as written (`CREATE TABLE MyTable` makes
/// `MyTable`, which SQL queries fold to `mytable` and do not find), so upper case is
/// refused quoted or not; `"a.b"` or `"x$snapshots"` made tables that no `--table` could
/// name and that shadow Paimon's system tables.
fn check_created_names(sql: &str) -> Result<()> {
    let head = sql.trim_start().get(..6).unwrap_or("").to_ascii_uppercase();
    if head != "CREATE" && head != "ALTER " {
        return Ok(());
    }
    let Ok(statements) = Parser::parse_sql(&GenericDialect {}, sql) else {
        return Ok(());
    };
    for s in statements {
        let (what, name) = match s {
            Statement::CreateTable(ct) => ("table", ct.name),
            Statement::CreateView(v) => ("view", v.name),
            Statement::CreateDatabase { db_name, .. } => ("database", db_name),
            Statement::CreateSchema {
                schema_name: SchemaName::Simple(n) | SchemaName::NamedAuthorization(n, _),
                ..
            } => ("database", n),
            Statement::AlterTable(a) => match a.operations.into_iter().find_map(|o| match o {
                AlterTableOperation::RenameTable {
                    table_name: RenameTableNameKind::As(n) | RenameTableNameKind::To(n),
                } => Some(n),
                _ => None,
            }) {
                Some(n) => ("table", n),
                None => continue,
            },
            _ => continue,
        };
        let mut parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident())
            .map(|i| i.value.clone())
            .collect();
        // `paimon.db.table`: the catalog prefix is not a lake name.
        if parts.len() == 3 && parts[0].eq_ignore_ascii_case("paimon") {
            parts.remove(0);
        }
        let max = if what == "database" { 1 } else { 2 };
        if parts.len() > max {
            return Err(Error::invalid(format!(
                "CREATE {}: {name} has too many parts (a {what} is named {})",
                what.to_uppercase(),
                if what == "database" {
                    "DATABASE"
                } else {
                    "TABLE or DATABASE.TABLE"
                }
            )));
        }
        for stored in parts {
            let ok = !stored.is_empty()
                && stored
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && !stored.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                let hint = if stored.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !stored.starts_with(|c: char| c.is_ascii_digit())
                {
                    format!("; write it in lower case: {}", stored.to_ascii_lowercase())
                } else {
                    String::new()
                };
                return Err(Error::invalid(format!(
                    "{what} name {stored:?} in {name}: lake names are lower-case letters, digits and '_', not \
                     starting with a digit, so that SQL and every command (--table) address them alike{hint}"
                )));
            }
        }
    }
    Ok(())
}

/// Whether a statement only reads: a query, `EXPLAIN`, `SHOW` or `DESCRIBE`. A statement
/// that does not parse counts as writing.
pub fn is_read_only(sql: &str) -> bool {
    let Ok(statements) = Parser::parse_sql(&GenericDialect {}, sql) else {
        return false;
    };
    !statements.is_empty() && statements.iter().all(statement_reads)
}

/// Whether one parsed statement only reads: a query, `EXPLAIN`, `SHOW` or `DESCRIBE`.
pub fn statement_reads(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Query(_)
            | Statement::Explain { .. }
            | Statement::ExplainTable { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowFunctions { .. }
    )
}

fn sql_error(sql: &str, e: datafusion::error::DataFusionError) -> Error {
    let short: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let short = if short.len() > 120 {
        format!("{}...", &short[..short.floor_char_boundary(117)])
    } else {
        short
    };
    use datafusion::error::DataFusionError as D;
    // A statement that does not parse or plan (a typo, an unknown column or table, a
    // type mismatch) is the caller's to fix; failures while running are the engine's.
    let caller = matches!(
        e.find_root(),
        D::SQL(..) | D::Plan(_) | D::SchemaError(..) | D::NotImplemented(_)
    );
    let mut message = e.strip_backtrace();
    // SQL folds unquoted names to lower case: a column `Amount` is `"Amount"`.
    if message.contains("No field named") && message.chars().any(|c| c.is_ascii_uppercase()) {
        message.push_str(
            " (names with capitals, spaces or symbols need double quotes in SQL, e.g. \"Amount\"; \
             `risklake ingest --normalize-names` stores them in lower snake case instead)",
        );
    }
    if caller {
        return Error::Invalid(format!("SQL error in `{short}`: {message}"));
    }
    Error::External {
        context: format!("SQL error in `{short}`"),
        message,
    }
}

/// Splits a script into statements at `;` outside quotes and comments. Empty statements
/// are dropped.
pub fn split_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = script.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    if chars.peek() == Some(&q) {
                        cur.push(chars.next().unwrap_or(q));
                    } else {
                        quote = None;
                    }
                }
            }
            None => match c {
                '\'' | '"' | '`' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '-' if chars.peek() == Some(&'-') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            cur.push('\n');
                            break;
                        }
                    }
                }
                ';' => {
                    if !cur.trim().is_empty() {
                        out.push(cur.trim().to_string());
                    }
                    cur.clear();
                }
                _ => cur.push(c),
            },
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Whether `text` ends a statement (for the interactive shell: run at a `;` that is not
/// inside quotes).
pub fn is_complete(text: &str) -> bool {
    let trimmed = text.trim_end();
    if trimmed.is_empty() {
        return false;
    }
    // Complete when splitting and re-joining leaves nothing after the last `;`.
    let mut quote: Option<char> = None;
    let mut last_semicolon_ends = false;
    let mut chars = trimmed.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' | '`' => {
                    quote = Some(c);
                    last_semicolon_ends = false;
                }
                '-' if chars.peek() == Some(&'-') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                ';' => last_semicolon_ends = true,
                c if c.is_whitespace() => {}
                _ => last_semicolon_ends = false,
            },
        }
    }
    quote.is_none() && last_semicolon_ends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_scripts_respecting_quotes_and_comments() {
        let s = "SELECT 'a;b'; -- a comment; here\nSELECT \"x;y\" FROM t;;  ";
        assert_eq!(split_statements(s), vec!["SELECT 'a;b'", "SELECT \"x;y\" FROM t"]);
        assert_eq!(split_statements("SELECT 'it''s; fine'"), vec!["SELECT 'it''s; fine'"]);
        assert!(is_complete("SELECT 1;"));
        assert!(!is_complete("SELECT ';'"));
        assert!(!is_complete("SELECT 1; SELECT 2"));
        assert!(is_complete("SELECT 1 -- c\n;"));
    }

    #[test]
    fn finds_the_tables_a_statement_writes() {
        let t = |s: &str| TableName::parse(s).unwrap();
        assert_eq!(
            written_tables("INSERT INTO loans SELECT * FROM x", "default"),
            vec![t("loans")]
        );
        assert_eq!(
            written_tables("insert into paimon.raw.a values (1)", "default"),
            vec![t("raw.a")]
        );
        assert_eq!(
            written_tables("UPDATE b SET x = 1 WHERE y = 2", "default"),
            vec![t("b")]
        );
        assert_eq!(
            written_tables("DELETE FROM db.c WHERE y = 2", "default"),
            vec![t("db.c")]
        );
        assert_eq!(written_tables("TRUNCATE TABLE d", "default"), vec![t("d")]);
        assert_eq!(
            written_tables(
                "MERGE INTO e USING f ON e.k = f.k WHEN MATCHED THEN UPDATE SET v = f.v",
                "default"
            ),
            vec![t("e")]
        );
        assert!(written_tables("SELECT * FROM loans", "default").is_empty());
        // A name without a database is in the session's home database (a project's).
        assert_eq!(
            written_tables("INSERT INTO loans SELECT * FROM x", "credit"),
            vec![t("credit.loans")]
        );
        assert!(written_tables("INSERT INTO other.db.t VALUES (1)", "default").is_empty());
    }
}
