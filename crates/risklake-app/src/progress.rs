//! Progress and cancellation: what a long workflow tells its front, and how a front stops
//! it.
//!
//! A workflow names its stages and advances them; it asks [`Progress::cancelled`] between
//! batches, iterations and trials and stops with [`Error::Cancelled`] when told to,
//! leaving the lake and the store as they were (the run is marked `cancelled`). The CLI
//! draws progress bars; a server job forwards the same calls to its clients; the Python
//! package turns Ctrl+C into a cancellation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use risklake_core::{Error, Result};

/// What a stage counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Rows,
    Iterations,
    Trials,
    /// Tables, files or other things counted one by one.
    Items,
}

/// The channel from a workflow to its front. Every method has a do-nothing default.
pub trait Progress: Send + Sync {
    /// A new stage begins, of `total` units when known.
    fn stage(&self, _name: &str, _total: Option<u64>, _unit: Unit) {}
    /// The stage's total became known or changed.
    fn set_total(&self, _total: u64) {}
    /// `n` more units of the stage are done.
    fn advance(&self, _n: u64) {}
    /// The stage is at `position` units.
    fn set_position(&self, _position: u64) {}
    /// The stage is over.
    fn end_stage(&self) {}
    /// A line for the person watching (what is being done, a warning).
    fn note(&self, _message: &str) {}
    /// Whether the caller asked the workflow to stop.
    fn cancelled(&self) -> bool {
        false
    }
}

/// No progress shown, never cancelled.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}

/// A cancellation switch shared between a front and the workflow it runs.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the workflow to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Progress for Cancel {
    fn cancelled(&self) -> bool {
        self.is_cancelled()
    }
}

/// `Err(Cancelled)` when the caller asked to stop: `check(progress)?` between batches.
pub fn check(progress: &dyn Progress) -> Result<()> {
    if progress.cancelled() {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}
