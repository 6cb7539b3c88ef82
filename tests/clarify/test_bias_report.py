"""Facet and label selection, several facets, bad input: errors or metrics reported undefined."""

from __future__ import annotations

import pandas as pd
import pytest

from forgeml.clarify import Facet, bias_report, parse_selector
from forgeml.errors import ValidationError


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [25, 40, 41, 60, 33, 52],
        "sex": ["m", "f", "f", "m", "x", "f"],
        "score": [0.2, 0.9, 0.7, 0.4, 0.6, 0.1],
        "y": [0, 1, 1, 0, 1, 0],
    })  # fmt: skip


def _pre(report: dict, facet: str, i: int = 0) -> dict:
    return {m["name"]: m for m in report["pre_training_bias_metrics"]["facets"][facet][i]["metrics"]}


def test_threshold_facet_selects_values_strictly_greater() -> None:
    # "age > 40" -> d = {41, 60, 52} (40 itself is facet a): na = 3, nd = 3 -> CI = 0
    # qa: ages 25, 40, 33 have y 0, 1, 1 -> 2/3; qd: 41, 60, 52 -> 1, 0, 0 -> 1/3; DPL = 1/3
    report = bias_report(_frame(), label="y", label_values_or_threshold=[1], facets=["age>40"])
    m = _pre(report, "age")
    assert m["CI"]["value"] == 0.0
    assert m["DPL"]["value"] == pytest.approx(1 / 3)
    assert report["pre_training_bias_metrics"]["facets"]["age"][0]["value_or_threshold"] == "(40, 60]"


def test_continuous_label_is_positive_above_threshold() -> None:
    # positive when score > 0.5: rows 1, 2, 4. Facet sex = f: rows 1, 2, 5 -> qd = 2/3;
    # a = rows 0, 3, 4 -> qa = 1/3; DPL = 1/3 - 2/3
    report = bias_report(_frame(), label="score", label_values_or_threshold="> 0.5", facets=[{"name_or_index": "sex", "value_or_threshold": ["f"]}])
    assert _pre(report, "sex")["DPL"]["value"] == pytest.approx(1 / 3 - 2 / 3)
    assert report["pre_training_bias_metrics"]["label_value_or_threshold"].startswith("(0.5,")


def test_value_list_facet_and_each_value_against_the_rest() -> None:
    # sex in {f, x}: d = rows 1, 2, 4, 5 (nd 4), a = rows 0, 3 -> CI = (2 - 4) / 6
    report = bias_report(_frame(), label="y", label_values_or_threshold=[1], facets=["sex=f,x", "sex"])
    entries = report["pre_training_bias_metrics"]["facets"]["sex"]
    assert entries[0]["value_or_threshold"] == "f,x"
    assert {m["name"]: m["value"] for m in entries[0]["metrics"]}["CI"] == pytest.approx(-2 / 6)
    # then one entry per distinct value (m, f, x), each against all other rows
    assert [e["value_or_threshold"] for e in entries[1:]] == ["m", "f", "x"]
    ci_m = {m["name"]: m["value"] for m in entries[1]["metrics"]}["CI"]
    assert ci_m == pytest.approx((4 - 2) / 6)


def test_several_facets_and_text_values_matched_to_column_type() -> None:
    frame = _frame().assign(black=[1, 0, 0, 1, 0, 1])
    report = bias_report(frame, label="y", label_values_or_threshold=["1"], facets=["black=1", "age>30"])
    assert set(report["pre_training_bias_metrics"]["facets"]) == {"black", "age"}
    # label value "1" (text) is matched against the integer column as smclarify retries:
    # d = rows 0, 3, 5 (y 0 0 0) -> qd = 0; a = rows 1, 2, 4 (y 1 1 1) -> qa = 1; DPL = 1
    assert _pre(report, "black")["DPL"]["value"] == pytest.approx(1.0)
    # age > 30: d = rows 1..5 (y 1 1 0 1 0) -> qd = 3/5; a = row 0 (y 0) -> qa = 0
    assert _pre(report, "age")["DPL"]["value"] == pytest.approx(-3 / 5)


