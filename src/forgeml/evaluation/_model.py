"""Evaluate a ForgeML model package on a labelled frame."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.errors import ModelError, ValidationError
from forgeml.evaluation._classification import binary_metrics, multiclass_metrics
from forgeml.evaluation._curves import select_threshold
from forgeml.evaluation._regression import regression_metrics

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.registry.package import LoadedModel

PROBLEM_TYPES = {"binary": "BinaryClassification", "multiclass": "MulticlassClassification", "regression": "Regression"}
SECTIONS = {
    "binary": "binary_classification_metrics",
    "multiclass": "multiclass_classification_metrics",
    "regression": "regression_metrics",
}


def predict_scores(model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
    """Class probabilities (classifiers, ``n x k``) or predictions (regression) of the package.

    Raises:
        ValidationError: input columns missing.
        ModelError: the estimator raised.
    """
    if model.manifest.flavor != "sklearn":
        out = model.predict(frame)
        if model.manifest.task == "binary" and "score" in out:
            return np.column_stack([1 - out["score"].to_numpy(float), out["score"].to_numpy(float)])
        if model.manifest.task == "regression":
            return out["prediction"].to_numpy(dtype=float)
        raise ValidationError(f"evaluating a {model.manifest.task} model of flavor {model.manifest.flavor!r} is not supported")
    X = model.prepare(frame)
    try:
        if model.manifest.task in ("binary", "multiclass"):
            if not hasattr(model.model, "predict_proba"):
                raise ModelError(f"the {model.manifest.task} model has no predict_proba")
            return np.asarray(model.model.predict_proba(X), dtype=float)
        return np.asarray(model.model.predict(X), dtype=float).reshape(-1)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ModelError(f"model raised {type(exc).__name__}: {exc}") from None


def model_classes(model: LoadedModel, n: int) -> list[Any]:
    classes = model.manifest.classes
    if classes is None:
        classes = list(getattr(model.model, "classes_", range(n)))
    return [c.item() if hasattr(c, "item") else c for c in classes]


def positive_mask(y: pd.Series, positive: Any) -> np.ndarray:
    """True where the observed label equals ``positive`` (compared as text when types differ)."""
    hit = (y == positive).to_numpy(dtype=bool)
    if not hit.any():
        hit = (y.astype(str) == str(positive)).to_numpy(dtype=bool)
    return hit


def evaluate_model(
    model: LoadedModel,
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    threshold: float = 0.5,
    positive_label: Any = None,
    cost: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Metrics of a model package on ``frame`` (which holds the target column).

    Args:
        model: a loaded model package (``forgeml.registry.package.load_model``).
        frame: raw input columns plus the observed target.
        target: target column (default: the manifest's target).
        threshold: binary decision threshold on the positive class's probability.
        positive_label: the positive class (default: the manifest's second class).
        cost: ``{"fp":..,"fn":..,"tp":..,"tn":..}`` to add a cost-optimal threshold (binary).

    Raises:
        ValidationError: missing target, missing values in the target, unsupported task.
    """
    task = model.manifest.task
    target = target or model.manifest.target
    if task not in SECTIONS:
        raise ValidationError(f"evaluation supports binary, multiclass and regression models, not {task!r}")
    if not target:
        raise ValidationError("no target column given and the model package names none")
    if target not in frame.columns:
        raise ValidationError(f"target column {target!r} is not in the data")
    y = frame[target]
    if y.isna().any():
        raise ValidationError(f"target column {target!r} has {int(y.isna().sum())} missing value(s)")
    scores = predict_scores(model, frame)
    out: dict[str, Any] = {
        "version": "1.0",
        "problem_type": PROBLEM_TYPES[task],
        "dataset": {"item_count": len(frame), "evaluation_time": dt.datetime.now(dt.UTC).isoformat()},
        "target": target,
    }
    if task == "regression":
        out[SECTIONS[task]] = regression_metrics(y.to_numpy(dtype=float), scores)
        return out
    classes = model_classes(model, scores.shape[1])
    out["classes"] = classes
    if task == "multiclass":
        out[SECTIONS[task]] = multiclass_metrics(y.to_numpy(), scores, classes)
        return out
    positive = classes[1] if positive_label is None else positive_label
    if str(positive) not in {str(c) for c in classes}:
        raise ValidationError(f"positive label {positive!r} is not one of the model's classes {classes}")
    pos_index = [str(c) for c in classes].index(str(positive))
    score = scores[:, pos_index]
    yb = positive_mask(y, positive)
    out["positive_label"] = positive
    out["threshold"] = threshold
    out[SECTIONS[task]] = binary_metrics(yb, score, threshold=threshold)
    if cost:
        out["threshold_selection"] = select_threshold(yb, score, **{f"cost_{k}": float(v) for k, v in cost.items()})
    return out


def headline(report: dict[str, Any]) -> dict[str, float]:
    """The scalar metric values of a report (``{"auc": 0.91, ...}``), for comparison and cards."""
    section = next((report[s] for s in SECTIONS.values() if s in report), {})
    out: dict[str, float] = {}
    for name, entry in section.items():
        if isinstance(entry, dict) and "value" in entry and isinstance(entry["value"], int | float):
            out[name] = float(entry["value"])
    return out


__all__ = ["PROBLEM_TYPES", "SECTIONS", "evaluate_model", "headline", "model_classes", "positive_mask", "predict_scores"]
