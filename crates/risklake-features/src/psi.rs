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
        for (f, idx) in bins.iter().enumerate() {
            let c = &mut counts[f];
            for &i in idx {
                c[i as usize] += 1;
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
            for (f, idx) in bins.iter().enumerate() {
                let c = &mut counts[f];
                for &r in &rows {
                    c[idx[r] as usize] += 1;
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
}

/// PSI of every feature for every group against the baseline group.
pub fn psi_report(plan: &BinningPlan, baseline: &[Vec<u64>], groups: &[(String, Vec<Vec<u64>>)]) -> Vec<FeaturePsi> {
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

/// Across periods: the first period (in sorted order) is the baseline.
pub fn psi_by_period(plan: &BinningPlan, counter: &BinCounter) -> Result<Vec<FeaturePsi>> {
    let mut groups: Vec<(String, Vec<Vec<u64>>)> = counter.groups().map(|(k, v)| (k.clone(), v.clone())).collect();
    if groups.len() < 2 {
        return Err(Error::invalid(format!(
            "PSI by period needs at least two periods; found {}",
            groups.len()
        )));
    }
    let (_, base) = groups.remove(0);
    Ok(psi_report(plan, &base, &groups))
}

#[cfg(test)]
mod tests {
    use super::*;

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
