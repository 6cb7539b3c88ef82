"""Hyperparameter ranges (SageMaker's Integer, Continuous and Categorical) as Optuna distributions.

Scaling types:

* ``Linear``: uniform over ``[min, max]``.
* ``Logarithmic``: uniform in ``log(x)``; needs ``min > 0``.
* ``ReverseLogarithmic`` (continuous only, ``0 <= min < max < 1``): uniform in ``log(1 - x)``,
  which crowds samples towards 1 (momentum, decay rates). Optuna samples ``z = 1 - x`` on a log
  scale in ``[1 - max, 1 - min]``; the training job receives ``x = 1 - z``.
* ``Auto``: Linear (SageMaker picks on its own; ForgeML does not guess, see the docs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from forgeml.errors import ValidationError

TYPES: Final = ("Integer", "Continuous", "Categorical")
SCALINGS: Final = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")


@dataclass(frozen=True)
class ParameterRange:
    """One tunable hyperparameter."""

    name: str
    type: str
    min: float | None = None
    max: float | None = None
    scaling: str = "Auto"
    values: tuple[Any, ...] = ()

    @property
    def effective_scaling(self) -> str:
        return "Linear" if self.scaling == "Auto" else self.scaling

    def distribution(self) -> Any:
        """The Optuna distribution sampled for this range (in internal units)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.type == "Categorical":
            return CategoricalDistribution(list(self.values))
        assert self.min is not None and self.max is not None
        if self.type == "Integer":
            return IntDistribution(int(self.min), int(self.max), log=self.effective_scaling == "Logarithmic")
        if self.effective_scaling == "ReverseLogarithmic":
            return FloatDistribution(1.0 - self.max, 1.0 - self.min, log=True)
        return FloatDistribution(float(self.min), float(self.max), log=self.effective_scaling == "Logarithmic")

    def to_value(self, internal: Any) -> Any:
        """The hyperparameter value the training job gets for an Optuna value."""
        if self.type == "Continuous" and self.effective_scaling == "ReverseLogarithmic":
            return 1.0 - float(internal)
        return internal

    def to_internal(self, value: Any) -> Any:
        """The Optuna value for a hyperparameter value (used by warm start)."""
        if self.type == "Integer":
            return int(value)
        if self.type == "Continuous":
            value = float(value)
            return 1.0 - value if self.effective_scaling == "ReverseLogarithmic" else value
        return value

    def contains(self, value: Any) -> bool:
        if self.type == "Categorical":
            return value in self.values
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        if self.type == "Integer" and number != int(number):
            return False
        assert self.min is not None and self.max is not None
        return self.min <= number <= self.max

    def to_dict(self) -> dict[str, Any]:
        if self.type == "Categorical":
            return {"type": self.type, "values": list(self.values)}
        return {"type": self.type, "min": self.min, "max": self.max, "scaling": self.scaling}


