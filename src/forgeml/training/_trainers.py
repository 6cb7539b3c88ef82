"""Algorithm name -> trainer function ``(TrainingRun, Prepared, Checkpointer) -> (model, extra)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forgeml.training._boosting import train_lightgbm, train_xgboost
from forgeml.training._sklearn_algos import (
    train_isolation_forest,
    train_kmeans,
    train_knn,
    train_linear,
    train_random_forest,
)

TRAINERS: dict[str, Callable[..., tuple[Any, dict[str, Any]]]] = {
    "xgboost": train_xgboost,
    "lightgbm": train_lightgbm,
    "linear-learner": train_linear,
    "random-forest": train_random_forest,
    "kmeans": train_kmeans,
    "isolation-forest": train_isolation_forest,
    "knn": train_knn,
}

__all__ = ["TRAINERS"]
