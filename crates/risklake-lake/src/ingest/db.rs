//! A database source (PostgreSQL or MySQL / MariaDB): a query or a table, read in one
//! consistent snapshot, optionally incremental on a column whose high-water mark the caller
//! keeps between runs. What the engines share lives here; how each connects and maps its
//! types lives in `postgres.rs` and `mysql.rs`, and `dbreader.rs` picks one.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use risklake_core::{Error, Result};

/// Which server a [`DatabaseSource`] talks to, from its URL's scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbEngine {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `mysql://` or `mariadb://` (the same wire protocol).
    MySql,
}

impl DbEngine {
    /// The engine of a URL, `None` for anything else (a file path).
    pub fn of_url(url: &str) -> Option<DbEngine> {
        let scheme = url.split_once("://")?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(DbEngine::Postgres),
            "mysql" | "mariadb" => Some(DbEngine::MySql),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DbEngine::Postgres => "PostgreSQL",
            DbEngine::MySql => "MySQL",
        }
    }

    /// The environment variable the engine's own clients read a password from.
    pub fn password_env(self) -> &'static str {
        match self {
            DbEngine::Postgres => "PGPASSWORD",
            DbEngine::MySql => "MYSQL_PWD",
        }
    }

    /// An identifier quoted for this engine's SQL.
    pub(crate) fn quote_ident(self, s: &str) -> String {
        match self {
            DbEngine::Postgres => format!("\"{}\"", s.replace('"', "\"\"")),
            DbEngine::MySql => format!("`{}`", s.replace('`', "``")),
        }
    }

    /// A string literal for this engine's SQL (MySQL also treats backslash as an escape
    /// unless NO_BACKSLASH_ESCAPES is set, so it is doubled there).
    pub(crate) fn quote_literal(self, s: &str) -> String {
        match self {
            DbEngine::Postgres => format!("'{}'", s.replace('\'', "''")),
            DbEngine::MySql => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
        }
    }
}

/// A database source.
#[derive(Clone, Debug)]
pub struct DatabaseSource {
    /// `postgres://user:password@host:port/db` or `mysql://user:password@host:port/db`.
    pub url: String,
    pub engine: DbEngine,
    /// A query (`--query`), or
    pub query: Option<String>,
    /// a table (`--source-table schema.table`, `db.table` on MySQL).
    pub source_table: Option<String>,
    /// Only rows with this column above the last high-water mark.
    pub incremental_column: Option<String>,
    /// The high-water mark of the previous run, as text.
    pub since: Option<String>,
    /// A file whose first line is the password, for a URL without one.
    pub password_file: Option<PathBuf>,
    pub(crate) new_hwm: Arc<Mutex<Option<String>>>,
}

impl DatabaseSource {
    pub fn new(
        url: &str,
        query: Option<String>,
        source_table: Option<String>,
        incremental_column: Option<String>,
    ) -> Result<Self> {
        let engine = DbEngine::of_url(url).ok_or_else(|| {
            Error::invalid(format!(
                "{}: a database source is a postgres:// or mysql:// URL",
                risklake_core::secret::mask(url)
            ))
        })?;
        match (&query, &source_table) {
            (Some(_), Some(_)) => return Err(Error::invalid("give either query or source_table, not both")),
            (None, None) => {
                return Err(Error::invalid(format!(
                    "a {} source needs a query or a source_table",
                    engine.name()
                )))
            }
            _ => {}
        }
        if let Some(t) = &source_table {
            if t.is_empty() || t.split('.').any(str::is_empty) {
                return Err(Error::invalid(format!(
                    "source_table {t:?} is not a [schema.]table name"
                )));
            }
        }
        Ok(DatabaseSource {
            url: url.to_string(),
            engine,
            query,
            source_table,
            incremental_column,
            since: None,
            password_file: None,
            new_hwm: Default::default(),
        })
    }

    /// The URL without its password (nor any other secret), and what is read.
    pub fn describe(&self) -> String {
        risklake_core::secret::mask(&self.describe_unmasked()).into_owned()
    }

