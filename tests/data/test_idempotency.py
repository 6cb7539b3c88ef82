"""Idempotency keys on every record and upload route: real servers, concurrent clients, restarts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
import sqlalchemy as sa

from forgeml.core.idempotency import IdempotencyKey, keys
from forgeml.core.workspace import Workspace
from forgeml.errors import ConflictError, IdempotencyKeyReusedError, NotFoundError
from forgeml.settings import load_settings
from tests.cli_runner import run_cli
from tests.data.conftest import free_port, serve

CSV = b"id,amount\n1,10\n2,20\n3,30\n"


def versions(ws: Workspace, name: str) -> list[int]:
    try:
        return sorted(r.version for r in ws.datasets.versions(name))
    except NotFoundError:
        return []


@pytest.fixture(params=["sqlite", "postgresql"])
def any_ws(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Iterator[Workspace]:
    """The workspace on SQLite, and on the real PostgreSQL server."""
    if request.param == "sqlite":
        workspace = Workspace(settings)
        yield workspace
        workspace.close()
        return
    url = request.getfixturevalue("postgres_url")
    workspace = Workspace(load_settings(home=str(tmp_path / "pg"), database_url=url))
    yield workspace
    workspace.close()


def _post_many(url: str, n: int, **kwargs: Any) -> list[httpx.Response]:
    def one(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as http:
            return http.post(url, **kwargs)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_concurrent_uploads_with_one_key_write_once(any_ws: Workspace) -> None:
    with serve(any_ws) as base:
        url = f"{base}/datasets/loans/upload?filename=loans.csv&mode=append"
        answers = _post_many(url, 8, content=CSV, headers={"Idempotency-Key": '"upload-1"'})
        assert {r.status_code for r in answers} <= {201, 409}
        ok = [r for r in answers if r.status_code == 201]
        assert ok and len({r.text for r in ok}) == 1  # every answer is the first one
        assert [r.headers.get("idempotent-replayed") for r in ok].count(None) == 1
        assert versions(any_ws, "loans") == [1] and any_ws.datasets.get("loans").data["rows"] == 3
        retry = httpx.post(url, content=CSV, headers={"Idempotency-Key": "upload-1"})
        assert (retry.status_code, retry.headers["idempotent-replayed"], retry.json()) == (201, "true", ok[0].json())
        other = httpx.post(url, content=CSV + b"4,40\n", headers={"Idempotency-Key": "upload-1"})
        assert other.status_code == 422 and other.json()["error"] == "IdempotencyKeyReusedError"
        assert "already used for a different request" in other.json()["message"]
        assert versions(any_ws, "loans") == [1]


def test_concurrent_record_posts_with_one_key_buffer_once(any_ws: Workspace) -> None:
    buf = any_ws.datasets.records()
    buf.max_records, buf.max_seconds = 1000, 3600
    with serve(any_ws) as base:
        url = f"{base}/datasets/clicks/records"
        body = [{"user": 1, "page": "a"}, {"user": 2, "page": "b"}]
        answers = _post_many(url, 8, json=body, headers={"Idempotency-Key": "rec-1"})
        ok = [r for r in answers if r.status_code == 202]
        assert {r.status_code for r in answers} <= {202, 409} and ok
        assert all(r.json() == {"dataset": "clicks", "accepted": 2, "buffered": 2, "flushed": None} for r in ok)
        assert buf.pending("clicks") == 2
        nd = httpx.post(url, content=b'{"user": 1, "page": "a"}\n{"user": 2, "page": "b"}\n',
                        headers={"Idempotency-Key": "rec-1", "content-type": "application/x-ndjson"})  # fmt: skip
        assert nd.status_code == 202 and nd.headers["idempotent-replayed"] == "true"
        assert httpx.post(url, json=body[:1], headers={"Idempotency-Key": "rec-1"}).status_code == 422
        assert httpx.post(url, json=body[:1], headers={"Idempotency-Key": "rec-2"}).status_code == 202
        assert httpx.post(f"{base}/datasets/clicks/records/flush").json()["flushed"] == "dataset/clicks:1"
    assert any_ws.datasets.read("clicks")["user"].tolist() == [1, 2, 1] and buf.pending("clicks") == 0


def test_a_flush_that_triggers_is_part_of_the_replayed_answer(ws: Workspace) -> None:
    buf = ws.datasets.records()
    buf.max_records, buf.max_seconds = 2, 3600
    first = buf.append("f", [{"a": 1}, {"a": 2}], idempotency_key="k")
    again = buf.append("f", [{"a": 1}, {"a": 2}], idempotency_key=(key := IdempotencyKey("k")))
    assert first == again == {"dataset": "f", "accepted": 2, "buffered": 0, "flushed": "dataset/f:1"} and key.replayed
    assert versions(ws, "f") == [1]


def _forgeml_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FORGEML_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "forgeml", "server", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/datasets", timeout=2)
            return proc
        except httpx.TransportError:
            assert proc.poll() is None and time.time() < deadline, "forgeml server did not start"
            time.sleep(0.2)


def test_retry_after_a_server_restart_gets_the_first_answer(ws: Workspace) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def upload_and_post() -> tuple[httpx.Response, httpx.Response]:
        proc = _forgeml_server(ws.home, port)
        try:
            upload = httpx.post(f"{base}/datasets/loans/upload?filename=loans.csv&mode=append", content=CSV,
                                headers={"Idempotency-Key": "restart-1"}, timeout=60)  # fmt: skip
            return upload, httpx.post(f"{base}/datasets/r/records", json=[{"a": 1}], headers={"Idempotency-Key": "restart-2"})
        finally:
            proc.terminate()
            proc.wait(30)

    (first, records), (again, records_again) = upload_and_post(), upload_and_post()
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert records_again.json() == records.json() and records_again.headers["idempotent-replayed"] == "true"
    assert versions(ws, "loans") == [1] and ws.datasets.records().pending("r") == 1


def test_a_key_held_by_a_live_request_is_409_and_an_abandoned_one_is_taken_over(tmp_path: Path) -> None:
    ws = Workspace(load_settings(home=str(tmp_path / "w"), idempotency_wait_seconds=0))
    try:
        claim = ws.idempotency.begin(IdempotencyKey("held"), "datasets.records", "x" * 64)
        with pytest.raises(ConflictError, match="'held' is still in progress"):
            ws.idempotency.begin(IdempotencyKey("held"), "datasets.records", "x" * 64)
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
        with ws.metadata.transaction() as conn:  # type: ignore[attr-defined]
            conn.execute(keys.update().where(keys.c.key == "held").values(owner=f"{os.uname().nodename}:{dead}:x"))
        taken = ws.idempotency.begin(IdempotencyKey("held"), "datasets.records", "x" * 64)
        assert taken.owner != claim.owner  # type: ignore[union-attr]
        with pytest.raises(ConflictError, match="taken over"), ws.metadata.transaction() as conn:  # type: ignore[attr-defined]
            claim.complete_in(conn, {"late": True})  # type: ignore[union-attr]
    finally:
        ws.close()


def test_the_key_is_stored_in_the_transaction_of_the_version(ws: Workspace, tmp_path: Path) -> None:
    claim = ws.idempotency.begin(IdempotencyKey("tx"), "datasets.ingest", "f" * 64)

    def fail(_conn: Any, _record: Any) -> None:
        raise RuntimeError("crash inside the transaction")

    with pytest.raises(RuntimeError):
        ws.datasets.commit("tx", pa.table({"a": [1]}), idempotency=claim, within=fail)  # type: ignore[typeddict-item]
    with ws.metadata.read_transaction() as conn:  # type: ignore[attr-defined]
        state = conn.execute(sa.select(keys.c.state).where(keys.c.key == "tx")).scalar()
    assert state == "pending" and versions(ws, "tx") == []
    rec = ws.datasets.commit("tx", pa.table({"a": [1]}), idempotency=claim)  # type: ignore[typeddict-item]
    with ws.metadata.read_transaction() as conn:  # type: ignore[attr-defined]
        row = conn.execute(sa.select(keys).where(keys.c.key == "tx")).one()
    assert (row.state, row.resource, row.response["version"]) == ("done", rec.ref, 1)


def test_keys_expire_and_are_checked(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_bytes(CSV)
    assert ws.datasets.ingest(str(src), "e", mode="append", idempotency_key="exp").version == 1
    assert ws.datasets.ingest(str(src), "e", mode="append", idempotency_key="exp").version == 1
    with ws.metadata.transaction() as conn:  # type: ignore[attr-defined]
        conn.execute(keys.update().where(keys.c.key == "exp").values(expires_at=time.time() - 1))
    assert ws.datasets.ingest(str(src), "e", mode="append", idempotency_key="exp").version == 2  # forgotten: a new request
    src.write_bytes(CSV + b"9,90\n")
    with pytest.raises(IdempotencyKeyReusedError):
        ws.datasets.ingest(str(src), "e", mode="append", idempotency_key="exp")
    with pytest.raises(Exception, match="invalid idempotency key"):
        ws.datasets.ingest(str(src), "e", idempotency_key="has space")


def test_cli_ingest_with_an_idempotency_key(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_bytes(CSV)
    first = run_cli(ws.home, "data", "ingest", str(src), "-n", "c", "--mode", "append", "--idempotency-key", "cli-1")
    again = run_cli(ws.home, "data", "ingest", str(src), "-n", "c", "--mode", "append", "--idempotency-key", "cli-1")
    assert first.returncode == again.returncode == 0, again.stderr
    assert "ingested dataset/c:1" in first.stdout and "already ingested with idempotency key 'cli-1': dataset/c:1" in again.stdout
    src.write_bytes(CSV + b"4,40\n")
    other = run_cli(ws.home, "data", "ingest", str(src), "-n", "c", "--idempotency-key", "cli-1")
    assert other.returncode == 2 and other.stderr.strip().startswith("error: idempotency key 'cli-1' was already used")
    assert versions(ws, "c") == [1]


def _offline_rows(ws: Workspace, group: str) -> int:
    return int(ws.features.query(f"SELECT count(*) AS n FROM {group}")["n"][0])


def test_feature_store_puts_with_a_key_write_once(ws: Workspace) -> None:
    ws.features.create_group("users", record_identifier="id", event_time_feature="ts", features=["id:Integral", "ts:Fractional", "age:Integral"])
    record = {"id": 1, "ts": 1_700_000_000.0, "age": 30}
    with serve(ws) as base:
        answers = _post_many(f"{base}/feature-groups/users/stream", 6, json=[record], headers={"Idempotency-Key": "push-1"})
        ok = [r for r in answers if r.status_code == 200]
        assert {r.status_code for r in answers} <= {200, 409} and ok and all(r.json() == ok[0].json() for r in ok)
        put = [httpx.put(f"{base}/feature-groups/users/records", json={"record": {**record, "age": 31}}, headers={"Idempotency-Key": "put-1"})
               for _ in range(2)]  # fmt: skip
        assert [r.status_code for r in put] == [200, 200] and put[1].headers["idempotent-replayed"] == "true"
        assert put[0].json() == put[1].json()
        ingest = [httpx.post(f"{base}/feature-groups/users/ingest", json={"records": [{"id": 2, "ts": 1_700_000_001.0, "age": 5}]},
                             headers={"Idempotency-Key": "ing-1"}) for _ in range(2)]  # fmt: skip
        assert [r.status_code for r in ingest] == [200, 200] and ingest[0].json() == ingest[1].json()
        clash = httpx.put(f"{base}/feature-groups/users/records", json={"record": {**record, "age": 99}}, headers={"Idempotency-Key": "put-1"})
        assert clash.status_code == 422
    assert _offline_rows(ws, "users") == 3
    assert ws.features.get_record("users", 1)["age"] == 30  # the put's event time was not newer
