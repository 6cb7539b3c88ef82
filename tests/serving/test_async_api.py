"""``POST /endpoints/{name}/async-invocations`` and its read routes over the REST API: the 202
shape, clear 4xx answers, and no server path reachable from the network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.settings import load_settings

ROW = "0.5,3,red\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, packages: dict[str, Path]) -> Iterator[tuple[Workspace, TestClient]]:
    """One workspace and endpoint for the module (starting an endpoint takes seconds)."""
    ws = Workspace(load_settings(home=str(tmp_path_factory.mktemp("async-api") / "ws"), job_stop_grace_seconds=2.0))
    ws.endpoints.deploy("rest", str(packages["logistic"]))
    ws.datasets.create("rows", pd.DataFrame({"x1": [0.1], "x2": [1], "color": ["red"]}))
    try:
        with TestClient(create_app(ws)) as c:
            yield ws, c
    finally:
        for record in ws.endpoints.list():
            ws.endpoints.delete(record.name)
        ws.close()


@pytest.fixture
def client(world: tuple[Workspace, TestClient]) -> TestClient:
    return world[1]


@pytest.fixture
def ws(world: tuple[Workspace, TestClient]) -> Workspace:
    return world[0]


def test_202_then_status_result_and_backlog(client: TestClient, ws: Workspace) -> None:
    r = client.post("/endpoints/rest/async-invocations", json={"Body": ROW, "ContentType": "text/csv", "InferenceId": "r-1"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["InferenceId"] == "r-1" and body["OutputLocation"].endswith("/async-inference/rest/output/r-1.out")
    assert r.headers["X-Amzn-SageMaker-OutputLocation"] == body["OutputLocation"]
    assert r.headers["X-Amzn-SageMaker-FailureLocation"] == body["FailureLocation"]
    r2 = client.post("/endpoints/rest/async-invocations", json={"InputLocation": "dataset/rows", "ContentType": "text/csv"})
    assert r2.status_code == 202, r2.text
    for inference_id in ("r-1", r2.json()["InferenceId"]):
        assert ws.async_inference.wait("rest", inference_id, 30)["Status"] == "Completed"
    state = client.get("/endpoints/rest/async-invocations/r-1").json()
    assert state["Status"] == "Completed" and state["Attempts"] == 1
    result = client.get("/endpoints/rest/async-invocations/r-1/result")
    assert result.status_code == 200 and result.headers["X-ForgeML-Async-Status"] == "Completed"
    assert "predictions" in orjson.loads(result.content)
    backlog = client.get("/endpoints/rest/async-backlog").json()
    assert backlog["ApproximateBacklogSize"] == 0 and backlog["Instances"] == 1


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"InputLocation": "/etc/os-release"}, 403, "InputLocation: '/etc/os-release' is a path on the server"),
    ({"InputLocation": "file:///etc/os-release"}, 403, "InputLocation: "),
    ({"InputLocation": "dataset/missing"}, 404, "dataset 'missing'"),
    ({"InputLocation": "artifact/" + "0" * 64}, 404, "artifact"),
    ({"Body": "x" * 128_001}, 413, "Body holds 128001 bytes"),
    ({}, 400, "give either Body"),
    ({"Body": ROW, "InputLocation": "dataset/rows"}, 400, "give either Body"),
    ({"Body": ROW, "RequestTTLSeconds": 59}, 400, "RequestTTLSeconds"),
    ({"Body": ROW, "InvocationTimeoutSeconds": 3601}, 400, "InvocationTimeoutSeconds"),
    ({"Body": ROW, "InferenceId": "../../x"}, 400, "InferenceId"),
    ({"Body": ROW, "Extra": 1}, 400, "Extra"),
    ({"Body": ROW, "ContentType": "text/csv\r\nX-Evil: 1"}, 400, "ContentType must be visible ASCII"),
    ({"Body": ROW, "CustomAttributes": "caf\u00e9"}, 400, "CustomAttributes must be visible ASCII"),
])  # fmt: skip
def test_bad_requests_are_clear_4xx(client: TestClient, ws: Workspace, body: dict[str, object], status: int, message: str) -> None:
    r = client.post("/endpoints/rest/async-invocations", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["message"] and "\n" not in r.json()["message"]
    assert ws.async_inference.backlog("rest")["ApproximateBacklogSize"] == 0


def test_unknown_endpoint_request_and_duplicates(client: TestClient, ws: Workspace) -> None:
    assert client.post("/endpoints/nope/async-invocations", json={"Body": ROW}).status_code == 404
    assert client.get("/endpoints/nope/async-backlog").status_code == 404
    assert client.get("/endpoints/rest/async-invocations/none").status_code == 404
    assert client.get("/endpoints/rest/async-invocations/none/result").status_code == 404
    first = client.post("/endpoints/rest/async-invocations", json={"Body": ROW, "ContentType": "text/csv", "InferenceId": "dup"})
    assert first.status_code == 202
    again = client.post("/endpoints/rest/async-invocations", json={"Body": ROW, "InferenceId": "dup"})
    assert again.status_code == 409 and "InferenceId 'dup'" in again.json()["message"]


def test_a_network_caller_names_no_output_path(client: TestClient, packages: dict[str, Path], tmp_path: Path) -> None:
    r = client.post("/endpoints", json={"name": "out", "variants": [{"model": "rest:1"}],
                                        "async_inference": {"output_path": str(tmp_path / "out")}})  # fmt: skip
    assert r.status_code == 403 and r.json()["message"].startswith("async_inference.output_path: a request over the network may not name")
    r = client.post("/endpoints", json={"name": "out", "variants": [{"model": "rest:1"}],
                                        "async_inference": {"failure_path": "s3://bucket/fail"}})  # fmt: skip
    assert r.status_code == 403 and r.json()["message"].startswith("async_inference.failure_path: ")
    assert not (tmp_path / "out").exists()


def test_an_update_over_the_network_names_no_output_path(client: TestClient, ws: Workspace) -> None:
    before = ws.endpoints.get("rest").version
    r = client.put("/endpoints/rest", json={"variants": [{"model": "rest:1"}], "async_inference": {"failure_path": "file:///tmp/x"}})
    assert r.status_code == 403 and r.json()["message"].startswith("async_inference.failure_path: a request over the network may not name")
    current = ws.endpoints.get("rest")
    assert current.version == before and current.status == "InService"
