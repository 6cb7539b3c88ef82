"""Blue/green deployments on real endpoints: canary and linear shifts, bakes, alarm rollback."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import ForgeError, NotFoundError, ValidationError
from forgeml.serving._rollout_config import parse_deployment, shift_steps
from forgeml.settings import Settings

CSV = "text/csv"
GOOD, BAD = b"0.5,3,red\n", b"1,2\n"  # BAD: a column short, a 400


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_publish_seconds": 0.3})


@pytest.fixture(autouse=True)
def _no_server_left(ws: Workspace) -> Iterator[None]:
    yield
    for record in ws.endpoints.list():
        ws.endpoints.delete(record.name)


def _dep(
    kind: str = "CANARY",
    size: dict | None = None,
    wait: int = 1,
    alarms: list[str] | None = None,
    **policy: int,
) -> dict:
    routing: dict = {"Type": kind, "WaitIntervalInSeconds": wait}
    if kind == "CANARY":
        routing["CanarySize"] = size or {"Type": "CAPACITY_PERCENT", "Value": 50}
    elif kind == "LINEAR":
        routing["LinearStepSize"] = size or {"Type": "CAPACITY_PERCENT", "Value": 50}
    out: dict = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing, **policy}}
    if alarms is not None:
        out["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return out


def _config(package: Path) -> dict:
    return {"variants": [{"name": "AllTraffic", "model": str(package)}]}


def test_shift_steps() -> None:
    assert shift_steps(parse_deployment(_dep("ALL_AT_ONCE")), 1) == [1.0]
    assert shift_steps(
        parse_deployment(_dep("CANARY", {"Type": "CAPACITY_PERCENT", "Value": 10})), 1
    ) == [0.1, 1.0]
    assert shift_steps(
        parse_deployment(_dep("CANARY", {"Type": "INSTANCE_COUNT", "Value": 1})), 4
    ) == [0.25, 1.0]
    assert shift_steps(
        parse_deployment(_dep("LINEAR", {"Type": "CAPACITY_PERCENT", "Value": 25})), 1
    ) == [0.25, 0.5, 0.75, 1.0]
    assert shift_steps(
        parse_deployment(_dep("LINEAR", {"Type": "CAPACITY_PERCENT", "Value": 40})), 1
    ) == [0.4, 0.8, 1.0]


def test_endpoint_metrics_reach_the_store(ws: Workspace, packages: dict[str, Path]) -> None:
    ws.endpoints.create("mx", _config(packages["logistic"]))
    for body in (GOOD, GOOD, GOOD, BAD, BAD):
        with contextlib.suppress(ValidationError):
            ws.endpoints.invoke("mx", body, content_type=CSV)
    dims = {"EndpointName": "mx", "VariantName": "AllTraffic"}
    m = ws.alarms.metrics

    def total(metric: str, stat: str = "Sum") -> float | None:
        now = time.time()
        return m.statistics(
            "AWS/SageMaker", metric, dims, start=now - 120, end=now + 1, period=121, statistic=stat
        )[0][1]

    deadline = time.monotonic() + 20
    while total("Invocations") != 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert total("Invocations") == 5
    assert total("Invocation4XXErrors") == 2 and total(
        "Invocation4XXErrors", "Average"
    ) == pytest.approx(0.4)
    assert total("Invocation5XXErrors") == 0
    assert total("ModelLatency", "SampleCount") == 3 and total("ModelLatency", "Minimum") > 0


def test_canary_under_load_completes_and_drops_nothing(
    ws: Workspace, packages: dict[str, Path]
) -> None:
    ws.endpoints.create("cn", _config(packages["logistic"]))
    ws.alarms.put({"name": "cn-5xx", "namespace": "AWS/SageMaker", "metric_name": "Invocation5XXErrors",
                   "dimensions": {"EndpointName": "cn", "VariantName": "AllTraffic"}, "statistic": "Sum", "period": 10,
                   "threshold": 0, "comparison_operator": "GreaterThanThreshold", "treat_missing_data": "notBreaching"})  # fmt: skip
    stop, failures, answered = threading.Event(), [], [0]

    def load() -> None:
        while not stop.is_set():
            try:
                ws.endpoints.invoke("cn", GOOD, content_type=CSV)
                answered[0] += 1
            except ForgeError as exc:
                failures.append(exc.message)

    from fastapi.testclient import TestClient

    from forgeml.api.app import create_app

    rest_statuses: list[int] = []

    def rest_load(
        client: TestClient,
    ) -> None:  # through the REST proxy, which caches where "cn" serves
        while not stop.is_set():
            r = client.post(
                "/endpoints/cn/invocations", content=GOOD, headers={"content-type": CSV}
            )
            rest_statuses.append(r.status_code)

    with TestClient(create_app(ws)) as client:
        threads = [threading.Thread(target=load) for _ in range(2)] + [
            threading.Thread(target=rest_load, args=(client,))
        ]
        for t in threads:
            t.start()
        try:
            out = ws.endpoints.update(
                "cn",
                _config(packages["recipe"]),
                deployment_config=_dep("CANARY", wait=1, alarms=["cn-5xx"]),
            )
            time.sleep(1.5)  # past the proxy's cache: requests after blue stopped land on green
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert failures == [] and answered[0] > 0
    assert rest_statuses and set(rest_statuses) == {200}
    assert (
        out.version == 2
        and out.status == "InService"
        and out.data["last_deployment"]["status"] == "Completed"
    )
    assert [r.status for r in ws.endpoints.versions("cn")] == ["InService", "OutOfService"]
    dep = ws.endpoints.deployment("cn")
    assert dep.status == "Completed"
    steps = dep.data["steps"]
    assert [s["step"].split(" ")[0] for s in steps] == [
        "start",
        "shift",
        "bake",
        "shift",
        "final",
        "wait",
    ]
    assert [s.get("traffic_share") for s in steps if s["step"].startswith("shift")] == [0.5, 1.0]
    assert all(s["ended_at"] >= s["started_at"] for s in steps)
    assert (
        steps[2]["ended_at"] - steps[2]["started_at"] >= 1.0
    )  # the bake waited WaitIntervalInSeconds


def test_alarm_during_bake_rolls_back_to_blue(ws: Workspace, packages: dict[str, Path]) -> None:
    """Real 4xx traffic during the canary's bake trips the alarm; all traffic returns to v1."""
    ws.endpoints.create("rb", _config(packages["logistic"]))
    try:
        ws.alarms.put({"name": "rb-4xx", "namespace": "AWS/SageMaker", "metric_name": "Invocation4XXErrors",
                       "dimensions": {"EndpointName": "rb", "VariantName": "AllTraffic"}, "statistic": "Sum", "period": 10,
                       "threshold": 0, "comparison_operator": "GreaterThanThreshold", "treat_missing_data": "notBreaching"})  # fmt: skip
        stop = threading.Event()

        def bad_traffic() -> None:
            while not stop.is_set():
                try:
                    if ws.endpoints.deployment("rb").status == "Baking":
                        ws.endpoints.invoke("rb", BAD, content_type=CSV)
                except (NotFoundError, ValidationError):
                    pass
                time.sleep(0.05)

        thread = threading.Thread(target=bad_traffic)
        thread.start()
        try:
            out = ws.endpoints.update(
                "rb",
                _config(packages["recipe"]),
                deployment_config=_dep("CANARY", wait=30, alarms=["rb-4xx"]),
            )
        finally:
            stop.set()
            thread.join()
        assert out.version == 1 and out.status == "InService"
        assert out.data["last_deployment"]["status"] == "RolledBack"
        assert (
            "alarm 'rb-4xx' went into ALARM: Threshold Crossed" in out.data["last_deployment"]["reason"]
        )
        assert [r.version for r in ws.endpoints.versions("rb")] == [1]  # the green fleet is gone
        dep = ws.endpoints.deployment("rb")
        assert dep.status == "RolledBack" and dep.data["steps"][-1]["step"].startswith(
            "all traffic back to version 1"
        )
        assert dep.data["ended_at"] - dep.data["started_at"] < 25  # well before the 30 s bake ended
        assert ws.endpoints.invoke("rb", GOOD, content_type=CSV).body  # v1 still answers
        assert ws.alarms.get("rb-4xx").status == "ALARM"
    finally:
        ws.endpoints.delete("rb")  # its servers outlive the test otherwise


