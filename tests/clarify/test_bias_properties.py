"""Property tests: the vectorized metrics against a plain row-by-row oracle written from the
reference formulas, and the identities the reference gives for binary labels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeml.clarify import bias_report

INF = float("inf")


def _div(a: float, b: float) -> float:
    if a == 0 and b == 0:
        return 0.0
    if b == 0:
        return INF if a >= 0 else -INF
    return a / b


def _sub(x: float, y: float) -> float:
    return 0.0 if x == y == INF else x - y


def oracle(rows: list[tuple[int, int, int, int]]) -> dict[str, float | None]:
    """Every metric by counting rows one at a time; None where the reference says undefined."""
    d = [r for r in rows if r[0] == 1]
    a = [r for r in rows if r[0] == 0]
    out: dict[str, float | None] = {}

    def count(group, y=None, p=None):
        return sum(1 for r in group if (y is None or r[1] == y) and (p is None or r[2] == p))

    both = bool(a) and bool(d)
    na, nd = len(a), len(d)
    out["CI"] = (na - nd) / (na + nd) if both else None
    out["DPL"] = count(a, y=1) / na - count(d, y=1) / nd if both else None
    out["DPPL"] = count(a, p=1) / na - count(d, p=1) / nd if both else None
    if both:
        pa = [count(a, y=v) / na for v in (0, 1)]
        pd_ = [count(d, y=v) / nd for v in (0, 1)]
        keep = [i for i in (0, 1) if pa[i] > 0 and pd_[i] > 0]
        if keep:
            out["KL"] = sum(pa[i] * math.log(pa[i] / pd_[i]) for i in keep)
            m = {i: (pa[i] + pd_[i]) / 2 for i in keep}
            out["JS"] = 0.5 * (sum(pa[i] * math.log(pa[i] / m[i]) for i in keep) + sum(pd_[i] * math.log(pd_[i] / m[i]) for i in keep))
            out["LP"] = math.sqrt(sum((pa[i] - pd_[i]) ** 2 for i in keep))
            out["TVD"] = 0.5 * sum(abs(pa[i] - pd_[i]) for i in keep)
            out["KS"] = max(abs(pa[i] - pd_[i]) for i in keep)
        else:
            out.update(dict.fromkeys(("KL", "JS", "LP", "TVD", "KS")))
        tp = {f: count(g, 1, 1) for f, g in (("a", a), ("d", d))}
        fp = {f: count(g, 0, 1) for f, g in (("a", a), ("d", d))}
        fn = {f: count(g, 1, 0) for f, g in (("a", a), ("d", d))}
        tn = {f: count(g, 0, 0) for f, g in (("a", a), ("d", d))}
        out["DI"] = _div(count(d, p=1) / nd, count(a, p=1) / na)
        out["DCA"] = _sub(_div(count(a, y=1), count(a, p=1)), _div(count(d, y=1), count(d, p=1)))
        out["DCR"] = _sub(_div(count(d, y=0), count(d, p=0)), _div(count(a, y=0), count(a, p=0)))
        out["RD"] = _div(tp["a"], tp["a"] + fn["a"]) - _div(tp["d"], tp["d"] + fn["d"])
        out["SD"] = _div(tn["d"], tn["d"] + fp["d"]) - _div(tn["a"], tn["a"] + fp["a"])
        out["DAR"] = _div(tp["a"], tp["a"] + fp["a"]) - _div(tp["d"], tp["d"] + fp["d"])
        out["DRR"] = _div(tn["d"], tn["d"] + fn["d"]) - _div(tn["a"], tn["a"] + fn["a"])
        out["AD"] = (tp["a"] + tn["a"]) / na - (tp["d"] + tn["d"]) / nd
        out["TE"] = _sub(_div(fn["d"], fp["d"]), _div(fn["a"], fp["a"]))
    else:
        out.update(dict.fromkeys(("KL", "JS", "LP", "TVD", "KS", "DI", "DCA", "DCR", "RD", "SD", "DAR", "DRR", "AD", "TE")))
    for name, col in (("CDDL", 1), ("CDDPL", 2)):
        labels = [r[col] for r in rows]
        if all(labels) or not any(labels):
            out[name] = None
            continue
        total, weighted = 0, 0.0
        for g in sorted({r[3] for r in rows}):
            sub = [r for r in rows if r[3] == g]
            pos = [r for r in sub if r[col] == 1]
            neg = [r for r in sub if r[col] == 0]
            acc = sum(1 for r in pos if r[0] == 1) / len(pos) if pos else 0.0
            rej = sum(1 for r in neg if r[0] == 1) / len(neg) if neg else 0.0
            weighted += len(sub) * (rej - acc)
            total += len(sub)
        out[name] = weighted / total
    benefit = [r[2] - r[1] + 1 for r in rows]
    mean = sum(benefit) / len(benefit)
    out["GE"] = None if mean == 0 else sum((b / mean) ** 2 - 1 for b in benefit) / (2 * len(rows))
    return out


def _value(v: float | str | None) -> float | None:
    if v is None:
        return None
    return {"Infinity": INF, "-Infinity": -INF}.get(v, v) if isinstance(v, str) else float(v)


rows_strategy = st.lists(
    st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 1), st.integers(0, 2)), min_size=1, max_size=40
)


@settings(max_examples=80, deadline=None)
@given(rows_strategy)
def test_every_metric_matches_the_row_by_row_oracle(rows: list[tuple[int, int, int, int]]) -> None:
    frame = pd.DataFrame(rows, columns=["f", "y", "p", "g"])
    report = bias_report(frame, label="y", label_values_or_threshold=[1], facets=["f=1"], predicted_label="p",
                         group_variable="g", post_training_methods=[m for m in ("AD", "CDDPL", "DAR", "DCA", "DCR", "DI", "DPPL", "DRR", "GE", "RD", "SD", "TE")])  # fmt: skip
    expected = oracle(rows)
    got = {}
    for stage in ("pre_training_bias_metrics", "post_training_bias_metrics"):
        for m in report[stage]["facets"]["f"][0]["metrics"]:
            got[m["name"]] = _value(m["value"])
            assert (m["value"] is None) == ("error" in m)
    assert set(got) == set(expected)
    for name, want in expected.items():
        if want is None:
            assert got[name] is None, name
        elif math.isinf(want):
            assert got[name] == want, name
        else:
            assert math.isclose(got[name], want, rel_tol=1e-9, abs_tol=1e-12), (name, got[name], want)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=4, max_size=60))
def test_binary_label_identities(rows: list[tuple[int, int]]) -> None:
    """With both labels in both facets: TVD = KS = |DPL|, LP = √2 |DPL|; CDD without groups is DD."""
    frame = pd.DataFrame(rows, columns=["f", "y"]).assign(g=0)
    f, y = frame["f"].to_numpy(), frame["y"].to_numpy()
    if not all(((f == s) & (y == v)).any() for s in (0, 1) for v in (0, 1)):
        return
    report = bias_report(frame, label="y", label_values_or_threshold=[1], facets=["f=1"], group_variable="g")
    m = {x["name"]: x["value"] for x in report["pre_training_bias_metrics"]["facets"]["f"][0]["metrics"]}
    dpl = abs(m["DPL"])
    assert math.isclose(m["TVD"], dpl, abs_tol=1e-12)
    assert math.isclose(m["KS"], dpl, abs_tol=1e-12)
    assert math.isclose(m["LP"], math.sqrt(2) * dpl, abs_tol=1e-12)
    dd = np.sum((f == 1) & (y == 0)) / np.sum(y == 0) - np.sum((f == 1) & (y == 1)) / np.sum(y == 1)
    assert math.isclose(m["CDDL"], dd, abs_tol=1e-12)
    assert (abs(m["CDDL"]) < 1e-12) == (dpl < 1e-12)
    assert m["KL"] >= 0 and 0 <= m["JS"] < math.log(2)


def test_ft_matches_a_brute_force_knn() -> None:
    """FT against distances computed with numpy: 5 nearest a rows, majority vote."""
    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "f": rng.integers(0, 2, n)})
    frame["p"] = (frame.x1 + 0.3 * rng.normal(size=n) > 0).astype(int)
    frame["y"] = rng.integers(0, 2, n)
    report = bias_report(frame, label="y", label_values_or_threshold=[1], facets=["f=1"], predicted_label="p",
                         pre_training_methods=None, post_training_methods=["FT"])  # fmt: skip
    got = report["post_training_bias_metrics"]["facets"]["f"][0]["metrics"][0]["value"]
    x = frame[["x1", "x2"]].to_numpy()
    a, d = frame.f.to_numpy() == 0, frame.f.to_numpy() == 1
    dist = ((x[d][:, None, :] - x[a][None, :, :]) ** 2).sum(axis=2)
    nearest = np.argsort(dist, axis=1)[:, :5]
    knn = frame.p.to_numpy()[a][nearest].sum(axis=1) >= 3
    model = frame.p.to_numpy()[d] == 1
    expected = (np.sum(model & ~knn) - np.sum(~model & knn)) / d.sum()
    assert math.isclose(got, expected, abs_tol=1e-12)
