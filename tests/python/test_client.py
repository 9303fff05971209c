"""The same workflows as jobs on `risklake serve`: a started server on a free port,
a client that trains, submits, queries and loads models back as estimators."""

import os
import signal
import subprocess

import numpy as np
import pytest

import risklake
from risklake import errors

BIN = os.environ.get("RISKLAKE_BIN", "risklake")
HOMES = {}


def server_home(url):
    return HOMES[url]


@pytest.fixture(scope="module")
def server(tmp_path_factory, german):
    home = tmp_path_factory.mktemp("client") / "home"
    risklake.Workspace(home).write("raw.german", german)
    proc = subprocess.Popen(
        [BIN, "--home", str(home), "serve", "--bind", "127.0.0.1:0", "--auth", "none", "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    url = line.split("listening on ")[1].split()[0]
    HOMES[url] = home
    yield url
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_train_waits_and_models_come_back(server, german):
    client = risklake.Client(server)
    stages = []
    report = client.train("raw.german", "bad", params={"n_estimators": 20}, valid_fraction=0.2,
                          progress=lambda *a: stages.append(a[0]))
    assert report["trees"] == 20 and report["valid_metric"] > 0.6
    model = client.load_model(report["run"])
    risklake.Workspace(server_home(server)).register_model(report["run"], "g", aliases=["champion"])
    by_alias = client.load_model("g@champion")
    np.testing.assert_array_equal(by_alias.booster_.to_json(), model.booster_.to_json())
    assert client.load_model("g/1").booster_.to_json() == model.booster_.to_json()
    X = german.drop(columns=["bad"])
    p = model.predict_proba(X)[:, 1]
    assert p.shape == (len(X),) and 0 < p.mean() < 1


def test_submit_returns_a_handle(server):
    client = risklake.Client(server)
    job = client.submit("features.bin", table="raw.german", target={"label": "bad"})
    assert job.id > 0 and job.status in ("queued", "running", "succeeded")
    report = job.wait(timeout=120)
    assert report["plan"]["features"]
    assert job.status == "succeeded"


def test_sql_and_errors(server):
    client = risklake.Client(server)
    t = client.sql("SELECT COUNT(*) AS n FROM raw.german")
    assert t.column("n")[0].as_py() == 1000
    with pytest.raises(ValueError) as e:
        client.submit("nonsense")
    assert e.value.param == "kind"
    with pytest.raises(errors.RisklakeError, match="failed"):
        client.train("raw.missing", "bad")
