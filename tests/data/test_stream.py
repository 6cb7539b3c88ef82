"""Streaming ingestion: HTTP records (micro-batched), Redis Streams and NATS JetStream consumers."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest
import redis

from forgeml.core.workspace import Workspace
from forgeml.data import NatsSource, RedisSource
from forgeml.data._stream import Message, consume
from forgeml.errors import BackendUnavailableError, NotFoundError
from forgeml.testing.services import NATS_URL
from tests.data.conftest import free_port


def wait_for(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "condition not met in time"
        time.sleep(0.05)


# --- HTTP ------------------------------------------------------------------------------------
def test_http_records_flush_on_size_and_on_request(ws: Workspace, server: str) -> None:
    buf = ws.datasets.records()
    buf.max_records, buf.max_seconds = 3, 3600
    with httpx.Client(base_url=server) as http:
        r = http.post("/datasets/clicks/records", json=[{"user": 1, "page": "a"}, {"user": 2, "page": "b"}])
        assert r.status_code == 202 and r.json() == {"dataset": "clicks", "accepted": 2, "buffered": 2, "flushed": None}
        assert http.get("/datasets/clicks").status_code == 404
        r = http.post("/datasets/clicks/records", json={"records": [{"user": 3, "page": "c"}]})
        assert r.json()["flushed"] == "dataset/clicks:1"
        ndjson = b'{"user": 4}\n{"user": 5, "page": "e"}\n'
        r = http.post("/datasets/clicks/records", content=ndjson, headers={"content-type": "application/x-ndjson"})
        assert r.json()["buffered"] == 2
        r = http.post("/datasets/clicks/records/flush")
        assert r.json()["flushed"] == "dataset/clicks:2"
        head = http.get("/datasets/clicks/head", params={"n": 10}).json()
    assert [row["user"] for row in head["rows"]] == [1, 2, 3, 4, 5]
    assert [row["page"] for row in head["rows"]] == ["a", "b", "c", None, "e"]
    assert ws.datasets.get("clicks").data["mode"] == "append" and buf.pending("clicks") == 0


def test_http_records_flush_when_old(ws: Workspace, server: str) -> None:
    buf = ws.datasets.records()
    buf.max_records, buf.max_seconds = 1000, 0.3
    r = httpx.post(f"{server}/datasets/late/records", json=[{"x": 1.5}])
    assert r.json()["flushed"] is None
    wait_for(lambda: httpx.get(f"{server}/datasets/late").status_code == 200)
    assert ws.datasets.read("late")["x"].tolist() == [1.5]


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        ([1, 2], {}, 400, "record 0: expected a non-empty JSON object, got int"),
        ([], {}, 400, "send a non-empty JSON array"),
        ([{"n": "many"}], {}, 400, "column 'n' is int64; string values such as 'many'"),
        ([{"n": 1, "extra": 2}], {}, 400, "has column(s) extra"),
        (b"{not json", {"content-type": "application/json"}, 400, "not valid JSON"),
        (b"n=1", {"content-type": "text/plain"}, 415, "send application/json or application/x-ndjson"),
        ([{"n": 1}] * 10_001, {}, 413, "10001 records in one request"),
    ],
)
def test_http_bad_records_are_4xx_and_buffer_nothing(ws: Workspace, server: str, body, headers, status, message) -> None:  # type: ignore[no-untyped-def]
    ws.datasets.create("typed", pd.DataFrame({"n": [1]}))
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    r = httpx.post(f"{server}/datasets/typed/records", headers=headers, **kwargs)
    assert r.status_code == status and message in r.json()["message"]
    assert ws.datasets.records().pending("typed") == 0


def test_staging_files_left_by_an_older_forgeml_land_exactly_once(ws: Workspace) -> None:
    import pyarrow as pa

    buf = ws.datasets.records()
    ws.datasets.commit("crash", pa.table({"a": [1]}), data={"stream": {"kind": "http", "batch": "00000000000000000001-abcdef01"}})
    staging = ws.home / "staging" / "crash"
    staging.mkdir(parents=True)
    # a crash after the version was written but before the batch file was removed ...
    (staging / "batch-00000000000000000001-abcdef01.jsonl").write_text('{"a": 1}\n')
    # ... a crash after the buffer was renamed but before the version was written, and a buffer
    (staging / "batch-99999999999999999999-abcdef01.jsonl").write_text('{"a": 2}\n{"a": 3}\n')
    (staging / "buffer.jsonl").write_text('{"a": 4}\n')
    last = buf.flush("crash")
    assert last is not None and last.version == 2
    assert ws.datasets.read("crash")["a"].tolist() == [1, 2, 3, 4]
    assert not list(staging.glob("*.jsonl")) and buf.pending("crash") == 0
    buf.close()


# --- Redis Streams -----------------------------------------------------------------------------
@pytest.fixture
def redis_stream(redis_url: str) -> Iterator[tuple[str, redis.Redis]]:  # type: ignore[type-arg]
    client = redis.Redis.from_url(redis_url)
    key = f"forgeml-test:{uuid.uuid4().hex}"
    yield key, client
    client.delete(key)
    client.close()


def test_redis_stream_consumed_in_micro_batches(ws: Workspace, redis_url: str, redis_stream) -> None:  # type: ignore[no-untyped-def]
    key, client = redis_stream
    for i in range(5):
        client.xadd(key, {"data": json.dumps({"id": i, "amount": i * 2.5, "when": f"2024-01-0{i + 1}"})})
    bad_id = client.xadd(key, {"data": "{broken"}).decode()
    client.xadd(key, {"id": "6", "amount": "1.25", "when": "2024-02-01"})  # flat fields: strings, cast by the schema
    written = consume(ws.datasets, src := RedisSource(redis_url, key), "payments", batch_size=3, max_wait=0.2)
    src.close()
    assert [r.version for r in written] == [1, 2, 3]
    got = ws.datasets.read("payments")
    assert got["id"].tolist() == [0, 1, 2, 3, 4, 6] and got["amount"].tolist()[-1] == 1.25
    q = ws.datasets.read("payments-quarantine")
    assert q["source"].tolist() == [f"redis://127.0.0.1:6379/0#{key}/forgeml@{bad_id}"]
    assert q["raw"].tolist() == ["{broken"]
    assert client.xpending(key, "forgeml")["pending"] == 0
    assert written[-1].data["stream"]["last_id"] == client.xrevrange(key, count=1)[0][0].decode()


class _CrashBeforeAck(RedisSource):
    """The real source, but the process 'dies' between writing the version and acking."""

    def ack(self, messages: list[Message]) -> None:
        return None


def test_redis_redelivery_after_lost_ack_is_not_duplicated(ws: Workspace, redis_url: str, redis_stream) -> None:  # type: ignore[no-untyped-def]
    key, client = redis_stream
    for i in range(3):
        client.xadd(key, {"data": json.dumps({"id": i})})
    consume(ws.datasets, src := _CrashBeforeAck(redis_url, key), "once", batch_size=10, max_wait=0.2)
    src.close()
    assert client.xpending(key, "forgeml")["pending"] == 3
    client.xadd(key, {"data": json.dumps({"id": 3})})
    written = consume(ws.datasets, src := RedisSource(redis_url, key), "once", batch_size=10, max_wait=0.2)
    src.close()
    assert ws.datasets.read("once")["id"].tolist() == [0, 1, 2, 3]
    assert [r.version for r in written] == [2] and client.xpending(key, "forgeml")["pending"] == 0


def test_redis_message_contradicting_schema_is_quarantined(ws: Workspace, redis_url: str, redis_stream) -> None:  # type: ignore[no-untyped-def]
    key, client = redis_stream
    ws.datasets.create("typed", pd.DataFrame({"n": [1]}))
    for body in ({"n": 2}, {"n": "two"}, {"n": 3}):
        client.xadd(key, {"data": json.dumps(body)})
    consume(ws.datasets, src := RedisSource(redis_url, key), "typed", batch_size=10, max_wait=0.2)
    src.close()
    assert ws.datasets.read("typed")["n"].tolist() == [1, 2, 3]
    assert "column 'n' is int64" in ws.datasets.read("typed-quarantine")["error"][0]


def test_redis_down_is_a_clear_error(ws: Workspace) -> None:
    with pytest.raises(BackendUnavailableError, match=r"redis at redis://127\.0\.0\.1:\d+/0 is unreachable"):
        ws.datasets.consume(f"redis://127.0.0.1:{free_port()}/0", "x", stream="s")


# --- NATS JetStream ----------------------------------------------------------------------------
@pytest.fixture
def jetstream() -> Iterator[tuple[str, str]]:
    """A fresh JetStream stream on the real server: (stream name, subject)."""
    import nats

    name = f"forgeml-test-{uuid.uuid4().hex[:10]}"
    subject = f"forgeml.test.{name}"

    async def run(coro_fn):  # type: ignore[no-untyped-def]
        nc = await nats.connect(NATS_URL)
        try:
            return await coro_fn(nc.jetstream())
        finally:
            await nc.close()

    asyncio.run(run(lambda js: js.add_stream(name=name, subjects=[subject])))
    yield name, subject
    asyncio.run(run(lambda js: js.delete_stream(name)))


def publish(subject: str, payloads: list[bytes]) -> None:
    import nats

    async def go() -> None:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        for p in payloads:
            await js.publish(subject, p)
        await nc.close()

    asyncio.run(go())


def test_nats_jetstream_consumed_and_acked(ws: Workspace, jetstream: tuple[str, str]) -> None:
    stream, subject = jetstream
    publish(subject, [json.dumps({"sensor": "a", "v": i}).encode() for i in range(4)] + [b"[1]", json.dumps({"sensor": "b", "v": 9}).encode()])
    written = ws.datasets.consume(NATS_URL, "sensors", stream=subject, jetstream=stream, batch_size=2, max_wait=0.5)
    assert [r.version for r in written] == [1, 2, 3]
    assert ws.datasets.read("sensors")["v"].tolist() == [0, 1, 2, 3, 9]
    assert written[-1].data["stream"]["position"] == [6]
    q = ws.datasets.read("sensors-quarantine")
    assert q["raw"].tolist() == ["[1]"] and q["source"][0].endswith("@5")
    # everything was acked: a second run finds nothing new
    assert ws.datasets.consume(NATS_URL, "sensors", stream=subject, jetstream=stream, batch_size=2, max_wait=0.3) == []
    publish(subject, [json.dumps({"sensor": "c", "v": 10}).encode()])
    again = ws.datasets.consume(NATS_URL, "sensors", stream=subject, jetstream=stream, max_wait=0.5)
    assert [r.data["rows"] for r in again] == [6]


def test_nats_errors(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match=r"no JetStream stream holds subject .forgeml\.nowhere"):
        NatsSource(NATS_URL, f"forgeml.nowhere.{uuid.uuid4().hex}")
    with pytest.raises(BackendUnavailableError, match=r"NATS at nats://127\.0\.0\.1:\d+ is unreachable"):
        NatsSource(f"nats://127.0.0.1:{free_port()}", "x")


def test_consumer_job_runs_until_stopped(ws: Workspace, redis_url: str, redis_stream) -> None:  # type: ignore[no-untyped-def]
    key, client = redis_stream
    client.xadd(key, {"data": json.dumps({"n": 1})})
    job = ws.datasets.start_consumer(redis_url, "live", stream=key, batch_size=10, max_wait=0.2)
    wait_for(lambda: ws.metadata.list_resources("dataset", name="live") != [], timeout=60)
    client.xadd(key, {"data": json.dumps({"n": 2})})
    wait_for(lambda: ws.datasets.get("live").data["rows"] == 2, timeout=60)
    stopped = ws.jobs.stop(job.name, wait=True)
    assert stopped.status == "Stopped"
    assert ws.datasets.read("live")["n"].tolist() == [1, 2]
    assert set(ws.jobs.get(job.name).outputs) == {"dataset/live:1", "dataset/live:2"}
