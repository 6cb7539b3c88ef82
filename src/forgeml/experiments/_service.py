"""Experiment service (``ws.experiments``): experiments, runs, search and comparison."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import new_name, validate_name
from forgeml.core.records import EdgeRecord, MetricRecord
from forgeml.core.refs import is_number, name_of, parse_ref
from forgeml.errors import NotFoundError, ValidationError
from forgeml.experiments._filter import ATTRIBUTES, parse_filter
from forgeml.experiments._records import RUN_KINDS, RUN_STATUSES, ExperimentRecord, RunRecord
from forgeml.experiments._run import Run
from forgeml.experiments._store import RunStore

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.core.workspace import Workspace

RunLike = str | int | RunRecord | Run
_KEY = re.compile(r"^[^\x00-\x1f]{1,255}$")
_ORDER = re.compile(r"^\s*(?P<field>.+?)(?:\s+(?P<dir>asc|desc))?\s*$", re.IGNORECASE)


def _check_key(key: str, what: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValidationError(f"invalid {what} name {key!r}: use 1-255 printable characters")
    return key


class ExperimentService:
    """Experiments and runs, tracked in the metadata store.

    Runs are made by hand (:meth:`start_run`) or recorded from training and tuning jobs
    (:func:`forgeml.experiments.record_training_job`).
    """

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.store = RunStore(workspace.metadata)

    # experiments -----------------------------------------------------------------------------
    def create_experiment(self, name: str, description: str = "", tags: dict[str, str] | None = None) -> ExperimentRecord:
        """Create an experiment.

        Raises:
            ValidationError: bad name. AlreadyExistsError: it exists.
        """
        validate_name(name, "experiment name")
        return self.store.create_experiment(name, description, tags)

    def get_experiment(self, name: str) -> ExperimentRecord:
        self.sync()
        return self.store.get_experiment(name_of(name, "experiment"))

    def list_experiments(self) -> list[ExperimentRecord]:
        self.sync()
        return self.store.list_experiments()

    def sync(self) -> int:
        """Record training and tuning jobs created or changed since the last call (see :mod:`._jobs`)."""
        from forgeml.experiments._jobs import sync_training_jobs

        return sync_training_jobs(self.ws)

    def delete_experiment(self, name: str) -> int:
        """Delete an experiment and its runs; return how many runs went."""
        return self.store.delete_experiment(name_of(name, "experiment"))

    # runs ------------------------------------------------------------------------------------
    def start_run(self, experiment: str, run_name: str | None = None, *, tags: dict[str, Any] | None = None) -> Run:
        """A run handle to use as a context manager; an existing run of that name is resumed."""
        validate_name(experiment, "experiment name")
        name = validate_name(run_name or new_name("run"), "run name")
        try:
            record = self.get_run(f"{experiment}/{name}")
            self.store.update_run(record.id, status="InProgress", ended_at=None)
        except NotFoundError:
            record = self.create_run(experiment, name, tags=tags)
        else:
            if tags:
                self.set_tags(record.id, tags)
        return Run(self, record)

    def create_run(
        self,
        experiment: str,
        name: str | None = None,
        *,
        kind: str = "manual",
        status: str = "InProgress",
        source: str | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> RunRecord:
        """Create a run (and its experiment when missing).

        Raises:
            ValidationError: bad name, kind or status. AlreadyExistsError: the run exists.
        """
        validate_name(experiment, "experiment name")
        name = validate_name(name or new_name("run"), "run name")
        self._check_status(status)
        if kind not in RUN_KINDS:
            raise ValidationError(f"unknown run kind {kind!r} (expected one of {', '.join(RUN_KINDS)})")
        for key in (params or {}):
            _check_key(key, "parameter")
        owner = source or f"run/{experiment}/{name}"
        ended = None if status == "InProgress" else time.time()
        [run_id] = self.store.create_runs(
            experiment,
            [{"name": name, "status": status, "kind": kind, "source": source, "metrics_owner": owner,
              "params": params, "tags": tags, "ended_at": ended}],
        )  # fmt: skip
        return self.store.get_run(run_id)

    def import_runs(self, experiment: str, runs: Iterable[dict[str, Any]]) -> int:
        """Add finished runs in bulk, in one transaction (migration from other trackers, tests).

        Each dict holds ``name`` and optional ``params``, ``metrics`` (``{key: value}``: one
        point at step 0, also written to the run's series), ``tags`` and ``status``.
        """
        validate_name(experiment, "experiment name")
        now = time.time()
        rows = []
        for run in runs:
            name = validate_name(run["name"], "run name")
            status = self._check_status(run.get("status", "Completed"))
            metrics = {str(k): (float(v), 0, now) for k, v in (run.get("metrics") or {}).items()}
            rows.append({"name": name, "status": status, "kind": "manual", "source": None, "metrics_owner": f"run/{experiment}/{name}",
                         "params": run.get("params"), "tags": run.get("tags"), "metrics": metrics, "ended_at": now})  # fmt: skip
        ids = self.store.create_runs(experiment, rows, series=True)
        return len(ids)

    def resolve(self, run: RunLike) -> int:
        """The id of a run given as ``EXPERIMENT/RUN``, an id, a record or a handle.

        Raises:
            NotFoundError: no such run. ValidationError: unreadable address.
        """
        if isinstance(run, RunRecord):
            return run.id
        if isinstance(run, Run):
            return run._id
        if isinstance(run, int):
            return run
        ref = parse_ref(str(run), "run")
        if is_number(ref.name):
            return int(ref.name)
        experiment, _, name = ref.name.partition("/")
        return self.store.find_id(experiment, name)

    def get_run(self, run: RunLike) -> RunRecord:
        return self.store.get_run(self.resolve(run))

    def list_runs(self, experiment: str | None = None, *, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first (of one experiment when given)."""
        self.sync()
        if experiment is not None:
            experiment = self.store.get_experiment(name_of(experiment, "experiment")).name
        return self.store.search([], experiments=[experiment] if experiment else None, limit=limit)

    def delete_run(self, run: RunLike) -> None:
        self.store.delete_run(self.resolve(run))

    def log_params(self, run: RunLike, params: dict[str, Any]) -> None:
        for key in params:
            _check_key(key, "parameter")
        self.store.set_params(self.resolve(run), params)

    def log_metrics(self, run: RunLike, metrics: dict[str, float], step: int = 0) -> None:
        """Append one point per metric at ``step`` to the run's series."""
        record = self.get_run(run)
        now = time.time()
        points = []
        for key, value in metrics.items():
            _check_key(key, "metric")
            try:
                points.append((key, float(value), int(step), now))
            except (TypeError, ValueError):
                raise ValidationError(f"metric {key!r}: value {value!r} is not a number") from None
        self.ws.metadata.log_metrics(record.metrics_owner, points)
        self.store.set_latest_metrics(record.id, points)

    def set_tags(self, run: RunLike, tags: dict[str, Any]) -> None:
        for key in tags:
            _check_key(key, "tag")
        self.store.set_tags(self.resolve(run), tags)

    def log_artifact(
        self, run: RunLike, path: str | Path, name: str | None = None, *, media_type: str | None = None, is_output: bool = True
    ) -> dict[str, Any]:
        """Store a file or folder and attach it to the run (with a lineage edge).

        Raises:
            ValidationError: when ``path`` does not exist.
        """
        record = self.get_run(run)
        path = Path(path)
        if not path.exists():
            raise ValidationError(f"artifact path {path} does not exist")
        name = _check_key(name or path.name, "artifact")
        if path.is_dir():
            art = self.ws.artifacts.put_dir(path, owner=record.ref)
        else:
            art = self.ws.artifacts.put_file(path, owner=record.ref, media_type=media_type)
        entry = {"digest": art.digest, "size": art.size, "media_type": art.media_type, "is_output": is_output, "path": path.name}
        self.store.update_run(record.id, artifacts={**record.artifacts, name: entry})
        edge = EdgeRecord(record.ref, art.ref, "output") if is_output else EdgeRecord(art.ref, record.ref, "input")
        self.ws.metadata.add_edges([edge])
        return entry

    def end_run(self, run: RunLike, status: str = "Completed") -> RunRecord:
        run_id = self.resolve(run)
        self._check_status(status)
        self.store.update_run(run_id, status=status, ended_at=None if status == "InProgress" else time.time())
        return self.store.get_run(run_id)

    def metric_history(self, run: RunLike, key: str | None = None) -> list[MetricRecord]:
        """A run's full metric series (one key or all), ordered by key and step."""
        return self.ws.metadata.get_metrics(self.get_run(run).metrics_owner, key)

    @staticmethod
    def _check_status(status: str) -> str:
        if status not in RUN_STATUSES:
            raise ValidationError(f"unknown run status {status!r} (expected one of {', '.join(RUN_STATUSES)})")
        return status

    # search and compare ----------------------------------------------------------------------
    def search_runs(
        self,
        filter: str | None = None,
        *,
        experiments: Sequence[str] | None = None,
        order_by: Sequence[str] | str | None = None,
        max_results: int | None = 1000,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs matching ``filter`` (see :mod:`forgeml.experiments._filter` for the syntax).

        Args:
            filter: e.g. ``"metrics.validation:auc > 0.8 and params.max_depth = 3"``.
            experiments: only runs of these experiments.
            order_by: e.g. ``"metrics.validation:auc desc"`` (runs lacking the key come last);
                newest first when omitted.
            max_results: at most this many (None for all).

        Raises:
            ValidationError: an unreadable filter or order.
        """
        clauses = parse_filter(filter)
        self.sync()
        if max_results is not None and max_results < 0:
            raise ValidationError("max_results must be >= 0")
        orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
        experiments = [name_of(e, "experiment") for e in experiments] if experiments else experiments
        return self.store.search(clauses, experiments=experiments, order_by=[self._order(o) for o in orders], limit=max_results, offset=offset)

    @staticmethod
    def _order(text: str) -> tuple[str, str, bool]:
        m = _ORDER.match(text)
        field = m.group("field") if m else ""
        desc = bool(m and (m.group("dir") or "").lower() == "desc")
        scope, dot, key = field.partition(".")
        scopes = {"metrics": "metrics", "metric": "metrics", "params": "params", "param": "params", "tags": "tags", "tag": "tags"}
        if dot and scope.lower() in scopes and key:
            return scopes[scope.lower()], key.strip("`\""), desc
        if field.lower() in ATTRIBUTES:
            return "attributes", ATTRIBUTES[field.lower()], desc
        raise ValidationError(f"order_by {text!r}: expected metrics.<name>, params.<name>, tags.<name> or an attribute, then asc|desc")

    def search_frame(self, filter: str | None = None, **kwargs: Any) -> pd.DataFrame:
        """:meth:`search_runs` as a pandas DataFrame, one row per run."""
        return to_frame(self.search_runs(filter, **kwargs))

    def compare(self, runs: Sequence[RunLike]) -> dict[str, Any]:
        """Params, latest metrics and tags of runs side by side, and which params differ.

        Raises:
            ValidationError: fewer than one run. NotFoundError: a run does not exist.
        """
        if not runs:
            raise ValidationError("compare needs at least one run")
        self.sync()
        records = [self.get_run(r) for r in runs]
        out: dict[str, Any] = {"runs": [r.key for r in records]}
        for part in ("params", "metrics", "tags"):
            keys = sorted({k for r in records for k in getattr(r, part)})
            out[part] = {k: {r.key: getattr(r, part).get(k) for r in records} for k in keys}
        out["differing_params"] = [k for k, values in out["params"].items() if len({str(v) for v in values.values()}) > 1]
        out["status"] = {r.key: r.status for r in records}
        return out


def to_frame(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """Runs as a DataFrame: run, experiment, name, status, kind, source, created_at, then
    ``params.*`` (numbers where every value reads as one), ``metrics.*`` and ``tags.*``."""
    import pandas as pd

    rows = []
    for r in runs:
        row: dict[str, Any] = {
            "run": r.key, "experiment": r.experiment, "name": r.name, "status": r.status,
            "kind": r.kind, "source": r.source, "created_at": r.created_at,
        }  # fmt: skip
        row.update({f"params.{k}": v for k, v in r.params.items()})
        row.update({f"metrics.{k}": v for k, v in r.metrics.items()})
        row.update({f"tags.{k}": v for k, v in r.tags.items()})
        rows.append(row)
    base = ["run", "experiment", "name", "status", "kind", "source", "created_at"]
    frame = pd.DataFrame(rows, columns=None if rows else base)
    frame["created_at"] = pd.to_datetime(frame["created_at"].astype("float64"), unit="s", utc=True)
    for col in [c for c in frame.columns if c.startswith("params.")]:
        numeric = pd.to_numeric(frame[col], errors="coerce")
        if numeric.notna().sum() == frame[col].notna().sum():
            frame[col] = numeric
    ordered = base + sorted(c for c in frame.columns if c.startswith("params.")) + sorted(c for c in frame.columns if c.startswith("metrics.")) + sorted(c for c in frame.columns if c.startswith("tags."))
    return frame[ordered]


__all__ = ["ExperimentService", "to_frame"]
