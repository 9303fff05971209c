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
#[derive(Clone, Debug, Serialize)]
pub struct ScorecardBuildReport {
    pub run: RunId,
    pub scorecard: Scorecard,
    /// Where the store keeps it.
    #[serde(skip)]
    pub path: PathBuf,
    /// Coefficients that give riskier bins more points.
    pub warnings: Vec<String>,
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
        run.uses("model", &req.model)?;
        if let Some(p) = &req.plan {
            run.param("plan", p)?;
            run.uses("plan", p)?;
        }
        run.param("scaling", serde_json::to_string(&req.scaling).unwrap_or_default())?;
        let card = Scorecard::build(plan.as_ref(), &model, req.scaling.clone())?;
        // A scorecard's points always come from WoE values.
        let warnings = model.sign_warnings(true);
        run.metric("negative_woe_coefficients", warnings.len() as f64)?;
        if !warnings.is_empty() {
            run.param("warnings", warnings.join("\n"))?;
        }
        let artifact = run.artifact(artifacts::SCORECARD, card.to_json().as_bytes())?;
        run.artifact(artifacts::POINTS_CSV, card.to_csv().as_bytes())?;
        if let Some(out) = &req.out {
            std::fs::write(out, card.to_json()).map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
        }
        Ok((card, PathBuf::from(artifact.path), warnings))
    })();
    let id = run.id();
    let (scorecard, path, warnings) = run.finish(result)?;
    Ok(ScorecardBuildReport {
        run: id,
        scorecard,
        path,
        warnings,
    })
}

/// Reads a scorecard given as a file or a run id.
pub fn load(ws: &Workspace, spec: &str) -> Result<Scorecard> {
    let text = artifacts::read_text(ws, spec, artifacts::SCORECARD, "scorecard")?;
    Scorecard::from_json(&text).map_err(|e| Error::invalid(format!("scorecard {spec}: {e}")))
}

/// Score a table with a scorecard into `destination`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreRequest {
    /// The scorecard (file or run id).
    pub scorecard: String,
    /// The table to score (lake name or file).
    pub table: String,
    /// Also add each feature's points (`points_<feature>`).
    pub points: bool,
    /// What a category the card's plan never saw earns: `neutral` (0 points, the
    /// default), `missing` (the missing bin's points), `other` (the pool of rare
    /// categories, else missing) or `error`.
    #[serde(default)]
    pub unseen: risklake_features::Unseen,
    pub destination: crate::output::OutputSpec,
}

/// Scores the table as a recorded run (`score`): the `score` column (and the points per
/// feature when asked) added to every row.
pub async fn score(
    ws: &Workspace,
    req: &ScoreRequest,
    progress: &dyn crate::Progress,
) -> Result<crate::predict::PredictReport> {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array};
    use arrow::datatypes::DataType;
    use arrow::record_batch::RecordBatch;

    let run = ws.start_run("score")?;
    let result = async {
        let id = run.id();
        let started = std::time::Instant::now();
        let card = load(ws, &req.scorecard)?;
        run.param("scorecard", &req.scorecard)?;
        run.uses("scorecard", &req.scorecard)?;
        let session = crate::scan::session(ws.lake().await?).await?;
        let stream = crate::scan::open_input(ws, &session, &req.table, None, id).await?;
        let in_schema = risklake_lake::sql::stream_schema(&stream);
        let missing: Vec<&str> = card
            .features
            .iter()
            .filter(|f| in_schema.index_of(&f.name).is_err())
            .map(|f| f.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid(format!(
                "{} lacks the scorecard's feature column(s): {}",
                req.table,
                missing.join(", ")
            )));
        }
        let mut added: Vec<(String, DataType)> = Vec::new();
        if req.points {
            added.extend(
                card.features
                    .iter()
                    .map(|f| (format!("points_{}", f.name), DataType::Float64)),
            );
        }
        added.push(("score".into(), DataType::Float64));
        let schema = crate::predict::with_added_columns(&in_schema, &req.table, &added)?;
        let points = req.points;
        run.param("unseen", format!("{:?}", req.unseen).to_lowercase())?;
        let unseen: Vec<std::sync::atomic::AtomicU64> = card
            .features
            .iter()
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect();
        let map = |b: &RecordBatch| -> Result<RecordBatch> {
            let (total, parts, counts) = card.score_counted(b, req.unseen)?;
            for (u, c) in unseen.iter().zip(counts) {
                u.fetch_add(c, std::sync::atomic::Ordering::Relaxed);
            }
            let mut cols: Vec<ArrayRef> = b.columns().to_vec();
            if points {
                cols.extend(parts.into_iter().map(|p| Arc::new(Float64Array::from(p)) as ArrayRef));
            }
            cols.push(Arc::new(Float64Array::from(total)));
            RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::arrow("adding scores", e))
        };
        let mut report = crate::predict::score_into(
            ws,
            id,
            stream,
            &req.table,
            schema.clone(),
            &req.destination,
            map,
            progress,
            started,
        )
        .await?;
        // Rows whose category the plan never saw, per feature: counted and recorded.
        for (f, u) in card.features.iter().zip(&unseen) {
            let n = u.load(std::sync::atomic::Ordering::Relaxed);
            if n > 0 {
                run.metric(&format!("unseen.{}", f.name), n as f64)?;
                report.unseen.push((f.name.clone(), n));
            }
        }
        Ok(report)
    }
    .await;
    run.finish(result)
}

