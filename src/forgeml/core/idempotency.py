"""Idempotency keys: a retried write gets the first answer and writes nothing again.

A request carrying a key (HTTP ``Idempotency-Key``, after the IETF httpapi draft; SDK
``idempotency_key=``; CLI ``--idempotency-key``) first *claims* it: a row in the metadata store
holding the operation, a fingerprint of the request (its parameters and a digest of its body) and
the claiming process. The write then completes the claim with the answer it gives:

* writes to the metadata store (dataset versions, the record buffer) complete it **in the same
  transaction** (:meth:`Claim.complete_in`), so a crash leaves either the write and its answer or
  neither;
* other writes (the feature store's offline files and online store) complete it right after
  (:meth:`Claim.complete`); they are idempotent themselves (a fixed batch id, newest-event-time
  wins), so a retry that takes over an abandoned claim writes nothing twice.

A request that finds the key completed with the same fingerprint gets the stored answer; with a
different fingerprint, :class:`~forgeml.errors.IdempotencyKeyReusedError` (422). A request that
finds it claimed by a live request waits up to ``idempotency_wait_seconds`` for that answer, then
gets a :class:`~forgeml.errors.ConflictError` (409). A claim whose process died (or that is older
than ``idempotency_lease_seconds`` when its process cannot be checked) is taken over. Keys are
forgotten ``idempotency_ttl_seconds`` after they were completed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from forgeml.errors import ConflictError, IdempotencyKeyReusedError, ValidationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from forgeml.core.workspace import Workspace

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"

_meta = sa.MetaData()
keys = sa.Table(
    "idempotency_keys",
    _meta,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("operation", sa.String(64), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("response", sa.JSON),
    sa.Column("resource", sa.String(512)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("claimed_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)


@dataclass
class IdempotencyKey:
    """A caller's key; after the call, ``replayed`` says whether the answer was a stored one."""

    key: str
    replayed: bool = False


def as_key(value: str | IdempotencyKey | None) -> IdempotencyKey | None:
    """A checked :class:`IdempotencyKey` (None stays None).

    Raises:
        ValidationError: empty, longer than 255 characters, or not printable ASCII.
    """
    key = value if value is None or isinstance(value, IdempotencyKey) else IdempotencyKey(value)
    if key is not None and not (1 <= len(key.key) <= 255 and all(33 <= ord(c) <= 126 for c in key.key)):
        raise ValidationError(f"invalid idempotency key {key.key[:40]!r}: 1-255 printable ASCII characters without spaces")
    return key


def parse_header(value: str | None) -> IdempotencyKey | None:
    """The ``Idempotency-Key`` header: a structured-field string (``"abc"``) or a bare token.

    Raises:
        ValidationError: a malformed value.
    """
    if value is None:
        return None
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return as_key(text)


def fingerprint(operation: str, params: dict[str, Any], body: bytes | str = b"") -> str:
    """sha256 of an operation's parameters (canonical JSON) and its body."""
    h = hashlib.sha256(operation.encode() + b"\0")
    h.update(json.dumps(params, sort_keys=True, default=str).encode() + b"\0")
    h.update(body.encode() if isinstance(body, str) else body)
    return h.hexdigest()


@dataclass(frozen=True)
class Replay:
    """The stored answer of a completed request."""

    body: Any
    resource: str | None


@dataclass(frozen=True)
class Claim:
    """This request's hold on a key; complete it with the answer, or release it on failure."""

    service: IdempotencyService
    key: str
    owner: str

    def complete_in(self, conn: Connection, body: Any, resource: str | None = None) -> None:
        """Store the answer inside the write's own transaction.

        Raises:
            ConflictError: a retry took the claim over (the transaction must roll back).
        """
        now = time.time()
        done = conn.execute(
            keys.update()
            .where(keys.c.key == self.key, keys.c.owner == self.owner, keys.c.state == "pending")
            .values(state="done", response=body, resource=resource, expires_at=now + self.service.ttl)
        ).rowcount
        if done != 1:
            raise ConflictError(f"idempotency key {self.key!r} was taken over by another request while this one ran")

    def complete(self, body: Any, resource: str | None = None) -> None:
        """Store the answer in a transaction of its own (for writes outside the metadata store)."""
        with self.service.ws.metadata.transaction() as conn:  # type: ignore[attr-defined]
            self.complete_in(conn, body, resource)

    def update(self, body: Any) -> None:
        """Replace the stored answer (an append that then flushed says so on replay too)."""
        with self.service.ws.metadata.transaction() as conn:  # type: ignore[attr-defined]
            conn.execute(keys.update().where(keys.c.key == self.key, keys.c.owner == self.owner).values(response=body))

    def release(self) -> None:
        """Forget an uncompleted claim (the request failed; a retry runs it afresh)."""
        with self.service.ws.metadata.transaction() as conn:  # type: ignore[attr-defined]
            conn.execute(keys.delete().where(keys.c.key == self.key, keys.c.owner == self.owner, keys.c.state == "pending"))


