"""REST API: JSON errors, OpenAPI, jobs and lineage routes; plus a real ``forgeml server``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace

F = "forgeml.testing.jobfuncs"


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws)) as c:
        yield c


def test_openapi_lists_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/jobs", "/jobs/{name}", "/events"} <= set(spec["paths"])


def test_jobs_routes(ws: Workspace, client: TestClient) -> None:
    ws.jobs.submit("processing", f"{F}:hello", name="api-job")
    ws.jobs.wait("api-job", timeout=60)
    listed = client.get("/jobs", params={"status": "Completed"}).json()
    assert [j["name"] for j in listed] == ["api-job"]
    got = client.get("/jobs/api-job").json()
    assert got["status"] == "Completed" and got["metrics"]["loss"] == pytest.approx(1 / 3)
    assert "hello world" in client.get("/jobs/api-job/logs").text
    assert len(client.get("/jobs/api-job/metrics", params={"key": "loss"}).json()) == 3
    tree = client.get(f"/lineage/{got['outputs'][0]}").json()
    assert tree["children"][0]["ref"] == "job/api-job"
    events = client.get("/events", params={"resource": "job/api-job"}).json()
    assert events[0]["type"] == "Created"


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("get", "/jobs/nope", 404, "NotFoundError"),
        ("get", "/jobs?status=Exploded", 400, "ValidationError"),
        ("get", "/jobs?limit=-1", 400, "ValidationError"),
        ("post", "/jobs/nope/stop", 404, "NotFoundError"),
        ("get", "/lineage/model/ghost", 404, "NotFoundError"),
        ("get", "/no/such/route", 404, "NotFoundError"),
    ],
)
def test_errors_are_json(client: TestClient, method: str, path: str, status: int, error: str) -> None:
    resp = getattr(client, method)(path)
    assert resp.status_code == status
    body = resp.json()
    assert body["error"] == error and isinstance(body["message"], str) and body["message"]


def test_illegal_transition_is_409(ws: Workspace, client: TestClient) -> None:
    ws.jobs.submit("processing", f"{F}:hello", name="ended")
    ws.jobs.wait("ended", timeout=60)
    resp = client.post("/jobs/ended/stop")
    assert resp.status_code == 409 and resp.json()["error"] == "InvalidTransitionError"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_real_server_binds_loopback(ws: Workspace) -> None:
    port = _free_port()
    env = {**os.environ, "FORGEML_HOME": str(ws.home), "FORGEML_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "forgeml", "server"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert resp.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/jobs/missing").status_code == 404
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        assert f"127.0.0.1:{port}" in listening and f"0.0.0.0:{port}" not in listening
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
