"""The autoscaling routes over a real endpoint: register, policies, schedules, capacity, activity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from tests.serving.conftest import logistic_package


@pytest.fixture
def api(ws: Workspace, tmp_path: Path) -> Iterator[TestClient]:
    ws.endpoints.deploy("ep", str(logistic_package(tmp_path / "pkg")))
    with TestClient(create_app(ws)) as client:
        yield client
    for record in ws.endpoints.list():
        ws.endpoints.delete(record.name)


def test_scaling_routes_round_trip(api: TestClient, ws: Workspace) -> None:
    base = "/endpoints/ep/scaling/AllTraffic"
    r = api.put(f"{base}/target", json={"min_capacity": 1, "max_capacity": 3})
    assert r.status_code == 200 and r.json()["current_capacity"] == 1
    tt = {"policy_type": "TargetTrackingScaling", "target_tracking": {"metric": "CPUUtilization", "target_value": 60}}
    assert api.put(f"{base}/policies/cpu", json=tt).status_code == 200
    sched = {"schedule": "cron(0 8 ? * 2-6 *)", "min_capacity": 2}
    assert api.put(f"{base}/scheduled-actions/morning", json=sched).status_code == 200
    shown = api.get("/endpoints/ep:1/scaling").json()
    assert shown["instance_counts"] == {"AllTraffic": 1}
    assert [p["name"] for p in shown["policies"]] == ["cpu"] and shown["scheduled_actions"][0]["name"] == "morning"
    r = api.put("/endpoints/ep/variants/AllTraffic/capacity", json={"desired_instance_count": 2})
    assert r.status_code == 200 and r.json()["ToCapacity"] == 2 and r.json()["StatusCode"] == "Successful"
    assert ws.endpoints.get("ep").data["workers"] == 2
    acts = api.get("/endpoints/ep/scaling/activities").json()
    assert acts[0]["Cause"].startswith("set by hand from 1 to 2")
    assert api.delete(f"{base}/policies/cpu").status_code == 200
    assert api.delete(f"{base}/scheduled-actions/morning").status_code == 200
    assert api.delete(f"{base}/target").status_code == 200
    assert api.get("/endpoints/ep/scaling").json()["targets"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("put", "/endpoints/ep/scaling/AllTraffic/target", {"min_capacity": 0, "max_capacity": 2}, 400, "min_capacity 0 needs an async endpoint"),
        ("put", "/endpoints/ep/scaling/AllTraffic/target", {"min_capacity": 1, "max_capacity": 99}, 400, "max_capacity"),
        ("put", "/endpoints/ep/scaling/Nope/target", {"min_capacity": 1, "max_capacity": 2}, 404, "no variant 'Nope'"),
        ("put", "/endpoints/nope/scaling/AllTraffic/target", {"min_capacity": 1, "max_capacity": 2}, 404, "nope"),
        ("put", "/endpoints/ep/scaling/AllTraffic/policies/p", {"policy_type": "StepScaling"}, 400, "needs step_scaling"),
        ("put", "/endpoints/ep/scaling/AllTraffic/scheduled-actions/s", {"schedule": "whenever", "min_capacity": 1}, 400, "must be at("),
        ("put", "/endpoints/ep/variants/AllTraffic/capacity", {"desired_instance_count": -1}, 400, "desired_instance_count"),
        ("put", "/endpoints/ep/variants/AllTraffic/capacity", {"desired_instance_count": 1, "extra": 1}, 400, "extra"),
        ("delete", "/endpoints/ep/scaling/AllTraffic/policies/none", None, 404, "no scaling policy"),
    ],
)  # fmt: skip
def test_bad_scaling_requests_are_clear_errors(api: TestClient, method: str, path: str, body: object, status: int, words: str) -> None:
    if "policies/p" in path or "scheduled-actions" in path or "policies/none" in path:
        api.put("/endpoints/ep/scaling/AllTraffic/target", json={"min_capacity": 1, "max_capacity": 2})
    r = getattr(api, method)(path, json=body) if body is not None else getattr(api, method)(path)
    assert r.status_code == status, r.text
    assert words in r.json()["message"]
