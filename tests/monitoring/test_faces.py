"""The CLI, the REST routes and the HTML report (in headless Chromium) over the shared endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forgeml.cli._common import state
from tests.cli_runner import run_cli


def _cli(ws: Any, *args: str) -> Any:
    state.workspace = ws
    try:
        return run_cli(ws.home, *args)
    finally:
        state.workspace = None


def test_cli_baseline_run_violations_report(world: dict[str, Any], tmp_path: Path) -> None:
    ws = world["ws"]
    out = _cli(ws, "monitor", "baseline", "train:1", "--name", "cli", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ref"] == "monitoring-baseline/cli:1"
    edited = tmp_path / "c.yaml"
    edited.write_text("monitoring_config:\n  distribution_constraints:\n    comparison_method: Simple\n    unknown: 1\n")
    bad = _cli(ws, "monitor", "constraints", "cli", "--set", str(edited))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "monitoring_config.distribution_constraints.unknown: unknown key" in bad.stderr
    page = tmp_path / "report.html"
    out = _cli(ws, "monitor", "run", "cli", "--endpoint", "ep", "--variant", "B", "--name", "cli-run", "--html", str(page), "--json")
    assert out.returncode == 0, out.stderr
    run = json.loads(out.stdout)
    assert run["status"] == "CompletedWithViolations" and run["ref"] == "monitoring-execution/cli-run:1" and page.is_file()
    out = _cli(ws, "monitor", "violations", "cli-run:1", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["violations"] == run["violations"]
    out = _cli(ws, "monitor", "report", "monitoring-execution/cli-run", "--json")
    report = json.loads(out.stdout)
    assert report["drift"]["x1"]["method"] == "Robust" and report["status"] == "CompletedWithViolations"
    out = _cli(ws, "monitor", "executions", "cli-run", "--json")
    assert [e["ref"] for e in json.loads(out.stdout)] == ["monitoring-execution/cli-run:1"]
    out = _cli(ws, "monitor", "baseline")
    assert out.returncode == 2 and out.stderr.strip() == (
        "error: give exactly one of DATA (a dataset reference or a file) and --endpoint (captured traffic)")
    out = _cli(ws, "monitor", "violations", "cli-run:7")
    assert out.returncode == 4 and out.stderr.strip() == "error: monitoring execution 'cli-run' has no version 7 (latest is 1)"


def test_rest_routes_take_references_only(world: dict[str, Any]) -> None:
    from forgeml.api.app import create_app

    ws = world["ws"]
    with TestClient(create_app(ws)) as client:
        r = client.post("/monitoring/baselines", json={"dataset": "train:1", "name": "rest"})
        assert r.status_code == 201, r.text
        assert r.json()["ref"] == "monitoring-baseline/rest:1" and r.json()["constraints"]["features"][0]["name"] == "x1"
        assert client.get("/monitoring/baselines/rest:1/statistics.json").json()["dataset"]["item_count"] == 600
        doc = client.get("/monitoring/baselines/rest/constraints.json").json()
        doc["monitoring_config"]["distribution_constraints"]["categorical_drift_method"] = "ChiSquared"
        r = client.put("/monitoring/baselines/rest/constraints.json", json=doc)
        assert r.status_code == 201 and r.json()["version"] == 2
        r = client.put("/monitoring/baselines/rest/constraints.json", json={"features": [{"name": "x1", "inferred_type": 3}]})
        assert r.status_code == 400 and r.json()["message"].startswith("constraints: features[0].inferred_type")
        r = client.put("/monitoring/baselines/rest/constraints.json", json={"features": [{"name": "nope", "inferred_type": "String"}]})
        assert r.status_code == 400 and r.json()["message"] == "constraints name feature(s) the baseline does not have: nope"
        assert client.get("/monitoring/baselines/rest").json()["version"] == 2  # nothing stored
        r = client.post("/monitoring/executions", json={"baseline": "rest", "endpoint": "ep", "variant": "B", "name": "rest-run"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "CompletedWithViolations" and body["data"]["drift"]["color"]["method"] == "ChiSquared"
        assert client.get("/monitoring/executions/rest-run/constraint_violations.json").json()["violations"] == body["violations"]
        assert [e["ref"] for e in client.get("/monitoring/executions", params={"name": "rest-run"}).json()] == ["monitoring-execution/rest-run:1"]
        page = client.get("/monitoring/executions/rest-run:1/report.html")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html") and "<svg" in page.text
        for path in (str(world["root"] / "rows.csv"), "./rows.parquet", "/etc/passwd.csv"):
            r = client.post("/monitoring/baselines", json={"dataset": path})
            assert r.status_code == 400 and "not a path" in r.json()["message"], r.text
        r = client.post("/monitoring/executions", json={"baseline": "rest", "endpoint": "ep", "constraints": {"bogus": 1}})
        assert r.status_code == 400 and r.json() == {"error": "ValidationError", "message": "constraints: bogus: unknown key (got 1)"}
        r = client.post("/monitoring/executions", json={"baseline": "nope", "endpoint": "ep"})
        assert r.status_code == 404
        r = client.post("/monitoring/baselines", json={"dataset": "train", "root": "/tmp"})
        assert r.status_code == 400
        spec = client.get("/openapi.json").json()["paths"]["/monitoring/executions"]["post"]["responses"]
        assert {"400", "403", "404", "409"} <= set(spec)


def test_html_report_renders_offline_in_chromium(world: dict[str, Any], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    ws = world["ws"]
    rec = next((r for r in ws.monitoring.executions() if r.status == "CompletedWithViolations"), None)  # made by another test
    if rec is None:
        base = ws.monitoring.baseline("train:1", name="html")
        rec = ws.monitoring.check(base, endpoint="ep", variant="B", name="html")
    page_file = ws.reports.write(rec.ref, tmp_path / "report.html")
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            assert page.locator("svg.cdf").count() >= 2  # a CDF chart per numeric feature
            assert page.locator("svg.drift rect.bar").count() == 3
            assert page.get_by_text("categorical_values_check").count() >= 1
        finally:
            browser.close()
    assert all(u.startswith("file://") for u in requests), requests


@pytest.fixture(autouse=True)
def _csv_for_paths(world: dict[str, Any]) -> None:
    world["shifted"].to_csv(world["root"] / "rows.csv", index=False)
