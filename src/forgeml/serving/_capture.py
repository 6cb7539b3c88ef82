"""Data capture in Model Monitor's format: one JSON line per sampled invocation.

Layout and fields follow SageMaker exactly (reference §10.1)::

    <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<worker>-<uuid>.jsonl

    {"captureData": {"endpointInput":  {"observedContentType": ..., "mode": "INPUT",  "data": ..., "encoding": "CSV|JSON|BASE64"},
                     "endpointOutput": {"observedContentType": ..., "mode": "OUTPUT", "data": ..., "encoding": ...}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceId": "<only when given>", "inferenceTime": "2021-09-27T03:47:25Z"},
     "eventVersion": "0"}

Each worker process writes files of its own (no interleaved lines), line-buffered so a line is on
disk as soon as the response is sent. Capture never fails an invocation: a write error is logged
and capture pauses.
"""

from __future__ import annotations

import base64
import logging
import os
import random
import time
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from forgeml.security._lines import seal_lines

if TYPE_CHECKING:
    from forgeml.security import Envelope

log = logging.getLogger("forgeml.serving.capture")


def _encoding(content_type: str, csv_types: set[str], json_types: set[str]) -> str:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in csv_types:
        return "CSV"
    if kind in json_types:
        return "JSON"
    return "BASE64"


def _payload(body: bytes, content_type: str, mode: str, encoding: str) -> dict[str, str]:
    if encoding == "BASE64":
        data = base64.b64encode(body).decode("ascii")
    else:
        data = body.decode("utf-8", errors="replace")
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def capture_record(
    input_body: bytes | None,
    input_type: str,
    output_body: bytes | None,
    output_type: str,
    *,
    inference_id: str | None = None,
    when: float | None = None,
    event_id: str | None = None,
    csv_types: set[str] | None = None,
    json_types: set[str] | None = None,
    shadow_of: str | None = None,
) -> dict[str, Any]:
    """One capture line as a dict (inputs or outputs left out when ``None``); a shadow variant's
    answer (``shadow_of``: its production variant) is marked ``eventMetadata.shadow``."""
    csv_types = csv_types or {"text/csv"}
    json_types = json_types or {"application/json"}
    data: dict[str, Any] = {}
    if input_body is not None:
        data["endpointInput"] = _payload(input_body, input_type, "INPUT", _encoding(input_type, csv_types, json_types))
    if output_body is not None:
        data["endpointOutput"] = _payload(output_body, output_type, "OUTPUT", _encoding(output_type, csv_types, json_types))
    meta: dict[str, Any] = {"eventId": event_id or str(uuid.uuid4())}
    if inference_id:
        meta["inferenceId"] = inference_id
    meta["inferenceTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when if when is not None else time.time()))
    if shadow_of is not None:
        meta["shadow"] = True
        meta["productionVariant"] = shadow_of
    return {"captureData": data, "eventMetadata": meta, "eventVersion": "0"}


class CaptureWriter:
    """Samples and writes capture lines for one endpoint, one file per variant and hour.

    Args:
        destination: root folder of the capture layout.
        endpoint: the endpoint name (first level of the layout).
        sampling_percentage: share of invocations captured, 0-100.
        modes: ``Input`` and/or ``Output``.
        seed: seeds the sampler (tests); None draws from the OS.
        envelope: seals every line at rest (``encryption_at_rest``; read with
            :func:`forgeml.security.read_lines`).
    """

    def __init__(
        self,
        destination: str | Path,
        endpoint: str,
        *,
        sampling_percentage: float = 100.0,
        modes: tuple[str, ...] = ("Input", "Output"),
        csv_types: list[str] | None = None,
        json_types: list[str] | None = None,
        seed: int | None = None,
        envelope: Envelope | None = None,
    ) -> None:
        self.envelope = envelope
        self.root = Path(destination) / endpoint
        self.sampling = sampling_percentage / 100.0
        self.capture_input = "Input" in modes
        self.capture_output = "Output" in modes
        self.csv_types = {t.lower() for t in (csv_types or ["text/csv"])}
        self.json_types = {t.lower() for t in (json_types or ["application/json"])}
        self._random = random.Random(seed)
        self._ids = random.Random()  # event ids: unique, no syscall per line (uuid4 reads os.urandom)
        self._files: dict[str, tuple[str, IO[bytes]]] = {}
        self._failed = False
        self.written = 0

    def sampled(self) -> bool:
        """Whether this invocation is captured."""
        return self.sampling >= 1.0 or (self.sampling > 0 and self._random.random() < self.sampling)

    def _file(self, variant: str, now: float) -> IO[bytes]:
        hour = time.strftime("%Y/%m/%d/%H", time.gmtime(now))
        current = self._files.get(variant)
        if current is not None and current[0] == hour:
            return current[1]
        if current is not None:
            current[1].close()
        folder = self.root / variant / hour
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%M-%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
        handle = open(folder / f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl", "ab", buffering=0)  # noqa: SIM115
        handle = seal_lines(handle, self.envelope, f"capture:{self.root.name}")  # type: ignore[assignment]
        self._files[variant] = (hour, handle)
        return handle

    def write(
        self,
        variant: str,
        input_body: bytes,
        input_type: str,
        output_body: bytes,
        output_type: str,
        inference_id: str | None = None,
        shadow_of: str | None = None,
    ) -> None:
        """Write one capture line (the caller has already sampled; a shadow's answer names its
        production variant in ``shadow_of``)."""
        if self._failed:
            return
        now = time.time()
        record = capture_record(
            input_body if self.capture_input else None, input_type,
            output_body if self.capture_output else None, output_type,
            inference_id=inference_id, when=now, csv_types=self.csv_types, json_types=self.json_types,
            event_id=str(uuid.UUID(int=self._ids.getrandbits(128), version=4)), shadow_of=shadow_of,
        )  # fmt: skip
        try:
            self._file(variant, now).write(orjson.dumps(record) + b"\n")
            self.written += 1
        except OSError as exc:
            self._failed = True
            log.error("data capture paused: %s", exc)

    def close(self) -> None:
        for _, handle in self._files.values():
            handle.close()
        self._files.clear()


__all__ = ["CaptureWriter", "capture_record"]
