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
