"""Autoscaling over real endpoints: target tracking on real traffic, step scaling on an alarm,
scheduled actions, scale to zero and wake-up of an async endpoint, kill -9 of the scaling loop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from forgeml.alarms._metrics import MetricsStore
from forgeml.core.workspace import Workspace
from forgeml.errors import NotFoundError, ValidationError
from forgeml.serving._capacity import instance_counts, pool_state
from forgeml.serving._scaling_service import DONE_EVENT, EVENT
from forgeml.settings import Settings

ROW = b"0.5,3,red\n"
RID = "endpoint/{}/variant/AllTraffic"


@pytest.fixture(autouse=True)
def _no_server_left(ws: Workspace) -> Iterator[None]:
    yield
    for record in ws.endpoints.list():
        ws.endpoints.delete(record.name)


@pytest.fixture
def fast(settings: Settings) -> Iterator[Workspace]:
    """A workspace whose endpoint workers publish their metrics twice a second."""
    workspace = Workspace(settings.model_copy(update={"metrics_publish_seconds": 0.5}))
    yield workspace
    for record in workspace.endpoints.list():
        workspace.endpoints.delete(record.name)
    workspace.close()


def _activities(ws: Workspace, name: str) -> list[dict[str, object]]:
    return [e.data for e in ws.metadata.list_events(resource=f"endpoint/{name}") if e.type == EVENT]


def _count(ws: Workspace, name: str) -> int:
    return instance_counts(ws.endpoints.get(name))["AllTraffic"]


def test_target_tracking_scales_out_on_traffic_and_back_in_when_idle(fast: Workspace, packages: dict[str, Path]) -> None:
    ws = fast
    ws.endpoints.deploy("tt", str(packages["logistic"]))
    rid = RID.format("tt")
    ws.scaling.register_target({"resource_id": rid, "min_capacity": 1, "max_capacity": 2})
    ws.scaling.put_policy({"name": "ipi", "resource_id": rid, "policy_type": "TargetTrackingScaling", "target_tracking": {
        "metric": "SageMakerVariantInvocationsPerInstance", "target_value": 120, "metric_period_seconds": 4,
        "scale_in_cooldown": 0.5, "scale_out_cooldown": 0.5}})  # fmt: skip
    assert ws.scaling.tick() == []  # no traffic yet: 0 per instance, already at MinCapacity
    url = ws.endpoints.get("tt").data["url"]
    with httpx.Client() as client:  # 40 calls within any 4 s window: at least 600 a minute on 1 instance
        for _ in range(40):
            assert client.post(f"{url}/invocations", content=ROW, headers={"Content-Type": "text/csv"}).status_code == 200
    time.sleep(1.0)  # the workers' next publish
    begun = ws.scaling.tick()
    assert [(a.from_capacity, a.to_capacity, a.direction) for a in begun] == [(1, 2, "out")]  # wants more, MaxCapacity 2
    assert _count(ws, "tt") == 2 and pool_state(ws.endpoints.get("tt"))["ready"] == 2
    time.sleep(4.5)  # the traffic leaves the window; both cooldowns are over
    begun = ws.scaling.tick()
    assert [(a.to_capacity, a.direction) for a in begun] == [(1, "in")]
    assert _count(ws, "tt") == 1
    done = [a.status for a in ws.scaling.activities(rid)]
    assert done == ["Successful", "Successful"]
    causes = [str(a["Cause"]) for a in _activities(ws, "tt")]
    assert "SageMakerVariantInvocationsPerInstance" in causes[0] and "vs target 120" in causes[0]
    assert ws.scaling.targets("tt")[0]["current_capacity"] == 1


def test_step_scaling_follows_the_alarm_and_its_cooldown(ws: Workspace, packages: dict[str, Path]) -> None:
    ws.endpoints.deploy("st", str(packages["logistic"]))
    rid = RID.format("st")
    ws.alarms.put({"name": "st-busy", "namespace": "AWS/SageMaker", "metric_name": "ModelLatency",
                   "dimensions": {"EndpointName": "st", "VariantName": "AllTraffic"}, "threshold": 1000,
                   "comparison_operator": "GreaterThanThreshold"})  # fmt: skip
    ws.scaling.register_target({"resource_id": rid, "min_capacity": 1, "max_capacity": 4})
    with pytest.raises(NotFoundError, match="alarm 'nope'"):
        ws.scaling.put_policy({"name": "s", "resource_id": rid, "policy_type": "StepScaling",
                               "step_scaling": {"alarm": "nope", "steps": [{"lower": 0, "adjustment": 2}]}})  # fmt: skip
    ws.scaling.put_policy({"name": "steps", "resource_id": rid, "policy_type": "StepScaling",
                           "step_scaling": {"alarm": "st-busy", "steps": [{"lower": 0, "adjustment": 2}]}})  # fmt: skip
    assert ws.scaling.tick() == []  # INSUFFICIENT_DATA: nothing
    ws.alarms.set_state("st-busy", "ALARM", "drill")
    begun = ws.scaling.tick()
    assert [(a.from_capacity, a.to_capacity, a.policy) for a in begun] == [(1, 3, "steps")]
    assert ws.scaling.tick() == []  # within the policy's 300 s cooldown
    assert _count(ws, "st") == 3
    with pytest.raises(ValidationError, match=r"outside .* bounds \[1, 4\]"):
        ws.scaling.set_capacity("st", "AllTraffic", 5)
    assert ws.scaling.set_capacity("st", "AllTraffic", 1).to_capacity == 1
    assert _count(ws, "st") == 1


def test_scheduled_action_fires_once_and_moves_capacity_into_the_new_bounds(ws: Workspace, packages: dict[str, Path]) -> None:
    ws.endpoints.deploy("sch", str(packages["logistic"]))
    rid = RID.format("sch")
    ws.scaling.register_target({"resource_id": rid, "min_capacity": 1, "max_capacity": 2})
    fire = int(time.time()) + 3600
    stamp = datetime.fromtimestamp(fire, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    ws.scaling.put_scheduled_action({"name": "morning", "resource_id": rid, "schedule": f"at({stamp})", "min_capacity": 2, "max_capacity": 3})
    assert ws.scaling.tick() == []  # not yet
    later = fire + 1
    begun = ws.scaling.tick(now=later)
    assert [(a.from_capacity, a.to_capacity) for a in begun] == [(1, 2)]
    assert "scheduled action morning" in begun[0].cause
    assert ws.scaling.target(rid)["min_capacity"] == 2 and ws.scaling.target(rid)["max_capacity"] == 3
    assert ws.scaling.tick(now=later + 5) == []  # an at() fires once
    assert _count(ws, "sch") == 2


def test_bad_targets_are_refused(ws: Workspace, packages: dict[str, Path]) -> None:
    ws.endpoints.deploy("rt", str(packages["logistic"]))
    with pytest.raises(ValidationError, match="min_capacity 0 needs an async endpoint"):
        ws.scaling.register_target({"resource_id": RID.format("rt"), "min_capacity": 0, "max_capacity": 2})
    with pytest.raises(ValidationError, match="below min_capacity"):
        ws.scaling.register_target({"resource_id": RID.format("rt"), "min_capacity": 3, "max_capacity": 2})
    with pytest.raises(NotFoundError, match="no variant 'B'"):
        ws.scaling.register_target({"resource_id": "endpoint/rt/variant/B", "min_capacity": 1, "max_capacity": 2})
    with pytest.raises(NotFoundError, match="no scalable target"):
        ws.scaling.put_policy({"name": "p", "resource_id": RID.format("rt"), "policy_type": "TargetTrackingScaling",
                               "target_tracking": {"metric": "CPUUtilization", "target_value": 50}})  # fmt: skip


def test_async_endpoint_scales_to_zero_and_the_first_request_wakes_it(ws: Workspace, packages: dict[str, Path]) -> None:
    ws.endpoints.create("za", {"variants": [{"model": str(packages["logistic"])}], "async_inference": {}})
    rid = RID.format("za")
    ws.scaling.register_target({"resource_id": rid, "min_capacity": 0, "max_capacity": 2})
    ws.scaling.put_policy({"name": "backlog", "resource_id": rid, "policy_type": "TargetTrackingScaling", "target_tracking": {
        "metric": "ApproximateBacklogSizePerInstance", "target_value": 5, "scale_in_cooldown": 0, "scale_out_cooldown": 0}})  # fmt: skip
    begun = ws.scaling.tick()  # no backlog: down to zero
    assert [(a.from_capacity, a.to_capacity) for a in begun] == [(1, 0)]
    assert pool_state(ws.endpoints.get("za"))["running"] == 0 and ws.async_inference.backlog("za")["Instances"] == 0
    answer = ws.async_inference.invoke_async("za", ROW, content_type="text/csv")
    state = ws.async_inference.wait("za", answer["InferenceId"], timeout=60)
    assert state["Status"] == "Completed"
    assert _count(ws, "za") == 1
    wake = [a for a in _activities(ws, "za") if "HasBacklogWithoutCapacity" in str(a["Cause"])]
    assert len(wake) == 1 and wake[0]["ToCapacity"] == 1
    dims = {"EndpointName": "za", "VariantName": "AllTraffic"}
    deadline = time.monotonic() + 30  # the supervisor publishes once it saw the worker ready
    while not (setup := MetricsStore(ws.metadata).query("AWS/SageMaker", "ModelSetupTime", dims, 0, time.time() + 1)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(setup) == 1 and 0 < setup[0].sum < 60e6  # microseconds
    ws.scaling.tick()  # finishes the wake-up activity; idle again (cooldown 0): back to zero
    acts = ws.scaling.activities(rid)
    assert [(a.to_capacity, a.status) for a in reversed(acts)] == [(0, "Successful"), (1, "Successful"), (0, "Successful")]
    assert pool_state(ws.endpoints.get("za"))["running"] == 0


_LOOP = """
import sys, time
from forgeml.core.workspace import Workspace
ws = Workspace(reconcile=False)
while True:
    ws.scaling.tick()
    time.sleep(0.05)
