//! The job runner: `workers` threads take queued jobs from the project store, run each
//! job's workflow through the workflow layer, and record how it ended.
//!
//! Each worker owns a small tokio runtime (two threads) on its own OS thread, so a
//! CPU-heavy training job never stalls the HTTP server's runtime. Progress and log lines
//! go to the store (throttled), where the API and its event stream read them; a cancel
//! (`DELETE /jobs/{id}`, or the store's `cancel_requested` set by another process) reaches
//! the workflow through [`Progress::cancelled`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use risklake_app::jobs::{self, WorkflowRequest};
use risklake_app::{Cancel, Progress, Unit, Workspace};
use risklake_core::Error;
use risklake_track::{job_origin, Job, JobStatus, OnInterrupt, SqlStore};

/// What the workers and the API share.
pub(crate) struct Shared {
    pub home: PathBuf,
    pub queue: Arc<SqlStore>,
    /// Requests as submitted (the store keeps them masked), by job id, until a worker
    /// takes them.
    pub raw: Mutex<HashMap<i64, Value>>,
    /// The cancel switch of each running job.
    pub running: Mutex<HashMap<i64, Cancel>>,
    wake: (Mutex<u64>, Condvar),
    pub stopping: AtomicBool,
    /// Models loaded for scoring, by (project, name, version).
    pub models: Mutex<HashMap<(String, String, i64), Arc<risklake_learn::Model>>>,
    /// Every project sees only its own lake database (token authentication).
    pub confine: bool,
}

impl Shared {
    pub fn new(home: PathBuf, queue: Arc<SqlStore>, confine: bool) -> Self {
        Shared {
            home,
            queue,
            raw: Mutex::default(),
            running: Mutex::default(),
            wake: (Mutex::new(0), Condvar::new()),
            stopping: AtomicBool::new(false),
            models: Mutex::default(),
            confine,
        }
    }

    /// The workspace of `project` as this server shows it: with token authentication,
    /// confined to the project's own lake database (other projects' tables do not exist
    /// for it, and SQL may not reach the server's files).
    pub fn workspace(&self, project: &str) -> risklake_core::Result<Workspace> {
        let ws = Workspace::shared(&self.home, project, self.queue.clone())?;
        Ok(if self.confine { ws.confine() } else { ws })
    }

    /// Wakes the workers (a job was queued, or the server is stopping).
    pub fn notify(&self) {
        let (lock, cv) = &self.wake;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        cv.notify_all();
    }

    fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let (lock, cv) = &self.wake;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = cv
            .wait_timeout_while(guard, timeout, |n| *n == seen && !self.stopping.load(Ordering::Relaxed))
            .unwrap_or_else(|p| p.into_inner());
        *guard
    }

    fn generation(&self) -> u64 {
        *self.wake.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks a running job of this server to stop; `false` when none here runs it.
    pub fn cancel_running(&self, id: i64) -> bool {
        match self.running.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            Some(c) => {
                c.cancel();
                true
            }
            None => false,
        }
    }
}

/// The stack of a job's threads: a workflow's future (DataFusion plans, Paimon writers)
/// runs on them and needs more than a spawned thread's default 2 MiB; the CLI runs it on
/// the main thread's 8 MiB.
const JOB_STACK: usize = 16 << 20;

/// The compute threads of each of `workers` job workers: the machine's cores shared out,
/// at least one.
pub(crate) fn job_threads(workers: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores / workers.max(1)).max(1)
}

/// Starts `n` workers.
pub(crate) fn start(shared: &Arc<Shared>, n: usize) -> Vec<std::thread::JoinHandle<()>> {
    let threads = job_threads(n);
    (0..n.max(1))
        .map(|i| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("risklake-job-{i}"))
                .stack_size(JOB_STACK)
                .spawn(move || worker(&shared, i, threads))
                .expect("spawning a job worker thread")
        })
        .collect()
}

fn worker(shared: &Shared, index: usize, threads: usize) {
    // The job's own compute pool: a workflow runs on one of its threads, so its parallel
    // work (binning, training, scoring) stays within `threads` (an explicit num_threads
    // parameter still makes a pool of that size). Idle pool threads sleep.
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |t| format!("risklake-job-{index}-{t}"))
        .stack_size(JOB_STACK)
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("risklake serve: a job worker could not start its thread pool: {e}");
            return;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("risklake-job-rt")
        .thread_stack_size(JOB_STACK)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("risklake serve: a job worker could not start its runtime: {e}");
            return;
        }
    };
    while !shared.stopping.load(Ordering::Relaxed) {
        let seen = shared.generation();
        match shared.queue.claim_job() {
            Ok(Some(job)) => pool.install(|| run_job(shared, &rt, job)),
            Ok(None) => {
                shared.wait(seen, Duration::from_millis(500));
            }
            Err(e) => {
                eprintln!("risklake serve: reading the job queue: {e}");
                shared.wait(seen, Duration::from_secs(2));
            }
        }
    }
}

