"""``GET /metrics`` for a Prometheus scraper, parsed with prometheus_client's own parser: the
monitoring metrics a real execution published, a real endpoint's own metrics, alarm states."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from forgeml.alarms._prometheus import snake, wants_exposition
from forgeml.api.app import create_app

# what Prometheus 2.x/3.x sends when it scrapes
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,"
                     "text/plain;version=0.0.4;q=0.3,*/*;q=0.1")  # fmt: skip


def _samples(text: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def _one(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    found = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return float(found[0])


@pytest.mark.parametrize(("accept", "fmt", "expected"), [
    (PROMETHEUS_ACCEPT, None, True), ("text/plain", None, True), ("application/json", None, False), (None, None, False),
    ("*/*", None, False), ("application/json, text/plain", None, False), ("application/json", "prometheus", True),
    (PROMETHEUS_ACCEPT, "json", False),
])  # fmt: skip
def test_who_gets_the_exposition(accept: str | None, fmt: str | None, expected: bool) -> None:
    assert wants_exposition(accept, fmt) is expected


def test_label_names() -> None:
    assert snake("MonitoringSchedule") == "monitoring_schedule" and snake("Endpoint") == "endpoint"
    assert snake("a-b c") == "a_b_c" and snake("9x") == "_9x"


def test_scrape_exports_monitoring_endpoint_and_alarm_metrics(world: dict[str, Any]) -> None:
    ws = world["ws"]
    base = ws.monitoring.baseline("train", name="prom-base")
    run = ws.monitoring.check(base, endpoint="ep", variant="B", name="prom-dq")
    assert run.status == "CompletedWithViolations"
    ws.alarms.metrics.put_value("forgeml/monitoring/model-metrics", "estimated_roc_auc", 0.81,
                                {"MonitoringSchedule": "prom-mq", "Endpoint": "ep"})  # fmt: skip
    ws.alarms.metrics.put_value("forgeml/monitoring/model-metrics", "estimated_roc_auc", 0.79,
                                {"MonitoringSchedule": "prom-mq", "Endpoint": "ep"})  # fmt: skip (the newest wins)
    ws.alarms.put({"name": "prom-drift", "namespace": "forgeml/monitoring/data-metrics", "metric_name": "feature_baseline_drift_x1",
                   "dimensions": {"MonitoringSchedule": "prom-dq", "Endpoint": "ep"}, "statistic": "Maximum", "period": 60,
                   "evaluation_periods": 1, "threshold": 0.1, "comparison_operator": "GreaterThanThreshold"})  # fmt: skip
    client = TestClient(create_app(ws))

    got = client.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/plain")
    samples = _samples(got.text)
    metrics = run.data["metrics"]
    assert _one(samples, "forgeml_monitoring_feature_baseline_drift", feature="x1", monitoring_schedule="prom-dq", endpoint="ep",
                namespace="forgeml/monitoring/data-metrics") == pytest.approx(metrics["feature_baseline_drift_x1"])  # fmt: skip
    assert _one(samples, "forgeml_monitoring_feature_non_null", feature="color", monitoring_schedule="prom-dq") == pytest.approx(
        metrics["feature_non_null_color"])
    assert _one(samples, "forgeml_monitoring_estimated_roc_auc", monitoring_schedule="prom-mq") == pytest.approx(0.79)
    assert _one(samples, "forgeml_alarm_state", alarm="prom-drift", state="INSUFFICIENT_DATA") == 1.0
    assert _one(samples, "forgeml_alarm_state", alarm="prom-drift", state="ALARM") == 0.0

    # the endpoint's own families, as its server exports them (read independently from its port)
    assert _one(samples, "forgeml_endpoint_up", endpoint="ep") == 1.0
    port = ws.endpoints.get("ep").data["port"]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    direct = _samples(opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode())
    for variant in ("A", "B"):
        expected = _one(direct, "forgeml_endpoint_invocations_total", endpoint="ep", variant=variant)
        assert _one(samples, "forgeml_endpoint_invocations_total", endpoint="ep", variant=variant) == expected
        assert _one(samples, "forgeml_endpoint_latency_seconds_count", endpoint="ep", variant=variant) == expected
    assert _one(direct, "forgeml_endpoint_invocations_total", endpoint="ep", variant="B") >= 10  # the fixture's 10 shifted requests

    forced = client.get("/metrics", params={"format": "prometheus"})
    assert forced.status_code == 200 and "forgeml_monitoring_feature_baseline_drift" in forced.text
    as_json = client.get("/metrics", params={"namespace": "forgeml/monitoring/data-metrics"})
    assert as_json.status_code == 200 and {"namespace": "forgeml/monitoring/data-metrics", "name": "feature_baseline_drift_x1",
                                           "dimensions": {"Endpoint": "ep", "MonitoringSchedule": "prom-dq"}} in as_json.json()  # fmt: skip
    assert client.get("/metrics", params={"format": "xml"}).status_code in (400, 422)


def test_a_real_forgeml_server_serves_the_exposition(world: dict[str, Any]) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    ws = world["ws"]
    ws.alarms.metrics.put_value("forgeml/monitoring/model-metrics", "accuracy", 0.875, {"MonitoringSchedule": "real-srv", "Endpoint": "ep"})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FORGEML_HOME": str(ws.home), "FORGEML_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "forgeml", "server", "--no-scheduler"], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                got = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Accept": PROMETHEUS_ACCEPT}, timeout=10)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/plain")
        samples = _samples(got.text)
        assert _one(samples, "forgeml_monitoring_accuracy", monitoring_schedule="real-srv", endpoint="ep") == 0.875
        assert _one(samples, "forgeml_endpoint_up", endpoint="ep") == 1.0
        assert isinstance(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).json(), list)  # JSON for everyone else
    finally:
        proc.terminate()
        proc.wait(timeout=20)
