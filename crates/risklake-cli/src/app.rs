//! The command line: global options and every command's arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use risklake_features::{BinningOptions, FineOptions};
use risklake_learn::scorecard::Scaling;

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
    /// Project that runs are recorded in; a table name without a database is in the
    /// project's lake database (`default` for the default project).
    #[arg(long, global = true, env = "RISKLAKE_PROJECT", default_value = "default")]
    pub project: String,
    /// The project store: a PostgreSQL database (`postgres://user:password@host:port/db`,
    /// for a shared deployment; created and migrated on first use), or, when not given,
    /// the SQLite file in the home. Artifacts stay under the home either way.
    #[arg(long, global = true, env = "RISKLAKE_STORE", hide_env_values = true)]
    pub store: Option<String>,
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
    /// Upkeep of lake tables: compact primary-key tables, expire old snapshots (tags and
    /// recent ones kept), remove files nothing references (after a grace period).
    Maintain(MaintainArgs),
    /// Run SQL over the lake; with no query, open an interactive shell.
    Sql(SqlArgs),
    /// Serve this home over HTTP: a JSON API under /api/v1 and a job runner for any
    /// workflow (stop with Ctrl+C or SIGTERM: running jobs are cancelled and marked).
    Serve(ServeArgs),
    /// Run a workflow command on a server instead of here: `risklake submit --server URL
    /// train gbdt --table apps --label bad` queues the same request as a job there.
    Submit(SubmitArgs),
    /// A server's jobs: list, show, logs, cancel.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// API tokens of this home's server: create (shown once), list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Load files or PostgreSQL data into a lake table.
    Ingest(IngestArgs),
    /// Generate sample data.
    #[command(subcommand)]
    Gen(GenCommand),
    /// Feature mining: binning, WoE/IV/KS/PSI, selection, WoE transform, report.
    #[command(subcommand)]
    Features(FeaturesCommand),
    /// Train a model (gbdt, rf, lr) and record it as a run.
    #[command(subcommand)]
    Train(TrainCommand),
    /// Score a table with a trained model (any kind) into a lake table or file.
    Predict(PredictArgs),
    /// Scorecards: points per bin from a binning plan and an LR on its WoE values.
    #[command(subcommand)]
    Scorecard(ScorecardCommand),
    /// Score a table with a scorecard: its columns plus `score` (and points per feature).
    Score(ScoreArgs),
    /// Trained models: export to other formats, show a summary.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Tune a model's hyper-parameters in an Optuna-compatible study (TPE, random or grid).
    Tune(TuneArgs),
    /// Tuning studies of --project: list, show one with its best trials, parameter
    /// importance (fANOVA, as Optuna's default evaluator).
    #[command(subcommand)]
    Studies(StudiesCommand),
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
    /// A file (.csv, .tsv, .parquet, .jsonl), or a postgres:// or mysql:// (mariadb://) URL.
    #[arg(required_unless_present = "job")]
    pub source: Option<String>,
    /// Target lake table (`db.table`).
    #[arg(long, required_unless_present = "job")]
    pub table: Option<String>,
    /// append, overwrite (replace all rows) or upsert (by primary key).
    #[arg(long, default_value = "append", value_parser = ["append", "overwrite", "upsert"])]
    pub mode: String,
    /// Append a file that was already appended to the table (refused by default: its
    /// rows would be there twice).
    #[arg(long)]
    pub allow_duplicate_source: bool,
    /// Store column names in lower snake case (`Loan Amount` -> `loan_amount`,
    /// `LoanAmount` -> `loan_amount`), so SQL needs no quotes; --primary-key and
    /// --partition-by then name the new names.
    #[arg(long)]
    pub normalize_names: bool,
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
    /// Database (PostgreSQL, MySQL): the query to read.
    #[arg(long)]
    pub query: Option<String>,
    /// Database: the table to read (`schema.table`; `db.table` on MySQL).
    #[arg(long)]
    pub source_table: Option<String>,
    /// Database: read only rows with this column above the last run's high-water mark.
    #[arg(long)]
    pub incremental_column: Option<String>,
    /// Database: a file whose first line is the password, for a URL without one (else
    /// PGPASSWORD / MYSQL_PWD is used when set). Passwords are masked wherever risklake prints or
    /// records a URL.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
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
        /// Skip this many of the newest (the next page: --offset 20).
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Runs of every project, not just --project.
        #[arg(long)]
        all_projects: bool,
    },
    /// Show one run: params, metrics, datasets, artifacts.
    Show { id: i64 },
    /// Runs side by side: parameters (those that differ first), final metrics, inputs.
    Compare {
        #[arg(required = true, num_args = 2..)]
        ids: Vec<i64>,
    },
    /// The chain a run came from: the tables and Paimon snapshots it read and the runs
    /// that wrote them, the plans and models it used and the runs that made them.
    Lineage { id: i64 },
    /// Run a recorded train, features bin or tune run again on the snapshots it read,
    /// with its recorded request and seed, and say whether the result is identical.
    Reproduce { id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum StudiesCommand {
    /// The project's studies: direction, trials by state, best value.
    List,
    /// One study: its best trial and its best trials so far.
    Show {
        name: String,
        /// Trials shown, best first.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Which parameters mattered: fANOVA over the completed trials (a random forest of
    /// --trees trees seeded by --seed), shares summing to 1.
    Importance {
        name: String,
        #[arg(long, default_value_t = 64)]
        trees: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Rows of synthetic credit data to generate.
    #[arg(long, default_value_t = 20_000)]
    pub rows: u64,
}

#[derive(Subcommand, Debug)]
pub enum FeaturesCommand {
    /// Bin every feature of a table and store the binning plan (WoE, IV, KS, AUC per bin and feature).
    Bin(BinArgs),
    /// Bin (or load a plan) and show each feature's metrics and bins, with PSI by period or against a table.
    Evaluate(EvaluateArgs),
    /// Keep the features that pass selection rules; stores the reduced plan.
    Select(SelectArgs),
    /// Apply a plan to a table: WoE values or bin indices into a new lake table or file.
    Transform(TransformArgs),
    /// Write the HTML report of a plan.
    Report(ReportArgs),
}

#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// Lake table (`db.table`) or data file (.csv, .parquet, .jsonl).
    #[arg(long)]
    pub table: String,
    /// Binary label column (required to bin; `evaluate --plan` takes it from the plan).
    #[arg(long)]
    pub label: Option<String>,
    /// The label value meaning bad (default 1 for numbers, true for booleans; required for text labels).
    #[arg(long)]
    pub bad_value: Option<String>,
    /// Column of sample weights.
    #[arg(long)]
    pub weight: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct BinArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Columns to bin, comma-separated (default: all but label, weight and --exclude).
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Columns not to bin (ids, dates, periods), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Integer columns to bin as categories, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// optimal (max IV, monotonic), quantile (equal frequency), uniform (equal width), tree (CART), chimerge, edges.
    #[arg(long, default_value = "optimal")]
    pub method: String,
    /// Most regular bins per feature (quantile/uniform: the number of bins).
    #[arg(long, default_value_t = BinningOptions::default().max_bins)]
    pub max_bins: usize,
    /// Smallest bin, as a share of the rows with a value (tree, chimerge, optimal).
    #[arg(long, default_value_t = BinningOptions::default().min_bin_size)]
    pub min_bin_size: f64,
    /// Event-rate trend for optimal binning: auto, ascending, descending, peak, valley, none.
    #[arg(long, default_value = "auto")]
    pub monotonic: String,
    /// Values with bins of their own, comma-separated (e.g. -999,-1).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub special_values: Vec<f64>,
    /// Special values of one column, in place of --special-values for it:
    /// COL=V1,V2 (repeatable; COL= for none).
    #[arg(long = "column-special-values", value_name = "COL=V1,V2", allow_hyphen_values = true)]
    pub column_special_values: Vec<String>,
    /// One feature's own settings: COL:KEY=VALUE,... with method, max_bins,
    /// min_bin_size, monotonic, min_bad, min_good (repeatable), e.g.
    /// --feature age:max_bins=4,monotonic=descending.
    #[arg(long = "feature", value_name = "COL:KEY=VALUE,...")]
    pub feature_settings: Vec<String>,
    /// Optimal binning: CART pre-bins the exact search runs on.
    #[arg(long, default_value_t = BinningOptions::default().prebins)]
    pub prebins: usize,
    /// Optimal binning: least bad weight per bin; `auto` = max(5, sqrt(the feature's bads)).
    #[arg(long, default_value = "auto", value_parser = parse_event_floor, allow_hyphen_values = true)]
    pub min_bad: EventFloor,
    /// Optimal binning: least good weight per bin; `auto` = max(5, sqrt(the feature's goods)).
    #[arg(long, default_value = "auto", value_parser = parse_event_floor, allow_hyphen_values = true)]
    pub min_good: EventFloor,
    /// Tree: least impurity decrease of a split (share of the root).
    #[arg(long, default_value_t = BinningOptions::default().min_gain)]
    pub min_gain: f64,
    /// ChiMerge: merge neighbours whose chi-square is not significant at this level (0 = only --max-bins).
    #[arg(long, default_value_t = BinningOptions::default().chi_significance.unwrap_or(0.0))]
    pub chi_significance: f64,
    /// Categories below this share of rows are pooled (the pool also takes unseen categories).
    #[arg(long, default_value_t = BinningOptions::default().min_category_share)]
    pub min_category_share: f64,
    /// Split points for a column: COL=v1,v2,... (repeatable; used by --method edges or to override).
    #[arg(long = "edges", value_name = "COL=V1,V2")]
    pub edges: Vec<String>,
    /// Rows binned exactly before switching to the streaming sketch.
    #[arg(long, default_value_t = FineOptions::default().exact_rows)]
    pub exact_rows: usize,
    /// A categorical column with more distinct values is refused (likely an id).
    #[arg(long, default_value_t = FineOptions::default().max_categories)]
    pub max_categories: usize,
    /// Also write the plan to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub bin: BinArgs,
    /// Evaluate this plan (run id or file) instead of binning anew.
    #[arg(long)]
    pub plan: Option<String>,
    /// PSI of every period against the first, by this column (e.g. month).
    #[arg(long, conflicts_with = "psi_against")]
    pub psi_by: Option<String>,
    /// PSI of this table (or file) against --table.
    #[arg(long)]
    pub psi_against: Option<String>,
    /// Print every feature's bins table.
    #[arg(long)]
    pub bins: bool,
}

#[derive(Args, Debug)]
pub struct SelectArgs {
    /// The plan to select from (run id or file).
    #[arg(long)]
    pub plan: String,
    /// Table for correlation/VIF and PSI rules (default: the plan's table is not known, so give it).
    #[arg(long)]
    pub table: Option<String>,
    #[arg(long)]
    pub min_iv: Option<f64>,
    #[arg(long)]
    pub max_missing: Option<f64>,
    /// Needs --psi-by or --psi-against.
    #[arg(long)]
    pub max_psi: Option<f64>,
    /// Largest |correlation| of WoE values between kept features (the higher IV is kept).
    #[arg(long)]
    pub max_corr: Option<f64>,
    /// Largest variance inflation factor among kept features.
    #[arg(long)]
    pub max_vif: Option<f64>,
    #[arg(long, conflicts_with = "psi_against")]
    pub psi_by: Option<String>,
    #[arg(long)]
    pub psi_against: Option<String>,
    /// Also write the selected plan to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct TransformArgs {
    /// The plan (run id or file).
    #[arg(long)]
    pub plan: String,
    /// Table or file to transform.
    #[arg(long)]
    pub table: String,
    /// Lake table to write.
    #[arg(long, conflicts_with = "out", required_unless_present = "out")]
    pub out_table: Option<String>,
    /// File to write (.parquet, .csv, .jsonl).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// woe (Float64) or bin (Int32 index: regular bins, then missing, then specials).
    #[arg(long, default_value = "woe")]
    pub output: String,
    /// Keep the raw columns and add the values as <feature><SUFFIX> columns (e.g. _woe),
    /// so a scored table can be audited; by default the values replace the raw columns.
    #[arg(long)]
    pub suffix: Option<String>,
    /// A category the plan never saw gets: neutral (WoE 0, bin -1), missing (the
    /// missing bin), other (the pool of rare categories, else missing) or error.
    #[arg(long, default_value = "neutral", value_parser = ["neutral", "missing", "other", "error"])]
    pub unseen: String,
    /// If the output table exists: append or overwrite (default: refuse).
    #[arg(long, value_parser = ["append", "overwrite"])]
    pub mode: Option<String>,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The plan (run id or file).
    #[arg(long)]
    pub plan: String,
    /// HTML file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Report title.
    #[arg(long)]
    pub title: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum TrainCommand {
    /// Gradient-boosted trees (our own histogram GBDT; LightGBM's parameter names).
    Gbdt(TrainGbdtArgs),
    /// Random forest on the same binned data (scikit-learn's parameter names:
    /// n_estimators, max_depth, min_samples_leaf, max_features, bootstrap, max_samples).
    Rf(TrainGbdtArgs),
    /// Logistic regression with statistics, penalties and stepwise selection.
    Lr(TrainLrArgs),
}

#[derive(Args, Debug, Clone)]
pub struct TrainLrArgs {
    /// Lake table (`db.table`) or data file to fit on.
    #[arg(long)]
    pub table: String,
    /// Label column (0/1, or any values with --bad-value).
    #[arg(long)]
    pub label: String,
    /// The label value meaning bad; every other value is good.
    #[arg(long)]
    pub bad_value: Option<String>,
    /// Column of sample weights (frequency weights).
    #[arg(long)]
    pub weight: Option<String>,
    /// Fit on the WoE values of this binning plan's bins (run id or file) instead of raw
    /// columns; the plan travels with the model, so it scores raw tables.
    #[arg(long)]
    pub plan: Option<String>,
    /// Validation table or file (AUC and KS reported).
    #[arg(long, conflicts_with = "valid_fraction")]
    pub valid_table: Option<String>,
    /// Hold out this share of the rows (by a hash of the row number) for validation.
    #[arg(long)]
    pub valid_fraction: Option<f64>,
    /// Feature columns, comma-separated (default: every numeric column, or every planned feature).
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Columns not to use, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// A parameter as key=value (repeatable): penalty (none, l2, l1, elasticnet), C,
    /// l1_ratio, max_iter, tol, collinear (refuse, drop), warm_start_rows, num_threads.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Stepwise selection: forward, backward or both.
    #[arg(long, value_parser = ["forward", "backward", "both"])]
    pub stepwise: Option<String>,
    /// What stepwise selection compares: aic, bic or pvalue.
    #[arg(long, default_value = "aic", value_parser = ["aic", "bic", "pvalue"])]
    pub criterion: String,
    /// pvalue stepwise: a feature enters below this p-value.
    #[arg(long, default_value_t = 0.05)]
    pub p_enter: f64,
    /// pvalue stepwise: a feature leaves above this p-value.
    #[arg(long, default_value_t = 0.10)]
    pub p_remove: f64,
    /// Stepwise: keep every coefficient positive (a feature whose WoE coefficient would
    /// be negative does not enter; a negative one leaves first).
    #[arg(long, requires = "stepwise")]
    pub positive_coefficients: bool,
    /// Also write the model to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ScorecardCommand {
    /// Points per bin from a binning plan and an LR fitted on its WoE values.
    Build(ScorecardBuildArgs),
    /// Write a scorecard as a points table (csv), JSON, or a SQL SELECT that scores a table.
    Export {
        /// The scorecard: a run id or a file.
        #[arg(long)]
        scorecard: String,
        #[arg(long, default_value = "csv", value_parser = ["csv", "json", "sql"])]
        format: String,
        /// The table the SQL reads (`FROM ...`).
        #[arg(long, default_value = "input")]
        sql_table: String,
        /// File to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Gains table by score bands (bad rate, cumulative shares, KS, lift), AUC, KS, and
    /// PSI of the score against another table or across periods.
    Evaluate(ScorecardEvaluateArgs),
}

#[derive(Args, Debug)]
pub struct ScorecardBuildArgs {
    /// The binning plan (run id or file); default: the plan the LR was fitted with.
    #[arg(long)]
    pub plan: Option<String>,
    /// The LR model (run id or file), fitted on the plan's WoE values.
    #[arg(long)]
    pub model: String,
    /// Score at the base odds.
    #[arg(long, default_value_t = Scaling::default().base_points)]
    pub base_points: f64,
    /// Good:bad odds at the base points (50 = 50 goods per bad).
    #[arg(long, default_value_t = Scaling::default().base_odds)]
    pub base_odds: f64,
    /// Points that double the good:bad odds.
    #[arg(long, default_value_t = Scaling::default().pdo)]
    pub pdo: f64,
    /// Decimals kept in each bin's points.
    #[arg(long, default_value_t = Scaling::default().digits)]
    pub digits: u32,
    /// Also write the scorecard to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ScorecardEvaluateArgs {
    /// The scorecard (run id or file).
    #[arg(long)]
    pub scorecard: String,
    /// Table or file to evaluate on.
    #[arg(long)]
    pub table: String,
    /// Label column.
    #[arg(long)]
    pub label: String,
    /// The label value meaning bad.
    #[arg(long)]
    pub bad_value: Option<String>,
    /// Score bands (equal frequency).
    #[arg(long, default_value_t = 10)]
    pub bands: usize,
    /// PSI of the score in this table (or file) against --table.
    #[arg(long, conflicts_with = "psi_by")]
    pub psi_against: Option<String>,
    /// PSI of the score of every period against the first, by this column.
    #[arg(long)]
    pub psi_by: Option<String>,
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// The scorecard: a run id or a file.
    #[arg(long)]
    pub scorecard: String,
    /// Table or file to score.
    #[arg(long)]
    pub table: String,
    /// Lake table to write (the input columns plus `score`).
    #[arg(long, conflicts_with = "out", required_unless_present = "out")]
    pub out_table: Option<String>,
    /// File to write (.parquet, .csv, .jsonl).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write each feature's points (`points_<feature>` columns).
    #[arg(long)]
    pub points: bool,
    /// A category the card's plan never saw earns: neutral (0 points), missing (the
    /// missing bin's points), other (the pool of rare categories, else missing) or error.
    #[arg(long, default_value = "neutral", value_parser = ["neutral", "missing", "other", "error"])]
    pub unseen: String,
    /// If the output table exists: append or overwrite (default: refuse).
    #[arg(long, value_parser = ["append", "overwrite"])]
    pub mode: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct TrainGbdtArgs {
    /// Lake table (`db.table`) or data file to train on.
    #[arg(long)]
    pub table: String,
    /// Label column (0/1 for the binary objective, or any values with --bad-value).
    #[arg(long)]
    pub label: String,
    /// The label value meaning bad (e.g. `bad`); every other value is good.
    #[arg(long)]
    pub bad_value: Option<String>,
    /// Column of sample weights.
    #[arg(long)]
    pub weight: Option<String>,
    /// Validation table or file (binned with the training bins).
    #[arg(long, conflicts_with = "valid_fraction")]
    pub valid_table: Option<String>,
    /// Hold out this share of the rows (chosen by a hash of the row number) for validation.
    #[arg(long)]
    pub valid_fraction: Option<f64>,
    /// Feature columns, comma-separated (default: every numeric column but label, weight and --exclude).
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Columns not to use, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// A parameter as key=value (repeatable): num_iterations, learning_rate, num_leaves, max_depth,
    /// min_data_in_leaf, min_sum_hessian_in_leaf, lambda_l1, lambda_l2, min_gain_to_split,
    /// early_stopping_rounds, objective, max_bin.
    /// Integer-coded columns to treat as categories, comma-separated (text and boolean
    /// columns always are); same as --param categorical_feature=a,b.
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Also write the model to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// The model: a run id, a model file, NAME@ALIAS or NAME/VERSION.
    #[arg(long)]
    pub model: String,
    /// Table or file to score.
    #[arg(long)]
    pub table: String,
    /// Lake table to write (the input columns plus `prediction`).
    #[arg(long, conflicts_with = "out", required_unless_present = "out")]
    pub out_table: Option<String>,
    /// File to write (.parquet, .csv, .jsonl).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// proba (binary: probability of bad; regression: the value), raw (log-odds; a
    /// forest's average; a scorecard's score), leaf
    /// (`leaf_<tree>` columns: each tree's leaf index) or shap (`shap_<feature>` columns:
    /// exact TreeSHAP contributions to the raw score, plus `shap_expected`) or reasons
    /// (`prediction` and reason codes `reason_<i>`, `reason_<i>_value`,
    /// `reason_<i>_effect`: the features that raised the row's risk most).
    #[arg(long, default_value = "proba", value_parser = ["proba", "raw", "leaf", "shap", "reasons"])]
    pub output: String,
    /// --output reasons: reason codes per row.
    #[arg(long, default_value_t = 4)]
    pub top: usize,
    /// If the output table exists: append or overwrite (default: refuse).
    #[arg(long, value_parser = ["append", "overwrite"])]
    pub mode: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Write a model in another format (lightgbm: LightGBM's text model; json: ours).
    Export {
        /// The model: a run id, a model file, NAME@ALIAS or NAME/VERSION.
        #[arg(long)]
        model: String,
        #[arg(long, default_value = "lightgbm", value_parser = ["lightgbm", "json"])]
        format: String,
        /// File to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Show a model: kind, inputs, and its summary (an LR's coefficient table); for a
    /// registered model also its version, aliases and tags.
    Show {
        /// The model: a run id, a model file, NAME@ALIAS or NAME/VERSION.
        model: String,
    },
    /// Register a run's model (or scorecard) as the next version of NAME.
    Register {
        /// The run (train, tune or scorecard build).
        #[arg(long)]
        run: i64,
        /// The registered model's name (letters, digits, _ - .).
        #[arg(long)]
        name: String,
        /// Point this alias at the new version (repeatable), e.g. champion.
        #[arg(long = "alias")]
        aliases: Vec<String>,
        /// KEY=VALUE (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Registered models, or one model's versions and history.
    List {
        /// One model: its versions (newest first) and every alias move, tag and deletion.
        name: Option<String>,
    },
    /// Point an alias at a version (moving it in one step), or remove it.
    Alias {
        name: String,
        alias: String,
        /// The version; omit with --remove.
        #[arg(required_unless_present = "remove", value_name = "VERSION")]
        number: Option<i64>,
        #[arg(long, conflicts_with = "number")]
        remove: bool,
    },
    /// Set tags of a version: NAME/VERSION KEY=VALUE...
    Tag {
        /// NAME/VERSION
        model: String,
        #[arg(required = true, value_name = "KEY=VALUE")]
        tags: Vec<String>,
    },
    /// An HTML report of a model (any kind) scored on a labelled table: ROC and KS
    /// curves, gains by score band, calibration, score distributions, PSI of the score,
    /// importance and SHAP (trees), coefficients and points (LR, scorecards).
    Report {
        /// The model or scorecard: run id, file, NAME@ALIAS or NAME/VERSION.
        #[arg(long)]
        model: String,
        /// The table to score (it needs the model's columns and the label).
        #[arg(long)]
        table: String,
        #[arg(long)]
        label: String,
        #[arg(long)]
        bad_value: Option<String>,
        /// Score bands of the gains table.
        #[arg(long, default_value_t = 10)]
        bands: usize,
        /// PSI of the score against this table (the development sample).
        #[arg(long, conflicts_with = "psi_by")]
        psi_against: Option<String>,
        /// PSI of the score per value of this column (periods), against its first.
        #[arg(long)]
        psi_by: Option<String>,
        /// Also write the report to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Delete a version (refused while an alias points at it); its number is not reused.
    DeleteVersion {
        name: String,
        #[arg(value_name = "VERSION")]
        number: i64,
    },
}

#[derive(Args, Debug, Clone)]
pub struct TuneArgs {
    /// The model to tune: gbdt, rf or lr.
    #[arg(long, value_parser = ["gbdt", "rf", "lr"])]
    pub model: String,
    /// Lake table (`db.table`) or data file.
    #[arg(long)]
    pub table: String,
    /// Label column.
    #[arg(long)]
    pub label: String,
    /// The label value meaning bad.
    #[arg(long)]
    pub bad_value: Option<String>,
    /// Column of sample weights.
    #[arg(long)]
    pub weight: Option<String>,
    /// Validation table or file (trials are scored by its AUC).
    #[arg(long, conflicts_with = "valid_fraction")]
    pub valid_table: Option<String>,
    /// Hold out this share of the rows for validation (default 0.2 without --valid-table).
    #[arg(long, conflicts_with = "folds")]
    pub valid_fraction: Option<f64>,
    /// gbdt, rf: score each trial by the mean AUC of K-fold cross-validation instead.
    #[arg(long, conflicts_with = "valid_table")]
    pub folds: Option<usize>,
    /// Feature columns, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Columns not to use, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// lr: fit on this binning plan's WoE values.
    #[arg(long)]
    pub plan: Option<String>,
    /// gbdt, rf: integer-coded columns to treat as categories, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// Trials to run.
    #[arg(long, default_value_t = 20)]
    pub trials: usize,
    /// Search space (TOML: one table per parameter with type, low, high, log, step or
    /// choices); default: a space per model.
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// Fixed parameters as key=value (repeatable), e.g. num_iterations=300.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// tpe: Optuna 5's TPE with risklake's defaults (64 candidates, a Latin-hypercube
    /// startup); tpe-optuna: with Optuna's own settings (24 candidates, uniform startup);
    /// random; grid (see --grid).
    #[arg(long, default_value = "tpe", value_parser = ["tpe", "tpe-optuna", "random", "grid"])]
    pub sampler: String,
    /// Grid sampler: values per parameter, NAME=v1,v2 (repeatable).
    #[arg(long = "grid", value_name = "NAME=V1,V2")]
    pub grid: Vec<String>,
    /// none, median, successive_halving or hyperband (Optuna's rules), on the GBDT's
    /// validation AUC as it trains.
    #[arg(long, default_value = "none", value_parser = ["none", "median", "successive_halving", "hyperband"])]
    pub pruner: String,
    /// Study name (default: <model>-<db.table or file stem>-<label>).
    #[arg(long)]
    pub study: Option<String>,
    /// journal:PATH (Optuna's journal file, shared with Optuna workers), sqlite:PATH
    /// (Optuna's RDB schema on SQLite) or memory; default: journal:<home>/studies/<study>.journal.
    #[arg(long)]
    pub storage: Option<String>,
    /// Trials run at once (threads sharing the study).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Stop starting trials after this many seconds.
    #[arg(long)]
    pub timeout: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue the study even though it recorded another model, table, label or search
    /// space (its trials then steer the sampler and compete for "best").
    #[arg(long)]
    pub reuse_study: bool,
}

/// `--min-bad` / `--min-good`: `auto` (`None`) or a weight.
#[derive(Debug, Clone, Copy)]
pub struct EventFloor(pub Option<f64>);

fn parse_event_floor(s: &str) -> std::result::Result<EventFloor, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(EventFloor(None));
    }
    s.parse::<f64>()
        .map(|v| EventFloor(Some(v)))
        .map_err(|_| format!("'{s}' is neither 'auto' nor a number"))
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for a user in --project with a role; its secret is printed once.
    Create {
        #[arg(long)]
        user: String,
        /// viewer (reads), editor (also runs jobs), admin (also manages).
        #[arg(long, value_parser = ["viewer", "editor", "admin"])]
        role: String,
        /// Valid for this many days (default: until revoked).
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// Tokens of --project (never their secrets).
    List,
    /// Revoke a token: it stops working at once.
    Revoke { id: i64 },
}

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The server (`http://host:port`).
    #[arg(long, env = "RISKLAKE_SERVER", default_value = "http://127.0.0.1:8420")]
    pub server: String,
    /// The API token (else $RISKLAKE_TOKEN).
    #[arg(long, env = "RISKLAKE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Wait for the job to end, printing its log lines; exit as the job ended.
    #[arg(long)]
    pub wait: bool,
    /// Put the job back in the queue (instead of failing it) if its server stops.
    #[arg(long)]
    pub requeue: bool,
    /// The workflow command and its flags, as you would run it here.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Jobs, newest first.
    List {
        #[arg(long, env = "RISKLAKE_SERVER", default_value = "http://127.0.0.1:8420")]
        server: String,
        /// The API token (else $RISKLAKE_TOKEN).
        #[arg(long, env = "RISKLAKE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// queued, running, succeeded, failed or cancelled.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One job: state, times, runs, report or error.
    Show {
        id: i64,
        #[arg(long, env = "RISKLAKE_SERVER", default_value = "http://127.0.0.1:8420")]
        server: String,
        /// The API token (else $RISKLAKE_TOKEN).
        #[arg(long, env = "RISKLAKE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// A job's log lines.
    Logs {
        id: i64,
        #[arg(long, env = "RISKLAKE_SERVER", default_value = "http://127.0.0.1:8420")]
        server: String,
        /// The API token (else $RISKLAKE_TOKEN).
        #[arg(long, env = "RISKLAKE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Cancel a job (queued: at once; running: at its next check).
    Cancel {
        id: i64,
        #[arg(long, env = "RISKLAKE_SERVER", default_value = "http://127.0.0.1:8420")]
        server: String,
        /// The API token (else $RISKLAKE_TOKEN).
        #[arg(long, env = "RISKLAKE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8420")]
    pub bind: std::net::SocketAddr,
    /// token: every call but /health needs `Authorization: Bearer <token>` (risklake token
    /// create); none: anyone who can connect acts as you (loopback only).
    #[arg(long, default_value = "token", value_parser = ["token", "none"])]
    pub auth: String,
    /// Jobs run at once (default: one per two cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// The one folder whose files job requests may name (data files, outputs); without
    /// it, requests may name no file.
    #[arg(long)]
    pub files: Option<PathBuf>,
    /// The most rows a SQL query over the API returns.
    #[arg(long, default_value_t = 10_000)]
    pub sql_rows: usize,
    /// How long a SQL query over the API (or a statement over the PostgreSQL protocol) may
    /// run, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub sql_timeout: f64,
    /// Also serve the lake's SQL over the PostgreSQL wire protocol here (e.g.
    /// 127.0.0.1:5433), for psql, psycopg and BI tools; the password is an API token.
    #[arg(long)]
    pub pg_bind: Option<std::net::SocketAddr>,
}

#[derive(Args, Debug)]
pub struct MaintainArgs {
    /// Tables to maintain (`db.table`); none means every table.
    pub tables: Vec<String>,
    /// Always keep this many newest snapshots.
    #[arg(long, default_value_t = risklake_lake::maintain::MaintainOptions::default().retain_last)]
    pub retain_last: usize,
    /// Keep snapshots younger than this (e.g. 30m, 1h, 7d; plain numbers are seconds).
    #[arg(long, default_value = "1h", value_parser = parse_duration_s)]
    pub retain_age: f64,
    /// Remove files nothing references only when older than this (a running write owns
    /// its files until it commits).
    #[arg(long, default_value = "1d", value_parser = parse_duration_s)]
    pub orphan_grace: f64,
    /// Do not compact primary-key tables.
    #[arg(long)]
    pub no_compact: bool,
    /// Report what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `90`, `90s`, `30m`, `1h`, `7d` -> seconds.
fn parse_duration_s(s: &str) -> std::result::Result<f64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1.0),
        Some((i, 'm')) => (&t[..i], 60.0),
        Some((i, 'h')) => (&t[..i], 3600.0),
        Some((i, 'd')) => (&t[..i], 86_400.0),
        _ => (t, 1.0),
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v * mult),
        _ => Err(format!("'{s}' is not a duration (e.g. 90s, 30m, 1h, 7d)")),
    }
}
