"""Tuning jobs end to end: real tuning and training job processes on the synthetic bowl objective."""

from __future__ import annotations

import itertools

import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from forgeml.tuning.synthetic import loss

BOWL = {"entrypoint": "forgeml.tuning.synthetic:bowl", "metrics": ["validation:loss"]}
XY = {
    "x": {"type": "Continuous", "min": -4, "max": 4},
    "y": {"type": "Integer", "min": -3, "max": 3},
    "shape": {"type": "Categorical", "values": ["round", "flat", "tilted"]},
}


def _expected(params: dict, steps: int = 1) -> float:
    return loss(params["x"], params["y"], params["shape"]) + 1.0 / steps


def _max_overlap(ws: Workspace, names: list[str]) -> int:
    spans = [(ws.jobs.get(n).started_at, ws.jobs.get(n).ended_at) for n in names]
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    level = peak = 0
    for _, delta in edges:
        level += delta
        peak = max(peak, level)
    return peak


def test_bayesian_parallel_best_job_runs_and_warm_start(ws: Workspace) -> None:
    ws.tuning.create("bowl", strategy="Bayesian", objective={"metric": "validation:loss", "type": "Minimize"},
                     parameter_ranges=XY, training=BOWL, max_jobs=3, max_parallel_jobs=2, random_seed=1)  # fmt: skip
    result = ws.tuning.wait("bowl", timeout=120)
    trials = result["trials"]
    assert result["status"] == "Completed" and len(trials) == 3
    assert result["counters"]["training_jobs"]["Completed"] == 3
    for t in trials:
        assert t["status"] == "Completed"
        assert t["objective"] == pytest.approx(_expected(t["params"]))  # the formula, independently
        assert -4 <= t["params"]["x"] <= 4 and t["params"]["y"] in range(-3, 4)
        assert ws.jobs.get(t["training_job"]).config["hyperparameters"] == t["params"]
    best = min(trials, key=lambda t: t["objective"])
    assert result["best_training_job"] == best["training_job"]
    assert _max_overlap(ws, [t["training_job"] for t in trials]) <= 2
    # every trial is a run of the tuning job's experiment, searchable by its metric
    runs = ws.experiments.search_runs(f"metrics.validation:loss <= {best['objective']}", experiments=["bowl"])
    assert [r.name for r in runs] == [best["training_job"]]
    assert runs[0].tags["tuning_job"] == "bowl" and runs[0].params["shape"] == best["params"]["shape"]
    runs = {r.name: r for r in ws.experiments.list_runs("bowl")}
    assert sorted(runs) == sorted(["bowl", *(t["training_job"] for t in trials)])
    own = runs["bowl"]  # the tuning job's own run
    assert own.kind == "tuning" and own.status == "Completed" and own.tags["best_training_job"] == best["training_job"]
    assert own.params["strategy"] == "Bayesian" and own.params["range:x"] == "Continuous [-4.0, 4.0] Auto"
    assert own.metrics["best_objective"] == pytest.approx(best["objective"])
    assert sorted(e.dst for e in ws.metadata.list_edges(src="job/bowl")) == [f"job/{best['training_job']}", "run/bowl/bowl"]

    # warm start: the parent's 3 jobs count against max_jobs, the best is the best of both
    with pytest.raises(ValidationError, match="count against max_jobs 3"):
        ws.tuning.create("child", objective={"metric": "validation:loss", "type": "Minimize"}, parameter_ranges=XY,
                         training=BOWL, max_jobs=3, warm_start={"parents": ["bowl"]})  # fmt: skip
    with pytest.raises(ValidationError, match="optimizes Minimize validation:loss, not Maximize"):
        ws.tuning.create("child", objective={"metric": "validation:loss", "type": "Maximize"}, parameter_ranges=XY,
                         training=BOWL, max_jobs=6, warm_start={"parents": ["bowl"]})  # fmt: skip
    with pytest.raises(ValidationError, match="IdenticalDataAndAlgorithm needs the same ones"):
        ws.tuning.create("child", objective={"metric": "validation:loss", "type": "Minimize"}, parameter_ranges={"x": XY["x"]},
                         training=BOWL, max_jobs=6, warm_start={"parents": ["bowl"]})  # fmt: skip
    narrow = {**XY, "x": {"type": "Continuous", "min": 1.5, "max": 2.5}}
    ws.tuning.create("child", objective={"metric": "validation:loss", "type": "Minimize"}, parameter_ranges=narrow,
                     training=BOWL, max_jobs=5, max_parallel_jobs=2, warm_start={"parents": ["bowl"], "type": "TransferLearning"})  # fmt: skip
    child = ws.tuning.wait("child", timeout=120)
    new = [t for t in child["trials"] if t["source"] == "new"]
    inherited = [t for t in child["trials"] if t["source"] == "parent:bowl"]
    assert len(new) == 2 and len(inherited) == 3
    assert all(1.5 <= t["params"]["x"] <= 2.5 for t in new)
    overall = min(child["trials"], key=lambda t: t["objective"])
    assert child["best_training_job"] == overall["training_job"]
    assert "3 warm-start trial(s)" in "\n".join(ws.jobs.logs("child"))


