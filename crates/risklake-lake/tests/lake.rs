//! The lake end to end: round trips, upserts, overwrite, time travel, CTAS, atomicity,
//! every ingest format, bad rows, and PostgreSQL incremental ingest on a real server.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use risklake_core::synth::{CreditGenerator, SynthConfig};
use risklake_lake::ingest::{ingest, DatabaseSource, IngestRequest, OnError, ReadOptions, Source};
use risklake_lake::{Lake, TableName, TableSpec, WriteMode};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn lake(dir: &Path) -> Lake {
    Lake::open(&dir.join("warehouse")).await.unwrap()
}

async fn query(lake: &Lake, sql: &str) -> RecordBatch {
    let r = lake.sql().await.unwrap().query(sql).await.unwrap();
    concat_batches(&r.schema, &r.batches).unwrap()
}

fn name(s: &str) -> TableName {
    TableName::parse(s).unwrap()
}

fn ids(b: &RecordBatch) -> Vec<i64> {
    b.column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

/// A string column as `StringArray`, whatever string type the engine returned (SQL reads
/// give `Utf8View`).
fn text(a: &arrow::array::ArrayRef) -> StringArray {
    arrow::compute::cast(a, &DataType::Utf8)
        .unwrap()
        .as_string::<i32>()
        .clone()
}

fn no_progress(_: u64, _: u64, _: Option<u64>) -> risklake_core::Result<()> {
    Ok(())
}

fn file_request(path: &Path, table: &str) -> IngestRequest {
    IngestRequest {
        source: Source::File(path.to_path_buf()),
        table: name(table),
        mode: WriteMode::Append,
        spec: TableSpec::default(),
        read: ReadOptions::default(),
    }
}

#[test]
fn generated_data_round_trips_through_a_partitioned_table() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let gen = CreditGenerator::new(SynthConfig {
            rows: 5_000,
            features: 12,
            seed: 5,
        })
        .unwrap();
        let t = name("risk.apps");
        let spec = TableSpec {
            partition_by: vec!["month".into()],
            ..Default::default()
        };
        lake.create_table(&t, &gen.schema(), &spec).await.unwrap();
        let mut w = lake.writer(&t, WriteMode::Append).await.unwrap();
        let batches: Vec<_> = gen.batches(1_000).map(|b| b.unwrap()).collect();
        for b in &batches {
            w.write(b).await.unwrap();
        }
        let s = w.commit().await.unwrap();
        assert_eq!((s.rows, s.snapshot), (5_000, Some(1)), "one write, one snapshot");
        let expected = concat_batches(&gen.schema(), &batches).unwrap();
        let got = query(&lake, "SELECT * FROM risk.apps ORDER BY id").await;
        assert_eq!(got.num_rows(), 5_000);
        for f in gen.schema().fields() {
            let a = expected.column_by_name(f.name()).unwrap();
            let b = got.column_by_name(f.name()).unwrap();
            let b = arrow::compute::cast(b, a.data_type()).unwrap();
            assert_eq!(a.as_ref(), b.as_ref(), "column {}", f.name());
        }
        // Partition pruning answers a filter on the partition column.
        let one = query(&lake, "SELECT COUNT(*) AS n FROM risk.apps WHERE month = '2024-03'").await;
        assert!(one.column(0).as_primitive::<Int64Type>().value(0) > 300);
        // ... and reaches the Paimon scan: 11 of 12 month partitions pruned, 2 columns read.
        let plan = query(
            &lake,
            "EXPLAIN SELECT id FROM risk.apps WHERE month = '2024-03' AND x00_amount > 100",
        )
        .await;
        let plan: String = (0..plan.num_rows())
            .map(|i| text(plan.column(1)).value(i).to_string())
            .collect();
        assert!(plan.contains("partition_pruned=11"), "{plan}");
        assert!(plan.contains("projection=[id, x00_amount]"), "{plan}");
        assert_eq!(lake.list_tables().await.unwrap(), vec![t.clone()]);
        let info = lake.describe(&t).await.unwrap();
        assert_eq!(
            (info.rows, info.kind.as_str(), info.partition_by.clone()),
            (5_000, "append", vec!["month".to_string()])
        );
        assert_eq!(info.snapshots.len(), 1);
    });
}

