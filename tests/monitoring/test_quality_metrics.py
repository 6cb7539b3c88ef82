"""Model quality metrics against scikit-learn on random data, the bootstrap rule, constraints."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from forgeml.errors import ValidationError
from forgeml.monitoring._quality import metrics, parse_constraints, violations


def test_binary_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 500)
    score = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    pred = (score >= 0.5).astype(int)
    m = metrics("BinaryClassification", y, pred, score)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    expected = {"recall": skm.recall_score(y, pred), "precision": skm.precision_score(y, pred),
                "accuracy": skm.accuracy_score(y, pred), "f1": skm.f1_score(y, pred),
                "f0_5": skm.fbeta_score(y, pred, beta=0.5), "f2": skm.fbeta_score(y, pred, beta=2),
                "auc": skm.roc_auc_score(y, score), "true_negative_rate": tn / (tn + fp),
                "false_positive_rate": fp / (fp + tn), "false_negative_rate": fn / (fn + tp)}  # fmt: skip
    for key, value in expected.items():
        assert m[key]["value"] == pytest.approx(value, abs=1e-12), key
        assert isinstance(m[key]["standard_deviation"], float) and m[key]["standard_deviation"] > 0
    assert m["confusion_matrix"] == {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}
    # best constant: always 1 gives recall 1; accuracy is the majority share
    assert m["recall_best_constant_classifier"]["value"] == 1.0
    assert m["accuracy_best_constant_classifier"]["value"] == pytest.approx(max(y.mean(), 1 - y.mean()))
    assert m["f1_best_constant_classifier"]["value"] == pytest.approx(skm.f1_score(y, np.ones_like(y)))
    assert m["auc_best_constant_classifier"]["value"] == 0.5


def test_bootstrap_rule_80_percent_times_5() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 250)
    pred = rng.integers(0, 2, 250)
    m = metrics("BinaryClassification", y, pred)
    draws = []
    boot = np.random.default_rng(0)
    for _ in range(5):
        idx = boot.choice(250, size=200, replace=False)
        draws.append(skm.accuracy_score(y[idx], pred[idx]))
    assert m["accuracy"]["standard_deviation"] == pytest.approx(float(np.std(draws)))
    small = metrics("BinaryClassification", y[:199], pred[:199])
    assert small["accuracy"]["standard_deviation"] == "NaN"  # fewer than 200 samples


def test_multiclass_and_regression_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.choice(["a", "b", "c"], 300, p=[0.5, 0.3, 0.2])
    pred = np.where(rng.random(300) < 0.6, y, rng.choice(["a", "b", "c"], 300))
    m = metrics("MulticlassClassification", y, pred)
    assert m["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, pred))
    for name, fn in (("weighted_recall", skm.recall_score), ("weighted_precision", skm.precision_score), ("weighted_f1", skm.f1_score)):
        assert m[name]["value"] == pytest.approx(fn(y, pred, average="weighted")), name
    assert m["weighted_f2"]["value"] == pytest.approx(skm.fbeta_score(y, pred, beta=2, average="weighted"))
    assert m["weighted_f0_5"]["value"] == pytest.approx(skm.fbeta_score(y, pred, beta=0.5, average="weighted"))
    assert m["accuracy_best_constant_classifier"]["value"] == pytest.approx(np.mean(y == "a"))
    yr = rng.normal(size=300)
    pr = yr + rng.normal(scale=0.5, size=300)
    r = metrics("Regression", yr, pr)
    assert r["mae"]["value"] == pytest.approx(skm.mean_absolute_error(yr, pr))
    assert r["mse"]["value"] == pytest.approx(skm.mean_squared_error(yr, pr))
    assert r["rmse"]["value"] == pytest.approx(np.sqrt(skm.mean_squared_error(yr, pr)))
    assert r["r2"]["value"] == pytest.approx(skm.r2_score(yr, pr))


def test_constraints_with_comparison_operators() -> None:
    doc = {"binary_classification_constraints": {"recall": {"threshold": 0.9, "comparison_operator": "LessThanThreshold"},
                                                 "false_positive_rate": {"threshold": 0.1, "comparison_operator": "GreaterThanThreshold"},
                                                 "accuracy": {"threshold": 0.5, "comparison_operator": "LessThanOrEqualToThreshold"}}}
    parsed = parse_constraints(doc, "BinaryClassification")
    block = {"recall": {"value": 0.8}, "false_positive_rate": {"value": 0.05}, "accuracy": {"value": 0.5}}
    found = violations(block, parsed)
    assert [(v["metric_name"], v["constraint_check_type"]) for v in found] == [("recall", "LessThanThreshold"), ("accuracy", "LessThanOrEqualToThreshold")]
    assert found[0]["description"] == "Metric recall with 0.8 was LessThanThreshold 0.9"
    with pytest.raises(ValidationError, match=r"constraints.binary_classification_constraints.recall.comparison_operator: 'Below'"):
        parse_constraints({"binary_classification_constraints": {"recall": {"threshold": 1, "comparison_operator": "Below"}}}, "BinaryClassification")
    with pytest.raises(ValidationError, match=r"constraints.regression_constraints: unknown key"):
        parse_constraints({"regression_constraints": {}}, "BinaryClassification")
    with pytest.raises(ValidationError, match=r"threshold: 'x' is not a number"):
        parse_constraints({"regression_constraints": {"mae": {"threshold": "x", "comparison_operator": "GreaterThanThreshold"}}}, "Regression")
    with pytest.raises(ValidationError, match="problem_type: 'Ranking'"):
        metrics("Ranking", [1], [1])
