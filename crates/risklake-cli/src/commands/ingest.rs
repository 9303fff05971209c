//! `ingest`: files and PostgreSQL into lake tables, one command or a job file.

use std::collections::BTreeMap;

use risklake_app::ingest::{IngestRequest, JobOutcome};
use risklake_core::{Error, Result};
use risklake_lake::ingest::{schema_pairs, IngestReport, JobOptions};

use super::Ctx;
use crate::app::IngestArgs;
use crate::output::{grid, kv_table, Bars};

pub async fn run(ctx: &Ctx, args: IngestArgs) -> Result<()> {
    let bars = Bars::new(ctx.out);
    if let Some(job_path) = &args.job {
        let done = risklake_app::ingest::ingest_job(&ctx.ws, job_path, &bars).await?;
        return render_job(ctx, &done);
    }
    let req = request_from_args(&args)?;
    let done = risklake_app::ingest::ingest(&ctx.ws, &req, &bars).await?;
    let value = serde_json::to_value(&done).map_err(|e| Error::invalid(e.to_string()))?;
    ctx.out.emit(value, || human_report(&done.report));
    Ok(())
}

/// The request the flags describe (the same as a job file's `[[source]]`).
pub fn request_from_args(args: &IngestArgs) -> Result<IngestRequest> {
    let source_arg = args
        .source
        .as_deref()
        .ok_or_else(|| Error::invalid("give a SOURCE (a file, or a postgres:// or mysql:// URL) or --job FILE"))?;
    let table = args
        .table
        .clone()
        .ok_or_else(|| Error::invalid("--table is required"))?;
    let is_db = risklake_lake::ingest::DbEngine::of_url(source_arg).is_some();
    if !is_db
        && (args.query.is_some()
            || args.source_table.is_some()
            || args.incremental_column.is_some()
            || args.password_file.is_some())
    {
        return Err(Error::invalid(
            "--query, --source-table, --incremental-column and --password-file apply to database (postgres://, mysql://) sources only",
        ));
    }
    let schema = match &args.schema {
        Some(spec) => Some(schema_pairs(spec)?.into_iter().collect::<BTreeMap<_, _>>()),
        None => None,
    };
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    Ok(IngestRequest {
        path: (!is_db).then(|| source_arg.to_string()),
        url: is_db.then(|| source_arg.to_string()),
        query: args.query.clone(),
        source_table: args.source_table.clone(),
        incremental_column: args.incremental_column.clone(),
        password_file: args.password_file.as_ref().map(|p| p.display().to_string()),
        table,
        options: JobOptions {
            mode: Some(args.mode.clone()),
            on_error: Some(args.on_error.clone()),
            primary_key: list(&args.primary_key),
            partition_by: list(&args.partition_by),
            delimiter: args.delimiter.clone(),
            has_header: Some(!args.no_header),
            null_markers: list(&args.null_markers),
            schema,
            infer_rows: Some(args.infer_rows.max(1)),
            allow_duplicate_source: args.allow_duplicate_source.then_some(true),
            normalize_names: args.normalize_names.then_some(true),
            ..Default::default()
        },
        ..Default::default()
    })
}

fn render_job(ctx: &Ctx, done: &JobOutcome) -> Result<()> {
    let value = serde_json::to_value(done).map_err(|e| Error::invalid(e.to_string()))?;
    ctx.out.emit(value, || {
        grid(
            &["source", "table", "rows", "rejected", "snapshot", "seconds"],
            done.sources
                .iter()
                .map(|o| {
                    let r = &o.report;
                    vec![
                        r.source.clone(),
                        r.table.clone(),
                        r.rows_written.to_string(),
                        r.rows_rejected.to_string(),
                        r.snapshot.map(|s| s.to_string()).unwrap_or("-".into()),
                        format!("{:.2}", r.seconds),
                    ]
                })
                .collect(),
        )
    });
    Ok(())
}

pub fn human_report(r: &IngestReport) -> String {
    let rate = if r.seconds > 0.0 {
        r.rows_written as f64 / r.seconds
    } else {
        0.0
    };
    let mut rows = vec![
        ("source", r.source.clone()),
        (
            "table",
            format!("{}{}", r.table, if r.created { " (created)" } else { "" }),
        ),
        ("mode", format!("{:?}", r.mode).to_lowercase()),
        ("rows written", r.rows_written.to_string()),
        ("rows rejected", r.rows_rejected.to_string()),
        (
            "snapshot",
            r.snapshot
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unchanged (no rows)".into()),
        ),
        ("time", format!("{:.2} s ({:.0} rows/s)", r.seconds, rate)),
    ];
    if let Some(t) = &r.rejected_table {
        rows.push(("rejected rows in", t.clone()));
    }
    if let Some(h) = &r.high_water_mark {
        rows.push(("high-water mark", h.clone()));
    }
    kv_table(rows)
}
