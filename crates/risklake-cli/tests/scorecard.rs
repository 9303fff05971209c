//! `train lr`, `train rf`, `scorecard build|export|evaluate`, `score` and `predict` with
//! every model kind, from the command line; and their errors on bad input.

mod common;
use common::{fails, json};

fn sql_value(home: &std::path::Path, query: &str, col: &str) -> f64 {
    let q = json(home, &["sql", query]);
    q["results"][0]["data"][0][col].as_f64().unwrap()
}

#[test]
fn lr_scorecard_and_forest_flow() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    json(
        &home,
        &["gen", "credit", "--rows", "6000", "--features", "10", "--table", "apps"],
    );
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
    );
    let plan = plan["run"].as_i64().unwrap().to_string();
    // Raw numeric columns with missing values are refused by name, with the way out.
    let err = fails(
        &home,
        &["train", "lr", "--table", "apps", "--label", "bad", "--exclude", "id"],
    );
    assert!(err.contains("null or NaN") && err.contains("--plan"), "{err}");
    // A text column is named as text, not as "null at row 1" (issue 14).
    let err = fails(
        &home,
        &[
            "train",
            "lr",
            "--table",
            "apps",
            "--label",
            "bad",
            "--columns",
            "x00_amount,x06_grade",
        ],
    );
    assert!(
        err.contains("'x06_grade' is Utf8") && err.contains("--plan") && !err.contains("null"),
        "{err}"
    );
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
            "--stepwise",
            "forward",
            "--valid-fraction",
            "0.3",
        ],
    );
    assert!(lr["summary"]["converged"].as_bool().unwrap());
    assert!(lr["valid_auc"].as_f64().unwrap() > 0.7, "{lr}");
    assert!(!lr["stepwise"].as_array().unwrap().is_empty());
    let lr_run = lr["run"].as_i64().unwrap().to_string();
    let shown = json(&home, &["model", "show", &lr_run]);
    assert_eq!(shown["kind"], "lr");

    // predict works for the LR (it bins raw columns with its own plan).
    json(
        &home,
        &[
            "predict",
            "--model",
            &lr_run,
            "--table",
            "apps",
            "--out-table",
            "lr_scored",
        ],
    );
    let mean = sql_value(&home, "SELECT AVG(prediction) AS m FROM lr_scored", "m");
    let rate = sql_value(&home, "SELECT AVG(CAST(bad AS DOUBLE)) AS m FROM apps", "m");
    assert!(
        (mean - rate).abs() < 0.02,
        "calibrated: mean prediction {mean} vs bad rate {rate}"
    );

    let card = json(
        &home,
        &[
            "scorecard",
            "build",
            "--model",
            &lr_run,
            "--pdo",
            "40",
            "--base-odds",
            "20",
        ],
    );
    let card_run = card["run"].as_i64().unwrap().to_string();
    let base = card["base_points"].as_f64().unwrap();
    assert_eq!(base, base.round(), "whole points by default");
    // Scores: the scorer, the SQL export run by risklake's engine, and predict agree.
    json(
        &home,
        &[
            "score",
            "--scorecard",
            &card_run,
            "--table",
            "apps",
            "--out-table",
            "scores",
            "--points",
        ],
    );
    let sql_file = dir.path().join("card.sql");
    json(
        &home,
        &[
            "scorecard",
            "export",
            "--scorecard",
            &card_run,
            "--format",
            "sql",
            "--sql-table",
            "apps",
            "--out",
            sql_file.to_str().unwrap(),
        ],
    );
    let sql = std::fs::read_to_string(&sql_file).unwrap();
    let q =
        format!("SELECT COUNT(*) AS n, MAX(ABS(a.score - b.score)) AS d FROM scores a JOIN ({sql}) b ON a.id = b.id");
    let q = q
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(sql_value(&home, &q, "n"), 6000.0);
    assert_eq!(sql_value(&home, &q, "d"), 0.0);
    // The score is the base points plus the points columns.
    let sum: Vec<String> = card["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("\"points_{}\"", f["name"].as_str().unwrap()))
        .collect();
    let q = format!("SELECT MAX(ABS(score - {base} - {})) AS d FROM scores", sum.join(" - "));
    assert_eq!(sql_value(&home, &q, "d"), 0.0);
    let ev = json(
        &home,
        &[
            "scorecard",
            "evaluate",
            "--scorecard",
            &card_run,
            "--table",
            "apps",
            "--label",
            "bad",
            "--psi-by",
            "month",
        ],
    );
    assert!(ev["auc"].as_f64().unwrap() > 0.7);
    let bands = ev["bands"].as_array().unwrap();
    assert!(bands.len() >= 8);
    // Riskiest band first: bad rates fall, cumulative shares end at 1.
    let first = bands[0]["bad_rate"].as_f64().unwrap();
    let last = bands[bands.len() - 1]["bad_rate"].as_f64().unwrap();
    assert!(first > 2.0 * last, "{first} vs {last}");
    assert_eq!(bands[bands.len() - 1]["cum_bad_share"], 1.0);
    assert!(!ev["psi"].as_array().unwrap().is_empty());
    for format in ["csv", "json"] {
        let out = dir.path().join(format!("card.{format}"));
        json(
            &home,
            &[
                "scorecard",
                "export",
                "--scorecard",
                &card_run,
                "--format",
                format,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(std::fs::read_to_string(&out).unwrap().contains("points"));
    }

    // A random forest, predicted like any model.
    let rf = json(
        &home,
        &[
            "train",
            "rf",
            "--table",
            "apps",
            "--label",
            "bad",
            "--exclude",
            "id,month",
            "--param",
            "n_estimators=20",
            "--param",
            "max_depth=6",
        ],
    );
    assert!(rf["oob_score"].as_f64().unwrap() > 0.7, "{rf}");
    let rf_run = rf["run"].as_i64().unwrap().to_string();
    json(
        &home,
        &[
            "predict",
            "--model",
            &rf_run,
            "--table",
            "apps",
            "--out-table",
            "rf_scored",
            "--output",
            "shap",
        ],
    );

    // Bad input: a scorecard from a forest, a table without the card's features, leaf
    // output of an LR, unknown parameters.
    let e = fails(&home, &["scorecard", "build", "--model", &rf_run]);
    assert!(e.contains("logistic regression"), "{e}");
    json(&home, &["sql", "CREATE TABLE thin AS SELECT id, bad FROM apps"]);
    let e = fails(
        &home,
        &["score", "--scorecard", &card_run, "--table", "thin", "--out-table", "x"],
    );
    assert!(e.contains("lacks the scorecard's feature column"), "{e}");
    let e = fails(
        &home,
        &[
            "predict",
            "--model",
            &lr_run,
            "--table",
            "apps",
            "--out-table",
            "y",
            "--output",
            "leaf",
        ],
    );
    assert!(e.contains("needs a tree model"), "{e}");
    let e = fails(
        &home,
        &["train", "rf", "--table", "apps", "--label", "bad", "--param", "depth=3"],
    );
    assert!(e.contains("unknown random-forest parameter 'depth'"), "{e}");
    let e = fails(
        &home,
        &[
            "train", "lr", "--table", "apps", "--label", "bad", "--plan", &plan, "--param", "C=0",
        ],
    );
    assert!(e.contains("C = 0 must be positive"), "{e}");
}
