//! Feature mining workflows: binning a table into a stored plan.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use risklake_core::{Error, Result};
use risklake_features::psi::{plan_counts, psi_by_period, psi_report, BinCounter, FeaturePsi};
use risklake_features::select::{CorrAccumulator, Decision, SelectionRules};
use risklake_features::values::field_index;
use risklake_features::{build_plan, BinningOptions, BinningPlan, FineOptions, FineProfiler, Target};
use risklake_lake::sql::stream_schema;
use risklake_track::RunId;

use crate::progress::{check, Progress, Unit};
use crate::{artifacts, scan, Workspace};

/// Bin every feature of a table (or the `fine.columns` given) against a binary target.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinRequest {
    /// A lake table (`db.table`) or a data file.
    pub table: String,
    pub target: Target,
    #[serde(default)]
    pub fine: FineOptions,
    #[serde(default)]
    pub binning: BinningOptions,
    /// Also write the plan (JSON) to this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
}

impl BinRequest {
    /// A request with every option at its default.
    pub fn new(table: impl Into<String>, label: impl Into<String>) -> Self {
        BinRequest {
            table: table.into(),
            target: Target::new(label),
            fine: FineOptions::default(),
            binning: BinningOptions::default(),
            out: None,
        }
    }

    /// Checks every option before any data is read.
    pub fn validate(&self) -> Result<()> {
        if self.target.label.trim().is_empty() {
            return Err(Error::param(
                "label",
                "is required: the column holding the binary target",
            ));
        }
        self.fine.validate()?;
        self.binning.validate()
    }
}

/// A stored binning plan and the run that made it.
#[derive(Clone, Debug, Serialize)]
pub struct BinReport {
    pub run: RunId,
    pub plan: BinningPlan,
    pub seconds: f64,
    /// Where the store keeps the plan artifact.
    #[serde(skip)]
    pub plan_path: PathBuf,
}

/// Bins the table as a recorded run (`features.bin`): the plan, its bins as CSV and its
/// HTML report become artifacts; IV per feature a metric.
pub async fn bin(ws: &Workspace, req: &BinRequest, progress: &dyn Progress) -> Result<BinReport> {
    req.validate()?;
    let run = ws.start_run("features.bin")?;
    let result = async {
        run.request(req)?;
        log_params(ws, run.id(), req)?;
        let (plan, seconds) = bin_table(ws, req, run.id(), progress).await?;
        let plan_path = record_plan(ws, run.id(), &plan, &[])?;
        if let Some(out) = &req.out {
            write_plan(out, &plan)?;
        }
        Ok((plan, seconds, plan_path))
    }
    .await;
    let id = run.id();
    let (plan, seconds, plan_path) = run.finish(result)?;
    Ok(BinReport {
        run: id,
        plan,
        seconds,
        plan_path,
    })
}

/// The fine pass and the plan, streaming the table once; the table is recorded as an
/// input of `run`.
pub async fn bin_table(
    ws: &Workspace,
    req: &BinRequest,
    run: RunId,
    progress: &dyn Progress,
) -> Result<(BinningPlan, f64)> {
    req.validate()?;
    let target = &req.target;
    let started = Instant::now();
    let session = scan::session(ws.lake().await?).await?;
    let columns: Option<Vec<String>> = (!req.fine.columns.is_empty()).then(|| {
        let mut c = req.fine.columns.clone();
        c.push(target.label.clone());
        if let Some(w) = &target.weight {
            c.push(w.clone());
        }
        c
    });
    if let Some(cols) = &columns {
        // Name a missing column plainly, before the scan's SQL does.
        let probe = session.scan(&ws.table_ref(&req.table)?, None).await?;
        let schema = stream_schema(&probe);
        for c in cols {
            field_index(&schema, c, "column")?;
        }
    }
    let mut stream = scan::open_input(ws, &session, &req.table, columns.as_deref(), run).await?;
    let mut profiler = FineProfiler::new(target.clone(), req.fine.clone());
    progress.stage("binning", None, Unit::Rows);
    let fed: Result<()> = async {
        while let Some(batch) = stream.next().await {
            check(progress)?;
            let batch = batch.map_err(|e| Error::external(format!("reading {}", req.table), e))?;
            profiler.update(&batch)?;
            progress.advance(batch.num_rows() as u64);
        }
        Ok(())
    }
    .await;
    progress.end_stage();
    fed?;
    let fine = profiler.finish()?;
    let plan = build_plan(&fine, target, &req.binning)?;
    Ok((plan, started.elapsed().as_secs_f64()))
}

