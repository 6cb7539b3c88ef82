"""What every bias metric shares: the collapsed inputs, their counts, and smclarify's ``divide``.

All counting is one ``numpy.bincount`` over a code ``4*d + 2*y + yhat`` per row, so the whole
metric set on a million rows costs a few passes over three boolean arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

INFINITY = float("inf")


class MetricUndefined(ValueError):
    """A metric has no value on this data; the message says why (reported, not raised)."""


def divide(a: float, b: float) -> float:
    """smclarify's division: 0 when ``a == b == 0``, +-inf when only ``b == 0``."""
    if b == 0 and a == 0:
        return 0.0
    if b == 0:
        return -INFINITY if a < 0 else INFINITY
    return float(a) / float(b)


def diff(x: float, y: float) -> float:
    """``x - y``, but 0 when both sides are +inf (as every smclarify difference metric does)."""
    if x == y == INFINITY:
        return 0.0
    return float(x - y)


@dataclass
class BiasData:
    """Collapsed, validated inputs for one facet value.

    Attributes:
        d: True for rows of the sensitive facet *d*, False for facet *a*.
        y: True for observed positive labels.
        yhat: True for positive predicted labels (post-training only).
        group: integer codes of the group variable (for CDDL/CDDPL), or None.
        features: the feature frame FT runs its kNN on (facet, label and prediction excluded).
    """

    d: np.ndarray
    y: np.ndarray
    yhat: np.ndarray | None = None
    group: np.ndarray | None = None
    features: pd.DataFrame | None = None
    _extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def counts(self) -> np.ndarray:
        """``counts[facet, label, prediction]`` with facet 0 = a, 1 = d (prediction 0 pre-training)."""
        p = self.yhat if self.yhat is not None else np.zeros_like(self.y)
        code = (self.d.astype(np.int64) << 2) | (self.y.astype(np.int64) << 1) | p.astype(np.int64)
        return np.bincount(code, minlength=8).reshape(2, 2, 2)

    @property
    def na(self) -> int:
        return int(self.counts[0].sum())

    @property
    def nd(self) -> int:
        return int(self.counts[1].sum())

    def n_label(self, facet: int, label: int) -> int:
        """Rows of ``facet`` with observed label ``label``: na(1), nd(0), ..."""
        return int(self.counts[facet, label, :].sum())

    def n_pred(self, facet: int, pred: int) -> int:
        """Rows of ``facet`` with predicted label ``pred``: n̂a(1), n̂d(0), ..."""
        return int(self.counts[facet, :, pred].sum())

    def confusion(self, facet: int) -> tuple[int, int, int, int]:
        """``(TP, FP, FN, TN)`` within ``facet``."""
        c = self.counts[facet]
        return int(c[1, 1]), int(c[0, 1]), int(c[1, 0]), int(c[0, 0])

    def require_both_facets(self, metric: str) -> None:
        if self.nd == 0:
            raise MetricUndefined(f"{metric}: facet set is empty (no row has the sensitive value)")
        if self.na == 0:
            raise MetricUndefined(f"{metric}: negated facet set is empty (every row has the sensitive value)")

    def require_predictions(self, metric: str) -> np.ndarray:
        if self.yhat is None:
            raise MetricUndefined(f"{metric}: needs predicted labels (post-training)")
        return self.yhat


__all__ = ["INFINITY", "BiasData", "MetricUndefined", "diff", "divide"]
