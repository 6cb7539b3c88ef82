"""SQL sources through SQLAlchemy URLs, with incremental sync on a watermark column (the DMS role).

A first sync is a full load. With a watermark column (an ever-increasing ``id`` or
``updated_at``) each later sync fetches only rows whose watermark is greater than the largest
one already synced, and writes a new version: the previous rows plus the new ones, or, with a
key, the previous rows with the changed keys replaced (an upsert, so updated rows are not
duplicated). Deletes in the source are not seen (DMS sees them through the database log; a
watermark cannot). Rows whose values contradict their column's type (SQLite allows that) are
quarantined, not loaded.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.data._ingest import redact
from forgeml.errors import BackendUnavailableError, NotFoundError, ValidationError

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlalchemy as sa

    from forgeml.core.records import ResourceRecord
    from forgeml.data._datasets import DatasetService, Mode

SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle", "duckdb")


def is_sql_url(source: str) -> bool:
    """Whether ``source`` is a SQLAlchemy database URL rather than a file location."""
    scheme, sep, _ = source.partition("://")
    return bool(sep) and scheme.split("+", 1)[0].lower() in SQL_SCHEMES


def _engine(url: str, connect_timeout: float) -> sa.Engine:
    import sqlalchemy as sa

    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url[len(plain) :]
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ValidationError(f"invalid database URL {redact(url)!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        if db in ("", ":memory:") or not Path(db).is_file():
            raise BackendUnavailableError(f"SQLite database {db or ':memory:'} does not exist")
        return sa.create_engine(parsed, poolclass=sa.pool.NullPool)
    args = {"connect_timeout": int(max(1, connect_timeout))} if parsed.get_backend_name() == "postgresql" else {}
    try:
        return sa.create_engine(parsed, connect_args=args, poolclass=sa.pool.NullPool)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise ValidationError(f"no driver for {parsed.drivername}: {exc}") from None


def encode_watermark(value: Any) -> dict[str, Any] | None:
    """A watermark value as JSON, with its type so it can be decoded exactly."""
    if value is None:
        return None
    for typ, kind in ((dt.datetime, "datetime"), (dt.date, "date")):
        if isinstance(value, typ):
            return {"type": kind, "value": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, bool | int | float | str):
        return {"type": type(value).__name__, "value": value}
    raise ValidationError(f"watermark values of type {type(value).__name__} are not supported")


def decode_watermark(data: dict[str, Any] | None) -> Any:
    if data is None:
        return None
    kind, value = data["type"], data["value"]
    decoders = {"datetime": dt.datetime.fromisoformat, "date": dt.date.fromisoformat, "decimal": decimal.Decimal}
    return decoders.get(kind, lambda v: v)(value)


@dataclass
class SqlBatch:
    """Rows fetched from a database, the rows rejected, and the new high watermark."""

    table: pa.Table
    quarantine: list[dict[str, Any]]
    watermark: Any


def _python_kind(value: Any) -> type:
    if isinstance(value, bool):
        return bool
    if isinstance(value, int | float | decimal.Decimal):
        return float if not isinstance(value, int) else int
    return type(value)


def _to_arrow(names: list[str], rows: list[Any], where: str) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Rows to Arrow; rows whose value disagrees with its column's type are set aside."""
    import pyarrow as pa

    bad_rows: dict[int, str] = {}
    for j, name in enumerate(names):
        kinds = [(_python_kind(r[j]), i) for i, r in enumerate(rows) if r[j] is not None]
        if not kinds:
            continue
        first = kinds[0][0]
        if first in (int, float):
            bad = [(k, i) for k, i in kinds if k not in (int, float)]
        else:
            bad = [(k, i) for k, i in kinds if k is not first]
        for k, i in bad:
            bad_rows.setdefault(i, f"column {name!r}: expected {first.__name__}, got {k.__name__} {rows[i][j]!r}")
    quarantine = [
        {"source": where, "line": i + 1, "error": err, "raw": json.dumps(dict(zip(names, rows[i], strict=True)), default=str)}
        for i, err in sorted(bad_rows.items())
    ]
    keep = [r for i, r in enumerate(rows) if i not in bad_rows]
    arrays = []
    for j, _name in enumerate(names):
        values = [r[j] for r in keep]
        if any(isinstance(v, uuid.UUID) for v in values):
            values = [None if v is None else str(v) for v in values]
        elif any(isinstance(v, decimal.Decimal | float) for v in values):
            values = [None if v is None else float(v) for v in values]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # UUID, IP address, ...: keep the text
            arrays.append(pa.array([None if v is None else str(v) for v in values], type=pa.string()))
    return pa.table(dict(zip(names, arrays, strict=True))), quarantine


