//! The first slice of the GBDT engine: learns the generated credit data, routes missing
//! values, predicts the same from raw values as from bins, subtracts histograms exactly,
//! refuses bad labels and parameters.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use risklake_core::synth::{CreditGenerator, SynthConfig};
use risklake_learn::tree::{HistogramSource, LocalHistograms};
use risklake_learn::{train, DatasetBuilder, DatasetOptions, GbdtModel, GbdtParams, Objective};

fn credit(rows: u64, seed: u64) -> Vec<RecordBatch> {
    let gen = CreditGenerator::new(SynthConfig {
        rows,
        features: 16,
        seed,
    })
    .unwrap();
    gen.batches(4096).map(|b| b.unwrap()).collect()
}

fn options() -> DatasetOptions {
    DatasetOptions {
        exclude: vec!["id".into()],
        ..Default::default()
    }
}

#[test]
fn learns_the_generated_credit_data_and_predicts_the_same_from_raw_values() {
    let mut b = DatasetBuilder::new("bad", None, options()).unwrap();
    for batch in credit(30_000, 1) {
        b.push(batch).unwrap();
    }
    let train_set = b.finish().unwrap();
    // Text columns (grade, purpose, month) are categorical features.
    let grade = train_set
        .feature_names
        .iter()
        .position(|f| f.contains("grade"))
        .unwrap();
    assert!(train_set.mappers[grade].is_categorical());
    assert!(
        train_set.mappers[grade].categories.contains(&"A".to_string()),
        "{:?}",
        train_set.mappers[grade]
    );
    let valid_batches = credit(10_000, 2);
    let valid = train_set.with_mappers(&valid_batches, "bad", None).unwrap();
    let mut losses = Vec::new();
    let mut aucs = Vec::new();
    let params = GbdtParams::default();
    let model = train(&train_set, Some(&valid), &params, &mut |it| {
        losses.push(it.train_loss);
        aucs.push(it.valid_metric.unwrap());
    })
    .unwrap();
    assert_eq!(model.trees.len(), 100);
    assert!(
        losses.windows(2).all(|w| w[1] <= w[0] + 1e-12),
        "training loss never rises"
    );
    let auc = *aucs.last().unwrap();
    assert!(auc > 0.80, "validation AUC {auc}");
    // Raw-value prediction walks thresholds; binned prediction walks bins: same leaves.
    let binned = model.predict_raw_binned(&valid);
    let mut raw = Vec::new();
    for b in &valid_batches {
        raw.extend(model.predict_raw(b).unwrap());
    }
    assert_eq!(binned.len(), raw.len());
    for (a, b) in binned.iter().zip(&raw) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
    // The model survives JSON.
    let again = GbdtModel::from_json(&model.to_json()).unwrap();
    for (i, (t, u)) in model.trees.iter().zip(&again.trees).enumerate() {
        assert_eq!(t, u, "tree {i}");
    }
    assert_eq!(
        again.predict_raw(&valid_batches[0]).unwrap(),
        model.predict_raw(&valid_batches[0]).unwrap()
    );
    let imp = model.importance();
    let noise: f64 = imp.iter().filter(|f| f.0.contains("noise")).map(|f| f.2).sum();
    let total: f64 = imp.iter().map(|f| f.2).sum();
    assert!(noise / total < 0.1, "noise features carry little gain: {imp:?}");
    // Grade is informative: the model splits on it, with categorical splits.
    assert!(model
        .trees
        .iter()
        .flat_map(|t| &t.nodes)
        .any(|n| n.feature == grade && n.categorical && !n.cats_left.is_empty()));
    // Categorical splits export as LightGBM bitsets, the text categories as pandas codes.
    let text = model.to_lightgbm_text().unwrap();
    assert!(
        text.contains("cat_threshold=") && text.contains("pandas_categorical:[["),
        "{}",
        &text[..400]
    );
}

fn xy(x: Vec<Option<f64>>, y: Vec<i32>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("y", DataType::Int32, false),
    ]));
    let cols: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(x)), Arc::new(Int32Array::from(y))];
    RecordBatch::try_new(schema, cols).unwrap()
}

