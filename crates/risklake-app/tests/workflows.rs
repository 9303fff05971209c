//! The workflows in process, on a current-thread runtime (what `#[tokio::test]`, PyO3
//! code and a server's blocking pool may use): typed requests in, reports out, runs
//! recorded; cancellation leaves the lake and the store as they were.

use std::sync::atomic::{AtomicU64, Ordering};

use risklake_app::gen::GenRequest;
use risklake_app::ingest::IngestRequest;
use risklake_app::output::OutputSpec;
use risklake_app::{Cancel, Progress, Silent, Unit, Workspace};
use risklake_core::Error;
use risklake_lake::WriteMode;
use risklake_track::RunStatus;

fn workspace(dir: &std::path::Path) -> Workspace {
    Workspace::open(&dir.join("home"), "test")
        .unwrap()
        .with_origin("workflows test")
}

/// `rows` synthetic applications with 6 features into the lake table `apps`.
async fn synthetic_apps(ws: &Workspace, rows: u64, seed: u64) {
    synthetic_apps_as(ws, "apps", rows, seed).await
}

/// `rows` synthetic applications with 6 features into the lake table `table`.
async fn synthetic_apps_as(ws: &Workspace, table: &str, rows: u64, seed: u64) {
    let gen = GenRequest {
        rows,
        features: 6,
        seed,
        output: OutputSpec {
            table: Some(table.into()),
            ..Default::default()
        },
    };
    risklake_app::gen::generate(ws, &gen, &Silent).await.unwrap();
}

#[tokio::test]
async fn ingest_from_a_json_request_records_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    let csv = dir.path().join("loans.csv");
    std::fs::write(&csv, "id,amount,grade\n1,10.5,A\n2,20,B\n3,30,C\n").unwrap();
    // The same request a server job or the Python package passes in, as JSON.
    let json = serde_json::json!({
        "path": csv, "table": "raw.loans", "mode": "append", "primary_key": ["id"],
        "schema": { "grade": "string" }
    });
    let req: IngestRequest = serde_json::from_value(json).unwrap();
    assert_eq!(
        serde_json::from_value::<IngestRequest>(serde_json::to_value(&req).unwrap()).unwrap(),
        req
    );
    let done = risklake_app::ingest::ingest(&ws, &req, &Silent).await.unwrap();
    assert_eq!((done.report.rows_written, done.report.snapshot), (3, Some(1)));
    let run = ws.store().get_run(done.run).unwrap();
    assert_eq!(run.summary.status, RunStatus::Finished);
    assert_eq!(run.summary.command, "workflows test");
    assert_eq!(run.params["table"], "raw.loans");
    let out = run.datasets.iter().find(|d| d.role == "output").unwrap();
    assert_eq!(
        (out.name.as_str(), out.snapshot, out.rows),
        ("raw.loans", Some(1), Some(3))
    );
    // A bad request names the parameter's problem and is recorded as failed.
    let bad: IngestRequest = serde_json::from_value(serde_json::json!({
        "path": csv, "table": "raw.loans2", "mode": "merge"
    }))
    .unwrap();
    let e = risklake_app::ingest::ingest(&ws, &bad, &Silent).await.unwrap_err();
    assert!(e.to_string().contains("merge"), "{e}");
    // Unknown fields are refused, not ignored.
    assert!(serde_json::from_value::<IngestRequest>(
        serde_json::json!({"path": "x.csv", "table": "t", "moed": "append"})
    )
    .is_err());
}

/// A progress sink that cancels after `after` units.
struct CancelAfter {
    after: u64,
    seen: AtomicU64,
}

impl Progress for CancelAfter {
    fn stage(&self, _: &str, _: Option<u64>, _: Unit) {}
    fn advance(&self, n: u64) {
        self.seen.fetch_add(n, Ordering::Relaxed);
    }
    fn cancelled(&self) -> bool {
        self.seen.load(Ordering::Relaxed) >= self.after
    }
}

