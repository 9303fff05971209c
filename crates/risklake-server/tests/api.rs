//! The HTTP API against a server started by the test on a free loopback port.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{json, Value};

use risklake_server::client::Client;
use risklake_server::{ServeConfig, Server};

/// One exchange: the status and the body.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    Client::new(&addr.to_string())
        .unwrap()
        .request(method, path, body)
        .unwrap()
}

fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    Client::new(&addr.to_string())
        .unwrap()
        .call(method, path, body.as_ref())
        .unwrap()
}

fn ok(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = call(addr, method, path, body);
    assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
    v
}

/// JSON rows as an Arrow batch, the columns typed as a JSON reader infers them.
fn arrow_batch(rows: &Value) -> RecordBatch {
    // Through NDJSON text: serde_json here keeps numbers as text (arbitrary precision),
    // which arrow-json's serializer does not take.
    let text: String = rows.as_array().unwrap().iter().map(|r| format!("{r}\n")).collect();
    let (schema, _) =
        datafusion::arrow::json::reader::infer_json_schema(std::io::Cursor::new(text.as_bytes()), None).unwrap();
    let mut reader = datafusion::arrow::json::ReaderBuilder::new(Arc::new(schema))
        .with_batch_size(1000)
        .build(std::io::Cursor::new(text.as_bytes()))
        .unwrap();
    reader.next().unwrap().unwrap()
}

