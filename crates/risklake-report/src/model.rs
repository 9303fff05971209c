//! The model report: how well a model ranks and how well it is calibrated on one table,
//! whatever its kind. ROC and KS curves, a gains table by score band, calibration,
//! score distributions of goods and bads, the score's PSI, and what drives the model
//! (importance and SHAP for trees; coefficients and points for LR and scorecards).

use crate::html::{esc, page, table, Cell};
use crate::svg::{beeswarm, grouped_bars, hbars, lines, Series};

/// One band of the gains table (riskiest first).
pub struct GainsRow {
    /// The band's range as shown (`p(bad) 0.31–0.92`, `points 412–455`).
    pub range: String,
    pub rows: u64,
    pub bads: f64,
    pub bad_rate: f64,
    pub cum_bad_share: f64,
    pub cum_good_share: f64,
    pub ks: f64,
    pub lift: f64,
    /// Mean predicted probability of bad in the band.
    pub predicted: f64,
}

/// The score's stability: PSI against a baseline.
pub struct ScorePsi {
    /// What the baseline is (`table raw.apps_2023`, `period 2024-01 of month`).
    pub baseline: String,
    /// (group, PSI against the baseline) per compared table or period.
    pub groups: Vec<(String, f64)>,
}

/// A coefficient row of an LR (the intercept is `const`).
pub struct CoefRow {
    pub name: String,
    pub coef: f64,
    pub std_err: Option<f64>,
    pub p_value: Option<f64>,
    pub vif: Option<f64>,
}

/// Everything the report shows.
pub struct ModelReport {
    pub title: String,
    /// One line about the model and the data.
    pub meta: String,
    pub rows: u64,
    pub bad_rate: f64,
    pub auc: f64,
    pub ks: f64,
    /// ROC curve points (false positive rate, true positive rate), ascending.
    pub roc: Vec<(f64, f64)>,
    /// Cumulative shares of bads and goods by population share, riskiest first.
    pub ks_bads: Vec<(f64, f64)>,
    pub ks_goods: Vec<(f64, f64)>,
    pub gains: Vec<GainsRow>,
    /// Score histogram: bin labels, share of goods and of bads per bin.
    pub distribution: (Vec<String>, Vec<f64>, Vec<f64>),
    pub psi: Option<ScorePsi>,
    /// (feature, value) largest first, with the value's name (`gain`).
    pub importance: Vec<(String, f64)>,
    pub importance_name: String,
    /// (feature, mean |SHAP|) largest first, and how many rows it was computed on.
    pub shap: Vec<(String, f64)>,
    pub shap_rows: usize,
    /// Row by row SHAP values of the top features, for the summary chart.
    pub shap_summary: Option<ShapSummary>,
    pub coefficients: Vec<CoefRow>,
    /// (feature, bin, WoE, points) of a scorecard.
    pub points: Vec<(String, String, f64, f64)>,
    /// Lines for the reader: what was computed how, caveats.
    pub notes: Vec<String>,
}

/// SHAP values row by row: what the summary (beeswarm) chart draws.
pub struct ShapSummary {
    /// Features, largest mean |SHAP| first.
    pub features: Vec<String>,
    /// Per feature, each row's (SHAP value, rank of the row's feature value among the
    /// rows in [0, 1]; `None` where it is missing or not a number).
    pub points: Vec<Vec<(f64, Option<f64>)>>,
    pub rows: usize,
}

impl ShapSummary {
    /// From `shap[row][feature]` and `values[row][feature]`, keeping the `top` features
    /// with the largest mean |SHAP| (`names` in model order).
    pub fn new(names: &[String], shap: &[Vec<f64>], values: &[Vec<Option<f64>>], top: usize) -> ShapSummary {
        let mut order: Vec<(usize, f64)> = (0..names.len())
            .map(|f| (f, shap.iter().map(|r| r[f].abs()).sum::<f64>()))
            .collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        order.truncate(top);
        let points = order
            .iter()
            .map(|&(f, _)| {
                let ranks = ranks(&values.iter().map(|r| r[f]).collect::<Vec<_>>());
                shap.iter().zip(ranks).map(|(r, q)| (r[f], q)).collect()
            })
            .collect();
        ShapSummary {
            features: order.iter().map(|&(f, _)| names[f].clone()).collect(),
            points,
            rows: shap.len(),
        }
    }
}

