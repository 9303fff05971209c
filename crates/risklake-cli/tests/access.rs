//! Homes this user may not write, and secrets (issue 15, D).

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::json;
use serde_json::Value;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Every file under `dir` with its size and contents' hash: what "nothing was written"
/// compares.
fn tree(dir: &Path) -> Vec<(PathBuf, u64, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes.len() as u64, risklake_core::rng::fnv1a(&bytes)));
            }
        }
    }
    out.sort();
    out
}

fn set_writable(dir: &Path, writable: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let is_dir = d.is_dir();
        let mode = match (is_dir, writable) {
            (true, true) => 0o755,
            (true, false) => 0o555,
            (false, true) => 0o644,
            (false, false) => 0o444,
        };
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
        if is_dir {
            stack.extend(std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()));
        }
    }
}

/// Runs risklake as a user who may read `home` but not write it: as root (who may write
/// anything) the command runs as `nobody`; otherwise the home is made read-only.
fn as_reader(home: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_risklake"));
    c.arg("--home").arg(home).args(args).env_remove("RISKLAKE_HOME");
    if is_root() {
        c.uid(65534).gid(65534).env("HOME", "/tmp");
    }
    c.output().expect("the risklake binary runs")
}

#[test]
fn a_home_this_user_cannot_write_still_answers_read_only_commands() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let csv = dir.path().join("apps.csv");
    std::fs::write(&csv, "id,amount,bad\n1,10.5,0\n2,20.0,1\n3,7.25,0\n").unwrap();
    json(&home, &["ingest", csv.to_str().unwrap(), "--table", "raw.apps"]);
    // Readable by everyone (a tempdir is 0700); writable by its owner only, or by nobody.
    set_writable(dir.path(), true);
    if !is_root() {
        set_writable(&home, false);
    }
    let before = tree(&home);

    let ok = |args: &[&str]| -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = as_reader(&home, &all);
        assert!(
            out.status.success(),
            "{args:?} on a read-only home: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let tables = ok(&["tables"]);
    assert_eq!(tables["tables"][0]["name"], "raw.apps", "{tables}");
    let d = ok(&["describe", "raw.apps"]);
    assert!(d.to_string().contains("amount"), "{d}");
    let q = ok(&["sql", "SELECT COUNT(*) AS n, SUM(bad) AS bads FROM raw.apps"]);
    assert_eq!(q["results"][0]["data"], serde_json::json!([{"n": 3, "bads": 1}]));
    assert_eq!(q["run"], Value::Null, "a query of a read-only home is not recorded");
    let runs = ok(&["runs", "list"]);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");

    // What writes is refused, saying why, before touching anything.
    for args in [
        vec!["ingest", csv.to_str().unwrap(), "--table", "raw.more"],
        vec!["sql", "INSERT INTO raw.apps VALUES (4, 1.0, 0)"],
        vec![
            "features",
            "bin",
            "--table",
            "raw.apps",
            "--label",
            "bad",
            "--exclude",
            "id",
        ],
    ] {
        let out = as_reader(&home, &args);
        assert!(!out.status.success(), "{args:?} should fail on a read-only home");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("read-only for this user"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(tree(&home), before, "a read-only home was written");
    set_writable(&home, true);
}

/// Runs risklake with `env` set (and `PGPASSWORD` unset unless given).
fn with_env(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_risklake"));
    c.arg("--home")
        .arg(home)
        .args(args)
        .env_remove("RISKLAKE_HOME")
        .env_remove("PGPASSWORD")
        .env_remove("MYSQL_PWD");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the risklake binary runs")
}

/// Runs ingests against a database source whose password is `secrets[0]`, keeping all
/// they print, then proves that nothing printed or recorded holds any of the secrets.
struct SecretProbe {
    home: PathBuf,
    table: String,
    printed: String,
}

impl SecretProbe {
    /// `risklake --json ingest URL --source-table TABLE --table LAKE_TABLE` plus `extra`,
    /// with `env`; asserts it succeeds or fails as `ok` says and returns its stderr.
    fn ingest(&mut self, url: &str, lake_table: &str, extra: &[&str], env: &[(&str, &str)], ok: bool) -> String {
        let mut args = vec![
            "--json",
            "ingest",
            url,
            "--source-table",
            &self.table,
            "--table",
            lake_table,
        ];
        args.extend_from_slice(extra);
        let out = with_env(&self.home, &args, env);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.success(), ok, "{args:?}: {stdout}{stderr}");
        self.printed.push_str(&stdout);
        self.printed.push_str(&stderr);
        stderr.to_string()
    }

    /// `n` rows in each lake table.
    fn counts(&self, tables: &[&str], n: u64) {
        for table in tables {
            let out = with_env(
                &self.home,
                &["--json", "sql", &format!("SELECT COUNT(*) AS n FROM {table}")],
                &[],
            );
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["results"][0]["data"][0]["n"], n, "{table}: {v}");
        }
    }

    /// Everything printed and everything recorded (runs with their command lines, params
    /// and errors; the home's files byte for byte) is free of every secret.
    fn assert_secret_free(mut self, secrets: &[&str], min_runs: usize) {
        let runs = with_env(&self.home, &["--json", "runs", "list"], &[]);
        self.printed.push_str(&String::from_utf8_lossy(&runs.stdout));
        let listed: Value = serde_json::from_slice(&runs.stdout).unwrap();
        let ids: Vec<i64> = listed["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        assert!(ids.len() >= min_runs, "{listed}");
        for id in ids {
            let shown = with_env(&self.home, &["--json", "runs", "show", &id.to_string()], &[]);
            self.printed.push_str(&String::from_utf8_lossy(&shown.stdout));
        }
        assert!(self.printed.contains("***"), "masked URLs are shown");
        for (what, text) in
            [("output".to_string(), self.printed.clone())]
                .into_iter()
                .chain(tree(&self.home).into_iter().map(|(p, _, _)| {
                    (
                        p.display().to_string(),
                        String::from_utf8_lossy(&std::fs::read(&p).unwrap()).to_string(),
                    )
                }))
        {
            for secret in secrets {
                assert!(!text.contains(secret), "a password in {what}");
            }
        }
    }
}

#[test]
fn postgres_passwords_come_from_env_or_file_and_are_never_printed_or_recorded() {
    let Some(admin) = common::test_pg_url() else {
        return;
    };
    const SECRET: &str = "S3cr3t-pw";
    const WRONG: &str = "Wr0ng-pw";
    let psql = |sql: &str| common::psql(&admin, sql);
    // scripts/test.sh makes the role risklake_pw prove its password (SCRAM).
    let t = format!("pw_src_{}", std::process::id());
    psql(&format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'risklake_pw') THEN CREATE ROLE risklake_pw LOGIN; END IF; END $$;
         ALTER ROLE risklake_pw PASSWORD '{SECRET}';
         DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (id int, v text); INSERT INTO {t} VALUES (1, 'a'), (2, 'b');
         GRANT SELECT ON {t} TO risklake_pw;"
    ));
    let url = admin.replacen("postgres@", "risklake_pw@", 1);
    assert_ne!(url, admin, "the test URL names the user postgres");
    let dir = tempfile::tempdir().unwrap();
    let pwfile = dir.path().join("pg.pass");
    std::fs::write(&pwfile, format!("{SECRET}\n")).unwrap();
    let pwfile = pwfile.display().to_string();
    let mut probe = SecretProbe {
        home: dir.path().join("h"),
        table: t.clone(),
        printed: String::new(),
    };
    // No password anywhere: the server's refusal is shown.
    let err = probe.ingest(&url, "raw.none", &[], &[], false);
    assert!(err.to_lowercase().contains("password"), "{err}");
    // From the environment, from a file, in the URL's query, in its user info.
    probe.ingest(&url, "raw.env", &[], &[("PGPASSWORD", SECRET)], true);
    probe.ingest(&url, "raw.file", &["--password-file", &pwfile], &[], true);
    let sep = if url.contains('?') { '&' } else { '?' };
    probe.ingest(&format!("{url}{sep}password={SECRET}"), "raw.query", &[], &[], true);
    let userinfo = url.replacen("risklake_pw@", &format!("risklake_pw:{SECRET}@"), 1);
    probe.ingest(&userinfo, "raw.userinfo", &[], &[], true);
    // Failing with a password in the URL: neither the right nor a wrong one is printed.
    probe.table = format!("{t}_missing");
    let err = probe.ingest(&userinfo, "raw.bad", &[], &[], false);
    assert!(err.contains("_missing"), "{err}");
    probe.table = t.clone();
    let wrong = url.replacen("risklake_pw@", &format!("risklake_pw:{WRONG}@"), 1);
    let err = probe.ingest(&wrong, "raw.wrong", &[], &[], false);
    assert!(err.contains("authentication failed"), "the server says why: {err}");
    // A password file and a password in the URL at once is ambiguous.
    let err = probe.ingest(&userinfo, "raw.both", &["--password-file", &pwfile], &[], false);
    assert!(err.contains("password file"), "{err}");
    probe.counts(&["raw.env", "raw.file", "raw.query", "raw.userinfo"], 2);
    probe.assert_secret_free(&[SECRET, WRONG], 8);
    psql(&format!("DROP TABLE {t}"));
}

