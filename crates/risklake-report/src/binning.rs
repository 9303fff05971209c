//! The binning report: a sortable summary of every feature, then per feature its bins
//! table and a chart of bin shares (bars) and event rates (line).

use risklake_features::plan::BinKind;
use risklake_features::psi::FeaturePsi;
use risklake_features::BinningPlan;

use crate::html::{esc, page, table, Cell};
use crate::svg::bars_and_line;

fn num(v: f64, digits: usize) -> Cell {
    Cell::Num(v, format!("{v:.digits$}"))
}

/// The whole report as one HTML page. `psi` adds a PSI column (the largest per feature).
pub fn binning_report(plan: &BinningPlan, title: &str, psi: &[FeaturePsi]) -> String {
    binning_report_with(plan, title, psi, &[])
}

/// [`binning_report`] with the features a selection dropped, as (feature, reason).
pub fn binning_report_with(
    plan: &BinningPlan,
    title: &str,
    psi: &[FeaturePsi],
    dropped: &[(String, String)],
) -> String {
    let mut body = format!("<h1>{}</h1>", esc(title));
    body.push_str(&format!(
        "<div class=\"meta\">{} rows, {:.0} bad / {:.0} good (bad rate {:.2}%), label <b>{}</b>, method <b>{}</b>; WoE = {}; intervals [a, b).</div>",
        plan.rows,
        plan.bad,
        plan.good,
        100.0 * plan.bad / (plan.bad + plan.good).max(1e-12),
        esc(&plan.target.label),
        plan.method.as_str(),
        esc(&plan.woe)
    ));
    let max_psi = |name: &str| {
        psi.iter()
            .filter(|p| p.feature == name)
            .map(|p| p.psi)
            .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))))
    };
    let mut header = vec!["feature", "type", "bins", "IV", "KS", "AUC", "Gini", "missing", "trend"];
    if !psi.is_empty() {
        header.push("max PSI");
    }
    header.push("review flags");
    let mut order: Vec<_> = plan.features.iter().collect();
    order.sort_by(|a, b| b.metrics.iv.total_cmp(&a.metrics.iv));
    let rows: Vec<Vec<Cell>> = order
        .iter()
        .map(|f| {
            let m = &f.metrics;
            let mut r = vec![
                Cell::Text(f.name.clone()),
                Cell::Text(format!("{:?}", f.kind).to_lowercase()),
                Cell::Num(m.bins as f64, m.bins.to_string()),
                num(m.iv, 4),
                num(m.ks, 4),
                num(m.auc, 4),
                num(m.gini, 4),
                Cell::Num(m.missing_rate, format!("{:.2}%", 100.0 * m.missing_rate)),
                Cell::Text(m.trend.clone()),
            ];
            if !psi.is_empty() {
                r.push(match max_psi(&f.name) {
                    Some(v) => num(v, 4),
                    None => Cell::Text("-".into()),
                });
            }
            r.push(Cell::Text(m.flags.join("; ")));
            r
        })
        .collect();
    body.push_str("<h2>Summary</h2><div class=\"note\">Click a column to sort.</div>");
    body.push_str(&table(&header, &rows));
    if !plan.skipped.is_empty() {
        body.push_str("<h2>Not binned</h2>");
        let rows: Vec<Vec<Cell>> = plan
            .skipped
            .iter()
            .map(|s| vec![Cell::Text(s.name.clone()), Cell::Text(s.reason.clone())])
            .collect();
        body.push_str(&table(&["column", "reason"], &rows));
    }
    if !dropped.is_empty() {
        body.push_str(&format!(
            "<h2>Dropped by the selection ({})</h2><div class=\"note\">The first rule each failed; their bins are in the plan the selection read.</div>",
            dropped.len()
        ));
        let rows: Vec<Vec<Cell>> = dropped
            .iter()
            .map(|(f, r)| vec![Cell::Text(f.clone()), Cell::Text(r.clone())])
            .collect();
        body.push_str(&table(&["feature", "reason"], &rows));
    }
    for f in order {
        body.push_str(&format!(
            "<div class=\"feature\"><h2 id=\"{0}\">{0}</h2><div class=\"meta\">IV {1:.4}, KS {2:.4}, AUC {3:.4}, trend {4}</div><div class=\"flex\">",
            esc(&f.name),
            f.metrics.iv,
            f.metrics.ks,
            f.metrics.auc,
            esc(&f.metrics.trend)
        ));
        let shown: Vec<_> = f
            .bins
            .iter()
            .filter(|b| b.kind == BinKind::Regular || b.count > 0)
            .collect();
        let labels: Vec<String> = shown.iter().map(|b| b.label.clone()).collect();
        let shares: Vec<f64> = shown.iter().map(|b| b.share).collect();
        let rates: Vec<f64> = shown.iter().map(|b| b.event_rate).collect();
        body.push_str(&bars_and_line(&labels, &shares, &rates, "share of rows", "event rate"));
        let rows: Vec<Vec<Cell>> = f
            .bins
            .iter()
            .map(|b| {
                vec![
                    Cell::Num(b.index as f64, b.index.to_string()),
                    Cell::Text(b.label.clone()),
                    Cell::Num(b.count as f64, b.count.to_string()),
                    Cell::Num(b.share, format!("{:.2}%", 100.0 * b.share)),
                    num(b.good, 0),
                    num(b.bad, 0),
                    Cell::Num(b.event_rate, format!("{:.2}%", 100.0 * b.event_rate)),
                    num(b.woe, 4),
                    num(b.iv, 4),
                ]
            })
            .collect();
        body.push_str(&table(
            &[
                "bin",
                "range",
                "count",
                "share",
                "good",
                "bad",
                "event rate",
                "WoE",
                "IV",
            ],
            &rows,
        ));
        body.push_str("</div></div>");
    }
    page(title, &body)
}