fn replace_column(batch: &RecordBatch, name: &str, column: ArrayRef) -> RecordBatch {
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    let i = schema.index_of(name).unwrap();
    fields[i] = Field::new(name, column.data_type().clone(), true);
    columns[i] = column;
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// Posts batches as one Arrow IPC stream.
fn arrow_call(addr: SocketAddr, path: &str, batches: &[RecordBatch]) -> risklake_server::client::Answer {
    let mut body = Vec::new();
    let mut w = StreamWriter::try_new(&mut body, &batches[0].schema()).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    drop(w);
    Client::new(&addr.to_string())
        .unwrap()
        .exchange("POST", path, "application/vnd.apache.arrow.stream", &body)
        .unwrap()
}

/// The probability, score and error columns of an Arrow answer, over all its batches.
type Scores = (Vec<Option<f64>>, Vec<Option<f64>>, Vec<Option<String>>);
fn read_scores(body: &[u8]) -> Scores {
    let reader = StreamReader::try_new(std::io::Cursor::new(body), None).unwrap();
    let mut out: Scores = Default::default();
    for b in reader {
        let b = b.unwrap();
        let f = |name: &str| {
            b.column_by_name(name).map(|c| {
                c.as_any()
                    .downcast_ref::<Float64Array>()
                    .unwrap()
                    .iter()
                    .collect::<Vec<_>>()
            })
        };
        out.0.extend(f("probability").unwrap());
        out.1.extend(f("score").unwrap_or_else(|| vec![None; b.num_rows()]));
        let e = b
            .column_by_name("error")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        out.2.extend(e.iter().map(|v| v.map(str::to_string)));
    }
    out
}

/// Waits for a job to end (bounded) and returns it.
fn wait(addr: SocketAddr, id: i64) -> Value {
    let start = Instant::now();
    loop {
        let j = ok(addr, "GET", &format!("/api/v1/jobs/{id}"), None);
        if ["succeeded", "failed", "cancelled"].contains(&j["status"].as_str().unwrap()) {
            return j;
        }
        assert!(start.elapsed() < Duration::from_secs(180), "job {id} did not end: {j}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (bounded) for a job to succeed or fail, asking as `client` (a token's).
fn wait_as(client: &Client, id: i64) -> Value {
    let t0 = Instant::now();
    loop {
        let (_, j) = client.call("GET", &format!("/api/v1/jobs/{id}"), None).unwrap();
        if j["status"] == "succeeded" || j["status"] == "failed" {
            return j;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "job {id} did not end: {j}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Submits a job as `client` and waits for it to end.
fn run_as(client: &Client, body: &Value) -> Value {
    let (status, job) = client.call("POST", "/api/v1/jobs", Some(body)).unwrap();
    assert_eq!(status, 201, "{job}");
    wait_as(client, job["id"].as_i64().unwrap())
}

fn submit(addr: SocketAddr, body: Value) -> i64 {
    let (status, j) = call(addr, "POST", "/api/v1/jobs", Some(body));
    assert_eq!(status, 201, "{j}");
    // Queued, or already taken by a worker polling the queue.
    assert!(["queued", "running"].contains(&j["status"].as_str().unwrap()), "{j}");
    j["id"].as_i64().unwrap()
}

fn config(home: &std::path::Path) -> ServeConfig {
    let mut c = ServeConfig::new(home);
    c.bind = "127.0.0.1:0".parse().unwrap();
    c.workers = 1;
    c.auth = risklake_server::Auth::None;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_tables_sql_runs_and_errors_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let server = Server::start(config(&home)).await.unwrap();
    let addr = server.addr();
    assert!(addr.ip().is_loopback());
    let home_text = home.canonicalize().unwrap().display().to_string();
    let result = tokio::task::spawn_blocking(move || {
        let h = ok(addr, "GET", "/api/v1/health", None);
        assert_eq!(h["status"], "ok");

        // A job: generate a table; its run is recorded under the job.
        let gen = submit(
            addr,
            json!({"kind": "gen", "request": {"rows": 3000, "features": 4, "seed": 7, "table": "apps"}}),
        );
        let j = wait(addr, gen);
        assert_eq!(j["status"], "succeeded", "{j}");
        assert_eq!(j["result"]["rows"], 3000);
        let gen_run = j["runs"][0].as_i64().expect("the job's run");
        assert_eq!(j["result"]["run"], gen_run);
        let logs = ok(addr, "GET", &format!("/api/v1/jobs/{gen}/logs"), None);
        assert!(logs["lines"].as_array().unwrap().len() >= 2, "{logs}");

        // Tables, a table, a preview, SQL.
        let t = ok(addr, "GET", "/api/v1/tables", None);
        assert_eq!(t["tables"][0]["name"], "default.apps", "{t}");
        let d = ok(addr, "GET", "/api/v1/tables/default.apps", None);
        assert!(d["columns"].as_array().unwrap().iter().any(|c| c["name"] == "bad"), "{d}");
        let p = ok(addr, "GET", "/api/v1/tables/apps/preview?limit=5&offset=10", None);
        assert_eq!((p["rows"].as_u64(), p["data"].as_array().unwrap().len()), (Some(5), 5));
        let q = ok(
            addr,
            "POST",
            "/api/v1/sql",
            Some(json!({"sql": "SELECT COUNT(*) AS n FROM apps; SELECT * FROM apps", "limit": 7})),
        );
        assert_eq!(q["results"][0]["data"][0]["n"], 3000, "{q}");
        assert_eq!((q["results"][1]["rows"].as_u64(), q["results"][1]["truncated"].as_bool()), (Some(7), Some(true)));

        // A model trained as a job, its run listed and shown.
        let train = submit(
            addr,
            json!({"kind": "train.gbdt", "request": {"table": "apps", "label": "bad", "valid_fraction": 0.25, "params": {"num_iterations": 10}}}),
        );
        let j = wait(addr, train);
        assert_eq!(j["status"], "succeeded", "{j}");
        assert!(!j.to_string().contains(&home_text), "no server path in a job's report: {j}");
        let runs = ok(addr, "GET", "/api/v1/runs?kind=train.gbdt", None);
        let run = runs["runs"][0]["id"].as_i64().unwrap();
        assert_eq!(j["runs"], json!([run]));
        let r = ok(addr, "GET", &format!("/api/v1/runs/{run}"), None);
        let auc = r["metrics"].as_object().unwrap().iter().find(|(k, _)| k.contains("auc"));
        assert!(auc.is_some_and(|(_, v)| v.as_f64().unwrap() > 0.5), "{r}");
        assert_eq!(r["command"], format!("job {train}"));
        // The registry and the scoring endpoint: the trained run registered as pd@champion;
        // rows as JSON score exactly as the predict workflow scores the table.
        let (status, v) = call(addr, "POST", "/api/v1/models/pd/versions", Some(json!({"run": run, "aliases": ["champion"]})));
        assert_eq!((status, v["version"].as_i64()), (201, Some(1)), "{v}");
        let rows = ok(addr, "POST", "/api/v1/sql", Some(json!({"sql": "SELECT * FROM apps ORDER BY id LIMIT 20"})));
        let rows = rows["results"][0]["data"].clone();
        let scored = ok(addr, "POST", "/api/v1/models/pd@champion/predict", Some(json!({"rows": rows})));
        assert_eq!((scored["version"].as_i64(), scored["kind"].as_str()), (Some(1), Some("gbdt")), "{scored}");
        assert_eq!(scored["ignored_fields"], json!(["bad"]), "the label is no input: {scored}");
        let job = submit(
            addr,
            json!({"kind": "predict", "request": {"model": "pd@champion", "table": "apps", "destination": {"table": "scored"}}}),
        );
        assert_eq!(wait(addr, job)["status"], "succeeded");
        let want = ok(addr, "POST", "/api/v1/sql", Some(json!({"sql": "SELECT prediction FROM scored ORDER BY id LIMIT 20"})));
        for (i, w) in want["results"][0]["data"].as_array().unwrap().iter().enumerate() {
            let (got, w) = (scored["predictions"][i]["probability"].as_f64().unwrap(), w["prediction"].as_f64().unwrap());
            assert!((got - w).abs() < 1e-12, "row {i}: {got} vs {w}");
        }
        // The same rows as an Arrow IPC stream (two batches) score the same, answered in Arrow.
        let batch = arrow_batch(&rows);
        let answer = arrow_call(addr, "/api/v1/models/pd@champion/predict", &[batch.slice(0, 12), batch.slice(12, 8)]);
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.header("content-type"), Some("application/vnd.apache.arrow.stream"));
        assert_eq!((answer.header("x-risklake-model"), answer.header("x-risklake-ignored-columns")), (Some("pd/1"), Some("bad")), "as the JSON answer lists");
        let (probability, _, errors) = read_scores(&answer.body);
        assert_eq!(probability.len(), 20);
        for (i, p) in probability.iter().enumerate() {
            let want = scored["predictions"][i]["probability"].as_f64().unwrap();
            assert!((p.unwrap() - want).abs() < 1e-12, "row {i}: {p:?} vs {want}");
            assert!(errors[i].is_none());
        }
        // A batch without a model column, a column of the wrong type, a body that is not
        // Arrow: 400 naming the problem; an infinite value: that row's error only.
        let without = batch.project(&(0..batch.num_columns()).filter(|&c| batch.schema().field(c).name() != "x00_amount").collect::<Vec<_>>()).unwrap();
        let e = arrow_call(addr, "/api/v1/models/pd/versions/1/predict", &[without]);
        assert!(e.status == 400 && String::from_utf8_lossy(&e.body).contains("x00_amount"), "{}", String::from_utf8_lossy(&e.body));
        let text = replace_column(&batch, "x00_amount", Arc::new(StringArray::from(vec!["1"; 20])));
        let e = arrow_call(addr, "/api/v1/models/pd/versions/1/predict", &[text]);
        let msg = String::from_utf8_lossy(&e.body).to_string();
        assert!(e.status == 400 && msg.contains("x00_amount") && msg.contains("not a number"), "{msg}");
        let garbage = Client::new(&addr.to_string()).unwrap().exchange("POST", "/api/v1/models/pd/predict", "application/vnd.apache.arrow.stream", b"not arrow").unwrap();
        assert!(garbage.status == 400 && String::from_utf8_lossy(&garbage.body).contains("not an Arrow IPC stream"));
        let mut amounts: Vec<Option<f64>> = vec![Some(1000.0); 20];
        amounts[3] = Some(f64::INFINITY);
        amounts[4] = Some(f64::NAN);
        let inf = replace_column(&batch, "x00_amount", Arc::new(Float64Array::from(amounts)));
        let answer = arrow_call(addr, "/api/v1/models/pd/versions/1/predict", &[inf]);
        let (probability, _, errors) = read_scores(&answer.body);
        assert!(errors[3].as_deref().unwrap().contains("x00_amount is inf"), "{errors:?}");
        assert!(probability[3].is_none() && probability[4].is_some() && errors[4].is_none(), "NaN is a missing value");
        // Reason codes: the same features, in the same order, as the predict workflow's.
        let with = ok(addr, "POST", "/api/v1/models/pd@champion/predict", Some(json!({"rows": rows, "reasons": 2})));
        assert_eq!(with["reason_unit"], "log-odds", "{with}");
        let job = submit(
            addr,
            json!({"kind": "predict", "request": {"model": "pd@champion", "table": "apps", "output": "reasons", "top": 2,
                   "destination": {"table": "explained"}}}),
        );
        assert_eq!(wait(addr, job)["status"], "succeeded");
        let want = ok(
            addr,
            "POST",
            "/api/v1/sql",
            Some(json!({"sql": "SELECT reason_1, reason_2, reason_1_effect FROM explained ORDER BY id LIMIT 20"})),
        );
        for (i, w) in want["results"][0]["data"].as_array().unwrap().iter().enumerate() {
            let got = &with["predictions"][i]["reasons"];
            assert_eq!(got[0]["feature"].as_str(), w["reason_1"].as_str(), "row {i}: {got} vs {w}");
            assert_eq!(got[1]["feature"].as_str(), w["reason_2"].as_str(), "row {i}: {got} vs {w}");
            if let Some(e) = w["reason_1_effect"].as_f64() {
                assert!((got[0]["effect"].as_f64().unwrap() - e).abs() < 1e-9, "row {i}");
                assert_eq!(got[0]["value"], rows[i][got[0]["feature"].as_str().unwrap()], "the row's own value");
            }
        }
        // Bad rows are answered per row; the version route and unknown models.
        let mixed = json!({"rows": [{"x00_amount": "oops"}, {}, 7]});
        let m = ok(addr, "POST", "/api/v1/models/pd/versions/1/predict", Some(mixed));
        let p = &m["predictions"];
        assert!(p[0]["error"].as_str().unwrap().contains("x00_amount"), "{m}");
        assert!(p[1]["probability"].as_f64().is_some(), "all missing is a row too: {m}");
        assert!(p[2]["error"].as_str().unwrap().contains("not a JSON object"), "{m}");
        for (path, body, want) in [
            ("/api/v1/models/nope@champion/predict", json!({"rows": []}), 404),
            ("/api/v1/models/pd@nope/predict", json!({"rows": []}), 404),
            ("/api/v1/models/pd/versions/9/predict", json!({"rows": []}), 404),
            ("/api/v1/models/pd/predict", json!({"row": {}}), 400),
            ("/api/v1/models/pd/predict", json!({"rows": [], "reasons": -1}), 400),
        ] {
            let (status, e) = call(addr, "POST", path, Some(body));
            assert_eq!(status, want, "{path}: {e}");
        }
        // Moving the alias takes effect at once (version 2 is the same run: same answers).
        let (status, v) = call(addr, "POST", "/api/v1/models/pd/versions", Some(json!({"run": run})));
        assert_eq!((status, v["version"].as_i64()), (201, Some(2)), "{v}");
        ok(addr, "PUT", "/api/v1/models/pd/aliases/champion", Some(json!({"version": 2})));
        let again = ok(addr, "POST", "/api/v1/models/pd@champion/predict", Some(json!([rows[0].clone()])));
        assert_eq!(again["version"], 2);
        assert_eq!(again["predictions"][0], scored["predictions"][0]);

        // Artifacts come by URL (no server paths), metric histories, lineage, comparison.
        let artifacts = r["artifacts"].as_array().unwrap();
        assert!(!artifacts.is_empty() && artifacts.iter().all(|a| a["path"].is_null()), "{r}");
        let url = artifacts[0]["url"].as_str().unwrap();
        let (status, bytes) = http(addr, "GET", url, None);
        assert_eq!(status, 200);
        assert_eq!(bytes.len() as u64, artifacts[0]["size"].as_u64().unwrap(), "{url}");
        let key = r["metric_history"][0]["key"].as_str().unwrap();
        let h = ok(addr, "GET", &format!("/api/v1/runs/{run}/metrics/{key}"), None);
        assert!(!h["history"].as_array().unwrap().is_empty(), "{h}");
        let l = ok(addr, "GET", &format!("/api/v1/runs/{run}/lineage"), None);
        assert!(l.to_string().contains("apps"), "the lineage names the table read: {l}");
        let cmp = ok(addr, "GET", &format!("/api/v1/runs/compare?ids={gen_run},{run}"), None);
        assert!(cmp.to_string().contains("train.gbdt"), "{cmp}");
        for (path, want) in [
            (format!("/api/v1/runs/{run}/artifacts/..%2F..%2Fstore.db"), 404),
            (format!("/api/v1/runs/{run}/artifacts/nope.json"), 404),
            (format!("/api/v1/runs/{run}/metrics/nope"), 404),
            (format!("/api/v1/runs/compare?ids={run}"), 400),
        ] {
            let (status, body) = http(addr, "GET", &path, None);
            assert_eq!(status, want, "{path}: {body}");
        }
        let (status, e) = call(addr, "GET", &format!("/api/v1/runs/{run}?project=other"), None);
        assert_eq!(status, 404, "another project's run is not found: {e}");

        // Client mistakes are 4xx with a kind and a message naming the problem.
        let cases: Vec<(&str, &str, Option<Value>, u16, &str)> = vec![
            ("POST", "/api/v1/jobs", Some(json!({"kind": "trian.gbdt", "request": {}})), 400, "train.gbdt"),
            ("POST", "/api/v1/jobs", Some(json!({"request": {}})), 400, "kind"),
            ("POST", "/api/v1/jobs", Some(json!({"kind": "gen", "request": {"rowz": 3}})), 400, "rowz"),
            (
                "POST",
                "/api/v1/jobs",
                Some(json!({"kind": "train.gbdt", "request": {"table": "/etc/passwd.csv", "label": "bad"}})),
                400,
                "--files",
            ),
            ("POST", "/api/v1/jobs", Some(json!({"kind": "gen", "on_interrupt": "later"})), 400, "on_interrupt"),
            ("POST", "/api/v1/sql", Some(json!({"sql": "DROP TABLE apps"})), 400, "only queries"),
            ("POST", "/api/v1/sql", Some(json!({"sql": "SELECT nope FROM apps"})), 400, "nope"),
            ("POST", "/api/v1/sql", Some(json!({"query": "SELECT 1"})), 400, "sql"),
            ("GET", "/api/v1/jobs/999", None, 404, "999"),
            ("GET", "/api/v1/jobs/x", None, 400, "job id"),
            ("GET", "/api/v1/tables/no.such", None, 404, "no.such"),
            ("GET", "/api/v1/tables/a;b/preview", None, 400, "a;b"),
            ("GET", "/api/v1/runs?colour=red", None, 400, "colour"),
            ("GET", "/api/v1/runs?status=done", None, 400, "status"),
            ("GET", "/api/v1/nowhere", None, 404, "route"),
        ];
        for (method, path, body, want, names) in cases {
            let (status, e) = call(addr, method, path, body);
            assert_eq!(status, want, "{method} {path}: {e}");
            let message = e["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(names), "{method} {path}: {e}");
            assert!(e["error"]["kind"].is_string(), "{e}");
        }
        let (status, body) = http(addr, "POST", "/api/v1/jobs", Some("{not json"));
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("not JSON"), "{body}");

        // Cancelling: a queued job at once; a running one at its next check, its run
        // marked cancelled and its table never created.
        let long = submit(
            addr,
            json!({"kind": "gen", "request": {"rows": 50_000_000, "features": 4, "table": "huge"}}),
        );
        let queued = submit(addr, json!({"kind": "gen", "request": {"rows": 10, "table": "never"}}));
        let c = ok(addr, "DELETE", &format!("/api/v1/jobs/{queued}"), None);
        assert_eq!(c["status"], "cancelled", "{c}");
        let start = Instant::now();
        while ok(addr, "GET", &format!("/api/v1/jobs/{long}"), None)["status"] != "running" {
            assert!(start.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        ok(addr, "DELETE", &format!("/api/v1/jobs/{long}"), None);
        let j = wait(addr, long);
        assert_eq!(j["status"], "cancelled", "{j}");
        let r = ok(addr, "GET", &format!("/api/v1/runs/{}", j["runs"][0]), None);
        assert_eq!(r["status"], "cancelled", "{r}");
        let t = ok(addr, "GET", "/api/v1/tables", None);
        assert!(!t.to_string().contains("huge") && !t.to_string().contains("never"), "{t}");
        let (status, e) = call(addr, "DELETE", &format!("/api/v1/jobs/{long}"), None);
        assert_eq!(status, 409, "an ended job cannot be cancelled: {e}");

        // Server-sent events: the log lines, then the end.
        let (status, events) = http(addr, "GET", &format!("/api/v1/jobs/{gen}/events"), None);
        assert_eq!(status, 200);
        assert!(events.contains("event: log") && events.contains("event: end"), "{events}");
        assert!(events.contains("\"succeeded\""), "{events}");

        // The OpenAPI document lists every route family.
        let doc = ok(addr, "GET", "/api/v1/openapi.json", None);
        for p in ["/api/v1/jobs/{id}", "/api/v1/sql", "/api/v1/tables/{name}/preview", "/api/v1/models/{name}"] {
            assert!(doc["paths"][p].is_object(), "{p} in {doc}");
        }
        let jobs = ok(addr, "GET", "/api/v1/jobs?status=succeeded", None);
        assert_eq!(jobs["jobs"].as_array().unwrap().len(), 4, "gen, train, predict, reasons: {jobs}");
    })
    .await;
    server.shutdown().await;
    result.unwrap();
}

/// A server that stops while a job runs marks it (or queues it again when it asked), and
/// the next server runs what is queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_marks_running_jobs_and_a_restart_runs_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let server = Server::start(config(&home)).await.unwrap();
    let addr = server.addr();
    let (a, b) = tokio::task::spawn_blocking(move || {
        let big = json!({"kind": "gen", "request": {"rows": 50_000_000, "features": 4, "table": "big"}});
        let a = submit(addr, big.clone());
        let mut requeue = big;
        requeue["on_interrupt"] = json!("requeue");
        requeue["request"]["rows"] = json!(2000);
        requeue["request"]["table"] = json!("small");
        let b = submit(addr, requeue);
        let start = Instant::now();
        while ok(addr, "GET", &format!("/api/v1/jobs/{a}"), None)["status"] != "running" {
            assert!(start.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(50));
        }
        (a, b)
    })
    .await
    .unwrap();
    server.shutdown().await;
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the port is closed after shutdown"
    );

    let server = Server::start(config(&home)).await.unwrap();
    let addr = server.addr();
    let result = tokio::task::spawn_blocking(move || {
        let ja = ok(addr, "GET", &format!("/api/v1/jobs/{a}"), None);
        assert_eq!(ja["status"], "cancelled", "{ja}");
        assert!(ja["error"].as_str().unwrap().contains("shut down"), "{ja}");
        let jb = wait(addr, b);
        assert_eq!(jb["status"], "succeeded", "the queued job ran after the restart: {jb}");
        let t = ok(addr, "GET", "/api/v1/tables", None);
        assert_eq!(t["tables"].as_array().unwrap().len(), 1, "only the small table: {t}");
    })
    .await;
    server.shutdown().await;
    result.unwrap();
}

/// Tokens: none or a bad one is 401; a viewer reads but may not run jobs (403); an editor
/// runs them; a token for project B sees nothing of project A (its runs, jobs, logs), not
/// even by asking for project A; a revoked token stops at once; writes are audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_roles_and_project_isolation() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let store = risklake_track::SqlStore::open(&home).unwrap();
    use risklake_track::Role;
    let home2 = home.clone();
    let (_, viewer) = store.create_token("vic", "a", Role::Viewer, None).unwrap();
    let (_, editor) = store.create_token("eve", "a", Role::Editor, None).unwrap();
    let (bt, other) = store.create_token("bob", "b", Role::Editor, None).unwrap();
    let (_, admin_a) = store.create_token("ada", "a", Role::Admin, None).unwrap();
    let (_, admin_b) = store.create_token("bea", "b", Role::Admin, None).unwrap();
    let mut c = config(&home);
    c.auth = risklake_server::Auth::Token;
    let server = Server::start(c).await.unwrap();
    let addr = server.addr();
    let result = tokio::task::spawn_blocking(move || {
        let as_ = |t: Option<&str>| {
            Client::new(&addr.to_string())
                .unwrap()
                .with_token(t.map(str::to_string))
        };
        let (anon, v, e, b) = (as_(None), as_(Some(&viewer)), as_(Some(&editor)), as_(Some(&other)));
        let gen = json!({"kind": "gen", "request": {"rows": 500, "features": 3, "table": "t"}});
        // Public: health. Everything else needs a token.
        assert_eq!(anon.call("GET", "/api/v1/health", None).unwrap().0, 200);
        for (method, path) in [
            ("GET", "/api/v1/runs"),
            ("GET", "/api/v1/jobs"),
            ("POST", "/api/v1/sql"),
        ] {
            let (status, body) = anon.call(method, path, None).unwrap();
            assert_eq!(status, 401, "{method} {path}: {body}");
            assert_eq!(body["error"]["kind"], "unauthorized");
        }
        let (status, _) = as_(Some("rlk_0000")).call("GET", "/api/v1/runs", None).unwrap();
        assert_eq!(status, 401);
        // Roles.
        let (status, body) = v.call("POST", "/api/v1/jobs", Some(&gen)).unwrap();
        assert_eq!(status, 403, "a viewer runs no job: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("editor"), "{body}");
        let (status, job) = e.call("POST", "/api/v1/jobs", Some(&gen)).unwrap();
        assert_eq!(status, 201, "{job}");
        assert_eq!(
            (job["project"].as_str(), job["user"].as_str()),
            (Some("a"), Some("eve"))
        );
        let id = job["id"].as_i64().unwrap();
        let done = wait_as(&v, id);
        assert_eq!(done["status"], "succeeded", "{done}");
        let run = done["runs"][0].as_i64().unwrap();
        assert_eq!(v.call("GET", &format!("/api/v1/runs/{run}"), None).unwrap().0, 200);
        let (status, q) = v
            .call(
                "POST",
                "/api/v1/sql",
                Some(&json!({"sql": "SELECT COUNT(*) AS n FROM t"})),
            )
            .unwrap();
        assert_eq!(
            (status, q["results"][0]["data"][0]["n"].as_i64()),
            (200, Some(500)),
            "{q}"
        );
        let (status, body) = v
            .call("POST", "/api/v1/models/pd/versions", Some(&json!({"run": run})))
            .unwrap();
        assert_eq!(status, 403, "a viewer registers no model: {body}");
        let (status, body) = b
            .call("POST", "/api/v1/models/pd/versions", Some(&json!({"run": run})))
            .unwrap();
        assert_eq!(status, 404, "project B cannot register project A's run: {body}");
        // Project B's token: nothing of A.
        let (_, runs) = b.call("GET", "/api/v1/runs", None).unwrap();
        assert_eq!(runs["runs"], json!([]), "{runs}");
        let (_, jobs) = b.call("GET", "/api/v1/jobs", None).unwrap();
        assert_eq!(jobs["jobs"], json!([]), "{jobs}");
        for path in [
            format!("/api/v1/runs/{run}"),
            format!("/api/v1/jobs/{id}"),
            format!("/api/v1/jobs/{id}/logs"),
            format!("/api/v1/jobs/{id}/events"),
        ] {
            let (status, body) = b.call("GET", &path, None).unwrap();
            assert_eq!(status, 404, "{path}: {body}");
        }
        assert_eq!(b.call("DELETE", &format!("/api/v1/jobs/{id}"), None).unwrap().0, 404);
        // Plans and studies of A are not found for B either.
        assert_eq!(b.call("GET", &format!("/api/v1/plans/{run}"), None).unwrap().0, 404);
        let tune = json!({"kind": "tune", "request": {"model": "gbdt", "table": "t", "label": "bad", "trials": 2, "study": "s", "params": {"num_iterations": 5}}});
        assert_eq!(run_as(&e, &tune)["status"], "succeeded");
        let (_, listed) = v.call("GET", "/api/v1/studies", None).unwrap();
        assert_eq!(listed["studies"].as_array().map(Vec::len), Some(1), "{listed}");
        let (_, listed) = b.call("GET", "/api/v1/studies", None).unwrap();
        assert_eq!(listed["studies"], json!([]), "{listed}");
        assert_eq!(b.call("GET", "/api/v1/studies/s", None).unwrap().0, 404);
        assert_eq!(b.call("GET", "/api/v1/studies/s/importance", None).unwrap().0, 404);
        for path in [
            "/api/v1/runs?project=a",
            "/api/v1/jobs?project=a",
            "/api/v1/models?project=a",
        ] {
            let (status, body) = b.call("GET", path, None).unwrap();
            assert_eq!(status, 403, "{path}: {body}");
        }
        let mut into_a = gen.clone();
        into_a["project"] = json!("a");
        assert_eq!(b.call("POST", "/api/v1/jobs", Some(&into_a)).unwrap().0, 403);
        // Lake tables: project A's `t` is in A's database; B's token finds no trace of it
        // (listing, schema, preview, SQL by any spelling, jobs reading or writing it).
        let (_, listed) = v.call("GET", "/api/v1/tables", None).unwrap();
        assert!(listed.to_string().contains("\"a.t\""), "{listed}");
        let (_, listed) = b.call("GET", "/api/v1/tables", None).unwrap();
        assert_eq!(listed["tables"], json!([]), "{listed}");
        for path in ["/api/v1/tables/a.t", "/api/v1/tables/a.t/preview", "/api/v1/tables/t"] {
            let (status, body) = b.call("GET", path, None).unwrap();
            assert_eq!(status, 404, "{path}: {body}");
        }
        for sql in ["SELECT * FROM a.t", "SELECT * FROM paimon.a.t", "SELECT * FROM t", "SHOW TABLES"] {
            let (status, body) = b.call("POST", "/api/v1/sql", Some(&json!({ "sql": sql }))).unwrap();
            assert!(
                (status == 400 || status == 404 || status == 200) && !body.to_string().contains("\"a\""),
                "{sql}: {status} {body}"
            );
            if sql != "SHOW TABLES" {
                assert_ne!(status, 200, "{sql}: {body}");
            }
        }
        for request in [
            json!({"kind": "sql", "request": {"sql": "CREATE TABLE mine AS SELECT * FROM a.t"}}),
            json!({"kind": "sql", "request": {"sql": "INSERT INTO a.t SELECT * FROM a.t"}}),
            json!({"kind": "gen", "request": {"rows": 10, "features": 3, "table": "a.t2"}}),
            json!({"kind": "features.bin", "request": {"table": "a.t", "target": {"label": "bad"}}}),
        ] {
            let j = run_as(&b, &request);
            assert_eq!(j["status"], "failed", "{request}: {j}");
            assert!(j["error"].as_str().unwrap().contains("not found"), "{request}: {j}");
        }
        // B's own tables live in B's database; A's editor cannot see them either, and SQL
        // reaches no server file by path.
        assert_eq!(run_as(&b, &gen)["status"], "succeeded");
        let (_, listed) = b.call("GET", "/api/v1/tables", None).unwrap();
        assert!(listed.to_string().contains("\"b.t\""), "{listed}");
        let (status, body) = e
            .call("POST", "/api/v1/sql", Some(&json!({"sql": "SELECT COUNT(*) AS n FROM b.t"})))
            .unwrap();
        assert_eq!(status, 400, "{body}");
        let copy = run_as(
            &e,
            &json!({"kind": "sql", "request": {"sql": format!("COPY (SELECT * FROM t) TO '{}'", home2.join("leak.csv").display())}}),
        );
        assert_eq!(copy["status"], "failed", "{copy}");
        assert!(copy["error"].as_str().unwrap().contains("server's files"), "{copy}");
        assert!(!home2.join("leak.csv").exists());
        // Token management needs the admin role, stays in the admin's project, and a
        // token it creates works at once.
        assert_eq!(e.call("GET", "/api/v1/tokens", None).unwrap().0, 403);
        let admin = as_(Some(&admin_a));
        let (status, made) = admin
            .call(
                "POST",
                "/api/v1/tokens",
                Some(&json!({"user": "val", "role": "viewer", "expires_days": 7})),
            )
            .unwrap();
        assert_eq!(status, 201, "{made}");
        let val = as_(made["secret"].as_str());
        assert_eq!(val.call("GET", "/api/v1/runs", None).unwrap().0, 200);
        let (_, listed) = admin.call("GET", "/api/v1/tokens", None).unwrap();
        assert_eq!(listed["tokens"].as_array().unwrap().len(), 4, "{listed}");
        assert!(
            !listed.to_string().contains(made["secret"].as_str().unwrap()),
            "no secrets listed"
        );
        let new_id = made["token"]["id"].as_i64().unwrap();
        assert_eq!(
            as_(Some(&admin_b))
                .call("DELETE", &format!("/api/v1/tokens/{new_id}"), None)
                .unwrap()
                .0,
            404
        );
        assert_eq!(
            admin
                .call("DELETE", &format!("/api/v1/tokens/{new_id}"), None)
                .unwrap()
                .0,
            200
        );
        assert_eq!(val.call("GET", "/api/v1/runs", None).unwrap().0, 401);
        for bad in [
            json!({"user": "x", "role": "boss"}),
            json!({"role": "viewer"}),
            json!({"user": "x", "role": "viewer", "expires_days": 0}),
        ] {
            let (status, body) = admin.call("POST", "/api/v1/tokens", Some(&bad)).unwrap();
            assert_eq!(status, 400, "{bad}: {body}");
        }
        // Revoked: refused at once.
        assert_eq!(b.call("GET", "/api/v1/jobs", None).unwrap().0, 200);
        risklake_track::SqlStore::open(&home2)
            .unwrap()
            .revoke_token(bt.id)
            .unwrap();
        assert_eq!(b.call("GET", "/api/v1/jobs", None).unwrap().0, 401);
    })
    .await;
    result.unwrap();
    let log = store.list_audit(Some("a"), 10).unwrap();
    let actions: Vec<(&str, &str)> = log.iter().map(|e| (e.user.as_str(), e.action.as_str())).collect();
    assert_eq!(
        actions,
        vec![
            ("ada", "token.revoke"),
            ("ada", "token.create"),
            ("eve", "job.submit"),
            ("eve", "job.submit"),
            ("eve", "job.submit")
        ],
        "newest first"
    );
    server.shutdown().await;
}

/// A bounded load on loopback: 16 clients, 1,600 reads and 32 jobs at once; every answer
/// is a success and every job ends succeeded (none lost, none run twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_load_loses_no_request_and_no_job() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let mut c = config(&home);
    c.workers = 2;
    let server = Server::start(c).await.unwrap();
    let addr = server.addr();
    let result = tokio::task::spawn_blocking(move || {
        let j = submit(
            addr,
            json!({"kind": "gen", "request": {"rows": 1000, "features": 3, "table": "t"}}),
        );
        assert_eq!(wait(addr, j)["status"], "succeeded");
        let clients: Vec<_> = (0..16)
            .map(|c| {
                std::thread::spawn(move || {
                    let mut jobs = Vec::new();
                    for i in 0..100 {
                        let (status, body) = match i % 4 {
                            0 => call(addr, "GET", "/api/v1/tables", None),
                            1 => call(addr, "GET", "/api/v1/runs?limit=5", None),
                            2 => call(
                                addr,
                                "POST",
                                "/api/v1/sql",
                                Some(json!({"sql": "SELECT COUNT(*) AS n FROM t"})),
                            ),
                            _ => call(addr, "GET", "/api/v1/jobs?limit=5", None),
                        };
                        assert!((200..300).contains(&status), "client {c} request {i}: {status} {body}");
                        if i % 50 == 0 {
                            let sql = json!({"kind": "sql", "request": {"sql": format!("SELECT {c} + {i} AS v")}});
                            jobs.push(submit(addr, sql));
                        }
                    }
                    jobs
                })
            })
            .collect();
        let jobs: Vec<i64> = clients.into_iter().flat_map(|t| t.join().unwrap()).collect();
        assert_eq!(jobs.len(), 32);
        for id in &jobs {
            let j = wait(addr, *id);
            assert_eq!(j["status"], "succeeded", "{j}");
            assert_eq!(j["runs"].as_array().unwrap().len(), 1, "run once: {j}");
        }
        let all = ok(addr, "GET", "/api/v1/jobs?limit=1000", None);
        assert_eq!(all["jobs"].as_array().unwrap().len(), 33);
    })
    .await;
    server.shutdown().await;
    result.unwrap();
}

/// Without authentication neither listener leaves loopback; the refusal names the option.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_auth_is_refused_off_loopback_for_http_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&dir.path().join("home"));
    c.bind = "0.0.0.0:0".parse().unwrap();
    let e = Server::start(c).await.err().expect("refused").to_string();
    assert!(
        e.contains("bind") && e.contains("0.0.0.0:0 is not a loopback address"),
        "{e}"
    );
    let mut c = config(&dir.path().join("home"));
    c.pg_bind = Some("0.0.0.0:0".parse().unwrap());
    let e = Server::start(c).await.err().expect("refused").to_string();
    assert!(e.contains("pg-bind") && e.contains("not a loopback address"), "{e}");
    // On loopback both start, and the PostgreSQL listener reports where it is.
    let mut c = config(&dir.path().join("home"));
    c.pg_bind = Some("127.0.0.1:0".parse().unwrap());
    let server = Server::start(c).await.unwrap();
    let pg = server.pg_addr().expect("a PostgreSQL address");
    assert!(pg.ip().is_loopback() && pg.port() != 0);
    server.shutdown().await;
}

/// What the dashboard reads: a table's snapshots and tags and a column's profile
/// (checked against SQL on the same table), a binning plan in brief and by feature
/// (checked against the run's metrics), and a study with its trials a page at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_profiles_plans_and_studies_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let mut c = config(&home);
    c.workers = 2;
    let server = Server::start(c).await.unwrap();
    let addr = server.addr();
    let result = tokio::task::spawn_blocking(move || {
        let gen = json!({"kind": "gen", "request": {"rows": 3000, "features": 4, "table": "apps"}});
        let id = submit(addr, gen);
        assert_eq!(wait(addr, id)["status"], "succeeded");
        // Two workers share the cores out: each job computes on its own pool.
        let cores = std::thread::available_parallelism().unwrap().get();
        let logs = ok(addr, "GET", &format!("/api/v1/jobs/{id}/logs"), None);
        let first = logs["lines"][0]["line"].as_str().unwrap().to_string();
        assert!(
            first.ends_with(&format!(" on {} compute threads", (cores / 2).max(1))),
            "{first}"
        );
        let sql = |q: &str| {
            let r = ok(addr, "POST", "/api/v1/sql", Some(json!({ "sql": q })));
            r["results"][0]["data"][0].clone()
        };
        // The table: rows, its one snapshot, no tags.
        let t = ok(addr, "GET", "/api/v1/tables/apps", None);
        assert_eq!((t["rows"].as_u64(), t["snapshots"].as_array().map(Vec::len)), (Some(3000), Some(1)), "{t}");
        assert_eq!(t["tags"], json!([]), "{t}");
        assert_eq!(t["snapshots"][0]["id"], t["snapshot"], "{t}");
        // A numeric column's profile agrees with SQL.
        let p = ok(addr, "GET", "/api/v1/tables/apps/profile?column=x00_amount", None);
        let truth = sql("SELECT COUNT(*) AS n, COUNT(x00_amount) AS present, MIN(x00_amount) AS lo, MAX(x00_amount) AS hi FROM apps");
        assert_eq!(p["rows"], truth["n"], "{p}");
        assert_eq!(p["missing"].as_u64().unwrap(), truth["n"].as_u64().unwrap() - truth["present"].as_u64().unwrap());
        assert_eq!((p["min"].as_f64(), p["max"].as_f64()), (truth["lo"].as_f64(), truth["hi"].as_f64()), "{p}");
        let q: Vec<f64> = p["quantiles"].as_array().unwrap().iter().map(|x| x[1].as_f64().unwrap()).collect();
        assert_eq!(q.len(), 7, "{p}");
        assert!(q.windows(2).all(|w| w[0] <= w[1]) && q[0] >= truth["lo"].as_f64().unwrap(), "{q:?}");
        let hist: u64 = p["histogram"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
        assert_eq!(hist, truth["present"].as_u64().unwrap(), "every present value in one bin");
        // A text column: its most frequent values, as GROUP BY counts them.
        let p = ok(addr, "GET", "/api/v1/tables/apps/profile?column=month&snapshot=1", None);
        let top = &p["top"][0];
        let n = sql(&format!("SELECT COUNT(*) AS n FROM apps WHERE month = '{}'", top[0].as_str().unwrap()));
        assert_eq!(top[1], n["n"], "{p}");
        let (status, e) = call(addr, "GET", "/api/v1/tables/apps/profile?column=nope", None);
        assert!(status == 400 && e["error"]["message"].as_str().unwrap().contains("x00_amount"), "{e}");
        let (status, _) = call(addr, "GET", "/api/v1/tables/apps/profile?column=month&snapshot=9", None);
        assert_eq!(status, 404);
        // Rows at a snapshot; a snapshot that is not a number is named.
        let rows = ok(addr, "GET", "/api/v1/tables/apps/preview?limit=3&offset=2&snapshot=1", None);
        assert_eq!((rows["rows"].as_u64(), rows["offset"].as_u64()), (Some(3), Some(2)), "{rows}");
        let (status, e) = call(addr, "GET", "/api/v1/tables/apps/preview?snapshot=latest", None);
        assert!(status == 400 && e["error"]["param"] == "snapshot", "{e}");
        let (status, _) = call(addr, "GET", "/api/v1/tables/apps/preview?snapshot=9", None);
        assert_eq!(status, 404);
        // SQL results as a CSV file (the last statement's rows), and an unknown format refused.
        let body = r#"{"sql": "SELECT 1 AS a; SELECT month, COUNT(*) AS n FROM apps GROUP BY month ORDER BY month", "format": "csv"}"#;
        let (status, text) = http(addr, "POST", "/api/v1/sql", Some(body));
        let months = sql("SELECT COUNT(DISTINCT month) AS m FROM apps")["m"].as_u64().unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!((status, lines[0], lines.len() as u64), (200, "month,n", months + 1), "{text}");
        let (status, e) = call(addr, "POST", "/api/v1/sql", Some(json!({"sql": "SELECT 1", "format": "xlsx"})));
        assert!(status == 400 && e["error"]["param"] == "format", "{e}");
        // Every query sent joins the caller's history, newest first, once; refused writes do not.
        let (status, _) = call(addr, "POST", "/api/v1/sql", Some(json!({"sql": "DROP TABLE apps"})));
        assert_eq!(status, 400);
        sql("SELECT COUNT(DISTINCT month) AS m FROM apps");
        let history = ok(addr, "GET", "/api/v1/sql/history", None)["queries"].clone();
        let queries: Vec<&str> = history.as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert_eq!(queries[0], "SELECT COUNT(DISTINCT month) AS m FROM apps", "{history}");
        assert!(queries[1].starts_with("SELECT 1 AS a; SELECT month"), "{history}");
        assert!(!queries.iter().any(|q| q.contains("DROP")), "{history}");
        assert_eq!(queries.iter().filter(|q| q.contains("DISTINCT month")).count(), 1, "{history}");
        // Who calls: without authentication, the server's user as admin of any project.
        let me = ok(addr, "GET", "/api/v1/me", None);
        assert_eq!((me["role"].as_str(), me["auth"].as_str(), &me["project"]), (Some("admin"), Some("none"), &Value::Null), "{me}");
        // A binning plan in brief, sorted by IV as the run's metrics say, and one feature.
        let bin = json!({"kind": "features.bin", "request": {"table": "apps", "target": {"label": "bad"}}});
        let job = wait(addr, submit(addr, bin));
        assert_eq!(job["status"], "succeeded", "{job}");
        let run = job["runs"][0].as_i64().unwrap();
        let plan = ok(addr, "GET", &format!("/api/v1/plans/{run}"), None);
        let features = plan["features"].as_array().unwrap();
        let metrics = ok(addr, "GET", &format!("/api/v1/runs/{run}"), None)["metrics"].clone();
        let ivs: Vec<f64> = features.iter().map(|f| f["metrics"]["iv"].as_f64().unwrap()).collect();
        assert!(ivs.windows(2).all(|w| w[0] >= w[1]), "{ivs:?}");
        for f in features {
            let name = f["name"].as_str().unwrap();
            assert_eq!(f["metrics"]["iv"].as_f64(), metrics[format!("iv.{name}")].as_f64(), "{name}");
            assert!(f.get("bins").is_none() && f["bin_count"].as_u64().unwrap() >= 1, "{f}");
        }
        let by_name = ok(addr, "GET", &format!("/api/v1/plans/{run}?sort=name&order=asc"), None);
        let names: Vec<&str> = by_name["features"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
        let (status, _) = call(addr, "GET", &format!("/api/v1/plans/{run}?sort=colour"), None);
        assert_eq!(status, 400);
        let f = ok(addr, "GET", &format!("/api/v1/plans/{run}/features/x00_amount"), None);
        let counted: u64 = f["bins"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
        assert_eq!(counted, 3000, "{f}");
        assert_eq!(call(addr, "GET", &format!("/api/v1/plans/{run}/features/nope"), None).0, 404);
        assert_eq!(call(addr, "GET", "/api/v1/plans/999", None).0, 404);
        // A study: three trials, the best among them, a page of two.
        let tune = json!({"kind": "tune", "request": {
            "model": "gbdt", "table": "apps", "label": "bad", "trials": 3, "study": "pd-gbdt", "valid_fraction": 0.3,
            "params": {"num_iterations": 10}
        }});
        let job = wait(addr, submit(addr, tune));
        assert_eq!(job["status"], "succeeded", "{job}");
        let listed = ok(addr, "GET", "/api/v1/studies", None);
        assert_eq!(listed["studies"].as_array().unwrap().len(), 1, "{listed}");
        let s = ok(addr, "GET", "/api/v1/studies/pd-gbdt", None);
        assert_eq!((s["trials"].as_u64(), s["direction"].as_str()), (Some(3), Some("maximize")), "{s}");
        let page = ok(addr, "GET", "/api/v1/studies/pd-gbdt/trials?offset=1&limit=2", None);
        assert_eq!((page["total"].as_u64(), page["trials"].as_array().unwrap().len()), (Some(3), 2), "{page}");
        assert_eq!(page["trials"][0]["number"], 1);
        let all = ok(addr, "GET", "/api/v1/studies/pd-gbdt/trials", None);
        let best = all["trials"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["value"].as_f64())
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(s["best"]["value"].as_f64(), Some(best), "{s}");
        assert!(s["best"]["params"].as_object().is_some_and(|p| !p.is_empty()), "{s}");
        assert_eq!(call(addr, "GET", "/api/v1/studies/nope", None).0, 404);
        // Its parameter importances: every parameter of the best trial, shares summing to 1.
        let imp = ok(addr, "GET", "/api/v1/studies/pd-gbdt/importance?trees=16", None);
        let params = imp["params"].as_array().unwrap();
        assert_eq!(params.len(), s["best"]["params"].as_object().unwrap().len(), "{imp}");
        let sum: f64 = params.iter().map(|p| p["importance"].as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-9 || sum == 0.0, "{imp}");
        assert_eq!(imp["trials"].as_u64(), s["states"]["complete"].as_u64(), "{imp}");
        assert_eq!(call(addr, "GET", "/api/v1/studies/pd-gbdt/importance?trees=lots", None).0, 400);
        assert_eq!(call(addr, "GET", "/api/v1/studies/nope/importance", None).0, 404);
        // Runs a page at a time, with how many there are.
        let all = ok(addr, "GET", "/api/v1/runs?limit=1000", None);
        let ids: Vec<i64> = all["runs"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert!(ids.len() >= 3 && all["total"].as_u64() == Some(ids.len() as u64), "{all}");
        let page = ok(addr, "GET", "/api/v1/runs?limit=2&offset=1", None);
        let got: Vec<i64> = page["runs"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!((got, page["total"].as_u64()), (ids[1..3].to_vec(), Some(ids.len() as u64)));
        // A registered model's reports: the report job's metrics and its page.
        let train = json!({"kind": "train.gbdt", "request": {
            "table": "apps", "label": "bad", "valid_fraction": 0.3, "params": {"num_iterations": 10}
        }});
        let job = wait(addr, submit(addr, train));
        assert_eq!(job["status"], "succeeded", "{job}");
        let model_run = job["runs"][0].as_i64().unwrap();
        let (status, v) = call(addr, "POST", "/api/v1/models/pd/versions", Some(json!({"run": model_run})));
        assert_eq!(status, 201, "{v}");
        assert_eq!(ok(addr, "GET", "/api/v1/models/pd/reports", None)["reports"], json!([]));
        let report = json!({"kind": "model.report", "request": {"model": "pd/1", "table": "apps", "label": "bad"}});
        let job = wait(addr, submit(addr, report));
        assert_eq!(job["status"], "succeeded", "{job}");
        let report_run = job["runs"][0].as_i64().unwrap();
        let listed = ok(addr, "GET", "/api/v1/models/pd/reports", None);
        let r = &listed["reports"][0];
        assert_eq!((r["run"].as_i64(), r["model"].as_str()), (Some(report_run), Some("pd/1")), "{listed}");
        let metrics = ok(addr, "GET", &format!("/api/v1/runs/{report_run}"), None)["metrics"].clone();
        assert!(metrics.get("auc").is_some() && r["metrics"]["auc"] == metrics["auc"], "{r} {metrics}");
        let page = risklake_server::client::Client::new(&addr.to_string())
            .unwrap()
            .exchange("GET", r["url"].as_str().unwrap(), "application/json", &[])
            .unwrap();
        assert!(page.status == 200 && String::from_utf8_lossy(&page.body).contains("<html"), "{}", page.status);
        assert_eq!(call(addr, "GET", "/api/v1/models/nope/reports", None).0, 404);
    })
    .await;
    server.shutdown().await;
    result.unwrap();
}
