//! Studies end to end: TPE beats random search, journals round-trip and survive damage,
//! parallel workers neither lose nor duplicate trials, pruning and failures are recorded.

use std::sync::Arc;

use risklake_tune::pruners::PercentilePruner;
use risklake_tune::samplers::{GridSampler, RandomSampler, TpeSampler};
use risklake_tune::{Choice, Direction, Distribution, Storage, Study, TrialError, TrialState};

fn sphere(t: &mut risklake_tune::Trial) -> Result<f64, TrialError> {
    let mut s = 0.0;
    for i in 0..4 {
        let x = t.suggest_float(&format!("x{i}"), -5.0, 5.0, false)?;
        s += (x - 1.0) * (x - 1.0);
    }
    Ok(s)
}

fn best_of(sampler: Box<dyn risklake_tune::samplers::Sampler>, trials: usize) -> f64 {
    let study = Study::create(Arc::new(Storage::in_memory()), "s", Direction::Minimize, false)
        .unwrap()
        .with_sampler(sampler);
    study.optimize(trials, None, 1, &sphere, &|_| {}).unwrap();
    study.best_trial().unwrap().unwrap().value().unwrap()
}

#[test]
fn tpe_beats_random_search_on_a_sphere() {
    let mut tpe = Vec::new();
    let mut random = Vec::new();
    for seed in 0..5 {
        tpe.push(best_of(
            Box::new(TpeSampler {
                seed,
                ..Default::default()
            }),
            80,
        ));
        random.push(best_of(Box::new(RandomSampler { seed }), 80));
    }
    tpe.sort_by(f64::total_cmp);
    random.sort_by(f64::total_cmp);
    assert!(
        tpe[2] < random[2] * 0.7,
        "median best: TPE {} vs random {}",
        tpe[2],
        random[2]
    );
}

#[test]
fn journal_round_trips_every_field_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("study.log");
    {
        let storage = Arc::new(Storage::journal(&path).unwrap());
        let study = Study::create(storage, "gbdt", Direction::Maximize, false)
            .unwrap()
            .with_sampler(Box::new(RandomSampler { seed: 1 }));
        let mut fixed = serde_json::Map::new();
        fixed.insert("lr".into(), serde_json::json!(0.05));
        study.enqueue(fixed).unwrap();
        study
            .optimize(
                6,
                None,
                1,
                &|t| {
                    let lr = t.suggest_float("lr", 1e-3, 0.3, true)?;
                    let leaves = t.suggest_int("leaves", 4, 64, true)?;
                    let kind =
                        t.suggest_categorical("kind", &[Choice::Str("gbdt".into()), Choice::Str("rf".into())])?;
                    t.set_user_attr("note", serde_json::json!({"kind": kind.to_string()}))?;
                    for step in 0..3 {
                        t.report(step, lr * step as f64)?;
                    }
                    match t.number {
                        3 => Err(TrialError::Failed("boom".into())),
                        4 => Ok(f64::INFINITY),
                        _ => Ok(lr * leaves as f64),
                    }
                },
                &|_| {},
            )
            .unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("Infinity"), "non-finite values are bare tokens");
    assert!(!text.contains("null]"));
    // Reopened: the same study, trials, params, values and intermediate values.
    let storage = Arc::new(Storage::journal(&path).unwrap());
    let study = Study::create(storage.clone(), "gbdt", Direction::Maximize, true).unwrap();
    let trials = study.trials().unwrap();
    assert_eq!(trials.len(), 6);
    assert_eq!(
        trials[0].param("lr").unwrap().0,
        0.05,
        "the enqueued trial ran first with its value"
    );
    assert_eq!(trials[3].state, TrialState::Fail);
    assert_eq!(trials[4].value(), Some(f64::INFINITY));
    assert_eq!(trials[5].intermediate_values.len(), 3);
    assert_eq!(trials[2].user_attrs["note"]["kind"].as_str().unwrap().len() >= 2, true);
    let kind = trials[1].param("kind").unwrap();
    assert!(matches!(kind.1, Distribution::Categorical { .. }));
    // Another direction is refused; the study continues where it stopped.
    let e = Study::create(storage.clone(), "gbdt", Direction::Minimize, true)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("direction"), "{e}");
    study
        .optimize(2, None, 1, &|t| Ok(t.suggest_float("lr", 1e-3, 0.3, true)?), &|_| {})
        .unwrap();
    assert_eq!(study.trials().unwrap().len(), 8);
    assert_eq!(study.trials().unwrap()[7].number, 7);
}

