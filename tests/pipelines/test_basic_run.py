"""Smoke: a two-step pipeline of callables runs to Succeeded, driven in-process."""

from __future__ import annotations

from pathlib import Path

from forgeml.pipelines import ParameterInteger, Pipeline, ProcessingStep, step
from tests.pipelines import _lib


def test_two_steps(ws, tmp_path: Path) -> None:
    log = str(tmp_path / "log.txt")
    a = ParameterInteger("A", 2)
    first = ProcessingStep("First", _lib.add, arguments={"a": a, "b": 3, "log": log})
    second = ProcessingStep("Second", _lib.add, arguments={"a": first.properties.Result["sum"], "b": 10, "log": log})
    ws.pipelines.create(Pipeline("adder", parameters=[a], steps=[first, second]))
    ex = ws.pipelines.run("adder", {"A": 5}, timeout=120)
    assert ex.status == "Succeeded", ws.pipelines.describe(ex.id)
    steps = {s.step: s for s in ws.pipelines.steps(ex.id)}
    assert steps["Second"].properties["Result"] == {"sum": 18}
    assert Path(log).read_text().splitlines() == ["add 5 3", "add 8 10"]


def test_step_decorator_runs_plain_functions(ws) -> None:
    double = step(_lib.double)
    twice = step(_lib.double, name="twice")
    ws.pipelines.create(Pipeline("decorated", steps=[twice(double(3))]))
    ex = ws.pipelines.run("decorated", timeout=120)
    assert ex.status == "Succeeded", ex.failure_reason
    assert {s.step: s.properties["Result"] for s in ws.pipelines.steps(ex.id)} == {"double": 6, "twice": 12}
