//! Names of lake tables, and the `--table` argument that is either a lake table or a file.

use std::fmt;
use std::path::PathBuf;

use risklake_core::{Error, Result};

/// The database used when a table name has none.
pub const DEFAULT_DATABASE: &str = "default";

/// A lake table: `database.table`, both lower-case identifiers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub database: String,
    pub table: String,
}

fn check_ident(part: &str, what: &str, full: &str) -> Result<String> {
    let ok = !part.is_empty()
        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !part.starts_with(|c: char| c.is_ascii_digit());
    if !ok {
        return Err(Error::invalid(format!(
            "invalid {what} name {part:?} in {full:?}: use letters, digits and '_', not starting with a digit"
        )));
    }
    // SQL folds unquoted identifiers to lower case, so tables are stored lower-case to
    // stay reachable from SQL without quoting.
    Ok(part.to_ascii_lowercase())
}

impl TableName {
    /// Parses `table` or `database.table` (the database defaults to `default`).
    pub fn parse(s: &str) -> Result<Self> {
        Self::parse_in(s, DEFAULT_DATABASE)
    }

    /// Parses `table` or `database.table`; a name without a database is in `database`
    /// (a project's own lake database).
    pub fn parse_in(s: &str, database: &str) -> Result<Self> {
        let s = s.trim();
        let parts: Vec<&str> = s.split('.').collect();
        match parts.as_slice() {
            [t] => Ok(TableName {
                database: database.into(),
                table: check_ident(t, "table", s)?,
            }),
            [d, t] => Ok(TableName {
                database: check_ident(d, "database", s)?,
                table: check_ident(t, "table", s)?,
            }),
            _ => Err(Error::invalid(format!(
                "invalid table name {s:?}: expected TABLE or DATABASE.TABLE"
            ))),
        }
    }

    /// The table holding rows rejected while ingesting into this one.
    pub fn rejected(&self) -> TableName {
        TableName {
            database: self.database.clone(),
            table: format!("{}__rejected", self.table),
        }
    }

    pub(crate) fn identifier(&self) -> paimon::catalog::Identifier {
        paimon::catalog::Identifier::new(self.database.clone(), self.table.clone())
    }

    /// The fully qualified SQL reference (`paimon."db"."table"`).
    pub fn sql_ref(&self) -> String {
        format!("paimon.\"{}\".\"{}\"", self.database, self.table)
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

/// What a `--table` argument names: a lake table or a data file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableRef {
    Lake(TableName),
    File(PathBuf),
}

/// File formats `--table` and `ingest` read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
    JsonLines,
}

impl FileFormat {
    /// The format of a path, by its extension.
    pub fn of(path: &std::path::Path) -> Option<FileFormat> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if name.ends_with(".csv") || name.ends_with(".tsv") || name.ends_with(".txt") {
            Some(FileFormat::Csv)
        } else if name.ends_with(".parquet") || name.ends_with(".pq") {
            Some(FileFormat::Parquet)
        } else if name.ends_with(".jsonl") || name.ends_with(".ndjson") || name.ends_with(".json") {
            Some(FileFormat::JsonLines)
        } else {
            None
        }
    }
}

impl TableRef {
    /// A path with a data-file extension, or containing a path separator, is a file;
    /// anything else is a lake table name.
    pub fn parse(s: &str) -> Result<Self> {
        Self::parse_in(s, DEFAULT_DATABASE)
    }

    /// As [`TableRef::parse`], a table name without a database being in `database`.
    pub fn parse_in(s: &str, database: &str) -> Result<Self> {
        let path = PathBuf::from(s);
        if FileFormat::of(&path).is_some() || s.contains('/') || s.contains(std::path::MAIN_SEPARATOR) {
            if FileFormat::of(&path).is_none() {
                return Err(Error::invalid(format!(
                    "{s}: unknown file type; risklake reads .csv, .tsv, .parquet, .jsonl/.ndjson/.json"
                )));
            }
            return Ok(TableRef::File(path));
        }
        Ok(TableRef::Lake(TableName::parse_in(s, database)?))
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableRef::Lake(t) => t.fmt(f),
            TableRef::File(p) => write!(f, "{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_files() {
        assert_eq!(TableName::parse("loans").unwrap().to_string(), "default.loans");
        assert_eq!(TableName::parse("Risk.Loans").unwrap().to_string(), "risk.loans");
        assert!(TableName::parse("a.b.c").is_err());
        assert!(TableName::parse("1abc").is_err());
        assert!(TableName::parse("a-b").is_err());
        assert_eq!(
            TableRef::parse("data/x.csv").unwrap(),
            TableRef::File("data/x.csv".into())
        );
        assert_eq!(
            TableRef::parse("x.parquet").unwrap(),
            TableRef::File("x.parquet".into())
        );
        assert!(matches!(TableRef::parse("risk.loans").unwrap(), TableRef::Lake(_)));
        assert!(TableRef::parse("data/x.xlsx").is_err());
        assert_eq!(FileFormat::of("a.csv.gz".as_ref()), Some(FileFormat::Csv));
    }
}
