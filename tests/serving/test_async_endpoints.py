"""Async endpoints end to end: real endpoint servers, a real dispatcher process, the SQLite and
Redis queues; bad input; expiry; webhooks; and kill -9 of the dispatcher mid-request."""

from __future__ import annotations

import http.server
import os
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from forgeml.serving._async_queue import AsyncRequest
from forgeml.settings import Settings
from forgeml.testing.slow_model import slow_package

ROW = b"0.5,3,red\n"


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return slow_package(tmp_path_factory.mktemp("slow") / "pkg", delay=0.4)


@pytest.fixture(autouse=True)
def _no_server_left(ws: Workspace) -> Iterator[None]:
    """Whatever a test does, it leaves no endpoint server and no dispatcher running."""
    yield
    for record in ws.endpoints.list():
        ws.endpoints.delete(record.name)


def _events(ws: Workspace, name: str) -> list[Any]:
    return [e for e in ws.metadata.list_events(resource=f"endpoint/{name}") if e.type.startswith("AsyncInference")]


def _answered(ws: Workspace, name: str, expected: int, timeout: float = 30.0) -> Counter[str]:
    """Inference ids of the answer events, once ``expected`` of them are there: a request's state
    is Completed a moment before its event is written (the outbox's order), so reading the events
    the instant the last wait returns could miss the last one."""
    deadline = time.monotonic() + timeout
    while True:
        answered = Counter(e.data["inference_id"] for e in _events(ws, name) if e.type in ("AsyncInferenceCompleted", "AsyncInferenceFailed"))
        if sum(answered.values()) >= expected or time.monotonic() > deadline:
            time.sleep(0.2)  # and nothing more comes: a duplicate would show here
            return Counter(e.data["inference_id"] for e in _events(ws, name) if e.type in ("AsyncInferenceCompleted", "AsyncInferenceFailed"))
        time.sleep(0.05)


def test_inline_requests_are_answered_and_notified_once(ws: Workspace, packages: dict[str, Path]) -> None:
    ws.endpoints.deploy("asy", str(packages["logistic"]))
    svc = ws.async_inference
    good = svc.invoke_async("asy", ROW, content_type="text/csv", inference_id="good-1")
    assert good["InferenceId"] == "good-1"
    assert good["OutputLocation"] == f"{ws.settings.resolved_artifact_uri}/async-inference/asy/output/good-1.out"
    assert good["FailureLocation"].endswith("/async-inference/asy/failure/good-1.error")
    bad = svc.invoke_async("asy", b"0.5,3\n", content_type="text/csv")
    assert svc.wait("asy", "good-1", 30)["Status"] == "Completed"
    failed = svc.wait("asy", bad["InferenceId"], 30)
    assert failed["Status"] == "Failed" and failed["FailureReason"] == "ValidationError: record 0: expected 3 value(s), got 2"
    answer = orjson.loads(svc.result("asy", "good-1"))
    assert answer["predictions"][0]["predicted_label"] in (0, 1)
    assert orjson.loads(Path(good["OutputLocation"]).read_bytes()) == answer
    error = orjson.loads(svc.result("asy", bad["InferenceId"]))
    assert error == {"error": "ValidationError", "message": "record 0: expected 3 value(s), got 2",
                     "inference_id": bad["InferenceId"], "endpoint": "asy"}  # fmt: skip
    assert not Path(bad["OutputLocation"]).exists()
    events = _events(ws, "asy")
    assert sorted((e.type, e.data["inference_id"]) for e in events) == sorted(
        [("AsyncInferenceCompleted", "good-1"), ("AsyncInferenceFailed", bad["InferenceId"])]
    )
    backlog = svc.backlog("asy")
    assert backlog["ApproximateBacklogSize"] == 0 and backlog["ApproximateBacklogSizePerInstance"] == 0.0
    assert backlog["DispatcherRunning"] is True
    ws.endpoints.delete("asy")  # stops the dispatcher and forgets the requests
    assert svc.dispatcher_pid("asy") is None
    with pytest.raises(NotFoundError):
        svc.get("asy", "good-1")


