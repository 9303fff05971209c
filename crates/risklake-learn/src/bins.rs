//! Bin mappers: how a raw feature value becomes a small bin code.
//!
//! A numeric mapper has ascending upper bounds; a value goes to the first bin whose upper
//! bound is >= the value (the last bound is +inf), so a split "bin <= b" is the real split
//! "x <= upper[b]", which is LightGBM's rule and what an exported model writes. NaN (and
//! null) goes to a bin of its own after the regular ones. Bounds come from a sample: with
//! at most `max_bin` distinct values each value has its own bin (bounds halfway between
//! neighbours); with more, bins hold about equal numbers of sample rows, never splitting
//! one distinct value.

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
    /// Builds a mapper from sample values (NaN ignored) with at most `max_bin` regular bins.
    pub fn from_sample(values: &[f64], max_bin: usize) -> Result<BinMapper> {
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
        let mut upper = Vec::new();
        if distinct.len() <= max_bin {
            for w in distinct.windows(2) {
                upper.push(midpoint(w[0].0, w[1].0));
            }
        } else {
            // Greedy equal frequency over distinct values: close a bin once it holds its
            // share of the remaining rows.
            let total = v.len();
            let mut remaining = total;
            let mut bins_left = max_bin;
            let mut in_bin = 0usize;
            for (i, &(x, c)) in distinct.iter().enumerate() {
                in_bin += c;
                let target = remaining as f64 / bins_left as f64;
                let last = i + 1 == distinct.len();
                if !last && bins_left > 1 && in_bin as f64 >= target {
                    upper.push(midpoint(x, distinct[i + 1].0));
                    remaining -= in_bin;
                    bins_left -= 1;
                    in_bin = 0;
                }
            }
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
        let m = BinMapper::from_sample(&[3.0, 1.0, 2.0, 2.0, f64::NAN], 255).unwrap();
        assert_eq!(m.upper, vec![1.5, 2.5, f64::INFINITY]);
        assert_eq!(m.bin(1.0), 0);
        assert_eq!(m.bin(1.5), 0, "x <= upper goes left");
        assert_eq!(m.bin(2.0), 1);
        assert_eq!(m.bin(100.0), 2);
        assert_eq!(m.bin(-5.0), 0);
        assert_eq!(m.bin(f64::NAN), 3);
        assert_eq!(m.num_bins(), 4);
    }

    #[test]
    fn many_values_get_equal_frequency_bins() {
        let values: Vec<f64> = (0..10_000).map(|i| ((i * 7919) % 10_000) as f64).collect();
        let m = BinMapper::from_sample(&values, 16).unwrap();
        assert!(m.regular_bins() <= 16);
        let mut counts = vec![0usize; m.num_bins()];
        for &v in &values {
            counts[m.bin(v) as usize] += 1;
        }
        let regular = &counts[..m.regular_bins()];
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
