//! Studies and trials kept as Optuna 5's journal: one JSON operation per line, replayed
//! in order. The same code serves memory (lines applied as they are written) and files
//! (Optuna's `JournalFileBackend` format and its symlink lock protocol, so risklake and
//! Optuna workers can share one file).
//!
//! Ids are implicit, as Optuna's: studies are numbered by their CREATE_STUDY lines, trials
//! by their CREATE_TRIAL lines across the whole file. A writer holds the lock, reads what
//! others appended, appends its lines, fsyncs, and applies them, so it knows the ids they
//! made. Non-finite floats are the bare tokens `NaN`, `Infinity` and `-Infinity`, as
//! Python's `json` writes and reads them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use risklake_core::process::Owner;
use risklake_core::{Error, Result};
use serde_json::{Map, Value};

use crate::distributions::Distribution;
pub use crate::journal::{fmt_float, now_iso};
use crate::journal::{fmt_floats, parse_line, text, Replay};
pub use crate::trial::{Direction, FrozenTrial, StudyRecord, TrialState};

/// The file under a journal storage, with Optuna's symlink lock.
struct FileLog {
    path: PathBuf,
    lock: PathBuf,
    /// Bytes of the file already applied, and lines.
    offset: u64,
    lines: usize,
    /// Kept open between operations (opened when first needed): reads are positioned
    /// (pread), appends go through an append-mode handle.
    reader: Option<std::fs::File>,
    writer: Option<std::fs::File>,
    chunk: Vec<u8>,
    /// The file ends in a line without its newline: being written by a writer that holds
    /// the lock, or left by one that died mid-append.
    torn: bool,
}

/// A stale lock (its holder died) is broken after this long without change, as Optuna's.
const LOCK_GRACE: Duration = Duration::from_secs(30);

impl FileLog {
    fn acquire(&self) -> Result<()> {
        let mut wait = Duration::from_micros(200);
        loop {
            match std::os::unix::fs::symlink(&self.path, &self.lock) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if let Ok(m) = std::fs::symlink_metadata(&self.lock) {
                        let age = m.modified().ok().and_then(|t| t.elapsed().ok()).unwrap_or_default();
                        if age > LOCK_GRACE {
                            self.release();
                            continue;
                        }
                    }
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_millis(20));
                }
                Err(e) => return Err(Error::io(format!("locking {}", self.path.display()), e)),
            }
        }
    }

    fn release(&self) {
        let renamed = PathBuf::from(format!("{}{}.rename", self.lock.display(), crate::unique_id()));
        if std::fs::rename(&self.lock, &renamed).is_ok() {
            let _ = std::fs::remove_file(&renamed);
        }
    }

    /// Complete lines appended since the last read (a last line without its newline is
    /// still being written and waits).
    fn read_new(&mut self) -> Result<Vec<(usize, String)>> {
        use std::os::unix::fs::FileExt;
        let err = |e| Error::io(format!("reading {}", self.path.display()), e);
        if self.reader.is_none() {
            match std::fs::File::open(&self.path) {
                Ok(f) => self.reader = Some(f),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(err(e)),
            }
        }
        let f = self.reader.as_ref().expect("opened above");
        if self.chunk.is_empty() {
            self.chunk = vec![0; 1 << 16];
        }
        let mut buf = Vec::new();
        let mut at = self.offset;
        loop {
            let n = f.read_at(&mut self.chunk, at).map_err(err)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&self.chunk[..n]);
            at += n as u64;
        }
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(end) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&buf[start..start + end]).into_owned();
            self.lines += 1;
            out.push((self.lines, line));
            start += end + 1;
        }
        self.offset += start as u64;
        self.torn = start < buf.len();
        Ok(out)
    }

    /// Called under the lock after reading to the end: a last line without its newline
    /// then belongs to a writer that died mid-append (every writer appends under the
    /// lock). It is cut off, so that the next line starts a line of its own; appended
    /// after it, both would become one line that neither risklake nor Optuna can read.
    /// The torn operation was never acknowledged to its writer, so nothing that was
    /// reported as done is lost.
    fn cut_torn_tail(&mut self) -> Result<()> {
        if !self.torn {
            return Ok(());
        }
        let err = |e| Error::io(format!("cutting a torn last line off {}", self.path.display()), e);
        let f = std::fs::OpenOptions::new().write(true).open(&self.path).map_err(err)?;
        f.set_len(self.offset).map_err(err)?;
        f.sync_data().map_err(err)?;
        self.torn = false;
        Ok(())
    }

    /// Appends lines; `durable`: and waits until they are on disk (fdatasync, as
    /// Optuna's fsync).
    fn append(&mut self, lines: &[String], durable: bool) -> Result<()> {
        let err = |e| Error::io(format!("appending to {}", self.path.display()), e);
        if self.writer.is_none() {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| Error::io(format!("opening {}", self.path.display()), e))?;
            self.writer = Some(f);
        }
        let f = self.writer.as_mut().expect("opened above");
        let mut text = String::new();
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        f.write_all(text.as_bytes()).map_err(err)?;
        if durable {
            f.sync_data().map_err(err)?;
        }
        self.offset += text.len() as u64;
        self.lines += lines.len();
        Ok(())
    }
}

