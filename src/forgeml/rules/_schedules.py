"""``ws.schedules``: cron and rate schedules that fire targets (EventBridge Scheduler's role).

Expressions: ``rate(N minute|minutes|hour|hours|day|days)`` (counted from the schedule's
creation) or a five-field cron expression (croniter; ``cron(0 6 * * 1-5)`` also accepted) read
in the schedule's IANA ``timezone`` (zoneinfo; UTC by default), so ``0 6 * * *`` in
``Europe/Berlin`` fires at 06:00 Berlin time on both sides of a DST change.

Catch-up rule: after downtime, missed fire times collapse into one fire, at the latest missed
time; the schedule then continues on its regular times. No burst. The last fire is durable (the
schedule's cursor, written with its claims), so a restart neither repeats nor loses it.
"""

from __future__ import annotations

import builtins
import functools
import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from forgeml.core.jobs import validate_name
from forgeml.core.records import ResourceRecord
from forgeml.core.refs import name_of
from forgeml.errors import AlreadyExistsError, NotFoundError, ValidationError
from forgeml.rules._envelope import scheduled_envelope
from forgeml.rules._fire import fire, recover
from forgeml.rules._service import DISABLED, ENABLED, check_targets
from forgeml.rules._store import FiringStore

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

KIND = "schedule"
_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
MAX_RATE = 100_000


@functools.cache
def _zones() -> frozenset[str]:
    from zoneinfo import available_timezones

    return frozenset(available_timezones())


def parse_expression(expression: Any, timezone: Any = "UTC") -> dict[str, Any]:
    """A checked schedule expression: ``{"kind": "rate", "seconds": ..}`` or ``{"kind": "cron", "cron": ..}``.

    Raises:
        ValidationError: an expression that does not parse or an unknown time zone.
    """
    from croniter import croniter

    if not isinstance(timezone, str):
        raise ValidationError("timezone: an IANA time zone name such as 'Europe/Berlin'")
    if timezone != "UTC" and timezone not in _zones():
        raise ValidationError(f"timezone: {timezone!r} is not a known IANA time zone (e.g. UTC, Europe/Berlin)")
    if not isinstance(expression, str) or not expression.strip():
        raise ValidationError("expression: give rate(5 minutes) or a cron expression such as '0 6 * * *'")
    text = " ".join(expression.split())
    if m := _RATE.fullmatch(text):
        count = int(m[1])
        if not 1 <= count <= MAX_RATE:
            raise ValidationError(f"expression: {expression!r}: the rate must be 1 to {MAX_RATE}")
        return {"kind": "rate", "seconds": count * _UNIT[m[2].rstrip("s")], "expression": text}
    if text.startswith("rate("):
        raise ValidationError(f"expression: {expression!r} is not a rate (use rate(N minutes|hours|days))")
    inner = text[5:-1].strip() if text.startswith("cron(") and text.endswith(")") else text
    if len(inner.split(" ")) != 5 or not croniter.is_valid(inner):
        raise ValidationError(f"expression: {expression!r} is not a cron expression (five fields: minute hour day month weekday)")
    try:
        croniter(inner, datetime.now(UTC)).get_next(datetime)
    except Exception:  # croniter's CroniterBadDateError and kin: no such date in the coming years
        raise ValidationError(f"expression: {expression!r} never fires (no such date)") from None
    return {"kind": "cron", "cron": inner, "expression": text}


