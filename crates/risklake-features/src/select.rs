//! Feature selection by rules: minimum IV, maximum missing rate, maximum PSI, maximum
//! pairwise correlation (the feature with the higher IV is kept) and maximum VIF (the
//! feature with the largest VIF is dropped until all are below the limit). Correlations
//! and VIFs are those of the WoE-encoded features, the inputs a scorecard sees.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::plan::BinningPlan;

/// The rules; `None` disables a rule.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelectionRules {
    pub min_iv: Option<f64>,
    pub max_missing: Option<f64>,
    pub max_psi: Option<f64>,
    pub max_corr: Option<f64>,
    pub max_vif: Option<f64>,
}

impl SelectionRules {
    pub fn needs_data(&self) -> bool {
        self.max_corr.is_some() || self.max_vif.is_some()
    }
}

/// The verdict on one feature.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    pub feature: String,
    pub kept: bool,
    /// Why it was dropped (the first rule it failed).
    pub reason: Option<String>,
    pub iv: f64,
    pub missing_rate: f64,
    pub psi: Option<f64>,
    pub vif: Option<f64>,
}

/// Streaming sums for the correlation matrix of the WoE features.
pub struct CorrAccumulator {
    k: usize,
    n: f64,
    sum: Vec<f64>,
    cross: Vec<f64>,
}

impl CorrAccumulator {
    pub fn new(k: usize) -> Self {
        CorrAccumulator {
            k,
            n: 0.0,
            sum: vec![0.0; k],
            cross: vec![0.0; k * k],
        }
    }

    /// Adds the WoE columns of one batch (one Vec per feature, equal lengths).
    pub fn update(&mut self, columns: &[Vec<f64>]) {
        assert_eq!(columns.len(), self.k);
        let rows = columns.first().map_or(0, |c| c.len());
        self.n += rows as f64;
        for (s, c) in self.sum.iter_mut().zip(columns) {
            *s += c.iter().sum::<f64>();
        }
        let k = self.k;
        let rows_of: Vec<Vec<f64>> = (0..k)
            .into_par_iter()
            .map(|i| {
                (0..k)
                    .map(|j| if j < i { 0.0 } else { dot(&columns[i], &columns[j]) })
                    .collect()
            })
            .collect();
        for i in 0..k {
            for j in i..k {
                self.cross[i * k + j] += rows_of[i][j];
            }
        }
    }

