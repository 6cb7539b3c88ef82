"""Mergeable per-column summaries: a KLL quantile sketch plus exact moments for numbers, and
capped value counts plus a KMV distinct-count sketch for strings.

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
    """Value counts (exact for the first :data:`TRACKED_VALUES` distinct values, the rest summed
    in ``other``) and a KMV (k minimum values) sketch of the values' 64-bit hashes, which
    estimates the distinct count once there are more than that (relative error about
    1/sqrt(k) = 1.6 %). Both update a batch at a time and merge."""

    def __init__(self, kmv: int = 4096) -> None:
        self.counts: dict[str, int] = {}
        self.other = 0
        self.kmv = kmv
        self.hashes = np.empty(0, dtype=np.uint64)

    def update(self, values: Any) -> None:
        """Add an iterable of non-missing values already turned into text."""
        import pandas as pd

        series = pd.Series(values, dtype=object)
        if series.empty:
            return
        counted = series.value_counts(sort=False)
        known = counted.index.isin(list(self.counts)) if self.counts else np.zeros(len(counted), dtype=bool)
        for value, n in zip(counted.index[known], counted.to_numpy()[known], strict=True):
            self.counts[value] += int(n)
        new = counted[~known]
        room = max(TRACKED_VALUES - len(self.counts), 0)
        self.counts.update(zip(new.index[:room], (int(n) for n in new.to_numpy()[:room]), strict=True))
        self.other += int(new.to_numpy()[room:].sum())
        if self.other:  # past the cap: from now on distinct values are estimated from hashes
            seen = counted.index.to_numpy(dtype=object)
            if not self.hashes.size:  # every value so far is a key of counts
                seen = np.concatenate([np.asarray(list(self.counts), dtype=object), seen])
            self._hash(seen)

    def _hash(self, values: np.ndarray) -> None:
        import pandas as pd

        hashed = pd.util.hash_array(values)
        self.hashes = np.unique(np.concatenate([self.hashes, hashed]))[: self.kmv]

    def _all_hashes(self) -> np.ndarray:
        """The KMV sketch of every value seen (hashed from ``counts`` while under the cap)."""
        import pandas as pd

        if self.other:
            return self.hashes
        return np.unique(pd.util.hash_array(np.asarray(list(self.counts), dtype=object)))[: self.kmv]

    def merge(self, other: StringSummary) -> None:
        """Fold ``other`` (a summary of other rows of the same column) into this one."""
        hashes = np.unique(np.concatenate([self._all_hashes(), other._all_hashes()]))[: self.kmv]
        for value, n in other.counts.items():
            if value in self.counts or len(self.counts) < TRACKED_VALUES:
                self.counts[value] = self.counts.get(value, 0) + n
            else:
                self.other += n
        self.other += other.other
        self.hashes = hashes if self.other else np.empty(0, dtype=np.uint64)

    @property
    def distinct_count(self) -> int:
        if not self.other or not self.hashes.size:
            return len(self.counts)
        if len(self.hashes) < self.kmv:
            return len(self.hashes)
        kth = float(self.hashes[-1]) / 2.0**64
        return max(len(self.counts), round((self.kmv - 1) / kth))


__all__ = ["TRACKED_VALUES", "K", "NumericSummary", "StringSummary", "rank_error"]
