//! Any stored model: tree ensembles (GBDT, random forest), logistic regressions and
//! scorecards, told apart by their `format` field.

use arrow::record_batch::RecordBatch;
use risklake_core::{Error, Result};

use crate::ensemble::{GbdtModel, MODEL_FORMAT};
use crate::lr::{LrModel, LR_FORMAT};
use crate::scorecard::{Scorecard, SCORECARD_FORMAT};

/// A model of any kind.
#[derive(Debug, Clone)]
pub enum Model {
    Trees(GbdtModel),
    Lr(LrModel),
    Scorecard(Scorecard),
}

impl Model {
    pub fn from_json(text: &str) -> Result<Model> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::invalid(format!("model file is not valid JSON: {e}")))?;
        match v.get("format").and_then(|f| f.as_str()) {
            Some(LR_FORMAT) => Ok(Model::Lr(LrModel::from_json(text)?)),
            Some(SCORECARD_FORMAT) => Ok(Model::Scorecard(Scorecard::from_json(text)?)),
            Some(MODEL_FORMAT) | Some(crate::ensemble::FOREST_FORMAT) => Ok(Model::Trees(GbdtModel::from_json(text)?)),
            other => Err(Error::invalid(format!(
                "not a risklake model (format {:?}; expected risklake.gbdt, risklake.forest, risklake.lr or risklake.scorecard)",
                other.unwrap_or("missing")
            ))),
        }
    }

    /// gbdt, rf, lr or scorecard.
    pub fn kind(&self) -> &'static str {
        match self {
            Model::Trees(m) if m.forest.is_some() => "rf",
            Model::Trees(_) => "gbdt",
            Model::Lr(_) => "lr",
            Model::Scorecard(_) => "scorecard",
        }
    }

    /// The input columns a table needs for this model.
    pub fn input_columns(&self) -> Vec<String> {
        match self {
            Model::Trees(m) => m.feature_names.clone(),
            Model::Lr(m) => m.features().map(|c| c.name.clone()).collect(),
            Model::Scorecard(c) => c.features.iter().map(|f| f.name.clone()).collect(),
        }
    }

    /// Each input column and whether the model reads it as categories (text) rather than
    /// numbers: what a caller with untyped values (JSON rows) builds its columns by.
    pub fn input_kinds(&self) -> Vec<(String, bool)> {
        use risklake_features::plan::{BinningPlan, FeatureKind};
        let from_plan = |plan: &BinningPlan, names: Vec<String>| -> Vec<(String, bool)> {
            names
                .into_iter()
                .map(|n| {
                    let categorical = plan.feature(&n).is_some_and(|f| f.kind == FeatureKind::Categorical);
                    (n, categorical)
                })
                .collect()
        };
        match self {
            Model::Trees(m) => m
                .feature_names
                .iter()
                .zip(&m.mappers)
                .map(|(n, mp)| (n.clone(), mp.is_categorical()))
                .collect(),
            Model::Lr(m) => match &m.inputs {
                crate::lr::Inputs::Woe { plan } => from_plan(plan, self.input_columns()),
                crate::lr::Inputs::Raw => self.input_columns().into_iter().map(|n| (n, false)).collect(),
            },
            Model::Scorecard(c) => from_plan(&c.plan, self.input_columns()),
        }
    }

    /// Probability of bad (binary models), the value (regression trees).
    pub fn predict(&self, batch: &RecordBatch) -> Result<Vec<f64>> {
        match self {
            Model::Trees(m) => m.predict(batch),
            Model::Lr(m) => m.predict(batch),
            Model::Scorecard(c) => Ok(c.score(batch)?.0.into_iter().map(|s| c.probability(s)).collect()),
        }
    }

    /// Raw scores: log-odds of bad (GBDT, LR), the average (forest), points (scorecard).
    pub fn predict_raw(&self, batch: &RecordBatch) -> Result<Vec<f64>> {
        match self {
            Model::Trees(m) => m.predict_raw(batch),
            Model::Lr(m) => m.predict_raw(batch),
            Model::Scorecard(c) => Ok(c.score(batch)?.0),
        }
    }

    /// The tree model, for outputs only trees have (leaf, shap, LightGBM export).
    pub fn trees(&self, what: &str) -> Result<&GbdtModel> {
        match self {
            Model::Trees(m) => Ok(m),
            _ => Err(Error::invalid(format!(
                "{what} needs a tree model (gbdt or rf); this is a {} model",
                self.kind()
            ))),
        }
    }
}
