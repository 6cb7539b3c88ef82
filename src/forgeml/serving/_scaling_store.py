"""Durable autoscaling records: targets, policies, scheduled actions and scaling activities.

Tables of the metadata database (migration ``0011_autoscaling``). An *activity* is one scaling
decision: it is stored (``InProgress``, with the absolute capacity it sets) **before** the pool is
changed, and marked ``Successful`` or ``Failed`` after, so a scaling loop killed in between finds
it on its next start and finishes it instead of deciding again. Decisions that must happen once
per cause (a scheduled action's fire time) carry a unique ``key``: a second insert fails.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

_meta = sa.MetaData()
targets = sa.Table(
    "scaling_targets", _meta,
    sa.Column("resource_id", sa.String(160), primary_key=True),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("variant", sa.String(64), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)  # fmt: skip
policies = sa.Table(
    "scaling_policies", _meta,
    sa.Column("resource_id", sa.String(160), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("policy_type", sa.String(32), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)  # fmt: skip
scheduled = sa.Table(
    "scaling_scheduled_actions", _meta,
    sa.Column("resource_id", sa.String(160), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_fire", sa.Float),
)  # fmt: skip
activities = sa.Table(
    "scaling_activities", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("activity_id", sa.String(64), nullable=False, unique=True),
    sa.Column("resource_id", sa.String(160), nullable=False),
    sa.Column("key", sa.String(400), unique=True),
    sa.Column("cause", sa.String(1024), nullable=False),
    sa.Column("policy", sa.String(256)),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("from_capacity", sa.Integer, nullable=False),
    sa.Column("to_capacity", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("message", sa.String(1024)),
    sa.Column("detail", sa.JSON),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
)  # fmt: skip


@dataclass(frozen=True)
class Activity:
    """One scaling activity (``DescribeScalingActivities``' item)."""

    activity_id: str
    resource_id: str
    cause: str
    policy: str | None
    direction: str  # out | in | none
    from_capacity: int
    to_capacity: int
    status: str  # InProgress | Successful | Failed | Overridden
    message: str | None
    detail: dict[str, Any] | None
    started_at: float
    ended_at: float | None
    key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ActivityId": self.activity_id, "ResourceId": self.resource_id, "Cause": self.cause,
            "Policy": self.policy, "Direction": self.direction, "FromCapacity": self.from_capacity,
            "ToCapacity": self.to_capacity, "StatusCode": self.status, "StatusMessage": self.message,
            "StartTime": self.started_at, "EndTime": self.ended_at,
        }  # fmt: skip


def _activity(row: Any) -> Activity:
    m = row._mapping
    return Activity(m["activity_id"], m["resource_id"], m["cause"], m["policy"], m["direction"], m["from_capacity"],
                    m["to_capacity"], m["status"], m["message"], m["detail"], m["started_at"], m["ended_at"], m["key"])  # fmt: skip


class ScalingStore:
    """Reads and writes of the autoscaling tables through the workspace's SQL store."""

    def __init__(self, store: Any) -> None:
        self.store = store

    # rows by table -------------------------------------------------------------------------------
    def upsert(self, table: sa.Table, keys: dict[str, Any], values: dict[str, Any]) -> None:
        where = [table.c[k] == v for k, v in keys.items()]
        with self.store.transaction() as conn:
            found = conn.execute(sa.select(table).where(*where)).first()
            if found is None:
                conn.execute(table.insert().values(**keys, **values))
            else:
                conn.execute(table.update().where(*where).values(**values))

    def rows(self, table: sa.Table, **keys: Any) -> list[dict[str, Any]]:
        q = sa.select(table).where(*[table.c[k] == v for k, v in keys.items()])
        order = [table.c[c] for c in ("resource_id", "name") if c in table.c]
        with self.store.read_transaction() as conn:
            return [dict(r._mapping) for r in conn.execute(q.order_by(*order))]

    def delete(self, table: sa.Table, **keys: Any) -> int:
        with self.store.transaction() as conn:
            return int(conn.execute(table.delete().where(*[table.c[k] == v for k, v in keys.items()])).rowcount)

    def set_last_fire(self, resource_id: str, name: str, fire: float) -> None:
        with self.store.transaction() as conn:
            conn.execute(scheduled.update().where(scheduled.c.resource_id == resource_id, scheduled.c.name == name)
                         .values(last_fire=fire))  # fmt: skip

    # activities ------------------------------------------------------------------------------
    def begin(
        self, resource_id: str, *, cause: str, direction: str, from_capacity: int, to_capacity: int,
        policy: str | None = None, key: str | None = None, detail: dict[str, Any] | None = None,
    ) -> Activity | None:  # fmt: skip
        """Record a decision before acting on it; None when ``key`` was recorded already."""
        now = time.time()
        row = {"activity_id": uuid.uuid4().hex, "resource_id": resource_id, "key": key, "cause": cause[:1024],
               "policy": policy, "direction": direction, "from_capacity": from_capacity, "to_capacity": to_capacity,
               "status": "InProgress", "message": None, "detail": detail, "started_at": now, "ended_at": None}  # fmt: skip
        try:
            with self.store.transaction() as conn:
                conn.execute(activities.update().where(activities.c.resource_id == resource_id,
                                                       activities.c.status == "InProgress")
                             .values(status="Overridden", ended_at=now, message="a newer decision replaced it"))  # fmt: skip
                conn.execute(activities.insert().values(**row))
        except sa.exc.IntegrityError:
            return None
        return _activity_from(row)

    def finish(self, activity_id: str, status: str, message: str | None = None) -> None:
        with self.store.transaction() as conn:
            conn.execute(activities.update().where(activities.c.activity_id == activity_id, activities.c.status == "InProgress")
                         .values(status=status, message=message, ended_at=time.time()))  # fmt: skip

    def get(self, activity_id: str) -> Activity | None:
        with self.store.read_transaction() as conn:
            row = conn.execute(sa.select(activities).where(activities.c.activity_id == activity_id)).first()
        return _activity(row) if row is not None else None

    def activities(self, resource_id: str | None = None, *, status: str | None = None, limit: int = 100) -> list[Activity]:
        """Newest first."""
        q = sa.select(activities)
        if resource_id is not None:
            q = q.where(activities.c.resource_id == resource_id)
        if status is not None:
            q = q.where(activities.c.status == status)
        with self.store.read_transaction() as conn:
            return [_activity(r) for r in conn.execute(q.order_by(activities.c.id.desc()).limit(limit))]

    def last(self, resource_id: str, direction: str, policy: str | None = None) -> float | None:
        """When the newest applied (or applying) activity of ``direction`` started."""
        q = sa.select(sa.func.max(activities.c.started_at)).where(
            activities.c.resource_id == resource_id, activities.c.direction == direction,
            activities.c.status.in_(("InProgress", "Successful")),
        )  # fmt: skip
        if policy is not None:
            q = q.where(activities.c.policy == policy)
        with self.store.read_transaction() as conn:
            value = conn.execute(q).scalar()
        return float(value) if value is not None else None


def _activity_from(row: dict[str, Any]) -> Activity:
    return Activity(row["activity_id"], row["resource_id"], row["cause"], row["policy"], row["direction"], row["from_capacity"],
                    row["to_capacity"], row["status"], row["message"], row["detail"], row["started_at"], row["ended_at"], row["key"])  # fmt: skip


__all__ = ["Activity", "ScalingStore", "activities", "policies", "scheduled", "targets"]
