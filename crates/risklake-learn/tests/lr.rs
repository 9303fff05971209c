//! Logistic regression against statsmodels' Logit and scikit-learn's penalized fits
//! (fixtures made by tests/fixtures/lr/make_fixtures.py), and its handling of bad input.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use risklake_learn::lr::{fit, stepwise, Criterion, Direction, Inputs, LrModel, LrParams, Penalty};
use risklake_learn::DesignBuilder;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lr");

fn fixture() -> (RecordBatch, serde_json::Value) {
    let text = std::fs::read_to_string(format!("{DIR}/data.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); header.len()];
    for line in lines {
        for (c, v) in line.split(',').enumerate() {
            cols[c].push(v.parse().unwrap());
        }
    }
    let batch = batch_of(&header.iter().map(String::as_str).collect::<Vec<_>>(), cols);
    let expected = serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/expected.json")).unwrap()).unwrap();
    (batch, expected)
}

fn batch_of(names: &[&str], cols: Vec<Vec<f64>>) -> RecordBatch {
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Float64, false))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = cols
        .into_iter()
        .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef)
        .collect();
    RecordBatch::try_new(schema, arrays).unwrap()
}

fn design(batch: &RecordBatch, features: &[&str]) -> risklake_learn::Design {
    let features: Vec<String> = features.iter().map(|s| s.to_string()).collect();
    let mut b = DesignBuilder::new("bad", None, None, &features, &[], None).unwrap();
    // Two batches: the builder appends.
    b.push(batch.slice(0, 1000)).unwrap();
    b.push(batch.slice(1000, batch.num_rows() - 1000)).unwrap();
    b.finish().unwrap()
}

