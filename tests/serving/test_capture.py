"""Data capture: Model Monitor's JSON Lines format, layout and sampling."""

from __future__ import annotations

import base64
import calendar
import re
import uuid

import orjson

from forgeml.serving._capture import CaptureWriter, capture_record


def test_record_has_model_monitor_field_names() -> None:
    when = calendar.timegm((2021, 9, 27, 3, 47, 25, 0, 0, 0))
    rec = capture_record(b"1,2,3", "text/csv", b'{"predictions": []}', "application/json", inference_id="req-1", when=when)
    assert set(rec) == {"captureData", "eventMetadata", "eventVersion"}
    assert rec["eventVersion"] == "0"
    assert rec["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv", "mode": "INPUT", "data": "1,2,3", "encoding": "CSV",
    }  # fmt: skip
    assert rec["captureData"]["endpointOutput"] == {
        "observedContentType": "application/json", "mode": "OUTPUT", "data": '{"predictions": []}', "encoding": "JSON",
    }  # fmt: skip
    meta = rec["eventMetadata"]
    assert meta["inferenceId"] == "req-1" and meta["inferenceTime"] == "2021-09-27T03:47:25Z"
    assert uuid.UUID(meta["eventId"]).version == 4


def test_unlisted_content_types_are_base64_and_inference_id_is_optional() -> None:
    rec = capture_record(b"\x00\x01binary", "application/x-npy", b"1\n", "text/csv")
    assert rec["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert base64.b64decode(rec["captureData"]["endpointInput"]["data"]) == b"\x00\x01binary"
    assert "inferenceId" not in rec["eventMetadata"]


def test_writer_layout_modes_and_sampling(tmp_path) -> None:
    writer = CaptureWriter(tmp_path, "loans", sampling_percentage=30, modes=("Input",), seed=7)
    sampled = 0
    for _ in range(1000):
        if writer.sampled():
            sampled += 1
            writer.write("A", b"1,2", "text/csv", b"0.5\n", "text/csv", None)
    writer.close()
    assert 240 <= sampled <= 360  # 30 % of 1000; binomial sd is 14.5
    files = list(tmp_path.rglob("*.jsonl"))
    assert len(files) == 1
    rel = files[0].relative_to(tmp_path).as_posix()
    assert re.fullmatch(r"loans/A/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-\d+-[0-9a-f]{8}\.jsonl", rel), rel
    lines = [orjson.loads(line) for line in files[0].read_bytes().splitlines()]
    assert len(lines) == sampled == writer.written
    assert all("endpointOutput" not in line["captureData"] for line in lines)
    assert CaptureWriter(tmp_path, "x", sampling_percentage=0).sampled() is False
