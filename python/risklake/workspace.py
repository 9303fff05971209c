"""The lake and the project store of a home, in this process."""

import json
import os
from typing import Any, Dict, List, Optional, Union

import pyarrow as pa

from . import _data, _native
from .workflows import Progress, Workflows, resolve_progress

PathLike = Union[str, "os.PathLike[str]"]


class Record(dict):
    """A report, run or model as a dict whose keys also read as attributes
    (``run.status`` is ``run["status"]``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self.keys()))


class Run(Record):
    """A recorded run: ``id``, ``kind``, ``status``, ``params``, ``metrics``, ``datasets``
    (with the snapshots read and written), ``artifacts``; :meth:`load_model` for its model."""

    _workspace: "Workspace"

    def load_model(self) -> Any:
        """The run's model (a train, tune or scorecard run, or a tracked fit) as an estimator."""
        return self._workspace.load_model(self["id"])


def _run(ws: "Workspace", data: Dict[str, Any]) -> Run:
    r = Run(data)
    object.__setattr__(r, "_workspace", ws)
    return r


class Workspace(Workflows):
    """A risklake home: its Paimon lake (``warehouse/``) and its project store.

    >>> rl = risklake.Workspace("risklake-home")            # doctest: +SKIP
    >>> rl.write("raw.loans", df, mode="overwrite")         # pandas, polars or pyarrow
    >>> rl.sql("SELECT grade, AVG(bad) FROM raw.loans GROUP BY grade").to_pandas()

    Every call runs without the GIL; Ctrl+C cancels it cleanly (the lake and the store
    stay as they were) and raises ``KeyboardInterrupt``.
    """

    def __init__(self, home: PathLike = "risklake-home", project: str = "default") -> None:
        self._native = _native.Workspace(os.fspath(home), project)

    @property
    def home(self) -> str:
        """The home folder."""
        return str(self._native.home)

    @property
    def project(self) -> str:
        """The project runs are recorded in."""
        return self._native.project

    @property
    def database(self) -> str:
        """The project's lake database (where a table name without a database is)."""
        return self._native.database

    def __repr__(self) -> str:
        return f"Workspace(home={self.home!r}, project={self.project!r})"

    # --- the lake --------------------------------------------------------------------
    def sql(self, query: str, *, files: Optional[Dict[str, PathLike]] = None, progress: Progress = None) -> pa.Table:
        """Runs a SQL script (statements separated by ``;``) over the lake, recorded as a
        run; the last statement's rows as a ``pyarrow.Table``.

        ``files`` makes data files queryable as tables: ``{"apps": "apps.parquet"}``.
        """
        files = {k: os.fspath(v) for k, v in (files or {}).items()}
        reader, _run = self._native.sql(query, files, resolve_progress(progress))
        return reader.read_all()

    def table(self, name: str, *, columns: Optional[List[str]] = None, snapshot: Optional[int] = None,
              tag: Optional[str] = None) -> pa.Table:
        """A lake table (or a data file) as a ``pyarrow.Table``: its latest rows, or as of
        ``snapshot`` or ``tag`` (time travel); only ``columns`` when given."""
        return self._native.table(name, columns, snapshot, tag).read_all()

    def write(self, name: str, data: Any, *, mode: str = "append", primary_key: Optional[List[str]] = None,
              partition_by: Optional[List[str]] = None, progress: Progress = None) -> Dict[str, Any]:
        """Writes a frame (pandas, polars, pyarrow table / batches / reader, anything with
        ``__arrow_c_stream__``) into a lake table in one atomic commit, creating the table
        from the frame's columns when it does not exist.

        ``mode``: ``append``, ``overwrite`` or ``upsert`` (by ``primary_key``). Arrow data
        is streamed to the lake without a copy. Returns the table, rows written, the new
        snapshot and the run.
        """
        reader = _data.to_reader(data)
        return json.loads(self._native.write(name, reader, mode, primary_key, partition_by, resolve_progress(progress)))

    def tag(self, table: str, tag: str, snapshot: Optional[int] = None) -> Dict[str, Any]:
        """Names a snapshot of a table (the latest when None) so it can be read by name."""
        return json.loads(self._native.tag(table, tag, snapshot))

    def tables(self) -> List[Dict[str, Any]]:
        """The lake's tables: name, rows, latest snapshot."""
        return json.loads(self._native.tables())

    def describe(self, name: str) -> Dict[str, Any]:
        """A table's columns, primary key, partitions, snapshots and tags."""
        return json.loads(self._native.describe(name))

    # --- workflows ---------------------------------------------------------------------
    def run(self, kind: str, request: Optional[Dict[str, Any]] = None, *, progress: Progress = None,
            **fields: Any) -> Dict[str, Any]:
        """Runs any workflow of the layer (``ingest``, ``features.bin``, ``train.gbdt``,
        ``tune``, ``score``, ...) with its request; the report as a dict. ``progress=True``
        draws the workflow's progress; a callable gets ``(stage, position, total, unit,
        notes)``."""
        body = dict(request or {})
        body.update(fields)
        return json.loads(self._native.run(json.dumps({"kind": kind, "request": body}), resolve_progress(progress)))

    # --- runs and models ---------------------------------------------------------------
    def runs(self, kind: Optional[str] = None, limit: int = 100) -> List["Run"]:
        """The project's runs, newest first."""
        return [_run(self, r) for r in json.loads(self._native.runs(kind, limit))]

    def get_run(self, run: int) -> "Run":
        """A run's parameters, metrics, datasets (with snapshots) and artifacts."""
        return _run(self, json.loads(self._native.run_detail(run)))

    def models(self) -> List[Dict[str, Any]]:
        """The registered models."""
        return [Record(m) for m in json.loads(self._native.models())]

    def model_detail(self, name: str) -> Dict[str, Any]:
        """A registered model's versions, aliases and history."""
        return Record(json.loads(self._native.model_detail(name)))

    def register_model(self, run: int, name: str, *, aliases: Optional[List[str]] = None,
                       description: Optional[str] = None) -> Dict[str, Any]:
        """Registers the model of a run (a fit recorded under :func:`risklake.track`, a
        train, tune or scorecard run) as the next version of ``name``."""
        return json.loads(self._native.register_model(run, name, aliases, description))

    def set_alias(self, name: str, alias: str, version: Optional[int] = None) -> None:
        """Points ``alias`` (``champion``, ``challenger``) of a model at a version; None removes it."""
        self._native.set_alias(name, alias, version)

    def load_model(self, spec: Union[str, int]) -> Any:
        """A stored model (run id, ``name@alias``, ``name/version`` or a file) as the
        estimator it was fitted as: :class:`GBDTClassifier` / :class:`RandomForestClassifier`
        / :class:`LogisticRegression` / :class:`Scorecard`, ready to predict."""
        from .estimators import from_native

        kind, text = self._native.load_model(str(spec))
        return from_native(_native.Model.from_json(text))

    def load_plan(self, spec: Union[str, int]) -> "Any":
        """A stored binning plan (run id or file) as a fitted :class:`Binner`."""
        from .estimators import Binner

        return Binner._from_plan(_native.BinningPlan.from_json(self._native.load_plan(str(spec))))
