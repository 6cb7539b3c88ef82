"""CBPE over the capture files of a real endpoint: a reference from variant A's labelled traffic,
an estimate of variant B's shifted traffic before its labels arrive, then beside the realized."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from forgeml.errors import NotFoundError, ValidationError
from forgeml.monitoring import _cbpe as cbpe
from tests.monitoring.conftest import capture_lines
from tests.serving.conftest import training_frame


def _csv(frame: Any) -> str:
    return "".join(f"{r.x1:.6f},{r.x2},{r.color}\n" for r in frame.itertuples())


def _truth(inference_id: str, labels: list[int]) -> str:
    return json.dumps({"groundTruthData": {"data": ",".join(map(str, labels)), "encoding": "CSV"},
                       "eventMetadata": {"eventId": inference_id}, "eventVersion": "0"})  # fmt: skip


def _outputs(line: dict[str, Any]) -> tuple[list[int], list[float]]:
    rows = json.loads(line["captureData"]["endpointOutput"]["data"])["predictions"]
    return [int(r["predicted_label"]) for r in rows], [float(r["probability"]) for r in rows]


@pytest.fixture(scope="module")
def cb(world: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Labels are drawn from the model's own probability (a calibrated model: P(y|x) fixed), so
    shifting x1 is a pure covariate shift."""
    ws = world["ws"]
    config = {"variants": [{"name": "A", "model": str(world["package"]), "weight": 1}, {"name": "B", "model": str(world["package"]), "weight": 0}],
              "data_capture": {"sampling_percentage": 100}}  # fmt: skip
    ws.endpoints.create("cbpe-ep", config)
    ref, _ = training_frame(n=800, seed=21)
    shifted, _ = training_frame(n=600, seed=22)
    shifted["x1"] = shifted["x1"] - 0.7
    for variant, frame in (("A", ref), ("B", shifted)):
        for i in range(0, len(frame), 40):
            ws.endpoints.invoke("cbpe-ep", _csv(frame.iloc[i : i + 40]), content_type="text/csv", target_variant=variant,
                                inference_id=f"{variant}-{i // 40:03d}")  # fmt: skip
    capture = ws.endpoints.capture_dir("cbpe-ep")
    rng = np.random.default_rng(23)
    world_out: dict[str, Any] = {"ws": ws}
    for variant in ("A", "B"):
        lines = capture_lines(capture, variant)  # file order: the order the job reads them in
        pred, score, y, truth = [], [], [], []
        for line in lines:
            p, s = _outputs(line)
            labels = (rng.random(len(s)) < np.array(s)).astype(int).tolist()
            pred += p
            score += s
            y += labels
            truth.append(_truth(line["eventMetadata"]["inferenceId"], labels))
        world_out[variant] = {"pred": np.array(pred), "score": np.array(score), "y": np.array(y), "truth": truth}
    ws.monitoring.upload_ground_truth("cbpe-ep", "\n".join(world_out["A"]["truth"]))
    yield world_out


def test_estimate_before_labels_then_beside_realized(cb: dict[str, Any]) -> None:
    ws = cb["ws"]
    reference = ws.monitoring.cbpe_baseline(endpoint="cbpe-ep", variant="A", name="cbpe-ref")
    assert reference.spec["estimator"] == "CBPE" and reference.data["item_count"] == 800
    # independently: the same fit over the predictions read straight from the capture files
    a, b = cb["A"], cb["B"]
    expected_model = cbpe.fit(a["y"], a["pred"], a["score"])
    assert reference.data["calibrated"] == expected_model["calibrated"]

    run = ws.monitoring.model_quality("cbpe-ep", problem_type="BinaryClassification", variant="B", estimator="cbpe-ref",
                                      name="cbpe-b")  # fmt: skip
    assert run.data["status_detail"] in ("Estimated", "Violations") and run.data["item_count"] == 0
    est = ws.monitoring.statistics(run, kind="monitoring-execution")["binary_classification_estimates"]
    assert est["item_count"] == 600 and est["labelled_item_count"] == 0
    expected = cbpe.estimate(expected_model, b["pred"], b["score"])
    for metric in cbpe.METRICS:
        assert est["metrics"][metric]["estimated"] == pytest.approx(expected[metric]["estimated"])
        assert est["metrics"][metric]["realized"] is None and est["metrics"][metric]["agrees"] is None
    assert run.data["metrics"]["estimated_accuracy"] == pytest.approx(expected["accuracy"]["estimated"])
    series = ws.alarms.metrics.series("forgeml/monitoring/model-metrics", "estimated_roc_auc")
    assert series == [{"namespace": "forgeml/monitoring/model-metrics", "name": "estimated_roc_auc",
                       "dimensions": {"Endpoint": "cbpe-ep", "MonitoringSchedule": "cbpe-b"}}]  # fmt: skip

    ws.monitoring.upload_ground_truth("cbpe-ep", "\n".join(b["truth"]))  # the labels arrive
    again = ws.monitoring.model_quality("cbpe-ep", problem_type="BinaryClassification", variant="B", estimator="cbpe-ref",
                                        name="cbpe-b")  # fmt: skip
    stats = ws.monitoring.statistics(again, kind="monitoring-execution")
    side = stats["binary_classification_estimates"]["metrics"]
    real = cbpe.realized(b["y"], b["pred"], b["score"])
    for metric in ("accuracy", "roc_auc", "f1"):
        assert side[metric]["realized"] == pytest.approx(real[metric])
        assert abs(side[metric]["estimated"] - side[metric]["realized"]) <= 3 * side[metric]["sampling_error"]
        assert side[metric]["agrees"] is True
    assert stats["binary_classification_metrics"]["accuracy"]["value"] == pytest.approx(real["accuracy"])


