"""Classification and regression metrics on frames computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeml.errors import ValidationError
from forgeml.evaluation import (
    binary_metrics,
    multiclass_metrics,
    regression_metrics,
    select_threshold,
)

# y     = 1    1    0    0    1    0
# score = 0.9  0.4  0.6  0.7  0.8  0.1   -> predicted (>= 0.5) 1 0 1 1 1 0
# TP = 2 (rows 0, 4), FN = 1 (row 1), FP = 2 (rows 2, 3), TN = 1 (row 5); P = 1/2, R = 2/3
Y = [True, True, False, False, True, False]
S = [0.9, 0.4, 0.6, 0.7, 0.8, 0.1]


def test_binary_metrics_by_hand() -> None:
    m = binary_metrics(Y, S, threshold=0.5)
    assert m["confusion_matrix"] == {"0": {"0": 1, "1": 2}, "1": {"0": 1, "1": 2}}
    expected = {
        "precision": 1 / 2, "recall": 2 / 3, "accuracy": 3 / 6,
        "balanced_accuracy": (2 / 3 + 1 / 3) / 2,
        "true_positive_rate": 2 / 3, "true_negative_rate": 1 / 3, "false_positive_rate": 2 / 3, "false_negative_rate": 1 / 3,
        "f1": 2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3),  # 4/7
        "f0_5": 1.25 * (1 / 2) * (2 / 3) / (0.25 * (1 / 2) + 2 / 3),  # 10/19
        "f2": 5 * (1 / 2) * (2 / 3) / (4 * (1 / 2) + 2 / 3),  # 5/8
        # positive/negative pairs ranked right: 0.9 > 3 negatives, 0.4 > 0.1, 0.8 > 3 negatives: 7 of 9
        "auc": 7 / 9,
        # ranked: 0.9 P, 0.8 P, 0.7 N, 0.6 N, 0.4 P, 0.1 N -> AP = 1/3 * 1 + 1/3 * 1 + 1/3 * 3/5
        "pr_auc": 1 / 3 + 1 / 3 + 1 / 5,
        "log_loss": -(math.log(0.9) + math.log(0.4) + math.log(0.8) + math.log(0.4) + math.log(0.3) + math.log(0.9)) / 6,
        "brier_score": (0.01 + 0.36 + 0.36 + 0.49 + 0.04 + 0.01) / 6,
        # best constant classifier: all positive gives recall 1, precision 1/2, accuracy 1/2, f1 2/3
        "recall_best_constant_classifier": 1.0,
        "precision_best_constant_classifier": 0.5,
        "accuracy_best_constant_classifier": 0.5,
        "f1_best_constant_classifier": 2 / 3,
    }  # fmt: skip
    for name, value in expected.items():
        assert m[name]["value"] == pytest.approx(value, abs=1e-12), name
    assert m["recall"]["standard_deviation"] == "NaN"  # fewer than 200 rows
    assert m["per_class"]["positive"]["recall"] == pytest.approx(2 / 3)
    roc = m["receiver_operating_characteristic_curve"]
    assert roc["false_positive_rates"][0] == 0.0 and roc["true_positive_rates"][-1] == 1.0


def test_standard_deviation_from_five_80_percent_samples_at_200_rows() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400).astype(bool)
    score = np.clip(y * 0.3 + rng.uniform(0, 0.7, 400), 0, 1)
    m = binary_metrics(y, score)
    assert isinstance(m["auc"]["standard_deviation"], float) and 0 < m["auc"]["standard_deviation"] < 0.1
    small = binary_metrics(y[:199], score[:199])
    assert small["auc"]["standard_deviation"] == "NaN"


def test_single_class_labels_make_rank_metrics_undefined() -> None:
    m = binary_metrics([True, True, True], [0.9, 0.2, 0.7])
    assert m["auc"]["value"] == "NaN" and "single class" in m["notes"]["auc"]
    assert m["recall"]["value"] == pytest.approx(2 / 3)
    with pytest.raises(ValidationError, match="NaN"):
        binary_metrics([True, False], [0.5, float("nan")])
    with pytest.raises(ValidationError, match="3 scores for 2 labels"):
        binary_metrics([True, False], [0.5, 0.1, 0.2])


def test_multiclass_metrics_by_hand() -> None:
    # y = a b c a b c; arg-max predictions a b b a c c
    classes = ["a", "b", "c"]
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.1, 0.3, 0.6], [0.1, 0.1, 0.8]])
    m = multiclass_metrics(["a", "b", "c", "a", "b", "c"], proba, classes)
    assert m["confusion_matrix"] == {"a": {"a": 2, "b": 0, "c": 0}, "b": {"a": 0, "b": 1, "c": 1}, "c": {"a": 0, "b": 1, "c": 1}}
    assert m["accuracy"]["value"] == pytest.approx(4 / 6)
    # recall a = 2/2, b = 1/2, c = 1/2, each class 2 of 6 rows -> weighted 2/3
    assert m["weighted_recall"]["value"] == pytest.approx(2 / 3)
    # precision a = 2/2, b = 1/2, c = 1/2 -> weighted 2/3; weighted f1 = (1 + 1/2 + 1/2) / 3
    assert m["weighted_precision"]["value"] == pytest.approx(2 / 3)
    assert m["weighted_f1"]["value"] == pytest.approx(2 / 3)
    assert m["accuracy_best_constant_classifier"]["value"] == pytest.approx(1 / 3)
    assert m["log_loss"]["value"] == pytest.approx(-np.mean(np.log([0.8, 0.8, 0.3, 0.6, 0.3, 0.8])))
    assert m["per_class"]["b"]["recall"] == pytest.approx(0.5)
    with pytest.raises(ValidationError, match="not among the model's classes"):
        multiclass_metrics(["a", "z"], proba[:2], classes)


def test_regression_metrics_by_hand() -> None:
    # y = 1 2 3 4, prediction 1.5 2 2 5 -> errors 0.5 0 -1 1
    m = regression_metrics([1, 2, 3, 4], [1.5, 2, 2, 5])
    assert m["mae"]["value"] == pytest.approx(2.5 / 4)
    assert m["mse"]["value"] == pytest.approx((0.25 + 0 + 1 + 1) / 4)
    assert m["rmse"]["value"] == pytest.approx(0.75)
    assert m["r2"]["value"] == pytest.approx(1 - 2.25 / 5)  # SSE 2.25, SST 2.25 + 0.25 + 0.25 + 2.25
    assert m["mape"]["value"] == pytest.approx((0.5 / 1 + 0 + 1 / 3 + 1 / 4) / 4)
    with pytest.raises(ValidationError, match="NaN"):
        regression_metrics([1, 2], [1, float("nan")])


@pytest.mark.parametrize(
    ("fp", "fn", "threshold", "cost"),
    [
        # y = 1 0 1 0, score 0.9 0.8 0.3 0.1. Thresholds: 0.9 -> FN 1; 0.8 -> FP 1, FN 1; 0.3 -> FP 1;
        # 0.1 -> FP 2; above 0.9 -> FN 2.
        (1, 5, 0.3, 1.0),  # costs 5, 6, 1, 2, 10
        (5, 1, 0.9, 1.0),  # costs 1, 6, 5, 10, 2
    ],
)
def test_threshold_selection_by_cost(fp: float, fn: float, threshold: float, cost: float) -> None:
    res = select_threshold([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], cost_fp=fp, cost_fn=fn)
    assert res["threshold"] == threshold and res["total_cost"] == cost


def test_threshold_selection_can_predict_nothing_positive() -> None:
    # positives are rare and misses are cheap: predicting nothing costs 1 (one FN), any threshold costs more
    res = select_threshold([0, 0, 1], [0.9, 0.8, 0.1], cost_fp=10, cost_fn=1)
    assert res["threshold"] > 0.9 and res["confusion"] == {"tp": 0, "fp": 0, "fn": 1, "tn": 2}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 20)), min_size=1, max_size=40),
    st.floats(0, 10), st.floats(0, 10), st.floats(-2, 2), st.floats(-2, 2),
)  # fmt: skip
def test_threshold_selection_matches_brute_force(rows, fp, fn, tp, tn) -> None:
    y = np.array([r[0] for r in rows])
    score = np.array([r[1] / 20 for r in rows])
    res = select_threshold(y, score, cost_fp=fp, cost_fn=fn, cost_tp=tp, cost_tn=tn)

    def cost(t: float) -> float:
        pred = score >= t
        return fp * np.sum(pred & ~y) + fn * np.sum(~pred & y) + tp * np.sum(pred & y) + tn * np.sum(~pred & ~y)

    candidates = [*sorted(set(score.tolist())), float(score.max()) + 1]
    best = min(cost(t) for t in candidates)
    assert res["total_cost"] == pytest.approx(best)
    assert cost(res["threshold"]) == pytest.approx(best)


def test_curves_are_thinned_for_large_inputs() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 5000).astype(bool)
    score = rng.uniform(size=5000)
    m = binary_metrics(y, score)
    roc = m["receiver_operating_characteristic_curve"]
    assert len(roc["false_positive_rates"]) <= 201
    assert roc["false_positive_rates"][0] == 0.0 and roc["false_positive_rates"][-1] == 1.0
    assert sum(m["calibration"]["bin_counts"]) == 5000
