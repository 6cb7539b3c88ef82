"""Built-in algorithms resume from their checkpoint exactly where they stopped.

The entrypoint runs in-process on real job records (the SIGKILL path through the job system is
proven in test_checkpoints.py): a job checkpoints every iteration, a second job restores that
checkpoint and continues, and the result equals one uninterrupted job.
"""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np
import pytest

from forgeml.core.jobs import JobContext
from forgeml.core.records import JobRecord, ResourceRecord
from forgeml.core.workspace import Workspace
from forgeml.registry import load_model
from forgeml.training._builtin import run


def _run(ws: Workspace, name: str, plan: dict[str, Any], restore_from: str | None = None) -> JobContext:
    job = ws.metadata.create_job(JobRecord(
        name=name, kind="training", status="InProgress", config=plan["config"], entrypoint=plan["entrypoint"], attempts=1,
    ))  # fmt: skip
    ws.metadata.create_resource(ResourceRecord(kind="training-job", name=name, data={"secondary_status_transitions": []}))
    ctx = JobContext(ws, job, ws.jobs.workdir(name))
    if restore_from is not None:
        shutil.copytree(ws.jobs.workdir(restore_from) / "checkpoints", ctx.checkpoint_dir, dirs_exist_ok=True)
    run(ctx)
    return ctx


@pytest.mark.parametrize(
    ("algorithm", "rounds_key", "extra"),
    [("xgboost", "num_round", {"max_depth": 3}), ("random-forest", "num_trees", {"trees_per_iteration": 5})],
)
def test_resumed_builtin_equals_uninterrupted(
    ws: Workspace, datasets: dict[str, str], algorithm: str, rounds_key: str, extra: dict[str, Any]
) -> None:
    def plan(name: str, rounds: int, checkpoint: bool) -> dict[str, Any]:
        return ws.training.plan(
            name, algorithm=algorithm, channels=datasets, target="y", hyperparameters={rounds_key: rounds, **extra},
            checkpoint=checkpoint, checkpoint_interval_seconds=1e-9, cpus=1,
        )  # fmt: skip

    _run(ws, "first", plan("first", 20, True))  # last checkpoint: 19 xgboost rounds (none at the end) / 4 forest chunks
    resumed = _run(ws, "resumed", plan("resumed", 30, True), restore_from="first")
    _run(ws, "straight", plan("straight", 30, False))
    start = ws.training.record("resumed").data["resumed_from_iteration"]
    assert start == (19 if algorithm == "xgboost" else 4)
    steps = [m.step for m in ws.training.metrics("resumed", "validation:accuracy")]
    assert steps == list(range(start, 30 if algorithm == "xgboost" else 6))  # continued, not from 0
    assert resumed.attempt == 1
    valid = ws.datasets.read("va")
    a = load_model(ws.training.model_dir("resumed")).predict(valid)["score"]
    b = load_model(ws.training.model_dir("straight")).predict(valid)["score"]
    np.testing.assert_allclose(a, b, rtol=1e-6)
