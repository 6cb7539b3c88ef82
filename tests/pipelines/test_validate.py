"""Definition-time errors: each a one-line ValidationError naming the step and field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from forgeml.errors import ValidationError
from forgeml.pipelines import (
    CacheConfig,
    ConditionGreaterThan,
    ConditionStep,
    FailStep,
    JsonGet,
    ParameterInteger,
    ParameterString,
    Pipeline,
    ProcessingStep,
    PropertyFile,
    RetryPolicy,
    compile_definition,
    step,
)
from forgeml.pipelines._duration import parse_duration
from tests.pipelines import _lib


def _proc(name: str, **args: Any) -> dict[str, Any]:
    return {"Name": name, "Type": "Processing", "Arguments": {"Callable": "tests.pipelines._lib:add", "Inputs": args}}


def _definition(*steps: dict[str, Any], params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"Version": "2020-12-01", "Parameters": params or [], "Steps": list(steps)}


def _error(definition: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        compile_definition(definition)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_good_definition_orders_its_steps() -> None:
    d = _definition(_proc("B", a={"Get": "Steps.A.Result['sum']"}, b=1), _proc("A", a=1, b=2), {**_proc("C", a=1, b=1), "DependsOn": ["B"]})
    graph = compile_definition(d)
    assert graph.order.index("A") < graph.order.index("B") < graph.order.index("C")
    assert graph.deps["B"] == {"A"} and graph.deps["C"] == {"B"}


def test_cycles_are_named() -> None:
    d = _definition(_proc("A", a={"Get": "Steps.B.Result"}, b=1), _proc("B", a={"Get": "Steps.A.Result"}, b=1))
    assert "cycle" in _error(d) and "A" in _error(d) and "B" in _error(d)
    assert "cycle: S -> S" in _error(_definition({**_proc("S", a=1, b=1), "DependsOn": ["S"]}))


@pytest.mark.parametrize(("ref", "words"), [
    ({"Get": "Steps.Nope.Result"}, "unknown step 'Nope'"),
    ({"Get": "Steps.A.ModelArtifacts.S3ModelArtifacts"}, "Processing step 'A' has no property 'ModelArtifacts'"),
    ({"Get": "Parameters.Missing"}, "unknown parameter 'Missing'"),
    ({"Get": "Execution.Tomorrow"}, "unknown execution variable 'Tomorrow'"),
    ({"Std:JsonGet": {"PropertyFile": {"Get": "Steps.A.PropertyFiles.nope"}, "Path": "x"}}, "no property file 'nope'"),
])  # fmt: skip
def test_unknown_references(ref: dict[str, Any], words: str) -> None:
    message = _error(_definition(_proc("A", a=1, b=2), _proc("B", a=ref, b=1)))
    assert words in message and "step 'B'" in message


def test_wrong_parameter_types() -> None:
    assert "DefaultValue 'x' is not a Integer" in _error(_definition(_proc("A", a=1, b=1), params=[{"Name": "N", "Type": "Integer", "DefaultValue": "x"}]))
    assert "Type must be one of" in _error(_definition(_proc("A", a=1, b=1), params=[{"Name": "N", "Type": "Date"}]))
    p = ParameterString("Kind", "a")
    cond = ConditionStep("Check", conditions=[ConditionGreaterThan(p, 3)], if_steps=[FailStep("F", error_message="x")])
    assert "GreaterThan compares numbers but parameter 'Kind' is a String" in _error(Pipeline("p", parameters=[p], steps=[cond]).definition())


def test_nested_conditions_and_shared_branch_steps() -> None:
    fail = FailStep("F", error_message="no")
    inner = ConditionStep("Inner", conditions=[ConditionGreaterThan(1, 0)], if_steps=[fail])
    outer = ConditionStep("Outer", conditions=[ConditionGreaterThan(1, 0)], if_steps=[inner])
    assert "condition step 'Inner' is nested in condition 'Outer'" in _error(Pipeline("p", steps=[outer]).definition())
    both = ConditionStep("C", conditions=[ConditionGreaterThan(1, 0)], if_steps=[fail], else_steps=[FailStep("F", error_message="no")])
    assert "step 'F' is in both the IfSteps and the ElseSteps of condition 'C'" in _error(Pipeline("p", steps=[both]).definition())


def test_retry_policies() -> None:
    bad = ProcessingStep("A", _lib.add, arguments={"a": 1, "b": 2},
                         retry_policies=[RetryPolicy(["SageMaker.JOB_INTERNAL_ERROR"], max_attempts=3, expire_after_mins=5)])  # fmt: skip
    assert "set MaxAttempts or ExpireAfterMin, not both" in _error(Pipeline("p", steps=[bad]).definition())
    d = _definition({**_proc("A", a=1, b=1), "RetryPolicies": [{"ExceptionType": ["Step.OOPS"], "MaxAttempts": 2}]})
    assert "unknown 'Step.OOPS'" in _error(d)
    d = _definition({**_proc("A", a=1, b=1), "RetryPolicies": [{"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": 21}]})
    assert "MaxAttempts must be an integer in [1, 20]" in _error(d)
    d = _definition({"Name": "F", "Type": "Fail", "Arguments": {}, "RetryPolicies": [{"ExceptionType": ["Step.THROTTLING"]}]})
    assert "retry policies apply to" in _error(d)


def test_cache_config_and_durations() -> None:
    d = _definition({**_proc("A", a=1, b=1), "CacheConfig": {"Enabled": True, "ExpireAfter": "one hour"}})
    assert "ExpireAfter" in _error(d) and "ISO-8601" in _error(d)
    assert parse_duration("PT1H") == 3600 and parse_duration("P30D") == 30 * 86400 and parse_duration("30d") == 30 * 86400
    assert parse_duration("P1DT2H3M4S") == 86400 + 2 * 3600 + 3 * 60 + 4 and parse_duration("P2W") == 14 * 86400
    for bad in ("P", "PT", "1H", "P1H", "PT0S", ""):
        with pytest.raises(ValidationError):
            parse_duration(bad)
    ok = ProcessingStep("A", _lib.add, arguments={"a": 1, "b": 2}, cache_config=CacheConfig(True, "PT12H"))
    assert compile_definition(Pipeline("p", steps=[ok]).definition()).steps["A"]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "PT12H"}


def test_shapes() -> None:
    assert "Type must be one of" in _error(_definition({"Name": "A", "Type": "Lambda", "Arguments": {}}))
    assert "defined twice" in _error(_definition(_proc("A", a=1, b=1), _proc("A", a=1, b=1)))
    assert "Name must match" in _error(_definition(_proc("bad name", a=1, b=1)))
    assert "at least one step" in _error(_definition())
    d = _definition({"Name": "A", "Type": "Processing", "Arguments": {"Callable": "no colon"}})
    assert "Callable must be 'package.module:function'" in _error(d)
    d = _definition({"Name": "T", "Type": "Training", "Arguments": {"algorithm": "xgboost", "channels": {"train": "d"}, "colour": 1}})
    assert "unknown training argument 'colour'" in _error(d)
    d = _definition({"Name": "X", "Type": "Transform", "Arguments": {"model": "m:1", "dataset": "d", "output_path": "/tmp/x"}})
    assert "unknown transform argument 'output_path'" in _error(d)
    assert "model and dataset are required" in _error(_definition({"Name": "X", "Type": "Transform", "Arguments": {"model": "m:1"}}))


def test_python_and_yaml_make_the_same_definition(ws) -> None:
    n = ParameterInteger("N", 3)
    pf = PropertyFile("Eval", "report", "evaluation.json")
    rep = ProcessingStep("Report", _lib.report, arguments={"value": 0.9}, outputs=["report"], property_files=[pf])
    cond = ConditionStep("Good", conditions=[ConditionGreaterThan(JsonGet(rep, pf, "metrics.score.value"), 0.5)],
                         if_steps=[ProcessingStep("Add", _lib.add, arguments={"a": n, "b": 1})], else_steps=[FailStep("Bad", error_message="low")])  # fmt: skip
    python = Pipeline("same", parameters=[n], steps=[rep, cond]).definition()
    import yaml

    text = yaml.safe_dump({"Name": "same", **copy.deepcopy(python)})
    a = ws.pipelines.create(Pipeline("same", parameters=[n], steps=[rep, cond]))
    b = ws.pipelines.create(text)
    assert (a.version, b.version) == (1, 2) and a.spec["definition"] == b.spec["definition"]
    assert ws.pipelines.get("pipeline/same:1").version == 1 and ws.pipelines.get("same").version == 2


def test_step_decorator_links_results() -> None:
    add = step(_lib.add)
    first = add(1, 2)
    second = step(_lib.add, name="again")(first, 5)
    definition = Pipeline("dec", steps=[second]).definition()  # the first step is collected from the reference
    names = [s["Name"] for s in definition["Steps"]]
    assert sorted(names) == ["add", "again"]
    graph = compile_definition(definition)
    assert graph.deps["again"] == {"add"}
    assert graph.steps["again"]["Arguments"]["Inputs"]["a"] == {"Get": "Steps.add.Result"}


def test_bad_parameter_values_at_start(ws) -> None:
    ws.pipelines.create(Pipeline("p", parameters=[ParameterInteger("N", 1)], steps=[ProcessingStep("A", _lib.add, arguments={"a": ParameterInteger("N"), "b": 1})]))
    with pytest.raises(ValidationError, match="parameter 'N': 'x' is not a Integer"):
        ws.pipelines.start("p", {"N": "x"})
    with pytest.raises(ValidationError, match="has no parameter 'M'"):
        ws.pipelines.start("p", {"M": 1})
    with pytest.raises(ValidationError, match="is not a Integer"):
        ws.pipelines.start("p", {"N": True})