fn people(ids: &[i64], scores: &[f64], names: &[&str]) -> RecordBatch {
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as _),
        ("score", Arc::new(Float64Array::from(scores.to_vec())) as _),
        ("name", Arc::new(StringArray::from(names.to_vec())) as _),
    ])
    .unwrap()
}

#[test]
fn primary_key_tables_upsert_and_append_tables_refuse_upsert() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let t = name("limits");
        let spec = TableSpec {
            primary_key: vec!["id".into()],
            ..Default::default()
        };
        lake.write_batches(
            &t,
            WriteMode::Append,
            &spec,
            &[people(&[1, 2, 3], &[0.1, 0.2, 0.3], &["a", "b", "c"])],
        )
        .await
        .unwrap();
        lake.write_batches(
            &t,
            WriteMode::Upsert,
            &spec,
            &[people(&[2, 4], &[0.25, 0.4], &["b2", "d"])],
        )
        .await
        .unwrap();
        // Duplicate keys inside one write: the last one wins.
        lake.write_batches(
            &t,
            WriteMode::Upsert,
            &spec,
            &[people(&[1, 1], &[0.5, 0.6], &["a1", "a2"])],
        )
        .await
        .unwrap();
        let got = query(&lake, "SELECT id, score, name FROM limits ORDER BY id").await;
        assert_eq!(ids(&got), vec![1, 2, 3, 4]);
        assert_eq!(
            got.column(1).as_primitive::<Float64Type>().values().to_vec(),
            vec![0.6, 0.25, 0.3, 0.4]
        );
        assert_eq!(text(got.column(2)).value(1), "b2");
        assert_eq!(lake.describe(&t).await.unwrap().rows, 4);
        // A primary-key column may not be null.
        let nulls = RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(vec![None, Some(9)])) as _)]).unwrap();
        let mut w = lake.writer(&t, WriteMode::Append).await.unwrap();
        let e = w.write(&nulls).await.unwrap_err().to_string();
        assert!(e.contains("NOT NULL"), "{e}");

        let plain = name("plain");
        lake.write_batches(
            &plain,
            WriteMode::Append,
            &TableSpec::default(),
            &[people(&[1], &[1.0], &["x"])],
        )
        .await
        .unwrap();
        let e = lake.writer(&plain, WriteMode::Upsert).await.err().unwrap().to_string();
        assert!(e.contains("primary key"), "{e}");
    });
}

#[test]
fn overwrite_replaces_every_partition_and_time_travel_reads_the_past() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let t = name("scores");
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("month", DataType::Utf8, true),
        ]));
        let batch = |ids: Vec<i64>, months: Vec<&str>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(months))],
            )
            .unwrap()
        };
        let spec = TableSpec {
            partition_by: vec!["month".into()],
            ..Default::default()
        };
        lake.write_batches(&t, WriteMode::Append, &spec, &[batch(vec![1, 2], vec!["a", "b"])])
            .await
            .unwrap();
        lake.create_tag(&t, "first", None).await.unwrap();
        lake.write_batches(&t, WriteMode::Append, &spec, &[batch(vec![3], vec!["c"])])
            .await
            .unwrap();
        // Overwrite with rows of one partition only: all partitions are replaced.
        let s = lake
            .write_batches(&t, WriteMode::Overwrite, &spec, &[batch(vec![9], vec!["a"])])
            .await
            .unwrap();
        assert_eq!(s.snapshot, Some(3));
        assert_eq!(ids(&query(&lake, "SELECT id FROM scores ORDER BY id").await), vec![9]);
        assert_eq!(
            ids(&query(&lake, "SELECT id FROM scores VERSION AS OF 2 ORDER BY id").await),
            vec![1, 2, 3]
        );
        assert_eq!(
            ids(&query(&lake, "SELECT id FROM scores VERSION AS OF 'first' ORDER BY id").await),
            vec![1, 2]
        );
        let snaps = query(
            &lake,
            "SELECT snapshot_id FROM \"scores$snapshots\" ORDER BY snapshot_id",
        )
        .await;
        assert_eq!(snaps.num_rows(), 3);
        let info = lake.describe(&t).await.unwrap();
        assert_eq!(info.tags, vec!["first".to_string()]);
        assert_eq!(info.snapshots.last().unwrap().kind, "overwrite");
    });
}

