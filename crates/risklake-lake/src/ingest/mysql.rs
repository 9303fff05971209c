//! MySQL / MariaDB: connecting, the consistent snapshot, and its types as Arrow.
//!
//! The rows are read in one `REPEATABLE READ` transaction started `WITH CONSISTENT
//! SNAPSHOT, READ ONLY`, so the high-water mark and the rows come from the same state of
//! the database. The session's time zone is UTC, so `TIMESTAMP` columns arrive as UTC
//! instants; `DATETIME` columns (no zone) stay as written. The statement runs on the binary
//! protocol (typed values), streamed by a task that owns the connection and hands over
//! batches through a small channel, so memory stays at a couple of batches.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Opts, OptsBuilder, Value};
use tokio::sync::mpsc;

use risklake_core::{Error, Result};

use super::db::DatabaseSource;
use super::ReadOptions;

/// The character set id MySQL gives binary strings (BLOB, VARBINARY).
const BINARY_CHARSET: u16 = 63;

/// The connection options: the URL's (`mariadb://` read as `mysql://`), with the password,
/// when the URL has none, from the source's password file or `MYSQL_PWD`.
pub(crate) fn options(src: &DatabaseSource) -> Result<Opts> {
    let url = match src.url.split_once("://") {
        Some((_, rest)) => format!("mysql://{rest}"),
        None => src.url.clone(),
    };
    let opts =
        Opts::from_url(&url).map_err(|e| Error::invalid(format!("{}: not a valid MySQL URL: {e}", src.describe())))?;
    let url_has_password = opts.pass().is_some();
    let mut builder = OptsBuilder::from_opts(opts);
    if let Some(pw) = src.password(url_has_password)? {
        builder = builder.pass(Some(pw));
    }
    Ok(builder.into())
}

/// The server's words: mysql_async's errors carry the code, SQL state and message.
fn my_message(e: &mysql_async::Error) -> String {
    let mut m = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !m.contains(&more) {
            m += &format!(": {more}");
        }
        source = s.source();
    }
    m
}

enum Msg {
    Schema(SchemaRef),
    Batch(RecordBatch),
}

/// Connects, fixes the snapshot and the row range, and starts streaming.
pub(crate) async fn open(src: &DatabaseSource, opts: &ReadOptions) -> Result<MySqlReader> {
    let what = src.describe();
    let my = |context: &str, e: mysql_async::Error| Error::external(format!("{context} ({what})"), my_message(&e));
    let mut conn = Conn::new(options(src)?)
        .await
        .map_err(|e| Error::external(format!("connecting to {what}"), my_message(&e)))?;
    for setup in [
        "SET time_zone = '+00:00'",
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
    ] {
        conn.query_drop(setup)
            .await
            .map_err(|e| my("starting a read transaction", e))?;
    }
    let base = src.base_query();
    let (mut filter, mut order) = (String::new(), String::new());
    if let Some(inc) = src.incremental(&base) {
        let row: Option<Option<String>> = conn
            .query_first(inc.max_query.as_str())
            .await
            .map_err(|e| my(&format!("finding the high-water mark of {}", inc.column), e))?;
        (filter, order) = inc.filter(src, row.flatten());
    }
    let sql = format!("SELECT * FROM ({base}) AS src{filter}{order}");
    let (tx, mut rx) = mpsc::channel::<Result<Msg>>(2);
    let batch_rows = opts.batch_rows.max(1);
    let task_what = what.clone();
    tokio::spawn(async move {
        let outcome = stream_rows(&mut conn, &sql, batch_rows, &task_what, &tx).await;
        let finished = outcome.is_ok();
        if let Err(e) = outcome {
            let _ = tx.send(Err(e)).await;
        }
        if finished {
            let _ = conn.query_drop("COMMIT").await;
        }
        let _ = conn.disconnect().await;
    });
    let schema = match rx.recv().await {
        Some(Ok(Msg::Schema(s))) => s,
        Some(Err(e)) => return Err(e),
        Some(Ok(Msg::Batch(_))) | None => {
            return Err(Error::external(
                format!("reading {what}"),
                "the reader stopped before the schema",
            ))
        }
    };
    Ok(MySqlReader {
        what,
        rx,
        schema,
        rows: 0,
        done: false,
    })
}

