//! Ranking metrics shared by the feature, model and tuning crates.
//!
//! All take scores where higher means "more likely bad" and labels/weights for the bad
//! class, so the same code serves hard labels (weight 0 or 1) and expected labels (a
//! probability), which is how the synthetic generator measures its own Bayes AUC.

/// Area under the ROC curve for `scores` against positive weights `pos` and negative
/// weights `neg` (per row). Ties count one half. Returns `None` when either class has no
/// weight.
pub fn auc_weighted(scores: &[f64], pos: &[f64], neg: &[f64]) -> Option<f64> {
    assert_eq!(scores.len(), pos.len());
    assert_eq!(scores.len(), neg.len());
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (total_pos, total_neg): (f64, f64) = (pos.iter().sum(), neg.iter().sum());
    if total_pos <= 0.0 || total_neg <= 0.0 {
        return None;
    }
    // Walk in ascending score; for each tie group, positives beat all negatives seen
    // before and half of the negatives in the group.
    let mut area = 0.0;
    let mut neg_below = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        let (mut gp, mut gn) = (0.0, 0.0);
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            gp += pos[order[j]];
            gn += neg[order[j]];
            j += 1;
        }
        area += gp * (neg_below + 0.5 * gn);
        neg_below += gn;
        i = j;
    }
    Some(area / (total_pos * total_neg))
}

/// AUC for hard 0/1 labels (`true` = bad).
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos: Vec<f64> = labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();
    let neg: Vec<f64> = labels.iter().map(|&l| if l { 0.0 } else { 1.0 }).collect();
    auc_weighted(scores, &pos, &neg)
}

/// Kolmogorov-Smirnov statistic: the largest gap between the cumulative shares of bads
/// and goods when rows are ordered by score. `None` when a class is empty.
pub fn ks(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let bads = labels.iter().filter(|&&l| l).count() as f64;
    let goods = labels.len() as f64 - bads;
    if bads == 0.0 || goods == 0.0 {
        return None;
    }
    let (mut cb, mut cg, mut best) = (0.0f64, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            if labels[order[j]] {
                cb += 1.0;
            } else {
                cg += 1.0;
            }
            j += 1;
        }
        best = best.max((cb / bads - cg / goods).abs());
        i = j;
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_random_and_tied_scores() {
        let labels = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
        assert_eq!(auc(&[0.5; 4], &labels), Some(0.5));
        // One inversion out of four pairs.
        assert_eq!(auc(&[0.1, 0.6, 0.5, 0.9], &labels), Some(0.75));
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn ks_matches_hand_computation() {
        // Ascending scores: g g b g b b -> max gap of cumulative shares = 2/3.
        let scores = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let labels = [false, false, true, false, true, true];
        let k = ks(&scores, &labels).unwrap();
        assert!((k - 2.0 / 3.0).abs() < 1e-12, "{k}");
    }
}
