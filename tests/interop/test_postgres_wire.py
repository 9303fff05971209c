"""SQL over the PostgreSQL wire protocol (`risklake serve --pg-bind`), spoken to by the
real clients: Debian's `psql` (simple protocol, its catalog queries for \\dt and \\d) and
psycopg 3 (extended protocol with bound parameters). The password is an API token; a
viewer reads, an editor's writes run as recorded `sql` runs, a revoked token stops
working on an open connection. The server is started by the test on free loopback ports.
"""

import csv
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg
import pytest

BIN = os.environ.get("RISKLAKE_BIN", "risklake")
ROOT = Path(__file__).resolve().parents[2]
CSV = ROOT / "examples" / "german_credit.csv"


def risklake(home, *args):
    out = subprocess.run([BIN, "--home", str(home), "--json", *args], capture_output=True, text=True)
    assert out.returncode == 0, f"risklake {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout)


def token(home, user, role, project="default"):
    return risklake(home, "token", "create", "--user", user, "--project", project, "--role", role)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("pgwire") / "home"
    risklake(home, "ingest", str(CSV), "--table", "credit")
    viewer = token(home, "ana", "viewer")
    editor = token(home, "ed", "editor")
    outsider = token(home, "oz", "editor", project="other")
    proc = subprocess.Popen(
        [BIN, "--home", str(home), "serve", "--bind", "127.0.0.1:0", "--pg-bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert "PostgreSQL clients on " in line, line + proc.stderr.read()
    port = int(line.split("PostgreSQL clients on ")[1].split(";")[0].rsplit(":", 1)[1])
    yield {"home": home, "port": port, "viewer": viewer, "editor": editor, "outsider": outsider}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def connect(server, who):
    return psycopg.connect(
        host="127.0.0.1", port=server["port"], user="anyone", password=server[who]["secret"], dbname="lake"
    )


def psql(server, who, *commands):
    assert shutil.which("psql"), "psql (Debian's postgresql-client) is needed"
    env = dict(os.environ, PGPASSWORD=server[who]["secret"], PGCONNECT_TIMEOUT="10")
    args = ["psql", "-h", "127.0.0.1", "-p", str(server["port"]), "-U", "ana", "-d", "lake", "-X", "-A", "-F", "|"]
    for c in commands:
        args += ["-c", c]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)


def rows_of_csv():
    with open(CSV, newline="") as f:
        return list(csv.DictReader(f))


def test_psql_queries_and_lists_the_lake(server):
    rows = rows_of_csv()
    out = psql(server, "viewer", "SELECT COUNT(*), SUM(credit_amount), MAX(age_in_years) FROM credit")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1] == f"{len(rows)}|{sum(int(r['credit_amount']) for r in rows)}|{max(int(r['age_in_years']) for r in rows)}"

    listed = psql(server, "viewer", "\\dt")
    assert listed.returncode == 0, listed.stderr
    assert "default|credit|table" in listed.stdout

    described = psql(server, "viewer", "\\d credit")
    assert described.returncode == 0, described.stderr
    columns = {line.split("|")[0]: line.split("|")[1] for line in described.stdout.splitlines()[2:] if "|" in line}
    assert columns["credit_amount"] == "bigint"
    assert columns["purpose"] == "text"
    assert set(columns) == set(rows[0])


def test_psycopg_binds_parameters_and_types(server):
    rows = rows_of_csv()
    old = sorted((int(r["credit_amount"]) for r in rows if int(r["age_in_years"]) > 60), reverse=True)
    with connect(server, "viewer") as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT credit_amount, purpose FROM credit WHERE age_in_years > %s ORDER BY credit_amount DESC LIMIT %s",
            (60, 5),
        )
        got = cur.fetchall()
        assert [a for a, _ in got] == old[:5]
        assert all(isinstance(a, int) and isinstance(p, str) for a, p in got)
        assert [d.name for d in cur.description] == ["credit_amount", "purpose"]
        cur.execute("SELECT AVG(duration_in_month) FROM credit WHERE purpose = %s", ("radio/television",))
        expected = [int(r["duration_in_month"]) for r in rows if r["purpose"] == "radio/television"]
        assert cur.fetchone()[0] == pytest.approx(sum(expected) / len(expected))


