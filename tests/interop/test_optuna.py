"""Studies shared with the real optuna package (5.0): optuna loads a study that
`risklake tune` wrote to a journal file (every trial's state, value, params and
intermediate values), and risklake continues a study that optuna started in the same
file. RISKLAKE_BIN points at the binary.
"""

import json
import math
import os
import subprocess

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

BIN = os.environ.get("RISKLAKE_BIN", "risklake")


def risklake(home, *args):
    out = subprocess.run([BIN, "--home", str(home), "--json", *args], capture_output=True, text=True)
    assert out.returncode == 0, f"risklake {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune")
    home = d / "home"
    table = d / "apps.parquet"
    risklake(home, "gen", "credit", "--rows", "6000", "--features", "12", "--out", str(table))
    return home, d, table


def load(path, name):
    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(path))))


def test_optuna_loads_a_risklake_study(data):
    home, d, table = data
    journal = d / "ours.journal"
    ours = risklake(home, "tune", "--model", "gbdt", "--table", str(table), "--label", "bad", "--exclude", "id,month",
                    "--trials", "8", "--pruner", "median", "--param", "num_iterations=60", "--study", "ours",
                    "--storage", f"journal:{journal}")
    study = load(journal, "ours")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == len(ours["all"]) == 8
    for theirs, mine in zip(trials, ours["all"]):
        assert theirs.number == mine["number"]
        assert theirs.state.name.lower() == mine["state"]
        if mine["value"] is not None:
            assert theirs.value == pytest.approx(mine["value"], abs=0)
        assert set(theirs.params) == set(mine["params"])
        for k, v in mine["params"].items():
            assert theirs.params[k] == v, k
        assert len(theirs.intermediate_values) == mine["intermediate"]
        assert theirs.distributions["learning_rate"] == optuna.distributions.FloatDistribution(0.01, 0.3, log=True)
        assert theirs.distributions["num_leaves"] == optuna.distributions.IntDistribution(8, 256, log=True)
    assert study.best_trial.number == ours["best_trial"]
    assert study.best_value == pytest.approx(ours["best_value"], abs=0)


def test_risklake_continues_an_optuna_study(data):
    home, d, table = data
    journal = d / "theirs.journal"
    storage = JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.create_study(study_name="shared", storage=storage, direction="maximize")

    def objective(trial):
        trial.suggest_float("learning_rate", 0.01, 0.3, log=True)
        trial.suggest_int("num_leaves", 8, 256, log=True)
        trial.report(0.5, 1)
        return 0.5 + trial.number / 100

    study.optimize(objective, n_trials=3)
    study.enqueue_trial({"learning_rate": 0.05, "num_leaves": 16})
    space = d / "space.toml"
    space.write_text('[learning_rate]\ntype = "float"\nlow = 0.01\nhigh = 0.3\nlog = true\n'
                     '[num_leaves]\ntype = "int"\nlow = 8\nhigh = 256\nlog = true\n')
    ours = risklake(home, "tune", "--model", "gbdt", "--table", str(table), "--label", "bad", "--exclude", "id,month",
                    "--trials", "3", "--space", str(space), "--param", "num_iterations=40", "--study", "shared",
                    "--storage", f"journal:{journal}")
    assert ours["trials"] == 6 and ours["new_trials"] == 3
    again = load(journal, "shared").get_trials(deepcopy=False)
    assert [t.number for t in again] == list(range(6))
    # The queued trial ran in risklake with optuna's fixed parameters.
    assert again[3].params == {"learning_rate": 0.05, "num_leaves": 16}
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in again)
    assert all(0.5 < t.value < 1.0 and math.isfinite(t.value) for t in again[3:])