def test_input_locations_and_bad_input(ws: Workspace, packages: dict[str, Path], tmp_path: Path) -> None:
    ws.endpoints.create("asy", {"variants": [{"model": str(packages["logistic"])}], "max_payload_mb": 0.001})
    svc = ws.async_inference
    artifact = ws.artifacts.put_bytes(b"0.1,1,blue\n1.0,2,red\n")
    frame = pd.DataFrame({"x1": [0.2, -1.0], "x2": [1, 2], "color": ["red", "green"]})
    ws.datasets.create("rows", frame)
    local = tmp_path / "rows.json"
    local.write_bytes(b'[{"x1": 0.3, "x2": 4, "color": "blue"}]')
    ids = [
        svc.invoke_async("asy", input_location=f"artifact/{artifact.digest[:12]}", content_type="text/csv")["InferenceId"],
        svc.invoke_async("asy", input_location="dataset/rows", content_type="text/csv")["InferenceId"],
        svc.invoke_async("asy", input_location="dataset/rows:1")["InferenceId"],  # pandas-split JSON
        svc.invoke_async("asy", input_location=str(local))["InferenceId"],
    ]
    counts = []
    for inference_id in ids:
        state = svc.wait("asy", inference_id, 30)
        assert state["Status"] == "Completed", state
        counts.append(len(orjson.loads(svc.result("asy", inference_id))["predictions"]))
    assert counts == [2, 2, 2, 1]
    big = tmp_path / "big.csv"
    big.write_bytes(ROW * 200)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"input_location": "artifact/" + "0" * 64}, NotFoundError, "artifact"),
        ({"input_location": "dataset/nope"}, NotFoundError, "nope"),
        ({"input_location": str(tmp_path / "missing.csv")}, NotFoundError, "InputLocation"),
        ({"input_location": str(big)}, PayloadTooLargeError, "more than the endpoint's limit of 1048 bytes"),
        ({"body": b"x" * 128_001}, PayloadTooLargeError, "Body holds 128001 bytes"),
        ({}, ValidationError, "give either Body"),
        ({"body": ROW, "input_location": "dataset/rows"}, ValidationError, "not both or neither"),
        ({"body": ROW, "request_ttl_seconds": 10}, ValidationError, "RequestTTLSeconds must be between 60 and 21600"),
        ({"body": ROW, "invocation_timeout_seconds": 3601}, ValidationError, "InvocationTimeoutSeconds must be between 1 and 3600"),
        ({"body": ROW, "inference_id": "../x"}, ValidationError, "InferenceId"),
        ({"body": ROW, "inference_id": ids[0]}, AlreadyExistsError, f"InferenceId {ids[0]!r}"),
    ]
    for kwargs, error, message in cases:
        body = kwargs.pop("body", None)
        with pytest.raises(error, match=message.replace("(", r"\(")):
            svc.invoke_async("asy", body, content_type="text/csv", **kwargs)
    with pytest.raises(NotFoundError):
        svc.invoke_async("nope", ROW)
    assert svc.backlog("asy")["ApproximateBacklogSize"] == 0  # nothing half-queued


def test_full_queue_and_backlog_per_instance(ws: Workspace, slow: Path) -> None:
    config = {"variants": [{"model": str(slow), "workers": 2}],
              "async_inference": {"max_queue_size": 3, "max_concurrent_invocations_per_instance": 1}}  # fmt: skip
    ws.endpoints.create("full", config)
    svc = ws.async_inference
    svc.stop_dispatcher("full")  # none runs yet: the three stay queued
    for i in range(3):
        svc.queue.put(_request("full", f"q{i}", ws), max_size=3)
    assert svc.backlog("full") == {"EndpointName": "full", "ApproximateBacklogSize": 3, "Instances": 2,
                                   "ApproximateBacklogSizePerInstance": 1.5, "DispatcherRunning": False}  # fmt: skip
    with pytest.raises(ConflictError, match=r"the async queue of endpoint 'full' is full \(3 requests waiting\)"):
        svc.invoke_async("full", b"1.0,2\n", content_type="text/csv")
    svc.ensure_dispatcher("full")
    for i in range(3):
        assert svc.wait("full", f"q{i}", 30)["Status"] == "Completed"
    assert svc.invoke_async("full", b"1.0,2\n", content_type="text/csv")["InferenceId"]


def _request(endpoint: str, inference_id: str, ws: Workspace, *, age: float = 0.0, ttl: float = 600.0, timeout: float = 30.0) -> AsyncRequest:
    base = f"{ws.settings.resolved_artifact_uri}/async-inference/{endpoint}"
    now = time.time() - age
    return AsyncRequest(
        endpoint=endpoint, inference_id=inference_id, output_location=f"{base}/output/{inference_id}.out",
        failure_location=f"{base}/failure/{inference_id}.error", enqueued_at=now, expires_at=now + ttl,
        invocation_timeout=timeout, content_type="text/csv", body=b"1.0,2\n",
    )  # fmt: skip