#[test]
fn damaged_journals_keep_earlier_trials_and_say_where() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.log");
    {
        let study = Study::create(
            Arc::new(Storage::journal(&path).unwrap()),
            "s",
            Direction::Minimize,
            false,
        )
        .unwrap();
        study.optimize(3, None, 1, &sphere, &|_| {}).unwrap();
    }
    let good = std::fs::read_to_string(&path).unwrap();
    // A last line still being written (no newline) is ignored.
    std::fs::write(&path, format!("{good}{{\"op_code\":4,\"worker_id\":\"w\",\"stu")).unwrap();
    let s = Storage::journal(&path).unwrap();
    assert_eq!(s.trials(0).unwrap().len(), 3);
    // An unknown operation is an error naming the line; the file is untouched.
    let lines = good.lines().count();
    std::fs::write(&path, format!("{good}{{\"op_code\":42,\"worker_id\":\"w\"}}\n")).unwrap();
    let e = Storage::journal(&path).err().unwrap().to_string();
    assert!(
        e.contains(&format!("line {}", lines + 1)) && e.contains("unknown operation code 42"),
        "{e}"
    );
    assert!(std::fs::read_to_string(&path).unwrap().starts_with(&good));
    // A broken line in the middle.
    std::fs::write(&path, format!("{{\"op_code\":0,\n{good}")).unwrap();
    let e = Storage::journal(&path).err().unwrap().to_string();
    assert!(e.contains("line 1 is not valid JSON"), "{e}");
}

#[test]
fn parallel_workers_neither_lose_nor_duplicate_trials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.log");
    // Two storages on one file stand for two processes; each runs two threads.
    let a = Arc::new(Storage::journal(&path).unwrap());
    Study::create(a.clone(), "p", Direction::Minimize, false).unwrap();
    let b = Arc::new(Storage::journal(&path).unwrap());
    std::thread::scope(|s| {
        for storage in [a.clone(), b.clone()] {
            s.spawn(move || {
                let study = Study::create(storage, "p", Direction::Minimize, true).unwrap();
                study.optimize(15, None, 2, &sphere, &|_| {}).unwrap();
            });
        }
    });
    let trials = Storage::journal(&path).unwrap().trials(0).unwrap();
    assert_eq!(trials.len(), 30);
    let numbers: Vec<usize> = trials.iter().map(|t| t.number).collect();
    assert_eq!(numbers, (0..30).collect::<Vec<_>>());
    assert!(trials
        .iter()
        .all(|t| t.state == TrialState::Complete && t.params.len() == 4));
    assert!(!path.with_extension("log.lock").exists(), "the lock is released");
}

#[test]
fn a_torn_last_line_is_cut_off_before_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.log");
    {
        let study = Study::create(
            Arc::new(Storage::journal(&path).unwrap()),
            "t",
            Direction::Minimize,
            false,
        )
        .unwrap();
        study.optimize(3, None, 1, &sphere, &|_| {}).unwrap();
    }
    let good = std::fs::read_to_string(&path).unwrap();
    // A worker killed in the middle of its append.
    std::fs::write(
        &path,
        format!(r#"{good}{{"op_code":6,"worker_id":"dead","trial_id":2,"st"#),
    )
    .unwrap();
    {
        let study = Study::create(
            Arc::new(Storage::journal(&path).unwrap()),
            "t",
            Direction::Minimize,
            true,
        )
        .unwrap();
        study.optimize(2, None, 1, &sphere, &|_| {}).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(&good) && text.ends_with('\n'));
    assert!(!text.contains("\"dead\""), "the torn line is gone");
    for (i, line) in text.lines().enumerate() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "line {} is broken: {line}",
            i + 1
        );
    }
    let trials = Storage::journal(&path).unwrap().trials(0).unwrap();
    assert_eq!(trials.iter().map(|t| t.number).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    assert!(trials.iter().all(|t| t.state == TrialState::Complete));
}

#[test]
fn trials_left_running_by_a_dead_worker_fail_when_the_study_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.log");
    {
        let study = Study::create(
            Arc::new(Storage::journal(&path).unwrap()),
            "s",
            Direction::Minimize,
            false,
        )
        .unwrap();
        study.optimize(2, None, 1, &sphere, &|_| {}).unwrap();
    }
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let dead = risklake_core::process::Owner {
        pid,
        ..risklake_core::process::Owner::current()
    };
    let alive = risklake_core::process::Owner::current();
    let start = |w: &str| {
        format!("{{\"op_code\":4,\"worker_id\":\"{w}\",\"study_id\":0,\"datetime_start\":\"2026-11-30T00:00:00.000000\"}}\n")
    };
    let mut text = std::fs::read_to_string(&path).unwrap();
    text += &start(&format!("x-0@{dead}"));
    text += &start(&format!("y-0@{alive}"));
    text += &start("optuna-uuid-140231"); // Optuna's own worker: not ours to judge
    std::fs::write(&path, text).unwrap();
    let study = Study::create(
        Arc::new(Storage::journal(&path).unwrap()),
        "s",
        Direction::Minimize,
        true,
    )
    .unwrap();
    let states: Vec<TrialState> = study.storage.trials(0).unwrap().iter().map(|t| t.state).collect();
    assert_eq!(
        states,
        vec![
            TrialState::Complete,
            TrialState::Complete,
            TrialState::Fail,
            TrialState::Running,
            TrialState::Running
        ]
    );
}

