//! Declarative ingest jobs: a TOML file listing sources and the tables they feed.
//!
//! ```toml
//! [defaults]            # optional; any source key except path/url/query/table
//! mode = "append"
//! on_error = "quarantine"
//!
//! [[source]]
//! path = "data/applications.csv"   # relative to the job file
//! table = "raw.applications"
//! primary_key = ["id"]
//! mode = "upsert"
//! schema = { zip = "string" }
//!
//! [[source]]
//! url = "postgres://risk@localhost/core"
//! source_table = "public.repayments"
//! incremental_column = "updated_at"
//! table = "raw.repayments"
//!
//! [[source]]
//! url = "mysql://risk@localhost/core"     # or mariadb://; password from MYSQL_PWD or password_file
//! query = "SELECT * FROM payments"
//! incremental_column = "id"
//! table = "raw.payments"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use risklake_core::{Error, Result};

use super::{parse_type_name, DatabaseSource, IngestRequest, OnError, ReadOptions, Source};
use crate::lake::{TableSpec, WriteMode};
use crate::names::TableName;

/// Options a source may set (and `[defaults]` may give for all).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobOptions {
    pub mode: Option<String>,
    pub on_error: Option<String>,
    pub primary_key: Option<Vec<String>>,
    pub partition_by: Option<Vec<String>>,
    pub delimiter: Option<String>,
    pub has_header: Option<bool>,
    pub null_markers: Option<Vec<String>>,
    pub schema: Option<BTreeMap<String, String>>,
    pub batch_rows: Option<usize>,
    /// Rows sampled to infer column types.
    pub infer_rows: Option<usize>,
    pub options: Option<BTreeMap<String, String>>,
    /// Append a file that was already appended to the same table (refused by default:
    /// it would duplicate its rows).
    pub allow_duplicate_source: Option<bool>,
    /// Store column names in lower snake case (`Loan Amount` -> `loan_amount`); the
    /// primary key and partition columns are then given by those names.
    pub normalize_names: Option<bool>,
}

/// One source of a job; also the serialized request of one ingest (what a front, a
/// server job or the Python package passes in).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSource {
    /// A name for reports (default: the table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A data file (.csv, .tsv, .parquet, .jsonl), relative to the job file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A `postgres://` or `mysql://` (`mariadb://`) URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental_column: Option<String>,
    /// A file holding the database password (its first line), relative to the job file,
    /// for a URL without one; else `PGPASSWORD` / `MYSQL_PWD` is used when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// The lake table to write.
    pub table: String,
    #[serde(flatten)]
    pub options: JobOptions,
}

