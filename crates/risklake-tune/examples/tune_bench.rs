//! Benchmark driver for bench/tune_bench.py: minimizes a test function with risklake's
//! samplers and prints one JSON line (best value after each checkpoint, CPU seconds).
//!
//!     cargo run -p risklake-tune --example tune_bench -- FUNCTION TRIALS SEED [SAMPLER] [JOURNAL]
//!
//! FUNCTION: sphere10, branin, rosenbrock5, hartmann6, or flat10 (a trivial objective on
//! 10 params, for the sampler's own cost). SAMPLER: tpe (risklake's defaults, the
//! default), tpe-optuna (Optuna's settings), tpe-univariate, random, or tpe:OPTS (Optuna's
//! settings with c=N candidates, lhs, s=N startup trials, comma-separated). JOURNAL: a
//! file path to store the study in Optuna's journal format instead of memory.

use std::sync::Arc;

use risklake_tune::samplers::{RandomSampler, TpeSampler};
use risklake_tune::{Direction, Storage, Study, Trial, TrialError};

fn cpu_seconds() -> f64 {
    // User + system time of this process (getrusage: microseconds, a cheap syscall).
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

fn xs(t: &mut Trial, n: usize, low: f64, high: f64) -> Result<Vec<f64>, TrialError> {
    (0..n)
        .map(|i| Ok(t.suggest_float(&format!("x{i}"), low, high, false)?))
        .collect()
}

fn objective(name: &str) -> Box<dyn Fn(&mut Trial) -> Result<f64, TrialError> + Sync> {
    match name {
        "sphere10" => Box::new(|t| {
            Ok(xs(t, 10, -5.0, 5.0)?
                .iter()
                .enumerate()
                .map(|(i, x)| (x - 0.1 * i as f64).powi(2))
                .sum())
        }),
        "flat10" => Box::new(|t| Ok(xs(t, 10, 0.0, 1.0)?.iter().sum())),
        "branin" => Box::new(|t| {
            let x1 = t.suggest_float("x0", -5.0, 10.0, false)?;
            let x2 = t.suggest_float("x1", 0.0, 15.0, false)?;
            let pi = std::f64::consts::PI;
            let (b, c, r, s, tt) = (5.1 / (4.0 * pi * pi), 5.0 / pi, 6.0, 10.0, 1.0 / (8.0 * pi));
            Ok((x2 - b * x1 * x1 + c * x1 - r).powi(2) + s * (1.0 - tt) * x1.cos() + s)
        }),
        "rosenbrock5" => Box::new(|t| {
            let x = xs(t, 5, -2.0, 2.0)?;
            Ok((0..4)
                .map(|i| 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2))
                .sum())
        }),
        "hartmann6" => Box::new(|t| {
            let x = xs(t, 6, 0.0, 1.0)?;
            let alpha = [1.0, 1.2, 3.0, 3.2];
            let a = [
                [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
                [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
                [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
                [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
            ];
            let p = [
                [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
                [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
                [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
                [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
            ];
            Ok(-(0..4)
                .map(|i| alpha[i] * (-(0..6).map(|j| a[i][j] * (x[j] - p[i][j]).powi(2)).sum::<f64>()).exp())
                .sum::<f64>())
        }),
        other => panic!("unknown function {other}"),
    }
}

/// `tune_bench next FUNCTION HISTORY.json SEEDS`: the study's first trials fixed (enqueued
/// from the file: a list of {name: value} objects), then the next trial TPE proposes, once
/// per seed; prints the proposals (to compare the sampler with Optuna's on one history).
fn next_points(func: &str, history: &str, seeds: u64) {
    let fixed: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&std::fs::read_to_string(history).unwrap()).unwrap();
    let f = objective(func);
    let mut out = Vec::new();
    for seed in 0..seeds {
        let study = Study::create(Arc::new(Storage::in_memory()), "next", Direction::Minimize, false)
            .unwrap()
            .with_sampler(Box::new(TpeSampler {
                seed,
                ..TpeSampler::optuna()
            }));
        for p in &fixed {
            study.enqueue(p.clone()).unwrap();
        }
        study.optimize(fixed.len() + 1, None, 1, &*f, &|_| {}).unwrap();
        let last = study.trials().unwrap().pop().unwrap();
        out.push(last.params.iter().map(|(_, v, _)| *v).collect::<Vec<f64>>());
    }
    println!("{}", serde_json::json!(out));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args[1] == "next" {
        return next_points(&args[2], &args[3], args[4].parse().unwrap());
    }
    let (func, trials, seed) = (
        &args[1],
        args[2].parse::<usize>().unwrap(),
        args[3].parse::<u64>().unwrap(),
    );
    let sampler = args.get(4).map(String::as_str).unwrap_or("tpe");
    let storage = match args.get(5) {
        Some(p) => {
            let _ = std::fs::remove_file(p);
            Storage::journal(std::path::Path::new(p)).unwrap()
        }
        None => Storage::in_memory(),
    };
    let study = Study::create(Arc::new(storage), "bench", Direction::Minimize, false)
        .unwrap()
        .with_sampler(match sampler {
            "random" => Box::new(RandomSampler { seed }) as Box<dyn risklake_tune::samplers::Sampler>,
            "tpe-univariate" => Box::new(TpeSampler {
                seed,
                multivariate: false,
                ..TpeSampler::optuna()
            }),
            "tpe-optuna" => Box::new(TpeSampler {
                seed,
                ..TpeSampler::optuna()
            }),
            // tpe (risklake's defaults), or Optuna's settings changed by tpe:c=N
            // (candidates), lhs (Latin-hypercube startup), s=N (startup trials).
            other => {
                let mut t = TpeSampler {
                    seed,
                    ..Default::default()
                };
                if let Some(opts) = other.strip_prefix("tpe:") {
                    t = TpeSampler {
                        seed,
                        ..TpeSampler::optuna()
                    };
                    for opt in opts.split(',') {
                        if let Some(c) = opt.strip_prefix("c=") {
                            t.n_ei_candidates = c.parse().unwrap();
                        } else if opt == "lhs" {
                            t.latin_startup = true;
                        } else if let Some(n) = opt.strip_prefix("s=") {
                            t.n_startup_trials = n.parse().unwrap();
                        }
                    }
                }
                Box::new(t)
            }
        });
    let f = objective(func);
    let best = std::sync::Mutex::new((f64::INFINITY, Vec::new()));
    let cpu = std::sync::Mutex::new(Vec::new());
    let start = cpu_seconds();
    study
        .optimize(trials, None, 1, &*f, &|t| {
            let mut b = best.lock().unwrap();
            if let Some(v) = t.value() {
                b.0 = b.0.min(v);
            }
            let v = b.0;
            b.1.push(v);
            cpu.lock().unwrap().push(cpu_seconds() - start);
        })
        .unwrap();
    let (_, curve) = best.into_inner().unwrap();
    let cpu = cpu.into_inner().unwrap();
    let at = |n: usize| curve.get(n.min(curve.len()) - 1).copied();
    let per = |a: usize, b: usize| {
        if cpu.len() >= b {
            Some((cpu[b - 1] - cpu[a - 1]) / (b - a) as f64)
        } else {
            None
        }
    };
    println!(
        "{}",
        serde_json::json!({
            "function": func, "seed": seed, "trials": trials, "best_100": at(100), "best_300": at(300),
            "best": curve.last(), "cpu_seconds": cpu.last(),
            "cpu_per_trial_first_100": per(1, 100), "cpu_per_trial_900_1000": per(900, 1000),
        })
    );
}