/// Records the binning request's parameters with `run`.
pub fn log_params(ws: &Workspace, run: RunId, req: &BinRequest) -> Result<()> {
    let t = &req.target;
    let b = &req.binning;
    let mut params = vec![
        ("table", req.table.clone()),
        ("label", t.label.clone()),
        ("method", b.method.as_str().to_string()),
        ("max_bins", b.max_bins.to_string()),
        ("min_bin_size", b.min_bin_size.to_string()),
        ("monotonic", format!("{:?}", b.monotonic).to_lowercase()),
    ];
    if let Some(v) = &t.bad_value {
        params.push(("bad_value", v.clone()));
    }
    if let Some(w) = &t.weight {
        params.push(("weight", w.clone()));
    }
    if !req.fine.special_values.is_empty() {
        let values: Vec<String> = req.fine.special_values.iter().map(|v| v.to_string()).collect();
        params.push(("special_values", values.join(",")));
    }
    for (k, v) in params {
        ws.store().log_param(run, k, &v)?;
    }
    Ok(())
}

/// Writes a plan as JSON to `path`.
pub fn write_plan(path: &std::path::Path, plan: &BinningPlan) -> Result<()> {
    std::fs::write(path, plan.to_json()).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Stores the plan, its bins as CSV and its report as artifacts of `run`, with metrics;
/// returns where the store keeps the plan.
pub fn record_plan(ws: &Workspace, run: RunId, plan: &BinningPlan, psi: &[FeaturePsi]) -> Result<PathBuf> {
    record_plan_with(ws, run, plan, psi, &[])
}

/// [`record_plan`] for a selection: the report lists the dropped features with reasons.
fn record_plan_with(
    ws: &Workspace,
    run: RunId,
    plan: &BinningPlan,
    psi: &[FeaturePsi],
    dropped: &[(String, String)],
) -> Result<PathBuf> {
    let store = ws.store();
    let a = store.log_artifact_bytes(run, artifacts::BINNING_PLAN, plan.to_json().as_bytes())?;
    store.log_artifact_bytes(run, artifacts::BINS_CSV, bins_csv(plan).as_bytes())?;
    let html = risklake_report::binning_report_with(plan, &format!("Binning report, run {run}"), psi, dropped);
    store.log_artifact_bytes(run, artifacts::REPORT_HTML, html.as_bytes())?;
    store.log_metric(run, "rows", None, plan.rows as f64)?;
    store.log_metric(run, "features", None, plan.features.len() as f64)?;
    for f in &plan.features {
        store.log_metric(run, &format!("iv.{}", f.name), None, f.metrics.iv)?;
    }
    Ok(PathBuf::from(a.path))
}

/// Every feature's selection decision as CSV (feature, kept, reason, iv, missing_rate,
/// psi, vif), reasons quoted.
fn selection_csv(decisions: &[risklake_features::select::Decision]) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    let mut csv = String::from("feature,kept,reason,iv,missing_rate,psi,vif\n");
    for d in decisions {
        csv.push_str(&format!(
            "{},{},\"{}\",{},{},{},{}\n",
            d.feature,
            d.kept,
            d.reason.as_deref().unwrap_or("").replace('"', "\"\""),
            d.iv,
            d.missing_rate,
            opt(d.psi),
            opt(d.vif)
        ));
    }
    csv
}

/// Reads a plan given as a file path or a run id.
pub fn load_plan(ws: &Workspace, spec: &str) -> Result<BinningPlan> {
    let text = artifacts::read_text(ws, spec, artifacts::BINNING_PLAN, "binning plan")?;
    BinningPlan::from_json(&text).map_err(|e| Error::invalid(format!("plan {spec}: {e}")))
}

