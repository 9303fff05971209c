//! Hyper-parameter tuning with Optuna-compatible studies, without the SQL engine.
//!
//! - [`distributions`]: float (uniform, log, step), int (uniform, log, step) and
//!   categorical parameters, encoded as Optuna encodes them.
//! - [`storage`]: studies and trials as Optuna 5's journal, in memory or in a file shared
//!   with Optuna workers (its lock protocol, its encodings; Optuna-written journals load).
//! - [`study`]: ask/tell, suggest, report/should_prune, enqueue, optimize over threads.
//! - [`rdb`]: the same studies in Optuna's RDB schema on SQLite.
//! - [`samplers`]: random, grid and TPE; [`pruners`]: median/percentile, successive
//!   halving, Hyperband.
//! - [`importance`]: which parameters mattered (fANOVA, as Optuna's default evaluator).

pub mod distributions;
pub mod importance;
mod journal;
pub mod pruners;
mod rdb;
pub mod samplers;
pub mod space;
pub mod storage;
mod study;
mod trial;

pub use distributions::{Choice, Distribution, ParamValue};
pub use space::SearchSpace;
pub use storage::{Direction, FrozenTrial, Storage, TrialState};
pub use study::{Study, Trial, TrialError};

/// A random 128-bit id as a UUID-shaped string (worker ids, lock files).
pub fn unique_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut parts = [0u64; 2];
    for (i, p) in parts.iter_mut().enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        h.write_u32(std::process::id());
        h.write_usize(i);
        *p = h.finish();
    }
    let x = ((parts[0] as u128) << 64) | parts[1] as u128;
    let hex = format!("{x:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}