struct Inner {
    replay: Replay,
    file: Option<FileLog>,
    sqlite: Option<crate::rdb::SqliteLog>,
}

/// A study storage: in memory, or an Optuna journal file.
pub struct Storage {
    inner: Mutex<Inner>,
    worker: String,
    /// Distributions as their journal text (quoted), by distribution: a study writes
    /// the same few for every trial.
    dist_texts: Mutex<Vec<(Distribution, String)>>,
    /// Where it lives, for messages ("memory" or the file).
    pub location: String,
}

/// This process's worker id: Optuna's `{uuid}-{thread}` shape, followed by `@` and the
/// owning process (host:pid:start), so that a trial left running by a worker that died
/// can be recognized as such (see [`Storage::fail_stale_trials`]).
fn worker_id() -> String {
    format!("{}-0@{}", crate::unique_id(), Owner::current())
}

/// The process behind a worker id written by [`worker_id`]; `None` for Optuna's and
/// other tools' ids.
fn worker_owner(worker: &str) -> Option<Owner> {
    Owner::parse(worker.split_once('@')?.1)
}

impl Storage {
    pub fn in_memory() -> Storage {
        Storage {
            inner: Mutex::new(Inner {
                replay: Replay::default(),
                file: None,
                sqlite: None,
            }),
            worker: worker_id(),
            dist_texts: Mutex::default(),
            location: "memory".into(),
        }
    }

    /// Opens (or creates) an Optuna RDB database on SQLite (schema 12, as Optuna 5.0).
    pub fn sqlite(path: &Path) -> Result<Storage> {
        let s = Storage {
            inner: Mutex::new(Inner {
                replay: Replay::default(),
                file: None,
                sqlite: Some(crate::rdb::SqliteLog::open(path)?),
            }),
            worker: worker_id(),
            dist_texts: Mutex::default(),
            location: format!("sqlite:{}", path.display()),
        };
        s.sync()?;
        Ok(s)
    }

    /// Opens (or starts) the journal file at `path`, replaying what it holds.
    pub fn journal(path: &Path) -> Result<Storage> {
        let lock = PathBuf::from(format!("{}.lock", path.display()));
        let s = Storage {
            inner: Mutex::new(Inner {
                replay: Replay::default(),
                file: Some(FileLog {
                    path: path.to_path_buf(),
                    lock,
                    offset: 0,
                    lines: 0,
                    reader: None,
                    writer: None,
                    chunk: Vec::new(),
                    torn: false,
                }),
                sqlite: None,
            }),
            worker: worker_id(),
            dist_texts: Mutex::default(),
            location: path.display().to_string(),
        };
        s.sync()?;
        Ok(s)
    }

