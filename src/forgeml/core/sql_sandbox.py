"""The one place where SQL that a user wrote runs: a locked-down DuckDB connection.

CustomSQL rules, DQDL ``where`` filters and feature-store queries are SQL from whoever calls
ForgeML, over the SDK, the CLI or REST. DuckDB can read and write any file the process can
(``read_text``, ``read_blob``, ``glob``, ``COPY``, ``ATTACH``, ``EXPORT DATABASE``), install and
load extensions from the internet and change its own settings, so that SQL runs here instead:

* the connection is opened with ``enable_external_access = false`` (no file, network or
  extension access; DuckDB checks it in its file system layer, for every table function),
  ``autoinstall_known_extensions = false``, ``autoload_known_extensions = false`` and
  ``python_enable_replacements = false`` (no scan of Python variables by name); after the data is
  registered, ``lock_configuration = true``, so no ``SET``/``PRAGMA`` can undo any of it;
* the data it may see is registered into it before the lock, as Arrow tables, datasets and
  pandas frames: scanning those needs no file access from SQL;
* a statement from a user must be exactly one ``SELECT`` (DuckDB's own parser decides);
* every statement runs under a time limit (a timer interrupts the connection) and a query's
  result under a row limit; both come from :class:`~forgeml.settings.Settings`.

SQL that ForgeML generates itself from quoted names and literals runs on ordinary connections.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forgeml.errors import ForbiddenError, ValidationError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from forgeml.settings import Settings

LOCKDOWN: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
}


@dataclass(frozen=True)
class SqlLimits:
    """How long one statement may run, how many rows a query may return, DuckDB's memory limit."""

    timeout_seconds: float = 30.0
    max_rows: int = 100_000
    memory_limit: str | None = "2GB"

    @classmethod
    def from_settings(cls, settings: Settings) -> SqlLimits:
        """The limits configured as ``sql_timeout_seconds``, ``sql_max_rows`` and ``sql_memory_limit``."""
        return cls(settings.sql_timeout_seconds, settings.sql_max_rows, settings.sql_memory_limit or None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def select_statement(sql: Any, what: str = "query") -> str:
    """The text of the one ``SELECT`` statement in ``sql`` (DuckDB's parser decides what it is).

    Raises:
        ValidationError: not text, empty, not parseable, more than one statement, or a statement
            of another type (COPY, ATTACH, SET, PRAGMA, INSTALL, EXPORT, CREATE, ...).
    """
    import duckdb

    if not isinstance(sql, str) or not sql.strip():
        raise ValidationError(f"{what}: give one SELECT statement")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ValidationError(f"{what} failed: {_first_line(exc)}") from None
    kinds = [s.type.name for s in statements]
    if not kinds:
        raise ValidationError(f"{what}: give one SELECT statement")
    if other := [k for k in kinds if k != "SELECT"]:
        raise ValidationError(f"{what}: only a single read-only SELECT query is allowed, got {other[0]}")
    if len(kinds) > 1:
        raise ValidationError(f"{what}: only a single read-only SELECT query is allowed, got {len(kinds)} statements")
    text: str = statements[0].query.strip().rstrip(";")
    return text


def check_condition(text: Any, what: str = "where") -> str:
    """``text`` if it is one boolean expression, as written after ``WHERE`` (nothing more).

    Raises:
        ValidationError: not an expression on its own (a ``GROUP BY``, ``LIMIT``, ``UNION``,
            another statement, ...) or not parseable.
    """
    import duckdb

    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"{what}: give a condition such as \"age > 18\"")
    con = duckdb.connect(":memory:", config=LOCKDOWN)
    try:
        raw = con.execute("SELECT json_serialize_sql(?)", [f"SELECT * FROM src WHERE {text}"]).fetchall()[0][0]
    finally:
        con.close()
    tree = json.loads(raw)
    if tree.get("error"):
        raise ValidationError(f"{what}: not a condition: {tree.get('error_message', 'cannot parse it')}")
    statements = tree.get("statements", [])
    node = statements[0].get("node", {}) if len(statements) == 1 else {}
    extra = (
        node.get("type") != "SELECT_NODE" or node.get("modifiers") or node.get("group_expressions")
        or node.get("having") or node.get("qualify") or (node.get("cte_map") or {}).get("map")
        or node.get("sample") or node.get("from_table", {}).get("table_name") != "src"
    )  # fmt: skip
    if extra:
        raise ValidationError(f"{what}: must be one condition, without GROUP BY, ORDER BY, LIMIT, UNION or another statement")
    return text