/// Runs the statement and sends the schema, then batches of `batch_rows`, until the rows
/// end, an error, or the receiver goes away.
async fn stream_rows(
    conn: &mut Conn,
    sql: &str,
    batch_rows: usize,
    what: &str,
    tx: &mpsc::Sender<Result<Msg>>,
) -> Result<()> {
    let my = |context: &str, e: mysql_async::Error| Error::external(format!("{context} ({what})"), my_message(&e));
    let mut result = conn.exec_iter(sql, ()).await.map_err(|e| my("running the query", e))?;
    let columns: Vec<Column> = result.columns_ref().to_vec();
    let kinds: Vec<MyKind> = columns.iter().map(MyKind::of).collect();
    let schema: SchemaRef = Arc::new(Schema::new(
        columns
            .iter()
            .zip(&kinds)
            .map(|(c, k)| Field::new(c.name_str().as_ref(), k.data_type(), true))
            .collect::<Vec<_>>(),
    ));
    if tx.send(Ok(Msg::Schema(schema.clone()))).await.is_err() {
        return Ok(());
    }
    let mut rows: Vec<Vec<Value>> = Vec::with_capacity(batch_rows.min(65_536));
    let mut first = 1u64;
    loop {
        let row = result.next().await.map_err(|e| my("reading rows", e))?;
        let end = row.is_none();
        if let Some(r) = row {
            rows.push(r.unwrap());
        }
        if rows.len() >= batch_rows || (end && !rows.is_empty()) {
            let n = rows.len() as u64;
            let batch = to_batch(&schema, &columns, &kinds, &rows, first)
                .map_err(|m| Error::invalid(format!("{m} ({what})")))?;
            first += n;
            rows.clear();
            if tx.send(Ok(Msg::Batch(batch))).await.is_err() {
                return Ok(());
            }
        }
        if end {
            return Ok(());
        }
    }
}

/// How a MySQL column becomes an Arrow one.
#[derive(Clone, Copy, Debug, PartialEq)]
enum MyKind {
    Bool,
    I16,
    I32,
    I64,
    Bits,
    F32,
    F64,
    Date,
    Ts,
    TsUtc,
    Text,
}

impl MyKind {
    fn of(c: &Column) -> MyKind {
        use ColumnType::*;
        let unsigned = c.flags().contains(ColumnFlags::UNSIGNED_FLAG);
        match c.column_type() {
            MYSQL_TYPE_TINY | MYSQL_TYPE_YEAR => MyKind::I16,
            MYSQL_TYPE_SHORT if unsigned => MyKind::I32,
            MYSQL_TYPE_SHORT => MyKind::I16,
            MYSQL_TYPE_INT24 => MyKind::I32,
            MYSQL_TYPE_LONG if unsigned => MyKind::I64,
            MYSQL_TYPE_LONG => MyKind::I32,
            MYSQL_TYPE_LONGLONG => MyKind::I64,
            MYSQL_TYPE_FLOAT => MyKind::F32,
            MYSQL_TYPE_DOUBLE | MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => MyKind::F64,
            MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => MyKind::Date,
            MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => MyKind::Ts,
            MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => MyKind::TsUtc,
            MYSQL_TYPE_BIT if c.column_length() == 1 => MyKind::Bool,
            MYSQL_TYPE_BIT => MyKind::Bits,
            _ => MyKind::Text,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            MyKind::Bool => DataType::Boolean,
            MyKind::I16 => DataType::Int16,
            MyKind::I32 => DataType::Int32,
            MyKind::I64 | MyKind::Bits => DataType::Int64,
            MyKind::F32 => DataType::Float32,
            MyKind::F64 => DataType::Float64,
            MyKind::Date => DataType::Date32,
            MyKind::Ts => DataType::Timestamp(TimeUnit::Microsecond, None),
            MyKind::TsUtc => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            MyKind::Text => DataType::Utf8,
        }
    }
}

