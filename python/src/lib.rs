//! `risklake._native`: the Rust half of the Python package.
//!
//! Thin on purpose: every call turns Python arguments into a workflow layer request
//! (`risklake-app`) or a learner call on Arrow batches, runs it without the GIL, and
//! hands the result back as Arrow (zero-copy both ways through the C data interface) or
//! JSON. The scikit-learn estimators, the tracking context and the server client are
//! plain Python on top (`python/risklake/`).
//!
//! Every long call runs on a worker thread while the calling thread waits without the
//! GIL and checks for signals every 50 ms: Ctrl+C in a notebook cancels the workflow
//! (which stops at its next batch or iteration and leaves the lake and the store as they
//! were) and raises `KeyboardInterrupt`.

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use risklake_app::progress::{Progress, Unit};
use risklake_app::Cancel;
use risklake_core::{Error, ErrorKind};

mod learn;
mod tune;
mod workspace;

/// The stack of the thread a call runs on: a workflow's future (DataFusion plans, Paimon
/// writers) needs more than a spawned thread's default 2 MiB, as the server's job threads do.
const WORK_STACK: usize = 16 << 20;

/// The runtime the lake's async code runs on: a small pool whose idle workers park (no
/// spinning on a shared machine).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("risklake-io")
            .thread_stack_size(WORK_STACK)
            .build()
            .expect("the tokio runtime starts")
    })
}

/// A workflow error as the Python exception of its kind (`risklake.errors`): invalid
/// input is a `ValueError`, a missing thing a `KeyError` (a missing file also a
/// `FileNotFoundError`), and every one a `RisklakeError`. A parameter's error carries
/// the parameter's name as Python spells it in `.param`.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let (class, param) = match (&e, e.kind()) {
        (Error::Param { param, .. }, _) => ("InvalidInputError", Some(param.clone())),
        (Error::NotFound { kind: "file", .. }, _) => ("FileNotFound", None),
        (_, ErrorKind::Invalid) => ("InvalidInputError", None),
        (_, ErrorKind::NotFound) => ("NotFoundError", None),
        (_, ErrorKind::Conflict) => ("ConflictError", None),
        (_, ErrorKind::Cancelled) => ("CancelledError", None),
        (_, ErrorKind::External) => ("ExternalError", None),
    };
    let message = e.to_string();
    let made = (|| -> PyResult<PyErr> {
        let errors = py.import("risklake.errors")?;
        let cls = errors.getattr(class)?;
        let exc = cls.call1((message.clone(),))?;
        if let Some(p) = param {
            exc.setattr("param", p)?;
        }
        Ok(PyErr::from_value(exc))
    })();
    made.unwrap_or_else(|_| pyo3::exceptions::PyRuntimeError::new_err(message))
}

pub(crate) type CoreResult<T> = risklake_core::Result<T>;

/// Progress shared between a worker and the waiting Python thread, which hands it to a
/// callback (`progress=` of the Python calls) while it waits.
#[derive(Default)]
pub(crate) struct Shared {
    cancel: Cancel,
    state: Mutex<ProgressState>,
}

#[derive(Default, Clone)]
struct ProgressState {
    stage: String,
    position: u64,
    total: Option<u64>,
    unit: &'static str,
    notes: Vec<String>,
    changed: bool,
}

impl Progress for Shared {
    fn stage(&self, name: &str, total: Option<u64>, unit: Unit) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.stage = name.to_string();
        s.total = total;
        s.position = 0;
        s.unit = match unit {
            Unit::Bytes => "bytes",
            Unit::Rows => "rows",
            Unit::Iterations => "iterations",
            Unit::Trials => "trials",
            Unit::Items => "items",
        };
        s.changed = true;
    }
    fn set_total(&self, total: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.total = Some(total);
        s.changed = true;
    }
    fn advance(&self, n: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.position += n;
        s.changed = true;
    }
    fn set_position(&self, position: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.position = position;
        s.changed = true;
    }
    fn note(&self, message: &str) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.notes.push(message.to_string());
        s.changed = true;
    }
    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// Runs `work` on a worker thread without the GIL; the calling thread waits, reports
