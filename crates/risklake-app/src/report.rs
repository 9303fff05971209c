//! Model reports: any model (GBDT, forest, LR, scorecard) scored on a table with its
//! label, as one self-contained HTML page (see [`risklake_report::model`]) stored as the
//! run's `report.html`. Training runs with a validation set write one on their held-out
//! rows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use risklake_core::label::LabelReader;
use risklake_core::{Error, Result};
use risklake_learn::scorecard::{band_of, evaluate_scores, score_psi};
use risklake_learn::Model;
use risklake_report::model::{CoefRow, GainsRow, ModelReport, ScorePsi, ShapSummary};
use risklake_track::RunId;

use crate::progress::{check, Progress, Unit};
use crate::{artifacts, scan, train, RunScope, Workspace};

/// Rows whose SHAP values the report averages (TreeSHAP costs far more than scoring).
const SHAP_ROWS: usize = 2000;
/// Rows and features the SHAP summary chart draws (a dot per row and feature).
const SHAP_SUMMARY_ROWS: usize = 1000;
const SHAP_SUMMARY_FEATURES: usize = 15;

/// Report on a model scored on a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelReportRequest {
    /// A model or scorecard: file, run id, `name@alias` or `name/version`.
    pub model: String,
    /// The table to score (lake name or file); it needs the model's columns and the label.
    pub table: String,
    pub label: String,
    /// The label value that marks a bad row, for text labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bad_value: Option<String>,
    /// Score bands of the gains table (equal-frequency).
    pub bands: usize,
    /// PSI of the score against this table (the development sample).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi_against: Option<String>,
    /// PSI of the score per value of this column (periods), against its first value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi_by: Option<String>,
    /// Also write the report to this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
}

impl Default for ModelReportRequest {
    fn default() -> Self {
        ModelReportRequest {
            model: String::new(),
            table: String::new(),
            label: String::new(),
            bad_value: None,
            bands: 10,
            psi_against: None,
            psi_by: None,
            out: None,
        }
    }
}

/// What a report run produced.
#[derive(Clone, Debug, Serialize)]
pub struct ModelReportOutcome {
    pub run: RunId,
    /// Where the store keeps the report.
    /// A server-side file path: not in the serialized report (fronts reach
    /// artifacts through the store).
    #[serde(skip)]
    pub path: PathBuf,
    pub rows: u64,
    pub auc: f64,
    pub ks: f64,
    /// The largest PSI of the score, when asked for.
    pub max_psi: Option<f64>,
}

/// A model's predictions on rows with their labels.
#[derive(Default)]
pub struct Scored {
    /// Probability of bad.
    pub p: Vec<f64>,
    /// 1 = bad, 0 = good.
    pub y: Vec<f64>,
    /// A scorecard's points (higher = safer), when the model is one.
    pub points: Option<Vec<f64>>,
    /// The `psi_by` column's value per row, as text.
    pub groups: Option<Vec<String>>,
}

impl Scored {
    /// The ranking score, higher = safer: points, or the probability of good.
    fn ranking(&self) -> Vec<f64> {
        match &self.points {
            Some(p) => p.clone(),
            None => self.p.iter().map(|p| 1.0 - p).collect(),
        }
    }
}

/// Scores `batch` with `model` into `scored` (and its `psi_by` values).
fn score_batch(
    model: &Model,
    batch: &RecordBatch,
    labels: Option<&mut LabelReader>,
    group: Option<&str>,
    scored: &mut Scored,
) -> Result<()> {
    match model {
        // Scored once: the probability follows from the points.
        Model::Scorecard(card) => {
            let (points, _) = card.score(batch)?;
            scored.p.extend(points.iter().map(|s| card.probability(*s)));
            scored.points.get_or_insert_with(Vec::new).extend(points);
        }
        _ => scored.p.extend(model.predict(batch)?),
    }
    if let Some(labels) = labels {
        scored.y.extend(labels.read(batch)?);
    }
    if let Some(col) = group {
        // Nulls are the period "null", as in the features' PSI (and ordered last).
        let groups = scored.groups.get_or_insert_with(Vec::new);
        groups.extend(
            risklake_learn::dataset::category_values(batch, col)?
                .into_iter()
                .map(|v| v.unwrap_or_else(|| "null".into())),
        );
    }
    Ok(())
}

