"""The online store interface: the latest record per record identifier.

Every backend passes ``forgeml.testing.online_store_contract``. Rules (SageMaker PutRecord and
DeleteRecord), applied by :meth:`OnlineStore.apply` to a whole batch atomically:

* ``put``: stored only when no record exists or its event time is **strictly greater** than the
  stored one (an equal or older event time is historic: offline store only).
* ``sync``: like put but also replaces on an equal event time (materialization from offline).
* ``soft_delete``: when the delete's event time is strictly greater than the stored one (or
  nothing is stored), the record becomes a tombstone: values null, not returned by gets, event
  time = the delete's, so older puts cannot resurrect it.
* ``hard_delete``: removes the record when the delete's event time is strictly greater.

Times are integer microseconds since the epoch. A record is visible when it is not a tombstone
and ``now < expires_at`` (or it has no expiry).
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgeml.errors import ValidationError

OP_KINDS = ("put", "sync", "soft_delete", "hard_delete")


@dataclass(frozen=True)
class OnlineOp:
    """One change to apply: ``kind`` in :data:`OP_KINDS`; ``payload`` is the record as JSON text."""

    kind: str
    record_id: str
    event_time_us: int
    expires_at_us: int | None = None
    payload: str | None = None


@dataclass(frozen=True)
class OnlineRecord:
    """What the online store holds for one record identifier."""

    record_id: str
    event_time_us: int
    expires_at_us: int | None
    deleted: bool
    payload: str | None

    def visible(self, now_us: int) -> bool:
        """Not a tombstone and not expired at ``now_us``."""
        return not self.deleted and (self.expires_at_us is None or now_us < self.expires_at_us)

    def values(self) -> dict[str, Any]:
        import orjson

        return dict(orjson.loads(self.payload)) if self.payload else {}


class OnlineStore(abc.ABC):
    """Latest record per (group, record id); safe to share between threads."""

    @abc.abstractmethod
    def apply(self, group: str, ops: Sequence[OnlineOp]) -> int:
        """Apply ``ops`` in order, all or nothing; return how many changed the store."""

    @abc.abstractmethod
    def get(self, group: str, record_id: str) -> OnlineRecord | None:
        """The stored record (tombstones and expired records included), or None."""

    @abc.abstractmethod
    def get_many(self, group: str, record_ids: Sequence[str]) -> list[OnlineRecord | None]:
        """Stored records for each id, in order (None where absent)."""

    @abc.abstractmethod
    def scan(self, group: str) -> Iterator[OnlineRecord]:
        """Every stored record of a group (tombstones included), in no particular order."""

    @abc.abstractmethod
    def drop_group(self, group: str) -> int:
        """Remove every record of a group; return how many."""

    @abc.abstractmethod
    def purge_expired(self, group: str, now_us: int) -> int:
        """Remove records expired at ``now_us`` (not tombstones); return how many."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""


def check_ops(ops: Sequence[OnlineOp]) -> None:
    """Refuse malformed ops before touching a backend.

    Raises:
        ValidationError: unknown kind, empty id or a put without payload.
    """
    for op in ops:
        if op.kind not in OP_KINDS:
            raise ValidationError(f"unknown online-store operation {op.kind!r}")
        if not op.record_id:
            raise ValidationError("online-store operation without a record identifier")
        if op.kind in ("put", "sync") and op.payload is None:
            raise ValidationError(f"online-store {op.kind} of {op.record_id!r} without a payload")


def make_online_store(url: str, home: Path) -> OnlineStore:
    """The online store for a settings URL: ``sqlite`` (under ``home``), ``sqlite:///path`` or ``redis://``.

    Raises:
        ValidationError: for any other URL.
    """
    if url == "sqlite":
        from forgeml.features._online_sqlite import SqliteOnlineStore

        return SqliteOnlineStore(home / "features" / "online.db")
    if url.startswith("sqlite:///"):
        from forgeml.features._online_sqlite import SqliteOnlineStore

        return SqliteOnlineStore(Path(url[len("sqlite:///") :]))
    if url.startswith(("redis://", "rediss://", "unix://")):
        from forgeml.features._online_redis import RedisOnlineStore

        digest = hashlib.sha1(str(home).encode()).hexdigest()[:10]
        return RedisOnlineStore(url, prefix=f"forgeml:{digest}:")
    raise ValidationError(f"unknown online_store_url {url!r} (expected 'sqlite' or a redis:// URL)")