fn bins_csv(plan: &BinningPlan) -> String {
    let mut s = String::from("feature,bin,label,kind,count,share,good,bad,event_rate,woe,iv\n");
    for f in &plan.features {
        for b in &f.bins {
            s.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{}\n",
                csv_field(&f.name),
                b.index,
                csv_field(&b.label),
                format!("{:?}", b.kind).to_lowercase(),
                b.count,
                b.share,
                b.good,
                b.bad,
                b.event_rate,
                b.woe,
                b.iv
            ));
        }
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Replace a table's planned features by their WoE values (or bin indices).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransformRequest {
    /// A binning plan (file or run id).
    pub plan: String,
    /// The table to transform (lake name or file).
    pub table: String,
    /// `woe` (default) or `bin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Keep the raw columns and write the values as `<feature><suffix>` columns (e.g.
    /// `_woe`); without it the values replace the raw columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// What a category the plan never saw gets: `neutral` (WoE 0, bin -1; the default),
    /// `missing`, `other` or `error`.
    #[serde(default)]
    pub unseen: risklake_features::Unseen,
    pub destination: crate::output::OutputSpec,
}

/// What a transform wrote.
#[derive(Clone, Debug, Serialize)]
pub struct TransformReport {
    pub run: RunId,
    pub target: String,
    pub rows: u64,
    pub seconds: f64,
    /// Features transformed.
    pub features: usize,
}

/// Transforms the table as a recorded run (`features.transform`).
pub async fn transform(ws: &Workspace, req: &TransformRequest, progress: &dyn Progress) -> Result<TransformReport> {
    let output_name = req.output.as_deref().unwrap_or("woe");
    let output: risklake_features::Output = output_name.parse().map_err(|e| Error::param("output", e))?;
    let run = ws.start_run("features.transform")?;
    let result = async {
        let id = run.id();
        let plan = load_plan(ws, &req.plan)?;
        run.param("plan", &req.plan)?;
        run.uses("plan", &req.plan)?;
        run.param("output", output_name)?;
        let mut transformer = risklake_features::Transformer::new(&plan, output).with_unseen(req.unseen);
        run.param("unseen", format!("{:?}", req.unseen).to_lowercase())?;
        if let Some(s) = &req.suffix {
            run.param("suffix", s)?;
            transformer = transformer.with_suffix(s.clone());
        }
        let session = ws.lake().await?.sql().await?;
        let stream = scan::open_input(ws, &session, &req.table, None, id).await?;
        let in_schema = stream_schema(&stream);
        transformer.check_schema(&in_schema, &req.table)?;
        transformer.added_columns(&in_schema)?;
        let schema = transformer.output_schema(&in_schema);
        let started = Instant::now();
        let written = crate::output::write_mapped(
            ws,
            id,
            stream,
            &req.table,
            schema,
            &req.destination,
            "transforming",
            |b| transformer.transform(b),
            progress,
        )
        .await?;
        Ok(TransformReport {
            run: id,
            target: written.target,
            rows: written.rows,
            seconds: started.elapsed().as_secs_f64(),
            features: plan.features.len(),
        })
    }
    .await;
    run.finish(result)
}

