//! Bin mappers: how a raw feature value becomes a small bin code.
//!
//! A numeric mapper has ascending upper bounds; a value goes to the first bin whose upper
//! bound is >= the value (the last bound is +inf), so a split "bin <= b" is the real split
//! "x <= upper[b]", which is LightGBM's rule and what an exported model writes. NaN (and
//! null) goes to a bin of its own after the regular ones. Bounds come from a sample, by
//! LightGBM's rules (see [`BinMapper::from_sample_with`]): zero in a bin of its own,
//! bounds halfway between neighbouring distinct values, bins of at least
//! `min_data_in_bin` rows, about equal numbers of rows when there are more distinct values
//! than bins, never splitting one distinct value. The same data gives both tools the same
//! candidate splits.

use risklake_core::{Error, Result};

/// Most regular bins of a numeric feature (bins are stored in two bytes when any feature
/// has more than 256, one byte otherwise).
pub const MAX_BIN: usize = 65_535;

/// Most categories of a categorical feature that get bins of their own (a split's left
/// set is a 256-bit set); rarer ones share the missing bin.
pub const MAX_CATEGORIES: usize = 255;

/// The mapping of one numeric feature to bins.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BinMapper {
    /// Upper bound of each regular bin, ascending; the last is +inf (serialized as null).
    #[serde(with = "inf_as_null")]
    pub upper: Vec<f64>,
    /// Smallest and largest value of the sample (for LightGBM's feature_infos); NaN (null
    /// in JSON) when the sample had no value.
    #[serde(with = "nan_as_null")]
    pub min: f64,
    #[serde(with = "nan_as_null")]
    pub max: f64,
    /// Categorical features: the category of each regular bin (most frequent first). Empty
    /// for numeric features. Null, and categories not in the list, go to the missing bin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// One f64 that may be +inf, as JSON null.
pub mod one_inf_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&v.is_finite().then_some(*v), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&(!v.is_nan()).then_some(*v), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

mod inf_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let opts: Vec<Option<f64>> = v.iter().map(|x| x.is_finite().then_some(*x)).collect();
        serde::Serialize::serialize(&opts, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let opts: Vec<Option<f64>> = Vec::deserialize(d)?;
        Ok(opts.into_iter().map(|x| x.unwrap_or(f64::INFINITY)).collect())
    }
}

impl BinMapper {
    /// Builds a mapper from sample values (NaN ignored) with at most `max_bin` regular
    /// bins, each holding at least 3 sample rows where it can (see
    /// [`BinMapper::from_sample_with`]).
    pub fn from_sample(values: &[f64], max_bin: usize) -> Result<BinMapper> {
        Self::from_sample_with(values, max_bin, 3)
    }

    /// Builds a mapper from sample values. With at most `max_bin` distinct values, a bin
    /// closes after each value once it holds `min_data_in_bin` rows. With more, bins aim
    /// at an equal share of the rows (at most total / `min_data_in_bin` bins): a value
    /// holding a full share or more gets a bin of its own, and the share is recomputed
    /// over what remains after each bin. These are LightGBM's rules, so both tools see
    /// the same candidate splits.
    pub fn from_sample_with(values: &[f64], max_bin: usize, min_data_in_bin: usize) -> Result<BinMapper> {
        if !(2..=MAX_BIN).contains(&max_bin) {
            return Err(Error::invalid(format!(
                "max_bin must be in [2, {MAX_BIN}], got {max_bin}"
            )));
        }
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        v.sort_unstable_by(f64::total_cmp);
        if v.is_empty() {
            return Ok(BinMapper {
                upper: vec![f64::INFINITY],
                min: f64::NAN,
                max: f64::NAN,
                categories: Vec::new(),
            });
        }
        let (min, max) = (v[0], v[v.len() - 1]);
        // Distinct values and their counts.
        let mut distinct: Vec<(f64, usize)> = Vec::new();
        for x in v.iter().copied() {
            match distinct.last_mut() {
                Some((d, c)) if *d == x => *c += 1,
                _ => distinct.push((x, 1)),
            }
        }
        // Zero is a bin of its own: negative values share `max_bin - 1` bins with positive
        // ones in proportion to their rows, and the bounds around zero are +-1e-35.
        let total = v.len();
        let zeros = distinct
            .iter()
            .filter(|d| d.0.abs() <= ZERO)
            .map(|d| d.1)
            .sum::<usize>();
        let negative: Vec<(f64, usize)> = distinct.iter().copied().filter(|d| d.0 <= -ZERO).collect();
        let positive: Vec<(f64, usize)> = distinct.iter().copied().filter(|d| d.0 > ZERO).collect();
        let mut upper: Vec<f64> = Vec::new();
        if !negative.is_empty() {
            let rows: usize = negative.iter().map(|d| d.1).sum();
            let share = ((rows as f64 / (total - zeros) as f64) * (max_bin - 1) as f64) as usize;
            upper = greedy_bounds(&negative, share.max(1), min_data_in_bin);
            upper.push(-ZERO);
        }
        let room = (max_bin - 1).saturating_sub(upper.len());
        if !positive.is_empty() && room > 0 {
            upper.push(ZERO);
            upper.extend(greedy_bounds(&positive, room, min_data_in_bin));
        }
        upper.push(f64::INFINITY);
        Ok(BinMapper {
            upper,
            min,
            max,
            categories: Vec::new(),
        })
    }