/// Evaluate a scorecard on a labelled table: gains table, AUC / KS / Gini, and PSI of the
/// score against another table or between periods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The scorecard (file or run id).
    pub scorecard: String,
    pub table: String,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bad_value: Option<String>,
    /// Score bands of the gains table (equal frequency).
    pub bands: usize,
    /// PSI of the score on this table against `table`'s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi_against: Option<String>,
    /// PSI of the score between the values of this column (each against the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi_by: Option<String>,
}

impl Default for EvaluateRequest {
    fn default() -> Self {
        EvaluateRequest {
            scorecard: String::new(),
            table: String::new(),
            label: String::new(),
            bad_value: None,
            bands: 10,
            psi_against: None,
            psi_by: None,
        }
    }
}

/// What an evaluation found, and its run.
#[derive(Clone, Debug, Serialize)]
pub struct EvaluateReport {
    pub run: RunId,
    pub evaluation: risklake_learn::scorecard::ScoreEvaluation,
    /// (what, PSI of the score)
    pub psi: Vec<(String, f64)>,
}

/// Evaluates the scorecard as a recorded run (`scorecard.evaluate`).
pub async fn evaluate(ws: &Workspace, req: &EvaluateRequest, progress: &dyn crate::Progress) -> Result<EvaluateReport> {
    use risklake_learn::scorecard::{evaluate_scores, score_psi};
    let run = ws.start_run("scorecard.evaluate")?;
    let result = async {
        let id = run.id();
        let card = Model::Scorecard(load(ws, &req.scorecard)?);
        run.param("scorecard", &req.scorecard)?;
        run.uses("scorecard", &req.scorecard)?;
        let label = Some((req.label.as_str(), req.bad_value.as_deref()));
        let scored =
            crate::report::score_table(ws, id, &card, &req.table, label, req.psi_by.as_deref(), None, progress).await?;
        let scores = scored.points.unwrap_or_default();
        let eval = evaluate_scores(&scores, &scored.y, req.bands)?;
        let mut psi: Vec<(String, f64)> = Vec::new();
        if let Some(other) = &req.psi_against {
            let theirs = crate::report::score_table(ws, id, &card, other, None, None, None, progress).await?;
            psi.push((
                other.clone(),
                score_psi(&scores, &theirs.points.unwrap_or_default(), req.bands).0,
            ));
        }
        if let Some(groups) = &scored.groups {
            // Periods in time order, each against the first (as the model report).
            let by = crate::report::psi_by_period(groups, &scores, req.bands);
            psi.extend(by.psi.into_iter().map(|(g, v)| (format!("{g} vs {}", by.baseline), v)));
        }
        for (k, v) in [
            ("auc", eval.auc),
            ("ks", eval.ks),
            ("gini", eval.gini),
            ("bad_rate", eval.bad_rate),
        ] {
            run.metric(k, v)?;
        }
        if let Some(max) = psi.iter().map(|p| p.1).reduce(f64::max) {
            run.metric("max_psi", max)?;
        }
        run.artifact(
            artifacts::GAINS_JSON,
            serde_json::to_string_pretty(&eval).unwrap_or_default().as_bytes(),
        )?;
        Ok((eval, psi))
    }
    .await;
    let id = run.id();
    let (evaluation, psi) = run.finish(result)?;
    Ok(EvaluateReport {
        run: id,
        evaluation,
        psi,
    })
}

/// Write a stored scorecard in another form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportRequest {
    /// The scorecard (file, run id, `name@alias`, `name/version`).
    pub scorecard: String,
    /// `csv` (points table), `json` or `sql` (a SELECT that scores `sql_table`).
    pub format: String,
    /// `sql`: the table the SELECT reads.
    pub sql_table: String,
    pub out: PathBuf,
}

/// Writes the scorecard as asked; returns the bytes written.
pub fn export(ws: &Workspace, req: &ExportRequest) -> Result<usize> {
    let card = load(ws, &req.scorecard)?;
    let text = match req.format.as_str() {
        "json" => card.to_json(),
        "sql" => card.to_sql(&req.sql_table),
        "csv" | "" => card.to_csv(),
        other => {
            return Err(Error::param(
                "format",
                format!("unknown scorecard format '{other}' (csv, json or sql)"),
            ))
        }
    };
    std::fs::write(&req.out, &text).map_err(|e| Error::io(format!("writing {}", req.out.display()), e))?;
    Ok(text.len())
}
