"""Versioned datasets: immutable Parquet versions in the artifact store, with schema and lineage.

A version is written once and never changed: its Parquet bytes (one file, or a Hive-partitioned
folder) are a content-addressed artifact, and its record holds the row count, the Arrow schema,
a canonical content hash and where the rows came from. Appending (incremental SQL sync,
streams) writes a new version holding the old rows plus the new ones, so any past version stays
readable as it was.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack

from forgeml.core.jobs import validate_name
from forgeml.core.records import ResourceRecord
from forgeml.data import _tables
from forgeml.errors import ConflictError, NotFoundError, ValidationError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from forgeml.core.idempotency import Claim, IdempotencyKey
    from forgeml.core.records import JobRecord
    from forgeml.core.workspace import Workspace
    from forgeml.data._buffer import RecordBuffer

KIND = "dataset"
QUARANTINE_SUFFIX = "-quarantine"
Mode = Literal["replace", "append", "upsert"]


class CommitOptions(TypedDict, total=False):
    """How :meth:`DatasetService.commit` writes a version (see ``_commit_once`` for defaults)."""

    mode: Mode
    enforce_schema: bool
    partition_by: str | None
    spec: dict[str, Any] | None
    data: dict[str, Any] | None
    tags: dict[str, str] | None
    derived_from: list[str] | None
    quarantine: list[dict[str, Any]] | None
    key: list[str] | None
    idempotency: Claim | None
    within: Callable[[Any, ResourceRecord], None] | None


class _RacedError(Exception):
    """A concurrent writer created a version between reading the latest and writing the next."""


def schema_of(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Column names and pandas dtypes, in order."""
    return [{"name": str(c), "type": str(t)} for c, t in frame.dtypes.items()]


def _pandas_schema(table: pa.Table) -> list[dict[str, str]]:
    """The pandas dtypes :meth:`DatasetService.read` gives (ints and bools with nulls widen)."""
    import pyarrow.types as pt

    out = schema_of(table.schema.empty_table().to_pandas())
    for entry, column in zip(out, table.columns, strict=True):
        if column.null_count and pt.is_integer(column.type):
            entry["type"] = "float64"
        elif column.null_count and pt.is_boolean(column.type):
            entry["type"] = "object"
    return out


def quarantine_name(name: str) -> str:
    """The side dataset that holds rows rejected while ingesting into ``name``."""
    return f"{name[: 63 - len(QUARANTINE_SUFFIX)]}{QUARANTINE_SUFFIX}"


def _write(table: pa.Table, folder: Path, partition_by: str | None) -> Path:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if partition_by is None:
        path = folder / "data.parquet"
        pq.write_table(table, path)
        return path
    root = folder / "data"
    ds.write_dataset(
        table, root, format="parquet", partitioning=[partition_by], partitioning_flavor="hive",
        basename_template="part-{i}.parquet", existing_data_behavior="error",
    )  # fmt: skip
    return root


