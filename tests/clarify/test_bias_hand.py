"""Every bias metric on small frames computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from forgeml.clarify import bias_report
from forgeml.errors import ValidationError


def _frame() -> pd.DataFrame:
    # facet a (f=0): y = 1 1 1 0 0, yhat = 1 0 0 1 0, groups g1 g1 g2 g2 g2, x = 0 1 2 3 4
    #   TPa = 1, FNa = 2, FPa = 1, TNa = 1; na = 5, na(1) = 3, na(0) = 2, n̂a(1) = 2, n̂a(0) = 3
    # facet d (f=1): y = 1 0 0 0,   yhat = 1 1 0 0,   groups g1 g1 g2 g2,    x = 4.1 2.9 3.1 0.2
    #   TPd = 1, FNd = 0, FPd = 1, TNd = 2; nd = 4, nd(1) = 1, nd(0) = 3, n̂d(1) = 2, n̂d(0) = 2
    return pd.DataFrame({
        "f": [0, 0, 0, 0, 0, 1, 1, 1, 1],
        "y": [1, 1, 1, 0, 0, 1, 0, 0, 0],
        "yhat": [1, 0, 0, 1, 0, 1, 1, 0, 0],
        "g": ["g1", "g1", "g2", "g2", "g2", "g1", "g1", "g2", "g2"],
        "x": [0.0, 1.0, 2.0, 3.0, 4.0, 4.1, 2.9, 3.1, 0.2],
    })  # fmt: skip


def _metrics(report: dict, stage: str, facet: str = "f", index: int = 0) -> dict:
    entries = report[stage]["facets"][facet]
    return {m["name"]: m for m in entries[index]["metrics"]}


def _report(frame: pd.DataFrame | None = None, **kw) -> dict:
    args = {"label": "y", "label_values_or_threshold": [1], "facets": ["f=1"], "predicted_label": "yhat",
            "group_variable": "g", "ft_features": ["x"]}  # fmt: skip
    args.update(kw)
    return bias_report(_frame() if frame is None else frame, **args)


PA, PD = (2 / 5, 3 / 5), (3 / 4, 1 / 4)  # label distributions (label 0, label 1) per facet
P = tuple((a + d) / 2 for a, d in zip(PA, PD, strict=True))

PRE_EXPECTED = {
    "CI": (5 - 4) / (5 + 4),  # (na - nd) / n = 1/9
    "DPL": 3 / 5 - 1 / 4,  # qa - qd = 7/20
    "KL": 0.4 * math.log(0.4 / 0.75) + 0.6 * math.log(0.6 / 0.25),
    "JS": 0.5 * (sum(a * math.log(a / p) for a, p in zip(PA, P, strict=True)) + sum(d * math.log(d / p) for d, p in zip(PD, P, strict=True))),
    "LP": math.sqrt(0.35**2 + 0.35**2),  # ||(0.4-0.75, 0.6-0.25)||_2
    "TVD": 0.5 * (0.35 + 0.35),
    "KS": 0.35,
    # g1 (n=4): label-1 rows 3, of them d 1 -> A = 1/3; label-0 rows 1, of them d 1 -> D = 1; DD = 2/3
    # g2 (n=5): label-1 rows 1, of them d 0 -> A = 0;   label-0 rows 4, of them d 2 -> D = 1/2; DD = 1/2
    "CDDL": (4 * (2 / 3) + 5 * (1 / 2)) / 9,  # = 31/54
}

POST_EXPECTED = {
    "DPPL": 2 / 5 - 2 / 4,  # q̂a - q̂d = -1/10
    "DI": (2 / 4) / (2 / 5),  # q̂d / q̂a = 5/4
    "DCA": 3 / 2 - 1 / 2,  # na(1)/n̂a(1) - nd(1)/n̂d(1) = 1
    "DCR": 3 / 2 - 2 / 3,  # nd(0)/n̂d(0) - na(0)/n̂a(0) = 5/6
    "RD": 1 / 3 - 1 / 1,  # TPa/(TPa+FNa) - TPd/(TPd+FNd) = -2/3
    "SD": 2 / 3 - 1 / 2,  # TNd/(TNd+FPd) - TNa/(TNa+FPa) = 1/6
    "DAR": 1 / 2 - 1 / 2,  # TPa/(TPa+FPa) - TPd/(TPd+FPd) = 0
    "DRR": 2 / 2 - 1 / 3,  # TNd/(TNd+FNd) - TNa/(TNa+FNa) = 2/3
    "AD": 2 / 5 - 3 / 4,  # ACCa - ACCd = -7/20
    "TE": 0 / 1 - 2 / 1,  # code: FNd/FPd - FNa/FPa = -2 (docs would give FPa/FNa - FPd/FNd = 1/2 - inf)
    # g1: predicted-1 rows 3, d 2 -> A = 2/3; predicted-0 rows 1, d 0 -> D = 0; DD = -2/3
    # g2: predicted-1 rows 1, d 0 -> A = 0;   predicted-0 rows 4, d 2 -> D = 1/2; DD = 1/2
    "CDDPL": (4 * (-2 / 3) + 5 * (1 / 2)) / 9,  # = -1/54
    # na = 5 <= 9 so k = 1. d rows' nearest a rows: 4.1->x=4 (ŷ 0), 2.9->3 (1), 3.1->3 (1), 0.2->0 (1)
    # model on d: 1 1 0 0; kNN: 0 1 1 1 -> F+ (model 1, kNN 0) = 1, F- (model 0, kNN 1) = 2
    "FT": (1 - 2) / 4,
    # benefit b = ŷ - y + 1: a -> 1 0 0 2 1, d -> 1 2 1 1; mean 9/9 = 1; sum(b² - 1) = 4; / (2 n)
    "GE": 4 / (2 * 9),
}


@pytest.mark.parametrize("name", sorted(PRE_EXPECTED))
def test_pretraining_metric_by_hand(name: str) -> None:
    got = _metrics(_report(), "pre_training_bias_metrics")[name]
    assert got["value"] == pytest.approx(PRE_EXPECTED[name], abs=1e-12)
    assert "error" not in got


@pytest.mark.parametrize("name", sorted(POST_EXPECTED))
def test_posttraining_metric_by_hand(name: str) -> None:
    got = _metrics(_report(), "post_training_bias_metrics")[name]
    assert got["value"] == pytest.approx(POST_EXPECTED[name], abs=1e-12)


def test_report_layout_matches_analysis_json() -> None:
    report = _report()
    assert report["version"] == "1.0"
    pre = report["pre_training_bias_metrics"]
    assert pre["label"] == "y" and pre["label_value_or_threshold"] == "1"
    assert list(pre["facets"]) == ["f"] and pre["facets"]["f"][0]["value_or_threshold"] == "1"
    names = [m["name"] for m in pre["facets"]["f"][0]["metrics"]]
    assert names == sorted(PRE_EXPECTED)  # smclarify sorts by name
    post = [m["name"] for m in report["post_training_bias_metrics"]["facets"]["f"][0]["metrics"]]
    assert post == sorted(POST_EXPECTED)
    assert all(set(m) >= {"name", "description", "value"} for m in pre["facets"]["f"][0]["metrics"])


def test_dar_nonzero_and_zero_over_zero_rates() -> None:
    # a: y = 1 0, ŷ = 1 1 -> TPa 1, FPa 1; d: y = 1 1 0, ŷ = 1 1 1 -> TPd 2, FPd 1; nobody predicted 0
    frame = pd.DataFrame({"f": [0, 0, 1, 1, 1], "y": [1, 0, 1, 1, 0], "yhat": [1, 1, 1, 1, 1], "g": ["a"] * 5, "x": [0.0, 1, 2, 3, 4]})
    m = _metrics(_report(frame), "post_training_bias_metrics")
    assert m["DAR"]["value"] == pytest.approx(1 / 2 - 2 / 3)  # precision a - precision d
    assert m["DRR"]["value"] == 0.0  # divide(0, 0) = 0 on both sides
    assert m["DCR"]["value"] == 0.0  # ra = 1/0 = inf, rd = 1/0 = inf: both +inf -> 0
    assert m["TE"]["value"] == 0.0  # FN/FP = 0/1 on both sides
    assert m["DI"]["value"] == pytest.approx(1.0)  # (3/3) / (2/2)


def test_infinite_values_are_written_as_clarify_writes_them() -> None:
    # a: y = 1 0, ŷ = 0 0 -> q̂a = 0; d: y = 0 0, ŷ = 1 0 -> q̂d = 1/2 -> DI = 0.5 / 0 = +inf
    # TE: FNa/FPa = 1/0 = inf, FNd/FPd = 0/1 = 0 -> TE = 0 - inf = -inf
    frame = pd.DataFrame({"f": [0, 0, 1, 1], "y": [1, 0, 0, 0], "yhat": [0, 0, 1, 0], "g": ["a"] * 4, "x": [0.0, 1, 2, 3]})
    m = _metrics(_report(frame), "post_training_bias_metrics")
    assert m["DI"]["value"] == "Infinity"
    assert m["TE"]["value"] == "-Infinity"
    # DCA: ca = na(1)/n̂a(1) = 1/0 = inf, cd = nd(1)/n̂d(1) = 0/1 = 0 -> +inf
    assert m["DCA"]["value"] == "Infinity"


def test_both_sides_infinite_differences_are_zero() -> None:
    # nobody predicted positive, both facets have positives: ca = 1/0, cd = 1/0 -> DCA = 0
    frame = pd.DataFrame({"f": [0, 0, 1, 1], "y": [1, 0, 1, 0], "yhat": [0, 0, 0, 0], "g": ["a"] * 4, "x": [0.0, 1, 2, 3]})
    m = _metrics(_report(frame), "post_training_bias_metrics")
    assert m["DCA"]["value"] == 0.0
    assert m["DI"]["value"] == 0.0  # divide(0, 0)
    # TE: FN/FP = 1/0 on both sides -> both inf -> 0
    assert m["TE"]["value"] == 0.0


def test_ge_undefined_when_every_prediction_is_a_false_negative() -> None:
    frame = pd.DataFrame({"f": [0, 1, 0, 1], "y": [1, 1, 1, 1], "yhat": [0, 0, 0, 0], "g": ["a"] * 4, "x": [0.0, 1, 2, 3]})
    m = _metrics(_report(frame), "post_training_bias_metrics")
    assert m["GE"]["value"] is None and "false negatives" in m["GE"]["error"]


def test_label_distribution_metrics_drop_categories_missing_in_a_facet() -> None:
    # d has only negative labels: Pa = (1/2, 1/2), Pd = (1, 0) -> only label 0 is kept (smclarify's
    # pdfs_aligned_nonzero): KL = 1/2 ln(1/2 / 1), LP = |1/2 - 1|, TVD = 1/2 |1/2 - 1|, KS = 1/2
    frame = pd.DataFrame({"f": [0, 0, 1, 1], "y": [1, 0, 0, 0], "yhat": [1, 0, 0, 0], "g": ["a"] * 4, "x": [0.0, 1, 2, 3]})
    m = _metrics(_report(frame), "pre_training_bias_metrics")
    assert m["KL"]["value"] == pytest.approx(0.5 * math.log(0.5))
    assert m["LP"]["value"] == pytest.approx(0.5)
    assert m["TVD"]["value"] == pytest.approx(0.25)
    assert m["KS"]["value"] == pytest.approx(0.5)
    assert m["DPL"]["value"] == pytest.approx(0.5)  # DPL still sees both labels


def test_cddl_undefined_without_group_or_with_single_class_labels() -> None:
    m = _metrics(_report(group_variable=None), "pre_training_bias_metrics")
    assert m["CDDL"]["value"] is None and "group variable" in m["CDDL"]["error"]
    frame = _frame().assign(y=1)
    report = _report(frame)
    m = _metrics(report, "pre_training_bias_metrics")
    assert m["CDDL"]["value"] is None and "no negative labels" in m["CDDL"]["error"]
    assert m["DPL"]["value"] == 0.0  # qa = qd = 1
    assert "the observed label has a single class after collapsing" in report["warnings"]


def test_ft_with_five_neighbours_when_facet_a_has_more_than_nine_rows() -> None:
    # a: 10 rows at x = 0..9, ŷ = 1 for x < 5 else 0. d: x = 0.5 and x = 8.5.
    # k = 5: neighbours of 0.5 are x 0,1,2,3,4 (all ŷ 1) -> kNN 1; of 8.5: x 9,8,7,6,5 (all 0) -> 0.
    # model on d: 0 and 1 -> F+ (model 1, kNN 0) = 1 (x 8.5), F- (model 0, kNN 1) = 1 (x 0.5).
    # A third d row at x = 4.4 with model 0: its 5 neighbours are x 4 (0.4), 5 (0.6), 3 (1.4), 6 (1.6),
    # 2 (2.4) with ŷ 1,0,1,0,1 -> kNN 1 -> another F-. FT = (1 - 2) / 3.
    xs = [float(v) for v in range(10)] + [0.5, 8.5, 4.4]
    frame = pd.DataFrame({"f": [0] * 10 + [1, 1, 1], "y": [0] * 13, "yhat": [1] * 5 + [0] * 5 + [0, 1, 0], "x": xs})
    m = _metrics(_report(frame, group_variable=None), "post_training_bias_metrics")
    assert m["FT"]["value"] == pytest.approx((1 - 2) / 3)


def test_ft_rejects_non_numeric_features() -> None:
    m = _metrics(_report(ft_features=None), "post_training_bias_metrics")  # the text group column g is left out
    assert m["FT"]["value"] == _metrics(_report(), "post_training_bias_metrics")["FT"]["value"]
    with pytest.raises(ValidationError, match=r"FT feature\(s\) 'g': FlipTest needs numeric columns"):
        _report(ft_features=["x", "g"])
    frame = _frame()
    frame.loc[2, "x"] = float("nan")
    m = _metrics(_report(frame), "post_training_bias_metrics")
    assert m["FT"]["value"] is None and "missing values" in m["FT"]["error"]