/// The first `rows` values of column `name` of `b` as numbers (`None` when it is not
/// there or not numeric: the chart then greys its dots).
fn numbers_of(b: &RecordBatch, name: &str, rows: usize) -> Option<arrow::array::Float64Array> {
    use arrow::array::Array;
    let c = b.column_by_name(name)?;
    if !c.data_type().is_numeric() {
        return None;
    }
    let c = arrow::compute::cast(&c.slice(0, rows), &arrow::datatypes::DataType::Float64).ok()?;
    c.as_any().downcast_ref::<arrow::array::Float64Array>().cloned()
}

/// Streams `table` through the model; `shap` collects the first rows for SHAP.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn score_table(
    ws: &Workspace,
    run: RunId,
    model: &Model,
    table: &str,
    label: Option<(&str, Option<&str>)>,
    group: Option<&str>,
    mut shap: Option<&mut Vec<RecordBatch>>,
    progress: &dyn Progress,
) -> Result<Scored> {
    let session = scan::session(ws.lake().await?).await?;
    let mut stream = scan::open_input(ws, &session, table, None, run).await?;
    let schema = risklake_lake::sql::stream_schema(&stream);
    let mut needed = model.input_columns();
    if let Some((l, _)) = label {
        needed.push(l.to_string());
    }
    needed.extend(group.map(str::to_string));
    let missing: Vec<&String> = needed.iter().filter(|c| schema.index_of(c).is_err()).collect();
    if !missing.is_empty() {
        return Err(Error::invalid(format!(
            "{table} lacks column{} {} that scoring needs (the model's inputs, the label{})",
            if missing.len() == 1 { "" } else { "s" },
            missing.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", "),
            if group.is_some() { ", psi_by" } else { "" }
        )));
    }
    let mut scored = Scored::default();
    let mut labels = label.map(|(l, bad_value)| LabelReader::binary(l, bad_value));
    let mut sampled = 0;
    progress.stage(&format!("scoring {table}"), None, Unit::Rows);
    let result: Result<()> = async {
        while let Some(b) = stream.next().await {
            check(progress)?;
            let b = b.map_err(|e| Error::external(format!("reading {table}"), e))?;
            score_batch(model, &b, labels.as_mut(), group, &mut scored)?;
            if let Some(rows) = shap.as_deref_mut() {
                if sampled < SHAP_ROWS {
                    let take = (SHAP_ROWS - sampled).min(b.num_rows());
                    rows.push(b.slice(0, take));
                    sampled += take;
                }
            }
            progress.advance(b.num_rows() as u64);
        }
        Ok(())
    }
    .await;
    progress.end_stage();
    result?;
    if scored.p.is_empty() {
        return Err(Error::invalid(format!("{table} has no rows to score")));
    }
    Ok(scored)
}

/// The score's PSI of every period against the first one in time.
pub(crate) struct PeriodPsi {
    /// The first period.
    pub baseline: String,
    /// How the periods were ordered (`as dates`, `as numbers`, `as text`).
    pub order: &'static str,
    /// (period, PSI against the baseline) for the other periods, in order.
    pub psi: Vec<(String, f64)>,
}

