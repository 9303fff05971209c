//! The commands. Each opens what it needs from the home, calls the library, records a
//! run in the project store, and prints its result through [`Out`].

mod features;
mod gen;
mod ingest;
mod lake;
mod models;
mod quickstart;
mod registry;
mod requests;
mod runs;
mod serve;
mod sql;
mod submit;
mod train;
mod tune;

use std::path::{Path, PathBuf};

use risklake_core::{Error, Result};
use risklake_lake::Lake;
use risklake_track::RunId;
use serde_json::json;

use crate::app::{Cli, Command};
use crate::output::{kv_table, Out};

/// What every command gets: the workspace (home, lake, store) and output settings.
pub struct Ctx {
    pub home: PathBuf,
    pub out: Out,
    pub project: String,
    pub ws: risklake_app::Workspace,
    /// `--store`: the project store's URL, when not the home's SQLite file.
    pub store: Option<String>,
}

impl Ctx {
    /// Opens the home; `create` when the command may be the first to use it (it writes
    /// tables or runs), otherwise a missing home is an error naming the folder.
    fn open(home: &Path, out: Out, project: &str, create: bool, store: Option<String>) -> Result<Ctx> {
        let ws = if create {
            risklake_app::Workspace::open_with(home, project, store.as_deref())?
        } else {
            risklake_app::Workspace::open_existing(home, project, store.as_deref())?
        }
        .with_origin(command_line());
        Ok(Ctx {
            home: ws.home().to_path_buf(),
            out,
            project: project.to_string(),
            ws,
            store,
        })
    }

    /// The lake in this home (the workspace's, opened once).
    pub async fn lake(&self) -> Result<Lake> {
        Ok(self.ws.lake().await?.clone())
    }
}

/// Where a command writes the batches it produces: a lake table (created, or with
/// `--mode`) or a file.
pub struct OutputTarget<'a> {
    pub table: Option<&'a str>,
    pub file: Option<&'a std::path::Path>,
    pub mode: Option<&'a str>,
}

impl OutputTarget<'_> {
    /// The flags as the workflow layer's output spec.
    pub fn spec(&self) -> Result<risklake_app::output::OutputSpec> {
        if self.table.is_none() && self.file.is_none() {
            return Err(Error::invalid("give --out-table or --out"));
        }
        Ok(risklake_app::output::OutputSpec {
            table: self.table.map(str::to_string),
            file: self.file.map(std::path::Path::to_path_buf),
            mode: self.mode.map(risklake_lake::WriteMode::parse).transpose()?,
            partition_by: Vec::new(),
        })
    }
}

/// The command line as typed, with passwords masked.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            let a = risklake_core::secret::mask(&a).into_owned();
            if a.contains(char::is_whitespace) || a.is_empty() {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn run(cli: Cli) -> Result<()> {
    let out = Out {
        json: cli.json,
        quiet: cli.quiet,
    };
    // Commands that talk to a server never open a home here.
    match cli.command {
        Command::Submit(args) => return submit::submit(out, &cli.project, args).await,
        Command::Jobs(cmd) => return submit::jobs(out, &cli.project, cmd),
        Command::Token(cmd) => return submit::token(out, &cli.home, cli.store.as_deref(), &cli.project, cmd),
        _ => {}
    }
    // Commands about what a home already holds never create one (those that may take
    // files instead, such as `model show FILE`, still may).
    use crate::app::ModelCommand as M;
    let creates = !matches!(
        cli.command,
        Command::Tables
            | Command::Describe { .. }
            | Command::Tag { .. }
            | Command::Runs(_)
            | Command::Studies(_)
            | Command::Projects
            | Command::Model(
                M::List { .. } | M::Register { .. } | M::Alias { .. } | M::Tag { .. } | M::DeleteVersion { .. }
            )
    );
    let home = cli.home.clone();
    let ctx = Ctx::open(&cli.home, out, &cli.project, creates, cli.store.clone())?;
    dispatch(ctx, cli.command).await.map_err(|e| with_home(e, &home))
}

/// A table that is not found is not found *in a home*: say which, since a wrong or
/// missing `--home` is the usual cause.
fn with_home(e: Error, home: &Path) -> Error {
    match e {
        Error::NotFound { kind: "table", name } => Error::NotFound {
            kind: "table",
            name: format!(
                "{name} (in the home {}; see `risklake tables`)",
                std::path::absolute(home)
                    .unwrap_or_else(|_| home.to_path_buf())
                    .display()
            ),
        },
        other => other,
    }
}

async fn dispatch(ctx: Ctx, command: Command) -> Result<()> {
    match command {
        Command::Init => lake::init(&ctx).await,
        Command::Tables => lake::tables(&ctx).await,
        Command::Describe { table } => lake::describe(&ctx, &table).await,
        Command::Tag { table, tag, snapshot } => lake::tag(&ctx, &table, &tag, snapshot).await,
        Command::Maintain(args) => lake::maintain(&ctx, args).await,
        Command::Sql(args) => sql::run(&ctx, args).await,
        Command::Serve(args) => serve::run(&ctx, args).await,
        Command::Submit(_) | Command::Jobs(_) | Command::Token(_) => unreachable!("handled before opening a home"),
        Command::Ingest(args) => ingest::run(&ctx, args).await,
        Command::Gen(g) => gen::run(&ctx, g).await,
        Command::Features(f) => features::run(&ctx, f).await,
        Command::Train(t) => train::run(&ctx, t).await,
        Command::Predict(p) => train::predict(&ctx, &p).await,
        Command::Model(m) => models::model(&ctx, m).await,
        Command::Scorecard(c) => models::scorecard(&ctx, c).await,
        Command::Score(s) => models::score(&ctx, &s).await,
        Command::Tune(t) => tune::run(&ctx, &t).await,
        Command::Studies(c) => tune::studies(&ctx, c),
        Command::Runs(r) => runs::run(&ctx, r).await,
        Command::Projects => runs::projects(&ctx),
        Command::Quickstart(args) => quickstart::run(&ctx, args).await,
    }
}

/// Prints what a scoring command wrote.
pub fn emit_written(ctx: &Ctx, run: RunId, target: &str, rows: u64, seconds: f64) {
    ctx.out.emit(
        json!({ "run": run, "target": target, "rows": rows, "seconds": seconds }),
        || {
            kv_table([
                ("wrote", target.to_string()),
                ("rows", rows.to_string()),
                ("time", format!("{seconds:.2} s")),
                ("run", run.to_string()),
            ])
        },
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        // clap checks names, conflicts and defaults of every subcommand only when that
        // subcommand is parsed; this checks them all at once.
        <crate::app::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
