"""Facets and labels collapsed to booleans, the way Clarify does before any metric runs.

A facet (the sensitive group *d*) or a positive label is selected by a list of values, or by a
numeric threshold written ``"> 40"`` (or ``{"threshold": 40}``): the rows whose value is strictly
greater than the threshold, as smclarify's interval ``(threshold, max]`` does. Every other row is
facet *a* (or a negative label).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class Selector:
    """Which values count as "in": a value list, or ``value > threshold``."""

    values: tuple[Any, ...] | None = None
    threshold: float | None = None

    @property
    def is_threshold(self) -> bool:
        return self.threshold is not None

    def describe(self, series: pd.Series | None = None) -> str:
        """The ``value_or_threshold`` text of analysis.json (``"1"``, ``"a,b"``, ``"(40, 80]"``)."""
        if self.threshold is None:
            return ",".join(str(v) for v in self.values or ())
        top = series.max() if series is not None and len(series) else self.threshold
        return f"({_num(self.threshold)}, {_num(top)}]"

    def to_json(self) -> Any:
        return f"> {_num(self.threshold)}" if self.threshold is not None else list(self.values or ())

    def mask(self, series: pd.Series, what: str) -> np.ndarray:
        """A boolean numpy array: True where the row is selected.

        Raises:
            ValidationError: a threshold on a non-numeric column.
        """
        import numpy as np
        import pandas as pd

        if self.threshold is not None:
            if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
                raise ValidationError(f"{what} {series.name!r} is not numeric, so it cannot use a threshold ('> {self.threshold}')")
            return np.asarray(series.to_numpy(dtype="float64") > self.threshold, dtype=bool)
        values = list(self.values or ())
        hit = np.asarray(series.isin(values).to_numpy(), dtype=bool)
        if not hit.any():
            # as smclarify does: retry with the values converted to the column's type ("1" -> 1)
            converted = _convert(values, series)
            if converted != values:
                hit = np.asarray(series.isin(converted).to_numpy(), dtype=bool)
        return hit


def _num(x: Any) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def _convert(values: list[Any], series: pd.Series) -> list[Any]:
    import pandas as pd

    out: list[Any] = []
    for v in values:
        try:
            if pd.api.types.is_bool_dtype(series):
                out.append(str(v).lower() in ("1", "true", "yes"))
            elif pd.api.types.is_integer_dtype(series):
                out.append(int(float(v)))
            elif pd.api.types.is_float_dtype(series):
                out.append(float(v))
            else:
                out.append(str(v))
        except (TypeError, ValueError):
            out.append(v)
    return out


def parse_selector(spec: Any, what: str) -> Selector:
    """Read a value list, a scalar, ``"> t"`` or ``{"threshold": t}`` / ``{"values": [...]}``.

    Raises:
        ValidationError: an empty list or an unreadable threshold.
    """
    if isinstance(spec, Selector):
        return spec
    if isinstance(spec, dict):
        if "threshold" in spec:
            return Selector(threshold=_threshold(spec["threshold"], what))
        spec = spec.get("values", spec.get("value_or_threshold"))
    if isinstance(spec, str) and spec.strip().startswith(">"):
        return Selector(threshold=_threshold(spec.strip()[1:], what))
    if isinstance(spec, list | tuple):
        if not spec:
            raise ValidationError(f"{what}: the value list is empty")
        return Selector(values=tuple(spec))
    if spec is None:
        raise ValidationError(f"{what}: no value or threshold given")
    return Selector(values=(spec,))


def _threshold(raw: Any, what: str) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise ValidationError(f"{what}: threshold {raw!r} is not a number") from None


@dataclass(frozen=True)
class Facet:
    """A sensitive attribute: column ``name``; ``selector`` None means each value vs the rest."""

    name: str
    selector: Selector | None = None

    @classmethod
    def parse(cls, spec: Any) -> Facet:
        """From ``"black"``, ``"black=1"``, ``"age>40"``, ``{"name_or_index":..., "value_or_threshold":...}``.

        Raises:
            ValidationError: an unreadable facet spec.
        """
        if isinstance(spec, Facet):
            return spec
        if isinstance(spec, str):
            if ">" in spec:
                name, _, t = spec.partition(">")
                return cls(name.strip(), parse_selector(f"> {t.strip()}", f"facet {name.strip()!r}"))
            if "=" in spec:
                name, _, vals = spec.partition("=")
                values = [_literal(v.strip()) for v in vals.split(",") if v.strip()]
                return cls(name.strip(), parse_selector(values, f"facet {name.strip()!r}"))
            return cls(spec.strip())
        if isinstance(spec, dict):
            name = spec.get("name_or_index", spec.get("name"))
            if not isinstance(name, str) or not name:
                raise ValidationError(f"facet {spec!r} has no name (name_or_index)")
            raw = spec.get("value_or_threshold", spec.get("values", spec.get("threshold")))
            if "threshold" in spec and "value_or_threshold" not in spec:
                raw = {"threshold": spec["threshold"]}
            return cls(name, None if raw is None else parse_selector(raw, f"facet {name!r}"))
        raise ValidationError(f"cannot read facet spec {spec!r}")


def _literal(text: str) -> Any:
    """``"1"`` -> 1, ``"1.5"`` -> 1.5, anything else stays text (values are matched with a retry)."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            continue
    return text


__all__ = ["Facet", "Selector", "parse_selector"]
