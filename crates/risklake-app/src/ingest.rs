//! Ingest: a file or a PostgreSQL source into a lake table, as one recorded run; a job
//! file of several sources, one run each.

use std::path::Path;

use serde::Serialize;

use risklake_core::{Error, Result};
use risklake_lake::ingest::{DatabaseSource, IngestJob, IngestReport, JobSource, Source};

use crate::progress::{check, Progress, Unit};
use crate::Workspace;

/// The request of one ingest: the same fields as a `[[source]]` of a job file.
pub type IngestRequest = JobSource;

/// What an ingest did, and the run that recorded it.
#[derive(Clone, Debug, Serialize)]
pub struct IngestOutcome {
    #[serde(flatten)]
    pub report: IngestReport,
    pub run: i64,
}

/// A job's sources, in order.
#[derive(Clone, Debug, Serialize)]
pub struct JobOutcome {
    pub job: String,
    pub sources: Vec<IngestOutcome>,
}

/// Runs one ingest as a recorded run. Incremental PostgreSQL sources read from the mark
/// the previous run of the same source and table left, and move it after the commit.
pub async fn ingest(ws: &Workspace, req: &IngestRequest, progress: &dyn Progress) -> Result<IngestOutcome> {
    let job = IngestJob {
        defaults: Default::default(),
        sources: Vec::new(),
        base_dir: Default::default(),
    };
    let lake_req = job.request(req, ws.database())?;
    ingest_one(ws, lake_req, job.allows_duplicate_source(req), progress).await
}

/// Runs every source of the job file at `path`, each as a run; stops at the first that
/// fails (the sources before it stay committed).
pub async fn ingest_job(ws: &Workspace, path: &Path, progress: &dyn Progress) -> Result<JobOutcome> {
    let job = IngestJob::load(path)?;
    let mut sources = Vec::new();
    for s in &job.sources {
        let req = job.request(s, ws.database())?;
        let name = IngestJob::source_name(s);
        progress.note(&format!("ingest {name}: {} -> {}", req.source.describe(), req.table));
        let outcome = ingest_one(ws, req, job.allows_duplicate_source(s), progress)
            .await
            .map_err(|e| match e {
                Error::Cancelled => Error::Cancelled,
                e => Error::invalid(format!("job source {name}: {e}")),
            })?;
        sources.push(outcome);
    }
    Ok(JobOutcome {
        job: path.display().to_string(),
        sources,
    })
}

fn state_key(req: &risklake_lake::ingest::IngestRequest) -> Option<String> {
    match &req.source {
        Source::Database(pg) => pg
            .incremental_column
            .as_ref()
            .map(|c| format!("{}|{}|{}", req.table, pg.describe(), c)),
        _ => None,
    }
}

/// The state scope of the files appended to a table.
fn appended_scope(table: &str) -> String {
    format!("ingest.appended:{table}")
}

/// A file's identity for the duplicate check: size, modification time and an FNV-1a
/// hash of its first and last MiB (reading it whole would cost as much as the ingest).
fn file_fingerprint(path: &Path) -> Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let err = |e| Error::io(format!("reading {}", path.display()), e);
    let meta = std::fs::metadata(path).map_err(err)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut f = std::fs::File::open(path).map_err(err)?;
    const PART: u64 = 1 << 20;
    let mut bytes = Vec::new();
    f.by_ref().take(PART).read_to_end(&mut bytes).map_err(err)?;
    if meta.len() > 2 * PART {
        f.seek(SeekFrom::End(-(PART as i64))).map_err(err)?;
    }
    f.read_to_end(&mut bytes).map_err(err)?;
    let hash = risklake_core::rng::fnv1a(&bytes);
    Ok(format!("{}:{mtime}:{hash:016x}", meta.len()))
}

