"""The drift distances against independent implementations (scipy) on random data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chisquare, ks_2samp

from forgeml.monitoring import (
    NumericSummary,
    chi_squared,
    ks_distance,
    linf_categorical,
    rank_error,
    robust,
)
from forgeml.monitoring._drift import regroup


def _summary(values: np.ndarray, batch: int = 7_000) -> NumericSummary:
    s = NumericSummary()
    for i in range(0, len(values), batch):
        s.update(values[i : i + batch])
    return s


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_simple_linf_equals_ks_2samp_on_exact_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=1500)
    b = rng.normal(loc=rng.uniform(0, 0.5), scale=rng.uniform(0.8, 1.3), size=900)
    b[:50] = np.round(b[:50], 1)  # ties
    a[:50] = np.round(a[:50], 1)
    sa, sb = _summary(a, 400), _summary(b, 400)
    assert not sa.sketch.is_estimation_mode() and not sb.sketch.is_estimation_mode()
    assert ks_distance(sa.levels(), sb.levels()) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_sketched_linf_is_within_the_documented_rank_error_bound(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=200_000)
    b = rng.normal(loc=0.05, size=150_000)
    sa, sb = _summary(a), _summary(b)
    assert sa.sketch.is_estimation_mode()
    exact = ks_2samp(a, b).statistic
    assert abs(ks_distance(sa.levels(), sb.levels()) - exact) <= 2 * rank_error()
    assert sum(len(level) for level in sa.levels()) < 12_000  # bounded: not the 200,000 values


def test_robust_subtracts_deequs_correction() -> None:
    assert robust(0.3, 100, 400) == pytest.approx(0.3 - 1.8 * math.sqrt(500 / 40_000))
    assert robust(0.05, 100, 100) == 0.0
    assert math.isnan(robust(math.nan, 1, 1))


def test_categorical_linf_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(5)
    cats = np.array(["a", "b", "c", "d"])
    x, y = rng.choice(cats, 500, p=[0.4, 0.3, 0.2, 0.1]), rng.choice(cats[:3], 300)
    ca = {c: float((x == c).sum()) for c in cats}
    cb = {c: float((y == c).sum()) for c in cats[:3]}
    direct = max(abs((x == c).mean() - (y == c).mean()) for c in cats)
    assert linf_categorical(ca, cb) == pytest.approx(direct)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chi_squared_p_value_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = {c: float(n) for c, n in zip("abcde", rng.integers(200, 600, 5), strict=True)}
    window = {c: float(n) for c, n in zip("abcde", rng.integers(50, 150, 5), strict=True)}
    total_w, total_b = sum(window.values()), sum(base.values())
    expected = [base[c] * total_w / total_b for c in "abcde"]
    assert chi_squared(window, base) == pytest.approx(chisquare([window[c] for c in "abcde"], expected).pvalue, rel=1e-9)


def test_chi_squared_regroups_sparse_and_unseen_categories_like_yates() -> None:
    base = {"a": 500.0, "b": 400.0, "c": 300.0, "d": 4.0, "e": 2.0}
    window = {"a": 100.0, "b": 90.0, "c": 50.0, "d": 3.0, "e": 1.0, "new": 4.0}
    obs, exp = regroup(window, {c: n * 248 / 1206 for c, n in base.items()})
    # new (never seen: expected 0), e and d merge; that bucket's expected count is still < 5 with
    # 4 buckets (25 % > 20 %), so c joins it too
    merged_obs = [58.0, 90.0, 100.0]
    merged_exp = [306 * 248 / 1206, 400 * 248 / 1206, 500 * 248 / 1206]
    assert obs == pytest.approx(merged_obs) and exp == pytest.approx(merged_exp)
    assert chi_squared(window, base) == pytest.approx(chisquare(merged_obs, merged_exp).pvalue)
    assert math.isnan(chi_squared({}, base))


def test_merged_summaries_stay_within_the_bound_of_the_pooled_data() -> None:
    rng = np.random.default_rng(9)
    parts = [rng.normal(size=60_000), rng.normal(loc=0.3, size=40_000)]
    merged = _summary(parts[0])
    merged.merge(_summary(parts[1]))
    pooled = np.concatenate(parts)
    assert merged.n == 100_000 and merged.mean == pytest.approx(pooled.mean()) and merged.std_dev == pytest.approx(pooled.std())
    other = rng.normal(loc=0.1, size=5_000)
    exact = ks_2samp(pooled, other).statistic
    assert abs(ks_distance(merged.levels(), _summary(other).levels()) - exact) <= 2 * rank_error()


def test_checks_report_the_scipy_statistics_end_to_end() -> None:
    import pandas as pd

    from forgeml.monitoring import Profile, check, parse_constraints, suggest

    rng = np.random.default_rng(21)
    base_frame = pd.DataFrame({"x": rng.gamma(2.0, size=1200), "c": rng.choice(list("abcd"), 1200, p=[0.4, 0.3, 0.2, 0.1])})
    window_frame = pd.DataFrame({"x": rng.gamma(2.2, size=800), "c": rng.choice(list("abcd"), 800, p=[0.3, 0.3, 0.25, 0.15])})
    base, window = Profile(), Profile()
    base.update(base_frame)
    window.update(window_frame)
    stats = base.statistics()
    doc = suggest(stats).document()
    doc["monitoring_config"]["distribution_constraints"].update(comparison_method="Simple", categorical_drift_method="ChiSquared")
    result = check(stats, parse_constraints(doc), window)
    assert result.drift["x"]["distance"] == pytest.approx(ks_2samp(base_frame["x"], window_frame["x"]).statistic, abs=1e-12)
    observed = window_frame["c"].value_counts().reindex(list("abcd")).to_numpy(float)
    expected = base_frame["c"].value_counts().reindex(list("abcd")).to_numpy(float) * 800 / 1200
    assert result.drift["c"]["distance"] == pytest.approx(chisquare(observed, expected).pvalue, rel=1e-9)
    doc["monitoring_config"]["distribution_constraints"]["comparison_method"] = "Robust"
    robust_x = check(stats, parse_constraints(doc), window).drift["x"]["distance"]
    assert robust_x == pytest.approx(robust(result.drift["x"]["distance"], 1200, 800))