#[test]
fn create_table_as_select_and_insert_into() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        lake.write_batches(&name("src"), WriteMode::Append, &TableSpec::default(), &[people(&[1, 2, 3], &[0.1, 0.2, 0.3], &["a", "b", "c"])])
            .await
            .unwrap();
        let sql = lake.sql().await.unwrap();
        let r = sql
            .run_script(
                "CREATE TABLE mart.top WITH ('primary-key' = 'id') AS SELECT id, score * 10 AS points FROM src WHERE id > 1;
                 INSERT INTO mart.top VALUES (7, 70.0);",
            )
            .await
            .unwrap();
        assert_eq!(r[0].batches[0].column(0).as_primitive::<arrow::datatypes::UInt64Type>().value(0), 2);
        let got = query(&lake, "SELECT id, points FROM mart.top ORDER BY id").await;
        assert_eq!(ids(&got), vec![2, 3, 7]);
        assert_eq!(lake.describe(&name("mart.top")).await.unwrap().primary_key, vec!["id".to_string()]);
        // A failing CTAS leaves no table behind; an existing name is refused.
        assert!(sql.query("CREATE TABLE broken AS SELECT no_such_column FROM src").await.is_err());
        assert!(!lake.exists(&name("broken")).await.unwrap());
        let e = sql.query("CREATE TABLE mart.top AS SELECT 1 AS id").await.unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        let e = sql.query("SELECT * FROM nowhere").await.unwrap_err().to_string();
        assert!(e.contains("nowhere"), "{e}");
    });
}

fn write_big_csv(path: &Path, rows: usize, bad_line: Option<usize>) {
    let mut s = String::from("id,amount,grade\n");
    for i in 1..=rows {
        let line_no = i + 1;
        if Some(line_no) == bad_line {
            s.push_str(&format!("{i},oops,A\n"));
        } else {
            s.push_str(&format!("{i},{}.5,{}\n", i % 1000, ["A", "B", "C"][i % 3]));
        }
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn a_failed_ingest_leaves_the_table_at_its_previous_snapshot() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let good = dir.path().join("good.csv");
        write_big_csv(&good, 1_000, None);
        let mut req = file_request(&good, "loans");
        let r = ingest(&lake, &req, &no_progress).await.unwrap();
        assert_eq!((r.rows_written, r.snapshot, r.created), (1_000, Some(1), true));
        // The bad row sits well after the first batch has been written.
        let bad = dir.path().join("bad.csv");
        write_big_csv(&bad, 100_000, Some(90_000));
        req.source = Source::File(bad.clone());
        let e = ingest(&lake, &req, &no_progress).await.unwrap_err().to_string();
        assert!(
            e.contains("bad.csv, line 90000, column amount") && e.contains("\"oops\""),
            "{e}"
        );
        assert_eq!(lake.latest_snapshot(&name("loans")).await.unwrap(), Some(1));
        assert_eq!(lake.describe(&name("loans")).await.unwrap().rows, 1_000);
        // A dropped writer commits nothing either.
        let mut w = lake.writer(&name("loans"), WriteMode::Append).await.unwrap();
        w.write(&query(&lake, "SELECT * FROM loans").await).await.unwrap();
        drop(w);
        assert_eq!(lake.latest_snapshot(&name("loans")).await.unwrap(), Some(1));
        // A failed ingest into a new table leaves no table.
        let e = ingest(&lake, &file_request(&bad, "fresh"), &no_progress).await;
        assert!(e.is_err());
        assert!(!lake.exists(&name("fresh")).await.unwrap());
    });
}