/// A BIT(n) value: big-endian bytes, n <= 64.
fn bits_of(v: &Value) -> std::result::Result<i64, String> {
    match v {
        Value::Bytes(b) if b.len() <= 8 => Ok(b.iter().fold(0u64, |acc, x| (acc << 8) | *x as u64) as i64),
        Value::Int(i) => Ok(*i),
        Value::UInt(u) => Ok(*u as i64),
        other => Err(format!("{other:?} is not a BIT value")),
    }
}

/// An integer value (signed, unsigned, or decimal text).
fn int_of(v: &Value) -> std::result::Result<i128, String> {
    match v {
        Value::Int(i) => Ok(*i as i128),
        Value::UInt(u) => Ok(*u as i128),
        Value::Bytes(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.trim().parse::<i128>().ok())
            .ok_or_else(|| format!("{:?} is not an integer", String::from_utf8_lossy(b))),
        other => Err(format!("{other:?} is not an integer")),
    }
}

fn float_of(v: &Value) -> std::result::Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f as f64),
        Value::Double(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::UInt(u) => Ok(*u as f64),
        Value::Bytes(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| format!("{:?} is not a number", String::from_utf8_lossy(b))),
        other => Err(format!("{other:?} is not a number")),
    }
}

/// Microseconds since 1970 of a DATE / DATETIME / TIMESTAMP value; `None` for MySQL's
/// zero date (`0000-00-00`), which is no date (read as null, as MySQL's own connectors
/// do with `zeroDateTimeBehavior=convertToNull`).
fn micros_of(v: &Value) -> std::result::Result<Option<i64>, String> {
    match v {
        Value::Date(0, 0, 0, ..) => Ok(None),
        Value::Date(y, mo, d, h, mi, s, us) => chrono::NaiveDate::from_ymd_opt(*y as i32, *mo as u32, *d as u32)
            .and_then(|date| date.and_hms_micro_opt(*h as u32, *mi as u32, *s as u32, *us))
            .map(|t| Some(t.and_utc().timestamp_micros()))
            .ok_or_else(|| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} is not a valid date")),
        Value::Bytes(b) => {
            let s = String::from_utf8_lossy(b);
            if s.starts_with("0000-00-00") {
                return Ok(None);
            }
            chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").map(|d| d.and_time(Default::default())))
                .map(|t| Some(t.and_utc().timestamp_micros()))
                .map_err(|_| format!("{s:?} is not a date"))
        }
        other => Err(format!("{other:?} is not a date")),
    }
}

fn text_of(v: &Value, binary: bool) -> std::result::Result<String, String> {
    Ok(match v {
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_string(),
            Err(_) if binary => {
                return Err(format!(
                    "binary data ({} bytes) is not UTF-8 text; select it as HEX(column) or TO_BASE64(column)",
                    b.len()
                ))
            }
            Err(e) => return Err(format!("not valid UTF-8: {e}")),
        },
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(f) => f.to_string(),
        Value::Date(y, mo, d, h, mi, s, us) => {
            let mut t = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
            if *us > 0 {
                t += &format!(".{us:06}");
            }
            t
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let hours = *days as u64 * 24 + *h as u64;
            let mut t = format!("{}{hours:02}:{mi:02}:{s:02}", if *neg { "-" } else { "" });
            if *us > 0 {
                t += &format!(".{us:06}");
            }
            t
        }
        Value::NULL => unreachable!("nulls are handled by the caller"),
    })
}