def test_a_viewer_only_reads(server):
    with connect(server, "viewer") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="writes need the editor role"):
            conn.execute("CREATE TABLE copy AS SELECT * FROM credit")
    out = psql(server, "viewer", "DELETE FROM credit WHERE age_in_years < 30")
    assert out.returncode != 0 and "permission denied" in out.stderr
    assert risklake(server["home"], "sql", "SELECT COUNT(*) AS n FROM credit")["results"][0]["data"][0]["n"] == 1000


def test_an_editor_writes_as_recorded_runs(server):
    before = {r["id"] for r in risklake(server["home"], "runs", "list")["runs"]}
    out = psql(
        server,
        "editor",
        "CREATE TABLE young AS SELECT * FROM credit WHERE age_in_years < 25",
        "INSERT INTO young SELECT * FROM credit WHERE age_in_years = 25",
        "SELECT COUNT(*) FROM young",
    )
    assert out.returncode == 0, out.stderr
    under_25 = sum(1 for r in rows_of_csv() if int(r["age_in_years"]) < 25)
    at_25 = sum(1 for r in rows_of_csv() if int(r["age_in_years"]) == 25)
    lines = out.stdout.splitlines()
    assert lines[0] == f"SELECT {under_25}"
    assert lines[1] == f"INSERT 0 {at_25}"
    assert lines[3] == str(under_25 + at_25)
    runs = [r for r in risklake(server["home"], "runs", "list")["runs"] if r["id"] not in before]
    assert len(runs) == 2 and all(r["kind"] == "sql" and r["status"] == "finished" for r in runs)
    # The lake table is a real one: the CLI reads what psql wrote.
    assert risklake(server["home"], "sql", "SELECT COUNT(*) AS n FROM young")["results"][0]["data"][0]["n"] == under_25 + at_25


def test_tokens_are_checked_at_sign_in_and_before_every_statement(server):
    env = dict(os.environ, PGPASSWORD="rlk_not_a_token", PGCONNECT_TIMEOUT="10")
    bad = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(server["port"]), "-U", "ana", "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode != 0 and "password authentication failed" in bad.stderr.lower()

    brief = token(server["home"], "bo", "viewer")
    conn = psycopg.connect(host="127.0.0.1", port=server["port"], user="bo", password=brief["secret"], autocommit=True)
    assert conn.execute("SELECT COUNT(*) FROM credit").fetchone()[0] == 1000
    risklake(server["home"], "token", "revoke", str(brief["token"]["id"]))
    with pytest.raises(psycopg.OperationalError, match="revoked or has expired"):
        conn.execute("SELECT COUNT(*) FROM credit")
    conn.close()


def test_a_token_sees_its_own_projects_tables_only(server):
    # Another project's editor: its own database, as `default` too; nothing of the
    # default project's lake, neither to queries nor to the catalog psql lists.
    out = psql(
        server,
        "outsider",
        "CREATE TABLE mine AS SELECT 1 AS id, 'x' AS tag",
        "SELECT COUNT(*) FROM mine",
        "SELECT COUNT(*) FROM other.mine",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-2] == "1", out.stdout
    listed = psql(server, "outsider", "\\dt")
    assert listed.returncode == 0, listed.stderr
    assert "mine" in listed.stdout and "credit" not in listed.stdout, listed.stdout
    for sql in ["SELECT COUNT(*) FROM credit", 'SELECT COUNT(*) FROM "default".credit', "SELECT * FROM paimon.default.credit"]:
        refused = psql(server, "outsider", sql)
        assert refused.returncode != 0 and "not found" in refused.stderr, (sql, refused.stdout, refused.stderr)
    with connect(server, "outsider") as conn:
        names = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert "mine" in names and "credit" not in names, names
        with pytest.raises(psycopg.errors.Error, match="not found"):
            conn.execute("INSERT INTO \"default\".credit SELECT * FROM \"default\".credit")
    # The default project's viewer does not see it either.
    refused = psql(server, "viewer", "SELECT COUNT(*) FROM other.mine")
    assert refused.returncode != 0 and "not found" in refused.stderr, refused.stderr
    assert "mine" not in psql(server, "viewer", "\\dt").stdout
    assert risklake(server["home"], "sql", "SELECT COUNT(*) AS n FROM other.mine")["results"][0]["data"][0]["n"] == 1
