//! `features bin | evaluate | select | transform | report` from the command line, on a
//! lake table and on a CSV file, and their errors on bad input.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{fails, json};

fn german() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/german_credit.csv")
}

fn german_str() -> String {
    german().display().to_string()
}

fn feature<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"] == name || f["name"] == name)
        .unwrap()
}

#[test]
fn bin_evaluate_select_transform_report_on_a_lake_table() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    json(
        &home,
        &["gen", "credit", "--rows", "6000", "--features", "12", "--table", "apps"],
    );
    let b = json(
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
    assert_eq!(b["rows"], 6000);
    let plan_path = b["plan"].as_str().unwrap().to_string();
    assert!(Path::new(&plan_path).exists());
    let ivs: Vec<(String, f64)> = b["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["feature"].as_str().unwrap().to_string(), f["iv"].as_f64().unwrap()))
        .collect();
    assert_eq!(ivs.len(), 12);
    // Sorted by IV, informative features first and noise last.
    assert!(ivs.windows(2).all(|w| w[0].1 >= w[1].1));
    assert!(ivs[0].1 > 0.1, "{ivs:?}");
    assert!(ivs.iter().find(|f| f.0.ends_with("noise")).unwrap().1 < 0.04, "{ivs:?}");
    let run = b["run"].as_i64().unwrap();
    let shown = json(&home, &["runs", "show", &run.to_string()]);
    let artifacts: Vec<&str> = shown["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for a in ["binning_plan.json", "bins.csv", "report.html"] {
        assert!(artifacts.contains(&a), "{artifacts:?}");
    }

    // PSI by month: 11 months against the first, for every feature.
    let e = json(
        &home,
        &[
            "features",
            "evaluate",
            "--table",
            "apps",
            "--plan",
            &run.to_string(),
            "--psi-by",
            "month",
        ],
    );
    assert_eq!(e["psi"].as_array().unwrap().len(), 11 * 12);
    assert!(e["psi"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["psi"].as_f64().unwrap() < 0.25));

    // Selection: noise features fail the IV rule, with the reason.
    let s = json(
        &home,
        &[
            "features",
            "select",
            "--plan",
            &plan_path,
            "--table",
            "apps",
            "--min-iv",
            "0.04",
            "--max-corr",
            "0.9",
            "--max-vif",
            "10",
        ],
    );
    let decisions = s["decisions"].as_array().unwrap();
    let noise = decisions
        .iter()
        .find(|d| d["feature"].as_str().unwrap().ends_with("noise"))
        .unwrap();
    assert_eq!(noise["kept"], false);
    assert!(noise["reason"].as_str().unwrap().starts_with("IV "));
    let selected = s["plan"].as_str().unwrap();
    let kept = decisions.iter().filter(|d| d["kept"] == true).count();

    // Transform into a lake table: WoE values are the plan's, row count kept.
    let t = json(
        &home,
        &[
            "features",
            "transform",
            "--plan",
            selected,
            "--table",
            "apps",
            "--out-table",
            "apps_woe",
        ],
    );
    assert_eq!(t["rows"], 6000);
    assert_eq!(t["features"], kept);
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(selected).unwrap()).unwrap();
    let f0 = &plan["features"][0];
    let name = f0["name"].as_str().unwrap();
    let woes: Vec<f64> = f0["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["woe"].as_f64().unwrap())
        .collect();
    let q = json(
        &home,
        &["sql", &format!("SELECT DISTINCT \"{name}\" AS w FROM apps_woe")],
    );
    let rows = q["results"][0]["data"].as_array().unwrap();
    assert!(rows.len() >= 2, "{q}");
    for row in rows {
        let w = row["w"].as_f64().unwrap();
        assert!(woes.iter().any(|x| (x - w).abs() < 1e-12), "{w} not a WoE of {name}");
    }
    // An existing output table is refused without --mode.
    let err = fails(
        &home,
        &[
            "features",
            "transform",
            "--plan",
            selected,
            "--table",
            "apps",
            "--out-table",
            "apps_woe",
        ],
    );
    assert!(err.contains("already exists"), "{err}");

    // The report is one self-contained HTML file with a chart per feature.
    let html = dir.path().join("report.html");
    json(
        &home,
        &[
            "features",
            "report",
            "--plan",
            &plan_path,
            "--out",
            html.to_str().unwrap(),
        ],
    );
    let text = std::fs::read_to_string(&html).unwrap();
    assert_eq!(text.matches("<svg").count(), 12);
    assert!(
        !text.contains("http://")
            || text.matches("http://").count() == text.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );
}

#[test]
fn bin_a_csv_file_with_a_text_label_and_transform_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let g = german_str();
    let b = json(
        &home,
        &[
            "features",
            "bin",
            "--table",
            &g,
            "--label",
            "creditability",
            "--bad-value",
            "bad",
            "--method",
            "tree",
            "--max-bins",
            "5",
        ],
    );
    assert_eq!(b["rows"], 1000);
    assert!((b["bad"].as_f64().unwrap() - 300.0).abs() < 1e-9);
    let status = feature(&b, "status_of_existing_checking_account");
    assert_eq!(status["type"], "categorical");
    assert!(
        status["iv"].as_f64().unwrap() > 0.5,
        "the strongest German credit feature: {status}"
    );
    let out = dir.path().join("bins.parquet");
    let t = json(
        &home,
        &[
            "features",
            "transform",
            "--plan",
            b["plan"].as_str().unwrap(),
            "--table",
            &g,
            "--out",
            out.to_str().unwrap(),
            "--output",
            "bin",
        ],
    );
    assert_eq!(t["rows"], 1000);
    let q = json(
        &home,
        &[
            "sql",
            "--file",
            &format!("b={}", out.display()),
            "SELECT MIN(duration_in_month) AS lo, MAX(duration_in_month) AS hi FROM b",
        ],
    );
    let row = &q["results"][0]["data"][0];
    assert_eq!(row["lo"], 0);
    assert!(row["hi"].as_i64().unwrap() <= 5, "{row}");
}

