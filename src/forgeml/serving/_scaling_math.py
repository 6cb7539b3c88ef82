"""The arithmetic of Application Auto Scaling, as pure functions (tested against AWS's examples).

* Target tracking: ``desired = ceil(current x metric / target)`` (rounded up: conservative),
  a scale-in only while the metric is below ``scale_in_ratio x target`` (AWS: "usually more than
  10 %" below; both from memory, so settings of the policy), clamped to the bounds.
* Step scaling: the step whose interval (relative to the alarm threshold T) holds the value;
  ``[T+lower, T+upper)`` when the value is at or above T, ``(T+lower, T+upper]`` below it;
  ``PercentChangeInCapacity`` rounds as AWS documents (above 1 floored, between 0 and 1 to 1,
  between -1 and 0 to -1, below -1 truncated toward 0).
* Schedules: ``at(...)``, ``rate(n unit)`` and six-field ``cron(Min Hour DoM Month DoW Year)``
  (``?`` for "any", day of week 1-7 = SUN-SAT as AWS counts).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from forgeml.errors import ValidationError

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_RATE = re.compile(r"^rate\((\d{1,6}) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def target_tracking(current: int, metric: float | None, target: float, *, scale_in_ratio: float = 0.9) -> int | None:
    """The capacity one target-tracking policy wants (before bounds), or None for "no change".

    ``metric`` None (no data: INSUFFICIENT_DATA) never scales. With no instances (scale to
    zero), a metric above 0 wants ``ceil(metric / target)`` instances (the backlog per instance
    of an empty pool is the whole backlog).
    """
    if metric is None or not math.isfinite(metric):
        return None
    if current <= 0:
        return math.ceil(metric / target) if metric > 0 else None
    if metric > target:
        return max(current + 1, math.ceil(current * metric / target - 1e-9))
    if metric < scale_in_ratio * target:
        return min(current, max(0, math.ceil(current * metric / target - 1e-9)))
    return None


def percent_change(current: int, percent: float, min_magnitude: int | None = None) -> int:
    """The change ``PercentChangeInCapacity`` makes to ``current`` (AWS's rounding)."""
    r = current * percent / 100.0
    if r > 1:
        change = math.floor(r)
    elif 0 < r < 1:
        change = 1
    elif -1 < r < 0:
        change = -1
    else:
        change = math.trunc(r)
    if min_magnitude is not None and change != 0 and abs(change) < min_magnitude:
        change = min_magnitude if change > 0 else -min_magnitude
    return change


def step_adjust(
    current: int, value: float, threshold: float, steps: list[tuple[float | None, float | None, int]],
    adjustment_type: str, min_magnitude: int | None = None,
) -> int | None:  # fmt: skip
    """The capacity a step policy sets for an alarm value, or None when no step holds it."""
    for lower, upper, adjustment in steps:
        lo = -math.inf if lower is None else threshold + lower
        hi = math.inf if upper is None else threshold + upper
        inside = (lo <= value < hi) if value >= threshold else (lo < value <= hi)
        if not inside:
            continue
        if adjustment_type == "ExactCapacity":
            return adjustment
        if adjustment_type == "PercentChangeInCapacity":
            return current + percent_change(current, adjustment, min_magnitude)
        return current + adjustment
    return None


# schedules ------------------------------------------------------------------------------------
def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {tz!r} (an IANA name such as UTC or Europe/Paris)") from None


def _cron_parts(expr: str) -> tuple[str, str]:
    fields = expr.split()
    if len(fields) != 6:
        raise ValidationError(f"cron({expr}) needs six fields: Min Hour DayOfMonth Month DayOfWeek Year")
    minute, hour, dom, month, dow, year = fields
    dom = "*" if dom == "?" else dom
    if dow == "?":
        dow = "*"
    else:  # AWS counts 1-7 from Sunday, cron 0-6
        dow = re.sub(r"\d+", lambda m: str((int(m.group()) - 1) % 7) if 1 <= int(m.group()) <= 7 else "x", dow)
    return f"{minute} {hour} {dom} {month} {dow}", year


def _year_ok(year_field: str, year: int) -> bool:
    if year_field in ("*", "?"):
        return True
    for part in year_field.split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (hi.isdigit() if hi else True) and int(lo) <= year <= int(hi or lo):
            return True
    return False


def check_schedule(schedule: str, tz: str = "UTC") -> None:
    """Raises ValidationError for a schedule that is not ``at(...)``, ``rate(...)`` or ``cron(...)``."""
    from croniter import croniter

    _zone(tz)
    if _AT.match(schedule):
        try:
            datetime.fromisoformat(_AT.match(schedule).group(1))  # type: ignore[union-attr]
        except ValueError:
            raise ValidationError(f"{schedule!r} is not a valid date and time") from None
        return
    rate = _RATE.match(schedule)
    if rate:
        if int(rate.group(1)) < 1:
            raise ValidationError(f"{schedule!r}: the rate must be at least 1")
        if (rate.group(1) == "1") == rate.group(2).endswith("s"):
            raise ValidationError(f"{schedule!r}: write rate(1 minute) or rate(5 minutes)")
        return
    cron = _CRON.match(schedule)
    if cron:
        expr, year = _cron_parts(cron.group(1))
        if "x" in expr or not croniter.is_valid(expr) or not (year in ("*", "?") or re.fullmatch(r"[\d,\-]+", year)):
            raise ValidationError(f"{schedule!r} is not a valid cron expression")
        return
    raise ValidationError(f"schedule {schedule!r} must be at(yyyy-mm-ddThh:mm:ss), rate(<n> minutes|hours|days) or cron(<6 fields>)")


def latest_fire(schedule: str, tz: str, *, after: float, now: float, anchor: float) -> float | None:
    """The newest fire time in ``(after, now]`` (epoch seconds), or None. ``rate`` counts from
    ``anchor`` (the action's start time or creation)."""
    from croniter import croniter

    zone = _zone(tz)
    at = _AT.match(schedule)
    if at:
        t = datetime.fromisoformat(at.group(1)).replace(tzinfo=zone).timestamp()
        return t if after < t <= now else None
    rate = _RATE.match(schedule)
    if rate:
        step = int(rate.group(1)) * _UNIT[rate.group(2).rstrip("s")]
        if now < anchor + step:
            return None
        t = anchor + math.floor((now - anchor) / step) * step
        return t if t > after else None
    expr, year = _cron_parts(_CRON.match(schedule).group(1))  # type: ignore[union-attr]
    it = croniter(expr, datetime.fromtimestamp(now, UTC).astimezone(zone) + timedelta(seconds=1))
    for _ in range(1000):
        fire: datetime = it.get_prev(datetime)
        t = fire.timestamp()
        if t <= after:
            return None
        if _year_ok(year, fire.year):
            return t
    return None


__all__ = ["check_schedule", "clamp", "latest_fire", "percent_change", "step_adjust", "target_tracking"]
