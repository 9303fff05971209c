//! `maintain`: compaction of primary-key tables, snapshot expiry that keeps tagged and
//! recent snapshots readable, orphan-file removal after a grace period (issue 15, C).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, Float64Array, Int64Array, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{Float64Type, Int64Type};
use risklake_lake::maintain::{maintain, MaintainOptions};
use risklake_lake::{Lake, TableName, TableSpec, WriteMode};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn rows(lake: &Lake, sql: &str) -> Vec<(i64, f64)> {
    let r = lake.sql().await.unwrap().query(sql).await.unwrap();
    let b = concat_batches(&r.schema, &r.batches).unwrap();
    let ids = b.column(0).as_primitive::<Int64Type>().values().to_vec();
    let v = b.column(1).as_primitive::<Float64Type>().values().to_vec();
    ids.into_iter().zip(v).collect()
}

fn batch(ids: Vec<i64>, v: Vec<f64>) -> RecordBatch {
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids)) as _),
        ("v", Arc::new(Float64Array::from(v)) as _),
    ])
    .unwrap()
}

fn files_under(dir: &Path, sub: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains(sub) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn age(path: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(secs))
        .unwrap();
}

#[test]
fn maintain_compacts_expires_and_removes_orphans_keeping_what_is_read() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(&dir.path().join("warehouse")).await.unwrap();
        let t = TableName::parse("pk").unwrap();
        let spec = TableSpec {
            primary_key: vec!["id".into()],
            options: [("bucket".to_string(), "2".to_string())].into(),
            ..Default::default()
        };
        // 30 small upserts: every commit adds files to the buckets.
        for i in 0..30i64 {
            let ids: Vec<i64> = (0..20).map(|k| (i * 7 + k * 3) % 50).collect();
            let v: Vec<f64> = ids.iter().map(|id| (i * 100 + id) as f64).collect();
            lake.write_batches(&t, WriteMode::Upsert, &spec, &[batch(ids, v)])
                .await
                .unwrap();
        }
        lake.create_tag(&t, "month_end", Some(12)).await.unwrap();
        let table_dir = dir.path().join("warehouse/default.db/pk");
        let all = "SELECT id, v FROM pk ORDER BY id";
        let at_tag = "SELECT id, v FROM pk VERSION AS OF 'month_end' ORDER BY id";
        let (before, tagged) = (rows(&lake, all).await, rows(&lake, at_tag).await);
        let data_before = files_under(&table_dir, "bucket-").len();
        assert!(data_before >= 30, "{data_before} data files");
        // An orphan of a killed write, and one of a write still running.
        let old_orphan = table_dir.join("bucket-0/data-00000000-dead-0.parquet");
        let young_orphan = table_dir.join("bucket-1/data-00000000-live-0.parquet");
        std::fs::write(&old_orphan, b"left by a killed writer").unwrap();
        std::fs::write(&young_orphan, b"being written").unwrap();
        age(&old_orphan, 3 * 86_400);

        // A dry run changes nothing.
        let o = MaintainOptions {
            retain_last: 1,
            retain_age_s: 0.0,
            dry_run: true,
            ..Default::default()
        };
        let dry = maintain(&lake, &t, &o).await.unwrap();
        assert!(
            dry.compaction.is_some() && !dry.expired.is_empty() && dry.orphans == 1,
            "{dry:?}"
        );
        assert_eq!(files_under(&table_dir, "bucket-").len(), data_before + 2);

        let r = maintain(
            &lake,
            &t,
            &MaintainOptions {
                dry_run: false,
                ..o.clone()
            },
        )
        .await
        .unwrap();
        let c = r
            .compaction
            .as_ref()
            .expect("a primary-key table with many files is compacted");
        assert_eq!(
            (c.files_before, c.files_after, c.snapshot),
            (data_before, Some(2), Some(31)),
            "{r:?}"
        );
        // Kept: the compaction's snapshot 31 (and the tag's 12, as a tag); expired: 1..=30.
        assert_eq!(r.expired, (1..=30).collect::<Vec<i64>>(), "{r:?}");
        assert_eq!((r.earliest, r.latest, r.snapshots_kept), (Some(31), Some(31), 1));
        assert_eq!((r.orphans, r.young_orphans), (1, 1), "{r:?}");
        assert!(r.expired_files > 0 && r.bytes_freed > 0, "{r:?}");
        assert!(!old_orphan.exists() && young_orphan.exists());

        // The same rows, now and as of the tag (snapshot 12 expired, its files kept).
        assert_eq!(rows(&lake, all).await, before);
        assert_eq!(rows(&lake, at_tag).await, tagged);
        assert_eq!(
            rows(&lake, "SELECT id, v FROM pk VERSION AS OF 31 ORDER BY id").await,
            before
        );
        let e = lake
            .sql()
            .await
            .unwrap()
            .query("SELECT * FROM pk VERSION AS OF 5")
            .await
            .unwrap_err()
            .to_string();
        assert!(!e.is_empty());
        // Left: 2 compacted files, at most 2 per commit up to the tag's snapshot 12, and
        // the young orphan.
        let data_after = files_under(&table_dir, "bucket-").len();
        assert!(
            data_after <= 2 + 24 + 1,
            "{data_after} of {data_before} data files left"
        );

        // Writes go on, and a second run finds nothing more to do but the young orphan.
        lake.write_batches(&t, WriteMode::Upsert, &spec, &[batch(vec![1], vec![-1.0])])
            .await
            .unwrap();
        let again = maintain(
            &lake,
            &t,
            &MaintainOptions {
                compact: false,
                ..o.clone()
            },
        )
        .await
        .unwrap();
        assert_eq!((again.orphans, again.young_orphans), (0, 1), "{again:?}");
        assert_eq!(rows(&lake, "SELECT id, v FROM pk WHERE id = 1").await, vec![(1, -1.0)]);
        assert_eq!(rows(&lake, at_tag).await, tagged);

        // Options are checked.
        let e = maintain(
            &lake,
            &t,
            &MaintainOptions {
                retain_last: 0,
                ..Default::default()
            },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("retain_last"), "{e}");
    });
}