def test_expired_requests_fail_with_the_reason(ws: Workspace, slow: Path) -> None:
    ws.endpoints.deploy("exp", str(slow))
    svc = ws.async_inference
    svc.queue.put(_request("exp", "old", ws, age=120, ttl=60), max_size=10)  # waited 120 s, TTL 60 s
    svc.ensure_dispatcher("exp")
    state = svc.wait("exp", "old", 30)
    assert state["Status"] == "Failed"
    assert re.fullmatch(r"RequestExpired: the request waited 12\d s in the queue, past its RequestTTLSeconds of 60 s", state["FailureReason"])
    assert orjson.loads(svc.result("exp", "old"))["error"] == "RequestExpired"
    assert [e.type for e in _events(ws, "exp")] == ["AsyncInferenceFailed"]


def test_invocation_timeout_fails_the_request(ws: Workspace, tmp_path: Path) -> None:
    ws.endpoints.deploy("tmo", str(slow_package(tmp_path / "slower", delay=2.5)))
    svc = ws.async_inference
    out = svc.invoke_async("tmo", b"1.0,2\n", content_type="text/csv", invocation_timeout_seconds=1)
    state = svc.wait("tmo", out["InferenceId"], 30)
    assert state["Status"] == "Failed" and state["FailureReason"] == "InvocationTimeout: no answer within its InvocationTimeoutSeconds of 1 s"


