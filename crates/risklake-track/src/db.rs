//! The SQL the project store speaks, over SQLite (the embedded default, a file in the
//! home) or PostgreSQL (a shared deployment's server): one set of statements, written
//! with SQLite's numbered placeholders (`?1`, `?2`) and run on either.
//!
//! What the two engines share is what the store uses: `INSERT ... ON CONFLICT`,
//! `RETURNING`, `COUNT(*) FILTER (...)`, `NULLS FIRST`; integers are 64-bit and reals
//! double on both. A write transaction excludes every other writer of the store, on
//! SQLite by `BEGIN IMMEDIATE`, on PostgreSQL by a transaction-scoped advisory lock, so
//! read-then-write steps (the next model version, claiming a queued job) are safe across
//! processes on either.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use risklake_core::{Error, Result};

/// A statement's parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Param<'a> {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<&'a str>),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}

impl From<f64> for Param<'_> {
    fn from(v: f64) -> Self {
        Param::Real(Some(v))
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Param::Text(v)
    }
}

/// The parameters of a statement: `args![a, b, c]`.
macro_rules! args {
    ($($x:expr),* $(,)?) => {
        &[$($crate::db::Param::from($x)),*]
    };
}
pub(crate) use args;

/// One value of a result row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// A result row, read by column position.
#[derive(Clone, Debug)]
pub(crate) struct Row(Vec<Cell>);

fn cell_error(i: usize, want: &str, got: &Cell) -> Error {
    Error::external(
        "project store",
        format!("column {i} of a result is {got:?}, expected {want}"),
    )
}

impl Row {
    fn cell(&self, i: usize) -> &Cell {
        self.0.get(i).unwrap_or(&Cell::Null)
    }

    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?.ok_or_else(|| cell_error(i, "an integer", &Cell::Null))
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.cell(i) {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(*v)),
            other => Err(cell_error(i, "an integer", other)),
        }
    }

    pub fn real(&self, i: usize) -> Result<f64> {
        match self.cell(i) {
            Cell::Real(v) => Ok(*v),
            Cell::Int(v) => Ok(*v as f64),
            other => Err(cell_error(i, "a number", other)),
        }
    }

    pub fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?.ok_or_else(|| cell_error(i, "text", &Cell::Null))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.cell(i) {
            Cell::Null => Ok(None),
            Cell::Text(v) => Ok(Some(v.clone())),
            other => Err(cell_error(i, "text", other)),
        }
    }
}

pub(crate) fn sqlite_err(e: rusqlite::Error) -> Error {
    Error::external("project store", e)
}

fn pg_err(e: tokio_postgres::Error) -> Error {
    // The server's own message (with its detail) says most.
    match e.as_db_error() {
        Some(db) => Error::external("project store (PostgreSQL)", db.to_string()),
        None => Error::external("project store (PostgreSQL)", e),
    }
}

/// A PostgreSQL connection with the small runtime that drives it.
pub(crate) struct Pg {
    /// Always `Some` but while dropping.
    rt: Option<tokio::runtime::Runtime>,
    client: tokio_postgres::Client,
    url: String,
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async caller's thread may not do.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Pg {
    /// Connects to `url` (`postgres://user:password@host:port/db`).
    pub fn connect(url: &str) -> Result<Pg> {
        off_runtime(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::io("starting the PostgreSQL store's runtime", e))?;
            let client = Self::open(&rt, url)?;
            Ok(Pg {
                rt: Some(rt),
                client,
                url: url.to_string(),
            })
        })
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the runtime lives as long as the connection")
    }

    fn open(rt: &tokio::runtime::Runtime, url: &str) -> Result<tokio_postgres::Client> {
        let shown = risklake_core::secret::mask(url);
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| Error::param("store", format!("{shown} is not a PostgreSQL URL: {e}")))?;
        let (client, connection) = rt
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(30), config.connect(tokio_postgres::NoTls)).await
            })
            .map_err(|_| {
                Error::external(
                    format!("connecting to the project store {shown}"),
                    "timed out after 30 s",
                )
            })?
            .map_err(|e| Error::external(format!("connecting to the project store {shown}"), e))?;
        // The connection runs on this runtime whenever a statement is waited for.
        rt.spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Connects again when the server closed the connection (a restart, an idle
    /// timeout); a statement in flight then is not retried.
    fn live(&mut self) -> Result<()> {
        if self.client.is_closed() {
            self.client = Self::open(self.rt(), &self.url)?;
        }
        Ok(())
    }
}