    pub fn worker_id(&self) -> &str {
        &self.worker
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies what other writers appended.
    pub fn sync(&self) -> Result<()> {
        let mut g = self.lock();
        Self::sync_inner(&mut g, &self.worker)
    }

    fn sync_inner(g: &mut Inner, me: &str) -> Result<()> {
        if let Some(db) = g.sqlite.as_mut() {
            if db.changed()? {
                g.replay = db.reload()?;
            }
            return Ok(());
        }
        let Inner { replay, file, .. } = g;
        if let Some(f) = file.as_mut() {
            for (n, line) in f.read_new()? {
                let op = parse_line(&line)
                    .map_err(|e| Error::invalid(format!("{} line {n} is not valid JSON ({e})", f.path.display())))?;
                // Conflicts of other writers are skipped inside `apply`, as Optuna skips
                // them; a malformed or unknown operation is an error for every reader.
                replay.apply(&op, n, me)?;
            }
        }
        Ok(())
    }

    /// Writes operations (lines), then applies them; returns after they are durable.
    fn write(&self, lines: Vec<String>) -> Result<()> {
        self.write_with(lines, |_| ())
    }

    /// [`Storage::write`], then `after` on the state they made, under the same lock.
    fn write_with<T>(&self, lines: Vec<String>, after: impl FnOnce(&Replay) -> T) -> Result<T> {
        self.write_inner(lines, true, after)
    }

    /// `durable`: wait for the disk (every operation but the start of a running trial).
    fn write_inner<T>(&self, lines: Vec<String>, durable: bool, after: impl FnOnce(&Replay) -> T) -> Result<T> {
        self.write_planned(move |_| Ok(lines), durable, after)
    }

    /// Like [`Storage::write_inner`], with the lines chosen by `plan` from the state read
    /// under the storage's lock (no lines: nothing is written).
    fn write_planned<T>(
        &self,
        plan: impl FnOnce(&Replay) -> Result<Vec<String>>,
        durable: bool,
        after: impl FnOnce(&Replay) -> T,
    ) -> Result<T> {
        let mut g = self.lock();
        if g.sqlite.is_some() {
            return self.write_sqlite(&mut g, plan, after);
        }
        let locked = match g.file.as_ref() {
            Some(f) => {
                f.acquire()?;
                true
            }
            None => false,
        };
        let result = (|| {
            Self::sync_inner(&mut g, &self.worker)?;
            let lines = plan(&g.replay)?;
            if lines.is_empty() {
                return Ok(after(&g.replay));
            }
            // Check against the current state before anything is written.
            let parsed: Vec<Value> = lines.iter().map(|l| parse_line(l).expect("our lines parse")).collect();
            for op in &parsed {
                Self::precheck(&g.replay, op)?;
            }
            let base = match g.file.as_mut() {
                Some(f) => {
                    f.cut_torn_tail()?;
                    let base = f.lines;
                    f.append(&lines, durable)?;
                    base
                }
                None => 0,
            };
            for (i, op) in parsed.iter().enumerate() {
                g.replay.apply(op, base + i + 1, &self.worker)?;
            }
            Ok(after(&g.replay))
        })();
        if locked {
            if let Some(f) = g.file.as_ref() {
                f.release();
            }
        }
        result
    }

    /// [`Storage::write_with`] on an Optuna database: one transaction per batch.
    fn write_sqlite<T>(
        &self,
        g: &mut Inner,
        plan: impl FnOnce(&Replay) -> Result<Vec<String>>,
        after: impl FnOnce(&Replay) -> T,
    ) -> Result<T> {
        g.sqlite.as_mut().unwrap().begin()?;
        let result = (|| {
            Self::sync_inner(g, &self.worker)?;
            let lines = plan(&g.replay)?;
            let parsed: Vec<Value> = lines.iter().map(|l| parse_line(l).expect("our lines parse")).collect();
            for op in &parsed {
                Self::precheck(&g.replay, op)?;
            }
            for (i, op) in parsed.iter().enumerate() {
                let Inner { replay, sqlite, .. } = &mut *g;
                sqlite.as_mut().unwrap().write(op, replay)?;
                replay.apply(op, i + 1, &self.worker)?;
            }
            Ok(())
        })();
        let db = g.sqlite.as_mut().unwrap();
        match result {
            Ok(()) => {
                db.commit()?;
                Ok(after(&g.replay))
            }
            Err(e) => {
                db.rollback();
                // What was applied in memory is undone by reading the tables again.
                g.replay = db.reload()?;
                Err(e)
            }
        }
    }

    /// The errors an operation would raise for its own writer, checked before writing.
    fn precheck(r: &Replay, op: &Value) -> Result<()> {
        let code = op.get("op_code").and_then(Value::as_i64).unwrap_or(-1);
        if code == 0 {
            let name = op.get("study_name").and_then(Value::as_str).unwrap_or("");
            if r.by_name.contains_key(name) {
                return Err(Error::invalid(format!("study '{name}' already exists")));
            }
        }
        if (5..=9).contains(&code) {
            let tid = op.get("trial_id").and_then(Value::as_u64).unwrap_or(u64::MAX) as usize;
            match r.trials.get(tid) {
                None => return Err(Error::invalid(format!("trial {tid} does not exist"))),
                Some(t) if t.state.is_finished() => {
                    return Err(Error::invalid(format!(
                        "trial {} is already finished ({})",
                        t.number,
                        t.state.name()
                    )))
                }
                Some(t)
                    if code == 6
                        && t.state == TrialState::Running
                        && op.get("state").and_then(Value::as_i64) == Some(0) =>
                {
                    return Err(Error::invalid(format!("trial {} is already running", t.number)));
                }
                _ => {}
            }
            if code == 5 {
                let name = op.get("param_name").and_then(Value::as_str).unwrap_or("");
                let text = op.get("distribution").and_then(Value::as_str).unwrap_or("");
                let dist = match r.distributions.get(text) {
                    Some(d) => d.clone(),
                    None => Distribution::from_optuna_json(text)?,
                };
                let study = r.trials[tid].study;
                let s = r.studies[study].as_ref().unwrap();
                if let Some(d) = s.distributions.get(name) {
                    if !d.compatible(&dist) {
                        return Err(Error::invalid(format!(
                            "parameter '{name}' was {d:?} in an earlier trial; it cannot become {dist:?} in the same study"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn head(&self, code: i64) -> String {
        format!("{{\"op_code\":{code},\"worker_id\":{}", text(&self.worker))
    }

    /// Creates a study; an error if the name is taken.
    pub fn create_study(&self, name: &str, direction: Direction) -> Result<usize> {
        self.write(vec![format!(
            "{},\"study_name\":{},\"directions\":[{}]}}",
            self.head(0),
            text(name),
            direction as i64
        )])?;
        self.study_id(name)?
            .ok_or_else(|| Error::invalid(format!("study '{name}' was not created")))
    }

    /// The study called `name`, created with `direction` if there is none; the check and
    /// the creation happen under the storage's lock (a file lock, or one transaction), so
    /// two workers starting the same new study both end up in the one study. Returns the
    /// id and whether this call created it.
    pub fn create_or_load_study(&self, name: &str, direction: Direction) -> Result<(usize, bool)> {
        let line = format!(
            "{},\"study_name\":{},\"directions\":[{}]}}",
            self.head(0),
            text(name),
            direction as i64
        );
        let created = std::cell::Cell::new(false);
        let id = self.write_planned(
            |r| {
                if r.by_name.contains_key(name) {
                    Ok(Vec::new())
                } else {
                    created.set(true);
                    Ok(vec![line])
                }
            },
            true,
            |r| r.by_name.get(name).copied(),
        )?;
        let id = id.ok_or_else(|| Error::invalid(format!("study '{name}' was not created")))?;
        Ok((id, created.get()))
    }

    /// Marks FAIL the running trials of `study` whose worker process has ended (as
    /// Optuna's `fail_stale_trials` does from heartbeats; we judge by the process that
    /// the worker id names, so only risklake workers on this host are judged). Checked
    /// and written under the storage's lock. Returns the trial numbers.
    pub fn fail_stale_trials(&self, study: usize) -> Result<Vec<usize>> {
        let failed = std::cell::RefCell::new(Vec::new());
        self.write_planned(
            |r| {
                let Some(s) = r.studies.get(study).and_then(|s| s.as_ref()) else {
                    return Ok(Vec::new());
                };
                let mut lines = Vec::new();
                for &tid in &s.trials {
                    let t = &r.trials[tid];
                    if t.state == TrialState::Running && worker_owner(&t.owner).is_some_and(|o| o.is_gone()) {
                        lines.push(self.state_line(tid, TrialState::Fail, None));
                        failed.borrow_mut().push(t.number);
                    }
                }
                Ok(lines)
            },
            true,
            |_| (),
        )?;
        Ok(failed.into_inner())
    }

    pub fn study_id(&self, name: &str) -> Result<Option<usize>> {
        self.sync()?;
        Ok(self.lock().replay.by_name.get(name).copied())
    }

    pub fn study(&self, id: usize) -> Result<StudyRecord> {
        self.sync()?;
        self.lock()
            .replay
            .studies
            .get(id)
            .and_then(|s| s.clone())
            .ok_or_else(|| Error::not_found("study", id.to_string()))
    }

    pub fn studies(&self) -> Result<Vec<StudyRecord>> {
        self.sync()?;
        Ok(self.lock().replay.studies.iter().flatten().cloned().collect())
    }

    pub fn set_study_user_attr(&self, study: usize, key: &str, value: &Value) -> Result<()> {
        self.write(vec![format!(
            "{},\"study_id\":{study},\"user_attr\":{{{}:{}}}}}",
            self.head(2),
            text(key),
            value
        )])
    }

    pub fn set_study_system_attr(&self, study: usize, key: &str, value: &Value) -> Result<()> {
        self.write(vec![format!(
            "{},\"study_id\":{study},\"system_attr\":{{{}:{}}}}}",
            self.head(3),
            text(key),
            value
        )])
    }

    /// Creates a running trial (or, with `waiting_params`, a waiting one with fixed
    /// parameters, as `enqueue_trial` does); returns its global id.
    pub fn create_trial(&self, study: usize, waiting_params: Option<&Map<String, Value>>) -> Result<usize> {
        let line = match waiting_params {
            None => format!("{},\"study_id\":{study},\"datetime_start\":{}}}", self.head(4), text(&now_iso())),
            Some(p) => format!(
                "{},\"study_id\":{study},\"datetime_start\":null,\"state\":4,\"system_attrs\":{{\"fixed_params\":{}}}}}",
                self.head(4),
                Value::Object(p.clone())
            ),
        };
        // The start of a running trial is not waited for: the trial's next durable
        // operation (its first report or its end) syncs the file and with it this line,
        // which comes before. A crash before then loses a trial that never reported,
        // which Optuna would keep as RUNNING forever. Enqueued trials are synced at once.
        // Under the lock our line is the last one applied: the newest trial is ours.
        let durable = waiting_params.is_some();
        self.write_inner(vec![line], durable, |r| r.trials.len().checked_sub(1))?
            .ok_or_else(|| Error::invalid("the new trial was not recorded"))
    }

    /// Claims a waiting trial (sets it running); false if another worker took it first.
    pub fn claim_trial(&self, trial: usize) -> Result<bool> {
        let line = format!(
            "{},\"trial_id\":{trial},\"state\":0,\"values\":null,\"datetime_start\":{}}}",
            self.head(6),
            text(&now_iso())
        );
        match self.write_with(vec![line], |r| r.trials[trial].owner == self.worker) {
            Ok(mine) => Ok(mine),
            Err(_) => Ok(false),
        }
    }

    /// The SET_TRIAL_PARAM line (see [`Storage::write_lines`]).
    pub fn param_line(&self, trial: usize, name: &str, internal: f64, dist: &Distribution) -> String {
        format!(
            "{},\"trial_id\":{trial},\"param_name\":{},\"param_value_internal\":{},\"distribution\":{}}}",
            self.head(5),
            text(name),
            fmt_float(internal),
            self.dist_text(dist)
        )
    }

    fn dist_text(&self, dist: &Distribution) -> String {
        let mut cache = self.dist_texts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, t)) = cache.iter().find(|(d, _)| d == dist) {
            return t.clone();
        }
        let t = text(&dist.to_optuna_json());
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.push((dist.clone(), t.clone()));
        t
    }

    /// The SET_TRIAL_STATE_VALUES line.
    pub fn state_line(&self, trial: usize, state: TrialState, values: Option<&[f64]>) -> String {
        let values = values.map_or("null".to_string(), fmt_floats);
        let time = if state.is_finished() {
            format!(",\"datetime_complete\":{}", text(&now_iso()))
        } else if state == TrialState::Running {
            format!(",\"datetime_start\":{}", text(&now_iso()))
        } else {
            String::new()
        };
        format!(
            "{},\"trial_id\":{trial},\"state\":{},\"values\":{values}{time}}}",
            self.head(6),
            state as i64
        )
    }

    /// The SET_TRIAL_INTERMEDIATE_VALUE line.
    pub fn intermediate_line(&self, trial: usize, step: i64, value: f64) -> String {
        format!(
            "{},\"trial_id\":{trial},\"step\":{step},\"intermediate_value\":{}}}",
            self.head(7),
            fmt_float(value)
        )
    }

    /// The SET_TRIAL_USER_ATTR line.
    pub fn user_attr_line(&self, trial: usize, key: &str, value: &Value) -> String {
        format!(
            "{},\"trial_id\":{trial},\"user_attr\":{{{}:{}}}}}",
            self.head(8),
            text(key),
            value
        )
    }

    /// The SET_TRIAL_SYSTEM_ATTR line.
    pub fn system_attr_line(&self, trial: usize, key: &str, value: &Value) -> String {
        format!(
            "{},\"trial_id\":{trial},\"system_attr\":{{{}:{}}}}}",
            self.head(9),
            text(key),
            value
        )
    }

    /// Appends several operations under one lock and one fsync (a trial's parameters
    /// with the operation that makes them matter), checking each first.
    pub fn write_lines(&self, lines: Vec<String>) -> Result<()> {
        self.write(lines)
    }

    /// Whether parameter `name` may take `dist` in the study of `trial` (the kind it had
    /// in earlier trials), without writing anything.
    pub fn check_param(&self, trial: usize, name: &str, dist: &Distribution) -> Result<()> {
        let g = self.lock();
        let study = g
            .replay
            .trials
            .get(trial)
            .map(|t| t.study)
            .ok_or_else(|| Error::not_found("trial", trial.to_string()))?;
        if let Some(d) = g.replay.studies[study].as_ref().and_then(|s| s.distributions.get(name)) {
            if !d.compatible(dist) {
                return Err(Error::invalid(format!(
                    "parameter '{name}' was {d:?} in an earlier trial; it cannot become {dist:?} in the same study"
                )));
            }
        }
        Ok(())
    }

    pub fn set_trial_param(&self, trial: usize, name: &str, internal: f64, dist: &Distribution) -> Result<()> {
        self.write(vec![self.param_line(trial, name, internal, dist)])
    }

    /// Finishes (or re-states) a trial.
    pub fn set_trial_state_values(&self, trial: usize, state: TrialState, values: Option<&[f64]>) -> Result<()> {
        self.write(vec![self.state_line(trial, state, values)])
    }

    pub fn set_trial_intermediate_value(&self, trial: usize, step: i64, value: f64) -> Result<()> {
        self.write(vec![self.intermediate_line(trial, step, value)])
    }

    pub fn set_trial_user_attr(&self, trial: usize, key: &str, value: &Value) -> Result<()> {
        self.write(vec![self.user_attr_line(trial, key, value)])
    }

    pub fn set_trial_system_attr(&self, trial: usize, key: &str, value: &Value) -> Result<()> {
        self.write(vec![format!(
            "{},\"trial_id\":{trial},\"system_attr\":{{{}:{}}}}}",
            self.head(9),
            text(key),
            value
        )])
    }

    pub fn trial(&self, id: usize) -> Result<FrozenTrial> {
        self.lock()
            .replay
            .trials
            .get(id)
            .map(|t| (**t).clone())
            .ok_or_else(|| Error::not_found("trial", id.to_string()))
    }

    /// The trials of a study, by number (after reading what others wrote).
    pub fn trials(&self, study: usize) -> Result<Vec<Arc<FrozenTrial>>> {
        self.sync()?;
        let g = self.lock();
        let s = g
            .replay
            .studies
            .get(study)
            .and_then(|s| s.as_ref())
            .ok_or_else(|| Error::not_found("study", study.to_string()))?;
        Ok(s.trials.iter().map(|&t| g.replay.trials[t].clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::float_of;

    #[test]
    fn non_finite_tokens_parse_outside_strings_only() {
        let v = parse_line(r#"{"a":NaN,"b":[Infinity,-Infinity,1.5],"s":"NaN and Infinity"}"#).unwrap();
        assert!(float_of(&v["a"]).unwrap().is_nan());
        assert_eq!(float_of(&v["b"][0]), Some(f64::INFINITY));
        assert_eq!(float_of(&v["b"][1]), Some(f64::NEG_INFINITY));
        assert_eq!(float_of(&v["b"][2]), Some(1.5));
        assert_eq!(v["s"], "NaN and Infinity");
        assert_eq!(
            fmt_floats(&[f64::NAN, f64::INFINITY, -f64::INFINITY, 0.1]),
            "[NaN,Infinity,-Infinity,0.1]"
        );
        let t = now_iso();
        assert_eq!(t.len(), "2026-11-25T14:48:04.656286+00:00".len(), "{t}");
        assert!(t.starts_with("20") && t.ends_with("+00:00"));
    }
}
