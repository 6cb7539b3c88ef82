"""Alarms through the CLI and REST, monitoring metrics in the store, a webhook, the server loop."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from forgeml.alarms._loop import AlarmLoop
from forgeml.alarms._publish import MONITORING_NAMESPACE
from forgeml.cli._common import state
from forgeml.core.workspace import Workspace
from tests.cli_runner import run_cli

ALARM = {"name": "q-low", "namespace": "app", "metric_name": "Quality", "statistic": "Minimum", "period": 10,
         "evaluation_periods": 1, "threshold": 0.5, "comparison_operator": "LessThanThreshold"}  # fmt: skip


def _cli(ws: Workspace, *args: str) -> Any:
    state.workspace = ws
    try:
        return run_cli(ws.home, *args)
    finally:
        state.workspace = None


def test_cli_put_publish_evaluate_history(ws: Workspace, tmp_path: Path) -> None:
    cfg = tmp_path / "alarm.yaml"
    cfg.write_text(json.dumps(ALARM))
    out = _cli(ws, "alarms", "put", str(cfg), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "INSUFFICIENT_DATA"
    assert _cli(ws, "alarms", "put-metric", "app", "Quality", "0.2").returncode == 0
    out = _cli(ws, "alarms", "evaluate", "--json")
    assert out.returncode == 0, out.stderr
    assert [r["status"] for r in json.loads(out.stdout)] == ["ALARM"]
    out = _cli(ws, "alarms", "ls")
    assert "q-low" in out.stdout and "ALARM" in out.stdout
    out = _cli(ws, "alarms", "history", "q-low", "--json")
    kinds = [e["type"] for e in json.loads(out.stdout)]
    assert kinds == ["AlarmConfigurationChange", "AlarmStateChange"]
    out = _cli(
        ws,
        "alarms",
        "stats",
        "app",
        "Quality",
        "--statistic",
        "Minimum",
        "--period",
        "60",
        "--minutes",
        "2",
        "--json",
    )
    assert [p["value"] for p in json.loads(out.stdout) if p["value"] is not None] == [0.2]
    cfg.write_text(json.dumps({**ALARM, "period": 7}))
    bad = _cli(ws, "alarms", "put", str(cfg))
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: alarm config: period")
    assert bad.stderr.count("\n") == 1
    missing = _cli(ws, "alarms", "show", "nope")
    assert (
        missing.returncode == 4 and missing.stderr.strip() == "error: alarm 'nope' does not exist"
    )
    assert _cli(ws, "endpoints", "deployment", "nope").returncode == 4


def test_rest_alarms_and_metrics(ws: Workspace) -> None:
    from forgeml.api.app import create_app

    with TestClient(create_app(ws)) as client:
        assert client.post("/alarms", json=ALARM).json()["status"] == "INSUFFICIENT_DATA"
        r = client.post(
            "/metrics",
            json={"namespace": "app", "metric_data": [{"name": "Quality", "values": [0.9, 0.7]}]},
        )
        assert r.status_code == 200 and r.json() == {"stored": 1}
        assert [a["status"] for a in client.post("/alarms/evaluate", json={}).json()] == ["OK"]
        r = client.get(
            "/metrics/statistics",
            params={
                "namespace": "app",
                "name": "Quality",
                "statistic": "Average",
                "period": 60,
                "seconds": 120,
            },
        )
        assert [p["value"] for p in r.json() if p["value"] is not None] == [0.8]
        assert (
            client.post("/alarms/q-low/state", json={"state": "ALARM", "reason": "drill"}).json()[
                "status"
            ]
            == "ALARM"
        )
        history = client.get("/alarms/q-low/history").json()
        assert history[-1]["data"]["state"]["reason"] == "drill"
        r = client.post("/alarms", json={**ALARM, "webhook_url": "http://169.254.169.254/x"})
        assert r.status_code == 400 and "not allowed" in r.json()["message"]
        r = client.post("/metrics", json={"namespace": "app", "metric_data": [{"name": "Quality"}]})
        assert (
            r.status_code == 400
            and r.json()["message"] == "metric_data.0: give exactly one of value and values"
        )
        assert client.get("/alarms/nope").status_code == 404
        assert client.get("/endpoints/nope/deployment").status_code == 404
        assert client.delete("/alarms/q-low").status_code == 200
        assert client.get("/alarms").json() == []


def test_monitoring_execution_publishes_to_the_store(ws: Workspace) -> None:
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"x1": rng.normal(size=400), "c": rng.choice(["a", "b"], size=400)})
    shifted = pd.DataFrame(
        {"x1": rng.normal(3, 1, size=400), "c": rng.choice(["a", "b"], size=400)}
    )
    ws.datasets.create("base", base)
    ws.datasets.create("win", shifted)
    ws.monitoring.baseline("base:1", name="b")
    ws.monitoring.check("b", "win:1", name="dq")
    series = {s["name"]: s["dimensions"] for s in ws.alarms.metrics.series(MONITORING_NAMESPACE)}
    assert series["feature_baseline_drift_x1"] == {"MonitoringSchedule": "dq"}
    ws.alarms.put({"name": "drift", "namespace": MONITORING_NAMESPACE, "metric_name": "feature_baseline_drift_x1",
                   "dimensions": {"MonitoringSchedule": "dq"}, "statistic": "Maximum", "period": 60, "threshold": 0.1,
                   "comparison_operator": "GreaterThanThreshold"})  # fmt: skip
    assert [r.status for r in ws.alarms.evaluate(now=time.time() + 60)] == ["ALARM"]


class _Hook(BaseHTTPRequestHandler):
    got: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        _Hook.got.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_server_loop_fires_allowed_webhook(ws: Workspace) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ws.settings.alarm_webhook_allowed_hosts.append("127.0.0.1")
        ws.alarms.put({**ALARM, "webhook_url": f"http://127.0.0.1:{server.server_port}/hook"})
        ws.alarms.metrics.put_value("app", "Quality", 0.1)
        assert AlarmLoop(ws, interval=60).tick() == 1
    finally:
        server.shutdown()
        server.server_close()
        ws.settings.alarm_webhook_allowed_hosts.clear()
    assert [h["detail"]["state"]["value"] for h in _Hook.got] == ["ALARM"]
    assert _Hook.got[0]["detail"]["previousState"]["value"] == "INSUFFICIENT_DATA"
    actions = [e for e in ws.alarms.history("q-low") if e.type == "AlarmAction"]
    assert actions[0].data["status"] == 204 and actions[0].data["ok"] is True
