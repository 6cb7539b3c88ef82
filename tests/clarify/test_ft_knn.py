"""FT's kNN votes (``_knn.majority_vote``) against scikit-learn and against a brute-force search."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsClassifier

from forgeml.clarify import _knn, bias_report
from forgeml.clarify._knn import majority_vote


def _brute_votes(xa: np.ndarray, ya: np.ndarray, xd: np.ndarray, k: int) -> np.ndarray:
    """k smallest by (squared distance, row position): a stable sort over all pairs."""
    d2 = ((xd[:, None, :] - xa[None, :, :]) ** 2).sum(axis=2)
    nearest = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return 2 * ya[nearest].sum(axis=1) > k


def _ft(frame: pd.DataFrame, features: list[str]) -> float:
    report = bias_report(frame, label="y", label_values_or_threshold=[1], facets=["f=1"], predicted_label="p",
                         pre_training_methods=None, post_training_methods=["FT"], ft_features=features)  # fmt: skip
    return report["post_training_bias_metrics"]["facets"]["f"][0]["metrics"][0]["value"]


@pytest.mark.parametrize("n_features", [1, 3, 5, 16, 24])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ft_equals_smclarify_knn_on_continuous_data(n_features: int, seed: int) -> None:
    """smclarify's FT: KNeighborsClassifier(5) fitted on facet a, predicting facet d (brute above 15 features)."""
    rng = np.random.default_rng(seed)
    n = 1500
    x = rng.normal(size=(n, n_features))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(n_features)])
    frame["f"] = (rng.uniform(size=n) < 0.3).astype(int)
    frame["p"] = (x[:, 0] + rng.normal(scale=0.7, size=n) > 0).astype(int)
    frame["y"] = rng.integers(0, 2, n)
    a, d = frame.f.to_numpy() == 0, frame.f.to_numpy() == 1
    knn = KNeighborsClassifier(n_neighbors=5).fit(x[a], frame.p.to_numpy()[a])
    y_if_a = knn.predict(x[d]).astype(bool)
    model = frame.p.to_numpy()[d] == 1
    expected = (np.sum(model & ~y_if_a) - np.sum(~model & y_if_a)) / d.sum()
    assert _ft(frame, [f"x{i}" for i in range(n_features)]) == pytest.approx(expected, abs=1e-15)
    np.testing.assert_array_equal(majority_vote(x[a], frame.p.to_numpy()[a] == 1, x[d], 5), y_if_a)


@pytest.mark.parametrize("na", [1, 2, 9])
def test_ft_uses_one_neighbour_when_facet_a_has_at_most_nine_rows(na: int) -> None:
    rng = np.random.default_rng(na)
    xa, xd = rng.normal(size=(na, 2)), rng.normal(size=(40, 2))
    pa, pd_ = rng.integers(0, 2, na), rng.integers(0, 2, 40)
    frame = pd.DataFrame(np.vstack([xa, xd]), columns=["x1", "x2"])
    frame["f"] = [0] * na + [1] * 40
    frame["p"] = np.concatenate([pa, pd_])
    frame["y"] = 0
    y_if_a = KNeighborsClassifier(n_neighbors=1).fit(xa, pa).predict(xd).astype(bool)
    model = pd_ == 1
    expected = (np.sum(model & ~y_if_a) - np.sum(~model & y_if_a)) / 40
    assert _ft(frame, ["x1", "x2"]) == pytest.approx(expected, abs=1e-15)


def test_equidistant_rows_go_to_the_earliest_row_of_facet_a() -> None:
    # k = 1: the d row at x = 0 is 1 away from both a rows; the earlier one decides.
    xd = np.array([[0.0]])
    assert majority_vote(np.array([[-1.0], [1.0]]), np.array([True, False]), xd, 1).tolist() == [True]
    assert majority_vote(np.array([[1.0], [-1.0]]), np.array([False, True]), xd, 1).tolist() == [False]
    # k = 5: 4 rows at x = 0 (positive) and 4 at x = 2 (negative) are all 1 away from x = 1; the
    # 5 earliest of those 8 rows are chosen, so the vote follows which group comes first.
    pos_first = np.array([[0.0]] * 4 + [[2.0]] * 4 + [[100.0]] * 2)
    yes = np.array([True] * 4 + [False] * 6)
    assert majority_vote(pos_first, yes, np.array([[1.0]]), 5).tolist() == [True]
    neg_first = np.array([[2.0]] * 4 + [[0.0]] * 4 + [[100.0]] * 2)
    neg_yes = np.array([False] * 4 + [True] * 4 + [False] * 2)
    assert majority_vote(neg_first, neg_yes, np.array([[1.0]]), 5).tolist() == [False]


@pytest.mark.parametrize("seed", range(12))
def test_votes_on_tied_integer_data_follow_the_distance_then_row_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_features, na = int(rng.integers(1, 4)), int(rng.integers(1, 400))
    k = 5 if na > 9 else 1
    xa = rng.integers(0, 3, size=(na, n_features)).astype(float)
    xd = rng.integers(-1, 4, size=(150, n_features)).astype(float)
    ya = rng.uniform(size=na) < 0.5
    np.testing.assert_array_equal(majority_vote(xa, ya, xd, k), _brute_votes(xa, ya, xd, k))


def test_heavily_duplicated_rows_take_the_merged_path_and_agree() -> None:
    rng = np.random.default_rng(5)
    xa = rng.integers(0, 2, size=(20_000, 2)).astype(float)  # 4 distinct points, ~5,000 rows each
    xd = rng.integers(-1, 3, size=(300, 2)).astype(float) + rng.choice([0.0, 0.5], size=(300, 2))
    ya = rng.uniform(size=len(xa)) < 0.5
    assert _knn._many_duplicates(xa) and not _knn._many_duplicates(rng.normal(size=(20_000, 2)))
    np.testing.assert_array_equal(majority_vote(xa, ya, xd, 5), _brute_votes(xa, ya, xd, 5))


def test_queries_in_many_chunks_give_the_same_votes(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    xa, xd = rng.integers(0, 4, size=(500, 2)).astype(float), rng.normal(size=(301, 2)) * 2
    xd[::3] = np.round(xd[::3])  # some queries on the grid, so ties show up in several chunks
    ya = rng.uniform(size=500) < 0.4
    expected = _brute_votes(xa, ya, xd, 5)
    monkeypatch.setattr(_knn, "CHUNK_ROWS", 7)
    np.testing.assert_array_equal(majority_vote(xa, ya, xd, 5), expected)


def test_ft_reports_infinite_features() -> None:
    frame = pd.DataFrame({"x": [0.0, 1, 2, math.inf, 4, 5], "f": [0, 0, 0, 0, 1, 1], "y": [1, 0, 1, 0, 1, 0], "p": [1, 0, 1, 0, 1, 1]})
    report = bias_report(frame, label="y", label_values_or_threshold=[1], facets=["f=1"], predicted_label="p",
                         pre_training_methods=None, post_training_methods=["FT"])  # fmt: skip
    metric = report["post_training_bias_metrics"]["facets"]["f"][0]["metrics"][0]
    assert metric["value"] is None and "infinite values: x" in metric["error"]
