//! The command line: global options and every command's arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// risklake: credit-risk data and ML platform (lake, SQL, ingest, features, models, tuning).
#[derive(Parser, Debug)]
#[command(name = "risklake", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Home folder holding the lake warehouse and the project store.
    #[arg(long, global = true, env = "RISKLAKE_HOME", default_value = "./risklake-home")]
    pub home: PathBuf,
    /// Print the result as one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Project that runs are recorded in.
    #[arg(long, global = true, env = "RISKLAKE_PROJECT", default_value = "default")]
    pub project: String,
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the home (warehouse and project store) if it does not exist.
    Init,
    /// List the lake's tables.
    Tables,
    /// Show a table's schema, options, row count, snapshots and tags.
    Describe {
        /// Table name (`db.table`; the database defaults to `default`).
        table: String,
    },
    /// Tag a table's snapshot, to read it later with `VERSION AS OF 'tag'`.
    Tag {
        table: String,
        tag: String,
        /// Snapshot to tag (default: the latest).
        #[arg(long)]
        snapshot: Option<i64>,
    },
    /// Run SQL over the lake; with no query, open an interactive shell.
    Sql(SqlArgs),
    /// Load files or PostgreSQL data into a lake table.
    Ingest(IngestArgs),
    /// Generate sample data.
    #[command(subcommand)]
    Gen(GenCommand),
    /// Recorded runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Projects in the store.
    Projects,
    /// Show the whole flow on sample data: data into the lake, SQL, and where results are.
    Quickstart(QuickstartArgs),
}

#[derive(Args, Debug)]
pub struct SqlArgs {
    /// Statements separated by `;` (omit for the interactive shell).
    pub query: Option<String>,
    /// Output format of query results.
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json", "parquet"])]
    pub format: String,
    /// Write the last statement's result to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Make a data file queryable as a table: NAME=PATH (repeatable).
    #[arg(long = "file", value_name = "NAME=PATH")]
    pub files: Vec<String>,
    /// Read the statements from a file.
    #[arg(long, short = 'f', conflicts_with = "query")]
    pub script: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// A file (.csv, .tsv, .parquet, .jsonl) or a postgres:// URL.
    #[arg(required_unless_present = "job")]
    pub source: Option<String>,
    /// Target lake table (`db.table`).
    #[arg(long, required_unless_present = "job")]
    pub table: Option<String>,
    /// append, overwrite (replace all rows) or upsert (by primary key).
    #[arg(long, default_value = "append", value_parser = ["append", "overwrite", "upsert"])]
    pub mode: String,
    /// Primary-key columns, comma-separated (new tables).
    #[arg(long, value_delimiter = ',')]
    pub primary_key: Vec<String>,
    /// Partition columns, comma-separated (new tables).
    #[arg(long, value_delimiter = ',')]
    pub partition_by: Vec<String>,
    /// fail (default): stop at the first bad row; quarantine: write bad rows to <table>__rejected.
    #[arg(long, default_value = "fail", value_parser = ["fail", "quarantine"])]
    pub on_error: String,
    /// CSV field delimiter (one character, or `tab`).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// The CSV has no header line (columns are named column_1, column_2, ...).
    #[arg(long)]
    pub no_header: bool,
    /// A cell value read as NULL (repeatable; replaces the defaults "", NA, N/A, NULL, null, NaN, nan).
    #[arg(long = "null-marker")]
    pub null_markers: Vec<String>,
    /// Column types overriding inference: col=type,col2=type (int, bigint, double, string, date, timestamp, boolean).
    #[arg(long)]
    pub schema: Option<String>,
    /// Rows sampled to infer types.
    #[arg(long, default_value_t = 10_000)]
    pub infer_rows: usize,
    /// PostgreSQL: the query to read.
    #[arg(long)]
    pub query: Option<String>,
    /// PostgreSQL: the table to read (`schema.table`).
    #[arg(long)]
    pub source_table: Option<String>,
    /// PostgreSQL: read only rows with this column above the last run's high-water mark.
    #[arg(long)]
    pub incremental_column: Option<String>,
    /// Run a declarative job file listing many sources.
    #[arg(long, conflicts_with_all = ["source", "table"])]
    pub job: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum GenCommand {
    /// Synthetic credit applications with a `bad` label (deterministic for a seed).
    Credit(GenCreditArgs),
}

#[derive(Args, Debug)]
pub struct GenCreditArgs {
    #[arg(long, default_value_t = 10_000)]
    pub rows: u64,
    /// Number of feature columns.
    #[arg(long, default_value_t = 24)]
    pub features: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Lake table to write.
    #[arg(long, conflicts_with = "out", required_unless_present = "out")]
    pub table: Option<String>,
    /// File to write (.parquet, .csv or .jsonl).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// If the table exists: append or overwrite (default: refuse).
    #[arg(long, value_parser = ["append", "overwrite"])]
    pub mode: Option<String>,
    /// Partition a new table by these columns (e.g. month).
    #[arg(long, value_delimiter = ',')]
    pub partition_by: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        /// Only runs of this kind (ingest, sql, gen, ...).
        #[arg(long)]
        kind: Option<String>,
        /// Only runs with this status (running, finished, failed).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Runs of every project, not just --project.
        #[arg(long)]
        all_projects: bool,
    },
    /// Show one run: params, metrics, datasets, artifacts.
    Show { id: i64 },
}

#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Rows of synthetic credit data to generate.
    #[arg(long, default_value_t = 20_000)]
    pub rows: u64,
}
