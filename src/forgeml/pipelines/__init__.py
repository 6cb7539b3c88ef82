"""Pipelines: versioned DAG definitions (Python or YAML) run by a durable driver.

See docs/pipelines.md. The SDK surface: :class:`Pipeline`, the step classes and ``@step``,
parameters and functions, and ``ws.pipelines`` (:class:`PipelineService`).
"""

from forgeml.pipelines._model import (
    CacheConfig,
    ConditionEquals,
    ConditionGreaterThan,
    ConditionGreaterThanOrEqualTo,
    ConditionIn,
    ConditionLessThan,
    ConditionLessThanOrEqualTo,
    ConditionNot,
    ConditionOr,
    ExecutionVariables,
    Join,
    JsonGet,
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
    PropertyFile,
    RetryPolicy,
)
from forgeml.pipelines._runner import StepFault
from forgeml.pipelines._service import PipelineService, load_yaml
from forgeml.pipelines._steps import (
    CallbackStep,
    ConditionStep,
    FailStep,
    Pipeline,
    ProcessingStep,
    RegisterModelStep,
    Step,
    TrainingStep,
    TransformStep,
    step,
)
from forgeml.pipelines._validate import compile_definition

__all__ = [
    "CacheConfig", "CallbackStep", "ConditionEquals", "ConditionGreaterThan", "ConditionGreaterThanOrEqualTo",
    "ConditionIn", "ConditionLessThan", "ConditionLessThanOrEqualTo", "ConditionNot", "ConditionOr", "ConditionStep",
    "ExecutionVariables", "FailStep", "Join", "JsonGet", "ParameterBoolean", "ParameterFloat", "ParameterInteger",
    "ParameterString", "Pipeline", "PipelineService", "ProcessingStep", "PropertyFile", "RegisterModelStep",
    "RetryPolicy", "Step", "StepFault", "TrainingStep", "TransformStep", "compile_definition", "load_yaml", "step",
]  # fmt: skip


def _rule_target(ws: object, target: dict, payload: object, key: str) -> dict:
    """An event rule's or schedule's ``{"type": "pipeline", "pipeline": NAME, "input": {...}}``
    target: start the pipeline with the rendered input as its parameters (docs/rules.md)."""
    params = payload if isinstance(payload, dict) and "input" in target else None
    record = ws.pipelines.start(target["pipeline"], parameters=params, display_name=key)  # type: ignore[attr-defined]
    return {"execution": record.ref}


def _check_rule_target(target: dict) -> None:
    from forgeml.errors import ValidationError

    if not isinstance(target.get("pipeline"), str) or set(target) - {"type", "pipeline", "input"}:
        raise ValidationError("a pipeline target takes pipeline (its name) and input (its parameters)")


def _register_rule_target() -> None:
    from forgeml.rules import register_target_kind

    register_target_kind("pipeline", _rule_target, validate=_check_rule_target)  # type: ignore[arg-type]


_register_rule_target()
