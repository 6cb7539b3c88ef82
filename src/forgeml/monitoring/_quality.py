"""Model quality metrics (reference §10.8): regression, binary and multiclass, each
``{"value": v, "standard_deviation": s}``, plus constraints with comparison operators.

* The standard deviation is computed only when there are at least :data:`MIN_FOR_STD` samples:
  draw 80 % of the rows without replacement 5 times (a fixed seed), compute the metric on each
  draw and take the population standard deviation; otherwise it is the string ``"NaN"``.
* ``*_best_constant_classifier``: the value of the metric for the constant prediction (one class
  for every row) that scores best on it; for ``auc`` that is 0.5.
* Constraints (``constraints.json``): ``{"<problem>_constraints": {"<metric>": {"threshold": t,
  "comparison_operator": "LessThanThreshold" | ...}}}``; a violation fires when the metric's
  value compares to the threshold as the operator says (recall LessThanThreshold 0.9: recall < 0.9).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from forgeml.errors import ValidationError

MIN_FOR_STD = 200
DRAWS, FRACTION, SEED = 5, 0.8, 0
PROBLEMS = {"Regression": "regression", "BinaryClassification": "binary_classification",
            "MulticlassClassification": "multiclass_classification"}  # fmt: skip
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt, "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt, "LessThanOrEqualToThreshold": operator.le,
}  # fmt: skip
Metric = Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]


def _div(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def _fbeta(p: float, r: float, beta: float) -> float:
    b2 = beta * beta
    return _div((1 + b2) * p * r, b2 * p + r)


def _counts(y: np.ndarray, pred: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(np.sum((pred == 1) & (y == 1)))
    fp = int(np.sum((pred == 1) & (y == 0)))
    fn = int(np.sum((pred == 0) & (y == 1)))
    tn = int(np.sum((pred == 0) & (y == 0)))
    return tp, fp, fn, tn


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank statistic (ties count one half); NaN with one class only."""
    pos, neg = score[y == 1], score[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _binary(name: str) -> Metric:
    def metric(y: np.ndarray, pred: np.ndarray, score: np.ndarray | None) -> float:
        if name == "auc":
            return auc(y, score if score is not None else pred.astype(float))
        tp, fp, fn, tn = _counts(y, pred)
        p, r = _div(tp, tp + fp), _div(tp, tp + fn)
        return {"recall": r, "precision": p, "accuracy": _div(tp + tn, len(y)), "true_positive_rate": r,
                "true_negative_rate": _div(tn, tn + fp), "false_positive_rate": _div(fp, fp + tn),
                "false_negative_rate": _div(fn, fn + tp), "f0_5": _fbeta(p, r, 0.5), "f1": _fbeta(p, r, 1.0),
                "f2": _fbeta(p, r, 2.0)}[name]  # fmt: skip

    return metric


def _weighted(name: str) -> Metric:
    def metric(y: np.ndarray, pred: np.ndarray, score: np.ndarray | None) -> float:
        if name == "accuracy":
            return float(np.mean(y == pred))
        total = 0.0
        for c in np.unique(y):
            tp = np.sum((pred == c) & (y == c))
            p, r = _div(tp, np.sum(pred == c)), _div(tp, np.sum(y == c))
            value = {"recall": r, "precision": p, "f0_5": _fbeta(p, r, 0.5), "f1": _fbeta(p, r, 1.0), "f2": _fbeta(p, r, 2.0)}[name]
            total += value * np.sum(y == c)
        return float(total / len(y))

    return metric


def _regression(name: str) -> Metric:
    def metric(y: np.ndarray, pred: np.ndarray, score: np.ndarray | None) -> float:
        err = y - pred
        if name == "mae":
            return float(np.mean(np.abs(err)))
        mse = float(np.mean(err**2))
        if name == "mse":
            return mse
        if name == "rmse":
            return math.sqrt(mse)
        ss = float(np.sum((y - y.mean()) ** 2))
        return 1.0 - float(np.sum(err**2)) / ss if ss else math.nan

    return metric


BINARY = ("recall", "precision", "accuracy", "true_positive_rate", "true_negative_rate", "false_positive_rate",
          "false_negative_rate", "auc", "f0_5", "f1", "f2")  # fmt: skip
MULTICLASS = ("accuracy", "recall", "precision", "f0_5", "f1", "f2")
REGRESSION = ("mae", "mse", "rmse", "r2")


def _with_std(metric: Metric, y: np.ndarray, pred: np.ndarray, score: np.ndarray | None) -> dict[str, Any]:
    value = metric(y, pred, score)
    std: Any = "NaN"
    if len(y) >= MIN_FOR_STD:
        rng = np.random.default_rng(SEED)
        size = int(len(y) * FRACTION)
        draws = []
        for _ in range(DRAWS):
            idx = rng.choice(len(y), size=size, replace=False)
            draws.append(metric(y[idx], pred[idx], None if score is None else score[idx]))
        std = float(np.std(draws))
    return {"value": _num(value), "standard_deviation": std if isinstance(std, str) or not math.isnan(std) else "NaN"}


def _num(v: float) -> float | str:
    return "NaN" if isinstance(v, float) and math.isnan(v) else float(v)


def _best_constant(metric: Metric, y: np.ndarray, classes: np.ndarray) -> dict[str, Any]:
    values = [metric(y, np.full(len(y), c), None) for c in classes]
    return {"value": float(max(values)), "standard_deviation": "NaN"}


def metrics(problem_type: str, y: Any, pred: Any, score: Any = None) -> dict[str, Any]:
    """The ``<problem>_metrics`` block of statistics.json for labels ``y`` and predictions ``pred``
    (``score``: the positive class's probability, for the binary ``auc`` and curves).

    Raises:
        ValidationError: an unknown problem type, or labels that do not fit it.
    """
    if problem_type not in PROBLEMS:
        raise ValidationError(f"problem_type: {problem_type!r} is not one of {', '.join(PROBLEMS)}")
    if problem_type == "Regression":
        try:
            yt, yp = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
        except (TypeError, ValueError):
            raise ValidationError("regression ground truth and predictions must be numbers") from None
        return {m: _with_std(_regression(m), yt, yp, None) for m in REGRESSION}
    if problem_type == "BinaryClassification":
        yt, yp = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
        if not set(np.unique(np.concatenate([yt, yp]))) <= {0.0, 1.0}:
            raise ValidationError("binary classification labels and predictions must be 0 or 1")
        yt, yp = yt.astype(int), yp.astype(int)
        sc = None if score is None else np.asarray(score, dtype=float)
        out: dict[str, Any] = {m: _with_std(_binary(m), yt, yp, sc) for m in BINARY}
        tp, fp, fn, tn = _counts(yt, yp)
        out["confusion_matrix"] = {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}
        for m in BINARY:
            out[f"{m}_best_constant_classifier"] = ({"value": 0.5, "standard_deviation": "NaN"} if m == "auc"
                                                    else _best_constant(_binary(m), yt, np.array([0, 1])))  # fmt: skip
        if sc is not None:
            out["receiver_operating_characteristic_curve"], out["precision_recall_curve"] = _curves(yt, sc)
        return out
    yt, yp = np.asarray(y).astype(str), np.asarray(pred).astype(str)
    out = {("accuracy" if m == "accuracy" else f"weighted_{m}"): _with_std(_weighted(m), yt, yp, None) for m in MULTICLASS}
    labels = sorted(set(yt) | set(yp))
    out["confusion_matrix"] = {a: {b: int(np.sum((yt == a) & (yp == b))) for b in labels} for a in labels}
    for m in MULTICLASS:
        key = "accuracy" if m == "accuracy" else f"weighted_{m}"
        out[f"{key}_best_constant_classifier"] = _best_constant(_weighted(m), yt, np.unique(yt))
    return out


def _curves(y: np.ndarray, score: np.ndarray) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    thresholds = np.unique(score)[::-1]
    fpr, tpr, prec, rec = [0.0], [0.0], [], []
    pos, neg = max(int(np.sum(y == 1)), 1), max(int(np.sum(y == 0)), 1)
    for t in thresholds:
        pred = (score >= t).astype(int)
        tp, fp, _, _ = _counts(y, pred)
        fpr.append(fp / neg)
        tpr.append(tp / pos)
        prec.append(_div(tp, tp + fp))
        rec.append(tp / pos)
    return ({"false_positive_rates": fpr, "true_positive_rates": tpr},
            {"precisions": prec, "recalls": rec})  # fmt: skip


def parse_constraints(doc: Any, problem_type: str, where: str = "constraints") -> dict[str, tuple[float, str]]:
    """``{metric: (threshold, operator)}`` from a model-quality constraints document.

    Raises:
        ValidationError: unknown keys, wrong types or an unknown operator, naming where.
    """
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ValidationError(f"{where}: expected an object")
    key = f"{PROBLEMS[problem_type]}_constraints"
    for k in doc:
        if k not in ("version", key):
            raise ValidationError(f"{where}.{k}: unknown key (a {problem_type} monitor takes {key})")
    block = doc.get(key) or {}
    if not isinstance(block, dict):
        raise ValidationError(f"{where}.{key}: expected an object")
    known = {"Regression": REGRESSION, "BinaryClassification": BINARY,
             "MulticlassClassification": ("accuracy", *(f"weighted_{m}" for m in MULTICLASS[1:]))}[problem_type]  # fmt: skip
    out = {}
    for metric, spec in block.items():
        at = f"{where}.{key}.{metric}"
        if metric not in known:
            raise ValidationError(f"{at}: unknown metric (one of {', '.join(known)})")
        if not isinstance(spec, dict) or set(spec) - {"threshold", "comparison_operator"}:
            raise ValidationError(f"{at}: expected {{'threshold': number, 'comparison_operator': ...}}")
        threshold, op = spec.get("threshold"), spec.get("comparison_operator")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ValidationError(f"{at}.threshold: {threshold!r} is not a number")
        if op not in OPERATORS:
            raise ValidationError(f"{at}.comparison_operator: {op!r} is not one of {', '.join(OPERATORS)}")
        out[metric] = (float(threshold), str(op))
    return out


def violations(block: dict[str, Any], constraints: dict[str, tuple[float, str]]) -> list[dict[str, Any]]:
    """constraint_violations.json entries for the metrics that break their constraint."""
    out = []
    for metric, (threshold, op) in constraints.items():
        value = block.get(metric, {}).get("value")
        if isinstance(value, int | float) and OPERATORS[op](float(value), threshold):
            out.append({"metric_name": metric, "constraint_check_type": op,
                        "description": f"Metric {metric} with {value:.6g} was {op} {threshold:g}"})  # fmt: skip
    return out


__all__ = ["BINARY", "MIN_FOR_STD", "MULTICLASS", "OPERATORS", "PROBLEMS", "REGRESSION", "auc", "metrics",
           "parse_constraints", "violations"]  # fmt: skip