def _number(name: str, key: str, value: Any, integer: bool) -> float:
    if isinstance(value, bool) or value is None:
        raise ValidationError(f"parameter range {name!r}: {key} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"parameter range {name!r}: {key} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValidationError(f"parameter range {name!r}: {key} must be finite, got {value!r}")
    if integer and number != int(number):
        raise ValidationError(f"parameter range {name!r}: {key} must be an integer, got {value!r}")
    return int(number) if integer else number


def parse_range(name: str, spec: Any) -> ParameterRange:
    """Validate one range given as ``{"type": ..., "min": ..., "max": ..., "scaling": ...}`` or
    ``{"type": "Categorical", "values": [...]}``.

    Raises:
        ValidationError: naming the parameter and what is wrong.
    """
    if not isinstance(name, str) or not name:
        raise ValidationError(f"parameter range names must be non-empty strings, got {name!r}")
    if not isinstance(spec, dict):
        raise ValidationError(f"parameter range {name!r} must be a mapping with a type, got {spec!r}")
    kind = str(spec.get("type", "")).capitalize()
    if kind not in TYPES:
        raise ValidationError(f"parameter range {name!r}: unknown type {spec.get('type')!r} (expected one of {', '.join(TYPES)})")
    unknown = set(spec) - {"type", "min", "max", "scaling", "values"}
    if unknown:
        raise ValidationError(f"parameter range {name!r}: unknown field(s) {', '.join(sorted(unknown))}")
    if kind == "Categorical":
        values = spec.get("values")
        if not isinstance(values, list | tuple) or not values:
            raise ValidationError(f"parameter range {name!r}: Categorical needs a non-empty list of values")
        if any(not isinstance(v, str | int | float | bool) for v in values):
            raise ValidationError(f"parameter range {name!r}: categorical values must be strings, numbers or booleans")
        if len({repr(v) for v in values}) != len(values):
            raise ValidationError(f"parameter range {name!r}: categorical values repeat")
        if spec.get("scaling") not in (None, "Auto"):
            raise ValidationError(f"parameter range {name!r}: Categorical ranges take no scaling")
        return ParameterRange(name, kind, values=tuple(values))
    if "values" in spec:
        raise ValidationError(f"parameter range {name!r}: {kind} ranges take min and max, not values")
    for key in ("min", "max"):
        if key not in spec:
            raise ValidationError(f"parameter range {name!r}: {kind} needs {key}")
    lo = _number(name, "min", spec["min"], kind == "Integer")
    hi = _number(name, "max", spec["max"], kind == "Integer")
    if lo > hi:
        raise ValidationError(f"parameter range {name!r}: min {lo:g} is greater than max {hi:g}")
    scaling = spec.get("scaling") or "Auto"
    if scaling not in SCALINGS:
        raise ValidationError(f"parameter range {name!r}: unknown scaling {scaling!r} (expected one of {', '.join(SCALINGS)})")
    if scaling == "Logarithmic" and lo <= 0:
        raise ValidationError(f"parameter range {name!r}: Logarithmic scaling needs min > 0, got {lo:g}")
    if scaling == "ReverseLogarithmic":
        if kind != "Continuous":
            raise ValidationError(f"parameter range {name!r}: ReverseLogarithmic scaling is for Continuous ranges only")
        if not (lo >= 0 and hi < 1):
            raise ValidationError(f"parameter range {name!r}: ReverseLogarithmic scaling needs 0 <= min and max < 1, got [{lo:g}, {hi:g}]")
    return ParameterRange(name, kind, lo, hi, scaling)


_SAGEMAKER_KEYS = {
    "IntegerParameterRanges": "Integer",
    "ContinuousParameterRanges": "Continuous",
    "CategoricalParameterRanges": "Categorical",
}


def parse_ranges(spec: Any) -> dict[str, ParameterRange]:
    """Validate all ranges: ``{name: range}``, or SageMaker's ``ParameterRanges`` object
    (``{"IntegerParameterRanges": [{"Name", "MinValue", "MaxValue", "ScalingType"}], ...}``).

    Raises:
        ValidationError: no ranges, or a bad one.
    """
    if isinstance(spec, dict) and spec and set(spec) <= set(_SAGEMAKER_KEYS):
        converted: dict[str, Any] = {}
        for key, kind in _SAGEMAKER_KEYS.items():
            for item in spec.get(key) or []:
                if not isinstance(item, dict) or "Name" not in item:
                    raise ValidationError(f"{key}: every item needs a Name")
                if kind == "Categorical":
                    converted[item["Name"]] = {"type": kind, "values": item.get("Values")}
                else:
                    converted[item["Name"]] = {"type": kind, "min": item.get("MinValue"), "max": item.get("MaxValue"), "scaling": item.get("ScalingType", "Auto")}
        spec = converted
    if not isinstance(spec, dict) or not spec:
        raise ValidationError("parameter_ranges must name at least one hyperparameter to tune")
    return {name: parse_range(name, value) for name, value in spec.items()}


__all__ = ["SCALINGS", "TYPES", "ParameterRange", "parse_range", "parse_ranges"]