/// PSI of every planned feature between the periods of `psi_by` (over `table`, each
/// against the first), or of `psi_against` against the plan's own baseline; empty when
/// neither is given. The tables read are recorded as inputs of `run`.
pub async fn compute_psi(
    ws: &Workspace,
    plan: &BinningPlan,
    table: &str,
    psi_by: Option<&str>,
    psi_against: Option<&str>,
    run: RunId,
    progress: &dyn Progress,
) -> Result<Vec<FeaturePsi>> {
    let session = scan::session(ws.lake().await?).await?;
    let mut columns: Vec<String> = plan.features.iter().map(|f| f.name.clone()).collect();
    let (source, by) = match (psi_by, psi_against) {
        (Some(by), _) => {
            columns.push(by.to_string());
            (table, Some(by))
        }
        (None, Some(other)) => (other, None),
        (None, None) => return Ok(Vec::new()),
    };
    let mut counter = BinCounter::new(plan);
    let mut stream = scan::open_input(ws, &session, source, Some(&columns), run).await?;
    progress.stage(if by.is_some() { "PSI by period" } else { "PSI" }, None, Unit::Rows);
    let read: Result<()> = async {
        while let Some(b) = stream.next().await {
            check(progress)?;
            let b = b.map_err(|e| Error::external(format!("reading {source}"), e))?;
            match by {
                Some(by) => counter.update_by(&b, by)?,
                None => counter.update(&b, source)?,
            }
            progress.advance(b.num_rows() as u64);
        }
        Ok(())
    }
    .await;
    progress.end_stage();
    read?;
    let psi = match by {
        Some(_) => psi_by_period(plan, &counter)?,
        None => {
            let counts = counter
                .counts(source)
                .cloned()
                .ok_or_else(|| Error::invalid(format!("{source} is empty: PSI needs rows")))?;
            psi_report(
                plan,
                &plan_counts(plan),
                "the plan's own rows (the table it was binned on)",
                &[(source.to_string(), counts)],
            )
        }
    };
    // The baseline, recorded with the run whichever workflow asked.
    if let Some(p) = psi.first() {
        ws.store().log_param(run, "psi_baseline", &p.baseline)?;
    }
    Ok(psi)
}

/// Correlations of the planned features' WoE values over `table` (row-major matrix).
pub async fn correlation(
    ws: &Workspace,
    plan: &BinningPlan,
    table: &str,
    run: RunId,
    progress: &dyn Progress,
) -> Result<Vec<f64>> {
    let session = scan::session(ws.lake().await?).await?;
    let columns: Vec<String> = plan.features.iter().map(|f| f.name.clone()).collect();
    let transformer = risklake_features::Transformer::new(plan, risklake_features::Output::Bin);
    let mut acc = CorrAccumulator::new(plan.features.len());
    let mut stream = scan::open_input(ws, &session, table, Some(&columns), run).await?;
    progress.stage("correlation", None, Unit::Rows);
    let read: Result<()> = async {
        while let Some(b) = stream.next().await {
            check(progress)?;
            let b = b.map_err(|e| Error::external(format!("reading {table}"), e))?;
            let bins = transformer.bin_indices(&b)?;
            let cols: Vec<Vec<f64>> = bins
                .iter()
                .zip(&plan.features)
                .map(|(idx, f)| idx.iter().map(|&i| risklake_features::woe_at(f, i)).collect())
                .collect();
            acc.update(&cols);
            progress.advance(b.num_rows() as u64);
        }
        Ok(())
    }
    .await;
    progress.end_stage();
    read?;
    Ok(acc.correlation())
}

/// Keep the features of a plan that pass the selection rules.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelectRequest {
    /// The binning plan (file or run id).
    pub plan: String,
    /// The table the data rules (correlation, VIF, PSI by period) read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub rules: SelectionRules,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi_against: Option<String>,
    /// Also write the selected plan (JSON) to this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
}

/// The verdicts, and where the selected plan is stored.
#[derive(Clone, Debug, Serialize)]
pub struct SelectReport {
    pub run: RunId,
    pub decisions: Vec<Decision>,
    #[serde(skip)]
    pub plan_path: PathBuf,
}

