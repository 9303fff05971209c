//! Deterministic synthetic credit data for demos, tests and benchmarks.
//!
//! Each row is one loan application: an `id`, an application `month` (12 months, the
//! table in order), `features` columns of mixed kinds, and the label `bad` (1 = default).
//! Features cycle through eight kinds, one group of eight after another:
//!
//! | offset | kind | type | shape of its effect on risk |
//! | --- | --- | --- | --- |
//! | 0 | amount (log-normal money) | Float64 | U-shaped in log amount; drifts over the months |
//! | 1 | count (Poisson, e.g. inquiries) | Int64 | steps at 3 and 6 |
//! | 2 | ratio in [0, 1] (utilization) | Float64 | thresholds: above 0.85 and below 0.05 |
//! | 3 | age in years | Int64 | U-shaped (young and old riskier) |
//! | 4 | tenure in months | Int64 | a step under 12 months, then falling |
//! | 5 | integer-coded category | Int64 | an unordered effect per code |
//! | 6 | string category (grade or purpose) | Utf8 | monotone by grade, unordered by purpose |
//! | 7 | pure noise | Float64 | none |
//!
//! Every third feature has 5–20% missing values whose presence itself raises risk
//! (informative missingness), and each group adds three interactions (small amount with
//! high utilization; young age with many inquiries; short tenure with high utilization).
//! Later groups weigh less.
//!
//! The label is drawn from a logistic model of these effects. Its scale and intercept are
//! calibrated on a fixed sample, whatever the number of features, so that the Bayes AUC
//! is about 0.87 and the bad rate about 10%: a good GBDT reaches about 0.85, a linear
//! model on the raw values clearly less.
//!
//! Row `i` is generated from its own random stream (seed, i), so output does not depend
//! on batch sizes or on how the rows are split among workers.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int32Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::rng::Rng;
use crate::{Error, Result};

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthConfig {
    /// Number of rows.
    pub rows: u64,
    /// Number of feature columns (besides `id`, `month` and `bad`), 1 to 10 000.
    pub features: usize,
    /// Seed; the same seed and shape give the same data, bit for bit.
    pub seed: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            rows: 10_000,
            features: 24,
            seed: 42,
        }
    }
}

/// Name of the label column (1 = bad, 0 = good).
pub const LABEL: &str = "bad";
/// Name of the period column (`YYYY-MM`).
pub const MONTH: &str = "month";
const MONTHS: u64 = 12;
const TARGET_BAYES_AUC: f64 = 0.87;
const TARGET_BAD_RATE: f64 = 0.10;
const CALIBRATION_ROWS: u64 = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Amount,
    Count,
    Ratio,
    Age,
    Tenure,
    IntCategory,
    StrCategory,
    Noise,
}

const KINDS: [Kind; 8] = [
    Kind::Amount,
    Kind::Count,
    Kind::Ratio,
    Kind::Age,
    Kind::Tenure,
    Kind::IntCategory,
    Kind::StrCategory,
    Kind::Noise,
];

const GRADES: [&str; 7] = ["A", "B", "C", "D", "E", "F", "G"];
const PURPOSES: [&str; 9] = [
    "car",
    "education",
    "furniture",
    "holiday",
    "home_improvement",
    "medical",
    "business",
    "debt_consolidation",
    "other",
];

#[derive(Clone, Debug)]
struct FeatureSpec {
    name: String,
    kind: Kind,
    /// Which of the three latent factors drives it.
    latent: usize,
    /// Weight of its effect (later groups weigh less).
    weight: f64,
    /// Share of missing values (0 for most features).
    missing: f64,
    /// Category labels (string kinds) or count of codes (int kinds); effects per category.
    labels: Vec<String>,
    effects: Vec<f64>,
}

/// Streams synthetic credit data as Arrow record batches.
#[derive(Clone, Debug)]
pub struct CreditGenerator {
    cfg: SynthConfig,
    schema: SchemaRef,
    specs: Vec<FeatureSpec>,
    scale: f64,
    intercept: f64,
}

/// One generated row before it is written into builders.
struct Row {
    values: Vec<Value>,
    raw_risk: f64,
}

