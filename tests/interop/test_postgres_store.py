"""The project store in PostgreSQL (`--store postgres://...`), end to end with the real
binary and a real server (RISKLAKE_TEST_PG_URL, started by scripts/test.sh): the CLI's
runs, registry and tokens go to the database (risklake creates the schema there, nothing
in the home's SQLite file), `risklake serve --store` runs jobs from that store and a
second home with the same store sees the same runs. psycopg reads the tables directly.
"""

import json
import os
import signal
import subprocess
import time
import urllib.request

import psycopg
import pytest

BIN = os.environ.get("RISKLAKE_BIN", "risklake")
ADMIN = os.environ.get("RISKLAKE_TEST_PG_URL")

if not ADMIN:
    assert not os.environ.get("CI"), "CI must provide RISKLAKE_TEST_PG_URL"
    pytest.skip("RISKLAKE_TEST_PG_URL is not set", allow_module_level=True)


@pytest.fixture(scope="module")
def store_url():
    db = f"rlk_cli_store_{os.getpid()}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.execute(f"CREATE DATABASE {db}")
    yield ADMIN.rsplit("/", 1)[0] + "/" + db
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def risklake(home, url, *args):
    out = subprocess.run([BIN, "--home", str(home), "--store", url, "--json", *args], capture_output=True, text=True)
    assert out.returncode == 0, f"risklake {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout)


def test_cli_runs_registry_and_tokens_live_in_postgres(tmp_path, store_url):
    home = tmp_path / "home"
    gen = risklake(home, store_url, "gen", "credit", "--rows", "2000", "--features", "4", "--table", "apps")
    trained = risklake(
        home, store_url, "train", "gbdt", "--table", "apps", "--label", "bad", "--param", "num_iterations=10"
    )
    run = trained["run"]
    registered = risklake(home, store_url, "model", "register", "--run", str(run), "--name", "pd", "--alias", "champion")
    assert registered["version"] == 1
    token = risklake(home, store_url, "token", "create", "--user", "ana", "--role", "viewer")
    assert token["secret"].startswith("rlk_")

    # Everything is in the database; the home holds no SQLite store.
    assert not (home / "store.db").exists()
    with psycopg.connect(store_url) as conn:
        kinds = [r[0] for r in conn.execute("SELECT kind FROM runs ORDER BY id")]
        assert kinds == ["gen", "train.gbdt"], kinds
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "4"
        (alias,) = conn.execute("SELECT alias FROM model_aliases WHERE name = 'pd'").fetchone()
        assert alias == "champion"
        digests = [r[0] for r in conn.execute("SELECT digest FROM tokens")]
        assert len(digests) == 1 and token["secret"] not in digests[0]
        metrics = dict(conn.execute("SELECT key, COUNT(*) FROM metrics WHERE run_id = %s GROUP BY key", (run,)).fetchall())
        assert metrics, "training metrics recorded"

    # The same store seen from the CLI: runs, the model by alias, a prediction with it.
    listed = risklake(home, store_url, "runs", "list")["runs"]
    assert [r["id"] for r in listed] == [run, gen["run"]]
    shown = risklake(home, store_url, "model", "show", "pd@champion")
    assert shown["registered"]["run"] == run and shown["registered"]["version"] == 1
    scored = risklake(home, store_url, "predict", "--model", "pd@champion", "--table", "apps", "--out-table", "scored")
    assert scored["rows"] == 2000


def test_a_server_on_the_store_runs_jobs_another_home_sees(tmp_path, store_url):
    home = tmp_path / "server-home"
    proc = subprocess.Popen(
        [BIN, "--home", str(home), "--store", store_url, "serve", "--bind", "127.0.0.1:0", "--auth", "none", "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "listening on " in line, line + proc.stderr.read()
        url = line.split("listening on ")[1].split()[0].rstrip(",;")
        body = json.dumps({"kind": "gen", "request": {"rows": 300, "features": 3, "table": "small"}}).encode()
        req = urllib.request.Request(url + "/api/v1/jobs", data=body, headers={"Content-Type": "application/json"})
        job = json.load(urllib.request.urlopen(req, timeout=30))
        deadline = time.time() + 60
        while job["status"] not in ("succeeded", "failed"):
            assert time.time() < deadline, job
            time.sleep(0.2)
            job = json.load(urllib.request.urlopen(f"{url}/api/v1/jobs/{job['id']}", timeout=30))
        assert job["status"] == "succeeded", job
        # Another home on the same store lists the server's job and run.
        other = tmp_path / "other-home"
        runs = risklake(other, store_url, "runs", "list")["runs"]
        assert job["runs"][0] in [r["id"] for r in runs]
        assert any(r["command"] == f"job {job['id']}" for r in runs)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_a_bad_store_url_is_a_clear_error(tmp_path):
    out = subprocess.run(
        [BIN, "--home", str(tmp_path / "h"), "--store", "mysql://x@127.0.0.1/db", "runs", "list"],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "postgres://" in out.stderr, out.stderr
    out = subprocess.run(
        [BIN, "--home", str(tmp_path / "h"), "--store", "postgres://nobody:secretpw@127.0.0.1:1/db", "runs", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "project store" in out.stderr, out.stderr
    assert "secretpw" not in out.stderr, "the password is masked"