BAD_DEPLOYMENTS = [
    (
        _dep("CANARY", {"Type": "CAPACITY_PERCENT", "Value": 60}),
        ValidationError,
        "CanarySize: 60% is out of range (at most 50%",
    ),
    (
        _dep("CANARY", {"Type": "INSTANCE_COUNT", "Value": 1}),
        ValidationError,
        "1 of 1 instance(s) is out of range",
    ),
    (
        _dep("LINEAR", {"Type": "CAPACITY_PERCENT", "Value": 5}),
        ValidationError,
        "LinearStepSize: 5% is out of range (10-50%",
    ),
    (_dep("CANARY", alarms=["nope"]), NotFoundError, "alarm 'nope' does not exist"),
    (_dep("CANARY", wait=4000), ValidationError, "WaitIntervalInSeconds"),
    (
        {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 60}}},
        ValidationError,
        "MaximumBatchSize: 60% is out of range (5-50% of the fleet)",
    ),
    (
        {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "SLOW"}}},
        ValidationError,
        "Type",
    ),
    (
        _dep("CANARY", MaximumExecutionTimeoutInSeconds=10),
        ValidationError,
        "MaximumExecutionTimeoutInSeconds",
    ),
]


def test_bad_deployment_configs_change_nothing(ws: Workspace, packages: dict[str, Path]) -> None:
    ws.endpoints.create("bd", _config(packages["logistic"]))
    for dep, error, needle in BAD_DEPLOYMENTS:
        with pytest.raises(error) as info:
            ws.endpoints.update("bd", _config(packages["recipe"]), deployment_config=dep)
        assert needle in info.value.message and "\n" not in info.value.message, dep
        assert [(r.version, r.status) for r in ws.endpoints.versions("bd")] == [(1, "InService")]
    from fastapi.testclient import TestClient

    from forgeml.api.app import create_app

    with TestClient(create_app(ws)) as client:
        body = {**_config(packages["recipe"]), "deployment_config": BAD_DEPLOYMENTS[0][0]}
        r = client.put("/endpoints/bd", json=body)
        assert r.status_code == 400 and "CanarySize: 60% is out of range" in r.json()["message"]
        r = client.put("/endpoints/bd", json={**body, "deployment_config": _dep(alarms=["nope"])})
        assert r.status_code == 404 and "alarm 'nope' does not exist" in r.json()["message"]
    assert [(r.version, r.status) for r in ws.endpoints.versions("bd")] == [(1, "InService")]


