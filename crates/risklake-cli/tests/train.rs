//! `train gbdt` and `predict` from the command line.

mod common;
use common::{fails, json};

#[test]
fn train_records_a_model_that_predict_uses() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    json(
        &home,
        &["gen", "credit", "--rows", "8000", "--features", "12", "--table", "apps"],
    );
    let t = json(
        &home,
        &[
            "train",
            "gbdt",
            "--table",
            "apps",
            "--label",
            "bad",
            "--exclude",
            "id,month",
            "--valid-fraction",
            "0.25",
            "--param",
            "num_iterations=40",
            "--param",
            "num_leaves=15",
        ],
    );
    assert_eq!(t["trees"], 40);
    let (rows, valid) = (t["rows"].as_i64().unwrap(), t["valid_rows"].as_i64().unwrap());
    assert_eq!(rows + valid, 8000);
    assert!((1500..2500).contains(&valid), "about a quarter held out: {valid}");
    // The README's Python version of the split rule holds out exactly these rows:
    // sum(share(i) < 0.25 for i in range(8000)) == 1991.
    assert_eq!(valid, 1991, "the documented split rule");
    assert!(t["valid_metric"].as_f64().unwrap() > 0.75, "{t}");
    let run = t["run"].as_i64().unwrap().to_string();
    let shown = json(&home, &["runs", "show", &run]);
    let history = shown["metric_history"].to_string();
    assert!(
        history.contains("valid_auc"),
        "per-iteration metrics recorded: {history}"
    );

    let p = json(
        &home,
        &["predict", "--model", &run, "--table", "apps", "--out-table", "scored"],
    );
    assert_eq!(p["rows"], 8000);
    let q = json(
        &home,
        &[
            "sql",
            "SELECT MIN(prediction) AS lo, MAX(prediction) AS hi, AVG(prediction) AS mean FROM scored",
        ],
    );
    let row = &q["results"][0]["data"][0];
    let (lo, hi, mean) = (
        row["lo"].as_f64().unwrap(),
        row["hi"].as_f64().unwrap(),
        row["mean"].as_f64().unwrap(),
    );
    assert!(lo > 0.0 && hi < 1.0 && (0.05..0.15).contains(&mean), "{row}");

    // Leaf indices and SHAP contributions as columns; SHAP sums to the raw score.
    json(
        &home,
        &[
            "predict",
            "--model",
            &run,
            "--table",
            "apps",
            "--out-table",
            "raw",
            "--output",
            "raw",
        ],
    );
    json(
        &home,
        &[
            "predict",
            "--model",
            &run,
            "--table",
            "apps",
            "--out-table",
            "leaves",
            "--output",
            "leaf",
        ],
    );
    let q = json(
        &home,
        &[
            "sql",
            "SELECT MIN(leaf_0) AS lo, MAX(leaf_39) AS hi, COUNT(*) AS n FROM leaves",
        ],
    );
    let row = &q["results"][0]["data"][0];
    assert!(
        row["lo"].as_i64().unwrap() >= 0 && row["hi"].as_i64().unwrap() < 15 && row["n"] == 8000,
        "{row}"
    );
    json(
        &home,
        &[
            "predict",
            "--model",
            &run,
            "--table",
            "apps",
            "--out-table",
            "explained",
            "--output",
            "shap",
        ],
    );
    let cols = json(&home, &["sql", "SELECT * FROM explained LIMIT 1"]);
    let names: Vec<String> = cols["results"][0]["data"][0]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("shap_"))
        .cloned()
        .collect();
    assert!(
        names.len() > 5 && names.contains(&"shap_expected".to_string()),
        "{names:?}"
    );
    let sum = names.iter().map(|n| format!("e.{n}")).collect::<Vec<_>>().join(" + ");
    let q = json(
        &home,
        &[
            "sql",
            &format!("SELECT MAX(ABS({sum} - r.prediction)) AS err FROM explained e JOIN raw r ON e.id = r.id"),
        ],
    );
    let err = q["results"][0]["data"][0]["err"].as_f64().unwrap();
    assert!(err < 1e-9, "SHAP sums to the raw score: {err}");

    let e = fails(
        &home,
        &[
            "train",
            "gbdt",
            "--table",
            "apps",
            "--label",
            "bad",
            "--param",
            "num_leaves=1",
        ],
    );
    assert!(e.contains("num_leaves = 1"), "{e}");
    let e = fails(
        &home,
        &[
            "train",
            "gbdt",
            "--table",
            "apps",
            "--label",
            "x00_amount",
            "--exclude",
            "id,month",
        ],
    );
    assert!(e.contains("labels 0 or 1"), "{e}");
    let e = fails(
        &home,
        &["predict", "--model", "999", "--table", "apps", "--out-table", "x"],
    );
    assert!(e.contains("999"), "{e}");
}