#[test]
fn workers_starting_one_new_study_together_share_it() {
    // Eight storages on one new journal (eight processes) create-or-load the same study at
    // once, ten times over: each must end in the one study, and the journal must hold one
    // creation.
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("n{round}.log"));
        let barrier = std::sync::Barrier::new(8);
        let ids: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let storage = Arc::new(Storage::journal(&path).unwrap());
                        barrier.wait();
                        let study = Study::create(storage, "same", Direction::Maximize, true).unwrap();
                        study.optimize(1, None, 1, &|t| sphere(t).map(|v| -v), &|_| {}).unwrap();
                        study.id
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|&i| i == 0), "round {round}: {ids:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        let creations = text.lines().filter(|l| l.contains("\"op_code\":0,")).count();
        assert_eq!(creations, 1, "round {round}");
        let storage = Storage::journal(&path).unwrap();
        assert_eq!(storage.studies().unwrap().len(), 1);
        assert_eq!(storage.trials(0).unwrap().len(), 8);
    }
}

#[test]
fn median_pruner_stops_bad_trials_and_grid_stops_when_done() {
    let study = Study::create(Arc::new(Storage::in_memory()), "m", Direction::Minimize, false)
        .unwrap()
        .with_sampler(Box::new(RandomSampler { seed: 3 }))
        .with_pruner(Box::new(PercentilePruner::median()));
    study
        .optimize(
            30,
            None,
            1,
            &|t| {
                let x = t.suggest_float("x", 0.0, 1.0, false)?;
                for step in 0..10 {
                    t.report(step, x * (10 - step) as f64)?;
                    if t.should_prune()? {
                        return Err(TrialError::Pruned);
                    }
                }
                Ok(x)
            },
            &|_| {},
        )
        .unwrap();
    let trials = study.trials().unwrap();
    let pruned: Vec<_> = trials.iter().filter(|t| t.state == TrialState::Pruned).collect();
    assert!(pruned.len() >= 5, "{} pruned", pruned.len());
    // A pruned trial keeps its last intermediate value, and pruned trials were the bad ones.
    for t in &pruned {
        assert_eq!(t.value(), t.intermediate_values.values().last().copied());
    }
    let best = study.best_trial().unwrap().unwrap();
    assert!(best.value().unwrap() < 0.2);

    // Successive halving and Hyperband stop most of the bad trials too.
    let pruners: Vec<Box<dyn risklake_tune::pruners::Pruner>> = vec![
        Box::new(risklake_tune::pruners::SuccessiveHalvingPruner {
            min_resource: Some(1),
            reduction_factor: 2,
            ..Default::default()
        }),
        Box::new(risklake_tune::pruners::HyperbandPruner {
            max_resource: Some(9),
            ..Default::default()
        }),
    ];
    for p in pruners {
        let study = Study::create(Arc::new(Storage::in_memory()), "h", Direction::Minimize, false)
            .unwrap()
            .with_sampler(Box::new(RandomSampler { seed: 5 }))
            .with_pruner(p);
        study
            .optimize(
                40,
                None,
                1,
                &|t| {
                    let x = t.suggest_float("x", 0.0, 1.0, false)?;
                    for step in 1..10 {
                        t.report(step, x + 1.0 / step as f64)?;
                        if t.should_prune()? {
                            return Err(TrialError::Pruned);
                        }
                    }
                    Ok(x)
                },
                &|_| {},
            )
            .unwrap();
        let trials = study.trials().unwrap();
        let pruned = trials.iter().filter(|t| t.state == TrialState::Pruned).count();
        assert!(pruned >= 8, "{pruned} pruned");
        // Rungs are kept as Optuna keeps them.
        assert!(trials.iter().any(|t| t.system_attrs.contains_key("completed_rung_0")));
        let best = study.best_trial().unwrap().unwrap().value().unwrap();
        assert!(best < 0.15, "best {best}");
    }

    let grid = GridSampler {
        grid: vec![("a".into(), vec![1.0, 2.0, 3.0]), ("b".into(), vec![0.0, 1.0])],
    };
    let study = Study::create(Arc::new(Storage::in_memory()), "g", Direction::Minimize, false)
        .unwrap()
        .with_sampler(Box::new(grid));
    study
        .optimize(
            100,
            None,
            1,
            &|t| Ok(t.suggest_int("a", 1, 3, false)? as f64 + t.suggest_float("b", 0.0, 1.0, false)?),
            &|_| {},
        )
        .unwrap();
    let trials = study.trials().unwrap();
    assert_eq!(trials.len(), 6, "the grid has 6 points");
    let mut seen: Vec<(f64, f64)> = trials
        .iter()
        .map(|t| (t.param("a").unwrap().0, t.param("b").unwrap().0))
        .collect();
    seen.sort_by(|x, y| x.partial_cmp(y).unwrap());
    seen.dedup();
    assert_eq!(seen.len(), 6);
}

