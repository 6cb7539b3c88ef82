"""The evaluation rules against the hand-worked table of aws-semantics-2.md §1.3 (R = 5, N = 3)."""

from __future__ import annotations

import pytest

from forgeml.alarms._evaluate import breaches, judge

# data (oldest -> newest), M, then the state under missing, ignore, breaching, notBreaching
TABLE = [
    ("0 - X - X", 3, "OK", "OK", "OK", "OK"),
    ("0 - - - -", 3, "OK", "OK", "OK", "OK"),
    ("- - - - -", 3, "INSUFFICIENT_DATA", None, "ALARM", "OK"),
    ("0 X X - X", 3, "ALARM", "ALARM", "ALARM", "ALARM"),
    ("- - X - -", 3, "ALARM", None, "ALARM", "OK"),
    ("0 - X - X", 2, "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 0 X 0 X", 2, "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 - X - -", 2, "OK", "OK", "ALARM", "OK"),
    ("- - - - 0", 2, "OK", "OK", "ALARM", "OK"),
    ("- - - X -", 2, "ALARM", None, "ALARM", "OK"),
]
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


def _points(text: str) -> list[bool | None]:
    return [{"0": False, "X": True, "-": None}[c] for c in text.split()]


@pytest.mark.parametrize(("data", "m", "missing", "ignore", "breaching", "not_breaching"), TABLE)
def test_reference_table(
    data: str, m: int, missing: str, ignore: str | None, breaching: str, not_breaching: str
) -> None:
    expected = dict(zip(TREATMENTS, (missing, ignore, breaching, not_breaching), strict=True))
    for treatment, state in expected.items():
        assert judge(_points(data), 3, m, treatment).state == state, (data, m, treatment)


def test_premature_rule_needs_m_periods_of_age() -> None:
    """`- - - - X` and `- - - X -` with M = 3 do not alarm yet (the reference's counter-examples)."""
    assert judge(_points("- - - - X"), 3, 3).state == "OK"
    assert judge(_points("- - - X -"), 3, 3).state == "OK"


def test_m_of_n_counts_breaches_not_consecutive() -> None:
    assert judge(_points("X 0 X 0 X"), 5, 3).state == "ALARM"
    assert judge(_points("X 0 X 0 0"), 5, 3).state == "OK"
    assert (
        judge(_points("X X X X 0 0 0"), 5, 3).state == "OK"
    )  # only the newest N real points count


def test_operators_compare_statistic_to_threshold() -> None:
    values = [1.0, 2.0, 3.0, None]
    assert breaches(values, "GreaterThanThreshold", 2.0) == [False, False, True, None]
    assert breaches(values, "GreaterThanOrEqualToThreshold", 2.0) == [False, True, True, None]
    assert breaches(values, "LessThanThreshold", 2.0) == [True, False, False, None]
    assert breaches(values, "LessThanOrEqualToThreshold", 2.0) == [True, True, False, None]
