"""One real endpoint for the monitoring tests, with the capture files it wrote.

Variant ``A`` gets in-distribution traffic (CSV and JSON payloads), variant ``B`` traffic with a
realistic shift (``x1`` moved by +2, a colour training never saw), and a few JSON Lines requests
under a content type the capture does not list (captured BASE64). The training rows are stored as
dataset ``train``. Shared by this package's tests (deploying takes a few seconds).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from forgeml.core.workspace import Workspace
from forgeml.settings import load_settings
from tests.serving.conftest import logistic_package, training_frame


def _csv(frame: Any) -> str:
    return "".join(f"{r.x1:.6f},{r.x2},{r.color}\n" for r in frame.itertuples())


@pytest.fixture(scope="package")  # the endpoint stops once this package's tests are done
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("monitoring")
    package = logistic_package(root / "logistic")
    settings = load_settings(home=str(root / "ws"), job_stop_grace_seconds=2.0, job_poll_seconds=0.1,
                             allowed_code_roots=[str(root)])  # fmt: skip
    ws = Workspace(settings)
    frame, _ = training_frame(n=600, seed=1)
    ws.datasets.create("train", frame)
    config = {"variants": [{"name": "A", "model": str(package), "weight": 1}, {"name": "B", "model": str(package), "weight": 0}],
              "data_capture": {"sampling_percentage": 100}}  # fmt: skip
    ws.endpoints.create("ep", config)
    try:
        same, _ = training_frame(n=300, seed=2)
        for i in range(0, 200, 20):  # 10 CSV requests of 20 rows
            ws.endpoints.invoke("ep", _csv(same.iloc[i : i + 20]), content_type="text/csv", target_variant="A")
        for i in range(200, 300, 10):  # 10 JSON requests of 10 rows (objects)
            rows = same.iloc[i : i + 10].to_dict(orient="records")
            ws.endpoints.invoke("ep", orjson.dumps(rows), content_type="application/json", target_variant="A")
        shifted, _ = training_frame(n=300, seed=3)
        shifted["x1"] = shifted["x1"] + 2.0
        shifted.loc[shifted.index[::3], "color"] = "purple"
        for i in range(0, 300, 30):
            ws.endpoints.invoke("ep", _csv(shifted.iloc[i : i + 30]), content_type="text/csv", target_variant="B")
        lines = b"".join(orjson.dumps([0.1, 1, "red"]) + b"\n" for _ in range(3))
        for _ in range(2):  # an unlisted content type: captured BASE64
            ws.endpoints.invoke("ep", lines, content_type="application/x-jsonlines", target_variant="A")
        capture = ws.endpoints.capture_dir("ep")
        yield {"ws": ws, "capture": capture, "root": root, "same": same, "shifted": shifted, "train": frame,
               "package": package}  # fmt: skip
    finally:
        for record in ws.endpoints.list():
            ws.endpoints.delete(record.name)
        ws.close()


def capture_lines(capture: Path, variant: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for f in sorted((capture / variant).rglob("*.jsonl")) for line in f.read_bytes().splitlines()]

