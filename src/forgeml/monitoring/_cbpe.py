"""Confidence-based performance estimation (CBPE) for binary classifiers: NannyML's method, as
the reference states it (aws-semantics-2.md §10).

From a *reference* set with labels (scores, predicted labels, ground truth) :func:`fit` learns

* a calibration of the scores: isotonic regression, used only when it lowers the expected
  calibration error (ECE on 10 equal-count bins) of 10 stratified 90/10 splits (seed 42), refit
  on all of the reference (no calibration with one class only or a reference AUC above 0.999);
* the sampling-error components of every metric (the std of an observation-level value over
  the relevant reference rows and the share of those rows);
* alert thresholds: the realized metric on :data:`DEFAULT_CHUNKS` equal reference chunks, mean
  ± 3 population standard deviations, clipped to [0, 1].

:func:`estimate` then needs only a window's scores and predicted labels: with p̂ the calibrated
probability, the expected confusion matrix is TP = Σ_{ŷ=1} p̂, FP = Σ_{ŷ=1}(1-p̂), FN = Σ_{ŷ=0} p̂,
TN = Σ_{ŷ=0}(1-p̂), and ROC AUC integrates the expected curve over the uncalibrated score order.
The model is assumed calibratable and free of concept drift (P(y|X) fixed); covariate shift is
what CBPE tracks. With a 0.5 threshold the estimated accuracy cannot fall below 0.5.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from forgeml.errors import ValidationError

METRICS = ("roc_auc", "f1", "precision", "recall", "specificity", "accuracy")
SAMPLING_ERROR_RANGE = 3
SPLITS, TEST_SIZE, SPLIT_SEED, ECE_BINS = 10, 0.1, 42, 10
DEFAULT_CHUNKS = 10
THRESHOLD_STD = 3.0
MIN_REFERENCE = 20


def _div(a: float, b: float) -> float:
    return float(a / b) if b else math.nan


# calibration --------------------------------------------------------------------------------
def bin_edges(n: int, bins: int = ECE_BINS) -> list[tuple[int, int]]:
    """Equal-count bins over ``n`` sorted values (fewer when ``n <= 2 * bins``).

    Raises:
        ValidationError: fewer than 4 values (no two bins).
    """
    if n <= 2 * bins:
        bins = n // 2
        if bins < 2:
            raise ValidationError(f"calibration: {n} reference rows cannot form 2 bins")
    width = n // bins
    edges = np.asarray(range(0, n + 1, width))
    edges[-1] = n
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def ece(y: np.ndarray, p: np.ndarray, edges: list[tuple[int, int]]) -> float:
    """Expected calibration error: Σ (|bin|/n)·|mean(p) - mean(y)| over bins of sorted ``p``."""
    order = np.argsort(p, kind="stable")
    p, y = p[order], y[order]
    return float(sum((r - q) / len(p) * abs(p[q:r].mean() - y[q:r].mean()) for q, r in edges))


def needs_calibration(y: np.ndarray, score: np.ndarray) -> bool:
    """Whether isotonic calibration lowers the pooled out-of-split ECE (NannyML's rule)."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.model_selection import StratifiedShuffleSplit

    if len(np.unique(y)) == 1:
        return False
    from forgeml.monitoring._quality import auc

    if auc(y, score) > 0.999:
        return False
    split = StratifiedShuffleSplit(n_splits=SPLITS, test_size=TEST_SIZE, random_state=SPLIT_SEED)
    ys, raw, cal = [], [], []
    for train, test in split.split(score.reshape(-1, 1), y):
        iso = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(score[train], y[train])
        ys.append(y[test])
        raw.append(score[test])
        cal.append(iso.predict(score[test]))
    yv, rv, cv = np.concatenate(ys), np.concatenate(raw), np.concatenate(cal)
    edges = bin_edges(len(rv))
    return ece(yv, rv, edges) > ece(yv, cv, edges)


def calibrate(model: dict[str, Any], score: np.ndarray) -> np.ndarray:
    """Calibrated probabilities: the stored isotonic steps (linear between, clipped at the ends)."""
    if not model.get("calibrated"):
        return np.asarray(score, dtype=float)
    return np.interp(score, np.asarray(model["calibration_x"]), np.asarray(model["calibration_y"]))


# metrics ------------------------------------------------------------------------------------
def realized(y: np.ndarray, pred: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """The metrics with labels (ROC AUC on the uncalibrated score); NaN where undefined."""
    from forgeml.monitoring._quality import auc

    tp = float(np.sum((pred == 1) & (y == 1)))
    fp = float(np.sum((pred == 1) & (y == 0)))
    fn = float(np.sum((pred == 0) & (y == 1)))
    tn = float(np.sum((pred == 0) & (y == 0)))
    return _from_counts(tp, fp, fn, tn, len(y)) | {"roc_auc": auc(y, score)}


def _from_counts(tp: float, fp: float, fn: float, tn: float, n: int) -> dict[str, float]:
    f1_den = tp + 0.5 * (fp + fn)
    return {"f1": float(tp / f1_den) if f1_den else 0.0, "precision": _div(tp, tp + fp), "recall": _div(tp, tp + fn),
            "specificity": _div(tn, tn + fp), "accuracy": _div(tp + tn, n)}  # fmt: skip


def expected_auc(p: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of the expected curve: rows by uncalibrated score (descending), TP(k) = Σ_{i≤k} p̂_i."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    tps = np.concatenate([[0.0], np.cumsum(p[order])])
    fps = np.arange(len(tps), dtype=float) - tps
    tps, fps = np.round(tps, 5), np.round(fps, 5)
    if tps[-1] <= 0 or fps[-1] <= 0:
        return math.nan
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def estimated(p: np.ndarray, pred: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """The metrics from calibrated probabilities ``p`` alone (no labels)."""
    pos = pred == 1
    tp, fp = float(p[pos].sum()), float((1 - p[pos]).sum())
    fn, tn = float(p[~pos].sum()), float((1 - p[~pos]).sum())
    return _from_counts(tp, fp, fn, tn, len(p)) | {"roc_auc": expected_auc(p, score)}


# sampling error -----------------------------------------------------------------------------
def components(y: np.ndarray, pred: np.ndarray, score: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per metric ``(std, fraction)`` from the reference; the error of a chunk of n rows is
    std / sqrt(n * fraction) (fraction 1 for accuracy)."""
    n = len(y)
    tp, fp, fn, tn = (pred == 1) & (y == 1), (pred == 1) & (y == 0), (pred == 0) & (y == 1), (pred == 0) & (y == 0)
    out: dict[str, tuple[float, float]] = {"accuracy": (float(np.std((y == pred).astype(float))), 1.0)}
    values = np.concatenate([np.ones(tp.sum()), np.zeros(fn.sum() + fp.sum())])
    if len(values):
        factor = len(values) / ((fn.sum() + fp.sum()) * 0.5 + tp.sum())
        out["f1"] = (float(np.std(values * factor)), len(values) / n)
    else:
        out["f1"] = (math.nan, 0.0)
    out["precision"] = (_std(np.concatenate([np.ones(tp.sum()), np.zeros(fp.sum())])), float(pred.sum()) / n)
    out["recall"] = (_std(np.concatenate([np.ones(tp.sum()), np.zeros(fn.sum())])), float(y.sum()) / n)
    out["specificity"] = (_std(np.concatenate([np.ones(tn.sum()), np.zeros(fp.sum())])), float(tn.sum() + fp.sum()) / n)
    out["roc_auc"] = auc_components(y, score)
    return out


def _std(values: np.ndarray) -> float:
    return float(np.std(values)) if len(values) else math.nan


def auc_components(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """ROC AUC's ``(std, fraction)``: (r_i - i)/N_neg for the i-th positive at rank r_i in score
    order (labels and scores flipped when positives are the majority), fraction = positive share.
    As NannyML computes it, rank 0 never counts (``np.unique(...)[1:]``)."""
    y, score = np.asarray(y, dtype=float), np.asarray(score, dtype=float)
    if np.mean(y) > 0.5:
        y, score = np.abs(y - 1), 1 - score
    order = np.argsort(score, kind="stable")
    y = y[order]
    ranks = np.unique(y * np.arange(len(y)))[1:]
    n_pos = float(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan, 0.0
    terms = (ranks - np.arange(len(ranks))) / n_neg
    return float(np.std(terms)), n_pos / len(y)


def sampling_error(component: tuple[float, float] | list[float], n: int) -> float:
    std, fraction = component
    return float(std / math.sqrt(n * fraction)) if n and fraction else math.nan


# fit and estimate ---------------------------------------------------------------------------
def _binary(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or not set(np.unique(arr)) <= {0.0, 1.0}:
        raise ValidationError(f"{what} must be 0 or 1")
    return arr.astype(int)


def _scores(values: Any, what: str = "scores") -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        raise ValidationError(f"{what} must be probabilities in [0, 1]")
    return arr


def fit(y: Any, pred: Any, score: Any, chunks: int = DEFAULT_CHUNKS) -> dict[str, Any]:
    """The CBPE model of a labelled reference set (JSON-ready: no pickles).

    Raises:
        ValidationError: mismatched lengths, labels other than 0/1, scores outside [0, 1], or
            fewer than :data:`MIN_REFERENCE` rows / rows than ``chunks``.
    """
    from sklearn.isotonic import IsotonicRegression

    yv, pv, sv = _binary(y, "reference ground truth"), _binary(pred, "reference predictions"), _scores(score, "reference scores")
    if not len(yv) == len(pv) == len(sv):
        raise ValidationError(f"reference: {len(yv)} labels, {len(pv)} predictions and {len(sv)} scores differ in number")
    if len(yv) < max(MIN_REFERENCE, chunks):
        raise ValidationError(f"reference: {len(yv)} labelled rows; CBPE needs at least {max(MIN_REFERENCE, chunks)}")
    model: dict[str, Any] = {"calibrated": needs_calibration(yv, sv), "item_count": len(yv), "chunks": chunks}
    if model["calibrated"]:
        iso = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(sv, yv)
        model["calibration_x"] = iso.X_thresholds_.tolist()
        model["calibration_y"] = iso.y_thresholds_.tolist()
    model["components"] = {m: list(c) for m, c in components(yv, pv, sv).items()}
    model["realized"] = realized(yv, pv, sv)
    per_chunk = [realized(yv[i], pv[i], sv[i]) for i in np.array_split(np.arange(len(yv)), chunks)]
    model["thresholds"] = {}
    for m in METRICS:
        vals = np.array([c[m] for c in per_chunk], dtype=float)
        if np.all(np.isnan(vals)):
            model["thresholds"][m] = [None, None]
            continue
        mean, std = float(np.nanmean(vals)), float(np.nanstd(vals))
        model["thresholds"][m] = [max(0.0, mean - THRESHOLD_STD * std), min(1.0, mean + THRESHOLD_STD * std)]
    return model


def estimate(model: dict[str, Any], pred: Any, score: Any, y: Any = None) -> dict[str, dict[str, Any]]:
    """Per metric: ``estimated``, ``sampling_error``, ``lower/upper_confidence_boundary``
    (estimate ± 3·SE in [0, 1]), ``lower/upper_threshold``, ``alert``, and ``realized`` when labels
    ``y`` are given for every row (else None).

    Raises:
        ValidationError: predictions other than 0/1 or scores outside [0, 1].
    """
    pv, sv = _binary(pred, "predictions"), _scores(score)
    p = calibrate(model, sv)
    est = estimated(p, pv, sv)
    real = realized(_binary(y, "ground truth"), pv, sv) if y is not None and len(sv) else None
    out: dict[str, dict[str, Any]] = {}
    for m in METRICS:
        value = est[m]
        se = sampling_error(model["components"][m], len(sv))
        lower, upper = model["thresholds"][m]
        ok = not math.isnan(value)
        out[m] = {
            "estimated": value if ok else None,
            "sampling_error": se if not math.isnan(se) else None,
            "lower_confidence_boundary": max(0.0, value - SAMPLING_ERROR_RANGE * se) if ok and not math.isnan(se) else None,
            "upper_confidence_boundary": min(1.0, value + SAMPLING_ERROR_RANGE * se) if ok and not math.isnan(se) else None,
            "lower_threshold": lower, "upper_threshold": upper,
            "alert": bool(ok and ((lower is not None and value < lower) or (upper is not None and value > upper))),
            "realized": None if real is None or math.isnan(real[m]) else real[m],
        }  # fmt: skip
    return out


__all__ = ["DEFAULT_CHUNKS", "METRICS", "SAMPLING_ERROR_RANGE", "auc_components", "bin_edges", "calibrate", "components",
           "ece", "estimate", "estimated", "expected_auc", "fit", "needs_calibration", "realized", "sampling_error"]  # fmt: skip
