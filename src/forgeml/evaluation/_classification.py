"""Classification metrics with scikit-learn, named as Model Monitor names them (reference §10.8).

Binary metrics take the observed labels as booleans (True = positive class) and the positive
class's score; the predicted label is ``score >= threshold``. Multiclass metrics take the class
probabilities and use the arg-max class. Besides Model Monitor's names, the report carries
balanced accuracy, PR-AUC (average precision), log loss, Brier score, a per-class report and a
calibration table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from forgeml.errors import ValidationError
from forgeml.evaluation._curves import calibration, pr_curve, roc_curve_points
from forgeml.evaluation._stats import finite, with_std


def _balanced(y: np.ndarray, p: np.ndarray) -> float:
    """scikit-learn's balanced accuracy, without its warning when a class is never observed."""
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y, p))


def _fbeta(beta: float):  # type: ignore[no-untyped-def]
    from sklearn.metrics import fbeta_score

    def fn(y: np.ndarray, p: np.ndarray) -> float:
        return float(fbeta_score(y, p, beta=beta, zero_division=0))

    return fn


def _binary_fns() -> dict[str, Any]:
    from sklearn.metrics import (
        accuracy_score,
        precision_score,
        recall_score,
    )

    def rate(num: tuple[bool, bool], den_label: bool):  # type: ignore[no-untyped-def]
        def fn(y: np.ndarray, p: np.ndarray) -> float:
            den = np.count_nonzero(y == den_label)
            return float(np.count_nonzero((y == num[0]) & (p == num[1])) / den) if den else 0.0

        return fn

    return {
        "recall": lambda y, p: float(recall_score(y, p, zero_division=0)),
        "precision": lambda y, p: float(precision_score(y, p, zero_division=0)),
        "accuracy": lambda y, p: float(accuracy_score(y, p)),
        "balanced_accuracy": _balanced,
        "true_positive_rate": rate((True, True), True),
        "true_negative_rate": rate((False, False), False),
        "false_positive_rate": rate((False, True), False),
        "false_negative_rate": rate((True, False), True),
        "f0_5": _fbeta(0.5),
        "f1": _fbeta(1.0),
        "f2": _fbeta(2.0),
    }


BEST_CONSTANT = ("recall", "precision", "accuracy", "f0_5", "f1", "f2")


def check_binary(y: np.ndarray, score: np.ndarray) -> None:
    """Raises: ValidationError on NaN scores, length mismatch or a single observed class."""
    if len(y) != len(score):
        raise ValidationError(f"{len(score)} scores for {len(y)} labels")
    if len(y) == 0:
        raise ValidationError("no rows to evaluate")
    if np.isnan(score).any():
        raise ValidationError(f"{int(np.isnan(score).sum())} prediction score(s) are NaN")


def binary_metrics(y: Sequence[bool] | np.ndarray, score: Sequence[float] | np.ndarray, *, threshold: float = 0.5) -> dict[str, Any]:
    """Model Monitor's binary classification metrics plus extras.

    Args:
        y: observed labels, True for the positive class.
        score: the model's probability (or score) for the positive class.
        threshold: predicted positive when ``score >= threshold``.

    Raises:
        ValidationError: bad inputs; AUC-type metrics are "NaN" (with a reason) on one class.
    """
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        confusion_matrix,
        log_loss,
        roc_auc_score,
    )

    y = np.asarray(y, dtype=bool)
    score = np.asarray(score, dtype=float)
    check_binary(y, score)
    pred = score >= threshold
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, pred, labels=[False, True]).ravel())
    out: dict[str, Any] = {"confusion_matrix": {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}}
    fns = _binary_fns()
    for name, fn_ in fns.items():
        out[name] = with_std(fn_, (y, pred))
    for name in BEST_CONSTANT:
        best = max(fns[name](y, np.full(len(y), c)) for c in (False, True))
        out[f"{name}_best_constant_classifier"] = {"value": best, "standard_deviation": "NaN"}
    notes: dict[str, str] = {}
    if y.all() or not y.any():
        for name in ("auc", "pr_auc", "log_loss"):
            out[name] = {"value": "NaN", "standard_deviation": "NaN"}
            notes[name] = "undefined: the observed labels have a single class"
    else:
        out["auc"] = with_std(lambda a, b: roc_auc_score(a, b), (y, score))
        out["pr_auc"] = with_std(lambda a, b: average_precision_score(a, b), (y, score))
        clipped = np.clip(score, 1e-15, 1 - 1e-15)
        out["log_loss"] = with_std(lambda a, b: log_loss(a, b, labels=[False, True]), (y, clipped))
        out["receiver_operating_characteristic_curve"] = roc_curve_points(y, score)
        out["precision_recall_curve"] = pr_curve(y, score)
        out["calibration"] = calibration(y, score)
    out["brier_score"] = with_std(lambda a, b: brier_score_loss(a, b), (y, np.clip(score, 0, 1)))
    per_class = _per_class(y, pred, [False, True])
    out["per_class"] = {{"False": "negative", "True": "positive"}.get(k, k): v for k, v in per_class.items()}
    if notes:
        out["notes"] = notes
    return out


