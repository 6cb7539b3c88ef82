"""The CLI and REST faces of rules and schedules, and a real ``forgeml scheduler`` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from tests.cli_runner import run_cli
from tests.rules.test_rules import _Hook, hook  # noqa: F401  (a real webhook server)

PATTERN = '{"source": ["forgeml.alarms"], "detail": {"state": {"value": ["ALARM"]}}}'


def test_cli_rules_and_schedules(ws: Any, tmp_path: Path) -> None:
    home = ws.home
    ws.close()
    (tmp_path / "p.yaml").write_text("source: [forgeml.alarms]\n")
    res = run_cli(home, "rules", "create", "r1", "--pattern", "@" + str(tmp_path / "p.yaml"), "--target", '{"type": "callable", "name": "x"}', "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"] == "ENABLED"
    res = run_cli(home, "rules", "create", "r2", "--pattern", '{"source": ["aws.sagemaker"]}', "--target", '{"type": "callable", "name": "x"}')
    assert res.returncode == 0 and "warning: source" in res.stderr
    res = run_cli(home, "rules", "create", "r3", "--pattern", '{"source": [{"begins": "x"}]}', "--target", '{"type": "callable", "name": "x"}')
    assert res.returncode != 0 and "unknown operator 'begins'" in res.stderr and "Traceback" not in res.stderr
    assert "r1" in run_cli(home, "rules", "ls").stdout
    assert run_cli(home, "rules", "disable", "r1").stdout.strip() == "rule r1: DISABLED"
    assert json.loads(run_cli(home, "rules", "show", "r1", "--json").stdout)["status"] == "DISABLED"
    event = '{"source": "forgeml.alarms", "detail": {"state": {"value": "ALARM"}}}'
    assert run_cli(home, "rules", "test-pattern", "--pattern", PATTERN, "--event", event).returncode == 0
    res = run_cli(home, "rules", "test-pattern", "--pattern", '{"source": ["forgeml.data"]}', "--event", event)
    assert res.returncode == 1 and res.stdout.strip() == "does not match"
    assert json.loads(run_cli(home, "rules", "firings", "r1", "--json").stdout) == []
    assert run_cli(home, "rules", "delete", "r2").returncode == 0
    res = run_cli(home, "schedules", "create", "nightly", "--expression", "0 2 * * *", "--timezone", "Europe/Berlin",
                  "--target", '{"type": "callable", "name": "x"}', "--json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["next_fire"] > time.time()
    res = run_cli(home, "schedules", "create", "bad", "--expression", "every day", "--target", '{"type": "callable", "name": "x"}')
    assert res.returncode != 0 and "is not a cron expression" in res.stderr
    assert "nightly" in run_cli(home, "schedules", "ls").stdout
    assert run_cli(home, "schedules", "disable", "nightly").returncode == 0
    assert json.loads(run_cli(home, "schedules", "show", "nightly", "--json").stdout)["next_fire"] is None
    res = run_cli(home, "scheduler", "--once", "--no-alarms")
    assert res.returncode == 0 and "0 target(s) fired" in res.stdout


def test_rest_rules_and_schedules(ws: Any) -> None:
    client = TestClient(create_app(ws))
    body = {"name": "r1", "pattern": {"source": ["forgeml.alarms"]}, "targets": [{"type": "webhook", "url": "http://10.0.0.1/x"}]}
    r = client.post("/rules", json=body)
    assert r.status_code == 400 and "not allowed" in r.json()["message"]
    r = client.post("/rules", json={**body, "targets": [{"type": "callable"}]})
    assert r.status_code == 400 and "only through the Python SDK" in r.json()["message"]
    r = client.post("/rules", json={**body, "targets": [{"type": "webhook", "url": "http://x", "name": "os:system"}]})
    assert r.status_code == 400 and "name" in r.json()["message"]  # unknown fields refused
    ws.settings.allowed_webhook_hosts.append("hooks.example")
    try:
        r = client.post("/rules", json={**body, "pattern": '{"source": ["aws.x"]}', "targets": [{"type": "webhook", "url": "https://hooks.example/a"}]})
    finally:
        ws.settings.allowed_webhook_hosts.clear()
    assert r.status_code == 200 and r.json()["data"]["warnings"]
    assert client.post("/rules", json={**body, "targets": [{"type": "webhook", "url": "https://hooks.example/a"}]}).status_code == 400
    assert [x["name"] for x in client.get("/rules").json()] == ["r1"]
    assert client.post("/rules/r1/disable").json()["status"] == "DISABLED"
    assert client.post("/rules/r1/enable").json()["status"] == "ENABLED"
    assert client.get("/rules/r1/firings").json() == []
    r = client.post("/rules/test-pattern", json={"pattern": {"source": ["forgeml.alarms"]}, "event": {"source": "forgeml.alarms"}})
    assert r.json()["matches"] is True
    assert client.post("/rules/test-pattern", json={"pattern": {"source": ["x"]}}).status_code == 400
    assert client.post("/rules/test-pattern", json={"pattern": {"source": ["x"]}, "event_id": 99999}).status_code == 404
    assert client.get("/rules/nope").status_code == 404
    assert client.delete("/rules/r1").json() == {"deleted": "r1"}
    r = client.post("/schedules", json={"name": "s1", "expression": "rate(61 seconds)", "targets": [{"type": "pipeline", "pipeline": "p"}]})
    assert r.status_code == 400
    r = client.post("/schedules", json={"name": "s1", "expression": "rate(1 minute)", "targets": [{"type": "callable"}]})
    assert r.status_code == 400


def _until(predicate: Any, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, "the scheduler exited"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_real_scheduler_process_killed_and_restarted(ws: Any, hook: str, tmp_path: Path) -> None:  # noqa: F811
    ws.settings.allowed_webhook_hosts.append("127.0.0.1")
    ws.rules.create("hook", json.loads(PATTERN), [{"type": "webhook", "url": hook, "input": {"alarm": "$.detail.alarmName"}}])
    ws.schedules.create("tick", "rate(1 minute)", [{"type": "webhook", "url": hook}])
    # as if created a minute ago: its first fire is due in half a second
    ws.metadata.update_resource("schedule", "tick", 1, data={"anchor": time.time() - 59.5})
    env = {**os.environ, "FORGEML_HOME": str(ws.home), "FORGEML_ALLOWED_WEBHOOK_HOSTS": "127.0.0.1", "FORGEML_RULES_TICK_SECONDS": "0.1"}

    def start() -> subprocess.Popen[bytes]:
        with (tmp_path / "scheduler.log").open("ab") as log:
            return subprocess.Popen([sys.executable, "-m", "forgeml", "scheduler", "--no-alarms"], env=env, start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip

    first = start()
    try:
        ws.alarms  # noqa: B018 - the event below is what the alarm service writes
        ws.metadata.append_event("alarm/a1:1", "AlarmStateChange", {"alarmName": "a1", "state": {"value": "ALARM"}})
        _until(lambda: len(_Hook.received) == 2, first)  # the rule's post and the schedule's
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    ws.metadata.append_event("alarm/a2:1", "AlarmStateChange", {"alarmName": "a2", "state": {"value": "ALARM"}})
    second = start()
    try:
        _until(lambda: len(_Hook.received) == 3, second)
        time.sleep(1.0)  # more passes: nothing more is sent (the schedule's next fire is a minute away)
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait()
    bodies = [body for body, _ in _Hook.received]
    assert [b for b in bodies if "alarm" in b] == [{"alarm": "a1"}, {"alarm": "a2"}]
    fired = [b for b in bodies if b.get("detail-type") == "Scheduled Event"]
    assert len(fired) == 1 and fired[0]["resources"] == ["schedule/tick:1"]
    assert len(ws.schedules.history("tick")) == 1
    newest, oldest = ws.rules.history("hook")
    assert newest["state"] == "Succeeded"
    # the first process may have died after posting and before recording it: then it stays Interrupted, never re-posted
    assert oldest["state"] in ("Succeeded", "Interrupted")