/// Where the store's statements go.
pub(crate) enum Db {
    Sqlite(Mutex<rusqlite::Connection>),
    Pg(Mutex<Pg>),
}

/// A connection lent for some statements (see [`Db::with`] and [`Db::tx`]).
pub(crate) enum Conn<'a> {
    Sqlite(&'a rusqlite::Connection),
    Pg(&'a Pg),
}

/// Runs `f` again while SQLite says the database is locked or busy, for up to 30 s.
pub(crate) fn retry_locked<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> Result<T> {
    let started = std::time::Instant::now();
    let mut wait = Duration::from_millis(2);
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && started.elapsed() < Duration::from_secs(30) =>
            {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(50));
            }
            other => return other.map_err(sqlite_err),
        }
    }
}

/// The advisory lock key every write transaction of a PostgreSQL store takes ("rlk" +
/// "store" in ASCII, an arbitrary constant of this program).
const PG_WRITE_LOCK: i64 = 0x726c_6b73_746f_7265;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each call is one statement or transaction: a panic mid-call leaves the database
    // consistent (SQLite and PostgreSQL roll an open transaction back), so a poisoned
    // lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Db {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Pg(_))
    }

    /// Runs `f` with the connection.
    pub fn with<T: Send>(&self, f: impl FnOnce(&Conn) -> Result<T> + Send) -> Result<T> {
        match self {
            Db::Sqlite(c) => f(&Conn::Sqlite(&lock(c))),
            Db::Pg(p) => {
                let mut pg = lock(p);
                let pg = &mut *pg;
                off_runtime(|| {
                    pg.live()?;
                    f(&Conn::Pg(pg))
                })
            }
        }
    }

    /// Runs `f` in a write transaction that excludes every other writer of the store
    /// (in any process); committed when `f` succeeds, rolled back when it fails.
    pub fn tx<T: Send>(&self, f: impl FnOnce(&Conn) -> Result<T> + Send) -> Result<T> {
        match self {
            Db::Sqlite(c) => {
                let c = lock(c);
                retry_locked(|| c.execute_batch("BEGIN IMMEDIATE"))?;
                finish(f(&Conn::Sqlite(&c)), |sql| c.execute_batch(sql).map_err(sqlite_err))
            }
            Db::Pg(p) => {
                let mut pg = lock(p);
                let pg = &mut *pg;
                off_runtime(|| {
                    pg.live()?;
                    let conn = Conn::Pg(pg);
                    conn.batch("BEGIN")?;
                    let locked = conn.query("SELECT pg_advisory_xact_lock(?1)", args![PG_WRITE_LOCK]);
                    let result = locked.and_then(|_| f(&conn));
                    finish(result, |sql| conn.batch(sql))
                })
            }
        }
    }
}

/// Commits after success, rolls back after failure (keeping the failure).
fn finish<T>(result: Result<T>, run: impl Fn(&str) -> Result<()>) -> Result<T> {
    match result {
        Ok(v) => {
            if let Err(e) = run("COMMIT") {
                let _ = run("ROLLBACK");
                return Err(e);
            }
            Ok(v)
        }
        Err(e) => {
            let _ = run("ROLLBACK");
            Err(e)
        }
    }
}