def test_facet_value_selecting_no_rows_reports_each_metric_undefined() -> None:
    report = bias_report(_frame(), label="y", label_values_or_threshold=[1], facets=["sex=zz"], predicted_label="y")
    pre = _pre(report, "sex")
    for name in ("CI", "DPL", "KL", "JS", "LP", "TVD", "KS"):
        assert pre[name]["value"] is None
    assert "facet set is empty" in pre["CI"]["error"]
    post = {m["name"]: m for m in report["post_training_bias_metrics"]["facets"]["sex"][0]["metrics"]}
    assert post["DI"]["value"] is None and "facet set is empty" in post["DI"]["error"]
    assert post["GE"]["value"] == 0.0  # GE does not depend on facets: perfect predictions -> 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": "nope"}, "label column 'nope'"),
        ({"facets": ["nope=1"]}, "facet column 'nope'"),
        ({"group_variable": "nope"}, "group variable column 'nope'"),
        ({"predicted_label": "nope"}, "predicted label column 'nope'"),
        ({"facets": []}, "at least one facet"),
        ({"pre_training_methods": ["CI", "XX"]}, "unknown pre-training bias metric(s) XX"),
        ({"label_values_or_threshold": []}, "value list is empty"),
        ({"label_values_or_threshold": "> abc"}, "not a number"),
        ({"facets": ["sex>3"]}, "not numeric"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs: dict, message: str) -> None:
    args = {"label": "y", "label_values_or_threshold": [1], "facets": ["sex=f"]}
    args.update(kwargs)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bias_report(_frame(), **args)


def test_missing_values_fail_or_are_dropped_when_asked() -> None:
    frame = _frame()
    frame.loc[3, "y"] = None
    with pytest.raises(ValidationError, match=r"column 'y' has 1 missing value\(s\) \(first rows \[3\]\)"):
        bias_report(frame, label="y", label_values_or_threshold=[1], facets=["sex=f"])
    report = bias_report(frame, label="y", label_values_or_threshold=[1], facets=["sex=f"], dropna=True)
    # without row 3 (sex m): na = 2 (m, x), nd = 3 -> CI = -1/5
    assert _pre(report, "sex")["CI"]["value"] == pytest.approx(-1 / 5)


def test_predicted_labels_as_array_and_subset_of_methods() -> None:
    report = bias_report(_frame(), label="y", label_values_or_threshold=[1], facets=["sex=f"],
                         predicted_label=[1, 1, 1, 1, 1, 1], pre_training_methods=["ci"], post_training_methods=["DPPL", "di"])  # fmt: skip
    assert [m["name"] for m in report["pre_training_bias_metrics"]["facets"]["sex"][0]["metrics"]] == ["CI"]
    post = report["post_training_bias_metrics"]["facets"]["sex"][0]["metrics"]
    assert [(m["name"], m["value"]) for m in post] == [("DI", 1.0), ("DPPL", 0.0)]
    with pytest.raises(ValidationError, match="5 predicted labels for 6 rows"):
        bias_report(_frame(), label="y", label_values_or_threshold=[1], facets=["sex=f"], predicted_label=[1] * 5)


def test_no_positive_prediction_is_a_warning_not_an_abort() -> None:
    report = bias_report(_frame(), label="y", label_values_or_threshold=[1], facets=["sex=f"], predicted_label=[0] * 6)
    assert "no predicted label is positive" in report["warnings"]
    post = {m["name"]: m["value"] for m in report["post_training_bias_metrics"]["facets"]["sex"][0]["metrics"]}
    assert post["DPPL"] == 0.0


@pytest.mark.parametrize(
    ("spec", "name", "values", "threshold"),
    [("black=1", "black", (1,), None), ("age > 40.5", "age", None, 40.5), ("sex=f, x", "sex", ("f", "x"), None),
     ({"name_or_index": "age", "value_or_threshold": "> 3"}, "age", None, 3.0), ("sex", "sex", None, None)],
)  # fmt: skip
def test_facet_spec_parsing(spec, name, values, threshold) -> None:
    facet = Facet.parse(spec)
    assert facet.name == name
    if values is None and threshold is None:
        assert facet.selector is None
    else:
        assert facet.selector.values == values and facet.selector.threshold == threshold
    assert parse_selector({"threshold": 2}, "x").threshold == 2.0