#[test]
fn missing_values_follow_the_learned_direction() {
    // Rows with x missing are as risky as rows with large x: the split must send them there.
    let n = 4000;
    let x: Vec<Option<f64>> = (0..n)
        .map(|i| if i % 4 == 0 { None } else { Some((i % 100) as f64) })
        .collect();
    let y: Vec<i32> = (0..n)
        .map(|i| match x[i] {
            None => (i % 8 != 0) as i32,
            Some(v) => (v >= 50.0 && i % 3 != 0) as i32,
        })
        .collect();
    let mut b = DatasetBuilder::new("y", None, DatasetOptions::default()).unwrap();
    b.push(xy(x, y)).unwrap();
    let ds = b.finish().unwrap();
    let params = GbdtParams {
        num_iterations: 1,
        learning_rate: 1.0,
        tree: risklake_learn::tree::TreeParams {
            num_leaves: 2,
            ..GbdtParams::default().tree
        },
        ..Default::default()
    };
    let model = train(&ds, None, &params, &mut |_| {}).unwrap();
    let root = &model.trees[0].nodes[0];
    assert!((root.threshold - 49.5).abs() < 1e-9, "{root:?}");
    assert!(!root.default_left, "missing goes with the risky right side");
    let p = model
        .predict(&xy(vec![None, Some(10.0), Some(90.0)], vec![0, 0, 0]))
        .unwrap();
    assert!(p[0] > 0.5 && p[1] < 0.5 && p[2] > 0.5, "{p:?}");
}

#[test]
fn histogram_subtraction_equals_a_direct_build() {
    let mut b = DatasetBuilder::new("bad", None, options()).unwrap();
    for batch in credit(5_000, 3) {
        b.push(batch).unwrap();
    }
    let ds = b.finish().unwrap();
    let grad: Vec<f64> = (0..ds.rows()).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
    let hess: Vec<f64> = (0..ds.rows()).map(|i| 0.5 + (i % 3) as f64).collect();
    let all: Vec<u32> = (0..ds.rows() as u32).collect();
    let (left, right): (Vec<u32>, Vec<u32>) = all.iter().partition(|&&r| r % 3 == 0);
    let features: Vec<usize> = (0..ds.num_features()).collect();
    let gh: Vec<[f32; 2]> = grad.iter().zip(&hess).map(|(&g, &h)| [g as f32, h as f32]).collect();
    let parent = LocalHistograms::default().build(&ds, &all, &gh, &features);
    let l = LocalHistograms::default().build(&ds, &left, &gh, &features);
    let mut r = LocalHistograms::default().build(&ds, &right, &gh, &features);
    // The parent histogram is the direct count of each feature's bins.
    for f in 0..ds.num_features() {
        let column = ds.column(f);
        let h = parent.feature(&ds, f);
        for (bin, hb) in h.iter().enumerate() {
            let rows: Vec<usize> = (0..ds.rows()).filter(|&i| column[i] as usize == bin).collect();
            assert_eq!(hb.n as usize, rows.len(), "feature {f} bin {bin}");
            assert!((hb.g - rows.iter().map(|&i| grad[i]).sum::<f64>()).abs() < 1e-9);
            assert!((hb.h - rows.iter().map(|&i| hess[i]).sum::<f64>()).abs() < 1e-9);
        }
    }
    // parent - left = right.
    let mut sub = parent.clone();
    sub.subtract(&l);
    for (a, c) in sub.bins.iter().zip(&r.bins) {
        assert_eq!(a.n, c.n);
        assert!((a.g - c.g).abs() < 1e-9 && (a.h - c.h).abs() < 1e-9);
    }
    // A subset of features: the others stay zero, and those built match.
    let some = [1usize, 3, 4];
    let part = LocalHistograms::default().build(&ds, &left, &gh, &some);
    for f in 0..ds.num_features() {
        let want: Vec<_> = if some.contains(&f) {
            l.feature(&ds, f).to_vec()
        } else {
            vec![Default::default(); l.feature(&ds, f).len()]
        };
        assert_eq!(part.feature(&ds, f), &want[..], "feature {f}");
    }
    r.add(&l);
    assert_eq!(
        r.bins.iter().map(|b| b.n).sum::<u32>(),
        parent.bins.iter().map(|b| b.n).sum::<u32>()
    );
}

