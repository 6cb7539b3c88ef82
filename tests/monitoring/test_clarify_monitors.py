"""Bias drift and feature attribution drift (ModelBias, ModelExplainability) over the capture
files a real endpoint wrote, with NDCG and the bootstrap rule checked against independent code."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import ndcg_score

from forgeml.clarify import bias_report
from forgeml.errors import JobFailedError, ValidationError
from forgeml.monitoring import _attribution as at
from forgeml.monitoring import _bias
from tests.monitoring.conftest import capture_lines
from tests.serving.conftest import recipe_package, training_frame

BIAS = {"label": "y", "label_values_or_threshold": [1], "facet": [{"name_or_index": "color", "value_or_threshold": ["blue"]}],
        "methods": ["DPPL", "DI"], "bootstrap_samples": 200}  # fmt: skip


# NDCG ------------------------------------------------------------------------------------------
def test_ndcg_reference_example_is_069() -> None:
    """The AWS page's college admission example: ranking reversed, NDCG 0.69."""
    baseline = {"SAT score": 0.70, "GPA": 0.50, "Class rank": 0.05}
    live = {"SAT score": 0.10, "GPA": 0.20, "Class rank": 0.70}
    by_hand = (0.05 / 1 + 0.50 / math.log2(3) + 0.70 / 2) / (0.70 / 1 + 0.50 / math.log2(3) + 0.05 / 2)
    assert at.ndcg(baseline, live) == pytest.approx(by_hand)
    assert round(at.ndcg(baseline, live), 2) == 0.69
    assert at.ndcg(baseline, {"SAT score": 9, "GPA": 5, "Class rank": 1}) == 1.0  # same order: 1 whatever the live values


@pytest.mark.parametrize("seed", range(5))
def test_ndcg_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(rng.integers(2, 12))]
    a, b = rng.random(len(names)), rng.random(len(names))  # continuous: no ties
    ours = at.ndcg(dict(zip(names, a, strict=True)), dict(zip(names, b, strict=True)))
    assert ours == pytest.approx(ndcg_score([a], [b]))


def test_ndcg_bad_input() -> None:
    with pytest.raises(ValidationError, match="different features"):
        at.ndcg({"a": 1.0}, {"b": 1.0})
    with pytest.raises(ValidationError, match="all 0"):
        at.ndcg({"a": 0.0}, {"a": 1.0})
    with pytest.raises(ValidationError, match="threshold"):
        at.parse_config({"threshold": 1.5})
    with pytest.raises(ValidationError, match="unknown key"):
        at.parse_config({"nope": 1})


# bootstrap rule --------------------------------------------------------------------------------
def test_normal_interval_by_hand() -> None:
    reps = np.array([0.1, 0.3, 0.2, 0.25, np.nan, np.inf])
    low, high = _bias.normal_interval(0.2, reps, 0.95)
    sd = np.std([0.1, 0.3, 0.2, 0.25], ddof=1)
    assert (low, high) == pytest.approx((0.2 - norm.ppf(0.975) * sd, 0.2 + norm.ppf(0.975) * sd))
    assert _bias.normal_interval(0.2, np.array([0.1, np.nan]), 0.95) is None


@pytest.mark.parametrize(("interval", "allowed", "alert"), [
    ((0.4, 0.6), (0.0, 0.3), True), ((-0.6, -0.4), (-0.3, 0.3), True),   # disjoint, either side
    ((0.25, 0.6), (0.0, 0.3), False), ((-1.0, 1.0), (0.0, 0.3), False),  # overlapping, containing
    ((0.3, 0.5), (0.0, 0.3), False),                                       # touching counts as overlap
])  # fmt: skip
def test_disjoint_rule(interval: tuple[float, float], allowed: tuple[float, float], alert: bool) -> None:
    assert _bias.disjoint(interval, allowed) is alert


def _frame(n: int, seed: int, gap: float) -> pd.DataFrame:
    """Facet d = 1 is predicted positive ``gap`` less often than facet a."""
    rng = np.random.default_rng(seed)
    d = rng.random(n) < 0.4
    p = np.where(d, 0.5 - gap, 0.5)
    return pd.DataFrame({"g": d.astype(int), "x": rng.normal(size=n), _bias.LABEL: (rng.random(n) < 0.5).astype(int),
                         _bias.PREDICTION: (rng.random(n) < p).astype(int)})  # fmt: skip


