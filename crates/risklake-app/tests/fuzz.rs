//! Bounded fuzzing of every parser a user or a file can feed (issue 15, F): CSV and JSON
//! lines reading, model JSON (and predicting with what parsed), binning plan JSON (and
//! transforming with it), Optuna journal files, search-space TOML, the SQL front
//! (statement splitting, completeness, read-only and write-target detection) and the
//! password masker. Any input may be refused with an error; none may panic.
//!
//! A mutation fuzzer on stable Rust, no extra tools: each target starts from valid seeds
//! (made here by the real writers) and mutates them (bit flips, interesting bytes and
//! numbers, deleted / duplicated / spliced ranges, truncation, dictionary tokens).
//! Deterministic for a seed. `RISKLAKE_FUZZ_ITERS` sets the executions per target (CI:
//! the default below), `RISKLAKE_FUZZ_SEED` the seed; a panicking input is saved under
//! the temp folder and named in the failure.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use risklake_core::rng::{fnv1a, Rng};
use risklake_core::synth::{CreditGenerator, SynthConfig};

const DEFAULT_ITERS: u64 = 1500;

fn iters() -> u64 {
    std::env::var("RISKLAKE_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ITERS)
}

fn base_seed() -> u64 {
    std::env::var("RISKLAKE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20261130)
}

const NUMBERS: [&str; 14] = [
    "0",
    "-0",
    "-1",
    "1e309",
    "-1e309",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e-320",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967296",
];

struct Mutator {
    rng: Rng,
}

impl Mutator {
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.rng.below(n as u64) as usize
        }
    }

    fn mutate(&mut self, seeds: &[Vec<u8>], dict: &[&str]) -> Vec<u8> {
        let mut v = seeds[self.below(seeds.len())].clone();
        let rounds = 1 + self.below(4);
        for _ in 0..rounds {
            let len = v.len();
            match self.below(9) {
                0 if len > 0 => {
                    let i = self.below(len);
                    v[i] ^= 1 << self.below(8);
                }
                1 if len > 0 => {
                    let i = self.below(len);
                    const BYTES: [u8; 12] = [0, 0xff, b'"', b'{', b'}', b'[', b']', b',', b'\n', b':', b'\\', 0x80];
                    v[i] = BYTES[self.below(BYTES.len())];
                }
                2 if len > 1 => {
                    let a = self.below(len);
                    let b = (a + 1 + self.below(16.min(len - a))).min(len);
                    v.drain(a..b);
                }
                3 if len > 1 => {
                    let a = self.below(len);
                    let b = (a + 1 + self.below(64.min(len - a))).min(len);
                    let chunk = v[a..b].to_vec();
                    let at = self.below(len + 1);
                    v.splice(at..at, chunk);
                }
                4 => {
                    let tok = if dict.is_empty() || self.below(3) == 0 {
                        NUMBERS[self.below(NUMBERS.len())]
                    } else {
                        dict[self.below(dict.len())]
                    };
                    let at = self.below(len + 1);
                    v.splice(at..at, tok.bytes());
                }
                5 if len > 0 => v.truncate(self.below(len)),
                6 => {
                    // Replace a run of digits with an interesting number.
                    if let Some(start) = (0..len)
                        .map(|k| (self.below(len.max(1)) + k) % len.max(1))
                        .find(|&i| i < len && v[i].is_ascii_digit())
                    {
                        let mut end = start;
                        while end < len && (v[end].is_ascii_digit() || v[end] == b'.') {
                            end += 1;
                        }
                        let n = NUMBERS[self.below(NUMBERS.len())];
                        v.splice(start..end, n.bytes());
                    }
                }
                7 => {
                    let other = &seeds[self.below(seeds.len())];
                    if !other.is_empty() && len > 0 {
                        let a = self.below(len);
                        let b = self.below(other.len());
                        v.truncate(a);
                        v.extend_from_slice(&other[b..]);
                    }
                }
                _ => {
                    let at = self.below(len + 1);
                    let b = self.rng.next_u64() as u8;
                    v.insert(at, b);
                }
            }
        }
        v
    }
}

/// Runs `target` on the seeds, then on `iters()` mutations; fails on the first panic.
fn fuzz(name: &str, seeds: Vec<Vec<u8>>, dict: &[&str], target: impl Fn(&[u8])) {
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let mut m = Mutator {
        rng: Rng::new(base_seed() ^ fnv1a(name.as_bytes())),
    };
    let n = iters();
    let started = Instant::now();
    for i in 0..n + seeds.len() as u64 {
        let input = if (i as usize) < seeds.len() {
            seeds[i as usize].clone()
        } else {
            m.mutate(&seeds, dict)
        };
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            let path = std::env::temp_dir().join(format!("risklake-fuzz-{name}-{i}.bin"));
            let _ = std::fs::write(&path, &input);
            panic!(
                "fuzz target {name}: a panic on input {i} (saved to {}): {:?}",
                path.display(),
                String::from_utf8_lossy(&input)
            );
        }
    }
    let s = started.elapsed().as_secs_f64();
    eprintln!(
        "fuzz {name}: {n} executions in {s:.1} s ({:.0}/s), no panic",
        n as f64 / s
    );
}

