"""A deployment config for ``endpoints update`` (SageMaker's ``DeploymentConfig``), checked.

Keys are SageMaker's (``BlueGreenUpdatePolicy``, ``TrafficRoutingConfiguration``, ...), so a
config written for boto3's ``update_endpoint`` works unchanged. Ranges follow the reference
(sagemaker-semantics.md §9.7): WaitIntervalInSeconds 0-3600, TerminationWaitInSeconds 0-3600,
MaximumExecutionTimeoutInSeconds 600-28800, a canary at most 50 % of the new fleet, linear
steps of 10-50 %; a rolling update's MaximumBatchSize 5-50 % of the fleet, its
RollbackMaximumBatchSize 100 % (the whole old fleet at once) unless given.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from forgeml.errors import ValidationError

_STRICT = ConfigDict(extra="forbid", strict=True)


class CapacitySize(BaseModel):
    model_config = _STRICT
    Type: Literal["INSTANCE_COUNT", "CAPACITY_PERCENT"]
    Value: StrictInt = Field(ge=1)


class TrafficRouting(BaseModel):
    model_config = _STRICT
    Type: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"]
    WaitIntervalInSeconds: StrictInt = Field(default=0, ge=0, le=3600)
    CanarySize: CapacitySize | None = None
    LinearStepSize: CapacitySize | None = None


class BlueGreen(BaseModel):
    model_config = _STRICT
    TrafficRoutingConfiguration: TrafficRouting
    TerminationWaitInSeconds: StrictInt = Field(default=0, ge=0, le=3600)
    MaximumExecutionTimeoutInSeconds: StrictInt = Field(default=28800, ge=600, le=28800)


class RollingUpdate(BaseModel):
    """SageMaker's ``RollingUpdatePolicy``: the new fleet takes over one batch at a time."""

    model_config = _STRICT
    MaximumBatchSize: CapacitySize
    WaitIntervalInSeconds: StrictInt = Field(default=0, ge=0, le=3600)
    MaximumExecutionTimeoutInSeconds: StrictInt = Field(default=28800, ge=600, le=28800)
    RollbackMaximumBatchSize: CapacitySize | None = None


class AlarmRef(BaseModel):
    model_config = _STRICT
    AlarmName: StrictStr


class AutoRollback(BaseModel):
    model_config = _STRICT
    Alarms: list[AlarmRef] = Field(default_factory=list, max_length=10)


class DeploymentConfig(BaseModel):
    """``{"BlueGreenUpdatePolicy": {...} | "RollingUpdatePolicy": {...},
    "AutoRollbackConfiguration": {"Alarms": [...]}}``."""

    model_config = _STRICT
    BlueGreenUpdatePolicy: BlueGreen | None = None
    RollingUpdatePolicy: RollingUpdate | None = None
    AutoRollbackConfiguration: AutoRollback | None = None

    @model_validator(mode="after")
    def _one_policy(self) -> DeploymentConfig:
        if (self.BlueGreenUpdatePolicy is None) == (self.RollingUpdatePolicy is None):
            raise ValueError("give exactly one of BlueGreenUpdatePolicy and RollingUpdatePolicy")
        return self

    @property
    def rolling(self) -> bool:
        return self.RollingUpdatePolicy is not None

    @property
    def wait_seconds(self) -> int:
        """The bake after each step (or batch)."""
        policy = self.RollingUpdatePolicy or self.BlueGreenUpdatePolicy
        if isinstance(policy, RollingUpdate):
            return policy.WaitIntervalInSeconds
        assert policy is not None
        return policy.TrafficRoutingConfiguration.WaitIntervalInSeconds

    @property
    def time_limit(self) -> int:
        policy = self.RollingUpdatePolicy or self.BlueGreenUpdatePolicy
        assert policy is not None
        return policy.MaximumExecutionTimeoutInSeconds

    @property
    def termination_wait(self) -> int:
        return self.BlueGreenUpdatePolicy.TerminationWaitInSeconds if self.BlueGreenUpdatePolicy else 0

    @property
    def alarms(self) -> list[str]:
        return [
            a.AlarmName
            for a in (
                self.AutoRollbackConfiguration.Alarms if self.AutoRollbackConfiguration else []
            )
        ]


