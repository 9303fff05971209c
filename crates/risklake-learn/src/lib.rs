//! risklake's learners on Arrow batches, without the SQL engine.
//!
//! This first slice has the binned [`dataset::Dataset`] (streamed in, one byte per value,
//! bin mappers from a sample), a histogram-based leaf-wise tree learner with histogram
//! subtraction, learned missing-value directions, L1/L2 regularization and monotone
//! constraints ([`tree`]), gradient boosting for binary logloss and L2 regression
//! ([`gbdt`]), and export to LightGBM's text format ([`export`]). Categorical splits,
//! sampling, other growth policies and SHAP come next (issue 4).

pub mod bins;
pub mod dataset;
pub mod export;
pub mod forest;
pub mod gbdt;
pub mod linalg;
pub mod lr;
pub mod model;
pub mod scorecard;
pub mod shap;
pub mod tree;

pub use dataset::{Dataset, DatasetBuilder, DatasetOptions};
pub use gbdt::{train, GbdtModel, GbdtParams, Objective};
pub use lr::{Design, DesignBuilder, LrModel, LrParams};
pub use model::Model;
pub use scorecard::Scorecard;
