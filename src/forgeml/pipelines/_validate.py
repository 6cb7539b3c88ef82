"""Definition-time checks: every error is one line naming the step and field, before anything runs.

:func:`compile_definition` turns definition JSON into a :class:`Graph` (every step, nested branch
steps included, with its dependencies) or raises ``ValidationError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from forgeml.errors import ValidationError
from forgeml.pipelines._duration import parse_duration
from forgeml.pipelines._model import EXCEPTION_TYPES, EXECUTION_VARIABLES, PARAMETER_TYPES

NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
STEP_TYPES = ("Processing", "Training", "Transform", "RegisterModel", "Condition", "Callback", "Fail")
RETRYABLE = ("Processing", "Training", "Tuning", "CreateModel", "RegisterModel", "Transform")
CACHEABLE = ("Processing", "Training", "Tuning", "Transform", "QualityCheck", "ClarifyCheck", "AutoML", "EMR")
PROPERTIES: dict[str, tuple[str, ...]] = {
    "Processing": ("ProcessingJobName", "ProcessingJobStatus", "ProcessingOutputConfig", "Outputs", "Result", "PropertyFiles"),
    "Training": ("TrainingJobName", "TrainingJobStatus", "ModelArtifacts", "FinalMetricDataList", "HyperParameters",
                 "SecondaryStatus", "AlgorithmSpecification", "InputDataConfig"),
    "Transform": ("TransformJobName", "TransformJobStatus", "TransformOutput", "Report"),
    "RegisterModel": ("ModelPackageArn", "ModelPackageGroupName", "ModelPackageVersion", "ModelApprovalStatus"),
    "Condition": ("Outcome",),
    "Callback": ("OutputParameters",),
    "Fail": (),
}  # fmt: skip
CONDITIONS = ("Equals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo", "In", "Not", "Or")
NUMERIC = ("GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo")


@dataclass
class Graph:
    """A checked definition: steps by name, dependencies, and which condition branch holds a step."""

    definition: dict[str, Any]
    parameters: dict[str, dict[str, Any]]
    steps: dict[str, dict[str, Any]]
    deps: dict[str, set[str]] = field(default_factory=dict)
    branch: dict[str, tuple[str, bool]] = field(default_factory=dict)  # step -> (condition, outcome)
    order: list[str] = field(default_factory=list)

    @property
    def max_parallel(self) -> int | None:
        cfg = self.definition.get("ParallelismConfiguration") or {}
        return cfg.get("MaxParallelExecutionSteps")


def _refs(value: Any, where: str) -> list[tuple[str, str]]:
    """Every ``Get`` path in a value, with the field it sits in."""
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        if set(value) == {"Get"}:
            if not isinstance(value["Get"], str):
                raise ValidationError(f"{where}: Get must be a string path")
            return [(value["Get"], where)]
        for k, v in value.items():
            out.extend(_refs(v, f"{where}.{k}"))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_refs(v, f"{where}[{i}]"))
    return out


def _param_type_ok(kind: str, value: Any) -> bool:
    py = PARAMETER_TYPES[kind]
    if py is bool or kind == "String":
        return isinstance(value, py)
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if py is int else isinstance(value, int | float)


def check_parameters(params: list[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(params, list):
        raise ValidationError("Parameters must be a list")
    for p in params:
        if not isinstance(p, dict) or not NAME.match(str(p.get("Name", ""))):
            raise ValidationError(f"parameter {p!r}: Name must match [A-Za-z0-9-_]{{1,64}}")
        name, kind = p["Name"], p.get("Type", "String")
        if kind not in PARAMETER_TYPES:
            raise ValidationError(f"parameter {name!r}: Type must be one of {', '.join(PARAMETER_TYPES)}, got {kind!r}")
        if name in out:
            raise ValidationError(f"parameter {name!r} is defined twice")
        if p.get("DefaultValue") is not None and not _param_type_ok(kind, p["DefaultValue"]):
            raise ValidationError(f"parameter {name!r}: DefaultValue {p['DefaultValue']!r} is not a {kind}")
        out[name] = p
    return out


def check_value(param: dict[str, Any], value: Any) -> Any:
    """An execution's value for a parameter, type-checked (integers accepted for Float)."""
    kind = param.get("Type", "String")
    if not _param_type_ok(kind, value):
        raise ValidationError(f"parameter {param['Name']!r}: {value!r} is not a {kind}")
    if param.get("EnumValues") and value not in param["EnumValues"]:
        raise ValidationError(f"parameter {param['Name']!r}: {value!r} is not one of {param['EnumValues']}")
    return float(value) if kind == "Float" else value


