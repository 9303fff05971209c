//! Each method's edge cases and the bad input the issue lists: constant and all-missing
//! columns, labels that are not binary or are text, inf values, fewer rows than bins,
//! missing columns, special values, weights, unseen categories, sketch vs exact binning.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use risklake_features::plan::BinKind;
use risklake_features::psi::{psi, BinCounter};
use risklake_features::{bin_batches, BinningOptions, BinningPlan, FineOptions, Method, Output, Target, Transformer};

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols.into_iter().map(|c| c.1).collect()).unwrap()
}

fn f64s(v: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(v))
}

fn opt_f64s(v: Vec<Option<f64>>) -> ArrayRef {
    Arc::new(Float64Array::from(v))
}

fn labels(v: Vec<i32>) -> ArrayRef {
    Arc::new(Int32Array::from(v))
}

/// A deterministic risk curve: rows with larger x are more often bad.
fn risky(n: usize) -> (Vec<f64>, Vec<i32>) {
    let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64 / 10.0).collect();
    let y: Vec<i32> = x
        .iter()
        .enumerate()
        .map(|(i, v)| ((i * 31) % 100 < (5.0 + v / (n as f64 / 10.0) * 40.0) as usize) as i32)
        .collect();
    (x, y)
}

fn bin(b: Vec<RecordBatch>, options: &BinningOptions) -> risklake_core::Result<BinningPlan> {
    bin_batches(b, Target::new("bad"), FineOptions::default(), options)
}

fn err(r: risklake_core::Result<BinningPlan>) -> String {
    r.expect_err("should fail").to_string()
}

#[test]
fn constant_and_all_missing_columns_are_skipped_with_reasons() {
    let (x, y) = risky(2000);
    let b = batch(vec![
        ("x", f64s(x)),
        ("constant", f64s(vec![3.0; 2000])),
        ("empty", opt_f64s(vec![None; 2000])),
        ("bad", labels(y)),
    ]);
    let plan = bin(vec![b], &BinningOptions::default()).unwrap();
    assert_eq!(plan.features.len(), 1);
    let reasons: Vec<(&str, &str)> = plan
        .skipped
        .iter()
        .map(|s| (s.name.as_str(), s.reason.as_str()))
        .collect();
    assert!(
        reasons.iter().any(|(n, r)| *n == "constant" && r.contains("constant")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|(n, r)| *n == "empty" && r.contains("missing")),
        "{reasons:?}"
    );
}

