"""Exact IQR outlier counts in the same streamed pass, when the quartiles are known only at its end.

Above ``exact_max_rows`` the quartiles come from the fine histogram that the streamed pass builds,
so the IQR bounds ``Q1 - f·IQR`` and ``Q3 + f·IQR`` are not known while the values go by. The
first batch of a column gives an interval that each bound very likely falls in (its quartiles
one percentile either side, widened by the histogram's resolution). While streaming, the column
counts the values below the lower interval (above the upper one) and keeps the values inside
the intervals as value/count pairs, so a column of few distinct values keeps few pairs. At the
end a bound inside its interval is counted exactly from those, and a bound outside the column's
[min, max] counts nothing. When neither holds (a first batch unlike the rest, as in a file sorted
by that column, or an interval holding more than ``cap`` pairs) :meth:`Tails.count` says so and
the caller counts that column with one more scan, as before. Either way the count is exact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

BUDGET = 4_000_000  # value/count pairs kept over all columns and both sides (64 MB)


class Tails:
    """Streamed exact counts of values below/above bounds chosen after the stream.

    Args:
        k: number of columns.
        factor: the IQR factor ``f``.
        pads: per column, how far the final quartiles may stray from the true ones (the fine
            histogram's bin width); the intervals are widened by that.
        cap: pairs kept per column and side before giving that column up (default: a share of
            :data:`BUDGET`).
    """

    def __init__(self, k: int, factor: float, pads: Any, cap: int | None = None) -> None:
        self.factor = factor
        self.pads = np.asarray(pads, dtype="float64")
        self.cap = cap if cap is not None else max(BUDGET // (2 * max(k, 1)), 1024)
        self.bands = np.full((k, 4), np.nan)  # lower interval [a, b], upper interval [c, d]
        self.started = np.zeros(k, dtype=bool)
        self.live = np.zeros(k, dtype=bool)
        self.outside = np.zeros((k, 2), dtype="int64")  # values below a, above d
        self.kept: list[list[list[tuple[Any, Any]]]] = [[[], []] for _ in range(k)]
        self.sizes = np.zeros((k, 2), dtype="int64")

    def add(self, j: int, x: Any) -> None:
        """Fold in the present (non-missing) values ``x`` of column ``j`` from one batch."""
        if not self.started[j]:
            self._start(j, x)
        if not self.live[j]:
            return
        a, b, c, d = self.bands[j]
        for side, (near, far, lower) in enumerate(((b, a, True), (c, d, False))):
            tail = x[x <= near] if lower else x[x >= near]
            beyond = tail < far if lower else tail > far
            self.outside[j, side] += int(np.count_nonzero(beyond))
            inside = tail[~beyond]
            if inside.size:
                values, counts = np.unique(inside, return_counts=True)
                self.kept[j][side].append((values, counts))
                self.sizes[j, side] += values.size
        if self.sizes[j].max() > self.cap:
            self.live[j] = False
            self.kept[j] = [[], []]

    def _start(self, j: int, x: Any) -> None:
        self.started[j] = True
        n = x.size
        if n == 0:
            return
        margin = min(max(0.01, 5 * math.sqrt(0.1875 / n)), 0.24)
        q1a, q1b, q3a, q3b = np.quantile(x, [0.25 - margin, 0.25 + margin, 0.75 - margin, 0.75 + margin])
        f, pad = self.factor, (1 + 2 * self.factor) * 2 * self.pads[j]
        self.bands[j] = [
            (1 + f) * q1a - f * q3b - pad, (1 + f) * q1b - f * q3a + pad,
            (1 + f) * q3a - f * q1b - pad, (1 + f) * q3b - f * q1a + pad,
        ]  # fmt: skip
        self.live[j] = bool(np.isfinite(self.bands[j]).all())

    def count(self, j: int, lower: float, upper: float, low: float, high: float) -> int | None:
        """Values ``< lower`` plus values ``> upper`` in column ``j`` (whose range is [low, high]).

        Returns None when this pass cannot tell exactly (the caller rescans that column).
        """
        below = self._side(j, 0, lower, low, high)
        above = self._side(j, 1, upper, low, high)
        return None if below is None or above is None else below + above

    def _side(self, j: int, side: int, bound: float, low: float, high: float) -> int | None:
        if (side == 0 and bound <= low) or (side == 1 and bound >= high):
            return 0
        a, b = self.bands[j, 2 * side : 2 * side + 2]
        if not self.live[j] or not a <= bound <= b:
            return None
        total = int(self.outside[j, side])
        for values, counts in self.kept[j][side]:
            total += int(counts[values < bound].sum() if side == 0 else counts[values > bound].sum())
        return total


__all__ = ["BUDGET", "Tails"]