#[test]
fn mysql_passwords_come_from_env_or_file_and_are_never_printed_or_recorded() {
    let Some(admin) = common::test_mysql_url() else {
        return;
    };
    const SECRET: &str = "My-S3cr3t-pw";
    const WRONG: &str = "My-Wr0ng-pw";
    let my = |sql: &str| common::mysql(&admin, sql);
    let t = format!("pw_src_{}", std::process::id());
    let user = format!("risklake_pw{}", std::process::id() % 10_000);
    my(&format!(
        "DROP USER IF EXISTS '{user}'@'127.0.0.1'; CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{SECRET}';
         DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (id INT, v TEXT); INSERT INTO {t} VALUES (1, 'a'), (2, 'b');
         GRANT SELECT ON {t} TO '{user}'@'127.0.0.1';"
    ));
    let url = admin.replacen("risklake@", &format!("{user}@"), 1);
    assert_ne!(url, admin, "the test URL names the user risklake");
    let dir = tempfile::tempdir().unwrap();
    let pwfile = dir.path().join("my.pass");
    std::fs::write(&pwfile, format!("{SECRET}\n")).unwrap();
    let pwfile = pwfile.display().to_string();
    let mut probe = SecretProbe {
        home: dir.path().join("h"),
        table: t.clone(),
        printed: String::new(),
    };
    // No password: the server's refusal is shown.
    let err = probe.ingest(&url, "raw.none", &[], &[], false);
    assert!(err.contains("Access denied"), "{err}");
    // From the environment (MYSQL_PWD, as the mysql client reads it), a file, the user info.
    probe.ingest(&url, "raw.env", &[], &[("MYSQL_PWD", SECRET)], true);
    probe.ingest(&url, "raw.file", &["--password-file", &pwfile], &[], true);
    let userinfo = url.replacen(&format!("{user}@"), &format!("{user}:{SECRET}@"), 1);
    probe.ingest(&userinfo, "raw.userinfo", &[], &[], true);
    let mariadb = userinfo.replacen("mysql://", "mariadb://", 1);
    probe.ingest(&mariadb, "raw.mariadb", &[], &[], true);
    // Failing with a password in the URL: neither the right nor a wrong one is printed.
    probe.table = format!("{t}_missing");
    let err = probe.ingest(&userinfo, "raw.bad", &[], &[], false);
    assert!(err.contains("_missing"), "{err}");
    probe.table = t.clone();
    let wrong = url.replacen(&format!("{user}@"), &format!("{user}:{WRONG}@"), 1);
    let err = probe.ingest(&wrong, "raw.wrong", &[], &[], false);
    assert!(err.contains("Access denied"), "the server says why: {err}");
    let err = probe.ingest(&userinfo, "raw.both", &["--password-file", &pwfile], &[], false);
    assert!(err.contains("password file"), "{err}");
    probe.counts(&["raw.env", "raw.file", "raw.userinfo", "raw.mariadb"], 2);
    // The read runs inside one transaction (the consistent snapshot).
    let args = [
        "--json",
        "ingest",
        &url,
        "--query",
        "SELECT @@in_transaction AS in_tx",
        "--table",
        "raw.tx",
    ];
    let out = with_env(&probe.home, &args, &[("MYSQL_PWD", SECRET)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = with_env(&probe.home, &["--json", "sql", "SELECT in_tx FROM raw.tx"], &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"][0]["data"][0]["in_tx"], 1, "{v}");
    probe.assert_secret_free(&[SECRET, WRONG], 9);
    my(&format!("DROP TABLE {t}; DROP USER '{user}'@'127.0.0.1'"));
}
