"""SageMaker's ``InputFilter`` / ``OutputFilter`` (JSONPath) and ``JoinSource`` on records.

A CSV record is treated as a JSON array of its fields, so ``$[1:]`` drops the first column and
``$[0,-1]`` keeps the first and the last. On arrays the filter is evaluated once on the indices
``[0, 1, ..., n-1]`` and the resulting selection is applied to every record, which keeps CSV
filtering vectorized. On JSON objects a filter that picks named fields (``$['id','x']``) keeps
them as an object; one that lands on an array or object (``$.features``) returns it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from forgeml.errors import ValidationError
from forgeml.serving._transform_config import parse_jsonpath

OUTPUT_KEY = "SageMakerOutput"
INPUT_KEY = "SageMakerInput"


class RecordError(ValidationError):
    """A record that cannot be transformed; its file produces no output."""


class JsonFilter:
    """A compiled filter; ``None`` expression or ``"$"`` is the identity."""

    def __init__(self, expr: str, what: str) -> None:
        self.expr = expr
        self.what = what
        self.path = None if expr == "$" else parse_jsonpath(expr, what)

    @property
    def identity(self) -> bool:
        return self.path is None

    def indices(self, width: int) -> list[int]:
        """Positions an array of ``width`` fields keeps (in the filter's order)."""
        return _indices(self, width)

    def apply(self, record: Any) -> Any:
        """The filtered record (a list stays a list; see the module docstring for objects).

        Raises:
            RecordError: the filter selects nothing from this record.
        """
        if self.path is None:
            return record
        if isinstance(record, list):
            return [record[i] for i in self.indices(len(record))]
        matches = self.path.find(record)
        if not matches:
            raise RecordError(f"{self.what} {self.expr!r} selects nothing from the record")
        from jsonpath_ng.jsonpath import Fields, Root, This

        if len(matches) == 1 and isinstance(matches[0].path, (Root, This)):
            return matches[0].value
        if isinstance(record, dict) and all(isinstance(m.path, Fields) and len(m.path.fields) == 1 for m in matches):
            if len(matches) == 1 and isinstance(matches[0].value, (list, dict)):
                return matches[0].value
            return {m.path.fields[0]: m.value for m in matches}
        if len(matches) == 1:
            value = matches[0].value
            return value if isinstance(value, (list, dict)) else [value]
        return [m.value for m in matches]


@lru_cache(maxsize=256)
def _indices(flt: JsonFilter, width: int) -> list[int]:
    if flt.path is None:
        return list(range(width))
    values = [m.value for m in flt.path.find(list(range(width)))]
    if len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    if not values:
        raise RecordError(f"{flt.what} {flt.expr!r} selects no field of a {width}-field record")
    return [int(v) for v in values]


def join(record: Any, output: Any) -> Any:
    """``JoinSource=Input`` for one JSON record: add ``SageMakerOutput`` (or wrap non-objects)."""
    if isinstance(record, dict):
        return {**record, OUTPUT_KEY: output}
    return {INPUT_KEY: record, OUTPUT_KEY: output}


__all__ = ["INPUT_KEY", "OUTPUT_KEY", "JsonFilter", "RecordError", "join"]
