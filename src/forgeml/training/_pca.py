"""PCA (SageMaker's ``pca``): a projection onto the top principal components.

The package's task is ``projection``: predictions are the columns ``projection_0`` ..
``projection_{k-1}``. Metrics: ``train:explained_variance_ratio`` (of the kept components) and,
per channel, ``reconstruction_mse`` (mean squared error of projecting and mapping back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    from forgeml.training._builtin import Checkpointer, Prepared
    from forgeml.training._runtime import TrainingRun


class Projection:
    """A fitted PCA / truncated SVD whose ``predict`` is the projection (what a package holds)."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        self.n_components = int(estimator.n_components)

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator.transform(np.asarray(X, dtype=float)))

    def reconstruction_mse(self, X: Any) -> float:
        arr = np.asarray(X, dtype=float)
        back = self.estimator.inverse_transform(self.estimator.transform(arr))
        return float(np.mean((arr - back) ** 2))


def train_pca(tr: TrainingRun, d: Prepared, ck: Checkpointer) -> tuple[Any, dict[str, Any]]:
    """PCA (centred) or truncated SVD (``subtract_mean=false``), exact or randomized."""
    from sklearn.decomposition import PCA, TruncatedSVD

    hp = d.hp
    k = hp["num_components"]
    X = np.asarray(d.X, dtype=float)
    if k > min(X.shape):
        raise ValidationError(f"num_components = {k} is more than min(rows, columns) = {min(X.shape)} of the train channel")
    if np.isnan(X).any():
        raise ValidationError("pca: the train channel has missing values; give a recipe that imputes them")
    randomized = hp["algorithm_mode"] == "randomized"
    oversample = hp["extra_components"] if hp["extra_components"] >= 0 else 10
    if hp["subtract_mean"]:
        est: Any = PCA(n_components=k, svd_solver="randomized" if randomized else "full", random_state=d.seed)
        if randomized:
            est.set_params(n_oversamples=oversample)
    else:
        if k >= X.shape[1]:
            raise ValidationError(f"subtract_mean=false (truncated SVD) needs num_components below the {X.shape[1]} columns")
        est = TruncatedSVD(n_components=k, algorithm="randomized" if randomized else "arpack", random_state=d.seed)
    model = Projection(est.fit(X))
    tr.metric("train:explained_variance_ratio", float(np.sum(est.explained_variance_ratio_)), 0)
    tr.metric("train:reconstruction_mse", model.reconstruction_mse(X), 0)
    if d.Xv is not None:
        tr.metric("validation:reconstruction_mse", model.reconstruction_mse(d.Xv), 0)
    return model, {"num_components": k}


__all__ = ["Projection", "train_pca"]
