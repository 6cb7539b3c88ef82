"""The durable queue behind asynchronous endpoints: one interface, SQLite and Redis backends.

A request is put once and stays until its endpoint is deleted. ``claim`` hands the oldest visible
request to one worker and hides it for its invocation timeout plus a grace (its visibility deadline); a worker that dies (``kill -9``) leaves it in flight, and once the deadline passes the
next ``claim`` hands it out again (redelivery). ``complete`` is idempotent: the first call for a
request records its outcome and returns True, every later one (a slow worker finishing after a
redelivery) returns False, so exactly one answer is notified per request. A completed request
stays *unnotified* until :meth:`mark_notified`: a dispatcher killed between recording the outcome
and announcing it leaves it in :meth:`unnotified`, and the next dispatcher announces it (the
outbox pattern). Both backends pass :mod:`forgeml.testing.queue_contract`.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    from forgeml.settings import Settings

State = Literal["Queued", "InProgress", "Completed", "Failed"]
PENDING: tuple[State, ...] = ("Queued", "InProgress")
DONE: tuple[State, ...] = ("Completed", "Failed")
VISIBILITY_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class AsyncRequest:
    """One queued invocation (immutable; the queue hands out fresh copies).

    Attributes:
        endpoint / inference_id: the request's key (``InferenceId`` is unique per endpoint).
        body: the inline payload, or None when ``input_location`` names where it is read from.
        output_location / failure_location: where the answer or the error is written.
        enqueued_at / expires_at: epoch seconds; past ``expires_at`` (``RequestTTLSeconds``) the
            request fails as expired instead of running.
        invocation_timeout: ``InvocationTimeoutSeconds``: the longest one attempt may take.
        attempts: how many times it was claimed.
    """

    endpoint: str
    inference_id: str
    output_location: str
    failure_location: str
    enqueued_at: float
    expires_at: float
    invocation_timeout: float
    content_type: str = "application/json"
    accept: str | None = None
    custom_attributes: str | None = None
    input_location: str | None = None
    body: bytes | None = None
    state: State = "Queued"
    attempts: int = 0
    finished_at: float | None = None
    failure_reason: str | None = None

    def meta(self) -> dict[str, Any]:
        """Every field but the body, as JSON-ready values."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "body"}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], body: bytes | None) -> AsyncRequest:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in meta.items() if k in names and k != "body"}, body=body)


class AsyncQueue(ABC):
    """Durable per-endpoint request queue with visibility timeouts and idempotent completion."""

    grace: float = VISIBILITY_GRACE_SECONDS

    def visibility(self, invocation_timeout: float) -> float:
        """How long a claimed request stays hidden: its timeout plus a grace of the same length,
        at most ``grace`` (an answer that is late by a little is still taken)."""
        return invocation_timeout + min(invocation_timeout, self.grace)

    @abstractmethod
    def put(self, request: AsyncRequest, *, max_size: int) -> None:
        """Queue ``request`` (state Queued, visible now).

        Raises:
            AlreadyExistsError: the endpoint has a request with this InferenceId.
            ConflictError: ``max_size`` requests of the endpoint are pending (the queue is full).
        """

    @abstractmethod
    def claim(self, endpoint: str, now: float) -> AsyncRequest | None:
        """The oldest visible pending request, now InProgress and hidden for
        :meth:`visibility`, its ``attempts`` counted; None when none is visible."""

    @abstractmethod
    def complete(self, endpoint: str, inference_id: str, state: State, now: float, reason: str | None = None) -> bool:
        """Record the outcome (Completed or Failed); True only for the call that did.

        Raises:
            NotFoundError: no such request.
        """

    @abstractmethod
    def unnotified(self, endpoint: str) -> list[AsyncRequest]:
        """Completed or failed requests whose outcome was not announced yet (see :meth:`mark_notified`)."""

    @abstractmethod
    def mark_notified(self, endpoint: str, inference_id: str) -> None:
        """Record that the request's outcome was announced (its event written, its webhook called)."""

    @abstractmethod
    def get(self, endpoint: str, inference_id: str) -> AsyncRequest:
        """The request with its current state.

        Raises:
            NotFoundError: no such request.
        """

    @abstractmethod
    def depth(self, endpoint: str) -> int:
        """Pending requests of the endpoint (queued or in flight): ``ApproximateBacklogSize``."""

    @abstractmethod
    def drop(self, endpoint: str) -> int:
        """Forget every request of the endpoint (it was deleted); how many there were."""

    def close(self) -> None:  # noqa: B027 - optional for a backend: most hold a connection
        """Release connections."""


def open_queue(settings: Settings) -> AsyncQueue:
    """The queue the settings name: ``sqlite`` (under ``home/async``), ``sqlite:///path`` or ``redis://``.

    Raises:
        ValidationError: an unknown ``queue_url``.
    """
    url = settings.queue_url
    if url == "sqlite" or url.startswith("sqlite:///"):
        from forgeml.serving._async_sqlite import SqliteQueue

        path = settings.resolved_home / "async" / "queue.db" if url == "sqlite" else url.removeprefix("sqlite:///")
        return SqliteQueue(path)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from forgeml.serving._async_redis import RedisQueue

        return RedisQueue(url)
    raise ValidationError(f"unknown queue_url {url!r} (FORGEML_QUEUE_URL; expected 'sqlite' or a redis:// URL)")


__all__ = ["DONE", "PENDING", "AsyncQueue", "AsyncRequest", "State", "open_queue"]