/// PSI of `scores` grouped by `groups` (one period per row), each period against the
/// first in time (see [`risklake_features::psi::order_periods`]), over `bands` bands.
pub(crate) fn psi_by_period(groups: &[String], scores: &[f64], bands: usize) -> PeriodPsi {
    let mut by: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (g, s) in groups.iter().zip(scores) {
        by.entry(g.as_str()).or_default().push(*s);
    }
    let distinct: Vec<String> = by.keys().map(|k| k.to_string()).collect();
    let (periods, order) = risklake_features::psi::order_periods(&distinct);
    let Some(baseline) = periods.first().cloned() else {
        return PeriodPsi {
            baseline: String::new(),
            order,
            psi: Vec::new(),
        };
    };
    let psi = periods[1..]
        .iter()
        .map(|p| (p.clone(), score_psi(&by[baseline.as_str()], &by[p.as_str()], bands).0))
        .collect();
    PeriodPsi { baseline, order, psi }
}

/// ROC points (fpr, tpr) and KS curves (population share, cumulative bad / good share),
/// riskiest rows first, ties kept together, at most ~200 points each.
fn curves(ranking: &[f64], y: &[f64]) -> (Vec<(f64, f64)>, Vec<(f64, f64)>, Vec<(f64, f64)>) {
    let mut order: Vec<usize> = (0..ranking.len()).collect();
    order.sort_by(|&a, &b| ranking[a].total_cmp(&ranking[b]));
    let bads: f64 = y.iter().sum();
    let goods = y.len() as f64 - bads;
    let n = order.len();
    let step = (n / 200).max(1);
    let (mut roc, mut kb, mut kg) = (vec![(0.0, 0.0)], vec![(0.0, 0.0)], vec![(0.0, 0.0)]);
    let (mut cb, mut cg) = (0.0, 0.0);
    let mut last_emit = 0;
    for (i, &r) in order.iter().enumerate() {
        cb += y[r];
        cg += 1.0 - y[r];
        let tie_ends = i + 1 == n || ranking[order[i + 1]] != ranking[r];
        if tie_ends && (i + 1 - last_emit >= step || i + 1 == n) {
            last_emit = i + 1;
            let (tpr, fpr) = (cb / bads.max(1e-12), cg / goods.max(1e-12));
            let share = (i + 1) as f64 / n as f64;
            roc.push((fpr, tpr));
            kb.push((share, tpr));
            kg.push((share, fpr));
        }
    }
    (roc, kb, kg)
}

/// Shares of goods and of bads in 20 equal-width bins of the probability of bad (or of
/// a scorecard's points).
fn distribution(scored: &Scored) -> (Vec<String>, Vec<f64>, Vec<f64>) {
    let values = scored.points.clone().unwrap_or_else(|| scored.p.clone());
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let k = 20;
    let width = ((hi - lo) / k as f64).max(1e-12);
    let (mut g, mut b) = (vec![0.0; k], vec![0.0; k]);
    for (v, y) in values.iter().zip(&scored.y) {
        let i = (((v - lo) / width) as usize).min(k - 1);
        if *y == 1.0 {
            b[i] += 1.0;
        } else {
            g[i] += 1.0;
        }
    }
    let (tg, tb) = (g.iter().sum::<f64>().max(1.0), b.iter().sum::<f64>().max(1.0));
    let labels = (0..k)
        .map(|i| {
            let x = lo + width * i as f64;
            if scored.points.is_some() {
                format!("{x:.0}")
            } else {
                format!("{x:.3}")
            }
        })
        .collect();
    (
        labels,
        g.iter().map(|v| v / tg).collect(),
        b.iter().map(|v| v / tb).collect(),
    )
}

