"""In-process tuning (``ws.tuning.optimize``): a Python objective tuned in this process, recorded
as a tuning job with one experiment run per trial."""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import AlreadyExistsError, JobFailedError, ValidationError
from forgeml.tuning import Trial, TrialStopped
from forgeml.tuning.synthetic import loss

MIN_LOSS = {"metric": "validation:loss", "type": "Minimize"}
XY = {
    "x": {"type": "Continuous", "min": -4, "max": 4},
    "y": {"type": "Integer", "min": -3, "max": 3},
    "shape": {"type": "Categorical", "values": ["round", "flat", "tilted"]},
}


def bowl(trial: Trial) -> float:
    return loss(trial.params["x"], trial.params["y"], trial.params["shape"])


def test_bayesian_parallel_trials_are_runs_and_best_is_named(ws: Workspace) -> None:
    threads: set[str] = set()

    def objective(trial: Trial) -> float:
        threads.add(threading.current_thread().name)
        time.sleep(0.01)
        return bowl(trial)

    seen: list[dict] = []
    result = ws.tuning.optimize(objective, "inproc", strategy="Bayesian", objective=MIN_LOSS, parameter_ranges=XY,
                                static_hyperparameters={"steps": 1}, max_jobs=12, max_parallel_jobs=2, random_seed=3,
                                progress=seen.append)  # fmt: skip
    trials = result["trials"]
    assert result["status"] == "Completed" and len(trials) == 12 and len(seen) == 12
    assert len(threads) == 2  # two trials at a time, in threads of this process
    assert result["counters"]["training_jobs"]["Completed"] == 12
    for t in trials:
        assert t["objective"] == pytest.approx(loss(t["params"]["x"], t["params"]["y"], t["params"]["shape"]))
        assert t["training_job"] is None and t["run"] == f"inproc/inproc-{t['number']:03d}"
    best = min(trials, key=lambda t: t["objective"])
    assert result["best"]["number"] == best["number"] and result["best_training_job"] is None
    # the job record, the trial runs and the tuning job's own run
    job = ws.jobs.get("inproc")
    assert job.kind == "tuning" and job.status == "Completed" and job.config["in_process"] is True
    assert job.entrypoint.endswith("objective")
    runs = {r.name: r for r in ws.experiments.list_runs("inproc")}
    assert sorted(runs) == sorted(["inproc", *(f"inproc-{t['number']:03d}" for t in trials)])
    run = runs[f"inproc-{best['number']:03d}"]
    assert run.kind == "trial" and run.status == "Completed" and run.tags["tuning_job"] == "inproc"
    assert run.params["steps"] == "1" and run.params["shape"] == best["params"]["shape"]
    assert run.metrics["validation:loss"] == pytest.approx(best["objective"])
    assert runs["inproc"].kind == "tuning" and runs["inproc"].metrics["best_objective"] == pytest.approx(best["objective"])
    found = ws.experiments.search_runs(f"metrics.validation:loss <= {best['objective']}", experiments=["inproc"])
    assert [r.name for r in found] == [run.name]
    assert [d["name"] for d in ws.tuning.list()] == ["inproc"]


def test_reported_series_and_extra_metrics_are_recorded(ws: Workspace) -> None:
    def objective(trial: Trial) -> dict[str, float]:
        for step in range(3):
            trial.report(10.0 - step - trial.params["x"], step)
        return {"train:loss": 0.5}  # the objective comes from the last report

    result = ws.tuning.optimize(objective, "series", strategy="Random", objective=MIN_LOSS,
                                parameter_ranges={"x": {"type": "Continuous", "min": 0, "max": 1}}, max_jobs=2)  # fmt: skip
    t = result["trials"][0]
    assert t["objective"] == pytest.approx(8.0 - t["params"]["x"])
    points = ws.metadata.get_metrics(f"run/series/series-{t['number']:03d}", "validation:loss")
    assert [(p.step, round(p.value, 9)) for p in points] == [(s, round(10.0 - s - t["params"]["x"], 9)) for s in range(3)]
    assert ws.experiments.get_run(f"series/series-{t['number']:03d}").metrics["train:loss"] == 0.5