#[tokio::test]
async fn a_cancelled_workflow_leaves_the_lake_and_marks_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    let gen = |table: &str, mode: Option<WriteMode>| GenRequest {
        rows: 300_000,
        features: 4,
        seed: 1,
        output: OutputSpec {
            table: Some(table.into()),
            mode,
            ..Default::default()
        },
    };
    // A first, complete write.
    let first = risklake_app::gen::generate(
        &ws,
        &GenRequest {
            rows: 1000,
            ..gen("apps", None)
        },
        &Silent,
    )
    .await
    .unwrap();
    assert_eq!(first.snapshot, Some(1));
    // An overwrite cancelled after its first batches: nothing of it is visible.
    let cancel = CancelAfter {
        after: 100_000,
        seen: AtomicU64::new(0),
    };
    let e = risklake_app::gen::generate(&ws, &gen("apps", Some(WriteMode::Overwrite)), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e}");
    let lake = ws.lake().await.unwrap();
    let apps = ws.table_name("apps").unwrap();
    assert_eq!(lake.latest_snapshot(&apps).await.unwrap(), Some(1));
    assert_eq!(lake.sql().await.unwrap().count(&apps).await.unwrap(), 1000);
    let runs = ws.store().list_runs(&Default::default()).unwrap();
    assert_eq!(runs[0].status, RunStatus::Cancelled);
    // Cancelled before it began: a file target is not left behind half-written.
    let stop = Cancel::new();
    stop.cancel();
    let file = dir.path().join("apps.parquet");
    let req = GenRequest {
        output: OutputSpec {
            file: Some(file.clone()),
            ..Default::default()
        },
        ..gen("unused", None)
    };
    assert!(matches!(
        risklake_app::gen::generate(&ws, &req, &stop).await,
        Err(Error::Cancelled)
    ));
    assert!(!file.exists());
    // An ingest cancelled before its commit leaves no table behind.
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, "a,b\n1,2\n").unwrap();
    let req = IngestRequest {
        path: Some(csv.display().to_string()),
        table: "fresh".into(),
        ..Default::default()
    };
    assert!(matches!(
        risklake_app::ingest::ingest(&ws, &req, &stop).await,
        Err(Error::Cancelled)
    ));
    assert!(!lake.exists(&ws.table_name("fresh").unwrap()).await.unwrap());
}

#[test]
fn a_run_whose_workflow_panics_is_marked_failed() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    let id = std::sync::Mutex::new(0);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let run = ws.start_run("train").unwrap();
        *id.lock().unwrap() = run.id();
        panic!("a bug");
    }));
    assert!(caught.is_err());
    let run = ws.store().get_run(*id.lock().unwrap()).unwrap();
    assert_eq!(run.summary.status, RunStatus::Failed);
    assert!(run.summary.error.unwrap().contains("panicked"));
}

#[tokio::test]
async fn binning_from_a_partial_json_request_uses_the_library_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    synthetic_apps(&ws, 5000, 3).await;
    let req: risklake_app::features::BinRequest = serde_json::from_value(serde_json::json!({
        "table": "apps", "target": { "label": "bad" },
        "fine": { "exclude": ["id", "month"] }, "binning": { "max_bins": 6 }
    }))
    .unwrap();
    assert_eq!(
        req.binning.min_bin_size,
        risklake_features::BinningOptions::default().min_bin_size
    );
    let done = risklake_app::features::bin(&ws, &req, &Silent).await.unwrap();
    assert_eq!(done.plan.rows, 5000);
    assert_eq!(done.plan.features.len(), 6);
    assert!(
        done.plan.features.iter().all(|f| f.metrics.bins <= 6 + 2),
        "regular bins within max_bins"
    );
    // The plan is read back through the store by run id.
    let again = risklake_app::features::load_plan(&ws, &done.run.to_string()).unwrap();
    assert_eq!(again.to_json(), done.plan.to_json());
    let run = ws.store().get_run(done.run).unwrap();
    let input = run.datasets.iter().find(|d| d.role == "input").unwrap();
    assert_eq!((input.name.as_str(), input.snapshot), ("test.apps", Some(1)));
    // A bad option is an error naming the parameter, before anything runs.
    let mut bad = req.clone();
    bad.binning.max_bins = 0;
    match risklake_app::features::bin(&ws, &bad, &Silent).await {
        Err(Error::Param { param, .. }) => assert_eq!(param, "max_bins"),
        other => panic!("{other:?}"),
    }
    // Unknown option names are refused.
    assert!(
        serde_json::from_value::<risklake_app::features::BinRequest>(serde_json::json!({
            "table": "apps", "target": { "label": "bad" }, "binning": { "maxbins": 6 }
        }))
        .is_err()
    );
}

/// Cancels once a stage of `unit` has advanced `after` times.
struct CancelIn {
    unit: Unit,
    after: u64,
    current: std::sync::Mutex<Option<Unit>>,
    seen: AtomicU64,
}

impl Progress for CancelIn {
    fn stage(&self, _: &str, _: Option<u64>, unit: Unit) {
        *self.current.lock().unwrap() = Some(unit);
    }
    fn advance(&self, n: u64) {
        if *self.current.lock().unwrap() == Some(self.unit) {
            self.seen.fetch_add(n, Ordering::Relaxed);
        }
    }
    fn cancelled(&self) -> bool {
        self.seen.load(Ordering::Relaxed) >= self.after
    }
}

