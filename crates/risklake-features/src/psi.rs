//! Population stability: PSI per feature and its per-bin contributions (CSI), between two
//! tables or across the values of a period column, on the bins of a plan.
//!
//! `PSI = sum over bins of (actual share - expected share) * ln(actual share / expected
//! share)`, shares of row counts (weights are not applied). A share of zero is replaced by
//! [`PSI_FLOOR`] so that an emptied or new bin counts heavily instead of infinitely.

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use risklake_core::{Error, Result};

use crate::plan::{BinningPlan, Output, Transformer};
use arrow::array::{Array, AsArray};

use crate::values::{column, to_text};

/// The share used in place of an empty bin's zero share.
pub const PSI_FLOOR: f64 = 1e-4;

/// The bin a row counts in for PSI: its own, or the missing bin for a category the plan
/// never saw (new categories are a shift of the same kind as new missing values).
fn slot(f: &crate::FeaturePlan, i: u32) -> usize {
    if i == crate::UNSEEN {
        f.missing_bin()
    } else {
        i as usize
    }
}

/// Row counts per bin of every planned feature, per group (period or table).
pub struct BinCounter {
    transformer: Transformer,
    /// group -> feature -> bin -> rows
    groups: BTreeMap<String, Vec<Vec<u64>>>,
}

impl BinCounter {
    pub fn new(plan: &BinningPlan) -> Self {
        BinCounter {
            transformer: Transformer::new(plan, Output::Bin),
            groups: BTreeMap::new(),
        }
    }

    fn empty(&self) -> Vec<Vec<u64>> {
        self.transformer
            .plan()
            .features
            .iter()
            .map(|f| vec![0; f.bins.len()])
            .collect()
    }

    /// Counts a batch into one group.
    pub fn update(&mut self, batch: &RecordBatch, group: &str) -> Result<()> {
        let bins = self.transformer.bin_indices(batch)?;
        if !self.groups.contains_key(group) {
            let e = self.empty();
            self.groups.insert(group.to_string(), e);
        }
        let counts = self.groups.get_mut(group).unwrap();
        let plan = self.transformer.plan();
        for (f, idx) in bins.iter().enumerate() {
            let c = &mut counts[f];
            for &i in idx {
                c[slot(&plan.features[f], i)] += 1;
            }
        }
        Ok(())
    }

    /// Counts a batch into the groups named by the values of `period` (null is "null").
    pub fn update_by(&mut self, batch: &RecordBatch, period: &str) -> Result<()> {
        let col = column(batch, period, "period column")?;
        let text = to_text(col).map_err(|e| Error::invalid(format!("period column '{period}': {e}")))?;
        let text = text.as_string_view();
        let keys: Vec<&str> = (0..text.len())
            .map(|i| if text.is_null(i) { "null" } else { text.value(i) })
            .collect();
        let bins = self.transformer.bin_indices(batch)?;
        let mut row_groups: Vec<(String, Vec<usize>)> = Vec::new();
        let mut order: BTreeMap<&str, usize> = BTreeMap::new();
        for (r, &k) in keys.iter().enumerate() {
            let at = *order.entry(k).or_insert_with(|| {
                row_groups.push((k.to_string(), Vec::new()));
                row_groups.len() - 1
            });
            row_groups[at].1.push(r);
        }
        for (key, rows) in row_groups {
            if !self.groups.contains_key(&key) {
                let e = self.empty();
                self.groups.insert(key.clone(), e);
            }
            let counts = self.groups.get_mut(&key).unwrap();
            let plan = self.transformer.plan();
            for (f, idx) in bins.iter().enumerate() {
                let c = &mut counts[f];
                for &r in &rows {
                    c[slot(&plan.features[f], idx[r])] += 1;
                }
            }
        }
        Ok(())
    }

    pub fn groups(&self) -> impl Iterator<Item = (&String, &Vec<Vec<u64>>)> {
        self.groups.iter()
    }

    pub fn counts(&self, group: &str) -> Option<&Vec<Vec<u64>>> {
        self.groups.get(group)
    }
}

