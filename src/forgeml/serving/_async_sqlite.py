"""The embedded async queue: one SQLite table in the workspace, shared by processes.

Every change runs in a ``BEGIN IMMEDIATE`` transaction, so a claim by one dispatcher and a
claim by another (or by a restarted one) never hand out the same visible request; WAL mode lets
readers (status lookups, the backlog metric) run beside them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from forgeml.errors import AlreadyExistsError, ConflictError, NotFoundError
from forgeml.serving._async_queue import DONE, AsyncQueue, AsyncRequest, State

_SCHEMA = """
CREATE TABLE IF NOT EXISTS async_requests (
    endpoint TEXT NOT NULL,
    inference_id TEXT NOT NULL,
    state TEXT NOT NULL,
    visible_at REAL NOT NULL,
    meta BLOB NOT NULL,
    body BLOB,
    PRIMARY KEY (endpoint, inference_id)
);
CREATE INDEX IF NOT EXISTS async_requests_ready ON async_requests (endpoint, state, visible_at);
"""


class SqliteQueue(AsyncQueue):
    """:class:`AsyncQueue` in a SQLite file (created with its folder on first use)."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 60_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def put(self, request: AsyncRequest, *, max_size: int) -> None:
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM async_requests WHERE endpoint=? AND inference_id=?",
                            (request.endpoint, request.inference_id)).fetchone():  # fmt: skip
                raise AlreadyExistsError(f"endpoint {request.endpoint!r} already has a request with InferenceId {request.inference_id!r}")
            if self._depth(conn, request.endpoint) >= max_size:
                raise ConflictError(f"the async queue of endpoint {request.endpoint!r} is full ({max_size} requests waiting); retry later")
            conn.execute(
                "INSERT INTO async_requests VALUES (?, ?, 'Queued', ?, ?, ?)",
                (request.endpoint, request.inference_id, request.enqueued_at, orjson.dumps(request.meta()), request.body),
            )

    def claim(self, endpoint: str, now: float) -> AsyncRequest | None:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT meta, body FROM async_requests WHERE endpoint=? AND state IN ('Queued', 'InProgress') "
                "AND visible_at <= ? ORDER BY visible_at LIMIT 1", (endpoint, now),
            ).fetchone()  # fmt: skip
            if row is None:
                return None
            meta = orjson.loads(row[0])
            meta.update(state="InProgress", attempts=int(meta["attempts"]) + 1)
            conn.execute(
                "UPDATE async_requests SET state='InProgress', visible_at=?, meta=? WHERE endpoint=? AND inference_id=?",
                (now + self.visibility(float(meta["invocation_timeout"])), orjson.dumps(meta), endpoint, meta["inference_id"]),
            )
            return AsyncRequest.from_meta(meta, row[1])

    def complete(self, endpoint: str, inference_id: str, state: State, now: float, reason: str | None = None) -> bool:
        with self._tx() as conn:
            row = conn.execute("SELECT meta, state FROM async_requests WHERE endpoint=? AND inference_id=?",
                               (endpoint, inference_id)).fetchone()  # fmt: skip
            if row is None:
                raise NotFoundError(f"endpoint {endpoint!r} has no async request {inference_id!r}")
            if row[1] in DONE:
                return False
            meta = {**orjson.loads(row[0]), "state": state, "finished_at": now, "failure_reason": reason, "notified": False}
            conn.execute(
                "UPDATE async_requests SET state=?, meta=?, body=NULL WHERE endpoint=? AND inference_id=?",
                (state, orjson.dumps(meta), endpoint, inference_id),
            )
            return True

    def unnotified(self, endpoint: str) -> list[AsyncRequest]:
        with self._lock:
            rows = self._conn.execute("SELECT meta FROM async_requests WHERE endpoint=? AND state IN ('Completed', 'Failed')",
                                      (endpoint,)).fetchall()  # fmt: skip
        metas = [orjson.loads(r[0]) for r in rows]
        return [AsyncRequest.from_meta(m, None) for m in metas if m.get("notified") is False]

    def mark_notified(self, endpoint: str, inference_id: str) -> None:
        with self._tx() as conn:
            row = conn.execute("SELECT meta FROM async_requests WHERE endpoint=? AND inference_id=?", (endpoint, inference_id)).fetchone()
            if row is not None:
                meta = {**orjson.loads(row[0]), "notified": True}
                conn.execute("UPDATE async_requests SET meta=? WHERE endpoint=? AND inference_id=?", (orjson.dumps(meta), endpoint, inference_id))

    def get(self, endpoint: str, inference_id: str) -> AsyncRequest:
        with self._lock:
            row = self._conn.execute("SELECT meta, body FROM async_requests WHERE endpoint=? AND inference_id=?",
                                     (endpoint, inference_id)).fetchone()  # fmt: skip
        if row is None:
            raise NotFoundError(f"endpoint {endpoint!r} has no async request {inference_id!r}")
        return AsyncRequest.from_meta(orjson.loads(row[0]), row[1])

    def depth(self, endpoint: str) -> int:
        with self._lock:
            return self._depth(self._conn, endpoint)

    @staticmethod
    def _depth(conn: sqlite3.Connection, endpoint: str) -> int:
        sql = "SELECT COUNT(*) FROM async_requests WHERE endpoint=? AND state IN ('Queued', 'InProgress')"
        return int(conn.execute(sql, (endpoint,)).fetchone()[0])

    def drop(self, endpoint: str) -> int:
        with self._tx() as conn:
            return conn.execute("DELETE FROM async_requests WHERE endpoint=?", (endpoint,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()


__all__ = ["SqliteQueue"]