/// Each value's mid-rank among the finite values, scaled to [0, 1] (0.5 when they are all
/// equal); `None` stays `None`.
fn ranks(values: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut idx: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].is_some_and(f64::is_finite))
        .collect();
    idx.sort_by(|&a, &b| values[a].unwrap_or(0.0).total_cmp(&values[b].unwrap_or(0.0)));
    let mut out = vec![None; values.len()];
    let n = idx.len();
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && values[idx[j + 1]] == values[idx[i]] {
            j += 1;
        }
        let r = if n > 1 {
            (i + j) as f64 / 2.0 / (n - 1) as f64
        } else {
            0.5
        };
        for &k in &idx[i..=j] {
            out[k] = Some(r);
        }
        i = j + 1;
    }
    out
}

fn num(v: f64, digits: usize) -> Cell {
    Cell::Num(v, format!("{v:.digits$}"))
}

fn pct(v: f64) -> Cell {
    Cell::Num(v, format!("{:.2}%", 100.0 * v))
}

fn opt(v: Option<f64>, digits: usize) -> Cell {
    match v {
        Some(v) => num(v, digits),
        None => Cell::Text("-".into()),
    }
}

/// PSI verdict by the usual thresholds.
fn stability(psi: f64) -> &'static str {
    if psi < 0.1 {
        "stable"
    } else if psi < 0.25 {
        "shifting"
    } else {
        "unstable"
    }
}