/// Builds the report's figures from scored rows.
#[allow(clippy::too_many_arguments)]
pub fn build(
    model: &Model,
    title: &str,
    meta: String,
    scored: &Scored,
    bands: usize,
    psi: Option<ScorePsi>,
    shap_rows: &[RecordBatch],
    mut notes: Vec<String>,
) -> Result<(ModelReport, f64, f64)> {
    let ranking = scored.ranking();
    let ev = evaluate_scores(&ranking, &scored.y, bands.max(1))?;
    // Mean predicted probability per band.
    let k = ev.edges.len().saturating_sub(1).max(1);
    let (mut sum_p, mut cnt) = (vec![0.0; k], vec![0.0; k]);
    for (s, p) in ranking.iter().zip(&scored.p) {
        let b = band_of(&ev.edges, *s);
        sum_p[b] += p;
        cnt[b] += 1.0;
    }
    let predicted: Vec<f64> = sum_p
        .iter()
        .zip(&cnt)
        .filter(|(_, c)| **c > 0.0)
        .map(|(s, c)| s / c)
        .collect();
    let gains = ev
        .bands
        .iter()
        .zip(&predicted)
        .map(|(b, p)| GainsRow {
            range: if scored.points.is_some() {
                format!("points {:.0} – {:.0}", b.min_score, b.max_score)
            } else {
                format!("p(bad) {:.4} – {:.4}", 1.0 - b.max_score, 1.0 - b.min_score)
            },
            rows: b.count,
            bads: b.bads,
            bad_rate: b.bad_rate,
            cum_bad_share: b.cum_bad_share,
            cum_good_share: b.cum_good_share,
            ks: b.ks,
            lift: b.lift,
            predicted: *p,
        })
        .collect();
    let (roc, ks_bads, ks_goods) = curves(&ranking, &scored.y);
    let (importance, importance_name): (Vec<(String, f64)>, String);
    let (mut shap, mut coefficients, mut points) = (Vec::new(), Vec::new(), Vec::new());
    let mut shap_summary = None;
    match model {
        Model::Trees(m) => {
            let mut imp: Vec<(String, f64)> = m.importance().into_iter().map(|(f, _, g)| (f, g)).collect();
            imp.sort_by(|a, b| b.1.total_cmp(&a.1));
            importance = imp;
            importance_name = "split gain (total)".into();
            let mut sums = vec![0.0; m.feature_names.len()];
            let mut rows = 0usize;
            // The summary chart's rows: SHAP values and the features' own values.
            let (mut dots, mut values): (Vec<Vec<f64>>, Vec<Vec<Option<f64>>>) = (Vec::new(), Vec::new());
            for b in shap_rows {
                let s = m.predict_shap(b)?;
                let width = m.feature_names.len() + 1;
                let keep = b.num_rows().min(SHAP_SUMMARY_ROWS.saturating_sub(dots.len()));
                if keep > 0 {
                    let columns: Vec<Option<arrow::array::Float64Array>> =
                        m.feature_names.iter().map(|f| numbers_of(b, f, keep)).collect();
                    for r in 0..keep {
                        dots.push(s[r * width..r * width + m.feature_names.len()].to_vec());
                        values.push(
                            columns
                                .iter()
                                .map(|c| {
                                    c.as_ref()
                                        .and_then(|c| (!arrow::array::Array::is_null(c, r)).then(|| c.value(r)))
                                })
                                .collect(),
                        );
                    }
                }
                for r in 0..b.num_rows() {
                    for (f, sum) in sums.iter_mut().enumerate() {
                        *sum += s[r * width + f].abs();
                    }
                }
                rows += b.num_rows();
            }
            if !dots.is_empty() {
                shap_summary = Some(ShapSummary::new(
                    &m.feature_names,
                    &dots,
                    &values,
                    SHAP_SUMMARY_FEATURES,
                ));
            }
            if rows > 0 {
                let mut v: Vec<(String, f64)> = m
                    .feature_names
                    .iter()
                    .cloned()
                    .zip(sums.into_iter().map(|s| s / rows as f64))
                    .collect();
                v.sort_by(|a, b| b.1.total_cmp(&a.1));
                shap = v;
            }
        }
        Model::Lr(m) => {
            coefficients = m
                .coefficients
                .iter()
                .map(|c| CoefRow {
                    name: c.name.clone(),
                    coef: c.coef,
                    std_err: c.std_err,
                    p_value: c.p_value,
                    vif: c.vif,
                })
                .collect();
            let mut imp: Vec<(String, f64)> = m.features().map(|c| (c.name.clone(), c.coef.abs())).collect();
            imp.sort_by(|a, b| b.1.total_cmp(&a.1));
            importance = imp;
            importance_name = "|coefficient|".into();
        }
        Model::Scorecard(card) => {
            for f in &card.features {
                for b in &f.bins {
                    points.push((f.name.clone(), b.label.clone(), b.woe, b.points));
                }
            }
            coefficients = std::iter::once(CoefRow {
                name: "const".into(),
                coef: card.intercept,
                std_err: None,
                p_value: None,
                vif: None,
            })
            .chain(card.features.iter().map(|f| CoefRow {
                name: f.name.clone(),
                coef: f.coefficient,
                std_err: None,
                p_value: None,
                vif: None,
            }))
            .collect();
            let mut imp: Vec<(String, f64)> = card
                .features
                .iter()
                .map(|f| {
                    let pts = f.bins.iter().map(|b| b.points);
                    let spread = pts.clone().fold(f64::NEG_INFINITY, f64::max) - pts.fold(f64::INFINITY, f64::min);
                    (f.name.clone(), spread)
                })
                .collect();
            imp.sort_by(|a, b| b.1.total_cmp(&a.1));
            importance = imp;
            importance_name = "points range (best bin - worst bin)".into();
        }
    }
    notes.push(format!(
        "Bands hold about equal numbers of rows, riskiest first; ranking by {}.",
        if scored.points.is_some() {
            "points (lower = riskier)"
        } else {
            "the predicted probability of bad"
        }
    ));
    if !shap.is_empty() {
        notes.push(format!(
            "SHAP: exact TreeSHAP on the first {} rows, mean absolute contribution to the raw score.",
            shap_rows.iter().map(|b| b.num_rows()).sum::<usize>()
        ));
    }
    let report = ModelReport {
        title: title.to_string(),
        meta,
        rows: ev.rows,
        bad_rate: ev.bad_rate,
        auc: ev.auc,
        ks: ev.ks,
        roc,
        ks_bads,
        ks_goods,
        gains,
        distribution: distribution(scored),
        psi,
        importance,
        importance_name,
        shap_rows: shap_rows.iter().map(|b| b.num_rows()).sum(),
        shap,
        shap_summary,
        coefficients,
        points,
        notes,
    };
    Ok((report, ev.auc, ev.ks))
}