/// Runs `f` where blocking on the PostgreSQL connection's runtime is allowed: on this
/// thread, or, when this thread drives an async runtime (a server handler), on a scoped
/// thread of its own while this one waits (as the SQLite store blocks it too).
fn off_runtime<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// SQLite's `?1` placeholders as PostgreSQL's `$1` (outside quoted text).
fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '?' && chars.peek().is_some_and(|d| d.is_ascii_digit()) => {
                out.push('$');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    out
}

impl tokio_postgres::types::ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use tokio_postgres::types::Type;
        match *self {
            Param::Int(v) => match *ty {
                Type::INT4 => v.map(i32::try_from).transpose()?.to_sql(ty, out),
                Type::FLOAT8 => v.map(|v| v as f64).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Param::Real(v) => v.to_sql(ty, out),
            Param::Text(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        use tokio_postgres::types::Type;
        [Type::INT4, Type::INT8, Type::FLOAT8, Type::TEXT, Type::VARCHAR].contains(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

impl Conn<'_> {
    /// Runs a statement; the rows it changed.
    pub fn exec(&self, sql: &str, params: &[Param]) -> Result<u64> {
        match self {
            Conn::Sqlite(c) => c
                .execute(sql, rusqlite::params_from_iter(params.iter().map(sqlite_value)))
                .map(|n| n as u64)
                .map_err(sqlite_err),
            Conn::Pg(pg) => {
                let refs = pg_params(params);
                pg.rt().block_on(pg.client.execute(&pg_sql(sql), &refs)).map_err(pg_err)
            }
        }
    }

    /// Runs a query; every row.
    pub fn query(&self, sql: &str, params: &[Param]) -> Result<Vec<Row>> {
        match self {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql).map_err(sqlite_err)?;
                let n = stmt.column_count();
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(params.iter().map(sqlite_value)), |r| {
                        (0..n)
                            .map(|i| {
                                use rusqlite::types::ValueRef as V;
                                Ok(match r.get_ref(i)? {
                                    V::Null => Cell::Null,
                                    V::Integer(v) => Cell::Int(v),
                                    V::Real(v) => Cell::Real(v),
                                    V::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                                    V::Blob(b) => Cell::Text(String::from_utf8_lossy(b).into_owned()),
                                })
                            })
                            .collect::<rusqlite::Result<Vec<_>>>()
                            .map(Row)
                    })
                    .map_err(sqlite_err)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sqlite_err)
            }
            Conn::Pg(pg) => {
                let refs = pg_params(params);
                let rows = pg.rt().block_on(pg.client.query(&pg_sql(sql), &refs)).map_err(pg_err)?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// The first row of a query, if any.
    pub fn row(&self, sql: &str, params: &[Param]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first column of the first row, an integer, if there is a row.
    pub fn int(&self, sql: &str, params: &[Param]) -> Result<Option<i64>> {
        self.row(sql, params)?.map(|r| r.int(0)).transpose()
    }

    /// The first column of the first row, text, if there is a row.
    pub fn text(&self, sql: &str, params: &[Param]) -> Result<Option<String>> {
        self.row(sql, params)?.map(|r| r.text(0)).transpose()
    }

    /// Runs statements without parameters (DDL, BEGIN / COMMIT).
    pub fn batch(&self, sql: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(sqlite_err),
            Conn::Pg(pg) => pg.rt().block_on(pg.client.batch_execute(sql)).map_err(pg_err),
        }
    }
}

fn sqlite_value(p: &Param) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match *p {
        Param::Int(v) => v.map_or(V::Null, V::Integer),
        Param::Real(v) => v.map_or(V::Null, V::Real),
        Param::Text(v) => v.map_or(V::Null, |s| V::Text(s.to_string())),
    }
}

fn pg_params<'a>(params: &'a [Param<'a>]) -> Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect()
}

fn pg_row(r: &tokio_postgres::Row) -> Result<Row> {
    use tokio_postgres::types::{FromSqlOwned, Type};
    fn get<T: FromSqlOwned>(r: &tokio_postgres::Row, i: usize) -> Result<Option<T>> {
        r.try_get::<_, Option<T>>(i).map_err(pg_err)
    }
    (0..r.len())
        .map(|i| {
            let cell = match *r.columns()[i].type_() {
                Type::INT2 => get::<i16>(r, i)?.map(|v| Cell::Int(v.into())),
                Type::INT4 => get::<i32>(r, i)?.map(|v| Cell::Int(v.into())),
                Type::INT8 => get::<i64>(r, i)?.map(Cell::Int),
                Type::FLOAT4 => get::<f32>(r, i)?.map(|v| Cell::Real(v.into())),
                Type::FLOAT8 => get::<f64>(r, i)?.map(Cell::Real),
                Type::BOOL => get::<bool>(r, i)?.map(|v| Cell::Int(v.into())),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => get::<String>(r, i)?.map(Cell::Text),
                Type::VOID => None,
                ref other => {
                    return Err(Error::external(
                        "project store (PostgreSQL)",
                        format!(
                            "column {} has type {other}, which the store does not read",
                            r.columns()[i].name()
                        ),
                    ))
                }
            };
            Ok(cell.unwrap_or(Cell::Null))
        })
        .collect::<Result<Vec<_>>>()
        .map(Row)
}

/// The store's schema (written for SQLite) as PostgreSQL DDL: 64-bit integer keys that
/// count themselves, doubles for reals.
pub(crate) fn pg_schema(sqlite: &str) -> String {
    sqlite
        .replace(
            "INTEGER PRIMARY KEY",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        )
        .replace("INTEGER", "BIGINT")
        .replace(" REAL", " DOUBLE PRECISION")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_schema_translate_for_postgres() {
        assert_eq!(
            pg_sql("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d = $12"
        );
        assert_eq!(pg_sql("SELECT '?' || ?3"), "SELECT '?' || $3");
        let ddl = pg_schema("CREATE TABLE x (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, v REAL NOT NULL);");
        assert_eq!(
            ddl,
            "CREATE TABLE x (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL, v DOUBLE PRECISION NOT NULL);"
        );
    }

    #[test]
    fn sqlite_rows_read_by_type() {
        let db = Db::Sqlite(Mutex::new(rusqlite::Connection::open_in_memory().unwrap()));
        let rows = db
            .with(|c| {
                c.batch("CREATE TABLE t (a INTEGER, b REAL, c TEXT)")?;
                c.exec("INSERT INTO t VALUES (?1, ?2, ?3)", args![7i64, 0.5, "x"])?;
                c.exec(
                    "INSERT INTO t VALUES (?1, ?2, ?3)",
                    args![None::<i64>, 2.0, None::<&str>],
                )?;
                c.query("SELECT a, b, c FROM t ORDER BY a NULLS FIRST", &[])
            })
            .unwrap();
        assert_eq!(rows[0].opt_int(0).unwrap(), None);
        assert_eq!(rows[0].opt_text(2).unwrap(), None);
        assert_eq!(
            (
                rows[1].int(0).unwrap(),
                rows[1].real(1).unwrap(),
                rows[1].text(2).unwrap()
            ),
            (7, 0.5, "x".into())
        );
        assert!(rows[1].text(0).is_err(), "an integer is not text");
        // A failed transaction leaves nothing behind.
        let failed = db.tx(|c| {
            c.exec("INSERT INTO t VALUES (?1, ?2, ?3)", args![9i64, 1.0, "y"])?;
            Err::<(), _>(Error::invalid("changed my mind"))
        });
        assert!(failed.is_err());
        let n = db
            .with(|c| c.row("SELECT COUNT(*) FROM t", &[]))
            .unwrap()
            .unwrap()
            .int(0)
            .unwrap();
        assert_eq!(n, 2);
    }
}
