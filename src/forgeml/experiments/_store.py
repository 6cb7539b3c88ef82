"""SQL access to the experiment tables, on the metadata store's connections.

The store's transactions are reused (``BEGIN IMMEDIATE`` on SQLite, plain transactions on
PostgreSQL), so run writes queue behind other writers instead of failing with "database is locked".
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from forgeml.errors import AlreadyExistsError, NotFoundError, ValidationError
from forgeml.experiments import _schema as t
from forgeml.experiments._filter import NUMERIC_ATTRIBUTES, Clause
from forgeml.experiments._records import ExperimentRecord, RunRecord

_CHUNK = 500


def as_number(value: Any) -> float | None:
    """The numeric reading of a parameter value, or None when it is not a number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class RunStore:
    """Experiments and runs in the metadata database.

    Args:
        metadata: the workspace's :class:`~forgeml.core.metadata.SqlMetadataStore`.
    """

    def __init__(self, metadata: Any) -> None:
        self._meta = metadata
        self.dialect: str = metadata.dialect

    def write(self) -> AbstractContextManager[Connection]:
        return self._meta.transaction()  # type: ignore[no-any-return]

    def read(self) -> AbstractContextManager[Connection]:
        return self._meta.read_transaction()  # type: ignore[no-any-return]

    def _insert(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects import postgresql, sqlite

        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    # experiments -----------------------------------------------------------------------------
    def create_experiment(self, name: str, description: str = "", tags: dict[str, str] | None = None, *, exist_ok: bool = False) -> ExperimentRecord:
        with self.write() as conn:
            row = conn.execute(sa.select(t.experiments).where(t.experiments.c.name == name)).first()
            if row is not None:
                if not exist_ok:
                    raise AlreadyExistsError(f"experiment {name!r} already exists")
                return ExperimentRecord(**row._mapping)
            now = time.time()
            conn.execute(t.experiments.insert().values(name=name, description=description, tags=dict(tags or {}), created_at=now))
        return ExperimentRecord(name=name, description=description, tags=dict(tags or {}), created_at=now)

    def list_experiments(self) -> list[ExperimentRecord]:
        e, r = t.experiments, t.runs
        counts = sa.select(r.c.experiment, sa.func.count().label("n")).group_by(r.c.experiment).subquery()
        q = (
            sa.select(e, sa.func.coalesce(counts.c.n, 0).label("run_count"))
            .select_from(e.outerjoin(counts, counts.c.experiment == e.c.name))
            .order_by(e.c.created_at.desc(), e.c.name)
        )
        with self.read() as conn:
            return [ExperimentRecord(**row._mapping) for row in conn.execute(q)]

    def get_experiment(self, name: str) -> ExperimentRecord:
        for record in self.list_experiments():
            if record.name == name:
                return record
        raise NotFoundError(f"experiment {name!r} does not exist")

    def delete_experiment(self, name: str) -> int:
        with self.write() as conn:
            ids = [row[0] for row in conn.execute(sa.select(t.runs.c.id).where(t.runs.c.experiment == name))]
            self._delete_runs(conn, ids)
            count = conn.execute(t.experiments.delete().where(t.experiments.c.name == name)).rowcount
        if not count:
            raise NotFoundError(f"experiment {name!r} does not exist")
        return len(ids)

    @staticmethod
    def _delete_runs(conn: Connection, ids: Sequence[int]) -> None:
        for chunk in _chunks(list(ids)):
            for table in (t.run_params, t.run_metrics, t.run_tags):
                conn.execute(table.delete().where(table.c.run_id.in_(chunk)))
            conn.execute(t.runs.delete().where(t.runs.c.id.in_(chunk)))

    # runs ------------------------------------------------------------------------------------
    def create_runs(self, experiment: str, runs: Iterable[dict[str, Any]], *, series: bool = False) -> list[int]:
        """Insert runs with their params, tags and latest metrics in one transaction.

        With ``series``, the metric points also start each run's series (owner ``metrics_owner``);
        a run's optional ``series`` (``[(key, value, step, timestamp), ...]``) is written instead.

        Each dict has ``name``, ``status``, ``kind``, ``source``, ``metrics_owner`` and optional
        ``params``, ``tags``, ``metrics`` (``{key: (value, step, timestamp)}``), ``artifacts``.

        Raises:
            AlreadyExistsError: when a run of that name exists in the experiment.
        """
        now = time.time()
        runs = list(runs)
        names = [run["name"] for run in runs]
        if len(set(names)) != len(names):
            raise AlreadyExistsError(f"run names repeat in one batch for experiment {experiment!r}")
        with self.write() as conn:
            if conn.execute(sa.select(t.experiments.c.name).where(t.experiments.c.name == experiment)).first() is None:
                conn.execute(t.experiments.insert().values(name=experiment, description="", tags={}, created_at=now))
            for chunk in _chunks(names):
                taken = conn.execute(
                    sa.select(t.runs.c.name).where(t.runs.c.experiment == experiment, t.runs.c.name.in_(list(chunk)))
                ).first()
                if taken is not None:
                    raise AlreadyExistsError(f"run {taken[0]!r} already exists in experiment {experiment!r}")
            rows = [
                {"experiment": experiment, "name": run["name"], "status": run["status"], "kind": run["kind"],
                 "source": run.get("source"), "metrics_owner": run["metrics_owner"], "artifacts": run.get("artifacts") or {},
                 "created_at": run.get("created_at", now), "ended_at": run.get("ended_at"), "updated_at": now}
                for run in runs
            ]  # fmt: skip
            if not rows:
                return []
            result = conn.execute(t.runs.insert().returning(t.runs.c.id, sort_by_parameter_order=True), rows)
            ids = [int(row[0]) for row in result]
            params: list[dict[str, Any]] = []
            tags: list[dict[str, Any]] = []
            metrics: list[dict[str, Any]] = []
            for run_id, run in zip(ids, runs, strict=True):
                params += [self._param_row(run_id, k, v) for k, v in (run.get("params") or {}).items()]
                tags += [{"run_id": run_id, "key": str(k), "value": str(v)} for k, v in (run.get("tags") or {}).items()]
                metrics += [
                    {"run_id": run_id, "key": str(k), "value": float(v), "step": int(s), "timestamp": float(ts)}
                    for k, (v, s, ts) in (run.get("metrics") or {}).items()
                ]
            for table, part in ((t.run_params, params), (t.run_tags, tags), (t.run_metrics, metrics)):
                if part:
                    conn.execute(table.insert(), part)
            if series:
                # the same points start each run's series, in the core metrics table, in this transaction
                from forgeml.core.metadata import _schema as core

                owners = {run_id: run["metrics_owner"] for run_id, run in zip(ids, runs, strict=True)}
                full = {run_id for run_id, run in zip(ids, runs, strict=True) if run.get("series") is not None}
                points = [{"owner": owners[m["run_id"]], "key": m["key"], "value": m["value"], "step": m["step"], "timestamp": m["timestamp"]} for m in metrics if m["run_id"] not in full]
                for run_id, run in zip(ids, runs, strict=True):
                    if run_id in full:  # the whole series, not only the latest points
                        points += [{"owner": owners[run_id], "key": str(k), "value": float(v), "step": int(st), "timestamp": float(ts)} for k, v, st, ts in run["series"]]
                if points:
                    conn.execute(core.metrics.insert(), points)
        return ids

    @staticmethod
    def _param_row(run_id: int, key: str, value: Any) -> dict[str, Any]:
        text = value if isinstance(value, str) else str(value)
        return {"run_id": run_id, "key": str(key), "value": text, "value_num": as_number(value)}

    def set_params(self, run_id: int, params: dict[str, Any]) -> None:
        rows = [self._param_row(run_id, k, v) for k, v in params.items()]
        if rows:
            stmt = self._insert(t.run_params)
            stmt = stmt.on_conflict_do_update(
                index_elements=["run_id", "key"], set_={"value": stmt.excluded.value, "value_num": stmt.excluded.value_num}
            )
            with self.write() as conn:
                conn.execute(stmt, rows)
                self._touch(conn, run_id)

    def set_tags(self, run_id: int, tags: dict[str, Any]) -> None:
        rows = [{"run_id": run_id, "key": str(k), "value": str(v)} for k, v in tags.items()]
        if rows:
            stmt = self._insert(t.run_tags)
            stmt = stmt.on_conflict_do_update(index_elements=["run_id", "key"], set_={"value": stmt.excluded.value})
            with self.write() as conn:
                conn.execute(stmt, rows)
                self._touch(conn, run_id)

    def set_latest_metrics(self, run_id: int, points: Sequence[tuple[str, float, int, float]]) -> None:
        """Keep, per key, the point with the highest step (the later one on equal steps)."""
        latest: dict[str, tuple[float, int, float]] = {}
        for key, value, step, ts in points:
            if key not in latest or step >= latest[key][1]:
                latest[key] = (float(value), int(step), float(ts))
        if not latest:
            return
        rows = [{"run_id": run_id, "key": k, "value": v, "step": s, "timestamp": ts} for k, (v, s, ts) in latest.items()]
        stmt = self._insert(t.run_metrics)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={"value": stmt.excluded.value, "step": stmt.excluded.step, "timestamp": stmt.excluded.timestamp},
            where=t.run_metrics.c.step <= stmt.excluded.step,
        )
        with self.write() as conn:
            conn.execute(stmt, rows)

    def update_run(self, run_id: int, **values: Any) -> None:
        with self.write() as conn:
            conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(updated_at=time.time(), **values))

    @staticmethod
    def _touch(conn: Connection, run_id: int) -> None:
        conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(updated_at=time.time()))

    def delete_run(self, run_id: int) -> None:
        with self.write() as conn:
            self._delete_runs(conn, [run_id])

    # reading ---------------------------------------------------------------------------------
    def find_id(self, experiment: str, name: str) -> int:
        with self.read() as conn:
            row = conn.execute(sa.select(t.runs.c.id).where(t.runs.c.experiment == experiment, t.runs.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"run {name!r} does not exist in experiment {experiment!r}")
        return int(row[0])

    def find_by_source(self, source: str) -> RunRecord | None:
        with self.read() as conn:
            rows = conn.execute(sa.select(t.runs).where(t.runs.c.source == source)).all()
            records = self._hydrate(conn, rows)
        return records[0] if records else None

    def get_run(self, run_id: int) -> RunRecord:
        with self.read() as conn:
            records = self._hydrate(conn, conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).all())
        if not records:
            raise NotFoundError(f"run {run_id} does not exist")
        return records[0]

    def search(
        self,
        clauses: Sequence[Clause],
        *,
        experiments: Sequence[str] | None = None,
        order_by: Sequence[tuple[str, str, bool]] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs matching every clause; ``order_by`` holds ``(scope, key, descending)``."""
        r = t.runs
        q = sa.select(r)
        if experiments:
            q = q.where(r.c.experiment.in_(list(experiments)))
        for clause in clauses:
            q = q.where(self._condition(clause))
        for i, (scope, key, desc) in enumerate(order_by):
            if scope == "attributes":
                col: Any = r.c[key]
            else:
                table = {"metrics": t.run_metrics, "params": t.run_params, "tags": t.run_tags}[scope]
                alias = table.alias(f"o{i}")
                q = q.outerjoin(alias, sa.and_(alias.c.run_id == r.c.id, alias.c.key == key))
                col = alias.c.value_num if scope == "params" else alias.c.value
            # runs without the sort key come last either way
            q = q.order_by(col.is_(None), col.desc() if desc else col.asc())
        q = q.order_by(r.c.created_at.desc(), r.c.id.desc()).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        with self.read() as conn:
            return self._hydrate(conn, conn.execute(q).all(), q.with_only_columns(r.c.id))

    @staticmethod
    def _condition(clause: Clause) -> Any:
        r = t.runs
        if clause.scope == "attributes":
            col = r.c[clause.key]
            value = clause.value if clause.key in NUMERIC_ATTRIBUTES else str(clause.value)
            return sa.and_(col.is_not(None), _op(col, clause.op, value))
        table = {"metrics": t.run_metrics, "params": t.run_params, "tags": t.run_tags}[clause.scope]
        col = table.c.value_num if clause.scope == "params" and clause.numeric else table.c.value
        sub = sa.select(table.c.run_id).where(table.c.key == clause.key, _op(col, clause.op, clause.value))
        return r.c.id.in_(sub)

    def _hydrate(self, conn: Connection, rows: Sequence[Any], ids_query: Any = None) -> list[RunRecord]:
        """Records for ``rows`` of ``exp_runs``, with params, latest metrics and tags.

        ``ids_query`` (a select of the same run ids) lets each side table be read in one query
        instead of one per chunk of ids: that is what keeps loading thousands of matches fast.
        """
        ids = [int(row._mapping["id"]) for row in rows]
        params: dict[int, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[int, dict[str, float]] = {i: {} for i in ids}
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        targets = ((t.run_params, params), (t.run_metrics, metrics), (t.run_tags, tags))
        selections = [ids_query] if ids_query is not None and len(ids) > _CHUNK else list(_chunks(ids))
        for selection in selections:
            for table, into in targets:
                q = sa.select(table.c.run_id, table.c.key, table.c.value).where(table.c.run_id.in_(selection))
                for run_id, key, value in conn.execute(q).all():
                    into[run_id][key] = value
        out = []
        for row in rows:
            m = row._mapping
            i = int(m["id"])
            out.append(
                RunRecord(
                    id=i, experiment=m["experiment"], name=m["name"], status=m["status"], kind=m["kind"],
                    source=m["source"], metrics_owner=m["metrics_owner"], params=dict(sorted(params[i].items())),
                    metrics=dict(sorted(metrics[i].items())), tags=dict(sorted(tags[i].items())),
                    artifacts=m["artifacts"], created_at=m["created_at"], ended_at=m["ended_at"], updated_at=m["updated_at"],
                )
            )
        return out


def _op(col: Any, op: str, value: Any) -> Any:
    if op == "like":
        return col.ilike(str(value))
    ops = {"=": col == value, "!=": col != value, "<": col < value, "<=": col <= value, ">": col > value, ">=": col >= value}
    if op not in ops:
        raise ValidationError(f"unknown filter operator {op!r}")
    return ops[op]


__all__ = ["RunStore", "as_number"]
