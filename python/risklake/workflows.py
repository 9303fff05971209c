"""The workflows every front shares, as Python calls.

:class:`Workflows` turns keyword arguments into the workflow layer's request
(``{"kind": ..., "request": {...}}``, the JSON the server's job runner takes too) and
returns its report as a dict. :class:`risklake.Workspace` runs them in this process;
:class:`risklake.Client` runs them as jobs on a server. Field names are the request's
own (the CLI's flags with ``_`` for ``-``); an unknown one is an error that names it.
"""

from typing import Any, Callable, Dict, List, Optional, Union

Progress = Optional[Union[bool, Callable[[str, int, Optional[int], str, List[str]], None]]]


class TextProgress:
    """``progress=True``: one line per stage on stderr, redrawn in place (a notebook shows
    it under the cell), with the notes a workflow writes."""

    def __init__(self) -> None:
        self._stage = None

    def __call__(self, stage: str, position: int, total: Optional[int], unit: str, notes: List[str]) -> None:
        import sys

        for note in notes:
            sys.stderr.write(f"\r{note}\n")
        if stage != self._stage and self._stage is not None:
            sys.stderr.write("\n")
        self._stage = stage
        of = f"/{total}" if total else ""
        pct = f" {100 * position / total:5.1f}%" if total else ""
        sys.stderr.write(f"\r{stage}: {position}{of} {unit}{pct}")
        sys.stderr.flush()


def resolve_progress(progress: Progress) -> Optional[Callable[..., None]]:
    """A progress callback: ``True`` draws text progress, a callable is used as it is."""
    if progress is True:
        return TextProgress()
    if progress is False or progress is None:
        return None
    return progress

from . import _native

# The workflow kinds (the run kinds the workflows record), as the workflow layer lists them.
KINDS = tuple(_native.KINDS)


def _clean(fields: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class Workflows:
    """Every workflow as a method; subclasses provide :meth:`run`."""

    def run(self, kind: str, request: Optional[Dict[str, Any]] = None, *, progress: Progress = None,
            **fields: Any) -> Dict[str, Any]:
        """Runs the workflow ``kind`` with ``request`` (and/or keyword fields); its report."""
        raise NotImplementedError

    def ingest(self, path: str, table: str, *, mode: Optional[str] = None, primary_key: Optional[List[str]] = None,
               progress: Progress = None, **options: Any) -> Dict[str, Any]:
        """Loads a CSV / TSV / Parquet / JSON-lines file into a lake table (one commit)."""
        return self.run("ingest", _clean(dict(path=path, table=table, mode=mode, primary_key=primary_key, **options)),
                        progress=progress)

    def bin(self, table: str, label: str, *, bad_value: Optional[str] = None, weight: Optional[str] = None,
            fine: Optional[Dict[str, Any]] = None, binning: Optional[Dict[str, Any]] = None,
            progress: Progress = None) -> Dict[str, Any]:
        """Bins every feature of a table against a binary target; the plan and its run."""
        target = _clean(dict(label=label, bad_value=bad_value, weight=weight))
        return self.run("features.bin", _clean(dict(table=table, target=target, fine=fine, binning=binning)),
                        progress=progress)

    def train(self, table: str, label: str, *, model: str = "gbdt", params: Optional[Dict[str, Any]] = None,
              progress: Progress = None, **fields: Any) -> Dict[str, Any]:
        """Trains a model (``gbdt``, ``rf`` or ``lr``) on a table as a recorded run."""
        if model not in ("gbdt", "rf", "lr"):
            from .errors import InvalidInputError

            err = InvalidInputError(f"model: '{model}' is not gbdt, rf or lr")
            err.param = "model"
            raise err
        return self.run(f"train.{model}", _clean(dict(table=table, label=label, params=params, **fields)),
                        progress=progress)

    def tune(self, table: str, label: str, *, model: str = "gbdt", trials: Optional[int] = None,
             progress: Progress = None, **fields: Any) -> Dict[str, Any]:
        """Tunes a model's parameters on a table (an Optuna-compatible study)."""
        return self.run("tune", _clean(dict(table=table, label=label, model=model, trials=trials, **fields)),
                        progress=progress)

    def predict(self, model: str, table: str, *, to_table: Optional[str] = None, to_file: Optional[str] = None,
                mode: Optional[str] = None, output: Optional[str] = None, progress: Progress = None,
                **fields: Any) -> Dict[str, Any]:
        """Scores a table with a stored model (run id, ``name@alias``, ``name/version`` or
        file) into ``to_table`` (a lake table) or ``to_file``; ``output``: ``proba``
        (default), ``raw``, ``leaf``, ``shap`` or ``reasons``."""
        return self.run("predict", _clean(dict(model=model, table=table, output=output,
                                               destination=_destination(to_table, to_file, mode), **fields)),
                        progress=progress)

    def score(self, scorecard: str, table: str, *, to_table: Optional[str] = None, to_file: Optional[str] = None,
              mode: Optional[str] = None, points: Optional[bool] = None, progress: Progress = None,
              **fields: Any) -> Dict[str, Any]:
        """Scores a table with a stored scorecard (run id or file) into ``to_table`` or ``to_file``."""
        return self.run("score", _clean(dict(scorecard=scorecard, table=table, points=points,
                                             destination=_destination(to_table, to_file, mode), **fields)),
                        progress=progress)


def _destination(table: Optional[str], file: Optional[str], mode: Optional[str]) -> Optional[Dict[str, Any]]:
    if table is None and file is None:
        return None
    return _clean(dict(table=table, file=file, mode=mode))
