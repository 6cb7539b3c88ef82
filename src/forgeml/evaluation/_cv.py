"""k-fold cross-validation of an estimator, with the same metric functions as evaluations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

SCORING = {
    "binary": ["accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "neg_log_loss"],
    "multiclass": ["accuracy", "balanced_accuracy", "f1_weighted", "precision_weighted", "recall_weighted", "neg_log_loss"],
    "regression": ["neg_mean_absolute_error", "neg_mean_squared_error", "neg_root_mean_squared_error", "r2", "neg_mean_absolute_percentage_error"],
}


def _name(scorer: str) -> str:
    names = {"roc_auc": "auc", "average_precision": "pr_auc", "f1_weighted": "weighted_f1",
             "precision_weighted": "weighted_precision", "recall_weighted": "weighted_recall",
             "neg_root_mean_squared_error": "rmse", "neg_mean_absolute_percentage_error": "mape"}  # fmt: skip
    return names.get(scorer, scorer.removeprefix("neg_").replace("mean_absolute_error", "mae").replace("mean_squared_error", "mse"))


def cross_validate(
    estimator: Any, X: pd.DataFrame | np.ndarray, y: Any, *, task: str, folds: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Fit ``estimator`` (cloned) on k folds; per-fold metrics, their mean and standard deviation.

    Classification uses stratified folds; every fold is shuffled with ``seed``. Losses come back
    positive (scikit-learn's ``neg_*`` scorers are negated back).

    Raises:
        ValidationError: an unknown task, fewer than 2 folds, or more folds than a class has rows.
    """
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.model_selection import cross_validate as sk_cross_validate

    if task not in SCORING:
        raise ValidationError(f"cross-validation supports {', '.join(SCORING)}, not {task!r}")
    if folds < 2:
        raise ValidationError("cross-validation needs at least 2 folds")
    if task != "regression":
        _, counts = np.unique(np.asarray(y).astype(str), return_counts=True)
        if counts.min() < folds:
            raise ValidationError(f"the rarest class has {int(counts.min())} row(s), fewer than {folds} folds")
        splitter: Any = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    scoring = SCORING[task]
    res = sk_cross_validate(estimator, X, y, cv=splitter, scoring=scoring, error_score="raise")
    per_fold: dict[str, list[float]] = {}
    for scorer in scoring:
        sign = -1.0 if scorer.startswith("neg_") else 1.0
        per_fold[_name(scorer)] = [sign * float(v) for v in res[f"test_{scorer}"]]
    return {
        "folds": folds,
        "task": task,
        "seed": seed,
        "per_fold": per_fold,
        "mean": {k: float(np.mean(v)) for k, v in per_fold.items()},
        "std": {k: float(np.std(v)) for k, v in per_fold.items()},
        "fit_seconds": [float(v) for v in res["fit_time"]],
    }


__all__ = ["cross_validate"]
