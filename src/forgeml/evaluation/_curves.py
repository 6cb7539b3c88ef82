"""Curves (ROC, precision-recall, calibration) and choosing a threshold by cost.

Curves are kept to at most ``MAX_POINTS`` points (evenly spaced along the curve, ends kept), so a
report on a million rows stays small.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forgeml.errors import ValidationError

MAX_POINTS = 201


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    n = len(arrays[0])
    idx = np.unique(np.linspace(0, n - 1, min(n, MAX_POINTS)).round().astype(int)) if n else np.array([], int)
    return [[float(v) for v in a[idx]] for a in arrays]


def roc_curve_points(y: np.ndarray, score: np.ndarray) -> dict[str, list[float]]:
    """ROC points: ``false_positive_rates``, ``true_positive_rates``, ``thresholds``."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(y, score)
    thr = np.where(np.isinf(thr), 1.0 if score.max() <= 1 else float(score.max()) + 1, thr)
    fpr, tpr, thr = _thin(fpr, tpr, thr)
    return {"false_positive_rates": fpr, "true_positive_rates": tpr, "thresholds": thr}


def pr_curve(y: np.ndarray, score: np.ndarray) -> dict[str, list[float]]:
    """Precision-recall points: ``precisions``, ``recalls``, ``thresholds``."""
    from sklearn.metrics import precision_recall_curve

    prec, rec, thr = precision_recall_curve(y, score)
    thr = np.append(thr, thr[-1] if len(thr) else 1.0)
    prec, rec, thr = _thin(prec, rec, thr)
    return {"precisions": prec, "recalls": rec, "thresholds": thr}


def calibration(y: np.ndarray, score: np.ndarray, n_bins: int = 10) -> dict[str, Any]:
    """Reliability table (uniform bins): mean predicted vs observed positive rate per bin."""
    from sklearn.calibration import calibration_curve

    clipped = np.clip(score, 0.0, 1.0)
    prob_true, prob_pred = calibration_curve(y, clipped, n_bins=n_bins, strategy="uniform")
    counts = np.histogram(clipped, bins=np.linspace(0, 1, n_bins + 1))[0]
    return {
        "n_bins": n_bins,
        "strategy": "uniform",
        "mean_predicted": [float(v) for v in prob_pred],
        "fraction_positive": [float(v) for v in prob_true],
        "bin_counts": [int(c) for c in counts if c > 0],
    }


def select_threshold(
    y: np.ndarray,
    score: np.ndarray,
    *,
    cost_fp: float = 1.0,
    cost_fn: float = 1.0,
    cost_tp: float = 0.0,
    cost_tn: float = 0.0,
) -> dict[str, Any]:
    """The threshold (predict positive when ``score >= t``) with the lowest total cost.

    Every distinct score is a candidate, plus one above the maximum (predict nothing positive).
    Ties go to the higher threshold.

    Raises:
        ValidationError: NaN scores or an empty input.
    """
    y = np.asarray(y, dtype=bool)
    score = np.asarray(score, dtype=float)
    if len(y) == 0 or len(y) != len(score) or np.isnan(score).any():
        raise ValidationError("threshold selection needs as many finite scores as labels (and at least one)")
    order = np.argsort(-score, kind="stable")
    s, t = score[order], y[order]
    # candidates: each distinct score (positives = rows with score >= it), plus "nothing positive"
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tp = np.cumsum(t)[last]
    fp = (last + 1) - tp
    pos, neg = int(t.sum()), int(len(t) - t.sum())
    thresholds = np.r_[s[last], np.nextafter(s[0], np.inf)]
    tp = np.r_[tp, 0]
    fp = np.r_[fp, 0]
    fn, tn = pos - tp, neg - fp
    cost = cost_fp * fp + cost_fn * fn + cost_tp * tp + cost_tn * tn
    best = int(np.flatnonzero(cost == cost.min()).max())
    return {
        "threshold": float(thresholds[best]),
        "total_cost": float(cost[best]),
        "expected_cost_per_row": float(cost[best] / len(y)),
        "confusion": {"tp": int(tp[best]), "fp": int(fp[best]), "fn": int(fn[best]), "tn": int(tn[best])},
        "costs": {"fp": cost_fp, "fn": cost_fn, "tp": cost_tp, "tn": cost_tn},
    }


__all__ = ["MAX_POINTS", "calibration", "pr_curve", "roc_curve_points", "select_threshold"]