/// PSI of `actual` against `expected` (row counts per bin) and each bin's contribution.
pub fn psi(expected: &[u64], actual: &[u64]) -> (f64, Vec<f64>) {
    let ne: u64 = expected.iter().sum();
    let na: u64 = actual.iter().sum();
    let share = |c: u64, n: u64| {
        if n == 0 || c == 0 {
            PSI_FLOOR
        } else {
            c as f64 / n as f64
        }
    };
    let parts: Vec<f64> = expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            if e == 0 && a == 0 {
                return 0.0;
            }
            let (pe, pa) = (share(e, ne), share(a, na));
            (pa - pe) * (pa / pe).ln()
        })
        .collect();
    (parts.iter().sum(), parts)
}

/// PSI of one feature in one comparison.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeaturePsi {
    pub feature: String,
    /// The group compared against the baseline (a period value or the second table).
    pub group: String,
    pub rows: u64,
    pub psi: f64,
    /// Per-bin contributions (CSI), in bin order.
    pub bins: Vec<f64>,
    /// What `group` is compared against: the first period (and how periods were
    /// ordered), or the plan's own rows.
    pub baseline: String,
}

/// PSI of every feature for every group against the baseline group.
pub fn psi_report(
    plan: &BinningPlan,
    baseline: &[Vec<u64>],
    baseline_name: &str,
    groups: &[(String, Vec<Vec<u64>>)],
) -> Vec<FeaturePsi> {
    let mut out = Vec::new();
    for (group, counts) in groups {
        for (f, feature) in plan.features.iter().enumerate() {
            let (total, parts) = psi(&baseline[f], &counts[f]);
            out.push(FeaturePsi {
                feature: feature.name.clone(),
                group: group.clone(),
                rows: counts[f].iter().sum(),
                psi: total,
                bins: parts,
                baseline: baseline_name.to_string(),
            });
        }
    }
    out
}

/// The baseline counts held in the plan itself (the rows it was binned on).
pub fn plan_counts(plan: &BinningPlan) -> Vec<Vec<u64>> {
    plan.features
        .iter()
        .map(|f| f.bins.iter().map(|b| b.count).collect())
        .collect()
}

/// Across periods: the first period in time order (see [`order_periods`]) is the
/// baseline; every `FeaturePsi` names it and the order used.
pub fn psi_by_period(plan: &BinningPlan, counter: &BinCounter) -> Result<Vec<FeaturePsi>> {
    let names: Vec<String> = counter.groups().map(|(k, _)| k.clone()).collect();
    if names.len() < 2 {
        return Err(Error::invalid(format!(
            "PSI by period needs at least two periods; found {}",
            names.len()
        )));
    }
    let (ordered, rule) = order_periods(&names);
    let mut groups: Vec<(String, Vec<Vec<u64>>)> = ordered
        .into_iter()
        .map(|k| {
            let counts = counter.counts(&k).expect("a counted group").clone();
            (k, counts)
        })
        .collect();
    let (base_name, base) = groups.remove(0);
    Ok(psi_report(
        plan,
        &base,
        &format!("{base_name} (first period, ordered {rule})"),
        &groups,
    ))
}

/// A period's place in time: (year, month, day) or a number.
#[derive(PartialEq, PartialOrd)]
enum PeriodKey {
    Number(f64),
    Date(i32, u32, u32),
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A month name or its first three letters (`Jan`, `january`, `Sept`).
fn month_number(word: &str) -> Option<u32> {
    let w = word.trim().to_ascii_lowercase();
    if w.len() < 3 {
        return None;
    }
    let i = MONTHS.iter().position(|m| w.starts_with(m))?;
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ][i];
    (full.starts_with(&w) || w == "sept").then_some(i as u32 + 1)
}

/// Reads a period: numbers, ISO dates and months (`2024-03-31`, `2024-03`, `2024/03`),
/// and month names with years (`Mar-2024`, `Mar 2024`, `March2024`, `2024-Mar`).
fn period_key(text: &str) -> Option<PeriodKey> {
    let t = text.trim();
    if let Ok(x) = t.parse::<f64>() {
        return x.is_finite().then_some(PeriodKey::Number(x));
    }
    let parts: Vec<&str> = t.split(['-', '/', ' ', '.', '_']).filter(|p| !p.is_empty()).collect();
    let year = |p: &str| {
        p.parse::<i32>()
            .ok()
            .filter(|y| (1000..=9999).contains(y) && p.len() == 4)
    };
    match parts.as_slice() {
        [y, m] | [y, m, _] if year(y).is_some() && m.parse::<u32>().is_ok_and(|m| (1..=12).contains(&m)) => {
            let day = parts
                .get(2)
                .map_or(Some(1), |d| d.get(..2.min(d.len()))?.parse::<u32>().ok())?;
            Some(PeriodKey::Date(year(y)?, m.parse().ok()?, day))
        }
        [m, y] if year(y).is_some() => Some(PeriodKey::Date(year(y)?, month_number(m)?, 1)),
        [y, m] if year(y).is_some() => Some(PeriodKey::Date(year(y)?, month_number(m)?, 1)),
        [one] => {
            // `March2024`
            let split = one.find(|c: char| c.is_ascii_digit())?;
            let (m, y) = one.split_at(split);
            Some(PeriodKey::Date(year(y)?, month_number(m)?, 1))
        }
        _ => None,
    }
}