def _owner_alive(owner: str) -> bool | None:
    """Whether the process named in ``owner`` lives (None when it is on another host)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class IdempotencyService:
    """Claims, answers and replays of idempotency keys (``ws.idempotency``)."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        s = workspace.settings
        self.ttl = float(s.idempotency_ttl_seconds)
        self.wait = float(s.idempotency_wait_seconds)
        self.lease = float(s.idempotency_lease_seconds)

    def begin(self, key: IdempotencyKey, operation: str, fingerprint: str) -> Claim | Replay:
        """Claim ``key`` for this request, or return the answer stored for it.

        Raises:
            IdempotencyKeyReusedError: the key was used for a different request.
            ConflictError: another request holding the key is still running after the wait.
        """
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        deadline = time.monotonic() + self.wait
        while True:
            try:
                found = self._try(key.key, operation, fingerprint, owner)
            except sa.exc.IntegrityError:  # PostgreSQL: another request inserted it first
                found = None
            if isinstance(found, Replay):
                key.replayed = True
                return found
            if isinstance(found, Claim):
                return found
            if time.monotonic() >= deadline:
                raise ConflictError(f"a request with idempotency key {key.key!r} is still in progress; retry later")
            time.sleep(random.uniform(0.02, 0.1))

    def _try(self, key: str, operation: str, fp: str, owner: str) -> Claim | Replay | None:
        now = time.time()
        with self.ws.metadata.transaction() as conn:  # type: ignore[attr-defined]
            conn.execute(keys.delete().where(keys.c.expires_at < now, keys.c.state == "done"))
            row = conn.execute(sa.select(keys).where(keys.c.key == key)).first()
            if row is None:
                conn.execute(keys.insert().values(
                    key=key, operation=operation, fingerprint=fp, state="pending", owner=owner,
                    created_at=now, claimed_at=now, expires_at=now + self.ttl + self.lease,
                ))  # fmt: skip
                return Claim(self, key, owner)
            m = row._mapping
            if m["operation"] != operation or m["fingerprint"] != fp:
                raise IdempotencyKeyReusedError(
                    f"idempotency key {key!r} was already used for a different request ({m['operation']}); "
                    "use a new key for a new request"
                )
            if m["state"] == "done":
                return Replay(m["response"], m["resource"])
            alive = _owner_alive(m["owner"])
            if alive is False or (alive is None and m["claimed_at"] + self.lease < now):
                conn.execute(keys.update().where(keys.c.key == key, keys.c.owner == m["owner"]).values(owner=owner, claimed_at=now))
                return Claim(self, key, owner)
        return None

    def run(self, key: IdempotencyKey | None, operation: str, fp: str, write: Callable[[str | None], Any]) -> Any:
        """Run a write outside the metadata store under ``key``; return its answer (or the stored one).

        ``write(batch_id)`` gets a batch id fixed by the key (None without a key), so a retry that
        takes over a claim whose process died writes the same batch, which the store ignores.
        """
        if key is None:
            return write(None)
        found = self.begin(key, operation, fp)
        if isinstance(found, Replay):
            return found.body
        try:
            body = write("idem-" + hashlib.sha256(key.key.encode()).hexdigest()[:24])
            found.complete(body)
        except BaseException:
            found.release()
            raise
        return body

    def forget(self, key: str) -> None:
        """Drop a key now (its next use is a new request)."""
        with self.ws.metadata.transaction() as conn:  # type: ignore[attr-defined]
            conn.execute(keys.delete().where(keys.c.key == key))


def parse_ref(ref: str) -> tuple[str, str, int]:
    """``kind/name:version`` as its parts."""
    kind, _, rest = ref.partition("/")
    name, _, version = rest.rpartition(":")
    return kind, name, int(version)


__all__ = [
    "HEADER", "REPLAY_HEADER", "Claim", "IdempotencyKey", "IdempotencyService", "Replay", "as_key",
    "fingerprint", "parse_header", "parse_ref",
]  # fmt: skip
