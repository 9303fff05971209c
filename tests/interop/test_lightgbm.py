"""The GBDT engine against the real lightgbm package: a model exported with
`risklake model export --format lightgbm` loads in lightgbm and predicts the same raw
scores (within 1e-6, on data with missing values), and with the same parameters our
validation AUC is within 0.003 of LightGBM's. RISKLAKE_BIN points at the binary.
"""

import json
import os
import subprocess

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

BIN = os.environ.get("RISKLAKE_BIN", "risklake")


def risklake(home, *args):
    out = subprocess.run([BIN, "--home", str(home), "--json", *args], capture_output=True, text=True)
    assert out.returncode == 0, f"risklake {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("gbdt")
    home = d / "home"
    train, valid = d / "train.parquet", d / "valid.parquet"
    risklake(home, "gen", "credit", "--rows", "30000", "--features", "24", "--out", str(train))
    risklake(home, "gen", "credit", "--rows", "10000", "--features", "24", "--seed", "9", "--out", str(valid))
    return home, d, train, valid


def numeric_features(path):
    frame = pd.read_parquet(path)
    return [c for c in frame.columns if c not in ("id", "month", "bad") and pd.api.types.is_numeric_dtype(frame[c])]


def test_exported_model_predicts_the_same_in_lightgbm(data):
    home, d, train, valid = data
    # Categorical splits are not exported yet: train on the numeric features.
    cols = ",".join(numeric_features(train))
    t = risklake(home, "train", "gbdt", "--table", str(train), "--label", "bad", "--columns", cols,
                 "--param", "num_iterations=60", "--param", "num_leaves=31")
    run = str(t["run"])
    model = d / "model.txt"
    risklake(home, "model", "export", "--model", run, "--format", "lightgbm", "--out", str(model))
    scored = d / "scored.parquet"
    risklake(home, "predict", "--model", run, "--table", str(valid), "--out", str(scored), "--output", "raw")
    booster = lgb.Booster(model_file=str(model))
    frame = pd.read_parquet(scored)
    x = frame[booster.feature_name()].astype(float).to_numpy()
    assert np.isnan(x).any(), "the check covers missing values"
    theirs = booster.predict(x, raw_score=True)
    assert np.abs(frame["prediction"].to_numpy() - theirs).max() < 1e-6


def test_validation_auc_matches_lightgbm_with_the_same_parameters(data):
    home, d, train, valid = data
    cols = numeric_features(train)
    t = risklake(home, "train", "gbdt", "--table", str(train), "--valid-table", str(valid), "--label", "bad",
                 "--columns", ",".join(cols), "--param", "num_iterations=100", "--param", "learning_rate=0.1",
                 "--param", "num_leaves=31", "--param", "min_data_in_leaf=20")
    tr, va = pd.read_parquet(train), pd.read_parquet(valid)
    params = dict(objective="binary", learning_rate=0.1, num_leaves=31, min_data_in_leaf=20,
                  min_sum_hessian_in_leaf=1e-3, max_bin=255, verbose=-1, num_threads=2, feature_pre_filter=False)
    booster = lgb.train(params, lgb.Dataset(tr[cols], tr["bad"]), num_boost_round=100)
    theirs = roc_auc_score(va["bad"], booster.predict(va[cols]))
    ours = t["valid_metric"]
    assert abs(ours - theirs) < 0.003, f"risklake {ours:.4f} vs LightGBM {theirs:.4f}"


def test_categorical_model_exports_and_shap_matches_lightgbm(data):
    """All features, text categories included: the exported model predicts the same raw
    scores in lightgbm (text columns as pandas categories, mapped by the model's
    pandas_categorical), and our TreeSHAP contributions equal lightgbm's pred_contrib."""
    home, d, train, valid = data
    t = risklake(home, "train", "gbdt", "--table", str(train), "--label", "bad", "--exclude", "id",
                 "--param", "num_iterations=30", "--param", "num_leaves=15")
    run = str(t["run"])
    model = d / "model_cat.txt"
    risklake(home, "model", "export", "--model", run, "--format", "lightgbm", "--out", str(model))
    booster = lgb.Booster(model_file=str(model))
    names = booster.feature_name()
    frame = pd.read_parquet(valid).head(3000)
    text_cols = [c for c in names if not pd.api.types.is_numeric_dtype(frame[c])]
    assert text_cols, "the check covers categorical features"
    x = frame[names].copy()
    for c in text_cols:
        x[c] = x[c].astype("category")
    theirs = booster.predict(x, raw_score=True)
    small = d / "valid_small.parquet"
    frame.to_parquet(small)
    raw = d / "raw.parquet"
    risklake(home, "predict", "--model", run, "--table", str(small), "--out", str(raw), "--output", "raw")
    ours = pd.read_parquet(raw)["prediction"].to_numpy()
    assert np.abs(ours - theirs).max() < 1e-6
    shap = d / "shap.parquet"
    risklake(home, "predict", "--model", run, "--table", str(small), "--out", str(shap), "--output", "shap")
    s = pd.read_parquet(shap)
    ours_shap = s[[f"shap_{c}" for c in names] + ["shap_expected"]].to_numpy()
    theirs_shap = booster.predict(x, pred_contrib=True)
    assert np.abs(ours_shap.sum(axis=1) - ours).max() < 1e-6
    assert np.abs(ours_shap - theirs_shap).max() < 1e-6