#[test]
fn bad_rows_are_quarantined_with_their_reason() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let path = dir.path().join("apps.csv");
        std::fs::write(
            &path,
            "id,amount,opened\n1,10.5,2024-01-02\n2,abc,2024-01-03\n3,7,2024-13-01\n4,8\n5,9.25,2024-02-01\n",
        )
        .unwrap();
        let mut req = file_request(&path, "apps");
        req.read.schema_overrides = vec![
            ("amount".into(), DataType::Float64),
            ("opened".into(), DataType::Date32),
        ];
        req.read.on_error = OnError::Quarantine;
        let r = ingest(&lake, &req, &no_progress).await.unwrap();
        assert_eq!((r.rows_written, r.rows_rejected), (2, 3));
        assert_eq!(r.rejected_table.as_deref(), Some("default.apps__rejected"));
        let rej = query(
            &lake,
            "SELECT line, column_name, reason, raw FROM apps__rejected ORDER BY line",
        )
        .await;
        assert_eq!(
            rej.column(0).as_primitive::<Int64Type>().values().to_vec(),
            vec![3, 4, 5]
        );
        let cols = text(rej.column(1));
        assert_eq!((cols.value(0), cols.value(1)), ("amount", "opened"));
        assert!(cols.is_null(2));
        assert!(text(rej.column(2)).value(2).contains("expected 3 fields, found 2"));
        assert_eq!(text(rej.column(3)).value(0), "2,abc,2024-01-03");
        assert_eq!(ids(&query(&lake, "SELECT id FROM apps ORDER BY id").await), vec![1, 5]);
    });
}

#[test]
fn csv_options_jsonl_and_parquet_sources() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        // Semicolons, quotes holding the delimiter and a newline, a custom null marker,
        // a zip code kept as text by an override.
        let csv = dir.path().join("semi.csv");
        std::fs::write(
            &csv,
            "id;note;zip;flag\n1;\"a;b\";01234;true\n2;\"line\nbreak\";99999;false\n3;-;00000;\n",
        )
        .unwrap();
        let mut req = file_request(&csv, "semi");
        req.read.delimiter = Some(b';');
        req.read.null_markers = vec!["-".into(), "".into()];
        req.read.schema_overrides = vec![("zip".into(), DataType::Utf8)];
        ingest(&lake, &req, &no_progress).await.unwrap();
        let got = query(&lake, "SELECT id, note, zip, flag FROM semi ORDER BY id").await;
        assert_eq!(text(got.column(1)).value(0), "a;b");
        assert_eq!(text(got.column(1)).value(1), "line\nbreak");
        assert!(got.column(1).is_null(2));
        assert_eq!(text(got.column(2)).value(0), "01234");
        assert_eq!(got.column(3).data_type(), &DataType::Boolean);
        assert!(got.column(3).is_null(2));

        // No header.
        let nh = dir.path().join("nh.csv");
        std::fs::write(&nh, "1,x\n2,y\n").unwrap();
        let mut req = file_request(&nh, "nh");
        req.read.has_header = false;
        ingest(&lake, &req, &no_progress).await.unwrap();
        let got = query(&lake, "SELECT column_1, column_2 FROM nh ORDER BY column_1").await;
        assert_eq!(got.num_rows(), 2);

        // JSON lines: types respected, nested values kept as JSON text, bad lines named.
        let jl = dir.path().join("events.jsonl");
        std::fs::write(
            &jl,
            "{\"id\": 1, \"code\": \"007\", \"amt\": 1.5, \"tags\": [1,2], \"ok\": true}\n{\"id\": 2, \"amt\": 2}\n",
        )
        .unwrap();
        ingest(&lake, &file_request(&jl, "events"), &no_progress).await.unwrap();
        let got = query(&lake, "SELECT id, code, amt, tags, ok FROM events ORDER BY id").await;
        assert_eq!(text(got.column(1)).value(0), "007");
        assert_eq!(
            got.column(2).as_primitive::<Float64Type>().values().to_vec(),
            vec![1.5, 2.0]
        );
        assert_eq!(text(got.column(3)).value(0), "[1,2]");
        std::fs::write(&jl, "{\"id\": 3}\n{\"id\": 4,\n").unwrap();
        let e = ingest(&lake, &file_request(&jl, "events"), &no_progress)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("events.jsonl, line 2") && e.contains("invalid JSON"), "{e}");

        // Parquet, with a cast override; then appended to an existing table by name.
        let pq = dir.path().join("scores.parquet");
        let batch = people(&[5, 6], &[0.5, 0.6], &["e", "f"]);
        let mut w =
            parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&pq).unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let mut req = file_request(&pq, "scores");
        req.read.schema_overrides = vec![("score".into(), DataType::Float32)];
        ingest(&lake, &req, &no_progress).await.unwrap();
        let info = lake.describe(&name("scores")).await.unwrap();
        assert_eq!(info.columns[1].r#type, "FLOAT");
        ingest(&lake, &file_request(&pq, "scores"), &no_progress).await.unwrap();
        assert_eq!(lake.describe(&name("scores")).await.unwrap().rows, 4);

        // A file whose columns the table lacks is refused with the column named.
        let other = dir.path().join("other.csv");
        std::fs::write(&other, "id,surprise\n1,2\n").unwrap();
        let e = ingest(&lake, &file_request(&other, "scores"), &no_progress)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("surprise"), "{e}");
        // Empty and missing files.
        let empty = dir.path().join("empty.csv");
        std::fs::write(&empty, "").unwrap();
        assert!(ingest(&lake, &file_request(&empty, "e"), &no_progress)
            .await
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let missing = dir.path().join("missing.csv");
        assert!(ingest(&lake, &file_request(&missing, "e"), &no_progress)
            .await
            .unwrap_err()
            .to_string()
            .contains("not found"));
        // Files are tables for SQL too.
        let sql = lake.sql().await.unwrap();
        sql.register_file("other_file", &other).await.unwrap();
        let r = sql.query("SELECT SUM(surprise) FROM other_file").await.unwrap();
        assert_eq!(r.batches[0].column(0).as_primitive::<Int64Type>().value(0), 2);
        let e = sql.register_file("nope", &missing).await.unwrap_err().to_string();
        assert!(e.contains("not found"), "{e}");
        let scanned = sql
            .scan(&risklake_lake::TableRef::File(nh.clone()), Some(&["x".to_string()]))
            .await
            .unwrap();
        let scanned: Vec<RecordBatch> = futures::TryStreamExt::try_collect(scanned).await.unwrap();
        assert_eq!(
            scanned.iter().map(|b| b.num_rows()).sum::<usize>(),
            1,
            "nh.csv read with a header: one row"
        );
        assert_eq!(scanned[0].schema().field(0).name(), "x");
        sql.register_file("pq_file", &pq).await.unwrap();
        let r = sql.query("SELECT SUM(id) FROM pq_file").await.unwrap();
        assert_eq!(r.batches[0].column(0).as_primitive::<Int64Type>().value(0), 11);
    });
}