def test_estimator_must_be_a_cbpe_reference(cb: dict[str, Any], world: dict[str, Any]) -> None:
    ws = cb["ws"]
    base = ws.monitoring.baseline("train", name="dq-for-cbpe")
    with pytest.raises(ValidationError, match="not a CBPE reference"):
        ws.monitoring.model_quality("cbpe-ep", problem_type="BinaryClassification", estimator=base.ref)
    with pytest.raises(ValidationError, match="binary classifiers only"):
        ws.monitoring.model_quality("cbpe-ep", problem_type="Regression", estimator=base.ref)
    ref = ws.monitoring.cbpe_baseline(endpoint="cbpe-ep", variant="A", name="cbpe-ref2")
    with pytest.raises(ValidationError, match="not a data-quality baseline"):
        ws.monitoring.check(ref, endpoint="cbpe-ep")
    with pytest.raises(ValidationError, match=r"has no constraints\.json"):
        ws.monitoring.constraints(ref)


def test_reference_from_a_frame(cb: dict[str, Any]) -> None:
    import pandas as pd

    rng = np.random.default_rng(9)
    score = rng.random(400)
    frame = pd.DataFrame({"y": (rng.random(400) < score).astype(int), "p": score})
    ref = cb["ws"].monitoring.cbpe_baseline(frame, label="y", probability="p", name="frame-cbpe")
    model = cbpe.fit(frame["y"], (score >= 0.5).astype(int), score)
    assert ref.data["realized"]["accuracy"] == pytest.approx(model["realized"]["accuracy"])
    with pytest.raises(Exception, match="no column 'nope'"):
        cb["ws"].monitoring.cbpe_baseline(frame, label="nope", probability="p", name="bad-cbpe")


def test_cli_and_rest_faces(cb: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from forgeml.api.app import create_app
    from forgeml.cli._common import state
    from tests.cli_runner import run_cli

    ws = cb["ws"]
    state.workspace = ws
    try:
        out = run_cli(ws.home, "monitor", "cbpe-baseline", "--endpoint", "cbpe-ep", "--variant", "A", "--name", "cli-cbpe", "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["cbpe"]["item_count"] == 800
        out = run_cli(ws.home, "monitor", "quality", "--endpoint", "cbpe-ep", "--variant", "B", "--problem-type",
                      "BinaryClassification", "--estimator", "cli-cbpe", "--name", "cli-cbpe-b")  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "CBPE estimate (600 rows) vs realized" in out.stdout and "roc_auc" in out.stdout and "{" not in out.stdout
        out = run_cli(ws.home, "monitor", "quality", "--endpoint", "cbpe-ep", "--problem-type", "BinaryClassification",
                      "--estimator", "nope")  # fmt: skip
        assert out.returncode == 4 and out.stderr.count("\n") == 1
    finally:
        state.workspace = None
    client = TestClient(create_app(ws))
    made = client.post("/monitoring/cbpe-baselines", json={"endpoint": "cbpe-ep", "variant": "A", "name": "rest-cbpe"})
    assert made.status_code == 201, made.text
    assert made.json()["cbpe"]["thresholds"]["accuracy"] == ws.monitoring.cbpe("rest-cbpe")["thresholds"]["accuracy"]
    got = client.get("/monitoring/baselines/rest-cbpe")
    assert got.status_code == 200 and "cbpe" in got.json()
    run = client.post("/monitoring/model-quality", json={"endpoint": "cbpe-ep", "variant": "B", "problem_type": "BinaryClassification",
                                                         "estimator": "rest-cbpe"})  # fmt: skip
    assert run.status_code == 201, run.text
    assert run.json()["statistics"]["binary_classification_estimates"]["item_count"] == 600
    bad = client.post("/monitoring/cbpe-baselines", json={"endpoint": "cbpe-ep", "chunks": 1})
    assert bad.status_code == 400
    bad = client.post("/monitoring/cbpe-baselines", json={"dataset": "/etc/passwd.csv"})
    assert bad.status_code in (400, 403)


def test_a_model_quality_schedule_estimates_each_window(cb: dict[str, Any]) -> None:
    from datetime import datetime, timedelta

    from forgeml.monitoring import Scheduler

    ws = cb["ws"]
    ws.monitoring.cbpe_baseline(endpoint="cbpe-ep", variant="A", name="sched-cbpe")
    line = capture_lines(ws.endpoints.capture_dir("cbpe-ep"), "B")[0]
    hour = datetime.fromisoformat(line["eventMetadata"]["inferenceTime"].replace("Z", "+00:00")).replace(minute=0, second=0, microsecond=0)
    with pytest.raises(NotFoundError):
        ws.monitoring.create_schedule("cbpe-bad", endpoint="cbpe-ep", monitoring_type="ModelQuality",
                                      model_quality={"problem_type": "BinaryClassification", "estimator": "no-such-ref"})  # fmt: skip
    rec = ws.monitoring.create_schedule("cbpe-hourly", endpoint="cbpe-ep", variant="B", monitoring_type="ModelQuality",
                                        model_quality={"problem_type": "BinaryClassification", "estimator": "sched-cbpe"},
                                        start_time=hour.isoformat())  # fmt: skip
    assert rec.spec["model_quality"]["estimator"] == "monitoring-baseline/sched-cbpe:1"
    jobs = Scheduler(ws).tick_schedule(ws.monitoring.schedule("cbpe-hourly"), hour + timedelta(minutes=90))
    assert len(jobs) == 1
    ws.jobs.wait(jobs[0], timeout=300)
    run = ws.monitoring.executions("cbpe-hourly")[0]
    est = ws.monitoring.statistics(run, kind="monitoring-execution")["binary_classification_estimates"]
    assert est["item_count"] == 600 and est["reference"] == "monitoring-baseline/sched-cbpe:1"