#[test]
fn regression_fits_a_curve() {
    let n = 3000;
    let xs: Vec<f64> = (0..n).map(|i| (i as f64) / n as f64 * 4.0 - 2.0).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, false),
        Field::new("y", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Float64Array::from(xs.clone())),
            Arc::new(Float64Array::from(xs.iter().map(|x| x * x).collect::<Vec<_>>())),
        ],
    )
    .unwrap();
    let mut b = DatasetBuilder::new("y", None, DatasetOptions::default()).unwrap();
    b.push(batch.clone()).unwrap();
    let ds = b.finish().unwrap();
    let mut params = GbdtParams::default();
    params.set("objective", "regression").unwrap();
    let mut rmse = Vec::new();
    let model = train(&ds, None, &params, &mut |it| rmse.push(it.train_loss)).unwrap();
    assert_eq!(model.params.objective, Objective::Regression);
    assert!(
        *rmse.last().unwrap() < 0.05 * rmse[0],
        "{} -> {}",
        rmse[0],
        rmse.last().unwrap()
    );
}

#[test]
fn bad_labels_and_parameters_are_refused_by_name() {
    let mut b = DatasetBuilder::new("y", None, DatasetOptions::default()).unwrap();
    b.push(xy(vec![Some(1.0), Some(2.0), Some(3.0)], vec![0, 1, 2]))
        .unwrap();
    let ds = b.finish().unwrap();
    let e = train(&ds, None, &GbdtParams::default(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("labels 0 or 1") && e.contains("row 3"), "{e}");
    let mut p = GbdtParams::default();
    assert!(p
        .set("num_leaves", "1")
        .unwrap_err()
        .to_string()
        .contains("num_leaves = 1"));
    assert!(p
        .set("learning_rat", "0.1")
        .unwrap_err()
        .to_string()
        .contains("unknown parameter 'learning_rat'"));
    assert!(p
        .set("learning_rate", "fast")
        .unwrap_err()
        .to_string()
        .contains("not a number"));
    let e = DatasetBuilder::new("nope", None, DatasetOptions::default())
        .and_then(|mut b| {
            b.push(xy(vec![Some(1.0)], vec![1]))?;
            b.finish()
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("label column 'nope'"), "{e}");
    assert!(GbdtModel::from_json("{\"format\":\"risklake.gbdt\",\"version\":7}")
        .unwrap_err()
        .to_string()
        .contains("version"));
    let nan_label = DatasetBuilder::new(
        "x",
        None,
        DatasetOptions {
            features: vec!["y".into()],
            ..Default::default()
        },
    )
    .and_then(|mut b| {
        b.push(xy(vec![Some(1.0), None], vec![1, 0]))?;
        b.finish()
    })
    .unwrap_err()
    .to_string();
    assert!(nan_label.contains("null at row 2"), "{nan_label}");
}

/// Raw scores of batch row `row` with `feature` set to each grid value in turn.
fn along(model: &GbdtModel, batch: &RecordBatch, row: usize, feature: &str, grid: &[f64]) -> Vec<f64> {
    let one = batch.slice(row, 1);
    let schema = one.schema();
    let idx = schema.index_of(feature).unwrap();
    grid.iter()
        .map(|&v| {
            let mut cols: Vec<ArrayRef> = one.columns().to_vec();
            cols[idx] = Arc::new(Float64Array::from(vec![v]));
            let fields: Vec<Field> = schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    if i == idx {
                        Field::new(f.name(), DataType::Float64, true)
                    } else {
                        f.as_ref().clone()
                    }
                })
                .collect();
            let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
            model.predict_raw(&b).unwrap()[0]
        })
        .collect()
}

