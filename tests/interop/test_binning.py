"""Binning agrees with the reference tools, run live: toad (equal-frequency, equal-width,
CART and ChiMerge bins identical), scorecardpy (WoE and IV identical for the same split
points) and optbinning (our optimal IV at least theirs under the same constraints), on the
German credit data through the risklake CLI. RISKLAKE_BIN points at the binary.

The same comparisons run without Python from stored fixtures in
crates/risklake-features/tests (made by tests/fixtures/make_reference.py).
"""

import json
import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

warnings.filterwarnings("ignore")

BIN = os.environ.get("RISKLAKE_BIN", "risklake")
GERMAN = Path(__file__).resolve().parents[2] / "examples" / "german_credit.csv"
FEATURES = ["duration_in_month", "credit_amount", "age_in_years"]


@pytest.fixture(scope="module")
def data():
    df = pd.read_csv(GERMAN)
    return df, (df["creditability"] == "bad").astype(int).to_numpy()


def plan(tmp_path, column, *options):
    out = subprocess.run(
        [BIN, "--home", str(tmp_path / "home"), "--json", "features", "bin", "--table", str(GERMAN),
         "--label", "creditability", "--bad-value", "bad", "--columns", column, *options],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    doc = json.load(open(json.loads(out.stdout)["plan"]))
    return doc["features"][0]


def regular_counts(feature):
    regular = [b for b in feature["bins"] if b["kind"] == "regular"]
    return [b["count"] for b in regular], [round(b["bad"]) for b in regular]


def counts(x, y, splits):
    idx = np.searchsorted(np.asarray(splits, dtype=float), x, side="right")
    k = len(splits) + 1
    return list(np.bincount(idx, minlength=k)), list(np.bincount(idx, weights=y, minlength=k).round().astype(int))


@pytest.mark.parametrize("column", FEATURES)
def test_toad_bins_are_identical(tmp_path, data, column):
    from toad.merge import ChiMerge, DTMerge, QuantileMerge, StepMerge

    df, y = data
    x = df[column].to_numpy(dtype=float)
    cases = [
        (QuantileMerge(x, n_bins=5), ["--method", "quantile", "--max-bins", "5"]),
        (StepMerge(x, n_bins=6), ["--method", "uniform", "--max-bins", "6"]),
        (DTMerge(x, y, n_bins=5, min_samples=0.05), ["--method", "tree", "--max-bins", "5", "--min-bin-size", "0.05"]),
        (ChiMerge(x, y, n_bins=5, balance=False),
         ["--method", "chimerge", "--max-bins", "5", "--min-bin-size", "0", "--chi-significance", "0"]),
    ]
    for splits, options in cases:
        ours = plan(tmp_path, column, *options)
        assert regular_counts(ours) == counts(x, y, splits), f"{column} {options}: {ours['edges']} vs toad {list(splits)}"


@pytest.mark.parametrize("column", FEATURES)
def test_optbinning_iv_is_reached(tmp_path, data, column):
    from optbinning import OptimalBinning

    df, y = data
    x = df[column].to_numpy(dtype=float)
    for trend in ("ascending", "descending"):
        ob = OptimalBinning(name=column, dtype="numerical", solver="cp", monotonic_trend=trend,
                            max_n_prebins=20, min_prebin_size=0.05, min_bin_size=0.05, max_n_bins=6)
        ob.fit(x, y)
        theirs = float(ob.binning_table.build().loc["Totals", "IV"])
        ours = plan(tmp_path, column, "--method", "optimal", "--monotonic", trend, "--max-bins", "6",
                    "--min-bin-size", "0.05", "--min-bad", "0", "--min-good", "0")
        assert ours["metrics"]["iv"] >= theirs - 1e-6, f"{column} {trend}: {ours['metrics']['iv']} < {theirs}"


@pytest.mark.parametrize("column", FEATURES)
def test_scorecardpy_woe_and_iv_are_identical(tmp_path, data, column):
    import scorecardpy as sc

    df, y = data
    ours = plan(tmp_path, column, "--method", "quantile", "--max-bins", "5")
    frame = pd.DataFrame({column: df[column], "bad": y})
    bins = sc.woebin(frame, y="bad", breaks_list={column: ours["edges"]}, print_info=False)[column]
    regular = [b for b in ours["bins"] if b["kind"] == "regular"]
    assert len(regular) == len(bins)
    for b, (_, r) in zip(regular, bins.iterrows()):
        assert b["count"] == r["count"]
        assert abs(b["woe"] - r["woe"]) < 1e-9, (b, dict(r))
        assert abs(b["iv"] - r["bin_iv"]) < 1e-9
    assert abs(ours["metrics"]["iv"] - float(bins["total_iv"].iloc[0])) < 1e-9
