"""Durable state of pipeline executions: one row per execution, one per started step.

Every status change is a compare-and-set on the row and appends its event (EventBridge's
"Pipeline Execution Status Change" / "... Step Status Change" detail) in the same transaction, so
the event log never misses a change and two drivers never make the same move.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from forgeml.core.metadata._schema import pipeline_executions as ex_t
from forgeml.core.metadata._schema import pipeline_steps as st_t
from forgeml.core.records import iso
from forgeml.errors import NotFoundError

EXECUTING, STOPPING, STOPPED, FAILED, SUCCEEDED = "Executing", "Stopping", "Stopped", "Failed", "Succeeded"
STARTING = "Starting"
EXECUTION_STATUSES = (EXECUTING, STOPPING, STOPPED, FAILED, SUCCEEDED)
STEP_STATUSES = (STARTING, EXECUTING, STOPPING, STOPPED, FAILED, SUCCEEDED)
ACTIVE = (EXECUTING, STOPPING)
STEP_ACTIVE = (STARTING, EXECUTING, STOPPING)
EXECUTION_EVENT = "PipelineExecutionStatusChange"
STEP_EVENT = "PipelineExecutionStepStatusChange"
CALLBACK_EVENT = "PipelineCallback"
LEASE_SECONDS = 60.0


def me() -> str:
    """This process, as a lease owner: ``host:pid:start-time``."""
    from forgeml.core.jobs._local import process_start_time

    return f"{socket.gethostname()}:{os.getpid()}:{process_start_time(os.getpid())}"


def owner_alive(owner: str | None, beat: float | None, now: float) -> bool:
    if not owner:
        return False
    from forgeml.core.jobs._local import pid_alive

    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return now - (beat or 0.0) < LEASE_SECONDS
    return pid_alive(int(pid), start or None) and now - (beat or 0.0) < LEASE_SECONDS * 10


@dataclass(frozen=True)
class ExecutionRecord:
    """One pipeline execution."""

    id: str
    pipeline: str
    version: int
    status: str
    parameters: dict[str, Any]
    origin: str
    max_parallel: int | None
    display_name: str | None
    failure_reason: str | None
    owner: str | None
    beat: float | None
    created_at: float
    ended_at: float | None
    updated_at: float

    @property
    def ref(self) -> str:
        return f"pipeline/{self.pipeline}/execution/{self.id}"

    @property
    def arn(self) -> str:
        return f"arn:forgeml:sagemaker:local:pipeline/{self.pipeline.lower()}/execution/{self.id}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("owner", "beat")}
        for k in ("created_at", "ended_at", "updated_at"):
            out[k] = iso(out[k])
        out["pipeline_ref"] = f"pipeline/{self.pipeline}:{self.version}"
        return out


@dataclass(frozen=True)
class StepRecord:
    """One started step of an execution (the latest attempt)."""

    execution: str
    step: str
    type: str
    status: str
    attempt: int
    job: str | None
    next_at: float | None
    first_started_at: float | None
    started_at: float | None
    ended_at: float | None
    properties: dict[str, Any]
    failure_reason: str | None
    cache_key: str | None
    cache_hit: dict[str, Any] | None
    token: str | None
    data: dict[str, Any] = field(default_factory=dict)
    updated_at: float = 0.0

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for k in ("next_at", "first_started_at", "started_at", "ended_at", "updated_at"):
            out[k] = iso(out[k])
        out["duration_seconds"] = None if self.duration is None else round(self.duration, 3)
        out.pop("token")  # the callback token goes only to the callback's receiver
        return out


def _execution(row: Any) -> ExecutionRecord:
    return ExecutionRecord(**dict(row._mapping))


def _step(row: Any) -> StepRecord:
    return StepRecord(**dict(row._mapping))


class ExecutionStore:
    """Rows of ``pipeline_executions`` and ``pipeline_steps`` in the workspace's metadata store."""

    def __init__(self, metadata: Any) -> None:
        self.meta = metadata

    def _emit(self, conn: Any, resource: str, type_: str, data: dict[str, Any]) -> None:
        self.meta._emit(conn, resource, type_, data)

    # executions ----------------------------------------------------------------------------
    def create(self, record: ExecutionRecord) -> ExecutionRecord:
        with self.meta.transaction() as conn:
            conn.execute(ex_t.insert().values(**record.__dict__))
            self._emit(conn, record.ref, EXECUTION_EVENT, self._detail(record, None))
        return record

    @staticmethod
    def _detail(record: ExecutionRecord, previous: str | None) -> dict[str, Any]:
        return {"pipelineArn": f"arn:forgeml:sagemaker:local:pipeline/{record.pipeline.lower()}",
                "pipelineExecutionArn": record.arn, "pipelineExecutionDisplayName": record.display_name or record.id,
                "currentPipelineExecutionStatus": record.status, "previousPipelineExecutionStatus": previous,
                "executionStartTime": iso(record.created_at), "executionEndTime": iso(record.ended_at),
                "failureReason": record.failure_reason, "pipeline": record.pipeline, "execution": record.id}  # fmt: skip

    def get(self, execution_id: str) -> ExecutionRecord:
        with self.meta.read_transaction() as conn:
            row = conn.execute(sa.select(ex_t).where(ex_t.c.id == execution_id)).first()
        if row is None:
            raise NotFoundError(f"pipeline execution {execution_id!r} does not exist")
        return _execution(row)

    def list(self, *, pipeline: str | None = None, status: list[str] | None = None, limit: int | None = None) -> list[ExecutionRecord]:
        q = sa.select(ex_t).order_by(ex_t.c.created_at.desc(), ex_t.c.id)
        if pipeline is not None:
            q = q.where(ex_t.c.pipeline == pipeline)
        if status:
            q = q.where(ex_t.c.status.in_(status))
        if limit:
            q = q.limit(limit)
        with self.meta.read_transaction() as conn:
            return [_execution(r) for r in conn.execute(q)]

    def set_status(self, record: ExecutionRecord, status: str, *, expected: tuple[str, ...], **fields: Any) -> ExecutionRecord | None:
        """Move an execution; None when its status was no longer one of ``expected``."""
        now = time.time()
        values = {"status": status, "updated_at": now, **fields}
        if status in (STOPPED, FAILED, SUCCEEDED):
            values.setdefault("ended_at", now)
        with self.meta.transaction() as conn:
            done = conn.execute(ex_t.update().where(ex_t.c.id == record.id, ex_t.c.status.in_(expected)).values(**values)).rowcount
            if not done:
                return None
            row = conn.execute(sa.select(ex_t).where(ex_t.c.id == record.id)).first()
            out = _execution(row)
            if status != record.status:
                self._emit(conn, out.ref, EXECUTION_EVENT, self._detail(out, record.status))
        return out

    def claim(self, record: ExecutionRecord, owner: str) -> bool:
        """Take or renew the execution's driving lease (one driver acts on an execution at a time)."""
        now = time.time()
        if record.owner not in (None, owner) and owner_alive(record.owner, record.beat, now):
            return False
        with self.meta.transaction() as conn:
            q = ex_t.update().where(ex_t.c.id == record.id)
            q = q.where(ex_t.c.owner.is_(None)) if record.owner is None else q.where(ex_t.c.owner == record.owner)
            return bool(conn.execute(q.values(owner=owner, beat=now)).rowcount)

    def release(self, execution_id: str, owner: str) -> None:
        with self.meta.transaction() as conn:
            conn.execute(ex_t.update().where(ex_t.c.id == execution_id, ex_t.c.owner == owner).values(owner=None, beat=None))

    # steps ---------------------------------------------------------------------------------
    def steps(self, execution_id: str) -> dict[str, StepRecord]:
        with self.meta.read_transaction() as conn:
            rows = conn.execute(sa.select(st_t).where(st_t.c.execution == execution_id).order_by(st_t.c.first_started_at))
            return {r.step: _step(r) for r in rows}

    def insert_step(self, execution: ExecutionRecord, step: str, type_: str, **fields: Any) -> StepRecord | None:
        """Record the intent to start ``step`` (status Starting); None if another driver did."""
        now = time.time()
        values = {"execution": execution.id, "step": step, "type": type_, "status": STARTING, "attempt": 1,
                  "first_started_at": now, "started_at": now, "properties": {}, "data": {}, "updated_at": now, **fields}  # fmt: skip
        try:
            with self.meta.transaction() as conn:
                conn.execute(st_t.insert().values(**values))
                row = conn.execute(sa.select(st_t).where(st_t.c.execution == execution.id, st_t.c.step == step)).first()
                out = _step(row)
                self._emit(conn, execution.ref, STEP_EVENT, self._step_detail(execution, out, None))
        except sa.exc.IntegrityError:
            return None
        return out

    def _step_detail(self, execution: ExecutionRecord, s: StepRecord, previous: str | None) -> dict[str, Any]:
        return {"pipelineExecutionArn": execution.arn, "stepName": s.step, "stepType": s.type, "currentStepStatus": s.status,
                "previousStepStatus": previous, "stepStartTime": iso(s.started_at), "stepEndTime": iso(s.ended_at),
                "metadata": {"job": {"name": s.job}} if s.job else {}, "failureReason": s.failure_reason,
                "cacheHitResult": s.cache_hit, "attempt": s.attempt, "pipeline": execution.pipeline, "execution": execution.id}  # fmt: skip

    def update_step(self, execution: ExecutionRecord, s: StepRecord, *, expected: tuple[str, ...] | None = None,
                    at_attempt: int | None = None, events: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
                    **fields: Any) -> StepRecord | None:  # fmt: skip
        """Compare-and-set one step row (on status and attempt); None when it moved meanwhile."""
        now = time.time()
        if fields.get("status") in (STOPPED, FAILED, SUCCEEDED):
            fields.setdefault("ended_at", now)
        with self.meta.transaction() as conn:
            q = st_t.update().where(st_t.c.execution == s.execution, st_t.c.step == s.step,
                                    st_t.c.attempt == (s.attempt if at_attempt is None else at_attempt))  # fmt: skip
            q = q.where(st_t.c.status.in_(expected or (s.status,)))
            if not conn.execute(q.values(updated_at=now, **fields)).rowcount:
                return None
            out = _step(conn.execute(sa.select(st_t).where(st_t.c.execution == s.execution, st_t.c.step == s.step)).first())
            if out.status != s.status or out.attempt != s.attempt:
                self._emit(conn, execution.ref, STEP_EVENT, self._step_detail(execution, out, s.status))
            for type_, data in events:  # messages that must go out with this change or not at all
                self._emit(conn, execution.ref, type_, data)
        return out

    def by_token(self, token: str) -> StepRecord:
        with self.meta.read_transaction() as conn:
            row = conn.execute(sa.select(st_t).where(st_t.c.token == token)).first()
        if row is None:
            raise NotFoundError("no callback step waits for that token")
        return _step(row)

    def cached(self, pipeline: str, step: str, key: str, since: float | None) -> StepRecord | None:
        """The most recent successful run of ``step`` with cache key ``key`` in ``pipeline``."""
        q = (sa.select(st_t).join(ex_t, ex_t.c.id == st_t.c.execution)
             .where(ex_t.c.pipeline == pipeline, st_t.c.step == step, st_t.c.cache_key == key, st_t.c.status == SUCCEEDED)
             .order_by(st_t.c.ended_at.desc()).limit(1))  # fmt: skip
        if since is not None:
            q = q.where(st_t.c.ended_at >= since)
        with self.meta.read_transaction() as conn:
            row = conn.execute(q).first()
        return None if row is None else _step(row)


__all__ = [
    "ACTIVE", "CALLBACK_EVENT", "EXECUTING", "EXECUTION_EVENT", "EXECUTION_STATUSES", "FAILED", "STARTING",
    "STEP_ACTIVE", "STEP_EVENT", "STEP_STATUSES", "STOPPED", "STOPPING", "SUCCEEDED", "ExecutionRecord",
    "ExecutionStore", "StepRecord", "me", "owner_alive",
]  # fmt: skip