def test_kill_mid_shift_rolls_back_then_cli_deploys(
    ws: Workspace, packages: dict[str, Path], tmp_path: Path
) -> None:
    """kill -9 of the process driving a canary mid-bake: the server loop rolls it back; then the
    CLI deploys cleanly and `endpoints deployment` shows the steps."""
    import json
    import os
    import signal
    import subprocess
    import sys

    from forgeml.alarms._loop import AlarmLoop
    from tests.cli_runner import run_cli

    ws.endpoints.create("km", _config(packages["logistic"]))
    new, dep = tmp_path / "new.json", tmp_path / "dep.json"
    new.write_text(json.dumps(_config(packages["recipe"])))
    dep.write_text(json.dumps(_dep("CANARY", wait=120)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-m", "forgeml", "--home", str(ws.home), "endpoints", "update", "km",
                              "--config", str(new), "--deployment-config", str(dep)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if ws.endpoints.deployment("km").status == "Baking":
                    break
            except NotFoundError:
                pass
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            time.sleep(0.1)
        green = ws.endpoints.get("km")
        assert green.version == 2 and green.data["traffic_share"] == 0.5
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stderr:
            child.stderr.close()
    assert AlarmLoop(ws, interval=60).tick() == 0
    record = ws.endpoints.get("km")
    assert (record.version, record.status) == (1, "InService")
    assert "died mid-shift" in record.data["last_deployment"]["reason"]
    assert ws.endpoints.deployment("km").status == "RolledBack"
    assert not __import__("forgeml.serving._process", fromlist=["is_running"]).is_running(
        green.data
    )  # green stopped
    assert ws.endpoints.invoke("km", GOOD, content_type=CSV).body

    dep.write_text(json.dumps(_dep("ALL_AT_ONCE", wait=0)))
    out = run_cli(
        ws.home, "endpoints", "update", "km", "--config", str(new), "--deployment-config", str(dep)
    )
    assert out.returncode == 0, out.stderr
    assert "endpoint km version 2: InService" in out.stdout  # the rolled-back number is free again
    out = run_cli(ws.home, "endpoints", "deployment", "km", "--json")
    assert json.loads(out.stdout)["version"] == 2  # the second deployment
    steps = json.loads(out.stdout)["data"]["steps"]
    assert (
        json.loads(out.stdout)["status"] == "Completed"
        and [s["step"] for s in steps][1] == "shift 100% of traffic to version 2"
    )
    table = run_cli(ws.home, "endpoints", "deployment", "km")
    assert "Completed" in table.stdout and "final bake" in table.stdout
