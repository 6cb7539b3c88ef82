"""EventBridge pattern semantics, case by case from the reference (aws-semantics-2.md §3.2)."""

from __future__ import annotations

import pytest

from forgeml.errors import ValidationError
from forgeml.rules import load_pattern

EVENT = {
    "version": "0", "source": "forgeml.alarms", "detail-type": "CloudWatch Alarm State Change",
    "resources": ["alarm/cpu:1", "alarm/other:1"], "time": "2026-12-07T10:00:00Z",
    "detail": {
        "alarmName": "Drift-High", "count": 300, "ratio": 0.25, "nothing": None, "empty": "",
        "ip": "10.0.0.7", "file": "report.png", "flag": True, "obj": {"k": "v"},
        "items": [{"name": "a", "size": 1}, {"name": "b", "size": 2}],
        "state": {"value": "ALARM"}, "tags": ["x", "y"],
    },
}  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["forgeml.alarms"]}, True),
        ({"source": ["forgeml.Alarms"]}, False),  # case-sensitive
        ({"source": ["x", "forgeml.alarms"]}, True),  # OR inside a leaf
        ({"source": ["forgeml.alarms"], "detail-type": ["nope"]}, False),  # AND across fields
        ({"detail": {"state": {"value": ["ALARM"]}}}, True),
        ({"detail.state.value": ["ALARM"]}, True),  # dotted keys are nested keys
        ({"detail": {"missing": ["x"]}}, False),  # the field must exist
        ({"detail": {"count": [300]}}, True),
        ({"detail": {"count": [300.0]}}, False),  # numbers compare as JSON text
        ({"detail": {"count": ["300"]}}, False),
        ({"detail": {"nothing": [None]}}, True),
        ({"detail": {"nothing": [""]}}, False),  # null is not ""
        ({"detail": {"empty": [""]}}, True),
        ({"detail": {"flag": [True]}}, True),
        ({"detail": {"flag": [1]}}, False),
        ({"resources": ["alarm/other:1"]}, True),  # an event array intersects the leaf
        ({"detail": {"tags": ["z", "y"]}}, True),
        ({"detail": {"alarmName": [{"prefix": "Drift"}]}}, True),
        ({"detail": {"alarmName": [{"prefix": "drift"}]}}, False),
        ({"detail": {"alarmName": [{"prefix": {"equals-ignore-case": "dRIFT"}}]}}, True),
        ({"detail": {"file": [{"suffix": ".png"}]}}, True),
        ({"detail": {"file": [{"suffix": {"equals-ignore-case": ".PNG"}}]}}, True),
        ({"detail": {"alarmName": [{"equals-ignore-case": "drift-high"}]}}, True),
        ({"detail": {"alarmName": [{"wildcard": "D*-H*"}]}}, True),
        ({"detail": {"alarmName": [{"wildcard": "D*-X*"}]}}, False),
        ({"detail": {"alarmName": [{"anything-but": "Drift-High"}]}}, False),
        ({"detail": {"alarmName": [{"anything-but": ["a", "b"]}]}}, True),
        ({"detail": {"count": [{"anything-but": [100, 200]}]}}, True),
        ({"detail": {"count": [{"anything-but": 300}]}}, False),
        ({"detail": {"alarmName": [{"anything-but": {"prefix": "Drift"}}]}}, False),
        ({"detail": {"alarmName": [{"anything-but": {"suffix": "Low"}}]}}, True),
        ({"detail": {"alarmName": [{"anything-but": {"equals-ignore-case": ["drift-high"]}}]}}, False),
        ({"detail": {"alarmName": [{"anything-but": {"wildcard": "*High"}}]}}, False),
        ({"detail": {"missing": [{"anything-but": "x"}]}}, False),  # anything-but needs the field
        ({"detail": {"count": [{"numeric": [">", 0, "<=", 300]}]}}, True),
        ({"detail": {"count": [{"numeric": [">", 300]}]}}, False),
        ({"detail": {"count": [{"numeric": ["=", 300]}]}}, True),
        ({"detail": {"ratio": [{"numeric": [">=", 0.25, "<", 1]}]}}, True),
        ({"detail": {"alarmName": [{"numeric": [">", 0]}]}}, False),  # a string is no number
        ({"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}, True),
        ({"detail": {"ip": [{"cidr": "10.0.1.0/24"}]}}, False),
        ({"detail": {"alarmName": [{"exists": True}]}}, True),
        ({"detail": {"missing": [{"exists": False}]}}, True),
        ({"detail": {"alarmName": [{"exists": False}]}}, False),
        ({"detail": {"obj": [{"exists": True}]}}, False),  # an object does not "exist"
        ({"detail": {"obj": [{"exists": False}]}}, True),
        ({"detail": {"items": {"name": ["a"], "size": [1]}}}, True),  # within one array element
        ({"detail": {"items": {"name": ["a"], "size": [2]}}}, False),
        ({"$or": [{"source": ["x"]}, {"detail": {"count": [300]}}]}, True),
        ({"$or": [{"source": ["x"]}, {"detail": {"count": [1]}}]}, False),
        ({"detail": {"$or": [{"count": [1]}, {"alarmName": [{"prefix": "Drift"}]}]}}, True),
    ],
)
def test_matching(pattern: dict, expected: bool) -> None:
    assert load_pattern(pattern).matches(EVENT) is expected


