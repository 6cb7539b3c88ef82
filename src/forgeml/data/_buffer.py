"""Micro-batching of streamed JSON records into dataset versions (the Firehose role).

Records are checked as they arrive (objects only; types must fit the dataset's schema), appended
to a staging file under ``$FORGEML_HOME/staging/<dataset>/`` (fsync'd, so an accepted record
survives a crash) and flushed into a new appended version when the buffer holds ``max_records``
or its oldest record is ``max_seconds`` old, or on an explicit flush. A flush first renames the
buffer to a batch file named by a batch id that the new version records; a batch file left by
a crash is committed on the next flush unless a version already holds that batch id, so each
accepted record lands exactly once.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.data import _tables
from forgeml.errors import ForgeError, NotFoundError, PayloadTooLargeError, ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

    from forgeml.core.records import ResourceRecord
    from forgeml.data._datasets import DatasetService

MAX_RECORDS_PER_REQUEST = 10_000


def records_to_table(lines: list[str], where: str) -> pa.Table:
    """JSON object lines as one Arrow table (keys become columns, missing keys nulls).

    Raises:
        ValidationError: the records disagree on a field's type.
    """
    import io

    import pyarrow as pa
    import pyarrow.json as pjson

    data = "\n".join(lines).encode()
    try:
        table = pjson.read_json(io.BytesIO(data), read_options=pjson.ReadOptions(block_size=max(1 << 20, len(data) + 1)))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValidationError(f"{where}: records disagree on types: {exc}") from None
    return _tables.normalize(table)


def fit_schema(table: pa.Table, schema: pa.Schema, *, dataset: str, where: str) -> pa.Table:
    """Add the dataset's columns that records left out (as nulls), then cast to its schema."""
    import pyarrow as pa

    for f in schema:
        if f.name not in table.column_names:
            table = table.append_column(f.name, pa.nulls(table.num_rows, type=f.type))
    return _tables.conform(table, schema, dataset=dataset, where=where)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


class RecordBuffer:
    """Buffer records for datasets and flush them as appended versions.

    Args:
        datasets: the dataset service to write through.
        max_records: flush when this many records are buffered.
        max_seconds: flush when the oldest buffered record is this old (a timer checks).
    """

    def __init__(self, datasets: DatasetService, *, max_records: int = 1000, max_seconds: float = 5.0) -> None:
        self.datasets = datasets
        self.max_records = max_records
        self.max_seconds = max_seconds
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()

    def _dir(self, name: str) -> Path:
        path = self.datasets.ws.home / "staging" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextmanager
    def _locked(self, name: str) -> Iterator[Path]:
        folder = self._dir(name)
        with open(folder / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield folder
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _check(self, name: str, records: list[Any]) -> list[str]:
        if not isinstance(records, list) or not records:
            raise ValidationError("send a non-empty JSON array of record objects")
        if len(records) > MAX_RECORDS_PER_REQUEST:
            raise PayloadTooLargeError(f"{len(records)} records in one request; the limit is {MAX_RECORDS_PER_REQUEST}")
        for i, rec in enumerate(records):
            if not isinstance(rec, dict) or not rec:
                raise ValidationError(f"record {i}: expected a non-empty JSON object, got {type(rec).__name__}")
        lines = [json.dumps(r, separators=(",", ":"), allow_nan=False) for r in records]
        table = records_to_table(lines, "records")
        latest = self.datasets._latest(name)
        if latest is not None:
            fit_schema(table, self.datasets.arrow_schema(latest), dataset=name, where="the records")
        return lines

    def append(self, name: str, records: list[Any]) -> dict[str, Any]:
        """Accept records for ``name``; flush when the buffer is full or old.

        Raises:
            ValidationError: not objects, or types that contradict the dataset's schema.
            PayloadTooLargeError: more than ``MAX_RECORDS_PER_REQUEST`` records at once.
        """
        from forgeml.core.jobs import validate_name

        validate_name(name, "dataset name")
        try:
            lines = self._check(name, records)
        except ValueError as exc:  # NaN / Infinity are not JSON
            if isinstance(exc, ForgeError):
                raise
            raise ValidationError(f"records: {exc}") from None
        with self._locked(name) as folder:
            buf = folder / "buffer.jsonl"
            with open(buf, "a", encoding="utf-8") as fh:
                fh.write("".join(line + "\n" for line in lines))
                fh.flush()
                os.fsync(fh.fileno())
            stamp = folder / "oldest"
            if not stamp.exists():
                stamp.write_text(str(time.time()))
            buffered = _count_lines(buf)
            age = time.time() - float(stamp.read_text() or time.time())
        flushed = None
        if buffered >= self.max_records or age >= self.max_seconds:
            flushed = self.flush(name)
            buffered = 0
        else:
            self._schedule(name)
        return {"dataset": name, "accepted": len(lines), "buffered": buffered, "flushed": flushed.ref if flushed else None}

    def _schedule(self, name: str) -> None:
        with self._lock:
            if name in self._timers and self._timers[name].is_alive():
                return
            timer = threading.Timer(self.max_seconds, self._flush_quietly, args=(name,))
            timer.daemon = True
            self._timers[name] = timer
            timer.start()

    def _flush_quietly(self, name: str) -> None:
        import logging

        try:
            self.flush(name)
        except Exception:  # a timer thread has no caller to raise to: log and keep the batch file
            logging.getLogger("forgeml.data").exception("flushing buffered records of %s failed", name)

    def pending(self, name: str) -> int:
        """How many records wait in the buffer (and in unflushed batch files)."""
        folder = self._dir(name)
        files = [folder / "buffer.jsonl", *folder.glob("batch-*.jsonl")]
        return sum(_count_lines(f) for f in files if f.exists())

    def flush(self, name: str) -> ResourceRecord | None:
        """Write every buffered record of ``name`` as one appended version (None if none)."""
        last = None
        with self._locked(name) as folder:
            buf = folder / "buffer.jsonl"
            if buf.exists() and buf.stat().st_size:
                buf.rename(folder / f"batch-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.jsonl")
            (folder / "oldest").unlink(missing_ok=True)
            for batch in sorted(folder.glob("batch-*.jsonl")):
                last = self._commit_batch(name, batch) or last
                batch.unlink()
        return last

    def _commit_batch(self, name: str, batch: Path) -> ResourceRecord | None:
        batch_id = batch.stem.removeprefix("batch-")
        try:
            if any((v.data.get("stream") or {}).get("batch") == batch_id for v in self.datasets.versions(name)[:20]):
                return None  # committed before a crash removed the file
        except NotFoundError:
            pass
        lines = [line for line in batch.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not lines:
            return None
        table = records_to_table(lines, f"buffered batch {batch_id}")
        latest = self.datasets._latest(name)
        if latest is not None:
            table = fit_schema(table, self.datasets.arrow_schema(latest), dataset=name, where="the records")
        return self.datasets.commit(
            name, table, mode="append" if latest is not None else "replace",
            spec={"source": "http-records", "description": "records streamed over HTTP"},
            data={"stream": {"kind": "http", "batch": batch_id, "records": len(lines)}},
        )  # fmt: skip

    def close(self) -> None:
        """Cancel pending timers (buffered records stay on disk for the next flush)."""
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()


__all__ = ["MAX_RECORDS_PER_REQUEST", "RecordBuffer", "fit_schema", "records_to_table"]