def test_a_torn_last_line_is_cut_before_risklake_appends(data, tmp_path):
    """A worker killed mid-append leaves a line without its newline. risklake cuts it off
    (under the journal's lock) before it writes, so optuna still reads the whole study."""
    home, d, table = data
    journal = tmp_path / "torn.journal"
    args = ["tune", "--model", "gbdt", "--table", str(table), "--label", "bad", "--exclude", "id,month",
            "--trials", "3", "--param", "num_iterations=30", "--study", "torn", "--storage", f"journal:{journal}"]
    risklake(home, *args)
    intact = journal.read_bytes()
    # Half of a trial's state line, as a SIGKILL in the middle of write() leaves it.
    with open(journal, "ab") as f:
        f.write(b'{"op_code": 6, "worker_id": "dead-0", "trial_id": 2, "sta')
    ours = risklake(home, *args)
    assert ours["trials"] == 6 and ours["new_trials"] == 3
    text = journal.read_bytes()
    assert text.startswith(intact) and text.endswith(b"\n")
    assert b'"dead-0"' not in text
    for line in text.splitlines():
        json.loads(line)
    trials = load(journal, "torn").get_trials(deepcopy=False)
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def test_optuna_dashboard_serves_a_risklake_study(data, tmp_path):
    """optuna-dashboard 0.21 (started here on 127.0.0.1, stopped after) serves a study that
    risklake wrote: its REST API lists the study and every trial with states, values,
    params and intermediate values."""
    import socket
    import sys
    import time
    import urllib.request

    home, d, table = data
    journal = tmp_path / "dash.journal"
    ours = risklake(home, "tune", "--model", "gbdt", "--table", str(table), "--label", "bad", "--exclude", "id,month",
                    "--trials", "5", "--pruner", "median", "--param", "num_iterations=40", "--study", "dash",
                    "--storage", f"journal:{journal}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = os.path.join(os.path.dirname(sys.executable), "optuna-dashboard")
    server = subprocess.Popen([exe, str(journal), "--host", "127.0.0.1", "--port", str(port), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/api"
        for _ in range(100):
            try:
                studies = json.load(urllib.request.urlopen(f"{base}/studies", timeout=2))
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("optuna-dashboard did not start")
        summary = studies["study_summaries"]
        assert [s["study_name"] for s in summary] == ["dash"]
        assert summary[0]["directions"] == ["maximize"]
        detail = json.load(urllib.request.urlopen(f"{base}/studies/{summary[0]['study_id']}", timeout=10))
        trials = detail["trials"]
        assert len(trials) == len(ours["all"]) == 5
        for t, mine in zip(trials, ours["all"]):
            assert t["number"] == mine["number"]
            assert t["state"].lower() == mine["state"]
            if mine["value"] is not None:
                assert t["values"][0] == pytest.approx(mine["value"], abs=0)
            assert {p["name"] for p in t["params"]} == set(mine["params"])
            assert len(t["intermediate_values"]) == mine["intermediate"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_sqlite_studies_move_both_ways(data, tmp_path):
    """Optuna's RDB storage on SQLite: optuna opens a study risklake wrote (schema 12,
    every trial), and risklake continues a study optuna created in its own database."""
    home, d, table = data
    db = tmp_path / "ours.db"
    ours = risklake(home, "tune", "--model", "gbdt", "--table", str(table), "--label", "bad", "--exclude", "id,month",
                    "--trials", "6", "--pruner", "median", "--param", "num_iterations=40", "--study", "sq",
                    "--storage", f"sqlite:{db}")
    study = optuna.load_study(study_name="sq", storage=f"sqlite:///{db}")
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 6
    for theirs, mine in zip(trials, ours["all"]):
        assert theirs.number == mine["number"]
        assert theirs.state.name.lower() == mine["state"]
        if mine["value"] is not None:
            assert theirs.value == pytest.approx(mine["value"], abs=0)
        for k, v in mine["params"].items():
            assert theirs.params[k] == v, k
        assert len(theirs.intermediate_values) == mine["intermediate"]

    theirs_db = tmp_path / "theirs.db"
    s = optuna.create_study(study_name="od", storage=f"sqlite:///{theirs_db}", direction="maximize")
    s.optimize(lambda t: t.suggest_float("learning_rate", 0.01, 0.3, log=True) + 0.5, n_trials=3)
    space = tmp_path / "space.toml"
    space.write_text('[learning_rate]\ntype = "float"\nlow = 0.01\nhigh = 0.3\nlog = true\n')
    more = risklake(home, "tune", "--model", "gbdt", "--table", str(table), "--label", "bad", "--exclude", "id,month",
                    "--trials", "2", "--space", str(space), "--param", "num_iterations=30", "--study", "od",
                    "--storage", f"sqlite:///{theirs_db}")
    assert more["trials"] == 5 and more["new_trials"] == 2
    again = optuna.load_study(study_name="od", storage=f"sqlite:///{theirs_db}").get_trials(deepcopy=False)
    assert [t.number for t in again] == list(range(5))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in again)


IMPORTANCE_OBJECTIVES = {
    # A bowl in x, a categorical shift, a little of n and almost nothing of lr.
    "bowl": lambda x, lr, n, c: x**2 + 3 * {"a": 0, "b": 2, "c": 4}[c] + 0.1 * n + 0.01 * lr,
    # The categorical dominates; x and n share the rest.
    "category": lambda x, lr, n, c: 10 * {"a": 0, "b": 1, "c": 3}[c] + abs(x) + 0.3 * n,
}


@pytest.mark.parametrize("shape", sorted(IMPORTANCE_OBJECTIVES))
def test_parameter_importance_agrees_with_optunas_fanova(data, shape):
    """`risklake studies importance` on a study optuna ran (random sampler, float / log /
    int / categorical parameters) against optuna.importance.get_param_importances with
    its default fANOVA evaluator: same order of the parameters that matter, the same
    shares within what two different forests of 64 trees give."""
    home = data[0]
    name = f"importance-{shape}"
    path = home / "studies" / f"{name}.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(path))),
                                sampler=optuna.samplers.RandomSampler(seed=11))
    f = IMPORTANCE_OBJECTIVES[shape]

    def objective(t):
        return f(t.suggest_float("x", -5, 5), t.suggest_float("lr", 1e-3, 1.0, log=True),
                 t.suggest_int("n", 1, 20), t.suggest_categorical("c", ["a", "b", "c"]))

    study.optimize(objective, n_trials=300)
    theirs = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    ours = risklake(home, "studies", "importance", name)
    assert ours["trials"] == 300
    mine = {p["param"]: p["importance"] for p in ours["params"]}
    assert set(mine) == set(theirs)
    assert sum(mine.values()) == pytest.approx(1.0)
    for k in theirs:
        assert mine[k] == pytest.approx(theirs[k], abs=0.02), (k, mine, theirs)
    top = [k for k in theirs if theirs[k] > 0.1]
    assert [p["param"] for p in ours["params"]][:len(top)] == top, (mine, theirs)
