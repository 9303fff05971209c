//! The flags of `train`, `tune` and `predict` as the workflow layer's requests (the same
//! requests `submit` sends to a server).

use std::collections::BTreeMap;

use risklake_app::predict::{PredictOutput, PredictRequest};
use risklake_app::scorecard::{EvaluateRequest, ScorecardBuildRequest};
use risklake_app::train::{Stepwise, TrainLrRequest, TrainRequest};
use risklake_core::{Error, Result};
use risklake_learn::scorecard::Scaling;

use crate::app::{PredictArgs, ScorecardBuildArgs, ScorecardEvaluateArgs, TrainGbdtArgs, TrainLrArgs};

/// `key=value` pairs of `--param`.
pub fn key_values(params: &[String]) -> Result<Vec<(String, String)>> {
    params
        .iter()
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| Error::invalid(format!("--param '{p}' should be KEY=VALUE")))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// `--param KEY=VALUE` flags (and `--categorical`) as the request's parameter map.
pub fn param_map(params: &[String], categorical: &[String]) -> Result<BTreeMap<String, serde_json::Value>> {
    let mut map: BTreeMap<String, serde_json::Value> = key_values(params)?
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    if !categorical.is_empty() {
        map.insert(
            "categorical_feature".into(),
            serde_json::Value::String(categorical.join(",")),
        );
    }
    Ok(map)
}

/// The rows and columns the `train` / `tune` flags name (`table`, `valid_fraction`,
/// `valid_table`, `label`, `bad_value`, `weight`, `columns`, `exclude`), as the
/// request's [`TrainData`](risklake_app::train::TrainData).
macro_rules! train_data_of {
    ($args:expr) => {
        risklake_app::train::TrainData {
            table: $args.table.clone(),
            valid_fraction: $args.valid_fraction,
            valid_table: $args.valid_table.clone(),
            label: $args.label.clone(),
            bad_value: $args.bad_value.clone(),
            weight: $args.weight.clone(),
            columns: $args.columns.clone(),
            exclude: $args.exclude.clone(),
        }
    };
}
pub(crate) use train_data_of;

/// The flags of `train gbdt` / `train rf` as the workflow's request.
pub fn tree_request(args: &TrainGbdtArgs) -> Result<TrainRequest> {
    Ok(TrainRequest {
        data: train_data_of!(args),
        params: param_map(&args.params, &args.categorical)?,
        out: args.out.clone(),
    })
}

/// The flags of `train lr` as the workflow's request.
pub fn lr_request(args: &TrainLrArgs) -> Result<TrainLrRequest> {
    Ok(TrainLrRequest {
        data: train_data_of!(args),
        plan: args.plan.clone(),
        params: param_map(&args.params, &[])?,
        stepwise: args.stepwise.as_ref().map(|d| Stepwise {
            direction: d.clone(),
            criterion: args.criterion.clone(),
            p_enter: args.p_enter,
            p_remove: args.p_remove,
            positive_coefficients: args.positive_coefficients,
        }),
        out: args.out.clone(),
    })
}

/// The flags as the workflow's request.
pub fn predict_request(args: &PredictArgs) -> Result<PredictRequest> {
    let output: PredictOutput = serde_json::from_value(serde_json::Value::String(args.output.clone()))
        .map_err(|_| Error::invalid(format!("unknown --output {}", args.output)))?;
    let target = super::OutputTarget {
        table: args.out_table.as_deref(),
        file: args.out.as_deref(),
        mode: args.mode.as_deref(),
    };
    Ok(PredictRequest {
        model: args.model.clone(),
        table: args.table.clone(),
        output,
        top: args.top,
        destination: target.spec()?,
    })
}

/// The flags of `scorecard build` as the workflow's request.
pub fn scorecard_build_request(args: &ScorecardBuildArgs) -> ScorecardBuildRequest {
    ScorecardBuildRequest {
        model: args.model.clone(),
        plan: args.plan.clone(),
        scaling: Scaling {
            base_points: args.base_points,
            base_odds: args.base_odds,
            pdo: args.pdo,
            digits: args.digits,
        },
        out: args.out.clone(),
    }
}

/// The flags of `scorecard evaluate` as the workflow's request.
pub fn evaluate_request(args: &ScorecardEvaluateArgs) -> EvaluateRequest {
    EvaluateRequest {
        scorecard: args.scorecard.clone(),
        table: args.table.clone(),
        label: args.label.clone(),
        bad_value: args.bad_value.clone(),
        bands: args.bands,
        psi_against: args.psi_against.clone(),
        psi_by: args.psi_by.clone(),
    }
}