fn to_batch(
    schema: &SchemaRef,
    columns: &[Column],
    kinds: &[MyKind],
    rows: &[Vec<Value>],
    first: u64,
) -> std::result::Result<RecordBatch, String> {
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(kinds.len());
    for (i, (kind, col)) in kinds.iter().zip(columns).enumerate() {
        let at = |r: usize, m: String| format!("row {} column {}: {m}", first + r as u64, col.name_str());
        macro_rules! fill {
            ($builder:expr, $conv:expr) => {{
                let mut b = $builder;
                for (r, row) in rows.iter().enumerate() {
                    match &row[i] {
                        Value::NULL => b.append_null(),
                        v => b.append_option($conv(v).map_err(|m| at(r, m))?),
                    }
                }
                Arc::new(b.finish()) as ArrayRef
            }};
        }
        macro_rules! int {
            ($builder:expr, $t:ty) => {
                fill!($builder, |v| int_of(v).and_then(|x| <$t>::try_from(x)
                    .map(Some)
                    .map_err(|_| format!("{x} does not fit in {}", stringify!($t)))))
            };
        }
        let binary = col.character_set() == BINARY_CHARSET;
        arrays.push(match kind {
            MyKind::Bool => fill!(BooleanBuilder::new(), |v| bits_of(v).map(|x| Some(x != 0))),
            MyKind::Bits => fill!(Int64Builder::new(), |v| bits_of(v).map(Some)),
            MyKind::I16 => int!(Int16Builder::new(), i16),
            MyKind::I32 => int!(Int32Builder::new(), i32),
            MyKind::I64 => int!(Int64Builder::new(), i64),
            MyKind::F32 => fill!(Float32Builder::new(), |v| float_of(v).map(|x| Some(x as f32))),
            MyKind::F64 => fill!(Float64Builder::new(), |v| float_of(v).map(Some)),
            MyKind::Date => fill!(Date32Builder::new(), |v| micros_of(v)
                .map(|m| m.map(|m| m.div_euclid(86_400_000_000) as i32))),
            MyKind::Ts => fill!(TimestampMicrosecondBuilder::new(), micros_of),
            MyKind::TsUtc => fill!(TimestampMicrosecondBuilder::new().with_timezone("UTC"), micros_of),
            MyKind::Text => fill!(StringBuilder::new(), |v| text_of(v, binary).map(Some)),
        });
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| format!("building a batch: {e}"))
}

/// Streams the rows of an opened MySQL source as batches.
pub struct MySqlReader {
    what: String,
    rx: mpsc::Receiver<Result<Msg>>,
    schema: SchemaRef,
    rows: u64,
    done: bool,
}

impl MySqlReader {
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
        match self.rx.recv().await {
            Some(Ok(Msg::Batch(b))) => {
                self.rows += b.num_rows() as u64;
                Ok(Some(b))
            }
            Some(Err(e)) => {
                self.done = true;
                Err(e)
            }
            Some(Ok(Msg::Schema(_))) => Err(Error::external(format!("reading {}", self.what), "a second schema")),
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_or_say_why_not() {
        assert_eq!(int_of(&Value::Int(-3)), Ok(-3));
        assert_eq!(int_of(&Value::UInt(u64::MAX)), Ok(u64::MAX as i128));
        assert_eq!(int_of(&Value::Bytes(b"42".to_vec())), Ok(42));
        assert_eq!(bits_of(&Value::Bytes(vec![1, 0])), Ok(256), "BIT(16) bytes, big-endian");
        assert_eq!(
            bits_of(&Value::Bytes(b"1".to_vec())),
            Ok(49),
            "BIT bytes are not digits"
        );
        assert_eq!(float_of(&Value::Bytes(b"12.50".to_vec())), Ok(12.5));
        assert!(float_of(&Value::Bytes(b"abc".to_vec())).is_err());
        assert_eq!(micros_of(&Value::Date(0, 0, 0, 0, 0, 0, 0)), Ok(None));
        assert_eq!(
            micros_of(&Value::Date(1970, 1, 2, 0, 0, 1, 5)),
            Ok(Some(86_401_000_005))
        );
        assert!(micros_of(&Value::Date(2021, 2, 30, 0, 0, 0, 0)).is_err());
        assert_eq!(text_of(&Value::Time(true, 1, 2, 3, 4, 0), false).unwrap(), "-26:03:04");
        assert!(text_of(&Value::Bytes(vec![0xff, 0xfe]), true)
            .unwrap_err()
            .contains("HEX"));
    }
}
