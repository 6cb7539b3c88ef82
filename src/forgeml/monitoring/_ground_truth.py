"""Ground truth that arrives after the predictions, and its merge with the captures (§10.8).

Uploads are SageMaker's ground-truth JSON Lines, one line per captured request::

    {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "<id>"}, "eventVersion": "0"}

``eventId`` is the capture's ``inferenceId`` when the request gave one, else its ``eventId``. A
request of several rows takes as many labels (CSV ``"1,0,1"`` or one per line; JSON a list).
Each upload is checked whole, then written atomically to
``<home>/ground-truth/<endpoint>/yyyy/mm/dd/hh/<uuid>.jsonl`` (the hour it was collected): a bad
line is refused with its number and nothing is written. A later upload for an id replaces an
earlier one. Ids that match no captured request are counted and reported.
"""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace
    from forgeml.security import Envelope


def root(ws: Workspace, endpoint: str) -> Path:
    return ws.home / "ground-truth" / endpoint


def _labels(value: dict[str, Any], where: str) -> list[str]:
    data, encoding = value.get("data"), str(value.get("encoding", "CSV")).upper()
    if not isinstance(data, str):
        raise ValidationError(f"{where}: groundTruthData.data must be a string")
    if encoding == "CSV":
        return [v.strip() for row in csv.reader(io.StringIO(data)) for v in row if v.strip() != ""]
    if encoding == "JSON":
        try:
            parsed = json.loads(data)
        except ValueError:
            raise ValidationError(f"{where}: groundTruthData.data is not JSON") from None
        return [str(v) for v in (parsed if isinstance(parsed, list) else [parsed])]
    raise ValidationError(f"{where}: groundTruthData.encoding {encoding!r} is not CSV or JSON")


def parse(lines: Iterable[bytes | str], what: str = "ground truth") -> list[dict[str, Any]]:
    """Checked ground-truth records (``{"id", "labels", "line"}``).

    Raises:
        ValidationError: naming the line and what is wrong with it.
    """
    out = []
    for number, raw in enumerate(lines, 1):
        text = raw.decode() if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        where = f"{what} line {number}"
        try:
            record = json.loads(text)
        except ValueError:
            raise ValidationError(f"{where}: not a JSON object") from None
        if not isinstance(record, dict) or not isinstance(record.get("groundTruthData"), dict):
            raise ValidationError(f"{where}: expected {{'groundTruthData': {{'data': ..., 'encoding': 'CSV'}}, 'eventMetadata': {{'eventId': ...}}}}")
        unknown = set(record) - {"groundTruthData", "eventMetadata", "eventVersion"}
        if unknown:
            raise ValidationError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        meta = record.get("eventMetadata")
        event = meta.get("eventId") if isinstance(meta, dict) else None
        if not isinstance(event, str) or not event:
            raise ValidationError(f"{where}: eventMetadata.eventId must be a non-empty string")
        labels = _labels(record["groundTruthData"], where)
        if not labels:
            raise ValidationError(f"{where}: groundTruthData.data holds no label")
        out.append({"id": event, "labels": labels, "line": json.dumps(record, separators=(",", ":"))})
    if not out:
        raise ValidationError(f"{what}: no records")
    return out


def write(folder: Path, records: list[dict[str, Any]], collected: datetime | None = None) -> Path:
    """Write checked records as one file of the hour ``collected`` (default now), atomically."""
    when = (collected or datetime.now(UTC)).astimezone(UTC)
    target = folder / when.strftime("%Y/%m/%d/%H") / f"{uuid.uuid4().hex}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    with open(tmp, "w") as out:
        out.writelines(r["line"] + "\n" for r in records)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(target)
    return target


def read(folder: Path) -> dict[str, list[str]]:
    """Every uploaded label by id; later uploads win."""
    labels: dict[str, list[str]] = {}
    files = sorted(folder.glob("*/*/*/*/*.jsonl"), key=lambda p: (p.stat().st_mtime, str(p))) if folder.is_dir() else []
    for path in files:
        with open(path, "rb") as handle:
            for record in parse(handle, str(path)):
                labels[record["id"]] = record["labels"]
    return labels


def capture_ids(capture_root: Path, envelope: Envelope | None = None) -> set[str]:
    """The join ids (inferenceId, else eventId) of every captured request."""
    from forgeml.monitoring._capture_read import capture_files

    ids = set()
    for path in capture_files(capture_root):
        for record in _records(path, envelope):
            ids.add(_join_id(record))
    return ids


def _join_id(record: dict[str, Any]) -> str:
    meta = record.get("eventMetadata") or {}
    return str(meta.get("inferenceId") or meta.get("eventId") or "")


def _records(path: Path, envelope: Envelope | None = None) -> Iterator[dict[str, Any]]:
    from forgeml.monitoring._capture_read import capture_lines

    for line in capture_lines(path, envelope):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # malformed or cut mid-write: the data-quality reader counts these
        if isinstance(record, dict):
            yield record


@dataclass
class MergeCounts:
    """What the merge of a window met, reported with every model-quality execution."""

    files: int = 0
    records: int = 0
    matched_records: int = 0
    rows: int = 0
    records_without_ground_truth: int = 0
    label_count_mismatch: int = 0
    unparsable_outputs: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _predictions(output: Any, inference: str, probability: str | None) -> list[tuple[str, float | None]] | None:
    if not isinstance(output, dict) or "data" not in output:
        return None
    encoding, data = str(output.get("encoding", "")).upper(), output["data"]
    try:
        if encoding == "JSON":
            text = str(data)
            try:
                parsed: Any = json.loads(text)
                rows = parsed.get("predictions", [parsed]) if isinstance(parsed, dict) else parsed
            except ValueError:
                rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            out = []
            for row in rows if isinstance(rows, list) else [rows]:
                if isinstance(row, dict):
                    p = row.get(probability) if probability else None
                    out.append((str(row[inference]), None if p is None else float(p)))
                else:
                    out.append((str(row), None))
            return out
        if encoding == "CSV":
            index = int(inference) if inference.isdigit() else 0
            pidx = int(probability) if probability and probability.isdigit() else None
            rows = [r for r in csv.reader(io.StringIO(str(data))) if r]
            return [(r[index].strip(), None if pidx is None else float(r[pidx])) for r in rows]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None


def merge(files: list[Path], labels: dict[str, list[str]], inference: str, probability: str | None,
          counts: MergeCounts, envelope: Envelope | None = None) -> tuple[list[str], list[str], list[float | None]]:  # fmt: skip
    """``(labels, predictions, probabilities)`` of the captured rows that have ground truth."""
    ys: list[str] = []
    preds: list[str] = []
    probs: list[float | None] = []
    for path in files:
        counts.files += 1
        for record in _records(path, envelope):
            counts.records += 1
            truth = labels.get(_join_id(record))
            if truth is None:
                counts.records_without_ground_truth += 1
                continue
            predicted = _predictions((record.get("captureData") or {}).get("endpointOutput"), inference, probability)
            if predicted is None:
                counts.unparsable_outputs += 1
                continue
            if len(predicted) != len(truth):
                counts.label_count_mismatch += 1
                continue
            counts.matched_records += 1
            ys.extend(truth)
            preds.extend(p for p, _ in predicted)
            probs.extend(q for _, q in predicted)
    counts.rows = len(ys)
    return ys, preds, probs


__all__ = ["MergeCounts", "capture_ids", "merge", "parse", "read", "root", "write"]
