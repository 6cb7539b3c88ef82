"""Redis online store (team mode): one hash per record, batches applied by one Lua script.

Keys: ``<prefix>fg:<group>:r:<record id>`` hashes with fields ``t`` (event time, µs), ``x``
(expiry, µs, empty for none), ``d`` (``1`` for a tombstone) and ``v`` (the record as JSON), and
``<prefix>fg:<group>:ids``, a set of the record ids. A batch is one ``EVALSHA``: Redis runs a
script atomically, so a batch is applied entirely or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from forgeml.errors import BackendUnavailableError
from forgeml.features._online import OnlineOp, OnlineRecord, OnlineStore, check_ops

_APPLY = """
local base, ids = KEYS[1], KEYS[2]
local changed = 0
for i = 1, #ARGV, 5 do
  local kind, rid, t, x, v = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
  local key = base .. rid
  local cur = redis.call('HGET', key, 't')
  local curt = cur and tonumber(cur)
  if kind == 'put' or kind == 'sync' then
    if (not curt) or t > curt or (kind == 'sync' and t == curt) then
      redis.call('HSET', key, 't', ARGV[i + 2], 'x', x, 'd', '0', 'v', v)
      redis.call('SADD', ids, rid)
      changed = changed + 1
    end
  elseif kind == 'soft_delete' then
    if (not curt) or t > curt then
      redis.call('HSET', key, 't', ARGV[i + 2], 'x', '', 'd', '1', 'v', '')
      redis.call('SADD', ids, rid)
      changed = changed + 1
    end
  elseif kind == 'hard_delete' then
    if curt and t > curt then
      redis.call('DEL', key)
      redis.call('SREM', ids, rid)
      changed = changed + 1
    end
  end
end
return changed
"""

_PURGE = """
local base, ids = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
local removed = 0
for _, rid in ipairs(redis.call('SMEMBERS', ids)) do
  local key = base .. rid
  local vals = redis.call('HMGET', key, 'x', 'd')
  if vals[1] and vals[1] ~= '' and vals[2] == '0' and tonumber(vals[1]) <= now then
    redis.call('DEL', key)
    redis.call('SREM', ids, rid)
    removed = removed + 1
  end
end
return removed
"""

_FIELDS = ("t", "x", "d", "v")
_CHUNK = 2000


def _record(rid: str, vals: list[Any]) -> OnlineRecord | None:
    t, x, d, v = vals
    if t is None:
        return None
    return OnlineRecord(rid, int(t), int(x) if x else None, d == "1", v or None)


class RedisOnlineStore(OnlineStore):
    """Online store in Redis, under a key prefix (so many workspaces can share a server)."""

    def __init__(self, url: str, prefix: str = "forgeml:") -> None:
        import redis

        self.prefix = prefix
        try:
            self._client = redis.Redis.from_url(url, decode_responses=True)
            self._client.ping()
        except redis.RedisError as exc:
            raise BackendUnavailableError(f"online store {url}: {exc}") from None
        self._apply = self._client.register_script(_APPLY)
        self._purge = self._client.register_script(_PURGE)

    def _keys(self, group: str) -> tuple[str, str]:
        return f"{self.prefix}fg:{group}:r:", f"{self.prefix}fg:{group}:ids"

    def apply(self, group: str, ops: Sequence[OnlineOp]) -> int:
        check_ops(ops)
        args: list[str] = []
        for op in ops:
            expires = "" if op.expires_at_us is None else str(op.expires_at_us)
            args += [op.kind, op.record_id, str(op.event_time_us), expires, op.payload or ""]
        if not args:
            return 0
        return int(self._apply(keys=list(self._keys(group)), args=args))

    def get(self, group: str, record_id: str) -> OnlineRecord | None:
        base, _ = self._keys(group)
        return _record(record_id, self._client.hmget(base + record_id, _FIELDS))

    def get_many(self, group: str, record_ids: Sequence[str]) -> list[OnlineRecord | None]:
        base, _ = self._keys(group)
        out: list[OnlineRecord | None] = []
        for start in range(0, len(record_ids), _CHUNK):
            chunk = record_ids[start : start + _CHUNK]
            pipe = self._client.pipeline(transaction=False)
            for rid in chunk:
                pipe.hmget(base + rid, _FIELDS)
            out += [_record(rid, vals) for rid, vals in zip(chunk, pipe.execute(), strict=True)]
        return out

    def scan(self, group: str) -> Iterator[OnlineRecord]:
        _, ids = self._keys(group)
        members = sorted(str(m) for m in self._client.smembers(ids))
        for record in self.get_many(group, members):
            if record is not None:
                yield record

    def drop_group(self, group: str) -> int:
        base, ids = self._keys(group)
        members = [str(m) for m in self._client.smembers(ids)]
        for start in range(0, len(members), _CHUNK):
            self._client.delete(*(base + rid for rid in members[start : start + _CHUNK]))
        self._client.delete(ids)
        return len(members)

    def purge_expired(self, group: str, now_us: int) -> int:
        return int(self._purge(keys=list(self._keys(group)), args=[now_us]))

    def close(self) -> None:
        self._client.close()