def fire_times(spec: dict[str, Any], anchor: float, after: float, until: float) -> list[float]:
    """Fire times ``T`` with ``after < T <= until`` (at most the last 2, which is all the
    catch-up rule needs: the latest due one)."""
    parsed = parse_expression(spec["expression"], spec.get("timezone", "UTC"))
    if parsed["kind"] == "rate":
        step = parsed["seconds"]
        last = anchor + ((until - anchor) // step) * step
        return [t for t in (last - step, last) if after < t <= until and t > anchor]
    from croniter import croniter

    zone = ZoneInfo(spec.get("timezone", "UTC"))
    start = datetime.fromtimestamp(until, UTC).astimezone(zone)
    prev = croniter(parsed["cron"], start + timedelta(microseconds=1)).get_prev(datetime)
    times = [prev.timestamp()]
    return [t for t in times if after < t <= until]


def next_fire(spec: dict[str, Any], anchor: float, after: float) -> float:
    """The first fire time after ``after``."""
    parsed = parse_expression(spec["expression"], spec.get("timezone", "UTC"))
    if parsed["kind"] == "rate":
        step = parsed["seconds"]
        return float(anchor + ((after - anchor) // step + 1) * step)
    from croniter import croniter

    zone = ZoneInfo(spec.get("timezone", "UTC"))
    nxt: datetime = croniter(parsed["cron"], datetime.fromtimestamp(after, UTC).astimezone(zone)).get_next(datetime)
    return nxt.timestamp()


class ScheduleService:
    """Define, inspect and run schedules."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.store = workspace.metadata
        self.firings = FiringStore(workspace)

    def create(self, name: str, expression: str, targets: builtins.list[dict[str, Any]], *, timezone: str = "UTC",
               description: str = "", enabled: bool = True) -> ResourceRecord:  # fmt: skip
        """Define a schedule.

        Raises:
            ValidationError: a bad name, expression, time zone or target.
            AlreadyExistsError: a schedule of that name exists.
        """
        validate_name(name, "schedule name")
        parsed = parse_expression(expression, timezone)
        checked = check_targets(targets, list(self.ws.settings.allowed_webhook_hosts), network=not self.ws.access.is_local)
        if self.store.list_resources(KIND, name=name, limit=1):
            raise AlreadyExistsError(f"schedule {name!r} exists; delete it first to redefine it")
        now = time.time()
        spec = {"expression": parsed["expression"], "timezone": timezone, "targets": checked, "description": str(description)[:512]}
        record = self.store.create_resource(ResourceRecord(KIND, name, 1, ENABLED if enabled else DISABLED, spec=spec, data={"anchor": now}))
        self.firings.set_cursor(record.ref, 0, now)
        return record

    def get(self, name: str) -> ResourceRecord:
        """The schedule ``name``.

        Raises:
            NotFoundError: no such schedule.
        """
        name = name_of(name, KIND)
        found = self.store.list_resources(KIND, name=name, limit=1)
        if not found:
            raise NotFoundError(f"schedule {name!r} does not exist")
        return found[0]

    def list(self) -> builtins.list[ResourceRecord]:
        return sorted(self.store.list_resources(KIND), key=lambda r: r.name)

    def describe(self, record: ResourceRecord) -> dict[str, Any]:
        """A schedule with its last and next fire times."""
        cursor = self.firings.cursor(record.ref)
        last = cursor[1] if cursor else None
        out = record.to_dict()
        out["last_fire"] = last if last is not None and last > record.data["anchor"] else None
        out["next_fire"] = next_fire(record.spec, record.data["anchor"], max(time.time(), last or 0.0)) if record.status == ENABLED else None
        return out

    def enable(self, name: str) -> ResourceRecord:
        """Enable a schedule; fire times while it was disabled are not made up."""
        record = self.get(name)
        if record.status == ENABLED:
            return record
        self.firings.set_cursor(record.ref, 0, time.time())
        return self.store.update_resource(KIND, record.name, 1, status=ENABLED)

    def disable(self, name: str) -> ResourceRecord:
        record = self.get(name)
        return record if record.status == DISABLED else self.store.update_resource(KIND, record.name, 1, status=DISABLED)

    def delete(self, name: str) -> None:
        record = self.get(name)
        self.store.delete_resource(KIND, record.name)
        self.firings.forget(record.ref)

    def history(self, name: str, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """The schedule's firings, newest first."""
        return self.firings.list(self.get(name).ref, limit)

    def _targets_of(self, source: str, event_key: str) -> tuple[builtins.list[dict[str, Any]], dict[str, Any]] | None:
        found = self.store.list_resources(KIND, name=source.partition("/")[2].rpartition(":")[0], limit=1)
        return (found[0].spec["targets"], scheduled_envelope(source, float(event_key))) if found else None

    def tick(self, now: float | None = None) -> int:
        """Fire each enabled schedule whose time has come (once, however many were missed);
        returns the targets that acted."""
        now = time.time() if now is None else now
        acted = recover(self.ws, self.firings, self._targets_of)
        for record in self.list():
            if record.status != ENABLED:
                continue
            cursor = self.firings.cursor(record.ref)
            after = cursor[1] if cursor and cursor[1] is not None else record.data["anchor"]
            due = fire_times(record.spec, record.data["anchor"], after, now)
            if not due:
                continue
            at = due[-1]  # the catch-up rule: the latest missed time only
            key = f"{at:.6f}"
            # the claim inside fire() keys on the fire time, so a crash before the cursor moves never re-fires it
            acted += fire(self.ws, self.firings, record.ref, key, None, record.spec["targets"], scheduled_envelope(record.ref, at))
            self.firings.set_cursor(record.ref, 0, at)
        return acted


__all__ = ["KIND", "ScheduleService", "fire_times", "next_fire", "parse_expression"]
