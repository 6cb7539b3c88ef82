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
    data: Any, *, memory_limit: str | None = None, threads: int | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with ``data`` visible as the view ``src``.

    Args:
        data: a pandas DataFrame, or the path of a Parquet file/folder (``*.csv`` is read as CSV).
        memory_limit: DuckDB memory limit (e.g. ``"1GB"``); spills to disk beyond it.
        threads: DuckDB worker threads.

    Raises:
        NotFoundError: the file does not exist.
        ValidationError: the data cannot be read.
    """
    import duckdb
    import pandas as pd

    con = duckdb.connect()
    try:
        if memory_limit:
            con.execute(f"SET memory_limit = {literal(memory_limit)}")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        if isinstance(data, pd.DataFrame):
            con.register("src_frame", data)
            con.execute("CREATE VIEW src AS SELECT * FROM src_frame")
        else:
            path = Path(data)
            if not path.exists():
                raise NotFoundError(f"data file {path} does not exist")
            pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
            reader = "read_csv_auto" if path.suffix.lower() == ".csv" else "read_parquet"
            options = ", hive_partitioning = true" if path.is_dir() else ""
            try:
                con.execute(f"CREATE VIEW src AS SELECT * FROM {reader}({literal(pattern)}{options})")
            except duckdb.Error as exc:
                raise ValidationError(f"cannot read {path}: {exc}") from None
        yield con
    finally:
        con.close()


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


__all__ = ["NUMERIC_TYPES", "check_columns", "kind_of", "literal", "open_source", "quote", "schema", "value_expr"]