#[test]
fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let g = german_str();
    let e = fails(&home, &["features", "bin", "--table", &g]);
    assert!(e.contains("--label is required"), "{e}");
    let e = fails(&home, &["features", "bin", "--table", &g, "--label", "nope"]);
    assert!(
        e.contains("label column 'nope' is not in the table") && e.contains("creditability"),
        "{e}"
    );
    let e = fails(&home, &["features", "bin", "--table", &g, "--label", "creditability"]);
    assert!(e.contains("--bad-value"), "{e}");
    let e = fails(
        &home,
        &["features", "bin", "--table", &g, "--label", "duration_in_month"],
    );
    assert!(e.contains("not binary") && e.contains("'6'"), "{e}");
    let e = fails(
        &home,
        &[
            "features",
            "bin",
            "--table",
            &g,
            "--label",
            "creditability",
            "--bad-value",
            "bad",
            "--method",
            "magic",
        ],
    );
    assert!(e.contains("unknown binning method 'magic'"), "{e}");
    let e = fails(
        &home,
        &[
            "features",
            "bin",
            "--table",
            &g,
            "--label",
            "creditability",
            "--bad-value",
            "bad",
            "--min-bin-size",
            "0.7",
        ],
    );
    assert!(e.contains("--min-bin-size"), "{e}");
    let e = fails(
        &home,
        &[
            "features",
            "bin",
            "--table",
            &g,
            "--label",
            "creditability",
            "--bad-value",
            "bad",
            "--columns",
            "age_in_years,wat",
        ],
    );
    assert!(e.contains("'wat'"), "{e}");
    let e = fails(
        &home,
        &["features", "bin", "--table", "no_such_table", "--label", "bad"],
    );
    assert!(e.contains("no_such_table"), "{e}");
    // A plan applied to a table that lacks one of its features.
    let b = json(
        &home,
        &[
            "features",
            "bin",
            "--table",
            &g,
            "--label",
            "creditability",
            "--bad-value",
            "bad",
            "--columns",
            "age_in_years",
        ],
    );
    let small = dir.path().join("small.csv");
    std::fs::write(&small, "duration_in_month,creditability\n6,good\n").unwrap();
    let e = fails(
        &home,
        &[
            "features",
            "transform",
            "--plan",
            b["plan"].as_str().unwrap(),
            "--table",
            small.to_str().unwrap(),
            "--out",
            dir.path().join("x.csv").to_str().unwrap(),
        ],
    );
    assert!(e.contains("lacks planned feature column(s): age_in_years"), "{e}");
    // Corrupt and foreign plans.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"format\": \"risklake.binning_plan\", \"version\": 9}").unwrap();
    let e = fails(
        &home,
        &[
            "features",
            "report",
            "--plan",
            bad.to_str().unwrap(),
            "--out",
            "/dev/null",
        ],
    );
    assert!(e.contains("version 9"), "{e}");
    let e = fails(&home, &["features", "report", "--plan", "12345", "--out", "/dev/null"]);
    assert!(e.contains("12345"), "{e}");
    // An empty table.
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "x,bad\n").unwrap();
    let e = fails(
        &home,
        &["features", "bin", "--table", empty.to_str().unwrap(), "--label", "bad"],
    );
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn psi_by_period_orders_month_names_in_time_and_names_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // Three months written as text that sorts wrongly ("Dec-2017" < "Feb-2018" < "Jan-2018").
    let mut csv = String::from("period,x,bad\n");
    for (i, period) in ["Jan-2018", "Feb-2018", "Dec-2017"].iter().enumerate() {
        for r in 0..300 {
            let x = (r * 7 + i * 50) % 100;
            csv.push_str(&format!("{period},{x},{}\n", (r % 5 == 0) as u8));
        }
    }
    let file = dir.path().join("periods.csv");
    std::fs::write(&file, csv).unwrap();
    let out = json(
        &home,
        &[
            "features",
            "evaluate",
            "--table",
            file.to_str().unwrap(),
            "--label",
            "bad",
            "--columns",
            "x",
            "--psi-by",
            "period",
        ],
    );
    let psi = out["psi"].as_array().unwrap();
    let groups: Vec<&str> = psi.iter().map(|p| p["group"].as_str().unwrap()).collect();
    assert_eq!(groups, ["Jan-2018", "Feb-2018"], "compared in time order");
    assert_eq!(psi[0]["baseline"], "Dec-2017 (first period, ordered as dates)");
    let runs = json(&home, &["runs", "list", "--kind", "features.evaluate"]);
    let run = runs["runs"][0]["id"].to_string();
    let shown = json(&home, &["runs", "show", &run]);
    assert_eq!(
        shown["params"]["psi_baseline"],
        "Dec-2017 (first period, ordered as dates)"
    );
}

