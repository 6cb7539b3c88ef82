"""CLI and REST faces of experiments: same service, JSON everywhere, 4xx for bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from tests.cli_runner import run_cli as forgeml

RUNS = [
    {"name": "a", "params": {"max_depth": 3}, "metrics": {"validation:auc": 0.85}},
    {"name": "b", "params": {"max_depth": 6}, "metrics": {"validation:auc": 0.70}},
]




@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws)) as c:
        yield c


def test_cli_search_compare_and_errors(ws: Workspace) -> None:
    ws.experiments.import_runs("loans", RUNS)
    found = json.loads(forgeml(ws.home, "experiments", "search", "-f", "metrics.validation:auc > 0.8", "--json").stdout)
    assert [r["name"] for r in found] == ["a"]
    table = forgeml(ws.home, "experiments", "compare", "loans/a", "loans/b").stdout
    assert "param max_depth *" in table and "0.85" in table
    csv = forgeml(ws.home, "experiments", "search", "-e", "loans", "--order-by", "metrics.validation:auc", "--csv").stdout
    lines = csv.splitlines()
    assert lines[0].startswith("run,experiment") and lines[1].startswith("loans/b,")
    listed = json.loads(forgeml(ws.home, "experiments", "ls", "--json").stdout)
    assert [(e["name"], e["run_count"]) for e in listed] == [("loans", 2)]
    bad = forgeml(ws.home, "experiments", "search", "-f", "metrics.auc > 0.5 or metrics.auc < 0.1")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: filter: 'or' is not supported (position 18); run two searches instead"
    missing = forgeml(ws.home, "experiments", "show", "loans/zzz")
    assert missing.returncode == 4 and "does not exist" in missing.stderr


def test_rest_log_search_compare(client: TestClient) -> None:
    assert client.post("/experiments", json={"name": "api"}).status_code == 201
    assert client.post("/experiments/api/runs", json={"name": "r1", "params": {"lr": 0.1}}).status_code == 201
    for step, value in enumerate([0.5, 0.9]):
        assert client.post("/runs/api/r1/metrics", json={"metrics": {"auc": value}, "step": step}).status_code == 200
    run = client.post("/runs/api/r1/end", json={}).json()
    assert run["status"] == "Completed" and run["metrics"] == {"auc": 0.9}
    history = client.get("/runs/api/r1/metrics", params={"key": "auc"}).json()
    assert [(m["step"], m["value"]) for m in history] == [(0, 0.5), (1, 0.9)]
    found = client.post("/runs/search", json={"filter": "metrics.auc >= 0.9 and params.lr = 0.1"}).json()
    assert [r["name"] for r in found] == ["r1"]
    bad = client.post("/runs/search", json={"filter": "metrics.auc > high"})
    assert bad.status_code == 400 and "compares numbers" in bad.json()["message"]
    assert client.get("/runs/api/nope").status_code == 404
    assert client.post("/experiments", json={"name": "api"}).status_code == 409
    assert client.post("/runs/api/r1/end", json={"status": "Done"}).status_code == 400
    assert client.post("/runs/compare", json={"runs": []}).status_code == 400