fn run_job(shared: &Shared, rt: &tokio::runtime::Runtime, job: Job) {
    let id = job.id;
    let queue = &shared.queue;
    let raw = shared.raw.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    let value = match raw {
        Some(v) => v,
        None => {
            let stored = json!({"kind": job.kind, "request": job.request});
            if stored.to_string().contains("***") {
                let _ = queue.finish_job(
                    id,
                    JobStatus::Failed,
                    Some("its request held a secret, which the store does not keep across a server restart; submit it again"),
                    None,
                );
                return;
            }
            stored
        }
    };
    let cancel = Cancel::new();
    {
        let mut running = shared.running.lock().unwrap_or_else(|p| p.into_inner());
        running.insert(id, cancel.clone());
        // A shutdown sets `stopping` and then cancels what `running` holds, under this
        // lock: a job claimed just before it but registered after would run to its end.
        // Read under the lock, either shutdown saw this job or this job sees shutdown.
        if shared.stopping.load(Ordering::SeqCst) {
            cancel.cancel();
        }
    }
    let progress = JobProgress::new(queue.clone(), id, cancel.clone());
    let _ = queue.append_job_log(
        id,
        &format!(
            "started {} for {} in project {} on {} compute threads",
            job.kind,
            job.user,
            job.project,
            rayon::current_num_threads()
        ),
    );
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let req = WorkflowRequest::from_value(value)?;
            let ws = shared
                .workspace(&job.project)?
                .with_origin(job_origin(id))
                .with_user(&job.user);
            jobs::run(&ws, &req, &progress).await
        })
    }));
    progress.flush();
    shared.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    let stopping = shared.stopping.load(Ordering::Relaxed);
    let (status, error, result) = match outcome {
        Ok(Ok(v)) => (JobStatus::Succeeded, None, Some(v)),
        Ok(Err(Error::Cancelled)) if stopping && job.on_interrupt == OnInterrupt::Requeue => {
            let _ = queue.append_job_log(id, "the server is stopping: queued again");
            let _ = queue.requeue_job(id);
            return;
        }
        Ok(Err(Error::Cancelled)) if stopping => (
            JobStatus::Cancelled,
            Some("cancelled: the server shut down while it ran".to_string()),
            None,
        ),
        Ok(Err(Error::Cancelled)) => (JobStatus::Cancelled, Some("cancelled on request".to_string()), None),
        Ok(Err(e)) => (JobStatus::Failed, Some(e.to_string()), None),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            (JobStatus::Failed, Some(format!("internal error: {what}")), None)
        }
    };
    let _ = queue.append_job_log(
        id,
        &match &error {
            None => format!("{status}"),
            Some(e) => format!("{status}: {e}"),
        },
    );
    if let Err(e) = queue.finish_job(id, status, error.as_deref(), result.as_ref()) {
        eprintln!("risklake serve: recording the end of job {id}: {e}");
    }
}

/// A job's [`Progress`]: stages and notes become log lines, positions a progress record
/// (written at most twice a second), and cancellation comes from the job's switch or the
/// store.
struct JobProgress {
    store: Arc<SqlStore>,
    id: i64,
    cancel: Cancel,
    state: Mutex<ProgressState>,
}

struct ProgressState {
    stage: Option<String>,
    unit: &'static str,
    total: Option<u64>,
    position: u64,
    written: Instant,
    polled: Instant,
}

fn unit_name(u: Unit) -> &'static str {
    match u {
        Unit::Bytes => "bytes",
        Unit::Rows => "rows",
        Unit::Iterations => "iterations",
        Unit::Trials => "trials",
        Unit::Items => "items",
    }
}

impl JobProgress {
    fn new(store: Arc<SqlStore>, id: i64, cancel: Cancel) -> Self {
        let long_ago = Instant::now() - Duration::from_secs(60);
        JobProgress {
            store,
            id,
            cancel,
            state: Mutex::new(ProgressState {
                stage: None,
                unit: "items",
                total: None,
                position: 0,
                written: long_ago,
                polled: Instant::now(),
            }),
        }
    }

    fn update(&self, force: bool, f: impl FnOnce(&mut ProgressState)) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        if force || s.written.elapsed() >= Duration::from_millis(500) {
            s.written = Instant::now();
            let record = json!({"stage": s.stage, "unit": s.unit, "total": s.total, "position": s.position});
            let _ = self.store.set_job_progress(self.id, &record);
        }
    }

    fn flush(&self) {
        self.update(true, |_| {});
    }
}

impl Progress for JobProgress {
    fn stage(&self, name: &str, total: Option<u64>, unit: Unit) {
        let _ = self.store.append_job_log(self.id, name);
        self.update(true, |s| {
            s.stage = Some(name.to_string());
            s.unit = unit_name(unit);
            s.total = total;
            s.position = 0;
        });
    }

    fn set_total(&self, total: u64) {
        self.update(false, |s| s.total = Some(total));
    }

    fn advance(&self, n: u64) {
        self.update(false, |s| s.position += n);
    }

    fn set_position(&self, position: u64) {
        self.update(false, |s| s.position = position);
    }

    fn end_stage(&self) {
        self.update(true, |s| {
            if let Some(t) = s.total {
                s.position = t;
            }
        });
    }

    fn note(&self, message: &str) {
        let _ = self.store.append_job_log(self.id, message);
    }

    fn cancelled(&self) -> bool {
        if self.cancel.is_cancelled() {
            return true;
        }
        // A cancel recorded in the store by another process: looked at once a second.
        let poll = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let due = s.polled.elapsed() >= Duration::from_secs(1);
            if due {
                s.polled = Instant::now();
            }
            due
        };
        if poll && self.store.get_job(self.id).is_ok_and(|j| j.cancel_requested) {
            self.cancel.cancel();
        }
        self.cancel.is_cancelled()
    }
}