#[test]
fn monotone_constraints_make_predictions_monotone_along_the_feature() {
    let batches = credit(20_000, 5);
    let mut b = DatasetBuilder::new("bad", None, options()).unwrap();
    for batch in batches.clone() {
        b.push(batch).unwrap();
    }
    let ds = b.finish().unwrap();
    let f = ds.feature_names.iter().position(|n| n == "x00_amount").unwrap();
    let grid: Vec<f64> = (0..60).map(|i| 200.0 * 1.15f64.powi(i)).collect();
    let free = train(&ds, None, &GbdtParams::default(), &mut |_| {}).unwrap();
    let mut constrained_params = GbdtParams::default();
    for sign in [1i8, -1] {
        let mut m = vec![0i8; ds.num_features()];
        m[f] = sign;
        constrained_params.tree.monotone = m;
        let model = train(&ds, None, &constrained_params, &mut |_| {}).unwrap();
        let mut free_violations = 0;
        for row in (0..400).step_by(7) {
            let s = along(&model, &batches[0], row, "x00_amount", &grid);
            let ok = s.windows(2).all(|w| {
                if sign > 0 {
                    w[1] >= w[0] - 1e-12
                } else {
                    w[1] <= w[0] + 1e-12
                }
            });
            assert!(ok, "sign {sign}, row {row}: {s:?}");
            let u = along(&free, &batches[0], row, "x00_amount", &grid);
            if !u.windows(2).all(|w| if sign > 0 { w[1] >= w[0] } else { w[1] <= w[0] }) {
                free_violations += 1;
            }
        }
        assert!(
            free_violations > 0,
            "the unconstrained model is not monotone in x00_amount, so the check can fail"
        );
    }
    let mut bad = GbdtParams::default();
    bad.tree.monotone = vec![1];
    let e = train(&ds, None, &bad, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("monotone_constraints has 1 values"), "{e}");
    assert!(GbdtParams::default()
        .set("monotone_constraints", "1,2")
        .unwrap_err()
        .to_string()
        .contains("'2'"));
}

