"""Point-in-time joins: every entity row gets the latest feature values known at its event time.

For each feature group the usable rows are the dataset_builder ``live`` rows (deduplicated,
deletions honoured, ``as_of`` applied; see ``_sql``). Each entity row is then joined, with a
DuckDB ``ASOF LEFT JOIN``, to the row of the same record id with the greatest event time that is
``<=`` the entity's event time -- the SageMaker ``point_in_time_accurate_join`` condition
``base.event_time >= fg.event_time`` with the latest match kept per row. A later value can never
be used; a match older than the group's TTL (``entity time > event time + TTL``) yields missing
values, and rows without a match keep their place with missing values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from forgeml.errors import ValidationError
from forgeml.features._records import parse_event_times
from forgeml.features._sql import RowFilter, connect, live_ctes, q, register_raw

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.features._definitions import FeatureGroup


@dataclass(frozen=True)
class JoinSpec:
    """One feature group to join: which features, and the entity column holding its record id."""

    group: FeatureGroup
    features: list[str]
    entity_column: str
    files: list[str]
    has_deletes: bool


def _entity_ids(entity: pd.DataFrame, column: str, group: FeatureGroup) -> pd.Series:
    import pandas as pd

    values = entity[column]
    if group.types[group.record_identifier] == "String":
        return values.map(lambda v: None if pd.isna(v) else str(v)).astype("string")
    try:
        return pd.to_numeric(values, errors="raise").astype("Int64")
    except (TypeError, ValueError):
        raise ValidationError(
            f"entity column {column!r} must hold integer ids to join feature group {group.name!r}"
        ) from None


def point_in_time_join(
    entity: pd.DataFrame, event_time_column: str, specs: list[JoinSpec], flt: RowFilter
) -> pd.DataFrame:
    """The entity frame (unchanged, in order) with the joined feature columns appended.

    Raises:
        ValidationError: missing entity columns, bad event times, clashing column names.
    """
    import pandas as pd
    import pyarrow as pa

    if event_time_column not in entity.columns:
        raise ValidationError(f"entity frame has no event time column {event_time_column!r}")
    taken = {str(c) for c in entity.columns}
    for spec in specs:
        if spec.entity_column not in entity.columns:
            raise ValidationError(
                f"entity frame has no column {spec.entity_column!r} (record id of feature group {spec.group.name!r})"
            )
        for name in spec.features:
            if name in taken:
                raise ValidationError(
                    f"feature {name!r} of group {spec.group.name!r} clashes with another column; select features explicitly"
                )
            taken.add(name)
    entity = entity.reset_index(drop=True)
    base = {"__row": pd.Series(range(len(entity)), dtype="int64"),
            "__t": parse_event_times(entity[event_time_column], "entity frame")}  # fmt: skip
    for i, spec in enumerate(specs):
        base[f"__id{i}"] = _entity_ids(entity, spec.entity_column, spec.group)
    conn = connect()
    try:
        conn.register("__base", pa.Table.from_pandas(pd.DataFrame(base), preserve_index=False))
        ctes, selects, joins = [], [], []
        for i, spec in enumerate(specs):
            g = spec.group
            register_raw(conn, g, spec.files, f"raw{i}")
            text, live = live_ctes(g, f"raw{i}", flt, f"g{i}", spec.has_deletes)
            rid, et = q(g.record_identifier), q(g.event_time_feature)
            cols = ", ".join([f"{rid} AS k", f"{et} AS t"] + [q(f) for f in spec.features])
            ctes.append(f"{text},\nj{i} AS (SELECT {cols} FROM {live})")
            joins.append(f"ASOF LEFT JOIN j{i} ON b.__id{i} = j{i}.k AND b.__t >= j{i}.t")
            for name in spec.features:
                if g.online_ttl_seconds is None:
                    selects.append(f"j{i}.{q(name)}")
                else:
                    ttl = round(g.online_ttl_seconds * 1_000_000)
                    selects.append(
                        f"CASE WHEN b.__t <= j{i}.t + to_microseconds({ttl}) THEN j{i}.{q(name)} END AS {q(name)}"
                    )
        select = ", ".join(["b.__row", *selects])
        sql = "WITH " + ",\n".join(ctes) + f"\nSELECT {select} FROM __base b\n" + "\n".join(joins) + "\nORDER BY b.__row"
        joined = conn.sql(sql).to_arrow_table()
    finally:
        conn.close()
    features = joined.drop(["__row"]).to_pandas()
    out = entity.copy()
    for name in features.columns:
        out[name] = features[name].to_numpy()
    return out
