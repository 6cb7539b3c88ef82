"""CBPE: NannyML's published sampling-error vectors, hand-computed estimates, scikit-learn for the
realized metrics and the calibration, and a known covariate shift the estimate must track."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from forgeml.errors import ValidationError
from forgeml.monitoring import _cbpe as cbpe


def _nannyml_population(kind: str) -> tuple[np.ndarray, np.ndarray]:
    np.random.seed(1)  # the legacy global generator, as NannyML's own tests draw these
    np.random.random(50)  # their chunk of 50 rows
    y = np.random.binomial(1, 0.5, 10_000)
    other = np.linspace(0, 1, 10_000) if kind == "auc" else np.random.binomial(1, 0.5, 10_000)
    return y, other


@pytest.mark.parametrize(("metric", "expected"), [("accuracy", 0.0707), ("f1", 0.1153), ("precision", 0.0989),
                                                  ("recall", 0.0998), ("specificity", 0.1001)])  # fmt: skip
def test_sampling_error_matches_nannyml_vectors(metric: str, expected: float) -> None:
    y, pred = _nannyml_population("labels")
    comp = cbpe.components(y, pred, np.full(len(y), 0.5))
    assert round(cbpe.sampling_error(comp[metric], 50), 4) == expected


def test_auc_sampling_error_matches_nannyml_vector() -> None:
    y, score = _nannyml_population("auc")
    assert round(cbpe.sampling_error(cbpe.auc_components(y, score), 50), 4) == 0.0575
    assert math.isnan(cbpe.sampling_error((math.nan, math.nan), 50))


def test_estimates_by_hand() -> None:
    p = np.array([0.9, 0.8, 0.3, 0.6, 0.2])
    pred = (p >= 0.5).astype(int)  # TP 2.3, FP 0.7, FN 0.5, TN 1.5
    est = cbpe.estimated(p, pred, p)
    assert est["accuracy"] == pytest.approx(3.8 / 5)
    assert est["precision"] == pytest.approx(2.3 / 3.0)
    assert est["recall"] == pytest.approx(2.3 / 2.8)
    assert est["specificity"] == pytest.approx(1.5 / 2.2)
    assert est["f1"] == pytest.approx(2.3 / (2.3 + 0.5 * 1.2))
    # trapezoids of the expected curve: tps 0 .9 1.7 2.3 2.6 2.8, fps 0 .1 .3 .7 1.4 2.2
    assert est["roc_auc"] == pytest.approx((0.045 + 0.26 + 0.8 + 1.715 + 2.16) / (2.8 * 2.2))


def test_expected_auc_is_the_expected_mann_whitney_pairing() -> None:
    rng = np.random.default_rng(3)
    score = rng.random(300)
    p = np.clip(score + rng.normal(0, 0.1, 300), 0, 1)
    order = np.argsort(-score)
    q = p[order]
    # each row pairs as a negative with every higher-ranked positive, and half with itself
    num = sum((1 - q[k]) * (q[:k].sum() + q[k] / 2) for k in range(len(q)))
    assert cbpe.expected_auc(p, score) == pytest.approx(num / (p.sum() * (1 - p).sum()), abs=1e-4)


def test_realized_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(4)
    y, score = rng.integers(0, 2, 500), rng.random(500)
    pred = (score >= 0.4).astype(int)
    real = cbpe.realized(y, pred, score)
    assert real["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert real["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert real["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert real["specificity"] == pytest.approx(skm.recall_score(1 - y, 1 - pred))
    assert real["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert real["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score))


def test_calibration_rule_and_stored_steps() -> None:
    rng = np.random.default_rng(5)
    truth = rng.random(4000)
    y = (rng.random(4000) < truth).astype(int)
    assert not cbpe.needs_calibration(y, truth)  # already calibrated: isotonic does not help
    skewed = truth**3  # far too low: calibration lowers the ECE
    assert cbpe.needs_calibration(y, skewed)
    assert not cbpe.needs_calibration(np.ones(100, dtype=int), rng.random(100))  # one class
    assert not cbpe.needs_calibration(y, y * 0.9 + 0.05)  # AUC 1: nothing to learn
    model = cbpe.fit(y, (skewed >= 0.5).astype(int), skewed)
    assert model["calibrated"]
    iso = IsotonicRegression(out_of_bounds="clip").fit(skewed, y)
    fresh = np.concatenate([rng.random(200), [-0.5, 1.5]])
    assert np.allclose(cbpe.calibrate(model, fresh), iso.predict(fresh))


def test_ece_by_hand() -> None:
    y, p = np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.7, 0.9])
    edges = cbpe.bin_edges(4, 10)  # 4 values: 2 bins of 2
    assert edges == [(0, 2), (2, 4)]
    assert cbpe.ece(y, p, edges) == pytest.approx(0.5 * abs(0.15 - 0.5) + 0.5 * abs(0.8 - 0.5))
    with pytest.raises(ValidationError, match="2 bins"):
        cbpe.bin_edges(3, 10)


def test_thresholds_are_three_std_of_reference_chunks() -> None:
    rng = np.random.default_rng(6)
    score = rng.random(1000)
    y = (rng.random(1000) < score).astype(int)
    pred = (score >= 0.5).astype(int)
    model = cbpe.fit(y, pred, score, chunks=10)
    acc = [skm.accuracy_score(y[i], pred[i]) for i in np.array_split(np.arange(1000), 10)]
    lower, upper = model["thresholds"]["accuracy"]
    assert lower == pytest.approx(np.mean(acc) - 3 * np.std(acc))
    assert upper == pytest.approx(min(1.0, np.mean(acc) + 3 * np.std(acc)))


def test_fit_refuses_bad_reference() -> None:
    with pytest.raises(ValidationError, match="0 or 1"):
        cbpe.fit([0, 2] * 20, [0, 1] * 20, [0.1, 0.9] * 20)
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        cbpe.fit([0, 1] * 20, [0, 1] * 20, [0.1, 1.9] * 20)
    with pytest.raises(ValidationError, match="at least 20"):
        cbpe.fit([0, 1] * 5, [0, 1] * 5, [0.1, 0.9] * 5)


WEIGHTS = np.array([1.5, -1.0, 0.5])


def _draw(rng: np.random.Generator, n: int, shift: float = 0.0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """P(y | x) is fixed (no concept drift); the shift moves only x's distribution."""
    x = rng.normal(size=(n, 3))
    x[:, 0] = x[:, 0] * scale + shift
    return x, (rng.random(n) < 1 / (1 + np.exp(-(x @ WEIGHTS - 0.3)))).astype(int)


