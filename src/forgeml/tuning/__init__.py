"""Hyperparameter tuning on Optuna: strategies, ranges, early stopping, warm start.

    ws.tuning.create("loans-hpo", strategy="Bayesian",
                     objective={"metric": "validation:auc", "type": "Maximize"},
                     parameter_ranges={"max_depth": {"type": "Integer", "min": 2, "max": 6}},
                     training={"algorithm": "xgboost", "channels": {...}, "target": "approve"},
                     max_jobs=6, max_parallel_jobs=2, wait=True)

    # or tune a Python function in this process (trials in threads, each recorded as a run)
    ws.tuning.optimize(lambda trial: score(**trial.params), strategy="Bayesian",
                       objective={"metric": "validation:auc", "type": "Maximize"},
                       parameter_ranges={...}, max_jobs=50, max_parallel_jobs=2)
"""

from forgeml.tuning._inprocess import Trial, TrialStopped
from forgeml.tuning._ranges import SCALINGS, TYPES, ParameterRange, parse_range, parse_ranges
from forgeml.tuning._service import RESOURCE_KIND, TuningService, check_training, known_metrics
from forgeml.tuning._spec import (
    DIRECTIONS,
    EARLY_STOPPING,
    MAX_PARENTS,
    STRATEGIES,
    WARM_START_TYPES,
    TuningSpec,
)

__all__ = [
    "DIRECTIONS",
    "EARLY_STOPPING",
    "MAX_PARENTS",
    "RESOURCE_KIND",
    "SCALINGS",
    "STRATEGIES",
    "TYPES",
    "WARM_START_TYPES",
    "ParameterRange",
    "Trial",
    "TrialStopped",
    "TuningService",
    "TuningSpec",
    "check_training",
    "known_metrics",
    "parse_range",
    "parse_ranges",
]
