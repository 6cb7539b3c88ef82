"""Application Auto Scaling's arithmetic against AWS's documented examples (hand-computed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from forgeml.errors import ValidationError
from forgeml.serving import _scaling_math as sm
from forgeml.serving._scaling_config import ScalingPolicy, ScheduledAction, parse

# AAS-UG's step example: threshold 50; [0,10) 0, [10,20) +10 %, [20,inf) +30 %,
# (-10,0] 0, (-20,-10] -10 %, (-inf,-20] -30 %
STEPS = [(0, 10, 0), (10, 20, 10), (20, None, 30), (-10, 0, 0), (-20, -10, -10), (None, -20, -30)]


def test_step_scaling_reproduces_the_aws_example() -> None:
    capacity = 10
    for value, expected in ((60, 11), (70, 14), (40, 13), (30, 10)):
        capacity = sm.step_adjust(capacity, value, 50, STEPS, "PercentChangeInCapacity")  # type: ignore[assignment]
        assert capacity == expected, value


def test_step_bounds_are_half_open_toward_the_threshold() -> None:
    steps = [(0, 10, 1), (10, None, 3), (-10, 0, -1), (None, -10, -3)]
    assert sm.step_adjust(5, 60, 50, steps, "ChangeInCapacity") == 8  # 60 is in [T+10, inf)
    assert sm.step_adjust(5, 59.9, 50, steps, "ChangeInCapacity") == 6
    # below T the steps are (T+lower, T+upper]: 40 belongs to (-inf, 40], not to (40, 50]
    assert sm.step_adjust(5, 40, 50, steps, "ChangeInCapacity") == 2
    assert sm.step_adjust(5, 40.1, 50, steps, "ChangeInCapacity") == 4
    assert sm.step_adjust(5, 55, 50, [(0, None, 4)], "ExactCapacity") == 4
    assert sm.step_adjust(5, 45, 50, [(0, None, 4)], "ExactCapacity") is None


@pytest.mark.parametrize(
    ("current", "percent", "magnitude", "change"),
    [(10, 10, None, 1), (11, 30, None, 3), (2, 10, None, 1), (4, -10, None, -1), (13, -30, None, -3), (10, 10, 3, 3), (10, -10, 2, -2)],
)
def test_percent_change_rounds_as_aws_documents(current: int, percent: float, magnitude: int | None, change: int) -> None:
    assert sm.percent_change(current, percent, magnitude) == change


def test_target_tracking_scales_out_fast_and_in_only_well_below_target() -> None:
    assert sm.target_tracking(2, 140.0, 70.0) == 4  # 2 x 140 / 70
    assert sm.target_tracking(3, 71.0, 70.0) == 4  # just above: at least one more
    assert sm.target_tracking(4, 66.0, 70.0) is None  # within 10 % below: hold
    assert sm.target_tracking(4, 30.0, 70.0) == 2  # ceil(4 x 30 / 70) = 2: rounded up, conservative
    assert sm.target_tracking(4, 0.0, 70.0) == 0  # no traffic: the bounds then keep MinCapacity
    assert sm.target_tracking(4, None, 70.0) is None  # no data never scales
    assert sm.target_tracking(0, 5.0, 2.0) == 3  # an empty pool with a backlog of 5, target 2 per instance
    assert sm.target_tracking(0, 0.0, 2.0) is None


def test_schedules_fire_at_their_times() -> None:
    t = lambda s: datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp()  # noqa: E731
    at = "at(2026-03-01T12:00:00)"
    assert sm.latest_fire(at, "UTC", after=t("2026-03-01T11:00:00"), now=t("2026-03-01T12:00:30"), anchor=0) == t("2026-03-01T12:00:00")
    assert sm.latest_fire(at, "UTC", after=t("2026-03-01T12:00:00"), now=t("2026-03-01T13:00:00"), anchor=0) is None  # fired already
    paris = sm.latest_fire(at, "Europe/Paris", after=0, now=t("2026-03-02T00:00:00"), anchor=0)
    assert paris == t("2026-03-01T11:00:00")  # 12:00 in Paris (UTC+1 in March) is 11:00 UTC
    anchor = t("2026-03-01T00:00:00")
    assert sm.latest_fire("rate(5 minutes)", "UTC", after=anchor, now=anchor + 299, anchor=anchor) is None
    assert sm.latest_fire("rate(5 minutes)", "UTC", after=anchor, now=anchor + 901, anchor=anchor) == anchor + 900
    # 08:30 on weekdays (AWS counts days of week 1-7 from Sunday: 2-6 = MON-FRI); 2026-03-01 is a Sunday
    cron = "cron(30 8 ? * 2-6 *)"
    assert sm.latest_fire(cron, "UTC", after=t("2026-03-01T00:00:00"), now=t("2026-03-01T23:00:00"), anchor=0) is None
    assert sm.latest_fire(cron, "UTC", after=t("2026-03-01T00:00:00"), now=t("2026-03-02T09:00:00"), anchor=0) == t("2026-03-02T08:30:00")
    assert sm.latest_fire("cron(0 0 1 * ? 2027)", "UTC", after=t("2026-01-01T00:00:00"), now=t("2026-12-31T00:00:00"), anchor=0) is None


@pytest.mark.parametrize(
    ("schedule", "message"),
    [("every day", "must be at("), ("rate(5 minute)", "rate(1 minute)"), ("rate(1 minutes)", "rate(1 minute)"),
     ("cron(0 8 * * *)", "six fields"), ("cron(0 8 ? * 9 *)", "not a valid cron"), ("at(2026-13-01T00:00:00)", "not a valid date")],
)  # fmt: skip
def test_bad_schedules_are_refused(schedule: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sm.check_schedule(schedule)
    with pytest.raises(ValidationError, match="unknown time zone"):
        sm.check_schedule("rate(1 minute)", "Mars/Base")


def test_bad_policies_name_the_field() -> None:
    rid = "endpoint/e/variant/v"
    with pytest.raises(ValidationError, match="needs target_tracking"):
        parse(ScalingPolicy, {"name": "p", "resource_id": rid, "policy_type": "TargetTrackingScaling"}, "scaling policy")
    with pytest.raises(ValidationError, match="overlap"):
        parse(ScalingPolicy, {"name": "p", "resource_id": rid, "policy_type": "StepScaling", "step_scaling": {
            "alarm": "a", "steps": [{"lower": 0, "upper": 10, "adjustment": 1}, {"lower": 5, "adjustment": 2}]}}, "scaling policy")  # fmt: skip
    with pytest.raises(ValidationError, match="gap"):
        parse(ScalingPolicy, {"name": "p", "resource_id": rid, "policy_type": "StepScaling", "step_scaling": {
            "alarm": "a", "steps": [{"lower": 0, "upper": 10, "adjustment": 1}, {"lower": 20, "adjustment": 2}]}}, "scaling policy")  # fmt: skip
    with pytest.raises(ValidationError, match="target_value"):
        parse(ScalingPolicy, {"name": "p", "resource_id": rid, "policy_type": "TargetTrackingScaling",
                              "target_tracking": {"metric": "CPUUtilization", "target_value": -1}}, "scaling policy")  # fmt: skip
    with pytest.raises(ValidationError, match="endpoint/<endpoint>/variant/<variant>"):
        parse(ScheduledAction, {"name": "s", "resource_id": "ep/x", "schedule": "rate(1 minute)", "min_capacity": 1}, "scheduled action")
    with pytest.raises(ValidationError, match="sets min_capacity, max_capacity or both"):
        parse(ScheduledAction, {"name": "s", "resource_id": rid, "schedule": "rate(1 minute)"}, "scheduled action")
