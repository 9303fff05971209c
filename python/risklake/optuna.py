"""risklake's samplers for Optuna users: ``optuna.create_study(sampler=risklake.optuna.TPESampler())``.

The sampler is risklake's own (the Rust TPE of ``risklake tune`` and
:func:`risklake.create_study`), handed the Optuna study's trials each time it draws: the
same history, seed streams and algorithm, so an Optuna study with this sampler proposes
the same parameters as a risklake study with the same seed (tested). Needs ``optuna``.
"""

import json
from typing import Any, Dict, Optional

import optuna
from optuna.distributions import BaseDistribution, distribution_to_json
from optuna.samplers import BaseSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from . import _native

_STATES = {
    TrialState.RUNNING: "RUNNING",
    TrialState.COMPLETE: "COMPLETE",
    TrialState.PRUNED: "PRUNED",
    TrialState.FAIL: "FAIL",
    TrialState.WAITING: "WAITING",
}


def _history(study: Study, current: FrozenTrial) -> str:
    """The study's trials before ``current``, as risklake's sampler reads them."""
    trials = []
    for t in study.get_trials(deepcopy=False):
        if t.number >= current.number:
            continue
        trials.append(
            {
                "number": t.number,
                "state": _STATES[t.state],
                "value": t.value if t.state == TrialState.COMPLETE or t.state == TrialState.PRUNED else None,
                "params": [
                    [name, t.distributions[name].to_internal_repr(value), distribution_to_json(t.distributions[name])]
                    for name, value in t.params.items()
                ],
                "intermediate_values": {str(k): v for k, v in t.intermediate_values.items()},
            }
        )
    return json.dumps(trials)


class TPESampler(BaseSampler):
    """risklake's TPE (``variant="tpe"``, or ``"tpe-optuna"`` with Optuna 5's defaults, or
    ``"random"``) as an Optuna sampler; one objective, minimize or maximize."""

    def __init__(self, seed: int = 0, variant: str = "tpe", parallel: bool = False) -> None:
        self._native = _native.Sampler(variant, seed, parallel)
        self._space = IntersectionSearchSpace()

    def _maximize(self, study: Study) -> bool:
        if len(study.directions) != 1:
            raise ValueError("risklake's samplers optimize one objective")
        return study.direction == StudyDirection.MAXIMIZE

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> Dict[str, BaseDistribution]:
        return self._space.calculate(study)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: Dict[str, BaseDistribution]) -> Dict[str, Any]:
        drawn = self._native.sample_relative(_history(study, trial), self._maximize(study), trial.number)
        return {name: search_space[name].to_external_repr(v) for name, v in drawn if name in search_space}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        internal = self._native.sample(_history(study, trial), self._maximize(study), param_name,
                                       distribution_to_json(param_distribution), trial.number)
        return param_distribution.to_external_repr(internal)


_ = optuna  # imported for its samplers' base class
