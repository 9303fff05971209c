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
    json(&home, &["gen", "credit", "--rows", "3000", "--features", "8", "--table", "apps"]);
    let train = |iterations: &str| {
        json(
            &home,
            &[
                "train", "gbdt", "--table", "apps", "--label", "bad", "--exclude", "id,month",
                "--param", &format!("num_iterations={iterations}"),
            ],
        )["run"]
            .as_i64()
            .unwrap()
            .to_string()
    };
    let (first, second) = (train("5"), train("9"));
    let v1 = json(
        &home,
        &["model", "register", "--run", &first, "--name", "pd", "--alias", "champion", "--tag", "stage=dev"],
    );
    assert_eq!((v1["version"].as_i64(), v1["tags"]["stage"].as_str()), (Some(1), Some("dev")));
    let v2 = json(&home, &["model", "register", "--run", &second, "--name", "pd", "--alias", "challenger"]);
    assert_eq!(v2["version"], 2);
    // Each spec reaches its own model: the tree counts tell them apart.
    let trees = |spec: &str| json(&home, &["model", "show", spec])["detail"]["trees"].as_i64().unwrap();
    assert_eq!((trees("pd@champion"), trees("pd/2"), trees("pd@latest"), trees(&first)), (5, 9, 9, 5));
    json(&home, &["model", "alias", "pd", "champion", "2"]);
    assert_eq!(trees("pd@champion"), 9);
    // predict and export take them too.
    let out = dir.path().join("scored.csv");
    let p = json(
        &home,
        &["predict", "--model", "pd@champion", "--table", "apps", "--out", out.to_str().unwrap()],
    );
    assert_eq!(p["rows"], 3000);
    let txt = dir.path().join("m.txt");
    json(&home, &["model", "export", "--model", "pd/1", "--out", txt.to_str().unwrap()]);
    let text = std::fs::read_to_string(&txt).unwrap();
    assert!(text.contains("Tree=4") && !text.contains("Tree=5"), "version 1 has 5 trees");
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
    let e = fails(&home, &["model", "register", "--run", &first, "--name", "pd", "--alias", "latest"]);
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