/// The feature list `key` of the fixture.
fn names<'a>(expected: &'a serde_json::Value, key: &str) -> Vec<&'a str> {
    expected[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn nums(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn close(ours: f64, theirs: f64, rel: f64, what: &str) {
    let err = (ours - theirs).abs() / theirs.abs().max(1e-300);
    assert!(
        err < rel,
        "{what}: ours {ours:e} vs reference {theirs:e} (relative error {err:e})"
    );
}

#[test]
fn unpenalized_fit_equals_statsmodels_logit() {
    let (batch, expected) = fixture();
    let features = names(&expected, "features");
    let d = design(&batch, &features);
    let m = fit(&d, &LrParams::default(), Inputs::Raw, "bad").unwrap();
    let sm = &expected["statsmodels"];
    assert!(m.summary.converged, "{:?}", m.summary);
    assert!(m.summary.grad_norm < 1e-8);
    for (field, key) in [
        ("coef", "params"),
        ("std_err", "bse"),
        ("z", "tvalues"),
        ("p_value", "pvalues"),
        ("ci_low", "ci_low"),
        ("ci_high", "ci_high"),
    ] {
        for (c, theirs) in m.coefficients.iter().zip(nums(&sm[key])) {
            let ours = match field {
                "coef" => c.coef,
                "std_err" => c.std_err.unwrap(),
                "z" => c.z.unwrap(),
                "p_value" => c.p_value.unwrap(),
                "ci_low" => c.ci_low.unwrap(),
                _ => c.ci_high.unwrap(),
            };
            close(ours, theirs, 1e-6, &format!("{field} of {}", c.name));
        }
    }
    for (c, theirs) in m.coefficients.iter().skip(1).zip(nums(&sm["vif"])) {
        close(c.vif.unwrap(), theirs, 1e-6, &format!("VIF of {}", c.name));
    }
    let s = &m.summary;
    close(s.log_likelihood, sm["llf"].as_f64().unwrap(), 1e-10, "log-likelihood");
    close(
        s.null_log_likelihood,
        sm["llnull"].as_f64().unwrap(),
        1e-8,
        "null log-likelihood",
    );
    close(s.aic, sm["aic"].as_f64().unwrap(), 1e-10, "AIC");
    close(s.bic, sm["bic"].as_f64().unwrap(), 1e-10, "BIC");
    close(s.pseudo_r2, sm["prsquared"].as_f64().unwrap(), 1e-8, "pseudo R2");
    close(s.llr_p_value, sm["llr_pvalue"].as_f64().unwrap(), 1e-6, "LLR p-value");
    // The model scores rows with its original-unit coefficients.
    let proba = m.predict(&batch).unwrap();
    let p = nums(&sm["params"]);
    let cols: Vec<&Float64Array> = features
        .iter()
        .map(|f| batch.column_by_name(f).unwrap().as_any().downcast_ref().unwrap())
        .collect();
    for r in [0, 17, 2999] {
        let eta = p[0] + (0..features.len()).map(|j| p[j + 1] * cols[j].value(r)).sum::<f64>();
        close(proba[r], 1.0 / (1.0 + (-eta).exp()), 1e-7, "probability");
    }
    // Saved and loaded, it is the same model.
    let back = LrModel::from_json(&m.to_json()).unwrap();
    assert_eq!(back.predict(&batch).unwrap(), proba);
}

#[test]
fn penalized_fits_equal_scikit_learn() {
    let (batch, expected) = fixture();
    let features = names(&expected, "penalized_features");
    let d = design(&batch, &features);
    for case in expected["sklearn"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut params = LrParams::default();
        params.set("penalty", name).unwrap();
        params.set("C", &case["C"].to_string()).unwrap();
        params.set("l1_ratio", &case["l1_ratio"].to_string()).unwrap();
        let m = fit(&d, &params, Inputs::Raw, "bad").unwrap();
        assert!(m.summary.converged, "{name}: {:?}", m.summary);
        assert!(m.coefficients[0].std_err.is_none(), "no statistics for a penalized fit");
        // liblinear (L1) and saga (elastic net) stop early (our objective is lower,
        // checked below): compare their coefficients to 1e-3.
        let tol = if name == "l2" { 1e-6 } else { 1e-3 };
        let c = case["C"].as_f64().unwrap();
        let l1_ratio = case["l1_ratio"].as_f64().unwrap();
        let objective = |b0: f64, w: &[f64]| -> f64 {
            let cols: Vec<&Float64Array> = features
                .iter()
                .map(|f| batch.column_by_name(f).unwrap().as_any().downcast_ref().unwrap())
                .collect();
            let y: &Float64Array = batch.column_by_name("bad").unwrap().as_any().downcast_ref().unwrap();
            let loss: f64 = (0..batch.num_rows())
                .map(|r| {
                    let eta = b0 + (0..w.len()).map(|j| w[j] * cols[j].value(r)).sum::<f64>();
                    (1.0 + eta.exp()).ln() - y.value(r) * eta
                })
                .sum();
            c * loss
                + l1_ratio * w.iter().map(|v| v.abs()).sum::<f64>()
                + (1.0 - l1_ratio) / 2.0 * w.iter().map(|v| v * v).sum::<f64>()
        };
        let ours: Vec<f64> = m.features().map(|c| c.coef).collect();
        let theirs = objective(case["intercept"].as_f64().unwrap(), &nums(&case["coef"]));
        assert!(
            objective(m.intercept(), &ours) <= theirs + 1e-12 * theirs.abs(),
            "{name}: objective above the reference"
        );
        close(
            m.intercept(),
            case["intercept"].as_f64().unwrap(),
            tol,
            &format!("{name} intercept"),
        );
        for (c, theirs) in m.features().zip(nums(&case["coef"])) {
            if theirs == 0.0 {
                assert_eq!(c.coef, 0.0, "{name}: L1 zeroes {}", c.name);
            } else {
                close(c.coef, theirs, tol, &format!("{name} coefficient of {}", c.name));
            }
        }
    }
}

#[test]
fn fit_does_not_depend_on_thread_count_or_warm_start() {
    let (batch, expected) = fixture();
    let features = names(&expected, "features");
    let d = design(&batch, &features);
    let mut one = LrParams::default();
    one.num_threads = 1;
    let mut three = LrParams::default();
    three.num_threads = 3;
    let a = fit(&d, &one, Inputs::Raw, "bad").unwrap();
    let b = fit(&d, &three, Inputs::Raw, "bad").unwrap();
    for (x, y) in a.coefficients.iter().zip(&b.coefficients) {
        assert_eq!(x.coef, y.coef, "{}", x.name);
    }
    // A warm start from 500 sampled rows ends at the same optimum.
    let mut warm = LrParams::default();
    warm.warm_start_rows = 500;
    let w = fit(&d, &warm, Inputs::Raw, "bad").unwrap();
    assert_eq!(w.summary.warm_start_rows, 500);
    for (x, y) in a.coefficients.iter().zip(&w.coefficients) {
        close(y.coef, x.coef, 1e-7, &x.name);
    }
}

#[test]
fn stepwise_selects_the_informative_features() {
    let (batch, _) = fixture();
    let mut rng = risklake_core::rng::Rng::new(3);
    let n = batch.num_rows();
    let noise: Vec<Vec<f64>> = (0..3).map(|_| (0..n).map(|_| rng.normal()).collect()).collect();
    let mut names: Vec<&str> = vec!["income", "age", "util", "owner", "score", "bad"];
    let mut cols: Vec<Vec<f64>> = names
        .iter()
        .map(|c| {
            let a: &Float64Array = batch.column_by_name(c).unwrap().as_any().downcast_ref().unwrap();
            a.values().to_vec()
        })
        .collect();
    names.extend(["noise1", "noise2", "noise3"]);
    cols.extend(noise);
    let b = batch_of(&names, cols);
    let features = ["income", "age", "util", "owner", "score", "noise1", "noise2", "noise3"];
    let d = design(&b, &features);
    let full = fit(&d, &LrParams::default(), Inputs::Raw, "bad").unwrap();
    for (direction, criterion) in [
        (Direction::Forward, Criterion::Aic),
        (Direction::Backward, Criterion::Bic),
        (
            Direction::Both,
            Criterion::PValue {
                enter: 0.05,
                remove: 0.1,
            },
        ),
    ] {
        let mut seen = Vec::new();
        let m = stepwise(
            &d,
            &LrParams::default(),
            direction,
            criterion,
            Inputs::Raw,
            "bad",
            false,
            &mut |s| seen.push(s.clone()),
        )
        .unwrap();
        let kept: Vec<&str> = m.features().map(|c| c.name.as_str()).collect();
        assert!(
            kept.contains(&"income") && kept.contains(&"age"),
            "{direction:?}/{criterion:?} kept {kept:?}"
        );
        if criterion == Criterion::Aic {
            // Forward selection stopped where no feature lowers the AIC any more.
            for extra in features.iter().filter(|f| !kept.contains(f)) {
                let mut cols = kept.clone();
                cols.push(extra);
                let bigger = fit(&design(&b, &cols), &LrParams::default(), Inputs::Raw, "bad").unwrap();
                assert!(bigger.summary.aic >= m.summary.aic, "adding {extra} lowers the AIC");
            }
        }
        if criterion == Criterion::Bic {
            assert!(kept.iter().all(|k| !k.starts_with("noise")), "{kept:?}");
        }
        assert_eq!(m.stepwise.len(), seen.len());
        assert!(!m.stepwise.is_empty());
        match criterion {
            Criterion::Aic => assert!(m.summary.aic <= full.summary.aic + 1e-9),
            Criterion::Bic => assert!(m.summary.bic <= full.summary.bic + 1e-9),
            Criterion::PValue { remove, .. } => {
                assert!(m.features().all(|c| c.p_value.unwrap() <= remove), "{kept:?}")
            }
        }
        assert!(m.dropped.iter().any(|x| x.reason.contains("stepwise")));
    }
}

#[test]
fn bad_input_gets_clear_errors() {
    let n = 200;
    let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
    // Perfect separation.
    let y: Vec<f64> = x.iter().map(|&v| (v >= 100.0) as u8 as f64).collect();
    let b = batch_of(&["x", "bad"], vec![x.clone(), y.clone()]);
    let d = design_all(&b);
    let e = fit(&d, &LrParams::default(), Inputs::Raw, "bad")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("separation") && e.contains("'x'") && e.contains("penalty"),
        "{e}"
    );
    // ... which a penalty fits.
    let mut l2 = LrParams::default();
    l2.penalty = Penalty::L2;
    assert!(fit(&d, &l2, Inputs::Raw, "bad").unwrap().summary.converged);
    // Collinear: refused by default, dropped on request; constant: dropped and reported.
    let mut rng = risklake_core::rng::Rng::new(1);
    let a: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let c: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let sum: Vec<f64> = a.iter().zip(&c).map(|(p, q)| 2.0 * p - q).collect();
    let konst = vec![7.0; n];
    let y: Vec<f64> = a.iter().map(|&v| (v + rng.normal() > 0.0) as u8 as f64).collect();
    let b = batch_of(&["a", "c", "s", "k", "bad"], vec![a, c, sum, konst, y]);
    let d = design_all(&b);
    let e = fit(&d, &LrParams::default(), Inputs::Raw, "bad")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("collinear") && e.contains("s is a linear combination"),
        "{e}"
    );
    let mut drop = LrParams::default();
    drop.set("collinear", "drop").unwrap();
    let m = fit(&d, &drop, Inputs::Raw, "bad").unwrap();
    let names: Vec<&str> = m.features().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "c"]);
    assert!(m
        .dropped
        .iter()
        .any(|x| x.feature == "k" && x.reason.starts_with("constant")));
    assert!(m
        .dropped
        .iter()
        .any(|x| x.feature == "s" && x.reason.starts_with("collinear")));
    assert!(m
        .coefficients
        .iter()
        .all(|c| c.coef.is_finite() && c.std_err.unwrap().is_finite()));
    // Labels other than 0/1, NaN features, one class, empty input, unknown parameters.
    let b = batch_of(&["x", "bad"], vec![vec![1.0, 2.0], vec![0.0, 2.0]]);
    let mut builder = DesignBuilder::new("bad", None, None, &[], &[], None).unwrap();
    let e = builder.push(b).unwrap_err().to_string();
    assert!(e.contains("labels 0 or 1") && e.contains("row 2"), "{e}");
    let b = batch_of(&["x", "bad"], vec![vec![1.0, f64::NAN], vec![0.0, 1.0]]);
    let mut builder = DesignBuilder::new("bad", None, None, &[], &[], None).unwrap();
    let e = builder.push(b).unwrap_err().to_string();
    assert!(e.contains("'x'") && e.contains("row 2") && e.contains("--plan"), "{e}");
    let b = batch_of(&["x", "bad"], vec![vec![1.0, 2.0], vec![1.0, 1.0]]);
    let mut builder = DesignBuilder::new("bad", None, None, &[], &[], None).unwrap();
    builder.push(b).unwrap();
    assert!(builder.finish().unwrap_err().to_string().contains("one class"));
    let builder = DesignBuilder::new("bad", None, None, &[], &[], None).unwrap();
    assert!(builder.finish().unwrap_err().to_string().contains("empty"));
    let mut p = LrParams::default();
    assert!(p.set("alpha", "1").unwrap_err().to_string().contains("unknown"));
    assert!(p.set("C", "-1").unwrap_err().to_string().contains("positive"));
    assert!(p.set("penalty", "l3").unwrap_err().to_string().contains("l3"));
}

