"""Regression metrics (Model Monitor's mae, mse, rmse, r2, plus MAPE) with scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from forgeml.errors import ValidationError
from forgeml.evaluation._stats import with_std


def regression_metrics(y: Sequence[float] | np.ndarray, pred: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """``mae``, ``mse``, ``rmse``, ``r2`` and ``mape``, each ``{"value", "standard_deviation"}``.

    MAPE is scikit-learn's (a fraction, not a percentage; rows with y = 0 make it huge, as in
    scikit-learn). R² is "NaN" with fewer than two rows.

    Raises:
        ValidationError: length mismatch, no rows, or NaN values.
    """
    from sklearn.metrics import (
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_error,
        r2_score,
    )

    y = np.asarray(y, dtype=float)
    pred = np.asarray(pred, dtype=float)
    if len(y) != len(pred):
        raise ValidationError(f"{len(pred)} predictions for {len(y)} labels")
    if len(y) == 0:
        raise ValidationError("no rows to evaluate")
    if np.isnan(y).any() or np.isnan(pred).any():
        raise ValidationError("observed or predicted values contain NaN")
    out: dict[str, Any] = {
        "mae": with_std(lambda a, b: mean_absolute_error(a, b), (y, pred)),
        "mse": with_std(lambda a, b: mean_squared_error(a, b), (y, pred)),
        "rmse": with_std(lambda a, b: float(np.sqrt(mean_squared_error(a, b))), (y, pred)),
        "mape": with_std(lambda a, b: mean_absolute_percentage_error(a, b), (y, pred)),
    }
    if len(y) >= 2:
        out["r2"] = with_std(lambda a, b: r2_score(a, b), (y, pred))
    else:
        out["r2"] = {"value": "NaN", "standard_deviation": "NaN"}
    residuals = pred - y
    out["residuals"] = {"mean": float(residuals.mean()), "std": float(residuals.std()),
                        "quantiles": {str(q): float(np.quantile(residuals, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)}}  # fmt: skip
    return out


__all__ = ["regression_metrics"]