#[test]
fn registered_models_are_taken_by_alias_and_version_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    json(
        &home,
        &["gen", "credit", "--rows", "3000", "--features", "8", "--table", "apps"],
    );
    let train = |iterations: &str| {
        json(
            &home,
            &[
                "train",
                "gbdt",
                "--table",
                "apps",
                "--label",
                "bad",
                "--exclude",
                "id,month",
                "--param",
                &format!("num_iterations={iterations}"),
            ],
        )["run"]
            .as_i64()
            .unwrap()
            .to_string()
    };
    let (first, second) = (train("5"), train("9"));
    let v1 = json(
        &home,
        &[
            "model",
            "register",
            "--run",
            &first,
            "--name",
            "pd",
            "--alias",
            "champion",
            "--tag",
            "stage=dev",
        ],
    );
    assert_eq!(
        (v1["version"].as_i64(), v1["tags"]["stage"].as_str()),
        (Some(1), Some("dev"))
    );
    let v2 = json(
        &home,
        &[
            "model",
            "register",
            "--run",
            &second,
            "--name",
            "pd",
            "--alias",
            "challenger",
        ],
    );
    assert_eq!(v2["version"], 2);
    // Each spec reaches its own model: the tree counts tell them apart.
    let trees = |spec: &str| {
        json(&home, &["model", "show", spec])["detail"]["trees"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        (trees("pd@champion"), trees("pd/2"), trees("pd@latest"), trees(&first)),
        (5, 9, 9, 5)
    );
    json(&home, &["model", "alias", "pd", "champion", "2"]);
    assert_eq!(trees("pd@champion"), 9);
    // predict and export take them too.
    let out = dir.path().join("scored.csv");
    let p = json(
        &home,
        &[
            "predict",
            "--model",
            "pd@champion",
            "--table",
            "apps",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(p["rows"], 3000);
    let txt = dir.path().join("m.txt");
    json(
        &home,
        &["model", "export", "--model", "pd/1", "--out", txt.to_str().unwrap()],
    );
    let text = std::fs::read_to_string(&txt).unwrap();
    assert!(
        text.contains("Tree=4") && !text.contains("Tree=5"),
        "version 1 has 5 trees"
    );
    // Bad references are clear errors.
    let e = fails(&home, &["model", "show", "pd@prod"]);
    assert!(e.contains("model alias not found: pd@prod"), "{e}");
    let e = fails(&home, &["model", "show", "nope@champion"]);
    assert!(e.contains("registered model not found: nope"), "{e}");
    let e = fails(&home, &["model", "show", "pd/7"]);
    assert!(e.contains("model version not found: pd/7"), "{e}");
    let e = fails(&home, &["model", "alias", "pd", "prod", "7"]);
    assert!(e.contains("pd/7"), "{e}");
    let e = fails(&home, &["model", "delete-version", "pd", "2"]);
    assert!(e.contains("pd@challenger, pd@champion"), "{e}");
    let e = fails(&home, &["model", "register", "--run", "1", "--name", "pd"]);
    assert!(e.contains("--run: run 1 ('gen') stored no model"), "{e}");
    let e = fails(
        &home,
        &[
            "model", "register", "--run", &first, "--name", "pd", "--alias", "latest",
        ],
    );
    assert!(e.contains("--alias: 'latest'"), "{e}");
    // The history keeps every move.
    let listed = json(&home, &["model", "list", "pd"]);
    let moves: Vec<&str> = listed["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "alias")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(moves, ["champion: 1", "challenger: 2", "champion: 1 -> 2"]);
    // Lineage and replay from the command line.
    let lineage = json(&home, &["runs", "lineage", &first]);
    assert_eq!(lineage["reads"][0]["written_by"]["kind"], "gen", "{lineage}");
    let replay = json(&home, &["runs", "reproduce", &first]);
    assert_eq!(replay["identical"], true, "{replay}");
    let e = fails(&home, &["runs", "reproduce", "1"]);
    assert!(e.contains("'gen' run"), "{e}");
}

/// A CSV file written by risklake as header -> column of text values.
fn read_csv(path: &std::path::Path) -> std::collections::BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let mut cols: std::collections::BTreeMap<String, Vec<String>> =
        header.iter().map(|h| (h.clone(), Vec::new())).collect();
    for line in lines {
        for (h, v) in header.iter().zip(line.split(',')) {
            cols.get_mut(h).unwrap().push(v.to_string());
        }
    }
    cols
}

#[test]
fn reason_codes_are_the_largest_shap_values_and_the_points_lost() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    json(
        &home,
        &["gen", "credit", "--rows", "2000", "--features", "6", "--table", "apps"],
    );
    let gbdt = json(
        &home,
        &[
            "train",
            "gbdt",
            "--table",
            "apps",
            "--label",
            "bad",
            "--exclude",
            "id,month",
            "--param",
            "num_iterations=20",
        ],
    )["run"]
        .to_string();
    let out = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    json(
        &home,
        &[
            "predict",
            "--model",
            &gbdt,
            "--table",
            "apps",
            "--output",
            "shap",
            "--out",
            &out("shap.csv"),
        ],
    );
    json(
        &home,
        &[
            "predict",
            "--model",
            &gbdt,
            "--table",
            "apps",
            "--output",
            "reasons",
            "--top",
            "3",
            "--out",
            &out("r.csv"),
        ],
    );
    let shap = read_csv(std::path::Path::new(&out("shap.csv")));
    let reasons = read_csv(std::path::Path::new(&out("r.csv")));
    let features: Vec<&str> = shap
        .keys()
        .filter_map(|k| k.strip_prefix("shap_"))
        .filter(|f| *f != "expected")
        .collect();
    for row in 0..2000 {
        let mut positive: Vec<(f64, &str)> = features
            .iter()
            .map(|f| (shap[&format!("shap_{f}")][row].parse::<f64>().unwrap(), *f))
            .filter(|(v, _)| *v > 0.0)
            .collect();
        positive.sort_by(|a, b| b.0.total_cmp(&a.0));
        for i in 0..3 {
            let name = &reasons[&format!("reason_{}", i + 1)][row];
            match positive.get(i) {
                Some((v, f)) => {
                    assert_eq!(name, f, "row {row} reason {}", i + 1);
                    let effect: f64 = reasons[&format!("reason_{}_effect", i + 1)][row].parse().unwrap();
                    assert!(
                        (effect - v).abs() < 1e-9 * v.abs().max(1.0),
                        "row {row}: {effect} vs {v}"
                    );
                    assert_eq!(reasons[&format!("reason_{}_value", i + 1)][row], reasons[*f][row]);
                }
                None => assert_eq!(name, "", "row {row}: no more features push toward bad"),
            }
        }
    }
    // A scorecard's reasons: the points each feature's bin loses against its best bin.
    let plan = json(
        &home,
        &[
            "features",
            "bin",
            "--table",
            "apps",
            "--label",
            "bad",
            "--exclude",
            "id,month",
        ],
    )["run"]
        .to_string();
    let lr = json(
        &home,
        &[
            "train",
            "lr",
            "--table",
            "apps",
            "--label",
            "bad",
            "--plan",
            &plan,
            "--columns",
            "x00_amount,x01_inquiries,x02_utilization,x03_age",
        ],
    )["run"]
        .to_string();
    let card = json(&home, &["scorecard", "build", "--model", &lr])["run"].to_string();
    json(
        &home,
        &[
            "score",
            "--scorecard",
            &card,
            "--table",
            "apps",
            "--points",
            "--out",
            &out("points.csv"),
        ],
    );
    json(
        &home,
        &[
            "predict",
            "--model",
            &card,
            "--table",
            "apps",
            "--output",
            "reasons",
            "--top",
            "4",
            "--out",
            &out("cr.csv"),
        ],
    );
    let points = read_csv(std::path::Path::new(&out("points.csv")));
    let reasons = read_csv(std::path::Path::new(&out("cr.csv")));
    let card_features = ["x00_amount", "x01_inquiries", "x02_utilization", "x03_age"];
    let best: Vec<f64> = card_features
        .iter()
        .map(|f| {
            points[&format!("points_{f}")]
                .iter()
                .map(|p| p.parse::<f64>().unwrap())
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect();
    let mut checked = 0;
    for row in 0..2000 {
        for i in 1..=4 {
            let name = &reasons[&format!("reason_{i}")][row];
            if name.is_empty() {
                continue;
            }
            let f = card_features.iter().position(|c| c == name).unwrap();
            let lost: f64 = reasons[&format!("reason_{i}_effect")][row].parse().unwrap();
            let got: f64 = points[&format!("points_{name}")][row].parse().unwrap();
            // The best bin seen in 2000 rows is the card's best bin (every bin has rows).
            assert_eq!(lost, best[f] - got, "row {row} {name}");
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked} reasons checked");
    // An LR on WoE reasons like its scorecard, in log-odds; one on raw columns cannot.
    json(
        &home,
        &[
            "predict",
            "--model",
            &lr,
            "--table",
            "apps",
            "--output",
            "reasons",
            "--out",
            &out("lr.csv"),
        ],
    );
    let lr_reasons = read_csv(std::path::Path::new(&out("lr.csv")));
    // The card rounds points to whole numbers, which can swap near ties.
    let same = (0..2000)
        .filter(|&row| lr_reasons["reason_1"][row] == reasons["reason_1"][row])
        .count();
    assert!(same >= 1900, "{same} of 2000 rows give the card's first reason");
    let raw = json(
        &home,
        &[
            "train",
            "lr",
            "--table",
            "apps",
            "--label",
            "bad",
            "--columns",
            "x00_amount,x01_inquiries",
        ],
    )["run"]
        .to_string();
    let e = fails(
        &home,
        &[
            "predict",
            "--model",
            &raw,
            "--table",
            "apps",
            "--output",
            "reasons",
            "--out",
            &out("x.csv"),
        ],
    );
    assert!(e.contains("fitted on raw columns"), "{e}");
}

#[test]
fn integer_coded_columns_can_be_declared_categorical_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    json(
        &home,
        &["gen", "credit", "--rows", "2000", "--features", "8", "--table", "apps"],
    );
    let mapper = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "gbdt",
            "--table",
            "apps",
            "--label",
            "bad",
            "--exclude",
            "id,month",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--param", "num_iterations=5"]);
        let t = json(&home, &args);
        let model: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(t["model"].as_str().unwrap()).unwrap()).unwrap();
        let i = model["feature_names"]
            .as_array()
            .unwrap()
            .iter()
            .position(|f| f == "x05_region_code")
            .unwrap();
        model["mappers"][i]["categories"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(mapper(&[]), 0, "numeric by default");
    assert!(mapper(&["--categorical", "x05_region_code"]) > 5, "one bin per region");
    assert!(
        mapper(&["--param", "categorical_feature=name:x05_region_code"]) > 5,
        "LightGBM's spelling"
    );
    let e = fails(
        &home,
        &[
            "train",
            "gbdt",
            "--table",
            "apps",
            "--label",
            "bad",
            "--categorical",
            "region",
        ],
    );
    assert!(e.contains("categorical column 'region' is not in the table"), "{e}");
    let e = fails(
        &home,
        &[
            "tune",
            "--model",
            "rf",
            "--table",
            "apps",
            "--label",
            "bad",
            "--exclude",
            "x05_region_code",
            "--categorical",
            "x05_region_code",
            "--trials",
            "1",
            "--storage",
            "memory",
        ],
    );
    assert!(e.contains("is not one of the features"), "{e}");
}

#[test]
fn monotone_constraints_by_name_equal_the_positional_list() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    json(
        &home,
        &["gen", "credit", "--rows", "3000", "--features", "6", "--table", "apps"],
    );
    let trees = |constraint: &str| {
        let t = json(
            &home,
            &[
                "train",
                "gbdt",
                "--table",
                "apps",
                "--label",
                "bad",
                "--exclude",
                "id,month,x05_region_code",
                "--param",
                "num_iterations=10",
                "--param",
                &format!("monotone_constraints={constraint}"),
            ],
        );
        let model: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(t["model"].as_str().unwrap()).unwrap()).unwrap();
        (model["feature_names"].clone(), model["trees"].clone())
    };
    let (names, by_name) = trees("x03_age:-1,x02_utilization:1");
    let names: Vec<&str> = names.as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    let positional: Vec<&str> = names
        .iter()
        .map(|n| match *n {
            "x03_age" => "-1",
            "x02_utilization" => "1",
            _ => "0",
        })
        .collect();
    let (_, by_position) = trees(&positional.join(","));
    assert_eq!(by_name, by_position, "the same constraints give the same trees");
    let (_, free) = trees(&vec!["0"; names.len()].join(","));
    assert_ne!(by_name, free, "the constraints bind on this data");
    let e = fails(
        &home,
        &[
            "train",
            "gbdt",
            "--table",
            "apps",
            "--label",
            "bad",
            "--param",
            "monotone_constraints=agee:-1",
        ],
    );
    assert!(e.contains("names 'agee', which is not a feature"), "{e}");
    let e = fails(
        &home,
        &[
            "train",
            "gbdt",
            "--table",
            "apps",
            "--label",
            "bad",
            "--param",
            "monotone_constraints=1,0",
        ],
    );
    assert!(e.contains("name the constrained ones"), "{e}");
}
