"""Algorithm name -> trainer function ``(TrainingRun, Prepared, Checkpointer) -> (model, extra)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forgeml.training._boosting import train_lightgbm, train_xgboost
from forgeml.training._fm import train_factorization_machines
from forgeml.training._image import train_image_classification
from forgeml.training._pca import train_pca
from forgeml.training._sklearn_algos import (
    train_isolation_forest,
    train_kmeans,
    train_knn,
    train_linear,
    train_random_forest,
)
from forgeml.training._text import train_blazingtext

TRAINERS: dict[str, Callable[..., tuple[Any, dict[str, Any]]]] = {
    "xgboost": train_xgboost,
    "lightgbm": train_lightgbm,
    "linear-learner": train_linear,
    "random-forest": train_random_forest,
    "kmeans": train_kmeans,
    "isolation-forest": train_isolation_forest,
    "knn": train_knn,
    "pca": train_pca,
    "factorization-machines": train_factorization_machines,
    "image-classification": train_image_classification,
    "blazingtext": train_blazingtext,
}

__all__ = ["TRAINERS"]