def test_failing_trials_fail_alone_and_all_failing_fails_the_job(ws: Workspace) -> None:
    def sometimes(trial: Trial) -> float:
        if trial.number % 2:
            raise RuntimeError("boom")
        return 1.0

    result = ws.tuning.optimize(sometimes, "mixed", strategy="Random", objective=MIN_LOSS, parameter_ranges=XY, max_jobs=4)
    statuses = {t["number"]: t["status"] for t in result["trials"]}
    assert statuses == {1: "Failed", 2: "Completed", 3: "Failed", 4: "Completed"}
    assert result["trials"][0]["failure_reason"] == "RuntimeError: boom"
    assert ws.experiments.get_run("mixed/mixed-001").status == "Failed"

    with pytest.raises(JobFailedError, match=r"all 2 trial\(s\) failed; first: ValueError: nope"):
        ws.tuning.optimize(lambda t: (_ for _ in ()).throw(ValueError("nope")), "allbad", strategy="Random",
                           objective=MIN_LOSS, parameter_ranges=XY, max_jobs=2)  # fmt: skip
    assert ws.jobs.get("allbad").status == "Failed"
    with pytest.raises(JobFailedError, match=r"never reported|failed"):
        ws.tuning.optimize(lambda t: None, "silent", strategy="Random", objective=MIN_LOSS, parameter_ranges=XY, max_jobs=1)
    described = ws.tuning.describe("silent")
    assert described["trials"][0]["failure_reason"] == "objective metric 'validation:loss' was never reported"


def test_completion_criteria_stop_early(ws: Workspace) -> None:
    result = ws.tuning.optimize(lambda t: 5.0, "flat", strategy="Random", objective=MIN_LOSS, parameter_ranges=XY,
                                max_jobs=20, completion_criteria={"max_jobs_not_improving": 3})  # fmt: skip
    assert result["completion_reason"] == "BestObjectiveNotImproving" and len(result["trials"]) == 4
    result = ws.tuning.optimize(lambda t: 0.5, "target", strategy="Random", objective=MIN_LOSS, parameter_ranges=XY,
                                max_jobs=20, completion_criteria={"target_objective_value": 1.0})  # fmt: skip
    assert result["completion_reason"] == "TargetObjectiveValueReached" and len(result["trials"]) == 1


def test_median_rule_stops_worse_trials(ws: Workspace) -> None:
    def objective(trial: Trial) -> None:
        for step in range(5):
            trial.report(trial.params["x"] + 1.0 / (step + 1), step)

    result = ws.tuning.optimize(objective, "median", strategy="Random", objective=MIN_LOSS, early_stopping="Auto", max_jobs=8,
                                parameter_ranges={"x": {"type": "Continuous", "min": 0, "max": 20}}, random_seed=0)  # fmt: skip
    trials = sorted(result["trials"], key=lambda t: t["number"])
    assert trials[0]["status"] == "Completed"
    completed = [trials[0]["params"]["x"] + 1.0]  # each completed trial's value at step 0
    for t in trials[1:]:  # one at a time: stopped at step 0 exactly when worse than the median so far
        worse = t["params"]["x"] + 1.0 > statistics.median(completed)
        assert t["status"] == ("Stopped" if worse else "Completed") and t["early_stopped"] is worse
        if worse:
            assert t["stopped_at_step"] == 0
            run = ws.experiments.get_run(f"median/median-{t['number']:03d}")
            assert run.tags["early_stopped"] == "True" and run.status == "Stopped"
        else:
            completed.append(t["params"]["x"] + 1.0)
    assert any(t["status"] == "Stopped" for t in trials)  # with this seed some do