/// The whole report as one HTML page.
pub fn model_report(r: &ModelReport) -> String {
    let mut b = format!("<h1>{}</h1><div class=\"meta\">{}</div>", esc(&r.title), esc(&r.meta));
    b.push_str(&table(
        &["rows", "bad rate", "AUC", "Gini", "KS"],
        &[vec![
            Cell::Num(r.rows as f64, r.rows.to_string()),
            pct(r.bad_rate),
            num(r.auc, 4),
            num(2.0 * r.auc - 1.0, 4),
            num(r.ks, 4),
        ]],
    ));
    b.push_str("<h2>Ranking</h2><div class=\"flex\">");
    b.push_str(&lines(
        &[Series {
            name: format!("ROC (AUC {:.4})", r.auc),
            color: "#4c72b0",
            points: r.roc.clone(),
        }],
        "false positive rate (goods flagged)",
        "true positive rate (bads caught)",
        1.0,
        1.0,
        true,
    ));
    b.push_str(&lines(
        &[
            Series {
                name: "bads (cumulative share)".into(),
                color: "#dd5143",
                points: r.ks_bads.clone(),
            },
            Series {
                name: "goods (cumulative share)".into(),
                color: "#55a868",
                points: r.ks_goods.clone(),
            },
        ],
        &format!("population, riskiest first (KS {:.4})", r.ks),
        "cumulative share",
        1.0,
        1.0,
        false,
    ));
    b.push_str("</div>");
    b.push_str("<h2>Gains by score band</h2>");
    let rows: Vec<Vec<Cell>> = r
        .gains
        .iter()
        .enumerate()
        .map(|(i, g)| {
            vec![
                Cell::Num((i + 1) as f64, (i + 1).to_string()),
                Cell::Text(g.range.clone()),
                Cell::Num(g.rows as f64, g.rows.to_string()),
                Cell::Num(g.bads, format!("{:.0}", g.bads)),
                pct(g.bad_rate),
                pct(g.predicted),
                pct(g.cum_bad_share),
                pct(g.cum_good_share),
                num(g.ks, 4),
                num(g.lift, 2),
            ]
        })
        .collect();
    b.push_str(&table(
        &[
            "band",
            "range",
            "rows",
            "bads",
            "bad rate",
            "predicted",
            "cum. bads",
            "cum. goods",
            "KS",
            "lift",
        ],
        &rows,
    ));
    b.push_str("<h2>Calibration and score distribution</h2><div class=\"flex\">");
    let top = r
        .gains
        .iter()
        .flat_map(|g| [g.predicted, g.bad_rate])
        .fold(0.0, f64::max)
        .max(1e-6);
    let axis_top = crate::svg::nice_max(top).min(1.0);
    b.push_str(&lines(
        &[Series {
            name: "observed bad rate by band".into(),
            color: "#dd5143",
            points: r.gains.iter().map(|g| (g.predicted, g.bad_rate)).collect(),
        }],
        "mean predicted probability of bad",
        "observed bad rate",
        axis_top,
        axis_top,
        true,
    ));
    let (labels, goods, bads) = &r.distribution;
    b.push_str(&grouped_bars(
        labels,
        &[("goods", "#55a868", goods.clone()), ("bads", "#dd5143", bads.clone())],
    ));
    b.push_str("</div>");
    if let Some(p) = &r.psi {
        b.push_str(&format!("<h2>Score stability (PSI against {})</h2>", esc(&p.baseline)));
        let rows: Vec<Vec<Cell>> = p
            .groups
            .iter()
            .map(|(g, v)| vec![Cell::Text(g.clone()), num(*v, 4), Cell::Text(stability(*v).into())])
            .collect();
        b.push_str(&table(&["compared", "PSI", "verdict"], &rows));
        b.push_str("<p class=\"note\">PSI below 0.1: stable; 0.1 to 0.25: shifting; above 0.25: unstable.</p>");
    }
    if !r.importance.is_empty() || !r.shap.is_empty() {
        b.push_str("<h2>What drives the model</h2><div class=\"flex\">");
        if !r.importance.is_empty() {
            let (l, v): (Vec<String>, Vec<f64>) = r.importance.iter().take(25).cloned().unzip();
            b.push_str(&hbars(&l, &v, &r.importance_name));
        }
        if !r.shap.is_empty() {
            let (l, v): (Vec<String>, Vec<f64>) = r.shap.iter().take(25).cloned().unzip();
            b.push_str(&hbars(&l, &v, &format!("mean |SHAP| (log-odds), {} rows", r.shap_rows)));
        }
        b.push_str("</div>");
    }
    if let Some(sum) = &r.shap_summary {
        b.push_str("<h2>SHAP summary</h2>");
        b.push_str(&beeswarm(
            &sum.features,
            &sum.points,
            &format!(
                "each dot a row ({} rows): how far its value of the feature moves the score",
                sum.rows
            ),
        ));
        b.push_str(
            "<p class=\"note\">Right of the line: the feature raises the predicted risk for that row; \
             left: it lowers it. Red dots are rows with high values of the feature, blue low ones, grey \
             missing or not a number (a category). A feature whose red and blue dots sit on opposite sides acts in one direction.</p>",
        );
    }
    if !r.coefficients.is_empty() {
        b.push_str("<h2>Coefficients</h2>");
        let rows: Vec<Vec<Cell>> = r
            .coefficients
            .iter()
            .map(|c| {
                vec![
                    Cell::Text(c.name.clone()),
                    num(c.coef, 5),
                    opt(c.std_err, 5),
                    opt(c.p_value, 4),
                    opt(c.vif, 2),
                ]
            })
            .collect();
        b.push_str(&table(
            &["feature", "coefficient", "std. err.", "p-value", "VIF"],
            &rows,
        ));
    }
    if !r.points.is_empty() {
        b.push_str("<h2>Points</h2>");
        let rows: Vec<Vec<Cell>> = r
            .points
            .iter()
            .map(|(f, bin, woe, pts)| {
                vec![
                    Cell::Text(f.clone()),
                    Cell::Text(bin.clone()),
                    num(*woe, 4),
                    Cell::Num(*pts, format!("{pts}")),
                ]
            })
            .collect();
        b.push_str(&table(&["feature", "bin", "WoE", "points"], &rows));
    }
    if !r.notes.is_empty() {
        b.push_str("<h2>Notes</h2><ul class=\"note\">");
        for n in &r.notes {
            b.push_str(&format!("<li>{}</li>", esc(n)));
        }
        b.push_str("</ul>");
    }
    page(&r.title, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_mid_ranks_in_0_1_and_keep_missing_values_missing() {
        let r = ranks(&[Some(3.0), None, Some(1.0), Some(3.0), Some(f64::NAN), Some(2.0)]);
        assert_eq!(
            r,
            [Some(2.5 / 3.0), None, Some(0.0), Some(2.5 / 3.0), None, Some(1.0 / 3.0)]
        );
        assert_eq!(ranks(&[Some(1.0), Some(1.0)]), [Some(0.5), Some(0.5)]);
        assert_eq!(ranks(&[Some(7.0)]), [Some(0.5)]);
    }

    #[test]
    fn the_summary_keeps_the_features_with_the_largest_mean_shap() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let shap = vec![vec![0.1, -2.0, 0.5], vec![0.0, 1.0, -0.4]];
        let values = vec![vec![Some(1.0), Some(5.0), None], vec![Some(2.0), Some(4.0), None]];
        let s = ShapSummary::new(&names, &shap, &values, 2);
        assert_eq!(s.features, ["b", "c"]);
        assert_eq!(s.points[0], [(-2.0, Some(1.0)), (1.0, Some(0.0))]);
        assert_eq!(s.points[1], [(0.5, None), (-0.4, None)]);
        assert_eq!(s.rows, 2);
        let svg = crate::svg::beeswarm(&s.features, &s.points, "t");
        assert_eq!(svg.matches("h0").count(), 4);
    }
}
