"""Studies with Optuna's semantics on risklake's samplers and storages.

>>> study = risklake.create_study(storage="journal:study.log", study_name="gbdt",
...                               direction="maximize")                 # doctest: +SKIP
>>> def objective(trial):
...     lr = trial.suggest_float("learning_rate", 0.01, 0.3, log=True)
...     leaves = trial.suggest_int("num_leaves", 8, 128)
...     return cross_val_score(risklake.GBDTClassifier(learning_rate=lr, num_leaves=leaves),
...                            X, y, scoring="roc_auc", cv=3).mean()
>>> study.optimize(objective, n_trials=30)

The storage is Optuna's own format (a journal file, or an SQLite file of Optuna's RDB
schema), so ``optuna.load_study`` and optuna-dashboard open the study. ``trial.report``
and ``trial.should_prune`` work with the study's pruner; raise :class:`TrialPruned` (or
``optuna.TrialPruned``) to prune.
"""

import json
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

from . import _native


class TrialPruned(Exception):
    """Raised by an objective to prune its trial (as ``optuna.TrialPruned``)."""


def _pruned_classes() -> Tuple[Type[BaseException], ...]:
    classes: List[Type[BaseException]] = [TrialPruned]
    try:
        import optuna

        classes.append(optuna.TrialPruned)
    except ImportError:
        pass
    return tuple(classes)


class FrozenTrial:
    """A finished (or running) trial: number, state, value, params, user attributes."""

    def __init__(self, record: Dict[str, Any]) -> None:
        self.number: int = record["number"]
        self.state: str = record["state"]
        self.value: Optional[float] = record["value"]
        self.params: Dict[str, Any] = record["params"]
        self.user_attrs: Dict[str, Any] = record["user_attrs"]
        self.intermediate_values: Dict[int, float] = {int(k): v for k, v in record["intermediate_values"].items()}
        self.datetime_start: Optional[str] = record["datetime_start"]
        self.datetime_complete: Optional[str] = record["datetime_complete"]

    def __repr__(self) -> str:
        return f"FrozenTrial(number={self.number}, state={self.state}, value={self.value}, params={self.params})"


class Study:
    """A study: a direction, a sampler, a pruner and its trials in a storage."""

    def __init__(self, native: Any) -> None:
        self._native = native

    @property
    def study_name(self) -> str:
        return self._native.study_name

    @property
    def direction(self) -> str:
        return self._native.direction

    @property
    def trials(self) -> List[FrozenTrial]:
        return [FrozenTrial(t) for t in json.loads(self._native.trials())]

    @property
    def best_trial(self) -> FrozenTrial:
        best = self._native.best_trial()
        if best is None:
            raise ValueError("no trial has completed yet")
        return FrozenTrial(json.loads(best))

    @property
    def best_value(self) -> float:
        return self.best_trial.value  # type: ignore[return-value]

    @property
    def best_params(self) -> Dict[str, Any]:
        return self.best_trial.params

    def enqueue_trial(self, params: Dict[str, Any]) -> None:
        """Queues a trial that takes these values for its parameters."""
        self._native.enqueue_trial(json.dumps(params))

    def optimize(
        self,
        func: Callable[[Any], float],
        n_trials: Optional[int] = None,
        timeout: Optional[float] = None,
        n_jobs: int = 1,
        catch: Sequence[Type[BaseException]] = (),
        callbacks: Optional[Sequence[Callable[["Study", FrozenTrial], None]]] = None,
    ) -> None:
        """Runs ``func(trial)`` on ``n_trials`` trials (or until ``timeout`` seconds), on
        ``n_jobs`` threads. An exception fails its trial and stops the study (it is
        raised) unless it is one of ``catch``; Ctrl+C stops starting trials."""
        callback = None
        if callbacks:
            def callback(record: str) -> None:
                t = FrozenTrial(json.loads(record))
                for cb in callbacks:
                    cb(self, t)
        self._native.optimize(func, n_trials, timeout, n_jobs, _pruned_classes(), tuple(catch) or None, callback)

    def trials_dataframe(self) -> Any:
        """The trials as a pandas DataFrame (number, value, state, params_*)."""
        import pandas as pd

        rows = []
        for t in self.trials:
            row: Dict[str, Any] = {"number": t.number, "value": t.value, "state": t.state,
                                   "datetime_start": t.datetime_start, "datetime_complete": t.datetime_complete}
            row.update({f"params_{k}": v for k, v in t.params.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return f"Study(study_name={self.study_name!r}, direction={self.direction!r})"


def create_study(
    storage: Optional[str] = None,
    sampler: str = "tpe",
    pruner: Optional[str] = None,
    study_name: Optional[str] = None,
    direction: str = "minimize",
    load_if_exists: bool = False,
    seed: int = 0,
    n_jobs_hint: int = 1,
) -> Study:
    """A new study (or the stored one with ``load_if_exists``).

    ``storage``: ``"journal:PATH"`` (Optuna's JournalFileBackend format), ``"sqlite:PATH"``
    (Optuna's RDB schema; ``sqlite:///rel.db`` works too) or None (in memory).
    ``sampler``: ``"tpe"`` (risklake's), ``"tpe-optuna"`` (Optuna 5's defaults) or
    ``"random"``. ``pruner``: ``"median"``, ``"successive_halving"``, ``"hyperband"`` or None.
    """
    return Study(
        _native.Study(storage or "memory", study_name, direction, sampler, seed, pruner or "none", load_if_exists,
                      n_jobs_hint > 1)
    )
