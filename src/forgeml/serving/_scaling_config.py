"""Application Auto Scaling's shapes for endpoint variants: scalable targets, policies, schedules.

The typed forms of ``RegisterScalableTarget``, ``PutScalingPolicy`` (``TargetTrackingScaling``
and ``StepScaling``) and ``PutScheduledAction`` for ``ResourceId = endpoint/<ep>/variant/<v>``
(docs/autoscaling.md). Field names are ForgeML's (snake case); the meaning is AWS's.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from forgeml.errors import ValidationError

DEFAULT_COOLDOWN = 300.0  # ScaleInCooldown / ScaleOutCooldown / step Cooldown (SageMaker's default)
_RESOURCE = re.compile(r"^endpoint/([A-Za-z0-9](?:-*[A-Za-z0-9]){0,62})/variant/([A-Za-z0-9](?:-*[A-Za-z0-9]){0,62})$")
PREDEFINED = {
    "SageMakerVariantInvocationsPerInstance": "InvocationsPerInstance",
    "CPUUtilization": "CPUUtilization",
    "ModelLatency": "ModelLatency",
    "ApproximateBacklogSizePerInstance": "ApproximateBacklogSizePerInstance",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_resource_id(resource_id: str) -> tuple[str, str]:
    """``endpoint/<ep>/variant/<v>`` as ``(ep, v)``.

    Raises:
        ValidationError: another shape.
    """
    match = _RESOURCE.match(resource_id or "")
    if match is None:
        raise ValidationError(f"resource id {str(resource_id)[:120]!r} must be endpoint/<endpoint>/variant/<variant>")
    return match.group(1), match.group(2)


class ScalableTarget(_Strict):
    """``RegisterScalableTarget``: the bounds of a variant's instance count.

    Attributes:
        min_capacity: at least 1 for real-time endpoints; 0 allowed for async endpoints (scale to
            zero: they queue requests meanwhile).
        max_capacity: at most 64 (one machine's worker pool).
        suspended: ``DynamicScalingInSuspended``, ``DynamicScalingOutSuspended``,
            ``ScheduledScalingSuspended``.
    """

    resource_id: str
    min_capacity: int = Field(ge=0, le=64)
    max_capacity: int = Field(ge=0, le=64)
    dynamic_scaling_in_suspended: bool = False
    dynamic_scaling_out_suspended: bool = False
    scheduled_scaling_suspended: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> ScalableTarget:
        parse_resource_id(self.resource_id)
        if self.max_capacity < self.min_capacity:
            raise ValueError(f"max_capacity ({self.max_capacity}) is below min_capacity ({self.min_capacity})")
        if self.max_capacity < 1:
            raise ValueError("max_capacity must be at least 1")
        return self


class TargetTracking(_Strict):
    """``TargetTrackingScalingPolicyConfiguration`` with a predefined metric.

    Attributes:
        metric: ``SageMakerVariantInvocationsPerInstance`` (per minute per instance),
            ``CPUUtilization`` (percent per worker), ``ModelLatency`` (microseconds, average) or
            ``ApproximateBacklogSizePerInstance`` (async queue).
        target_value: the value to hold the metric at.
        scale_in_cooldown / scale_out_cooldown: seconds (default 300).
        disable_scale_in: only ever scale out.
        metric_period_seconds: the window the metric is read over (60: 1-minute data).
        scale_in_ratio: scale in only while the metric is below ``ratio x target`` (0.9).
    """

    metric: Literal["SageMakerVariantInvocationsPerInstance", "CPUUtilization", "ModelLatency", "ApproximateBacklogSizePerInstance"]
    target_value: float = Field(gt=0, le=1e12)
    scale_in_cooldown: float = Field(default=DEFAULT_COOLDOWN, ge=0, le=86_400)
    scale_out_cooldown: float = Field(default=DEFAULT_COOLDOWN, ge=0, le=86_400)
    disable_scale_in: bool = False
    metric_period_seconds: float = Field(default=60.0, ge=1, le=3600)
    scale_in_ratio: float = Field(default=0.9, gt=0, le=1)


class StepAdjustment(_Strict):
    """One step: bounds relative to the alarm's threshold (None = unbounded)."""

    lower: float | None = None
    upper: float | None = None
    adjustment: int = Field(ge=-64_000, le=64_000)

    @model_validator(mode="after")
    def _bounded(self) -> StepAdjustment:
        if self.lower is None and self.upper is None:
            raise ValueError("a step needs a lower or an upper bound (not both null)")
        if self.lower is not None and self.upper is not None and self.upper <= self.lower:
            raise ValueError(f"a step's upper bound ({self.upper:g}) must be above its lower bound ({self.lower:g})")
        return self


class StepScaling(_Strict):
    """``StepScalingPolicyConfiguration`` driven by an alarm: applied while the alarm is in ALARM.

    Attributes:
        alarm: the alarm whose state triggers the policy and whose threshold the steps are
            relative to.
        adjustment_type: ``ChangeInCapacity``, ``ExactCapacity`` or ``PercentChangeInCapacity``.
        min_adjustment_magnitude: for percent changes, the least number of instances changed.
        metric_aggregation_type: how the alarm's recent datapoints become one value.
        cooldown: seconds after an adjustment before the policy adjusts again (default 300).
    """

    alarm: str = Field(min_length=1, max_length=255)
    adjustment_type: Literal["ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"] = "ChangeInCapacity"
    steps: list[StepAdjustment] = Field(min_length=1, max_length=20)
    min_adjustment_magnitude: int | None = Field(default=None, ge=1, le=64)
    metric_aggregation_type: Literal["Average", "Minimum", "Maximum"] = "Average"
    cooldown: float = Field(default=DEFAULT_COOLDOWN, ge=0, le=86_400)

    @model_validator(mode="after")
    def _no_overlap(self) -> StepScaling:
        inf = float("inf")
        spans = sorted((-inf if s.lower is None else s.lower, inf if s.upper is None else s.upper) for s in self.steps)
        for (_, hi), (lo, _) in itertools.pairwise(spans):
            if lo < hi:
                raise ValueError("step adjustments overlap")
            if lo > hi:
                raise ValueError(f"step adjustments leave a gap between {hi:g} and {lo:g}")
        if sum(s.lower is None for s in self.steps) > 1 or sum(s.upper is None for s in self.steps) > 1:
            raise ValueError("at most one step may have a null lower bound and one a null upper bound")
        if self.adjustment_type == "ExactCapacity" and any(s.adjustment < 0 for s in self.steps):
            raise ValueError("ExactCapacity adjustments must be >= 0")
        return self


class ScalingPolicy(_Strict):
    """``PutScalingPolicy``: a named policy of one scalable target."""

    name: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    resource_id: str
    policy_type: Literal["TargetTrackingScaling", "StepScaling"]
    target_tracking: TargetTracking | None = None
    step_scaling: StepScaling | None = None

    @model_validator(mode="after")
    def _one(self) -> ScalingPolicy:
        parse_resource_id(self.resource_id)
        if self.policy_type == "TargetTrackingScaling" and (self.target_tracking is None or self.step_scaling is not None):
            raise ValueError("a TargetTrackingScaling policy needs target_tracking (and no step_scaling)")
        if self.policy_type == "StepScaling" and (self.step_scaling is None or self.target_tracking is not None):
            raise ValueError("a StepScaling policy needs step_scaling (and no target_tracking)")
        return self


class ScheduledAction(_Strict):
    """``PutScheduledAction``: new bounds at a time.

    Attributes:
        schedule: ``at(yyyy-mm-ddThh:mm:ss)``, ``rate(<n> minute(s)|hour(s)|day(s))`` or
            ``cron(Min Hour DayOfMonth Month DayOfWeek Year)``.
        timezone: IANA name (default UTC) for ``at`` and ``cron``.
        start_time / end_time: epoch seconds bounding when it may fire.
        min_capacity / max_capacity: the bounds it sets (at least one).
    """

    name: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    resource_id: str
    schedule: str = Field(min_length=5, max_length=256)
    timezone: str = Field(default="UTC", max_length=64)
    start_time: float | None = Field(default=None, ge=0, le=1e11)
    end_time: float | None = Field(default=None, ge=0, le=1e11)
    min_capacity: int | None = Field(default=None, ge=0, le=64)
    max_capacity: int | None = Field(default=None, ge=1, le=64)

    @model_validator(mode="after")
    def _valid(self) -> ScheduledAction:
        from forgeml.serving._scaling_math import check_schedule

        parse_resource_id(self.resource_id)
        if self.min_capacity is None and self.max_capacity is None:
            raise ValueError("a scheduled action sets min_capacity, max_capacity or both")
        if self.min_capacity is not None and self.max_capacity is not None and self.max_capacity < self.min_capacity:
            raise ValueError(f"max_capacity ({self.max_capacity}) is below min_capacity ({self.min_capacity})")
        check_schedule(self.schedule, self.timezone)
        return self


def parse(model: type[_Strict], data: Any, what: str) -> Any:
    """Validate ``data`` as ``model``.

    Raises:
        ValidationError: naming the first bad field.
    """
    if isinstance(data, model):
        return data
    if not isinstance(data, dict):
        raise ValidationError(f"a {what} must be a mapping")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ValidationError(f"invalid {what}{' at ' + where if where else ''}: {message}") from None
    except ValidationError as exc:
        raise ValidationError(f"invalid {what}: {exc.message}") from None


__all__ = [
    "DEFAULT_COOLDOWN", "PREDEFINED", "ScalableTarget", "ScalingPolicy", "ScheduledAction", "StepAdjustment",
    "StepScaling", "TargetTracking", "parse", "parse_resource_id",
]  # fmt: skip