def parse_deployment(config: dict[str, Any] | DeploymentConfig) -> DeploymentConfig:
    """A checked deployment config.

    Raises:
        ValidationError: naming the bad field.
    """
    import pydantic

    if isinstance(config, DeploymentConfig):
        return config
    try:
        return DeploymentConfig.model_validate(config)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise ValidationError(f"deployment config: {where}: {str(err['msg']).removeprefix('Value error, ')}") from None


def shift_steps(config: DeploymentConfig, capacity: int) -> list[float]:
    """The share of traffic on the new fleet after each step, ending at 1.0.

    Args:
        capacity: the new fleet's instance (worker) count, for INSTANCE_COUNT sizes.

    Raises:
        ValidationError: a canary or step size missing or out of range.
    """
    if config.RollingUpdatePolicy is not None:
        return rolling_steps(config.RollingUpdatePolicy, capacity)
    assert config.BlueGreenUpdatePolicy is not None
    routing = config.BlueGreenUpdatePolicy.TrafficRoutingConfiguration
    where = "deployment config: BlueGreenUpdatePolicy.TrafficRoutingConfiguration"
    if routing.Type == "ALL_AT_ONCE":
        return [1.0]
    size = routing.CanarySize if routing.Type == "CANARY" else routing.LinearStepSize
    field = "CanarySize" if routing.Type == "CANARY" else "LinearStepSize"
    if size is None:
        raise ValidationError(f"{where}.{field} is required for {routing.Type}")
    if size.Type == "INSTANCE_COUNT":
        share, shown = size.Value / capacity, f"{size.Value} of {capacity} instance(s)"
    else:
        if size.Value > 100:
            raise ValidationError(
                f"{where}.{field}.Value: a percent must be 1-100, got {size.Value}"
            )
        share, shown = size.Value / 100, f"{size.Value}%"
    low, high = (0.0, 0.5) if routing.Type == "CANARY" else (0.1, 0.5)
    if not low < share <= high if routing.Type == "CANARY" else not low <= share <= high:
        allowed = (
            "at most 50% of the new fleet"
            if routing.Type == "CANARY"
            else "10-50% of the new fleet"
        )
        raise ValidationError(f"{where}.{field}: {shown} is out of range ({allowed})")
    if routing.Type == "CANARY":
        return [share, 1.0]
    n = math.ceil(1 / share - 1e-9)
    return [min(1.0, round(share * (i + 1), 6)) for i in range(n)]


def _share(size: CapacitySize, capacity: int, where: str) -> tuple[float, str]:
    if size.Type == "INSTANCE_COUNT":
        return size.Value / capacity, f"{size.Value} of {capacity} instance(s)"
    if size.Value > 100:
        raise ValidationError(f"{where}.Value: a percent must be 1-100, got {size.Value}")
    return size.Value / 100, f"{size.Value}%"


def rolling_steps(policy: RollingUpdate, capacity: int) -> list[float]:
    """A rolling update's share of traffic on the new fleet after each batch, ending at 1.0.

    Raises:
        ValidationError: MaximumBatchSize outside 5-50 % of the fleet.
    """
    where = "deployment config: RollingUpdatePolicy.MaximumBatchSize"
    share, shown = _share(policy.MaximumBatchSize, capacity, where)
    if not 0.05 - 1e-9 <= share <= 0.5 + 1e-9:
        raise ValidationError(f"{where}: {shown} is out of range (5-50% of the fleet)")
    rollback_steps(policy, 1.0, capacity)  # checks RollbackMaximumBatchSize too
    n = math.ceil(1 / share - 1e-9)
    return [min(1.0, round(share * (i + 1), 6)) for i in range(n)]


def rollback_steps(policy: RollingUpdate | None, share: float, capacity: int) -> list[float]:
    """The new fleet's share after each rollback batch, from ``share`` down to 0.0 (one step
    unless a rolling update gives RollbackMaximumBatchSize).

    Raises:
        ValidationError: a RollbackMaximumBatchSize percent over 100.
    """
    if policy is None or policy.RollbackMaximumBatchSize is None:
        return [0.0]
    size, _ = _share(policy.RollbackMaximumBatchSize, capacity, "deployment config: RollingUpdatePolicy.RollbackMaximumBatchSize")
    size = min(size, 1.0)
    out, left = [], share
    while left > 1e-9:
        left = max(0.0, round(left - size, 6))
        out.append(left)
    return out or [0.0]


__all__ = ["DeploymentConfig", "RollingUpdate", "parse_deployment", "rollback_steps", "rolling_steps", "shift_steps"]