def _check_retry(step: dict[str, Any]) -> None:
    name = step["Name"]
    policies = step.get("RetryPolicies") or []
    if policies and step["Type"] not in RETRYABLE:
        raise ValidationError(f"step {name!r}: retry policies apply to {', '.join(RETRYABLE)} steps, not {step['Type']}")
    for i, p in enumerate(policies):
        where = f"step {name!r} RetryPolicies[{i}]"
        if not isinstance(p, dict):
            raise ValidationError(f"{where} must be an object")
        if p.get("MaxAttempts") is not None and p.get("ExpireAfterMin") is not None:
            raise ValidationError(f"{where}: set MaxAttempts or ExpireAfterMin, not both")
        kinds = p.get("ExceptionType") or []
        bad = [k for k in kinds if k not in EXCEPTION_TYPES]
        if not kinds or bad:
            raise ValidationError(f"{where}: ExceptionType must list some of {', '.join(EXCEPTION_TYPES)}" + (f" (unknown {bad[0]!r})" if bad else ""))
        for key, lo, hi in (("IntervalSeconds", 1, 43200), ("MaxAttempts", 1, 20), ("ExpireAfterMin", 1, 14400)):
            v = p.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi):
                raise ValidationError(f"{where}: {key} must be an integer in [{lo}, {hi}], got {v!r}")
        rate = p.get("BackoffRate", 2.0)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 1:
            raise ValidationError(f"{where}: BackoffRate must be a number >= 1, got {rate!r}")


def _check_cache(step: dict[str, Any]) -> None:
    cfg = step.get("CacheConfig")
    if cfg is None:
        return
    if not isinstance(cfg, dict) or not isinstance(cfg.get("Enabled", False), bool):
        raise ValidationError(f"step {step['Name']!r}: CacheConfig must be {{Enabled: bool, ExpireAfter: ISO-8601 duration}}")
    if cfg.get("Enabled") and step["Type"] not in CACHEABLE:
        raise ValidationError(f"step {step['Name']!r}: {step['Type']} steps cannot be cached")
    if cfg.get("ExpireAfter") is not None:
        try:
            parse_duration(cfg["ExpireAfter"])
        except ValidationError as exc:
            raise ValidationError(f"step {step['Name']!r} CacheConfig.ExpireAfter: {exc}") from None


def _flatten(steps: list[Any], graph: Graph, inside: str | None, outcome: bool = True) -> None:
    if not isinstance(steps, list):
        raise ValidationError("Steps must be a list")
    for s in steps:
        if not isinstance(s, dict) or not NAME.match(str(s.get("Name", ""))):
            raise ValidationError(f"step {str(s)[:60]}: Name must match [A-Za-z0-9-_]{{1,64}}")
        name = s["Name"]
        if s.get("Type") not in STEP_TYPES:
            raise ValidationError(f"step {name!r}: Type must be one of {', '.join(STEP_TYPES)}, got {s.get('Type')!r}")
        if name in graph.steps:
            if inside is not None and name in graph.branch and graph.branch[name][0] == inside:
                raise ValidationError(f"step {name!r} is in both the IfSteps and the ElseSteps of condition {inside!r}")
            raise ValidationError(f"step {name!r} is defined twice (a step may be in at most one branch)")
        if not isinstance(s.get("Arguments", {}), dict):
            raise ValidationError(f"step {name!r}: Arguments must be an object")
        graph.steps[name] = s
        if inside is not None:
            graph.branch[name] = (inside, outcome)
        if s["Type"] == "Condition":
            if inside is not None:
                raise ValidationError(f"condition step {name!r} is nested in condition {inside!r}: conditions cannot be nested")
            args = s.get("Arguments", {})
            _flatten(args.get("IfSteps") or [], graph, name, True)
            _flatten(args.get("ElseSteps") or [], graph, name, False)


def _check_ref(path: str, where: str, graph: Graph) -> str | None:
    """Check one ``Get`` path; the step it makes ``where`` depend on, if any."""
    head, _, rest = path.partition(".")
    if head == "Parameters":
        if rest not in graph.parameters:
            raise ValidationError(f"{where}: unknown parameter {rest!r}")
        return None
    if head == "Execution":
        if rest not in EXECUTION_VARIABLES:
            raise ValidationError(f"{where}: unknown execution variable {rest!r} (expected one of {', '.join(EXECUTION_VARIABLES)})")
        return None
    if head == "PipelineExperimentConfig":
        return None
    if head != "Steps":
        raise ValidationError(f"{where}: cannot resolve {path!r} (expected Parameters.*, Execution.* or Steps.*)")
    step, _, prop = rest.partition(".")
    if step not in graph.steps:
        raise ValidationError(f"{where}: unknown step {step!r}")
    root = re.split(r"[.\[]", prop, maxsplit=1)[0]
    kind = graph.steps[step]["Type"]
    if root not in PROPERTIES[kind]:
        allowed = ", ".join(PROPERTIES[kind]) or "none"
        raise ValidationError(f"{where}: {kind} step {step!r} has no property {root or prop!r} (it has: {allowed})")
    if root == "PropertyFiles":
        files = [f.get("PropertyFileName") for f in graph.steps[step].get("PropertyFiles") or []]
        wanted = prop.split(".")[1] if "." in prop else ""
        if wanted not in files:
            raise ValidationError(f"{where}: step {step!r} has no property file {wanted!r}")
    return step