def test_warm_start_from_an_in_process_parent(ws: Workspace) -> None:
    ws.tuning.optimize(bowl, "parent", strategy="Random", objective=MIN_LOSS, parameter_ranges=XY, max_jobs=3)
    result = ws.tuning.optimize(bowl, "child", strategy="Bayesian", objective=MIN_LOSS, parameter_ranges=XY, max_jobs=5,
                                warm_start={"parents": ["parent"], "type": "IdenticalDataAndAlgorithm"})  # fmt: skip
    sources = [t["source"] for t in result["trials"]]
    assert sources.count("parent:parent") == 3 and sources.count("new") == 2
    other = {**XY, "z": {"type": "Continuous", "min": 0, "max": 1}}
    with pytest.raises(ValidationError, match="same ones"):
        ws.tuning.optimize(bowl, "child2", objective=MIN_LOSS, parameter_ranges=other, max_jobs=5,
                           warm_start={"parents": ["parent"], "type": "IdenticalDataAndAlgorithm"})  # fmt: skip


def test_stop_from_elsewhere_and_bad_input(ws: Workspace) -> None:
    def slow(trial: Trial) -> float:
        if trial.number == 2:
            ws.jobs.stop("stoppable")  # what `forgeml tune stop` does from another process
        time.sleep(0.6)
        return 1.0

    with pytest.raises(JobFailedError, match="stopped"):
        ws.tuning.optimize(slow, "stoppable", strategy="Random", objective=MIN_LOSS, parameter_ranges=XY, max_jobs=10)
    described = ws.tuning.describe("stoppable")
    assert described["status"] == "Stopped" and 2 <= len(described["trials"]) < 10
    assert all(t["status"] == "Completed" for t in described["trials"])  # running trials finish; no new ones start

    def sleepy(trial: Trial) -> float:
        time.sleep(0.6)
        return 1.0

    result = ws.tuning.optimize(sleepy, "timed", strategy="Random", objective=MIN_LOSS, parameter_ranges=XY, max_jobs=10,
                                max_runtime_seconds=1, raise_on_failure=False)  # fmt: skip
    assert result["status"] == "Stopped" and result["failure_reason"] == "MaxRuntimeExceeded"
    assert 2 <= len(result["trials"]) <= 3  # 0.6 s each: started within the first second only
    assert all(t["status"] == "Completed" for t in result["trials"])

    with pytest.raises(ValidationError, match="leave out training"):
        ws.tuning.optimize(bowl, objective=MIN_LOSS, parameter_ranges=XY, training={"algorithm": "xgboost"})
    with pytest.raises(ValidationError, match=r"parameter_ranges|range"):
        ws.tuning.optimize(bowl, objective=MIN_LOSS, parameter_ranges={})
    with pytest.raises(AlreadyExistsError):
        ws.tuning.optimize(bowl, "stoppable", objective=MIN_LOSS, parameter_ranges=XY)
    result = ws.tuning.optimize(lambda t: "high", "typed", strategy="Random", objective=MIN_LOSS, parameter_ranges=XY,
                                max_jobs=1, raise_on_failure=False)  # fmt: skip
    assert result["status"] == "Failed"
    assert result["trials"][0]["failure_reason"] == "the objective returned str; expected a number, a mapping of metrics or None"


def test_trial_stopped_is_exported_for_objectives() -> None:
    assert issubclass(TrialStopped, Exception)


def test_cli_optimize_imports_the_function_and_reports(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli_runner import run_cli as forgeml

    (tmp_path / "my_objective.py").write_text("def score(trial):\n    return (trial.params['x'] - 1.0) ** 2\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text("strategy: Random\nobjective: {metric: validation:loss, type: Minimize}\n"
                    "parameter_ranges: {x: {type: Continuous, min: 0, max: 2}}\nmax_jobs: 3\n")  # fmt: skip
    monkeypatch.chdir(tmp_path)
    done = forgeml(ws.home, "tune", "optimize", str(spec), "--fn", "my_objective:score", "--name", "cli", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "Completed" and len(data["trials"]) == 3
    assert all(t["objective"] == pytest.approx((t["params"]["x"] - 1.0) ** 2) for t in data["trials"])
    table = forgeml(ws.home, "tune", "show", "cli").stdout
    assert "best trial" in table and "cli/cli-00" in table
    bad = forgeml(ws.home, "tune", "optimize", str(spec), "--fn", "my_objective:nothere")
    assert bad.returncode != 0 and "cannot import" in bad.stderr and "Traceback" not in bad.stderr
