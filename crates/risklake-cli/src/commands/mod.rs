//! The commands. Each opens what it needs from the home, calls the library, records a
//! run in the project store, and prints its result through [`Out`].

mod features;
mod gen;
mod ingest;
mod lake;
mod quickstart;
mod runs;
mod sql;
mod train;

use std::path::{Path, PathBuf};

use risklake_core::{Error, Result};
use risklake_lake::Lake;
use risklake_track::{RunId, RunStatus, SqliteStore, Store};

use crate::app::{Cli, Command};
use crate::output::Out;

/// What every command gets: the home, the store, output settings.
pub struct Ctx {
    pub home: PathBuf,
    pub out: Out,
    pub project: String,
    pub store: Box<dyn Store>,
    pub command_line: String,
}

impl Ctx {
    fn open(home: &Path, out: Out, project: &str) -> Result<Ctx> {
        std::fs::create_dir_all(home).map_err(|e| Error::io(format!("creating home {}", home.display()), e))?;
        let home = home
            .canonicalize()
            .map_err(|e| Error::io(format!("resolving home {}", home.display()), e))?;
        let store: Box<dyn Store> = Box::new(SqliteStore::open(&home)?);
        Ok(Ctx {
            home,
            out,
            project: project.to_string(),
            store,
            command_line: command_line(),
        })
    }

    /// The lake in this home.
    pub async fn lake(&self) -> Result<Lake> {
        Lake::open(&self.warehouse()).await
    }

    pub fn warehouse(&self) -> PathBuf {
        self.home.join("warehouse")
    }

    /// Starts a run of `kind` for this command line.
    pub fn start(&self, kind: &str) -> Result<RunId> {
        self.store.start_run(&self.project, kind, &self.command_line)
    }

    /// Ends a run as the result says; the result passes through.
    pub fn finish<T>(&self, run: RunId, result: Result<T>) -> Result<T> {
        let (status, error) = match &result {
            Ok(_) => (RunStatus::Finished, None),
            Err(e) => (RunStatus::Failed, Some(e.to_string())),
        };
        // Failing to record must not hide the command's own error.
        if let Err(e) = self.store.finish_run(run, status, error.as_deref()) {
            self.out
                .note(format!("warning: could not record the end of run {run}: {e}"));
        }
        result
    }
}

/// Opens a writer on the lake table `name` for a command's output: a new table is created
/// with `schema` and `spec`; an existing one needs `--mode append|overwrite`.
pub async fn output_writer(
    lake: &Lake,
    name: &risklake_lake::TableName,
    schema: &arrow::datatypes::Schema,
    spec: &risklake_lake::TableSpec,
    mode: Option<&str>,
) -> Result<risklake_lake::TableWriter> {
    if lake.exists(name).await? {
        if mode.is_none() {
            return Err(Error::invalid(format!(
                "table {name} already exists; give --mode append or --mode overwrite"
            )));
        }
    } else {
        lake.create_table(name, schema, spec).await?;
    }
    let mode = match mode {
        Some(m) => risklake_lake::WriteMode::parse(m)?,
        None => risklake_lake::WriteMode::Append,
    };
    lake.writer(name, mode).await
}

/// The command line as typed, with passwords in URLs masked.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            let a = mask_password(&a);
            if a.contains(char::is_whitespace) || a.is_empty() {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn mask_password(s: &str) -> String {
    if let (Some(scheme), Some(at)) = (s.find("://"), s.rfind('@')) {
        let creds = &s[scheme + 3..at];
        if let Some(colon) = creds.find(':') {
            return format!("{}{}:***{}", &s[..scheme + 3], &creds[..colon], &s[at..]);
        }
    }
    s.to_string()
}

pub async fn run(cli: Cli) -> Result<()> {
    let out = Out {
        json: cli.json,
        quiet: cli.quiet,
    };
    let ctx = Ctx::open(&cli.home, out, &cli.project)?;
    match cli.command {
        Command::Init => lake::init(&ctx).await,
        Command::Tables => lake::tables(&ctx).await,
        Command::Describe { table } => lake::describe(&ctx, &table).await,
        Command::Tag { table, tag, snapshot } => lake::tag(&ctx, &table, &tag, snapshot).await,
        Command::Sql(args) => sql::run(&ctx, args).await,
        Command::Ingest(args) => ingest::run(&ctx, args).await,
        Command::Gen(g) => gen::run(&ctx, g).await,
        Command::Features(f) => features::run(&ctx, f).await,
        Command::Train(t) => train::run(&ctx, t).await,
        Command::Predict(p) => train::predict(&ctx, &p).await,
        Command::Model(m) => train::model(&ctx, m),
        Command::Runs(r) => runs::run(&ctx, r),
        Command::Projects => runs::projects(&ctx),
        Command::Quickstart(args) => quickstart::run(&ctx, args).await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_url_passwords() {
        assert_eq!(super::mask_password("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::mask_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::mask_password("plain"), "plain");
    }
}
