"""Request limits: token buckets per principal (or source address) and a cap on body size.

The buckets live in the serving process's memory, one set per ``forgeml server`` process and
per endpoint worker: no metadata-store write sits on the request path, and a restart refills
every bucket. Each key (``principal:ana``, ``source:10.0.0.7``) has its own bucket of
``burst`` tokens refilled at ``rate`` per second; a request takes one token, and a request that
finds none is answered 429 with ``Retry-After`` (whole seconds until a token is back). One
client emptying its bucket leaves every other key's bucket as it was, so it cannot starve them.

Why not a library: ``pyrate-limiter`` (installed with the environment) answers only yes or no
to an acquire, while a 429 should say when to come back, which a token bucket knows exactly
(``(1 - tokens) / rate``); the whole bucket is twenty lines.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from forgeml.errors import PayloadTooLargeError, ThrottlingError

MAX_KEYS = 10_000  # buckets kept; the least recently used full one goes first


class RateLimiter:
    """Token buckets keyed by caller.

    Args:
        rate: tokens added per second to each bucket (``0``: no limit).
        burst: a bucket's size (at least 1; the most requests a caller may make at once).
        clock: seconds, monotonic (the tests pass their own).
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.burst = max(1, int(burst or math.ceil(rate) or 1))
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, when)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def wait(self, key: str) -> float:
        """Take a token for ``key``: 0.0 when one was there, else the seconds until one is."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            waited = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            if not waited:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
        return waited

    def check(self, key: str, what: str) -> None:
        """Take a token for ``key`` or raise.

        Raises:
            ThrottlingError: the bucket is empty (429, with the seconds to wait).
        """
        waited = self.wait(key)
        if waited:
            retry = math.ceil(waited)
            raise ThrottlingError(
                f"{what}: rate limit of {self.rate:g} requests/s (burst {self.burst}) exceeded; retry after {retry} s", retry
            )


class BodyLimit:
    """ASGI middleware: a 413 for any request body larger than ``limit`` bytes (``0``: none), and
    per-address rate limiting while security is off (with it on, the enforcer limits per
    principal once it knows who calls)."""

    def __init__(self, app: Any, limit: int, limiter: RateLimiter | None = None, secured: Callable[[], bool] = lambda: False) -> None:
        self.app = app
        self.limit = limit
        self.limiter = limiter
        self.secured = secured

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            if self.limiter is not None and self.limiter.enabled and not self.secured():
                source = scope["client"][0] if scope.get("client") else "unknown"
                self.limiter.check(f"source:{source}", f"requests from {source}")
            length = dict(scope["headers"]).get(b"content-length", b"")
            if self.limit and length.isdigit() and int(length) > self.limit:
                raise PayloadTooLargeError(f"request body of {int(length)} bytes exceeds the limit of {self.limit} bytes")
        except (ThrottlingError, PayloadTooLargeError) as exc:
            await _answer(send, exc)
            return
        if not self.limit:
            await self.app(scope, receive, send)
            return
        seen, over, answered, started = 0, False, False, False

        async def counted() -> Any:
            # past the cap the app sees the body end here; whatever it answers is replaced by the 413
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                over = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def sending(message: Any) -> None:
            nonlocal answered, started
            if not over or started:  # an answer begun before the cap was passed goes out as it is
                started = started or message["type"] == "http.response.start"
                await send(message)
            elif not answered:
                answered = True
                await _answer(send, PayloadTooLargeError(f"request body exceeds the limit of {self.limit} bytes"))

        await self.app(scope, counted, sending)
        if over and not answered:
            await _answer(send, PayloadTooLargeError(f"request body exceeds the limit of {self.limit} bytes"))


def retry_headers(exc: BaseException) -> dict[str, str]:
    """The ``Retry-After`` header of a 429, or nothing."""
    return {"Retry-After": str(exc.retry_after)} if isinstance(exc, ThrottlingError) else {}


async def _answer(send: Any, exc: ThrottlingError | PayloadTooLargeError) -> None:
    import orjson

    body = orjson.dumps({"error": exc.kind, "message": exc.message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in retry_headers(exc).items()]
    if isinstance(exc, PayloadTooLargeError):
        headers.append((b"connection", b"close"))  # the rest of the body is not read
    await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