    /// A categorical mapper from sample values (None = null): the `max_cat` most frequent
    /// categories (ties by name) get bins; the rest share the missing bin.
    pub fn categorical_from_sample(values: &[Option<String>], max_cat: usize) -> Result<BinMapper> {
        if !(2..=MAX_CATEGORIES).contains(&max_cat) {
            return Err(Error::invalid(format!(
                "max_cat_bins must be in [2, {MAX_CATEGORIES}], got {max_cat}"
            )));
        }
        let max_bin = max_cat;
        let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for v in values.iter().flatten() {
            *counts.entry(v.as_str()).or_default() += 1;
        }
        let mut cats: Vec<(&str, usize)> = counts.into_iter().collect();
        cats.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        cats.truncate(max_bin);
        Ok(BinMapper {
            upper: Vec::new(),
            min: f64::NAN,
            max: f64::NAN,
            categories: cats.into_iter().map(|c| c.0.to_string()).collect(),
        })
    }

    pub fn is_categorical(&self) -> bool {
        !self.categories.is_empty() || self.upper.is_empty()
    }

    /// Number of regular bins.
    pub fn regular_bins(&self) -> usize {
        if self.is_categorical() {
            self.categories.len()
        } else {
            self.upper.len()
        }
    }

    /// The bin of NaN and null.
    pub fn missing_bin(&self) -> u16 {
        self.regular_bins() as u16
    }

    /// All bins, the missing one included.
    pub fn num_bins(&self) -> usize {
        self.regular_bins() + 1
    }

    /// The bin of a numeric value, or of a categorical feature's bin code (see
    /// [`BinMapper::codes`]); NaN is missing.
    #[inline]
    pub fn bin(&self, v: f64) -> u16 {
        if self.is_categorical() {
            return if v.is_nan() { self.missing_bin() } else { v as u16 };
        }
        if v.is_nan() {
            return self.missing_bin();
        }
        self.upper.partition_point(|&u| u < v) as u16
    }
}

/// Values within this of zero are zero (LightGBM's kZeroThreshold).
const ZERO: f64 = 1e-35;

/// Bin bounds of sorted distinct values with their counts (`max_bin` bins at most, the
/// last one unbounded and not listed): see [`BinMapper::from_sample_with`].
fn greedy_bounds(distinct: &[(f64, usize)], max_bin: usize, min_data_in_bin: usize) -> Vec<f64> {
    let mut upper: Vec<f64> = Vec::new();
    let close = |upper: &mut Vec<f64>, at: f64| {
        if upper.last() != Some(&at) {
            upper.push(at);
        }
    };
    if distinct.len() <= max_bin {
        let mut in_bin = 0;
        for w in distinct.windows(2) {
            in_bin += w[0].1;
            if in_bin >= min_data_in_bin {
                close(&mut upper, midpoint(w[0].0, w[1].0));
                in_bin = 0;
            }
        }
    } else {
        let total: usize = distinct.iter().map(|d| d.1).sum();
        let max_bin = max_bin.min(total / min_data_in_bin.max(1)).max(1);
        let mut share = total as f64 / max_bin as f64;
        // Values with a full share of the rows get bins of their own.
        let big: Vec<bool> = distinct.iter().map(|&(_, c)| c as f64 >= share).collect();
        let mut bins_left = max_bin - big.iter().filter(|&&b| b).count();
        let mut rows_left = total
            - distinct
                .iter()
                .zip(&big)
                .filter(|(_, &b)| b)
                .map(|(d, _)| d.1)
                .sum::<usize>();
        share = rows_left as f64 / bins_left.max(1) as f64;
        let mut in_bin = 0usize;
        let mut made = 0;
        for i in 0..distinct.len() - 1 {
            let (x, c) = distinct[i];
            if !big[i] {
                rows_left -= c;
            }
            in_bin += c;
            let next_big = big[i + 1] && in_bin as f64 >= (share * 0.5).max(1.0);
            if big[i] || in_bin as f64 >= share || next_big {
                close(&mut upper, midpoint(x, distinct[i + 1].0));
                made += 1;
                if made + 1 >= max_bin {
                    break;
                }
                in_bin = 0;
                if !big[i] {
                    bins_left = bins_left.saturating_sub(1).max(1);
                    share = rows_left as f64 / bins_left as f64;
                }
            }
        }
    }
    upper
}

