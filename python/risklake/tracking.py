"""Recording fits and the user's own figures in a project store.

>>> with risklake.track(project="credit", home="risklake-home") as t:   # doctest: +SKIP
...     model = risklake.GBDTClassifier().fit(X, y)    # recorded as a train.gbdt run
...     risklake.log_param("sample", "2024Q1")          # into this block's own run
...     risklake.log_metric("holdout_auc", 0.78)

Fits inside the block are recorded as runs of the same kinds the CLI records (with
parameters, per-iteration metrics and the model as an artifact), so ``risklake runs``,
the dashboard and the registry see them. ``log_param`` / ``log_metric`` go to one run of
kind ``python`` that the block opens on first use and finishes when it ends (``failed``
when it ends by an exception).
"""

import threading
from typing import Any, Callable, List, Optional, Union

from . import _native

_state = threading.local()


def _stack() -> List["Tracker"]:
    if not hasattr(_state, "stack"):
        _state.stack = []
    return _state.stack


class Tracker:
    """An active ``risklake.track(...)`` block."""

    def __init__(self, workspace: Any, progress: Optional[Callable[..., None]] = None) -> None:
        self.workspace = workspace
        self._progress = progress
        self.run: Optional[int] = None
        self.fits: List[int] = []

    def _own_run(self) -> int:
        if self.run is None:
            self.run = self.workspace._native.start_run("python")
        return self.run

    def log_param(self, key: str, value: Any) -> None:
        self.workspace._native.log_param(self._own_run(), key, str(value))

    def log_metric(self, key: str, value: float, step: Optional[int] = None) -> None:
        self.workspace._native.log_metric(self._own_run(), key, float(value), step)

    def log_artifact(self, name: str, data: Union[bytes, str]) -> str:
        if isinstance(data, str):
            data = data.encode()
        return self.workspace._native.log_artifact(self._own_run(), name, data)

    def __enter__(self) -> "Tracker":
        _stack().append(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _stack().remove(self)
        if self.run is not None:
            if exc_type is None:
                self.workspace._native.finish_run(self.run, "finished", None)
            elif issubclass(exc_type, KeyboardInterrupt):
                self.workspace._native.finish_run(self.run, "cancelled", "interrupted")
            else:
                self.workspace._native.finish_run(self.run, "failed", f"{exc_type.__name__}: {exc}")


def track(project: str = "default", home: Any = "risklake-home", *, workspace: Any = None,
          progress: Any = None) -> Tracker:
    """Records every fit in the block, and ``log_param`` / ``log_metric``, in ``project``
    of the home (or in ``workspace``). ``progress=True`` draws the progress of long fits;
    a callable gets ``(stage, position, total, unit, notes)``."""
    if workspace is None:
        from .workspace import Workspace

        workspace = Workspace(home, project)
    return Tracker(workspace, progress)


def current() -> Optional[Tracker]:
    stack = _stack()
    return stack[-1] if stack else None


def active_workspace() -> Optional[Any]:
    t = current()
    return t.workspace._native if t is not None else None


def progress() -> Optional[Callable[..., None]]:
    from .workflows import resolve_progress

    t = current()
    return resolve_progress(t._progress) if t is not None else None


def note_fit(run: Optional[int]) -> None:
    t = current()
    if t is not None and run is not None:
        t.fits.append(run)


def dataset_name(data: Any) -> str:
    """How a frame is named in a run's lineage."""
    return f"python:{type(data).__module__.split('.')[0]}.{type(data).__name__}"


def _require() -> Tracker:
    t = current()
    if t is None:
        raise RuntimeError("no risklake.track(...) block is active: open one to record figures")
    return t


def log_param(key: str, value: Any) -> None:
    """Records a parameter in the active ``track`` block's run."""
    _require().log_param(key, value)


def log_metric(key: str, value: float, step: Optional[int] = None) -> None:
    """Records a metric (at ``step``) in the active ``track`` block's run."""
    _require().log_metric(key, value, step)


def log_artifact(name: str, data: Union[bytes, str]) -> str:
    """Stores bytes (or text) as an artifact of the active ``track`` block's run."""
    return _require().log_artifact(name, data)


_ = _native  # the extension is loaded before any tracker is made
