"""Schedules: rate and cron (with time zones), one fire after downtime, durable last fire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from forgeml.rules import parse_expression
from forgeml.rules._schedules import fire_times, next_fire


@pytest.mark.parametrize(
    ("expression", "parsed"),
    [
        ("rate(5 minutes)", {"kind": "rate", "seconds": 300}),
        ("rate(1 hour)", {"kind": "rate", "seconds": 3600}),
        ("rate( 2  days )", {"kind": "rate", "seconds": 172800}),
        ("0 6 * * 1-5", {"kind": "cron", "cron": "0 6 * * 1-5"}),
        ("cron(*/15 * * * *)", {"kind": "cron", "cron": "*/15 * * * *"}),
    ],
)
def test_expressions(expression: str, parsed: dict[str, Any]) -> None:
    out = parse_expression(expression)
    assert {k: out[k] for k in parsed} == parsed


@pytest.mark.parametrize(
    ("expression", "timezone", "message"),
    [
        ("rate(0 minutes)", "UTC", "1 to 100000"),
        ("rate(5 weeks)", "UTC", "is not a rate"),
        ("every 5 minutes", "UTC", "is not a cron expression"),
        ("61 * * * *", "UTC", "is not a cron expression"),
        ("0 6 * *", "UTC", "five fields"),
        ("", "UTC", "give rate"),
        ("0 6 * * *", "Mars/Olympus", "not a known IANA time zone"),
        ("0 6 * * *", "America", "not a known IANA time zone"),  # a folder of the zone database
        ("0 0 31 2 *", "UTC", "never fires"),
        ("rate(100001 days)", "UTC", "1 to 100000"),
    ],
)
def test_invalid_expressions_are_clear_errors(expression: str, timezone: str, message: str) -> None:
    with pytest.raises(ValidationError, match=r"expression|timezone") as info:
        parse_expression(expression, timezone)
    assert message in str(info.value)


def _t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_cron_fires_in_its_time_zone_across_dst() -> None:
    spec = {"expression": "0 6 * * *", "timezone": "Europe/Berlin"}
    # 06:00 in Berlin is 05:00 UTC in winter (CET) and 04:00 UTC in summer (CEST): hand-computed
    assert fire_times(spec, 0, _t("2026-03-27T00:00:00"), _t("2026-03-27T12:00:00")) == [_t("2026-03-27T05:00:00")]
    assert fire_times(spec, 0, _t("2026-03-30T00:00:00"), _t("2026-03-30T12:00:00")) == [_t("2026-03-30T04:00:00")]
    assert next_fire(spec, 0, _t("2026-03-28T05:00:00")) == _t("2026-03-29T04:00:00")  # the DST day itself


def test_rate_fire_times_and_the_catch_up_rule() -> None:
    spec = {"expression": "rate(5 minutes)"}
    assert fire_times(spec, 1000.0, 1000.0, 1299.0) == []
    assert fire_times(spec, 1000.0, 1000.0, 1300.0) == [1300.0]
    assert fire_times(spec, 1000.0, 1300.0, 1000.0 + 300 * 50 + 7)[-1] == 1000.0 + 300 * 50  # the latest missed one


def test_a_schedule_fires_once_per_due_time_and_once_after_downtime(ws: Any) -> None:
    seen: list[Any] = []
    ws.rules.register_callable("collect", seen.append)
    record = ws.schedules.create("nightly", "rate(1 minute)", [{"type": "callable", "name": "collect"}])
    anchor = record.data["anchor"]
    assert ws.schedules.tick(now=anchor + 30) == 0
    assert ws.schedules.tick(now=anchor + 61) == 1
    assert ws.schedules.tick(now=anchor + 62) == 0
    assert seen[0]["detail-type"] == "Scheduled Event" and seen[0]["source"] == "forgeml.scheduler"
    assert seen[0]["resources"] == ["schedule/nightly:1"]
    # downtime of an hour: one fire, at the latest missed time
    assert ws.schedules.tick(now=anchor + 3600 + 5) == 1
    assert len(seen) == 2 and seen[1]["time"] == datetime.fromtimestamp(anchor + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = ws.schedules.describe(ws.schedules.get("nightly"))
    assert shown["last_fire"] == pytest.approx(anchor + 3600)
    # a restart (a new process's workspace) knows the last fire and does not repeat it
    with Workspace(ws.settings) as again:
        again.rules.register_callable("collect", seen.append)
        assert again.schedules.tick(now=anchor + 3600 + 30) == 0
        assert again.schedules.tick(now=anchor + 3660 + 1) == 1
    assert [f["state"] for f in ws.schedules.history("nightly")] == ["Succeeded"] * 3


def test_disabled_schedules_do_not_fire_and_do_not_make_up(ws: Any) -> None:
    seen: list[Any] = []
    ws.rules.register_callable("collect", seen.append)
    anchor = ws.schedules.create("s", "rate(1 minute)", [{"type": "callable", "name": "collect"}], enabled=False).data["anchor"]
    assert ws.schedules.tick(now=anchor + 600) == 0
    import time

    before = time.time()
    ws.schedules.enable("s")
    assert ws.schedules.firings.cursor("schedule/s:1")[1] >= before  # the times while disabled are not made up
    ws.schedules.delete("s")
    assert ws.schedules.list() == []
