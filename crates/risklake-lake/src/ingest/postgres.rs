//! PostgreSQL: connecting, the repeatable-read snapshot, and its types as Arrow.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Row, RowStream};

use risklake_core::{Error, Result};

use super::db::{DatabaseSource, DbEngine};
use super::ReadOptions;

/// The connection settings: the URL's, with the password, when the URL has none, from the
/// source's password file or `PGPASSWORD` (as libpq does).
pub(crate) fn config(src: &DatabaseSource) -> Result<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = src.url.parse().map_err(|e: tokio_postgres::Error| {
        Error::invalid(format!("{}: not a valid PostgreSQL URL: {e}", src.describe()))
    })?;
    if let Some(pw) = src.password(config.get_password().is_some())? {
        config.password(pw);
    }
    Ok(config)
}

/// Connects, fixes the snapshot (one repeatable-read, read-only transaction) and the row
/// range, and starts streaming.
pub(crate) async fn open(src: &DatabaseSource, opts: &ReadOptions) -> Result<PgReader> {
    let what = src.describe();
    let config = config(src)?;
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| Error::external(format!("connecting to {what}"), pg_message(&e)))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let pg = |context: &str, e: tokio_postgres::Error| Error::external(format!("{context} ({what})"), pg_message(&e));
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| pg("starting a read transaction", e))?;
    let base = src.base_query();
    let (mut filter, mut order) = (String::new(), String::new());
    if let Some(inc) = src.incremental(&base) {
        let row = client
            .query_one(&inc.max_query, &[])
            .await
            .map_err(|e| pg(&format!("finding the high-water mark of {}", inc.column), e))?;
        (filter, order) = inc.filter(src, row.get(0));
    }
    let probe = client
        .prepare(&format!("SELECT * FROM ({base}) AS src LIMIT 0"))
        .await
        .map_err(|e| pg("preparing the query", e))?;
    let mut select = Vec::new();
    let mut fields = Vec::new();
    let mut kinds = Vec::new();
    for col in probe.columns() {
        let q = DbEngine::Postgres.quote_ident(col.name());
        let (expr, kind) = match *col.type_() {
            Type::BOOL => (q.clone(), PgKind::Bool),
            Type::INT2 => (q.clone(), PgKind::I16),
            Type::INT4 => (q.clone(), PgKind::I32),
            Type::INT8 => (q.clone(), PgKind::I64),
            Type::FLOAT4 => (q.clone(), PgKind::F32),
            Type::FLOAT8 => (q.clone(), PgKind::F64),
            Type::NUMERIC => (format!("{q}::float8"), PgKind::F64),
            Type::DATE => (q.clone(), PgKind::Date),
            Type::TIMESTAMP => (q.clone(), PgKind::Ts),
            Type::TIMESTAMPTZ => (q.clone(), PgKind::TsTz),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => (q.clone(), PgKind::Text),
            _ => (format!("{q}::text"), PgKind::Text),
        };
        select.push(format!("{expr} AS {q}"));
        fields.push(Field::new(col.name(), kind.data_type(), true));
        kinds.push(kind);
    }
    let sql = format!("SELECT {} FROM ({base}) AS src{filter}{order}", select.join(", "));
    let stmt = client.prepare(&sql).await.map_err(|e| pg("preparing the query", e))?;
    let stream = client
        .query_raw(&stmt, std::iter::empty::<&(dyn tokio_postgres::types::ToSql + Sync)>())
        .await
        .map_err(|e| pg("running the query", e))?;
    Ok(PgReader {
        what,
        client,
        stream: Box::pin(stream),
        schema: Arc::new(Schema::new(fields)),
        kinds,
        batch_rows: opts.batch_rows,
        rows: 0,
        done: false,
    })
}

#[derive(Clone, Copy, Debug)]
enum PgKind {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    Date,
    Ts,
    TsTz,
    Text,
}