/// progress to `callback` (`callback(stage, position, total, unit)`), and turns Ctrl+C
/// (or any signal handler's exception) into a cancellation of the work, raising the
/// exception once the work has stopped.
pub(crate) fn interruptible<T: Send>(
    py: Python<'_>,
    callback: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce(&Shared) -> CoreResult<T> + Send,
) -> PyResult<T> {
    let shared = Shared::default();
    let (tx, rx) = mpsc::channel();
    // The waiting thread lends the receiver to code running without the GIL: shared
    // through a lock (a receiver alone may not be shared between threads).
    let rx = Mutex::new(rx);
    let outcome = std::thread::scope(|scope| {
        let shared = &shared;
        let spawned = std::thread::Builder::new()
            .name("risklake-call".into())
            .stack_size(WORK_STACK)
            .spawn_scoped(scope, move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(shared)));
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            return (Err(Box::new(format!("starting a worker thread: {e}")) as _), None);
        }
        let mut interrupted: Option<PyErr> = None;
        loop {
            let got = py.detach(|| {
                rx.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .recv_timeout(Duration::from_millis(50))
            });
            match got {
                Ok(result) => return (result, interrupted),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return (
                        Err(Box::new("the worker thread ended without a result") as _),
                        interrupted,
                    )
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if interrupted.is_none() {
                if let Err(e) = py.check_signals() {
                    shared.cancel.cancel();
                    interrupted = Some(e);
                }
            }
            if let (Some(cb), None) = (callback, &interrupted) {
                if let Err(e) = report(shared, cb) {
                    shared.cancel.cancel();
                    interrupted = Some(e);
                }
            }
        }
    });
    if let Some(cb) = callback {
        report(&shared, cb)?;
    }
    match outcome {
        (_, Some(interrupt)) => Err(interrupt),
        (Ok(Ok(value)), None) => Ok(value),
        (Ok(Err(e)), None) => Err(to_py(py, e)),
        (Err(panic), None) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown".into());
            Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "internal error in risklake (please report it): {what}"
            )))
        }
    }
}

/// Hands the progress to the callback when it changed.
fn report(shared: &Shared, callback: &Bound<'_, PyAny>) -> PyResult<()> {
    let state = {
        let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        if !s.changed {
            return Ok(());
        }
        s.changed = false;
        let copy = s.clone();
        s.notes.clear();
        copy
    };
    let args = PyTuple::new(
        callback.py(),
        [
            state.stage.into_pyobject(callback.py())?.into_any(),
            state.position.into_pyobject(callback.py())?.into_any(),
            state.total.into_pyobject(callback.py())?.into_any(),
            state.unit.into_pyobject(callback.py())?.into_any(),
            state.notes.into_pyobject(callback.py())?.into_any(),
        ],
    )?;
    callback.call1(args)?;
    Ok(())
}

/// Runs the future `work` builds on the runtime, interruptibly (see [`interruptible`]).
macro_rules! block_on {
    ($py:expr, $callback:expr, |$p:ident| $body:expr) => {
        $crate::interruptible($py, $callback, move |$p| {
            $crate::runtime().block_on(async { $body.await })
        })
    };
}
pub(crate) use block_on;

/// A value of JSON text, read the workflow layer's way.
pub(crate) fn json_value(py: Python<'_>, text: &str) -> PyResult<serde_json::Value> {
    risklake_app::request_from_json(text).map_err(|e| to_py(py, e))
}

/// Sleeps `seconds` interruptibly: a test hook for Ctrl+C handling.
#[pyfunction]
#[pyo3(signature = (seconds, progress=None))]
fn _sleep(py: Python<'_>, seconds: f64, progress: Option<&Bound<'_, PyAny>>) -> PyResult<f64> {
    interruptible(py, progress, |shared| {
        let start = std::time::Instant::now();
        shared.stage("sleeping", Some((seconds * 100.0) as u64), Unit::Items);
        while start.elapsed().as_secs_f64() < seconds {
            risklake_app::progress::check(shared)?;
            std::thread::sleep(Duration::from_millis(10));
            shared.set_position((start.elapsed().as_secs_f64() * 100.0) as u64);
        }
        Ok(start.elapsed().as_secs_f64())
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("KINDS", risklake_app::jobs::KINDS.to_vec())?;
    m.add_function(wrap_pyfunction!(_sleep, m)?)?;
    workspace::register(m)?;
    learn::register(m)?;
    tune::register(m)?;
    Ok(())
}
