"""SQLite online store (the default): one WAL database file, one row per (group, record id)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from forgeml.errors import BackendUnavailableError
from forgeml.features._online import OnlineOp, OnlineRecord, OnlineStore, check_ops

_SCHEMA = """
CREATE TABLE IF NOT EXISTS online_records (
    group_name TEXT NOT NULL,
    record_id TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    expires_at INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0,
    payload TEXT,
    PRIMARY KEY (group_name, record_id)
) WITHOUT ROWID
"""

_SQL = {
    "put": """INSERT INTO online_records VALUES (?, ?, ?, ?, 0, ?)
              ON CONFLICT (group_name, record_id) DO UPDATE SET event_time = excluded.event_time,
              expires_at = excluded.expires_at, deleted = 0, payload = excluded.payload
              WHERE excluded.event_time > online_records.event_time""",
    "sync": """INSERT INTO online_records VALUES (?, ?, ?, ?, 0, ?)
              ON CONFLICT (group_name, record_id) DO UPDATE SET event_time = excluded.event_time,
              expires_at = excluded.expires_at, deleted = 0, payload = excluded.payload
              WHERE excluded.event_time >= online_records.event_time""",
    "soft_delete": """INSERT INTO online_records VALUES (?, ?, ?, NULL, 1, NULL)
              ON CONFLICT (group_name, record_id) DO UPDATE SET event_time = excluded.event_time,
              expires_at = NULL, deleted = 1, payload = NULL
              WHERE excluded.event_time > online_records.event_time""",
    "hard_delete": "DELETE FROM online_records WHERE group_name = ? AND record_id = ? AND event_time < ?",
}
_COLS = "record_id, event_time, expires_at, deleted, payload"


def _row(row: tuple[str, int, int | None, int, str | None]) -> OnlineRecord:
    return OnlineRecord(row[0], row[1], row[2], bool(row[3]), row[4])


class SqliteOnlineStore(OnlineStore):
    """Online store in a SQLite file; gets are primary-key lookups (about 10 µs)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(str(path), timeout=60, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise BackendUnavailableError(f"online store {path}: {exc}") from None

    def apply(self, group: str, ops: Sequence[OnlineOp]) -> int:
        check_ops(ops)
        with self._lock:
            conn = self._conn
            before = conn.total_changes
            conn.execute("BEGIN IMMEDIATE")
            try:
                for kind, run in groupby(ops, key=lambda op: op.kind):
                    rows: list[tuple[Any, ...]]
                    if kind == "hard_delete" or kind == "soft_delete":
                        rows = [(group, op.record_id, op.event_time_us) for op in run]
                    else:
                        rows = [(group, op.record_id, op.event_time_us, op.expires_at_us, op.payload) for op in run]
                    conn.executemany(_SQL[kind], rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return conn.total_changes - before

    def get(self, group: str, record_id: str) -> OnlineRecord | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLS} FROM online_records WHERE group_name = ? AND record_id = ?", (group, record_id)
            ).fetchone()
        return _row(row) if row else None

    def get_many(self, group: str, record_ids: Sequence[str]) -> list[OnlineRecord | None]:
        found: dict[str, OnlineRecord] = {}
        ids = list(dict.fromkeys(record_ids))
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in self._conn.execute(
                    f"SELECT {_COLS} FROM online_records WHERE group_name = ? AND record_id IN ({marks})",
                    (group, *chunk),
                ):
                    found[row[0]] = _row(row)
        return [found.get(rid) for rid in record_ids]

    def scan(self, group: str) -> Iterator[OnlineRecord]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLS} FROM online_records WHERE group_name = ?", (group,)).fetchall()
        for row in rows:
            yield _row(row)

    def drop_group(self, group: str) -> int:
        with self._lock:
            return self._conn.execute("DELETE FROM online_records WHERE group_name = ?", (group,)).rowcount

    def purge_expired(self, group: str, now_us: int) -> int:
        with self._lock:
            return self._conn.execute(
                "DELETE FROM online_records WHERE group_name = ? AND deleted = 0 AND expires_at IS NOT NULL AND expires_at <= ?",
                (group, now_us),
            ).rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()
