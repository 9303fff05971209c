"""risklake from Python, end to end, as a notebook would run it.

    pip install ./python          # once (see README)
    python examples/python_quickstart.py [HOME]

Loads the German credit data into the lake, explores it with SQL, bins every feature
(WoE / IV), fits a stepwise scorecard and a GBDT (both recorded as runs), tunes the GBDT
in an Optuna-compatible study, registers the scorecard's model as `champion` and scores
the lake table with it into a new table.
"""

import pathlib
import sys
import tempfile

import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score, train_test_split

import risklake

HERE = pathlib.Path(__file__).resolve().parent


def main(home: str) -> dict:
    rl = risklake.Workspace(home)

    # 1. Data into the lake (one atomic commit), explored with SQL.
    df = pd.read_csv(HERE / "german_credit.csv")
    df["bad"] = (df.pop("creditability") == "bad").astype("int64")
    written = rl.write("raw.german", df, mode="overwrite")
    print(f"wrote {written['rows']} rows into {written['table']} (snapshot {written['snapshot']})")
    by_purpose = rl.sql(
        "SELECT purpose, COUNT(*) AS n, AVG(bad) AS bad_rate FROM raw.german GROUP BY purpose ORDER BY n DESC LIMIT 5"
    ).to_pandas()
    print(by_purpose.to_string(index=False))

    data = rl.table("raw.german", snapshot=written["snapshot"]).to_pandas()
    X, y = data.drop(columns=["bad"]), data["bad"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=7, stratify=y)

    with risklake.track(home=home) as tracker:
        # 2. Binning: IV per feature.
        binner = risklake.Binner().fit(X_train, y_train)
        print(binner.metrics_.head(8).to_string(index=False))

        # 3. A scorecard: WoE -> stepwise LR -> points.
        card = risklake.Scorecard(estimator=risklake.LogisticRegression(stepwise="both"), pdo=20, base_points=600,
                                  base_odds=50).fit(X_train, y_train)
        card_auc = roc_auc_score(y_test, card.predict_proba(X_test)[:, 1])
        print(card.estimator_.summary())
        print(f"scorecard: {len(card.points_table())} bins, test AUC {card_auc:.3f}")

        # 4. A GBDT with early stopping.
        gbdt = risklake.GBDTClassifier(n_estimators=400, learning_rate=0.05, num_leaves=8, early_stopping_rounds=30,
                                       metric="auc").fit(X_train, y_train, eval_set=[(X_test, y_test)])
        gbdt_auc = roc_auc_score(y_test, gbdt.predict_proba(X_test)[:, 1])
        print(f"GBDT: {gbdt.booster_.n_trees} trees, test AUC {gbdt_auc:.3f}")
        risklake.log_metric("scorecard_test_auc", card_auc)
        risklake.log_metric("gbdt_test_auc", gbdt_auc)

    # 5. Tuning in a study Optuna can open.
    study = risklake.create_study(storage=f"journal:{pathlib.Path(home) / 'gbdt_study.log'}", study_name="german_gbdt",
                                  direction="maximize", load_if_exists=True)

    def objective(trial):
        model = risklake.GBDTClassifier(
            n_estimators=trial.suggest_int("n_estimators", 50, 200),
            num_leaves=trial.suggest_int("num_leaves", 4, 32, log=True),
            learning_rate=trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        )
        return cross_val_score(model, X_train, y_train, cv=3, scoring="roc_auc").mean()

    study.optimize(objective, n_trials=8)
    print(f"study: best cross-validated AUC {study.best_value:.3f} with {study.best_params}")

    # 6. Register the scorecard's regression, score the lake table with it.
    version = rl.register_model(card.estimator_.run_, "german_lr", aliases=["champion"])
    scored = rl.predict("german_lr@champion", "raw.german", to_table="scored.german", mode="overwrite")
    print(f"registered german_lr v{version['version']} as champion; scored {scored['rows']} rows into scored.german")
    return dict(card_auc=card_auc, gbdt_auc=gbdt_auc, best=study.best_value, runs=len(tracker.fits),
                scored=scored["rows"])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="risklake-py-"))