def test_last_key_wins_and_yaml() -> None:
    assert load_pattern('{"source": ["nope"], "source": ["forgeml.alarms"]}').matches(EVENT)
    assert load_pattern("source: [forgeml.alarms]\ndetail:\n  count: [300]\n").matches(EVENT)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({"source": [{"startswith": "x"}]}, "unknown operator 'startswith'"),
        ({"source": "forgeml.alarms"}, "must be an array"),
        ({"detail": {"n": [{"numeric": [">", "a"]}]}}, "is not a number"),
        ({"detail": {"n": [{"numeric": ["!=", 1]}]}}, "unknown comparison"),
        ({"detail": {"n": [{"numeric": [">", 6e9]}]}}, "outside"),
        ({"detail": {"n": [{"numeric": [">", 1, ">", 2]}]}}, "at most one lower"),
        ({"detail": {"n": [{"wildcard": "a**b"}]}}, "consecutive"),
        ({"detail": {"n": [{"wildcard": "a\\b"}]}}, "valid escapes"),
        ({"detail": {"n": [{"cidr": "10.0.0.0/99"}]}}, "not a CIDR"),
        ({"detail": {"n": [{"exists": "yes"}]}}, "true or false"),
        ({"detail": {"n": [{"anything-but": ["a", 1]}]}}, "only strings or only numbers"),
        ({"detail": {"n": [{"prefix": "a", "suffix": "b"}]}}, "exactly one key"),
        ({"$or": [{"source": ["a"]}]}, "at least 2"),
        ({}, "non-empty"),
        ("{not json: [", "neither JSON nor YAML"),
    ],
)
def test_bad_patterns_are_clear_errors(pattern: object, message: str) -> None:
    with pytest.raises(ValidationError, match="event pattern") as info:
        load_pattern(pattern)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_or_combinations_are_bounded() -> None:
    branch = {"$or": [{"a": [str(i)]} for i in range(11)]}
    with pytest.raises(ValidationError, match="1000 combinations"):
        load_pattern({"x": branch, "y": branch, "z": branch})
    assert not load_pattern({"x": branch, "y": branch}).warnings


@pytest.mark.parametrize(
    ("pattern", "warning"),
    [
        ({"source": []}, "empty array"),
        ({"detail": {"n": [{"numeric": [">", 5, "<", 3]}]}}, "range"),
        ({"detail": {"n": [{"numeric": [">", 5, "<=", 5]}]}}, "range"),
        ({"source": ["aws.sagemaker"]}, "no ForgeML source"),
        ({"detail": ["x"]}, "always an object"),
    ],
)
def test_patterns_that_can_never_match_warn(pattern: dict, warning: str) -> None:
    parsed = load_pattern(pattern)
    assert any(warning in w for w in parsed.warnings), parsed.warnings
    assert not load_pattern({"source": ["forgeml.alarms"]}).warnings


def test_yaml_aliases_cannot_blow_a_short_pattern_up() -> None:
    lines = ["a0: &a0 {x: [1]}"] + [f"a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(9)) + "}" for i in range(1, 9)]
    text = "\n".join(lines) + "\n"
    assert len(text) < 4096
    with pytest.raises(ValidationError, match="more than 2000 fields"):
        load_pattern(text)
