//! The names of the artifacts runs store, in one place, and reading them back through
//! the store (fronts never build artifact paths themselves).

use risklake_core::Result;

use crate::Workspace;

/// A binning plan (JSON), from `features bin`.
pub const BINNING_PLAN: &str = "binning_plan.json";
/// The plan's bins as CSV.
pub const BINS_CSV: &str = "bins.csv";
/// A trained model (JSON; any kind: trees, LR, scorecard).
pub const MODEL: &str = "model.json";
/// Split/gain importance per feature (CSV).
pub const IMPORTANCE_CSV: &str = "importance.csv";
/// A logistic regression's statsmodels-style summary (text).
pub const LR_SUMMARY: &str = "summary.txt";
/// A scorecard (JSON), from `scorecard build`.
pub const SCORECARD: &str = "scorecard.json";
/// A scorecard's points per bin (CSV).
pub const POINTS_CSV: &str = "points.csv";
/// A scorecard's gains table and metrics (JSON), from `scorecard evaluate`.
pub const GAINS_JSON: &str = "gains.json";
/// PSI per feature and group (JSON), from `features evaluate`.
pub const PSI_JSON: &str = "psi.json";
/// Every feature's selection decision and reason (CSV), from `features select`.
pub const SELECTION_CSV: &str = "selection.csv";
/// A self-contained HTML report.
pub const REPORT_HTML: &str = "report.html";

/// The text of `spec`: a file path, a run id (`17` or `run:17`) whose artifact
/// `artifact` is read, or a registered model (`name@alias`, `name/version`); `what` names
/// the thing in errors ("binning plan", "model").
pub fn read_text(ws: &Workspace, spec: &str, artifact: &str, what: &str) -> Result<String> {
    crate::registry::read_artifact(ws, spec, &[artifact], what)
}