impl PgKind {
    fn data_type(self) -> DataType {
        match self {
            PgKind::Bool => DataType::Boolean,
            PgKind::I16 => DataType::Int16,
            PgKind::I32 => DataType::Int32,
            PgKind::I64 => DataType::Int64,
            PgKind::F32 => DataType::Float32,
            PgKind::F64 => DataType::Float64,
            PgKind::Date => DataType::Date32,
            PgKind::Ts => DataType::Timestamp(TimeUnit::Microsecond, None),
            PgKind::TsTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            PgKind::Text => DataType::Utf8,
        }
    }
}

/// Streams the rows of an opened PostgreSQL source as batches.
pub struct PgReader {
    what: String,
    client: Client,
    stream: std::pin::Pin<Box<RowStream>>,
    schema: SchemaRef,
    kinds: Vec<PgKind>,
    batch_rows: usize,
    rows: u64,
    done: bool,
}

impl PgReader {
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The next batch, `None` when all rows are read (the transaction is then closed).
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        let mut rows: Vec<Row> = Vec::with_capacity(self.batch_rows.min(65_536));
        while rows.len() < self.batch_rows {
            match self.stream.next().await {
                Some(Ok(r)) => rows.push(r),
                Some(Err(e)) => return Err(Error::external(format!("reading rows ({})", self.what), e)),
                None => {
                    self.done = true;
                    let _ = self.client.batch_execute("COMMIT").await;
                    break;
                }
            }
        }
        if rows.is_empty() {
            return Ok(None);
        }
        let first = self.rows + 1;
        self.rows += rows.len() as u64;
        let columns = self
            .kinds
            .iter()
            .enumerate()
            .map(|(i, k)| column(&rows, i, *k))
            .collect::<std::result::Result<Vec<ArrayRef>, tokio_postgres::Error>>()
            .map_err(|e| Error::external(format!("converting rows {first}..{} ({})", self.rows, self.what), e))?;
        RecordBatch::try_new(self.schema.clone(), columns)
            .map(Some)
            .map_err(|e| Error::arrow("building a batch", e))
    }
}

fn column(rows: &[Row], i: usize, kind: PgKind) -> std::result::Result<ArrayRef, tokio_postgres::Error> {
    macro_rules! fill {
        ($builder:expr, $t:ty, $map:expr) => {{
            let mut b = $builder;
            for r in rows {
                let v: Option<$t> = r.try_get(i)?;
                b.append_option(v.map($map));
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    Ok(match kind {
        PgKind::Bool => fill!(BooleanBuilder::new(), bool, |v| v),
        PgKind::I16 => fill!(Int16Builder::new(), i16, |v| v),
        PgKind::I32 => fill!(Int32Builder::new(), i32, |v| v),
        PgKind::I64 => fill!(Int64Builder::new(), i64, |v| v),
        PgKind::F32 => fill!(Float32Builder::new(), f32, |v| v),
        PgKind::F64 => fill!(Float64Builder::new(), f64, |v| v),
        PgKind::Date => fill!(
            Date32Builder::new(),
            chrono::NaiveDate,
            |d: chrono::NaiveDate| (d - epoch).num_days() as i32
        ),
        PgKind::Ts => fill!(
            TimestampMicrosecondBuilder::new(),
            chrono::NaiveDateTime,
            |t: chrono::NaiveDateTime| t.and_utc().timestamp_micros()
        ),
        PgKind::TsTz => fill!(
            TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            chrono::DateTime<chrono::Utc>,
            |t: chrono::DateTime<chrono::Utc>| t.timestamp_micros()
        ),
        PgKind::Text => fill!(StringBuilder::new(), String, |v| v),
    })
}

/// What the server said (severity, message, detail, hint, position), or the error with
/// its causes: tokio-postgres' own Display says only "db error".
pub(crate) fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut m = format!("{}: {}", db.severity(), db.message());
        if let Some(d) = db.detail() {
            m += &format!(" (detail: {d})");
        }
        if let Some(h) = db.hint() {
            m += &format!(" (hint: {h})");
        }
        if let Some(tokio_postgres::error::ErrorPosition::Original(p)) = db.position() {
            m += &format!(" (at character {p} of the query)");
        }
        return m;
    }
    let mut m = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        m += &format!(": {s}");
        source = s.source();
    }
    m
}