#[test]
fn the_defaults_keep_recent_snapshots_and_young_files() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(&dir.path().join("warehouse")).await.unwrap();
        let t = TableName::parse("app").unwrap();
        for i in 0..15i64 {
            lake.write_batches(
                &t,
                WriteMode::Append,
                &TableSpec::default(),
                &[batch(vec![i], vec![i as f64])],
            )
            .await
            .unwrap();
        }
        let r = maintain(&lake, &t, &MaintainOptions::default()).await.unwrap();
        // Every snapshot is younger than an hour: none expires; an append table is not
        // compacted.
        assert!(r.expired.is_empty() && r.compaction.is_none(), "{r:?}");
        assert_eq!((r.expired_files, r.orphans, r.snapshots_kept), (0, 0, 15));
        assert_eq!(rows(&lake, "SELECT id, v FROM app ORDER BY id").await.len(), 15);
    });
}

#[test]
fn a_table_whose_creating_write_died_is_dropped_on_the_next_open() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = dir.path().join("warehouse");
        let lake = Lake::open(&warehouse).await.unwrap();
        let schema = batch(vec![1], vec![1.0]).schema();
        let (dead, live, written) = (
            TableName::parse("killed").unwrap(),
            TableName::parse("running").unwrap(),
            TableName::parse("written").unwrap(),
        );
        for t in [&dead, &live, &written] {
            assert!(lake
                .create_table_if_absent(t, &schema, &TableSpec::default())
                .await
                .unwrap());
        }
        lake.write_batches(
            &written,
            WriteMode::Append,
            &TableSpec::default(),
            &[batch(vec![1], vec![1.0])],
        )
        .await
        .unwrap();
        // A plain CREATE TABLE has no marker and stays empty on purpose.
        lake.sql()
            .await
            .unwrap()
            .query("CREATE TABLE made (a INT)")
            .await
            .unwrap();
        // `killed` was created by a process that has ended since (its marker names it).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let marker = |t: &TableName| risklake_lake::lock::creating_path(&warehouse.canonicalize().unwrap(), t);
        std::fs::write(marker(&dead), format!("{}:{pid}:", risklake_core::process::hostname())).unwrap();
        // `written` committed, so its marker is gone; a stale one must not drop it.
        assert!(!marker(&written).exists());
        std::fs::write(
            marker(&written),
            format!("{}:{pid}:", risklake_core::process::hostname()),
        )
        .unwrap();

        let reopened = Lake::open(&warehouse).await.unwrap();
        let names: Vec<String> = reopened
            .list_tables()
            .await
            .unwrap()
            .iter()
            .map(|t| t.table.clone())
            .collect();
        assert!(!names.contains(&"killed".to_string()), "{names:?}");
        for kept in ["running", "written", "made"] {
            assert!(names.contains(&kept.to_string()), "{kept} kept: {names:?}");
        }
        assert!(!marker(&dead).exists() && !marker(&written).exists());
        assert!(marker(&live).exists(), "this process is still writing it");
    });
}