    /// The correlation matrix (row-major k x k); constant features correlate 0 with others.
    pub fn correlation(&self) -> Vec<f64> {
        let k = self.k;
        let mut r = vec![0.0; k * k];
        let n = self.n.max(1.0);
        let var: Vec<f64> = (0..k)
            .map(|i| self.cross[i * k + i] / n - (self.sum[i] / n).powi(2))
            .collect();
        for i in 0..k {
            for j in i..k {
                let cov = self.cross[i * k + j] / n - (self.sum[i] / n) * (self.sum[j] / n);
                let v = if i == j {
                    1.0
                } else if var[i] > 1e-15 && var[j] > 1e-15 {
                    (cov / (var[i] * var[j]).sqrt()).clamp(-1.0, 1.0)
                } else {
                    0.0
                };
                r[i * k + j] = v;
                r[j * k + i] = v;
            }
        }
        r
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four accumulators so the loop vectorizes.
    let mut acc = [0.0f64; 4];
    let chunks = a.len() / 4;
    for c in 0..chunks {
        for l in 0..4 {
            acc[l] += a[c * 4 + l] * b[c * 4 + l];
        }
    }
    let mut s = acc.iter().sum::<f64>();
    for i in chunks * 4..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// Variance inflation factors from a correlation matrix: the diagonal of its inverse. A
/// tiny ridge keeps exactly collinear features finite (and huge).
pub fn vif(corr: &[f64], k: usize) -> Vec<f64> {
    let mut a: Vec<f64> = corr.to_vec();
    for i in 0..k {
        a[i * k + i] += 1e-10;
    }
    let mut inv = vec![0.0; k * k];
    for i in 0..k {
        inv[i * k + i] = 1.0;
    }
    // Gauss-Jordan with partial pivoting.
    for col in 0..k {
        let pivot = (col..k)
            .max_by(|&x, &y| a[x * k + col].abs().total_cmp(&a[y * k + col].abs()))
            .unwrap();
        if a[pivot * k + col].abs() < 1e-300 {
            return vec![f64::INFINITY; k];
        }
        if pivot != col {
            for j in 0..k {
                a.swap(pivot * k + j, col * k + j);
                inv.swap(pivot * k + j, col * k + j);
            }
        }
        let p = a[col * k + col];
        for j in 0..k {
            a[col * k + j] /= p;
            inv[col * k + j] /= p;
        }
        for i in 0..k {
            if i != col {
                let f = a[i * k + col];
                if f != 0.0 {
                    for j in 0..k {
                        a[i * k + j] -= f * a[col * k + j];
                        inv[i * k + j] -= f * inv[col * k + j];
                    }
                }
            }
        }
    }
    (0..k).map(|i| inv[i * k + i]).collect()
}

/// Applies the rules in order: missing rate, IV, PSI, correlation, VIF. `psi` maps a
/// feature to its largest PSI; `corr` is the correlation matrix of the plan's features in
/// plan order (needed by the correlation and VIF rules).
pub fn select(
    plan: &BinningPlan,
    rules: &SelectionRules,
    psi: &HashMap<String, f64>,
    corr: Option<&[f64]>,
) -> Vec<Decision> {
    let mut decisions: Vec<Decision> = plan
        .features
        .iter()
        .map(|f| Decision {
            feature: f.name.clone(),
            kept: true,
            reason: None,
            iv: f.metrics.iv,
            missing_rate: f.metrics.missing_rate,
            psi: psi.get(&f.name).copied(),
            vif: None,
        })
        .collect();
    let flags: HashMap<&str, &Vec<String>> = plan
        .features
        .iter()
        .map(|f| (f.name.as_str(), &f.metrics.flags))
        .collect();
    // A dropped feature keeps its review flags in the reason: a leak must not vanish
    // as "IV too low" or "correlated".
    let drop = |d: &mut Decision, why: String| {
        d.kept = false;
        let f = flags.get(d.feature.as_str()).map_or(&[][..], |v| &v[..]);
        d.reason = Some(if f.is_empty() {
            why
        } else {
            format!("{why} (flagged: {})", f.join("; "))
        });
    };
    for d in decisions.iter_mut() {
        if let Some(max) = rules.max_missing {
            if d.missing_rate > max {
                let why = format!("missing rate {:.3} > {max}", d.missing_rate);
                drop(d, why);
                continue;
            }
        }
        if let Some(min) = rules.min_iv {
            if d.iv < min {
                let why = format!("IV {:.4} < {min}", d.iv);
                drop(d, why);
                continue;
            }
        }
        if let (Some(max), Some(p)) = (rules.max_psi, d.psi) {
            if p > max {
                let why = format!("PSI {p:.4} > {max}");
                drop(d, why);
                continue;
            }
        }
    }
    let k = plan.features.len();
    if let (Some(max), Some(r)) = (rules.max_corr, corr) {
        let mut order: Vec<usize> = (0..k).filter(|&i| decisions[i].kept).collect();
        order.sort_by(|&a, &b| decisions[b].iv.total_cmp(&decisions[a].iv).then(a.cmp(&b)));
        let mut kept: Vec<usize> = Vec::new();
        for i in order {
            if let Some(&j) = kept.iter().find(|&&j| r[i * k + j].abs() > max) {
                let why = format!(
                    "correlation {:.3} with {} (IV {:.4} >= {:.4})",
                    r[i * k + j],
                    decisions[j].feature,
                    decisions[j].iv,
                    decisions[i].iv
                );
                drop(&mut decisions[i], why);
            } else {
                kept.push(i);
            }
        }
    }
    if let (Some(max), Some(r)) = (rules.max_vif, corr) {
        loop {
            let alive: Vec<usize> = (0..k).filter(|&i| decisions[i].kept).collect();
            if alive.len() < 2 {
                break;
            }
            let sub: Vec<f64> = alive
                .iter()
                .flat_map(|&i| alive.iter().map(move |&j| r[i * k + j]))
                .collect();
            let v = vif(&sub, alive.len());
            for (a, &i) in alive.iter().enumerate() {
                decisions[i].vif = Some(v[a]);
            }
            // The largest VIF above the limit goes; on ties the lower IV.
            let worst = (0..alive.len()).filter(|&a| v[a] > max).max_by(|&x, &y| {
                v[x].total_cmp(&v[y])
                    .then(decisions[alive[y]].iv.total_cmp(&decisions[alive[x]].iv))
            });
            match worst {
                Some(a) => {
                    let why = format!("VIF {:.2} > {max}", v[a]);
                    drop(&mut decisions[alive[a]], why);
                }
                None => break,
            }
        }
    }
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vif_of_independent_and_correlated_features() {
        let identity = [1.0, 0.0, 0.0, 1.0];
        let v = vif(&identity, 2);
        assert!((v[0] - 1.0).abs() < 1e-6 && (v[1] - 1.0).abs() < 1e-6);
        // Two features correlated 0.9: VIF = 1 / (1 - 0.81).
        let v = vif(&[1.0, 0.9, 0.9, 1.0], 2);
        assert!((v[0] - 1.0 / 0.19).abs() < 1e-6);
    }

    #[test]
    fn correlation_from_streaming_sums() {
        let mut acc = CorrAccumulator::new(3);
        let a: Vec<f64> = (0..1000).map(|i| (i % 7) as f64).collect();
        let b: Vec<f64> = a.iter().map(|x| 2.0 * x + 1.0).collect();
        let c: Vec<f64> = a.iter().map(|x| -x).collect();
        acc.update(&[a[..500].to_vec(), b[..500].to_vec(), c[..500].to_vec()]);
        acc.update(&[a[500..].to_vec(), b[500..].to_vec(), c[500..].to_vec()]);
        let r = acc.correlation();
        assert!((r[1] - 1.0).abs() < 1e-9);
        assert!((r[2] + 1.0).abs() < 1e-9);
    }
}
