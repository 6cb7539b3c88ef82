"""Stream consumers: Redis Streams and NATS JetStream into dataset versions (the Kinesis role).

A consumer reads messages in micro-batches (up to ``batch_size`` messages, waiting at most
``max_wait`` seconds for them), writes each batch as one appended version, and only then
acknowledges the messages. The version records the stream position of its last message; on a
restart, messages at or before that position (delivered again because the ack was lost) are
skipped, so every message lands once. A message whose payload is not a JSON object is
quarantined to ``<name>-quarantine`` with its message id; it is acknowledged like the rest.

Payloads: a JSON object (NATS message data; or the ``data`` field of a Redis entry). A Redis
entry without a ``data`` field is taken as the record itself, every value a string (the
dataset's schema casts them, e.g. ``"12"`` to int64).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forgeml.data._buffer import fit_schema, records_to_table
from forgeml.data._ingest import redact
from forgeml.errors import BackendUnavailableError, NotFoundError, ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

    from forgeml.core.jobs import JobContext
    from forgeml.core.records import ResourceRecord
    from forgeml.data._datasets import DatasetService


@dataclass(frozen=True)
class Message:
    """One stream message: its id, a sortable position, and its payload."""

    id: str
    position: tuple[int, ...]
    payload: Any
    handle: Any = None


class StreamSource(abc.ABC):
    """Where a consumer reads from. Implementations: :class:`RedisSource`, :class:`NatsSource`."""

    kind: str

    @abc.abstractmethod
    def describe(self) -> str:
        """A stable, password-free name of the stream (recorded in versions)."""

    @abc.abstractmethod
    def read(self, count: int, wait_seconds: float) -> list[Message]:
        """Up to ``count`` messages, waiting at most ``wait_seconds`` for the first."""

    @abc.abstractmethod
    def ack(self, messages: list[Message]) -> None:
        """Acknowledge processed messages."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""


class RedisSource(StreamSource):
    """A Redis stream read through a consumer group (created at the stream's start if missing)."""

    kind = "redis"

    def __init__(self, url: str, stream: str, *, group: str = "forgeml", consumer: str = "forgeml-1") -> None:
        import redis

        self.url, self.stream, self.group, self.consumer = url, stream, group, consumer
        self.client = redis.Redis.from_url(url, socket_connect_timeout=5)
        try:
            self.client.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise ValidationError(f"redis stream {stream!r}: {exc}") from None
        except redis.ConnectionError as exc:
            raise BackendUnavailableError(f"redis at {redact(url)} is unreachable: {exc}") from None
        self._pending_first = True

    def describe(self) -> str:
        return f"{redact(self.url)}#{self.stream}/{self.group}"

    def read(self, count: int, wait_seconds: float) -> list[Message]:
        import redis

        try:
            # first re-read our own pending (delivered, never acked) entries, then new ones
            start = "0" if self._pending_first else ">"
            reply = self.client.xreadgroup(self.group, self.consumer, {self.stream: start}, count=count,
                                           block=None if start == "0" else max(1, int(wait_seconds * 1000)))  # fmt: skip
        except redis.ConnectionError as exc:
            raise BackendUnavailableError(f"redis at {redact(self.url)} is unreachable: {exc}") from None
        entries = reply[0][1] if reply else []
        if self._pending_first and not entries:
            self._pending_first = False
            return self.read(count, wait_seconds)
        out = []
        for raw_id, fields in entries:
            mid = raw_id.decode()
            fields = {k.decode(): v.decode("utf-8", "replace") for k, v in (fields or {}).items()}
            payload: Any = fields["data"] if set(fields) == {"data"} else fields
            ms, _, seq = mid.partition("-")
            out.append(Message(mid, (int(ms), int(seq or 0)), payload))
        return out

    def ack(self, messages: list[Message]) -> None:
        if messages:
            self.client.xack(self.stream, self.group, *[m.id for m in messages])

    def close(self) -> None:
        self.client.close()