/// Writes the report of `model` on `table` as a recorded run (`model.report`): the
/// HTML page is the run's `report.html`; AUC, KS and the largest PSI metrics.
pub async fn model_report(
    ws: &Workspace,
    req: &ModelReportRequest,
    progress: &dyn Progress,
) -> Result<ModelReportOutcome> {
    if req.label.trim().is_empty() {
        return Err(Error::param("label", "is required: the column holding the target"));
    }
    if req.bands < 2 {
        return Err(Error::param("bands", format!("must be at least 2, got {}", req.bands)));
    }
    if req.psi_against.is_some() && req.psi_by.is_some() {
        return Err(Error::param("psi_by", "give psi_against or psi_by, not both"));
    }
    let run = ws.start_run("model.report")?;
    let result = async {
        run.request(req)?;
        run.params([
            ("model", req.model.as_str()),
            ("table", req.table.as_str()),
            ("label", req.label.as_str()),
        ])?;
        let model = train::load_model(ws, &req.model)?;
        run.uses(
            if matches!(model, Model::Scorecard(_)) {
                "scorecard"
            } else {
                "model"
            },
            &req.model,
        )?;
        let mut shap_rows = Vec::new();
        let wants_shap = matches!(model, Model::Trees(_));
        let scored = score_table(
            ws,
            run.id(),
            &model,
            &req.table,
            Some((&req.label, req.bad_value.as_deref())),
            req.psi_by.as_deref(),
            wants_shap.then_some(&mut shap_rows),
            progress,
        )
        .await?;
        let ranking = scored.ranking();
        let mut notes = Vec::new();
        // Scored on the very rows the model was fitted on? Then say the figures are
        // in-sample (they flatter the model).
        let in_sample = trained_on_same_snapshot(ws, &req.model, run.id());
        if in_sample {
            notes.push(
                "This table, at this snapshot, is the one the model was trained on: the figures are in-sample \
                 and flatter the model (its training run's report.html has the held-out figures)."
                    .to_string(),
            );
        }
        let psi = match (&req.psi_against, &req.psi_by, &scored.groups) {
            (Some(base), _, _) => {
                let baseline = score_table(ws, run.id(), &model, base, None, None, None, progress).await?;
                let (value, _) = score_psi(&baseline.ranking(), &ranking, req.bands);
                Some(ScorePsi {
                    baseline: format!("table {base}"),
                    groups: vec![(req.table.clone(), value)],
                })
            }
            (None, Some(col), Some(groups)) => {
                let by = psi_by_period(groups, &ranking, req.bands);
                notes.push(format!(
                    "Periods of {col} ordered {}; the baseline is the first, {}.",
                    by.order, by.baseline
                ));
                Some(ScorePsi {
                    baseline: format!("{col} = {} (first period, ordered {})", by.baseline, by.order),
                    groups: by.psi.into_iter().map(|(p, v)| (format!("{col} = {p}"), v)).collect(),
                })
            }
            _ => None,
        };
        check(progress)?;
        let named = match req.model.parse::<i64>() {
            Ok(id) => format!("run {id}"),
            Err(_) => req.model.clone(),
        };
        let title = format!("Model report: {named} on {}", req.table);
        let meta = format!(
            "{} model {} scored on {} ({} rows), label {}{}{}",
            model.kind(),
            req.model,
            req.table,
            scored.p.len(),
            req.label,
            req.bad_value.as_ref().map_or(String::new(), |b| format!(" = {b}")),
            if in_sample {
                " — in-sample: the model was trained on these rows"
            } else {
                ""
            },
        );
        let (report, auc, ks) = build(&model, &title, meta, &scored, req.bands, psi, &shap_rows, notes)?;
        let max_psi = report
            .psi
            .as_ref()
            .and_then(|p| p.groups.iter().map(|g| g.1).filter(|v| v.is_finite()).reduce(f64::max));
        let html = risklake_report::model::model_report(&report);
        let artifact = run.artifact(artifacts::REPORT_HTML, html.as_bytes())?;
        if let Some(out) = &req.out {
            std::fs::write(out, &html).map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
        }
        run.metric("auc", auc)?;
        run.metric("ks", ks)?;
        run.param("in_sample", in_sample)?;
        run.metric("rows", scored.p.len() as f64)?;
        if let Some(p) = max_psi {
            run.metric("max_psi", p)?;
        }
        Ok(ModelReportOutcome {
            run: run.id(),
            path: PathBuf::from(artifact.path),
            rows: scored.p.len() as u64,
            auc,
            ks,
            max_psi,
        })
    }
    .await;
    run.finish(result)
}

