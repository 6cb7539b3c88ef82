"""Post-training bias metrics (reference §7.3), as smclarify computes them.

TE and FT follow smclarify's code where the archived AWS docs differ (reference §13.1):

* TE = FNd/FPd - FNa/FPa (the docs write FPa/FNa - FPd/FNd: other ratio, other sign);
* FT = (#{model(d)=1, kNN=0} - #{model(d)=0, kNN=1}) / nd (the docs describe F+ with the
  opposite sign).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from forgeml.clarify._common import INFINITY, BiasData, MetricUndefined, diff, divide
from forgeml.clarify._pretraining import _dpl, cdd

if TYPE_CHECKING:
    import pandas as pd

FT_DEFAULT_NEIGHBOR = 5
FT_MIN_NEIGHBOR = 1
FT_SAMPLES_COUNT_THRESHOLD = 9


def DPPL(data: BiasData) -> float:
    """Difference in Positive Proportions in Predicted Labels (DPPL): q̂a - q̂d."""
    data.require_predictions("DPPL")
    return _dpl(data, True, "DPPL")


def DI(data: BiasData) -> float:
    """Disparate Impact (DI): q̂d / q̂a."""
    data.require_predictions("DI")
    data.require_both_facets("DI")
    return divide(data.n_pred(1, 1) / data.nd, data.n_pred(0, 1) / data.na)


def _dco(data: BiasData, name: str) -> tuple[float, float]:
    data.require_predictions(name)
    data.require_both_facets(name)
    ca, cd = divide(data.n_label(0, 1), data.n_pred(0, 1)), divide(data.n_label(1, 1), data.n_pred(1, 1))
    ra, rd = divide(data.n_label(0, 0), data.n_pred(0, 0)), divide(data.n_label(1, 0), data.n_pred(1, 0))
    return diff(ca, cd), diff(rd, ra)


def DCA(data: BiasData) -> float:
    """Difference in Conditional Acceptance (DCA): ca - cd, c = n(1) / n̂(1)."""
    return _dco(data, "DCA")[0]


def DCR(data: BiasData) -> float:
    """Difference in Conditional Rejection (DCR): rd - ra, r = n(0) / n̂(0)."""
    return _dco(data, "DCR")[1]


def _rates(data: BiasData, name: str) -> dict[str, tuple[float, float]]:
    """Per facet (a, d): recall, specificity, precision, negative predictive value, accuracy."""
    data.require_predictions(name)
    data.require_both_facets(name)
    out: dict[str, list[float]] = {"rec": [], "spec": [], "prec": [], "npv": [], "acc": []}
    for f in (0, 1):
        tp, fp, fn, tn = data.confusion(f)
        out["rec"].append(divide(tp, tp + fn))
        out["spec"].append(divide(tn, tn + fp))
        out["prec"].append(divide(tp, tp + fp))
        out["npv"].append(divide(tn, tn + fn))
        out["acc"].append(divide(tp + tn, tp + tn + fp + fn))
    return {k: (v[0], v[1]) for k, v in out.items()}


def RD(data: BiasData) -> float:
    """Recall Difference (RD): recall(a) - recall(d)."""
    a, d = _rates(data, "RD")["rec"]
    return diff(a, d)


def SD(data: BiasData) -> float:
    """Specificity Difference (SD): TNR(d) - TNR(a)."""
    a, d = _rates(data, "SD")["spec"]
    return diff(d, a)


def DAR(data: BiasData) -> float:
    """Difference in Acceptance Rates (DAR): precision(a) - precision(d)."""
    a, d = _rates(data, "DAR")["prec"]
    return diff(a, d)


def DRR(data: BiasData) -> float:
    """Difference in Rejection Rates (DRR): NPV(d) - NPV(a)."""
    a, d = _rates(data, "DRR")["npv"]
    return diff(d, a)


def AD(data: BiasData) -> float:
    """Accuracy Difference (AD): ACC(a) - ACC(d)."""
    a, d = _rates(data, "AD")["acc"]
    return diff(a, d)


def TE(data: BiasData) -> float:
    """Treatment Equality (TE): FNd/FPd - FNa/FPa (smclarify's code, not the archived docs)."""
    data.require_predictions("TE")
    data.require_both_facets("TE")
    _, fpa, fna, _ = data.confusion(0)
    _, fpd, fnd, _ = data.confusion(1)
    tau_a, tau_d = divide(fna, fpa), divide(fnd, fpd)
    if tau_a == tau_d == INFINITY:
        return 0.0
    return float(tau_d - tau_a)


def CDDPL(data: BiasData) -> float:
    """Conditional Demographic Disparity in Predicted Labels (CDDPL)."""
    return cdd(data, data.require_predictions("CDDPL"), "CDDPL")


def FT(data: BiasData) -> float:
    """Flip Test (FT): kNN on facet a's features and predictions, asked about every d row.

    FT = (#{model(d)=1, kNN=0} - #{model(d)=0, kNN=1}) / nd (smclarify's sign). The kNN is
    smclarify's: k = 5 (1 when facet a has at most 9 rows), uniform weights, Euclidean distance;
    ``_knn.majority_vote`` computes its votes exactly (see there for ties between equal distances).
    """
    import pandas as pd

    from forgeml.clarify._knn import majority_vote

    yhat = data.require_predictions("FT")
    data.require_both_facets("FT")
    frame = data.features
    if frame is None or frame.shape[1] == 0:
        raise MetricUndefined("FT: no feature columns to run the flip test on")
    non_numeric = [str(c) for c, t in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(t)]
    if non_numeric:
        raise MetricUndefined(f"FT: FlipTest does not support non-numeric columns ({', '.join(non_numeric)})")
    x = frame.to_numpy(dtype="float64")
    _require_finite(x, frame.columns)
    xa, ya, xd, yd = x[~data.d], yhat[~data.d], x[data.d], yhat[data.d]
    k = FT_DEFAULT_NEIGHBOR if len(xa) > FT_SAMPLES_COUNT_THRESHOLD else FT_MIN_NEIGHBOR
    y_if_a = majority_vote(xa, ya.astype(bool), xd, k)
    flips_pos = int(np.count_nonzero(yd & ~y_if_a))
    flips_neg = int(np.count_nonzero(~yd & y_if_a))
    return divide(flips_pos - flips_neg, len(xd))


def _require_finite(x: np.ndarray, columns: pd.Index) -> None:
    """FT needs finite features: missing values (smclarify fails on them) and infinities are reported."""
    for bad, what in ((np.isnan(x), "missing values"), (np.isinf(x), "infinite values")):
        if bad.any():
            names = [str(c) for c, has in zip(columns, bad.any(axis=0), strict=True) if has]
            raise MetricUndefined(f"FT: feature column(s) with {what}: {', '.join(names)}")


def GE(data: BiasData) -> float:
    """Generalized Entropy (GE), alpha = 2, benefit b = ŷ - y + 1: sum((b/mean b)^2 - 1) / (2n)."""
    data.require_predictions("GE")
    n = len(data.y)
    if n == 0:
        raise MetricUndefined("GE: dataset must be non-empty")
    c = data.counts.sum(axis=0)  # [label, prediction]
    weights = np.array([c[1, 0], c[1, 1] + c[0, 0], c[0, 1]], dtype=float)  # b = 0, 1, 2
    benefit = np.array([0.0, 1.0, 2.0])
    mean = float(np.dot(weights, benefit) / n)
    if mean == 0:
        raise MetricUndefined(
            "GE: all predicted labels are false negatives; there should be at least one prediction that is not a false negative"
        )
    alpha = 2.0
    return float(np.dot(weights, (benefit / mean) ** alpha - 1) / (n * alpha * (alpha - 1)))


POSTTRAINING = {f.__name__: f for f in (AD, CDDPL, DAR, DCA, DCR, DI, DPPL, DRR, FT, GE, RD, SD, TE)}

__all__ = ["AD", "CDDPL", "DAR", "DCA", "DCR", "DI", "DPPL", "DRR", "FT", "GE", "POSTTRAINING", "RD", "SD", "TE"]