fn midpoint(a: f64, b: f64) -> f64 {
    let m = a + (b - a) / 2.0;
    if m >= a && m < b {
        m
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_a_bin_each() {
        let m = BinMapper::from_sample_with(&[3.0, 1.0, 2.0, 2.0, f64::NAN], 255, 1).unwrap();
        // Zero (and below, for positive data) has a bin of its own.
        assert_eq!(m.upper, vec![ZERO, 1.5, 2.5, f64::INFINITY]);
        assert_eq!(m.bin(0.0), 0);
        assert_eq!(m.bin(1.0), 1);
        assert_eq!(m.bin(1.5), 1, "x <= upper goes left");
        assert_eq!(m.bin(2.0), 2);
        assert_eq!(m.bin(100.0), 3);
        assert_eq!(m.bin(-5.0), 0);
        assert_eq!(m.bin(f64::NAN), 4);
        assert_eq!(m.num_bins(), 5);
        // Negative, zero and positive values: zero sits between -1e-35 and 1e-35.
        let m = BinMapper::from_sample_with(&[-2.0, -1.0, 0.0, 0.0, 1.0], 255, 1).unwrap();
        assert_eq!(m.upper, vec![-1.5, -ZERO, ZERO, f64::INFINITY]);
        assert_eq!(m.bin(0.0), 2);
    }

    #[test]
    fn rare_values_share_bins_and_frequent_ones_get_their_own() {
        // 1 x1, 2 x2, 3 x1, 4 x5: with min_data_in_bin 3, bins close after 2 and after 4.
        let m = BinMapper::from_sample(&[1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0, 4.0], 255).unwrap();
        assert_eq!(m.upper, vec![ZERO, 2.5, f64::INFINITY]);
        // Many distinct values, one of them holding half the rows: it gets a bin alone.
        let mut values: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        values.extend(std::iter::repeat_n(500.0, 1000));
        let m = BinMapper::from_sample(&values, 10).unwrap();
        let b = m.bin(500.0);
        assert!(m.upper[b as usize] > 500.0 && (b == 0 || m.upper[b as usize - 1] < 500.0));
        let in_bin = values.iter().filter(|&&v| m.bin(v) == b).count();
        assert_eq!(in_bin, 1001, "500 alone (plus its own copy in the range)");
    }

    #[test]
    fn many_values_get_equal_frequency_bins() {
        let values: Vec<f64> = (0..10_000).map(|i| ((i * 7919) % 10_000 + 1) as f64).collect();
        let m = BinMapper::from_sample(&values, 16).unwrap();
        assert!(m.regular_bins() <= 16);
        let mut counts = vec![0usize; m.num_bins()];
        for &v in &values {
            counts[m.bin(v) as usize] += 1;
        }
        // The first bin holds zero and below (none here).
        let regular = &counts[1..m.regular_bins()];
        assert_eq!(counts[0], 0);
        assert!(regular.iter().all(|&c| (500..=800).contains(&c)), "{regular:?}");
    }

    #[test]
    fn round_trips_through_json_with_infinity() {
        let m = BinMapper::from_sample(&[1.0, 2.0], 255).unwrap();
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("null"));
        assert_eq!(serde_json::from_str::<BinMapper>(&text).unwrap(), m);
        assert!(BinMapper::from_sample(&[1.0], 70_000).is_err());
        assert!(BinMapper::from_sample(&[1.0], 300).is_ok());
    }
}
