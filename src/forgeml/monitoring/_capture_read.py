"""Rows out of the capture files an endpoint writes (``serving/_capture.py``, reference §10.1).

A window is a set of whole hours: :func:`capture_files` lists
``<root>/<variant>/yyyy/mm/dd/hh/*.jsonl`` with ``start <= hour < end``. :class:`CaptureReader`
turns each line's ``endpointInput`` into rows: CSV payloads (one row per line, values as text),
JSON payloads (an object, a list of objects or lists, ``{"instances": [...]}`` (with ``{"features": [...]}`` rows), or JSON Lines of those). Positional
values (CSV, JSON lists) are named by ``columns`` (the baseline's features) in order, and
``_c<i>`` past them. BASE64 payloads cannot be analysed and are counted, as are lines with no
input, a malformed line, and a truncated last line (a worker killed mid-write); none stops the read.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

BATCH_ROWS = 50_000

if TYPE_CHECKING:
    from forgeml.security import Envelope


@dataclass
class CaptureCounts:
    """What a read met, reported with every execution."""

    files: int = 0
    records: int = 0
    rows: int = 0
    base64_not_analysable: int = 0
    no_input: int = 0
    malformed_lines: int = 0
    truncated_lines: int = 0
    unparsable_payloads: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _hour_of(path: Path, root: Path) -> datetime | None:
    parts = path.relative_to(root).parts  # variant, yyyy, mm, dd, hh, file
    if len(parts) != 6:
        return None
    try:
        return datetime(int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4]), tzinfo=UTC)
    except ValueError:
        return None


def capture_files(root: Path, start: datetime | None = None, end: datetime | None = None, variant: str | None = None) -> list[Path]:
    """The capture files of hours in ``[start, end)`` (every hour when not given), in time order."""
    if not root.is_dir():
        return []
    out = []
    for path in root.glob("*/*/*/*/*/*.jsonl"):
        hour = _hour_of(path, root)
        if hour is None or (variant is not None and path.relative_to(root).parts[0] != variant):
            continue
        if (start is None or hour >= start) and (end is None or hour < end):
            out.append((hour, str(path), path))
    return [p for _, _, p in sorted(out)]


def _json_rows(value: Any) -> list[Any]:
    if isinstance(value, dict):
        for key in ("instances", "inputs", "data"):
            if key in value and isinstance(value[key], list):
                return list(value[key])
        return [value]
    if isinstance(value, list):
        if value and all(not isinstance(v, dict | list) for v in value):
            return [value]  # one positional row
        return list(value)
    return [[value]]


class CaptureReader:
    """Reads capture files into frames of at most :data:`BATCH_ROWS` rows, counting what it skips.

    Args:
        columns: names for positional values (the baseline's feature names, in order).
    """

    def __init__(self, columns: Sequence[str] = (), envelope: Envelope | None = None) -> None:
        self.columns = list(columns)
        self.envelope = envelope  # opens sealed capture files (encryption_at_rest)
        self.counts = CaptureCounts()

    def _named(self, row: Any) -> dict[str, Any]:
        if isinstance(row, dict) and len(row) == 1 and isinstance(row.get("features"), list):
            row = row["features"]  # SageMaker's {"instances": [{"features": [...]}]}
        if isinstance(row, dict):
            return {str(k): v for k, v in row.items()}
        values = row if isinstance(row, list) else [row]
        return {(self.columns[i] if i < len(self.columns) else f"_c{i}"): v for i, v in enumerate(values)}

    def _rows(self, record: Any) -> list[dict[str, Any]]:
        payload = record.get("captureData", {}).get("endpointInput") if isinstance(record, dict) else None
        if not isinstance(payload, dict) or "data" not in payload:
            self.counts.no_input += 1
            return []
        encoding = str(payload.get("encoding", "")).upper()
        data = payload["data"]
        if encoding == "BASE64":
            self.counts.base64_not_analysable += 1
            return []
        try:
            if encoding == "CSV":
                return [self._named(r) for r in csv.reader(io.StringIO(str(data))) if r]
            if encoding == "JSON":
                text = str(data)
                try:
                    values = _json_rows(json.loads(text))
                except ValueError:  # JSON Lines: one document per line
                    values = [r for line in text.splitlines() if line.strip() for r in _json_rows(json.loads(line))]
                return [self._named(r) for r in values]
        except (ValueError, csv.Error):
            pass
        self.counts.unparsable_payloads += 1
        return []

    def read(self, files: Sequence[Path]) -> Iterator[pd.DataFrame]:
        """Frames of the rows in ``files`` (in order)."""
        rows: list[dict[str, Any]] = []
        for path in files:
            self.counts.files += 1
            for line in capture_lines(path, self.envelope):  # line by line: a file is never held whole
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    if line.endswith(b"\n"):
                        self.counts.malformed_lines += 1
                    else:  # only the last line can lack its newline: cut mid-write
                        self.counts.truncated_lines += 1
                    continue
                self.counts.records += 1
                rows.extend(self._rows(record))
                if len(rows) >= BATCH_ROWS:
                    yield self._frame(rows)
                    rows = []
        if rows:
            yield self._frame(rows)

    def _frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        self.counts.rows += len(rows)
        return pd.DataFrame(rows, dtype=object)  # objects as parsed: a JSON 3 stays an int next to a missing value


def capture_lines(path: Path, envelope: Envelope | None) -> Iterator[bytes]:
    """The lines of a capture file as written; sealed ones opened with ``envelope``.

    Raises:
        DecryptionError: a sealed line was altered or moved (naming the file and line).
        ValidationError: the file is sealed and ``envelope`` is None (encryption is off).
    """
    from forgeml.security import is_sealed, read_lines

    with open(path, "rb") as handle:
        first = handle.readline()
        if not is_sealed(first):
            if first:
                yield first
            yield from handle
            return
    # sealed under the endpoint's name: <capture>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>
    for line in read_lines(path, envelope, f"capture:{path.parents[5].name}"):
        yield line + b"\n"  # a sealed line is whole: its tag checked out


__all__ = ["BATCH_ROWS", "CaptureCounts", "CaptureReader", "capture_files", "capture_lines"]