def _load(path: Path, schema: pa.Schema, partition_by: str | None, columns: list[str] | None) -> pa.Table:
    """Read a stored version back with exactly the schema it was written with."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if partition_by is None:
        table = pq.read_table(path, columns=columns)
    else:
        part = ds.partitioning(pa.schema([schema.field(partition_by)]), flavor="hive")
        files = sorted(str(p) for p in path.rglob("*.parquet"))
        dataset = ds.dataset(files, format="parquet", partitioning=part, partition_base_dir=str(path))
        table = dataset.to_table(columns=columns or schema.names)
    wanted = columns or schema.names
    return table.select(wanted).cast(pa.schema([schema.field(c) for c in wanted]))


class DatasetService:
    """Create, read, compare and list dataset versions; ingestion connectors build on it."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self._buffer: RecordBuffer | None = None

    # writing ---------------------------------------------------------------------------------
    def create(
        self,
        name: str,
        frame: pd.DataFrame,
        *,
        description: str | None = None,
        source: str | None = None,
        tags: dict[str, str] | None = None,
        derived_from: list[str] | None = None,
        partition_by: str | None = None,
        mode: Mode = "replace",
        enforce_schema: bool = False,
    ) -> ResourceRecord:
        """Store ``frame`` as the next version of dataset ``name``.

        Args:
            partition_by: store the version Hive-partitioned by this column (e.g. a date).
            mode: ``replace`` (the version holds ``frame``) or ``append`` (previous rows + ``frame``).
            enforce_schema: refuse columns or types that contradict the latest version's schema.

        Raises:
            ValidationError: bad name, no columns, duplicate column names, or a schema conflict.
        """
        import pyarrow as pa

        validate_name(name, "dataset name")
        if dupes := _tables.duplicate_columns([str(c) for c in frame.columns]):
            raise ValidationError(f"dataset {name!r}: duplicate column name(s) {', '.join(dupes)}")
        frame = frame.rename(columns=str)
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValidationError(f"dataset {name!r}: cannot store the frame: {exc}") from None
        return self.commit(
            name, table, mode=mode, enforce_schema=enforce_schema or mode == "append", partition_by=partition_by,
            spec={"description": description, "source": source}, tags=tags, derived_from=derived_from,
        )  # fmt: skip

    def commit(self, name: str, table: pa.Table, **options: Unpack[CommitOptions]) -> ResourceRecord:
        """Write an Arrow table as the next version; the one write path of every connector.

        The options (:class:`CommitOptions`) are :meth:`_commit_once`'s keyword arguments:
        ``mode``, ``enforce_schema``, ``partition_by``, ``spec``, ``data``, ``tags``,
        ``derived_from``, ``quarantine``, ``key``, ``idempotency`` (a claim completed with the
        new record, in the transaction that creates it) and ``within(connection, record)``
        (more writes in that transaction).

        ``mode="upsert"`` keeps the previous rows whose ``key`` does not occur in ``table`` and
        adds ``table`` (the last row wins when a key repeats in it).

        Everything is checked and the Parquet bytes are stored before any record is created, so
        a failure leaves no version (and no quarantine version) behind.

        Raises:
            ValidationError: as for :meth:`create`, or an unknown ``partition_by`` column.
        """
        import random
        import time

        for attempt in range(8):
            try:
                with self._append_lock(name, options.get("mode", "replace") != "replace"):
                    return self._commit_once(name, table, **options)
            except _RacedError:
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        raise ConflictError(f"dataset {name!r} kept changing while appending to it; try again")

    @contextmanager
    def _append_lock(self, name: str, needed: bool) -> Iterator[None]:
        """Serialize appends to one dataset among the processes of this machine (file lock).

        Writers on other machines (team mode) are caught by the version check in
        :meth:`_commit_once` and retried.
        """
        if not needed:
            yield
            return
        import fcntl

        folder = self.ws.home / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"dataset-{name}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _commit_once(
        self,
        name: str,
        table: pa.Table,
        *,
        mode: Mode = "replace",
        enforce_schema: bool = True,
        partition_by: str | None = None,
        spec: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        derived_from: list[str] | None = None,
        quarantine: list[dict[str, Any]] | None = None,
        key: list[str] | None = None,
        idempotency: Claim | None = None,
        within: Callable[[Any, ResourceRecord], None] | None = None,
    ) -> ResourceRecord:
        """One attempt of :meth:`commit`; raises _RacedError when another writer got in first."""
        import pyarrow as pa
        import pyarrow.compute as pc

        validate_name(name, "dataset name")
        if mode not in ("replace", "append", "upsert"):
            raise ValidationError(f"invalid mode {mode!r} (use replace, append or upsert)")
        if mode == "upsert" and not key:
            raise ValidationError("mode upsert needs key= (the column(s) that identify a row)")
        for k in key or ():
            if k not in table.column_names:
                raise ValidationError(f"dataset {name!r}: key column {k!r} is not a column")
        if dupes := _tables.duplicate_columns(table.column_names):
            raise ValidationError(f"dataset {name!r}: duplicate column name(s) {', '.join(dupes)}")
        if table.num_columns == 0:
            raise ValidationError(f"dataset {name!r}: no columns")
        table = _tables.normalize(table)
        previous = self._latest(name)
        if previous is not None:
            old_schema = self.arrow_schema(previous)
            if enforce_schema:
                table = _tables.conform(table, old_schema, dataset=name)
            if mode in ("append", "upsert"):
                old = self.read_table(name, previous.version)
                if mode == "upsert":
                    assert key is not None
                    table = _tables.last_per_key(table, key)
                    old = old.filter(pc.invert(pc.is_in(_tables.key_column(old, key), value_set=_tables.key_column(table, key))))
                try:
                    table = pa.concat_tables([old, table], promote_options="permissive")
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise ValidationError(f"dataset {name!r}: cannot append rows of a different schema: {exc}") from None
        elif mode == "upsert":
            table = _tables.last_per_key(table, key or [])
        if previous is not None and mode != "replace":
            partition_by = partition_by or previous.data.get("partition_by")
        if partition_by is not None and partition_by not in table.column_names:
            raise ValidationError(f"dataset {name!r}: partition column {partition_by!r} is not a column")
        with tempfile.TemporaryDirectory() as tmp:
            path = _write(table, Path(tmp), partition_by)
            if partition_by is None:
                art = self.ws.artifacts.put_file(path, media_type="application/vnd.apache.parquet")
            else:
                art = self.ws.artifacts.put_dir(path)
                table = _load(path, table.schema, partition_by, None)
        quarantined = self._quarantine(name, quarantine) if quarantine else None
        record_data = {
            "artifact": art.digest, "bytes": art.size, "rows": table.num_rows, "columns": table.num_columns,
            "layout": "file" if partition_by is None else "hive", "partition_by": partition_by,
            "schema": _pandas_schema(table),
            "arrow_schema": _tables.arrow_schema_json(table.schema),
            "arrow_schema_b64": _tables.encode_schema(table.schema),
            "content_hash": _tables.content_hash(table),
            "mode": mode, "parent": previous.ref if previous is not None else None,
            "quarantine": {"dataset": quarantined.ref, "rows": quarantined.data["rows"]} if quarantined else None,
            **(data or {}),
        }  # fmt: skip
        expected = max([previous.version if previous is not None else 0, *self._retired_versions(name)]) + 1

        def in_transaction(conn: Any, new: ResourceRecord) -> None:
            if mode != "replace" and new.version != expected:
                raise _RacedError  # another writer made a version after we read ours: appending would drop its rows
            if idempotency is not None:
                idempotency.complete_in(conn, new.to_dict(), new.ref)
            if within is not None:
                within(conn, new)

        try:
            record = self.ws.metadata.create_resource(
                ResourceRecord(kind=KIND, name=name, status="Available", spec=spec or {}, data=record_data, tags=tags or {}),
                next_version=True, within=in_transaction,
            )  # fmt: skip
        except BaseException:
            if quarantined is not None:
                self.ws.metadata.delete_resource(KIND, quarantined.name, quarantined.version)
            raise
        self.ws.metadata.put_artifact(art, owner=record.ref)
        self.ws.lineage.record(f"artifact/{art.digest}", record.ref, "stored-as")
        if previous is not None and mode != "replace":
            self.ws.lineage.record(previous.ref, record.ref, "appended-to" if mode == "append" else "upserted-into")
        if quarantined is not None:
            self.ws.lineage.record(record.ref, quarantined.ref, "quarantined")
        for ref in derived_from or ():
            self.ws.lineage.record(ref, record.ref, "derived")
        return record

    def _quarantine(self, name: str, rows: list[dict[str, Any]]) -> ResourceRecord:
        """Store rejected rows (source, line, error, raw text) as the next quarantine version."""
        import pyarrow as pa

        schema = pa.schema([("source", pa.string()), ("line", pa.int64()), ("error", pa.string()), ("raw", pa.string())])
        table = pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)
        return self.commit(
            quarantine_name(name), table, enforce_schema=False,
            spec={"description": f"rows rejected while ingesting into {name}", "source": name},
        )  # fmt: skip

    # ingestion -------------------------------------------------------------------------------
    def ingest(
        self,
        source: str,
        name: str,
        *,
        format: str | None = None,
        encoding: str = "utf-8",
        delimiter: str | None = None,
        partition_by: str | None = None,
        mode: Mode = "replace",
        key: list[str] | None = None,
        table: str | None = None,
        query: str | None = None,
        watermark: str | None = None,
        full: bool = False,
        allow_schema_change: bool = False,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        progress: Callable[[int, int, str], None] | None = None,
        idempotency_key: str | IdempotencyKey | None = None,
    ) -> ResourceRecord:
        """Ingest a file, glob, folder or fsspec URL, or (for a SQLAlchemy URL) a table or query.

        Files (see :func:`forgeml.data._ingest.ingest_files`): ``format`` (csv, tsv, parquet,
        jsonl; default from the extension), ``encoding``, ``delimiter``, ``partition_by``,
        ``mode`` (replace, append, upsert with ``key``). Databases (see :meth:`sync_sql`):
        ``table`` or ``query``, ``watermark``, ``key``, ``full``. ``idempotency_key`` (files):
        a retry with the same key and the same files and options returns the first version and
        writes nothing.

        Raises:
            NotFoundError: nothing at ``source``.
            ValidationError: bad input (the message names file and line) or a schema contradiction.
            BackendUnavailableError: the database cannot be reached.
        """
        from forgeml.data import _ingest, _sql

        self.ws.access.check_source(source, "source")  # a network caller names no server path, URL or database
        common: dict[str, Any] = {"key": key, "allow_schema_change": allow_schema_change, "description": description, "tags": tags}
        if _sql.is_sql_url(source):
            if idempotency_key is not None:
                raise ValidationError("idempotency_key applies to file ingestion; a database sync is already incremental")
            return self.sync_sql(source, name, table=table, query=query, watermark=watermark, full=full, partition_by=partition_by, **common)
        if sql_only := [k for k, v in (("table", table), ("query", query), ("watermark", watermark), ("full", full)) if v]:
            raise ValidationError(f"option(s) {', '.join(sql_only)} apply to database URLs only")
        return _ingest.ingest_files(
            self, source, name, format=format, encoding=encoding, delimiter=delimiter,
            partition_by=partition_by, mode=mode, progress=progress, idempotency_key=idempotency_key, **common,
        )  # fmt: skip

    def sync_sql(
        self,
        url: str,
        name: str,
        *,
        table: str | None = None,
        query: str | None = None,
        watermark: str | None = None,
        key: list[str] | None = None,
        full: bool = False,
        allow_schema_change: bool = False,
        partition_by: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        connect_timeout: float = 5.0,
    ) -> ResourceRecord:
        """Full load, then incremental sync on ``watermark``; see :func:`forgeml.data._sql.sync`."""
        from forgeml.data import _sql

        self.ws.access.check_source(url, "source")

        return _sql.sync(
            self, url, name, table=table, query=query, watermark=watermark, key=key, full=full,
            allow_schema_change=allow_schema_change, partition_by=partition_by, description=description, tags=tags,
            connect_timeout=connect_timeout,
        )  # fmt: skip

    def records(self) -> RecordBuffer:
        """The micro-batching buffer behind ``POST /datasets/{name}/records`` (one per process and
        workspace: the REST API's view of the workspace shares it)."""
        from forgeml.data._buffer import RecordBuffer

        if self._buffer is None:
            s = self.ws.settings
            self._buffer = self.ws.shared("record-buffer", lambda: RecordBuffer(
                self, max_records=int(getattr(s, "stream_max_records", 1000)), max_seconds=float(getattr(s, "stream_max_seconds", 5.0))
            ))  # fmt: skip
        return self._buffer

    def consume(self, url: str, name: str, *, stream: str, group: str = "forgeml", durable: str = "forgeml",
                jetstream: str | None = None, **options: Any) -> list[ResourceRecord]:
        """Consume a Redis stream (``redis://...``) or a NATS JetStream subject (``nats://...``).

        ``stream`` is the Redis stream key or the NATS subject; ``options`` go to
        :func:`forgeml.data._stream.consume` (``batch_size``, ``max_wait``, ``max_batches``, ``idle_batches``).
        """
        from forgeml.data import _stream

        self.ws.access.check_source(url, "url")
        source = _stream.open_source(url, stream, group=group, durable=durable, jetstream=jetstream)
        try:
            return _stream.consume(self, source, name, **options)
        finally:
            source.close()

    def start_consumer(self, url: str, name: str, *, stream: str, group: str = "forgeml", durable: str = "forgeml",
                       jetstream: str | None = None, batch_size: int = 500, max_wait: float = 1.0,
                       job_name: str | None = None) -> JobRecord:
        """Run :meth:`consume` as a processing job that consumes until it is stopped."""
        from forgeml.data._stream import open_source

        validate_name(name, "dataset name")
        self.ws.access.check_source(url, "url")
        open_source(url, stream, group=group, durable=durable, jetstream=jetstream).close()  # fail fast here
        config = {"url": url, "stream": stream, "name": name, "group": group, "durable": durable,
                  "jetstream": jetstream, "batch_size": batch_size, "max_wait": max_wait}  # fmt: skip
        return self.ws.jobs.submit("processing", "forgeml.data._stream:consume_job", config, name=job_name)

    def export(self, name: str, path: str | Path, *, versions: list[int] | None = None) -> dict[str, Any]:
        """Write versions of ``name`` (all, ``versions``, or the one its reference names) to a
        checksummed archive; see :mod:`forgeml.data._archive`."""
        from forgeml.core.refs import parse_ref
        from forgeml.core.workspace_guard import check_path
        from forgeml.data._archive import export_dataset

        check_path(path, self.ws.settings, "archive")
        ref = parse_ref(name, KIND)
        if ref.selector is not None:
            if versions:
                raise ValidationError(f"{name!r} names a version already: give the versions to export once")
            versions = [self.get(ref).version]
        return export_dataset(self, ref.name, path, versions=versions)

    def import_archive(self, path: str | Path, *, name: str | None = None) -> list[ResourceRecord]:
        """Verify and import an archive written by :meth:`export`."""
        from forgeml.core.workspace_guard import check_path
        from forgeml.data._archive import import_dataset

        check_path(path, self.ws.settings, "archive")
        return import_dataset(self, path, name=name)

    def delete(self, name: str | ResourceRecord, version: int | str | None = None, *, by: str | None = None,
               reason: str | None = None) -> ResourceRecord:  # fmt: skip
        """Delete one dataset version, keeping its lineage and events.

        The version disappears from ``get``, ``versions``, ``list`` and every reference
        (``@latest`` moves to the newest version left); its number is never reused (the next
        commit gets a new one); its data is released (``artifacts gc`` may reclaim it). Refused
        while a job that has not ended reads it (a training, tuning, transform or processing job
        naming it, or naming the dataset without a version when it is the latest). Nothing
        changes when it is refused.

        Args:
            name: a dataset reference naming the version (``loans:3``) or a record.
            version: the version, when ``name`` is a bare name.
            by: who deletes it (default: the OS user); reason: why. Both are recorded.

        Returns:
            The tombstone record (status ``Deleted``).

        Raises:
            ValidationError: no version named. NotFoundError: no such version.
            ConflictError: a running job uses it (named).
        """
        import getpass

        from forgeml.core.usage import require_version, retire

        require_version(name, KIND, version)
        record = self.get(name, version)
        try:
            user = by or getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return retire(self.ws, record, by=user, reason=reason)

    def _retired_versions(self, name: str) -> list[int]:
        """The deleted versions' numbers (never given again: the next version comes after them)."""
        from forgeml.core.metadata import RETIRED

        return [r.version for r in self.ws.metadata.list_resources(KIND, name=name, status=RETIRED)]

    # reading ---------------------------------------------------------------------------------
    def _latest(self, name: str) -> ResourceRecord | None:
        try:
            return self.get(name)
        except NotFoundError:
            return None

    def get(self, name: str | ResourceRecord, version: int | str | None = None) -> ResourceRecord:
        """One version's record: ``name`` is any dataset reference (``loans``, ``loans:3``,
        ``loans@latest``, ``dataset/loans:3``; see :mod:`forgeml.core.refs`), ``version`` an
        explicit version that must agree with one in the reference.

        Raises:
            ValidationError: a malformed reference, or one to something other than a dataset.
            NotFoundError: no such dataset or version (the message names the latest version).
        """
        from forgeml.core.refs import resolve

        return resolve(self.ws.metadata, name, KIND, version=version)

    def list(self) -> list[ResourceRecord]:
        """The latest version of every dataset."""
        return self.ws.metadata.list_resources(KIND, latest_only=True)

    def versions(self, name: str) -> list[ResourceRecord]:
        """Every version of the dataset ``name`` (or ``dataset/NAME``) names, newest first."""
        from forgeml.core.refs import name_of

        base = name_of(name, KIND)
        found = self.ws.metadata.list_resources(KIND, name=base)
        if not found:
            raise NotFoundError(f"dataset {base!r} does not exist")
        return found

    def arrow_schema(self, record: ResourceRecord) -> pa.Schema:
        """The exact Arrow schema a version was written with."""
        if "arrow_schema_b64" in record.data:
            return _tables.decode_schema(record.data["arrow_schema_b64"])
        import pyarrow.parquet as pq  # versions written before schemas were recorded

        return _tables.normalize(pq.read_table(self.local_path(record))).schema

    def local_path(self, name: str | ResourceRecord, version: int | None = None) -> Path:
        """A local copy of that version: a Parquet file, or a Hive-partitioned folder."""
        record = self.get(name, version)
        digest = record.data["artifact"]
        from forgeml.security import plain_cache

        cache = plain_cache(self.ws.home / "cache" / "datasets", self.ws.artifacts.envelope)
        if record.data.get("layout") == "hive":
            target = cache / digest
            if not target.exists():
                tmp = cache / f".{digest}.{uuid.uuid4().hex}.part"
                self.ws.artifacts.get_dir(digest, tmp)
                try:
                    tmp.rename(target)
                except OSError:  # another reader materialized it first
                    shutil.rmtree(tmp, ignore_errors=True)
            return target
        target = cache / f"{digest}.parquet"
        if not target.exists():
            self.ws.artifacts.get_file(digest, target)
        return target

    def read_table(self, name: str | ResourceRecord, version: int | None = None, columns: list[str] | None = None) -> pa.Table:
        """The rows of one version as an Arrow table, with the schema it was written with."""
        record = self.get(name, version)
        schema = self.arrow_schema(record)
        if columns and (unknown := [c for c in columns if c not in schema.names]):
            raise ValidationError(f"dataset {record.name!r} has no column(s) {', '.join(unknown)}")
        return _load(self.local_path(record), schema, record.data.get("partition_by"), columns)

    def read(self, name: str | ResourceRecord, version: int | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        """The rows of one version as a pandas frame."""
        return self.read_table(name, version, columns).to_pandas()

    def head(self, name: str | ResourceRecord, version: int | None = None, n: int = 10) -> pd.DataFrame:
        """The first ``n`` rows of a version (reads only the row groups it needs)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if n < 0:
            raise ValidationError(f"n must be >= 0, got {n}")
        record = self.get(name, version)
        if record.data.get("layout") == "hive" or "arrow_schema_b64" not in record.data:
            return self.read_table(record).slice(0, n).to_pandas()
        schema = self.arrow_schema(record)
        batches, have = [], 0
        for batch in pq.ParquetFile(self.local_path(record)).iter_batches(batch_size=max(n, 1)):
            batches.append(batch)
            have += batch.num_rows
            if have >= n:
                break
        table = pa.Table.from_batches(batches) if batches else schema.empty_table()
        return table.slice(0, n).cast(schema).to_pandas()

    def describe(self, name: str | ResourceRecord, version: int | None = None) -> dict[str, Any]:
        """A version's record plus its lineage neighbours."""
        record = self.get(name, version)
        out = record.to_dict()
        out["upstream"] = [e.to_dict() for e in self.ws.metadata.list_edges(dst=record.ref)]
        out["downstream"] = [e.to_dict() for e in self.ws.metadata.list_edges(src=record.ref)]
        return out

    def diff(self, name: str, a: int | str | None = None, b: int | str | None = None, *, key: list[str] | None = None) -> dict[str, Any]:
        """How one version differs from an older one; see :func:`diff_tables`.

        ``diff("loans", 1, 3)``, ``diff("loans:1", 3)``, ``diff("loans:1", "loans:3")`` and
        ``diff("loans:1", "other:2")`` all work: when ``name`` carries a version it is the older
        side and ``a`` the newer; otherwise ``a`` is the older and ``b`` the newer. A side given as
        a number is a version of the same dataset; the newer side defaults to the latest.

        Raises:
            ValidationError: no older version given, or a malformed reference.
            NotFoundError: a dataset or version that does not exist.
        """
        from forgeml.core.refs import parse_ref
        from forgeml.data._diff import diff_tables

        first = parse_ref(name, KIND)
        if first.selector is not None:
            if b is not None:
                raise ValidationError(f"{name!r} names the older version already: give at most one more version to compare with")
            old_side, new_side = first, a
        else:
            if a is None:
                raise ValidationError(f"give the older version to compare: {first.name}:VERSION (or NAME OLD [NEW])")
            old_side, new_side = a, b

        def side(value: int | str | Any | None) -> ResourceRecord:
            if value is None:
                return self.get(first.name)
            if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
                return self.get(first.name, int(value))
            return self.get(value)

        rec_a, rec_b = side(old_side), side(new_side)
        out = diff_tables(self.read_table(rec_a), self.read_table(rec_b), key=key)
        same = rec_a.name == rec_b.name
        return {"dataset": rec_a.name, "a": rec_a.version if same else rec_a.ref, "b": rec_b.version if same else rec_b.ref, **out}


__all__ = ["KIND", "QUARANTINE_SUFFIX", "DatasetService", "quarantine_name", "schema_of"]
