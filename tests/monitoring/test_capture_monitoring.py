"""Baselines and data-quality executions over the capture files a real endpoint wrote."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from forgeml.errors import JobFailedError, ValidationError
from forgeml.monitoring import CaptureReader, capture_files
from tests.monitoring.conftest import capture_lines


def test_capture_reader_parses_csv_json_and_counts_base64(world: dict[str, Any]) -> None:
    capture: Path = world["capture"]
    lines = capture_lines(capture, "A")
    encodings = {line["captureData"]["endpointInput"]["encoding"] for line in lines}
    assert encodings == {"CSV", "JSON", "BASE64"}  # the real endpoint wrote all three
    reader = CaptureReader(["x1", "x2", "color"])
    frames = list(reader.read(capture_files(capture, variant="A")))
    rows = sum(len(f) for f in frames)
    assert rows == 300 and reader.counts.rows == 300
    assert reader.counts.records == 22 and reader.counts.base64_not_analysable == 2
    assert reader.counts.truncated_lines == 0 and reader.counts.malformed_lines == 0
    assert set(frames[0].columns) == {"x1", "x2", "color"}


def test_truncated_last_line_is_tolerated_and_counted(world: dict[str, Any], tmp_path: Path) -> None:
    copy = tmp_path / "capture"
    shutil.copytree(world["capture"], copy)
    files = capture_files(copy, variant="B")
    last = files[-1]
    raw = last.read_bytes()
    last.write_bytes(raw[: len(raw) - 25])  # a worker killed mid-write: the last line is cut
    reader = CaptureReader(["x1", "x2", "color"])
    rows = sum(len(f) for f in reader.read(files))
    assert reader.counts.truncated_lines == 1 and reader.counts.records == 9 and rows == 270


def test_baseline_from_a_dataset_version_and_checks_of_two_windows(world: dict[str, Any]) -> None:
    ws = world["ws"]
    base = ws.monitoring.baseline("train:1")
    assert base.ref == "monitoring-baseline/train:1" and base.data["item_count"] == 600
    stats = ws.monitoring.statistics(base)
    assert [f["name"] for f in stats["features"]] == ["x1", "x2", "color"]
    assert [f["inferred_type"] for f in stats["features"]] == ["Fractional", "Integral", "String"]
    x1 = stats["features"][0]["numerical_statistics"]
    assert len(x1["distribution"]["kll"]["buckets"]) == 10
    assert sum(b["count"] for b in x1["distribution"]["kll"]["buckets"]) == pytest.approx(600)
    constraints = ws.monitoring.constraints(base)
    assert constraints["monitoring_config"]["distribution_constraints"] == {
        "perform_comparison": "Enabled", "comparison_threshold": 0.1, "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1, "categorical_drift_method": "LInfinity",
    }  # fmt: skip
    assert constraints["features"][2]["string_constraints"] == {"domains": ["blue", "green", "red"]}

    same = ws.monitoring.check(base, endpoint="ep", variant="A")
    assert same.status == "Completed", ws.monitoring.violations(same)
    assert same.data["item_count"] == 300 and same.data["capture"]["base64_not_analysable"] == 2
    assert ws.monitoring.violations(same) == {"violations": []}
    assert "feature_baseline_drift_x1" in same.data["metrics"] and same.data["metrics"]["feature_non_null_color"] == 1.0
    upstream = ws.lineage.upstream(same.ref).refs()  # endpoint -> job -> execution, dataset -> baseline -> execution
    assert {"endpoint/ep", base.ref, "dataset/train:1", f"job/{same.spec['job']}"} <= upstream

    shifted = ws.monitoring.check(base, endpoint="ep", variant="B")
    assert shifted.status == "CompletedWithViolations" and shifted.ref == "monitoring-execution/ep:2"
    found = {(v["feature_name"], v["constraint_check_type"]) for v in ws.monitoring.violations(shifted)["violations"]}
    assert found == {("x1", "baseline_drift_check"), ("color", "categorical_values_check"), ("color", "baseline_drift_check")}
    html = ws.monitoring.html(shifted)
    assert "<svg" in html and "categorical_values_check" in html and "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert ws.reports.html(shifted.ref) == html  # the report table knows the kind

    # edits are honoured: a looser drift threshold and purple in the domain clear the violations
    edited = ws.monitoring.constraints(base)
    edited["monitoring_config"]["distribution_constraints"]["comparison_threshold"] = 0.95
    edited["monitoring_config"]["distribution_constraints"]["categorical_comparison_threshold"] = 0.95
    edited["features"][2]["string_constraints"]["domains"].append("purple")
    v2 = ws.monitoring.update_constraints(base, edited)
    assert v2.version == 2
    again = ws.monitoring.check("train:2", endpoint="ep", variant="B")
    assert again.status == "Completed", ws.monitoring.violations(again)

    # an empty window completes with "no data", it does not fail
    empty = ws.monitoring.check(base, endpoint="ep", start_time="2001-01-01T00:00:00Z", end_time="2001-01-01T05:00:00Z")
    assert empty.status == "Completed" and empty.data["status_detail"] == "NoData"
    assert empty.data["message"].startswith("no data") and ws.monitoring.violations(empty) == {"violations": []}
    assert [r.version for r in ws.monitoring.executions("ep")] == [4, 3, 2, 1]


def test_baseline_from_captured_traffic_and_files(world: dict[str, Any], tmp_path: Path) -> None:
    ws = world["ws"]
    base = ws.monitoring.baseline(endpoint="ep", variant="A", columns=["x1", "x2", "color"], name="captured")
    assert base.data["item_count"] == 300 and base.data["capture"]["base64_not_analysable"] == 2
    assert [f["inferred_type"] for f in ws.monitoring.statistics(base)["features"]] == ["Fractional", "Integral", "String"]
    csv = tmp_path / "rows.csv"
    world["shifted"].to_csv(csv, index=False)
    from_csv = ws.monitoring.baseline(str(csv), name="from-csv")
    assert from_csv.data["item_count"] == 300
    assert {f["name"]: f["inferred_type"] for f in ws.monitoring.statistics(from_csv)["features"]} == {
        "x1": "Fractional", "x2": "Integral", "color": "String"}
    with pytest.raises(JobFailedError, match=r"failed: .*the baseline data holds no rows \(capture: .*'files': 0"):
        ws.monitoring.baseline(endpoint="ep", start_time="2001-01-01T00:00Z", end_time="2001-01-02T00:00Z", name="empty")
    assert ws.metadata.list_resources("monitoring-baseline", name="empty") == []  # nothing half-written
    with pytest.raises(ValidationError, match="exactly one of data"):
        ws.monitoring.baseline("train", endpoint="ep")
    with pytest.raises(ValidationError, match="start_time: 'yesterday' is not an ISO-8601"):
        ws.monitoring.check(base, endpoint="ep", start_time="yesterday")
    with pytest.raises(ValidationError, match=r"constraints: monitoring_config.bogus: unknown key"):
        ws.monitoring.check(base, endpoint="ep", constraints={"monitoring_config": {"bogus": 1}})


def test_capture_line_matches_what_the_reader_sees(world: dict[str, Any]) -> None:
    first = capture_lines(world["capture"], "B")[0]
    data = first["captureData"]["endpointInput"]["data"]
    values = data.splitlines()[0].split(",")
    reader = CaptureReader(["x1", "x2", "color"])
    frame = next(reader.read(capture_files(world["capture"], variant="B")))
    assert list(frame.iloc[0]) == values and orjson.dumps(first)
