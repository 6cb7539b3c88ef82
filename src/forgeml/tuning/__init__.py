"""Hyperparameter tuning on Optuna: strategies, ranges, early stopping, warm start.

    ws.tuning.create("loans-hpo", strategy="Bayesian",
                     objective={"metric": "validation:auc", "type": "Maximize"},
                     parameter_ranges={"max_depth": {"type": "Integer", "min": 2, "max": 6}},
                     training={"algorithm": "xgboost", "channels": {...}, "target": "approve"},
                     max_jobs=6, max_parallel_jobs=2, wait=True)
"""

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
    "TuningService",
    "TuningSpec",
    "check_training",
    "known_metrics",
    "parse_range",
    "parse_ranges",
]