/// PostgreSQL on a real server: `RISKLAKE_TEST_PG_URL` (set by scripts/test.sh, which
/// starts one). Without it the test is skipped locally and fails in CI.
#[test]
fn postgres_incremental_ingest() {
    let Ok(url) = std::env::var("RISKLAKE_TEST_PG_URL") else {
        assert!(std::env::var("CI").is_err(), "CI must provide RISKLAKE_TEST_PG_URL");
        eprintln!("skipping: RISKLAKE_TEST_PG_URL is not set");
        return;
    };
    rt().block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let schema = format!("rl_test_{}", std::process::id());
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
                 CREATE TABLE {schema}.loans (id bigint primary key, amount numeric(12,2), grade text,
                   opened date, updated_at timestamp, score real, active boolean, note jsonb);
                 INSERT INTO {schema}.loans VALUES
                   (1, 100.50, 'A', '2024-01-01', '2024-01-01 10:00:00', 0.5, true, '{{\"k\": 1}}'),
                   (2, NULL, 'B', '2024-01-02', '2024-01-02 10:00:00', NULL, false, NULL);"
            ))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let mut pg =
            DatabaseSource::new(&url, None, Some(format!("{schema}.loans")), Some("updated_at".into())).unwrap();
        let req = |pg: &DatabaseSource| IngestRequest {
            source: Source::Database(pg.clone()),
            table: name("raw.loans"),
            mode: WriteMode::Upsert,
            spec: TableSpec {
                primary_key: vec!["id".into()],
                ..Default::default()
            },
            read: ReadOptions::default(),
        };
        let r = ingest(&lake, &req(&pg), &no_progress).await.unwrap();
        assert_eq!(r.rows_written, 2);
        assert_eq!(r.high_water_mark.as_deref(), Some("2024-01-02 10:00:00"));
        let got = query(
            &lake,
            "SELECT id, amount, grade, opened, score, active, note FROM raw.loans ORDER BY id",
        )
        .await;
        assert_eq!(got.column(1).as_primitive::<Float64Type>().value(0), 100.5);
        assert!(got.column(1).is_null(1));
        assert_eq!(got.column(3).data_type(), &DataType::Date32);
        assert_eq!(text(got.column(6)).value(0), "{\"k\": 1}");

        // New and changed rows after the mark arrive; old ones are not read again.
        client
            .batch_execute(&format!(
                "INSERT INTO {schema}.loans VALUES (3, 30, 'C', '2024-01-03', '2024-01-03 09:00:00', 0.3, true, NULL);
                 UPDATE {schema}.loans SET grade = 'B-', updated_at = '2024-01-04 00:00:00' WHERE id = 2;"
            ))
            .await
            .unwrap();
        pg.since = r.high_water_mark.clone();
        let r2 = ingest(&lake, &req(&pg), &no_progress).await.unwrap();
        assert_eq!(r2.rows_written, 2);
        assert_eq!(r2.high_water_mark.as_deref(), Some("2024-01-04 00:00:00"));
        let got = query(&lake, "SELECT id, grade FROM raw.loans ORDER BY id").await;
        assert_eq!(ids(&got), vec![1, 2, 3]);
        assert_eq!(text(got.column(1)).value(1), "B-");
        // Nothing new: no rows, no snapshot, the mark stays.
        pg.since = r2.high_water_mark.clone();
        let r3 = ingest(&lake, &req(&pg), &no_progress).await.unwrap();
        assert_eq!((r3.rows_written, r3.snapshot), (0, None));
        assert_eq!(r3.high_water_mark, r2.high_water_mark);
        // A query source works too.
        let q = DatabaseSource::new(
            &url,
            Some(format!("SELECT id, grade FROM {schema}.loans WHERE id < 3")),
            None,
            None,
        )
        .unwrap();
        let rq = IngestRequest {
            source: Source::Database(q),
            table: name("raw.q"),
            mode: WriteMode::Append,
            spec: TableSpec::default(),
            read: ReadOptions::default(),
        };
        assert_eq!(ingest(&lake, &rq, &no_progress).await.unwrap().rows_written, 2);
        let bad = DatabaseSource::new(&url, Some("SELECT * FROM no_such_table".into()), None, None).unwrap();
        let rb = IngestRequest {
            source: Source::Database(bad),
            ..rq
        };
        let e = ingest(&lake, &rb, &no_progress).await.unwrap_err().to_string();
        assert!(e.contains("no_such_table"), "{e}");
        // The server's own words, not tokio-postgres' bare "db error".
        assert!(e.contains("ERROR: relation \"no_such_table\" does not exist"), "{e}");
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    });
}

