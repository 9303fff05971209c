"""Fixtures of the Python package's tests: a fresh home per test, the German credit data
(1,000 applicants, 20 features, `creditability` good/bad) as pandas, and the CLI binary
(RISKLAKE_BIN) for cross-checks with the table workflows and for a server."""

import os
import pathlib

import numpy as np
import pandas as pd
import pytest

import risklake

ROOT = pathlib.Path(__file__).resolve().parents[2]
GERMAN = ROOT / "examples" / "german_credit.csv"
BIN = os.environ.get("RISKLAKE_BIN", "risklake")


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def rl(home):
    return risklake.Workspace(home)


@pytest.fixture(scope="session")
def german():
    df = pd.read_csv(GERMAN)
    df["bad"] = (df.pop("creditability") == "bad").astype("int64")
    return df


@pytest.fixture(scope="session")
def numeric(german):
    """The German data's numeric columns (X) and the bad flag (y)."""
    X = german.select_dtypes("number").drop(columns=["bad"])
    return X, german["bad"].to_numpy()


@pytest.fixture(scope="session")
def synthetic():
    rng = np.random.default_rng(7)
    n = 4000
    X = rng.normal(size=(n, 5))
    logit = 1.2 * X[:, 0] - 0.8 * X[:, 1] + 0.5 * X[:, 2] * X[:, 3]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y