/// Whether the report run `report_run` read a lake table at the snapshot the run that
/// made `model` trained on.
fn trained_on_same_snapshot(ws: &Workspace, model: &str, report_run: RunId) -> bool {
    let Ok(spec) = crate::registry::ModelSpec::parse(model) else {
        return false;
    };
    let trained = match &spec {
        crate::registry::ModelSpec::Run(id) => Some(*id),
        crate::registry::ModelSpec::File(_) => None,
        _ => spec.version(ws).ok().flatten().map(|v| v.run),
    };
    let (Some(trained), Ok(report)) = (trained, ws.store().get_run(report_run)) else {
        return false;
    };
    let Ok(train) = ws.store().get_run(trained) else {
        return false;
    };
    // The training table (not a validation table, which the run also read).
    let Some(Ok(risklake_lake::TableRef::Lake(table))) = train.params.get("table").map(|t| ws.table_ref(t)) else {
        return false;
    };
    let table = table.to_string();
    let snapshot_in = |d: &risklake_track::RunDetail| {
        d.datasets
            .iter()
            .find(|x| x.role == "input" && x.name == table)
            .and_then(|x| x.snapshot)
    };
    matches!((snapshot_in(&train), snapshot_in(&report)), (Some(a), Some(b)) if a == b)
}

