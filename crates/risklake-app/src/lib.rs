//! risklake's workflows, written once for every front.
//!
//! The library crates compute; this crate runs their work the way a user asks for it:
//! it opens the home ([`Workspace`]: lake, project store), turns a typed request into
//! calls of the lake, feature, learning and tuning crates, records the run (parameters,
//! metrics, the tables and snapshots read and written, artifacts) and returns a typed
//! report. The CLI, the server's job runner and the Python package are thin layers over
//! it: they turn flags, JSON or keyword arguments into a request and render the report.
//! No clap, no terminal, no HTTP here; progress and cancellation go through the
//! [`Progress`] trait, which each front implements its own way.
//!
//! ```no_run
//! # async fn demo() -> risklake_core::Result<()> {
//! use risklake_app::{ingest, progress::Silent, Workspace};
//! let ws = Workspace::open(std::path::Path::new("risklake-home"), "default")?;
//! let req = ingest::IngestRequest {
//!     path: Some("examples/german_credit.csv".into()),
//!     table: "raw.german".into(),
//!     ..Default::default()
//! };
//! let done = ingest::ingest(&ws, &req, &Silent).await?;
//! println!("{} rows in snapshot {:?}, run {}", done.report.rows_written, done.report.snapshot, done.run);
//! # Ok(()) }
//! ```

pub mod artifacts;
pub mod features;
pub mod frames;
pub mod gen;
pub mod ingest;
pub mod jobs;
pub mod lake;
pub mod learner;
pub mod lineage;
pub mod maintain;
pub mod output;
pub mod predict;
pub mod progress;
pub mod registry;
pub mod report;
pub mod run;
pub mod runs;
pub mod scan;
pub mod scorecard;
pub mod scoring;
pub mod sql;
pub mod studies;
pub mod train;
pub mod tune;
mod workspace;

pub use progress::{Cancel, Progress, Silent, Unit};

/// Reads a request from JSON text (what a server job or a Python call passes in).
///
/// Fronts read requests with this, not `serde_json::from_str`: paimon turns on
/// serde_json's `arbitrary_precision`, under which a number inside a flattened field
/// (`valid_fraction` of a train request) fails to read straight from text; going
/// through a `serde_json::Value` reads it.
pub fn request_from_json<T: serde::de::DeserializeOwned>(text: &str) -> risklake_core::Result<T> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| risklake_core::Error::invalid(format!("the request is not JSON: {e}")))?;
    serde_json::from_value(value).map_err(|e| risklake_core::Error::invalid(format!("the request does not read: {e}")))
}
pub use run::RunScope;
pub use workspace::{project_database, Workspace, DEFAULT_PROJECT};
