//! Helpers shared by the CLI integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs the risklake binary on `home` with `args`.
pub fn risklake(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_risklake"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("RISKLAKE_HOME")
        .env_remove("RISKLAKE_PROJECT")
        .output()
        .expect("the risklake binary runs")
}

/// Runs a command with `--json`, asserts success, parses stdout as one JSON document.
pub fn json(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = risklake(home, &all);
    assert!(
        out.status.success(),
        "risklake {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout of {args:?} is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

pub fn fails(home: &Path, args: &[&str]) -> String {
    let out = risklake(home, args);
    assert!(!out.status.success(), "risklake {args:?} should fail");
    assert!(
        out.stdout.is_empty() || !args.contains(&"--json"),
        "no result on stdout when failing"
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The test PostgreSQL server's URL (`RISKLAKE_TEST_PG_URL`, set by scripts/test.sh);
/// `None` skips a test outside CI, and CI must have it.
pub fn test_pg_url() -> Option<String> {
    match std::env::var("RISKLAKE_TEST_PG_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(std::env::var("CI").is_err(), "CI must provide RISKLAKE_TEST_PG_URL");
            eprintln!("skipping: RISKLAKE_TEST_PG_URL is not set");
            None
        }
    }
}

/// Runs SQL on the test server with psql, asserting success.
pub fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
}

/// The test MySQL / MariaDB server's URL (`RISKLAKE_TEST_MYSQL_URL`, set by scripts/test.sh);
/// `None` skips a test outside CI, and CI must have it.
pub fn test_mysql_url() -> Option<String> {
    match std::env::var("RISKLAKE_TEST_MYSQL_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(std::env::var("CI").is_err(), "CI must provide RISKLAKE_TEST_MYSQL_URL");
            eprintln!("skipping: RISKLAKE_TEST_MYSQL_URL is not set");
            None
        }
    }
}

/// Runs SQL on the test MySQL server (a `mysql://user@host:port/db` URL without a
/// password) with Debian's `mariadb` client, asserting success.
pub fn mysql(url: &str, sql: &str) {
    let rest = url.split_once("://").expect("a URL").1;
    let (user, rest) = rest.split_once('@').expect("the URL names a user");
    let (addr, db) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = addr.split_once(':').unwrap_or((addr, "3306"));
    let out = Command::new("mariadb")
        .args(["--no-defaults", "-h", host, "-P", port, "-u", user, db, "-e", sql])
        .output()
        .expect("the mariadb client runs");
    assert!(
        out.status.success(),
        "mariadb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
