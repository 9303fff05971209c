//! Reason codes: which features pushed a row's risk up the most, the adverse-action
//! reasons a lender gives a declined applicant.
//!
//! Each feature gets an *adverse effect* per row, zero or more, in the model's own unit:
//! - trees: its exact TreeSHAP contribution to the log-odds of bad, where positive (the
//!   features that moved this row's score toward bad from the average row's);
//! - a scorecard: the points the row's bin earns less than the feature's best bin
//!   (`best points - points`);
//! - an LR on a binning plan's WoE: `coef x WoE(row's bin) - min over bins of coef x WoE`,
//!   the log-odds of bad it adds over the feature's least risky bin (the scorecard's
//!   reasoning, unscaled).
//!
//! An LR on raw columns has no least risky value to measure against, so it gives no
//! reasons (an error says so).

use arrow::record_batch::RecordBatch;
use risklake_core::{Error, Result};

use crate::lr::Inputs;
use crate::model::Model;

/// Per feature (in `names` order) one adverse effect per row, each `>= 0`.
pub struct AdverseEffects {
    pub names: Vec<String>,
    /// `effects[f][row]`.
    pub effects: Vec<Vec<f64>>,
    /// The unit of the effects: `log-odds` or `points`.
    pub unit: &'static str,
}

impl AdverseEffects {
    /// The `k` features with the largest positive effect on `row`, largest first (ties
    /// by feature order): `(feature index, effect)`.
    pub fn top(&self, row: usize, k: usize) -> Vec<(usize, f64)> {
        let mut v: Vec<(usize, f64)> = self
            .effects
            .iter()
            .enumerate()
            .map(|(f, e)| (f, e[row]))
            .filter(|(_, e)| *e > 0.0)
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(k);
        v
    }
}

/// The adverse effect of every input feature of `model` on every row of `batch`.
pub fn adverse_effects(model: &Model, batch: &RecordBatch) -> Result<AdverseEffects> {
    let rows = batch.num_rows();
    match model {
        Model::Trees(m) => {
            let width = m.feature_names.len() + 1;
            let shap = m.predict_shap(batch)?;
            let effects = (0..m.feature_names.len())
                .map(|f| (0..rows).map(|r| shap[r * width + f].max(0.0)).collect())
                .collect();
            Ok(AdverseEffects {
                names: m.feature_names.clone(),
                effects,
                // A forest averages its trees' probabilities.
                unit: if m.forest.is_some() { "probability" } else { "log-odds" },
            })
        }
        Model::Scorecard(card) => {
            let (_, parts) = card.score(batch)?;
            let effects = card
                .features
                .iter()
                .zip(parts)
                .map(|(f, points)| {
                    let best = f.bins.iter().map(|b| b.points).fold(f64::NEG_INFINITY, f64::max);
                    points.into_iter().map(|p| (best - p).max(0.0)).collect()
                })
                .collect();
            Ok(AdverseEffects {
                names: card.features.iter().map(|f| f.name.clone()).collect(),
                effects,
                unit: "points",
            })
        }
        Model::Lr(m) => {
            let Inputs::Woe { plan } = &m.inputs else {
                return Err(Error::invalid(
                    "reason codes need a reference value per feature: this LR was fitted on raw columns; fit it \
                     on a binning plan's WoE (train lr --plan) or build a scorecard from it",
                ));
            };
            let columns = m.feature_columns(batch)?;
            let mut names = Vec::new();
            let mut effects = Vec::new();
            for (c, woe) in m.features().zip(columns) {
                let f = plan.feature(&c.name).ok_or_else(|| {
                    Error::invalid(format!("the model's feature '{}' is not in its binning plan", c.name))
                })?;
                let least = f.bins.iter().map(|b| c.coef * b.woe).fold(f64::INFINITY, f64::min);
                names.push(c.name.clone());
                effects.push(woe.into_iter().map(|w| (c.coef * w - least).max(0.0)).collect());
            }
            Ok(AdverseEffects {
                names,
                effects,
                unit: "log-odds",
            })
        }
    }
}