/// Writers in separate catalogs (as separate processes would be) commit to one table at
/// once, and none of them finds it existing at the start: every batch arrives, every
/// snapshot id is used once, and each writer is told the snapshot it made. Before the
/// commit lock, paimon's check-then-rename let one writer replace another's snapshot
/// file, and both reported the same id.
#[test]
fn concurrent_writers_lose_no_commit() {
    const WRITERS: i64 = 4;
    const COMMITS: i64 = 5;
    const ROWS: i64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let t = name("stress.events");
    let barrier = std::sync::Barrier::new(WRITERS as usize);
    let reported: Vec<i64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (dir, t, barrier) = (dir.path(), &t, &barrier);
                s.spawn(move || {
                    rt().block_on(async move {
                        let lake = lake(dir).await;
                        barrier.wait();
                        let mut snaps = Vec::new();
                        for c in 0..COMMITS {
                            let first = (w * COMMITS + c) * ROWS;
                            let batch = RecordBatch::try_from_iter([(
                                "id",
                                Arc::new(Int64Array::from_iter_values(first..first + ROWS)) as _,
                            )])
                            .unwrap();
                            let summary = lake
                                .write_batches(t, WriteMode::Append, &TableSpec::default(), &[batch])
                                .await
                                .unwrap();
                            snaps.push(summary.snapshot.unwrap());
                        }
                        snaps
                    })
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = reported.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (1..=WRITERS * COMMITS).collect::<Vec<_>>(),
        "each snapshot reported once"
    );
    rt().block_on(async {
        let lake = lake(dir.path()).await;
        let b = query(&lake, "SELECT id FROM stress.events ORDER BY id").await;
        assert_eq!(ids(&b), (0..WRITERS * COMMITS * ROWS).collect::<Vec<_>>());
        let info = lake.describe(&t).await.unwrap();
        let mut snapshot_ids: Vec<i64> = info.snapshots.iter().map(|s| s.id).collect();
        snapshot_ids.sort();
        assert_eq!(snapshot_ids, (1..=WRITERS * COMMITS).collect::<Vec<_>>());
    });
}

/// SQL INSERTs from several sessions and a writer at once: the statement holds the
/// table's commit lock, so no INSERT is lost either.
#[test]
fn concurrent_sql_inserts_lose_no_commit() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let lake = lake(dir.path()).await;
        let batch = RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(vec![0i64])) as _)]).unwrap();
        lake.write_batches(&name("ins"), WriteMode::Append, &TableSpec::default(), &[batch])
            .await
            .unwrap();
    });
    std::thread::scope(|s| {
        for w in 0..3i64 {
            let dir = dir.path();
            s.spawn(move || {
                rt().block_on(async move {
                    let lake = lake(dir).await;
                    let sql = lake.sql().await.unwrap();
                    for k in 0..4i64 {
                        let id = 1 + w * 4 + k;
                        sql.query(&format!("INSERT INTO ins VALUES ({id})")).await.unwrap();
                    }
                })
            });
        }
    });
    rt().block_on(async {
        let lake = lake(dir.path()).await;
        let b = query(&lake, "SELECT id FROM ins ORDER BY id").await;
        assert_eq!(ids(&b), (0..13).collect::<Vec<_>>());
    });
}

