"""The real mlflow client (mlflow-skinny) logging to `risklake serve`: experiments, runs,
params, metrics with steps, tags, batches, artifacts (upload, list, download), search and
metric history work unchanged, and the runs show in `risklake runs list`. The server is
started by the test on a free loopback port and stopped at the end. RISKLAKE_BIN points at
the binary.
"""

import json
import os
import signal
import subprocess

import pytest

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"

import mlflow  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

BIN = os.environ.get("RISKLAKE_BIN", "risklake")


def risklake(home, *args, env=None):
    out = subprocess.run([BIN, "--home", str(home), "--json", *args], capture_output=True, text=True, env=env)
    assert out.returncode == 0, f"risklake {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("mlflow") / "home"
    proc = subprocess.Popen(
        [BIN, "--home", str(home), "serve", "--bind", "127.0.0.1:0", "--auth", "none", "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    url = line.split("listening on ")[1].split()[0]
    mlflow.set_tracking_uri(url)
    yield home, url
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_a_notebook_run_logs_to_risklake(server, tmp_path):
    home, _ = server
    mlflow.set_experiment("credit")
    with mlflow.start_run(run_name="lgbm-baseline") as run:
        mlflow.log_param("learning_rate", 0.05)
        mlflow.log_params({"num_leaves": 31, "objective": "binary"})
        for step, auc in enumerate([0.71, 0.74, 0.76]):
            mlflow.log_metric("valid_auc", auc, step=step)
        mlflow.log_metrics({"ks": 0.41, "gini": 0.52})
        mlflow.set_tag("team", "risk")
        notes = tmp_path / "notes.txt"
        notes.write_text("binning v3\n")
        mlflow.log_artifact(str(notes))
        mlflow.log_dict({"features": ["x1", "x2"]}, "config/features.json")
        run_id = run.info.run_id

    client = MlflowClient()
    got = client.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "lgbm-baseline"
    assert got.data.params == {"learning_rate": "0.05", "num_leaves": "31", "objective": "binary"}
    assert got.data.metrics["valid_auc"] == pytest.approx(0.76)
    assert got.data.metrics["ks"] == pytest.approx(0.41)
    assert got.data.tags["team"] == "risk"
    history = client.get_metric_history(run_id, "valid_auc")
    assert [(m.step, m.value) for m in history] == [(0, 0.71), (1, 0.74), (2, 0.76)]

    exp = client.get_experiment_by_name("credit")
    found = client.search_runs([exp.experiment_id])
    assert [r.info.run_id for r in found] == [run_id]

    listed = {a.path for a in client.list_artifacts(run_id)}
    assert listed == {"notes.txt", "config"}
    assert [a.path for a in client.list_artifacts(run_id, "config")] == ["config/features.json"]
    down = client.download_artifacts(run_id, "notes.txt", str(tmp_path / "down"))
    assert open(down).read() == "binning v3\n"

    # The same run, as risklake records it.
    runs = risklake(home, "--project", "credit", "runs", "list")["runs"]
    assert [(r["id"], r["kind"], r["status"]) for r in runs] == [(int(run_id), "mlflow", "finished")]
    shown = risklake(home, "runs", "show", run_id)
    assert shown["metrics"]["valid_auc"] == pytest.approx(0.76)
    assert {a["name"] for a in shown["artifacts"]} == {"notes.txt", "config/features.json"}


def test_a_failed_run_and_client_mistakes(server):
    mlflow.set_experiment("credit")
    with pytest.raises(RuntimeError):
        with mlflow.start_run() as run:
            raise RuntimeError("boom")
    client = MlflowClient()
    assert client.get_run(run.info.run_id).info.status == "FAILED"
    with pytest.raises(mlflow.exceptions.MlflowException) as err:
        client.get_run("999999")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(mlflow.exceptions.MlflowException) as err:
        client.log_metric(run.info.run_id, "x", float("nan"))
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_with_filters_and_order(server):
    mlflow.set_experiment("search")
    ids = {}
    for name, auc, model in [("a", 0.70, "lr"), ("b", 0.78, "gbdt"), ("c", 0.74, "gbdt")]:
        with mlflow.start_run(run_name=name) as run:
            mlflow.log_param("model", model)
            mlflow.log_metric("auc", auc)
            ids[name] = run.info.run_id
    client = MlflowClient()
    exp = client.get_experiment_by_name("search").experiment_id
    names = lambda runs: [r.info.run_name for r in runs]  # noqa: E731
    assert names(client.search_runs([exp], "metrics.auc > 0.72", order_by=["metrics.auc DESC"])) == ["b", "c"]
    assert names(client.search_runs([exp], "params.model = 'gbdt' and metrics.auc < 0.75")) == ["c"]
    assert names(client.search_runs([exp], "attributes.run_name LIKE 'a%'")) == ["a"]
    assert names(client.search_runs([exp], "", order_by=["metrics.auc ASC"], max_results=2)) == ["a", "c"]
    with pytest.raises(mlflow.exceptions.MlflowException) as err:
        client.search_runs([exp], "metrics.auc > 0.7 or params.model = 'lr'")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_the_model_registry_through_mlflow(server, tmp_path):
    """Registered models and versions made by the client are the project's registry:
    versions point at a run's artifact folder, aliases move, and risklake lists them."""
    home, _ = server
    client = MlflowClient()
    run = client.create_run("0", run_name="registry")
    run_id = run.info.run_id
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    (model_dir / "model.pkl").write_bytes(b"\x80\x04N.")
    client.log_artifacts(run_id, str(model_dir), "model")
    client.set_terminated(run_id)

    assert client.create_registered_model("pd_mlflow").name == "pd_mlflow"
    first = client.create_model_version("pd_mlflow", f"runs:/{run_id}/model", run_id)
    assert (first.version, first.status, first.run_id) == ("1", "READY", run_id)
    client.set_registered_model_alias("pd_mlflow", "champion", "1")
    second = client.create_model_version("pd_mlflow", f"runs:/{run_id}/model", run_id, description="again")
    assert second.version == "2"
    got = client.get_model_version_by_alias("pd_mlflow", "champion")
    assert (got.version, got.run_id) == ("1", run_id)
    model = client.get_registered_model("pd_mlflow")
    assert model.aliases == {"champion": "1"}
    assert [v.version for v in model.latest_versions] == ["2"]
    assert client.get_model_version("pd_mlflow", "2").description == "again"
    client.set_registered_model_alias("pd_mlflow", "champion", "2")
    assert client.get_model_version_by_alias("pd_mlflow", "champion").version == "2"
    client.delete_registered_model_alias("pd_mlflow", "champion")
    with pytest.raises(mlflow.exceptions.MlflowException) as err:
        client.get_model_version_by_alias("pd_mlflow", "champion")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    # Mistakes: a taken name, an artifact the run does not have, an unknown model.
    with pytest.raises(mlflow.exceptions.MlflowException) as err:
        client.create_registered_model("pd_mlflow")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(mlflow.exceptions.MlflowException, match="no artifact"):
        client.create_model_version("pd_mlflow", f"runs:/{run_id}/nothing", run_id)
    with pytest.raises(mlflow.exceptions.MlflowException) as err:
        client.get_registered_model("nope")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    # The fluent call a notebook makes.
    fluent = mlflow.register_model(f"runs:/{run_id}/model", "pd_fluent")
    assert fluent.version == "1"

    # risklake's own view of the same registry.
    shown = risklake(home, "model", "list", "pd_mlflow")
    versions = {v["version"]: v for v in shown["versions"]}
    assert set(versions) == {1, 2}
    assert versions[1]["run"] == int(run_id) and versions[1]["artifact"] == "model"
    names = {m["name"] for m in risklake(home, "model", "list")["models"]}
    assert {"pd_mlflow", "pd_fluent"} <= names