fn design_all(b: &RecordBatch) -> risklake_learn::Design {
    let mut builder = DesignBuilder::new("bad", None, None, &[], &[], None).unwrap();
    builder.push(b.clone()).unwrap();
    builder.finish().unwrap()
}

#[test]
fn stepwise_can_keep_every_coefficient_positive() {
    // x2 follows x1 closely but, given x1, lowers the risk: its coefficient is negative.
    let mut rng = risklake_core::rng::Rng::new(11);
    let n = 4000;
    let x1: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let x2: Vec<f64> = x1.iter().map(|a| a + 0.5 * rng.normal()).collect();
    let x3: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let bad: Vec<f64> = (0..n)
        .map(|i| {
            let logit = 2.0 * x1[i] - 1.2 * x2[i] + 0.8 * x3[i] - 1.0;
            (rng.uniform() < 1.0 / (1.0 + (-logit).exp())) as u8 as f64
        })
        .collect();
    let b = batch_of(&["x1", "x2", "x3", "bad"], vec![x1, x2, x3, bad]);
    let d = design(&b, &["x1", "x2", "x3"]);
    for direction in [Direction::Forward, Direction::Backward, Direction::Both] {
        let run = |positive: bool| {
            let mut steps = Vec::new();
            let m = stepwise(
                &d,
                &LrParams::default(),
                direction,
                Criterion::Aic,
                Inputs::Raw,
                "bad",
                positive,
                &mut |s| steps.push(s.action.clone()),
            )
            .unwrap();
            let coefs: Vec<(String, f64)> = m.features().map(|c| (c.name.clone(), c.coef)).collect();
            (coefs, steps)
        };
        let (free, _) = run(false);
        assert!(
            free.iter().any(|(n, c)| n == "x2" && *c < 0.0),
            "{direction:?}: {free:?}"
        );
        let (kept, steps) = run(true);
        assert!(kept.iter().all(|(_, c)| *c >= 0.0), "{direction:?}: {kept:?}");
        assert!(
            kept.iter().any(|(n, _)| n == "x1") && kept.iter().any(|(n, _)| n == "x3"),
            "{kept:?}"
        );
        if direction == Direction::Backward {
            assert!(steps.iter().any(|a| a == "remove (negative coefficient)"), "{steps:?}");
        }
    }
}
