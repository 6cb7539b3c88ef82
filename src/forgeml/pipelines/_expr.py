"""Resolving definition values at run time: ``Get`` paths, ``Std:Join``, ``Std:JsonGet``, conditions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from forgeml.errors import ValidationError

_TOKEN = re.compile(r"\.?([A-Za-z0-9_\-]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


@dataclass
class Scope:
    """What expressions resolve against: parameter values, execution variables, step properties."""

    parameters: dict[str, Any]
    execution: dict[str, Any]
    steps: dict[str, dict[str, Any]]


def tokens(path: str) -> list[str | int]:
    out: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if m is None or m.end() == pos:
            raise ValidationError(f"cannot parse property path {path!r} at {path[pos:]!r}")
        name, index, key1, key2 = m.groups()
        out.append(int(index) if index is not None else (name if name is not None else (key1 if key1 is not None else key2)))
        pos = m.end()
    return out


def walk(value: Any, path: list[str | int], shown: str) -> Any:
    """Follow ``path`` into nested dicts and lists; a string key on a list of dicts picks the item
    whose ``*Name`` field equals it (``FinalMetricDataList['rmse'].Value``)."""
    for tok in path:
        if (isinstance(value, dict) and tok in value) or (isinstance(value, list) and isinstance(tok, int) and -len(value) <= tok < len(value)):
            value = value[tok]
        elif isinstance(value, list) and isinstance(tok, str):
            found = [v for v in value if isinstance(v, dict) and any(k.endswith("Name") and v[k] == tok for k in v)]
            if not found:
                raise ValidationError(f"{shown}: no item named {tok!r}")
            value = found[0]
        else:
            raise ValidationError(f"{shown}: no value at {tok!r}")
    return value


def get(path: str, scope: Scope) -> Any:
    head, _, rest = path.partition(".")
    if head == "Parameters":
        return scope.parameters[rest]
    if head == "Execution":
        return scope.execution[rest]
    if head == "PipelineExperimentConfig":
        return scope.execution["PipelineName"] if rest == "ExperimentName" else scope.execution["PipelineExecutionId"]
    step, _, prop = rest.partition(".")
    if step not in scope.steps:
        raise ValidationError(f"{path}: step {step!r} has not succeeded")
    return walk(scope.steps[step], tokens(prop), path)


def resolve(value: Any, scope: Scope) -> Any:
    """``value`` with every expression in it replaced by what it stands for now.

    Raises:
        ValidationError: a property that the step did not produce, naming the path.
    """
    if isinstance(value, dict):
        if set(value) == {"Get"}:
            return get(value["Get"], scope)
        if set(value) == {"Std:Join"}:
            spec = value["Std:Join"]
            return str(spec.get("On", "")).join(str(resolve(v, scope)) for v in spec.get("Values", []))
        if set(value) == {"Std:JsonGet"}:
            spec = value["Std:JsonGet"]
            doc = resolve(spec["PropertyFile"], scope)
            return walk(doc, tokens(spec.get("Path", "")), f"JsonGet {spec.get('Path')!r}")
        return {k: resolve(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, scope) for v in value]
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError(f"{where}: {value!r} is not a number")
    try:
        return float(value)
    except ValueError:
        raise ValidationError(f"{where}: {value!r} is not a number") from None


def evaluate(condition: dict[str, Any], scope: Scope) -> bool:
    """One condition of a ConditionStep (the reference's operators)."""
    kind = condition["Type"]
    if kind == "Not":
        return not evaluate(condition["Condition"], scope)
    if kind == "Or":
        return any(evaluate(c, scope) for c in condition["Conditions"])
    if kind == "In":
        return resolve(condition["QueryValue"], scope) in resolve(condition["Values"], scope)
    left, right = resolve(condition["LeftValue"], scope), resolve(condition["RightValue"], scope)
    if kind == "Equals":
        return bool(left == right)
    a, b = _number(left, f"{kind}.LeftValue"), _number(right, f"{kind}.RightValue")
    return {"GreaterThan": a > b, "GreaterThanOrEqualTo": a >= b, "LessThan": a < b, "LessThanOrEqualTo": a <= b}[kind]


__all__ = ["Scope", "evaluate", "get", "resolve", "tokens", "walk"]
