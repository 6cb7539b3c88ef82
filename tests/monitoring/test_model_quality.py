"""Model quality with late ground truth, over the capture files a real endpoint wrote."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sklearn import metrics as skm

from forgeml.errors import NotFoundError, ValidationError
from tests.monitoring.conftest import capture_lines
from tests.serving.conftest import training_frame


def _csv(frame: Any) -> str:
    return "".join(f"{r.x1:.6f},{r.x2},{r.color}\n" for r in frame.itertuples())


@pytest.fixture(scope="module")
def mq(world: dict[str, Any]) -> Iterator[dict[str, Any]]:
    ws = world["ws"]
    config = {"variants": [{"name": "A", "model": str(world["package"]), "weight": 1}], "data_capture": {"sampling_percentage": 100}}
    ws.endpoints.create("mq-ep", config)
    frame, y = training_frame(n=300, seed=11)
    truth: dict[str, list[int]] = {}
    for k, i in enumerate(range(0, 300, 10)):  # 30 requests of 10 rows; half name an inference id
        inference_id = f"inf-{k}" if k % 2 == 0 else None
        ws.endpoints.invoke("mq-ep", _csv(frame.iloc[i : i + 10]), content_type="text/csv", inference_id=inference_id)
        truth[f"row-{i}"] = list(y.iloc[i : i + 10])
    lines = capture_lines(ws.endpoints.capture_dir("mq-ep"), "A")
    assert len(lines) == 30
    yield {"ws": ws, "lines": lines, "frame": frame, "y": y}


def _id(line: dict[str, Any]) -> str:
    meta = line["eventMetadata"]
    return meta.get("inferenceId") or meta["eventId"]


def _truth_record(line: dict[str, Any], labels: list[int]) -> dict[str, Any]:
    return {"groundTruthData": {"data": ",".join(map(str, labels)), "encoding": "CSV"}, "eventMetadata": {"eventId": _id(line)},
            "eventVersion": "0"}  # fmt: skip


def test_model_quality_with_late_ground_truth(mq: dict[str, Any]) -> None:
    ws, lines, y = mq["ws"], mq["lines"], mq["y"]
    assert {line["eventMetadata"].get("inferenceId") for line in lines} >= {"inf-0", "inf-2"}
    # request k holds rows 10k..10k+9 (requests were sent in order; captures keep it)
    order = sorted(lines, key=lambda ln: ln["eventMetadata"]["inferenceTime"])
    labels = [list(y.iloc[10 * k : 10 * k + 10]) for k in range(30)]
    records = [_truth_record(order[k], labels[k]) for k in range(28)]  # the last two requests get no label yet
    records.append({"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "never-captured"}, "eventVersion": "0"})
    out = ws.monitoring.upload_ground_truth("mq-ep", "\n".join(json.dumps(r) for r in records))
    assert out["records"] == 29 and out["unknown_event_ids"] == 1 and out["unknown_examples"] == ["never-captured"]

    constraints = {"binary_classification_constraints": {"false_positive_rate": {"threshold": 0.0, "comparison_operator": "GreaterThanOrEqualToThreshold"},
                                                         "recall": {"threshold": 0.0, "comparison_operator": "LessThanThreshold"}}}
    run = ws.monitoring.model_quality("mq-ep", problem_type="BinaryClassification", probability_attribute="probability",
                                      constraints=constraints)  # fmt: skip
    assert run.data["merge"]["matched_records"] == 28 and run.data["merge"]["records_without_ground_truth"] == 2
    stats = ws.monitoring.statistics(run, kind="monitoring-execution")
    block = stats["binary_classification_metrics"]
    assert stats["dataset"]["item_count"] == 280
    # independently: predictions from the capture files, labels as uploaded
    preds, probs, truth = [], [], []
    for k in range(28):
        out_rows = json.loads(order[k]["captureData"]["endpointOutput"]["data"])["predictions"]
        preds += [int(r["predicted_label"]) for r in out_rows]
        probs += [float(r["probability"]) for r in out_rows]
        truth += labels[k]
    assert block["accuracy"]["value"] == pytest.approx(skm.accuracy_score(truth, preds))
    assert block["f1"]["value"] == pytest.approx(skm.f1_score(truth, preds))
    assert block["precision"]["value"] == pytest.approx(skm.precision_score(truth, preds))
    assert block["auc"]["value"] == pytest.approx(skm.roc_auc_score(truth, probs))
    assert isinstance(block["accuracy"]["standard_deviation"], float)  # 280 >= 200 samples
    assert run.status == "CompletedWithViolations"
    found = ws.monitoring.violations(run)["violations"]
    assert [(v["metric_name"], v["constraint_check_type"]) for v in found] == [("false_positive_rate", "GreaterThanOrEqualToThreshold")]
    assert "endpoint/mq-ep" in ws.lineage.upstream(run.ref).refs()

    # the labels of the last two requests arrive later: the next run sees them (a later upload wins)
    ws.monitoring.upload_ground_truth("mq-ep", [_truth_record(order[k], labels[k]) for k in (28, 29)])
    again = ws.monitoring.model_quality("mq-ep", problem_type="BinaryClassification")
    assert again.data["merge"]["matched_records"] == 30 and again.data["item_count"] == 300 and again.status == "Completed"


def test_bad_ground_truth_is_refused_whole(mq: dict[str, Any]) -> None:
    ws = mq["ws"]
    folder = ws.home / "ground-truth" / "mq-ep"
    before = sorted(folder.rglob("*.jsonl")) if folder.exists() else []
    good = json.dumps({"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "a"}, "eventVersion": "0"})
    with pytest.raises(ValidationError, match=r"^ground truth line 2: eventMetadata.eventId must be a non-empty string$"):
        ws.monitoring.upload_ground_truth("mq-ep", good + "\n" + json.dumps({"groundTruthData": {"data": "1"}, "eventMetadata": {}}))
    with pytest.raises(ValidationError, match=r"^ground truth line 1: not a JSON object$"):
        ws.monitoring.upload_ground_truth("mq-ep", "{nope\n")
    with pytest.raises(ValidationError, match=r"groundTruthData.encoding 'BASE64' is not CSV or JSON"):
        ws.monitoring.upload_ground_truth("mq-ep", [{"groundTruthData": {"data": "MQ==", "encoding": "BASE64"}, "eventMetadata": {"eventId": "a"}}])
    assert (sorted(folder.rglob("*.jsonl")) if folder.exists() else []) == before  # nothing half-written
    with pytest.raises(NotFoundError):
        ws.monitoring.upload_ground_truth("no-such-ep", good)
    with pytest.raises(ValidationError, match="problem_type: 'Ranking'"):
        ws.monitoring.model_quality("mq-ep", problem_type="Ranking")
    with pytest.raises(ValidationError, match=r"comparison_operator: 'Below' is not one of"):
        ws.monitoring.model_quality("mq-ep", problem_type="BinaryClassification",
                                    constraints={"binary_classification_constraints": {"f1": {"threshold": 1, "comparison_operator": "Below"}}})
    empty = ws.monitoring.model_quality("mq-ep", problem_type="BinaryClassification", start_time="2001-01-01T00:00Z", end_time="2001-01-01T01:00Z")
    assert empty.status == "Completed" and empty.data["status_detail"] == "NoData"


def test_model_quality_schedule(mq: dict[str, Any]) -> None:
    from datetime import UTC, datetime, timedelta

    ws = mq["ws"]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rec = ws.monitoring.create_schedule("mq-hourly", endpoint="mq-ep", monitoring_type="ModelQuality",
                                        model_quality={"problem_type": "BinaryClassification"},
                                        start_time=(hour - timedelta(hours=1)).isoformat())  # fmt: skip
    assert rec.spec["model_quality"]["inference_attribute"] == "predicted_label"
    with pytest.raises(ValidationError, match="model_quality"):
        ws.monitoring.create_schedule("mq-bad", endpoint="mq-ep", monitoring_type="ModelQuality")
    from forgeml.monitoring import Scheduler

    jobs = Scheduler(ws).tick_schedule(ws.monitoring.schedule("mq-hourly"), hour + timedelta(minutes=30))
    assert len(jobs) == 1
    ws.jobs.wait(jobs[0], timeout=120)
    (entry,) = ws.monitoring.schedule_executions("mq-hourly")
    assert entry["status"] == "Completed"  # the previous hour holds no captures of this endpoint: NoData
    assert ws.monitoring.execution(entry["execution"]).spec["monitoring_type"] == "ModelQuality"


def test_cli_and_rest_faces(mq: dict[str, Any], tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from forgeml.api.app import create_app
    from forgeml.cli._common import state
    from tests.cli_runner import run_cli

    ws, lines = mq["ws"], mq["lines"]
    order = sorted(lines, key=lambda ln: ln["eventMetadata"]["inferenceTime"])
    labels = [list(mq["y"].iloc[10 * k : 10 * k + 10]) for k in range(30)]
    file = tmp_path / "labels.jsonl"
    file.write_text("".join(json.dumps(_truth_record(order[k], labels[k])) + "\n" for k in range(30)))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(file.read_text() + "[1]\n")
    state.workspace = ws
    try:
        out = run_cli(ws.home, "ground-truth", "upload", "mq-ep", str(file), "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["records"] == 30 and json.loads(out.stdout)["unknown_event_ids"] == 0
        out = run_cli(ws.home, "ground-truth", "upload", "mq-ep", str(bad))
        assert out.returncode == 2 and out.stderr.strip().startswith("error: ground truth line 31: expected {'groundTruthData'")
        out = run_cli(ws.home, "monitor", "quality", "--endpoint", "mq-ep", "--problem-type", "BinaryClassification",
                      "--name", "cli-quality", "--json")  # fmt: skip
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["statistics"]["dataset"]["item_count"] == 300 and doc["ref"] == "monitoring-execution/cli-quality:1"
        assert run_cli(ws.home, "monitor", "quality", "--endpoint", "mq-ep", "--problem-type", "BinaryClassification").returncode == 0
        out = run_cli(ws.home, "monitor", "quality", "--endpoint", "mq-ep", "--problem-type", "Nope")
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--problem-type: 'Nope' is not one of" in out.stderr
    finally:
        state.workspace = None
    with TestClient(create_app(ws)) as client:
        r = client.post("/monitoring/ground-truth/mq-ep", json={"records": [_truth_record(order[0], labels[0])]})
        assert r.status_code == 201 and r.json()["records"] == 1, r.text
        r = client.post("/monitoring/ground-truth/mq-ep", json={"records": [{"groundTruthData": {"data": "1"}}]})
        assert r.status_code == 400 and "line 1: eventMetadata.eventId" in r.json()["message"]
        assert client.post("/monitoring/ground-truth/nope", json={"records": [_truth_record(order[0], labels[0])]}).status_code == 404
        r = client.post("/monitoring/model-quality", json={"endpoint": "mq-ep", "problem_type": "BinaryClassification",
                                                           "probability_attribute": "probability"})  # fmt: skip
        assert r.status_code == 201, r.text
        assert "auc" in r.json()["statistics"]["binary_classification_metrics"]
        r = client.post("/monitoring/schedules", json={"name": "rest-mq", "endpoint": "mq-ep", "monitoring_type": "ModelQuality",
                                                       "model_quality": {"problem_type": "Regression"}})  # fmt: skip
        assert r.status_code == 201, r.text
