"""Steps as Python objects, the ``@step`` decorator, and :class:`Pipeline`, which turns them into
the definition JSON (SageMaker's shape) that ForgeML stores, validates and runs."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from forgeml.errors import ValidationError
from forgeml.pipelines._model import (
    CacheConfig,
    Condition,
    Parameter,
    Properties,
    PropertyFile,
    RetryPolicy,
    serialize,
)


class Step:
    """One step: a name, a type, its arguments (values may be expressions) and options."""

    type: str = ""

    def __init__(
        self, name: str, *, depends_on: Iterable[Step | str] | None = None, display_name: str | None = None,
        description: str | None = None, cache_config: CacheConfig | None = None,
        retry_policies: list[RetryPolicy] | None = None,
    ) -> None:  # fmt: skip
        self.name = name
        self.depends_on = list(depends_on or [])
        self.display_name = display_name
        self.description = description
        self.cache_config = cache_config
        self.retry_policies = list(retry_policies or [])

    @property
    def properties(self) -> Properties:
        """This step's properties (``step.properties.ModelArtifacts.S3ModelArtifacts``)."""
        return Properties(f"Steps.{self.name}")

    def arguments(self) -> dict[str, Any]:
        return {}

    def to_request(self) -> dict[str, Any]:
        """A step used as a value is a reference to its result (the ``@step`` style)."""
        return {"Get": f"Steps.{self.name}.Result"}

    def definition(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Name": self.name, "Type": self.type, "Arguments": serialize(self.arguments())}
        if self.depends_on:
            out["DependsOn"] = [getattr(s, "name", s) for s in self.depends_on]
        for key, value in (("DisplayName", self.display_name), ("Description", self.description)):
            if value:
                out[key] = value
        if self.cache_config is not None:
            out["CacheConfig"] = self.cache_config.to_request()
        if self.retry_policies:
            out["RetryPolicies"] = [p.to_request() for p in self.retry_policies]
        return out

    def referenced_steps(self) -> list[Step]:
        """Step objects that this step's arguments or depends_on name (collected by Pipeline)."""
        found: list[Step] = [s for s in self.depends_on if isinstance(s, Step)]

        def walk(value: Any) -> None:
            if isinstance(value, Step):
                found.append(value)
            elif isinstance(value, dict):
                for v in value.values():
                    walk(v)
            elif isinstance(value, list | tuple):
                for v in value:
                    walk(v)
            elif hasattr(value, "__dict__") and not isinstance(value, type):
                for v in vars(value).values():
                    walk(v)

        walk(self.arguments())
        return found


def callable_path(fn: Callable[..., Any]) -> tuple[str, str | None]:
    """``module:qualname`` of a function, and its source file (for functions of ``__main__``)."""
    if not callable(fn) or "<" in fn.__qualname__:
        raise ValidationError(f"processing callable {fn!r} must be a module-level function")
    source = inspect.getsourcefile(fn)
    return f"{fn.__module__}:{fn.__qualname__}", source


class ProcessingStep(Step):
    """Run a Python callable as a processing job (SDK only: a definition over REST may not name one).

    The callable gets ``arguments`` resolved as keyword arguments, and ``outputs={name: folder}``
    when ``outputs`` are declared. It may return a dict: DataFrames in it become dataset versions
    (``Outputs['key']``), other JSON values are its ``Result``.
    """

    type = "Processing"

    def __init__(self, name: str, fn: Callable[..., Any] | str, *, arguments: dict[str, Any] | None = None,
                 outputs: list[str] | None = None, property_files: list[PropertyFile] | None = None,
                 environment: dict[str, str] | None = None, **options: Any) -> None:  # fmt: skip
        super().__init__(name, **options)
        self.fn, self.file = (fn, None) if isinstance(fn, str) else callable_path(fn)
        self.kwargs = dict(arguments or {})
        self.outputs = list(outputs or [])
        self.property_files = list(property_files or [])
        self.environment = dict(environment or {})

    def arguments(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Callable": self.fn, "Inputs": self.kwargs, "Outputs": self.outputs}
        if self.file:
            out["File"] = self.file
        if self.environment:
            out["Environment"] = self.environment
        return out

    def definition(self) -> dict[str, Any]:
        out = super().definition()
        if self.property_files:
            out["PropertyFiles"] = [p.to_request() for p in self.property_files]
        return out


class TrainingStep(Step):
    """A training job of the training service: its keyword arguments (``algorithm`` or ``script``
    with ``source_bundle``, ``channels``, ``hyperparameters``, ``target``, ...)."""

    type = "Training"

    def __init__(self, name: str, **request: Any) -> None:
        options = {k: request.pop(k) for k in ("depends_on", "display_name", "description", "cache_config", "retry_policies") if k in request}
        super().__init__(name, **options)
        self.request = request

    def arguments(self) -> dict[str, Any]:
        return dict(self.request)


class TransformStep(Step):
    """A batch transform job of a model over a dataset (``ws.transforms.create``'s keyword arguments:
    ``model``, ``dataset``, ``content_type``, ``split_type``, ``join_source``, ...)."""

    type = "Transform"

    def __init__(self, name: str, **request: Any) -> None:
        options = {k: request.pop(k) for k in ("depends_on", "display_name", "description", "cache_config", "retry_policies") if k in request}
        super().__init__(name, **options)
        self.request = request

    def arguments(self) -> dict[str, Any]:
        return dict(self.request)


class RegisterModelStep(Step):
    """Register a training step's model (or a model artifact) as a model package version."""

    type = "RegisterModel"

    def __init__(self, name: str, *, model_package_group_name: Any, training_job: Any = None, artifact: Any = None,
                 approval_status: Any = "PendingManualApproval", description: Any = None, **options: Any) -> None:  # fmt: skip
        super().__init__(name, **options)
        self.args = {"ModelPackageGroupName": model_package_group_name, "TrainingJobName": training_job,
                     "ModelArtifact": artifact, "ModelApprovalStatus": approval_status, "Description": description}  # fmt: skip

    def arguments(self) -> dict[str, Any]:
        return {k: v for k, v in self.args.items() if v is not None}


class ConditionStep(Step):
    """Run ``if_steps`` when every condition holds, else ``else_steps``; exposes ``Outcome``."""

    type = "Condition"

    def __init__(self, name: str, *, conditions: list[Condition], if_steps: list[Step] | None = None,
                 else_steps: list[Step] | None = None, **options: Any) -> None:  # fmt: skip
        super().__init__(name, **options)
        self.conditions = list(conditions)
        self.if_steps = list(if_steps or [])
        self.else_steps = list(else_steps or [])

    def arguments(self) -> dict[str, Any]:
        return {"Conditions": self.conditions}

    def definition(self) -> dict[str, Any]:
        out = super().definition()
        out["Arguments"]["IfSteps"] = [s.definition() for s in self.if_steps]
        out["Arguments"]["ElseSteps"] = [s.definition() for s in self.else_steps]
        return out


class CallbackStep(Step):
    """Wait for an outside system to report success (with output parameters) or failure, by token."""

    type = "Callback"

    def __init__(self, name: str, *, inputs: dict[str, Any] | None = None, outputs: list[str] | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self.inputs = dict(inputs or {})
        self.outputs = list(outputs or [])

    def arguments(self) -> dict[str, Any]:
        return {"Inputs": self.inputs, "OutputParameters": [{"OutputName": o, "OutputType": "String"} for o in self.outputs]}


class FailStep(Step):
    """End the execution as Failed with ``error_message``."""

    type = "Fail"

    def __init__(self, name: str, *, error_message: Any = "", **options: Any) -> None:
        super().__init__(name, **options)
        self.error_message = error_message

    def arguments(self) -> dict[str, Any]:
        return {"ErrorMessage": self.error_message}


def step(fn: Callable[..., Any] | None = None, *, name: str | None = None, outputs: list[str] | None = None,
         cache_config: CacheConfig | None = None, retry_policies: list[RetryPolicy] | None = None) -> Any:  # fmt: skip
    """Decorate a plain function: calling it returns a :class:`ProcessingStep` whose arguments are
    the call's; passing that step to another call references its result (a data dependency)."""

    def wrap(func: Callable[..., Any]) -> Callable[..., ProcessingStep]:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def make(*args: Any, **kwargs: Any) -> ProcessingStep:
            bound = signature.bind_partial(*args, **kwargs)
            return ProcessingStep(name or func.__name__, func, arguments=dict(bound.arguments), outputs=outputs,
                                  cache_config=cache_config, retry_policies=retry_policies)  # fmt: skip

        make.__wrapped_function__ = func  # type: ignore[attr-defined]
        return make

    return wrap(fn) if fn is not None else wrap


class Pipeline:
    """A named pipeline: parameters and steps (steps they reference are collected too)."""

    def __init__(self, name: str, *, parameters: list[Parameter] | None = None, steps: list[Step] | None = None,
                 max_parallel_execution_steps: int | None = None, description: str | None = None) -> None:  # fmt: skip
        self.name = name
        self.parameters = list(parameters or [])
        self.steps = list(steps or [])
        self.max_parallel = max_parallel_execution_steps
        self.description = description

    def _top_level(self) -> list[Step]:
        nested = {id(s) for st in self._all() if isinstance(st, ConditionStep) for s in st.if_steps + st.else_steps}
        return [s for s in self._all() if id(s) not in nested]

    def _all(self) -> list[Step]:
        seen: dict[int, Step] = {}
        todo = list(self.steps)
        while todo:
            s = todo.pop(0)
            if id(s) in seen:
                continue
            seen[id(s)] = s
            todo.extend(s.referenced_steps())
            if isinstance(s, ConditionStep):
                todo.extend(s.if_steps + s.else_steps)
        return list(seen.values())

    def definition(self) -> dict[str, Any]:
        """The definition JSON (``Version 2020-12-01``)."""
        out: dict[str, Any] = {
            "Version": "2020-12-01", "Metadata": {"Description": self.description} if self.description else {},
            "Parameters": [p.definition() for p in self.parameters], "PipelineExperimentConfig": None,
            "Steps": [s.definition() for s in self._top_level()],
        }  # fmt: skip
        if self.max_parallel is not None:
            out["ParallelismConfiguration"] = {"MaxParallelExecutionSteps": self.max_parallel}
        return out


__all__ = ["CallbackStep", "ConditionStep", "FailStep", "Pipeline", "ProcessingStep", "RegisterModelStep", "Step",
           "TrainingStep", "TransformStep", "callable_path", "step"]  # fmt: skip