/// The report of a freshly trained model on its validation rows, stored with the
/// training run (`p`: predicted probability of bad, `y`: labels).
pub fn validation_report(run: &RunScope<'_>, model: &Model, what: &str, p: Vec<f64>, y: Vec<f64>) -> Result<()> {
    if p.is_empty() || y.iter().all(|v| *v == y[0]) {
        return Ok(());
    }
    let rows = p.len();
    let scored = Scored {
        p,
        y,
        points: None,
        groups: None,
    };
    let title = format!("Model report: run {} on its validation rows", run.id());
    let meta = format!("{} model of run {}, {what} ({rows} rows)", model.kind(), run.id());
    let (report, _, _) = build(model, &title, meta, &scored, 10, None, &[], Vec::new())?;
    run.artifact(
        artifacts::REPORT_HTML,
        risklake_report::model::model_report(&report).as_bytes(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn score_psi_by_period_takes_the_first_period_in_time_as_baseline() {
        let groups: Vec<String> = ["Jan-2018", "Feb-2018", "Dec-2017", "Jan-2018", "Feb-2018", "Dec-2017"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let scores = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let by = super::psi_by_period(&groups, &scores, 2);
        assert_eq!((by.baseline.as_str(), by.order), ("Dec-2017", "as dates"));
        let periods: Vec<&str> = by.psi.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(periods, ["Jan-2018", "Feb-2018"]);
        assert!(super::psi_by_period(&[], &[], 2).psi.is_empty());
    }
}

/// One report of a registered model, as listed.
#[derive(Clone, Debug, Serialize)]
pub struct ReportRun {
    pub run: RunId,
    /// The model as the report named it (`name@alias`, `name/version`).
    pub model: String,
    pub table: String,
    pub status: String,
    pub started_at: String,
    /// AUC, KS, Gini, PSI... as the run recorded them.
    pub metrics: BTreeMap<String, f64>,
    /// The report page, when the run wrote one (an artifact of the run).
    pub html: Option<String>,
}

/// The reports (`model.report` runs) of the registered model `name` in the workspace's
/// project, newest first: those that named it as `name@alias` or `name/version`. At most
/// the newest `limit` report runs of the project are looked at.
pub fn reports_of(ws: &Workspace, name: &str, limit: usize) -> Result<Vec<ReportRun>> {
    let runs = ws.store().list_runs(&risklake_track::RunFilter {
        project: Some(ws.project().to_string()),
        kind: Some("model.report".into()),
        limit: Some(limit),
        ..Default::default()
    })?;
    let mut out = Vec::new();
    for r in runs {
        let d = ws.store().get_run(r.id)?;
        let Some(model) = d.params.get("model") else { continue };
        let named = model
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(['@', '/']));
        if !named {
            continue;
        }
        out.push(ReportRun {
            run: r.id,
            model: model.clone(),
            table: d.params.get("table").cloned().unwrap_or_default(),
            status: r.status.as_str().to_string(),
            started_at: r.started_at.clone(),
            metrics: d.metrics.clone(),
            html: d
                .artifacts
                .iter()
                .any(|a| a.name == crate::artifacts::REPORT_HTML)
                .then(|| crate::artifacts::REPORT_HTML.to_string()),
        });
    }
    Ok(out)
}