/// Selects features as a recorded run (`features.select`); the selected plan is its
/// artifact.
pub async fn select(ws: &Workspace, req: &SelectRequest, progress: &dyn Progress) -> Result<SelectReport> {
    let rules = &req.rules;
    if rules.max_psi.is_some() && req.psi_by.is_none() && req.psi_against.is_none() {
        return Err(Error::param(
            "max_psi",
            "needs psi_by (a column) or psi_against (a table)",
        ));
    }
    let needs_table = rules.needs_data() || req.psi_by.is_some();
    if needs_table && req.table.is_none() {
        return Err(Error::param(
            "table",
            "max_corr, max_vif and psi_by read the data: give a table",
        ));
    }
    let run = ws.start_run("features.select")?;
    let result = async {
        let id = run.id();
        let plan = load_plan(ws, &req.plan)?;
        run.param("plan", &req.plan)?;
        run.uses("plan", &req.plan)?;
        for (k, v) in [
            ("min_iv", rules.min_iv),
            ("max_missing", rules.max_missing),
            ("max_psi", rules.max_psi),
            ("max_corr", rules.max_corr),
            ("max_vif", rules.max_vif),
        ] {
            if let Some(v) = v {
                run.param(k, v)?;
            }
        }
        let table = req.table.as_deref().unwrap_or("");
        let psi_by = req.table.as_ref().and(req.psi_by.as_deref());
        let psi = compute_psi(ws, &plan, table, psi_by, req.psi_against.as_deref(), id, progress).await?;
        let mut max_psi = HashMap::new();
        for p in &psi {
            let e = max_psi.entry(p.feature.clone()).or_insert(p.psi);
            *e = e.max(p.psi);
        }
        let corr = match (&req.table, rules.needs_data()) {
            (Some(t), true) => Some(correlation(ws, &plan, t, id, progress).await?),
            _ => None,
        };
        let decisions = risklake_features::select::select(&plan, rules, &max_psi, corr.as_deref());
        let kept: Vec<String> = decisions.iter().filter(|d| d.kept).map(|d| d.feature.clone()).collect();
        let selected = plan.only(&kept);
        let dropped: Vec<(String, String)> = decisions
            .iter()
            .filter(|d| !d.kept)
            .map(|d| (d.feature.clone(), d.reason.clone().unwrap_or_default()))
            .collect();
        let plan_path = record_plan_with(ws, id, &selected, &psi, &dropped)?;
        run.artifact(artifacts::SELECTION_CSV, selection_csv(&decisions).as_bytes())?;
        run.metric("kept", kept.len() as f64)?;
        run.metric("dropped", (decisions.len() - kept.len()) as f64)?;
        if let Some(out) = &req.out {
            write_plan(out, &selected)?;
        }
        Ok((decisions, plan_path))
    }
    .await;
    let id = run.id();
    let (decisions, plan_path) = run.finish(result)?;
    Ok(SelectReport {
        run: id,
        decisions,
        plan_path,
    })
}

/// Evaluate features on a table: a stored plan (or one binned from the table now) with
/// the PSI of every feature by period or against another table.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The table and, without `plan`, how to bin it.
    pub bin: BinRequest,
    /// A stored plan (file or run id) to evaluate instead of binning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi_against: Option<String>,
}

/// The plan with its PSI figures, and the run.
#[derive(Clone, Debug, Serialize)]
pub struct EvaluateReport {
    pub run: RunId,
    pub plan: BinningPlan,
    pub psi: Vec<FeaturePsi>,
    pub seconds: f64,
    #[serde(skip)]
    pub plan_path: PathBuf,
}

/// Evaluates as a recorded run (`features.evaluate`): the plan with each feature's
/// largest PSI, and the PSI table (`psi.json`), as artifacts.
pub async fn evaluate(ws: &Workspace, req: &EvaluateRequest, progress: &dyn Progress) -> Result<EvaluateReport> {
    if req.plan.is_none() {
        req.bin.validate()?;
    }
    let run = ws.start_run("features.evaluate")?;
    let result = async {
        let id = run.id();
        let (mut plan, seconds) = match &req.plan {
            Some(p) => {
                run.param("table", &req.bin.table)?;
                run.param("plan", p)?;
                run.uses("plan", p)?;
                (load_plan(ws, p)?, 0.0)
            }
            None => {
                log_params(ws, id, &req.bin)?;
                bin_table(ws, &req.bin, id, progress).await?
            }
        };
        let psi = compute_psi(
            ws,
            &plan,
            &req.bin.table,
            req.psi_by.as_deref(),
            req.psi_against.as_deref(),
            id,
            progress,
        )
        .await?;
        for f in plan.features.iter_mut() {
            f.metrics.psi = psi
                .iter()
                .filter(|p| p.feature == f.name)
                .map(|p| p.psi)
                .reduce(f64::max);
        }
        let plan_path = record_plan(ws, id, &plan, &psi)?;
        run.artifact(
            artifacts::PSI_JSON,
            serde_json::to_string_pretty(&psi).unwrap_or_default().as_bytes(),
        )?;
        if let Some(out) = &req.bin.out {
            write_plan(out, &plan)?;
        }
        Ok((plan, psi, seconds, plan_path))
    }
    .await;
    let id = run.id();
    let (plan, psi, seconds, plan_path) = run.finish(result)?;
    Ok(EvaluateReport {
        run: id,
        plan,
        psi,
        seconds,
        plan_path,
    })
}

