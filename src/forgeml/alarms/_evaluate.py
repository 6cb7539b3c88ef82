"""CloudWatch's alarm evaluation rules, as a pure function (reference aws-semantics-2.md §1.3).

The alarm reads an evaluation range R of ``N + 2`` periods (the documented examples use R = 5
for N = 3), oldest first, each a value or None (missing). Then:

(a) at least N real points in R: the N newest real points are judged, ALARM iff at least M
    breach, whatever ``TreatMissingData`` says;
(b) fewer: ``breaching`` / ``notBreaching`` fill the gap up to N with bad / good points and judge
    that set; ``missing``: no real point gives INSUFFICIENT_DATA, at least M real breaches give
    ALARM, and with fewer than M real points the *premature-alarm rule* gives ALARM (the oldest
    breaching point of the last N periods is at least M periods old and every newer one breaches
    or is missing), else OK; ``ignore``: as ``missing``, but INSUFFICIENT_DATA and a premature
    ALARM become "keep the current state".
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

OPERATORS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
TREATMENTS = ("missing", "notBreaching", "breaching", "ignore")
STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")


@dataclass(frozen=True)
class Outcome:
    """The judged state (None: keep the current one) and how it was reached."""

    state: str | None
    breaching: int
    judged: int
    rule: str


def breaches(
    values: Sequence[float | None], comparison: str, threshold: float
) -> list[bool | None]:
    """Each value as breaching (True), good (False) or missing (None)."""
    compare = OPERATORS[comparison][0]
    return [None if v is None else bool(compare(v, threshold)) for v in values]


def judge(points: Sequence[bool | None], n: int, m: int, treat_missing: str = "missing") -> Outcome:
    """The state the rules give for ``points`` (oldest first; True breaching, False good, None
    missing) over the evaluation range, with N = ``n`` evaluation periods and M = ``m``
    datapoints to alarm."""
    real = [p for p in points if p is not None]
    if len(real) >= n:
        newest = real[-n:]
        bad = sum(newest)
        return Outcome("ALARM" if bad >= m else "OK", bad, n, "newest real datapoints")
    bad = sum(real)
    if treat_missing in ("breaching", "notBreaching"):
        filled = n - len(real)
        total = bad + (filled if treat_missing == "breaching" else 0)
        return Outcome(
            "ALARM" if total >= m else "OK",
            total,
            n,
            f"{filled} missing datapoint(s) treated as {treat_missing}",
        )
    keep = treat_missing == "ignore"
    if not real:
        return Outcome(None if keep else "INSUFFICIENT_DATA", 0, 0, "no datapoints")
    if bad >= m:
        return Outcome("ALARM", bad, len(real), "real breaching datapoints")
    if len(real) < m and _premature(points[-n:], m):
        return Outcome(
            None if keep else "ALARM", bad, len(real), "intermittent data (premature alarm)"
        )
    return Outcome("OK", bad, len(real), "real datapoints")


def _premature(last: Sequence[bool | None], m: int) -> bool:
    """The oldest breaching point of the last N periods is >= M periods old (the newest period
    is 1 old) and every newer point breaches or is missing."""
    first = next((i for i, p in enumerate(last) if p is True), None)
    if first is None:
        return False
    age = len(last) - first
    return age >= m and all(p is not False for p in last[first + 1 :])


__all__ = ["OPERATORS", "STATES", "TREATMENTS", "Outcome", "breaches", "judge"]