/// A parsed job file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestJob {
    #[serde(default)]
    pub defaults: JobOptions,
    #[serde(rename = "source", default)]
    pub sources: Vec<JobSource>,
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl IngestJob {
    /// Reads and checks a job file.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading job file {}", path.display()), e))?;
        let mut job: IngestJob =
            toml::from_str(&text).map_err(|e| Error::invalid(format!("job file {}: {e}", path.display())))?;
        if job.sources.is_empty() {
            return Err(Error::invalid(format!(
                "job file {} lists no [[source]]",
                path.display()
            )));
        }
        job.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        // Check every source now, so a mistake in the last one fails before the first runs.
        for (i, s) in job.sources.iter().enumerate() {
            job.request(s, crate::DEFAULT_DATABASE).map_err(|e| {
                Error::invalid(format!(
                    "job file {}, source {} ({}): {e}",
                    path.display(),
                    i + 1,
                    s.table
                ))
            })?;
        }
        Ok(job)
    }

    /// The display name of a source.
    pub fn source_name(s: &JobSource) -> String {
        s.name.clone().unwrap_or_else(|| s.table.clone())
    }

    /// Whether the source may append a file already appended (its option, else the
    /// job's default, else no).
    pub fn allows_duplicate_source(&self, s: &JobSource) -> bool {
        s.options
            .allow_duplicate_source
            .or(self.defaults.allow_duplicate_source)
            .unwrap_or(false)
    }

    /// The ingest request of one source, with the defaults applied; a table name without
    /// a database is in `database` (the project's).
    pub fn request(&self, s: &JobSource, database: &str) -> Result<IngestRequest> {
        let d = &self.defaults;
        let o = &s.options;
        macro_rules! pick {
            ($f:ident) => {
                o.$f.clone().or_else(|| d.$f.clone())
            };
        }
        let source = match (&s.path, &s.url) {
            (Some(p), None) => {
                let p = PathBuf::from(p);
                Source::File(if p.is_absolute() { p } else { self.base_dir.join(p) })
            }
            (None, Some(url)) => {
                let mut pg = DatabaseSource::new(
                    url,
                    s.query.clone(),
                    s.source_table.clone(),
                    s.incremental_column.clone(),
                )?;
                pg.password_file = s.password_file.as_ref().map(|f| {
                    let f = PathBuf::from(f);
                    if f.is_absolute() {
                        f
                    } else {
                        self.base_dir.join(f)
                    }
                });
                Source::Database(pg)
            }
            _ => return Err(Error::invalid("a source needs exactly one of path or url")),
        };
        if s.path.is_some()
            && (s.query.is_some()
                || s.source_table.is_some()
                || s.incremental_column.is_some()
                || s.password_file.is_some())
        {
            return Err(Error::invalid(
                "query, source_table, incremental_column and password_file apply to database sources (url) only",
            ));
        }
        let mut read = ReadOptions::default();
        if let Some(delim) = pick!(delimiter) {
            read.delimiter = Some(parse_delimiter(&delim)?);
        }
        if let Some(h) = pick!(has_header) {
            read.has_header = h;
        }
        if let Some(n) = pick!(null_markers) {
            read.null_markers = n;
        }
        if let Some(b) = pick!(batch_rows) {
            read.batch_rows = b.max(1);
        }
        if let Some(n) = pick!(infer_rows) {
            read.infer_rows = n.max(1);
        }
        if let Some(schema) = pick!(schema) {
            read.schema_overrides = schema
                .iter()
                .map(|(k, v)| Ok((k.clone(), parse_type_name(v)?)))
                .collect::<Result<Vec<_>>>()?;
        }
        read.on_error = OnError::parse(pick!(on_error).as_deref().unwrap_or("fail"))?;
        read.normalize_names = pick!(normalize_names).unwrap_or(false);
        Ok(IngestRequest {
            source,
            table: TableName::parse_in(&s.table, database)?,
            mode: WriteMode::parse(pick!(mode).as_deref().unwrap_or("append"))?,
            spec: TableSpec {
                primary_key: pick!(primary_key).unwrap_or_default(),
                partition_by: pick!(partition_by).unwrap_or_default(),
                options: pick!(options).unwrap_or_default(),
            },
            read,
        })
    }
}

/// Parses a delimiter: one character, or `tab` / `\t`.
pub fn parse_delimiter(s: &str) -> Result<u8> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(Error::invalid(format!(
            "delimiter {s:?} must be one ASCII character or 'tab'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_a_job_with_defaults_and_rejects_mistakes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.toml");
        std::fs::write(
            &path,
            r#"
[defaults]
on_error = "quarantine"
[[source]]
path = "a.csv"
table = "raw.a"
mode = "upsert"
primary_key = ["id"]
schema = { zip = "string" }
[[source]]
url = "postgres://u@localhost/db"
source_table = "public.t"
incremental_column = "updated_at"
table = "raw.t"
[[source]]
url = "mariadb://u@localhost/db"
query = "SELECT * FROM payments"
password_file = "my.pass"
table = "raw.p"
"#,
        )
        .unwrap();
        let job = IngestJob::load(&path).unwrap();
        let a = job.request(&job.sources[0], "default").unwrap();
        assert_eq!(a.mode, WriteMode::Upsert);
        assert_eq!(a.read.on_error, OnError::Quarantine);
        assert!(matches!(&a.source, Source::File(p) if p == &dir.path().join("a.csv")));
        assert_eq!(a.read.schema_overrides[0].0, "zip");
        let t = job.request(&job.sources[1], "default").unwrap();
        assert!(matches!(&t.source, Source::Database(d) if d.engine == super::super::DbEngine::Postgres));
        let p = job.request(&job.sources[2], "default").unwrap();
        match &p.source {
            Source::Database(d) => {
                assert_eq!(d.engine, super::super::DbEngine::MySql);
                assert_eq!(d.password_file.as_deref(), Some(dir.path().join("my.pass").as_path()));
            }
            other => panic!("{other:?}"),
        }

        std::fs::write(
            &path,
            "[[source]]\npath = \"a.csv\"\ntable = \"t\"\nmdoe = \"append\"\n",
        )
        .unwrap();
        let e = IngestJob::load(&path).unwrap_err().to_string();
        assert!(e.contains("mdoe"), "{e}");
        std::fs::write(&path, "[[source]]\npath = \"a.csv\"\ntable = \"t\"\nmode = \"merge\"\n").unwrap();
        let e = IngestJob::load(&path).unwrap_err().to_string();
        assert!(e.contains("source 1") && e.contains("merge"), "{e}");
        assert_eq!(parse_delimiter("tab").unwrap(), b'\t');
        assert!(parse_delimiter(";;").is_err());
    }
}
