"""Training jobs become runs automatically (event-log sync), without any call from training code."""

from __future__ import annotations

import pytest

from forgeml.core.workspace import Workspace
from forgeml.experiments import DEFAULT_EXPERIMENT, record_training_job
from forgeml.tuning.synthetic import loss


def test_training_jobs_are_recorded_as_runs(ws: Workspace) -> None:
    hp = {"x": 1.0, "y": 0.0, "steps": 3}
    ws.jobs.submit("training", "forgeml.tuning.synthetic:bowl", {"hyperparameters": hp, "experiment": "synth"}, name="t-one")
    ws.jobs.submit("training", "forgeml.tuning.synthetic:bowl", {"hyperparameters": {"x": 5.0}}, name="t-two")
    ws.jobs.submit("processing", "forgeml.tuning.synthetic:bowl", {"hyperparameters": {"x": 0.0}}, name="p-three")
    for name in ("t-one", "t-two", "p-three"):
        ws.jobs.wait(name, timeout=60)

    [run] = ws.experiments.search_runs("metrics.validation:loss < 100", experiments=["synth"])
    assert run.name == "t-one" and run.source == "job/t-one" and run.kind == "training"
    assert run.status == "Completed" and run.params == {"steps": "3", "x": "1.0", "y": "0.0"}
    assert run.metrics["validation:loss"] == pytest.approx(loss(1.0, 0.0) + 1 / 3)  # the last step
    history = ws.experiments.metric_history("synth/t-one", "validation:loss")
    assert [(m.step, m.value) for m in history] == [(m.step, m.value) for m in ws.jobs.metrics("t-one", "validation:loss")]
    assert [r.name for r in ws.experiments.list_runs(DEFAULT_EXPERIMENT)] == ["t-two"]
    assert ws.experiments.search_runs("source = 'job/p-three'") == []  # processing jobs are not runs
    # idempotent: recording again updates the same run
    again = record_training_job(ws, "t-one")
    assert again.id == run.id and len(ws.experiments.list_runs("synth")) == 1
    assert ws.experiments.sync() == 0
    assert ws.lineage.downstream("job/t-one").refs() >= {"run/synth/t-one"}