#[test]
fn sqlite_storage_round_trips_and_shares_with_another_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optuna.db");
    {
        let study = Study::create(
            Arc::new(Storage::sqlite(&path).unwrap()),
            "db",
            Direction::Minimize,
            false,
        )
        .unwrap()
        .with_sampler(Box::new(TpeSampler {
            seed: 2,
            ..Default::default()
        }));
        let mut fixed = serde_json::Map::new();
        fixed.insert("x0".into(), serde_json::json!(1.0));
        study.enqueue(fixed).unwrap();
        study
            .optimize(
                15,
                None,
                1,
                &|t| {
                    let v = sphere(t)?;
                    t.report(1, v)?;
                    if t.number == 3 {
                        return Err(TrialError::Failed("boom".into()));
                    }
                    Ok(if t.number == 4 { f64::INFINITY } else { v })
                },
                &|_| {},
            )
            .unwrap();
    }
    // Two connections (two processes) continue it together.
    let a = Arc::new(Storage::sqlite(&path).unwrap());
    let b = Arc::new(Storage::sqlite(&path).unwrap());
    std::thread::scope(|s| {
        for st in [a.clone(), b.clone()] {
            s.spawn(move || {
                let study = Study::create(st, "db", Direction::Minimize, true).unwrap();
                study.optimize(5, None, 1, &sphere, &|_| {}).unwrap();
            });
        }
    });
    let trials = Storage::sqlite(&path).unwrap().trials(0).unwrap();
    assert_eq!(trials.len(), 25);
    assert_eq!(
        trials.iter().map(|t| t.number).collect::<Vec<_>>(),
        (0..25).collect::<Vec<_>>()
    );
    assert_eq!(trials[0].param("x0").unwrap().0, 1.0, "the queued trial ran first");
    assert_eq!(trials[3].state, TrialState::Fail);
    assert_eq!(trials[4].value(), Some(f64::INFINITY));
    assert_eq!(trials[5].intermediate_values.len(), 1);
    assert!(trials.iter().filter(|t| t.number != 3).all(|t| t.params.len() == 4));
}

#[test]
fn sqlite_trials_left_running_by_a_dead_worker_fail_when_the_study_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let (dead_trial, live_trial) = {
        let storage = Arc::new(Storage::sqlite(&path).unwrap());
        let study = Study::create(storage.clone(), "s", Direction::Minimize, false).unwrap();
        study.optimize(2, None, 1, &sphere, &|_| {}).unwrap();
        // Two trials this worker starts and never finishes.
        (
            storage.create_trial(0, None).unwrap(),
            storage.create_trial(0, None).unwrap(),
        )
    };
    assert!(dead_trial != live_trial);
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let dead = risklake_core::process::Owner {
        pid,
        ..risklake_core::process::Owner::current()
    };
    {
        // The first RUNNING trial's worker is a process that has ended; an Optuna worker
        // (no risklake worker record) runs a third one.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let n = conn
            .execute(
                "UPDATE trial_system_attributes SET value_json = ?1 WHERE \"key\" = 'risklake:worker'
                 AND trial_id = (SELECT MIN(trial_id) FROM trials WHERE state = 'RUNNING')",
                [serde_json::Value::String(format!("x-0@{dead}")).to_string()],
            )
            .unwrap();
        assert_eq!(n, 1, "the running trial records its worker");
        conn.execute(
            "INSERT INTO trials (number, study_id, state, datetime_start) VALUES (4, 1, 'RUNNING', '2026-11-30 00:00:00')",
            [],
        )
        .unwrap();
    }
    let study = Study::create(
        Arc::new(Storage::sqlite(&path).unwrap()),
        "s",
        Direction::Minimize,
        true,
    )
    .unwrap();
    let trials = study.storage.trials(0).unwrap();
    let states: Vec<TrialState> = trials.iter().map(|t| t.state).collect();
    assert_eq!(
        states,
        vec![
            TrialState::Complete,
            TrialState::Complete,
            TrialState::Fail,
            TrialState::Running,
            TrialState::Running
        ]
    );
    // The worker record is bookkeeping, not one of the trial's system attributes.
    assert!(trials.iter().all(|t| !t.system_attrs.contains_key("risklake:worker")));
}
