"""DQDL rules: parsing, metrics on hand-computed cases, NULL semantics, quarantine, drift, bad input."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeml.core.workspace import Workspace
from forgeml.data import infer_schema, load_rules, parse_dqdl, schema_drift, suggest_rules, validate
from forgeml.errors import ValidationError

NOW = dt.datetime(2024, 1, 10, 12, 0)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "id": [1, 2, 3, 3, None],
        "age": [20, 150, 30, 40, 50],
        "state": ["MA", "NH", "XX", None, "MA"],
        "when": pd.to_datetime(["2024-01-10", "2024-01-09", "2023-06-01", "2024-01-08", "2024-01-10"]),
    })  # fmt: skip


def _one(frame: pd.DataFrame, rule: str) -> dict:
    report = validate(frame, [rule], now=NOW)
    return report["rules"][0]


@pytest.mark.parametrize(
    ("rule", "outcome", "metric", "value"),
    [
        ('IsComplete "id"', "Failed", "Column.id.Completeness", 0.8),
        ('Completeness "state" >= 0.8', "Passed", "Column.state.Completeness", 0.8),
        # id non-null values 1,2,3,3: values seen once = 2 of 4 rows; of 3 distinct values
        ('Uniqueness "id" = 0.5', "Passed", "Column.id.Uniqueness", 0.5),
        ('IsUnique "id"', "Failed", "Column.id.Uniqueness", 0.5),
        ('UniqueValueRatio "id" between 0.6 and 0.7', "Passed", "Column.id.UniqueValueRatio", 2 / 3),
        ('DistinctValuesCount "state" = 3', "Passed", "Column.state.DistinctValuesCount", 3.0),
        ('Mean "age" = 58', "Passed", "Column.age.Mean", 58.0),
        ('Sum "age" > 290', "Failed", "Column.age.Sum", 290.0),
        # population standard deviation (Deequ), by hand: sqrt(mean((x - 58)^2))
        ('StandardDeviation "age" < 50', "Passed", "Column.age.StandardDeviation",
         math.sqrt(sum((a - 58) ** 2 for a in [20, 150, 30, 40, 50]) / 5)),
        # entropy of MA, MA, NH, XX in nats
        ('Entropy "state" > 1', "Passed", "Column.state.Entropy", -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))),
        ("RowCount between 1 and 5", "Passed", "Dataset.*.RowCount", 5.0),
        ("ColumnCount = 4", "Passed", "Dataset.*.ColumnCount", 4.0),
        ('ColumnValues "age" between 18 and 120', "Failed", "Column.age.ColumnValues.Compliance", 0.8),
        ('ColumnValues "age" > 10', "Passed", "Column.age.ColumnValues.Compliance", 1.0),
        # NULL fails "in" but passes "not in" and "!="
        ('ColumnValues "state" in ["MA", "NH"]', "Failed", "Column.state.ColumnValues.Compliance", 0.6),
        ('ColumnValues "state" in ["MA", "NH"] with threshold >= 0.6', "Passed", "Column.state.ColumnValues.Compliance", 0.6),
        ('ColumnValues "state" in ["MA", "NH", "XX", NULL]', "Passed", "Column.state.ColumnValues.Compliance", 1.0),
        ('ColumnValues "state" not in ["XX"]', "Failed", "Column.state.ColumnValues.Compliance", 0.8),
        ('ColumnValues "state" != "XX" with threshold > 0.7', "Passed", "Column.state.ColumnValues.Compliance", 0.8),
        ('ColumnValues "state" matches "[A-Z]{2}"', "Failed", "Column.state.ColumnValues.Compliance", 0.8),
        ('ColumnLength "state" = 2', "Failed", "Column.state.ColumnLength.Compliance", 0.8),
        ('DataFreshness "when" <= 3 days', "Failed", "Column.when.DataFreshness.Compliance", 0.8),
        ('ColumnValues "when" > (now() - 30 days)', "Failed", "Column.when.ColumnValues.Compliance", 0.8),
        ('CustomSQL "select count(*) from primary where age > 100" = 1', "Passed", "Dataset.*.CustomSQL", 1.0),
        ('ColumnDataType "state" = "INTEGER"', "Failed", "Column.state.ColumnDataType.Compliance", 0.2),
    ],
)
def test_rule_metrics_and_verdicts(frame: pd.DataFrame, rule: str, outcome: str, metric: str, value: float) -> None:
    result = _one(frame, rule)
    assert result["outcome"] == outcome, result
    assert result["metrics"][metric] == pytest.approx(value)


def test_composites_primary_key_and_column_exists(frame: pd.DataFrame) -> None:
    report = validate(frame, 'Rules = [ (IsComplete "age") and (Mean "age" > 100), (ColumnExists "nope") or (RowCount > 1), IsPrimaryKey "age" ]', now=NOW)
    assert [r["outcome"] for r in report["rules"]] == ["Failed", "Passed", "Passed"]
    assert report["passed"] is False and report["rules_failed"] == 1


def test_quarantine_keeps_every_row(frame: pd.DataFrame, tmp_path: Path) -> None:
    q, c = tmp_path / "q.parquet", tmp_path / "c.parquet"
    report = validate(
        frame, ['IsComplete "id"', 'IsUnique "id"', 'ColumnValues "age" <= 120', 'Mean "age" > 0'],
        now=NOW, quarantine_path=str(q), clean_path=str(c),
    )  # fmt: skip
    bad, good = pd.read_parquet(q), pd.read_parquet(c)
    assert len(bad) + len(good) == len(frame)
    assert bad["_dq_row"].tolist() == [1, 2, 3, 4]
    assert list(bad["_dq_failed_rules"][0]) == ['ColumnValues "age" <= 120']
    assert list(bad["_dq_failed_rules"][3]) == ['IsComplete "id"']
    assert good["id"].tolist() == [1.0]
    assert report["rows_quarantined"] == 4
    assert [r.get("failed_rows") for r in report["rules"]] == [1, 2, 1, None]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ('Rules = [ IsFancy "id" ]', "unknown rule type 'IsFancy'"),
        ('Rules = [ IsComplete "nope" ]', "'nope' not in the data"),
        ('Rules = [ Completeness "id" ]', "needs an expression"),
        ('Rules = [ ColumnValues "age" between 1 ]', "expected 'and'"),
        ('Rules = [ IsComplete "id" ', "expected ']'"),
        ('Rules = [ DataFreshness "when" <= 3 weeks ]', "unknown time unit 'weeks'"),
        ('Rules = [ ReferentialIntegrity "id" "other.id" = 1.0 ]', "not supported"),
        ("rules: [IsComplete: {]", "YAML is malformed at line 1"),
        ('Rules = [ CustomSQL "select * from primary" > 1 ]', "exactly one value"),
        ('Rules = [ ColumnDataType "age" = "BLOB" ]', "unknown type"),
    ],
)
def test_bad_rules_give_clear_errors(frame: pd.DataFrame, rules: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate(frame, rules, now=NOW)


def test_yaml_rules_and_mappings(frame: pd.DataFrame) -> None:
    text = """
