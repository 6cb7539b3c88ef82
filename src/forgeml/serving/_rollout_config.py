"""A deployment config for ``endpoints update`` (SageMaker's ``DeploymentConfig``), checked.

Keys are SageMaker's (``BlueGreenUpdatePolicy``, ``TrafficRoutingConfiguration``, ...), so a
config written for boto3's ``update_endpoint`` works unchanged. Ranges follow the reference
(sagemaker-semantics.md §9.7): WaitIntervalInSeconds 0-3600, TerminationWaitInSeconds 0-3600,
MaximumExecutionTimeoutInSeconds 600-28800, a canary at most 50 % of the new fleet, linear
steps of 10-50 %.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

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


class AlarmRef(BaseModel):
    model_config = _STRICT
    AlarmName: StrictStr


class AutoRollback(BaseModel):
    model_config = _STRICT
    Alarms: list[AlarmRef] = Field(default_factory=list, max_length=10)


class DeploymentConfig(BaseModel):
    """``{"BlueGreenUpdatePolicy": {...}, "AutoRollbackConfiguration": {"Alarms": [...]}}``."""

    model_config = _STRICT
    BlueGreenUpdatePolicy: BlueGreen
    AutoRollbackConfiguration: AutoRollback | None = None

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
        ValidationError: naming the bad field (``RollingUpdatePolicy`` is not supported yet).
    """
    import pydantic

    if isinstance(config, DeploymentConfig):
        return config
    if isinstance(config, dict) and "RollingUpdatePolicy" in config:
        raise ValidationError(
            "deployment config: RollingUpdatePolicy is not supported yet; use BlueGreenUpdatePolicy"
        )
    try:
        return DeploymentConfig.model_validate(config)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise ValidationError(f"deployment config: {where}: {err['msg']}") from None


def shift_steps(config: DeploymentConfig, capacity: int) -> list[float]:
    """The share of traffic on the new fleet after each step, ending at 1.0.

    Args:
        capacity: the new fleet's instance (worker) count, for INSTANCE_COUNT sizes.

    Raises:
        ValidationError: a canary or step size missing or out of range.
    """
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


__all__ = ["DeploymentConfig", "parse_deployment", "shift_steps"]
