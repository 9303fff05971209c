//! Random forests: learn the generated credit data (out-of-bag AUC close to the hold-out
//! AUC), a tree's leaves are the bad rates of its bootstrap rows, per-node histograms pick
//! the same splits as subtraction, results do not depend on the thread count, bad input.

use arrow::record_batch::RecordBatch;
use risklake_core::metrics::auc;
use risklake_core::synth::{CreditGenerator, SynthConfig};
use risklake_learn::forest::{train_forest, MaxFeatures, RfParams};
use risklake_learn::gbdt::Objective;
use risklake_learn::{DatasetBuilder, DatasetOptions, GbdtModel};

fn credit(rows: u64, seed: u64) -> Vec<RecordBatch> {
    let gen = CreditGenerator::new(SynthConfig {
        rows,
        features: 16,
        seed,
    })
    .unwrap();
    gen.batches(4096).map(|b| b.unwrap()).collect()
}

fn dataset(batches: Vec<RecordBatch>, label: &str) -> risklake_learn::Dataset {
    let mut b = DatasetBuilder::new(
        label,
        None,
        DatasetOptions {
            exclude: vec!["id".into(), "bad".into(), "income".into()]
                .into_iter()
                .filter(|c| c != label)
                .collect(),
            ..Default::default()
        },
    )
    .unwrap();
    for batch in batches {
        b.push(batch).unwrap();
    }
    b.finish().unwrap()
}

fn labels(batches: &[RecordBatch]) -> Vec<bool> {
    batches
        .iter()
        .flat_map(|b| {
            let y = risklake_learn::dataset::feature_values(b, "bad").unwrap();
            y.into_iter().map(|v| v == 1.0)
        })
        .collect()
}

fn predict(model: &GbdtModel, batches: &[RecordBatch]) -> Vec<f64> {
    batches.iter().flat_map(|b| model.predict(b).unwrap()).collect()
}

