//! Scorecards: points per bin from a logistic regression on WoE values.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use risklake_core::{Error, Result};
use risklake_learn::scorecard::Scaling;
use risklake_learn::{Model, Scorecard};
use risklake_track::RunId;

use crate::{artifacts, features, train, Workspace};

/// Build a scorecard from a logistic regression and its binning plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScorecardBuildRequest {
    /// The LR model (file or run id).
    pub model: String,
    /// The binning plan (file or run id); default: the plan the LR was fitted with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    pub scaling: Scaling,
    /// Also write the scorecard (JSON) to this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
}

/// A stored scorecard and the run that built it.
#[derive(Clone, Debug)]
pub struct ScorecardBuildReport {
    pub run: RunId,
    pub scorecard: Scorecard,
    /// Where the store keeps it.
    pub path: PathBuf,
}

/// Builds the scorecard as a recorded run (`scorecard.build`): the card (JSON) and its
/// points table (CSV) are artifacts.
pub fn build(ws: &Workspace, req: &ScorecardBuildRequest) -> Result<ScorecardBuildReport> {
    let run = ws.start_run("scorecard.build")?;
    let result = (|| {
        let model = match train::load_model(ws, &req.model)? {
            Model::Lr(m) => m,
            other => {
                return Err(Error::param(
                    "model",
                    format!(
                        "a scorecard needs a logistic regression (train lr); {} is a {} model",
                        req.model,
                        other.kind()
                    ),
                ))
            }
        };
        let plan = req.plan.as_deref().map(|p| features::load_plan(ws, p)).transpose()?;
        run.param("model", &req.model)?;
        if let Some(p) = &req.plan {
            run.param("plan", p)?;
        }
        run.param("scaling", serde_json::to_string(&req.scaling).unwrap_or_default())?;
        let card = Scorecard::build(plan.as_ref(), &model, req.scaling.clone())?;
        let artifact = run.artifact(artifacts::SCORECARD, card.to_json().as_bytes())?;
        run.artifact(artifacts::POINTS_CSV, card.to_csv().as_bytes())?;
        if let Some(out) = &req.out {
            std::fs::write(out, card.to_json()).map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
        }
        Ok((card, PathBuf::from(artifact.path)))
    })();
    let id = run.id();
    let (scorecard, path) = run.finish(result)?;
    Ok(ScorecardBuildReport {
        run: id,
        scorecard,
        path,
    })
}

/// Reads a scorecard given as a file or a run id.
pub fn load(ws: &Workspace, spec: &str) -> Result<Scorecard> {
    let text = artifacts::read_text(ws, spec, artifacts::SCORECARD, "scorecard")?;
    Scorecard::from_json(&text).map_err(|e| Error::invalid(format!("scorecard {spec}: {e}")))
}