def test_bias_violation_only_when_interval_disjoint() -> None:
    cfg = _bias.parse_config({"label_values_or_threshold": [1], "facet": [{"name_or_index": "g", "value_or_threshold": [1]}],
                              "methods": ["DPPL"], "thresholds": {"DPPL": [-0.1, 0.1]}, "seed": 3})  # fmt: skip
    far, _ = _bias.analyse(_frame(2000, 1, 0.4), cfg, None)  # DPPL about 0.4: CI well above 0.1
    near, _ = _bias.analyse(_frame(2000, 1, 0.13), cfg, None)  # DPPL about 0.13: value outside A, CI overlaps it
    entry = far["post_training_bias_metrics"]["facets"]["g"][0]["metrics"][0]
    low, high = entry["confidence_interval"]
    assert low > 0.1 and low < entry["value"] < high
    base = {"post_training_bias_metrics": {"facets": {}}}
    _, alerts = _bias.analyse(_frame(2000, 1, 0.4), cfg, base)
    assert [(v["metric_name"], v["constraint_check_type"], v["facet"], v["facet_value"]) for v in alerts] == [("DPPL", "bias_drift_check", "g", "1")]
    near_entry = near["post_training_bias_metrics"]["facets"]["g"][0]["metrics"][0]
    assert near_entry["value"] > 0.1 and near_entry["confidence_interval"][0] < 0.1  # outside A, yet overlapping
    _, none = _bias.analyse(_frame(2000, 1, 0.13), cfg, base)
    assert none == []
    again, _ = _bias.analyse(_frame(2000, 1, 0.4), cfg, None)  # fixed seed: the same interval
    assert again == far


def test_bias_metrics_equal_clarify_on_the_same_frame() -> None:
    frame = _frame(500, 7, 0.2).assign(grp=lambda f: np.arange(len(f)) % 3)
    cfg = _bias.parse_config({"label_values_or_threshold": [1], "facet": [{"name_or_index": "g", "value_or_threshold": [1]}],
                              "group_variable": "grp", "bootstrap_samples": 20})  # fmt: skip
    ours, _ = _bias.analyse(frame, cfg, None)
    theirs = bias_report(frame, label=_bias.LABEL, label_values_or_threshold=[1], facets=[{"name_or_index": "g", "value_or_threshold": [1]}],
                         predicted_label=_bias.PREDICTION, group_variable="grp", pre_training_methods=None)  # fmt: skip
    a = {m["name"]: m["value"] for m in ours["post_training_bias_metrics"]["facets"]["g"][0]["metrics"]}
    b = {m["name"]: m["value"] for m in theirs["post_training_bias_metrics"]["facets"]["g"][0]["metrics"]}
    assert set(a) == set(b) and len(a) == 13
    for name in a:
        assert a[name] == (pytest.approx(b[name]) if isinstance(b[name], float) else b[name]), name


def test_bias_config_errors() -> None:
    with pytest.raises(ValidationError, match="facet"):
        _bias.parse_config({"label_values_or_threshold": [1]})
    with pytest.raises(ValidationError, match=r"thresholds\.XX"):
        _bias.parse_config({"label_values_or_threshold": [1], "facet": ["g=1"], "thresholds": {"XX": [0, 1]}})
    with pytest.raises(ValidationError, match="above high"):
        _bias.parse_config({"label_values_or_threshold": [1], "facet": ["g=1"], "thresholds": {"DPPL": [1, 0]}})
    cfg = _bias.parse_config({"label_values_or_threshold": [1], "facet": ["nope=1"]})
    with pytest.raises(ValidationError, match="facet column 'nope' is not in the data"):
        _bias.analyse(_frame(50, 0, 0.0), cfg, None)


# end to end over a real endpoint ----------------------------------------------------------------
def _csv(frame: pd.DataFrame) -> str:
    return "".join(f"{r.x1:.6f},{r.x2},{r.color}\n" for r in frame.itertuples())


def _truth(x: pd.DataFrame) -> list[int]:
    return list(((x["x1"] + (x["color"] == "red") * 1.5 + x["x2"] / 10) > 0.8).astype(int))


