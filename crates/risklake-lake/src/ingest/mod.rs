//! Data collection into the lake: files (CSV, JSON lines, Parquet), PostgreSQL and MySQL, one
//! atomic commit per ingest, bad rows failing loudly or quarantined with their reason.

mod convert;
mod csv;
mod db;
mod dbreader;
mod job;
mod jsonl;
mod mysql;
mod parquet;
mod postgres;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use serde::Serialize;

use risklake_core::{Error, Result};

pub use convert::{parse_type_name, Cell, Inferrer, Kind, RowBuilder};
pub use db::{DatabaseSource, DbEngine};
pub use dbreader::DbReader;
pub use job::{parse_delimiter, IngestJob, JobOptions, JobSource};

use crate::lake::{Lake, TableSpec, WriteMode};
use crate::names::{FileFormat, TableName};

/// What to do with a row that cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop, name the file, line and column; the table is left as it was.
    #[default]
    Fail,
    /// Write the row and the reason to `<table>__rejected` and go on.
    Quarantine,
}

impl OnError {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "fail" => Ok(OnError::Fail),
            "quarantine" => Ok(OnError::Quarantine),
            _ => Err(Error::invalid(format!(
                "unknown --on-error {s:?}; expected fail or quarantine"
            ))),
        }
    }
}

/// How to read text sources.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Field delimiter for CSV (default `,`; `.tsv` files default to tab).
    pub delimiter: Option<u8>,
    /// Quote character for CSV.
    pub quote: u8,
    /// Whether the first CSV line holds the column names.
    pub has_header: bool,
    /// Cell values read as NULL (exact match after trimming).
    pub null_markers: Vec<String>,
    /// Rows sampled to infer column types.
    pub infer_rows: usize,
    /// Column types that override inference, by column name.
    pub schema_overrides: Vec<(String, DataType)>,
    /// Rows per batch.
    pub batch_rows: usize,
    pub on_error: OnError,
    /// Store column names in lower snake case (`Loan Amount` -> `loan_amount`).
    pub normalize_names: bool,
    /// The column types of the table being appended to: a text source's column of the
    /// same name is read as that type (unless overridden), so a value that does not fit
    /// is an error naming file, line, column and value (or a quarantined row), not a
    /// failed cast of the whole batch. Names the source lacks are ignored.
    pub table_types: Vec<(String, DataType)>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            delimiter: None,
            quote: b'"',
            has_header: true,
            null_markers: ["", "NA", "N/A", "NULL", "null", "NaN", "nan"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            infer_rows: 10_000,
            schema_overrides: Vec::new(),
            batch_rows: 65_536,
            on_error: OnError::Fail,
            normalize_names: false,
            table_types: Vec::new(),
        }
    }
}

impl ReadOptions {
    /// Parses `col=type,col2=type` overrides.
    pub fn parse_overrides(spec: &str) -> Result<Vec<(String, DataType)>> {
        schema_pairs(spec)?
            .into_iter()
            .map(|(k, v)| Ok((k, parse_type_name(&v)?)))
            .collect()
    }

    fn override_for(&self, column: &str) -> Option<&DataType> {
        self.schema_overrides.iter().find(|(c, _)| c == column).map(|(_, t)| t)
    }
}

/// Splits `col=type,col2:type` into (column, type name) pairs.
pub fn schema_pairs(spec: &str) -> Result<Vec<(String, String)>> {
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .or_else(|| kv.split_once(':'))
                .ok_or_else(|| Error::invalid(format!("--schema entry {kv:?} should look like column=type")))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The null markers, prepared for a per-cell check.
#[derive(Clone, Debug)]
pub(crate) struct NullMarkers {
    markers: Vec<String>,
    longest: usize,
}

impl NullMarkers {
    pub(crate) fn new(markers: &[String]) -> Self {
        NullMarkers {
            markers: markers.to_vec(),
            longest: markers.iter().map(String::len).max().unwrap_or(0),
        }
    }

    /// Whether the cell, trimmed, is a null marker.
    #[inline]
    pub(crate) fn is_null(&self, s: &str) -> bool {
        let b = s.as_bytes();
        // Most cells are longer than every marker and untrimmed: no comparison needed.
        if b.len() > self.longest && !b[0].is_ascii_whitespace() && !b[b.len() - 1].is_ascii_whitespace() {
            return false;
        }
        let t = s.trim();
        self.markers.iter().any(|m| m == t)
    }
}

/// A row that could not be read, with where and why.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Rejected {
    /// File path or source name.
    pub source: String,
    /// 1-based line (text files) or row number.
    pub line: u64,
    /// The offending column, when one is to blame.
    pub column: Option<String>,
    pub reason: String,
    /// The row as read.
    pub raw: String,
}

