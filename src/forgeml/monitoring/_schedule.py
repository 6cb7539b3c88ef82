"""Monitoring schedules (``CreateMonitoringSchedule``, reference §10.2): cron, windows, statuses.

A schedule is a ``monitoring-schedule`` resource (one version; its status changes in place):

* ``spec``: ``monitoring_type`` (``DataQuality``, ``ModelQuality``, ``ModelBias`` or
  ``ModelExplainability``: the last two take a baseline of their own type), ``baseline``, ``endpoint``,
  ``variant``, ``cron``, ``constraints`` (an override document or None), ``start_time`` (epoch
  seconds: no window ends before it) and, for ModelQuality, ``model_quality`` (its problem
  type and attributes).
* ``status``: ``Pending`` (created, no scheduler has taken it yet), ``Scheduled``, ``Stopped``
  (:meth:`stop`; a restart resumes from that moment, so the hours in between are not analysed,
  as SageMaker does), ``Failed`` (its baseline or endpoint disappeared; ``data.failure_reason``).

Each cron fire time ``T`` is one execution over the previous full hours: from the hour of the
fire before ``T`` to the hour of ``T`` (an hourly schedule's run at 05:00 reads the capture
files of 04:00-05:00, a daily one the 24 hours before). Consecutive windows tile time, so none
is skipped and none overlaps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from forgeml.errors import ValidationError

SCHEDULE_KIND = "monitoring-schedule"
PENDING, SCHEDULED, STOPPED, FAILED = "Pending", "Scheduled", "Stopped", "Failed"
SCHEDULE_STATUSES = (PENDING, SCHEDULED, STOPPED, FAILED)
MONITORING_TYPES = ("DataQuality", "ModelQuality", "ModelBias", "ModelExplainability")


def hourly() -> str:
    """Every hour on the hour (SageMaker's ``CronExpressionGenerator.hourly()``)."""
    return "0 * * * *"


def daily(hour: int = 0) -> str:
    """Every day at ``hour`` UTC (``CronExpressionGenerator.daily(hour)``)."""
    if not isinstance(hour, int) or isinstance(hour, bool) or not 0 <= hour <= 23:
        raise ValidationError(f"daily(hour): {hour!r} is not an hour 0-23")
    return f"0 {hour} * * *"


HELPERS = {"hourly": hourly, "daily": daily}


def parse_cron(expression: Any, field: str = "cron") -> str:
    """A checked five-field cron expression (UTC); ``hourly`` and ``daily`` name the helpers.

    At most one run an hour, as SageMaker allows: the minute field must be one number.

    Raises:
        ValidationError: naming ``field`` and what is wrong.
    """
    from croniter import croniter

    if not isinstance(expression, str) or not expression.strip():
        raise ValidationError(f"{field}: give a cron expression such as '0 * * * *' (or hourly, daily)")
    text = " ".join(expression.split())
    if text in HELPERS:
        return HELPERS[text]()
    fields = text.split(" ")
    if len(fields) != 5 or not croniter.is_valid(text):
        raise ValidationError(f"{field}: {expression!r} is not a cron expression (five fields: minute hour day month weekday)")
    if not fields[0].isdigit() or not 0 <= int(fields[0]) <= 59:
        raise ValidationError(f"{field}: {expression!r} runs more often than hourly; the minute field must be one number 0-59")
    return text


def _hour(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def window_of(cron: str, fire: datetime) -> tuple[datetime, datetime]:
    """The ``[start, end)`` hours the run at ``fire`` analyses."""
    from croniter import croniter

    previous = croniter(cron, fire).get_prev(datetime)
    start, end = _hour(previous), _hour(fire)
    return (start if start < end else end - timedelta(hours=1)), end


def fire_times(cron: str, after: datetime, until: datetime) -> Iterator[datetime]:
    """Fire times ``T`` with ``after < T <= until``, in order (UTC)."""
    from croniter import croniter

    it = croniter(cron, after.astimezone(UTC))
    while True:
        fire = it.get_next(datetime)
        if fire > until:
            return
        yield fire


def next_fire(cron: str, after: datetime) -> datetime:
    from croniter import croniter

    fire: datetime = croniter(cron, after.astimezone(UTC)).get_next(datetime)
    return fire


__all__ = [
    "FAILED",
    "MONITORING_TYPES",
    "PENDING",
    "SCHEDULED",
    "SCHEDULE_KIND",
    "SCHEDULE_STATUSES",
    "STOPPED",
    "daily",
    "fire_times",
    "hourly",
    "next_fire",
    "parse_cron",
    "window_of",
]
