//! `sql`: statements over the lake, or an interactive shell.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::json;

use risklake_app::sql::SqlRequest;
use risklake_core::{Error, Result};
use risklake_lake::sql::{is_complete, split_statements};
use risklake_lake::{SqlResult, SqlSession};

use super::Ctx;
use crate::app::SqlArgs;
use crate::output::{batches_csv, batches_json, batches_table, write_file, Bars};

/// The `--file NAME=PATH` flags as the request's files.
pub fn files_of(args: &SqlArgs) -> Result<BTreeMap<String, PathBuf>> {
    let mut files = BTreeMap::new();
    for f in &args.files {
        let (name, path) = f
            .split_once('=')
            .ok_or_else(|| Error::invalid(format!("--file {f:?} should be NAME=PATH")))?;
        files.insert(name.trim().to_string(), PathBuf::from(path.trim()));
    }
    Ok(files)
}

pub async fn run(ctx: &Ctx, args: SqlArgs) -> Result<()> {
    let files = files_of(&args)?;
    let text = match (&args.query, &args.script) {
        (Some(q), _) => q.clone(),
        (None, Some(path)) => {
            std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?
        }
        (None, None) => {
            let session = risklake_app::sql::session(&ctx.ws, &files).await?;
            return shell(ctx, &session).await;
        }
    };
    let req = SqlRequest { sql: text, files };
    let done = risklake_app::sql::run(&ctx.ws, &req, &Bars::new(ctx.out)).await?;
    let (results, run) = (done.results, done.run);
    if let Some(out) = &args.out {
        let last = results.last().ok_or_else(|| Error::invalid("no result to write"))?;
        write_result(out, &args.format, last)?;
        ctx.out
            .emit(json!({ "out": out, "rows": last.num_rows(), "run": run }), || {
                format!("wrote {} rows to {}", last.num_rows(), out.display())
            });
        return Ok(());
    }
    if ctx.out.json {
        let docs = results.iter().map(result_json).collect::<Result<Vec<_>>>()?;
        ctx.out.emit(json!({ "results": docs, "run": run }), String::new);
        return Ok(());
    }
    for r in &results {
        print_result(r, &args.format)?;
    }
    Ok(())
}

fn result_json(r: &SqlResult) -> Result<serde_json::Value> {
    Ok(json!({
        "statement": r.statement,
        "columns": r.schema.fields().iter().map(|f| json!({"name": f.name(), "type": f.data_type().to_string()})).collect::<Vec<_>>(),
        "rows": r.num_rows(),
        "data": batches_json(&r.batches)?,
    }))
}

fn print_result(r: &SqlResult, format: &str) -> Result<()> {
    match format {
        "csv" => batches_csv(&r.batches, &mut std::io::stdout().lock()),
        "json" => {
            println!(
                "{}",
                serde_json::to_string_pretty(&batches_json(&r.batches)?).unwrap_or_default()
            );
            Ok(())
        }
        "parquet" => Err(Error::invalid("--format parquet needs --out FILE")),
        _ => {
            if r.schema.fields().is_empty() {
                println!("OK");
            } else {
                println!("{}", batches_table(&r.batches)?);
                println!("({} row{})", r.num_rows(), if r.num_rows() == 1 { "" } else { "s" });
            }
            Ok(())
        }
    }
}

fn write_result(out: &std::path::Path, format: &str, r: &SqlResult) -> Result<()> {
    // The extension decides, unless --format names another type explicitly.
    let path = match (format, risklake_lake::FileFormat::of(out)) {
        ("table", Some(_)) => out.to_path_buf(),
        ("table", None) => {
            return Err(Error::invalid(format!(
                "{}: give --format csv|json|parquet or a known extension",
                out.display()
            )))
        }
        _ => out.to_path_buf(),
    };
    match format {
        "csv" => {
            let f = std::fs::File::create(&path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
            batches_csv(&r.batches, &mut std::io::BufWriter::new(f))
        }
        "json" => {
            let v = batches_json(&r.batches)?;
            std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap_or_default())
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))
        }
        "parquet" => {
            let tmp = path.with_extension("parquet.tmp");
            let mut w = parquet::arrow::ArrowWriter::try_new(
                std::fs::File::create(&tmp).map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?,
                r.schema.clone(),
                None,
            )
            .map_err(|e| Error::invalid(format!("writing {}: {e}", path.display())))?;
            for b in &r.batches {
                w.write(b)
                    .map_err(|e| Error::invalid(format!("writing {}: {e}", path.display())))?;
            }
            w.close()
                .map_err(|e| Error::invalid(format!("writing {}: {e}", path.display())))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(format!("renaming to {}", path.display()), e))
        }
        _ => write_file(&path, r.schema.clone(), &r.batches),
    }
}

async fn shell(ctx: &Ctx, session: &SqlSession) -> Result<()> {
    use rustyline::error::ReadlineError;
    let mut editor =
        rustyline::DefaultEditor::new().map_err(|e| Error::invalid(format!("cannot start the shell: {e}")))?;
    let history = ctx.home.join(".sql_history");
    let _ = editor.load_history(&history);
    eprintln!(
        "risklake SQL shell on {} (end statements with ';', \\d lists tables, \\d T describes T, \\q quits)",
        ctx.home.display()
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { "risklake> " } else { "      ... " };
        match editor.readline(prompt) {
            Ok(line) => {
                let trimmed = line.trim();
                if buffer.is_empty() && trimmed.starts_with('\\') {
                    let _ = editor.add_history_entry(trimmed);
                    if matches!(trimmed, "\\q" | "\\quit") {
                        break;
                    }
                    if let Err(e) = meta_command(ctx, trimmed).await {
                        eprintln!("error: {e}");
                    }
                    continue;
                }
                if buffer.is_empty() && matches!(trimmed.to_ascii_lowercase().as_str(), "exit" | "quit") {
                    break;
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if is_complete(&buffer) {
                    let _ = editor.add_history_entry(buffer.trim());
                    for stmt in split_statements(&buffer) {
                        let started = std::time::Instant::now();
                        match session.query(&stmt).await {
                            Ok(r) => {
                                if let Err(e) = print_result(&r, "table") {
                                    eprintln!("error: {e}");
                                }
                                eprintln!("({:.3} s)", started.elapsed().as_secs_f64());
                            }
                            Err(e) => eprintln!("error: {e}"),
                        }
                    }
                    buffer.clear();
                }
            }
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::invalid(format!("shell input: {e}"))),
        }
    }
    let _ = editor.save_history(&history);
    Ok(())
}

async fn meta_command(ctx: &Ctx, cmd: &str) -> Result<()> {
    let mut parts = cmd.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("\\d"), None) => super::lake::tables(ctx).await,
        (Some("\\d"), Some(t)) => super::lake::describe(ctx, &ctx.ws.table_name(t)?.to_string()).await,
        _ => Err(Error::invalid(format!(
            "unknown shell command {cmd}; try \\d, \\d TABLE or \\q"
        ))),
    }
}
