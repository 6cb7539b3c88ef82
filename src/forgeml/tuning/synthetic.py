"""Synthetic training jobs with a known optimum, for tests, benchmarks and smoke checks.

``forgeml.tuning.synthetic:bowl`` is a job entrypoint whose objective is a formula of its
hyperparameters, so a tuning job over it costs one short process pair per trial and no data:

    loss(x, y, shape) = (x - 2)^2 + (y + 1)^2 + {"round": 0, "flat": 0.5, "tilted": 1}[shape]

reported per step as ``loss + curve / (step + 1)`` for ``steps`` steps (``curve`` = 1 by default),
so the series falls towards the final loss as training "progresses". ``step_seconds`` sleeps
between steps, which lets early stopping act. The metric name is ``config["metric"]``
(default ``validation:loss``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forgeml.core.jobs import JobContext

SHAPES = {"round": 0.0, "flat": 0.5, "tilted": 1.0}


def loss(x: float, y: float, shape: str = "round") -> float:
    """The final objective of :func:`bowl` (minimum 0 at x=2, y=-1, shape=round)."""
    return (x - 2.0) ** 2 + (y + 1.0) ** 2 + SHAPES[shape]


def bowl(ctx: JobContext) -> None:
    """Job entrypoint: report the bowl objective step by step."""
    hp = ctx.config.get("hyperparameters", {})
    metric = ctx.config.get("metric", "validation:loss")
    final = loss(float(hp.get("x", 0.0)), float(hp.get("y", 0.0)), str(hp.get("shape", "round")))
    steps = int(hp.get("steps", ctx.config.get("steps", 1)))
    pause = float(hp.get("step_seconds", ctx.config.get("step_seconds", 0.0)))
    curve = float(hp.get("curve", ctx.config.get("curve", 1.0)))
    for step in range(steps):
        ctx.log_metric(metric, final + curve / (step + 1), step)
        if pause and step < steps - 1:
            time.sleep(pause)
    ctx.log(f"final {metric} = {final + curve / steps:g}")


__all__ = ["SHAPES", "bowl", "loss"]