#[test]
fn sampling_is_seeded_and_scale_pos_weight_raises_scores() {
    let mut b = DatasetBuilder::new("bad", None, options()).unwrap();
    for batch in credit(15_000, 6) {
        b.push(batch).unwrap();
    }
    let ds = b.finish().unwrap();
    let valid_batches = credit(5_000, 7);
    let valid = ds.with_mappers(&valid_batches, "bad", None).unwrap();
    let mut p = GbdtParams::default();
    for (k, v) in [
        ("bagging_fraction", "0.7"),
        ("bagging_freq", "1"),
        ("feature_fraction", "0.6"),
        ("feature_fraction_bynode", "0.8"),
        ("seed", "11"),
        ("num_iterations", "60"),
    ] {
        p.set(k, v).unwrap();
    }
    let mut auc = 0.0;
    let a = train(&ds, Some(&valid), &p, &mut |it| auc = it.valid_metric.unwrap()).unwrap();
    let again = train(&ds, None, &p, &mut |_| {}).unwrap();
    assert_eq!(a.trees, again.trees, "same seed, same model");
    p.set("seed", "12").unwrap();
    let other = train(&ds, None, &p, &mut |_| {}).unwrap();
    assert_ne!(a.trees, other.trees, "another seed, another sample");
    assert!(auc > 0.78, "sampled model still learns: {auc}");
    // Trees used only the sampled features: some feature is unused by some tree.
    assert!(a.trees.iter().any(|t| t.nodes.len() >= 5
        && t.nodes
            .iter()
            .map(|n| n.feature)
            .collect::<std::collections::HashSet<_>>()
            .len()
            < ds.num_features()));

    let base = train(
        &ds,
        None,
        &GbdtParams {
            num_iterations: 20,
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let mut heavy = GbdtParams {
        num_iterations: 20,
        ..Default::default()
    };
    heavy.set("scale_pos_weight", "4").unwrap();
    let heavy = train(&ds, None, &heavy, &mut |_| {}).unwrap();
    let mean =
        |m: &GbdtModel| m.predict(&valid_batches[0]).unwrap().iter().sum::<f64>() / valid_batches[0].num_rows() as f64;
    assert!(mean(&heavy) > mean(&base) + 0.05, "{} vs {}", mean(&heavy), mean(&base));
    assert!(GbdtParams::default()
        .set("bagging_fraction", "1.5")
        .unwrap_err()
        .to_string()
        .contains("(0, 1]"));
}

#[test]
fn early_stopping_on_logloss_and_ks_metric() {
    let mut b = DatasetBuilder::new("bad", None, options()).unwrap();
    for batch in credit(10_000, 8) {
        b.push(batch).unwrap();
    }
    let ds = b.finish().unwrap();
    let valid = ds.with_mappers(&credit(5_000, 9), "bad", None).unwrap();
    let mut p = GbdtParams::default();
    for (k, v) in [
        ("learning_rate", "0.5"),
        ("num_iterations", "300"),
        ("metric", "binary_logloss"),
        ("early_stopping_rounds", "5"),
    ] {
        p.set(k, v).unwrap();
    }
    let mut seen = Vec::new();
    let m = train(&ds, Some(&valid), &p, &mut |it| seen.push(it.valid_metric.unwrap())).unwrap();
    let best = m.best_iteration.unwrap();
    assert!(
        m.trees.len() < 300 && m.trees.len() == best,
        "stopped at {} (best {best})",
        m.trees.len()
    );
    let min = seen.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(seen[best - 1], min, "the best iteration has the lowest logloss");
    assert_eq!(seen.len(), best + 5);
    p.set("metric", "ks").unwrap();
    p.set("num_iterations", "10").unwrap();
    let mut ks = 0.0;
    train(&ds, Some(&valid), &p, &mut |it| ks = it.valid_metric.unwrap()).unwrap();
    assert!(ks > 0.3 && ks < 1.0, "{ks}");
    assert!(GbdtParams::default().set("metric", "gini").is_err());
}

/// Depth of every leaf of a tree (leaf index -> depth).
fn leaf_depths(t: &risklake_learn::tree::Tree) -> Vec<usize> {
    let mut depths = vec![0; t.leaf_values.len()];
    let mut stack = vec![(0i32, 0usize)];
    if t.nodes.is_empty() {
        return depths;
    }
    while let Some((at, d)) = stack.pop() {
        let n = &t.nodes[at as usize];
        for c in [n.left, n.right] {
            if c < 0 {
                depths[!c as usize] = d + 1;
            } else {
                stack.push((c, d + 1));
            }
        }
    }
    depths
}

#[test]
fn depthwise_and_symmetric_trees_grow_by_level() {
    let mut b = DatasetBuilder::new("bad", None, options()).unwrap();
    for batch in credit(20_000, 21) {
        b.push(batch).unwrap();
    }
    let ds = b.finish().unwrap();
    let valid_batches = credit(5_000, 22);
    let valid = ds.with_mappers(&valid_batches, "bad", None).unwrap();
    let fit = |policy: &str, extra: &[(&str, &str)]| {
        let mut p = GbdtParams::default();
        p.set("grow_policy", policy).unwrap();
        p.set("num_iterations", "40").unwrap();
        for (k, v) in extra {
            p.set(k, v).unwrap();
        }
        let mut auc = 0.0;
        let m = train(&ds, Some(&valid), &p, &mut |it| auc = it.valid_metric.unwrap()).unwrap();
        (m, auc)
    };
    // Depth-wise, depth 3, up to 8 leaves: the first trees are complete binary trees.
    let (depthwise, auc_d) = fit("depthwise", &[("max_depth", "3"), ("num_leaves", "8")]);
    let first = &depthwise.trees[0];
    assert_eq!(first.leaf_values.len(), 8);
    assert!(leaf_depths(first).iter().all(|&d| d == 3), "{:?}", leaf_depths(first));
    // Leaf-wise with the same budget grows lopsided trees on this data.
    let (leafwise, auc_l) = fit("leafwise", &[("num_leaves", "8")]);
    assert!(leafwise.trees.iter().any(|t| leaf_depths(t).iter().any(|&d| d > 3)));
    // Symmetric, depth 4: 16 leaves, and every level splits on one feature and threshold.
    let (symmetric, auc_s) = fit("symmetric", &[("max_depth", "4")]);
    for t in &symmetric.trees {
        if t.nodes.is_empty() {
            continue;
        }
        assert_eq!(t.leaf_values.len(), 16);
        assert!(leaf_depths(t).iter().all(|&d| d == 4));
        let mut level = vec![0i32];
        while !level.is_empty() {
            let n0 = &t.nodes[level[0] as usize];
            for &i in &level {
                let n = &t.nodes[i as usize];
                assert_eq!(
                    (n.feature, n.bin, n.default_left),
                    (n0.feature, n0.bin, n0.default_left)
                );
            }
            level = level
                .iter()
                .flat_map(|&i| [t.nodes[i as usize].left, t.nodes[i as usize].right])
                .filter(|&c| c >= 0)
                .collect();
        }
    }
    // All three learn, and predict the same from raw values as from bins.
    for (name, auc) in [("depthwise", auc_d), ("leafwise", auc_l), ("symmetric", auc_s)] {
        assert!(auc > 0.8, "{name}: AUC {auc}");
    }
    for m in [&depthwise, &symmetric] {
        let binned = m.predict_raw_binned(&valid);
        let raw = m.predict_raw(&valid_batches[0]).unwrap();
        for (a, b) in raw.iter().zip(&binned) {
            assert!((a - b).abs() < 1e-9);
        }
    }
    let e = GbdtParams::default()
        .set("grow_policy", "sideways")
        .unwrap_err()
        .to_string();
    assert!(e.contains("leafwise, depthwise, symmetric"), "{e}");
    let mut p = GbdtParams::default();
    p.set("grow_policy", "symmetric").unwrap();
    let e = p.set("monotone_constraints", "1").unwrap_err().to_string();
    assert!(e.contains("symmetric"), "{e}");
}

#[test]
fn goss_samples_by_gradient_and_still_learns() {
    let mut b = DatasetBuilder::new("bad", None, options()).unwrap();
    for batch in credit(30_000, 31) {
        b.push(batch).unwrap();
    }
    let ds = b.finish().unwrap();
    let valid_batches = credit(8_000, 32);
    let valid = ds.with_mappers(&valid_batches, "bad", None).unwrap();
    let fit = |extra: &[(&str, &str)]| {
        let mut p = GbdtParams::default();
        p.set("num_iterations", "60").unwrap();
        p.set("learning_rate", "0.2").unwrap();
        for (k, v) in extra {
            p.set(k, v).unwrap();
        }
        let mut auc = 0.0;
        let m = train(&ds, Some(&valid), &p, &mut |it| auc = it.valid_metric.unwrap()).unwrap();
        (m, auc)
    };
    let (full, auc_full) = fit(&[]);
    let (goss, auc_goss) = fit(&[("data_sample_strategy", "goss"), ("seed", "3")]);
    let (again, _) = fit(&[("data_sample_strategy", "goss"), ("seed", "3")]);
    assert_eq!(goss.trees, again.trees, "same seed, same model");
    // The first 1 / learning_rate = 5 trees use every row, as without GOSS.
    assert_eq!(goss.trees[..5], full.trees[..5]);
    assert_ne!(goss.trees[5..], full.trees[5..]);
    // The sampled trees see fewer rows: their leaf counts sum to less than the data.
    let seen: u32 = goss.trees[10].leaf_counts.iter().sum();
    assert!(seen < (ds.rows() as f64 * 0.45) as u32, "{seen} of {}", ds.rows());
    assert!((auc_goss - auc_full).abs() < 0.01, "GOSS {auc_goss} vs full {auc_full}");
    for (k, v) in [
        ("top_rate", "0"),
        ("other_rate", "1.2"),
        ("data_sample_strategy", "dropout"),
    ] {
        let e = GbdtParams::default().set(k, v).unwrap_err().to_string();
        assert!(e.contains(k), "{e}");
    }
}

/// E[tree(x) | the features in `known` are x's]: unknown features follow both children,
/// weighted by the training rows under each (the expectation TreeSHAP attributes).
fn conditional(t: &risklake_learn::tree::Tree, x: &[f64], known: &[bool]) -> f64 {
    let covers = risklake_learn::shap::node_covers(t);
    fn walk(t: &risklake_learn::tree::Tree, covers: &[f64], c: i32, x: &[f64], known: &[bool]) -> f64 {
        if c < 0 {
            return t.leaf_values[!c as usize];
        }
        let n = &t.nodes[c as usize];
        if known[n.feature] {
            let next = if n.goes_left_raw(x) { n.left } else { n.right };
            return walk(t, covers, next, x, known);
        }
        let cover = |k: i32| {
            if k < 0 {
                t.leaf_counts[!k as usize] as f64
            } else {
                covers[k as usize]
            }
        };
        (cover(n.left) * walk(t, covers, n.left, x, known) + cover(n.right) * walk(t, covers, n.right, x, known))
            / covers[c as usize]
    }
    if t.nodes.is_empty() {
        return t.leaf_values[0];
    }
    walk(t, &covers, 0, x, known)
}

#[test]
fn shap_values_are_the_exact_shapley_values_and_sum_to_the_score() {
    let mut b = DatasetBuilder::new(
        "bad",
        None,
        DatasetOptions {
            features: vec![
                "x00_amount".into(),
                "x01_inquiries".into(),
                "x02_utilization".into(),
                "x03_age".into(),
            ],
            ..Default::default()
        },
    )
    .unwrap();
    let batches = credit(8_000, 41);
    for batch in batches.iter().cloned() {
        b.push(batch).unwrap();
    }
    let ds = b.finish().unwrap();
    let mut p = GbdtParams::default();
    for (k, v) in [("num_iterations", "8"), ("num_leaves", "12"), ("min_data_in_leaf", "5")] {
        p.set(k, v).unwrap();
    }
    let model = train(&ds, None, &p, &mut |_| {}).unwrap();
    let batch = &batches[0];
    let shap = model.predict_shap(batch).unwrap();
    let raw = model.predict_raw(batch).unwrap();
    let leaves = model.predict_leaf(batch).unwrap();
    let nf = model.feature_names.len();
    assert_eq!(nf, 4);
    let columns: Vec<Vec<f64>> = model
        .feature_names
        .iter()
        .map(|f| risklake_learn::dataset::feature_values(batch, f).unwrap())
        .collect();
    let fact = |k: usize| (1..=k).product::<usize>() as f64;
    for r in 0..40 {
        let row = &shap[r * (nf + 1)..(r + 1) * (nf + 1)];
        assert!(
            (row.iter().sum::<f64>() - raw[r]).abs() < 1e-9,
            "row {r}: contributions sum to the raw score"
        );
        // Brute force over the 2^4 subsets of features, tree by tree.
        let x: Vec<f64> = columns.iter().map(|c| c[r]).collect();
        let mut exact = vec![0.0; nf];
        for t in &model.trees {
            for i in 0..nf {
                for mask in 0..(1u32 << nf) {
                    if mask & (1 << i) != 0 {
                        continue;
                    }
                    let known: Vec<bool> = (0..nf).map(|f| mask & (1 << f) != 0).collect();
                    let mut with = known.clone();
                    with[i] = true;
                    let s = mask.count_ones() as usize;
                    let weight = fact(s) * fact(nf - s - 1) / fact(nf);
                    exact[i] += weight * (conditional(t, &x, &with) - conditional(t, &x, &known));
                }
            }
        }
        for i in 0..nf {
            assert!(
                (row[i] - exact[i]).abs() < 1e-9,
                "row {r} feature {i}: {} vs {}",
                row[i],
                exact[i]
            );
        }
        // Leaf indices: the sum of their values is the raw score.
        let by_leaf: f64 = model.init_score
            + model
                .trees
                .iter()
                .enumerate()
                .map(|(k, t)| t.leaf_values[leaves[r * model.trees.len() + k] as usize])
                .sum::<f64>();
        assert!((by_leaf - raw[r]).abs() < 1e-12);
    }
}

#[test]
fn constant_features_identifier_categories_and_damaged_models_are_clear_errors() {
    // Every feature constant: nothing to split on.
    let mut b = DatasetBuilder::new("y", None, DatasetOptions::default()).unwrap();
    b.push(xy(vec![Some(5.0); 50], (0..50).map(|i| i % 2).collect()))
        .unwrap();
    let ds = b.finish().unwrap();
    let e = train(&ds, None, &GbdtParams::default(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("every feature is constant") && e.contains("x"), "{e}");

    // A text column with a distinct value per row is refused as a categorical feature.
    let n = 300;
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer", DataType::Utf8, false),
        Field::new("y", DataType::Int32, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(arrow::array::StringArray::from(
                (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>(),
            )) as ArrayRef,
            Arc::new(Int32Array::from((0..n).map(|i| i % 2).collect::<Vec<_>>())),
        ],
    )
    .unwrap();
    let mut opts = DatasetOptions::default();
    opts.set("max_categories", "100").unwrap();
    let mut b = DatasetBuilder::new("y", None, opts).unwrap();
    b.push(batch).unwrap();
    let e = b.finish().unwrap_err().to_string();
    assert!(
        e.contains("'customer' has 300 distinct values") && e.contains("max_categories = 100"),
        "{e}"
    );
    for (k, v, want) in [
        ("max_bin", "1", "max_bin = 1"),
        ("max_bin", "70000", "[2, 65535]"),
        ("max_cat_bins", "300", "max_cat_bins = 300"),
        ("bin_construct_sample_cnt", "x", "not a non-negative integer"),
    ] {
        let e = DatasetOptions::default().set(k, v).unwrap_err().to_string();
        assert!(e.contains(want), "{k}={v}: {e}");
    }

    // Damaged model files.
    let mut b = DatasetBuilder::new("bad", None, options()).unwrap();
    for batch in credit(3_000, 51) {
        b.push(batch).unwrap();
    }
    let ds = b.finish().unwrap();
    let p = GbdtParams {
        num_iterations: 3,
        ..Default::default()
    };
    let model = train(&ds, None, &p, &mut |_| {}).unwrap();
    let text = model.to_json();
    let err = |t: &str| GbdtModel::from_json(t).unwrap_err().to_string();
    assert!(err(&text[..text.len() / 2]).contains("not valid JSON"));
    assert!(err(&text.replace("\"version\":1", "\"version\":7")).contains("version Some(7) is not supported"));
    assert!(err(&text.replace("risklake.gbdt", "risklake.scorecard")).contains("not a risklake tree model"));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["trees"][1]["nodes"][0]["left"] = serde_json::json!(-99);
    assert!(err(&v.to_string()).contains("tree 1 node 0 has an invalid child -99"));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["trees"][0]["nodes"][0]["feature"] = serde_json::json!(500);
    assert!(err(&v.to_string()).contains("splits on feature 500"));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["trees"][2]["leaf_values"].as_array_mut().unwrap().pop();
    assert!(err(&v.to_string()).contains("tree 2 has"));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["trees"][0]["nodes"][0]["right"] = v["trees"][0]["nodes"][0]["left"].clone();
    assert!(err(&v.to_string()).contains("invalid child"));
    // The undamaged text loads.
    assert_eq!(GbdtModel::from_json(&text).unwrap().trees, model.trees);
}

#[test]
fn the_model_does_not_depend_on_the_thread_count() {
    let mut b = DatasetBuilder::new("bad", None, options()).unwrap();
    for batch in credit(20_000, 61) {
        b.push(batch).unwrap();
    }
    let ds = b.finish().unwrap();
    let fit = |threads: &str| {
        let mut p = GbdtParams::default();
        for (k, v) in [
            ("num_iterations", "15"),
            ("num_threads", threads),
            ("feature_fraction", "0.8"),
        ] {
            p.set(k, v).unwrap();
        }
        train(&ds, None, &p, &mut |_| {}).unwrap()
    };
    let one = fit("1");
    assert_eq!(one.trees, fit("3").trees);
    assert_eq!(one.trees, fit("0").trees);
}

#[test]
fn more_than_255_bins_store_two_bytes_and_train_the_same_way() {
    let batches = credit(20_000, 71);
    let build = |max_bin: &str| {
        let mut opts = options();
        opts.set("max_bin", max_bin).unwrap();
        let mut b = DatasetBuilder::new("bad", None, opts).unwrap();
        for batch in batches.iter().cloned() {
            b.push(batch).unwrap();
        }
        b.finish().unwrap()
    };
    let wide = build("1000");
    assert!(matches!(wide.bins, risklake_learn::dataset::BinMatrix::U16(_)));
    let amount = wide.feature_names.iter().position(|f| f == "x00_amount").unwrap();
    assert!(
        wide.mappers[amount].regular_bins() > 256,
        "{}",
        wide.mappers[amount].regular_bins()
    );
    let narrow = build("255");
    assert!(matches!(narrow.bins, risklake_learn::dataset::BinMatrix::U8(_)));
    let p = GbdtParams {
        num_iterations: 30,
        ..Default::default()
    };
    let model = train(&wide, None, &p, &mut |_| {}).unwrap();
    // Splits use bins above 255, and bins and raw values route rows alike.
    assert!(model.trees.iter().flat_map(|t| &t.nodes).any(|n| n.bin > 255));
    let binned = model.predict_raw_binned(&wide);
    let mut raw = Vec::new();
    for b in &batches {
        raw.extend(model.predict_raw(b).unwrap());
    }
    for (a, b) in binned.iter().zip(&raw) {
        assert!((a - b).abs() < 1e-9);
    }
    // The finer bins fit the training data at least as well.
    let coarse = train(&narrow, None, &p, &mut |_| {}).unwrap();
    let auc = |m: &GbdtModel, ds: &risklake_learn::Dataset| {
        let s = m.predict_raw_binned(ds);
        let pos: Vec<f64> = ds.label.clone();
        let neg: Vec<f64> = ds.label.iter().map(|y| 1.0 - y).collect();
        risklake_core::metrics::auc_weighted(&s, &pos, &neg).unwrap()
    };
    assert!(auc(&model, &wide) > auc(&coarse, &narrow) - 0.002);
}