def _per_class(y: np.ndarray, pred: np.ndarray, classes: list[Any]) -> dict[str, Any]:
    from sklearn.metrics import classification_report

    report = classification_report(y, pred, labels=classes, output_dict=True, zero_division=0)
    return {str(k): {m: finite(v) for m, v in row.items()} if isinstance(row, dict) else finite(row) for k, row in report.items()}


def multiclass_metrics(y: Sequence[Any] | np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    """Model Monitor's multiclass metrics (weighted averages) plus extras.

    Raises:
        ValidationError: shape mismatch, NaN probabilities or labels outside ``classes``.
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        fbeta_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y = np.asarray(y, dtype=object)
    proba = np.asarray(proba, dtype=float)
    classes = list(classes)
    if proba.ndim != 2 or proba.shape != (len(y), len(classes)):
        raise ValidationError(f"probabilities of shape {proba.shape} do not match {len(y)} rows x {len(classes)} classes")
    if np.isnan(proba).any():
        raise ValidationError("some predicted probabilities are NaN")
    unknown = sorted({str(v) for v in y} - {str(c) for c in classes})
    if unknown:
        raise ValidationError(f"observed label(s) {', '.join(unknown[:5])} are not among the model's classes")
    lookup = {str(c): i for i, c in enumerate(classes)}
    yi = np.array([lookup[str(v)] for v in y])
    pi = proba.argmax(axis=1)
    idx = list(range(len(classes)))
    cm = confusion_matrix(yi, pi, labels=idx)
    out: dict[str, Any] = {
        "confusion_matrix": {str(classes[i]): {str(classes[j]): int(cm[i, j]) for j in idx} for i in idx}
    }
    fns = {
        "accuracy": lambda a, b: accuracy_score(a, b),
        "weighted_recall": lambda a, b: recall_score(a, b, labels=idx, average="weighted", zero_division=0),
        "weighted_precision": lambda a, b: precision_score(a, b, labels=idx, average="weighted", zero_division=0),
        "weighted_f0_5": lambda a, b: fbeta_score(a, b, beta=0.5, labels=idx, average="weighted", zero_division=0),
        "weighted_f1": lambda a, b: fbeta_score(a, b, beta=1.0, labels=idx, average="weighted", zero_division=0),
        "weighted_f2": lambda a, b: fbeta_score(a, b, beta=2.0, labels=idx, average="weighted", zero_division=0),
    }
    for name, fn_ in fns.items():
        out[name] = with_std(fn_, (yi, pi))
        best = max(float(fn_(yi, np.full(len(yi), c))) for c in idx)
        out[f"{name}_best_constant_classifier"] = {"value": best, "standard_deviation": "NaN"}
    out["balanced_accuracy"] = with_std(_balanced, (yi, pi))
    norm = np.clip(proba, 1e-15, 1)
    norm = norm / norm.sum(axis=1, keepdims=True)
    out["log_loss"] = with_std(lambda a, b: log_loss(a, b, labels=idx), (yi, norm))
    if len(set(yi.tolist())) == len(classes):
        out["auc"] = with_std(lambda a, b: roc_auc_score(a, b, multi_class="ovr", average="weighted", labels=idx), (yi, norm))
    else:
        out["auc"] = {"value": "NaN", "standard_deviation": "NaN"}
        out["notes"] = {"auc": "undefined: not every class occurs among the observed labels"}
    out["per_class"] = _per_class(yi, pi, idx)
    out["per_class"] = {str(classes[int(k)]) if k.isdigit() else k: v for k, v in out["per_class"].items()}
    return out


__all__ = ["binary_metrics", "check_binary", "multiclass_metrics"]