impl Rejected {
    /// "file.csv, line 12, column amount: cannot read "abc" as DOUBLE".
    pub fn describe(&self) -> String {
        match &self.column {
            Some(c) => format!("{}, line {}, column {}: {}", self.source, self.line, c, self.reason),
            None => format!("{}, line {}: {}", self.source, self.line, self.reason),
        }
    }

    /// The schema of the `<table>__rejected` tables.
    pub fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("source", DataType::Utf8, true),
            Field::new("line", DataType::Int64, true),
            Field::new("column_name", DataType::Utf8, true),
            Field::new("reason", DataType::Utf8, true),
            Field::new("raw", DataType::Utf8, true),
            Field::new("ingested_at", DataType::Utf8, true),
        ]))
    }

    /// Rejected rows as a batch of [`Rejected::schema`].
    pub fn to_batch(rows: &[Rejected]) -> Result<RecordBatch> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut source = StringBuilder::new();
        let mut line = Int64Builder::new();
        let mut column = StringBuilder::new();
        let mut reason = StringBuilder::new();
        let mut raw = StringBuilder::new();
        let mut at = StringBuilder::new();
        for r in rows {
            source.append_value(&r.source);
            line.append_value(r.line as i64);
            column.append_option(r.column.as_deref());
            reason.append_value(&r.reason);
            raw.append_value(&r.raw);
            at.append_value(&now);
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(source.finish()),
            Arc::new(line.finish()),
            Arc::new(column.finish()),
            Arc::new(reason.finish()),
            Arc::new(raw.finish()),
            Arc::new(at.finish()),
        ];
        RecordBatch::try_new(Rejected::schema(), cols).map_err(|e| Error::arrow("building rejected rows", e))
    }
}

/// Applies the `--on-error` policy to bad rows: fail with the row's location, or keep it
/// for the `<table>__rejected` table.
#[derive(Debug, Default)]
pub(crate) struct RejectSink {
    on_error: OnError,
    rows: Vec<Rejected>,
}

impl RejectSink {
    pub(crate) fn new(on_error: OnError) -> Self {
        RejectSink {
            on_error,
            rows: Vec::new(),
        }
    }

    /// Fails (with [`OnError::Fail`]) or keeps the row.
    pub(crate) fn reject(&mut self, r: Rejected) -> Result<()> {
        match self.on_error {
            OnError::Fail => Err(Error::invalid(format!(
                "{} (use --on-error quarantine to set bad rows aside)",
                r.describe()
            ))),
            OnError::Quarantine => {
                self.rows.push(r);
                Ok(())
            }
        }
    }

    /// The rows kept since the last call.
    pub(crate) fn take(&mut self) -> Vec<Rejected> {
        std::mem::take(&mut self.rows)
    }
}

/// A source of record batches that may set bad rows aside.
pub trait BatchSource: Send {
    /// The schema of every batch.
    fn schema(&self) -> SchemaRef;
    /// The next batch, `None` at the end. With [`OnError::Fail`] a bad row is an error.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>>;
    /// Rows set aside since the last call (with [`OnError::Quarantine`]).
    fn take_rejected(&mut self) -> Vec<Rejected>;
    /// Bytes consumed so far and the total, when known (for progress).
    fn progress(&self) -> (u64, Option<u64>);
    /// Columns whose type was neither given nor seen in any value (a file with a header
    /// and no rows): a table must not be created from such a guess.
    fn untyped_columns(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Opens a data file as a batch source.
pub fn open_file(path: &Path, format: FileFormat, opts: &ReadOptions) -> Result<Box<dyn BatchSource>> {
    match format {
        FileFormat::Csv => Ok(Box::new(csv::CsvSource::open(path, opts)?)),
        FileFormat::JsonLines => Ok(Box::new(jsonl::JsonLinesSource::open(path, opts)?)),
        FileFormat::Parquet => Ok(Box::new(parquet::ParquetSource::open(path, opts)?)),
    }
}

/// Where an ingest reads from.
#[derive(Clone, Debug)]
pub enum Source {
    File(PathBuf),
    Database(DatabaseSource),
}

impl Source {
    /// The source for reports and run records: the file path, or the database URL
    /// (password removed) with its query or table.
    pub fn describe(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Database(db) => db.describe(),
        }
    }
}

/// One ingest: a source into a table.
#[derive(Clone, Debug)]
pub struct IngestRequest {
    pub source: Source,
    pub table: TableName,
    pub mode: WriteMode,
    /// Used when the table is created; checked against it when it exists.
    pub spec: TableSpec,
    pub read: ReadOptions,
}

/// What an ingest did.
#[derive(Clone, Debug, Serialize)]
pub struct IngestReport {
    pub source: String,
    pub table: String,
    pub mode: WriteMode,
    pub created: bool,
    pub rows_written: u64,
    pub rows_rejected: u64,
    pub rejected_table: Option<String>,
    pub snapshot: Option<i64>,
    pub bytes_read: u64,
    pub seconds: f64,
    /// For incremental database ingest: the high-water mark after this run.
    pub high_water_mark: Option<String>,
}

/// Progress callback, called after every batch: rows written so far, bytes read and
/// total bytes when known. An error (e.g. a cancellation) stops the ingest before its
/// commit: the table stays as it was.
pub type Progress<'a> = &'a (dyn Fn(u64, u64, Option<u64>) -> Result<()> + Sync);

/// A column name in lower snake case: letters and digits kept (lower-cased), every run
/// of other characters one `_`, no `_` at the ends, `c_` before a leading digit.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    // camelCase boundaries become gaps too: `LoanAmount` -> `loan_amount`.
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            let boundary = c.is_uppercase() && i > 0 && chars[i - 1].is_lowercase();
            if (gap || boundary) && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        out.push_str("column");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "c_");
    }
    out
}

