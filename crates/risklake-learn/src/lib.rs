//! risklake's learners on Arrow batches, without the SQL engine.
//!
//! - [`dataset`]: the binned dataset (streamed in, one byte per value, bin mappers from a
//!   sample), shared by the tree learners.
//! - [`tree`]: the histogram tree learner (leaf-wise, depth-wise, symmetric; subtraction
//!   or per-node histograms; missing directions, L1/L2, monotone constraints, categorical
//!   splits).
//! - [`gbdt`]: gradient boosting (binary logloss, L2), GOSS, bagging, early stopping;
//!   [`shap`] TreeSHAP; [`export`] LightGBM's text format.
//! - [`forest`]: random forests on the same learner, out-of-bag scores.
//! - [`lr`]: logistic regression (Newton / proximal Newton, L1/L2/elastic net),
//!   statsmodels-style statistics, VIF, stepwise selection; [`linalg`] its small dense
//!   algebra and distribution tails.
//! - [`scorecard`]: points per bin from a binning plan and an LR, scoring, SQL export,
//!   gains tables; [`model`] any stored model by its format.

mod bins;
pub mod dataset;
mod ensemble;
mod export;
pub mod forest;
pub mod gbdt;
mod linalg;
pub mod lr;
pub mod model;
mod params;
pub mod reasons;
pub mod scorecard;
pub mod shap;
pub mod tree;

pub use dataset::{Dataset, DatasetBuilder, DatasetOptions};
pub use gbdt::{train, GbdtModel, GbdtParams, Objective};
pub use lr::{Design, DesignBuilder, LrModel, LrParams};
pub use model::Model;
pub use scorecard::Scorecard;

/// Runs `f` on a pool of `threads` threads (0, or the current pool's size: on the current
/// pool). Rayon's pools sleep when idle: they never spin.
pub(crate) fn with_threads<T: Send>(
    threads: usize,
    f: impl FnOnce() -> risklake_core::Result<T> + Send,
) -> risklake_core::Result<T> {
    if threads > 0 && threads != rayon::current_num_threads() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| risklake_core::Error::external("starting the training threads", e))?;
        return pool.install(f);
    }
    f()
}