#[tokio::test]
async fn gbdt_training_from_json_with_lightgbm_parameter_names() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    synthetic_apps(&ws, 4000, 5).await;
    let req: risklake_app::train::TrainRequest = serde_json::from_value(serde_json::json!({
        "table": "apps", "label": "bad", "exclude": ["id", "month"], "valid_fraction": 0.25,
        "params": { "num_iterations": 30, "num_leaves": 7, "learning_rate": "0.1", "max_bin": 63 }
    }))
    .unwrap();
    // A misspelt field is refused, not ignored.
    assert!(
        serde_json::from_value::<risklake_app::train::TrainRequest>(serde_json::json!({
            "table": "apps", "label": "bad", "valid_fration": 0.25
        }))
        .is_err()
    );
    let done = risklake_app::train::train_gbdt(&ws, &req, &Silent).await.unwrap();
    assert_eq!(done.rows + done.valid_rows, 4000);
    assert!((900..1100).contains(&done.valid_rows), "{}", done.valid_rows);
    assert_eq!(done.trees, 30);
    assert!(done.valid_metric.unwrap() > 0.6);
    let model = risklake_app::train::load_model(&ws, &done.run.to_string()).unwrap();
    assert!(matches!(model, risklake_learn::Model::Trees(_)));
    let run = ws.store().get_run(done.run).unwrap();
    assert_eq!(run.params["max_bin"], "63");
    assert_eq!(run.metric_history.iter().filter(|m| m.key == "train_loss").count(), 30);
    // An unknown parameter is refused by name; a bad split share names valid_fraction.
    let mut bad = req.clone();
    bad.params.insert("num_leafs".into(), serde_json::json!(3));
    let e = risklake_app::train::train_gbdt(&ws, &bad, &Silent).await.unwrap_err();
    assert!(e.to_string().contains("num_leafs"), "{e}");
    let mut bad = req.clone();
    bad.data.valid_fraction = Some(1.5);
    match risklake_app::train::train_gbdt(&ws, &bad, &Silent).await {
        Err(Error::Param { param, .. }) => assert_eq!(param, "valid_fraction"),
        other => panic!("{other:?}"),
    }
    // Cancelled after 5 iterations: no model stored, the run says cancelled.
    let cancel = CancelIn {
        unit: Unit::Iterations,
        after: 5,
        current: Default::default(),
        seen: AtomicU64::new(0),
    };
    let e = risklake_app::train::train_gbdt(&ws, &req, &cancel).await.unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e}");
    let last = &ws.store().list_runs(&Default::default()).unwrap()[0];
    assert_eq!((last.kind.as_str(), last.status), ("train.gbdt", RunStatus::Cancelled));
    assert!(ws.store().get_run(last.id).unwrap().artifacts.is_empty());
}

#[tokio::test]
async fn stepwise_lr_on_a_stored_plan_from_json() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    synthetic_apps(&ws, 4000, 9).await;
    let mut bin = risklake_app::features::BinRequest::new("apps", "bad");
    bin.fine.exclude = vec!["id".into(), "month".into()];
    let plan = risklake_app::features::bin(&ws, &bin, &Silent).await.unwrap();
    let req: risklake_app::train::TrainLrRequest = serde_json::from_value(serde_json::json!({
        "table": "apps", "label": "bad", "exclude": ["id", "month"], "valid_fraction": 0.3,
        "plan": plan.run.to_string(), "stepwise": { "direction": "forward", "criterion": "bic" }
    }))
    .unwrap();
    let done = risklake_app::train::train_lr(&ws, &req, &Silent).await.unwrap();
    assert!(done.valid_auc().unwrap() > 0.6, "{:?}", done.valid);
    assert!(!done.model.coefficients.is_empty());
    let run = ws.store().get_run(done.run).unwrap();
    assert_eq!(run.params["stepwise"], "forward by bic");
    assert!(run.artifacts.iter().any(|a| a.name == "summary.txt"));
    let mut bad = req.clone();
    bad.stepwise.as_mut().unwrap().direction = "sideways".into();
    match risklake_app::train::train_lr(&ws, &bad, &Silent).await {
        Err(Error::Param { param, .. }) => assert_eq!(param, "stepwise.direction"),
        other => panic!("{other:?}"),
    }
}

/// Without early stopping the model keeps every tree, so its reported validation metric
/// is the last iteration's, not the best one's (which is reported beside it).
#[tokio::test]
async fn gbdt_reports_the_stored_models_validation_metric() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    synthetic_apps(&ws, 1500, 11).await;
    let req: risklake_app::train::TrainRequest = serde_json::from_value(serde_json::json!({
        "table": "apps", "label": "bad", "exclude": ["id", "month"], "valid_fraction": 0.3,
        "params": { "num_iterations": 80, "learning_rate": 0.8, "num_leaves": 63, "min_data_in_leaf": 2 }
    }))
    .unwrap();
    let done = risklake_app::train::train_gbdt(&ws, &req, &Silent).await.unwrap();
    // (Training ends early when a tree finds no split; it kept every tree it grew.)
    let n = done.trees as i64;
    let run = ws.store().get_run(done.run).unwrap();
    let at = |step: i64| {
        run.metric_history
            .iter()
            .find(|m| m.key == "valid_auc" && m.step == Some(step))
            .map(|m| m.value)
    };
    assert_eq!(
        done.valid_metric,
        at(n),
        "the stored model's metric is the last iteration's"
    );
    let best = done.best_iteration.unwrap();
    assert!(
        (best as i64) < n,
        "this overfitting setup peaks early (best {best} of {n})"
    );
    assert_eq!(done.best_valid_metric, at(best as i64));
    assert!(done.best_valid_metric.unwrap() > done.valid_metric.unwrap());
    // With early stopping the model ends at the best iteration, and both figures agree.
    let mut stopping = req.clone();
    stopping
        .params
        .insert("early_stopping_rounds".into(), serde_json::json!(10));
    let cut = risklake_app::train::train_gbdt(&ws, &stopping, &Silent).await.unwrap();
    assert_eq!(Some(cut.trees), cut.best_iteration);
    assert_eq!(cut.valid_metric, cut.best_valid_metric);
}