def _check_conditions(name: str, conds: Any, graph: Graph, where: str) -> None:
    if not isinstance(conds, list) or not conds:
        raise ValidationError(f"{where}: Conditions must be a non-empty list")
    for i, c in enumerate(conds):
        at = f"{where}[{i}]"
        kind = c.get("Type") if isinstance(c, dict) else None
        if kind not in CONDITIONS:
            raise ValidationError(f"{at}: Type must be one of {', '.join(CONDITIONS)}, got {kind!r}")
        if kind == "Not":
            _check_conditions(name, [c.get("Condition")], graph, f"{at}.Condition")
        elif kind == "Or":
            _check_conditions(name, c.get("Conditions"), graph, f"{at}.Conditions")
        elif kind == "In":
            if "QueryValue" not in c or not isinstance(c.get("Values"), list):
                raise ValidationError(f"{at}: In needs QueryValue and a list of Values")
        else:
            if "LeftValue" not in c or "RightValue" not in c:
                raise ValidationError(f"{at}: {kind} needs LeftValue and RightValue")
            if kind in NUMERIC:
                for side in ("LeftValue", "RightValue"):
                    v = c[side]
                    path = v.get("Get", "") if isinstance(v, dict) else ""
                    if path.startswith("Parameters.") and graph.parameters.get(path[11:], {}).get("Type") in ("String", "Boolean"):
                        raise ValidationError(f"{at}.{side}: {kind} compares numbers but parameter {path[11:]!r} is a {graph.parameters[path[11:]]['Type']}")
                    if isinstance(v, str | bool):
                        raise ValidationError(f"{at}.{side}: {kind} compares numbers, got {v!r}")


def _cycle(graph: Graph) -> list[str]:
    """A topological order, or raise naming a cycle."""
    state: dict[str, int] = {}
    order: list[str] = []

    def visit(n: str, path: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            loop = [*path[path.index(n):], n]
            raise ValidationError(f"the steps form a cycle: {' -> '.join(loop)}")
        state[n] = 1
        for d in sorted(graph.deps[n]):
            visit(d, [*path, n])
        state[n] = 2
        order.append(n)

    for n in graph.steps:
        visit(n, [])
    return order


def compile_definition(definition: Any) -> Graph:
    """Check a definition and build its graph.

    Raises:
        ValidationError: the first problem found, in one line naming the step and field.
    """
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        raise ValidationError("a pipeline definition is an object with a Steps list")
    graph = Graph(definition, check_parameters(definition.get("Parameters") or []), {})
    _flatten(definition["Steps"], graph, None)
    if not graph.steps:
        raise ValidationError("a pipeline needs at least one step")
    par = definition.get("ParallelismConfiguration")
    if par is not None:
        v = par.get("MaxParallelExecutionSteps") if isinstance(par, dict) else None
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValidationError(f"ParallelismConfiguration.MaxParallelExecutionSteps must be a positive integer, got {v!r}")
    for name, s in graph.steps.items():
        _check_retry(s)
        _check_cache(s)
        deps: set[str] = set()
        args = dict(s.get("Arguments") or {})
        if s["Type"] == "Condition":
            _check_conditions(name, args.get("Conditions"), graph, f"step {name!r} Conditions")
            args = {"Conditions": args.get("Conditions")}
        for path, where in _refs(args, f"step {name!r} Arguments"):
            dep = _check_ref(path, where, graph)
            if dep is not None:
                deps.add(dep)
        for d in s.get("DependsOn") or []:
            if d not in graph.steps:
                raise ValidationError(f"step {name!r} DependsOn: unknown step {d!r}")
            deps.add(d)
        if name in graph.branch:
            deps.add(graph.branch[name][0])
        graph.deps[name] = deps
        from forgeml.pipelines._kinds import check_arguments

        check_arguments(s)
    graph.order = _cycle(graph)
    return graph


__all__ = ["CACHEABLE", "NAME", "RETRYABLE", "STEP_TYPES", "Graph", "check_parameters", "check_value", "compile_definition"]
