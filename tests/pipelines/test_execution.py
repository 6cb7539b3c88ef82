"""Executions over real job processes: conditions, property files, Fail, callbacks, retries,
caching, stop, retry from the failed step, parallelism, events and lineage."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgeml.errors import ConflictError, NotFoundError, ValidationError
from forgeml.pipelines import (
    CacheConfig,
    CallbackStep,
    ConditionGreaterThanOrEqualTo,
    ConditionIn,
    ConditionNot,
    ConditionStep,
    ExecutionVariables,
    FailStep,
    Join,
    JsonGet,
    ParameterFloat,
    ParameterString,
    Pipeline,
    ProcessingStep,
    PropertyFile,
    RetryPolicy,
)
from tests.pipelines import _lib


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _gated(threshold: float, log: str) -> Pipeline:
    t = ParameterFloat("Threshold", threshold)
    pf = PropertyFile("Eval", "report", "evaluation.json")
    rep = ProcessingStep("Report", _lib.report, arguments={"value": 0.75}, outputs=["report"], property_files=[pf])
    good = ProcessingStep("Good", _lib.add, arguments={"a": 1, "b": 1, "log": log})
    bad = FailStep("Bad", error_message=Join(["score below", t], on=" "))
    cond = ConditionStep("Check", conditions=[ConditionGreaterThanOrEqualTo(JsonGet(rep, pf, "metrics.score.value"), t),
                                              ConditionNot(ConditionIn(ExecutionVariables.PIPELINE_NAME, ["other"]))],
                         if_steps=[good], else_steps=[bad])  # fmt: skip
    return Pipeline("gated", parameters=[t], steps=[rep, cond])


def test_condition_takes_one_side(ws, tmp_path: Path) -> None:
    log = tmp_path / "log"
    ws.pipelines.create(_gated(0.5, str(log)))
    ex = ws.pipelines.run("gated", timeout=120)
    assert ex.status == "Succeeded"
    described = {s["step"]: s for s in ws.pipelines.describe(ex.id)["steps"]}
    assert described["Check"]["properties"] == {"Outcome": True}
    assert described["Good"]["status"] == "Succeeded" and described["Bad"]["status"] == "NotExecuted"
    assert described["Report"]["properties"]["PropertyFiles"]["Eval"]["items"] == [1, 2]
    assert described["Report"]["properties"]["Outputs"]["report"].startswith("artifact/")
    assert _lines(log) == ["add 1 1"]


def test_fail_step_fails_the_execution_with_its_message(ws, tmp_path: Path) -> None:
    ws.pipelines.create(_gated(0.5, str(tmp_path / "log")))
    ex = ws.pipelines.run("gated", {"Threshold": 0.9}, timeout=120)
    assert ex.status == "Failed" and ex.failure_reason == "score below 0.9"
    described = {s["step"]: s["status"] for s in ws.pipelines.describe(ex.id)["steps"]}
    assert described == {"Report": "Succeeded", "Check": "Succeeded", "Bad": "Failed", "Good": "NotExecuted"}
    events = [e for e in ws.metadata.list_events(resource=f"pipeline/gated/execution/{ex.id}") if e.type == "PipelineExecutionStatusChange"]
    assert [e.data["currentPipelineExecutionStatus"] for e in events] == ["Executing", "Failed"]


def test_a_failing_step_names_itself_and_its_error(ws) -> None:
    ws.pipelines.create(Pipeline("boom", steps=[ProcessingStep("Explode", _lib.boom, arguments={"message": "no rows"})]))
    ex = ws.pipelines.run("boom", timeout=120)
    assert ex.status == "Failed"
    assert ex.failure_reason == "Step failure: Explode: ValueError: no rows"
    [row] = ws.pipelines.steps(ex.id)
    assert row.attempt == 1  # an error of the step itself is never retried


def test_callback_waits_for_success_and_its_outputs(ws, tmp_path: Path) -> None:
    log = tmp_path / "log"
    cb = CallbackStep("Approve", inputs={"who": ParameterString("Who", "ops")}, outputs=["ticket"])
    after = ProcessingStep("After", _lib.add, arguments={"a": 1, "b": 2, "log": Join([str(log)])}, depends_on=[cb])
    ws.pipelines.create(Pipeline("cb", parameters=[ParameterString("Who", "ops")], steps=[cb, after]))
    ex = ws.pipelines.start("cb")
    ws.pipelines.tick()
    [msg] = [e for e in ws.metadata.list_events(resource=ex.ref) if e.type == "PipelineCallback"]
    assert msg.data["arguments"] == {"who": "ops"} and msg.data["outputParameters"] == ["ticket"]
    ws.pipelines.tick()
    assert ws.pipelines.execution(ex.id).status == "Executing" and not log.exists()
    with pytest.raises(ValidationError, match="no output parameter 'nope'"):
        ws.pipelines.send_step_success(msg.data["token"], {"nope": "1"})
    with pytest.raises(NotFoundError):
        ws.pipelines.send_step_success("not-a-token")
    ws.pipelines.send_step_success(msg.data["token"], {"ticket": "T-1"})
    with pytest.raises(ConflictError):
        ws.pipelines.send_step_failure(msg.data["token"], "late")
    done = ws.pipelines.wait(ex.id, timeout=120)
    assert done.status == "Succeeded"
    steps = {s.step: s for s in ws.pipelines.steps(ex.id)}
    assert steps["Approve"].properties == {"OutputParameters": [{"Name": "ticket", "Value": "T-1"}]}
    assert _lines(log) == ["add 1 2"]


def test_callback_failure_and_stop(ws) -> None:
    ws.pipelines.create(Pipeline("cb2", steps=[CallbackStep("Wait")]))
    ex = ws.pipelines.start("cb2")
    ws.pipelines.tick()
    ws.pipelines.send_step_failure(ws.pipelines.callback_token(ex.id, "Wait"), "rejected by ops")
    assert ws.pipelines.wait(ex.id, timeout=60).failure_reason == "Step failure: Wait: rejected by ops"
    ex = ws.pipelines.start("cb2")
    ws.pipelines.tick()
    ws.pipelines.stop(ex.id)
    ws.pipelines.tick()
    assert ws.pipelines.execution(ex.id).status == "Stopping"  # until the receiver answers
    stopping = [e.data for e in ws.metadata.list_events(resource=ex.ref) if e.type == "PipelineCallback" and e.data.get("Status") == "Stopping"]
    assert len(stopping) == 1
    ws.pipelines.send_step_success(ws.pipelines.callback_token(ex.id, "Wait"))
    assert ws.pipelines.wait(ex.id, timeout=60).status == "Stopped"
    with pytest.raises(ConflictError):
        ws.pipelines.stop(ex.id)


def test_retry_policy_retries_its_exception_types(ws, tmp_path: Path) -> None:
    log = tmp_path / "log"
    policy = RetryPolicy(["SageMaker.JOB_INTERNAL_ERROR"], interval_seconds=1, backoff_rate=1.0, max_attempts=2)
    ws.pipelines.create(Pipeline("flaky", steps=[ProcessingStep("F", _lib.flaky, arguments={"log": str(log), "failures": 2}, retry_policies=[policy])]))
    ex = ws.pipelines.run("flaky", timeout=120)
    assert ex.status == "Succeeded"
    [row] = ws.pipelines.steps(ex.id)
    assert row.attempt == 3 and row.properties["Result"] == {"attempts": 3}
    assert [a["exception_type"] for a in row.data["attempts"]] == ["SageMaker.JOB_INTERNAL_ERROR"] * 2
    # one retry too few: the step fails with the last reason
    log.unlink()
    policy = RetryPolicy(["SageMaker.JOB_INTERNAL_ERROR"], interval_seconds=1, backoff_rate=1.0, max_attempts=1)
    ws.pipelines.create(Pipeline("flaky", steps=[ProcessingStep("F", _lib.flaky, arguments={"log": str(log), "failures": 2}, retry_policies=[policy])]))
    ex = ws.pipelines.run("flaky", timeout=120)
    assert ex.status == "Failed" and "attempt 2 failed" in ex.failure_reason
    assert _lines(log) == ["flaky", "flaky"]


def test_exception_types_a_policy_does_not_list_are_not_retried(ws, tmp_path: Path) -> None:
    log = tmp_path / "log"
    policy = RetryPolicy(["Step.THROTTLING"], interval_seconds=1, max_attempts=3)
    args = {"log": str(log), "failures": 1, "kind": "SageMaker.RESOURCE_LIMIT"}
    ws.pipelines.create(Pipeline("nr", steps=[ProcessingStep("F", _lib.flaky, arguments=args, retry_policies=[policy])]))
    assert ws.pipelines.run("nr", timeout=120).status == "Failed"
    assert _lines(log) == ["flaky"]


def test_retry_of_a_failed_execution_starts_at_the_failed_step(ws, tmp_path: Path) -> None:
    log = tmp_path / "log"
    first = ProcessingStep("First", _lib.add, arguments={"a": 1, "b": 1, "log": str(log)})
    second = ProcessingStep("Second", _lib.flaky, arguments={"log": str(log), "failures": 1, "kind": "SageMaker.RESOURCE_LIMIT"}, depends_on=[first])
    ws.pipelines.create(Pipeline("again", steps=[first, second]))
    ex = ws.pipelines.run("again", timeout=120)
    assert ex.status == "Failed"
    with pytest.raises(ConflictError):
        ws.pipelines.retry(ws.pipelines.start("again").id)
    ws.pipelines.retry(ex.id)
    assert ws.pipelines.wait(ex.id, timeout=120).status == "Succeeded"
    assert _lines(log)[:3] == ["add 1 1", "flaky", "flaky"]
    steps = {s.step: s for s in ws.pipelines.steps(ex.id)}
    assert steps["First"].attempt == 1 and steps["Second"].attempt == 2


def test_caching_reuses_only_successful_runs_of_the_same_pipeline(ws, tmp_path: Path) -> None:
    log = tmp_path / "log"

    def pipe(name: str, b: int, expire: str = "PT1H") -> Pipeline:
        return Pipeline(name, steps=[ProcessingStep("A", _lib.add, arguments={"a": 1, "b": b, "log": str(log)},
                                                    cache_config=CacheConfig(True, expire), display_name=f"b={b}")])  # fmt: skip

    ws.pipelines.create(pipe("cached", 1))
    one = ws.pipelines.run("cached", timeout=120)
    two = ws.pipelines.run("cached", timeout=120)
    assert (one.status, two.status) == ("Succeeded", "Succeeded")
    hit = ws.pipelines.steps(two.id)[0]
    assert hit.cache_hit == {"SourcePipelineExecutionArn": one.arn} and hit.properties["Result"] == {"sum": 2}
    assert _lines(log) == ["add 1 1"]
    ws.pipelines.create(pipe("cached", 1, "PT2H"))  # a new version, other attributes: still a hit
    ws.pipelines.run("cached", timeout=120)
    assert _lines(log) == ["add 1 1"]
    ws.pipelines.create(pipe("cached", 2))  # a cache-key attribute changed: runs
    ws.pipelines.run("cached", timeout=120)
    ws.pipelines.create(pipe("other", 1))  # another pipeline: runs
    ws.pipelines.run("other", timeout=120)
    assert _lines(log) == ["add 1 1", "add 1 2", "add 1 1"]


def test_max_parallel_execution_steps(ws, tmp_path: Path) -> None:
    log = tmp_path / "log"
    steps = [ProcessingStep(f"S{i}", _lib.slow, arguments={"seconds": 0.5, "log": str(log), "label": f"s{i}"}) for i in range(3)]
    ws.pipelines.create(Pipeline("par", steps=steps, max_parallel_execution_steps=1))
    assert ws.pipelines.run("par", timeout=180).status == "Succeeded"
    lines = _lines(log)
    starts = [i for i, line in enumerate(lines) if " start " in line]
    ends = [i for i, line in enumerate(lines) if line.endswith(" end")]
    assert all(e < s for e, s in zip(ends, starts[1:], strict=False))  # never two running at once


def test_stop_stops_running_jobs(ws, tmp_path: Path) -> None:
    log = tmp_path / "log"
    first = ProcessingStep("Long", _lib.slow, arguments={"seconds": 60, "log": str(log)})
    after = ProcessingStep("After", _lib.add, arguments={"a": 1, "b": 1, "log": str(log)}, depends_on=[first])
    ws.pipelines.create(Pipeline("stopme", steps=[first, after]))
    ex = ws.pipelines.start("stopme")
    ws.pipelines.tick()
    import time

    while "slow start" not in log.read_text() if log.exists() else True:
        time.sleep(0.1)
    ws.pipelines.stop(ex.id)
    done = ws.pipelines.wait(ex.id, timeout=60)
    assert done.status == "Stopped"
    [row] = ws.pipelines.steps(ex.id)
    assert row.status == "Stopped" and ws.jobs.get(row.job).status == "Stopped"
    assert "add 1 1" not in _lines(log)


def test_lineage_links_steps_and_outputs(ws, tmp_path: Path) -> None:
    make = ProcessingStep("Make", _lib.make_loans, arguments={"n": 50})
    ws.pipelines.create(Pipeline("lin", steps=[make]))
    ex = ws.pipelines.run("lin", timeout=120)
    [row] = ws.pipelines.steps(ex.id)
    dataset = row.properties["Outputs"]["train"]
    assert dataset == "dataset/lin-make-train:1"
    edges = {(e.src, e.dst) for e in ws.metadata.list_edges(src=f"job/{row.job}")}
    assert (f"job/{row.job}", dataset) in edges
    assert any(e.dst == f"job/{row.job}" for e in ws.metadata.list_edges(src=ex.ref))
