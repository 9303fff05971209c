"""Studies with Optuna's semantics: suggest / report / prune, failures, parallel trials,
and storages Optuna itself opens."""

import math

import optuna
import pytest

import risklake


def quadratic(trial):
    x = trial.suggest_float("x", -10, 10)
    n = trial.suggest_int("n", 1, 5)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    return (x - 2) ** 2 + n + (0 if kind == "a" else 1)


def test_optimize_finds_the_minimum_and_optuna_reads_the_journal(tmp_path):
    path = tmp_path / "study.log"
    study = risklake.create_study(storage=f"journal:{path}", study_name="q", direction="minimize", seed=1)
    study.optimize(quadratic, n_trials=60)
    assert len(study.trials) == 60
    assert study.best_value < 2.5 and study.best_params["kind"] == "a"
    loaded = optuna.load_study(study_name="q", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(path))))
    assert len(loaded.trials) == 60
    assert loaded.best_value == pytest.approx(study.best_value)
    assert loaded.best_params == study.best_params
    df = study.trials_dataframe()
    assert {"number", "value", "params_x"} <= set(df.columns)


def test_sqlite_storage_and_resuming(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    s1 = risklake.create_study(storage=url, study_name="r", direction="maximize")
    s1.optimize(lambda t: -abs(t.suggest_float("x", 0, 1) - 0.3), n_trials=10)
    s2 = risklake.create_study(storage=url, study_name="r", direction="maximize", load_if_exists=True)
    s2.optimize(lambda t: -abs(t.suggest_float("x", 0, 1) - 0.3), n_trials=5)
    assert len(s2.trials) == 15
    assert len(optuna.load_study(study_name="r", storage=url).trials) == 15


def test_pruning_failures_and_catch():
    study = risklake.create_study(direction="minimize", pruner="median")

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        for step in range(10):
            trial.report(x * (10 - step), step)
            if trial.should_prune():
                raise risklake.TrialPruned()
        return x

    study.optimize(objective, n_trials=30)
    states = {t.state for t in study.trials}
    assert "PRUNED" in states and "COMPLETE" in states

    def broken(trial):
        trial.suggest_float("x", 0, 1)
        raise ZeroDivisionError("boom")

    s = risklake.create_study()
    with pytest.raises(ZeroDivisionError):
        s.optimize(broken, n_trials=5)
    assert [t.state for t in s.trials] == ["FAIL"]
    s.optimize(broken, n_trials=3, catch=(ZeroDivisionError,))
    assert [t.state for t in s.trials] == ["FAIL"] * 4
    nan = risklake.create_study()
    nan.optimize(lambda t: math.nan, n_trials=2)
    assert all(t.state == "FAIL" for t in nan.trials)


def test_parallel_trials_and_callbacks():
    seen = []
    study = risklake.create_study(direction="minimize", n_jobs_hint=4)
    study.optimize(quadratic, n_trials=40, n_jobs=4, callbacks=[lambda s, t: seen.append(t.number)])
    assert sorted(seen) == list(range(40))
    assert len({t.number for t in study.trials}) == 40


def test_a_trial_is_only_valid_during_its_call():
    kept = []
    study = risklake.create_study()
    study.optimize(lambda t: kept.append(t) or t.suggest_float("x", 0, 1), n_trials=1)
    with pytest.raises(ValueError, match="finished"):
        kept[0].suggest_float("y", 0, 1)


def test_tuning_a_risklake_estimator(numeric):
    from sklearn.model_selection import cross_val_score

    X, y = numeric

    def objective(trial):
        model = risklake.GBDTClassifier(
            n_estimators=trial.suggest_int("n_estimators", 10, 40),
            num_leaves=trial.suggest_int("num_leaves", 4, 31),
            learning_rate=trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        )
        return cross_val_score(model, X, y, cv=3, scoring="roc_auc").mean()

    study = risklake.create_study(direction="maximize")
    study.optimize(objective, n_trials=6)
    assert 0.6 < study.best_value < 1.0


def test_bad_arguments():
    with pytest.raises(ValueError) as e:
        risklake.create_study(direction="up")
    assert e.value.param == "direction"
    with pytest.raises(ValueError):
        risklake.create_study(sampler="cmaes")
    with pytest.raises(ValueError):
        risklake.create_study(storage="redis://x")
    with pytest.raises(ValueError):
        risklake.create_study().optimize(quadratic)


def test_risklake_tpe_inside_optuna_proposes_what_a_risklake_study_does():
    """The sampler bridged into Optuna sees the same history and draws the same values."""
    from risklake.optuna import TPESampler

    ours = risklake.create_study(direction="minimize", seed=5)
    ours.optimize(quadratic, n_trials=25)
    theirs = optuna.create_study(direction="minimize", sampler=TPESampler(seed=5))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    theirs.optimize(quadratic, n_trials=25)
    for a, b in zip(ours.trials, theirs.trials):
        assert a.params["kind"] == b.params["kind"] and a.params["n"] == b.params["n"], (a.number, a.params, b.params)
        assert a.params["x"] == pytest.approx(b.params["x"], rel=1e-12), (a.number, a.params, b.params)
    assert theirs.best_value == pytest.approx(ours.best_value)