#[tokio::test]
async fn tuning_from_json_refuses_another_tables_study_and_stops_when_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    synthetic_apps(&ws, 3000, 8).await;
    let journal = dir.path().join("study.journal");
    let req: risklake_app::tune::TuneRequest = serde_json::from_value(serde_json::json!({
        "model": "gbdt", "table": "apps", "label": "bad", "exclude": ["id", "month"],
        "trials": 3, "params": { "num_iterations": 15 }, "sampler": "random", "seed": 3,
        "study": "pd", "storage": format!("journal:{}", journal.display())
    }))
    .unwrap();
    let done = risklake_app::tune::tune(&ws, &req, &Silent).await.unwrap();
    assert_eq!(done.ran.len(), 3);
    let run = ws.store().get_run(done.run).unwrap();
    let names: Vec<&str> = run.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["trials.csv", "model.json"]);
    assert_eq!(run.params["model"], "gbdt");
    let trials = ws
        .store()
        .list_runs(&risklake_track::RunFilter {
            kind: Some("tune.trial".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(trials.len(), 3);
    // The best trial's model is the stored one, and it loads as a model.
    risklake_app::train::load_model(&ws, &done.run.to_string()).unwrap();
    // A run that started its study replays identically in a fresh study.
    let replay = risklake_app::lineage::reproduce(&ws, done.run, &Silent).await.unwrap();
    assert!(replay.identical, "{:?}", replay.compared);
    assert!(replay.compared.iter().any(|c| c.what == "artifact trials.csv"));
    // The same study on another table is refused (its history is another data's) ...
    synthetic_apps_as(&ws, "apps_2024", 1000, 9).await;
    let other = risklake_app::tune::TuneRequest {
        data: risklake_app::train::TrainData {
            table: "apps_2024".into(),
            ..req.data.clone()
        },
        ..req.clone()
    };
    let e = risklake_app::tune::tune(&ws, &other, &Silent).await.unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    assert!(e.to_string().contains("table \"test.apps\""), "{e}");
    // ... unless asked for; the same subject continues without asking.
    let reused = risklake_app::tune::TuneRequest {
        reuse_study: true,
        trials: 1,
        ..other
    };
    risklake_app::tune::tune(&ws, &reused, &Silent).await.unwrap();
    // Cancelled after its first trial: no more trials, no model, the run cancelled.
    let cancel = CancelIn {
        unit: Unit::Trials,
        after: 1,
        current: Default::default(),
        seen: AtomicU64::new(0),
    };
    let e = risklake_app::tune::tune(&ws, &req, &cancel).await.unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e}");
    let last = ws
        .store()
        .list_runs(&risklake_track::RunFilter {
            kind: Some("tune".into()),
            ..Default::default()
        })
        .unwrap()[0]
        .clone();
    assert_eq!(last.status, RunStatus::Cancelled);
    assert!(ws.store().get_run(last.id).unwrap().artifacts.is_empty());
    assert_eq!(
        ws.store()
            .list_runs(&risklake_track::RunFilter {
                kind: Some("tune.trial".into()),
                ..Default::default()
            })
            .unwrap()
            .len(),
        3 + 3 + 1 + 1,
        "3 trials, 3 replayed, 1 on the other table, 1 before the cancel"
    );
    // Bad requests name their parameter.
    for (field, value) in [
        ("model", serde_json::json!("xgboost")),
        ("trials", serde_json::json!(0)),
        ("sampler", serde_json::json!("cmaes")),
    ] {
        let mut json = serde_json::to_value(&req).unwrap();
        json[field] = value;
        let e = match serde_json::from_value::<risklake_app::tune::TuneRequest>(json) {
            Err(e) => e.to_string(),
            Ok(r) => risklake_app::tune::tune(&ws, &r, &Silent)
                .await
                .unwrap_err()
                .to_string(),
        };
        assert!(e.contains(field) || e.contains("xgboost"), "{field}: {e}");
    }
}

#[tokio::test]
async fn lineage_reaches_the_data_and_replays_read_the_snapshots_they_read() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    synthetic_apps(&ws, 3000, 21).await;
    let bin = risklake_app::features::BinRequest::new("apps", "bad");
    let plan = risklake_app::features::bin(&ws, &bin, &Silent).await.unwrap();
    let lr: risklake_app::train::TrainLrRequest = risklake_app::request_from_json(
        &serde_json::json!({
            "table": "apps", "label": "bad", "valid_fraction": 0.2, "plan": plan.run.to_string(),
            "columns": ["x00_amount", "x01_inquiries", "x02_utilization"]
        })
        .to_string(),
    )
    .unwrap();
    let model = risklake_app::train::train_lr(&ws, &lr, &Silent).await.unwrap();
    let gbdt: risklake_app::train::TrainRequest = risklake_app::request_from_json(
        r#"{"table": "apps", "label": "bad", "exclude": ["id", "month"], "valid_fraction": 0.25,
            "params": {"num_iterations": 12, "bagging_fraction": 0.8, "bagging_freq": 1}}"#,
    )
    .unwrap();
    let trees = risklake_app::train::train_gbdt(&ws, &gbdt, &Silent).await.unwrap();
    // The chain: lr <- plan <- apps@1 <- gen; lr reads apps@1 too.
    let l = risklake_app::lineage::lineage(&ws, model.run).unwrap();
    assert_eq!(l.kind, "train.lr");
    assert_eq!((l.reads[0].table.as_str(), l.reads[0].snapshot), ("test.apps", Some(1)));
    let gen = l.reads[0].written_by.as_ref().expect("the gen run wrote apps@1");
    assert_eq!(gen.kind, "gen");
    let used = &l.used[0];
    assert_eq!(
        (used.role.as_str(), used.name.clone()),
        ("plan", format!("run:{}", plan.run))
    );
    let bin_node = used.run.as_ref().unwrap();
    assert_eq!(bin_node.kind, "features.bin");
    let via_plan = bin_node.reads[0].written_by.as_ref().unwrap();
    assert_eq!(via_plan.run, gen.run);
    assert!(
        via_plan.repeated != gen.repeated,
        "the gen run is followed once, marked repeated the other time"
    );
    // New rows land in apps; the replays still read snapshot 1 and match bit for bit.
    let more = GenRequest {
        rows: 500,
        features: 6,
        seed: 22,
        output: OutputSpec {
            table: Some("apps".into()),
            mode: Some(WriteMode::Append),
            ..Default::default()
        },
    };
    risklake_app::gen::generate(&ws, &more, &Silent).await.unwrap();
    for run in [plan.run, model.run, trees.run] {
        let r = risklake_app::lineage::reproduce(&ws, run, &Silent).await.unwrap();
        assert!(r.identical, "run {run}: {:?}", r.compared);
        assert_eq!(r.snapshots["test.apps"], 1);
        assert!(r
            .compared
            .iter()
            .any(|c| c.what == "artifact model.json" || c.what == "artifact binning_plan.json"));
        let replay = ws.store().get_run(r.replay).unwrap();
        assert!(replay
            .datasets
            .iter()
            .any(|d| d.role == "input" && d.snapshot == Some(1)));
        assert_eq!(replay.summary.command, format!("runs reproduce {run}"));
    }
    // A run on the latest data differs, and the comparison says so.
    let newer = risklake_app::train::train_gbdt(&ws, &gbdt, &Silent).await.unwrap();
    let a = std::fs::read(&trees.model_path).unwrap();
    let b = std::fs::read(&newer.model_path).unwrap();
    assert_ne!(a, b, "snapshot 2 has 500 more rows");
    // Compared side by side: same parameters, other snapshot, other figures.
    let c = risklake_app::runs::compare(&ws, &[trees.run, newer.run]).unwrap();
    assert!(c.differing_params.is_empty(), "{:?}", c.differing_params);
    assert_eq!(
        c.params["params.tree.num_leaves"],
        [Some("31".to_string()), Some("31".to_string())]
    );
    assert_eq!(
        c.inputs,
        [vec!["test.apps@1".to_string()], vec!["test.apps@2".to_string()]]
    );
    assert_ne!(c.metrics["valid_auc"][0], c.metrics["valid_auc"][1]);
    assert!(risklake_app::runs::compare(&ws, &[trees.run]).is_err());
    let listed = risklake_app::runs::list(&ws, &Default::default()).unwrap();
    let headline = listed
        .iter()
        .find(|l| l.summary.id == newer.run)
        .unwrap()
        .headline
        .clone();
    assert_eq!(headline, Some(("valid_auc".to_string(), newer.valid_metric.unwrap())));
    // What cannot be replayed says why.
    let e = risklake_app::lineage::reproduce(&ws, 1, &Silent).await.unwrap_err();
    assert!(e.to_string().contains("'gen' run"), "{e}");
    ws.lake()
        .await
        .unwrap()
        .sql()
        .await
        .unwrap()
        .query("DROP TABLE apps")
        .await
        .unwrap();
    let e = risklake_app::lineage::reproduce(&ws, trees.run, &Silent)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("the table was dropped"), "{e}");
}

