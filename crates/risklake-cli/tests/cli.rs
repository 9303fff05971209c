//! The CLI contract other issues rely on: `--home`, `--json` (one document on stdout,
//! errors on stderr with a non-zero exit), `--table` as lake name or file, runs recorded.

use std::process::Command;

use serde_json::Value;

mod common;
use common::{fails, json, risklake};

#[test]
fn quickstart_on_an_empty_home_records_everything() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let q = json(&home, &["quickstart", "--rows", "3000"]);
    assert_eq!(q["steps"][0]["rows"], 3000);
    assert_eq!(q["steps"][1]["rows"], 1000, "German credit has 1000 rows");
    let months = q["steps"][2]["data"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    let total: i64 = months.iter().map(|m| m["applications"].as_i64().unwrap()).sum();
    assert_eq!(total, 3000);

    let tables = json(&home, &["tables"]);
    let names: Vec<&str> = tables["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "default.credit_apps",
            "default.credit_apps_reasons",
            "default.credit_apps_woe",
            "default.german_credit"
        ]
    );
    // The binning step ranked the features and wrote the WoE table with every row.
    let binned = q["steps"][4]["features"].as_array().unwrap();
    assert_eq!(binned.len(), 24);
    assert!(binned[0]["iv"].as_f64().unwrap() > 0.1, "{binned:?}");
    assert_eq!(q["steps"][5]["rows"], 3000);
    assert!(std::path::Path::new(q["steps"][5]["report"].as_str().unwrap()).exists());
    // The GBDT step trained on ~80% of the rows and validated on the rest.
    let gbdt = &q["steps"][6];
    assert_eq!(
        gbdt["rows"].as_i64().unwrap() + gbdt["valid_rows"].as_i64().unwrap(),
        3000
    );
    assert!(gbdt["valid_auc"].as_f64().unwrap() > 0.7, "{gbdt}");
    // Stepwise LR on the WoE values, then its scorecard ranks the rows.
    let lr = &q["steps"][7];
    assert!(lr["features"].as_i64().unwrap() >= 5, "{lr}");
    assert!(lr["valid_auc"].as_f64().unwrap() > 0.7, "{lr}");
    assert!(q["steps"][8]["auc"].as_f64().unwrap() > 0.7, "{}", q["steps"][8]);
    // A tuning study in an Optuna journal file inside the home.
    // The server step: a job through the API, applicants scored by the champion.
    let serve = q["steps"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (serve["step"].as_str(), serve["job_status"].as_str()),
        (Some("serve"), Some("succeeded")),
        "{serve}"
    );
    let p = serve["probabilities"].as_array().unwrap();
    assert_eq!(p.len(), 3, "{serve}");
    assert!(p.iter().all(|p| (0.0..1.0).contains(&p.as_f64().unwrap())), "{serve}");
    let tune = &q["steps"][9];
    assert_eq!(tune["trials"], 12, "{tune}");
    assert!(tune["best_value"].as_f64().unwrap() > 0.7, "{tune}");
    assert!(std::path::Path::new(tune["storage"].as_str().unwrap()).exists());
    // Its parameter importances (fANOVA): the study's parameters, shares summing to 1,
    // the same as `studies importance` answers.
    let shares: f64 = tune["importance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["importance"].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9, "{tune}");
    let again = json(&home, &["studies", "importance", "quickstart-gbdt"]);
    assert_eq!(again["params"], tune["importance"]);
    let listed = json(&home, &["studies", "list"]);
    assert_eq!(listed["studies"][0]["name"], "quickstart-gbdt");
    let shown = json(&home, &["studies", "show", "quickstart-gbdt", "--top", "3"]);
    assert_eq!(shown["top"].as_array().unwrap().len(), 3);
    assert_eq!(shown["top"][0]["value"], tune["best_value"]);
    // The registry, reason codes, a model report, lineage and a bit-identical replay.
    let registry = &q["steps"][10]["models"];
    assert_eq!(
        (registry[0]["name"].as_str(), registry[0]["aliases"][0].as_str()),
        (Some("pd_gbdt"), Some("champion"))
    );
    assert_eq!(q["steps"][11]["rows"], 3000);
    assert!(q["steps"][12]["auc"].as_f64().unwrap() > 0.7);
    assert!(std::path::Path::new(q["steps"][12]["report"].as_str().unwrap()).exists());
    assert_eq!(q["steps"][13]["identical"], true, "{}", q["steps"][13]);
    // Upkeep with the defaults on a fresh lake: every table seen, nothing young removed.
    let upkeep = q["steps"][14]["tables"].as_array().unwrap();
    assert!(upkeep.len() >= 4, "{upkeep:?}");
    assert!(
        upkeep
            .iter()
            .all(|t| t["expired"] == serde_json::json!([]) && t["orphans"] == 0),
        "{upkeep:?}"
    );
    let d = json(&home, &["describe", "german_credit"]);
    assert_eq!(d["rows"], 1000);
    assert_eq!(d["columns"].as_array().unwrap().len(), 21);

    let runs = json(&home, &["runs", "list", "--limit", "100"]);
    let all: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        all.iter().filter(|k| **k == "tune.trial").count(),
        12,
        "every trial is a run"
    );
    let kinds: Vec<&str> = all.into_iter().filter(|k| *k != "tune.trial").collect();
    assert_eq!(
        kinds,
        vec![
            "sql",
            "maintain",
            "train.gbdt",
            "model.report",
            "predict",
            "tune",
            "scorecard.evaluate",
            "scorecard.build",
            "train.lr",
            "train.gbdt",
            "features.transform",
            "features.bin",
            "sql",
            "ingest",
            "gen"
        ],
        "newest first"
    );
    let gen_id = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "gen")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let show = json(&home, &["runs", "show", &gen_id.to_string()]);
    assert_eq!(show["status"], "finished");
    assert_eq!(show["params"]["rows"], "3000");
    assert_eq!(show["datasets"][0]["name"], "default.credit_apps");
    assert_eq!(show["datasets"][0]["snapshot"], 1);

    // Run again on the same home: tables are replaced, not duplicated.
    json(&home, &["quickstart", "--rows", "1000"]);
    let c = json(&home, &["sql", "SELECT COUNT(*) AS n FROM credit_apps"]);
    assert_eq!(c["results"][0]["data"][0]["n"], 1000);
}

