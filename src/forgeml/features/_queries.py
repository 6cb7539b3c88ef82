"""Offline reads of the feature store: snapshots, history, SQL, training sets, materialization."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forgeml.core.records import ResourceRecord
from forgeml.core.refs import name_of
from forgeml.errors import ValidationError
from forgeml.features._definitions import KIND
from forgeml.features._pit import JoinSpec, point_in_time_join
from forgeml.features._sql import (
    RowFilter,
    connect,
    latest_rows_sql,
    offline_dataset,
    q,
    recent_sql,
    register_raw,
)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from forgeml.features._definitions import FeatureGroup

def to_utc(value: Any, what: str = "time") -> dt.datetime | None:
    """A timestamp (datetime, ISO-8601 text or epoch seconds) as an aware UTC datetime.

    Raises:
        ValidationError: when the value cannot be parsed.
    """
    import pandas as pd

    from forgeml.features._records import parse_event_times

    if value is None:
        return None
    series = parse_event_times(pd.Series([value], dtype="object"), what)
    moment: dt.datetime = series.iloc[0].to_pydatetime()
    return moment


@dataclass(frozen=True)
class TrainingSet:
    """A point-in-time training set and the dataset version it was stored as (if any)."""

    frame: pd.DataFrame
    dataset: ResourceRecord | None
    feature_groups: list[str]


def _present(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """Values without nulls (a feature added in a later version reads as null)."""
    return None if values is None else {k: v for k, v in values.items() if v is not None}


class QueryMixin:
    """Offline-store queries; mixed into :class:`FeatureStoreService`."""

    def _filter(self, as_of: Any = None, event_time_range: tuple[Any, Any] | None = None,
                include_duplicates: bool = False, include_deleted: bool = False) -> RowFilter:  # fmt: skip
        start, end = event_time_range or (None, None)
        return RowFilter(to_utc(as_of, "as_of"), to_utc(start, "event time range"), to_utc(end, "event time range"),
                         include_duplicates, include_deleted)  # fmt: skip

    def _open(self, group: FeatureGroup, view: str = "raw") -> tuple[duckdb.DuckDBPyConnection, bool]:
        files, has_deletes = self.offline(group.name).state()  # type: ignore[attr-defined]
        conn = connect()
        register_raw(conn, group, files, view)
        return conn, has_deletes

    def records(
        self, name: str, *, n: int | None = None, as_of: Any = None, event_time_range: tuple[Any, Any] | None = None,
        include_duplicates: bool = False, include_deleted: bool = False, features: list[str] | None = None,
        metadata_columns: bool = False,
    ) -> pd.DataFrame:  # fmt: skip
        """Usable offline rows under the dataset_builder rules; ``n``: only the n most recent per id.

        ``n=1`` is the latest snapshot. ``as_of`` travels back on write time.
        """
        name = name_of(name, KIND)
        group = self._ready(name)  # type: ignore[attr-defined]
        if n is not None and n < 1:
            raise ValidationError("n must be a positive number of records")
        cols = [group.record_identifier, group.event_time_feature, *group.check_features(features)]
        if metadata_columns:
            cols += ["api_invocation_time", "write_time", "is_deleted"]
        flt = self._filter(as_of, event_time_range, include_duplicates, include_deleted)
        conn, has_deletes = self._open(group)
        try:
            return conn.sql(recent_sql(group, "raw", flt, n or 2**62, has_deletes, cols)).df()
        finally:
            conn.close()

    def latest_snapshot(self, name: str, *, as_of: Any = None, features: list[str] | None = None) -> pd.DataFrame:
        """The latest non-deleted record per id (``row_number() = 1 AND NOT is_deleted``)."""
        name = name_of(name, KIND)
        return self.records(name, n=1, as_of=as_of, features=features)

    def recent_records(self, name: str, n: int, *, as_of: Any = None, features: list[str] | None = None) -> pd.DataFrame:
        """The ``n`` most recent records per id."""
        name = name_of(name, KIND)
        return self.records(name, n=n, as_of=as_of, features=features)

    def offline_rows(self, name: str) -> pd.DataFrame:
        """Every offline row as written (delete markers and duplicates included)."""
        name = name_of(name, KIND)
        group = self._ready(name)  # type: ignore[attr-defined]
        conn, _ = self._open(group)
        try:
            return conn.sql("SELECT * FROM raw").df()
        finally:
            conn.close()

    def query(self, sql: str) -> pd.DataFrame:
        """Read-only SQL over every group's offline rows; each group is a view by its name
        (``"loan-features"``, or ``loan_features`` with underscores).

        The SQL runs in the SQL sandbox (:mod:`forgeml.core.sql_sandbox`): one SELECT statement
        that sees only the offline rows, under the ``sql_timeout_seconds`` and ``sql_max_rows`` limits.

        Raises:
            ValidationError: for a statement that is not one SELECT, a failing query, or one past a limit.
            ForbiddenError: for a query that reaches for files, the network or extensions.
        """
        from forgeml.core.sql_sandbox import Sandbox, SqlLimits, select_statement

        select_statement(sql, "query")  # refuse before reading any group
        tables, views = {}, {}
        groups = self.list_groups()  # type: ignore[attr-defined]
        names = {g.name for g in groups}
        for i, group in enumerate(groups):
            self._ready(group.name)  # type: ignore[attr-defined]
            tables[f"__offline_{i}"] = offline_dataset(group, self.offline(group.name).files())  # type: ignore[attr-defined]
            views[group.name] = f"SELECT * FROM {q(f'__offline_{i}')}"
            alias = group.name.replace("-", "_")
            if alias not in names:  # a group's own name wins over another's alias
                views[alias] = f"SELECT * FROM {q(group.name)}"
        limits = SqlLimits.from_settings(self.ws.settings)  # type: ignore[attr-defined]
        with Sandbox(tables, limits=limits, views=views, options={"TimeZone": "UTC"}, what="query") as box:
            return box.frame(sql)

    # training sets ---------------------------------------------------------------------------
    def _join_specs(self, features: list[Any], id_columns: dict[str, str] | None) -> list[JoinSpec]:
        if not features:
            raise ValidationError("name at least one feature group to join")
        specs = []
        for item in features:
            gname: Any
            names: list[str] | None = None
            if isinstance(item, str):
                gname, _, rest = item.partition(":")
                names = [n.strip() for n in rest.split(",") if n.strip()] or None
            elif isinstance(item, tuple | list) and len(item) == 2:
                gname, names = item[0], list(item[1]) if item[1] else None
            elif isinstance(item, dict):
                gname, names = item.get("group"), item.get("features")
            else:
                raise ValidationError(f"invalid feature selection {item!r} (expected 'group' or 'group:f1,f2')")
            group = self._ready(str(gname))  # type: ignore[attr-defined]
            files, has_deletes = self.offline(group.name).state()  # type: ignore[attr-defined]
            column = (id_columns or {}).get(group.name, group.record_identifier)
            specs.append(JoinSpec(group, group.check_features(names), column, files, has_deletes))
        return specs

    def build_training_set(
        self, entity: pd.DataFrame | str | ResourceRecord, features: list[Any], *, event_time_column: str,
        id_columns: dict[str, str] | None = None, as_of: Any = None, name: str | None = None,
        description: str | None = None,
    ) -> TrainingSet:  # fmt: skip
        """Point-in-time correct training set: each entity row with the latest feature values
        whose event time is ``<=`` the row's event time (see ``_pit``).

        ``features``: ``"group"``, ``"group:f1,f2"`` or ``(group, [features])`` items;
        ``id_columns``: entity column per group when it differs from the group's record id.
        With ``name`` the result is stored as the next version of that dataset, with lineage
        from the feature group versions (and the entity dataset).
        """
        derived: list[str] = []
        if not hasattr(entity, "columns"):
            record, entity = self._dataset(entity)  # type: ignore[attr-defined]
            derived.append(record.ref)
        specs = self._join_specs(features, id_columns)
        flt = self._filter(as_of)
        frame = point_in_time_join(entity, event_time_column, specs, flt)
        refs = [s.group.ref for s in specs]
        dataset = None
        if name:
            dataset = self.ws.datasets.create(  # type: ignore[attr-defined]
                name, frame, description=description or "point-in-time training set from the feature store",
                source="feature-store", derived_from=refs + derived,
            )  # fmt: skip
        return TrainingSet(frame, dataset, refs)

    # online <-> offline ----------------------------------------------------------------------
    def materialize(self, name: str, *, as_of: Any = None) -> dict[str, int]:
        """Load the offline latest snapshot into the online store.

        Each id's latest offline row is written online unless the online record is newer
        (an equal event time adopts the offline row); an id whose latest row is a delete
        marker is soft-deleted online.
        """
        from forgeml.features._writer import online_ops
        name = name_of(name, KIND)

        group = self._ready(name)  # type: ignore[attr-defined]
        if not group.online_enabled:
            raise ValidationError(f"feature group {name!r} has no online store")
        conn, _ = self._open(group)
        try:
            table = conn.sql(latest_rows_sql(group, "raw", self._filter(as_of))).to_arrow_table()
        finally:
            conn.close()
        ops = online_ops(group, table, group.online_ttl_seconds, kind="sync")
        changed = 0
        for start in range(0, len(ops), 10_000):
            changed += self.online.apply(name, ops[start : start + 10_000])  # type: ignore[attr-defined]
        return {"records": len(ops), "changed": changed}

    def check_consistency(self, name: str, *, limit: int = 20) -> dict[str, Any]:
        """Compare visible online records with the offline latest snapshot (TTL applied to both)."""
        import orjson

        from forgeml.features._writer import now_us, online_ops
        name = name_of(name, KIND)

        group = self._ready(name)  # type: ignore[attr-defined]
        conn, has_deletes = self._open(group)
        cols = [f.name for f in group.features]
        try:
            snap = conn.sql(recent_sql(group, "raw", RowFilter(), 1, has_deletes, cols)).to_arrow_table()
        finally:
            conn.close()
        now = now_us()
        expected = {op.record_id: orjson.loads(op.payload or "{}")
                    for op in online_ops(group, snap, group.online_ttl_seconds)
                    if op.expires_at_us is None or now < op.expires_at_us}  # fmt: skip
        actual = {r.record_id: r.values() for r in self.online.scan(name) if r.visible(now)}  # type: ignore[attr-defined]
        mismatches = []
        for rid in sorted(set(expected) | set(actual)):
            want, got = expected.get(rid), actual.get(rid)
            if _present(want) != _present(got):
                reason = "missing online" if got is None else "not in offline snapshot" if want is None else "values differ"
                mismatches.append({"record_id": rid, "reason": reason, "offline": want, "online": got})
        return {"group": name, "consistent": not mismatches, "offline_records": len(expected),
                "online_records": len(actual), "mismatches": len(mismatches), "examples": mismatches[:limit]}  # fmt: skip

    def compact(self, name: str) -> dict[str, int]:
        """Merge each event-date partition's files into one (rows and columns unchanged)."""
        name = name_of(name, KIND)
        group = self.get_group(name)  # type: ignore[attr-defined]
        self.recover(name)  # type: ignore[attr-defined]
        return self.offline(name).compact(group.event_time_feature)  # type: ignore[attr-defined,no-any-return]