@pytest.fixture(scope="module")
def drift(world: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Variant A: in-distribution traffic; B: blue rows' x1 moved down by 3 (bias drift);
    C: x1 held at 0 (its attribution collapses). Every request gets its ground truth."""
    ws, root = world["ws"], world["root"]
    package = recipe_package(root / "recipe")
    ws.endpoints.create("drift-ep", {"variants": [{"name": v, "model": str(package), "weight": 1 if v == "A" else 0} for v in "ABC"],
                                     "data_capture": {"sampling_percentage": 100}})  # fmt: skip
    same, _ = training_frame(n=400, seed=21)
    biased, _ = training_frame(n=400, seed=22)
    biased.loc[biased["color"] == "blue", "x1"] -= 3.0
    flat, _ = training_frame(n=200, seed=23)
    flat["x1"] = 0.0
    truth = {}
    for variant, frame in (("A", same), ("B", biased), ("C", flat)):
        for k, i in enumerate(range(0, len(frame), 20)):
            rows = frame.iloc[i : i + 20]
            inference_id = f"{variant}-{k}"
            ws.endpoints.invoke("drift-ep", _csv(rows), content_type="text/csv", target_variant=variant, inference_id=inference_id)
            truth[inference_id] = _truth(rows)
    records = [{"groundTruthData": {"data": ",".join(map(str, v)), "encoding": "CSV"}, "eventMetadata": {"eventId": k}, "eventVersion": "0"}
               for k, v in truth.items()]  # fmt: skip
    assert ws.monitoring.upload_ground_truth("drift-ep", records)["unknown_event_ids"] == 0
    train, _ = training_frame(n=600, seed=1)
    train = train.assign(y=_truth(train))
    bias = ws.monitoring.bias_baseline(train, BIAS, model=str(package), name="drift-bias")
    shap = ws.monitoring.explainability_baseline(train[["x1", "x2", "color"]], model=str(package),
                                                 config={"max_rows": 60, "num_samples": 200}, name="drift-shap")  # fmt: skip
    yield {"ws": ws, "package": package, "train": train, "capture": ws.endpoints.capture_dir("drift-ep"), "bias": bias, "shap": shap}


def test_bias_drift_end_to_end(drift: dict[str, Any]) -> None:
    ws = drift["ws"]
    base = drift["bias"]
    assert base.spec["monitoring_type"] == "ModelBias" and base.spec["config"]["headers"] == ["x1", "x2", "color"]
    (base_dppl,) = [m for m in ws.monitoring.constraints(base)["post_training_bias_metrics"]["facets"]["color"][0]["metrics"] if m["name"] == "DPPL"]

    calm = ws.monitoring.model_bias(base, endpoint="drift-ep", variant="A", name="calm-bias")
    assert calm.status == "Completed" and calm.data["status_detail"] == "NoViolations"
    assert calm.data["counts"]["matched_records"] == 20 and calm.data["item_count"] == 400
    assert ws.monitoring.violations(calm) == {"version": "1.0", "violations": []}

    moved = ws.monitoring.model_bias(base, endpoint="drift-ep", variant="B", name="moved-bias")
    assert moved.status == "CompletedWithViolations"
    found = ws.monitoring.violations(moved)["violations"]
    assert ("color", "blue", "DPPL", "bias_drift_check") in {(v["facet"], v["facet_value"], v["metric_name"], v["constraint_check_type"]) for v in found}
    stats = ws.monitoring.statistics(moved, kind="monitoring-execution")
    (dppl,) = [m for m in stats["post_training_bias_metrics"]["facets"]["color"][0]["metrics"] if m["name"] == "DPPL"]
    assert dppl["allowed_range"] == pytest.approx([base_dppl["value"] - 0.1, base_dppl["value"] + 0.1])
    assert dppl["confidence_interval"][0] > dppl["allowed_range"][1]
    # independently: DPPL from the capture files' predictions of variant B
    preds, colors = [], []
    for line in capture_lines(drift["capture"], "B"):
        preds += [int(p["predicted_label"]) for p in json.loads(line["captureData"]["endpointOutput"]["data"])["predictions"]]
        colors += [r.split(",")[2] for r in line["captureData"]["endpointInput"]["data"].splitlines()]
    p, blue = np.array(preds), np.array(colors) == "blue"
    assert dppl["value"] == pytest.approx(p[~blue].mean() - p[blue].mean())
    assert moved.data["metrics"]["DPPL"] == pytest.approx(dppl["value"])
    html = ws.monitoring.html(moved)
    assert "Facet color = blue" in html and "confidence interval" in html
    # lineage: baseline and endpoint into the execution
    assert {base.ref, "endpoint/drift-ep"} <= ws.lineage.upstream(moved.ref).refs()


def test_bias_bad_input(drift: dict[str, Any]) -> None:
    ws = drift["ws"]
    empty = ws.monitoring.model_bias("drift-bias", endpoint="drift-ep", start_time="2020-01-01T00:00:00Z",
                                     end_time="2020-01-01T05:00:00Z", name="empty-bias")  # fmt: skip
    assert empty.status == "Completed" and empty.data["status_detail"] == "NoData" and "no data" in empty.data["message"]
    with pytest.raises(ValidationError, match="facet column 'income' is not in the data"):
        ws.monitoring.bias_baseline(drift["train"], {**BIAS, "facet": ["income>3"]}, model=str(drift["package"]))
    with pytest.raises(ValidationError, match="label column 'target'"):
        ws.monitoring.bias_baseline(drift["train"], {**BIAS, "label": "target"}, model=str(drift["package"]))
    with pytest.raises(ValidationError, match="not a ModelBias one"):
        ws.monitoring.model_bias(ws.monitoring.baseline("train", name="dq-not-bias"), endpoint="drift-ep")


def test_attribution_drift_end_to_end(drift: dict[str, Any]) -> None:
    ws = drift["ws"]
    base = drift["shap"]
    expl = ws.monitoring.constraints(base)["explanations"]
    (method, labels), = expl.items()
    assert method in ("kernel_shap", "tree_shap") and list(labels) == ["1"]
    shap_base = labels["1"]["global_shap_values"]
    assert max(shap_base, key=shap_base.get) == "x1"

    calm = ws.monitoring.model_explainability(base, endpoint="drift-ep", variant="A", name="calm-shap")
    assert calm.status == "Completed", calm.data["message"]
    stats = ws.monitoring.statistics(calm, kind="monitoring-execution")
    assert stats["ndcg"]["1"] >= 0.9
    window = stats["explanations"][method]["1"]["global_shap_values"]
    assert stats["ndcg"]["1"] == pytest.approx(ndcg_score([[shap_base[f] for f in shap_base]], [[window[f] for f in shap_base]]))
    assert calm.data["metrics"]["feature_x1"] == pytest.approx(window["x1"]) and "ExpectedValue" in calm.data["metrics"]

    flat = ws.monitoring.model_explainability(base, endpoint="drift-ep", variant="C", name="flat-shap")
    assert flat.status == "CompletedWithViolations"
    found = ws.monitoring.violations(flat)["violations"]
    assert [(v["label"], v["metric_name"], v["constraint_check_type"]) for v in found] == [("1", "shap", "feature_attribution_drift_check")]
    assert ws.monitoring.statistics(flat, kind="monitoring-execution")["ndcg"]["1"] < 0.9
    assert "global SHAP: baseline vs window" in ws.monitoring.html(flat)

    empty = ws.monitoring.model_explainability(base, endpoint="drift-ep", start_time="2020-01-01T00:00:00Z",
                                               end_time="2020-01-01T01:00:00Z", name="empty-shap")  # fmt: skip
    assert empty.data["status_detail"] == "NoData"


def test_clarify_monitors_on_a_schedule(drift: dict[str, Any]) -> None:
    from datetime import UTC, datetime, timedelta

    ws = drift["ws"]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with pytest.raises(ValidationError, match="not a ModelBias one"):
        ws.monitoring.create_schedule("bad-bias", baseline="drift-shap", endpoint="drift-ep", monitoring_type="ModelBias")
    for kind, baseline, variant in (("ModelBias", "drift-bias", "B"), ("ModelExplainability", "drift-shap", "C")):
        name = f"sched-{kind.lower()}"
        ws.monitoring.create_schedule(name, baseline=baseline, endpoint="drift-ep", variant=variant, monitoring_type=kind,
                                      start_time=(hour + timedelta(minutes=1)).isoformat())  # fmt: skip
        jobs = [j for j in ws.monitoring.run_scheduler_once(now=hour + timedelta(hours=1, minutes=5)) if j.startswith(name[:20])]
        assert len(jobs) == 1, jobs
        ws.jobs.wait(jobs[0], timeout=120)
        (entry,) = ws.monitoring.schedule_executions(name)
        assert entry["status"] == "CompletedWithViolations", entry
        assert entry["window_start"] == hour.isoformat()
        assert ws.monitoring.schedule_executions(name)[0]["execution"] in ws.lineage.downstream(f"monitoring-schedule/{name}:1").refs()
        again = [j for j in ws.monitoring.run_scheduler_once(now=hour + timedelta(hours=1, minutes=6)) if j.startswith(name[:20])]
        assert again == []  # that window ran once


def test_facet_missing_from_captures_fails_the_execution_clearly(drift: dict[str, Any]) -> None:
    ws = drift["ws"]
    base = ws.monitoring.bias_baseline(drift["train"].assign(region="north"),
                                       {**BIAS, "facet": [{"name_or_index": "region", "value_or_threshold": ["north"]}]},
                                       model=str(drift["package"]), name="region-bias")  # fmt: skip
    with pytest.raises(JobFailedError, match="facet column 'region' is not in the data"):
        ws.monitoring.model_bias(base, endpoint="drift-ep", variant="A", name="region-run")


# faces -----------------------------------------------------------------------------------------
def _cli(ws: Any, *args: str) -> Any:
    from forgeml.cli._common import state
    from tests.cli_runner import run_cli

    state.workspace = ws
    try:
        return run_cli(ws.home, *args)
    finally:
        state.workspace = None


def test_cli_bias_baseline_run_and_schedule(drift: dict[str, Any], tmp_path: Any) -> None:
    ws = drift["ws"]
    ws.datasets.create("drift-train", drift["train"])
    cfg = tmp_path / "bias.yaml"
    cfg.write_text("label: y\nlabel_values_or_threshold: [1]\nfacet:\n  - {name_or_index: color, value_or_threshold: [blue]}\n"
                   "methods: [DPPL]\nthresholds: {DPPL: [-0.3, 0.3]}\n")  # fmt: skip
    out = _cli(ws, "monitor", "bias-baseline", "drift-train:1", "--config", str(cfg), "--model", str(drift["package"]), "--name", "cli-bias", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ref"] == "monitoring-baseline/cli-bias:1"
    page = tmp_path / "bias.html"
    out = _cli(ws, "monitor", "bias", "--baseline", "cli-bias", "--endpoint", "drift-ep", "--variant", "B", "--html", str(page), "--json")
    assert out.returncode == 0, out.stderr
    run = json.loads(out.stdout)
    assert run["status"] == "CompletedWithViolations" and [v["metric_name"] for v in run["violations"]] == ["DPPL"] and page.is_file()
    out = _cli(ws, "monitor", "bias", "--baseline", "cli-bias", "--endpoint", "drift-ep", "--variant", "A")
    assert out.returncode == 0 and "Completed" in out.stdout and "DPPL" in out.stdout
    out = _cli(ws, "monitor", "constraints", "cli-bias")
    assert out.returncode == 0 and "color=blue" in out.stdout and "DPPL" in out.stdout
    out = _cli(ws, "monitor", "constraints", "drift-shap")
    assert out.returncode == 0 and "x1" in out.stdout and "global SHAP" in out.stdout
    out = _cli(ws, "monitor", "constraints", "cli-bias", "--set", str(cfg))
    assert out.returncode == 2 and "is a ModelBias baseline" in out.stderr
    out = _cli(ws, "monitor", "create", "cli-bias-hourly", "--type", "ModelBias", "--baseline", "cli-bias", "--endpoint", "drift-ep", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["spec"]["monitoring_type"] == "ModelBias"
    out = _cli(ws, "monitor", "bias-baseline", "--endpoint", "drift-ep", "--variant", "A", "--config", str(cfg))
    assert out.returncode == 2 and out.stderr.startswith("error: facet column 'color' is not in the data (columns: _c0, _c1, _c2")
    cfg.write_text(cfg.read_text() + "headers: [x1, x2, color]\n")
    out = _cli(ws, "monitor", "bias-baseline", "--endpoint", "drift-ep", "--variant", "A", "--config", str(cfg), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["ref"] == "monitoring-baseline/drift-ep-bias:1", out.stderr
    cfg.write_text("label: y\nfacet: [color=blue]\n")
    out = _cli(ws, "monitor", "bias-baseline", "drift-train:1", "--config", str(cfg), "--model", str(drift["package"]))
    assert out.returncode == 2 and out.stderr.strip() == ("error: bias_config.label_values_or_threshold: give the positive label values "
                                                          "or '> threshold'")  # fmt: skip


def test_rest_bias_and_explainability(drift: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from forgeml.api.app import create_app

    ws = drift["ws"]
    rows = drift["train"].head(300).to_dict(orient="records")
    with TestClient(create_app(ws)) as client:
        r = client.post("/monitoring/bias-baselines", json={"rows": rows, "model": str(drift["package"]), "config": BIAS, "name": "rest-bias"})
        assert r.status_code == 201, r.text
        assert r.json()["spec"]["monitoring_type"] == "ModelBias" and "post_training_bias_metrics" in r.json()["analysis"]
        r = client.post("/monitoring/model-bias", json={"baseline": "rest-bias", "endpoint": "drift-ep", "variant": "B"})
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "CompletedWithViolations" and r.json()["violations"][0]["constraint_check_type"] == "bias_drift_check"
        r = client.post("/monitoring/model-explainability", json={"baseline": "rest-bias", "endpoint": "drift-ep"})
        assert r.status_code == 400 and r.json()["message"] == "baseline: monitoring-baseline/rest-bias:1 is a ModelBias baseline, not a ModelExplainability one"
        r = client.post("/monitoring/model-explainability", json={"baseline": "drift-shap", "endpoint": "drift-ep", "variant": "C", "name": "rest-shap"})
        assert r.status_code == 201, r.text
        assert r.json()["statistics"]["ndcg"]["1"] < 0.9 and r.json()["violations"][0]["label"] == "1"
        r = client.post("/monitoring/schedules", json={"name": "rest-shap-daily", "baseline": "drift-shap", "endpoint": "drift-ep",
                                                       "monitoring_type": "ModelExplainability", "cron": "daily"})  # fmt: skip
        assert r.status_code == 201 and r.json()["spec"]["monitoring_type"] == "ModelExplainability"
        r = client.post("/monitoring/bias-baselines", json={"rows": rows, "model": str(drift["package"]), "config": {**BIAS, "bootstrap_samples": 5}})
        assert r.status_code == 400 and r.json()["message"] == "bias_config.bootstrap_samples: 5 is not a whole number 10-10000"


def test_bias_schedule_scheduler_killed_with_sigkill_runs_each_window_once(drift: dict[str, Any], tmp_path: Any) -> None:
    """A real scheduler process running ModelBias windows, killed with SIGKILL and restarted."""
    import os
    import signal
    from datetime import UTC, datetime, timedelta

    from tests.monitoring.test_schedules import _claims, _scheduler, _until, _wait_jobs

    ws = drift["ws"]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    ws.monitoring.create_schedule("crash-bias", baseline="drift-bias", endpoint="drift-ep", monitoring_type="ModelBias",
                                  start_time=(hour - timedelta(hours=3)).isoformat())  # fmt: skip
    first = _scheduler(ws.home, tmp_path / "scheduler.log")
    try:
        _until(lambda: len(_claims(ws, "crash-bias", hour)) >= 1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    second = _scheduler(ws.home, tmp_path / "scheduler.log")
    try:
        _until(lambda: len(_claims(ws, "crash-bias", hour)) == 3 and all(r["state"] == "submitted" for r in _claims(ws, "crash-bias", hour)))
        _wait_jobs(ws, [r["job"] for r in _claims(ws, "crash-bias", hour)])
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait()
    assert "Traceback" not in (tmp_path / "scheduler.log").read_text()
    executions = [e for e in ws.monitoring.executions("crash-bias") if e.spec["source"]["start"] < hour.isoformat()]
    assert sorted(e.spec["source"]["start"] for e in executions) == [(hour - timedelta(hours=k)).isoformat() for k in (3, 2, 1)]
    assert {(e.status, e.data["status_detail"], e.spec["monitoring_type"]) for e in executions} == {("Completed", "NoData", "ModelBias")}


def test_bias_baseline_from_captured_traffic_with_its_ground_truth(drift: dict[str, Any]) -> None:
    ws = drift["ws"]
    cfg = {**BIAS, "headers": ["x1", "x2", "color"]}
    base = ws.monitoring.bias_baseline(None, cfg, endpoint="drift-ep", variant="A", name="captured-bias")
    assert base.data["item_count"] == 400 and base.data["merge"]["matched_records"] == 20
    assert "endpoint/drift-ep" in ws.lineage.upstream(base.ref).refs()
    calm = ws.monitoring.model_bias(base, endpoint="drift-ep", variant="A", name="captured-calm")
    assert calm.status == "Completed"  # the same rows: every interval contains the baseline value
    moved = ws.monitoring.model_bias(base, endpoint="drift-ep", variant="B", name="captured-moved")
    assert moved.status == "CompletedWithViolations"
    with pytest.raises(ValidationError, match="no captured request in the window has ground truth"):
        ws.monitoring.bias_baseline(None, cfg, endpoint="drift-ep", start_time="2020-01-01T00:00:00Z", end_time="2020-01-01T01:00:00Z")
    with pytest.raises(ValidationError, match="either data"):
        ws.monitoring.bias_baseline(drift["train"], cfg, endpoint="drift-ep")
