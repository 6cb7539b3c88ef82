"""DuckDB plumbing shared by profiling, validation, drift and PII: open a source, quote, classify types.

Every analysis runs as SQL over a view named ``src``: over a Parquet (or CSV) file it streams the
file, so memory stays bounded however large it is; a pandas frame is registered zero-copy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import duckdb

    from forgeml.core.sql_sandbox import SqlLimits

NUMERIC_TYPES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
    "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL",
)  # fmt: skip


def quote(name: str) -> str:
    """A SQL identifier, double-quoted."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def kind_of(duck_type: str) -> str:
    """``numeric``, ``boolean``, ``datetime``, ``string`` or ``other`` for a DuckDB type name."""
    t = duck_type.upper()
    if t == "BOOLEAN":
        return "boolean"
    if t.startswith(NUMERIC_TYPES):
        return "numeric"
    if t.startswith(("DATE", "TIMESTAMP", "TIME")):
        return "datetime"
    if t.startswith(("VARCHAR", "ENUM", "UUID")):
        return "string"
    return "other"


@contextlib.contextmanager
def open_source(
    data: Any, *, memory_limit: str | None = None, threads: int | None = None,
    options: dict[str, Any] | None = None, sandbox: SqlLimits | None = None,
) -> Iterator[Any]:  # fmt: skip
    """A DuckDB connection with ``data`` visible as the view ``src``.

    Args:
        data: a pandas DataFrame, or the path of a Parquet file/folder (``*.csv`` is read as CSV).
        memory_limit: DuckDB memory limit (e.g. ``"1GB"``); spills to disk beyond it.
        threads: DuckDB worker threads.
        options: more DuckDB settings (name -> value).
        sandbox: run on a :class:`~forgeml.core.sql_sandbox.Sandbox` with these limits, for SQL a
            user wrote: ``data`` is registered as Arrow (the sandbox cannot open files), and the
            connection yielded is the sandbox (``execute``, ``write_parquet``).

    Raises:
        NotFoundError: the file does not exist.
        ValidationError: the data cannot be read.
    """
    import duckdb
    import pandas as pd

    settings = dict(options or {})
    if memory_limit:
        settings["memory_limit"] = memory_limit
    if threads:
        settings["threads"] = int(threads)
    if sandbox is not None:
        from forgeml.core.sql_sandbox import Sandbox

        with Sandbox({"src_data": arrow_source(data)}, limits=sandbox, options=settings,
                     views={"src": "SELECT * FROM src_data"}, what="validation") as box:  # fmt: skip
            yield box
        return
    con = duckdb.connect()
    try:
        for key, value in settings.items():
            con.execute(f"SET {key} = {literal(value) if isinstance(value, str) else value}")
        if isinstance(data, pd.DataFrame):
            con.register("src_frame", data)
            con.execute("CREATE VIEW src AS SELECT * FROM src_frame")
        else:
            path = _existing(data)
            try:
                con.execute(f"CREATE VIEW src AS SELECT * FROM {_reader_sql(path)}")
            except duckdb.Error as exc:
                raise ValidationError(f"cannot read {path}: {exc}") from None
        yield con
    finally:
        con.close()


def _existing(data: Any) -> Path:
    path = Path(data)
    if not path.exists():
        raise NotFoundError(f"data file {path} does not exist")
    return path


def _reader_sql(path: Path) -> str:
    """DuckDB's reader of a Parquet file, a Hive-partitioned folder of them, or a CSV file."""
    pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
    reader = "read_csv_auto" if path.suffix.lower() == ".csv" else "read_parquet"
    options = ", hive_partitioning = true" if path.is_dir() else ""
    return f"{reader}({literal(pattern)}{options})"


def arrow_source(data: Any) -> Any:
    """``data`` as something a sandbox scans without opening files: the frame itself, an Arrow
    dataset over Parquet (with the columns and types DuckDB's own reader gives), or CSV read here.

    Raises:
        NotFoundError: the file does not exist.
        ValidationError: the data cannot be read.
    """
    import duckdb
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as ds

    if isinstance(data, pd.DataFrame | pa.Table):
        return data
    path = _existing(data)
    con = duckdb.connect()
    try:
        rel = con.sql(f"SELECT * FROM {_reader_sql(path)}")
        if path.suffix.lower() == ".csv":
            return rel.to_arrow_table()
        schema = rel.limit(0).to_arrow_table().schema
    except duckdb.Error as exc:
        raise ValidationError(f"cannot read {path}: {exc}") from None
    finally:
        con.close()
    if not path.is_dir():
        return ds.dataset(str(path), format="parquet", schema=schema)
    files = sorted(str(p) for p in path.rglob("*.parquet"))
    keys = {seg.split("=", 1)[0] for f in files for seg in Path(f).relative_to(path).parts[:-1] if "=" in seg}
    part = ds.partitioning(pa.schema([schema.field(k) for k in schema.names if k in keys]), flavor="hive")
    return ds.dataset(files, format="parquet", schema=schema, partitioning=part, partition_base_dir=str(path))


def write_parquet(con: Any, sql: str, path: str) -> None:
    """Write the result of ``sql`` to a Parquet file, on a plain connection or a sandbox."""
    from forgeml.core.sql_sandbox import Sandbox

    if isinstance(con, Sandbox):
        con.write_parquet(sql, path)
    else:
        con.execute(f"COPY ({sql}) TO {literal(path)} (FORMAT parquet)")


def value_expr(name: str, duck_type: str) -> str:
    """The column as SQL, with floating-point NaN read as missing (NULL), as pandas does."""
    q = quote(name)
    if duck_type.upper() in ("FLOAT", "DOUBLE", "REAL"):
        return f"(CASE WHEN isnan({q}) THEN NULL ELSE {q} END)"
    return q


def schema(con: duckdb.DuckDBPyConnection, table: str = "src") -> list[tuple[str, str]]:
    """``(column, DuckDB type)`` pairs of a table or view."""
    return [(str(r[0]), str(r[1])) for r in con.execute(f"DESCRIBE {table}").fetchall()]


def check_columns(columns: list[str], available: list[str], what: str) -> None:
    """Raise a clear error when ``what`` names columns the data does not have."""
    missing = [c for c in columns if c not in available]
    if missing:
        raise ValidationError(
            f"{what}: column(s) {', '.join(map(repr, missing))} not in the data (columns: {', '.join(available)})"
        )


__all__ = [
    "NUMERIC_TYPES", "arrow_source", "check_columns", "kind_of", "literal", "open_source", "quote", "schema",
    "value_expr", "write_parquet",
]  # fmt: skip
