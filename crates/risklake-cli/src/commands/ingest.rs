//! `ingest`: files and PostgreSQL into lake tables, one command or a job file.

use std::path::PathBuf;

use serde_json::json;

use risklake_core::{Error, Result};
use risklake_lake::ingest::{
    ingest, IngestJob, IngestReport, IngestRequest, OnError, PostgresSource, ReadOptions, Source,
};
use risklake_lake::{Lake, TableName, TableSpec, WriteMode};
use risklake_track::DatasetRef;

use super::Ctx;
use crate::app::IngestArgs;
use crate::output::{grid, kv_table, Unit};

pub async fn run(ctx: &Ctx, args: IngestArgs) -> Result<()> {
    let lake = ctx.lake().await?;
    if let Some(job_path) = &args.job {
        return run_job(ctx, &lake, job_path).await;
    }
    let req = request_from_args(&args)?;
    let report = run_one(ctx, &lake, &req).await?;
    let value = serde_json::to_value(&report).map_err(|e| Error::invalid(e.to_string()))?;
    ctx.out.emit(value, || human_report(&report));
    Ok(())
}

fn request_from_args(args: &IngestArgs) -> Result<IngestRequest> {
    let source_arg = args
        .source
        .as_deref()
        .ok_or_else(|| Error::invalid("give a SOURCE (file or postgres:// URL) or --job FILE"))?;
    let table = TableName::parse(
        args.table
            .as_deref()
            .ok_or_else(|| Error::invalid("--table is required"))?,
    )?;
    let is_pg = source_arg.starts_with("postgres://") || source_arg.starts_with("postgresql://");
    let source = if is_pg {
        Source::Postgres(PostgresSource::new(
            source_arg,
            args.query.clone(),
            args.source_table.clone(),
            args.incremental_column.clone(),
        )?)
    } else {
        if args.query.is_some() || args.source_table.is_some() || args.incremental_column.is_some() {
            return Err(Error::invalid(
                "--query, --source-table and --incremental-column apply to postgres:// sources only",
            ));
        }
        Source::File(PathBuf::from(source_arg))
    };
    let mut read = ReadOptions {
        has_header: !args.no_header,
        infer_rows: args.infer_rows.max(1),
        ..Default::default()
    };
    if let Some(d) = &args.delimiter {
        read.delimiter = Some(risklake_lake::ingest::parse_delimiter(d)?);
    }
    if !args.null_markers.is_empty() {
        read.null_markers = args.null_markers.clone();
    }
    if let Some(s) = &args.schema {
        read.schema_overrides = ReadOptions::parse_overrides(s)?;
    }
    read.on_error = OnError::parse(&args.on_error)?;
    Ok(IngestRequest {
        source,
        table,
        mode: WriteMode::parse(&args.mode)?,
        spec: TableSpec {
            primary_key: args.primary_key.clone(),
            partition_by: args.partition_by.clone(),
            ..Default::default()
        },
        read,
    })
}

fn state_key(req: &IngestRequest) -> Option<String> {
    match &req.source {
        Source::Postgres(pg) => pg
            .incremental_column
            .as_ref()
            .map(|c| format!("{}|{}|{}", req.table, pg.describe(), c)),
        _ => None,
    }
}

/// Runs one ingest as a recorded run, keeping the incremental high-water mark.
pub async fn run_one(ctx: &Ctx, lake: &Lake, req: &IngestRequest) -> Result<IngestReport> {
    let mut req = req.clone();
    let key = state_key(&req);
    if let (Some(k), Source::Postgres(pg)) = (&key, &mut req.source) {
        pg.since = ctx.store.get_state("ingest", k)?;
    }
    let run = ctx.start("ingest")?;
    let result = async {
        ctx.store.log_param(run, "source", &req.source.describe())?;
        ctx.store.log_param(run, "table", &req.table.to_string())?;
        ctx.store
            .log_param(run, "mode", &format!("{:?}", req.mode).to_lowercase())?;
        ctx.store
            .log_param(run, "on_error", &format!("{:?}", req.read.on_error).to_lowercase())?;
        if let Source::Postgres(PostgresSource { since: Some(s), .. }) = &req.source {
            ctx.store.log_param(run, "since", s)?;
        }
        let bar = ctx.out.bar(None, Unit::Bytes, &format!("ingest into {}", req.table));
        let bar_ref = &bar;
        let progress = move |rows: u64, bytes: u64, total: Option<u64>| {
            if let Some(t) = total {
                if bar_ref.length() != Some(t) {
                    bar_ref.set_length(t);
                    if let Ok(style) = indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
                    ) {
                        bar_ref.set_style(style.progress_chars("=> "));
                    }
                }
                bar_ref.set_position(bytes);
            } else {
                bar_ref.set_position(rows);
            }
        };
        let report = ingest(lake, &req, &progress).await;
        bar.finish_and_clear();
        let report = report?;
        ctx.store
            .log_metric(run, "rows_written", None, report.rows_written as f64)?;
        ctx.store
            .log_metric(run, "rows_rejected", None, report.rows_rejected as f64)?;
        ctx.store.log_metric(run, "seconds", None, report.seconds)?;
        if report.seconds > 0.0 {
            ctx.store
                .log_metric(run, "rows_per_s", None, report.rows_written as f64 / report.seconds)?;
        }
        ctx.store.log_dataset(
            run,
            &DatasetRef {
                role: "output".into(),
                name: report.table.clone(),
                snapshot: report.snapshot,
                rows: Some(report.rows_written as i64),
            },
        )?;
        if let Some(r) = &report.rejected_table {
            ctx.store.log_dataset(
                run,
                &DatasetRef {
                    role: "rejected".into(),
                    name: r.clone(),
                    snapshot: None,
                    rows: Some(report.rows_rejected as i64),
                },
            )?;
        }
        // The mark moves only after the lake commit succeeded.
        if let (Some(k), Some(h)) = (&key, &report.high_water_mark) {
            ctx.store.set_state("ingest", k, h)?;
            ctx.store.log_param(run, "high_water_mark", h)?;
        }
        Ok(report)
    }
    .await;
    ctx.finish(run, result)
}

async fn run_job(ctx: &Ctx, lake: &Lake, path: &std::path::Path) -> Result<()> {
    let job = IngestJob::load(path)?;
    let mut reports = Vec::new();
    for s in &job.sources {
        let req = job.request(s)?;
        let name = IngestJob::source_name(s);
        ctx.out
            .note(format!("ingest {name}: {} -> {}", req.source.describe(), req.table));
        let report = run_one(ctx, lake, &req)
            .await
            .map_err(|e| Error::invalid(format!("job source {name}: {e}")))?;
        reports.push(report);
    }
    let value = serde_json::to_value(&reports).map_err(|e| Error::invalid(e.to_string()))?;
    ctx.out.emit(json!({ "job": path, "sources": value }), || {
        grid(
            &["source", "table", "rows", "rejected", "snapshot", "seconds"],
            reports
                .iter()
                .map(|r| {
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