/// The type a text source can be read as for a table column of type `dt` (the types
/// `--schema` offers), if any.
fn text_readable(dt: &DataType) -> Option<DataType> {
    use arrow::datatypes::TimeUnit;
    Some(match dt {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => dt.clone(),
        DataType::Float32 | DataType::Float64 | DataType::Boolean | DataType::Date32 => dt.clone(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::Timestamp(_, None) => DataType::Timestamp(TimeUnit::Microsecond, None),
        _ => return None,
    })
}

/// The schema with every name normalized; two columns that would share a name are an
/// error naming both.
fn normalized_schema(schema: &SchemaRef) -> Result<SchemaRef> {
    let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut fields = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let n = normalize_name(f.name());
        if let Some(other) = seen.insert(n.clone(), f.name().clone()) {
            return Err(Error::invalid(format!(
                "columns '{other}' and '{}' would both be named '{n}' by --normalize-names; rename one in the source",
                f.name()
            )));
        }
        fields.push(f.as_ref().clone().with_name(n));
    }
    Ok(std::sync::Arc::new(arrow::datatypes::Schema::new(fields)))
}

/// Runs one ingest as one atomic commit (plus one for rejected rows, if any).
pub async fn ingest(lake: &Lake, req: &IngestRequest, progress: Progress<'_>) -> Result<IngestReport> {
    let started = Instant::now();
    let mut source = match &req.source {
        Source::File(path) => {
            let format = FileFormat::of(path).ok_or_else(|| {
                Error::invalid(format!(
                    "{}: unknown file type; expected .csv, .tsv, .parquet or .jsonl",
                    path.display()
                ))
            })?;
            if !path.exists() {
                return Err(Error::not_found("file", path.display().to_string()));
            }
            let mut read = req.read.clone();
            if format != FileFormat::Parquet && lake.exists(&req.table).await? {
                // Appending text: read it as the table's types.
                read.table_types = lake
                    .arrow_schema(&req.table)
                    .await?
                    .fields()
                    .iter()
                    .filter_map(|f| text_readable(f.data_type()).map(|t| (f.name().clone(), t)))
                    .collect();
            }
            Reader::Sync(open_file(path, format, &read)?)
        }
        Source::Database(db) => Reader::Db(db.open(&req.read).await?),
    };
    let source_schema = source.schema();
    let schema = if req.read.normalize_names {
        normalized_schema(&source_schema)?
    } else {
        source_schema
    };
    let mut created = false;
    if lake.exists(&req.table).await? {
        let table = lake.table(&req.table).await?;
        let ts = table.schema();
        if !req.spec.primary_key.is_empty() && ts.primary_keys() != req.spec.primary_key.as_slice() {
            return Err(Error::invalid(format!(
                "table {} exists with primary key [{}], not [{}]",
                req.table,
                ts.primary_keys().join(", "),
                req.spec.primary_key.join(", ")
            )));
        }
        if !req.spec.partition_by.is_empty() && ts.partition_keys() != req.spec.partition_by.as_slice() {
            return Err(Error::invalid(format!(
                "table {} exists partitioned by [{}], not [{}]",
                req.table,
                ts.partition_keys().join(", "),
                req.spec.partition_by.join(", ")
            )));
        }
    } else {
        if req.mode == WriteMode::Upsert && req.spec.primary_key.is_empty() {
            return Err(Error::invalid(format!(
                "--mode upsert creates table {} with a primary key: give it with --primary-key",
                req.table
            )));
        }
        if let Reader::Sync(src) = &source {
            let untyped = src.untyped_columns();
            if !untyped.is_empty() {
                return Err(Error::invalid(format!(
                    "{} has a header but no rows, so the types of {} cannot be inferred; give them with \
                     --schema (e.g. --schema {}:int) or ingest a file with rows",
                    req.source.describe(),
                    untyped.join(", "),
                    untyped[0]
                )));
            }
        }
        // Another ingest may create the same table meanwhile: then it is used when its
        // columns match this source's.
        created = lake.create_table_if_absent(&req.table, &schema, &req.spec).await?;
    }
    let result = write_all(lake, req, &mut source, &schema, progress).await;
    let (summary, rejected) = match result {
        Ok(r) => r,
        Err(e) => {
            if created {
                // A table this ingest created holds nothing yet: do not leave an empty
                // shell (unless another writer has committed to it meanwhile).
                let _ = lake.drop_if_unwritten(&req.table).await;
            }
            return Err(e);
        }
    };
    let mut rejected_table = None;
    if !rejected.is_empty() {
        let name = req.table.rejected();
        let batch = Rejected::to_batch(&rejected)?;
        lake.write_batches(&name, WriteMode::Append, &TableSpec::default(), &[batch])
            .await?;
        rejected_table = Some(name.to_string());
    }
    let high_water_mark = match &req.source {
        Source::Database(db) => db.new_high_water_mark(),
        _ => None,
    };
    Ok(IngestReport {
        source: req.source.describe(),
        table: req.table.to_string(),
        mode: req.mode,
        created,
        rows_written: summary.rows,
        rows_rejected: rejected.len() as u64,
        rejected_table,
        snapshot: summary.snapshot,
        bytes_read: source.progress().0,
        seconds: started.elapsed().as_secs_f64(),
        high_water_mark,
    })
}

