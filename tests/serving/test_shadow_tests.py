"""Shadow tests (the InferenceExperiment role) on real endpoints: schedule, comparison report
against hand-computed references, stop, promote through the rollout machinery, recovery."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import (
    AlreadyExistsError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from tests.serving.conftest import tree_package

CSV = "text/csv"
ROWS = [f"{x / 10:.1f},{i % 10},{c}\n".encode() for i, (x, c) in enumerate(
    (x, c) for x in range(-10, 10, 2) for c in ("red", "green"))]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_server_left(ws: Workspace) -> Iterator[None]:
    yield
    for record in ws.endpoints.list():
        ws.endpoints.delete(record.name)


def _pairs(ws: Workspace, endpoint: str, variant: str, n: int) -> list[dict]:
    folder = ws.home / "endpoints" / endpoint / "shadow" / variant
    deadline = time.monotonic() + 20
    lines: list[dict] = []
    while time.monotonic() < deadline:
        lines = [json.loads(x) for f in sorted(folder.glob("pairs-*.jsonl")) for x in f.read_text().splitlines()]
        if len(lines) >= n:
            break
        time.sleep(0.1)
    return lines


def _percentile(values: list[float], q: int) -> float:
    """Linear interpolation between closest ranks (numpy's default), by hand."""
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def test_classification_shadow_test_report_stop_and_promote(ws: Workspace, packages: dict[str, Path]) -> None:
    from sklearn.metrics import accuracy_score

    ws.endpoints.create("st", {"variants": [{"name": "AllTraffic", "model": str(packages["logistic"])}]})
    test = ws.shadow_tests.create("st-recipe", "st", str(packages["recipe"]), sampling_percentage=100, duration_seconds=600)
    assert test.status == "Running" and test.spec["shadow_variant"] == "st-recipe"
    live = ws.endpoints.get("st")
    assert live.version == 2 and [s["name"] for s in live.spec["shadow_variants"]] == ["st-recipe"]
    for body in ROWS:
        assert ws.endpoints.invoke("st", body, content_type=CSV).variant == "AllTraffic"
    pairs = _pairs(ws, "st", "st-recipe", len(ROWS))
    assert len(pairs) == len(ROWS)
    report = ws.shadow_tests.report("st-recipe")
    assert report["requests"] == len(ROWS) and report["problem_type"] == "classification"
    assert report["production"]["errors"] == 0 and report["shadow"]["error_rate"] == 0
    prod = [p["production"]["predictions"][0]["predicted_label"] for p in pairs]
    shadow = [p["shadow"]["predictions"][0]["predicted_label"] for p in pairs]
    assert report["agreement"]["rate"] == pytest.approx(accuracy_score(prod, shadow))
    lat = [p["shadow"]["latency_ms"] for p in pairs]
    assert report["shadow"]["latency_ms"]["p50"] == pytest.approx(statistics.median(lat), abs=1e-3)
    assert report["shadow"]["latency_ms"]["p90"] == pytest.approx(_percentile(lat, 90), abs=1e-3)
    assert report["production"]["latency_ms"]["max"] == pytest.approx(max(p["production"]["latency_ms"] for p in pairs), abs=1e-3)

    with pytest.raises(InvalidTransitionError, match="already runs shadow test 'st-recipe'"):
        ws.shadow_tests.create("again", "st", str(packages["recipe"]))
    done = ws.shadow_tests.stop("st-recipe")
    assert done.status == "Completed" and done.data["report"]["requests"] == len(ROWS)
    assert ws.endpoints.get("st").spec["shadow_variants"] == []
    ws.endpoints.invoke("st", ROWS[0], content_type=CSV)  # no shadow any more: the frozen report stays
    assert ws.shadow_tests.report("st-recipe")["requests"] == len(ROWS)
    with pytest.raises(InvalidTransitionError):
        ws.shadow_tests.stop("st-recipe")

    promoted = ws.shadow_tests.promote("st-recipe")
    assert promoted.data["decision"]["action"] == "Promote" and promoted.data["decision"]["deployment"] == "Completed"
    endpoint = ws.endpoints.get("st")
    assert endpoint.status == "InService" and endpoint.spec["variants"][0]["model"] == str(packages["recipe"])
    assert ws.endpoints.deployment("st").status == "Completed"
    with pytest.raises(InvalidTransitionError, match="Promote"):
        ws.shadow_tests.promote("st-recipe")
    types = [e.type for e in ws.metadata.list_events(resource="shadow-test/st-recipe:1")]
    assert {"ShadowTestCreated", "ShadowTestCompleted", "ShadowTestPromoted"} <= set(types)


def test_regression_report_and_schedule(ws: Workspace, packages: dict[str, Path], tmp_path: Path) -> None:
    deeper = tree_package(tmp_path / "deep", depth=6, seed=0)
    ws.endpoints.create("rg", {"variants": [{"name": "AllTraffic", "model": str(packages["tree"])}]})
    now = time.time()
    test = ws.shadow_tests.create("rg-deep", "rg", str(deeper), start=now + 3600, end=now + 7200, sampling_percentage=100)
    assert test.status == "Created" and ws.endpoints.get("rg").version == 1
    assert ws.shadow_tests.tick(now=now + 10) == []
    assert ws.shadow_tests.tick(now=now + 3601) == ["rg-deep"]
    assert ws.shadow_tests.get("rg-deep").status == "Running"
    numeric = [b",".join(r.split(b",")[:2]) + b"\n" for r in ROWS]  # the trees take x1, x2
    ws.endpoints.invoke("rg", b"".join(numeric), content_type=CSV)  # one request of 20 rows
    ws.endpoints.invoke("rg", numeric[3], content_type=CSV)
    pairs = _pairs(ws, "rg", "rg-deep", 2)
    assert ws.shadow_tests.tick(now=now + 7201) == ["rg-deep"]
    record = ws.shadow_tests.get("rg-deep")
    assert record.status == "Completed"
    report = record.data["report"]
    assert report["problem_type"] == "regression" and report["compared_rows"] == 21
    diffs = [b["prediction"] - a["prediction"] for p in pairs
             for a, b in zip(p["production"]["predictions"], p["shadow"]["predictions"], strict=True)]  # fmt: skip
    assert report["difference"]["mean"] == pytest.approx(statistics.fmean(diffs), abs=1e-6)
    assert report["difference"]["std"] == pytest.approx(statistics.pstdev(diffs), abs=1e-6)
    assert report["difference"]["max_absolute"] == pytest.approx(max(abs(d) for d in diffs), abs=1e-6)
    assert report["difference"]["p50_absolute"] == pytest.approx(statistics.median(abs(d) for d in diffs), abs=1e-6)
    assert ws.endpoints.get("rg").spec["shadow_variants"] == []

    later = ws.shadow_tests.create("rg-later", "rg", str(deeper), start=time.time() + 3600)
    assert ws.shadow_tests.stop(later.name).status == "Cancelled"


def test_bad_shadow_tests_are_refused(ws: Workspace, packages: dict[str, Path], tmp_path: Path) -> None:
    ws.endpoints.create("bt", {"variants": [{"name": "AllTraffic", "model": str(packages["logistic"])}]})
    model = str(packages["recipe"])
    cases = [
        ({"sampling_percentage": 150}, ValidationError, "sampling_percentage must be 0-100"),
        ({"duration_seconds": 31 * 86400}, ValidationError, "at most 30 days"),
        ({"production_variant": "nope"}, ValidationError, "has no variant 'nope'"),
        ({"shadow_variant": "AllTraffic"}, ValidationError, "is a production variant"),
        ({"end": time.time() - 10, "start": time.time() - 100}, ValidationError, "in the past"),
        ({"duration_seconds": 10, "end": time.time() + 100}, ValidationError, "not both"),
        ({"problem_type": "ranking"}, ValidationError, "problem_type"),
    ]
    for kwargs, error, needle in cases:
        with pytest.raises(error, match=needle):
            ws.shadow_tests.create("bad", "bt", model, **kwargs)
    with pytest.raises(NotFoundError):
        ws.shadow_tests.create("bad", "no-such-endpoint", model)
    with pytest.raises(ValidationError):  # a model that is not a package: refused before anything is stored
        ws.shadow_tests.create("bad", "bt", str(tmp_path))
    with pytest.raises(NotFoundError):
        ws.shadow_tests.get("bad")
    later = ws.shadow_tests.create("later", "bt", model, start=time.time() + 3600)
    with pytest.raises(AlreadyExistsError):
        ws.shadow_tests.create("later", "bt", model, start=time.time() + 3600)
    assert ws.shadow_tests.stop(later.name).status == "Cancelled"
    assert [(r.version, r.status) for r in ws.endpoints.versions("bt")] == [(1, "InService")]


def test_a_stop_whose_driver_died_is_finished_by_the_tick(ws: Workspace, packages: dict[str, Path]) -> None:
    """The process stopping a test is killed after it recorded Stopping (its pid gone): the
    server's tick removes the shadow and completes the test, once."""
    ws.endpoints.create("dd", {"variants": [{"name": "AllTraffic", "model": str(packages["logistic"])}]})
    ws.shadow_tests.create("dd-s", "dd", str(packages["recipe"]))
    ws.endpoints.invoke("dd", ROWS[0], content_type=CSV)
    _pairs(ws, "dd", "dd-s", 1)
    dead = subprocess.Popen(["true"])
    dead.wait()
    ws.metadata.update_resource("shadow-test", "dd-s", 1, status="Stopping",
                                data={"driver": {"pid": dead.pid, "host": __import__("os").uname().nodename},
                                      "final_status": "Completed", "ended_at": time.time()})  # fmt: skip
    from forgeml.alarms._loop import AlarmLoop

    AlarmLoop(ws, interval=60).tick()
    record = ws.shadow_tests.get("dd-s")
    assert record.status == "Completed" and record.data["report"]["requests"] == 1
    assert ws.endpoints.get("dd").spec["shadow_variants"] == []
    assert ws.shadow_tests.tick() == []


def test_rest_and_cli_faces(ws: Workspace, packages: dict[str, Path]) -> None:
    """Create and report over REST (a registered model: a network caller names no folder), then
    show, report and stop with the CLI."""
    from fastapi.testclient import TestClient

    from forgeml.api.app import create_app
    from tests.cli_runner import run_cli

    ws.registry.register("rec", packages["recipe"])
    ws.registry.register("lg", packages["logistic"])  # over REST the endpoint's new version re-resolves its models too
    ws.endpoints.create("fc", {"variants": [{"name": "AllTraffic", "model": "lg:1"}]})
    with TestClient(create_app(ws)) as api:
        r = api.post("/shadow-tests", json={"name": "fc-s", "endpoint": "fc", "model": "rec:1", "sampling_percentage": 50,
                                            "duration_seconds": 600.0, "unknown": 1})  # fmt: skip
        assert r.status_code == 422 or r.status_code == 400, r.text
        r = api.post("/shadow-tests", json={"name": "fc-s", "endpoint": "fc", "model": str(packages["recipe"])})
        assert r.status_code == 403 and r.json()["message"].startswith("model: ")
        r = api.post("/shadow-tests", json={"name": "fc-s", "endpoint": "fc", "model": "rec:1", "sampling_percentage": 100})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "Running" and r.json()["spec"]["model"] == "rec:1"
        for body in ROWS[:4]:
            assert api.post("/endpoints/fc/invocations", content=body, headers={"content-type": CSV}).status_code == 200
        _pairs(ws, "fc", "fc-s", 4)
        report = api.get("/shadow-tests/fc-s/report").json()
        assert report["requests"] == 4 and report["problem_type"] == "classification"
        assert [t["name"] for t in api.get("/shadow-tests", params={"endpoint": "fc"}).json()] == ["fc-s"]
        assert api.get("/shadow-tests/nope").status_code == 404
    out = run_cli(ws.home, "endpoints", "show", "fc")
    assert out.returncode == 0 and "shadow_variants" in out.stdout and "fc-s" in out.stdout, out.stderr
    out = run_cli(ws.home, "shadow-tests", "report", "fc-s")
    assert out.returncode == 0, out.stderr
    assert "label agreement" in out.stdout and "latency p50 (ms)" in out.stdout
    out = run_cli(ws.home, "shadow-tests", "stop", "fc-s")
    assert out.returncode == 0 and "shadow test fc-s: Completed" in out.stdout, out.stderr
    out = run_cli(ws.home, "shadow-tests", "ls", "--json")
    assert json.loads(out.stdout)[0]["status"] == "Completed"
    out = run_cli(ws.home, "shadow-tests", "show", "fc-s")
    assert "shadow removed" in out.stdout
    out = run_cli(ws.home, "shadow-tests", "stop", "fc-s")
    assert out.returncode != 0 and out.stderr.count("\n") == 1 and "only a running test can be stopped" in out.stderr