class NatsSource(StreamSource):
    """A NATS JetStream stream read through a durable pull consumer."""

    kind = "nats"

    def __init__(self, url: str, subject: str, *, stream: str | None = None, durable: str = "forgeml") -> None:
        import asyncio

        self.url, self.subject, self.stream, self.durable = url, subject, stream, durable
        self.loop = asyncio.new_event_loop()
        self.nc: Any = None
        try:
            self.sub = self.loop.run_until_complete(self._connect())
        except BaseException:
            self.close()
            raise

    async def _connect(self) -> Any:
        import asyncio
        import socket
        import urllib.parse

        import nats
        from nats.js.errors import NotFoundError as JsNotFound

        where = urllib.parse.urlsplit(self.url)
        try:  # nats-py retries an initial connect for ever; probe the port first
            socket.create_connection((where.hostname or "127.0.0.1", where.port or 4222), timeout=5).close()
        except OSError as exc:
            raise BackendUnavailableError(f"NATS at {redact(self.url)} is unreachable: {exc}") from None

        async def quiet(_exc: Exception) -> None:
            return None

        try:
            self.nc = await asyncio.wait_for(
                nats.connect(self.url, connect_timeout=5, allow_reconnect=False, error_cb=quiet), timeout=10
            )
        except Exception as exc:
            raise BackendUnavailableError(f"NATS at {redact(self.url)} is unreachable: {exc}") from None
        js = self.nc.jetstream()
        try:
            return await js.pull_subscribe(self.subject, durable=self.durable, stream=self.stream)
        except JsNotFound:
            raise NotFoundError(f"no JetStream stream holds subject {self.subject!r} at {redact(self.url)}") from None

    def describe(self) -> str:
        return f"{redact(self.url)}#{self.stream or ''}:{self.subject}/{self.durable}"

    def read(self, count: int, wait_seconds: float) -> list[Message]:

        import nats.errors

        try:
            msgs = self.loop.run_until_complete(self.sub.fetch(count, timeout=max(0.05, wait_seconds)))
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        out = []
        for m in msgs:
            seq = m.metadata.sequence.stream
            out.append(Message(str(seq), (seq,), m.data.decode("utf-8", "replace"), handle=m))
        return out

    def ack(self, messages: list[Message]) -> None:
        async def _ack() -> None:
            for m in messages:
                await m.handle.ack_sync()

        if messages:
            self.loop.run_until_complete(_ack())

    def close(self) -> None:
        if self.nc is not None:
            self.loop.run_until_complete(self.nc.close())
            self.nc = None
        self.loop.close()


def _parse(message: Message, source: str) -> tuple[str | None, dict[str, Any] | None]:
    """(JSON line, None) for a good message, (None, quarantine row) for a bad one."""
    payload = message.payload
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            return None, {"source": f"{source}@{message.id}", "line": None, "error": f"invalid JSON: {exc.msg}", "raw": raw}
    if not isinstance(payload, dict) or not payload:
        return None, {"source": f"{source}@{message.id}", "line": None, "error": "expected a non-empty JSON object", "raw": raw}
    return json.dumps(payload, separators=(",", ":")), None


def _table_of(
    datasets: DatasetService, name: str, latest: ResourceRecord | None, lines: list[str],
    messages: list[Message], where: str, bad: list[dict[str, Any] | None],
) -> pa.Table | None:
    """The batch as a table in the dataset's schema; messages that do not fit are quarantined."""
    schema = datasets.arrow_schema(latest) if latest is not None else None

    def build(chunk: list[str]) -> pa.Table:
        table = records_to_table(chunk, where)
        return fit_schema(table, schema, dataset=name, where=f"messages from {where}") if schema is not None else table

    if not lines:
        return None
    try:
        return build(lines)
    except ValidationError:
        pass
    good = []
    for line, m in zip(lines, messages, strict=True):
        try:
            build([line])
            good.append(line)
        except ValidationError as exc:
            bad.append({"source": f"{where}@{m.id}", "line": None, "error": exc.message, "raw": line})
    return build(good) if good else None


