"""The lake from Python: writes from pandas, polars and pyarrow (zero-copy for Arrow),
SQL, time travel, upserts, every workflow through the layer, runs and the registry; and
the errors each mistake raises."""

import json

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import risklake
from risklake import _data, _native, errors


def test_write_then_sql_round_trips_pandas(rl, german):
    report = rl.write("raw.german", german, mode="overwrite")
    assert report["rows"] == len(german) and report["created"] and report["snapshot"] == 1
    out = rl.sql("SELECT COUNT(*) AS n, SUM(bad) AS bads FROM raw.german").to_pandas()
    assert out["n"][0] == len(german) and out["bads"][0] == german["bad"].sum()
    back = rl.table("raw.german").to_pandas()
    pd.testing.assert_frame_equal(back.sort_values(list(back.columns)).reset_index(drop=True),
                                  german.sort_values(list(german.columns)).reset_index(drop=True),
                                  check_dtype=False)
    # The write is a recorded run with the table's snapshot as its output.
    run = rl.get_run(report["run"])
    assert run["kind"] == "write"
    assert any(d["name"] == "raw.german" and d["snapshot"] == 1 for d in run["datasets"])


def test_polars_and_pyarrow_inputs_and_time_travel(rl):
    rl.write("t", pl.DataFrame({"id": [1, 2], "x": [0.5, 1.5]}))
    rl.write("t", pa.table({"id": [3], "x": [2.5]}))
    assert rl.table("t").num_rows == 3
    assert rl.table("t", snapshot=1).num_rows == 2
    rl.tag("t", "first", snapshot=1)
    assert rl.table("t", tag="first").num_rows == 2
    assert rl.table("t", columns=["x"]).column_names == ["x"]
    assert rl.sql("SELECT SUM(x) AS s FROM t VERSION AS OF 1").column("s")[0].as_py() == 2.0


def test_upsert_by_primary_key(rl):
    rl.write("accounts", pd.DataFrame({"id": [1, 2], "limit_amt": [100, 200]}), mode="upsert", primary_key=["id"])
    rl.write("accounts", pd.DataFrame({"id": [2, 3], "limit_amt": [250, 300]}), mode="upsert")
    got = rl.sql("SELECT id, limit_amt FROM accounts ORDER BY id").to_pydict()
    assert got == {"id": [1, 2, 3], "limit_amt": [100, 250, 300]}


def test_arrow_input_reaches_rust_without_a_copy():
    table = pa.table({"a": np.arange(100_000, dtype=np.float64), "b": np.arange(100_000, dtype=np.int64)})
    batches = _data.batches(table)
    seen = _native._buffer_addresses(batches)
    assert len(batches) == 2  # 65,536 rows, then the rest: slices of the same buffers
    for batch, addresses in zip(batches, seen):
        assert addresses == [col.buffers()[1].address + col.offset * 8 for col in batch.columns]
    assert seen[1][0] == table.column("a").chunk(0).buffers()[1].address + 65536 * 8
    # A slice keeps its buffers: Rust sees the same memory, 10 values (80 bytes) in.
    sliced = table.slice(10, 50).to_batches()
    assert _native._buffer_addresses(sliced)[0][0] == sliced[0].column(0).buffers()[1].address + 10 * 8


def test_results_come_back_as_arrow_not_copied_again(rl):
    rl.write("n", pa.table({"v": np.arange(1000, dtype=np.float64)}))
    t = rl.sql("SELECT v FROM n")
    arr = t.column("v").chunk(0)
    # numpy views the Arrow buffer.
    view = arr.to_numpy(zero_copy_only=True)
    assert view.ctypes.data == arr.buffers()[1].address


def test_workflows_through_the_layer(rl, german, tmp_path):
    rl.write("raw.german", german)
    plan = rl.bin("raw.german", "bad")
    assert plan["plan"]["features"] and plan["run"] > 0
    trained = rl.train("raw.german", "bad", params={"n_estimators": 20}, valid_fraction=0.2)
    assert trained["trees"] == 20 and trained["valid_metric"] > 0.6
    kinds = [r["kind"] for r in rl.runs()]
    assert "train.gbdt" in kinds and "features.bin" in kinds
    version = rl.register_model(trained["run"], "german_gbdt", aliases=["champion"])
    assert version["version"] == 1
    model = rl.load_model("german_gbdt@champion")
    p = model.predict_proba(german.drop(columns=["bad"]))[:, 1]
    assert p.shape == (len(german),) and 0 < p.mean() < 1
    assert [m.name for m in rl.models()] == ["german_gbdt"]
    run = rl.get_run(trained["run"])
    assert run.kind == "train.gbdt" and run.status == "finished" and run["id"] == trained["run"]
    np.testing.assert_array_equal(run.load_model().predict_proba(german.drop(columns=["bad"])), model.predict_proba(
        german.drop(columns=["bad"])))


def test_ingest_a_file(rl, tmp_path):
    path = tmp_path / "small.csv"
    path.write_text("id,amount\n1,10.5\n2,20.0\n")
    report = rl.ingest(str(path), "raw.small")
    assert report["rows_written"] == 2
    assert rl.table("raw.small").num_rows == 2


def test_errors_name_the_problem(rl, tmp_path):
    with pytest.raises(KeyError) as e:
        rl.table("raw.nope")
    assert isinstance(e.value, errors.NotFoundError) and "raw.nope" in str(e.value)
    with pytest.raises(FileNotFoundError):
        rl.ingest(str(tmp_path / "missing.csv"), "raw.x")
    with pytest.raises(ValueError) as e:
        rl.write("t", pa.table({"a": [1]}), mode="replace")
    assert e.value.param == "mode" and "append, overwrite or upsert" in str(e.value)
    with pytest.raises(ValueError) as e:
        rl.write("t2", pa.table({"a": [1]}), mode="upsert")
    assert e.value.param == "primary_key"
    with pytest.raises(ValueError) as e:
        rl.run("train.gbdt", table="x", label="y", not_a_field=1)
    assert "not_a_field" in str(e.value)
    with pytest.raises(ValueError) as e:
        rl.run("nonsense")
    assert e.value.param == "kind"
    with pytest.raises(errors.RisklakeError) as e:
        rl.sql("SELEC 1")
    assert "SELEC" in str(e.value)
    # A write whose rows do not fit the table's types fails whole: nothing is committed.
    rl.write("typed", pa.table({"n": pa.array([1, 2], pa.int32())}))
    with pytest.raises(ValueError):
        rl.write("typed", pa.table({"n": pa.array(["three"])}))
    assert rl.table("typed").num_rows == 2
    assert json.loads(json.dumps(rl.describe("typed")))["columns"][0]["name"] == "n"


def test_tracking_records_fits_and_user_figures(home, numeric):
    X, y = numeric
    with risklake.track(project="default", home=home) as t:
        model = risklake.GBDTClassifier(n_estimators=10).fit(X, y)
        risklake.log_param("sample", "all")
        risklake.log_metric("custom", 0.5, step=1)
    assert model.run_ is not None and t.fits == [model.run_]
    rl = risklake.Workspace(home)
    fit = rl.get_run(model.run_)
    assert fit["kind"] == "train.gbdt" and fit["status"] == "finished"
    assert any(a["name"] == "model.json" for a in fit["artifacts"])
    own = rl.get_run(t.run)
    assert own["kind"] == "python" and own["status"] == "finished"
    assert own["params"]["sample"] == "all"
    # Outside a block nothing is recorded.
    assert risklake.GBDTClassifier(n_estimators=5).fit(X, y).run_ is None
    with pytest.raises(RuntimeError):
        risklake.log_metric("x", 1.0)