#[tokio::test]
async fn model_reports_agree_with_training_and_name_what_a_table_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    synthetic_apps(&ws, 3000, 31).await;
    synthetic_apps_as(&ws, "holdout", 1500, 32).await;
    let req: risklake_app::train::TrainRequest = risklake_app::request_from_json(
        r#"{"table": "apps", "label": "bad", "exclude": ["id", "month"], "valid_table": "holdout",
            "params": {"num_iterations": 25}}"#,
    )
    .unwrap();
    let trained = risklake_app::train::train_gbdt(&ws, &req, &Silent).await.unwrap();
    // Training with a validation set stores a report on those rows.
    let run = ws.store().get_run(trained.run).unwrap();
    let html = run
        .artifacts
        .iter()
        .find(|a| a.name == "report.html")
        .expect("a validation report");
    let text = std::fs::read_to_string(&html.path).unwrap();
    assert!(text.contains("<svg") && text.contains("Gains by score band") && text.contains("split gain"));
    assert!(
        !text.contains("src=\"http") && !text.contains("href=\"http") && !text.contains("url(http"),
        "self-contained"
    );
    // The report on the validation table finds the AUC training measured (another code
    // path: raw rows through the stored model, not binned rows).
    let report_req = risklake_app::report::ModelReportRequest {
        model: trained.run.to_string(),
        table: "holdout".into(),
        label: "bad".into(),
        psi_by: Some("month".into()),
        ..Default::default()
    };
    let r = risklake_app::report::model_report(&ws, &report_req, &Silent)
        .await
        .unwrap();
    assert!(
        (r.auc - trained.valid_metric.unwrap()).abs() < 1e-12,
        "{} vs {:?}",
        r.auc,
        trained.valid_metric
    );
    assert_eq!(
        ws.store().get_run(r.run).unwrap().params["in_sample"],
        "false",
        "holdout only validated"
    );
    // On the training table itself the report says its figures are in-sample.
    let own = risklake_app::report::model_report(
        &ws,
        &risklake_app::report::ModelReportRequest {
            table: "apps".into(),
            psi_by: None,
            ..report_req.clone()
        },
        &Silent,
    )
    .await
    .unwrap();
    assert_eq!(ws.store().get_run(own.run).unwrap().params["in_sample"], "true");
    assert!(std::fs::read_to_string(&own.path).unwrap().contains("in-sample"));
    assert_eq!(r.rows, 1500);
    assert!(r.max_psi.unwrap() >= 0.0);
    let page = std::fs::read_to_string(&r.path).unwrap();
    assert!(
        page.contains("month = 2024-01") && page.contains("mean |SHAP|"),
        "baseline period and SHAP shown"
    );
    // The SHAP summary: a dot per row (the first 1,000 of the 1,500) and top feature.
    let swarm = page
        .split("aria-label=\"SHAP summary\"")
        .nth(1)
        .expect("a SHAP summary chart");
    let swarm = &swarm[..swarm.find("</svg>").unwrap()];
    let features = swarm.matches("<title>").count();
    assert!((2..=15).contains(&features), "{features} feature rows");
    assert_eq!(swarm.matches("h0").count(), 1000 * features);
    // Bad input names the problem.
    let bad = risklake_app::report::ModelReportRequest {
        table: "holdout".into(),
        label: "nope".into(),
        ..report_req.clone()
    };
    let e = risklake_app::report::model_report(&ws, &bad, &Silent)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("lacks column 'nope'"), "{e}");
    let csv = dir.path().join("few.csv");
    std::fs::write(&csv, "x00_amount,bad\n1,0\n2,1\n").unwrap();
    let bad = risklake_app::report::ModelReportRequest {
        table: csv.display().to_string(),
        psi_by: None,
        ..report_req.clone()
    };
    let e = risklake_app::report::model_report(&ws, &bad, &Silent)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("lacks columns") && e.to_string().contains("'x01_inquiries'"),
        "{e}"
    );
    let e = risklake_app::report::model_report(
        &ws,
        &risklake_app::report::ModelReportRequest {
            model: "champion@nowhere".into(),
            ..report_req.clone()
        },
        &Silent,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

#[tokio::test]
async fn a_negative_coefficient_on_woe_values_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    synthetic_apps(&ws, 3000, 41).await;
    let plan = risklake_app::features::bin(&ws, &risklake_app::features::BinRequest::new("apps", "bad"), &Silent)
        .await
        .unwrap();
    let lr: risklake_app::train::TrainLrRequest = risklake_app::request_from_json(
        &serde_json::json!({
            "table": "apps", "label": "bad", "plan": plan.run.to_string(),
            "columns": ["x00_amount", "x02_utilization", "x04_tenure_months"]
        })
        .to_string(),
    )
    .unwrap();
    let fitted = risklake_app::train::train_lr(&ws, &lr, &Silent).await.unwrap();
    assert!(
        fitted.warnings.is_empty(),
        "strong features take positive coefficients: {:?}",
        fitted.warnings
    );
    let card = risklake_app::scorecard::ScorecardBuildRequest {
        model: fitted.run.to_string(),
        plan: None,
        scaling: Default::default(),
        out: None,
    };
    assert!(risklake_app::scorecard::build(&ws, &card).unwrap().warnings.is_empty());
    // The same model with one coefficient's sign turned: the card says which feature.
    let mut model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fitted.model_path).unwrap()).unwrap();
    let coefs = model["coefficients"].as_array_mut().unwrap();
    let c = coefs.iter_mut().find(|c| c["name"] == "x02_utilization").unwrap();
    c["coef"] = serde_json::json!(-c["coef"].as_f64().unwrap());
    let turned = dir.path().join("turned.json");
    std::fs::write(&turned, model.to_string()).unwrap();
    let built = risklake_app::scorecard::build(
        &ws,
        &risklake_app::scorecard::ScorecardBuildRequest {
            model: turned.display().to_string(),
            ..card
        },
    )
    .unwrap();
    assert_eq!(built.warnings.len(), 1, "{:?}", built.warnings);
    assert!(
        built.warnings[0].contains("'x02_utilization' is negative"),
        "{}",
        built.warnings[0]
    );
    let run = ws.store().get_run(built.run).unwrap();
    assert_eq!(run.metrics["negative_woe_coefficients"], 1.0);
    assert!(run.params["warnings"].contains("x02_utilization"));
}