"""


def test_kill_9_of_the_scaling_loop_never_applies_a_decision_twice(ws: Workspace, packages: dict[str, Path], settings: Settings) -> None:
    ws.endpoints.deploy("k9", str(packages["logistic"]))
    rid = RID.format("k9")
    ws.scaling.register_target({"resource_id": rid, "min_capacity": 1, "max_capacity": 4})
    ws.alarms.put({"name": "k9-busy", "namespace": "AWS/SageMaker", "metric_name": "ModelLatency",
                   "dimensions": {"EndpointName": "k9", "VariantName": "AllTraffic"}, "threshold": 1,
                   "comparison_operator": "GreaterThanThreshold"})  # fmt: skip
    ws.scaling.put_policy({"name": "up2", "resource_id": rid, "policy_type": "StepScaling",
                           "step_scaling": {"alarm": "k9-busy", "steps": [{"lower": 0, "adjustment": 2}]}})  # fmt: skip
    ws.alarms.set_state("k9-busy", "ALARM", "drill")
    env = {**os.environ, **settings.to_env(), "PYTHONPATH": os.pathsep.join(sys.path)}
    loop = subprocess.Popen([sys.executable, "-c", _LOOP], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _activities(ws, "k9") and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(loop.pid, signal.SIGKILL)  # right after the decision was recorded
    finally:
        loop.kill()
        loop.wait()
    assert _activities(ws, "k9"), "the loop never decided"
    ws.scaling.tick()  # the next start: finishes what was begun, decides nothing new (cooldown)
    ws.scaling.tick()
    acts = ws.scaling.activities(rid)
    assert [(a.to_capacity, a.status) for a in acts] == [(3, "Successful")]
    assert _count(ws, "k9") == 3 and pool_state(ws.endpoints.get("k9"))["ready"] == 3
    assert [e.data["StatusCode"] for e in ws.metadata.list_events(resource="endpoint/k9") if e.type == DONE_EVENT][-1] == "Successful"
