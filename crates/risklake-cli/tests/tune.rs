//! `tune` from the command line: trials recorded as runs, a journal study that continues,
//! failing trials that do not stop the study, and clear errors for bad spaces and storages.

mod common;
use common::{fails, json};

#[test]
fn tune_records_trials_continues_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    json(
        &home,
        &["gen", "credit", "--rows", "4000", "--features", "8", "--table", "apps"],
    );
    let journal = dir.path().join("s.journal");
    let storage = format!("journal:{}", journal.display());
    // num_leaves = 1 is refused by the GBDT: those trials fail, the study goes on.
    let space = dir.path().join("space.toml");
    std::fs::write(
        &space,
        "[num_leaves]\ntype = \"int\"\nlow = 1\nhigh = 4\n[learning_rate]\nlow = 0.05\nhigh = 0.2\n",
    )
    .unwrap();
    let base = [
        "tune",
        "--model",
        "gbdt",
        "--table",
        "apps",
        "--label",
        "bad",
        "--exclude",
        "id,month",
        "--param",
        "num_iterations=20",
        "--study",
        "s",
        "--sampler",
        "random",
    ];
    let mut args: Vec<&str> = base.to_vec();
    let space_s = space.to_str().unwrap();
    args.extend(["--trials", "12", "--space", space_s, "--storage", &storage]);
    let t = json(&home, &args);
    assert_eq!(t["new_trials"], 12);
    let failed = t["failed"].as_i64().unwrap();
    assert!(failed >= 1 && failed < 12, "{t}");
    assert!(t["best_value"].as_f64().unwrap() > 0.6);
    assert!(
        std::path::Path::new(t["model"].as_str().unwrap()).exists(),
        "the best model is stored"
    );
    // Continue the same study: numbering goes on.
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--trials", "3", "--space", space_s, "--storage", &storage]);
    let t2 = json(&home, &args);
    assert_eq!(t2["trials"], 15);
    let runs = json(&home, &["runs", "list", "--kind", "tune.trial", "--limit", "100"]);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 15, "every trial is a run");
    // Grid over a categorical LR penalty and C.
    let grid = json(
        &home,
        &[
            "tune",
            "--model",
            "lr",
            "--table",
            "apps",
            "--label",
            "bad",
            "--columns",
            "x00_amount,x01_inquiries",
            "--sampler",
            "grid",
            "--grid",
            "penalty=l2,l1",
            "--grid",
            "C=0.01,1",
            "--trials",
            "10",
            "--storage",
            "memory",
        ],
    );
    assert_eq!(grid["new_trials"], 4, "a 2 x 2 grid ends after 4 trials: {grid}");

    // Cross-validation: a trial's value is the mean over folds, reported fold by fold.
    let cv = json(
        &home,
        &[
            "tune",
            "--model",
            "gbdt",
            "--table",
            "apps",
            "--label",
            "bad",
            "--exclude",
            "id,month",
            "--folds",
            "3",
            "--trials",
            "2",
            "--param",
            "num_iterations=20",
            "--storage",
            "memory",
        ],
    );
    assert_eq!(cv["complete"], 2, "{cv}");
    assert!(cv["all"].as_array().unwrap().iter().all(|t| t["intermediate"] == 3));
    // The winner is fitted once on every row, with the folds' mean early-stopped length.
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cv["model"].as_str().expect("a best model")).unwrap()).unwrap();
    let trees = model["trees"].as_array().map_or(0, Vec::len);
    let best = cv["all"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["number"] == cv["best_trial"])
        .unwrap();
    assert_eq!(best["user_attrs"]["mean_best_iteration"], trees, "{best}");
    assert!((1..=20).contains(&trees), "{trees} trees");
    let e = fails(
        &home,
        &[
            "tune", "--model", "lr", "--table", "apps", "--label", "bad", "--folds", "3",
        ],
    );
    assert!(e.contains("--folds: is for gbdt and rf"), "{e}");

    // Bad input.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[lr]\nlow = 0.5\nhigh = 0.1\n").unwrap();
    let e = fails(
        &home,
        &[
            "tune",
            "--model",
            "gbdt",
            "--table",
            "apps",
            "--label",
            "bad",
            "--space",
            bad.to_str().unwrap(),
        ],
    );
    assert!(e.contains("'lr'") && e.contains("above high"), "{e}");
    std::fs::write(&bad, "").unwrap();
    let e = fails(
        &home,
        &[
            "tune",
            "--model",
            "gbdt",
            "--table",
            "apps",
            "--label",
            "bad",
            "--space",
            bad.to_str().unwrap(),
        ],
    );
    assert!(e.contains("empty"), "{e}");
    let e = fails(
        &home,
        &[
            "tune",
            "--model",
            "gbdt",
            "--table",
            "apps",
            "--label",
            "bad",
            "--storage",
            "redis:x",
        ],
    );
    assert!(e.contains("unknown storage 'redis:x'"), "{e}");
    // A damaged journal: the error names the line, the file is kept.
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text.push_str("{\"op_code\":99,\"worker_id\":\"x\"}\n");
    std::fs::write(&journal, &text).unwrap();
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--trials", "1", "--storage", &storage]);
    let e = fails(&home, &args);
    assert!(e.contains("unknown operation code 99"), "{e}");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), text);
}

/// The default study names the model, the whole table and the label: tuning two tables of
/// one database gives two studies, not one continued with the other table's history.
#[test]
fn default_studies_are_per_table_and_label() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    for t in ["raw.first", "raw.second"] {
        json(
            &home,
            &["gen", "credit", "--rows", "1500", "--features", "5", "--table", t],
        );
    }
    let tune = |table: &str| {
        json(
            &home,
            &[
                "tune",
                "--model",
                "gbdt",
                "--table",
                table,
                "--label",
                "bad",
                "--exclude",
                "id,month",
                "--param",
                "num_iterations=10",
                "--trials",
                "2",
                "--sampler",
                "random",
            ],
        )
    };
    let a = tune("raw.first");
    let b = tune("raw.second");
    assert_eq!(a["study"], "gbdt-raw.first-bad");
    assert_eq!(b["study"], "gbdt-raw.second-bad");
    assert_eq!((a["trials"].as_i64(), b["trials"].as_i64()), (Some(2), Some(2)), "{b}");
    assert_ne!(a["storage"], b["storage"]);
}