#[test]
fn json_errors_go_to_stderr_with_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    // Commands that only read a home do not create one; they name the folder they missed.
    for args in [
        &["tables"][..],
        &["runs", "list"],
        &["describe", "apps"],
        &["model", "list"],
    ] {
        let e = fails(&home, args);
        assert!(
            e.contains("risklake home not found") && e.contains(home.to_str().unwrap()),
            "{args:?}: {e}"
        );
        assert!(!home.exists(), "{args:?} created the home");
    }
    let init = json(&home, &["init"]);
    assert!(init["warehouse"].as_str().unwrap().ends_with("warehouse"));
    assert_eq!(json(&home, &["tables"])["tables"], Value::Array(vec![]));
    let e = fails(&home, &["--json", "describe", "nope"]);
    let v: Value = serde_json::from_str(e.trim()).expect("JSON error on stderr");
    assert!(v["error"].as_str().unwrap().contains("default.nope"), "{e}");
    assert!(
        v["error"].as_str().unwrap().contains("in the home"),
        "a missing table names the home: {e}"
    );
    let e = fails(&home, &["sql", "SELEC 1"]);
    assert!(e.contains("SQL error"), "{e}");
    let e = fails(&home, &["ingest", "x.csv", "--table", "t", "--mode", "merge"]);
    assert!(e.contains("merge"), "{e}");
    let e = fails(&home, &["ingest", "missing.csv", "--table", "t"]);
    assert!(e.contains("missing.csv"), "{e}");
    let e = fails(
        &home,
        &["gen", "credit", "--rows", "10", "--features", "0", "--table", "g"],
    );
    assert!(e.contains("--features"), "{e}");
    for rows in ["0", "99000000000"] {
        let e = fails(&home, &["gen", "credit", "--rows", rows, "--table", "g"]);
        assert!(e.contains("rows must be between 1 and 10000000000"), "{e}");
    }
    // A negative number is a bad value of its option, not an unknown flag.
    let e = fails(
        &home,
        &["features", "bin", "--table", "t", "--label", "bad", "--max-bins", "-3"],
    );
    assert!(e.contains("'-3'") && e.contains("--max-bins"), "{e}");
    // A header without rows gives no types to create a table from.
    let header_only = dir.path().join("empty.csv");
    std::fs::write(&header_only, "id,amount,grade\n").unwrap();
    let e = fails(&home, &["ingest", header_only.to_str().unwrap(), "--table", "empty"]);
    assert!(
        e.contains("has a header but no rows") && e.contains("id, amount, grade"),
        "{e}"
    );
    assert!(fails(&home, &["describe", "empty"]).contains("not found"));
    let r = json(
        &home,
        &[
            "ingest",
            header_only.to_str().unwrap(),
            "--table",
            "empty",
            "--schema",
            "id=bigint,amount=double,grade=string",
        ],
    );
    assert_eq!(r["rows_written"], 0);
    // Infinities are numbers.
    let infs = dir.path().join("inf.csv");
    std::fs::write(&infs, "id,ratio\n1,0.5\n2,inf\n3,-inf\n").unwrap();
    json(&home, &["ingest", infs.to_str().unwrap(), "--table", "infs"]);
    let d = json(&home, &["describe", "infs"]);
    assert_eq!(d["columns"][1]["type"], "DOUBLE", "{d}");
    let c = json(
        &home,
        &[
            "sql",
            "SELECT COUNT(*) AS n FROM infs WHERE ratio > 1e308 OR ratio < -1e308",
        ],
    );
    assert_eq!(c["results"][0]["data"][0]["n"], 2);
    // The failed runs are recorded as failed, with their error.
    let failed = json(&home, &["runs", "list", "--status", "failed"]);
    assert!(failed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["error"].as_str().unwrap_or("").contains("missing.csv")));
}