def test_grid_covers_every_combination_once(ws: Workspace) -> None:
    grid = {"shape": {"type": "Categorical", "values": ["round", "flat"]}, "x": {"type": "Categorical", "values": [1.0, 2.0]}}
    ws.tuning.create("grid", strategy="Grid", objective={"metric": "validation:loss", "type": "Minimize"},
                     parameter_ranges=grid, static_hyperparameters={"y": -1}, training=BOWL, max_parallel_jobs=2)  # fmt: skip
    result = ws.tuning.wait("grid", timeout=120)
    combos = sorted((t["params"]["shape"], t["params"]["x"]) for t in result["trials"])
    assert combos == sorted(itertools.product(["round", "flat"], [1.0, 2.0]))
    best = ws.tuning.best_training_job("grid")
    assert next(t for t in result["trials"] if t["training_job"] == best)["params"] == {"shape": "round", "x": 2.0}


def test_early_stopping_follows_the_median_rule(ws: Workspace) -> None:
    steps = 4  # seed 2 draws x with losses 7.7, 59.1, 2.0: the second trial is far worse than the first
    ws.tuning.create("early", strategy="Random", early_stopping="Auto", objective={"metric": "validation:loss", "type": "Minimize"},
                     parameter_ranges={"x": {"type": "Continuous", "min": -6, "max": 6}},
                     static_hyperparameters={"y": -1, "steps": steps, "step_seconds": 0.35, "curve": 2.0},
                     training=BOWL, max_jobs=3, max_parallel_jobs=1, random_seed=2)  # fmt: skip
    result = ws.tuning.wait("early", timeout=180)
    trials = result["trials"]
    stopped = [t for t in trials if t["early_stopped"]]
    assert [t["training_job"] for t in stopped] == ["early-002"]
    # replay the rule independently from the stored series: one trial at a time, so the
    # completed set during a trial is exactly the trials that completed before it
    completed_series: list[dict[int, float]] = []
    for t in trials:
        series = {m.step: m.value for m in ws.jobs.metrics(t["training_job"], "validation:loss")}
        decisions = []
        last = t.get("stopped_at_step", max(series))
        for step in sorted(s for s in series if s <= last):
            avgs = sorted(
                sum(v for s, v in c.items() if s <= step) / len([s for s in c if s <= step])
                for c in completed_series if max(c) >= step
            )
            if avgs:
                n = len(avgs)
                median = avgs[n // 2] if n % 2 else (avgs[n // 2 - 1] + avgs[n // 2]) / 2
                decisions.append(series[step] > median)
            else:
                decisions.append(False)
        if t["early_stopped"]:
            assert t["status"] == "Stopped" and ws.jobs.get(t["training_job"]).status == "Stopped"
            assert decisions[-1] is True and not any(decisions[:-1])  # stopped at the first worse step
            assert max(series) < steps - 1
        else:
            assert t["status"] == "Completed" and not any(decisions)
            completed_series.append(series)
    assert result["counters"]["training_jobs"]["Stopped"] == len(stopped)


def test_completion_criteria_stop_the_search(ws: Workspace) -> None:
    objective = {"metric": "validation:loss", "type": "Minimize"}
    ws.tuning.create("target", strategy="Random", objective=objective, parameter_ranges=XY, training=BOWL,
                     max_jobs=6, completion_criteria={"target_objective_value": 1000.0})  # fmt: skip
    ws.tuning.create("patience", strategy="Random", objective=objective, parameter_ranges=XY, training=BOWL,
                     max_jobs=6, random_seed=6, completion_criteria={"max_jobs_not_improving": 3})  # fmt: skip
    result = ws.tuning.wait("target", timeout=120)
    assert result["completion_reason"] == "TargetObjectiveValueReached" and len(result["trials"]) == 1
    result = ws.tuning.wait("patience", timeout=180)
    values = [t["objective"] for t in result["trials"]]
    best, since, expected = float("inf"), 0, len(values)
    for i, v in enumerate(values):
        since = 0 if v < best else since + 1
        best = min(best, v)
        if since >= 3:
            expected = i + 1
            break
    assert len(values) == expected < 6  # seed 6: the first trial stays best, three more do not beat it
    assert result["completion_reason"] == "BestObjectiveNotImproving"


def test_stop_tuning_job_stops_its_training_jobs(ws: Workspace) -> None:
    ws.tuning.create("halt", strategy="Random", objective={"metric": "validation:loss", "type": "Minimize"},
                     parameter_ranges=XY, static_hyperparameters={"steps": 200, "step_seconds": 0.1},
                     training=BOWL, max_jobs=4, max_parallel_jobs=2)  # fmt: skip
    for name in ("halt-001", "halt-002"):
        _wait_for_metric(ws, name)
    ws.tuning.stop("halt", wait=True, timeout=60)
    assert ws.jobs.get("halt").status == "Stopped"
    for name in ("halt-001", "halt-002"):
        assert ws.jobs.wait(name, timeout=60, raise_on_failure=False).status == "Stopped"
    trials = ws.tuning.trials("halt")
    assert [t["status"] for t in trials] == ["Stopped", "Stopped"]  # the jobs' final status, after the worker left


def _wait_for_metric(ws: Workspace, name: str) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if ws.jobs.metrics(name):
                return
        except KeyError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{name} reported nothing")


def test_hyperband_stops_the_trials_optunas_pruner_stops(ws: Workspace) -> None:
    import optuna

    from forgeml.tuning import TuningSpec
    from forgeml.tuning._strategies import make_pruner, make_sampler

    spec = {
        "strategy": "Hyperband", "objective": {"metric": "validation:loss", "type": "Minimize"},
        "parameter_ranges": {"x": {"type": "Continuous", "min": -5, "max": 5}},
        "static_hyperparameters": {"y": -1, "steps": 4, "step_seconds": 0.3, "curve": 2.0},
        "hyperband": {"min_resource": 1, "max_resource": 4, "reduction_factor": 2},
        "training": BOWL, "max_jobs": 3, "max_parallel_jobs": 1, "random_seed": 2,
    }  # fmt: skip
    ws.tuning.create("hband", spec)
    result = ws.tuning.wait("hband", timeout=180)
    # the same study driven directly through Optuna, one trial after the other
    parsed = TuningSpec.from_dict(spec)
    study = optuna.create_study(study_name="hband", direction="minimize", sampler=make_sampler(parsed), pruner=make_pruner(parsed))
    expected = []
    for _ in range(3):
        trial = study.ask({"x": parsed.ranges["x"].distribution()})
        final, stopped = loss(trial.params["x"], -1), None
        for step in range(4):
            trial.report(final + 2.0 / (step + 1), step)
            if trial.should_prune():
                stopped = step
                break
        study.tell(trial, final + 0.5 if stopped is None else None, state=None if stopped is None else optuna.trial.TrialState.PRUNED)
        expected.append((trial.params["x"], stopped))
    got = [(t["params"]["x"], t.get("stopped_at_step")) for t in result["trials"]]
    assert got == expected and any(s is not None for _, s in got)
    assert [t["status"] for t in result["trials"]] == ["Completed" if s is None else "Stopped" for _, s in expected]


GRID = {"shape": {"type": "Categorical", "values": ["round", "flat", "tilted"]}, "x": {"type": "Categorical", "values": [1.0, 2.0]}}


@pytest.mark.parametrize(("strategy", "ranges"), [("Random", XY), ("Grid", GRID)])
def test_interrupted_tuning_job_resumes_its_trials(ws: Workspace, strategy: str, ranges: dict) -> None:
    import contextlib
    import os
    import signal
    import time

    static = {"steps": 4, "step_seconds": 0.4, **({"y": 0} if strategy == "Grid" else {})}
    ws.tuning.create("spot", strategy=strategy, objective={"metric": "validation:loss", "type": "Minimize"},
                     parameter_ranges=ranges, training=BOWL, static_hyperparameters=static,
                     max_jobs=6, max_parallel_jobs=2, random_seed=4)  # fmt: skip
    deadline = time.monotonic() + 90
    while True:  # two trials done and another running: its training job must outlive the interruption
        statuses = [t["status"] for t in ws.tuning.trials("spot")]
        if statuses.count("Completed") >= 2 and "InProgress" in statuses:
            break
        assert time.monotonic() < deadline, "two trials did not complete in time"
        time.sleep(0.05)
    before = {t["training_job"]: t for t in ws.tuning.trials("spot")}
    handle = ws.jobs.get("spot").handle
    for key in ("supervisor_pid", "worker_pid"):  # the spot interruption: the tuning job's processes only
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(handle[key]), signal.SIGKILL)
    result = ws.tuning.wait("spot", timeout=180)  # waiting reconciles: the job is relaunched
    assert ws.jobs.get("spot").attempts == 2
    trials = result["trials"]
    names = [t["training_job"] for t in trials]
    assert len(trials) == 6 and len(set(names)) == 6 and names == [f"spot-{i:03d}" for i in range(1, 7)]
    assert all(t["status"] == "Completed" for t in trials)
    for name, old in before.items():  # what ran before the interruption is kept, not run again
        assert next(t for t in trials if t["training_job"] == name)["params"] == old["params"]
        assert ws.jobs.get(name).attempts == 1
    for t in trials:
        assert t["objective"] == pytest.approx(_expected({"y": 0, **t["params"]}, steps=4))
    assert result["best_training_job"] == min(trials, key=lambda t: t["objective"])["training_job"]
    assert any("resumed (attempt 2)" in line for line in ws.jobs.logs("spot"))
    running = [name for name, t in before.items() if t["status"] == "InProgress"]
    assert running and all(ws.jobs.get(name).status == "Completed" for name in running)  # followed, not rerun
    assert len({tuple(sorted(t["params"].items())) for t in trials}) == 6  # new points after resuming; Grid: each once