class Sandbox:
    """A DuckDB connection that sees only the data registered into it, and nothing of the host.

    Args:
        tables: name -> pandas DataFrame, Arrow table, Arrow dataset or record batch reader.
        limits: the time, row and memory limits.
        views: name -> SQL over ``tables`` (ForgeML's own), created before the lock.
        options: more DuckDB settings to set before the lock (``threads``, ``TimeZone``, ...).
        what: how errors name the SQL ("query", "CustomSQL", ...).

    Raises:
        ValidationError: a view or setting is invalid.
    """

    def __init__(self, tables: Mapping[str, Any] | None = None, *, limits: SqlLimits | None = None,
                 views: Mapping[str, str] | None = None, options: Mapping[str, Any] | None = None,
                 what: str = "query") -> None:  # fmt: skip
        import duckdb

        self.limits = limits or SqlLimits()
        self.what = what
        self._con: duckdb.DuckDBPyConnection = duckdb.connect(":memory:", config=LOCKDOWN)
        try:
            settings = {"enable_progress_bar": False, **(options or {})}  # no bar on a server's or CLI's stderr
            if self.limits.memory_limit:
                settings.setdefault("memory_limit", self.limits.memory_limit)
            for key, value in settings.items():
                try:
                    self._con.execute(f"SET {key} = {_literal(value)}")
                except duckdb.Error as exc:
                    raise ValidationError(f"invalid DuckDB setting {key}={value!r}: {_first_line(exc)}") from None
            for name, data in (tables or {}).items():
                self._con.register(name, data)
            for name, sql in (views or {}).items():
                self._con.execute(f"CREATE TEMP VIEW {_quote(name)} AS {sql}")
            self._con.execute("SET lock_configuration = true")
        except BaseException:
            self._con.close()
            raise

    # ---- running ------------------------------------------------------------------------------
    @contextmanager
    def _guard(self, what: str | None) -> Iterator[None]:
        """Interrupt the connection after the time limit; turn DuckDB's errors into ForgeML's."""
        import duckdb

        what = what or self.what
        lock = threading.Lock()
        running = [True]

        def interrupt() -> None:
            with lock:
                if running[0]:
                    self._con.interrupt()

        timer = threading.Timer(self.limits.timeout_seconds, interrupt)
        timer.daemon = True
        timer.start()
        try:
            yield
        except duckdb.InterruptException:
            raise ValidationError(
                f"{what} ran longer than {self.limits.timeout_seconds:g} s and was stopped "
                "(the limit is the setting sql_timeout_seconds, FORGEML_SQL_TIMEOUT_SECONDS)"
            ) from None
        except duckdb.PermissionException as exc:
            raise ForbiddenError(f"{what} may read only the data it is given, not files, the network or extensions: {_first_line(exc)}") from None
        except duckdb.OutOfMemoryException:
            raise ValidationError(
                f"{what} needs more memory than the limit of {self.limits.memory_limit} "
                "(the setting sql_memory_limit, FORGEML_SQL_MEMORY_LIMIT)"
            ) from None
        except duckdb.Error as exc:
            raise ValidationError(f"{what} failed: {_first_line(exc)}") from None
        finally:
            with lock:
                running[0] = False
            timer.cancel()

    def execute(self, sql: str, what: str | None = None) -> duckdb.DuckDBPyConnection:
        """Run SQL that ForgeML built (possibly around a user's fragment), under the time limit.

        The result is materialized; read it with ``fetchall()`` / ``fetchone()``.
        """
        with self._guard(what):
            return self._con.execute(sql)

    def _limited(self, sql: str, what: str | None, max_rows: int | None) -> tuple[duckdb.DuckDBPyRelation, int]:
        limit = self.limits.max_rows if max_rows is None else max_rows
        return self._con.sql(select_statement(sql, what or self.what)).limit(limit + 1), limit

    def _too_many(self, what: str | None, limit: int) -> ValidationError:
        return ValidationError(
            f"{what or self.what} returned more than {limit:,} rows; aggregate or add a LIMIT "
            "(the limit is the setting sql_max_rows, FORGEML_SQL_MAX_ROWS)"
        )

    def rows(self, sql: str, *, what: str | None = None, max_rows: int | None = None) -> list[tuple[Any, ...]]:
        """The rows of a user's SELECT statement.

        Raises:
            ValidationError: not one SELECT, a failing query, over the time or row limit.
            ForbiddenError: the query reaches for files, the network or extensions.
        """
        with self._guard(what):
            rel, limit = self._limited(sql, what, max_rows)
            found: list[tuple[Any, ...]] = rel.fetchall()
        if len(found) > limit:
            raise self._too_many(what, limit)
        return found

    def frame(self, sql: str, *, what: str | None = None, max_rows: int | None = None) -> pd.DataFrame:
        """The result of a user's SELECT statement as a DataFrame (see :meth:`rows` for errors)."""
        with self._guard(what):
            rel, limit = self._limited(sql, what, max_rows)
            out = rel.df()
        if len(out) > limit:
            raise self._too_many(what, limit)
        return out

    def write_parquet(self, sql: str, path: str, what: str | None = None) -> int:
        """Stream the result of ForgeML's ``sql`` into a Parquet file (``COPY`` cannot run here)."""
        import pyarrow.parquet as pq

        rows = 0
        with self._guard(what):
            reader = self._con.sql(sql).to_arrow_reader(100_000)
            with pq.ParquetWriter(path, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        return rows

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


__all__ = ["LOCKDOWN", "Sandbox", "SqlLimits", "check_condition", "select_statement"]
