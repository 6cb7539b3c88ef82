"""Champion/challenger gates and k-fold cross-validation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

from forgeml.errors import ValidationError
from forgeml.evaluation import compare, cross_validate, parse_rule
from tests.evaluation.helpers import FEATURES, loans_frame


def test_gate_passes_and_fails_by_rule() -> None:
    champion = {"auc": 0.80, "log_loss": 0.40, "accuracy": 0.75}
    challenger = {"auc": 0.79, "log_loss": 0.38, "accuracy": 0.77}
    res = compare(challenger, champion, [{"metric": "auc", "max_regression": 0.02}, "log_loss~0", "accuracy>=0.7"])
    assert res["passed"] and res["verdict"] == "pass"
    assert res["checks"][0]["regression"] == pytest.approx(0.01)
    assert res["checks"][1]["regression"] == pytest.approx(-0.02)  # lower is better: an improvement
    res = compare(challenger, champion, ["auc~0.005", "accuracy<=0.76"])
    assert not res["passed"] and res["verdict"] == "fail"
    assert "auc regressed by 0.01" in res["checks"][0]["reason"]
    assert "accuracy 0.77 > max 0.76" in res["checks"][1]["reason"]


def test_gate_edge_cases() -> None:
    # no champion: only absolute bounds apply
    assert compare({"auc": 0.7}, None, ["auc~0", "auc>=0.6"])["passed"]
    # a metric the challenger lacks fails its rule
    res = compare({"auc": 0.7}, {"auc": 0.6}, ["f1>=0.1"])
    assert not res["passed"] and "challenger has no 'f1'" in res["checks"][0]["reason"]
    # negative max_regression demands an improvement of at least that much
    assert not compare({"mae": 1.0}, {"mae": 1.05}, [{"metric": "mae", "max_regression": -0.1}])["passed"]
    assert compare({"mae": 0.9}, {"mae": 1.05}, [{"metric": "mae", "max_regression": -0.1}])["passed"]
    with pytest.raises(ValidationError, match="at least one rule"):
        compare({"auc": 1}, None, [])
    with pytest.raises(ValidationError, match="needs 'metric'"):
        parse_rule({"metric": "auc", "minimum": 1})
    with pytest.raises(ValidationError, match="not a number"):
        parse_rule("auc>=high")


def test_cross_validation_matches_scikit_learn_on_the_same_folds() -> None:
    frame = loans_frame(150, seed=3)
    X, y = frame[FEATURES], frame["approve"].to_numpy()
    res = cross_validate(LogisticRegression(max_iter=500), X, y, task="binary", folds=3, seed=5)
    expected = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=StratifiedKFold(3, shuffle=True, random_state=5), scoring="roc_auc")
    assert res["per_fold"]["auc"] == pytest.approx(list(expected))
    assert res["mean"]["auc"] == pytest.approx(float(np.mean(expected)))
    assert res["mean"]["log_loss"] > 0  # neg_log_loss turned back into a loss
    assert len(res["per_fold"]["accuracy"]) == 3


def test_cross_validation_refuses_too_few_rows_per_class() -> None:
    frame = loans_frame(40)
    y = np.array([1] * 3 + [0] * 37)
    with pytest.raises(ValidationError, match="rarest class has 3 row"):
        cross_validate(LogisticRegression(), frame[FEATURES], y, task="binary", folds=5)
    with pytest.raises(ValidationError, match="not 'clustering'"):
        cross_validate(LogisticRegression(), frame[FEATURES], y, task="clustering")
