"""Mergeable per-column summaries: a KLL quantile sketch plus exact moments for numbers, and
capped value counts plus an HLL distinct count for strings.

The numeric summary streams: each batch updates a ``datasketches`` KLL sketch (k = 2048, the size
Deequ uses) and merges its count, mean and M2 with Chan's formula, so a baseline over data too big
for memory holds only ``O(k log(n/k))`` numbers per column. Two summaries merge exactly as two
sketches do (:meth:`NumericSummary.merge`).

**Sketch error.** A KLL sketch of ``n`` values answers every rank query within
``eps = kll_doubles_sketch.get_normalized_rank_error(k, False)`` of the exact normalized rank
with 99 % confidence (``eps`` is about 0.0014 for k = 2048). The L-infinity distance of two
sketched CDFs is therefore within ``eps1 + eps2`` of the exact two-sample KS statistic (about
0.003). Below about ``k`` values a sketch is not yet compacting and is exact.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

K = 2048
TRACKED_VALUES = 10_000  # distinct string values counted exactly per column; further values go to "other"


def rank_error(k: int = K) -> float:
    """The normalized rank error (99 % confidence) of one KLL sketch of size ``k``."""
    from datasketches import kll_doubles_sketch

    return float(kll_doubles_sketch.get_normalized_rank_error(k, False))


class NumericSummary:
    """Count, moments, extremes and a KLL sketch of one numeric column."""

    def __init__(self, k: int = K) -> None:
        from datasketches import kll_doubles_sketch

        self.sketch = kll_doubles_sketch(k)
        self.k = k
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def update(self, values: np.ndarray) -> None:
        """Add finite float values (the caller has removed missing ones)."""
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return
        self.sketch.update(values)
        n_b = int(values.size)
        mean_b = float(values.mean())
        m2_b = float(((values - mean_b) ** 2).sum())
        self._combine(n_b, mean_b, m2_b, float(values.sum()), float(values.min()), float(values.max()))

    def _combine(self, n_b: int, mean_b: float, m2_b: float, total_b: float, min_b: float, max_b: float) -> None:
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.n = n
        self.total += total_b
        self.min = min(self.min, min_b)
        self.max = max(self.max, max_b)

    def merge(self, other: NumericSummary) -> None:
        """Fold ``other`` (a summary of other rows of the same column) into this one."""
        if other.n == 0:
            return
        self.sketch.merge(other.sketch)
        self._combine(other.n, other.mean, other.m2, other.total, other.min, other.max)

    @property
    def std_dev(self) -> float:
        """Population standard deviation (Deequ's StandardDeviation)."""
        return math.sqrt(self.m2 / self.n) if self.n else 0.0

    def levels(self) -> list[list[float]]:
        """The sketch's retained items grouped by level (an item at level i weighs 2**i)."""
        out: list[list[float]] = []
        for value, weight in self.sketch:
            level = int(weight).bit_length() - 1
            while len(out) <= level:
                out.append([])
            out[level].append(float(value))
        return out

    def buckets(self, count: int = 10) -> list[dict[str, float]]:
        """``count`` equal-width buckets from min to max, each with its estimated count."""
        if self.n == 0:
            return []
        lo, hi = self.min, self.max
        if hi == lo:
            return [{"lower_bound": lo, "upper_bound": hi, "count": float(self.n)}]
        edges = np.linspace(lo, hi, count + 1)
        masses = self.sketch.get_pmf(list(edges[1:-1]), True)  # (edge_i, edge_i+1], the first from min
        return [
            {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(round(masses[i] * self.n, 6))}
            for i in range(count)
        ]

    def kll(self) -> dict[str, Any]:
        """statistics.json's ``distribution.kll``: 10 buckets and the sketch itself."""
        return {
            "buckets": self.buckets(),
            "sketch": {"parameters": {"c": 2.0 / 3.0, "k": float(self.k)}, "data": self.levels()},
        }


class StringSummary:
    """Value counts (exact for the first :data:`TRACKED_VALUES` distinct values) and an HLL
    estimate of the distinct count of one column read as text."""

    def __init__(self) -> None:
        from datasketches import hll_sketch

        self.counts: Counter[str] = Counter()
        self.other = 0
        self.hll = hll_sketch(12)

    def update(self, values: Any) -> None:
        """Add an iterable of non-missing values already turned into text."""
        import pandas as pd

        counted = pd.Series(values, dtype=object).value_counts(sort=False)
        for value, n in counted.items():
            text = str(value)
            self.hll.update(text)
            if text in self.counts or len(self.counts) < TRACKED_VALUES:
                self.counts[text] += int(n)
            else:
                self.other += int(n)

    @property
    def distinct_count(self) -> int:
        if not self.other:
            return len(self.counts)
        return max(len(self.counts), round(self.hll.get_estimate()))


__all__ = ["TRACKED_VALUES", "K", "NumericSummary", "StringSummary", "rank_error"]