#[derive(Clone, Copy)]
enum Value {
    Null,
    F(f64),
    I(i64),
    Cat(usize),
}

impl CreditGenerator {
    /// Prepares a generator; calibrates the label model on a fixed sample.
    pub fn new(cfg: SynthConfig) -> Result<Self> {
        if cfg.features == 0 || cfg.features > 10_000 {
            return Err(Error::invalid(format!(
                "--features must be between 1 and 10000, got {}",
                cfg.features
            )));
        }
        // Ten billion rows is past any benchmark we run and far past a disk's worth of a
        // typo (a stray zero or two used to start writing until the disk was full).
        const MAX_ROWS: u64 = 10_000_000_000;
        if cfg.rows == 0 || cfg.rows > MAX_ROWS {
            return Err(Error::invalid(format!(
                "rows must be between 1 and {MAX_ROWS}, got {}",
                cfg.rows
            )));
        }
        let specs = feature_specs(cfg.features, cfg.seed);
        let mut fields = vec![
            Field::new("id", DataType::Int64, false),
            Field::new(MONTH, DataType::Utf8, false),
        ];
        for s in &specs {
            let dt = match s.kind {
                Kind::Amount | Kind::Ratio | Kind::Noise => DataType::Float64,
                Kind::Count | Kind::Age | Kind::Tenure | Kind::IntCategory => DataType::Int64,
                Kind::StrCategory => DataType::Utf8,
            };
            fields.push(Field::new(&s.name, dt, s.missing > 0.0));
        }
        fields.push(Field::new(LABEL, DataType::Int32, false));
        let mut gen = CreditGenerator {
            cfg,
            schema: Arc::new(Schema::new(fields)),
            specs,
            scale: 1.0,
            intercept: 0.0,
        };
        gen.calibrate();
        Ok(gen)
    }

    /// The Arrow schema of the generated batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The configuration.
    pub fn config(&self) -> SynthConfig {
        self.cfg
    }

