"""Hyperparameters declared as data and checked in one place.

Every built-in algorithm lists its hyperparameters as :class:`Param` rows (name, type, default,
range or choices). :func:`validate_hyperparameters` coerces the values a user gave (SageMaker
passes every hyperparameter as a string, so ``"0.3"`` is accepted for a float) and rejects unknown
names and out-of-range values with an error that names the hyperparameter and its allowed range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from forgeml.errors import ValidationError

_TYPES = ("int", "float", "str", "bool")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One hyperparameter of a built-in algorithm.

    Attributes:
        name: the hyperparameter's name (SageMaker's spelling where it has one).
        type: ``int``, ``float``, ``str`` or ``bool``.
        default: the value used when it is not given (``None`` means "off" / "automatic").
        low: smallest allowed value (numbers only).
        high: largest allowed value (numbers only).
        low_open: ``low`` itself is not allowed.
        high_open: ``high`` itself is not allowed.
        choices: the allowed values (strings only).
        nullable: ``None`` is an allowed value.
        help: one line for ``forgeml train algorithms``.
    """

    name: str
    type: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    nullable: bool = False
    help: str = ""

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"Param {self.name}: type must be one of {_TYPES}")

    def allowed(self) -> str:
        """The allowed values in words, e.g. ``a float in (0, 1]``."""
        if self.choices:
            text = f"one of {', '.join(self.choices)}"
        elif self.type in ("int", "float"):
            lo = "-inf" if self.low is None else f"{self.low:g}"
            hi = "inf" if self.high is None else f"{self.high:g}"
            left = "(" if self.low_open or self.low is None else "["
            right = ")" if self.high_open or self.high is None else "]"
            text = f"an {self.type} in {left}{lo}, {hi}{right}" if self.type == "int" else f"a float in {left}{lo}, {hi}{right}"
        else:
            text = f"a {self.type}"
        return text + (" or null" if self.nullable else "")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": self.default, "allowed": self.allowed(), "help": self.help}

    def coerce(self, value: Any, algorithm: str) -> Any:
        """The value converted to this parameter's type and checked against its range.

        Raises:
            ValidationError: naming the algorithm, the hyperparameter and the allowed range.
        """
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null") and self.nullable):
            if self.nullable:
                return None
            self._fail(value, algorithm)
        try:
            out = self._convert(value)
        except (TypeError, ValueError):
            self._fail(value, algorithm)
        if self.choices is not None and out not in self.choices:
            self._fail(value, algorithm)
        if isinstance(out, (int, float)) and not isinstance(out, bool):
            if isinstance(out, float) and not math.isfinite(out):
                self._fail(value, algorithm)
            if self.low is not None and (out < self.low or (self.low_open and out == self.low)):
                self._fail(value, algorithm)
            if self.high is not None and (out > self.high or (self.high_open and out == self.high)):
                self._fail(value, algorithm)
        return out

    def _convert(self, value: Any) -> Any:
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise ValueError(value)
        if isinstance(value, bool):
            raise TypeError(value)
        if self.type == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            if isinstance(value, str):
                number = float(value.strip())
                if not number.is_integer():
                    raise ValueError(value)
                return int(number)
            return int(value)
        if self.type == "float":
            if not isinstance(value, (int, float, str)):
                raise TypeError(value)
            return float(value)
        if not isinstance(value, str):
            raise TypeError(value)
        return value

    def _fail(self, value: Any, algorithm: str) -> None:
        raise ValidationError(f"hyperparameter {self.name!r} of {algorithm} must be {self.allowed()}, got {value!r}")


def validate_hyperparameters(algorithm: str, params: Sequence[Param], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every hyperparameter of ``algorithm``: the given ones coerced and checked, the rest defaulted.

    Raises:
        ValidationError: an unknown name (listing the known ones) or a value out of its range.
    """
    known = {p.name: p for p in params}
    given = dict(given or {})
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValidationError(
            f"unknown hyperparameter(s) {', '.join(map(repr, unknown))} for {algorithm} "
            f"(known: {', '.join(sorted(known))})"
        )
    return {name: (p.coerce(given[name], algorithm) if name in given else p.default) for name, p in known.items()}


def hyperparameter_strings(values: Mapping[str, Any]) -> dict[str, str]:
    """Hyperparameters as SageMaker stores them in ``hyperparameters.json``: every value a string."""
    import json

    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


__all__ = ["Param", "hyperparameter_strings", "validate_hyperparameters"]
