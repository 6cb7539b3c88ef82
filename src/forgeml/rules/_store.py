"""Durable cursors and firings of rules and schedules (tables of migration ``0010_rules``).

A *firing* is one (source, event, target): ``source`` is ``event-rule/NAME`` or
``schedule/NAME``, ``event_key`` the event's id (rules) or the fire time (schedules). Its row is
the primary key that makes a target act at most once per event, however many processes run and
however often they die:

1. *intent*: insert the row (``Pending``, this process as owner); a second insert of the same
   key fails, so nobody else acts on it;
2. act;
3. *outcome*: ``Succeeded`` or ``Failed`` with what the target answered or why.

A ``Pending`` row whose owner process is dead was interrupted between 1 and 3: nobody knows
whether the action happened. It is redone only for idempotent target kinds (a pipeline
execution named by the firing's key) and otherwise recorded as ``Interrupted``, never repeated.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

LEASE_SECONDS = 120.0
PENDING, SUCCEEDED, FAILED, INTERRUPTED = "Pending", "Succeeded", "Failed", "Interrupted"

_meta = sa.MetaData()
cursors = sa.Table(
    "rule_cursors", _meta,
    sa.Column("source", sa.String(255), primary_key=True),
    sa.Column("after_id", sa.Integer, nullable=False),
    sa.Column("after_time", sa.Float),
)  # fmt: skip
firings = sa.Table(
    "rule_firings", _meta,
    sa.Column("source", sa.String(255), primary_key=True),
    sa.Column("event_key", sa.String(64), primary_key=True),
    sa.Column("target", sa.Integer, primary_key=True),
    sa.Column("event_id", sa.Integer),
    sa.Column("target_type", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("claimed_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("outcome", sa.JSON),
)  # fmt: skip


def me() -> str:
    """This process as an owner: host, pid and the pid's start time (pids get reused)."""
    from forgeml.core.jobs._local import process_start_time

    return f"{socket.gethostname()}:{os.getpid()}:{process_start_time(os.getpid())}"


def owner_alive(owner: str, claimed_at: float, now: float) -> bool:
    from forgeml.core.jobs._local import pid_alive

    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return now - claimed_at < LEASE_SECONDS  # another machine's: trust its lease
    return pid_alive(int(pid), start if start and start != "None" else None)


class FiringStore:
    """Rows of ``rule_cursors`` and ``rule_firings`` for one workspace."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.owner = me()

    def _tx(self) -> Any:
        return self.ws.metadata.transaction()  # type: ignore[attr-defined]

    def _rx(self) -> Any:
        return self.ws.metadata.read_transaction()  # type: ignore[attr-defined]

    # cursors -------------------------------------------------------------------------------------
    def cursor(self, source: str) -> tuple[int, float | None] | None:
        with self._rx() as conn:
            row = conn.execute(sa.select(cursors).where(cursors.c.source == source)).first()
        return None if row is None else (row.after_id, row.after_time)

    def set_cursor(self, source: str, after_id: int, after_time: float | None = None) -> None:
        with self._tx() as conn:
            done = conn.execute(cursors.update().where(cursors.c.source == source)
                                .values(after_id=after_id, after_time=after_time)).rowcount  # fmt: skip
            if not done:
                conn.execute(cursors.insert().values(source=source, after_id=after_id, after_time=after_time))

    def forget(self, source: str) -> None:
        with self._tx() as conn:
            conn.execute(cursors.delete().where(cursors.c.source == source))
            conn.execute(firings.delete().where(firings.c.source == source))

    # firings -------------------------------------------------------------------------------------
    def claim(self, source: str, event_key: str, target: int, target_type: str, event_id: int | None) -> bool:
        """Record the intent; False when the firing exists already (someone has or had it)."""
        row = {"source": source, "event_key": event_key, "target": target, "event_id": event_id,
               "target_type": target_type, "state": PENDING, "owner": self.owner, "claimed_at": time.time()}  # fmt: skip
        try:
            with self._tx() as conn:
                conn.execute(firings.insert().values(**row))
        except sa.exc.IntegrityError:
            return False
        return True

    def finish(self, source: str, event_key: str, target: int, state: str, outcome: Any) -> None:
        """Record the outcome of a firing this process owns."""
        with self._tx() as conn:
            conn.execute(firings.update()
                         .where(firings.c.source == source, firings.c.event_key == event_key, firings.c.target == target)
                         .values(state=state, outcome=outcome, finished_at=time.time()))  # fmt: skip

    def take_over(self, row: dict[str, Any]) -> bool:
        """Own a ``Pending`` firing of a dead process; False when someone else did first."""
        with self._tx() as conn:
            done = conn.execute(firings.update()
                                .where(firings.c.source == row["source"], firings.c.event_key == row["event_key"],
                                       firings.c.target == row["target"], firings.c.owner == row["owner"],
                                       firings.c.state == PENDING)
                                .values(owner=self.owner, claimed_at=time.time())).rowcount  # fmt: skip
        return bool(done)

    def orphans(self) -> list[dict[str, Any]]:
        """``Pending`` firings whose owner is dead."""
        now = time.time()
        with self._rx() as conn:
            rows = [dict(r._mapping) for r in conn.execute(sa.select(firings).where(firings.c.state == PENDING))]
        return [r for r in rows if r["owner"] != self.owner and not owner_alive(r["owner"], r["claimed_at"], now)]

    def list(self, source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Firings, newest first."""
        q = sa.select(firings).order_by(firings.c.claimed_at.desc()).limit(limit)
        if source is not None:
            q = q.where(firings.c.source == source)
        with self._rx() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]


__all__ = ["FAILED", "INTERRUPTED", "PENDING", "SUCCEEDED", "FiringStore", "cursors", "firings"]
