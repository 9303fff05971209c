//! Optimal binning's defaults on data with few bads (issue 14): a bin's WoE must not rest on
//! one or two bads, and `auto` must not buy a peak or valley with noise. The data mimic a
//! 2.5%-bad application sample of 5,000 rows: pure-noise features, a weak monotone one and
//! a genuine U-shaped one.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use risklake_core::rng::Rng;
use risklake_features::plan::BinKind;
use risklake_features::{bin_batches, BinningOptions, BinningPlan, FineOptions, Target};

const ROWS: usize = 5000;
const NOISE: usize = 20;

/// `NOISE` noise columns, `weak` (a monotone signal) and `u` (risk rising on both sides).
fn sample(seed: u64) -> RecordBatch {
    let mut rng = Rng::new(seed);
    let mut cols: Vec<Vec<f64>> = (0..NOISE + 2).map(|_| Vec::with_capacity(ROWS)).collect();
    let mut bad = Vec::with_capacity(ROWS);
    for _ in 0..ROWS {
        for c in cols.iter_mut().take(NOISE) {
            c.push(rng.normal());
        }
        let weak = rng.normal();
        let u = rng.normal();
        let logit = -6.2 + 0.35 * weak + 1.1 * u * u;
        bad.push(rng.chance(1.0 / (1.0 + (-logit).exp())) as i32);
        cols[NOISE].push(weak);
        cols[NOISE + 1].push(u);
    }
    let mut fields: Vec<Field> = (0..NOISE)
        .map(|j| Field::new(format!("noise{j:02}"), DataType::Float64, true))
        .collect();
    fields.push(Field::new("weak", DataType::Float64, true));
    fields.push(Field::new("u", DataType::Float64, true));
    fields.push(Field::new("bad", DataType::Int32, false));
    let mut arrays: Vec<ArrayRef> = cols
        .into_iter()
        .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef)
        .collect();
    arrays.push(Arc::new(Int32Array::from(bad)));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

fn plan(seed: u64, options: &BinningOptions) -> BinningPlan {
    bin_batches(vec![sample(seed)], Target::new("bad"), FineOptions::default(), options).unwrap()
}

fn turning(p: &BinningPlan) -> Vec<String> {
    p.features
        .iter()
        .filter(|f| matches!(f.metrics.trend_constraint.as_str(), "peak" | "valley"))
        .map(|f| f.name.clone())
        .collect()
}

#[test]
fn the_sample_has_few_bads() {
    let p = plan(1, &BinningOptions::default());
    let rate = p.bad / (p.bad + p.good);
    assert!((0.015..0.04).contains(&rate), "bad rate {rate}");
}

#[test]
fn auto_trend_takes_no_turn_on_noise_but_keeps_a_real_one() {
    for seed in [1, 2, 3] {
        let p = plan(seed, &BinningOptions::default());
        let turns = turning(&p);
        // Before the likelihood-ratio test and the scaled bad floor, 20 of 20 noise
        // features got a peak or valley here.
        assert_eq!(turns, vec!["u".to_string()], "seed {seed}: turning trends on {turns:?}");
        let u = p.features.iter().find(|f| f.name == "u").unwrap();
        assert_eq!(u.metrics.trend_constraint, "valley", "seed {seed}");
        assert!(u.metrics.iv > 0.5, "seed {seed}: the U feature's IV {}", u.metrics.iv);
    }
}

#[test]
fn default_bins_rest_on_a_scaled_number_of_bads() {
    for seed in [1, 2, 3] {
        let p = plan(seed, &BinningOptions::default());
        for f in &p.features {
            let bads: f64 = f
                .bins
                .iter()
                .filter(|b| b.kind == BinKind::Regular)
                .map(|b| b.bad)
                .sum();
            let floor = risklake_features::binning::auto_min_events(bads);
            assert!(floor >= 5.0 && floor >= bads.sqrt() - 1e-9);
            for b in f.bins.iter().filter(|b| b.kind == BinKind::Regular) {
                assert!(
                    b.bad >= floor,
                    "seed {seed}: {} bin {} holds {} bads, under the floor {floor}",
                    f.name,
                    b.label,
                    b.bad
                );
            }
            assert!(
                f.metrics.flags.iter().all(|m| !m.contains("fewer than 5 bads")),
                "{}: {:?}",
                f.name,
                f.metrics.flags
            );
        }
    }
}

#[test]
fn an_explicit_floor_still_rules() {
    // The old default, asked for explicitly, still allows bins with a single bad.
    let o = BinningOptions {
        min_bad: Some(1.0),
        min_good: Some(1.0),
        ..BinningOptions::default()
    };
    let p = plan(1, &o);
    let least = p
        .features
        .iter()
        .flat_map(|f| f.bins.iter().filter(|b| b.kind == BinKind::Regular))
        .map(|b| b.bad)
        .fold(f64::INFINITY, f64::min);
    assert!(
        least < 5.0,
        "with min_bad 1 some bin should hold fewer than 5 bads, least {least}"
    );
    // And JSON requests keep their meaning: a number is a floor, null or absent is auto.
    let parsed: BinningOptions = serde_json::from_str(r#"{"min_bad": 3}"#).unwrap();
    assert_eq!(parsed.min_bad, Some(3.0));
    let parsed: BinningOptions = serde_json::from_str(r#"{"min_bad": null}"#).unwrap();
    assert_eq!(parsed.min_bad, None);
    assert_eq!(BinningOptions::default().min_good, None);
}