@pytest.mark.parametrize(("shift", "scale"), [(0.0, 1.0), (0.5, 1.0), (-0.5, 1.0), (0.0, 0.4), (0.0, 2.0)])
def test_estimate_tracks_realized_under_covariate_shift(shift: float, scale: float) -> None:
    """Within 3 sampling errors. NannyML's errors use the *reference's* share of relevant rows
    (predicted positives for precision...), so a shift that moves that share a lot (x1 by a full
    standard deviation here) understates the error of the ratio metrics; kept as the reference states."""
    rng = np.random.default_rng(7)
    x_train, y_train = _draw(rng, 5000)
    model = LogisticRegression().fit(x_train, y_train)
    x_ref, y_ref = _draw(rng, 5000)
    s_ref = model.predict_proba(x_ref)[:, 1]
    fitted = cbpe.fit(y_ref, (s_ref >= 0.5).astype(int), s_ref)
    x, y = _draw(np.random.default_rng(100 + int(10 * shift + scale)), 2000, shift, scale)
    score = model.predict_proba(x)[:, 1]
    pred = (score >= 0.5).astype(int)
    out = cbpe.estimate(fitted, pred, score)
    real = cbpe.realized(y, pred, score)
    for metric, value in out.items():
        assert abs(value["estimated"] - real[metric]) <= 3 * value["sampling_error"], (metric, value, real[metric])
        assert value["lower_confidence_boundary"] <= real[metric] <= value["upper_confidence_boundary"]
    if scale != 1.0:  # a real change: the estimate moves with the realized metric, and alerts
        assert abs(out["accuracy"]["estimated"] - fitted["realized"]["accuracy"]) > 3 * out["accuracy"]["sampling_error"]
        assert out["accuracy"]["alert"]
    else:
        assert out["roc_auc"]["estimated"] == pytest.approx(real["roc_auc"], abs=0.02)
