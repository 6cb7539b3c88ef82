"""Profiles of rows fed in batches, written as Model Monitor's ``statistics.json`` (reference §10.3).

Every value is classified as Deequ's DataType analyzer does: missing (null, NaN or an empty
string), Integral, Fractional, Boolean or String (text is parsed: ``"3"`` is Integral, ``"2.5"``
Fractional, ``"true"`` Boolean). A column's ``inferred_type`` is String when any value is text
(or Boolean mixed with numbers), else Fractional when any value is fractional, else Integral, else
Unknown (only missing values). Boolean columns are reported as String, the types SageMaker lists.
Numbers go into a :class:`NumericSummary` (KLL sketch), text into a :class:`StringSummary`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forgeml.monitoring._sketch import NumericSummary, StringSummary

_INTEGRAL = r"\s*[-+]?\d+\s*"
_BOOLEAN = {"true", "false"}
_NOT_NUMBERS = ["nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"]  # text, as Deequ reads it
_MISSING, _BOOL, _INT, _FLOAT, _TEXT, _OTHER = range(6)


def _code(value: Any) -> int:
    """What one object value is: missing, a bool, an int, a float, text (parsed later) or other."""
    if value is None:
        return _MISSING
    if isinstance(value, bool | np.bool_):
        return _BOOL
    if isinstance(value, int | np.integer):
        return _INT
    if isinstance(value, float | np.floating):
        return _MISSING if value != value else _FLOAT
    if isinstance(value, str):
        return _TEXT if value.strip() else _MISSING
    return _MISSING if value is pd.NA or value is pd.NaT else _OTHER


@dataclass
class ColumnProfile:
    """What one column held: counts per value type and the summaries of its values."""

    missing: int = 0
    integral: int = 0
    fractional: int = 0
    boolean: int = 0
    string: int = 0
    numbers: NumericSummary = field(default_factory=NumericSummary)
    text: StringSummary = field(default_factory=StringSummary)
    as_text: bool = False  # also count typed numbers as text (a window of a String baseline feature)

    @property
    def present(self) -> int:
        return self.integral + self.fractional + self.boolean + self.string

    @property
    def inferred_type(self) -> str:
        if self.string or (self.boolean and (self.integral or self.fractional)):
            return "String"
        if self.boolean:
            return "String"
        if self.fractional:
            return "Fractional"
        if self.integral:
            return "Integral"
        return "Unknown"

    def nonconforming(self, baseline_type: str) -> int:
        """Present values that do not fit ``baseline_type`` (ints fit Fractional; all fit String)."""
        if baseline_type == "Integral":
            return self.fractional + self.boolean + self.string
        if baseline_type == "Fractional":
            return self.boolean + self.string
        return 0

    def update(self, column: pd.Series) -> None:
        """Add one batch of the column's values."""
        if pd.api.types.is_bool_dtype(column.dtype):
            values = column.dropna()
            self.missing += len(column) - len(values)
            self.boolean += len(values)
            self.text.update(values.astype(str).str.lower())
            return
        if pd.api.types.is_numeric_dtype(column.dtype):
            arr = column.to_numpy(dtype=np.float64, na_value=np.nan)
            ok = ~np.isnan(arr)
            self.missing += int((~ok).sum())
            if pd.api.types.is_integer_dtype(column.dtype):
                self.integral += int(ok.sum())
            else:
                self.fractional += int(ok.sum())
            self.numbers.update(arr[ok])
            if self.as_text:
                self.text.update(column[ok].astype(str).to_numpy(dtype=object))
            return
        self._update_objects(column.astype(object))

    def _update_objects(self, values: pd.Series) -> None:
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind in ("string", "empty"):  # the common case (CSV text): no per-value Python
            present = values[values.notna()].astype(str).str.strip()
            blank = (present == "").to_numpy()
            self.missing += len(values) - len(present) + int(blank.sum())
            self._update_texts(present[~blank])
            return
        codes = values.map(_code).to_numpy()
        self.missing += int((codes == _MISSING).sum())
        self.boolean += int((codes == _BOOL).sum())
        self.integral += int((codes == _INT).sum())
        self.fractional += int((codes == _FLOAT).sum())
        self.string += int((codes == _OTHER).sum())
        numeric = values[(codes == _INT) | (codes == _FLOAT)]
        self.numbers.update(pd.to_numeric(numeric, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
        others = values[(codes == _BOOL) | (codes == _INT) | (codes == _FLOAT) | (codes == _OTHER)]
        self.text.update(others.map(lambda v: str(v).lower() if isinstance(v, bool | np.bool_) else str(v)))
        self._update_texts(values[codes == _TEXT].astype(str).str.strip())

    def _update_texts(self, texts: pd.Series) -> None:
        """Type, count and summarize stripped, non-empty text values."""
        if texts.empty:
            return
        lower = texts.str.lower()
        integral = texts.str.fullmatch(_INTEGRAL).to_numpy(dtype=bool)
        parsed = pd.to_numeric(texts.where(~lower.isin(_NOT_NUMBERS), None), errors="coerce")
        fractional = parsed.notna().to_numpy() & ~integral
        boolean = lower.isin(_BOOLEAN).to_numpy()
        self.integral += int(integral.sum())
        self.fractional += int(fractional.sum())
        self.boolean += int(boolean.sum())
        self.string += int((~integral & ~fractional & ~boolean).sum())
        self.numbers.update(parsed[integral | fractional].to_numpy(dtype=np.float64, na_value=np.nan))
        self.text.update(texts.where(~boolean, lower))

    def statistics(self, name: str) -> dict[str, Any]:
        """This column's entry of ``statistics.json``'s ``features``."""
        kind = self.inferred_type
        common = {"num_present": self.present, "num_missing": self.missing}
        if kind in ("Integral", "Fractional"):
            s = self.numbers
            return {"name": name, "inferred_type": kind, "numerical_statistics": {
                "common": common, "mean": s.mean, "sum": s.total, "std_dev": s.std_dev,
                "min": s.min if s.n else 0.0, "max": s.max if s.n else 0.0, "distribution": {"kll": s.kll()}}}  # fmt: skip
        buckets = [{"value": v, "count": n} for v, n in sorted(self.text.counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        return {"name": name, "inferred_type": kind, "string_statistics": {
            "common": common, "distinct_count": self.text.distinct_count,
            "distribution": {"categorical": {"buckets": buckets}}}}  # fmt: skip


class Profile:
    """Columns (in the order first seen) and row count of everything fed to :meth:`update`."""

    def __init__(self, text_columns: Iterable[str] = ()) -> None:
        """``text_columns``: columns whose typed numbers are counted as text too (the String
        features of the baseline a window is checked against, so their categories compare)."""
        self.text_columns = set(text_columns)
        self.columns: dict[str, ColumnProfile] = {}
        self.rows = 0

    def update(self, frame: pd.DataFrame) -> None:
        """Add one batch of rows; a column missing from a batch counts as missing there."""
        for name in frame.columns:
            key = str(name)
            if key not in self.columns:
                self.columns[key] = ColumnProfile(missing=self.rows, as_text=key in self.text_columns)
            self.columns[key].update(frame[name])
        seen = {str(c) for c in frame.columns}
        for key, col in self.columns.items():
            if key not in seen:
                col.missing += len(frame)
        self.rows += len(frame)

    def statistics(self) -> dict[str, Any]:
        """The whole ``statistics.json`` document."""
        return {
            "version": 0,
            "dataset": {"item_count": self.rows},
            "features": [col.statistics(name) for name, col in self.columns.items()],
        }


__all__ = ["ColumnProfile", "Profile"]