#[test]
fn labels_must_be_binary_and_text_labels_need_a_bad_value() {
    let (x, _) = risky(300);
    let three = batch(vec![
        ("x", f64s(x.clone())),
        ("bad", labels((0..300).map(|i| i % 3).collect())),
    ]);
    let e = err(bin(vec![three], &BinningOptions::default()));
    assert!(
        e.contains("not binary") && e.contains("'0'") && e.contains("'2'"),
        "{e}"
    );

    let text: ArrayRef = Arc::new(StringArray::from(
        (0..300)
            .map(|i| if i % 4 == 0 { "bad" } else { "good" })
            .collect::<Vec<_>>(),
    ));
    let b = batch(vec![("x", f64s(x.clone())), ("bad", text)]);
    let e = err(bin(vec![b.clone()], &BinningOptions::default()));
    assert!(e.contains("bad_value"), "{e}");
    let target = Target {
        label: "bad".into(),
        bad_value: Some("bad".into()),
        weight: None,
    };
    let plan = bin_batches(
        vec![b.clone()],
        target,
        FineOptions::default(),
        &BinningOptions::default(),
    )
    .unwrap();
    assert!((plan.bad - 75.0).abs() < 1e-9);
    // A bad value that never occurs is an error, not an all-good table.
    let target = Target {
        label: "bad".into(),
        bad_value: Some("Bad".into()),
        weight: None,
    };
    let e = bin_batches(vec![b], target, FineOptions::default(), &BinningOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no bad rows"), "{e}");

    let nulls = batch(vec![
        ("x", f64s(vec![1.0, 2.0])),
        ("bad", Arc::new(Int32Array::from(vec![Some(1), None]))),
    ]);
    assert!(err(bin(vec![nulls], &BinningOptions::default())).contains("null at row 2"));
}

#[test]
fn missing_columns_and_empty_tables_are_named() {
    let (x, y) = risky(100);
    let b = batch(vec![("x", f64s(x)), ("bad", labels(y))]);
    let e = bin_batches(
        vec![b.clone()],
        Target::new("target"),
        FineOptions::default(),
        &BinningOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("label column 'target' is not in the table") && e.contains("x, bad"),
        "{e}"
    );
    let fine = FineOptions {
        columns: vec!["nope".into()],
        ..Default::default()
    };
    let e = bin_batches(vec![b.clone()], Target::new("bad"), fine, &BinningOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("'nope'"), "{e}");
    let empty = b.slice(0, 0);
    assert!(err(bin(vec![empty], &BinningOptions::default())).contains("empty"));
    assert!(err(bin(vec![], &BinningOptions::default())).contains("empty"));
}

#[test]
fn infinite_values_sit_in_the_outer_bins_and_are_counted() {
    let (mut x, y) = risky(3000);
    x[0] = f64::INFINITY;
    x[1] = f64::NEG_INFINITY;
    x[2] = f64::NAN;
    for method in [
        Method::Optimal,
        Method::Quantile,
        Method::Uniform,
        Method::Tree,
        Method::Chimerge,
    ] {
        let b = batch(vec![("x", f64s(x.clone())), ("bad", labels(y.clone()))]);
        let options = BinningOptions {
            method,
            ..Default::default()
        };
        let plan = bin(vec![b.clone()], &options).unwrap();
        let f = plan.feature("x").unwrap();
        assert_eq!(f.metrics.infinite, 2, "{method:?}");
        assert!(f.edges.iter().all(|e| e.is_finite()), "{method:?}: {:?}", f.edges);
        // NaN is missing; every row is in exactly one bin.
        assert_eq!(f.bins.iter().find(|b| b.kind == BinKind::Missing).unwrap().count, 1);
        assert_eq!(f.bins.iter().map(|b| b.count).sum::<u64>(), 3000);
        let t = Transformer::new(&plan, Output::Bin).bin_indices(&b).unwrap();
        assert_eq!(t[0][1], 0, "-inf goes to the first bin");
        assert_eq!(t[0][0] as usize, f.edges.len(), "+inf goes to the last regular bin");
        assert!(plan.to_json().len() > 10);
    }
}

#[test]
fn fewer_rows_than_bins_gives_one_bin_per_value() {
    let b = batch(vec![
        ("x", f64s(vec![1.0, 2.0, 3.0, 4.0])),
        ("bad", labels(vec![0, 1, 0, 1])),
    ]);
    for method in [
        Method::Quantile,
        Method::Uniform,
        Method::Tree,
        Method::Chimerge,
        Method::Optimal,
    ] {
        let options = BinningOptions {
            method,
            max_bins: 10,
            min_bin_size: 0.0,
            ..Default::default()
        };
        let plan = bin(vec![b.clone()], &options).unwrap();
        let f = plan.feature("x").unwrap();
        // Equal width keeps its empty bins (that is what equal width means); the others
        // never make more bins than there are values.
        if method != Method::Uniform {
            assert!(f.metrics.bins <= 4, "{method:?}: {} bins", f.metrics.bins);
            assert!(
                f.bins
                    .iter()
                    .filter(|b| b.kind == BinKind::Regular)
                    .all(|b| b.count > 0),
                "{method:?}"
            );
        }
        assert_eq!(f.bins.iter().map(|b| b.count).sum::<u64>(), 4);
    }
}

#[test]
fn special_values_get_their_own_bins_and_transform_maps_them() {
    let (mut x, y) = risky(2000);
    for i in (0..2000).step_by(10) {
        x[i] = -999.0;
    }
    let b = batch(vec![("x", f64s(x)), ("bad", labels(y))]);
    let fine = FineOptions {
        special_values: vec![-999.0, -1.0],
        ..Default::default()
    };
    let plan = bin_batches(vec![b.clone()], Target::new("bad"), fine, &BinningOptions::default()).unwrap();
    let f = plan.feature("x").unwrap();
    let special: Vec<_> = f.bins.iter().filter(|b| b.kind == BinKind::Special).collect();
    assert_eq!(special.len(), 2);
    assert_eq!(special[0].count, 200);
    assert_eq!(special[1].count, 0);
    // No regular bin starts below 0: -999 never joined the regular values.
    assert!(f.edges.iter().all(|&e| e > 0.0));
    let idx = Transformer::new(&plan, Output::Bin).bin_indices(&b).unwrap();
    assert_eq!(idx[0][0] as usize, f.missing_bin() + 1);
    let woe = Transformer::new(&plan, Output::Woe).transform(&b).unwrap();
    assert_eq!(woe.schema().field(0).data_type(), &DataType::Float64);
}

#[test]
fn weights_count_as_row_multiplicity() {
    let (x, y) = risky(1000);
    // Doubling every row, or giving every row weight 2, gives the same WoE and IV.
    let doubled: Vec<f64> = x.iter().chain(x.iter()).copied().collect();
    let ydoubled: Vec<i32> = y.iter().chain(y.iter()).copied().collect();
    let options = BinningOptions {
        method: Method::Edges,
        edges: [("x".to_string(), vec![20.0, 50.0, 80.0])].into_iter().collect(),
        ..Default::default()
    };
    let a = bin(
        vec![batch(vec![("x", f64s(doubled)), ("bad", labels(ydoubled))])],
        &options,
    )
    .unwrap();
    let target = Target {
        label: "bad".into(),
        bad_value: None,
        weight: Some("w".into()),
    };
    let b = bin_batches(
        vec![batch(vec![
            ("x", f64s(x)),
            ("bad", labels(y)),
            ("w", f64s(vec![2.0; 1000])),
        ])],
        target,
        FineOptions::default(),
        &options,
    )
    .unwrap();
    let (fa, fb) = (a.feature("x").unwrap(), b.feature("x").unwrap());
    assert!((fa.metrics.iv - fb.metrics.iv).abs() < 1e-12);
    for (p, q) in fa.bins.iter().zip(&fb.bins) {
        assert!((p.woe - q.woe).abs() < 1e-12);
        assert!((p.weight - q.weight).abs() < 1e-12);
    }
}

#[test]
fn categories_are_grouped_rare_ones_pooled_and_unseen_ones_treated_as_asked() {
    let n = 5000;
    let cats = ["a", "b", "c", "d", "e"];
    let mut names: Vec<String> = (0..n).map(|i| cats[i % 5].to_string()).collect();
    for (k, i) in (0..n).step_by(500).enumerate() {
        names[i] = format!("rare{k}");
    }
    let y: Vec<i32> = (0..n).map(|i| ((i % 5) * 7 + (i * 13) % 11 > 30) as i32).collect();
    let col: ArrayRef = Arc::new(StringArray::from(names.iter().map(|s| s.as_str()).collect::<Vec<_>>()));
    let b = batch(vec![("cat", col), ("bad", labels(y))]);
    let plan = bin(vec![b], &BinningOptions::default()).unwrap();
    let f = plan.feature("cat").unwrap();
    let pool = f.other_group.expect("rare categories pooled");
    assert!(f.groups[pool].iter().any(|g| g == "rare0"));
    // Event rates rise across the groups (ordered by rate).
    let rates: Vec<f64> = f
        .bins
        .iter()
        .filter(|b| b.kind == BinKind::Regular)
        .map(|b| b.event_rate)
        .collect();
    assert!(rates.windows(2).all(|w| w[1] >= w[0]), "{rates:?}");
    let unseen: ArrayRef = Arc::new(StringArray::from(vec![Some("never-seen"), Some("a"), None]));
    let t = batch(vec![("cat", unseen)]);
    // By default an unseen category is neutral: WoE 0, bin -1 (not the missing bin's WoE).
    let (idx, unseen) = Transformer::new(&plan, Output::Bin).bin_indices_counted(&t).unwrap();
    assert_eq!((idx[0][0], unseen[0]), (risklake_features::UNSEEN, 1));
    assert_eq!(idx[0][2] as usize, f.missing_bin(), "null is missing, not unseen");
    let woe = Transformer::new(&plan, Output::Woe).transform(&t).unwrap();
    let woe = woe
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap();
    assert_eq!(woe.value(0), 0.0);
    let bins = Transformer::new(&plan, Output::Bin).transform(&t).unwrap();
    let bins = bins
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int32Array>()
        .unwrap();
    assert_eq!(bins.value(0), -1);
    // Or the pool, the missing bin, or an error naming the value.
    use risklake_features::Unseen;
    let with = |u| Transformer::new(&plan, Output::Bin).with_unseen(u).bin_indices(&t);
    assert_eq!(with(Unseen::Other).unwrap()[0][0] as usize, pool);
    assert_eq!(with(Unseen::Missing).unwrap()[0][0] as usize, f.missing_bin());
    let e = with(Unseen::Error).unwrap_err().to_string();
    assert!(e.contains("'never-seen'") && e.contains("column 'cat'"), "{e}");
}

#[test]
fn integer_codes_marked_categorical_are_binned_as_categories() {
    let codes: ArrayRef = Arc::new(Int64Array::from((0..3000).map(|i| (i % 6) as i64).collect::<Vec<_>>()));
    // Code 3 is risky (75% bad) but not pure: a pure bin would break --min-good 1.
    let y: Vec<i32> = (0..3000)
        .map(|i| ((i % 6 == 3 && i % 4 != 1) || i % 17 == 0) as i32)
        .collect();
    let b = batch(vec![("code", codes), ("bad", labels(y))]);
    let fine = FineOptions {
        categorical: vec!["code".into()],
        ..Default::default()
    };
    let plan = bin_batches(vec![b], Target::new("bad"), fine, &BinningOptions::default()).unwrap();
    let f = plan.feature("code").unwrap();
    assert!(f.groups.iter().flatten().any(|g| g == "3"));
    // Code 3 (the risky one) sits alone in the last group.
    let last = f.groups.last().unwrap();
    assert_eq!(last, &vec!["3".to_string()]);
}

#[test]
fn the_sketch_agrees_with_exact_binning_on_integer_columns_and_closely_on_continuous_ones() {
    let n = 60_000;
    let (x, y) = risky(n);
    let ints: Vec<f64> = x.iter().map(|v| (v / 50.0).floor()).collect();
    let batches: Vec<RecordBatch> = (0..6)
        .map(|k| {
            let r = k * 10_000..(k + 1) * 10_000;
            batch(vec![
                ("x", f64s(x[r.clone()].to_vec())),
                ("ints", f64s(ints[r.clone()].to_vec())),
                ("bad", labels(y[r].to_vec())),
            ])
        })
        .collect();
    let exact = bin_batches(
        batches.clone(),
        Target::new("bad"),
        FineOptions::default(),
        &BinningOptions::default(),
    )
    .unwrap();
    let sketch_opts = FineOptions {
        exact_rows: 5_000,
        ..Default::default()
    };
    let sketch = bin_batches(batches, Target::new("bad"), sketch_opts, &BinningOptions::default()).unwrap();
    let (e, s) = (exact.feature("ints").unwrap(), sketch.feature("ints").unwrap());
    assert_eq!(e.edges, s.edges, "integer values keep exact buckets");
    assert!((e.metrics.iv - s.metrics.iv).abs() < 1e-12);
    let (e, s) = (exact.feature("x").unwrap(), sketch.feature("x").unwrap());
    assert!(!s.metrics.distinct_exact);
    assert!(
        (e.metrics.iv - s.metrics.iv).abs() / e.metrics.iv < 0.02,
        "{} vs {}",
        e.metrics.iv,
        s.metrics.iv
    );
}

#[test]
fn plans_round_trip_and_refuse_other_versions() {
    let (x, y) = risky(1000);
    let plan = bin(
        vec![batch(vec![("x", f64s(x)), ("bad", labels(y))])],
        &BinningOptions::default(),
    )
    .unwrap();
    let again = BinningPlan::from_json(&plan.to_json()).unwrap();
    assert_eq!(again.to_json(), plan.to_json());
    let v2 = plan.to_json().replacen("\"version\": 1", "\"version\": 2", 1);
    assert!(BinningPlan::from_json(&v2)
        .unwrap_err()
        .to_string()
        .contains("version 2"));
    assert!(BinningPlan::from_json("{\"format\": 3")
        .unwrap_err()
        .to_string()
        .contains("not valid JSON"));
    assert!(BinningPlan::from_json("{}")
        .unwrap_err()
        .to_string()
        .contains("not a risklake binning plan"));
    // A plan applied to a table without its feature names the column.
    let other = batch(vec![("z", f64s(vec![1.0]))]);
    let e = Transformer::new(&plan, Output::Woe)
        .transform(&other)
        .unwrap_err()
        .to_string();
    assert!(e.contains("lacks planned feature column(s): x"), "{e}");
}

#[test]
fn psi_of_a_table_against_itself_is_zero_and_grows_with_shift() {
    let (x, y) = risky(4000);
    let b = batch(vec![("x", f64s(x.clone())), ("bad", labels(y))]);
    let plan = bin(
        vec![b.clone()],
        &BinningOptions {
            method: Method::Quantile,
            ..Default::default()
        },
    )
    .unwrap();
    let mut c = BinCounter::new(&plan);
    c.update(&b, "same").unwrap();
    let shifted = batch(vec![("x", f64s(x.iter().map(|v| v + 60.0).collect()))]);
    c.update(&shifted, "shifted").unwrap();
    let base: Vec<u64> = plan.features[0].bins.iter().map(|b| b.count).collect();
    assert_eq!(psi(&base, &c.counts("same").unwrap()[0]).0, 0.0);
    assert!(psi(&base, &c.counts("shifted").unwrap()[0]).0 > 0.5);
}

#[test]
fn binning_is_deterministic() {
    let (x, y) = risky(50_000);
    let b = batch(vec![("x", f64s(x)), ("bad", labels(y))]);
    for method in [Method::Optimal, Method::Tree, Method::Chimerge] {
        let o = BinningOptions {
            method,
            ..Default::default()
        };
        let a = bin(vec![b.clone()], &o).unwrap().to_json();
        let c = bin(vec![b.clone()], &o).unwrap().to_json();
        assert_eq!(a, c, "{method:?}");
    }
}