def _trees(text):
    out = []
    for line in text.splitlines():
        if line.startswith("Tree="):
            out.append({})
        for key in ("split_feature", "threshold", "leaf_count", "num_leaves", "leaf_value"):
            if line.startswith(key + "=") and out:
                out[-1][key] = line.split("=", 1)[1].split()
    return out


def test_german_credit_trees_and_auc_match_lightgbm(tmp_path):
    """German credit (1000 rows, 13 text and 7 numeric features), LightGBM's parameters:
    our first trees are LightGBM's split for split (same features, thresholds and leaf
    counts: same bins, same categorical rules, same tie-breaking), and the 5-fold mean
    validation AUC is within 0.003."""
    here = os.path.dirname(__file__)
    df = pd.read_csv(os.path.join(here, "..", "..", "examples", "german_credit.csv"))
    df["bad"] = (df.pop("creditability") == "bad").astype(int)
    feats = [c for c in df.columns if c != "bad"]
    home = tmp_path / "home"
    params = dict(num_iterations=100, learning_rate=0.05, num_leaves=8, min_data_in_leaf=20)
    lgb_params = dict(objective="binary", verbose=-1, num_threads=2, feature_pre_filter=False, **params)

    def frame(x):
        x = x[feats].copy()
        for c in feats:
            if not pd.api.types.is_numeric_dtype(x[c]):
                x[c] = pd.Categorical(x[c], categories=sorted(df[c].unique()))
        return x

    fold = np.random.RandomState(0).permutation(len(df)) % 5
    same_trees, ours, theirs = [], [], []
    for k in range(5):
        tr, va = df[fold != k], df[fold == k]
        tr_path, va_path = tmp_path / f"tr{k}.parquet", tmp_path / f"va{k}.parquet"
        tr.to_parquet(tr_path, index=False)
        va.to_parquet(va_path, index=False)
        args = ["train", "gbdt", "--table", str(tr_path), "--valid-table", str(va_path), "--label", "bad",
                "--out", str(tmp_path / f"m{k}.json")]
        for key, v in params.items():
            args += ["--param", f"{key}={v}"]
        ours.append(risklake(home, *args)["valid_metric"])
        risklake(home, "model", "export", "--model", str(tmp_path / f"m{k}.json"), "--format", "lightgbm",
                 "--out", str(tmp_path / f"m{k}.txt"))
        booster = lgb.train(lgb_params, lgb.Dataset(frame(tr), tr["bad"]), num_boost_round=params["num_iterations"])
        theirs.append(roc_auc_score(va["bad"], booster.predict(frame(va))))
        a = _trees(open(tmp_path / f"m{k}.txt").read())
        b = _trees(booster.model_to_string())
        same = 0
        for x, y in zip(a, b):
            if (x.get("split_feature") != y.get("split_feature") or x.get("leaf_count") != y.get("leaf_count")
                    or not np.allclose(np.array(x.get("threshold", []), float), np.array(y.get("threshold", []), float),
                                       rtol=1e-12, atol=1e-30)):
                break
            # Same rows in each leaf: the leaf values (gains, shrinkage, the initial score
            # folded into the first tree) agree too, up to LightGBM's float gradients.
            assert np.allclose(np.array(x["leaf_value"], float), np.array(y["leaf_value"], float), rtol=1e-5, atol=1e-7)
            same += 1
        same_trees.append(same)
    print(f"identical leading trees per fold {same_trees}; 5-fold AUC risklake {np.mean(ours):.4f} "
          f"LightGBM {np.mean(theirs):.4f}")
    # Trees part ways where LightGBM's estimated leaf counts (from hessians) and our exact
    # ones disagree about min_data_in_leaf, or on float near-ties; until then they match.
    assert sum(same_trees) >= 15 and max(same_trees) >= 5, same_trees
    assert abs(np.mean(ours) - np.mean(theirs)) < 0.003