#[test]
fn learns_credit_data_with_an_honest_out_of_bag_score() {
    let train = dataset(credit(20_000, 1), "bad");
    let params = RfParams {
        n_estimators: 40,
        max_depth: 8,
        min_samples_leaf: 5,
        seed: 3,
        ..Default::default()
    };
    let done = std::sync::atomic::AtomicUsize::new(0);
    let model = train_forest(&train, &params, &|| {
        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(done.into_inner(), 40);
    assert_eq!(model.trees.len(), 40);
    let test = credit(10_000, 2);
    let p = predict(&model, &test);
    assert!(p.iter().all(|&v| (0.0..=1.0).contains(&v)), "probabilities");
    let holdout = auc(&p, &labels(&test)).unwrap();
    let oob = model.forest.as_ref().unwrap().oob.clone().unwrap();
    assert!(holdout > 0.75, "hold-out AUC {holdout}");
    // Out-of-bag rows are unseen by their trees: the OOB AUC estimates the hold-out one.
    assert!(
        (oob.score - holdout).abs() < 0.02,
        "OOB {} vs hold-out {holdout}",
        oob.score
    );
    assert!(oob.rows > 19_000);
    // Depth and leaf-size limits hold.
    for t in &model.trees {
        assert!(t.leaf_values.len() <= 256);
        assert!(t.leaf_counts.iter().all(|&c| c >= 1));
    }
    // The model round-trips through JSON as a forest.
    let back = GbdtModel::from_json(&model.to_json()).unwrap();
    assert!(back.forest.is_some());
    assert_eq!(predict(&back, &test), p);
}

#[test]
fn a_single_full_sample_tree_holds_leaf_bad_rates() {
    let train = dataset(credit(5_000, 4), "bad");
    let params = RfParams {
        n_estimators: 1,
        max_depth: 3,
        bootstrap: false,
        max_features: MaxFeatures::All,
        ..Default::default()
    };
    let model = train_forest(&train, &params, &|| {}).unwrap();
    let t = &model.trees[0];
    assert_eq!(t.leaf_values.len(), 8, "a full depth-3 tree");
    // Every leaf's value is the bad rate of its rows.
    let mut bad = vec![0.0; 8];
    let mut all = vec![0.0; 8];
    for r in 0..train.rows() {
        let l = t.leaf_binned(&train, r);
        bad[l] += train.label[r];
        all[l] += 1.0;
    }
    for l in 0..8 {
        assert!((t.leaf_values[l] - bad[l] / all[l]).abs() < 1e-6, "leaf {l}");
        assert_eq!(t.leaf_counts[l] as f64, all[l]);
    }
    // The root split is the best Gini split over all features: the same as GBDT's
    // depth-wise learner with histogram subtraction on the same gradients would choose,
    // i.e. the largest impurity decrease of any single split.
    let root = &t.nodes[0];
    let gini_gain = |f: usize, bin: u16, missing_left: bool| -> f64 {
        let (mut nl, mut bl, mut nr, mut br) = (0.0, 0.0, 0.0, 0.0);
        let missing = train.mappers[f].missing_bin();
        for r in 0..train.rows() {
            let b = train.bin(r, f);
            if (b == missing && missing_left) || (b != missing && b <= bin) {
                nl += 1.0;
                bl += train.label[r];
            } else {
                nr += 1.0;
                br += train.label[r];
            }
        }
        if nl == 0.0 || nr == 0.0 {
            return 0.0;
        }
        bl * bl / nl + br * br / nr
    };
    assert!(!root.categorical);
    let ours = gini_gain(root.feature, root.bin, root.default_left);
    for f in 0..train.num_features() {
        if train.mappers[f].is_categorical() {
            continue;
        }
        for b in 0..train.mappers[f].regular_bins() as u16 {
            for left in [false, true] {
                assert!(
                    gini_gain(f, b, left) <= ours + 1e-6,
                    "feature {f} bin {b} beats the root split"
                );
            }
        }
    }
}

#[test]
fn seeded_independent_of_threads_and_regression_works() {
    let train = dataset(credit(8_000, 5), "bad");
    let mut params = RfParams {
        n_estimators: 12,
        seed: 11,
        ..Default::default()
    };
    let test = credit(2_000, 6);
    params.num_threads = 1;
    let a = predict(&train_forest(&train, &params, &|| {}).unwrap(), &test);
    params.num_threads = 3;
    let b = predict(&train_forest(&train, &params, &|| {}).unwrap(), &test);
    assert_eq!(a, b, "the forest does not depend on the thread count");
    params.seed = 12;
    let c = predict(&train_forest(&train, &params, &|| {}).unwrap(), &test);
    assert_ne!(a, c, "another seed, another forest");
    // Regression on a numeric column: R^2 out of bag is positive.
    let reg = dataset(credit(8_000, 7), "x03_age");
    let mut params = RfParams::default();
    params.set("objective", "regression").unwrap();
    params.set("n_estimators", "20").unwrap();
    assert_eq!(params.max_features, MaxFeatures::All);
    let m = train_forest(&reg, &params, &|| {}).unwrap();
    let oob = m.forest.unwrap().oob.unwrap();
    assert!(oob.score.is_finite() && oob.secondary > 0.0, "{oob:?}");
    assert_eq!(params.objective, Objective::Regression);
}

#[test]
fn bad_labels_and_parameters_are_refused() {
    let reg = dataset(credit(1_000, 8), "x03_age");
    let e = train_forest(&reg, &RfParams::default(), &|| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("labels 0 or 1"), "{e}");
    let mut p = RfParams::default();
    assert!(p
        .set("max_features", "2.5")
        .unwrap_err()
        .to_string()
        .contains("max_features"));
    assert!(p
        .set("n_estimators", "0")
        .unwrap_err()
        .to_string()
        .contains("n_estimators"));
    assert!(p.set("nope", "1").unwrap_err().to_string().contains("unknown"));
    assert!(p
        .set("bootstrap", "maybe")
        .unwrap_err()
        .to_string()
        .contains("bootstrap"));
}