def _first_line(exc: Any) -> str:
    text = str(getattr(exc, "orig", exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _statement(conn: sa.Connection, url: str, table: str | None, query: str | None, watermark: str | None, since: Any) -> Any:
    import sqlalchemy as sa

    if table is not None:
        schema, _, tname = table.rpartition(".")
        try:
            src = sa.Table(tname, sa.MetaData(), autoload_with=conn, schema=schema or None)
        except sa.exc.NoSuchTableError:
            raise NotFoundError(f"table {table!r} does not exist in {redact(url)}") from None
        stmt = sa.select(src)
        if watermark is not None:
            if watermark not in src.c:
                raise NotFoundError(f"table {table!r} has no watermark column {watermark!r}")
            if since is not None:
                stmt = stmt.where(src.c[watermark] > since)
            stmt = stmt.order_by(src.c[watermark])
        return stmt
    sql = f"SELECT * FROM ({query}) AS forgeml_q"
    if watermark is not None:
        quoted = conn.dialect.identifier_preparer.quote(watermark)
        if since is not None:
            sql += f" WHERE {quoted} > :since"
        sql += f" ORDER BY {quoted}"
    return sa.text(sql).bindparams(since=since) if since is not None else sa.text(sql)


def fetch(
    url: str,
    *,
    table: str | None = None,
    query: str | None = None,
    watermark: str | None = None,
    since: Any = None,
    connect_timeout: float = 5.0,
) -> SqlBatch:
    """Rows of ``table`` (or of ``query``) whose ``watermark`` is greater than ``since``.

    Raises:
        BackendUnavailableError: the database cannot be reached.
        NotFoundError: the table or the watermark column does not exist.
        ValidationError: neither or both of table and query, or the query fails.
    """
    import sqlalchemy as sa

    if (table is None) == (query is None):
        raise ValidationError("give exactly one of table= or query= for a SQL source")
    engine = _engine(url, connect_timeout)
    where = f"{redact(url)} {table or 'query'}"
    try:
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise BackendUnavailableError(f"database {redact(url)} is unreachable: {_first_line(exc)}") from None
        with conn:
            stmt = _statement(conn, url, table, query, watermark, since)
            result = conn.execute(stmt)
            names = list(result.keys())
            rows = [tuple(r) for r in result.fetchall()]
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise BackendUnavailableError(f"database {redact(url)} went away: {_first_line(exc)}") from None
        raise ValidationError(f"{where}: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    if watermark is not None and watermark not in names:
        raise NotFoundError(f"{where}: no watermark column {watermark!r} in the result")
    arrow, quarantine = _to_arrow(names, rows, where)
    high = None
    if watermark is not None:
        j = names.index(watermark)
        values = [r[j] for r in rows if r[j] is not None]
        high = max(values) if values else since
    return SqlBatch(arrow, quarantine, high)


def sync(
    datasets: DatasetService,
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
    """Load a table or query into ``name``; incrementally when a watermark was synced before.

    Returns the new version, or the latest one unchanged when no row is newer than the watermark.

    Raises:
        BackendUnavailableError: the database is down or unreachable.
        ValidationError: no rows on a first load, a failing query, or a schema contradiction.
        ForbiddenError: a SQLite/DuckDB file inside the workspace, or the metadata database itself.
    """
    from forgeml.core.workspace_guard import check_source

    check_source(url, datasets.ws.settings, "database")
    latest = datasets._latest(name)
    state = (latest.data.get("sync") or {}) if latest is not None else {}
    incremental = bool(watermark) and not full and state.get("watermark_column") == watermark and latest is not None
    since = decode_watermark(state.get("watermark")) if incremental else None
    batch = fetch(url, table=table, query=query, watermark=watermark, since=since, connect_timeout=connect_timeout)
    shown = redact(url)
    if batch.table.num_rows == 0 and not batch.quarantine:
        if incremental and latest is not None:
            return latest
        raise ValidationError(f"{shown} {table or 'query'}: no rows to ingest")
    if batch.table.num_rows == 0:
        raise ValidationError(f"{shown} {table or 'query'}: all {len(batch.quarantine)} row(s) were rejected, first: {batch.quarantine[0]['error']}")
    mode: Mode = ("upsert" if key else "append") if incremental else "replace"
    sync_state = {
        "source": shown, "table": table, "query": query, "watermark_column": watermark,
        "watermark": encode_watermark(batch.watermark), "previous_watermark": encode_watermark(since),
        "key": key, "incremental": incremental, "rows_fetched": batch.table.num_rows,
        "quarantined": len(batch.quarantine),
    }  # fmt: skip
    record = datasets.commit(
        name, batch.table, mode=mode, key=key, enforce_schema=not allow_schema_change, partition_by=partition_by,
        spec={"description": description, "source": shown, "table": table, "query": query},
        data={"sync": sync_state}, tags=tags, quarantine=batch.quarantine,
    )  # fmt: skip
    datasets.ws.lineage.record(f"source/{shown}/{table or 'query'}", record.ref, "synced-from")
    return record


__all__ = ["SQL_SCHEMES", "SqlBatch", "decode_watermark", "encode_watermark", "fetch", "is_sql_url", "sync"]