#[test]
fn sql_cannot_create_names_the_cli_cannot_address() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let session = lake.sql().await.unwrap();
        for (sql, expect) in [
            (
                r#"CREATE TABLE "MixedCase" (a INT)"#,
                "write it in lower case: mixedcase",
            ),
            ("CREATE TABLE MyTable (a INT)", "write it in lower case: mytable"),
            (r#"CREATE TABLE "a.b" (a INT)"#, "lower-case letters"),
            (r#"CREATE TABLE "we;ird" (a INT)"#, "lower-case letters"),
            (r#"CREATE TABLE "x$snapshots" (a INT)"#, "lower-case letters"),
            (r#"CREATE TABLE "9lives" (a INT)"#, "not starting"),
            (r#"CREATE TABLE "Bad-DB".t (a INT)"#, "lower-case letters"),
            (r#"CREATE SCHEMA "Bad-DB""#, "database name"),
            (r#"CREATE TABLE "x$snapshots" AS SELECT 1 AS a"#, "lower-case letters"),
            ("CREATE TABLE a.b.c (a INT)", "too many parts"),
        ] {
            let e = session.query(sql).await.expect_err(sql).to_string();
            assert!(e.contains(expect), "{sql}: {e}");
        }
        // What the rules allow.
        session.query("CREATE TABLE mytable (a INT)").await.unwrap();
        session
            .query(r#"CREATE TABLE paimon."default"."ok_2" (a INT)"#)
            .await
            .unwrap();
        let names: Vec<String> = lake
            .list_tables()
            .await
            .unwrap()
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(names, vec!["default.mytable", "default.ok_2"]);
        assert!(lake.exists(&name("MyTable")).await.unwrap());
    });
}

/// A lake confined to one project's database: other databases do not exist for it (list,
/// read, SQL, write, create, tag), names without a database are in its own, and SQL may
/// not reach files by path. The unconfined lake still sees everything.
#[test]
fn a_confined_lake_sees_its_own_database_only() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let all = lake(dir.path()).await;
        let spec = TableSpec::default();
        for t in ["a.t", "b.t", "b.secret"] {
            all.write_batches(
                &name(t),
                WriteMode::Append,
                &spec,
                &[people(&[1, 2], &[0.5, 0.7], &["x", "y"])],
            )
            .await
            .unwrap();
        }
        let a = all.clone().confined_to(&["a".to_string()]).await.unwrap();
        assert!(a.is_confined() && !all.is_confined());
        assert_eq!(a.list_tables().await.unwrap(), vec![name("a.t")]);
        assert_eq!(a.name("t").unwrap(), name("a.t"));
        assert!(a.exists(&name("a.t")).await.unwrap());
        assert!(!a.exists(&name("b.secret")).await.unwrap());
        let err = a.table(&name("b.secret")).await.err().unwrap().to_string();
        assert!(err.contains("not found") && err.contains("b.secret"), "{err}");
        // SQL: the home database is the project's; others are missing.
        let session = a.sql().await.unwrap();
        let n = session.query("SELECT COUNT(*) AS n FROM t").await.unwrap();
        assert_eq!(n.num_rows(), 1);
        for sql in [
            "SELECT * FROM b.secret",
            "SELECT * FROM paimon.b.secret",
            "SELECT * FROM \"b\".\"t\" VERSION AS OF 1",
            "INSERT INTO b.t SELECT * FROM t",
            "CREATE TABLE b.stolen AS SELECT * FROM t",
            "CREATE TABLE c.x (id BIGINT)",
            "CREATE DATABASE c",
            "DROP TABLE b.secret",
            "CALL sys.create_tag(table => 'b.secret', tag => 'mine')",
        ] {
            assert!(session.query(sql).await.is_err(), "{sql} ran in a lake confined to a");
        }
        let listed = session.query("SHOW TABLES").await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&listed.batches)
            .unwrap()
            .to_string();
        assert!(!text.contains("secret") && text.contains("| a "), "{text}");
        // Files by path: refused in a confined lake, allowed in the embedded one.
        let csv = dir.path().join("x.csv");
        std::fs::write(&csv, "id\n1\n").unwrap();
        for sql in [
            format!(
                "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
                csv.display()
            ),
            format!("COPY (SELECT * FROM t) TO '{}'", dir.path().join("out.csv").display()),
            format!(
                "EXPLAIN ANALYZE COPY (SELECT * FROM t) TO '{}'",
                dir.path().join("out2.csv").display()
            ),
        ] {
            let e = session.query(&sql).await.err().unwrap().to_string();
            assert!(e.contains("server's files"), "{sql}: {e}");
        }
        assert!(!dir.path().join("out.csv").exists());
        let open = all.sql().await.unwrap();
        open.query(&format!(
            "COPY (SELECT * FROM a.t) TO '{}'",
            dir.path().join("out.csv").display()
        ))
        .await
        .unwrap();
        assert!(dir.path().join("out.csv").exists());
        // Writes into another database are refused before any lock file is made.
        let e = a
            .write_batches(
                &name("b.new"),
                WriteMode::Append,
                &spec,
                &[people(&[1], &[0.1], &["z"])],
            )
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not found"), "{e}");
        assert!(!all.exists(&name("b.new")).await.unwrap());
        // Its own database: written and read.
        a.write_batches(
            &a.name("mine").unwrap(),
            WriteMode::Append,
            &spec,
            &[people(&[3], &[0.3], &["w"])],
        )
        .await
        .unwrap();
        assert!(all.exists(&name("a.mine")).await.unwrap());
        assert_eq!(all.list_tables().await.unwrap().len(), 4);
        // Unconfined with another home database: names resolve there, all stays visible.
        let b = all.clone().with_home_database("b").await.unwrap();
        assert_eq!(b.name("t").unwrap(), name("b.t"));
        let r = b
            .sql()
            .await
            .unwrap()
            .query("SELECT COUNT(*) AS n FROM secret")
            .await
            .unwrap();
        assert_eq!(r.num_rows(), 1);
    });
}