#[test]
fn leaks_and_thin_bins_are_flagged_and_kept_in_selection_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // `leak` is the label itself; `score` is a fair feature; `rare` puts 2 bads in a bin.
    let mut csv = String::from("leak,score,rare,bad\n");
    for r in 0..2000u32 {
        let bad = (r % 7 == 0) as u8;
        let score = (r * 37) % 100 + if bad == 1 { 20 } else { 0 };
        let rare = if r < 40 { 1000 + r } else { r % 50 };
        csv.push_str(&format!("{bad},{score},{rare},{bad}\n"));
    }
    let file = dir.path().join("leaky.csv");
    std::fs::write(&file, csv).unwrap();
    let out = json(
        &home,
        &["features", "bin", "--table", file.to_str().unwrap(), "--label", "bad"],
    );
    let flags = |name: &str| -> Vec<String> {
        out["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["feature"] == name)
            .unwrap()["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        flags("leak")[0].contains("separates the classes perfectly"),
        "{:?}",
        flags("leak")
    );
    assert!(
        !flags("score").iter().any(|f| f.contains("probable leakage")),
        "{:?}",
        flags("score")
    );
    // Selection that drops the leak for another reason keeps the flag in the reason.
    let plan = out["run"].to_string();
    let sel = json(&home, &["features", "select", "--plan", &plan, "--min-iv", "100"]);
    let text = sel.to_string();
    assert!(text.contains("flagged: separates the classes perfectly"), "{text}");
    // The decisions are kept with the run, and the report lists the dropped features.
    let shown = json(&home, &["runs", "show", &sel["run"].to_string()]);
    let artifact = |name: &str| {
        let a = shown["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap();
        std::fs::read_to_string(a["path"].as_str().unwrap()).unwrap()
    };
    let csv = artifact("selection.csv");
    assert_eq!(csv.lines().count(), 4, "a header and the 3 features: {csv}");
    assert!(
        csv.lines()
            .any(|l| l.starts_with("leak,false,\"IV ") && l.contains("flagged")),
        "{csv}"
    );
    let html = artifact("report.html");
    assert!(html.contains("Dropped by the selection (3)") && html.contains("separates the classes perfectly"));
}

#[test]
fn transform_can_keep_the_raw_columns_beside_their_woe() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let plan = json(
        &home,
        &[
            "features",
            "bin",
            "--table",
            &german_str(),
            "--label",
            "creditability",
            "--bad-value",
            "bad",
            "--columns",
            "duration_in_month,purpose",
        ],
    )["run"]
        .to_string();
    let out = dir.path().join("woe.csv");
    let r = json(
        &home,
        &[
            "features",
            "transform",
            "--plan",
            &plan,
            "--table",
            &german_str(),
            "--out",
            out.to_str().unwrap(),
            "--suffix",
            "_woe",
        ],
    );
    assert_eq!(r["rows"], 1000);
    let text = std::fs::read_to_string(&out).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let raw = std::fs::read_to_string(german()).unwrap();
    let raw_header: Vec<&str> = raw.lines().next().unwrap().split(',').collect();
    assert_eq!(
        &header[..raw_header.len()],
        &raw_header[..],
        "the raw columns first, unchanged"
    );
    assert_eq!(&header[raw_header.len()..], ["duration_in_month_woe", "purpose_woe"]);
    let first: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    let raw_first: Vec<&str> = raw.lines().nth(1).unwrap().split(',').collect();
    let d = raw_header.iter().position(|h| *h == "duration_in_month").unwrap();
    assert_eq!(first[d], raw_first[d], "raw duration kept");
    // (A quoted text field holds a comma: count the new columns from the end.)
    assert!(first[first.len() - 2].parse::<f64>().is_ok(), "a WoE value: {first:?}");
    let e = fails(
        &home,
        &[
            "features",
            "transform",
            "--plan",
            &plan,
            "--table",
            out.to_str().unwrap(),
            "--out",
            dir.path().join("x.csv").to_str().unwrap(),
            "--suffix",
            "_woe",
        ],
    );
    assert!(e.contains("already has a column 'duration_in_month_woe'"), "{e}");
}

#[test]
fn unseen_categories_score_neutral_by_default_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let cols = "duration_in_month,purpose,credit_amount";
    let plan = json(
        &home,
        &[
            "features",
            "bin",
            "--table",
            &german_str(),
            "--label",
            "creditability",
            "--bad-value",
            "bad",
            "--columns",
            cols,
        ],
    )["run"]
        .to_string();
    let lr = json(
        &home,
        &[
            "train",
            "lr",
            "--table",
            &german_str(),
            "--label",
            "creditability",
            "--bad-value",
            "bad",
            "--plan",
            &plan,
        ],
    )["run"]
        .to_string();
    let card = json(&home, &["scorecard", "build", "--model", &lr])["run"].to_string();
    // Two applications with a purpose the data never had.
    let raw = std::fs::read_to_string(german()).unwrap();
    let mut lines: Vec<String> = raw.lines().map(str::to_string).collect();
    for l in lines.iter_mut().skip(1).take(2) {
        *l = l.replacen(",radio/television,", ",spaceship,", 1);
    }
    assert!(lines[1].contains("spaceship") && lines[2].contains("spaceship"));
    let new = dir.path().join("new.csv");
    std::fs::write(&new, lines.join("\n") + "\n").unwrap();
    let scored = |unseen: &str| {
        let out = dir.path().join(format!("s_{unseen}.csv"));
        let r = common::risklake(
            &home,
            &[
                "score",
                "--scorecard",
                &card,
                "--table",
                new.to_str().unwrap(),
                "--points",
                "--unseen",
                unseen,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let text = std::fs::read_to_string(&out).unwrap();
        let header: Vec<String> = text.lines().next().unwrap().split(',').map(str::to_string).collect();
        let p = header.iter().position(|h| h == "points_purpose").unwrap();
        // Count from the end: a quoted text field holds a comma.
        let from_end = header.len() - p;
        let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
        (
            row[row.len() - from_end].parse::<f64>().unwrap(),
            String::from_utf8_lossy(&r.stderr).to_string(),
        )
    };
    let (neutral, note) = scored("neutral");
    assert_eq!(neutral, 0.0, "an unseen category earns 0 points");
    assert!(note.contains("2 rows of purpose hold a category"), "{note}");
    let card_json: Value = serde_json::from_str(
        &std::fs::read_to_string(
            json(&home, &["runs", "show", &card])["artifacts"][0]["path"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let purpose = card_json["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "purpose")
        .unwrap();
    let missing_points = purpose["bins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "missing")
        .unwrap()["points"]
        .as_f64()
        .unwrap();
    assert_eq!(scored("missing").0, missing_points);
    let runs = json(&home, &["runs", "list", "--kind", "score", "--limit", "1"]);
    let shown = json(&home, &["runs", "show", &runs["runs"][0]["id"].to_string()]);
    assert_eq!(shown["metrics"]["unseen.purpose"], 2.0);
    let e = fails(
        &home,
        &[
            "score",
            "--scorecard",
            &card,
            "--table",
            new.to_str().unwrap(),
            "--unseen",
            "error",
            "--out",
            dir.path().join("e.csv").to_str().unwrap(),
        ],
    );
    assert!(e.contains("'spaceship'"), "{e}");
}

#[test]
fn special_values_can_be_set_per_column() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let mut csv = String::from("a,b,bad\n");
    for r in 0..1000 {
        let a = if r % 10 == 0 { -999 } else { r % 97 };
        let b = if r % 10 == 0 {
            -999
        } else if r % 10 == 1 {
            -1
        } else {
            r % 89
        };
        csv.push_str(&format!("{a},{b},{}\n", (r % 6 == 0) as u8));
    }
    let file = dir.path().join("specials.csv");
    std::fs::write(&file, csv).unwrap();
    let out = json(
        &home,
        &[
            "features",
            "bin",
            "--table",
            file.to_str().unwrap(),
            "--label",
            "bad",
            "--special-values",
            "-999",
            "--column-special-values",
            "b=-1",
        ],
    );
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(out["plan"].as_str().unwrap()).unwrap()).unwrap();
    let specials = |name: &str| -> Vec<f64> {
        plan["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()["bins"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["kind"] == "special")
            .map(|b| b["special_value"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(specials("a"), [-999.0], "the global list");
    assert_eq!(specials("b"), [-1.0], "b's own list replaces it");
    let e = fails(
        &home,
        &[
            "features",
            "bin",
            "--table",
            file.to_str().unwrap(),
            "--label",
            "bad",
            "--column-special-values",
            "c=-1",
        ],
    );
    assert!(e.contains("names 'c'"), "{e}");
}

#[test]
fn one_feature_can_have_its_own_binning_settings() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let table = german_str();
    let bins = |extra: &[&str]| {
        let mut args = vec![
            "features",
            "bin",
            "--table",
            &table,
            "--label",
            "creditability",
            "--bad-value",
            "bad",
            "--columns",
            "duration_in_month,credit_amount,age_in_years",
            "--method",
            "quantile",
            "--max-bins",
            "6",
        ];
        args.extend_from_slice(extra);
        let out = json(&home, &args);
        let count = |name: &str| feature(&out, name)["bins"].as_u64().unwrap();
        (
            count("duration_in_month"),
            count("credit_amount"),
            count("age_in_years"),
        )
    };
    let (d, c, a) = bins(&[]);
    assert!(d > 3 && c > 3 && a > 3, "{d} {c} {a}");
    let (d2, c2, a2) = bins(&[
        "--feature",
        "credit_amount:max_bins=3",
        "--feature",
        "age_in_years:method=uniform,max_bins=2",
    ]);
    assert_eq!((d2, c2, a2), (d, 3, 2), "only the named features change");
    let e = fails(
        &home,
        &[
            "features",
            "bin",
            "--table",
            &german_str(),
            "--label",
            "creditability",
            "--bad-value",
            "bad",
            "--feature",
            "agee:max_bins=3",
        ],
    );
    assert!(e.contains("names 'agee'"), "{e}");
    let e = fails(
        &home,
        &[
            "features",
            "bin",
            "--table",
            &german_str(),
            "--label",
            "creditability",
            "--bad-value",
            "bad",
            "--feature",
            "age_in_years:bins=3",
        ],
    );
    assert!(e.contains("unknown setting 'bins'"), "{e}");
}
