"""Other recipe steps: datetime parts, time-series features, text features, dedup, drop, custom code."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from forgeml.data._recipe_base import Step, numeric
from forgeml.errors import ValidationError

DATE_PARTS = ("year", "quarter", "month", "day", "dayofweek", "dayofyear", "hour", "minute", "weekend")
TEXT_FEATURES = ("length", "words", "digits", "uppercase", "punctuation")


class DatetimeParts(Step):
    """Extract parts of datetime columns into ``<col>_<part>`` float columns (``weekend`` is 0/1)."""

    type: Literal["datetime"] = "datetime"
    parts: list[Literal["year", "quarter", "month", "day", "dayofweek", "dayofyear", "hour", "minute", "weekend"]] = Field(
        default_factory=lambda: ["hour", "dayofweek", "month", "weekend"], min_length=1
    )
    keep: bool = False

    default_columns: ClassVar[str] = "datetime"

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        import pandas as pd

        frame = frame.copy()
        for col in state["columns"]:
            try:
                ts = pd.to_datetime(frame[col])
            except (ValueError, TypeError) as exc:
                raise ValidationError(f"step 'datetime': column {col!r} is not a date/time ({exc})") from None
            for part in self.parts:
                attr = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}.get(part, part)
                value = ts.dt.day_of_week >= 5 if part == "weekend" else getattr(ts.dt, attr)
                frame[f"{col}_{part}"] = value.astype("float64")
            if not self.keep:
                frame = frame.drop(columns=[col])
        return frame


class TimeSeries(Step):
    """Per-entity lags, rolling mean/std and differences of numeric columns, in ``time`` order.

    Stateless: history must be in the frame being transformed (a serving request with one row per
    entity gets missing lags). Rolling windows include the current row (``min_periods=1``).
    Outputs ``<col>_lag<k>``, ``<col>_rollmean<w>``, ``<col>_rollstd<w>``, ``<col>_diff<k>``.
    """

    type: Literal["timeseries"] = "timeseries"
    time: str
    entity: str | None = None
    lags: list[int] = Field(default_factory=lambda: [1])
    windows: list[int] = Field(default_factory=list)
    diffs: list[int] = Field(default_factory=list)

    @field_validator("lags", "windows", "diffs")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(v < 1 for v in value):
            raise ValueError("lags, windows and diffs must be ≥ 1")
        return value

    def fit(self, frame: Any, y: Any) -> dict[str, Any]:
        for name in (self.time, self.entity):
            if name is not None and name not in frame.columns:
                raise ValidationError(f"step 'timeseries': column {name!r} not in the data")
        columns = [c for c in self.resolve_columns(frame) if c not in (self.time, self.entity)]
        return {"columns": columns}

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        import pandas as pd

        keys = [self.entity, self.time] if self.entity else [self.time]
        ordered = frame.sort_values(keys, kind="stable")
        new: dict[str, Any] = {}
        for col in state["columns"]:
            s = pd.Series(numeric(ordered, col), index=ordered.index)
            g = s.groupby(ordered[self.entity].to_numpy(), sort=False, dropna=False) if self.entity else None
            for k in self.lags:
                new[f"{col}_lag{k}"] = g.shift(k) if g is not None else s.shift(k)
            for w in self.windows:
                roll = g.rolling(w, min_periods=1) if g is not None else s.rolling(w, min_periods=1)
                mean, std = roll.mean(), roll.std()
                if g is not None:
                    mean, std = mean.droplevel(0), std.droplevel(0)
                new[f"{col}_rollmean{w}"], new[f"{col}_rollstd{w}"] = mean, std
            for k in self.diffs:
                new[f"{col}_diff{k}"] = g.diff(k) if g is not None else s.diff(k)
        out = frame.copy()
        for name, series in new.items():
            out[name] = series.reindex(frame.index).astype("float64")
        return out


class TextFeatures(Step):
    """Simple counts from text columns: ``length``, ``words``, ``digits``, ``uppercase``, ``punctuation``."""

    type: Literal["text"] = "text"
    features: list[Literal["length", "words", "digits", "uppercase", "punctuation"]] = Field(
        default_factory=lambda: ["length", "words"], min_length=1
    )
    keep: bool = False

    default_columns: ClassVar[str] = "text"

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        frame = frame.copy()
        patterns = {"digits": r"\d", "uppercase": r"[A-Z]", "punctuation": r"[^\w\s]"}
        for col in state["columns"]:
            text = frame[col].astype("string")
            for feat in self.features:
                if feat == "length":
                    value = text.str.len()
                elif feat == "words":
                    value = text.str.split().str.len()
                else:
                    value = text.str.count(patterns[feat])
                frame[f"{col}_{feat}"] = value.astype("Float64").astype("float64")
            if not self.keep:
                frame = frame.drop(columns=[col])
        return frame


class Dedup(Step):
    """Drop duplicate rows (on ``columns``, or all), keeping the first. Training time only."""

    type: Literal["dedup"] = "dedup"
    removes_rows: ClassVar[bool] = True
    default_columns: ClassVar[str] = "all"

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        if not training:
            return frame
        return frame.drop_duplicates(subset=state["columns"], keep="first")


class Drop(Step):
    """Remove columns (identifiers, leaks) from the output."""

    type: Literal["drop"] = "drop"
    columns: list[str]

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        return frame.drop(columns=state["columns"])


class Custom(Step):
    """Call an importable function ``"package.module:function"`` as ``function(frame, **kwargs) -> frame``.

    The function must be importable wherever the fitted recipe is loaded (it is stored by name).
    It runs at fit and at serving time alike; it must not drop rows.
    """

    type: Literal["custom"] = "custom"
    function: str
    kwargs: dict[str, Any] = Field(default_factory=dict)

    default_columns: ClassVar[str] = "all"

    @field_validator("function", mode="before")
    @classmethod
    def _as_path(cls, value: Any) -> Any:
        if callable(value):
            module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", "")
            if not module or "<" in qualname or module == "__main__":
                raise ValueError("a custom step needs an importable module-level function (not a lambda or __main__ function)")
            return f"{module}:{qualname}"
        if not isinstance(value, str) or ":" not in value:
            raise ValueError("function must be 'package.module:function'")
        return value

    def resolve(self) -> Any:
        from forgeml.core.imports import import_object

        return import_object(self.function, "step 'custom'")

    def fit(self, frame: Any, y: Any) -> dict[str, Any]:
        self.resolve()
        return {"columns": []}

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        import pandas as pd

        out = self.resolve()(frame.copy(), **self.kwargs)
        if not isinstance(out, pd.DataFrame) or len(out) != len(frame):
            raise ValidationError(f"step 'custom': {self.function} must return a DataFrame with the same rows")
        return out


__all__ = ["DATE_PARTS", "TEXT_FEATURES", "Custom", "DatetimeParts", "Dedup", "Drop", "TextFeatures", "TimeSeries"]
