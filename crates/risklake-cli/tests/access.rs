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
                let h = bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
                    (h ^ *b as u64).wrapping_mul(0x100000001b3)
                });
                out.push((p, bytes.len() as u64, h));
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
