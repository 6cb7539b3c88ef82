"""Pipeline building blocks in Python: parameters, references, functions, conditions, policies.

Every object here serializes (``to_request()``) to the SageMaker Pipelines definition JSON
(``{"Get": "Parameters.P"}``, ``{"Std:JsonGet": ...}``, ``{"Type": "GreaterThan", ...}``), which is
the one model underneath: YAML definitions are that JSON written as YAML, and the validator
and the executor read only the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PARAMETER_TYPES = {"String": str, "Integer": int, "Float": float, "Boolean": bool}
EXECUTION_VARIABLES = ("StartDateTime", "CurrentDateTime", "PipelineName", "PipelineArn",
                       "PipelineExecutionId", "PipelineExecutionArn")  # fmt: skip
EXCEPTION_TYPES = ("Step.SERVICE_FAULT", "Step.THROTTLING", "SageMaker.JOB_INTERNAL_ERROR",
                   "SageMaker.CAPACITY_ERROR", "SageMaker.JOB_CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT")  # fmt: skip


def serialize(value: Any) -> Any:
    """A Python value with builder objects inside as definition JSON."""
    if hasattr(value, "to_request"):
        return value.to_request()
    if isinstance(value, dict):
        return {str(k): serialize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [serialize(v) for v in value]
    return value


class Expression:
    """Something resolved when the execution runs (a ``Get`` or a ``Std:`` function)."""

    def to_request(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Get(Expression):
    """``{"Get": path}``: a parameter, an execution variable or a step property."""

    path: str

    def to_request(self) -> dict[str, Any]:
        return {"Get": self.path}


class Properties(Get):
    """A step property path, built by attribute and item access:
    ``train.properties.ModelArtifacts.S3ModelArtifacts``, ``prep.properties.Outputs["train"]``."""

    def __getattr__(self, name: str) -> Properties:
        if name.startswith("__"):
            raise AttributeError(name)
        return Properties(f"{self.path}.{name}")

    def __getitem__(self, key: str | int) -> Properties:
        return Properties(f"{self.path}[{key}]" if isinstance(key, int) else f"{self.path}['{key}']")


@dataclass(frozen=True)
class Parameter(Get):
    """A pipeline parameter with a default, overridable per execution."""

    name: str = ""
    type: str = "String"
    default_value: Any = None
    enum_values: tuple[Any, ...] | None = None

    def __init__(self, name: str, default_value: Any = None, enum_values: list[Any] | None = None) -> None:
        object.__setattr__(self, "path", f"Parameters.{name}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "default_value", default_value)
        object.__setattr__(self, "enum_values", tuple(enum_values) if enum_values else None)

    def definition(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Name": self.name, "Type": self.type}
        if self.default_value is not None:
            out["DefaultValue"] = self.default_value
        if self.enum_values:
            out["EnumValues"] = list(self.enum_values)
        return out


class ParameterString(Parameter):
    """A ``String`` parameter."""

    def __init__(self, name: str, default_value: str | None = None, enum_values: list[str] | None = None) -> None:
        super().__init__(name, default_value, enum_values)
        object.__setattr__(self, "type", "String")


class ParameterInteger(Parameter):
    """An ``Integer`` parameter."""

    def __init__(self, name: str, default_value: int | None = None) -> None:
        super().__init__(name, default_value)
        object.__setattr__(self, "type", "Integer")


class ParameterFloat(Parameter):
    """A ``Float`` parameter."""

    def __init__(self, name: str, default_value: float | None = None) -> None:
        super().__init__(name, default_value)
        object.__setattr__(self, "type", "Float")


class ParameterBoolean(Parameter):
    """A ``Boolean`` parameter."""

    def __init__(self, name: str, default_value: bool | None = None) -> None:
        super().__init__(name, default_value)
        object.__setattr__(self, "type", "Boolean")


class ExecutionVariables:
    """``{"Get": "Execution.X"}`` references (SageMaker's ``ExecutionVariables``)."""

    START_DATETIME = Get("Execution.StartDateTime")
    CURRENT_DATETIME = Get("Execution.CurrentDateTime")
    PIPELINE_NAME = Get("Execution.PipelineName")
    PIPELINE_ARN = Get("Execution.PipelineArn")
    PIPELINE_EXECUTION_ID = Get("Execution.PipelineExecutionId")
    PIPELINE_EXECUTION_ARN = Get("Execution.PipelineExecutionArn")


@dataclass(frozen=True)
class Join(Expression):
    """``Std:Join``: the values joined by ``on``."""

    values: list[Any]
    on: str = ""

    def to_request(self) -> dict[str, Any]:
        return {"Std:Join": {"On": self.on, "Values": serialize(self.values)}}


@dataclass(frozen=True)
class PropertyFile:
    """A JSON file in a processing step's output folder whose values ``JsonGet`` reads."""

    name: str
    output_name: str
    path: str

    def to_request(self) -> dict[str, Any]:
        return {"PropertyFileName": self.name, "OutputName": self.output_name, "FilePath": self.path}


@dataclass(frozen=True)
class JsonGet(Expression):
    """``Std:JsonGet``: the value at ``json_path`` (``a.b[0].c``) of ``step``'s property file."""

    step_name: Any
    property_file: Any
    json_path: str

    def to_request(self) -> dict[str, Any]:
        step = getattr(self.step_name, "name", self.step_name)
        prop = getattr(self.property_file, "name", self.property_file)
        return {"Std:JsonGet": {"PropertyFile": {"Get": f"Steps.{step}.PropertyFiles.{prop}"}, "Path": self.json_path}}


@dataclass(frozen=True)
class Condition:
    """One condition of a ConditionStep, in the reference's JSON shape."""

    type: str
    args: dict[str, Any]

    def to_request(self) -> dict[str, Any]:
        return {"Type": self.type, **serialize(self.args)}


def _binary(kind: str) -> Any:
    def make(left: Any, right: Any) -> Condition:
        return Condition(kind, {"LeftValue": left, "RightValue": right})

    make.__name__ = f"Condition{kind}"
    make.__doc__ = f"``{kind}``: left {kind} right."
    return make


ConditionEquals = _binary("Equals")
ConditionGreaterThan = _binary("GreaterThan")
ConditionGreaterThanOrEqualTo = _binary("GreaterThanOrEqualTo")
ConditionLessThan = _binary("LessThan")
ConditionLessThanOrEqualTo = _binary("LessThanOrEqualTo")


def ConditionIn(value: Any, in_values: list[Any]) -> Condition:
    """``In``: value is one of ``in_values``."""
    return Condition("In", {"QueryValue": value, "Values": list(in_values)})


def ConditionNot(expression: Condition) -> Condition:
    """``Not``: the condition is false."""
    return Condition("Not", {"Condition": expression})


def ConditionOr(conditions: list[Condition]) -> Condition:
    """``Or``: at least one of the conditions is true."""
    return Condition("Or", {"Conditions": list(conditions)})


@dataclass(frozen=True)
class CacheConfig:
    """Step caching: reuse a successful earlier run of the same pipeline within ``expire_after``
    (an ISO-8601 duration such as ``PT1H`` or ``P30D``)."""

    enable_caching: bool = False
    expire_after: str | None = None

    def to_request(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Enabled": self.enable_caching}
        if self.expire_after:
            out["ExpireAfter"] = self.expire_after
        return out


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a step on the listed exception types (``IntervalSeconds`` x ``BackoffRate``^n),
    for at most ``max_attempts`` retries or until ``expire_after_mins`` have passed."""

    exception_types: list[str] = field(default_factory=list)
    interval_seconds: int = 1
    backoff_rate: float = 2.0
    max_attempts: int | None = None
    expire_after_mins: int | None = None

    def to_request(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ExceptionType": list(self.exception_types), "IntervalSeconds": self.interval_seconds,
                               "BackoffRate": self.backoff_rate}  # fmt: skip
        if self.max_attempts is not None:
            out["MaxAttempts"] = self.max_attempts
        if self.expire_after_mins is not None:
            out["ExpireAfterMin"] = self.expire_after_mins
        return out


__all__ = [
    "EXCEPTION_TYPES", "EXECUTION_VARIABLES", "PARAMETER_TYPES", "CacheConfig", "Condition", "ConditionEquals",
    "ConditionGreaterThan", "ConditionGreaterThanOrEqualTo", "ConditionIn", "ConditionLessThan",
    "ConditionLessThanOrEqualTo", "ConditionNot", "ConditionOr", "ExecutionVariables", "Expression", "Get", "Join",
    "JsonGet", "Parameter", "ParameterBoolean", "ParameterFloat", "ParameterInteger", "ParameterString", "Properties",
    "PropertyFile", "RetryPolicy", "serialize",
]  # fmt: skip
