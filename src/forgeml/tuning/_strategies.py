"""Search strategies and early stopping as Optuna samplers and pruners.

| SageMaker strategy | Optuna sampler | pruner |
| --- | --- | --- |
| Bayesian (default) | ``TPESampler`` (tree-structured Parzen estimator) | SageMaker median rule when early stopping is Auto |
| Random | ``RandomSampler`` | same |
| Grid | ``GridSampler`` over the categorical values | same |
| Hyperband | ``TPESampler`` | ``HyperbandPruner`` (its own early stopping) |

SageMaker's median rule is not Optuna's ``MedianPruner``: Optuna compares the trial's *best*
intermediate value with the median of other trials' values *at that step*; SageMaker compares the
*current* value with the median of other trials' *running averages* up to that step. So the rule
is a small :class:`optuna.pruners.BasePruner` of our own; the optimizers are Optuna's.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

import optuna
from optuna.pruners import BasePruner

if TYPE_CHECKING:
    from optuna.study import Study
    from optuna.trial import FrozenTrial

    from forgeml.tuning._spec import TuningSpec


def running_average(intermediate: dict[int, float], step: int) -> float | None:
    """Mean of the values reported at steps ``<= step``; None when there are none or the
    trial never reached ``step``."""
    if not intermediate or max(intermediate) < step:
        return None
    values = [v for s, v in intermediate.items() if s <= step]
    return sum(values) / len(values) if values else None


def median_rule_threshold(completed: list[dict[int, float]], step: int) -> float | None:
    """The median of the completed trials' running averages at ``step`` (None without any)."""
    averages = [a for a in (running_average(iv, step) for iv in completed) if a is not None]
    return statistics.median(averages) if averages else None


class SageMakerMedianPruner(BasePruner):
    """SageMaker AMT's early-stopping rule (``TrainingJobEarlyStoppingType=AUTO``).

    After each step, the trial's current objective is compared with the median of the running
    averages (up to the same step) of the objective of the trials that completed before; the
    trial stops when it is worse (lower when maximizing, higher when minimizing).

    Args:
        min_completed: how many completed trials must reach the step before any trial stops.
    """

    def __init__(self, min_completed: int = 1) -> None:
        self.min_completed = min_completed

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        current = trial.intermediate_values[step]
        completed = [
            t.intermediate_values
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.number != trial.number
        ]
        reached = [iv for iv in completed if running_average(iv, step) is not None]
        if len(reached) < self.min_completed:
            return False
        threshold = median_rule_threshold(reached, step)
        if threshold is None:
            return False
        if study.direction == optuna.study.StudyDirection.MAXIMIZE:
            return current < threshold
        return current > threshold


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler for ask/tell use: it does not call ``study.stop()`` (which only
    works inside ``study.optimize``) once the grid is exhausted; the worker runs exactly as many
    trials as the grid has points."""

    def after_trial(self, study: Study, trial: FrozenTrial, state: Any, values: Any) -> None:
        return None


def make_sampler(spec: TuningSpec, attempt: int = 1) -> Any:
    """The Optuna sampler for the spec's strategy, seeded with ``random_seed``.

    A resumed tuning job (``attempt`` > 1) seeds Random and TPE differently, or they would draw
    the first attempt's points again; Grid keeps its seed, which fixes the order of the grid.
    """
    from optuna import samplers

    seed = spec.random_seed if attempt <= 1 else spec.random_seed + 7919 * (attempt - 1)
    if spec.strategy == "Random":
        return samplers.RandomSampler(seed=seed)
    if spec.strategy == "Grid":
        space = {name: list(r.values) for name, r in spec.ranges.items()}
        return AskTellGridSampler(space, seed=spec.random_seed)
    return samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, spec.max_jobs // 3)))


def make_pruner(spec: TuningSpec) -> Any:
    """The pruner: Hyperband's, SageMaker's median rule (early stopping Auto), or none."""
    from optuna import pruners

    if spec.strategy == "Hyperband":
        max_resource: Any = spec.max_resource if spec.max_resource is not None else "auto"
        return pruners.HyperbandPruner(min_resource=spec.min_resource, max_resource=max_resource, reduction_factor=spec.reduction_factor)
    if spec.early_stopping == "Auto":
        return SageMakerMedianPruner()
    return pruners.NopPruner()


__all__ = ["AskTellGridSampler", "SageMakerMedianPruner", "make_pruner", "make_sampler", "median_rule_threshold", "running_average"]