/// Periods in time order when every one reads as a number or as a date / month (`null`
/// last), else in text order; with the rule used (`as numbers`, `as dates`, `as text`).
pub fn order_periods(periods: &[String]) -> (Vec<String>, &'static str) {
    let (mut nulls, values): (Vec<String>, Vec<String>) = periods.iter().cloned().partition(|p| p == "null");
    let keys: Option<Vec<PeriodKey>> = values.iter().map(|v| period_key(v)).collect();
    let mut ordered = values;
    let rule = match keys {
        Some(keys)
            if keys.iter().all(|k| matches!(k, PeriodKey::Number(_)))
                || keys.iter().all(|k| matches!(k, PeriodKey::Date(..))) =>
        {
            let mut pairs: Vec<(PeriodKey, String)> = keys.into_iter().zip(ordered).collect();
            pairs.sort_by(|a, b| {
                a.0.partial_cmp(&b.0)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.1.cmp(&b.1))
            });
            let numbers = matches!(pairs.first(), Some((PeriodKey::Number(_), _)));
            ordered = pairs.into_iter().map(|p| p.1).collect();
            if numbers {
                "as numbers"
            } else {
                "as dates"
            }
        }
        _ => {
            ordered.sort();
            "as text"
        }
    };
    ordered.append(&mut nulls);
    (ordered, rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_ordered_in_time_when_they_read_as_dates_or_numbers() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (o, rule) = order_periods(&s(&["Feb-2018", "Jan-2018", "Dec-2017", "Mar-2018"]));
        assert_eq!(
            (o, rule),
            (s(&["Dec-2017", "Jan-2018", "Feb-2018", "Mar-2018"]), "as dates")
        );
        let (o, _) = order_periods(&s(&["March 2024", "sept 2023", "January2024"]));
        assert_eq!(o, s(&["sept 2023", "January2024", "March 2024"]));
        let (o, _) = order_periods(&s(&["2024-10", "2024-9", "2023-12", "null"]));
        assert_eq!(o, s(&["2023-12", "2024-9", "2024-10", "null"]));
        let (o, rule) = order_periods(&s(&["10", "9", "100", "-1"]));
        assert_eq!((o, rule), (s(&["-1", "9", "10", "100"]), "as numbers"));
        let (o, _) = order_periods(&s(&["2024-03-31", "2024-01-31", "2023-12-31"]));
        assert_eq!(o, s(&["2023-12-31", "2024-01-31", "2024-03-31"]));
        // Mixed or unreadable: text order, and it says so.
        let (o, rule) = order_periods(&s(&["b", "a", "2024-01"]));
        assert_eq!((o, rule), (s(&["2024-01", "a", "b"]), "as text"));
        let (_, rule) = order_periods(&s(&["Q1-2024", "Q2-2024"]));
        assert_eq!(rule, "as text");
    }

    #[test]
    fn psi_matches_the_formula() {
        let (total, parts) = psi(&[50, 30, 20], &[40, 30, 30]);
        let expect = (0.4 - 0.5) * (0.4f64 / 0.5).ln() + 0.0 + (0.3 - 0.2) * (0.3f64 / 0.2).ln();
        assert!((total - expect).abs() < 1e-12);
        assert_eq!(parts.len(), 3);
        assert_eq!(psi(&[5, 5], &[5, 5]).0, 0.0);
        // A bin that empties counts with the floor share, finitely.
        let (t, _) = psi(&[50, 50], &[100, 0]);
        assert!(t.is_finite() && t > 1.0);
    }
}
