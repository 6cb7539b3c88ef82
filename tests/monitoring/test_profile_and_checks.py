"""statistics.json from batches, constraints (suggested, edited, refused), and the six checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forgeml.errors import ValidationError
from forgeml.monitoring import Profile, check, load_constraints, parse_constraints, suggest


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(10, 2, n), "k": rng.integers(0, 9, n), "c": rng.choice(["a", "b", "c"], n)})


def _profile(frame: pd.DataFrame, batch: int = 1000) -> Profile:
    p = Profile()
    for i in range(0, len(frame), batch):
        p.update(frame.iloc[i : i + batch])
    return p


def test_statistics_follow_the_schema_and_match_numpy() -> None:
    frame = _frame(5000, 0)
    frame.loc[::10, "x"] = np.nan
    stats = _profile(frame).statistics()
    assert stats["version"] == 0 and stats["dataset"] == {"item_count": 5000}
    x, k, c = stats["features"]
    num = x["numerical_statistics"]
    assert x["inferred_type"] == "Fractional" and num["common"] == {"num_present": 4500, "num_missing": 500}
    values = frame["x"].dropna().to_numpy()
    assert num["mean"] == pytest.approx(values.mean()) and num["std_dev"] == pytest.approx(values.std())
    assert num["sum"] == pytest.approx(values.sum()) and (num["min"], num["max"]) == (values.min(), values.max())
    buckets = num["distribution"]["kll"]["buckets"]
    assert len(buckets) == 10 and buckets[0]["lower_bound"] == values.min() and buckets[-1]["upper_bound"] == values.max()
    assert sum(b["count"] for b in buckets) == pytest.approx(4500)
    sketch = num["distribution"]["kll"]["sketch"]
    assert sketch["parameters"]["k"] == 2048 and sum(len(lv) * 2**i for i, lv in enumerate(sketch["data"])) == 4500
    assert k["inferred_type"] == "Integral"
    assert c["inferred_type"] == "String" and c["string_statistics"]["distinct_count"] == 3
    assert sum(b["count"] for b in c["string_statistics"]["distribution"]["categorical"]["buckets"]) == 5000


def test_text_values_are_typed_as_deequ_types_them() -> None:
    p = Profile()
    p.update(pd.DataFrame({"i": ["1", " 2", "-3"], "f": ["1", "2.5", "1e3"], "s": ["1", "x", "2"], "b": ["true", "false", ""],
                           "m": [None, "", np.nan], "j": [3, 4.5, None], "o": [{"a": 1}, [1], 2]}, dtype=object))  # fmt: skip
    types = {f["name"]: f["inferred_type"] for f in p.statistics()["features"]}
    assert types == {"i": "Integral", "f": "Fractional", "s": "String", "b": "String", "m": "Unknown", "j": "Fractional",
                     "o": "String"}  # fmt: skip
    assert (p.columns["j"].integral, p.columns["j"].fractional, p.columns["o"].string) == (1, 1, 2)
    assert p.columns["b"].missing == 1 and p.columns["m"].missing == 3


def test_suggested_constraints_have_the_sdk_defaults() -> None:
    cons = suggest(_profile(_frame(2000, 1)).statistics()).document()
    assert cons["monitoring_config"] == {
        "evaluate_constraints": "Enabled", "emit_metrics": "Enabled", "datatype_check_threshold": 0.1,
        "domain_content_threshold": 0.1,
        "distribution_constraints": {"perform_comparison": "Enabled", "comparison_threshold": 0.1, "comparison_method": "Robust",
                                     "categorical_comparison_threshold": 0.1, "categorical_drift_method": "LInfinity"},
    }  # fmt: skip
    features = {f["name"]: f for f in cons["features"]}
    assert features["x"]["completeness"] == 1.0 and features["x"]["num_constraints"] == {"is_non_negative": True}
    assert features["c"]["string_constraints"] == {"domains": ["a", "b", "c"]}


def _types(result: object) -> set[tuple[str, str]]:
    return {(v["feature_name"], v["constraint_check_type"]) for v in result.violations}  # type: ignore[attr-defined]


def test_each_of_the_six_violation_types_fires() -> None:
    base = _profile(_frame(3000, 2)).statistics()
    cons = suggest(base)
    assert _types(check(base, cons, _profile(_frame(1000, 3)))) == set()
    window = _frame(1000, 4)
    window["x"] = window["x"].astype(object)
    window.loc[:200, "x"] = "oops"  # 20 % text in a Fractional feature
    window["k"] = window["k"].astype("Int64")  # a nullable integer column stays Integral
    window.loc[:300, "k"] = None  # completeness 70 % < 100 %
    window.loc[:400, "c"] = "zz"  # 40 % outside the domain, and drift
    window = window.assign(extra=1)
    result = check(base, cons, _profile(window))
    assert _types(result) == {("x", "data_type_check"), ("k", "completeness_check"), ("c", "categorical_values_check"),
                              ("c", "baseline_drift_check"), ("extra", "extra_column_check")}  # fmt: skip
    missing = check(base, cons, _profile(_frame(500, 5).drop(columns=["k"])))
    assert _types(missing) == {("k", "missing_column_check")}
    shifted = _frame(1000, 6).assign(x=lambda f: f["x"] + 3)
    drift = check(base, cons, _profile(shifted))
    assert _types(drift) == {("x", "baseline_drift_check")}
    assert drift.metrics["feature_baseline_drift_x"] == pytest.approx(drift.drift["x"]["distance"])
    assert drift.drift["x"]["method"] == "Robust" and drift.drift["x"]["distance"] < drift.drift["x"]["raw_distance"]


def test_edits_overrides_and_switches_are_honoured() -> None:
    base = _profile(_frame(3000, 2)).statistics()
    doc = suggest(base).document()
    shifted = _profile(_frame(1000, 6).assign(x=lambda f: f["x"] + 1.5, c="a"))
    assert _types(check(base, parse_constraints(doc), shifted)) == {("x", "baseline_drift_check"), ("c", "baseline_drift_check")}
    doc["features"][0]["monitoringConfigOverrides"] = {"comparison_threshold": 0.99}
    doc["monitoring_config"]["distribution_constraints"]["categorical_drift_method"] = "ChiSquared"
    doc["monitoring_config"]["distribution_constraints"]["categorical_comparison_threshold"] = 0.05
    result = check(base, parse_constraints(doc), shifted)
    assert _types(result) == {("c", "baseline_drift_check")} and result.drift["c"]["method"] == "ChiSquared"
    doc["monitoring_config"]["distribution_constraints"]["perform_comparison"] = "Disabled"
    assert _types(check(base, parse_constraints(doc), shifted)) == set()
    negative = _profile(_frame(1000, 7).assign(x=-1.0))
    doc["monitoring_config"]["evaluate_constraints"] = "Disabled"
    assert _types(check(base, parse_constraints(doc), negative)) == set()
    doc["monitoring_config"]["evaluate_constraints"] = "Enabled"
    assert ("x", "data_type_check") in _types(check(base, parse_constraints(doc), negative))  # is_non_negative


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"monitoring_config": {"thresholds": 1}}, "constraints: monitoring_config.thresholds: unknown key"),
        ({"features": [{"name": "x", "inferred_type": "Fractional", "completeness": "high"}]},
         "constraints: features[0].completeness: Input should be a valid number (got 'high')"),
        ({"features": [{"name": "x", "inferred_type": "Float"}]}, "constraints: features[0].inferred_type: Input should be"),
        ({"monitoring_config": {"distribution_constraints": {"comparison_method": "Fancy"}}},
         "constraints: monitoring_config.distribution_constraints.comparison_method: Input should be 'Simple' or 'Robust'"),
    ],
)  # fmt: skip
def test_bad_constraints_get_one_clear_line(edit: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_constraints(edit)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_constraints_load_from_yaml_and_json_files(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "c.yaml").write_text("monitoring_config:\n  distribution_constraints:\n    comparison_method: Simple\n")
    assert load_constraints(folder / "c.yaml").monitoring_config.distribution_constraints.comparison_method == "Simple"
    (folder / "bad.yaml").write_text("monitoring_config: [unclosed\n")
    with pytest.raises(ValidationError, match=r"bad.yaml: not valid YAML"):
        load_constraints(folder / "bad.yaml")
    (folder / "c.json").write_text('{"features": [], "extra": 1}')
    with pytest.raises(ValidationError, match=r"c.json: extra: unknown key"):
        load_constraints(folder / "c.json")


def test_capture_json_shapes_become_rows(tmp_path: object) -> None:
    from pathlib import Path

    import orjson

    from forgeml.monitoring import CaptureReader
    from forgeml.serving._capture import capture_record

    payloads = [
        (b'{"instances": [{"features": [1.5, 2, "red"]}, [0.5, 3, "blue"]]}', "application/json"),
        (b'{"x1": 1.0, "x2": 4, "color": "green"}', "application/json"),
        (b'[1.0, 2, "red"]\n[2.0, 3, "blue"]\n', "application/jsonlines"),
        (b"not json", "application/json"),
    ]
    file = Path(str(tmp_path)) / "f.jsonl"
    file.write_bytes(b"".join(orjson.dumps(capture_record(body, ct, b"{}", "application/json",
                                                          json_types={"application/json", "application/jsonlines"})) + b"\n"
                              for body, ct in payloads))  # fmt: skip
    reader = CaptureReader(["x1", "x2", "color"])
    frame = pd.concat(list(reader.read([file])))
    assert len(frame) == 5 and list(frame.columns) == ["x1", "x2", "color"]
    assert reader.counts.unparsable_payloads == 1 and reader.counts.records == 4


def test_string_summaries_cap_counts_estimate_distincts_and_merge() -> None:
    from forgeml.monitoring._sketch import TRACKED_VALUES, StringSummary

    streamed, a, b = StringSummary(), StringSummary(), StringSummary()
    first, second = [f"v{i}" for i in range(8_000)], [f"v{i}" for i in range(4_000, 40_000)]
    streamed.update(first)
    streamed.update(second)
    a.update(first)
    b.update(second)
    a.merge(b)
    for s in (streamed, a):
        assert len(s.counts) == TRACKED_VALUES and sum(s.counts.values()) + s.other == 44_000 and s.other == 30_000
        assert abs(s.distinct_count - 40_000) <= 0.05 * 40_000  # KMV, k = 4096: about 1.6 % error
    assert a.distinct_count == streamed.distinct_count
    small = StringSummary()
    small.update(["x", "y", "x"])
    assert small.distinct_count == 2 and small.counts == {"x": 2, "y": 1}


def test_a_malformed_line_in_the_middle_is_counted_apart_from_a_truncated_last_line(tmp_path: object) -> None:
    from pathlib import Path

    import orjson

    from forgeml.monitoring import CaptureReader
    from forgeml.serving._capture import capture_record

    good = orjson.dumps(capture_record(b"1,2,red", "text/csv", b"0", "text/csv")) + b"\n"
    file = Path(str(tmp_path)) / "f.jsonl"
    file.write_bytes(good + b"{not json}\n" + good + good[:-30])
    reader = CaptureReader(["x1", "x2", "color"])
    assert sum(len(f) for f in reader.read([file])) == 2
    assert (reader.counts.malformed_lines, reader.counts.truncated_lines, reader.counts.records) == (1, 1, 2)


def test_a_typed_numeric_window_of_a_string_feature_compares_its_categories() -> None:
    base = Profile()
    base.update(pd.DataFrame({"zip": ["10115", "10117", "10115", "unknown"] * 50}))  # text: a String feature
    stats = base.statistics()
    cons = suggest(stats)
    window = Profile(text_columns=["zip"])
    window.update(pd.DataFrame({"zip": [10115, 99999, 99999, 99999] * 10}))  # read from Parquet as integers
    result = check(stats, cons, window)
    assert _types(result) == {("zip", "categorical_values_check"), ("zip", "baseline_drift_check")}
    assert window.columns["zip"].text.counts == {"10115": 10, "99999": 30}