/// A notebook's frame, with Arrow's in-memory types (large strings, dictionaries,
/// nanosecond times, unsigned ints), written into a new table: stored as Paimon types,
/// read back equal; a write cancelled midway commits nothing.
#[tokio::test]
async fn writing_frames_stores_in_memory_types_and_cancels_whole() {
    use arrow::array::{ArrayRef, DictionaryArray, LargeStringArray, TimestampNanosecondArray, UInt32Array};
    use arrow::datatypes::Int32Type;
    use arrow::record_batch::{RecordBatch, RecordBatchIterator};
    use risklake_app::frames::{write, WriteRequest};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(UInt32Array::from(vec![1, 2, 3])) as ArrayRef),
        (
            "name",
            Arc::new(LargeStringArray::from(vec!["a", "b", "c"])) as ArrayRef,
        ),
        (
            "grade",
            Arc::new(DictionaryArray::<Int32Type>::from_iter(["A", "B", "A"])) as ArrayRef,
        ),
        (
            "at",
            Arc::new(TimestampNanosecondArray::from(vec![
                1_000_000_000,
                2_000_000_000,
                3_000_000_000,
            ])) as ArrayRef,
        ),
    ])
    .unwrap();
    let req = WriteRequest {
        table: "frames".into(),
        ..Default::default()
    };
    let mut data = RecordBatchIterator::new([Ok(batch.clone())], batch.schema());
    let report = write(&ws, &req, &mut data, &Silent).await.unwrap();
    assert!(
        report.created && report.rows == 3 && report.snapshot == Some(1),
        "{report:?}"
    );
    let lake = ws.lake().await.unwrap();
    let session = lake.sql().await.unwrap();
    let got = session
        .query("SELECT id, name, grade, CAST(at AS BIGINT) AS at FROM test.frames ORDER BY id")
        .await
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&got.batches)
        .unwrap()
        .to_string();
    assert!(text.contains("| 2  | b    | B     |"), "{text}");
    // An unknown mode names the parameter; upsert into a new table needs a primary key.
    let bad = WriteRequest {
        table: "frames".into(),
        mode: Some("replace".into()),
        ..Default::default()
    };
    let mut data = RecordBatchIterator::new([Ok(batch.clone())], batch.schema());
    match write(&ws, &bad, &mut data, &Silent).await {
        Err(Error::Param { param, .. }) => assert_eq!(param, "mode"),
        other => panic!("{other:?}"),
    }
    // Cancelled after its first batch: the table keeps its one snapshot, the run says so.
    let cancel = Cancel::new();
    struct CancelAfterFirst(Cancel, AtomicU64);
    impl Progress for CancelAfterFirst {
        fn advance(&self, n: u64) {
            if self.1.fetch_add(n, Ordering::SeqCst) > 0 {
                self.0.cancel();
            }
        }
        fn cancelled(&self) -> bool {
            self.0.is_cancelled()
        }
    }
    let progress = CancelAfterFirst(cancel, AtomicU64::new(0));
    let mut data = RecordBatchIterator::new((0..5).map(|_| Ok(batch.clone())), batch.schema());
    let err = write(&ws, &req, &mut data, &progress).await.unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    let count = session.query("SELECT COUNT(*) AS n FROM test.frames").await.unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&count.batches)
        .unwrap()
        .to_string();
    assert!(text.contains("| 3 |"), "{text}");
    let runs = ws
        .store()
        .list_runs(&risklake_track::RunFilter {
            kind: Some("write".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(runs[0].status, RunStatus::Cancelled);
}

/// A float 0.0 / 1.0 label with `bad_value = "1"`, and the same label as text with
/// `bad_value = "bad"`: binning, GBDT and LR read the same bad rows (before one label
/// reader, the learners compared the float's text "1.0" with "1" and saw no bad row),
/// and a null label is an error naming its row in every workflow.
#[tokio::test]
async fn every_workflow_reads_a_label_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    let mut csv = String::from("x,x2,y,grade\n");
    let mut bads = 0;
    for i in 0..600u64 {
        let x = (i % 37) as f64 / 37.0;
        let x2 = ((i * 7919) % 101) as f64;
        let bad = i % 5 == 0 || (x > 0.7 && i % 2 == 0);
        bads += bad as u64;
        let (y, grade) = if bad { ("1.0", "bad") } else { ("0.0", "good") };
        csv.push_str(&format!("{x},{x2},{y},{grade}\n"));
    }
    let ingest = |name: &str, text: String| {
        let path = dir.path().join(format!("{name}.csv"));
        std::fs::write(&path, text).unwrap();
        IngestRequest {
            path: Some(path.display().to_string()),
            table: name.into(),
            ..Default::default()
        }
    };
    let req = ingest("labels", csv.clone());
    risklake_app::ingest::ingest(&ws, &req, &Silent).await.unwrap();
    let name = ws.table_name("labels").unwrap();
    let schema = ws.lake().await.unwrap().describe(&name).await.unwrap();
    assert!(
        schema.columns.iter().any(|c| c.name == "y" && c.r#type == "DOUBLE"),
        "{:?}",
        schema.columns
    );

    // Binning: the same bad count both ways.
    let mut bin = risklake_app::features::BinRequest::new("labels", "y");
    bin.target.bad_value = Some("1".into());
    bin.fine.columns = vec!["x".into(), "x2".into()];
    let by_number = risklake_app::features::bin(&ws, &bin, &Silent).await.unwrap();
    bin.target.label = "grade".into();
    bin.target.bad_value = Some("bad".into());
    let by_text = risklake_app::features::bin(&ws, &bin, &Silent).await.unwrap();
    assert_eq!(by_number.plan.bad, bads as f64);
    assert_eq!(by_text.plan.bad, bads as f64);

    // GBDT and LR: identical models from the two spellings of the label.
    let data = |label: &str, bad: &str| risklake_app::train::TrainData {
        table: "labels".into(),
        label: label.into(),
        bad_value: Some(bad.into()),
        columns: vec!["x".into(), "x2".into()],
        valid_fraction: Some(0.25),
        ..Default::default()
    };
    let gbdt = |label: &str, bad: &str| risklake_app::train::TrainRequest {
        data: data(label, bad),
        params: [("num_iterations".to_string(), serde_json::json!(10))].into(),
        out: None,
    };
    let a = risklake_app::train::train_gbdt(&ws, &gbdt("y", "1"), &Silent)
        .await
        .unwrap();
    let b = risklake_app::train::train_gbdt(&ws, &gbdt("grade", "bad"), &Silent)
        .await
        .unwrap();
    assert_eq!(a.valid_metric, b.valid_metric);
    assert!(a.valid_metric.unwrap() > 0.6, "{:?}", a.valid_metric);
    let lr = |label: &str, bad: &str| risklake_app::train::TrainLrRequest {
        data: data(label, bad),
        ..Default::default()
    };
    let a = risklake_app::train::train_lr(&ws, &lr("y", "1"), &Silent)
        .await
        .unwrap();
    let b = risklake_app::train::train_lr(&ws, &lr("grade", "bad"), &Silent)
        .await
        .unwrap();
    assert_eq!(a.model.coefficients.len(), 3);
    for (p, q) in a.model.coefficients.iter().zip(&b.model.coefficients) {
        assert_eq!(p.coef, q.coef);
    }
    assert_eq!(a.valid, b.valid);

    // A null label stops every workflow with its row, instead of counting it as good.
    csv.push_str("0.5,3,,\n");
    let req = ingest("with_null", csv);
    risklake_app::ingest::ingest(&ws, &req, &Silent).await.unwrap();
    let mut bin = risklake_app::features::BinRequest::new("with_null", "y");
    bin.target.bad_value = Some("1".into());
    bin.fine.columns = vec!["x".into()];
    let mut gbdt = gbdt("y", "1");
    gbdt.data.table = "with_null".into();
    gbdt.data.valid_fraction = None;
    let mut lr = lr("y", "1");
    lr.data.table = "with_null".into();
    lr.data.valid_fraction = None;
    let errors = [
        risklake_app::features::bin(&ws, &bin, &Silent)
            .await
            .map(|_| ())
            .unwrap_err(),
        risklake_app::train::train_gbdt(&ws, &gbdt, &Silent)
            .await
            .map(|_| ())
            .unwrap_err(),
        risklake_app::train::train_lr(&ws, &lr, &Silent)
            .await
            .map(|_| ())
            .unwrap_err(),
    ];
    for e in errors {
        assert!(e.to_string().contains("label column 'y' is null at row 601"), "{e}");
    }
}