def consume(
    datasets: DatasetService,
    source: StreamSource,
    name: str,
    *,
    batch_size: int = 500,
    max_wait: float = 1.0,
    max_batches: int | None = None,
    idle_batches: int | None = 1,
    on_version: Callable[[ResourceRecord], None] | None = None,
) -> list[ResourceRecord]:
    """Read ``source`` into ``name`` batch by batch; return the versions written.

    Stops after ``max_batches`` versions, or after ``idle_batches`` reads in a row found nothing
    (``None`` keeps waiting for ever: run it as a job and stop the job). ``on_version`` is
    called with each version written.
    """
    if batch_size < 1:
        raise ValidationError("batch_size must be >= 1")
    where = source.describe()
    written: list[ResourceRecord] = []
    idle = 0
    while max_batches is None or len(written) < max_batches:
        messages = source.read(batch_size, max_wait)
        if not messages:
            idle += 1
            if idle_batches is not None and idle >= idle_batches:
                break
            continue
        idle = 0
        latest = datasets._latest(name)
        state = (latest.data.get("stream") or {}) if latest is not None else {}
        done = tuple(state["position"]) if state.get("source") == where and state.get("position") else None
        fresh = [m for m in messages if done is None or m.position > done]
        lines, bad = [], []
        for m in fresh:
            line, row = _parse(m, where)
            lines.append(line) if line is not None else bad.append(row)
        table = _table_of(datasets, name, latest, lines, [m for m in fresh if _parse(m, where)[0] is not None], where, bad)
        if table is not None:
            written.append(datasets.commit(
                name, table, mode="append" if latest is not None else "replace",
                spec={"source": where, "description": f"consumed from {source.kind}"},
                data={"stream": {"kind": source.kind, "source": where, "position": list(fresh[-1].position),
                                 "first_id": fresh[0].id, "last_id": fresh[-1].id, "messages": len(fresh),
                                 "quarantined": len(bad)}},
                quarantine=[r for r in bad if r is not None],
            ))  # fmt: skip
            if on_version is not None:
                on_version(written[-1])
        elif bad:
            datasets._quarantine(name, [r for r in bad if r is not None])
        source.ack(messages)
    return written


def open_source(url: str, stream: str, *, group: str = "forgeml", durable: str = "forgeml", jetstream: str | None = None) -> StreamSource:
    """A Redis (``redis://``) or NATS JetStream (``nats://``) source.

    Raises:
        ValidationError: any other URL scheme.
    """
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisSource(url, stream, group=group)
    if url.startswith(("nats://", "tls://")):
        return NatsSource(url, stream, stream=jetstream, durable=durable)
    raise ValidationError(f"cannot consume {redact(url)!r}: use a redis:// or nats:// URL")


def consume_job(ctx: JobContext) -> None:
    """Job entry point: consume until the job is stopped (``forgeml data consume --background``)."""
    cfg = ctx.config
    source = open_source(cfg["url"], cfg["stream"], group=cfg.get("group", "forgeml"),
                         durable=cfg.get("durable", "forgeml"), jetstream=cfg.get("jetstream"))  # fmt: skip
    ctx.log(f"consuming {source.describe()} into dataset {cfg['name']}")

    def written(record: ResourceRecord) -> None:
        ctx.add_output(record.ref)
        ctx.log_metric("messages", record.data["stream"]["messages"], record.version)
        ctx.log(f"{record.ref}: {record.data['stream']['messages']} message(s), {record.data['rows']} rows in all")

    try:
        consume(ctx.workspace.datasets, source, cfg["name"], batch_size=int(cfg.get("batch_size", 500)),
                max_wait=float(cfg.get("max_wait", 1.0)), max_batches=cfg.get("max_batches"), idle_batches=None,
                on_version=written)  # fmt: skip
    finally:
        source.close()


__all__ = ["Message", "NatsSource", "RedisSource", "StreamSource", "consume", "consume_job", "open_source"]