/// For an append of a file into a table without a primary key: the state key that
/// remembers it, after refusing a file already appended there (unless allowed).
fn check_duplicate(
    ws: &Workspace,
    req: &risklake_lake::ingest::IngestRequest,
    allow: bool,
) -> Result<Option<(String, String)>> {
    let Source::File(path) = &req.source else {
        return Ok(None);
    };
    if req.mode == risklake_lake::WriteMode::Upsert || !req.spec.primary_key.is_empty() || !path.is_file() {
        return Ok(None);
    }
    let scope = appended_scope(&req.table.to_string());
    let key = file_fingerprint(path)?;
    if req.mode == risklake_lake::WriteMode::Overwrite {
        // An overwrite starts the table afresh: remembered after its commit, alone.
        return Ok(Some((scope, key)));
    }
    if let Some(before) = ws.store().get_state(&scope, &key)? {
        if !allow {
            return Err(Error::Conflict(format!(
                "{} was already appended to {} ({before}); appending it again would duplicate its rows. \
                 Give allow_duplicate_source (--allow-duplicate-source) to append it anyway, or use mode overwrite \
                 or upsert",
                path.display(),
                req.table
            )));
        }
    }
    Ok(Some((scope, key)))
}

async fn ingest_one(
    ws: &Workspace,
    mut req: risklake_lake::ingest::IngestRequest,
    allow_duplicate: bool,
    progress: &dyn Progress,
) -> Result<IngestOutcome> {
    let appended = check_duplicate(ws, &req, allow_duplicate)?;
    let key = state_key(&req);
    if let (Some(k), Source::Database(pg)) = (&key, &mut req.source) {
        pg.since = ws.store().get_state("ingest", k)?;
    }
    let lake = ws.lake().await?;
    let run = ws.start_run("ingest")?;
    let result = async {
        run.param("source", req.source.describe())?;
        run.param("table", &req.table)?;
        run.param("mode", format!("{:?}", req.mode).to_lowercase())?;
        run.param("on_error", format!("{:?}", req.read.on_error).to_lowercase())?;
        if let Source::Database(DatabaseSource { since: Some(s), .. }) = &req.source {
            run.param("since", s)?;
        }
        progress.stage(&format!("ingest into {}", req.table), None, Unit::Bytes);
        let total_known = std::sync::atomic::AtomicBool::new(false);
        let on_batch = |rows: u64, bytes: u64, total: Option<u64>| {
            match total {
                Some(t) => {
                    if !total_known.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        progress.set_total(t);
                    }
                    progress.set_position(bytes);
                }
                None => progress.set_position(rows),
            }
            check(progress)
        };
        let report = risklake_lake::ingest::ingest(lake, &req, &on_batch).await;
        progress.end_stage();
        let report = report?;
        run.metric("rows_written", report.rows_written as f64)?;
        run.metric("rows_rejected", report.rows_rejected as f64)?;
        run.metric("seconds", report.seconds)?;
        if report.seconds > 0.0 {
            run.metric("rows_per_s", report.rows_written as f64 / report.seconds)?;
        }
        run.output(&report.table, report.snapshot, Some(report.rows_written))?;
        if let Some(r) = &report.rejected_table {
            run.dataset("rejected", r, None, Some(report.rows_rejected))?;
        }
        // Remembered only after the commit: a failed append may be retried.
        if let (Some((scope, fingerprint)), Some(snapshot)) = (&appended, report.snapshot) {
            if req.mode == risklake_lake::WriteMode::Overwrite {
                ws.store().clear_state(scope)?;
            }
            let what = format!("by run {}, snapshot {snapshot}, {} rows", run.id(), report.rows_written);
            ws.store().set_state(scope, fingerprint, &what)?;
        }
        // The mark moves only after the lake commit succeeded.
        if let (Some(k), Some(h)) = (&key, &report.high_water_mark) {
            ws.store().set_state("ingest", k, h)?;
            run.param("high_water_mark", h)?;
        }
        Ok(report)
    }
    .await;
    let id = run.id();
    let report = run.finish(result)?;
    Ok(IngestOutcome { report, run: id })
}
