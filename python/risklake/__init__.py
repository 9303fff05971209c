"""risklake: the credit-risk data and ML platform, in Python.

- :class:`Workspace`: the Paimon lake (SQL, tables at any snapshot, writes from pandas /
  polars / pyarrow without copies), every workflow (ingest, binning, training, tuning,
  scoring), runs and the model registry of a home.
- scikit-learn estimators: :class:`GBDTClassifier`, :class:`GBDTRegressor`,
  :class:`RandomForestClassifier`, :class:`LogisticRegression`, :class:`Binner`,
  :class:`WoETransformer`, :class:`Scorecard` (need scikit-learn).
- :func:`track`, :func:`log_param`, :func:`log_metric`: fits and figures recorded as runs.
- :func:`create_study`: Optuna-compatible studies on risklake's samplers and storages.
- :class:`Client`: the same workflows as jobs on a ``risklake serve`` server.

Errors are :class:`risklake.errors.RisklakeError` subclasses that are also ``ValueError``,
``KeyError`` or ``FileNotFoundError`` as their kind is; Ctrl+C cancels a running call.
"""

from typing import Any

from . import errors
from ._native import __version__
from .client import Client, Job
from .errors import RisklakeError
from .tracking import log_artifact, log_metric, log_param, track
from .tuning import FrozenTrial, Study, TrialPruned, create_study
from .workspace import Workspace

_ESTIMATORS = (
    "GBDTClassifier",
    "GBDTRegressor",
    "RandomForestClassifier",
    "LogisticRegression",
    "Binner",
    "WoETransformer",
    "Scorecard",
)

__all__ = [
    "__version__",
    "Workspace",
    "Client",
    "Job",
    "RisklakeError",
    "errors",
    "track",
    "log_param",
    "log_metric",
    "log_artifact",
    "create_study",
    "Study",
    "FrozenTrial",
    "TrialPruned",
    *_ESTIMATORS,
]


def __getattr__(name: str) -> Any:
    # The estimators import scikit-learn: only when they are used.
    if name in _ESTIMATORS:
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'risklake' has no attribute {name!r}")


def __dir__() -> Any:
    return sorted(set(globals()) | set(_ESTIMATORS))
