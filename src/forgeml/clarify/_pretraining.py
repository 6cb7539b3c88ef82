"""Pre-training bias metrics (reference §7.2), computed from counts as smclarify defines them.

The label-distribution metrics (KL, JS, LP, TVD, KS) see the *collapsed* binary label, and like
smclarify's ``pdfs_aligned_nonzero`` they keep only the label categories whose probability is
non-zero in both facets.
"""

from __future__ import annotations

import numpy as np

from forgeml.clarify._common import BiasData, MetricUndefined, divide


def CI(data: BiasData) -> float:
    """Class Imbalance (CI): (na - nd) / (na + nd)."""
    data.require_both_facets("CI")
    return (data.na - data.nd) / (data.na + data.nd)


def _dpl(data: BiasData, predicted: bool, name: str) -> float:
    data.require_both_facets(name)
    n1 = data.n_pred if predicted else data.n_label
    return n1(0, 1) / data.na - n1(1, 1) / data.nd


def DPL(data: BiasData) -> float:
    """Difference in Positive Proportions in Labels (DPL): qa - qd, q = n(1)/n."""
    return _dpl(data, False, "DPL")


def _aligned(data: BiasData, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Pa and Pd over the binary label, keeping categories non-zero in both (smclarify)."""
    pa = data.counts[0].sum(axis=1).astype(float)
    pd_ = data.counts[1].sum(axis=1).astype(float)
    if pa.sum() == 0 or pd_.sum() == 0:
        raise MetricUndefined(f"{name}: no instance of common facet found, dataset may be too small")
    pa, pd_ = pa / pa.sum(), pd_ / pd_.sum()
    keep = (pa > 0) & (pd_ > 0)
    if not keep.any():
        raise MetricUndefined(f"{name}: no instance of common facet found, dataset may be too small")
    return pa[keep], pd_[keep]


def KL(data: BiasData) -> float:
    """Kullback-Leibler Divergence (KL): sum Pa ln(Pa/Pd)."""
    pa, pd_ = _aligned(data, "KL")
    return float(np.sum(pa * np.log(pa / pd_)))


def JS(data: BiasData) -> float:
    """Jensen-Shannon Divergence (JS): (KL(Pa||P) + KL(Pd||P)) / 2, P = (Pa + Pd) / 2."""
    pa, pd_ = _aligned(data, "JS")
    p = 0.5 * (pa + pd_)
    return float(0.5 * (np.sum(pa * np.log(pa / p)) + np.sum(pd_ * np.log(pd_ / p))))


def LP(data: BiasData) -> float:
    """L-p Norm (LP): the L2 norm of Pa - Pd."""
    pa, pd_ = _aligned(data, "LP")
    return float(np.linalg.norm(pa - pd_, 2))


def TVD(data: BiasData) -> float:
    """Total Variation Distance (TVD): half the L1 norm of Pa - Pd."""
    pa, pd_ = _aligned(data, "TVD")
    return float(0.5 * np.linalg.norm(pa - pd_, 1))


def KS(data: BiasData) -> float:
    """Kolmogorov-Smirnov Distance (KS): max |Pa - Pd| over label categories."""
    pa, pd_ = _aligned(data, "KS")
    return float(np.linalg.norm(pa - pd_, np.inf))


def cdd(data: BiasData, outcome: np.ndarray, name: str) -> float:
    """Conditional demographic disparity of ``outcome`` (labels or predictions) by group.

    CDD = sum_i n_i DD_i / sum_i n_i, DD_i = nd(0)_i / n(0)_i - nd(1)_i / n(1)_i; a term with a zero
    denominator counts as 0.
    """
    if data.group is None:
        raise MetricUndefined(f"{name}: group variable is empty or not provided")
    if not outcome.any():
        raise MetricUndefined(f"{name}: no positive labels in set")
    if outcome.all():
        raise MetricUndefined(f"{name}: no negative labels in set")
    n_groups = int(data.group.max()) + 1 if len(data.group) else 0
    code = data.group.astype(np.int64) * 4 + (data.d.astype(np.int64) << 1) + outcome.astype(np.int64)
    c = np.bincount(code, minlength=4 * n_groups).reshape(n_groups, 2, 2)  # [group, facet, outcome]
    n_i = c.sum(axis=(1, 2)).astype(float)
    pos_i, neg_i = c[:, :, 1].sum(axis=1), c[:, :, 0].sum(axis=1)
    a_i = np.divide(c[:, 1, 1], pos_i, out=np.zeros(n_groups), where=pos_i != 0)
    d_i = np.divide(c[:, 1, 0], neg_i, out=np.zeros(n_groups), where=neg_i != 0)
    present = n_i > 0
    return divide(float(np.sum(n_i[present] * (d_i - a_i)[present])), float(np.sum(n_i[present])))


def CDDL(data: BiasData) -> float:
    """Conditional Demographic Disparity in Labels (CDDL)."""
    return cdd(data, data.y, "CDDL")


PRETRAINING = {f.__name__: f for f in (CDDL, CI, DPL, JS, KL, KS, LP, TVD)}

__all__ = ["CDDL", "CI", "DPL", "JS", "KL", "KS", "LP", "PRETRAINING", "TVD", "cdd"]
