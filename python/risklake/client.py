"""The same workflows run as jobs on a ``risklake serve`` server.

>>> client = risklake.Client("http://risk-server:8420", token=os.environ["RISKLAKE_TOKEN"])  # doctest: +SKIP
>>> report = client.train("raw.credit", "bad", model="gbdt", valid_fraction=0.2)  # waits
>>> job = client.submit("tune", table="raw.credit", label="bad", trials=50)       # returns
>>> job.wait()

A call that waits shows the job's progress (``progress=`` a callable, like the local
calls'); Ctrl+C while waiting cancels the job on the server. Models come back as the same
estimators a local fit makes (:meth:`Client.load_model`).
"""

import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional

import pyarrow as pa

from . import errors
from .workflows import Progress, Workflows, resolve_progress

_ERRORS = {
    "invalid": errors.InvalidInputError,
    "not_found": errors.NotFoundError,
    "conflict": errors.ConflictError,
    "cancelled": errors.CancelledError,
}


class Job:
    """A job on the server: its id, status, progress and, once it ended, its report."""

    def __init__(self, client: "Client", record: Dict[str, Any]) -> None:
        self._client = client
        self.record = record

    @property
    def id(self) -> int:
        return int(self.record["id"])

    @property
    def status(self) -> str:
        """queued, running, succeeded, failed or cancelled."""
        return str(self.record["status"])

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")

    def refresh(self) -> "Job":
        self.record = self._client._call("GET", f"/api/v1/jobs/{self.id}")
        return self

    def cancel(self) -> "Job":
        self.record = self._client._call("DELETE", f"/api/v1/jobs/{self.id}")
        return self

    def wait(self, *, timeout: Optional[float] = None, poll: float = 0.5, progress: Progress = None) -> Dict[str, Any]:
        """Waits for the job to end; its report (an error raises the job's error)."""
        started = time.monotonic()
        seen = None
        progress = resolve_progress(progress)
        try:
            while not self.refresh().done:
                p = self.record.get("progress")
                if progress is not None and p and p != seen:
                    seen = p
                    progress(p.get("stage", ""), int(p.get("position", 0) or 0), p.get("total"), p.get("unit", ""), [])
                if timeout is not None and time.monotonic() - started > timeout:
                    raise TimeoutError(f"job {self.id} still {self.status} after {timeout} s")
                time.sleep(poll)
        except KeyboardInterrupt:
            self.cancel()
            raise
        if self.status == "succeeded":
            return self.record.get("result") or {}
        if self.status == "cancelled":
            raise errors.CancelledError(f"job {self.id} was cancelled")
        raise errors.RisklakeError(f"job {self.id} failed: {self.record.get('error')}")

    def __repr__(self) -> str:
        return f"Job(id={self.id}, kind={self.record.get('kind')!r}, status={self.status!r})"


class Client(Workflows):
    """A risklake server: the workflows run there as jobs, SQL and models come back here."""

    def __init__(self, url: str, token: Optional[str] = None, *, project: Optional[str] = None,
                 timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.project = project
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Client(url={self.url!r}, project={self.project!r})"

    def _request(self, method: str, path: str, body: Any = None) -> bytes:
        query = f"?project={urllib.parse.quote(self.project)}" if self.project else ""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path + query, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                err = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                raise errors.ExternalError(f"{method} {path}: HTTP {e.code}: {text[:500]}") from None
            cls = _ERRORS.get(err.get("kind"), errors.RisklakeError)
            exc = cls(err.get("message", text))
            exc.param = err.get("param")
            raise exc from None

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return json.loads(self._request(method, path, body) or b"null")

    # --- jobs ------------------------------------------------------------------------
    def submit(self, kind: str, request: Optional[Dict[str, Any]] = None, **fields: Any) -> Job:
        """Queues the workflow ``kind`` as a job; returns at once with its handle."""
        body = dict(request or {})
        body.update(fields)
        return Job(self, self._call("POST", "/api/v1/jobs", {"kind": kind, "request": body}))

    def run(self, kind: str, request: Optional[Dict[str, Any]] = None, *, progress: Progress = None,
            **fields: Any) -> Dict[str, Any]:
        """Runs the workflow as a job and waits for its report."""
        return self.submit(kind, request, **fields).wait(progress=progress)

    def jobs(self) -> List[Dict[str, Any]]:
        return self._call("GET", "/api/v1/jobs")

    # --- lake, runs, models -----------------------------------------------------------
    def sql(self, query: str) -> pa.Table:
        """A query's rows (as Parquet over the wire) as a ``pyarrow.Table``."""
        import pyarrow.parquet as pq

        data = self._request("POST", "/api/v1/sql", {"sql": query, "format": "parquet"})
        return pq.read_table(io.BytesIO(data))

    def tables(self) -> Any:
        return self._call("GET", "/api/v1/tables")

    def runs(self) -> Any:
        return self._call("GET", "/api/v1/runs")

    def get_run(self, run: int) -> Any:
        return self._call("GET", f"/api/v1/runs/{run}")

    def models(self) -> Any:
        return self._call("GET", "/api/v1/models")

    def load_model(self, spec: Any) -> Any:
        """A stored model (a run id, ``name@alias`` or ``name/version``) as the estimator
        it was fitted as."""
        from . import _native
        from .estimators import from_native

        run = self._run_of(spec)
        for name in ("model.json", "scorecard.json"):
            try:
                text = self._request("GET", f"/api/v1/runs/{run}/artifacts/{name}").decode()
            except errors.NotFoundError:
                continue
            return from_native(_native.Model.from_json(text))
        raise errors.NotFoundError(f"run {run} has no model.json or scorecard.json")

    def _run_of(self, spec: Any) -> int:
        text = str(spec)
        if text.isdigit():
            return int(text)
        name, alias, version = text, None, None
        if "@" in text:
            name, alias = text.split("@", 1)
        elif "/" in text:
            name, v = text.rsplit("/", 1)
            version = int(v)
        detail = self._call("GET", f"/api/v1/models/{urllib.parse.quote(name, safe='')}")
        for v in detail["versions"]:
            if (alias is not None and alias in v.get("aliases", [])) or (version is not None and v["version"] == version):
                return int(v["run"])
            if alias is None and version is None:
                return int(v["run"])  # the newest
        raise errors.NotFoundError(f"model {text} not found on the server")