fn credit(rows: u64) -> Vec<RecordBatch> {
    CreditGenerator::new(SynthConfig {
        rows,
        features: 6,
        seed: 3,
    })
    .unwrap()
    .batches(512)
    .map(|b| b.unwrap())
    .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn read_as(dir: &Path, ext: &str, bytes: &[u8]) {
    let path = dir.join(format!("input.{ext}"));
    std::fs::write(&path, bytes).unwrap();
    let _ = risklake_lake::ingest::read_file(&path, &risklake_lake::ingest::ReadOptions::default());
}

#[test]
fn csv_and_json_lines_reading() {
    let dir = tempfile::tempdir().unwrap();
    let batches = credit(40);
    let csv = dir.path().join("seed.csv");
    risklake_lake::files::write_file(&csv, batches[0].schema(), &batches).unwrap();
    let jsonl = dir.path().join("seed.jsonl");
    risklake_lake::files::write_file(&jsonl, batches[0].schema(), &batches).unwrap();
    let csv_seeds = vec![
        std::fs::read(&csv).unwrap(),
        b"id,amount,when,flag,name\n1,10.5,2024-01-31,true,\"a, b\"\n2,,2024-02-29T10:00:00,false,\"q\"\"uote\"\n3,-inf,,TRUE,NA\n"
            .to_vec(),
        b"a;b\n1;2\n".to_vec(),
    ];
    fuzz(
        "csv",
        csv_seeds,
        &[",", "\"", "\n", "\r\n", "NA", "2024-13-01", "true"],
        |b| read_as(dir.path(), "csv", b),
    );
    let json_seeds = vec![
        std::fs::read(&jsonl).unwrap(),
        br#"{"a": 1, "b": [1, {"c": null}], "d": "x", "e": 1.5e300}
{"a": "text", "f": true}
"#
        .to_vec(),
    ];
    fuzz("jsonl", json_seeds, &["{", "}", "[", "]", "null", "\"", "\n"], |b| {
        read_as(dir.path(), "jsonl", b)
    });
}

#[test]
fn model_json_and_prediction() {
    use risklake_learn::{train, DatasetBuilder, DatasetOptions, GbdtParams, Model};
    let batches = credit(600);
    let mut b = DatasetBuilder::new(
        "bad",
        None,
        DatasetOptions {
            exclude: vec!["id".into()],
            ..Default::default()
        },
    )
    .unwrap();
    for batch in &batches {
        b.push(batch.clone()).unwrap();
    }
    let ds = b.finish().unwrap();
    let mut params = GbdtParams {
        num_iterations: 3,
        ..Default::default()
    };
    params.tree.num_leaves = 4;
    let model = train(&ds, None, &params, &mut |_| {}).unwrap();
    let probe = batches[0].slice(0, 32);
    // A scorecard too: an LR on a plan's WoE, scaled to points.
    let plan = risklake_features::bin_batches(
        batches.clone(),
        risklake_features::Target::new("bad"),
        risklake_features::FineOptions::default(),
        &risklake_features::BinningOptions::default(),
    )
    .unwrap();
    let features: Vec<String> = plan.features.iter().take(3).map(|f| f.name.clone()).collect();
    let mut d = risklake_learn::DesignBuilder::new("bad", None, None, &features, &[], Some(&plan)).unwrap();
    for batch in &batches {
        d.push(batch.clone()).unwrap();
    }
    let lr = risklake_learn::lr::fit(
        &d.finish().unwrap(),
        &Default::default(),
        risklake_learn::lr::Inputs::Woe {
            plan: Box::new(plan.clone()),
        },
        "bad",
    )
    .unwrap();
    let card = risklake_learn::Scorecard::build(Some(&plan), &lr, Default::default()).unwrap();
    let seeds = vec![
        model.to_json().into_bytes(),
        lr.to_json().into_bytes(),
        card.to_json().into_bytes(),
    ];
    fuzz(
        "model_json",
        seeds,
        &[
            "\"left\"",
            "\"right\"",
            "\"feature\"",
            "-1",
            "[]",
            "{}",
            "\"risklake.lr\"",
            "\"risklake.scorecard\"",
        ],
        |bytes| {
            if let Ok(m) = Model::from_json(&text(bytes)) {
                let _ = m.predict(&probe);
            }
        },
    );
}

#[test]
fn binning_plan_json_and_transform() {
    use risklake_features::{bin_batches, BinningOptions, BinningPlan, FineOptions, Output, Target, Transformer};
    let batches = credit(800);
    let plan = bin_batches(
        batches.clone(),
        Target::new("bad"),
        FineOptions::default(),
        &BinningOptions::default(),
    )
    .unwrap();
    let probe = batches[0].slice(0, 32);
    let seeds = vec![plan.to_json().into_bytes()];
    fuzz(
        "plan_json",
        seeds,
        &[
            "\"edges\"",
            "\"groups\"",
            "\"bins\"",
            "\"index\"",
            "[]",
            "null",
            "\"missing\"",
            "\"special\"",
        ],
        |bytes| {
            if let Ok(p) = BinningPlan::from_json(&text(bytes)) {
                for out in [Output::Woe, Output::Bin] {
                    let _ = Transformer::new(&p, out).transform(&probe);
                }
            }
        },
    );
}

#[test]
fn optuna_journal_files() {
    use risklake_tune::storage::{Direction, Storage, TrialState};
    let dir = tempfile::tempdir().unwrap();
    let seed_path = dir.path().join("seed.journal");
    {
        let s = Storage::journal(&seed_path).unwrap();
        let study = s.create_study("fuzz", Direction::Minimize).unwrap();
        let dist = risklake_tune::distributions::Distribution::Float {
            low: 0.0,
            high: 1.0,
            log: false,
            step: None,
        };
        for k in 0..3 {
            let t = s.create_trial(study, None).unwrap();
            s.set_trial_param(t, "x", 0.25 * k as f64, &dist).unwrap();
            s.set_trial_intermediate_value(t, 1, 0.5).unwrap();
            s.set_trial_user_attr(t, "note", &serde_json::json!({"k": k})).unwrap();
            s.set_trial_state_values(t, TrialState::Complete, Some(&[k as f64]))
                .unwrap();
        }
    }
    let seeds = vec![std::fs::read(&seed_path).unwrap()];
    let path = dir.path().join("fuzzed.journal");
    fuzz(
        "journal",
        seeds,
        &[
            "\"op_code\": ",
            "\"trial_id\": ",
            "\"study_id\": ",
            "\"state\": ",
            "\n",
            "null",
            "99",
        ],
        |bytes| {
            std::fs::write(&path, bytes).unwrap();
            if let Ok(s) = Storage::journal(&path) {
                if s.sync().is_ok() {
                    if let Ok(studies) = s.studies() {
                        for st in studies {
                            let _ = s.trials(st.id);
                        }
                    }
                }
            }
        },
    );
}

#[test]
fn search_space_toml() {
    let seeds = vec![br#"
[learning_rate]
type = "float"
low = 0.01
high = 0.3
log = true

[num_leaves]
type = "int"
low = 4
high = 64
step = 4

[boosting]
type = "categorical"
choices = ["gbdt", "goss", 1, 2.5, true]
"#
    .to_vec()];
    fuzz(
        "space_toml",
        seeds,
        &[
            "[",
            "]",
            "=",
            "\"",
            "type = \"int\"",
            "low = ",
            "high = ",
            "step = 0",
            "choices = []",
        ],
        |bytes| {
            let _ = risklake_tune::space::SearchSpace::from_toml(&text(bytes));
        },
    );
}

#[test]
fn sql_front_and_secret_masking() {
    let seeds: Vec<Vec<u8>> = [
        "SELECT a, 'it''s; fine' AS s FROM t -- comment; here\nWHERE b = \"x;y\"; INSERT INTO db.t VALUES (1)",
        "/* multi; line */ UPDATE t SET a = 1; DELETE FROM paimon.db.t WHERE x; MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE",
        "CREATE TABLE \"x$snapshots\" AS SELECT 1; ALTER TABLE a RENAME TO \"B\"; CREATE SCHEMA s; TRUNCATE TABLE t",
        "postgres://u:pw@h:5432/db?password=x&sslmode=require host=h password='p w' PGPASSWORD=1 {\"password\": \"x\"}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz(
        "sql_front",
        seeds,
        &["'", "\"", ";", "--", "/*", "*/", "$$", "://", "@", "password=", "\\"],
        |bytes| {
            let sql = text(bytes);
            for s in risklake_lake::sql::split_statements(&sql) {
                let _ = risklake_lake::sql::is_read_only(&s);
            }
            let _ = risklake_lake::sql::is_complete(&sql);
            let masked = risklake_core::secret::mask(&sql);
            // Masking never grows a secret back and is idempotent.
            assert_eq!(risklake_core::secret::mask(&masked), masked);
        },
    );
}

#[test]
fn fuzz_finds_a_planted_panic() {
    // The harness itself must be able to fail: a target that panics on some mutation of
    // its seed is caught.
    let r = std::panic::catch_unwind(|| {
        fuzz("planted", vec![b"abc".to_vec()], &[], |b| {
            if b.len() > 4 {
                panic!("planted");
            }
        })
    });
    assert!(r.is_err());
}
