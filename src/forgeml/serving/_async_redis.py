"""The team-mode async queue on Redis: a sorted set of pending ids per endpoint, scored by when
each is visible, and a hash per request. Put, claim and complete are Lua scripts, so each is one
atomic step however many dispatchers (on however many machines) share the server.

Keys (under ``prefix``): ``<endpoint>:ready`` (sorted set: pending id -> visible-at),
``<endpoint>:r:<id>`` (hash: ``m`` the request's fields as JSON, ``b`` the body, ``s`` state,
``a`` attempts, ``t`` invocation timeout, ``f`` finished-at, ``e`` failure reason) and
``<endpoint>:ids`` (every id, for ``drop``) and ``<endpoint>:unnotified`` (completed ids whose
outcome is not announced yet). Per-request visibility deadlines are why this is a
sorted set rather than a stream: ``XAUTOCLAIM`` takes one idle time for every entry.
"""

from __future__ import annotations

from typing import Any

import orjson

from forgeml.errors import AlreadyExistsError, BackendUnavailableError, ConflictError, NotFoundError
from forgeml.serving._async_queue import AsyncQueue, AsyncRequest, State

_PUT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[2], 'm', ARGV[2], 's', 'Queued', 'a', '0', 't', ARGV[4])
if ARGV[5] == '1' then redis.call('HSET', KEYS[2], 'b', ARGV[6]) end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[7])
redis.call('SADD', KEYS[3], ARGV[7])
return 1
"""
_CLAIM = """
local hit = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #hit == 0 then return false end
local key = ARGV[2] .. hit[1]
local timeout = tonumber(redis.call('HGET', key, 't'))
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + timeout + math.min(timeout, tonumber(ARGV[3])), hit[1])
redis.call('HINCRBY', key, 'a', 1)
redis.call('HSET', key, 's', 'InProgress')
return hit[1]
"""
_COMPLETE = """
local s = redis.call('HGET', KEYS[2], 's')
if not s then return -1 end
if s == 'Completed' or s == 'Failed' then return 0 end
redis.call('HSET', KEYS[2], 's', ARGV[1], 'f', ARGV[2], 'e', ARGV[3])
redis.call('HDEL', KEYS[2], 'b')
redis.call('ZREM', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[3], ARGV[4])
return 1
"""


class RedisQueue(AsyncQueue):
    """:class:`AsyncQueue` on a Redis server (``redis://host:port/db``)."""

    def __init__(self, url: str, *, prefix: str = "forgeml:async:") -> None:
        import redis

        self.prefix = prefix
        self._redis = redis.Redis.from_url(url)
        self._put = self._redis.register_script(_PUT)
        self._claim = self._redis.register_script(_CLAIM)
        self._complete = self._redis.register_script(_COMPLETE)
        self._errors: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)

    def _keys(self, endpoint: str) -> tuple[str, str, str]:
        base = f"{self.prefix}{endpoint}:"
        return base + "ready", base + "r:", base + "ids"

    def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except self._errors as exc:
            raise BackendUnavailableError(f"the Redis async queue cannot be reached: {exc}") from None

    def put(self, request: AsyncRequest, *, max_size: int) -> None:
        ready, rkey, ids = self._keys(request.endpoint)
        meta = {k: v for k, v in request.meta().items() if k not in ("state", "attempts", "finished_at", "failure_reason")}
        args = [max_size, orjson.dumps(meta), repr(request.enqueued_at), repr(request.invocation_timeout),
                "1" if request.body is not None else "0", request.body or b"", request.inference_id]  # fmt: skip
        result = int(self._call(self._put, [ready, rkey + request.inference_id, ids], args))
        if result == 0:
            raise AlreadyExistsError(f"endpoint {request.endpoint!r} already has a request with InferenceId {request.inference_id!r}")
        if result == -1:
            raise ConflictError(f"the async queue of endpoint {request.endpoint!r} is full ({max_size} requests waiting); retry later")

    def claim(self, endpoint: str, now: float) -> AsyncRequest | None:
        ready, rkey, _ = self._keys(endpoint)
        hit = self._call(self._claim, [ready], [repr(now), rkey, repr(self.grace)])
        return None if hit is None else self.get(endpoint, bytes(hit).decode())

    def complete(self, endpoint: str, inference_id: str, state: State, now: float, reason: str | None = None) -> bool:
        ready, rkey, _ = self._keys(endpoint)
        keys = [ready, rkey + inference_id, f"{self.prefix}{endpoint}:unnotified"]
        result = int(self._call(self._complete, keys, [state, repr(now), reason or "", inference_id]))
        if result == -1:
            raise NotFoundError(f"endpoint {endpoint!r} has no async request {inference_id!r}")
        return result == 1

    def unnotified(self, endpoint: str) -> list[AsyncRequest]:
        try:
            members = self._redis.smembers(f"{self.prefix}{endpoint}:unnotified")
        except self._errors as exc:
            raise BackendUnavailableError(f"the Redis async queue cannot be reached: {exc}") from None
        out = []
        for m in members:  # type: ignore[union-attr]
            try:
                out.append(self.get(endpoint, m.decode() if isinstance(m, bytes) else str(m)))
            except NotFoundError:
                continue
        return out

    def mark_notified(self, endpoint: str, inference_id: str) -> None:
        try:
            self._redis.srem(f"{self.prefix}{endpoint}:unnotified", inference_id)
        except self._errors as exc:
            raise BackendUnavailableError(f"the Redis async queue cannot be reached: {exc}") from None

    def get(self, endpoint: str, inference_id: str) -> AsyncRequest:
        _, rkey, _ = self._keys(endpoint)
        try:
            h: dict[bytes, bytes] = self._redis.hgetall(rkey + inference_id)  # type: ignore[assignment]
        except self._errors as exc:
            raise BackendUnavailableError(f"the Redis async queue cannot be reached: {exc}") from None
        if not h:
            raise NotFoundError(f"endpoint {endpoint!r} has no async request {inference_id!r}")
        meta = orjson.loads(h[b"m"])
        meta.update(state=h[b"s"].decode(), attempts=int(h[b"a"]))
        if h.get(b"f"):
            meta.update(finished_at=float(h[b"f"]), failure_reason=h[b"e"].decode() or None)
        return AsyncRequest.from_meta(meta, h.get(b"b"))

    def depth(self, endpoint: str) -> int:
        try:
            return int(self._redis.zcard(self._keys(endpoint)[0]))
        except self._errors as exc:
            raise BackendUnavailableError(f"the Redis async queue cannot be reached: {exc}") from None

    def drop(self, endpoint: str) -> int:
        ready, rkey, ids = self._keys(endpoint)
        members = [m.decode() if isinstance(m, bytes) else str(m) for m in self._redis.smembers(ids)]
        pipe = self._redis.pipeline()
        for inference_id in members:
            pipe.delete(rkey + inference_id)
        pipe.delete(ready, ids, f"{self.prefix}{endpoint}:unnotified")
        pipe.execute()
        return len(members)

    def close(self) -> None:
        self._redis.close()


__all__ = ["RedisQueue"]