class _Hooks(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # the http.server API
        self.received.append(orjson.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on loopback that records the notifications posted to it."""
    received: list[dict[str, Any]] = []
    handler = type("Hooks", (_Hooks,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_webhooks_go_only_to_allowed_hosts(settings: Settings, webhook_server: tuple[str, list[dict[str, Any]]], packages: dict[str, Path]) -> None:
    host, received = webhook_server
    notification = {"success_webhook": f"http://{host}/ok", "error_webhook": f"http://{host}/err", "include_inference_response": True}
    with Workspace(settings.model_copy(update={"allowed_webhook_hosts": [host]})) as ws:
        ws.endpoints.create("hook", {"variants": [{"model": str(packages["logistic"])}], "async_inference": {"notification": notification}})
        try:
            ok = ws.async_inference.invoke_async("hook", ROW, content_type="text/csv", inference_id="ok")
            ws.async_inference.invoke_async("hook", b"1,2\n", content_type="text/csv", inference_id="bad")
            for inference_id in ("ok", "bad"):
                ws.async_inference.wait("hook", inference_id, 30)
            deadline = time.monotonic() + 10
            while len(received) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            by_id = {r["inferenceId"]: r for r in received}
            assert by_id["ok"]["eventName"] == "InferenceResult" and by_id["ok"]["invocationStatus"] == "Completed"
            assert by_id["ok"]["responseParameters"] == {"outputLocation": ok["OutputLocation"]}
            assert "predictions" in by_id["ok"]["responseBody"]["content"]
            assert by_id["bad"]["eventName"] == "InferenceError" and by_id["bad"]["failureReason"].startswith("ValidationError: ")
            assert {e.data["webhook"] for e in _events(ws, "hook")} == {"sent: HTTP 204"}
        finally:
            ws.endpoints.delete("hook")
    with Workspace(settings) as ws:  # the same config, but the operator allowed no host
        ws.endpoints.create("hook2", {"variants": [{"model": str(packages["logistic"])}], "async_inference": {"notification": notification}})
        try:
            ws.async_inference.invoke_async("hook2", ROW, content_type="text/csv", inference_id="ok2")
            ws.async_inference.wait("hook2", "ok2", 30)
            [event] = _events(ws, "hook2")
            assert event.data["webhook"].startswith("not sent: host of 'http://127.0.0.1:") and "allowed_webhook_hosts" in event.data["webhook"]
            assert [r["inferenceId"] for r in received].count("ok2") == 0
        finally:
            ws.endpoints.delete("hook2")


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_kill_9_of_the_dispatcher_mid_request_answers_each_request_once(
    settings: Settings, slow: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    update: dict[str, Any] = {}
    if backend == "redis":
        update["queue_url"] = request.getfixturevalue("redis_url")
    name = f"kill-{uuid.uuid4().hex[:8]}"
    with Workspace(settings.model_copy(update=update)) as ws:
        ws.endpoints.create(name, {"variants": [{"model": str(slow)}],
                                   "async_inference": {"max_concurrent_invocations_per_instance": 3}})  # fmt: skip
        svc = ws.async_inference
        try:
            ids = [svc.invoke_async(name, f"{i}.0,1\n", content_type="text/csv", invocation_timeout_seconds=2)["InferenceId"] for i in range(12)]
            kills = 0
            deadline = time.monotonic() + 60
            while kills < 2 and time.monotonic() < deadline:  # kill it twice, each time with requests in flight
                states = Counter(svc.get(name, i)["Status"] for i in ids)
                pid = svc.dispatcher_pid(name)
                if states["InProgress"] and pid:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                    while svc.dispatcher_pid(name) is not None:
                        time.sleep(0.01)
                    assert any(svc.get(name, i)["Status"] == "InProgress" for i in ids)  # left in flight by the dead one
                    svc.ensure_dispatcher(name)  # as the next request would
                time.sleep(0.05)
            assert kills == 2
            finals = [svc.wait(name, i, 60) for i in ids]
            assert [f["Status"] for f in finals] == ["Completed"] * 12
            assert max(f["Attempts"] for f in finals) >= 2  # some were redelivered
            for i, inference_id in enumerate(ids):
                assert orjson.loads(svc.result(name, inference_id)) == {"predictions": [{"prediction": 2.0 * i}]}
            answered = _answered(ws, name, len(ids))
            assert answered == Counter(ids)  # every request answered, none twice
            assert svc.backlog(name)["ApproximateBacklogSize"] == 0
        finally:
            ws.endpoints.delete(name)


def test_server_start_resumes_pending_requests(ws: Workspace, slow: Path) -> None:
    """Requests left queued with no dispatcher (a crashed machine) are picked up when
    ``forgeml server`` starts, without waiting for another request."""
    from fastapi.testclient import TestClient

    from forgeml.api.app import create_app

    ws.endpoints.deploy("resume", str(slow))
    svc = ws.async_inference
    for i in range(3):
        svc.queue.put(_request("resume", f"p{i}", ws), max_size=10)
    assert svc.dispatcher_pid("resume") is None
    with TestClient(create_app(ws)):
        assert svc.dispatcher_pid("resume") is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(svc.get("resume", f"p{i}")["Status"] != "Completed" for i in range(3)):
            time.sleep(0.1)
    assert [svc.get("resume", f"p{i}")["Status"] for i in range(3)] == ["Completed"] * 3


def test_kill_9_of_the_endpoint_server_answers_each_request_once(ws: Workspace, slow: Path) -> None:
    ws.endpoints.create("srvkill", {"variants": [{"model": str(slow)}], "async_inference": {"max_concurrent_invocations_per_instance": 1}})
    svc = ws.async_inference
    ids = [svc.invoke_async("srvkill", f"{i}.0,1\n", content_type="text/csv", invocation_timeout_seconds=5)["InferenceId"] for i in range(6)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(svc.get("srvkill", i)["Status"] == "Completed" for i in ids):
        time.sleep(0.02)
    while time.monotonic() < deadline and not any(svc.get("srvkill", i)["Status"] == "InProgress" for i in ids):
        time.sleep(0.01)
    os.killpg(int(ws.endpoints.get("srvkill").data["pid"]), signal.SIGKILL)  # the server and its workers, mid-request
    finals = [svc.wait("srvkill", i, 30) for i in ids]
    statuses = Counter(f["Status"] for f in finals)
    assert statuses["Completed"] >= 1 and statuses["Failed"] >= 1 and statuses["Completed"] + statuses["Failed"] == 6
    for f in finals:
        if f["Status"] == "Failed":
            assert f["FailureReason"].startswith("EndpointFailed: endpoint 'srvkill' is Failed: "), f
    assert Counter(e.data["inference_id"] for e in _events(ws, "srvkill")) == Counter(ids)  # once each
    assert ws.endpoints.get("srvkill").status == "Failed"


def test_an_outcome_recorded_but_not_announced_is_announced_once_by_the_next_dispatcher(ws: Workspace, packages: dict[str, Path]) -> None:
    """The outbox: a dispatcher killed between recording a request's outcome and writing its event
    left it unannounced; the next dispatcher writes that event once, and not again when the dead
    one had written it already."""
    from forgeml.serving._async_queue import open_queue
    from forgeml.serving._async_worker import Dispatcher

    ws.endpoints.deploy("obx", str(packages["logistic"]))
    try:
        queue = open_queue(ws.settings)
        now = time.time()
        for inference_id in ("lost", "written"):
            queue.put(AsyncRequest("obx", inference_id, f"file:///nonexistent/{inference_id}.out", f"file:///nonexistent/{inference_id}.err",
                                   now, now + 3600, 5.0, content_type="text/csv", body=ROW), max_size=100)  # fmt: skip
            assert queue.complete("obx", inference_id, "Completed", now)  # ... and the dispatcher died here
        ws.metadata.append_event("endpoint/obx", "AsyncInferenceCompleted", {"inference_id": "written"})  # this one got its event out
        dispatcher = Dispatcher(ws, "obx", queue)
        assert dispatcher.announce_unnotified() == 2
        assert dispatcher.announce_unnotified() == 0
        assert _answered(ws, "obx", 2) == Counter({"lost": 1, "written": 1})
        assert queue.unnotified("obx") == []
    finally:
        ws.endpoints.delete("obx")