rules:
  - IsComplete "age"
  - {rule: ColumnValues, column: state, in: [MA, NH, XX], threshold: "> 0.5"}
  - {rule: ColumnValues, column: age, between: [18, 200]}
  - {rule: CustomSQL, sql: "select max(age) from primary", condition: "< 200"}
"""
    report = validate(frame, text, now=NOW)
    assert [r["outcome"] for r in report["rules"]] == ["Passed", "Passed", "Passed", "Passed"]
    with pytest.raises(ValidationError, match="unknown key"):
        load_rules([{"rule": "IsComplete", "column": "id", "colour": "red"}])


_names = st.sampled_from(["a", "b c", "x_1"])
_values = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: round(f, 3)))


@settings(max_examples=60, deadline=None)
@given(col=_names, low=_values, high=_values, threshold=st.floats(0, 1).map(lambda f: round(f, 3)))
def test_rule_text_roundtrips_through_the_parser(col: str, low: float, high: float, threshold: float) -> None:
    text = f'ColumnValues "{col}" between {low!r} and {high!r} with threshold > {threshold!r}'
    rule = parse_dqdl(text)[0]
    assert parse_dqdl(rule.text())[0] == rule
    assert rule.columns == (col,) and rule.condition.values == (low, high)


def test_schema_inference_suggestions_and_drift(frame: pd.DataFrame) -> None:
    base = frame.drop(columns=["when"])
    schema = {c["name"]: c for c in infer_schema(base)}
    assert schema["state"]["categories"] == ["MA", "NH", "XX"] and schema["state"]["nullable"]
    assert schema["age"]["unique"] and schema["age"]["min"] == 20
    assert validate(base, suggest_rules(base))["passed"]
    current = base.assign(age=[20, 30, 500, 40, 50], state=["MA", "VT", "MA", "MA", "MA"], extra=1).drop(columns=["id"])
    drift = schema_drift(base, current)
    assert drift["added"] == [{"name": "extra", "type": "BIGINT"}]
    assert [r["name"] for r in drift["removed"]] == ["id"]
    assert drift["columns"]["state"]["new_categories"] == ["VT"]
    assert drift["columns"]["state"]["missing_categories"] == ["NH", "XX"]
    assert drift["columns"]["age"]["out_of_range_fraction"] == pytest.approx(0.2)
    assert drift["drifted"]
    retyped = schema_drift(base, base.assign(age=base["age"].astype(str)))
    assert retyped["retyped"] == [{"name": "age", "from": "BIGINT", "to": "VARCHAR"}]
    assert not schema_drift(base, base)["drifted"]


def test_service_validate_quarantines_to_a_side_dataset(ws: Workspace, frame: pd.DataFrame) -> None:
    from forgeml.data._prep_service import DataPrepService

    ws.datasets.create("people", frame)
    svc = DataPrepService(ws)
    result = svc.validate("people", 'Rules = [ IsComplete "id", ColumnValues "age" <= 120 ]', clean_name="people-clean", now=NOW)
    report = result["report"]
    assert report["quarantine"] == {"dataset": "dataset/people-dq-quarantine:1", "rows": 2}
    assert report["clean"] == {"dataset": "dataset/people-clean:1", "rows": 3}
    bad = ws.datasets.read("people-dq-quarantine")
    assert sorted(bad["_dq_row"].tolist()) == [1, 4]
    assert result["record"]["data"]["summary"]["passed"] is False
    assert ws.artifacts.read_json(result["record"]["data"]["artifacts"]["json"])["rules_failed"] == 2
    profiled = svc.profile("people", label="state")
    page = ws.artifacts.read_bytes(profiled["record"]["data"]["artifacts"]["html"]).decode()
    assert "<svg" in page and "dataset/people:1" in page
    assert [r["version"] for r in svc.reports("people", "validation")] == [1]
    drift = svc.drift("people", 1, other="people-clean")
    assert drift["columns"]["state"]["missing_categories"] == ["NH"]  # its only row had age 150


def test_row_counts_from_the_single_scan_match_pandas(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame({
        "id": np.where(rng.random(n) < 0.05, np.nan, np.arange(n)),
        "age": rng.integers(10, 110, n),
        "state": rng.choice(["MA", "NH", "XX"], n),
        "code": np.where(rng.random(n) < 0.1, "bad", "AB123"),
    })  # fmt: skip
    rules = [
        'ColumnValues "age" between 18 and 100',
        'ColumnValues "state" in ["MA", "NH"] where "age > 50"',
        'ColumnValues "code" matches "[A-Z]{2}[0-9]{3}" with threshold > 0.5',  # passes: its failing rows are kept
        'IsComplete "id"',
        'Completeness "id" > 0.9',
    ]
    bad = {
        "age": ~frame["age"].between(18, 100),
        "state": (frame["age"] > 50) & ~frame["state"].isin(["MA", "NH"]),
        "code": ~frame["code"].str.fullmatch(r"[A-Z]{2}[0-9]{3}"),
        "id": frame["id"].isna(),
    }
    counted = validate(frame, rules, now=NOW)  # counts come from the prefetch scan
    scanned = validate(frame, rules, now=NOW, quarantine_path=str(tmp_path / "q.parquet"))  # counted while writing
    for report in (counted, scanned):
        assert [r["outcome"] for r in report["rules"]] == ["Failed", "Failed", "Passed", "Failed", "Passed"]
        assert [r["failed_rows"] for r in report["rules"]] == [int(bad[k].sum()) for k in ("age", "state", "code", "id", "id")]
        assert report["rows_quarantined"] == int((bad["age"] | bad["state"] | bad["id"]).sum())
        compliance = report["rules"][1]["metrics"]["Column.state.ColumnValues.Compliance"]
        assert compliance == pytest.approx(1 - bad["state"].sum() / (frame["age"] > 50).sum(), rel=1e-12)
    assert len(pd.read_parquet(tmp_path / "q.parquet")) == scanned["rows_quarantined"]
