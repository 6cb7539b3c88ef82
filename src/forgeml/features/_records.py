"""Validate and normalize incoming records against a feature group's definitions.

Every ingestion path (bulk frames, single puts, the stream) goes through :func:`normalize`, so a
bad value is refused with one line naming the group, the feature, the row and the value, before
anything is written. Event times are normalized to UTC microsecond timestamps: numbers are epoch
seconds, strings ISO-8601 (naive means UTC), datetimes as they are.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from forgeml.features._definitions import FeatureGroup

ARROW_TYPES = {"Integral": "int64", "Fractional": "float64", "String": "string"}
EXTRA_COLUMNS = ("api_invocation_time", "write_time", "is_deleted")


def _bad(group: FeatureGroup, feature: str, index: Any, value: Any, expected: str) -> ValidationError:
    return ValidationError(
        f"feature group {group.name!r}: feature {feature!r} row {index}: {value!r} is not {expected}"
    )


def parse_event_times(values: pd.Series, where: str) -> pd.Series:
    """A series of event times as tz-aware UTC ``datetime64[us]``.

    Raises:
        ValidationError: naming the first missing or unparseable value.
    """
    import pandas as pd

    if values.isna().any():
        raise ValidationError(f"{where}: event time is missing in row {values.index[values.isna()][0]}")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        return out.astype("datetime64[us, UTC]")
    if pd.api.types.is_bool_dtype(values.dtype):
        raise ValidationError(f"{where}: event time must be epoch seconds, ISO-8601 text or a datetime, not bool")
    if pd.api.types.is_numeric_dtype(values.dtype):
        micros = (values.astype("float64") * 1_000_000).round()
        if not micros.abs().lt(2**62).all():
            raise ValidationError(f"{where}: event time out of range in row {values.index[~micros.abs().lt(2**62)][0]}")
        return pd.to_datetime(micros.astype("int64"), unit="us", utc=True).astype("datetime64[us, UTC]")
    out_values = []
    for index, value in values.items():
        if isinstance(value, dt.datetime):
            ts = pd.Timestamp(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            ts = pd.Timestamp(round(float(value) * 1_000_000), unit="us")
        elif isinstance(value, str):
            try:
                ts = pd.Timestamp(dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
            except ValueError:
                raise ValidationError(f"{where}: unparseable event time {value!r} in row {index} (expected ISO-8601)") from None
        else:
            raise ValidationError(f"{where}: unparseable event time {value!r} in row {index}")
        out_values.append(ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC"))
    return pd.Series(out_values, index=values.index, dtype="datetime64[us, UTC]")


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def _integral(group: FeatureGroup, name: str, col: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_integer_dtype(col.dtype):
        return col.astype("Int64")
    if pd.api.types.is_float_dtype(col.dtype):
        bad = col.notna() & (col != col.round())
        if bad.any():
            raise _bad(group, name, col.index[bad][0], col[bad].iloc[0], "an integer")
        return col.astype("Int64")
    out: list[int | None] = []
    for index, value in col.items():
        if _missing(value):
            out.append(None)
        elif isinstance(value, bool | int) or (isinstance(value, float) and value.is_integer()) or (type(value).__module__ == "numpy" and hasattr(value, "is_integer") and value.is_integer()) or (type(value).__module__ == "numpy" and str(getattr(value, "dtype", "")).startswith(("int", "uint"))):
            out.append(int(value))
        else:
            raise _bad(group, name, index, value, "an integer")
    return pd.Series(out, index=col.index, dtype="Int64")


def _fractional(group: FeatureGroup, name: str, col: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_bool_dtype(col.dtype) or (
        pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_complex_dtype(col.dtype)
    ):
        return col.astype("float64")
    out = []
    for index, value in col.items():
        if _missing(value):
            out.append(float("nan"))
        elif isinstance(value, bool | int | float) or (
            type(value).__module__ == "numpy" and str(getattr(value, "dtype", "")).startswith(("int", "uint", "float", "bool"))
        ):
            out.append(float(value))
        else:
            raise _bad(group, name, index, value, "a number")
    return pd.Series(out, index=col.index, dtype="float64")


def _string(group: FeatureGroup, name: str, col: pd.Series) -> pd.Series:
    import pandas as pd

    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype("object")
    if pd.api.types.is_string_dtype(col.dtype) and not pd.api.types.is_object_dtype(col.dtype):
        return col.astype("string")
    if not pd.api.types.is_object_dtype(col.dtype):
        raise _bad(group, name, col.index[0], col.iloc[0], f"text (the column is {col.dtype})")
    for index, value in col.items():
        if not _missing(value) and not isinstance(value, str):
            raise _bad(group, name, index, value, "text")
    return col.astype("string")


_COERCE = {"Integral": _integral, "Fractional": _fractional, "String": _string}


def normalize(group: FeatureGroup, frame: pd.DataFrame) -> pd.DataFrame:
    """Check ``frame`` against ``group`` and return it typed, in definition order.

    Missing value features become nulls; the record identifier and event time are required.

    Raises:
        ValidationError: unknown columns, missing identifier or event time, wrong types.
    """
    import pandas as pd

    where = f"feature group {group.name!r}"
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        raise ValidationError(f"{where}: duplicate column names")
    unknown = [c for c in columns if c not in group.types]
    if unknown:
        raise ValidationError(f"{where} has no feature(s) {', '.join(map(repr, unknown))}")
    for key, what in ((group.record_identifier, "record identifier"), (group.event_time_feature, "event time")):
        if key not in columns:
            raise ValidationError(f"{where}: {what} {key!r} is missing")
    frame = frame.reset_index(drop=True)
    frame.columns = columns
    rid = frame[group.record_identifier]
    if rid.isna().any():
        raise ValidationError(f"{where}: record identifier {group.record_identifier!r} is missing in row {rid.index[rid.isna()][0]}")
    out: dict[str, pd.Series] = {}
    for feature in group.features:
        name = feature.name
        if name == group.event_time_feature:
            out[name] = parse_event_times(frame[name], where)
        elif name not in frame.columns:
            dtype = {"Integral": "Int64", "Fractional": "float64", "String": "string"}[feature.type]
            out[name] = pd.Series(pd.array([None] * len(frame), dtype=dtype), index=frame.index)
        else:
            out[name] = _COERCE[feature.type](group, name, frame[name])
    if group.types[group.record_identifier] == "String" and (out[group.record_identifier] == "").any():
        raise ValidationError(f"{where}: record identifier {group.record_identifier!r} is empty")
    return pd.DataFrame(out)


def arrow_schema(group: FeatureGroup, *, extra: bool = True) -> pa.Schema:
    """The offline-store schema of ``group``: its features, then the three extra columns."""
    import pyarrow as pa

    fields = []
    for f in group.features:
        if f.name == group.event_time_feature:
            fields.append(pa.field(f.name, pa.timestamp("us", tz="UTC")))
        else:
            fields.append(pa.field(f.name, pa.type_for_alias(ARROW_TYPES[f.type])))
    if extra:
        fields += [
            pa.field("api_invocation_time", pa.timestamp("us", tz="UTC")),
            pa.field("write_time", pa.timestamp("us", tz="UTC")),
            pa.field("is_deleted", pa.bool_()),
        ]
    return pa.schema(fields)


def to_arrow(group: FeatureGroup, frame: pd.DataFrame) -> pa.Table:
    """A normalized frame as an Arrow table of the offline schema (without the extra columns)."""
    import pyarrow as pa

    schema = arrow_schema(group, extra=False)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def record_frame(group: FeatureGroup, record: dict[str, Any]) -> pd.DataFrame:
    """One record (a mapping of feature name to value) as a one-row frame.

    Raises:
        ValidationError: when ``record`` is not a mapping.
    """
    import pandas as pd

    if not isinstance(record, dict):
        raise ValidationError(f"feature group {group.name!r}: a record must be a mapping of feature to value")
    data = {}
    for key, value in record.items():
        series = pd.Series([value], dtype="object")
        data[str(key)] = series
    return pd.DataFrame(data)
