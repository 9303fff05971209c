//! Shared foundations of risklake that every other crate may use without pulling in the
//! SQL engine: the error type, a small deterministic random number generator, the
//! synthetic credit-data generator used by demos and benchmarks, and shared metrics.
//!
//! ```
//! use risklake_core::synth::{CreditGenerator, SynthConfig};
//!
//! let gen = CreditGenerator::new(SynthConfig { rows: 1_000, features: 12, seed: 7 }).unwrap();
//! let mut rows = 0;
//! for batch in gen.batches(256) {
//!     rows += batch.unwrap().num_rows();
//! }
//! assert_eq!(rows, 1_000);
//! ```

pub mod columns;
pub mod error;
pub mod label;
pub mod metrics;
pub mod process;
pub mod rng;
pub mod secret;
pub mod synth;

pub use error::{Error, ErrorKind, Result};

/// Batches of at most this many rows are worked in the calling thread, not on the rayon
/// pool: for a scoring request's few rows the hand-off costs more than the work, and
/// wakes threads on a busy machine.
pub const INLINE_ROWS: usize = 64;
