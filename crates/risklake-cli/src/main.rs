//! `risklake`: the command-line front of risklake. Each command is a thin layer over the
//! library crates; see `risklake --help`.

mod app;
mod commands;
mod output;
mod signals;

use std::process::ExitCode;

/// mimalloc keeps freed memory for reuse instead of returning it to the kernel and
/// faulting it back in: with glibc's allocator a third of the CPU time of binning a
/// Parquet file was page faults (system time).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The command line, with negative numbers taken as values everywhere (`--max-bins -3`
/// is then refused as a bad value of --max-bins, not read as an unknown flag `-3`).
fn parse_args() -> app::Cli {
    use clap::{CommandFactory, FromArgMatches};
    fn allow_negatives(c: clap::Command) -> clap::Command {
        c.allow_negative_numbers(true).mut_subcommands(allow_negatives)
    }
    let matches = allow_negatives(app::Cli::command()).get_matches();
    app::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    let cli = parse_args();
    let json = cli.json;
    // Before any thread exists, so that every thread inherits the blocked mask and only
    // the watcher receives SIGINT / SIGTERM.
    signals::watch(cli.home.clone());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = cli_message(&e);
            if json {
                // The JSON contract: stdout carries results only; errors go to stderr.
                eprintln!(
                    "{}",
                    serde_json::json!({ "error": message, "kind": kind_name(e.kind()) })
                );
            } else {
                eprintln!("error: {message}");
            }
            match e.kind() {
                risklake_core::ErrorKind::Cancelled => ExitCode::from(signals::cancelled_exit_code()),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// The library's error in the CLI's words: a request parameter is named by its flag, and
/// no password is printed.
fn cli_message(e: &risklake_core::Error) -> String {
    let text = match e {
        risklake_core::Error::Param { param, message } => format!("--{}: {message}", param.replace('_', "-")),
        e => e.to_string(),
    };
    risklake_core::secret::mask(&text).into_owned()
}

fn kind_name(kind: risklake_core::ErrorKind) -> &'static str {
    use risklake_core::ErrorKind::*;
    match kind {
        Invalid => "invalid",
        NotFound => "not_found",
        Conflict => "conflict",
        Cancelled => "cancelled",
        External => "external",
    }
}