#[test]
fn ingest_sql_formats_and_files_as_tables() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let csv = dir.path().join("loans.csv");
    std::fs::write(&csv, "id,amount,grade\n1,10.5,A\n2,x,B\n3,30,C\n").unwrap();
    // Inference would make `amount` text (the sample holds "x"); the override pins it.
    let csv_arg = csv.to_str().unwrap();
    let ingest = ["ingest", csv_arg, "--table", "risk.loans", "--schema", "amount=double"];
    let e = fails(&home, &ingest);
    assert!(e.contains("loans.csv, line 3, column amount"), "{e}");
    let quarantine = [&ingest[..], &["--on-error", "quarantine", "--primary-key", "id"]].concat();
    let r = json(&home, &quarantine);
    assert_eq!(
        (r["rows_written"].as_u64(), r["rows_rejected"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(r["rejected_table"], "risk.loans__rejected");

    let out = risklake(
        &home,
        &["sql", "SELECT id, grade FROM risk.loans ORDER BY id", "--format", "csv"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "id,grade\n1,A\n3,C\n");
    let out = risklake(
        &home,
        &["sql", "SELECT id FROM risk.loans ORDER BY id", "--format", "json"],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!([{"id": 1}, {"id": 3}]));
    let pq = dir.path().join("out.parquet");
    json(
        &home,
        &[
            "sql",
            "SELECT * FROM risk.loans",
            "--format",
            "parquet",
            "--out",
            pq.to_str().unwrap(),
        ],
    );
    // A file is a table too: query the Parquet file we just wrote.
    let spec = format!("f={}", pq.display());
    let v = json(&home, &["sql", "--file", &spec, "SELECT SUM(amount) AS s FROM f"]);
    assert_eq!(v["results"][0]["data"][0]["s"], 40.5);

    // gen into a file, then ingest it: --table as a path.
    let g = dir.path().join("apps.parquet");
    json(
        &home,
        &[
            "gen",
            "credit",
            "--rows",
            "500",
            "--features",
            "8",
            "--out",
            g.to_str().unwrap(),
        ],
    );
    let r = json(&home, &["ingest", g.to_str().unwrap(), "--table", "apps"]);
    assert_eq!(r["rows_written"], 500);
    let e = fails(&home, &["gen", "credit", "--rows", "5", "--table", "apps"]);
    assert!(e.contains("already exists"), "{e}");
    json(
        &home,
        &[
            "gen",
            "credit",
            "--rows",
            "500",
            "--features",
            "8",
            "--table",
            "apps",
            "--mode",
            "append",
        ],
    );
    let c = json(
        &home,
        &["sql", "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM apps"],
    );
    assert_eq!(
        (
            c["results"][0]["data"][0]["n"].as_i64(),
            c["results"][0]["data"][0]["d"].as_i64()
        ),
        (Some(1000), Some(500))
    );

    // Tags and time travel from the CLI.
    json(&home, &["tag", "apps", "v1", "--snapshot", "1"]);
    let c = json(&home, &["sql", "SELECT COUNT(*) AS n FROM apps VERSION AS OF 'v1'"]);
    assert_eq!(c["results"][0]["data"][0]["n"], 500);
}

#[test]
fn ingest_job_runs_every_source_as_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    std::fs::write(dir.path().join("a.csv"), "id,v\n1,1.5\n2,2.5\n").unwrap();
    std::fs::write(
        dir.path().join("b.jsonl"),
        "{\"k\": \"x\", \"n\": 1}\n{\"k\": \"y\", \"n\": 2}\n",
    )
    .unwrap();
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        "[defaults]\non_error = \"quarantine\"\n\n[[source]]\npath = \"a.csv\"\ntable = \"raw.a\"\nprimary_key = [\"id\"]\n\n\
         [[source]]\nname = \"events\"\npath = \"b.jsonl\"\ntable = \"raw.b\"\nmode = \"overwrite\"\n",
    )
    .unwrap();
    let r = json(&home, &["ingest", "--job", job.to_str().unwrap()]);
    let sources = r["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2);
    assert_eq!(
        (sources[0]["rows_written"].as_u64(), sources[1]["rows_written"].as_u64()),
        (Some(2), Some(2))
    );
    let runs = json(&home, &["runs", "list", "--kind", "ingest"]);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 2);
    std::fs::write(&job, "[[source]]\npath = \"a.csv\"\n").unwrap();
    let e = fails(&home, &["ingest", "--job", job.to_str().unwrap()]);
    assert!(e.contains("table"), "{e}");
}

/// PostgreSQL incremental ingest from the CLI: the high-water mark survives between runs.
#[test]
fn postgres_incremental_from_the_cli() {
    let Some(url) = common::test_pg_url() else {
        return;
    };
    let psql = |sql: &str| common::psql(&url, sql);
    let t = format!("cli_inc_{}", std::process::id());
    psql(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (id int primary key, v text, seq bigint); INSERT INTO {t} VALUES (1,'a',10),(2,'b',20);"));
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let args = [
        "ingest",
        url.as_str(),
        "--source-table",
        t.as_str(),
        "--table",
        "raw.inc",
        "--incremental-column",
        "seq",
        "--primary-key",
        "id",
        "--mode",
        "upsert",
    ];
    let r = json(&home, &args);
    assert_eq!(
        (r["rows_written"].as_u64(), r["high_water_mark"].as_str()),
        (Some(2), Some("20"))
    );
    psql(&format!(
        "INSERT INTO {t} VALUES (3,'c',30); UPDATE {t} SET v = 'a2', seq = 40 WHERE id = 1;"
    ));
    let r = json(&home, &args);
    assert_eq!(
        (r["rows_written"].as_u64(), r["high_water_mark"].as_str()),
        (Some(2), Some("40"))
    );
    let r = json(&home, &args);
    assert_eq!(r["rows_written"], 0);
    let c = json(&home, &["sql", "SELECT id, v FROM raw.inc ORDER BY id"]);
    assert_eq!(
        c["results"][0]["data"],
        serde_json::json!([{"id": 1, "v": "a2"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}])
    );
    let runs = json(&home, &["runs", "list", "--kind", "ingest"]);
    let cmd = runs["runs"][0]["command"].as_str().unwrap();
    assert!(!cmd.contains(":secret"), "{cmd}");
    psql(&format!("DROP TABLE {t}"));
}

/// MySQL / MariaDB: a table and a query, every common column type as its Arrow type,
/// incremental reads keeping the high-water mark, and errors that name the row and column.
#[test]
fn mysql_types_incremental_and_errors() {
    let Some(url) = common::test_mysql_url() else {
        return;
    };
    let my = |sql: &str| common::mysql(&url, sql);
    let t = format!("cli_types_{}", std::process::id());
    my(&format!(
        "DROP TABLE IF EXISTS {t};
         CREATE TABLE {t} (id INT PRIMARY KEY, amt DECIMAL(12,2), rate DOUBLE, r FLOAT, small SMALLINT UNSIGNED,
           flag TINYINT(1), bit1 BIT(1), bits BIT(12), big BIGINT UNSIGNED, d DATE, dt DATETIME(3), ts TIMESTAMP NULL,
           name VARCHAR(20), t TIME, bin VARBINARY(4), e ENUM('a','b'), y YEAR, seq BIGINT);
         SET SESSION time_zone = '+02:00';
         INSERT INTO {t} VALUES
           (1, 1234.50, 0.1, 1.5, 65535, 1, b'1', b'100000000001', 7, '2024-01-31', '2024-01-31 12:00:00.123',
            '2024-01-31 12:00:00', 'ana ''q''', '-26:03:04', 0x41, 'b', 2024, 10),
           (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0000-00-00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 20);"
    ));
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let r = json(&home, &["ingest", &url, "--source-table", &t, "--table", "raw.types"]);
    assert_eq!(r["rows_written"], 2, "{r}");
    let nulls = json(&home, &["sql", "SELECT COUNT(*) AS n FROM raw.types WHERE id = 2 AND amt IS NULL AND d IS NULL AND ts IS NULL AND bin IS NULL AND big IS NULL"]);
    assert_eq!(
        nulls["results"][0]["data"][0]["n"], 1,
        "nulls and the zero date read as null"
    );
    let d = json(&home, &["describe", "raw.types"]);
    let types: Vec<(String, String)> = d["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("id", "INT"),
        ("amt", "DOUBLE"),
        ("rate", "DOUBLE"),
        ("r", "FLOAT"),
        ("small", "INT"),
        ("flag", "SMALLINT"),
        ("bit1", "BOOLEAN"),
        ("bits", "BIGINT"),
        ("big", "BIGINT"),
        ("d", "DATE"),
        ("dt", "TIMESTAMP(6)"),
        ("ts", "TIMESTAMP(6) WITH LOCAL TIME ZONE"),
        ("name", "STRING"),
        ("t", "STRING"),
        ("bin", "STRING"),
        ("e", "STRING"),
        ("y", "SMALLINT"),
        ("seq", "BIGINT"),
    ];
    assert_eq!(
        types,
        want.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    let c = json(
        &home,
        &[
            "sql",
            "SELECT id, amt, rate, small, flag, bit1, bits, big, CAST(d AS VARCHAR) AS d, CAST(dt AS VARCHAR) AS dt, \
             CAST(ts AS VARCHAR) AS ts, name, t, bin, e, y FROM raw.types ORDER BY id",
        ],
    );
    assert_eq!(
        c["results"][0]["data"],
        serde_json::json!([
            {"id": 1, "amt": 1234.5, "rate": 0.1, "small": 65535, "flag": 1, "bit1": true, "bits": 2049, "big": 7,
             "d": "2024-01-31", "dt": "2024-01-31T12:00:00.123", "ts": "2024-01-31T10:00:00Z", "name": "ana 'q'",
             "t": "-26:03:04", "bin": "A", "e": "b", "y": 2024},
            {"id": 2}
        ]),
        "TIMESTAMP written at +02:00 reads as its UTC instant"
    );

    // A query, incremental on a column: the mark survives between runs.
    let q = format!("SELECT id, name, seq FROM {t}");
    let args = [
        "ingest",
        url.as_str(),
        "--query",
        q.as_str(),
        "--table",
        "raw.inc",
        "--incremental-column",
        "seq",
        "--primary-key",
        "id",
        "--mode",
        "upsert",
    ];
    let r = json(&home, &args);
    assert_eq!(
        (r["rows_written"].as_u64(), r["high_water_mark"].as_str()),
        (Some(2), Some("20"))
    );
    my(&format!(
        "INSERT INTO {t} (id, name, seq) VALUES (3, 'c', 30); UPDATE {t} SET name = 'a2', seq = 40 WHERE id = 1;"
    ));
    let r = json(&home, &args);
    assert_eq!(
        (r["rows_written"].as_u64(), r["high_water_mark"].as_str()),
        (Some(2), Some("40"))
    );
    let r = json(&home, &args);
    assert_eq!(
        (r["rows_written"].as_u64(), r["high_water_mark"].as_str()),
        (Some(0), Some("40"))
    );
    let c = json(&home, &["sql", "SELECT id, name FROM raw.inc ORDER BY id"]);
    assert_eq!(
        c["results"][0]["data"],
        serde_json::json!([{"id": 1, "name": "a2"}, {"id": 2}, {"id": 3, "name": "c"}])
    );

    // Errors: the server's own words, and the row and column a value cannot be read from.
    let e = fails(
        &home,
        &[
            "ingest",
            &url,
            "--source-table",
            &format!("{t}_missing"),
            "--table",
            "raw.x",
        ],
    );
    assert!(e.contains("doesn't exist") && e.contains("_missing"), "{e}");
    let e = fails(&home, &["ingest", &url, "--query", "SELEKT 1", "--table", "raw.x"]);
    assert!(e.contains("SQL syntax"), "{e}");
    my(&format!(
        "UPDATE {t} SET big = 18446744073709551615, bin = 0xFFFE WHERE id = 3"
    ));
    let e = fails(
        &home,
        &[
            "ingest",
            &url,
            "--query",
            &format!("SELECT id, big FROM {t} ORDER BY id"),
            "--table",
            "raw.x",
        ],
    );
    assert!(e.contains("row 3 column big") && e.contains("does not fit"), "{e}");
    let e = fails(
        &home,
        &[
            "ingest",
            &url,
            "--query",
            &format!("SELECT id, bin FROM {t} ORDER BY id"),
            "--table",
            "raw.x",
        ],
    );
    assert!(e.contains("row 3 column bin") && e.contains("HEX(column)"), "{e}");
    let tables = json(&home, &["tables"]);
    assert!(
        !tables.to_string().contains("raw.x"),
        "a failed ingest leaves no table: {tables}"
    );
    let e = fails(
        &home,
        &[
            "ingest",
            "mysql://nobody@127.0.0.1:1/db",
            "--query",
            "SELECT 1",
            "--table",
            "raw.x",
        ],
    );
    assert!(e.contains("connecting to mysql://nobody@127.0.0.1:1/db"), "{e}");
    my(&format!("DROP TABLE {t}"));
}

#[test]
fn interactive_shell_runs_multi_line_statements_and_survives_errors() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let mut child = Command::new(env!("CARGO_BIN_EXE_risklake"))
        .arg("--home")
        .arg(&home)
        .arg("sql")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT 40 +\n  2 AS answer;\nSELECT nonsense;\nCREATE TABLE t AS SELECT 7 AS v;\n\\d\nSELECT v FROM t;\n\\q\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("| 42 "), "{stdout}");
    assert!(stderr.contains("No field named nonsense"), "{stderr}");
    assert!(stdout.contains("default.t"), "{stdout}");
    assert!(stdout.contains("| 7 "), "{stdout}");
    assert!(home.join(".sql_history").exists());
}

/// Interrupted work: output into a closed pipe ends quietly (no panic, no exit 101), and a
/// command stopped by SIGTERM or SIGKILL leaves its run `interrupted`, not `running`.
#[test]
fn closed_pipes_and_signals_leave_no_panic_and_no_running_run() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    json(
        &home,
        &["gen", "credit", "--rows", "20000", "--features", "5", "--table", "apps"],
    );
    let bin = env!("CARGO_BIN_EXE_risklake");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{bin}' --home '{}' sql 'SELECT * FROM apps' --format csv | head -1; echo \"status=${{PIPESTATUS[0]}}\" >&2",
            home.display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("status=101"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);

    // A long job stopped by SIGTERM stops at its next batch, rolls back and marks its run
    // cancelled (exit 143); one killed outright is marked interrupted by the next command.
    for (signal, status_word, expect) in [
        ("TERM", "cancelled", "cancelled"),
        ("KILL", "interrupted", "ended without finishing"),
    ] {
        let mut child = Command::new(bin)
            .arg("--home")
            .arg(&home)
            .args([
                "gen",
                "credit",
                "--rows",
                "30000000",
                "--features",
                "40",
                "--table",
                &format!("big_{signal}"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until its run is recorded as running.
        let started = std::time::Instant::now();
        loop {
            let runs = json(&home, &["runs", "list", "--status", "running"]);
            if runs["runs"].as_array().is_some_and(|r| !r.is_empty()) {
                break;
            }
            assert!(started.elapsed().as_secs() < 60, "the run never showed as running");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());
        if signal == "TERM" {
            assert_eq!(status.code(), Some(143));
        }
        // The table the write created is gone: rolled back by the cancelled writer, or
        // (SIGKILL) dropped by the next command that opens the lake, since its writer died
        // before any commit.
        assert!(
            fails(&home, &["describe", &format!("big_{signal}")]).contains("not found"),
            "the table of the SIG{signal}ed write is not left behind"
        );
        let tables = json(&home, &["tables"]).to_string();
        assert!(!tables.contains(&format!("big_{signal}")), "{tables}");
        // The next command that opens the store sees no running run.
        let runs = json(&home, &["runs", "list", "--status", status_word]);
        let runs = runs["runs"].as_array().unwrap();
        let run = runs
            .iter()
            .find(|r| r["command"].as_str().unwrap().contains(&format!("big_{signal}")))
            .unwrap_or_else(|| panic!("no {status_word} run for SIG{signal}: {runs:?}"));
        assert!(run["error"].as_str().unwrap().contains(expect), "{run}");
        assert!(json(&home, &["runs", "list", "--status", "running"])["runs"]
            .as_array()
            .unwrap()
            .is_empty());
    }
}

#[test]
fn appending_the_same_file_twice_is_refused_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let csv = dir.path().join("batch.csv");
    std::fs::write(&csv, "id,v\n1,a\n2,b\n").unwrap();
    let file = csv.to_str().unwrap();
    let count = || json(&home, &["sql", "SELECT COUNT(*) AS n FROM dup"])["results"][0]["data"][0]["n"].clone();
    json(&home, &["ingest", file, "--table", "dup"]);
    let e = fails(&home, &["ingest", file, "--table", "dup"]);
    assert!(
        e.contains("was already appended to default.dup") && e.contains("--allow-duplicate-source"),
        "{e}"
    );
    assert_eq!(count(), 2, "nothing appended");
    json(&home, &["ingest", file, "--table", "dup", "--allow-duplicate-source"]);
    assert_eq!(count(), 4);
    // An overwrite starts afresh: then the file is the one appended.
    json(&home, &["ingest", file, "--table", "dup", "--mode", "overwrite"]);
    assert_eq!(count(), 2);
    assert!(fails(&home, &["ingest", file, "--table", "dup"]).contains("already appended"));
    // Another file, or the same file into another table, is new.
    std::fs::write(dir.path().join("next.csv"), "id,v\n3,c\n").unwrap();
    json(
        &home,
        &[
            "ingest",
            dir.path().join("next.csv").to_str().unwrap(),
            "--table",
            "dup",
        ],
    );
    assert_eq!(count(), 3);
    json(&home, &["ingest", file, "--table", "dup2"]);
}

#[test]
fn normalize_names_gives_lower_snake_case_columns_and_sql_says_why_a_name_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let csv = dir.path().join("mixed.csv");
    std::fs::write(
        &csv,
        "Loan ID,LoanAmount,Home Ownership,2nd-Score\n1,100.5,OWN,3\n2,50,RENT,4\n",
    )
    .unwrap();
    json(&home, &["ingest", csv.to_str().unwrap(), "--table", "mixed"]);
    let e = fails(&home, &["sql", "SELECT LoanAmount FROM mixed"]);
    assert!(
        e.contains("need double quotes") && e.contains("--normalize-names"),
        "{e}"
    );
    json(
        &home,
        &[
            "ingest",
            csv.to_str().unwrap(),
            "--table",
            "snake",
            "--normalize-names",
            "--primary-key",
            "loan_id",
        ],
    );
    let d = json(&home, &["describe", "snake"]);
    let names: Vec<&str> = d["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["loan_id", "loan_amount", "home_ownership", "c_2nd_score"]);
    let std_csv = dir.path().join("clash.csv");
    std::fs::write(&std_csv, "a b,A-B\n1,2\n").unwrap();
    let e = fails(
        &home,
        &[
            "ingest",
            std_csv.to_str().unwrap(),
            "--table",
            "clash",
            "--normalize-names",
        ],
    );
    assert!(e.contains("'a b' and 'A-B' would both be named 'a_b'"), "{e}");
}

#[test]
fn appends_read_text_as_the_tables_types_and_name_the_bad_cell() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let first = dir.path().join("first.csv");
    std::fs::write(&first, "id,amount,grade\n1,10.5,A\n2,20,B\n").unwrap();
    json(&home, &["ingest", first.to_str().unwrap(), "--table", "t"]);
    // "notanumber" made the whole column text, and the append failed as a cast of the batch.
    let more = dir.path().join("more.csv");
    std::fs::write(&more, "id,amount,grade\n3,30,C\n4,notanumber,D\n5,50,E\n").unwrap();
    let e = fails(&home, &["ingest", more.to_str().unwrap(), "--table", "t"]);
    assert!(
        e.contains("more.csv, line 3, column amount") && e.contains("\"notanumber\""),
        "{e}"
    );
    let r = json(
        &home,
        &[
            "ingest",
            more.to_str().unwrap(),
            "--table",
            "t",
            "--on-error",
            "quarantine",
        ],
    );
    assert_eq!(
        (r["rows_written"].as_u64(), r["rows_rejected"].as_u64()),
        (Some(2), Some(1))
    );
    let c = json(&home, &["sql", "SELECT SUM(amount) AS s FROM t"]);
    assert_eq!(c["results"][0]["data"][0]["s"], 110.5);
}

/// `risklake serve` killed with SIGKILL mid-job: the next server marks the job failed
/// (interrupted) and its run interrupted, and runs new jobs; SIGTERM stops it cleanly.
#[test]
fn serve_survives_sigkill_and_stops_on_sigterm() {
    use risklake_server::client::Client;
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let start_with = |home: &std::path::Path, auth: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_risklake"))
            .arg("--home")
            .arg(home)
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "1", "--auth", auth])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        assert!(line.contains(&format!("auth {auth}")), "{line}");
        (child, Client::new(&url).unwrap())
    };
    let start = |home: &std::path::Path| start_with(home, "none");
    let wait_for = |c: &Client, id: i64, states: &[&str]| -> Value {
        let t0 = std::time::Instant::now();
        loop {
            let (_, j) = c.call("GET", &format!("/api/v1/jobs/{id}"), None).unwrap();
            if states.contains(&j["status"].as_str().unwrap_or_default()) {
                return j;
            }
            assert!(t0.elapsed() < std::time::Duration::from_secs(120), "job {id}: {j}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let (mut server, c) = start(&home);
    let job = serde_json::json!({"kind": "gen", "request": {"rows": 50_000_000, "features": 4, "table": "big"}});
    let (status, j) = c.call("POST", "/api/v1/jobs", Some(&job)).unwrap();
    assert_eq!(status, 201, "{j}");
    let id = j["id"].as_i64().unwrap();
    wait_for(&c, id, &["running"]);
    // Killed once its run is recorded and rows are being written.
    let t0 = std::time::Instant::now();
    while c.call("GET", &format!("/api/v1/jobs/{id}"), None).unwrap().1["runs"][0].is_null() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(60));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    server.kill().unwrap();
    server.wait().unwrap();

    let (mut server, c) = start(&home);
    let j = wait_for(&c, id, &["failed", "succeeded", "cancelled"]);
    assert_eq!(j["status"], "failed", "{j}");
    assert!(j["error"].as_str().unwrap().contains("interrupted"), "{j}");
    let (_, r) = c.call("GET", &format!("/api/v1/runs/{}", j["runs"][0]), None).unwrap();
    assert_eq!(r["status"], "interrupted", "{r}");
    let small = serde_json::json!({"kind": "gen", "request": {"rows": 1000, "features": 3, "table": "small"}});
    let (_, j) = c.call("POST", "/api/v1/jobs", Some(&small)).unwrap();
    let j = wait_for(&c, j["id"].as_i64().unwrap(), &["failed", "succeeded", "cancelled"]);
    assert_eq!(j["status"], "succeeded", "{j}");
    // The CLI submits any workflow command as a job and waits for it; jobs lists them.
    let url = format!("http://{}", c.addr());
    let submitted = json(
        &home,
        &[
            "submit",
            "--server",
            &url,
            "--wait",
            "train",
            "gbdt",
            "--table",
            "small",
            "--label",
            "bad",
            "--valid-fraction",
            "0.25",
            "--param",
            "num_iterations=10",
        ],
    );
    assert_eq!(
        (submitted["kind"].as_str(), submitted["status"].as_str()),
        (Some("train.gbdt"), Some("succeeded")),
        "{submitted}"
    );
    assert_eq!(submitted["runs"].as_array().map(Vec::len), Some(1), "{submitted}");
    let listed = json(&home, &["jobs", "list", "--server", &url]);
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 3, "{listed}");
    let e = fails(
        &home,
        &[
            "submit", "--server", &url, "--wait", "train", "gbdt", "--table", "nope", "--label", "bad",
        ],
    );
    assert!(e.contains("nope"), "a failed job fails the command, saying why: {e}");
    let e = fails(&home, &["submit", "--server", &url, "runs", "list"]);
    assert!(e.contains("cannot be submitted") && e.contains("train gbdt"), "{e}");
    let e = fails(&home, &["submit", "--server", &url, "train", "gbdt", "--tabel", "x"]);
    assert!(e.contains("--tabel"), "{e}");
    let e = fails(&home, &["jobs", "cancel", &id.to_string(), "--server", &url]);
    assert!(e.contains("already ended"), "{e}");
    let logs = json(&home, &["jobs", "logs", &submitted["id"].to_string(), "--server", &url]);
    assert!(logs["lines"].as_array().unwrap().len() >= 2, "{logs}");
    // SIGTERM: a clean stop.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGTERM);
    }
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let t = json(&home, &["tables"]);
    assert!(
        !t.to_string().contains("big"),
        "the killed job's table is not visible: {t}"
    );

    // With tokens (the default): created here, shown once, used by submit / jobs, revoked.
    let (mut child, c) = start_with(&home, "token");
    let url = format!("http://{}", c.addr());
    let created = json(&home, &["token", "create", "--user", "ana", "--role", "editor"]);
    let secret = created["secret"].as_str().unwrap().to_string();
    let e = fails(
        &home,
        &[
            "submit", "--server", &url, "gen", "credit", "--rows", "100", "--table", "t2",
        ],
    );
    assert!(e.contains("needs a token"), "{e}");
    let j = json(
        &home,
        &[
            "submit", "--server", &url, "--token", &secret, "--wait", "gen", "credit", "--rows", "100", "--table", "t2",
        ],
    );
    assert_eq!(
        (j["status"].as_str(), j["user"].as_str()),
        (Some("succeeded"), Some("ana")),
        "{j}"
    );
    let listed = json(&home, &["token", "list"]);
    assert_eq!(listed["tokens"][0]["user"], "ana");
    assert!(!listed.to_string().contains(&secret), "a listed token shows no secret");
    json(&home, &["token", "revoke", &created["token"]["id"].to_string()]);
    let e = fails(&home, &["jobs", "list", "--server", &url, "--token", &secret]);
    assert!(e.contains("revoked"), "{e}");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
}