    fn describe_unmasked(&self) -> String {
        let url = match (self.url.find("://"), self.url.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                let creds = &self.url[s + 3..at];
                let user = creds.split(':').next().unwrap_or("");
                format!("{}{}@{}", &self.url[..s + 3], user, &self.url[at + 1..])
            }
            _ => self.url.clone(),
        };
        match (&self.query, &self.source_table) {
            (_, Some(t)) => format!("{url} table {t}"),
            (Some(q), _) => format!("{url} query {q:?}"),
            _ => url,
        }
    }

    /// The password to use when the URL has none: the first line of `password_file`, or
    /// else the engine's environment variable (`PGPASSWORD`, `MYSQL_PWD`), as the engines'
    /// own clients do, so that it need not be typed on a command line. `url_has_password`
    /// says whether the URL carries one (both that and a file is refused).
    pub(crate) fn password(&self, url_has_password: bool) -> Result<Option<String>> {
        if url_has_password {
            if let Some(file) = &self.password_file {
                return Err(Error::invalid(format!(
                    "{}: the URL carries a password and a password file ({}) is given too; keep one",
                    self.describe(),
                    file.display()
                )));
            }
            return Ok(None);
        }
        if let Some(file) = &self.password_file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::io(format!("reading the password file {}", file.display()), e))?;
            let pw = text.lines().next().unwrap_or("");
            if pw.is_empty() {
                return Err(Error::invalid(format!(
                    "the password file {} is empty (its first line is the password)",
                    file.display()
                )));
            }
            return Ok(Some(pw.to_string()));
        }
        Ok(std::env::var(self.engine.password_env()).ok().filter(|p| !p.is_empty()))
    }

    /// The high-water mark reached by the last [`DatabaseSource::open`]'s read.
    pub fn new_high_water_mark(&self) -> Option<String> {
        self.new_hwm.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_high_water_mark(&self, hwm: Option<String>) {
        *self.new_hwm.lock().unwrap_or_else(|p| p.into_inner()) = hwm;
    }

    /// The rows read, before the incremental filter.
    pub(crate) fn base_query(&self) -> String {
        match (&self.query, &self.source_table) {
            (_, Some(t)) => format!(
                "SELECT * FROM {}",
                t.split('.')
                    .map(|p| self.engine.quote_ident(p))
                    .collect::<Vec<_>>()
                    .join(".")
            ),
            (Some(q), _) => q.trim().trim_end_matches(';').to_string(),
            _ => unreachable!("checked in new"),
        }
    }

    /// The incremental column's bounds as SQL: the query for the new high-water mark
    /// (`MAX(col)` as text above the old one), and, given that mark, the filter and order
    /// of the rows to read. `None` without an incremental column.
    pub(crate) fn incremental(&self, base: &str) -> Option<Incremental> {
        let col = self.incremental_column.as_ref()?;
        let e = self.engine;
        let c = e.quote_ident(col);
        let since = self
            .since
            .as_ref()
            .map(|s| format!(" WHERE {c} > {}", e.quote_literal(s)))
            .unwrap_or_default();
        let as_text = match e {
            DbEngine::Postgres => format!("MAX({c})::text"),
            DbEngine::MySql => format!("CAST(MAX({c}) AS CHAR)"),
        };
        Some(Incremental {
            column: col.clone(),
            max_query: format!("SELECT {as_text} FROM ({base}) AS src{since}"),
            since,
            quoted: c,
        })
    }
}

/// The incremental read of [`DatabaseSource::incremental`].
pub(crate) struct Incremental {
    pub column: String,
    pub max_query: String,
    since: String,
    quoted: String,
}

impl Incremental {
    /// The WHERE and ORDER BY that read the rows above the old mark up to `new` (the
    /// result of `max_query`); with no new mark nothing is read and the old mark is kept.
    pub fn filter(&self, src: &DatabaseSource, new: Option<String>) -> (String, String) {
        let c = &self.quoted;
        let filter = match &new {
            Some(hwm) => format!(
                "{}{} {c} <= {}",
                self.since,
                if self.since.is_empty() { " WHERE" } else { " AND" },
                src.engine.quote_literal(hwm)
            ),
            None => " WHERE 1 = 0".into(),
        };
        src.set_high_water_mark(new.or_else(|| src.since.clone()));
        (filter, format!(" ORDER BY {c}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_from_urls_and_quoting() {
        assert_eq!(DbEngine::of_url("postgresql://h/db"), Some(DbEngine::Postgres));
        assert_eq!(DbEngine::of_url("MySQL://h/db"), Some(DbEngine::MySql));
        assert_eq!(DbEngine::of_url("mariadb://h/db"), Some(DbEngine::MySql));
        assert_eq!(DbEngine::of_url("data/x.csv"), None);
        assert_eq!(DbEngine::of_url("sqlite://x"), None);
        let my = DbEngine::MySql;
        assert_eq!(my.quote_ident("a`b"), "`a``b`");
        assert_eq!(my.quote_literal("it's \\"), "'it''s \\\\'");
        assert_eq!(DbEngine::Postgres.quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn describes_without_password_and_checks_arguments() {
        let s = DatabaseSource::new("postgres://u:secret@h:5432/db", None, Some("public.loans".into()), None).unwrap();
        assert_eq!(s.describe(), "postgres://u@h:5432/db table public.loans");
        assert_eq!(s.base_query(), "SELECT * FROM \"public\".\"loans\"");
        let m = DatabaseSource::new("mysql://u:secret@h/db", None, Some("risk.loans".into()), None).unwrap();
        assert_eq!(m.describe(), "mysql://u@h/db table risk.loans");
        assert_eq!(m.base_query(), "SELECT * FROM `risk`.`loans`");
        assert!(DatabaseSource::new("oracle://x", Some("q".into()), None, None).is_err());
        assert!(DatabaseSource::new("postgres://x", None, None, None).is_err());
        assert!(DatabaseSource::new("mysql://x", Some("q".into()), Some("t".into()), None).is_err());
        assert!(DatabaseSource::new("mysql://x", None, Some("a..b".into()), None).is_err());
    }

    #[test]
    fn incremental_filters_between_the_marks() {
        let mut m = DatabaseSource::new("mysql://h/db", None, Some("t".into()), Some("id".into())).unwrap();
        m.since = Some("10".into());
        let base = m.base_query();
        let inc = m.incremental(&base).unwrap();
        assert_eq!(
            inc.max_query,
            "SELECT CAST(MAX(`id`) AS CHAR) FROM (SELECT * FROM `t`) AS src WHERE `id` > '10'"
        );
        let (f, o) = inc.filter(&m, Some("20".into()));
        assert_eq!(f, " WHERE `id` > '10' AND `id` <= '20'");
        assert_eq!(o, " ORDER BY `id`");
        assert_eq!(m.new_high_water_mark().as_deref(), Some("20"));
        let (f, _) = inc.filter(&m, None);
        assert_eq!(f, " WHERE 1 = 0");
        assert_eq!(
            m.new_high_water_mark().as_deref(),
            Some("10"),
            "nothing new keeps the old mark"
        );
    }
}