    /// Rows `start .. start + len` as one batch (clipped to the configured row count).
    pub fn batch(&self, start: u64, len: usize) -> Result<RecordBatch> {
        let end = (start + len as u64).min(self.cfg.rows);
        let n = end.saturating_sub(start) as usize;
        let mut ids = Int64Builder::with_capacity(n);
        let mut months = StringBuilder::with_capacity(n, n * 7);
        let mut labels = Int32Builder::with_capacity(n);
        let mut cols: Vec<ColBuilder> = self.specs.iter().map(|s| ColBuilder::new(s.kind, n)).collect();
        for i in start..end {
            let month = i * MONTHS / self.cfg.rows.max(1);
            let mut rng = Rng::for_stream(self.cfg.seed, i);
            let row = self.row(&mut rng, month);
            let p = sigmoid(self.intercept + self.scale * row.raw_risk);
            labels.append_value(rng.chance(p) as i32);
            ids.append_value(i as i64 + 1);
            months.append_value(format!("2024-{:02}", month + 1));
            for ((b, v), s) in cols.iter_mut().zip(&row.values).zip(&self.specs) {
                b.push(*v, s);
            }
        }
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(ids.finish()), Arc::new(months.finish())];
        arrays.extend(cols.into_iter().map(ColBuilder::finish));
        arrays.push(Arc::new(labels.finish()));
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| Error::arrow("building a synthetic batch", e))
    }

    /// All rows, as consecutive batches of `batch_rows` rows.
    pub fn batches(&self, batch_rows: usize) -> impl Iterator<Item = Result<RecordBatch>> + '_ {
        let batch_rows = batch_rows.max(1);
        (0..self.cfg.rows)
            .step_by(batch_rows)
            .map(move |start| self.batch(start, batch_rows))
    }

    fn row(&self, rng: &mut Rng, month: u64) -> Row {
        let z = [rng.normal(), rng.normal(), rng.normal()];
        // Wealth drifts downwards over the year, so amount features shift (PSI > 0).
        let drift = -0.35 * (month as f64 / (MONTHS - 1) as f64);
        let mut values = Vec::with_capacity(self.specs.len());
        let mut risk = 0.0;
        let mut observed: Vec<f64> = Vec::with_capacity(self.specs.len());
        for s in &self.specs {
            let latent = 0.75 * z[s.latent] + 0.66 * rng.normal();
            let miss_draw = rng.uniform();
            let missing = s.missing > 0.0 && miss_draw < s.missing * 2.0 * sigmoid(0.9 * z[0]);
            let (value, effect, obs) = match s.kind {
                Kind::Amount => {
                    let l = latent + drift;
                    let v = ((7.6 + 0.9 * l).exp() * 100.0).round() / 100.0;
                    let c = l.clamp(-2.5, 2.5);
                    (Value::F(v), 0.45 * c * c - 0.45 * c - 0.45, l)
                }
                Kind::Count => {
                    let c = rng.poisson((0.4 + 0.6 * latent).exp());
                    let steps = 0.8 * ((c >= 3) as i32 as f64) + 0.6 * ((c >= 6) as i32 as f64);
                    (Value::I(c as i64), steps - 0.35, c as f64)
                }
                Kind::Ratio => {
                    let v = (sigmoid(1.3 * latent) * 10_000.0).round() / 10_000.0;
                    let effect = 1.6 * ((v > 0.85) as i32 as f64) + 0.6 * ((v < 0.05) as i32 as f64) - 0.3;
                    (Value::F(v), effect, v)
                }
                Kind::Age => {
                    let a = (42.0 - 11.0 * latent).round().clamp(18.0, 85.0);
                    let t = (a - 45.0) / 14.0;
                    (Value::I(a as i64), 0.6 * t * t - 0.2 * t - 0.45, a)
                }
                Kind::Tenure => {
                    let m = (3.0 - 0.8 * latent).exp().round().min(480.0);
                    let effect = 0.9 * ((m < 12.0) as i32 as f64) - 0.3 * ((m + 1.0).ln() - 3.0).tanh() - 0.3;
                    (Value::I(m as i64), effect, m)
                }
                Kind::IntCategory | Kind::StrCategory => {
                    let k = s.effects.len();
                    let c = (((latent + 2.2) / 4.4) * k as f64).floor().clamp(0.0, (k - 1) as f64) as usize;
                    (Value::Cat(c), s.effects[c], c as f64)
                }
                Kind::Noise => ((Value::F((50.0 + 10.0 * rng.normal()) * 1.0)), 0.0, 0.0),
            };
            if missing {
                values.push(Value::Null);
                risk += s.weight * 0.5;
                observed.push(f64::NAN);
            } else {
                values.push(value);
                risk += s.weight * effect;
                observed.push(obs);
            }
        }
        // Interactions inside each group of eight features.
        for g in 0..self.specs.len() / 8 {
            let at = |k: usize| observed[8 * g + k];
            let w = self.specs[8 * g].weight;
            let (amount, count, ratio, age, tenure) = (at(0), at(1), at(2), at(3), at(4));
            if amount < -0.3 && ratio > 0.7 {
                risk += 1.2 * w;
            }
            if age < 30.0 && count >= 3.0 {
                risk += 1.0 * w;
            }
            if tenure < 12.0 && ratio > 0.6 {
                risk += 0.8 * w;
            }
        }
        Row { values, raw_risk: risk }
    }

    /// Finds the scale giving the target Bayes AUC and the intercept giving the target
    /// bad rate, on a fixed calibration sample independent of the row count.
    fn calibrate(&mut self) {
        let sample: Vec<f64> = (0..CALIBRATION_ROWS)
            .map(|i| {
                let mut rng = Rng::for_stream(self.cfg.seed ^ 0xCA11_B4A7E, i);
                self.row(&mut rng, i * MONTHS / CALIBRATION_ROWS).raw_risk
            })
            .collect();
        let mut order: Vec<usize> = (0..sample.len()).collect();
        order.sort_by(|&a, &b| sample[a].total_cmp(&sample[b]));
        let sorted: Vec<f64> = order.iter().map(|&i| sample[i]).collect();
        let intercept_for = |scale: f64| {
            let (mut lo, mut hi) = (-30.0, 30.0);
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                let rate = sorted.iter().map(|r| sigmoid(mid + scale * r)).sum::<f64>() / sorted.len() as f64;
                if rate < TARGET_BAD_RATE {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            0.5 * (lo + hi)
        };
        let bayes_auc = |scale: f64| {
            let b = intercept_for(scale);
            let p: Vec<f64> = sorted.iter().map(|r| sigmoid(b + scale * r)).collect();
            let q: Vec<f64> = p.iter().map(|p| 1.0 - p).collect();
            crate::metrics::auc_weighted(&sorted, &p, &q).unwrap_or(0.5)
        };
        let (mut lo, mut hi) = (0.01, 20.0);
        for _ in 0..40 {
            let mid = 0.5 * (lo + hi);
            if bayes_auc(mid) < TARGET_BAYES_AUC {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.scale = 0.5 * (lo + hi);
        self.intercept = intercept_for(self.scale);
    }
}

fn feature_specs(n: usize, seed: u64) -> Vec<FeatureSpec> {
    let mut rng = Rng::for_stream(seed ^ 0x5EED_F00D, 0);
    (0..n)
        .map(|j| {
            let kind = KINDS[j % 8];
            let group = j / 8;
            let (labels, effects): (Vec<String>, Vec<f64>) = match kind {
                Kind::IntCategory => {
                    let k = 4 + (j * 5) % 9;
                    (
                        (1..=k).map(|c| c.to_string()).collect(),
                        (0..k).map(|_| 0.5 * rng.normal()).collect(),
                    )
                }
                Kind::StrCategory if group % 2 == 0 => (
                    GRADES.iter().map(|s| s.to_string()).collect(),
                    (0..GRADES.len()).map(|g| -0.6 + 0.2 * g as f64).collect(),
                ),
                Kind::StrCategory => (
                    PURPOSES.iter().map(|s| s.to_string()).collect(),
                    (0..PURPOSES.len()).map(|_| 0.5 * rng.normal()).collect(),
                ),
                _ => (vec![], vec![]),
            };
            let base = match kind {
                Kind::Amount => "amount",
                Kind::Count => "inquiries",
                Kind::Ratio => "utilization",
                Kind::Age => "age",
                Kind::Tenure => "tenure_months",
                Kind::IntCategory => "region_code",
                Kind::StrCategory if group % 2 == 0 => "grade",
                Kind::StrCategory => "purpose",
                Kind::Noise => "noise",
            };
            FeatureSpec {
                name: format!("x{j:02}_{base}"),
                kind,
                latent: (j * 7 + group) % 3,
                weight: if kind == Kind::Noise {
                    0.0
                } else {
                    1.0 / (1.0 + 0.6 * group as f64)
                },
                missing: if j % 3 == 2 {
                    0.05 + 0.15 * ((j * 7) % 11) as f64 / 10.0
                } else {
                    0.0
                },
                labels,
                effects,
            }
        })
        .collect()
}

enum ColBuilder {
    F(Float64Builder),
    I(Int64Builder),
    S(StringBuilder),
}

impl ColBuilder {
    fn new(kind: Kind, n: usize) -> Self {
        match kind {
            Kind::Amount | Kind::Ratio | Kind::Noise => ColBuilder::F(Float64Builder::with_capacity(n)),
            Kind::StrCategory => ColBuilder::S(StringBuilder::with_capacity(n, n * 8)),
            _ => ColBuilder::I(Int64Builder::with_capacity(n)),
        }
    }

    fn push(&mut self, v: Value, spec: &FeatureSpec) {
        match (self, v) {
            (ColBuilder::F(b), Value::F(x)) => b.append_value(x),
            (ColBuilder::F(b), _) => b.append_null(),
            (ColBuilder::I(b), Value::I(x)) => b.append_value(x),
            (ColBuilder::I(b), Value::Cat(c)) => b.append_value(spec.labels[c].parse().unwrap_or(c as i64)),
            (ColBuilder::I(b), _) => b.append_null(),
            (ColBuilder::S(b), Value::Cat(c)) => b.append_value(&spec.labels[c]),
            (ColBuilder::S(b), _) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColBuilder::F(mut b) => Arc::new(b.finish()),
            ColBuilder::I(mut b) => Arc::new(b.finish()),
            ColBuilder::S(mut b) => Arc::new(b.finish()),
        }
    }
}

#[inline]
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::compute::concat_batches;
    use arrow::datatypes::{Float64Type, Int32Type, Int64Type};

    fn generate(cfg: SynthConfig, batch: usize) -> RecordBatch {
        let g = CreditGenerator::new(cfg).unwrap();
        let batches: Vec<_> = g.batches(batch).collect::<Result<_>>().unwrap();
        concat_batches(&g.schema(), &batches).unwrap()
    }

    #[test]
    fn deterministic_and_independent_of_batch_size() {
        let cfg = SynthConfig {
            rows: 3_000,
            features: 16,
            seed: 9,
        };
        assert_eq!(generate(cfg, 3_000), generate(cfg, 77));
        let other = generate(SynthConfig { seed: 10, ..cfg }, 500);
        assert_ne!(generate(cfg, 500), other);
    }

    #[test]
    fn bad_rate_missing_shares_and_months() {
        let b = generate(
            SynthConfig {
                rows: 40_000,
                features: 24,
                seed: 1,
            },
            8192,
        );
        let label = b.column_by_name(LABEL).unwrap().as_primitive::<Int32Type>();
        let rate = label.values().iter().map(|&v| v as f64).sum::<f64>() / b.num_rows() as f64;
        assert!((0.08..0.12).contains(&rate), "bad rate {rate}");
        // A third of the columns carry 5–20% missing; the others none.
        let mut with_missing = 0;
        for f in b.schema().fields().iter().filter(|f| f.name().starts_with('x')) {
            let col = b.column_by_name(f.name()).unwrap();
            let share = col.null_count() as f64 / b.num_rows() as f64;
            if share > 0.0 {
                with_missing += 1;
                assert!((0.03..0.25).contains(&share), "{} missing share {share}", f.name());
            }
        }
        assert_eq!(with_missing, 8);
        let months = b.column_by_name(MONTH).unwrap().as_string::<i32>();
        assert_eq!(months.value(0), "2024-01");
        assert_eq!(months.value(b.num_rows() - 1), "2024-12");
    }

    #[test]
    fn label_is_learnable_but_not_trivially() {
        // The single strongest feature alone must carry signal, and the true model's AUC
        // on sampled labels must sit near the calibrated Bayes AUC.
        let cfg = SynthConfig {
            rows: 40_000,
            features: 24,
            seed: 3,
        };
        let g = CreditGenerator::new(cfg).unwrap();
        let b = generate(cfg, 10_000);
        let label: Vec<bool> = b
            .column_by_name(LABEL)
            .unwrap()
            .as_primitive::<Int32Type>()
            .values()
            .iter()
            .map(|&v| v == 1)
            .collect();
        let util = b
            .column_by_name("x02_utilization")
            .unwrap()
            .as_primitive::<Float64Type>();
        let scores: Vec<f64> = (0..util.len())
            .map(|i| if util.is_null(i) { 2.0 } else { util.value(i) })
            .collect();
        let single = crate::metrics::auc(&scores, &label).unwrap();
        assert!(single > 0.55 && single < 0.8, "utilization alone AUC {single}");
        let truth: Vec<f64> = (0..cfg.rows)
            .map(|i| {
                let mut rng = Rng::for_stream(cfg.seed, i);
                g.row(&mut rng, i * MONTHS / cfg.rows).raw_risk
            })
            .collect();
        let bayes = crate::metrics::auc(&truth, &label).unwrap();
        assert!(
            (bayes - TARGET_BAYES_AUC).abs() < 0.015,
            "AUC of the true model {bayes}"
        );
        let ages = b.column_by_name("x03_age").unwrap().as_primitive::<Int64Type>();
        assert!(ages.values().iter().all(|&a| (18..=85).contains(&a)));
    }

    #[test]
    fn rejects_bad_feature_counts() {
        assert!(CreditGenerator::new(SynthConfig {
            features: 0,
            ..Default::default()
        })
        .is_err());
    }
}
