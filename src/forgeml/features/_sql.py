"""DuckDB SQL over the offline store: the SageMaker dataset_builder rules, reproduced.

For one feature group the rows a query may use are built in three steps, exactly as the SQL that
``sagemaker.feature_store.dataset_builder`` sends to Athena:

1. ``src``: the offline rows, with ``write_time <= as_of`` (time travel) and the event-time range.
2. ``dedup``: one row per (record id, event time): the latest ``api_invocation_time``, then the
   latest ``write_time`` (skipped with ``include_duplicates``).
3. ``live``: per record id, the latest delete marker (by event time, then api_invocation_time,
   then write_time); only rows newer than it survive (event time greater, or equal with a later
   api_invocation_time, or both equal with a later write_time). With ``include_deleted`` the
   markers are merely dropped (``NOT is_deleted``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from forgeml.features._definitions import FeatureGroup

DUCK_TYPES = {"Integral": "BIGINT", "Fractional": "DOUBLE", "String": "VARCHAR", "Timestamp": "TIMESTAMPTZ"}


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def ts_literal(value: dt.datetime) -> str:
    """A TIMESTAMPTZ literal for an aware datetime (UTC)."""
    return f"TIMESTAMPTZ '{value.astimezone(dt.UTC).isoformat()}'"


@dataclass(frozen=True)
class RowFilter:
    """Which offline rows a query sees (the dataset_builder options)."""

    as_of: dt.datetime | None = None
    event_time_start: dt.datetime | None = None
    event_time_end: dt.datetime | None = None
    include_duplicates: bool = False
    include_deleted: bool = False


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection in UTC."""
    import duckdb

    conn = duckdb.connect(":memory:")
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def register_raw(conn: duckdb.DuckDBPyConnection, group: FeatureGroup, files: list[str], view: str) -> None:
    """Create view ``view`` over the group's offline files, with every column of its schema.

    Files written by older versions lack later features; those read as NULL.
    """
    from forgeml.features._records import arrow_schema

    schema = arrow_schema(group)
    if files:
        listing = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        source = f"read_parquet({listing}, union_by_name = true, hive_partitioning = false)"
        present = {r[0] for r in conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    else:
        source, present = None, set()
    cols = []
    for field in schema:
        if field.name in present:
            cols.append(q(field.name))
        else:
            type_ = {"int64": "BIGINT", "double": "DOUBLE", "string": "VARCHAR", "bool": "BOOLEAN"}.get(
                str(field.type), "TIMESTAMPTZ"
            )
            cols.append(f"CAST(NULL AS {type_}) AS {q(field.name)}")
    if source is None:
        conn.execute(f"CREATE OR REPLACE TEMP VIEW {q(view)} AS SELECT {', '.join(cols)} WHERE false")
    else:
        conn.execute(f"CREATE OR REPLACE TEMP VIEW {q(view)} AS SELECT {', '.join(cols)} FROM {source}")


def offline_dataset(group: FeatureGroup, files: list[str]) -> Any:
    """The group's offline files as an Arrow dataset with every column of its schema (what a
    :class:`~forgeml.core.sql_sandbox.Sandbox` scans: it cannot open the files itself).

    Files written by older versions lack later features; those read as NULL.
    """
    import pyarrow.dataset as ds

    from forgeml.features._records import arrow_schema

    schema = arrow_schema(group)
    if not files:
        return schema.empty_table()
    return ds.dataset(files, format="parquet", schema=schema)


def live_ctes(group: FeatureGroup, raw: str, flt: RowFilter, prefix: str, has_deletes: bool = True) -> tuple[str, str]:
    """CTE text and the name of the CTE holding the usable rows of one group.

    ``has_deletes=False`` (no batch ever held a delete marker) skips the marker step, which
    then cannot change the result.
    """
    rid, et = q(group.record_identifier), q(group.event_time_feature)
    conds = []
    if flt.as_of is not None:
        conds.append(f"write_time <= {ts_literal(flt.as_of)}")
    if flt.event_time_start is not None:
        conds.append(f"{et} >= {ts_literal(flt.event_time_start)}")
    if flt.event_time_end is not None:
        conds.append(f"{et} <= {ts_literal(flt.event_time_end)}")
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    src, dedup, deleted, live = (f"{prefix}_{s}" for s in ("src", "dedup", "deleted", "live"))
    parts = [f"{src} AS (SELECT * FROM {q(raw)}{where})"]
    if flt.include_duplicates:
        parts.append(f"{dedup} AS (SELECT * FROM {src})")
    else:
        parts.append(
            f"{dedup} AS (SELECT * FROM {src} QUALIFY row_number() OVER "
            f"(PARTITION BY {rid}, {et} ORDER BY api_invocation_time DESC, write_time DESC) = 1)"
        )
    if flt.include_deleted or not has_deletes:
        parts.append(f"{live} AS (SELECT * FROM {dedup} WHERE NOT is_deleted)")
    else:
        parts.append(
            f"{deleted} AS (SELECT {rid} AS d_id, {et} AS d_et, api_invocation_time AS d_api, write_time AS d_wt "
            f"FROM {src} WHERE is_deleted QUALIFY row_number() OVER "
            f"(PARTITION BY {rid} ORDER BY {et} DESC, api_invocation_time DESC, write_time DESC) = 1)"
        )
        parts.append(
            f"{live} AS (SELECT t.* FROM {dedup} t LEFT JOIN {deleted} d ON t.{rid} = d.d_id "
            f"WHERE d.d_id IS NULL OR t.{et} > d.d_et "
            f"OR (t.{et} = d.d_et AND t.api_invocation_time > d.d_api) "
            f"OR (t.{et} = d.d_et AND t.api_invocation_time = d.d_api AND t.write_time > d.d_wt))"
        )
    return ",\n".join(parts), live


def recent_sql(group: FeatureGroup, raw: str, flt: RowFilter, n: int, has_deletes: bool, columns: list[str]) -> str:
    """The ``n`` most recent usable rows per record id (n=1: the latest snapshot)."""
    ctes, live = live_ctes(group, raw, flt, "g", has_deletes)
    rid, et = q(group.record_identifier), q(group.event_time_feature)
    cols = ", ".join(q(c) for c in columns)
    return (
        f"WITH {ctes}\nSELECT {cols} FROM {live} QUALIFY row_number() OVER "
        f"(PARTITION BY {rid} ORDER BY {et} DESC, api_invocation_time DESC, write_time DESC) <= {int(n)} "
        f"ORDER BY {rid}, {et} DESC"
    )


def latest_rows_sql(group: FeatureGroup, raw: str, flt: RowFilter) -> str:
    """The latest row per record id after deduplication, delete markers included (materialization)."""
    rid, et = q(group.record_identifier), q(group.event_time_feature)
    ctes, _ = live_ctes(group, raw, RowFilter(flt.as_of, include_deleted=True), "g", False)
    return (
        f"WITH {ctes}\nSELECT * FROM g_dedup QUALIFY row_number() OVER "
        f"(PARTITION BY {rid} ORDER BY {et} DESC, api_invocation_time DESC, write_time DESC) = 1"
    )
