"""Micro-batching of streamed JSON records into dataset versions (the Firehose role).

Records are checked as they arrive (objects only; types must fit the dataset's schema) and stored
as one row per request in the metadata store's ``record_buffer`` table, so an accepted record
survives a crash, and every server process on the workspace (every machine, in team mode)
shares one buffer. The buffer of a dataset is flushed into a new appended version when it holds
``max_records`` or its oldest record is ``max_seconds`` old, or on an explicit flush. The flush
deletes exactly the rows it read in the transaction that creates the version, so each accepted
record lands exactly once, and two flushes racing write it once. A request carrying an
idempotency key is stored in the same transaction as its key's answer: a retry gets that answer
and stores nothing (see :mod:`forgeml.core.idempotency`).

Staging files left by ForgeML versions that buffered in ``$FORGEML_HOME/staging/<dataset>/``
are moved into the table on the next flush (a batch file already committed is dropped).
"""

from __future__ import annotations

import fcntl
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from forgeml.data import _tables
from forgeml.errors import (
    ForgeError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from forgeml.core.idempotency import IdempotencyKey
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


_meta = sa.MetaData()
buffer_rows = sa.Table(
    "record_buffer",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(255), nullable=False),
    sa.Column("lines", sa.Text, nullable=False),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")


class _TakenError(Exception):
    """Another flush committed some of the rows this one read."""


def parse_body(body: bytes, content_type: str) -> list[Any]:
    """The records of an HTTP body: a JSON array, ``{"records": [...]}``, one object, or NDJSON.

    Raises:
        ValidationError: not valid JSON (naming the line of an NDJSON body).
        UnsupportedMediaTypeError: neither JSON nor NDJSON.
    """
    ctype = content_type.split(";")[0].strip() or "application/json"
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise ValidationError(f"request body is not valid UTF-8 (byte {exc.start})") from None
    if ctype in NDJSON_TYPES:
        records = []
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValidationError(f"request body line {number} column {exc.colno}: not valid JSON: {exc.msg}") from None
        return records
    if ctype != "application/json":
        raise UnsupportedMediaTypeError(f"send application/json or application/x-ndjson, not {ctype}")
    try:
        parsed = json.loads(text or "null")
    except json.JSONDecodeError as exc:
        raise ValidationError(f"request body is not valid JSON: {exc}") from None
    records = parsed["records"] if isinstance(parsed, dict) and "records" in parsed else parsed
    return [records] if isinstance(records, dict) else records  # type: ignore[no-any-return]


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

    @property
    def _meta(self) -> Any:
        return self.datasets.ws.metadata

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """One flush at a time per dataset on this machine (the table keeps others correct)."""
        folder = self.datasets.ws.home / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"records-{name}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
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

    def _stats(self, conn: Any, name: str) -> tuple[int, float | None]:
        b = buffer_rows
        count, oldest = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(b.c.records), 0), sa.func.min(b.c.created_at)).where(b.c.dataset == name)
        ).one()
        return int(count), oldest

    def append(self, name: str, records: list[Any], *, idempotency_key: str | IdempotencyKey | None = None) -> dict[str, Any]:
        """Accept records for ``name``; flush when the buffer is full or old.

        With ``idempotency_key``, a retry with the same records gets the first answer and buffers
        nothing; the key's answer is stored in the transaction that buffers the records.

        Raises:
            ValidationError: not objects, or types that contradict the dataset's schema.
            PayloadTooLargeError: more than ``MAX_RECORDS_PER_REQUEST`` records at once.
            IdempotencyKeyReusedError: the key was used for different records.
        """
        from forgeml.core import idempotency as idem
        from forgeml.core.jobs import validate_name

        validate_name(name, "dataset name")
        ikey = idem.as_key(idempotency_key)
        try:
            lines = self._check(name, records)
        except ValueError as exc:  # NaN / Infinity are not JSON
            if isinstance(exc, ForgeError):
                raise
            raise ValidationError(f"records: {exc}") from None
        claim = None
        if ikey is not None:
            found = self.datasets.ws.idempotency.begin(ikey, "datasets.records", idem.fingerprint("datasets.records", {"name": name}, "\n".join(lines)))
            if isinstance(found, idem.Replay):
                return dict(found.body)
            claim = found
        try:
            with self._meta.transaction() as conn:
                conn.execute(buffer_rows.insert().values(dataset=name, lines="\n".join(lines), records=len(lines), created_at=time.time()))
                buffered, oldest = self._stats(conn, name)
                result = {"dataset": name, "accepted": len(lines), "buffered": buffered, "flushed": None}
                if claim is not None:
                    claim.complete_in(conn, result)
        except BaseException:
            if claim is not None:
                claim.release()
            raise
        if buffered >= self.max_records or time.time() - (oldest or time.time()) >= self.max_seconds:
            flushed = self.flush(name)
            result = {**result, "buffered": 0, "flushed": flushed.ref if flushed else None}
            if claim is not None:
                claim.update(result)
        else:
            self._schedule(name)
        return result

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
        except Exception:  # a timer thread has no caller to raise to: log; the rows stay buffered
            logging.getLogger("forgeml.data").exception("flushing buffered records of %s failed", name)

    def pending(self, name: str) -> int:
        """How many records wait in the buffer."""
        with self._meta.read_transaction() as conn:
            return self._stats(conn, name)[0]

    def flush(self, name: str) -> ResourceRecord | None:
        """Write every buffered record of ``name`` as one appended version (None if none)."""
        with self._locked(name):
            self._adopt_staging(name)
            b = buffer_rows
            with self._meta.read_transaction() as conn:
                rows = conn.execute(sa.select(b.c.id, b.c.lines).where(b.c.dataset == name).order_by(b.c.id)).all()
            if not rows:
                return None
            ids = [r.id for r in rows]
            lines = [line for r in rows for line in r.lines.split("\n") if line.strip()]

            def take(conn: Any, _record: ResourceRecord) -> None:
                if conn.execute(b.delete().where(b.c.id.in_(ids))).rowcount != len(ids):
                    raise _TakenError

            table = records_to_table(lines, f"buffered records of {name}")
            latest = self.datasets._latest(name)
            if latest is not None:
                table = fit_schema(table, self.datasets.arrow_schema(latest), dataset=name, where="the records")
            try:
                return self.datasets.commit(
                    name, table, mode="append" if latest is not None else "replace", within=take,
                    spec={"source": "http-records", "description": "records streamed over HTTP"},
                    data={"stream": {"kind": "http", "batch": f"{ids[0]}-{ids[-1]}", "records": len(lines)}},
                )  # fmt: skip
            except _TakenError:
                return None  # another process flushed these rows first

    def _adopt_staging(self, name: str) -> None:
        """Move records that an older ForgeML left in staging files into the table."""
        folder = self.datasets.ws.home / "staging" / name
        files = [*sorted(folder.glob("batch-*.jsonl")), folder / "buffer.jsonl"] if folder.is_dir() else []  # oldest first
        for path in [f for f in files if f.exists()]:
            batch_id = path.stem.removeprefix("batch-")
            try:
                done = any((v.data.get("stream") or {}).get("batch") == batch_id for v in self.datasets.versions(name)[:20])
            except NotFoundError:
                done = False
            lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            if lines and not done:
                with self._meta.transaction() as conn:
                    conn.execute(buffer_rows.insert().values(dataset=name, lines="\n".join(lines), records=len(lines), created_at=time.time()))
            path.unlink()
        (folder / "oldest").unlink(missing_ok=True)

    def close(self) -> None:
        """Cancel pending timers (buffered records stay in the table for the next flush)."""
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()


__all__ = ["MAX_RECORDS_PER_REQUEST", "RecordBuffer", "fit_schema", "parse_body", "records_to_table"]