async fn write_all(
    lake: &Lake,
    req: &IngestRequest,
    source: &mut Reader,
    schema: &SchemaRef,
    progress: Progress<'_>,
) -> Result<(crate::lake::WriteSummary, Vec<Rejected>)> {
    let mut writer = lake.writer(&req.table, req.mode).await?;
    let mut rejected = Vec::new();
    while let Some(batch) = source.next_batch().await? {
        let batch = if req.read.normalize_names {
            RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                .map_err(|e| Error::arrow("renaming columns", e))?
        } else {
            batch
        };
        writer.write(&batch).await?;
        rejected.extend(source.take_rejected());
        let (bytes, total) = source.progress();
        progress(writer.rows(), bytes, total)?;
    }
    rejected.extend(source.take_rejected());
    let summary = writer.commit().await?;
    Ok((summary, rejected))
}

/// A file source or a database reader, driven alike.
enum Reader {
    Sync(Box<dyn BatchSource>),
    Db(DbReader),
}

impl Reader {
    fn schema(&self) -> SchemaRef {
        match self {
            Reader::Sync(s) => s.schema(),
            Reader::Db(p) => p.schema(),
        }
    }

    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        match self {
            Reader::Sync(s) => s.next_batch(),
            Reader::Db(p) => p.next_batch().await,
        }
    }

    fn take_rejected(&mut self) -> Vec<Rejected> {
        match self {
            Reader::Sync(s) => s.take_rejected(),
            Reader::Db(_) => Vec::new(),
        }
    }

    fn progress(&self) -> (u64, Option<u64>) {
        match self {
            Reader::Sync(s) => s.progress(),
            Reader::Db(p) => (p.rows(), None),
        }
    }
}

/// Reads a whole file into batches (for small files and tests); bad rows are errors.
pub fn read_file(path: &Path, opts: &ReadOptions) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let format =
        FileFormat::of(path).ok_or_else(|| Error::invalid(format!("{}: unknown file type", path.display())))?;
    let mut src = open_file(path, format, opts)?;
    let mut out = Vec::new();
    while let Some(b) = src.next_batch()? {
        out.push(b);
    }
    Ok((src.schema(), out))
}

/// The schema inferred from sampled cells, with overrides applied.
pub(crate) fn inferred_schema(names: &[String], inferrers: &[Inferrer], opts: &ReadOptions) -> Result<SchemaRef> {
    for (col, _) in &opts.schema_overrides {
        if !names.iter().any(|n| n == col) {
            return Err(Error::invalid(format!(
                "--schema names column {col:?}, which the source does not have (columns: {})",
                names.join(", ")
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut fields = Vec::with_capacity(names.len());
    for (name, inf) in names.iter().zip(inferrers) {
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(Error::invalid(format!("column name {name:?} appears twice")));
        }
        let stored = if opts.normalize_names {
            normalize_name(name)
        } else {
            name.clone()
        };
        let dt = opts
            .override_for(name)
            .or_else(|| opts.table_types.iter().find(|(c, _)| *c == stored).map(|(_, t)| t))
            .cloned()
            .unwrap_or_else(|| inf.kind().data_type());
        fields.push(Field::new(name, dt, true));
    }
    Ok(Arc::new(Schema::new(fields)))
}