/// Write the HTML report of a stored plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportRequest {
    /// The plan (file, run id).
    pub plan: String,
    /// The report's title (default: `Binning report: <plan>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The file to write.
    pub out: PathBuf,
}

/// What a report run wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ReportOutcome {
    pub run: RunId,
    pub out: PathBuf,
    pub bytes: usize,
}

/// Writes a plan's binning report as a recorded run (`features.report`), kept as its
/// `report.html` too.
pub fn report(ws: &Workspace, req: &ReportRequest) -> Result<ReportOutcome> {
    let run = ws.start_run("features.report")?;
    let result = (|| {
        let plan = load_plan(ws, &req.plan)?;
        run.param("plan", &req.plan)?;
        run.uses("plan", &req.plan)?;
        let title = req
            .title
            .clone()
            .unwrap_or_else(|| format!("Binning report: {}", req.plan));
        let html = risklake_report::binning_report(&plan, &title, &[]);
        std::fs::write(&req.out, &html).map_err(|e| Error::io(format!("writing {}", req.out.display()), e))?;
        run.artifact(artifacts::REPORT_HTML, html.as_bytes())?;
        Ok(html.len())
    })();
    let id = run.id();
    let bytes = run.finish(result)?;
    Ok(ReportOutcome {
        run: id,
        out: req.out.clone(),
        bytes,
    })
}

/// A binning plan in brief (`spec`: a run id or a plan file): the target and its
/// features with their metrics and no bins, sorted by `sort` (`name`, or a metric such as
/// `iv`, `ks`, `auc`, `missing_rate`; default `iv`), largest first unless `ascending`.
pub fn plan_summary(ws: &Workspace, spec: &str, sort: Option<&str>, ascending: bool) -> Result<serde_json::Value> {
    let plan = load_plan(ws, spec)?;
    let mut v = serde_json::to_value(&plan).map_err(|e| Error::invalid(format!("plan {spec}: {e}")))?;
    let key = sort.unwrap_or("iv");
    let metric_keys: Vec<String> = v["features"]
        .get(0)
        .and_then(|f| f["metrics"].as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    if key != "name" && !metric_keys.is_empty() && !metric_keys.iter().any(|k| k == key) {
        return Err(Error::param(
            "sort",
            format!("{key:?} is not a feature metric (name, {})", metric_keys.join(", ")),
        ));
    }
    if let Some(features) = v["features"].as_array_mut() {
        for f in features.iter_mut() {
            if let Some(o) = f.as_object_mut() {
                let bins = o.remove("bins").and_then(|b| b.as_array().map(Vec::len)).unwrap_or(0);
                o.insert("bin_count".into(), serde_json::json!(bins));
                for k in ["edges", "groups", "special_values"] {
                    o.remove(k);
                }
            }
        }
        let of = |f: &serde_json::Value| f["metrics"][key].as_f64().unwrap_or(f64::NEG_INFINITY);
        features.sort_by(|a, b| {
            let order = if key == "name" {
                a["name"].as_str().cmp(&b["name"].as_str())
            } else {
                of(a).total_cmp(&of(b))
            };
            match (key == "name", ascending) {
                (true, _) | (false, true) => order,
                (false, false) => order.reverse(),
            }
        });
    }
    Ok(v)
}

/// One feature of a binning plan with its bins (counts, event rate, WoE, IV).
pub fn plan_feature(ws: &Workspace, spec: &str, feature: &str) -> Result<risklake_features::plan::FeaturePlan> {
    let plan = load_plan(ws, spec)?;
    let names: Vec<String> = plan.features.iter().map(|f| f.name.clone()).collect();
    plan.features.into_iter().find(|f| f.name == feature).ok_or_else(|| {
        Error::not_found(
            "feature",
            format!("{feature} in plan {spec} (it has {})", names.join(", ")),
        )
    })
}
