"""Encryption at rest through a real endpoint: the model package comes out of sealed artifacts,
the endpoint server process seals its data capture, and the lines read back."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from forgeml.core.workspace import Workspace
from forgeml.security import MAGIC, read_lines
from forgeml.settings import Settings
from tests.serving.conftest import logistic_package


def test_endpoint_serves_a_sealed_package_and_seals_its_capture(settings: Settings, tmp_path: Path) -> None:
    ws = Workspace(settings.model_copy(update={"encryption_at_rest": True}))
    package = logistic_package(tmp_path / "logistic")
    try:
        record = ws.endpoints.create("sealed-ep", {"variants": [{"name": "A", "model": str(package)}],
                                                   "data_capture": {"sampling_percentage": 100}})  # fmt: skip
        body = b'{"instances": [{"x1": 0.5, "x2": 3, "color": "red"}]}'
        with httpx.Client(base_url=record.data["url"], timeout=30) as http:
            for i in range(3):
                r = http.post("/invocations", content=body, headers={"Content-Type": "application/json",
                                                                      "X-Amzn-SageMaker-Inference-Id": f"id-{i}"})  # fmt: skip
                assert r.status_code == 200, r.text
        capture_dir = ws.endpoints.capture_dir("sealed-ep")
        # monitoring reads the sealed capture through the workspace's envelope
        base = ws.monitoring.baseline(endpoint="sealed-ep", variant="A", name="sealed-capture")
        assert base.data["item_count"] == 3 and base.data["capture"]["malformed_lines"] == 0
        assert {f["name"] for f in ws.monitoring.statistics(base)["features"]} == {"x1", "x2", "color"}
    finally:
        ws.endpoints.delete("sealed-ep")
    files = list(capture_dir.rglob("*.jsonl"))
    assert files and all(f.read_bytes().startswith(MAGIC) and b"instances" not in f.read_bytes() for f in files)
    lines = [orjson.loads(line) for f in files for line in read_lines(f, ws.artifacts.envelope, "capture:sealed-ep")]
    assert sorted(line["eventMetadata"]["inferenceId"] for line in lines) == ["id-0", "id-1", "id-2"]
    assert lines[0]["captureData"]["endpointInput"]["data"] == body.decode()
    ws.close()
