"""The distances behind ``baseline_drift_check`` (reference §10.6, Deequ's ``Distance``).

* Numeric: ``D = sup_x |F1(x) - F2(x)|`` over every sketch key, where ``F`` is the weighted
  empirical CDF of a KLL sketch's retained items (what the sketch's CDF is). On exact data (fewer
  values than the sketch compacts) it equals the two-sample KS statistic; otherwise it is within
  the sketches' rank errors (see :mod:`forgeml.monitoring._sketch`).
* Categorical LInfinity: ``max_c |p1(c) - p2(c)|``.
* ``Robust`` (both): ``max(0, D - c * sqrt((n + m) / (n * m)))`` with Deequ's ``c = 1.8``.
* Categorical ChiSquared: the p-value of a chi-square goodness-of-fit test of the window's counts
  against the baseline's proportions rescaled to the window's total, after regrouping sparse
  categories (Cochran for two categories: every expected count >= 10; Yates for more: at most
  20 % of expected counts below 5, none zero). A *small* p-value means drift, so this distance
  violates when it is **below** the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

C_ALPHA = 1.8
YATES_ABS, YATES_SHARE, COCHRAN_ABS = 5.0, 0.2, 10.0


def _weighted(levels: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    values = np.concatenate([np.asarray(level, dtype=np.float64) for level in levels]) if levels else np.empty(0)
    weights = np.concatenate([np.full(len(level), 2.0**i) for i, level in enumerate(levels)]) if levels else np.empty(0)
    order = np.argsort(values, kind="stable")
    return values[order], weights[order]


def _cdf(values: np.ndarray, weights: np.ndarray, at: np.ndarray) -> np.ndarray:
    cum = np.concatenate([[0.0], np.cumsum(weights)])
    return cum[np.searchsorted(values, at, side="right")] / cum[-1]


def ks_distance(levels_a: Sequence[Sequence[float]], levels_b: Sequence[Sequence[float]]) -> float:
    """L-infinity distance of the CDFs of two sketches given as levels of items (level i weighs 2**i).

    Returns NaN when either side is empty.
    """
    va, wa = _weighted(levels_a)
    vb, wb = _weighted(levels_b)
    if va.size == 0 or vb.size == 0:
        return math.nan
    keys = np.union1d(va, vb)
    return float(np.max(np.abs(_cdf(va, wa, keys) - _cdf(vb, wb, keys))))


def robust(distance: float, n: int, m: int, c_alpha: float = C_ALPHA) -> float:
    """Deequ's small-sample correction: ``max(0, D - c * sqrt((n + m) / (n * m)))``."""
    if math.isnan(distance) or n <= 0 or m <= 0:
        return distance
    return max(0.0, distance - c_alpha * math.sqrt((n + m) / (n * m)))


def linf_categorical(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """``max_c |p_a(c) - p_b(c)|`` over the union of categories (NaN when a side is empty)."""
    ta, tb = float(sum(a.values())), float(sum(b.values()))
    if ta <= 0 or tb <= 0:
        return math.nan
    return max(abs(a.get(c, 0) / ta - b.get(c, 0) / tb) for c in set(a) | set(b))


def regroup(observed: Mapping[str, float], expected: Mapping[str, float]) -> tuple[list[float], list[float]]:
    """Observed and expected counts after merging the sparsest categories into one until the
    Cochran (two categories) or Yates (more) rule holds; categories the baseline never saw have
    an expected count of 0 and are always merged."""
    cats = sorted(set(observed) | set(expected), key=lambda c: (expected.get(c, 0.0), c))
    obs = [float(observed.get(c, 0.0)) for c in cats]
    exp = [float(expected.get(c, 0.0)) for c in cats]

    def ok(e: list[float]) -> bool:
        if len(e) < 2 or min(e) <= 0:
            return False
        if len(e) == 2:
            return min(e) >= COCHRAN_ABS
        return sum(1 for x in e if x < YATES_ABS) <= YATES_SHARE * len(e)

    while len(exp) > 2 and not ok(exp):  # merge the two smallest expected counts (kept sorted)
        o0, e0 = obs.pop(0), exp.pop(0)
        obs[0] += o0
        exp[0] += e0
        order = sorted(range(len(exp)), key=lambda i: exp[i])
        obs, exp = [obs[i] for i in order], [exp[i] for i in order]
    return obs, exp


def chi_squared(window: Mapping[str, float], baseline: Mapping[str, float]) -> float:
    """p-value of the window's counts against the baseline's proportions (NaN when the test is
    not defined: an empty side, or fewer than two categories after regrouping)."""
    from scipy.stats import chi2

    total_w, total_b = float(sum(window.values())), float(sum(baseline.values()))
    if total_w <= 0 or total_b <= 0:
        return math.nan
    expected = {c: n * total_w / total_b for c, n in baseline.items()}
    obs, exp = regroup(window, expected)
    if len(exp) < 2 or min(exp) <= 0:
        return math.nan
    stat = sum((o - e) ** 2 / e for o, e in zip(obs, exp, strict=True))
    return float(chi2.sf(stat, len(exp) - 1))


__all__ = ["C_ALPHA", "chi_squared", "ks_distance", "linf_categorical", "regroup", "robust"]
