"""The audit trail (the CloudTrail role): one record per authenticated call and per denial.

Records are only ever appended. Each carries the SHA-256 of the one before (``prev_hash``) and
its own hash over its fields and that link, so editing a record breaks its hash, and deleting or
reordering records breaks a link. A head row (the last id, its hash and the count), written in
the same transaction, catches records cut from the end. :func:`verify` names the first record
that does not fit.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from forgeml.security._principals import sql_store

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

_meta = sa.MetaData()
log = sa.Table(
    "audit_log",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("principal", sa.String(128), nullable=False),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("resource", sa.String(512), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
head = sa.Table(
    "audit_head",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("last_id", sa.Integer, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)
GENESIS = "0" * 64
_FIELDS = ("id", "time", "principal", "action", "resource", "source", "outcome", "request_id", "detail", "prev_hash")


@dataclass
class AuditRecord:
    """One audited call."""

    id: int
    time: float
    principal: str
    action: str
    resource: str
    source: str
    outcome: str  # Allowed, Denied, Unauthenticated
    request_id: str
    detail: str
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_hash(fields: dict[str, Any]) -> str:
    """The hash of a record: SHA-256 over its fields (with ``prev_hash``) as canonical JSON."""
    body = json.dumps({k: fields[k] for k in _FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(body.encode()).hexdigest()


class AuditLog:
    """The workspace's audit trail in its metadata database."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def append(
        self, *, principal: str, action: str, resource: str, source: str, outcome: str, request_id: str, detail: str = ""
    ) -> AuditRecord:
        """Append one record, linked to the last, in one transaction with the head row."""
        with sql_store(self.ws).transaction() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(46818)")
            top = conn.execute(sa.select(head).where(head.c.id == 1)).first()
            last_id, prev, count = (top.last_id, top.last_hash, top._mapping["count"]) if top else (0, GENESIS, 0)
            fields: dict[str, Any] = {
                "id": last_id + 1, "time": round(time.time(), 6), "principal": principal[:128], "action": action[:128],
                "resource": resource[:512], "source": source[:64], "outcome": outcome, "request_id": request_id[:64],
                "detail": detail[:500], "prev_hash": prev,
            }  # fmt: skip
            fields["hash"] = record_hash(fields)
            conn.execute(log.insert().values(**fields))
            values = {"last_id": fields["id"], "last_hash": fields["hash"], "count": count + 1}
            if top:
                conn.execute(head.update().where(head.c.id == 1).values(**values))
            else:
                conn.execute(head.insert().values(id=1, **values))
        return AuditRecord(**fields)

    def records(
        self, *, principal: str | None = None, action: str | None = None, since: float | None = None, limit: int | None = None
    ) -> list[AuditRecord]:
        """Records oldest first; with ``limit`` the newest ``limit`` of them."""
        query = sa.select(log)
        if principal is not None:
            query = query.where(log.c.principal == principal)
        if action is not None:
            query = query.where(log.c.action == action)
        if since is not None:
            query = query.where(log.c.time >= since)
        query = query.order_by(log.c.id.desc())
        if limit:
            query = query.limit(limit)
        with sql_store(self.ws).read_transaction() as conn:
            rows = conn.execute(query).all()
        return [AuditRecord(**dict(r._mapping)) for r in reversed(rows)]

    def verify(self) -> list[str]:
        """Every problem found, each naming a record; empty when the trail is intact."""
        with sql_store(self.ws).read_transaction() as conn:
            rows = [dict(r._mapping) for r in conn.execute(sa.select(log).order_by(log.c.id))]
            top = conn.execute(sa.select(head).where(head.c.id == 1)).first()
        problems: list[str] = []
        by_hash = {r["hash"]: r["id"] for r in rows}
        prev_hash, prev_id = GENESIS, 0
        for row in rows:
            if record_hash(row) != row["hash"]:
                problems.append(f"record {row['id']}: edited (its content does not match its hash)")
            elif row["prev_hash"] != prev_hash:
                if row["id"] != prev_id + 1:
                    problems.append(f"record {row['id']}: the record(s) {prev_id + 1}..{row['id'] - 1} before it were deleted")
                elif row["prev_hash"] in by_hash:
                    problems.append(f"record {row['id']}: reordered (it follows record {by_hash[row['prev_hash']]}, not {prev_id})")
                else:
                    problems.append(f"record {row['id']}: its link to record {prev_id} is broken")
            prev_hash, prev_id = row["hash"], row["id"]
        if top is None and rows:
            problems.append("the head row is missing: records were written outside the audit log")
        elif top is not None:
            if top.last_id != prev_id or top.last_hash != prev_hash:
                problems.append(f"record {top.last_id}: deleted from the end (the trail ends at record {prev_id})")
            elif (counted := top._mapping["count"]) != len(rows) and not problems:
                problems.append(f"{counted - len(rows)} record(s) deleted (the head counts {counted}, the trail holds {len(rows)})")
        return problems
