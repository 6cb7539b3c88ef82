"""Metrics of a fitted model on a channel, named the SageMaker way (``validation:auc``)."""

from __future__ import annotations

from typing import Any

import numpy as np

# library metric name -> (ForgeML name, transform); accuracy is reported next to error rates
LIBRARY_METRICS: dict[str, str] = {
    "logloss": "logloss", "mlogloss": "logloss", "binary_logloss": "logloss", "multi_logloss": "logloss",
    "error": "error", "merror": "error", "binary_error": "error", "multi_error": "error",
    "auc": "auc", "rmse": "rmse", "mae": "mae", "l1": "mae", "l2": "mse",
}  # fmt: skip


def library_points(channel: str, name: str, value: float) -> dict[str, float]:
    """ForgeML metric points for one value a library reported (``error`` also yields ``accuracy``)."""
    ours = LIBRARY_METRICS.get(name, name)
    out = {f"{channel}:{ours}": float(value)}
    if ours == "error":
        out[f"{channel}:accuracy"] = 1.0 - float(value)
    return out


def classification(y: np.ndarray, proba: np.ndarray, channel: str) -> dict[str, float]:
    """logloss, accuracy, error (and auc, f1 when binary) for encoded labels ``y``."""
    from sklearn.metrics import f1_score, log_loss, roc_auc_score

    labels = list(range(proba.shape[1]))
    pred = proba.argmax(axis=1)
    acc = float((pred == y).mean())
    out = {
        f"{channel}:logloss": float(log_loss(y, proba, labels=labels)),
        f"{channel}:accuracy": acc,
        f"{channel}:error": 1.0 - acc,
    }
    if proba.shape[1] == 2:
        if len(np.unique(y)) == 2:
            out[f"{channel}:auc"] = float(roc_auc_score(y, proba[:, 1]))
        out[f"{channel}:f1"] = float(f1_score(y, pred, zero_division=0))
    return out


def regression(y: np.ndarray, pred: np.ndarray, channel: str) -> dict[str, float]:
    """rmse, mae and r2."""
    err = np.asarray(pred, dtype=float) - np.asarray(y, dtype=float)
    out = {f"{channel}:rmse": float(np.sqrt(np.mean(err**2))), f"{channel}:mae": float(np.mean(np.abs(err)))}
    var = float(np.var(np.asarray(y, dtype=float)))
    if var > 0:
        out[f"{channel}:r2"] = 1.0 - float(np.mean(err**2)) / var
    return out


def evaluate(task: str, model: Any, X: Any, y: np.ndarray, channel: str) -> dict[str, float]:
    """Metrics of ``model`` on ``X``/``y`` (``y`` label-encoded for classifiers)."""
    if task in ("binary", "multiclass"):
        return classification(y, model.predict_proba(X), channel)
    return regression(y, model.predict(X), channel)


def misprediction_by_class(y: np.ndarray, pred: np.ndarray, classes: list[Any]) -> dict[str, float]:
    """Fraction of each class's rows predicted as another class."""
    out = {}
    for i, label in enumerate(classes):
        mask = y == i
        if mask.any():
            out[str(label)] = float((pred[mask] != i).mean())
    return out


__all__ = ["LIBRARY_METRICS", "classification", "evaluate", "library_points", "misprediction_by_class", "regression"]
