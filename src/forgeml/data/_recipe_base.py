"""The step contract of preparation recipes and helpers shared by every step.

A step is a frozen pydantic model (its declarative spec; unknown parameters are rejected) with
two methods: ``fit(frame, y) -> state`` computes every statistic the step needs and returns it as a
JSON-safe dict; ``apply(frame, state, training) -> frame`` uses only that state. A step whose
``removes_rows`` is true (deduplication, outlier removal) drops rows only when ``training`` is true;
at serving time it passes rows through untouched.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MISSING = "__missing__"


class Step(BaseModel):
    """Base of every recipe step: a declarative spec plus ``fit`` and ``apply``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    columns: list[str] | None = None

    removes_rows: ClassVar[bool] = False
    default_columns: ClassVar[str] = "numeric"  # "numeric", "categorical", "datetime", "text", "all"

    def resolve_columns(self, frame: pd.DataFrame) -> list[str]:
        """The columns this step acts on: the named ones (checked) or the default selection.

        Raises:
            ValidationError: a named column is not in the frame.
        """
        if self.columns is not None:
            missing = [c for c in self.columns if c not in frame.columns]
            if missing:
                raise ValidationError(
                    f"step {self.type!r}: column(s) {', '.join(map(repr, missing))} not in the data "
                    f"(columns: {', '.join(map(str, frame.columns))})"
                )
            return list(self.columns)
        return select_columns(frame, self.default_columns)

    def fit(self, frame: pd.DataFrame, y: pd.Series | None) -> dict[str, Any]:
        """Learn the step's statistics from ``frame`` (and ``y``); returns a JSON-safe state."""
        return {"columns": self.resolve_columns(frame)}

    def apply(self, frame: pd.DataFrame, state: dict[str, Any], training: bool) -> pd.DataFrame:
        """Transform ``frame`` with the fitted ``state``."""
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """The JSON-safe spec of this step (defaults left out)."""
        out: dict[str, Any] = self.model_dump(mode="json", exclude_defaults=True)
        out["type"] = self.type
        return out


def select_columns(frame: pd.DataFrame, which: str) -> list[str]:
    """Default column selection by dtype family."""
    import pandas as pd

    out = []
    for name, dtype in frame.dtypes.items():
        is_dt = pd.api.types.is_datetime64_any_dtype(dtype)
        is_num = pd.api.types.is_numeric_dtype(dtype) and not is_dt
        if (
            which == "all"
            or (which == "numeric" and is_num)
            or (which == "datetime" and is_dt)
            or (which in ("categorical", "text") and not is_num and not is_dt)
        ):
            out.append(str(name))
    return out


def numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64 (missing values as NaN).

    Raises:
        ValidationError: the column holds values that are not numbers.
    """
    import numpy as np
    import pandas as pd

    series = frame[column]
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64").to_numpy()
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype("float64").to_numpy(na_value=np.nan)
    converted = pd.to_numeric(series, errors="coerce")
    bad = converted.isna() & series.notna()
    if bad.any():
        example = series[bad].iloc[0]
        raise ValidationError(f"column {column!r} is not numeric (e.g. value {example!r})")
    return converted.astype("float64").to_numpy(na_value=np.nan)


def _key(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return str(bool(value))
    if isinstance(value, float) or type(value).__name__.startswith(("float", "int", "uint")):
        f = float(value)
        if math.isnan(f):
            return None
        return str(int(f)) if f.is_integer() else repr(f)
    if isinstance(value, int):
        return str(value)
    return str(value)


def category_keys(series: pd.Series) -> pd.Series:
    """Category values as canonical strings (``1``, ``1.0`` and ``"1"`` agree); missing as ``MISSING``."""
    import pandas as pd

    mask = series.isna()
    uniq = pd.unique(series[~mask])
    mapping = {v: _key(v) for v in uniq}
    out = series.map(mapping).astype(object)
    out[mask.to_numpy()] = MISSING
    return out


def json_scalar(value: Any) -> Any:
    """A numpy/pandas scalar as a JSON-safe Python value (NaN becomes ``None``)."""
    import pandas as pd

    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def safe_name(text: str) -> str:
    """A column-name-safe version of a category (no characters that trip LightGBM or SQL)."""
    cleaned = re.sub(r"[^0-9A-Za-z_.\-]+", "_", text).strip("_")
    return cleaned or "blank"


def unique_names(base: str, labels: list[str], taken: set[str]) -> list[str]:
    """Output names ``base_label``, made unique against ``taken`` and each other."""
    out = []
    for label in labels:
        name = f"{base}_{safe_name(label)}"
        candidate, n = name, 2
        while candidate in taken:
            candidate, n = f"{name}_{n}", n + 1
        taken.add(candidate)
        out.append(candidate)
    return out


def floats(values: Any) -> list[float | None]:
    """A sequence of numbers as JSON-safe floats (NaN as ``None``)."""
    return [json_scalar(float(v)) for v in values]


def unfloat(values: list[float | None]) -> np.ndarray:
    """Inverse of :func:`floats`."""
    import numpy as np

    return np.array([np.nan if v is None else v for v in values], dtype="float64")


__all__ = [
    "MISSING",
    "Step",
    "category_keys",
    "floats",
    "json_scalar",
    "numeric",
    "safe_name",
    "select_columns",
    "unfloat",
    "unique_names",
]
