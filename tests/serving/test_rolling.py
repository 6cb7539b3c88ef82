"""Rolling updates (``RollingUpdatePolicy``) on real endpoints: batches, bakes, alarm rollback in
batches, and kill -9 of the new fleet's server mid-update."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.alarms import Datapoint
from forgeml.core.workspace import Workspace
from forgeml.errors import ForgeError, NotFoundError, ValidationError
from forgeml.serving._rollout_config import parse_deployment, rollback_steps, shift_steps

CSV = "text/csv"
GOOD = b"0.5,3,red\n"


@pytest.fixture(autouse=True)
def _no_server_left(ws: Workspace) -> Iterator[None]:
    yield
    for record in ws.endpoints.list():
        ws.endpoints.delete(record.name)


def _rolling(size: dict | None = None, wait: int = 1, rollback: dict | None = None, alarms: list[str] | None = None) -> dict:
    policy: dict = {"MaximumBatchSize": size or {"Type": "CAPACITY_PERCENT", "Value": 50}, "WaitIntervalInSeconds": wait}
    if rollback is not None:
        policy["RollbackMaximumBatchSize"] = rollback
    out: dict = {"RollingUpdatePolicy": policy}
    if alarms is not None:
        out["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return out


def _config(package: Path, workers: int = 1) -> dict:
    return {"variants": [{"name": "AllTraffic", "model": str(package), "workers": workers}]}


def test_rolling_steps_and_ranges() -> None:
    assert shift_steps(parse_deployment(_rolling()), 1) == [0.5, 1.0]
    assert shift_steps(parse_deployment(_rolling({"Type": "CAPACITY_PERCENT", "Value": 30})), 1) == [0.3, 0.6, 0.9, 1.0]
    assert shift_steps(parse_deployment(_rolling({"Type": "INSTANCE_COUNT", "Value": 1})), 4) == [0.25, 0.5, 0.75, 1.0]
    policy = parse_deployment(_rolling(rollback={"Type": "CAPACITY_PERCENT", "Value": 25})).RollingUpdatePolicy
    assert rollback_steps(policy, 0.75, 1) == [0.5, 0.25, 0.0]
    assert rollback_steps(parse_deployment(_rolling()).RollingUpdatePolicy, 0.5, 1) == [0.0]  # default: 100 %
    assert rollback_steps(None, 0.5, 1) == [0.0]
    bad = [
        (_rolling({"Type": "CAPACITY_PERCENT", "Value": 60}), 1, "MaximumBatchSize: 60% is out of range (5-50% of the fleet)"),
        (_rolling({"Type": "CAPACITY_PERCENT", "Value": 4}), 1, "4% is out of range"),
        (_rolling({"Type": "INSTANCE_COUNT", "Value": 1}), 1, "1 of 1 instance(s) is out of range"),
        (_rolling(rollback={"Type": "CAPACITY_PERCENT", "Value": 101}), 1, "RollbackMaximumBatchSize.Value: a percent must be 1-100"),
        (_rolling(wait=3601), 1, "WaitIntervalInSeconds"),
        ({"RollingUpdatePolicy": {"WaitIntervalInSeconds": 1}}, 1, "MaximumBatchSize"),
        ({**_rolling(), "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE"}}}, 1,
         "exactly one of BlueGreenUpdatePolicy and RollingUpdatePolicy"),
        ({}, 1, "exactly one of"),
    ]  # fmt: skip
    for dep, capacity, needle in bad:
        with pytest.raises(ValidationError) as info:
            shift_steps(parse_deployment(dep), capacity)
        assert needle in info.value.message and "\n" not in info.value.message, dep


def test_rolling_update_completes_under_load(ws: Workspace, packages: dict[str, Path]) -> None:
    ws.endpoints.create("ru", _config(packages["logistic"], workers=2))
    stop, failures, answered = threading.Event(), [], [0]

    def load() -> None:
        while not stop.is_set():
            try:
                ws.endpoints.invoke("ru", GOOD, content_type=CSV)
                answered[0] += 1
            except ForgeError as exc:
                failures.append(exc.message)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        out = ws.endpoints.update("ru", _config(packages["recipe"], workers=2),
                                  deployment_config=_rolling({"Type": "INSTANCE_COUNT", "Value": 1}, wait=1))  # fmt: skip
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == [] and answered[0] > 0
    assert (out.version, out.status, out.data["last_deployment"]["status"]) == (2, "InService", "Completed")
    dep = ws.endpoints.deployment("ru")
    assert dep.status == "Completed" and dep.data["policy"] == "RollingUpdate"
    labels = [s["step"] for s in dep.data["steps"]]
    assert labels[1:5] == ["batch 1/2: shift 50% of traffic to version 2", "bake batch 1/2",
                           "batch 2/2: shift 100% of traffic to version 2", "final bake"]  # fmt: skip
    bake = dep.data["steps"][2]
    assert bake["ended_at"] - bake["started_at"] >= 1.0  # WaitIntervalInSeconds per batch


def test_alarm_rolls_back_in_batches(ws: Workspace, packages: dict[str, Path]) -> None:
    """A real metric breaching during a batch's bake trips the alarm; the old fleet comes back
    RollbackMaximumBatchSize at a time."""
    ws.endpoints.create("rr", _config(packages["logistic"]))
    ws.alarms.put({"name": "rr-errors", "namespace": "Test/Rolling", "metric_name": "Errors", "dimensions": {"EndpointName": "rr"},
                   "statistic": "Sum", "period": 10, "threshold": 0, "comparison_operator": "GreaterThanThreshold",
                   "treat_missing_data": "notBreaching"})  # fmt: skip
    stop = threading.Event()

    def breach() -> None:
        while not stop.is_set():
            try:
                if ws.endpoints.deployment("rr").status == "Baking":
                    ws.alarms.metrics.put([Datapoint.of("Test/Rolling", "Errors", {"EndpointName": "rr"}, [3.0])])
                    return
            except NotFoundError:
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=breach)
    thread.start()
    try:
        dep_config = _rolling({"Type": "CAPACITY_PERCENT", "Value": 50}, wait=60,
                              rollback={"Type": "CAPACITY_PERCENT", "Value": 25}, alarms=["rr-errors"])  # fmt: skip
        out = ws.endpoints.update("rr", _config(packages["recipe"]), deployment_config=dep_config)
    finally:
        stop.set()
        thread.join()
    assert (out.version, out.status) == (1, "InService")
    assert out.data["last_deployment"]["status"] == "RolledBack"
    assert "alarm 'rr-errors' went into ALARM" in out.data["last_deployment"]["reason"]
    dep = ws.endpoints.deployment("rr")
    assert dep.status == "RolledBack"
    assert dep.data["steps"][-1]["step"] == "rolled back in 2 batches: 25%, 0%"
    assert dep.data["ended_at"] - dep.data["started_at"] < 50  # well before the 60 s bake ended
    assert [r.version for r in ws.endpoints.versions("rr")] == [1]
    assert ws.endpoints.invoke("rr", GOOD, content_type=CSV).body


def test_kill_9_of_the_new_fleets_server_mid_rolling_update(ws: Workspace, packages: dict[str, Path]) -> None:
    """kill -9 of the new version's endpoint server during a batch's bake: the update rolls back
    and the old fleet answers every request, before, during and after."""
    ws.endpoints.create("rk", _config(packages["logistic"]))
    stop, failures, killed = threading.Event(), [], []

    def killer() -> None:
        while not stop.is_set():
            try:
                if ws.endpoints.deployment("rk").status == "Baking":
                    green = ws.endpoints.get("rk", 2)
                    os.killpg(int(green.data["pid"]), signal.SIGKILL)
                    killed.append(green.data["pid"])
                    return
            except NotFoundError:
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        out = ws.endpoints.update("rk", _config(packages["recipe"]), deployment_config=_rolling(wait=60))
    finally:
        stop.set()
        thread.join()
    assert killed
    assert (out.version, out.status, out.data["last_deployment"]["status"]) == (1, "InService", "RolledBack")
    assert "the server of version 2 exited during the bake" in out.data["last_deployment"]["reason"]
    for _ in range(20):
        try:
            ws.endpoints.invoke("rk", GOOD, content_type=CSV)
        except ForgeError as exc:
            failures.append(exc.message)
    assert failures == []
    assert [r.version for r in ws.endpoints.versions("rk")] == [1]


def test_kill_9_of_the_driver_mid_rolling_update_is_rolled_back_by_the_server(
    ws: Workspace, packages: dict[str, Path], tmp_path: Path
) -> None:
    """kill -9 of the CLI process driving a rolling update mid-bake: `forgeml server`'s loop
    rolls it back (RollbackMaximumBatchSize at a time) and the old version serves."""
    import json
    import subprocess
    import sys

    from forgeml.alarms._loop import AlarmLoop

    ws.endpoints.create("rd", _config(packages["logistic"]))
    new, dep = tmp_path / "new.json", tmp_path / "dep.json"
    new.write_text(json.dumps(_config(packages["recipe"])))
    dep.write_text(json.dumps(_rolling(wait=120, rollback={"Type": "CAPACITY_PERCENT", "Value": 25})))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-m", "forgeml", "--home", str(ws.home), "endpoints", "update", "rd",
                              "--config", str(new), "--deployment-config", str(dep)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if ws.endpoints.deployment("rd").status == "Baking":
                    break
            except NotFoundError:
                pass
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            time.sleep(0.1)
        green = ws.endpoints.get("rd")
        assert green.version == 2 and green.data["traffic_share"] == 0.5
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stderr:
            child.stderr.close()
    AlarmLoop(ws, interval=60).tick()
    record = ws.endpoints.get("rd")
    assert (record.version, record.status) == (1, "InService")
    assert "died mid-shift" in record.data["last_deployment"]["reason"]
    steps = ws.endpoints.deployment("rd").data["steps"]
    assert ws.endpoints.deployment("rd").status == "RolledBack"
    assert steps[-1]["step"] == "rolled back in 2 batches: 25%, 0%"
    assert ws.endpoints.invoke("rd", GOOD, content_type=CSV).body
